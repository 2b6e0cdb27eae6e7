"""The chat's subscriptions and its "Latest" tab without a browser: ``Index.latest``, the
callbacks of ``app.web.build_ui`` called as Gradio calls them, the rule that decides when
the chat may watch folders on the server (``web.folders_allowed``), and the engine's
background poll (``Engine.start_poll``). Feeds are served by ``helpers.news_site`` on
127.0.0.1; the index is built with ``HashEmbedder``.
"""

from __future__ import annotations

import html as html_mod
import time
from pathlib import Path

import pytest
from helpers import BRIDGE, SMALL_FILES, news_site, rss, write_files

from challenge_qa.config import Settings
from challenge_qa.corpus.sources import SOURCES_FILE, add_source, load_sources
from challenge_qa.engine import Engine
from challenge_qa.testing import HashEmbedder

NEW_MD = """---
title: Night trains return to the northern line
source: Rail Weekly
date: 2025-01-05
url: https://example.org/night-trains
---

The night train between the capital and the northern coast runs again from this week,
after four years without a sleeper service on the line. Tickets sold out in two days.
"""


def settings_for(corpus: Path, index: Path, **extra) -> Settings:
    return Settings(corpus_dir=corpus, index_dir=index, show_progress=False, chunk_chars=300,
                    overlap_chars=80, **extra)


def shown(html: str) -> str:
    """What a browser shows of escaped HTML (the tags left in)."""
    return html_mod.unescape(html)


