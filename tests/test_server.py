"""The web chat's server, started in-process on a free port and asked through gradio_client."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import json  # noqa: E402
import socket  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
from helpers import invoke, running_chat  # noqa: E402

from challenge_qa.answering.compose import NOT_FOUND, Answer  # noqa: E402

DOCS = Path(__file__).resolve().parents[1] / "docs_corpus"
CNN = "challenge-trailer-cnn.md"


def predict(client, *args, **kwargs):
    """An endpoint's result: the JSON text it returns, parsed."""
    out = client.predict(*args, **kwargs)
    assert isinstance(out, str), type(out)
    return json.loads(out)


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
    a = predict(client, "Who plays the patient?", 5, False, api_name="/answer")
    assert isinstance(a, dict)
    assert tuple(a) == Answer.JSON_FIELDS
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
    a = predict(client, "What is the capital of Australia?", 5, False, api_name="/answer")
    assert a["found"] is False
    assert a["text"] == NOT_FOUND
    assert a["citations"] == []


@pytest.mark.slow
def test_default_client_reads_the_answer(server):
    from gradio_client import Client

    a = predict(Client(server[2], verbose=False), "Who plays the patient?", 5, False,
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
    results = [json.loads(job.result(timeout=120)) for job in jobs]
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
    hits = predict(client, "Who directed the film?", 3, False, None, None, ["CNN"], None,
                   api_name="/retrieve")
    assert 1 <= len(hits) <= 3 and {h["source"] for h in hits} == {"CNN"}
    assert all(h["article_path"] == h["doc_id"] for h in hits)
    t = predict(client, "The Challenge", None, None, None, api_name="/timeline")
    labels = [e["label"] for e in t["events"]]
    assert labels.index("November 2020") < labels.index("12 April 2023"), labels
    # an empty date field is no filter; as_of before CNN's article leaves nothing dated
    a = predict(client, "When was the trailer released?", 5, False, None, "", "", None,
                "2023-03-07", api_name="/answer")
    assert a["filters"] == {"until": "2023-03-07"}
    assert not any(c["doc_id"] == CNN for c in a["citations"])


@pytest.mark.slow
def test_no_mcp_server_unless_asked(server):
    import httpx

    r = httpx.get(server[2] + "gradio_api/mcp/schema", trust_env=False, timeout=30)
    assert r.status_code == 404


@pytest.mark.slow
def test_answer_api_resolves_he_from_a_plain_history(client):
    """A history of [question, answer text] pairs, as a client keeps it, resolves "he" to
    the query the chat searches (the chat keeps the Answer, which leads with the short
    answer in bold), whether the text is plain, the chat's Markdown, or the JSON returned."""
    from challenge_qa.answering.conversation import Conversation

    q1, q2 = "Who plays the patient?", "Is he a real cosmonaut?"
    raw = client.predict(q1, 5, False, api_name="/answer")
    first = json.loads(raw)
    markdown = f"**{first['short']}** — {first['text']}"
    chat = Conversation()
    chat.add(q1, chat.resolve(q1), markdown)
    assert chat.resolve(q2) == "Is Oleg Novitskiy a real cosmonaut?"
    for said in (first["text"], markdown, raw, first):
        then = predict(client, question=q2, history=[[q1, said]], api_name="/answer")
        assert then["query"] == chat.resolve(q2), (said, then["query"])
        assert then["found"] and "Oleg Novitskiy" in then["statements"][0]["text"]


def test_result_types_own_their_json():
    """``to_dict()`` gives JSON-safe values (numpy numbers as floats, dates as ISO text)
    under the field names each type's docstring lists; citations are compact."""
    import datetime as dt

    import numpy as np

    from challenge_qa.answering.compose import Statement
    from challenge_qa.answering.timeline import Event, Timeline
    from challenge_qa.search.retrieve import Hit

    hit = Hit(rank=1, doc_id=CNN, title="T", source="CNN", date=dt.date(2023, 3, 7),
              url=None, path=CNN, passage_id=f"{CNN}#0", text="A passage. Its sentence.",
              start=np.int64(10), end=34, sentence="Its sentence.", sentence_start=21,
              sentence_end=34, score=np.float32(0.5), dense_score=np.float64(0.25),
              bm25_score=1.5, page=None)
    st = Statement(text="Its sentence.", citations=[1], dates=[{"value": "2023-03-07",
                                                                 "start": np.int64(3)}])
    a = Answer(question="Who?", text="Its sentence. [1]", found=True, citations=[hit],
               statements=[st], hits=[hit], query="Who?", confidence=np.float32(0.75),
               short="Its", short_start=21, short_end=24)
    t = Timeline(topic="T", events=[Event(date="2023-03-07", precision="day",
                                          label="7 March 2023", text="Its sentence.",
                                          citations=[hit], sources=["CNN"])], articles=1)
    for obj, fields in ((a, Answer.JSON_FIELDS), (st, Statement.JSON_FIELDS),
                        (t, Timeline.JSON_FIELDS), (t.events[0], Event.JSON_FIELDS)):
        d = obj.to_dict()
        assert tuple(d) == fields
        assert json.loads(json.dumps(d, allow_nan=False)) == d
        doc = type(obj).to_dict.__doc__
        assert all(f"``{f}``" in doc for f in fields), (type(obj).__name__, doc)
    d = a.to_dict()
    assert d["confidence"] == 0.75 and d["statements"][0]["dates"][0]["start"] == 3
    cite = d["citations"][0]
    assert tuple(cite) == Hit.CITATION_FIELDS  # no passage, no ranking
    assert cite["date"] == "2023-03-07" and cite["article_path"] == CNN
    assert d["hits"][0]["score"] == 0.5 and "text" not in d["hits"][0]
    full = hit.to_dict(passage=True)
    assert tuple(full) == Hit.CITATION_FIELDS + Hit.RANKED_FIELDS + Hit.PASSAGE_FIELDS
    assert full["start"] == 10 and type(full["start"]) is int
    assert all(f"``{f}``" in Hit.to_dict.__doc__ for f in full)
    assert tuple(t.to_dict()["events"][0]["citations"][0]) == Hit.CITATION_FIELDS
