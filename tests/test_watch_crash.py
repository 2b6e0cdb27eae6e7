"""Polls killed with SIGKILL: `challenge-qa watch --once` stopped while it waits for an
item's page, while it writes an item's file, while it writes the sources' state, and while
the build after the poll commits (over an index, and before there is one).

Each test but the last polls a feed of one article in-process and indexes it
(``HashEmbedder``, no model), then the feed lists three more articles and a poll in a
child process is killed at one of those moments. Right after the kill the index must
answer exactly as before; after the next poll (`challenge-qa watch --once` again) the
index must hold every item of the feed once, as a file each, by address and by title,
with nothing temporary left in the corpus, the state listing every item as seen, and the
article indexed before the kill answering as it did.

The news site is ``test_sources``'s server on 127.0.0.1. Precise kill moments come from a
bootstrap (``HOOKED``) that runs the real command line in the child with a pause at a
named point, as in ``test_crash``: the child writes a marker file and sleeps until it is
killed. The wait for a page needs no hook: the server holds that page back.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import helpers
import pytest
import test_sources
from helpers import live_ids
from test_sources import (
    BRIDGE,
    BRIDGE_PHRASE,
    FERRY,
    FERRY_PHRASE,
    GLACIER,
    GLACIER_PHRASE,
    ORCHARD,
    ORCHARD_PHRASE,
    rss,
)

from challenge_qa.config import Settings
from challenge_qa.corpus.sources import add_source, load_states
from challenge_qa.engine import Engine
from challenge_qa.store.manifest import MANIFEST
from challenge_qa.testing import HashEmbedder

#: The news site on 127.0.0.1 of the feed tests (a fixture), whose routes a test edits.
site = test_sources.site
CHILD_TIMEOUT = 60

#: Runs ``challenge-qa`` (argv[1:]) with its engine embedding with ``HashEmbedder`` and,
#: when TEST_PAUSE_AT names a point, a pause there: the process writes the marker file
#: TEST_PAUSE_MARKER and sleeps until it is killed. Points: "item-write" and
#: "state-write" (after a feed item's file or the sources' state is written to its
#: temporary file and synced, before it is renamed into place), "build-commit" (the
#: build's manifest commit, before it is made).
HOOKED = r"""
import os, sys, time

import challenge_qa.engine as engine_mod
import challenge_qa.store.manifest as mf
from challenge_qa.config import Settings
from challenge_qa.testing import HashEmbedder

point = os.environ.get("TEST_PAUSE_AT", "")
marker = os.environ.get("TEST_PAUSE_MARKER", "")

def pause(tag):
    with open(marker + ".part", "w") as f:
        f.write(tag)
    os.replace(marker + ".part", marker)
    time.sleep(3600)

engine_mod.default_engine = lambda settings=None: engine_mod.Engine(
    settings or Settings.from_env(), embedder=HashEmbedder())

real_commit, real_fsync = mf.commit, os.fsync

def commit(*args, **kwargs):
    if point == "build-commit":
        pause(point)
    return real_commit(*args, **kwargs)

def fsync(fd):
    real_fsync(fd)
    try:
        name = os.path.basename(os.readlink("/proc/self/fd/%d" % fd))
    except OSError:
        return
    if point == "state-write" and name.startswith(".sources-state.json."):
        pause(point)
    if point == "item-write" and name.endswith(".tmp") and ".md." in name:
        pause(point)

mf.commit, os.fsync = commit, fsync

from challenge_qa.app.cli import main
sys.argv[0] = "challenge-qa"
main()
"""

#: The feed's items: (guid, path, title, paragraphs, phrase to retrieve it, its marker).
ITEMS = [
    ("bridge-1", "/news/bridge", "Harbor bridge reopens after repairs", BRIDGE,
     BRIDGE_PHRASE, "rusted cables"),
    ("orchard-2", "/news/orchard", "Bees return to the apricot orchards", ORCHARD,
     ORCHARD_PHRASE, "forty thousand hives"),
    ("glacier-3", "/news/glacier", "Tarnberg glacier loses ninety metres", GLACIER,
     GLACIER_PHRASE, "ninety metres"),
    ("ferry-4", "/news/ferry", "Night ferry to stop in November", FERRY, FERRY_PHRASE,
     "Oosterduin"),
]


def publish(site, n: int) -> None:
    """The feed lists the first ``n`` items (the newest first, as a news site does)."""
    site.feed("/feeds/news.xml", rss("Harbor Gazette", [
        {"title": title, "guid": guid, "link": site.url(path),
         "date": f"Thu, 0{2 + i} May 2024 09:00:00 GMT"}
        for i, (guid, path, title, *_) in enumerate(ITEMS[:n])][::-1]))


@pytest.fixture
def polled(site, tmp_path):
    """A corpus subscribed to the site's feed, polled once in-process and indexed while
    the feed listed only the bridge article; then the feed lists all four."""
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    corpus.mkdir()
    for _, path, title, paragraphs, *_ in ITEMS:
        site.page(path, title, paragraphs, site="Harbor Gazette")
    publish(site, 1)
    add_source(corpus, site.url("/feeds/news.xml"), name="news")
    s = Settings(corpus_dir=corpus, index_dir=index, show_progress=False,
                 allow_private_urls=True)
    with Engine(s, embedder=HashEmbedder()) as engine:
        report = engine.poll(force=True)
        assert report.changed and report.sources[0].added == 1, report
        before = answers(engine)
    assert before[0].doc_id.startswith("feeds/news/") and "rusted cables" in before[0].text
    publish(site, len(ITEMS))
    return site, s, before


def answers(engine: Engine):
    return engine.retrieve(BRIDGE_PHRASE, k=4)


def watch_once(s: Settings, tmp: Path, point: str | None = None) -> subprocess.Popen:
    """`challenge-qa watch --once` of the corpus in a new process (through ``HOOKED``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHALLENGE_QA_", "TEST_"))
           or k == "CHALLENGE_QA_CACHE"}
    env.update(HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false",
               CHALLENGE_QA_ALLOW_PRIVATE_URLS="1")
    if point:
        env.update(TEST_PAUSE_AT=point, TEST_PAUSE_MARKER=str(tmp / f"paused-{point}"))
    return subprocess.Popen(
        [sys.executable, "-c", HOOKED, "watch", "--once", "--corpus", str(s.corpus_dir),
         "--index", str(s.index_dir)], cwd=tmp, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen, kill: bool = False) -> dict:
    return helpers.finish(proc, kill, CHILD_TIMEOUT)