def wait_for(check, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if got := check():
            return got
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {check}")


# --------------------------------------------------------------------------- Index.latest


def test_latest_lists_the_newest_live_articles_newest_first(tmp_path):
    corpus = write_files(tmp_path / "corpus", SMALL_FILES)
    with Engine(settings_for(corpus, tmp_path / "index"), embedder=HashEmbedder()) as engine:
        engine.build()
        first = engine.index().latest(10)
        # dated first, by date; the undated articles (chess, marathon) after them
        assert [a["doc_id"] for a in first[:3]] == ["volcano.md", "nature/bees.html",
                                                     "lighthouse"]
        assert [a["date"] for a in first[:3]] == ["2024-02-11", "2023-06-01", "2022-09-14"]
        assert {a["doc_id"] for a in first[3:]} == {"chess.txt", "marathon"}
        assert not any(a["date"] for a in first[3:])
        volcano = first[0]
        assert (volcano["title"], volcano["source"], volcano["url"], volcano["path"]) == (
            "Mount Etna erupts again", "Volcano Weekly", "https://example.org/etna",
            "volcano.md")

        # a newer article, a changed one and a deleted one, in a second segment
        (corpus / "trains.md").write_text(NEW_MD, encoding="utf-8")
        (corpus / "nature" / "bees.html").unlink()
        volcano_md = (corpus / "volcano.md").read_text(encoding="utf-8")
        (corpus / "volcano.md").write_text(volcano_md.replace("six hours", "seven hours"),
                                           encoding="utf-8")
        engine.build()
        idx = engine.index()
        assert len(idx.segments) >= 2 or idx.manifest["counts"]["articles"] == 5
        latest = idx.latest(10)
        ids = [a["doc_id"] for a in latest]
        assert ids[:3] == ["trains.md", "volcano.md", "lighthouse"], ids
        assert "nature/bees.html" not in ids and len(ids) == len(set(ids)) == 5
        assert idx.article(latest[1]["doc_id"])["text"].count("seven hours") == 1
        assert latest[0]["doc"] != latest[1]["doc"]
        # n limits the list; none asked, none given
        assert [a["doc_id"] for a in idx.latest(2)] == ids[:2]
        assert idx.latest(0) == []


# --------------------------------------------------------------------------- the rule


@pytest.mark.parametrize("opted_in, host, auth, allowed", [
    (False, "127.0.0.1", None, False),  # off unless the operator opts in
    (False, "127.0.0.1", ("u", "p"), False),
    (True, "127.0.0.1", None, True),  # this machine alone
    (True, "localhost", None, True),
    (True, "::1", None, True),
    (True, "127.0.0.2", None, True),
    (True, "0.0.0.0", None, False),  # reachable from other machines, anyone may use it
    (True, "192.168.1.20", None, False),
    (True, "0.0.0.0", ("u", "p"), True),  # ... unless it asks for a login
])
def test_folders_are_offered_only_when_opted_in_and_local_or_logged_in(opted_in, host, auth,
                                                                        allowed):
    from challenge_qa.app.web import folders_allowed

    s = Settings(chat_watch_folders=opted_in)
    assert folders_allowed(s, host, auth) is allowed


def test_the_setting_is_read_from_the_environment():
    assert Settings.from_env({"CHALLENGE_QA_CHAT_WATCH_FOLDERS": "1"}).chat_watch_folders
    assert not Settings.from_env({}).chat_watch_folders


# --------------------------------------------------------------------------- the callbacks


def callbacks(demo) -> dict:
    return {f.fn.__name__: f.fn for f in demo.fns.values() if f.fn is not None}


@pytest.fixture
def make_chat(tmp_path):
    """``make(**settings, watch_folders=...)``: (callbacks, engine, corpus) of a chat over
    an empty indexed corpus."""
    from challenge_qa.app.web import build_ui

    engines = []

    def make(watch_folders=None, **extra):
        corpus = tmp_path / f"corpus{len(engines)}"
        corpus.mkdir()
        engine = Engine(settings_for(corpus, tmp_path / f"index{len(engines)}", **extra),
                        embedder=HashEmbedder())
        engines.append(engine)
        demo = build_ui(engine=engine, watch_folders=watch_folders)
        return callbacks(demo), engine, corpus

    yield make
    for e in engines:
        e.close()


def test_a_feed_on_this_machine_is_refused_unasked_and_nothing_is_saved(make_chat):
    fns, _, corpus = make_chat()
    with news_site() as site:
        url = site.feed("/feed.xml", rss("Local", []))
        with pytest.warns(UserWarning, match="127.0.0.1 is a loopback address"):
            note, kept, html, _, _ = fns["subscribe"](url, 15, None)
        assert "Refused" in note and kept == url
        assert site.requests == []  # refused before anything is fetched
    assert not (corpus / SOURCES_FILE).exists()
    assert "No subscriptions yet" in html


def test_without_folders_a_path_is_refused_without_looking_at_it(make_chat, tmp_path):
    fns, _, corpus = make_chat(watch_folders=False)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    messages = []
    for path in (str(inbox), str(tmp_path / "missing"), "/etc"):
        with pytest.warns(UserWarning) as caught:
            note, kept, *_ = fns["subscribe"](path, 15, None)
        (w,) = caught
        assert kept == path and "Refused" in note
        messages.append(str(w.message).replace(path, "PATH"))
    # the same answer whether the folder exists or not: nothing about the server is told
    assert len(set(messages)) == 1, messages
    assert "Watching a folder on the server is off" in messages[0]
    assert "CHALLENGE_QA_CHAT_WATCH_FOLDERS" in messages[0]
    assert not (corpus / SOURCES_FILE).exists()


def test_a_folder_source_added_elsewhere_is_listed_without_its_path(make_chat, tmp_path):
    fns, _, corpus = make_chat(watch_folders=False)
    inbox = tmp_path / "private-inbox"
    inbox.mkdir()
    add_source(corpus, str(inbox), name="inbox")
    html, pick, _ = fns["check_now"](None)
    assert "inbox" in html and "private-inbox" not in shown(html) and "folder" in html
    assert pick["choices"] == [("inbox", "inbox")] or pick["choices"] == ["inbox"]


def test_with_folders_a_folder_is_watched_and_one_in_the_corpus_refused(make_chat, tmp_path):
    fns, _, corpus = make_chat(watch_folders=True)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    note, kept, html, _, _ = fns["subscribe"](str(inbox), 5, None)
    assert kept == "" and "Subscribed to the folder inbox" in note
    assert str(inbox.resolve()) in shown(html) and "every 5 min" in html
    assert [(s.kind, s.url, s.interval) for s in load_sources(corpus)] == [
        ("folder", str(inbox.resolve()), 300)]
    (corpus / "sub").mkdir()
    for bad, why in [(corpus / "sub", "inside the corpus"),
                     (tmp_path / "missing", "is not a folder")]:
        with pytest.warns(UserWarning, match=why):
            fns["subscribe"](str(bad), 5, None)
    assert len(load_sources(corpus)) == 1


@pytest.mark.parametrize("minutes", [0, -3, 0.5])
def test_an_interval_under_a_minute_is_refused(make_chat, minutes):
    fns, _, corpus = make_chat(allow_private_urls=True)
    with pytest.warns(UserWarning, match="cannot be checked every"):
        fns["subscribe"]("https://example.org/rss.xml", minutes, None)
    assert not (corpus / SOURCES_FILE).exists()


def test_subscribe_check_now_list_latest_and_remove(make_chat):
    fns, engine, corpus = make_chat(allow_private_urls=True)
    (corpus / "trains.md").write_text(NEW_MD.replace("2025-01-05", "2020-01-05"),
                                      encoding="utf-8")
    engine.build()
    with news_site() as site:
        site.page("/news/harbor-bridge", "Harbor bridge reopens after repairs", BRIDGE,
                  site="Harbor Gazette", date="2031-05-02T09:00:00Z")
        url = site.feed("/feeds/harbor.xml", rss("Harbor Gazette", [
            {"title": "Harbor bridge reopens after repairs", "guid": "harbor-bridge-1",
             "link": site.url("/news/harbor-bridge"), "date": "Fri, 02 May 2031 09:00:00 GMT"},
        ]))
        note, kept, html, pick, last = fns["subscribe"](url, 15, None)
        assert "Subscribed to the feed" in note and kept == ""
        assert url in shown(html) and "Not checked yet" in html and "every 15 min" in html
        assert pick["choices"] in (["127-0-0-1-feeds-harbor"],
                                   [("127-0-0-1-feeds-harbor", "127-0-0-1-feeds-harbor")])
        name = load_sources(corpus)[0].name
        # the same address twice is refused with the library's message
        with pytest.warns(UserWarning, match="already a source"):
            fns["subscribe"](url, 15, last)

        html, _, last = fns["check_now"](last)
        assert "Checking the sources" in html or engine.last_poll is not None
        wait_for(lambda: not engine.polling)
        html = fns["refresh"](None, [], None)[-3]  # what the status timer shows
        assert "1 added by the last check, 1 in all" in html, html
        assert f"{name}: 1 added, 0 replaced, 0 removed, 0 duplicates" in shown(html)
        assert site.hits("/feeds/harbor.xml") == 1
    # the build the poll started puts it in the index, and in "Latest"
    wait_for(lambda: not engine.building
             and engine.index().manifest["counts"]["articles"] == 2)
    refreshed = fns["refresh"](None, [], None)
    latest, ids = refreshed[5], refreshed[6]
    latest = shown(latest)
    assert "Harbor bridge reopens after repairs" in latest and "Harbor Gazette" in latest
    assert "2 May 2031" in latest and len(ids) == 2 and ids[0].startswith("feeds/")
    assert latest.index("Harbor bridge") < latest.index("Night trains")

    # the title opens the whole article, as a citation does
    class Evt:
        _data = {"cite": "l:0"}

    opened, _, _ = fns["open_cite"]({}, None, None, "Relevance", ids, Evt())
    assert "fourteen million euros" in shown(opened) and "<mark>" not in opened
    Evt._data = {"cite": "l:7"}
    assert "cannot be opened" in fns["open_cite"]({}, None, None, "Relevance", ids, Evt())[0]

    note, html, pick, _ = fns["unsubscribe"](name, last)
    assert f"Removed the feed {name}" in shown(note)
    assert "No subscriptions yet" in html and pick["choices"] == []
    assert load_sources(corpus) == []
    with pytest.warns(UserWarning, match="No source"):
        fns["unsubscribe"](name, None)


def test_the_engine_polls_in_the_background_then_builds(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    with news_site() as site, Engine(settings_for(corpus, tmp_path / "index",
                                                  allow_private_urls=True),
                                     embedder=HashEmbedder()) as engine:
        site.page("/b", "Harbor bridge reopens", BRIDGE, site="Harbor Gazette")
        add_source(corpus, site.feed("/f.xml", rss("Harbor Gazette", [
            {"title": "Harbor bridge reopens", "guid": "b", "link": site.url("/b")}])))
        assert engine.start_poll()
        wait_for(lambda: engine.last_poll is not None)
        when, report = engine.last_poll
        assert report.changed and when <= time.time()
        wait_for(lambda: not engine.polling and not engine.building)
        assert engine.status().state == "ready", engine.status()
        assert engine.index().latest(1)[0]["title"] == "Harbor bridge reopens"
        # again: nothing new, no build
        generation = engine.index().generation
        assert engine.start_poll()
        wait_for(lambda: not engine.polling)
        assert not engine.last_poll[1].changed and not engine.building
        assert engine.index().generation == generation


@pytest.mark.parametrize("host, auth, folders", [
    ("127.0.0.1", None, True), ("0.0.0.0", None, False), ("0.0.0.0", ("u", "p"), True)])
def test_launch_applies_the_rule_and_starts_the_watcher(tmp_path, monkeypatch, host, auth,
                                                        folders):
    """``launch`` (no server is started here) builds the chat with folders only as the
    rule says, and ``watch=True`` polls the sources in the background."""
    import gradio as gr

    from challenge_qa.app import web

    made = {}
    build_ui = web.build_ui

    def spy(*args, **kwargs):
        made.update(kwargs)
        return build_ui(*args, **kwargs)

    monkeypatch.setattr(web, "build_ui", spy)
    monkeypatch.setattr(gr.Blocks, "launch", lambda self, **kwargs: None)
    corpus = write_files(tmp_path / "corpus", {"trains.md": NEW_MD})
    with Engine(settings_for(corpus, tmp_path / "index", chat_watch_folders=True),
                embedder=HashEmbedder()) as engine:
        demo = web.launch(engine=engine, host=host, auth=auth, block=False, watch=True)
        assert made["watch_folders"] is folders
        assert engine.watching
        hint = next(b.value for b in demo.blocks.values()
                    if getattr(b, "elem_id", None) == "qa-sub-hint")
        assert ("Watching a folder on the server is off" in hint) is not folders
    assert not engine.watching  # closed: the watcher stops
