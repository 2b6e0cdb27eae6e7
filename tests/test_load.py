"""A short load test of the web chat: 32 concurrent clients, two questions each, through
benchmarks/load.py (the app on 127.0.0.1 with the queue settings of ui.launch)."""

from __future__ import annotations

import sys

import pytest
from helpers import ROOT

if str(ROOT) not in sys.path:  # `pytest` run without `python -m` does not add the root
    sys.path.insert(0, str(ROOT))

from benchmarks import load  # noqa: E402


@pytest.mark.slow
def test_32_concurrent_clients_get_correct_answers(docs_index_ro):
    # the session's docs index: the service finds it built and only loads it
    demo, svc = load.start_server(docs_index_ro)
    try:
        assert demo.local_url.startswith("http://127.0.0.1:")
        r = load.drive(demo.local_url, clients=32, duration_s=300.0, max_requests=64,
                       per_client=2)
    finally:
        demo.close()
    assert r["errors"] == 0, r["error_samples"]
    assert r["wrong"] == 0, r["wrong_samples"]
    assert r["requests"] == r["completed"] == 64
    assert r["requests_per_client"]["min"] == r["requests_per_client"]["max"] == 2
    assert r["throughput_rps"] > 0 and r["latency_ms"]["n"] == 64


def test_load_refuses_other_hosts():
    with pytest.raises(ValueError, match="127.0.0.1 only"):
        load.drive("http://example.org:80/", clients=1, max_requests=1)


@pytest.mark.parametrize(("result", "problem"), [
    ({"found": True, "text": "Oleg Novitskiy plays him. [1]", "citations": [{}]}, None),
    ({"found": False, "text": "The articles do not cover this question."}, "not found"),
    ({"found": True, "text": "Someone else. [1]", "citations": [{}]}, "none of"),
    ({"found": True, "text": "Oleg Novitskiy", "citations": []}, "no citations"),
    ("a string", "not a dict"),
    ('{"found": true, "text": "Oleg Novitskiy plays him. [1]", "citations": [{}]}', None),
])
def test_check_answer(result, problem):
    got = load.check_answer(result, ("Oleg Novitskiy",))
    assert got == problem if problem is None else problem in got