def wait_for(proc: subprocess.Popen, ready, what: str) -> None:
    t0 = time.monotonic()
    while not ready():
        if proc.poll() is not None or time.monotonic() - t0 > CHILD_TIMEOUT:
            pytest.fail(f"the poll did not reach {what}: {finish(proc)}")
        time.sleep(0.005)


def kill_at(s: Settings, tmp: Path, point: str) -> None:
    """Start a hooked `watch --once`, wait for its pause at ``point``, SIGKILL it."""
    proc = watch_once(s, tmp, point)
    marker = tmp / f"paused-{point}"
    wait_for(proc, marker.exists, point)
    assert marker.read_text() == point
    result = finish(proc, kill=True)
    assert result["killed"] and "Traceback" not in result["stderr"], result


def temporary_files(corpus: Path) -> list[str]:
    return sorted(p.relative_to(corpus).as_posix() for p in corpus.rglob("*")
                  if ".tmp" in p.name or p.name.endswith((".part", ".partial")))


def assert_answers_as_before(s: Settings, before) -> None:
    with Engine(s, embedder=HashEmbedder()) as engine:
        assert answers(engine) == before


def poll_again_and_check(site, s: Settings, tmp: Path, before) -> dict:
    """`watch --once` again; then every item is indexed once, seen, and nothing is left."""
    result = finish(watch_once(s, tmp))
    assert result["rc"] == 0 and "Traceback" not in result["stderr"], result
    assert result["stdout"].startswith("news: "), result["stdout"]
    corpus = Path(s.corpus_dir)
    files = sorted(p.relative_to(corpus).as_posix() for p in (corpus / "feeds").rglob("*")
                   if p.is_file())
    assert len(files) == len(ITEMS) and all(f.startswith("feeds/news/") for f in files), files
    assert temporary_files(corpus) == []

    seen = load_states(corpus)["news"].seen
    assert sorted(seen) == sorted(guid for guid, *_ in ITEMS), seen
    assert all(v.get("file") in files and not v.get("duplicate") and "refused" not in v
               for v in seen.values()), seen
    assert sorted(v["file"] for v in seen.values()) == files

    with Engine(s, embedder=HashEmbedder()) as engine:
        idx = engine.index()
        assert idx.staleness(corpus).stale is False
        assert idx.manifest["counts"]["articles"] == len(ITEMS), idx.manifest["counts"]
        ids = live_ids(idx)
        assert sorted(ids) == files and set(ids.values()) == {1}, ids
        # each article once by its address and by its title
        rows = [(url, title) for seg in idx.segments
                for i, url, title in seg.query("SELECT idx, url, title FROM articles")
                if not seg.deleted_articles[i]]
        assert sorted(rows) == sorted((site.url(path), title)
                                      for _, path, title, *_ in ITEMS), rows
        for _, path, _, _, phrase, mark in ITEMS:
            hits = engine.retrieve(phrase, k=10)
            mine = [h for h in hits if mark in h.text]
            assert len(mine) == 1 and hits[0] is mine[0], (phrase, hits)
            assert hits[0].url == site.url(path)
        # the article indexed before the kill answers as it did
        top, old = answers(engine)[0], before[0]
        assert (top.doc_id, top.title, top.url, top.text, top.passage_id) == (
            old.doc_id, old.title, old.url, old.text, old.passage_id)
    return result


# --------------------------------------------------------------------------- the tests


