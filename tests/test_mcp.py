"""The chat's MCP server (``ui.launch(mcp=True)``, ``challenge-qa serve --mcp``): the answer,
retrieve and timeline tools, listed and called with the ``mcp`` client over streamable
HTTP and SSE, against a server on 127.0.0.1."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import asyncio  # noqa: E402
import json  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
from helpers import invoke  # noqa: E402

from challenge_qa.config import Settings  # noqa: E402

pytest.importorskip("mcp", reason="the MCP tests need challenge-qa[mcp]")

DOCS = Path(__file__).resolve().parents[1] / "docs_corpus"
CNN = "challenge-trailer-cnn.md"
FILTERS = {"since", "until", "sources"}


@pytest.fixture(scope="module")
def mcp_url(tmp_path_factory):
    """The MCP endpoint of the chat over docs_corpus on 127.0.0.1, its index built first."""
    from challenge_qa.app.web import launch
    from challenge_qa.engine import Engine

    index_dir = tmp_path_factory.mktemp("mcp") / "index"
    svc = Engine(Settings(corpus_dir=DOCS, index_dir=index_dir, show_progress=False))
    svc.ensure_index()
    svc.wait()
    demo = launch(engine=svc, port=None, block=False, quiet=True, mcp=True)
    assert demo.local_url.startswith("http://127.0.0.1:"), demo.local_url
    try:
        yield demo.local_url.rstrip("/") + "/gradio_api/mcp/"
    finally:
        demo.close()


def session(url: str, work, *, sse: bool = False):
    """Run ``await work(session)`` in an initialised MCP client session."""
    import httpx
    from mcp import ClientSession
    from mcp.client.sse import sse_client
    from mcp.client.streamable_http import streamable_http_client

    async def main():
        if sse:
            async with sse_client(url + "sse") as (read, write), \
                    ClientSession(read, write) as s:
                await s.initialize()
                return await work(s)
        # no proxy from the environment for a server on 127.0.0.1
        async with httpx.AsyncClient(trust_env=False, timeout=httpx.Timeout(120.0)) as http, \
                streamable_http_client(url, http_client=http) as (read, write, _), \
                ClientSession(read, write) as s:
            await s.initialize()
            return await work(s)

    return asyncio.run(main())


def result_value(result):
    """The value a tool returned: its one text content is JSON."""
    assert not result.isError, result.content
    assert len(result.content) == 1, result.content
    return json.loads(result.content[0].text)


@pytest.mark.slow
def test_tools_are_listed_with_typed_documented_parameters(mcp_url):
    async def work(s):
        return (await s.list_tools()).tools

    tools = {t.name: t for t in session(mcp_url, work)}
    assert set(tools) == {"answer", "retrieve", "timeline"}
    expected = {"answer": {"question", "k", "per_article", "history", "as_of"} | FILTERS,
                "retrieve": {"question", "k", "per_article", "as_of"} | FILTERS,
                "timeline": {"topic"} | FILTERS}
    for name, params in expected.items():
        tool = tools[name]
        assert tool.description and len(tool.description) > 40, (name, tool.description)
        props = tool.inputSchema["properties"]
        assert set(props) == params, (name, set(props))
        for p, schema in props.items():
            assert schema.get("description"), (name, p)
    answer = tools["answer"].inputSchema["properties"]
    assert answer["question"]["type"] == "string"
    assert "YYYY-MM-DD" in answer["since"]["description"]
    assert "integer" in str(answer["k"]) and "boolean" in str(answer["per_article"])
    assert "array" in str(answer["sources"])


@pytest.mark.slow
def test_answer_tool_cites_the_article(mcp_url):
    async def work(s):
        return await s.call_tool("answer", {"question": "Who plays the patient?"})

    result = session(mcp_url, work)
    a = result_value(result)
    assert a["found"] is True
    assert "Oleg Novitskiy" in a["text"] and "[1]" in a["text"]
    assert any(c["doc_id"] == CNN and "Oleg Novitskiy" in c["sentence"] for c in a["citations"])


@pytest.mark.slow
def test_answer_tool_returns_compact_json(mcp_url):
    """The answer is JSON (not a Python repr) with the short answer, the statements and
    compact citations: the quoted sentence and its offsets, not the whole passage."""
    from challenge_qa.answering.compose import Answer, Statement
    from challenge_qa.search.retrieve import Hit

    async def work(s):
        return await s.call_tool("answer", {"question": "Who plays the patient?"})

    text = session(mcp_url, work).content[0].text
    a = json.loads(text)
    assert len(text.encode()) < 6000, len(text.encode())  # a full asdict() was ~9 KB
    assert tuple(a) == Answer.JSON_FIELDS
    assert a["short"] == "Oleg Novitskiy" and a["query"] == "Who plays the patient?"
    assert a["statements"] and tuple(a["statements"][0]) == Statement.JSON_FIELDS
    assert a["statements"][0]["citations"] == [1]
    cite = a["citations"][0]
    assert tuple(cite) == Hit.CITATION_FIELDS
    assert cite["sentence"] == a["statements"][0]["text"]
    assert cite["sentence_end"] - cite["sentence_start"] == len(cite["sentence"])
    assert all("text" not in h for h in a["citations"] + a["hits"])  # no passage text
    assert all(isinstance(h["score"], float) for h in a["hits"])


@pytest.mark.slow
def test_retrieve_and_timeline_tools_honour_the_filters(mcp_url):
    async def work(s):
        hits = await s.call_tool("retrieve", {"question": "Who directed the film?", "k": 3,
                                              "sources": ["CNN"]})
        events = await s.call_tool("timeline", {"topic": "The Challenge"})
        late = await s.call_tool("timeline", {"topic": "The Challenge", "since": "2023"})
        return hits, events, late

    hits, events, late = (result_value(r) for r in session(mcp_url, work))
    assert 1 <= len(hits) <= 3 and {h["source"] for h in hits} == {"CNN"}
    labels = [e["label"] for e in events["events"]]
    assert labels.index("November 2020") < labels.index("12 April 2023"), labels
    release = events["events"][labels.index("12 April 2023")]
    assert {c["doc_id"] for c in release["citations"]} >= {CNN}
    assert late["filters"] == {"since": "2023-01-01"}
    # the undated article is left out once a date bound is given
    assert all(c["source"] == "CNN" for e in late["events"] for c in e["citations"])


@pytest.mark.slow
def test_bad_date_is_a_tool_error_that_says_why(mcp_url):
    async def work(s):
        return await s.call_tool("answer", {"question": "Who plays the patient?",
                                            "since": "2023-13"})

    result = session(mcp_url, work)
    assert result.isError
    assert "since must be a date like" in result.content[0].text


@pytest.mark.slow
def test_sse_transport_lists_the_tools(mcp_url):
    async def work(s):
        return [t.name for t in (await s.list_tools()).tools]

    assert sorted(session(mcp_url, work, sse=True)) == ["answer", "retrieve", "timeline"]


def test_serve_help_documents_mcp():
    result = invoke("serve", "--help")
    assert result.exit_code == 0, result.output
    assert "--mcp" in result.output and "/gradio_api/mcp/" in result.output


def test_mcp_without_the_extra_names_the_install(monkeypatch):
    import importlib.util

    from challenge_qa.app.web import launch
    from challenge_qa.errors import MissingExtraError

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "mcp" else real(name, *a))
    with pytest.raises(MissingExtraError) as err:
        launch(Settings(corpus_dir=DOCS), mcp=True, block=False)
    assert "challenge-qa[mcp]" in err.value.explain()


@pytest.mark.slow
def test_answer_tool_resolves_he_from_the_history_it_is_given(mcp_url):
    async def work(s):
        first = result_value(await s.call_tool("answer", {"question": "Who plays the patient?"}))
        then = await s.call_tool("answer", {"question": "Is he a real cosmonaut?", "history": [
            ["Who plays the patient?", first]]})
        return first, result_value(then)

    first, then = session(mcp_url, work)
    assert first["short"] == "Oleg Novitskiy"
    assert then["query"] == "Is Oleg Novitskiy a real cosmonaut?"


@pytest.mark.slow
def test_answer_tool_resolves_he_after_an_answer_given_as_text(mcp_url):
    """An MCP client that keeps only the answer's text (plain, or as the chat shows it with
    the short answer in bold, or the tool's JSON as it came) gets "he" resolved to the query
    the chat searches, not "Is he a real cosmonaut? (Who plays the patient)"."""
    from challenge_qa.answering.conversation import Conversation

    q1, q2 = "Who plays the patient?", "Is he a real cosmonaut?"

    async def work(s):
        raw = await s.call_tool("answer", {"question": q1})
        first = result_value(raw)
        texts = [first["text"], f"**{first['short']}** — {first['text']}",
                 raw.content[0].text]
        return first, [result_value(await s.call_tool(
            "answer", {"question": q2, "history": [[q1, t]]})) for t in texts]

    first, thens = session(mcp_url, work)
    # the chat's query: its Conversation keeps the Answer, whose Markdown leads in bold
    chat = Conversation()
    chat.add(q1, chat.resolve(q1), f"**{first['short']}** — {first['text']}")
    assert chat.resolve(q2) == "Is Oleg Novitskiy a real cosmonaut?"
    for then in thens:
        assert then["query"] == chat.resolve(q2), then["query"]
        assert then["question"] == q2
