"""The web chat's server, started in-process on a free port and asked through gradio_client."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import socket  # noqa: E402
from dataclasses import fields  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
from helpers import invoke, running_chat  # noqa: E402

from challenge_qa.answering.compose import NOT_FOUND, Answer  # noqa: E402

DOCS = Path(__file__).resolve().parents[1] / "docs_corpus"
CNN = "challenge-trailer-cnn.md"
ANSWER_FIELDS = {f.name for f in fields(Answer)}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """(demo, service, url) of the chat on 127.0.0.1, its index built first."""
    index_dir = tmp_path_factory.mktemp("server") / "index"
    with running_chat(DOCS, index_dir) as chat:
        yield chat


@pytest.fixture(scope="module")
def client(server):
    from gradio_client import Client

    return Client(server[2], verbose=False)


@pytest.mark.slow
def test_answer_api_cites_the_article(client):
    a = client.predict("Who plays the patient?", 5, False, api_name="/answer")
    assert isinstance(a, dict)
    assert set(a) == ANSWER_FIELDS
    assert a["found"] is True
    assert "Oleg Novitskiy" in a["text"]
    assert a["citations"], a
    assert any(c["doc_id"] == CNN and "Oleg Novitskiy" in c["sentence"]
               for c in a["citations"])
    assert "[1]" in a["text"]


@pytest.mark.slow
def test_the_readmes_gradio_client_example_prints_what_it_says(server):
    """The README's program, run as written against a real server (only its address
    changed): each print gives what its comment says."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    at = readme.index("**From a program**")
    start = readme.index("```python\n", at) + len("```python\n")
    code = readme[start:readme.index("\n```", start)]
    expected = [c.strip() for line in code.splitlines() if line.startswith("print(")
                for c in [line.rsplit("# ", 1)[1]]]
    assert len(expected) == 5, code
    printed: list[str] = []
    code = code.replace('"http://127.0.0.1:7860/"', repr(server[2]))
    exec(compile(code, "README.md", "exec"), {  # noqa: S102 - the README's own example
        "print": lambda *a: printed.append(" ".join(map(str, a)))})
    assert printed == expected


@pytest.mark.slow
def test_api_page_describes_every_parameter_and_result(server):
    """"Use via API" names each parameter and says what it is, from the docstrings."""
    import json
    import urllib.request

    info = json.load(urllib.request.urlopen(server[2] + "gradio_api/info", timeout=30))
    endpoints = info["named_endpoints"]
    assert set(endpoints) == {"/answer", "/retrieve", "/timeline"}
    for name, e in endpoints.items():
        assert len(e["description"]) > 40, name
        for p in e["parameters"]:
            assert p["label"] == p["parameter_name"], (name, p)
            assert len(p["python_type"]["description"]) > 15, (name, p)
        assert e["returns"][0]["python_type"]["description"].startswith("A "), name
    since = next(p for p in endpoints["/answer"]["parameters"] if p["parameter_name"] == "since")
    assert "YYYY-MM-DD" in since["python_type"]["description"]


@pytest.mark.slow
def test_answer_api_off_topic(client):
    a = client.predict("What is the capital of Australia?", 5, False, api_name="/answer")
    assert a["found"] is False
    assert a["text"] == NOT_FOUND
    assert a["citations"] == []


@pytest.mark.slow
def test_default_client_reads_the_answer(server):
    from gradio_client import Client

    a = Client(server[2], verbose=False).predict("Who plays the patient?", 5, False,
                                                 api_name="/answer")
    assert a["found"] is True
    assert all("path" not in h and h["article_path"] == h["doc_id"] for h in a["citations"])


@pytest.mark.slow
def test_model_and_index_load_once_per_process(server, client):
    _, svc, _ = server
    before = svc.index()
    assert before.embedder.loaded  # loaded by the build, before any question
    model = before.embedder.load()
    jobs = [client.submit(q, 5, False, api_name="/answer")
            for q in ("Who directed the film?", "When will the film be released?")]
    results = [job.result(timeout=120) for job in jobs]
    assert all(r["found"] for r in results), results
    after = svc.index()
    assert after is before
    assert after.embedder.load() is model


@pytest.mark.slow
def test_server_listens_on_loopback_only(server):
    demo, _, url = server
    port = demo.server_port
    assert url == f"http://127.0.0.1:{port}/"
    assert demo.server_name == "127.0.0.1"
    with socket.create_connection(("127.0.0.1", port), timeout=5):
        pass
    # the listening socket, as the kernel sees it: 127.0.0.1 only, not 0.0.0.0 or ::
    listening = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not Path(table).exists():
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            addr, hexport = local.rsplit(":", 1)
            if state == "0A" and int(hexport, 16) == port:  # 0A: LISTEN
                listening.append(addr)
    if Path("/proc/net/tcp").exists():
        assert listening == ["0100007F"], listening


def test_serve_help_documents_host_port_auth():

    result = invoke("serve", "--help")
    assert result.exit_code == 0, result.output
    out = result.output
    for option in ("--host", "--port", "--auth"):
        assert option in out
    assert "127.0.0.1" in out and "7860" in out
    assert "USER:PASSWORD" in out and "CHALLENGE_QA_AUTH" in out


def test_serve_rejects_malformed_auth():

    result = invoke("serve", "--auth", "nopassword")
    assert result.exit_code == 2
    assert "USER:PASSWORD" in result.output


@pytest.mark.slow
def test_api_is_answer_retrieve_and_timeline_only(client):
    # the chat's own events stay private: the API (and MCP) is the library's three calls
    named = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
    assert named == {"/answer", "/retrieve", "/timeline"}


@pytest.mark.slow
def test_retrieve_and_timeline_api_with_filters(client):
    hits = client.predict("Who directed the film?", 3, False, None, None, ["CNN"], None,
                          api_name="/retrieve")
    assert 1 <= len(hits) <= 3 and {h["source"] for h in hits} == {"CNN"}
    assert all(h["article_path"] == h["doc_id"] for h in hits)
    t = client.predict("The Challenge", None, None, None, api_name="/timeline")
    labels = [e["label"] for e in t["events"]]
    assert labels.index("November 2020") < labels.index("12 April 2023"), labels
    # an empty date field is no filter; as_of before CNN's article leaves nothing dated
    a = client.predict("When was the trailer released?", 5, False, None, "", "", None,
                       "2023-03-07", api_name="/answer")
    assert a["filters"] == {"until": "2023-03-07"}
    assert not any(c["doc_id"] == CNN for c in a["citations"])


@pytest.mark.slow
def test_no_mcp_server_unless_asked(server):
    import httpx

    r = httpx.get(server[2] + "gradio_api/mcp/schema", trust_env=False, timeout=30)
    assert r.status_code == 404