def test_sigkill_while_the_poll_waits_for_an_item_page(polled, tmp_path):
    """The server holds the second new item's page back (the feed lists the newest
    first: ferry, glacier, orchard); the poll is killed while it waits: the first new
    item's file is saved, the state and the index are not."""
    site, s, before = polled
    held = site.routes["/news/glacier"]
    held.delay = 30
    proc = watch_once(s, tmp_path)
    wait_for(proc, lambda: site.hits("/news/glacier") >= 1, "the held page")
    assert site.hits("/news/ferry") == 1 and site.hits("/news/orchard") == 0
    result = finish(proc, kill=True)
    assert result["killed"], result
    held.delay = 0
    corpus = Path(s.corpus_dir)
    assert len(list((corpus / "feeds" / "news").iterdir())) == 2  # bridge, ferry
    assert sorted(load_states(corpus)["news"].seen) == ["bridge-1"]
    assert_answers_as_before(s, before)

    again = poll_again_and_check(site, s, tmp_path, before)
    # the ferry article was saved by the killed poll: written again, not twice
    assert "news: 2 added, 1 replaced, 0 removed, 0 duplicates" in again["stdout"], again


def test_sigkill_while_an_item_file_is_written(polled, tmp_path):
    site, s, before = polled
    kill_at(s, tmp_path, "item-write")
    corpus = Path(s.corpus_dir)
    assert len(temporary_files(corpus)) == 1  # the item's temporary file, left behind
    assert len(list((corpus / "feeds" / "news").glob("*.md"))) == 1
    assert_answers_as_before(s, before)

    again = poll_again_and_check(site, s, tmp_path, before)
    assert "news: 3 added, 0 replaced, 0 removed, 0 duplicates" in again["stdout"], again


def test_sigkill_while_the_state_is_written(polled, tmp_path):
    """Every new item's file is saved, the state is in its temporary file: the state on
    disk is the previous poll's, and nothing was indexed."""
    site, s, before = polled
    kill_at(s, tmp_path, "state-write")
    corpus = Path(s.corpus_dir)
    assert len(list((corpus / "feeds" / "news").glob("*.md"))) == len(ITEMS)
    assert sorted(load_states(corpus)["news"].seen) == ["bridge-1"]
    assert [p.split("/")[-1].split(".")[1] for p in temporary_files(corpus)] == ["sources-state"]
    assert_answers_as_before(s, before)

    hits = {path: site.hits(path) for _, path, *_ in ITEMS}
    again = poll_again_and_check(site, s, tmp_path, before)
    # the items the lost state did not list are fetched again and rewrite their own files
    assert "news: 0 added, 3 replaced, 0 removed, 0 duplicates" in again["stdout"], again
    assert {p: site.hits(p) - n for p, n in hits.items()} == {
        "/news/bridge": 0, "/news/orchard": 1, "/news/glacier": 1, "/news/ferry": 1}


def test_sigkill_while_the_build_after_a_poll_commits(polled, tmp_path):
    """The poll saved every item and its state; its build is killed before its commit.
    The next poll finds nothing new in the feed, and still indexes what the killed one
    saved."""
    site, s, before = polled
    index = Path(s.index_dir)
    manifest = (index / MANIFEST).read_bytes()
    kill_at(s, tmp_path, "build-commit")
    corpus = Path(s.corpus_dir)
    assert sorted(load_states(corpus)["news"].seen) == sorted(guid for guid, *_ in ITEMS)
    assert (index / MANIFEST).read_bytes() == manifest
    assert_answers_as_before(s, before)

    hits = {path: site.hits(path) for _, path, *_ in ITEMS}
    again = poll_again_and_check(site, s, tmp_path, before)
    assert "news: 0 added, 0 replaced, 0 removed, 0 duplicates" in again["stdout"], again
    assert {p: site.hits(p) for p in hits} == hits  # no page fetched again


def test_sigkill_during_the_first_build_of_a_polled_corpus(site, tmp_path):
    """No index yet: the first poll saves every item and its state, and its build is
    killed before it commits. The next poll, which finds nothing new, makes the index."""
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    corpus.mkdir()
    for _, path, title, paragraphs, *_ in ITEMS:
        site.page(path, title, paragraphs, site="Harbor Gazette")
    publish(site, len(ITEMS))
    add_source(corpus, site.url("/feeds/news.xml"), name="news")
    s = Settings(corpus_dir=corpus, index_dir=index, show_progress=False,
                 allow_private_urls=True)
    kill_at(s, tmp_path, "build-commit")
    assert not (index / MANIFEST).exists()
    assert sorted(load_states(corpus)["news"].seen) == sorted(guid for guid, *_ in ITEMS)

    result = finish(watch_once(s, tmp_path))
    assert result["rc"] == 0, result
    assert "news: 0 added, 0 replaced, 0 removed, 0 duplicates" in result["stdout"], result
    assert temporary_files(corpus) == []
    with Engine(s, embedder=HashEmbedder()) as engine:
        ids = live_ids(engine.index())
        assert len(ids) == len(ITEMS) and set(ids.values()) == {1}, ids
        assert all(engine.retrieve(phrase, k=1)[0].url == site.url(path)
                   for _, path, _, _, phrase, _ in ITEMS)
