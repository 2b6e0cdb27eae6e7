"""Subscriptions (challenge_qa.corpus.sources, challenge_qa.corpus.watch, ``Engine.poll``,
``challenge-qa source`` and ``challenge-qa watch``): RSS and Atom feeds served by a real
``http.server`` on 127.0.0.1 whose items link to article pages on the same server, and
watched folders on disk, polled into a corpus and indexed with ``HashEmbedder``.

The server's routes change between polls, as a news site's would; it records every request
with its headers, so a test can tell what a poll fetched and how (conditional GETs).
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from pathlib import Path

import pytest
from helpers import BRIDGE, Route, atom, invoke, live_ids, news_site, rss

from challenge_qa.config import Settings
from challenge_qa.corpus import fetch as fetch_mod
from challenge_qa.corpus.sources import (
    SOURCES_FILE,
    STATE_FILE,
    Source,
    add_source,
    load_sources,
    load_states,
    remove_source,
)
from challenge_qa.corpus.watch import poll
from challenge_qa.engine import Engine
from challenge_qa.errors import ChallengeQAError
from challenge_qa.testing import HashEmbedder

# --------------------------------------------------------------------------- the news site
# (the site itself, its feeds and the bridge story are in helpers.py)

BRIDGE_PHRASE = "rusted cables repainted steel deck pale green colour"

ORCHARD = [
    "Beekeepers in the Kestrel valley counted forty thousand hives in the apricot orchards "
    "this spring, twice as many as five years ago, because the growers now pay for them.",
    "The apricot harvest rose by a third, and the growers' cooperative plans to plant a "
    "further hundred hectares of trees along the river terraces next winter.",
]
ORCHARD_PHRASE = "beekeepers counted forty thousand hives apricot orchards"

GLACIER = [
    "Surveyors measured the Tarnberg glacier with a drone in August and found that its "
    "tongue had retreated ninety metres since the previous summer, a record loss.",
    "The mountain hut below the glacier will move its water intake higher up the valley, "
    "because the meltwater stream has shifted into a new gorge during the heat wave.",
]
GLACIER_PHRASE = "Tarnberg glacier tongue retreated ninety metres drone"

GLACIER_NEW = [
    "A second survey of the Tarnberg glacier in October corrected the first: the tongue had "
    "retreated one hundred and twelve metres, because snow had hidden its melting edge.",
    "The surveyors now fly the drone twice a year, in spring and in late autumn, so that a "
    "summer snowfall no longer hides how far the ice has melted back.",
]
GLACIER_NEW_PHRASE = "second survey corrected one hundred and twelve metres snow hidden edge"

FERRY = [
    "The night ferry between Oosterduin and the island of Marrow will stop running in "
    "November, the shipping company announced, because too few passengers used it.",
    "Islanders collected three thousand signatures against the decision and asked the "
    "province to pay for a smaller boat that would sail twice a week in the winter.",
]
FERRY_PHRASE = "night ferry Oosterduin island Marrow stop running November"


@pytest.fixture
def site():
    """A fresh site per test (its routes and request log are the test's own)."""
    with news_site() as s:
        yield s


# --------------------------------------------------------------------------- helpers


@pytest.fixture
def paths(tmp_path) -> tuple[Path, Path]:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    return corpus, tmp_path / "index"


def settings_for(corpus: Path, index: Path, **extra) -> Settings:
    return Settings(corpus_dir=corpus, index_dir=index, show_progress=False,
                    allow_private_urls=True, **extra)


@pytest.fixture
def engine(paths):
    corpus, index = paths
    e = Engine(settings_for(corpus, index), embedder=HashEmbedder())
    yield e
    e.close()


def result_of(report, name: str):
    """The per-source result named ``name`` in a ``PollReport``."""
    found = [r for r in report.sources if r.name == name]
    assert len(found) == 1, (name, report)
    return found[0]


def top(engine: Engine, phrase: str):
    hits = engine.retrieve(phrase, k=1)
    assert hits, phrase
    return hits[0]


def corpus_files(corpus: Path, under: str) -> list[str]:
    root = corpus / under
    return sorted(p.relative_to(corpus).as_posix() for p in root.rglob("*") if p.is_file())


def every_text(engine: Engine) -> str:
    """The text of every live article of the engine's index."""
    out = []
    for seg in engine.index().segments:
        for i, text in seg.query("SELECT idx, text FROM articles ORDER BY idx"):
            if not seg.deleted_articles[i]:
                out.append(text)
    return "\n".join(out)


@pytest.fixture
def harbor_site(site):
    """An RSS feed (``/feeds/harbor.xml``) of two items: one page states its title,
    publisher and date, the other states none of them; and an Atom feed
    (``/feeds/valley.atom``) of one entry whose page states none either."""
    site.page("/news/harbor-bridge", "Harbor bridge reopens after repairs", BRIDGE,
              site="Harbor Gazette", date="2024-05-02T09:00:00Z")
    site.page("/news/orchard", None, ORCHARD)
    site.page("/valley/glacier", None, GLACIER)
    site.feed("/feeds/harbor.xml", rss("Harbor Gazette", [
        {"title": "Harbor bridge reopens after repairs", "guid": "harbor-bridge-1",
         "link": site.url("/news/harbor-bridge"), "date": "Thu, 02 May 2024 09:00:00 GMT"},
        {"title": "Bees return to the apricot orchards", "guid": "orchard-7",
         "link": site.url("/news/orchard"), "date": "Tue, 14 May 2024 07:00:00 GMT"},
    ]))
    site.feed("/feeds/valley.atom", atom("Valley Times", [
        {"title": "Tarnberg glacier loses ninety metres", "id": "urn:valley:glacier",
         "link": site.url("/valley/glacier"), "updated": "2024-08-19T06:30:00Z"},
    ]), ctype="application/atom+xml")
    return site


# --------------------------------------------------------------------------- sources.toml


def test_sources_are_listed_in_a_toml_file_people_can_read(paths, tmp_path):
    corpus, _ = paths
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    assert load_sources(corpus) == []
    feed = add_source(corpus, "https://www.Example.org/space/rss.xml", interval=600)
    folder = add_source(corpus, str(inbox), name="My Inbox!")
    assert feed == Source(name="example-org-space-rss", kind="feed",
                          url="https://www.example.org/space/rss.xml", interval=600)
    assert (folder.kind, folder.url, folder.name) == ("folder", str(inbox.resolve()),
                                                       "my-inbox")
    assert load_sources(corpus) == [feed, folder]
    text = (corpus / SOURCES_FILE).read_text()
    assert "[[source]]" in text and 'url = "https://www.example.org/space/rss.xml"' in text
    # a second feed of the same host gets a name of its own
    other = add_source(corpus, "https://example.org/space/rss.xml/")
    assert other.name != feed.name and len({s.name for s in load_sources(corpus)}) == 3

    assert remove_source(corpus, "my-inbox") == folder
    assert remove_source(corpus, feed.url) == feed
    assert load_sources(corpus) == [other]
    with pytest.raises(ChallengeQAError, match="No source 'nothing'"):
        remove_source(corpus, "nothing")


@pytest.mark.parametrize("make, fragment", [
    (lambda c, t: "ftp://example.org/feed.xml", "is not an http(s) feed address"),
    (lambda c, t: "file:///etc/passwd", "is not an http(s) feed address"),
    (lambda c, t: "https:///no-host", "names no host"),
    (lambda c, t: str(t / "missing"), "is not a folder"),
    (lambda c, t: str(c), "holds or is inside the corpus"),
    (lambda c, t: str(c / "sub"), "holds or is inside the corpus"),
    (lambda c, t: str(c / "sub" / ".." / "sub"), "holds or is inside the corpus"),
    (lambda c, t: str(t), "holds or is inside the corpus"),  # the folder holding the corpus
    (lambda c, t: str(t / "link-to-corpus"), "holds or is inside the corpus"),
], ids=["ftp", "file", "no-host", "missing-folder", "the-corpus", "inside", "dotdot",
        "holds-the-corpus", "symlink-to-corpus"])
def test_a_bad_source_is_refused_and_nothing_is_written(paths, tmp_path, make, fragment):
    corpus, _ = paths
    (corpus / "sub").mkdir()
    (tmp_path / "link-to-corpus").symlink_to(corpus, target_is_directory=True)
    with pytest.raises(ChallengeQAError) as e:
        add_source(corpus, make(corpus, tmp_path))
    assert fragment in e.value.explain(), e.value.explain()
    assert not (corpus / SOURCES_FILE).exists()


def test_the_same_source_twice_or_a_too_short_interval_is_refused(paths):
    corpus, _ = paths
    add_source(corpus, "https://example.org/feed.xml", name="news")
    with pytest.raises(ChallengeQAError, match="already a source"):
        add_source(corpus, "https://example.org/feed.xml")
    with pytest.raises(ChallengeQAError, match="named 'news' exists already"):
        add_source(corpus, "https://example.org/other.xml", name="news")
    with pytest.raises(ChallengeQAError, match="too short"):
        add_source(corpus, "https://example.org/other.xml", interval=1)
    assert [s.name for s in load_sources(corpus)] == ["news"]


# --------------------------------------------------------------------------- feeds


def test_rss_and_atom_items_are_indexed_after_one_poll(harbor_site, engine, paths):
    corpus, _ = paths
    site = harbor_site
    add_source(corpus, site.url("/feeds/harbor.xml"), name="harbor")
    add_source(corpus, site.url("/feeds/valley.atom"), name="valley")

    report = engine.poll(force=True)
    harbor, valley = result_of(report, "harbor"), result_of(report, "valley")
    assert (harbor.added, harbor.error, harbor.refused) == (2, None, []), harbor
    assert (valley.added, valley.error, valley.refused) == (1, None, []), valley
    assert report.changed
    saved = corpus_files(corpus, "feeds")
    assert len(saved) == 3 and all(p.endswith(".md") for p in saved), saved
    assert sum(p.startswith("feeds/harbor/") for p in saved) == 2, saved
    assert sum(p.startswith("feeds/valley/") for p in saved) == 1, saved

    # the page's own title, publisher and date
    hit = top(engine, BRIDGE_PHRASE)
    assert hit.doc_id.startswith("feeds/harbor/") and "rusted cables" in hit.text
    assert (hit.title, hit.url, hit.source, hit.date) == (
        "Harbor bridge reopens after repairs", site.url("/news/harbor-bridge"),
        "Harbor Gazette", "2024-05-02")
    # a page that states none of them: the feed item's title and date, the feed's name
    hit = top(engine, ORCHARD_PHRASE)
    assert hit.doc_id.startswith("feeds/harbor/") and "forty thousand hives" in hit.text
    assert (hit.url, hit.source, hit.date) == (site.url("/news/orchard"), "Harbor Gazette",
                                               "2024-05-14")
    assert hit.title == "Bees return to the apricot orchards", hit.title
    hit = top(engine, GLACIER_PHRASE)
    assert hit.doc_id.startswith("feeds/valley/") and "ninety metres" in hit.text
    assert (hit.url, hit.source, hit.date) == (site.url("/valley/glacier"), "Valley Times",
                                               "2024-08-19")
    assert hit.title == "Tarnberg glacier loses ninety metres", hit.title

    ids = live_ids(engine.index())
    assert sorted(ids) == saved and set(ids.values()) == {1}
    states = load_states(corpus)
    assert states["harbor"].error is None and states["harbor"].last_checked
    assert (corpus / STATE_FILE).is_file()


def test_a_second_poll_adds_nothing_and_the_same_text_elsewhere_is_a_duplicate(
        harbor_site, engine, paths, monkeypatch):
    corpus, _ = paths
    site = harbor_site
    add_source(corpus, site.url("/feeds/harbor.xml"), name="harbor")
    builds = []
    real_build = engine.build
    monkeypatch.setattr(engine, "build", lambda *a, **k: builds.append(1) or real_build(*a,
                                                                                          **k))
    assert result_of(engine.poll(force=True), "harbor").added == 2
    assert len(builds) == 1  # one build for the whole poll
    assert site.hits("/news/harbor-bridge") == 1

    again = engine.poll(force=True)
    harbor = result_of(again, "harbor")
    assert (harbor.added, harbor.replaced, harbor.duplicates, harbor.error) == (0, 0, 0, None)
    assert not again.changed and len(builds) == 1  # nothing new: no build
    assert site.hits("/news/harbor-bridge") == 1  # a seen item's page is not fetched again

    # the same article under another address and GUID, in this feed and in another one
    site.page("/mirror/bridge-copy", "Harbor bridge reopens after repairs", BRIDGE,
              site="Harbor Gazette", date="2024-05-02T09:00:00Z")
    site.feed("/feeds/harbor.xml", rss("Harbor Gazette", [
        {"title": "Harbor bridge reopens (copy)", "guid": "mirror-2",
         "link": site.url("/mirror/bridge-copy"), "date": "Fri, 03 May 2024 09:00:00 GMT"},
        {"title": "Harbor bridge reopens after repairs", "guid": "harbor-bridge-1",
         "link": site.url("/news/harbor-bridge"), "date": "Thu, 02 May 2024 09:00:00 GMT"},
        {"title": "Bees return to the apricot orchards", "guid": "orchard-7",
         "link": site.url("/news/orchard"), "date": "Tue, 14 May 2024 07:00:00 GMT"},
    ]))
    site.feed("/feeds/wire.xml", rss("Wire Service", [
        {"title": "Harbor bridge reopens", "guid": "wire-991",
         "link": site.url("/news/harbor-bridge"), "date": "Thu, 02 May 2024 10:00:00 GMT"},
    ]))
    add_source(corpus, site.url("/feeds/wire.xml"), name="wire")
    third = engine.poll(force=True)
    harbor, wire = result_of(third, "harbor"), result_of(third, "wire")
    assert (harbor.added, harbor.duplicates, harbor.error) == (0, 1, None), harbor
    assert (wire.added, wire.duplicates, wire.error) == (0, 1, None), wire
    assert not third.changed
    assert len(corpus_files(corpus, "feeds")) == 2
    ids = live_ids(engine.index())
    assert len(ids) == 2 and set(ids.values()) == {1}, ids
    assert every_text(engine).count("rusted cables") == 1  # the bridge article once


def test_items_whose_addresses_differ_only_at_the_end_are_two_articles(site, engine, paths):
    """Two items of one feed whose GUIDs share a long beginning are kept apart."""
    corpus, _ = paths
    long = "/world/europe/netherlands/2024/05/02/the-harbor-city-of-veldhaven-and-its-region"
    site.page(long + "/bridge-reopens-after-eight-months-of-repairs", "Bridge reopens",
              BRIDGE, site="Harbor Gazette")
    site.page(long + "/night-ferry-to-marrow-will-stop-running-in-november", "Ferry stops",
              FERRY, site="Harbor Gazette")
    items = [{"title": t, "guid": site.url(p), "link": site.url(p),
              "date": "Thu, 02 May 2024 09:00:00 GMT"}
             for t, p in (("Bridge reopens",
                           long + "/bridge-reopens-after-eight-months-of-repairs"),
                          ("Ferry stops",
                           long + "/night-ferry-to-marrow-will-stop-running-in-november"))]
    site.feed("/feeds/europe.xml", rss("Harbor Gazette", items))
    add_source(corpus, site.url("/feeds/europe.xml"), name="europe")
    harbor = result_of(engine.poll(force=True), "europe")
    assert (harbor.added, harbor.replaced, harbor.error) == (2, 0, None), harbor
    assert len(corpus_files(corpus, "feeds")) == 2
    assert "rusted cables" in top(engine, BRIDGE_PHRASE).text
    assert "night ferry" in top(engine, FERRY_PHRASE).text


def test_a_changed_item_replaces_its_article(harbor_site, engine, paths):
    corpus, _ = paths
    site = harbor_site
    add_source(corpus, site.url("/feeds/valley.atom"), name="valley")
    assert result_of(engine.poll(force=True), "valley").added == 1
    (saved,) = corpus_files(corpus, "feeds")
    assert "ninety metres" in top(engine, GLACIER_PHRASE).text

    # the same entry (id and link), updated, and its page rewritten
    site.page("/valley/glacier", None, GLACIER_NEW)
    site.feed("/feeds/valley.atom", atom("Valley Times", [
        {"title": "Tarnberg glacier: the survey corrected", "id": "urn:valley:glacier",
         "link": site.url("/valley/glacier"), "updated": "2024-10-05T08:00:00Z",
         "published": "2024-08-19T06:30:00Z"},
    ]), ctype="application/atom+xml")
    report = engine.poll(force=True)
    valley = result_of(report, "valley")
    assert (valley.added, valley.replaced, valley.duplicates, valley.error) == (0, 1, 0, None)
    assert report.changed
    assert corpus_files(corpus, "feeds") == [saved]  # the same file, rewritten
    text = (corpus / saved).read_text()
    assert "one hundred and twelve metres" in text and "ninety metres" not in text
    hit = top(engine, GLACIER_NEW_PHRASE)
    assert hit.doc_id == saved and "one hundred and twelve" in hit.text
    assert "ninety metres" not in every_text(engine)
    assert live_ids(engine.index()) == {saved: 1}


def test_a_duplicate_item_that_changes_never_overwrites_the_article_it_repeated(
        site, engine, paths):
    """Item B first repeats item A's article (a duplicate); then B's page gets an article
    of its own. A's article stays, and B's is added beside it."""
    corpus, _ = paths
    site.page("/news/harbor-bridge", "Harbor bridge reopens after repairs", BRIDGE,
              site="Harbor Gazette", date="2024-05-02T09:00:00Z")
    site.page("/mirror/b", "Harbor bridge reopens after repairs", BRIDGE,
              site="Harbor Gazette", date="2024-05-02T09:00:00Z")
    a = {"title": "Harbor bridge reopens", "guid": "a", "link": site.url("/news/harbor-bridge"),
         "date": "Thu, 02 May 2024 09:00:00 GMT"}
    b = {"title": "Harbor bridge reopens (mirror)", "guid": "b", "link": site.url("/mirror/b"),
         "date": "Thu, 02 May 2024 09:30:00 GMT"}
    site.feed("/feeds/harbor.xml", rss("Harbor Gazette", [a, b]))
    add_source(corpus, site.url("/feeds/harbor.xml"), name="harbor")
    first = result_of(engine.poll(force=True), "harbor")
    assert (first.added, first.duplicates) == (1, 1), first

    site.page("/mirror/b", "Night ferry to stop", FERRY, site="Harbor Gazette")
    b = {**b, "title": "Night ferry to stop", "date": "Sat, 04 May 2024 09:30:00 GMT"}
    site.feed("/feeds/harbor.xml", rss("Harbor Gazette", [a, b]))
    second = result_of(engine.poll(force=True), "harbor")
    assert second.error is None and second.added + second.replaced == 1, second
    assert "rusted cables" in top(engine, BRIDGE_PHRASE).text  # A's article is still there
    assert "night ferry" in top(engine, FERRY_PHRASE).text
    ids = live_ids(engine.index())
    assert len(ids) == 2 and set(ids.values()) == {1}, ids


def test_a_conditional_get_is_answered_304_and_nothing_is_fetched_again(harbor_site, engine,
                                                                        paths):
    corpus, _ = paths
    site = harbor_site
    etag, modified = '"harbor-v1"', "Thu, 02 May 2024 09:05:00 GMT"
    site.routes["/feeds/harbor.xml"].etag = etag
    site.routes["/feeds/harbor.xml"].last_modified = modified
    add_source(corpus, site.url("/feeds/harbor.xml"), name="harbor")
    assert result_of(engine.poll(force=True), "harbor").added == 2
    first = site.headers_of("/feeds/harbor.xml")[0]
    assert "if-none-match" not in first and "if-modified-since" not in first

    report = engine.poll(force=True)
    harbor = result_of(report, "harbor")
    second = site.headers_of("/feeds/harbor.xml")[1]
    assert second.get("if-none-match") == etag
    assert second.get("if-modified-since") == modified
    assert harbor.not_modified and (harbor.added, harbor.error) == (0, None)
    assert not report.changed
    assert site.hits("/news/harbor-bridge") == site.hits("/news/orchard") == 1
    assert "unchanged since the last poll" in report.describe()

    # a new version of the feed (new validators) is read again: only the new item fetched
    site.page("/news/ferry", "Night ferry to stop", FERRY, site="Harbor Gazette")
    old = site.routes["/feeds/harbor.xml"].body.decode()
    new_item = ("<item><title>Night ferry to stop</title>"
                f"<link>{site.url('/news/ferry')}</link><guid>ferry-3</guid>"
                "<pubDate>Sat, 04 May 2024 09:00:00 GMT</pubDate></item>")
    site.feed("/feeds/harbor.xml", old.replace("</channel>", new_item + "</channel>"),
              etag='"harbor-v2"', last_modified="Sat, 04 May 2024 09:05:00 GMT")
    harbor = result_of(engine.poll(force=True), "harbor")
    assert (harbor.added, harbor.not_modified) == (1, False)
    assert site.hits("/news/harbor-bridge") == 1 and site.hits("/news/ferry") == 1
    assert "night ferry" in top(engine, FERRY_PHRASE).text


@pytest.fixture
def loopback_stands_for_public(monkeypatch):
    """No public server can be reached from a test: 127.0.0.1 plays one; every other
    address (127.0.0.2 too) is judged as it is."""
    real = fetch_mod.refused_address
    monkeypatch.setattr(fetch_mod, "refused_address",
                        lambda a: None if a == "127.0.0.1" else real(a))


def test_failing_feeds_are_reported_and_the_others_go_on(site, paths,
                                                         loopback_stands_for_public):
    corpus, index = paths
    site.page("/news/harbor-bridge", "Harbor bridge reopens after repairs", BRIDGE,
              site="Harbor Gazette", date="2024-05-02T09:00:00Z")
    site.page("/valley/glacier", "Tarnberg glacier retreats", GLACIER, site="Valley Times")
    site.routes["/feeds/broken.xml"] = Route(status=500)
    site.routes["/feeds/slow.xml"] = Route(rss("Slow", []).encode(), "application/rss+xml",
                                           delay=3)
    site.routes["/feeds/notxml.xml"] = Route(b"Service temporarily unavailable, come back "
                                             b"later.", "text/plain")
    secret = f"http://127.0.0.2:{site.port}/secret"
    site.feed("/feeds/mixed.xml", rss("Harbor Gazette", [
        {"title": "Internal salaries", "guid": "secret-1", "link": secret},
        {"title": "Harbor bridge reopens", "guid": "bridge-1",
         "link": site.url("/news/harbor-bridge")},
    ]))
    site.feed("/feeds/good.atom", atom("Valley Times", [
        {"title": "Tarnberg glacier retreats", "id": "urn:glacier",
         "link": site.url("/valley/glacier"), "updated": "2024-08-19T06:30:00Z"},
    ]), ctype="application/atom+xml")
    for name in ("broken", "slow", "notxml", "mixed"):
        add_source(corpus, site.url(f"/feeds/{name}.xml"), name=name, interval=60)
    add_source(corpus, site.url("/feeds/good.atom"), name="good", interval=60)
    inner = f"http://127.0.0.2:{site.port}/feeds/good.atom"  # the feed itself is loopback
    add_source(corpus, inner, name="inner", interval=60)

    s = Settings(corpus_dir=corpus, index_dir=index, show_progress=False)
    assert not s.allow_private_urls
    with Engine(s, embedder=HashEmbedder()) as engine:
        started = time.monotonic()
        report = engine.poll(force=True, timeout=1)
        assert time.monotonic() - started < 15
        r = {name: result_of(report, name) for name in ("broken", "slow", "notxml", "mixed",
                                                          "good")}
        assert "500" in r["broken"].error, r["broken"]
        assert "did not answer within 1 s (timed out)" in r["slow"].error, r["slow"]
        assert "is not an RSS or Atom feed" in r["notxml"].error, r["notxml"]
        assert r["mixed"].error is None and r["mixed"].added == 1, r["mixed"]
        ((item, why),) = r["mixed"].refused
        assert item == secret and "127.0.0.2 is a loopback address: it is not fetched" in why
        assert (r["good"].added, r["good"].error) == (1, None)
        inner_error = result_of(report, "inner").error
        assert "127.0.0.2 is a loopback address: it is not fetched" in inner_error
        assert "CHALLENGE_QA_ALLOW_PRIVATE_URLS" in inner_error  # the way out, named
        assert site.hits("/secret") == 0 and site.hits("/feeds/good.atom") == 1
        assert all(name in report.describe() for name in r)
        # what the working sources brought is indexed in the same poll
        assert "rusted cables" in top(engine, BRIDGE_PHRASE).text
        assert "ninety metres" in top(engine, GLACIER_PHRASE).text
        assert len(live_ids(engine.index())) == 2

    # source list names each failure, the JSON too
    listed = invoke("source", "list", "--corpus", corpus)
    assert listed.exit_code == 0, listed.output
    assert listed.output.count("failing: ") == 4, listed.output
    assert "The server answered 500" in listed.output
    rows = {row["name"]: row for row in json.loads(
        invoke("source", "list", "--json", "--corpus", corpus).stdout)}
    assert "timed out" in rows["slow"]["error"] and rows["good"]["error"] is None
    assert rows["good"]["last_added"] == 1 and rows["good"]["last_checked"]
    assert rows["mixed"]["error"] is None

    # back-off: the failing sources are not due when the working ones are again
    requests = {n: site.hits(f"/feeds/{n}.xml") for n in ("broken", "slow", "notxml")}
    s = s.replace(allow_private_urls=True)  # (the "inner" feed may now be read too)
    soon = poll(corpus, s, timeout=1)
    assert all(x.skipped for x in soon.sources), soon  # nothing is due yet
    later = poll(corpus, s, now=time.time() + 90, timeout=1)
    assert not result_of(later, "good").skipped and not result_of(later, "mixed").skipped
    assert all(result_of(later, n).skipped for n in (*requests, "inner")), later
    assert {n: site.hits(f"/feeds/{n}.xml") for n in requests} == requests
    forced = poll(corpus, s, force=True, timeout=1)
    assert "500" in result_of(forced, "broken").error
    assert site.hits("/feeds/broken.xml") == requests["broken"] + 1
    assert load_states(corpus)["broken"].failures == 2


def test_a_feed_item_outside_http_is_refused(site, engine, paths):
    corpus, _ = paths
    site.page("/news/harbor-bridge", "Harbor bridge reopens after repairs", BRIDGE,
              site="Harbor Gazette")
    site.feed("/feeds/harbor.xml", rss("Harbor Gazette", [
        {"title": "Passwords", "guid": "p", "link": "file:///etc/passwd"},
        {"title": "Files", "guid": "f", "link": "ftp://127.0.0.1/secret.html"},
        {"title": "Harbor bridge reopens", "guid": "b", "link": site.url("/news/harbor-bridge")},
    ]))
    add_source(corpus, site.url("/feeds/harbor.xml"), name="harbor")
    harbor = result_of(engine.poll(force=True), "harbor")
    assert harbor.error is None and harbor.added == 1
    refused = dict(harbor.refused)
    assert len(refused) == 2, refused
    assert any(item.startswith("file:") and item.endswith("etc/passwd") for item in refused)
    assert "ftp://127.0.0.1/secret.html" in refused, refused
    assert all("Only http:// and https:// addresses" in why for why in refused.values())
    (saved,) = corpus_files(corpus, "feeds")
    assert "root:" not in (corpus / saved).read_text()


def test_more_items_than_a_poll_takes_arrive_over_several_polls(site, paths):
    """``max_feed_items`` items are read per poll: a feed listing more is taken in over
    several polls, none left out."""
    corpus, index = paths
    for n, text in enumerate((BRIDGE, ORCHARD, GLACIER, FERRY)):
        site.page(f"/news/{n}", f"Story {n}", text, site="Harbor Gazette")
    site.feed("/feeds/harbor.xml", rss("Harbor Gazette", [
        {"title": f"Story {n}", "guid": f"story-{n}", "link": site.url(f"/news/{n}"),
         "date": f"Thu, 0{9 - n} May 2024 09:00:00 GMT"} for n in range(4)]))
    add_source(corpus, site.url("/feeds/harbor.xml"), name="harbor")
    s = settings_for(corpus, index, max_feed_items=2)
    assert result_of(poll(corpus, s, force=True), "harbor").added == 2
    assert site.hits("/news/0") == site.hits("/news/1") == 1  # the newest first
    assert result_of(poll(corpus, s, force=True), "harbor").added == 2
    assert len(corpus_files(corpus, "feeds")) == 4
    assert all(site.hits(f"/news/{n}") == 1 for n in range(4))


def test_a_poll_that_lost_its_state_saves_nothing_twice(harbor_site, engine, paths):
    """A poll killed before it wrote its state: the next one goes on from the files."""
    corpus, _ = paths
    add_source(corpus, harbor_site.url("/feeds/harbor.xml"), name="harbor")
    assert result_of(engine.poll(force=True), "harbor").added == 2
    saved = corpus_files(corpus, "feeds")
    (corpus / STATE_FILE).unlink()
    harbor = result_of(engine.poll(force=True), "harbor")
    assert (harbor.added, harbor.duplicates, harbor.error) == (0, 0, None), harbor
    assert corpus_files(corpus, "feeds") == saved
    ids = live_ids(engine.index())
    assert sorted(ids) == saved and set(ids.values()) == {1}, ids


def test_the_engine_watches_in_the_background_until_closed(harbor_site, paths):
    corpus, index = paths
    add_source(corpus, harbor_site.url("/feeds/valley.atom"), name="valley")
    engine = Engine(settings_for(corpus, index), embedder=HashEmbedder())
    try:
        assert engine.start_watch(tick=0.1)
        assert not engine.start_watch(tick=0.1)  # already watching
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with contextlib.suppress(ChallengeQAError):
                if live_ids(engine.index()):
                    break
            time.sleep(0.1)
        assert "ninety metres" in top(engine, GLACIER_PHRASE).text
        time.sleep(0.5)  # a few more ticks: the source is not due again
        assert harbor_site.hits("/feeds/valley.atom") == 1
    finally:
        engine.close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(
            t.name == "challenge-qa-watch" for t in threading.enumerate()):
        time.sleep(0.1)
    assert not any(t.name == "challenge-qa-watch" for t in threading.enumerate())


def test_a_damaged_sources_file_is_named(paths):
    from helpers import assert_one_error_line

    corpus, _ = paths
    (corpus / SOURCES_FILE).write_text("[[source]]\nname = 'x\n")
    with pytest.raises(ChallengeQAError, match="cannot be read"):
        load_sources(corpus)
    assert_one_error_line(invoke("source", "list", "--corpus", corpus), SOURCES_FILE,
                          "cannot be read")
    (corpus / SOURCES_FILE).write_text("[[source]]\nname = 'x'\nkind = 'ftp'\nurl = 'y'\n")
    with pytest.raises(ChallengeQAError, match="has kind 'ftp'"):
        load_sources(corpus)


# --------------------------------------------------------------------------- watched folders


def test_a_watched_folder_is_mirrored_into_the_index(engine, paths, tmp_path):
    from helpers import CHESS_TXT, VOLCANO_MD, write_files

    corpus, _ = paths
    outside = write_files(tmp_path / "private", {"secret.txt": "The vault code is 4471. " * 5})
    inbox = write_files(tmp_path / "inbox", {
        "volcano.md": VOLCANO_MD, "notes/chess.txt": CHESS_TXT,
        ".draft.md": "# Draft\n\nA hidden draft of an article that is not ready yet.\n",
        "photo.png": b"\x89PNG\r\n\x1a\n" + bytes(64), "bad.txt": b"Binary\x00data\x00here"})
    (inbox / "vault.txt").symlink_to(outside / "secret.txt")
    add_source(corpus, str(inbox), name="inbox")

    report = engine.poll(force=True)
    rep = result_of(report, "inbox")
    assert (rep.added, rep.replaced, rep.removed, rep.error) == (2, 0, 0, None), rep
    assert [item for item, _ in rep.refused] == ["bad.txt"], rep.refused
    assert corpus_files(corpus, "watched") == ["watched/inbox/notes/chess.txt",
                                               "watched/inbox/volcano.md"]
    hit = top(engine, "Etna lava Catania airport ash")
    assert (hit.doc_id, hit.title, hit.source) == ("watched/inbox/volcano.md",
                                                   "Mount Etna erupts again", "Volcano Weekly")
    assert top(engine, "chess championship queen sacrifice").doc_id == \
        "watched/inbox/notes/chess.txt"
    assert "vault code" not in every_text(engine)

    # changed
    (inbox / "notes" / "chess.txt").write_text(
        "Chess prodigy defends her title\nThe girl from Leeds kept the national chess title "
        "this year with a quiet rook endgame that lasted six hours and ninety moves.\n")
    rep = result_of(engine.poll(force=True), "inbox")
    assert (rep.added, rep.replaced, rep.removed) == (0, 1, 0), rep
    assert "rook endgame" in top(engine, "rook endgame six hours ninety moves").text
    assert "queen sacrifice" not in every_text(engine)

    # added
    (inbox / "ferry.md").write_text("# Night ferry to stop\n\n" + "\n\n".join(FERRY) + "\n")
    rep = result_of(engine.poll(force=True), "inbox")
    assert (rep.added, rep.replaced, rep.removed) == (1, 0, 0), rep
    assert top(engine, FERRY_PHRASE).doc_id == "watched/inbox/ferry.md"

    # deleted
    (inbox / "volcano.md").unlink()
    rep = result_of(engine.poll(force=True), "inbox")
    assert (rep.added, rep.replaced, rep.removed) == (0, 0, 1), rep
    assert not (corpus / "watched" / "inbox" / "volcano.md").exists()
    ids = live_ids(engine.index())
    assert sorted(ids) == ["watched/inbox/ferry.md", "watched/inbox/notes/chess.txt"], ids
    assert "Catania" not in every_text(engine)

    # nothing changed: nothing to do
    again = engine.poll(force=True)
    assert not again.changed and result_of(again, "inbox").error is None


def test_a_watched_folder_that_disappears_is_reported(engine, paths, tmp_path):
    from helpers import VOLCANO_MD, write_files

    corpus, _ = paths
    inbox = write_files(tmp_path / "inbox", {"volcano.md": VOLCANO_MD})
    add_source(corpus, str(inbox), name="inbox")
    assert result_of(engine.poll(force=True), "inbox").added == 1
    (inbox / "volcano.md").unlink()
    inbox.rmdir()
    rep = result_of(engine.poll(force=True), "inbox")
    assert "is not there" in rep.error, rep
    # the articles it brought stay until the folder is back or the source removed
    assert live_ids(engine.index()) == {"watched/inbox/volcano.md": 1}


# --------------------------------------------------------------------------- command line


@pytest.fixture
def hash_default_engine(monkeypatch):
    """The command line's engine embeds with ``HashEmbedder`` (no model to load)."""
    import challenge_qa.engine as engine_mod

    made: list[Engine] = []

    def make(settings=None):
        e = Engine(settings or Settings.from_env(), embedder=HashEmbedder())
        made.append(e)
        return e

    monkeypatch.setattr(engine_mod, "default_engine", make)
    monkeypatch.setenv("CHALLENGE_QA_ALLOW_PRIVATE_URLS", "1")
    yield made
    for e in made:
        e.close()


def test_cli_source_add_list_watch_once_and_remove(harbor_site, paths, hash_default_engine):
    corpus, index = paths
    site = harbor_site
    url = site.url("/feeds/harbor.xml")
    where = ("--corpus", corpus)

    none = invoke("watch", "--once", *where, "--index", index)
    assert none.exit_code == 2 and "No sources" in none.output, none.output
    listed = invoke("source", "list", *where)
    assert listed.exit_code == 0 and "No sources" in listed.output, listed.output

    added = invoke("source", "add", url, "--interval", "5", "--name", "harbor", *where)
    assert added.exit_code == 0, added.output
    assert f"Added feed 'harbor': {url} (every 5 min)." in added.stdout
    assert load_sources(corpus) == [Source("harbor", "feed", url, 300)]
    listed = invoke("source", "list", *where)
    assert listed.exit_code == 0, listed.output
    assert f"harbor (feed) {url}" in listed.stdout and "checked never" in listed.stdout

    watched = invoke("watch", "--once", *where, "--index", index)
    assert watched.exit_code == 0, watched.output
    assert "harbor: 2 added, 0 replaced, 0 removed, 0 duplicates" in watched.stdout
    with Engine(Settings(corpus_dir=corpus, index_dir=index, show_progress=False),
                embedder=HashEmbedder()) as engine:
        hit = top(engine, BRIDGE_PHRASE)
        assert hit.url == site.url("/news/harbor-bridge") and hit.doc_id.startswith("feeds/")

    (row,) = json.loads(invoke("source", "list", "--json", *where).stdout)
    assert (row["name"], row["kind"], row["url"], row["interval"]) == ("harbor", "feed", url,
                                                                        300)
    assert (row["last_added"], row["added_total"], row["error"]) == (2, 2, None)
    assert row["last_checked"]
    listed = invoke("source", "list", *where)
    assert "2 added by the last poll, 2 in all" in listed.stdout, listed.stdout

    again = invoke("source", "add", url, *where)
    assert again.exit_code == 1 and "already a source" in again.output, again.output
    inside = invoke("source", "add", corpus / "feeds", *where)
    assert inside.exit_code == 1 and "inside the corpus" in inside.output, inside.output

    inbox = paths[0].parent / "inbox"
    inbox.mkdir()
    folder = invoke("source", "add", inbox, *where)
    assert folder.exit_code == 0, folder.output
    assert f"Added folder 'inbox': {inbox.resolve()} (every 15 min)." in folder.stdout
    assert invoke("source", "remove", inbox.resolve(), *where).exit_code == 0

    removed = invoke("source", "remove", "harbor", *where)
    assert removed.exit_code == 0, removed.output
    assert f"Removed feed 'harbor' ({url})." in removed.stdout
    assert load_sources(corpus) == [] and "harbor" not in load_states(corpus)
    assert len(corpus_files(corpus, "feeds")) == 2  # its articles stay
    gone = invoke("source", "remove", "harbor", *where)
    assert gone.exit_code == 1 and "No source 'harbor'" in gone.output


@pytest.mark.slow
def test_cli_watch_once_then_ask_with_the_real_model(harbor_site, paths, monkeypatch):
    corpus, index = paths
    site = harbor_site
    monkeypatch.setenv("CHALLENGE_QA_ALLOW_PRIVATE_URLS", "1")
    where = ("--corpus", corpus, "--index", index)
    assert invoke("source", "add", site.url("/feeds/harbor.xml"), "--corpus",
                  corpus).exit_code == 0
    watched = invoke("watch", "--once", *where)
    assert watched.exit_code == 0, watched.output
    assert "harbor" in watched.stdout and "2 added" in watched.stdout
    asked = invoke("ask", "How much did the council pay for the bridge repairs?", "--json",
                   *where)
    assert asked.exit_code == 0, asked.output
    a = json.loads(asked.stdout)
    assert a["found"] and "fourteen million euros" in json.dumps(a), a
    assert a["citations"][0]["url"] == site.url("/news/harbor-bridge"), a["citations"][0]
