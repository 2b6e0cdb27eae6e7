"""News-native features on an invented story followed over twenty months.

The corpus is ``tests/data/dated_news/``: 23 dated articles by four publishers about the
collapse and rebuilding of the (fictional) Quennell Bridge, with follow-ups, a correction,
a planned date that moves, events reported by several publishers in different relative
words, one press release without a source and one background article without a date. Its
README holds the ground truth as three tables (articles, events, date mentions); every
check here is made against those tables, not against what the code happens to return.

Checked: the corpus and ``dates.find_dates`` against the tables (fast, no model); then, on
an index built once for the module with the real model (slow): ``as_of`` answers, the
``since``/``until``/``sources`` filters of ``retrieve``/``answer``/``timeline`` and the CLI,
bad dates, relative dates resolved in answers, corroboration counts, and the timeline.

About ranking: with the default settings each article (under 700 characters) is one passage,
so "the top 8 passages" an answer is made from are 8 articles. Where an assertion depends on
what ranks high, the comment says why it should.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import json  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
from datetime import date  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
from helpers import assert_one_error_line, invoke  # noqa: E402

import challenge_qa as cqa  # noqa: E402
from challenge_qa.config import Settings  # noqa: E402
from challenge_qa.corpus.load import load_articles  # noqa: E402
from challenge_qa.errors import InvalidArgumentError  # noqa: E402
from challenge_qa.text.dates import find_dates, format_value  # noqa: E402

slow = pytest.mark.slow

DATA = Path(__file__).resolve().parent / "data" / "dated_news"
TOPIC = "Quennell Bridge"
PUBLISHERS = ("Harbor Gazette", "Valley Times", "Metro Wire", "Coastal Radio")
CITY_HALL = "Port Averill City Hall: the Quennell Bridge is open"  # the source-less article
UNDATED = "quennell-bridge-history.md"
PRECISION_LEN = {"day": 10, "month": 7, "year": 4}


# ------------------------------------------------------------------ ground truth


def _tables() -> dict[str, list[dict[str, str]]]:
    """The Markdown tables of the README, by the ``## heading`` above each."""
    out: dict[str, list[dict[str, str]]] = {}
    heading, header = None, None
    for line in (DATA / "README.md").read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            heading, header = line[3:].strip(), None
            continue
        if not line.startswith("|"):
            header = None
            continue
        if heading is None:
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if header is None:
            header = cells
            out[heading] = []
        elif not set("".join(cells)) <= set("-: "):
            out[heading].append(dict(zip(header, cells, strict=True)))
    return out


def _none(cell: str) -> str | None:
    return None if cell == "-" else cell


TABLES = _tables()
#: file -> {"source", "published", "title"}; "-" in the README is None here
ARTICLES = {r["file"]: {"source": _none(r["source"]), "published": _none(r["published"]),
                        "title": r["title"]} for r in TABLES["Articles"]}
#: event id -> {"date", "precision", "label", "what", "articles": [file, ...]}
EVENTS = {r["event"]: {**r, "articles": [a.strip() for a in r["articles"].split(",")]}
          for r in TABLES["Events"]}
#: every date mention, in text order per file: {"file", "mention", "value", "precision",
#: "qualifier" (None for none), "event" (None for a bound)}
MENTIONS = [{**r, "qualifier": _none(r["qualifier"]), "event": _none(r["event"])}
            for r in TABLES["Date mentions"]]


def _ws(text: str) -> str:
    return " ".join(text.split())


def source_name(file: str) -> str:
    """How an article is named in ``sources``: its source, or its title when it has none."""
    a = ARTICLES[file]
    return a["source"] or a["title"]


def published(file: str) -> date | None:
    p = ARTICLES[file]["published"]
    return date.fromisoformat(p) if p else None


def files_published(since: str | None = None, until: str | None = None,
                    sources: tuple[str, ...] | None = None) -> set[str]:
    """The articles a filter keeps (ISO day bounds, inclusive): the ground truth of it."""
    keep = set()
    for f, a in ARTICLES.items():
        if sources is not None and (a["source"] or "").lower() not in {
                s.lower() for s in sources}:
            continue
        if since or until:
            p = published(f)
            if p is None or (since and p < date.fromisoformat(since)) or (
                    until and p > date.fromisoformat(until)):
                continue
        keep.add(f)
    return keep


def mention_spans(texts: dict[str, str]) -> list[dict]:
    """``MENTIONS`` with their ``start``/``end`` in the article text, found in text order
    (the README lists each article's mentions in the order they occur)."""
    out, pos = [], {}
    for m in MENTIONS:
        text = texts[m["file"]]
        rx = re.compile(r"\s+".join(map(re.escape, m["mention"].split())))
        hit = rx.search(text, pos.get(m["file"], 0))
        assert hit, (m["file"], m["mention"])
        pos[m["file"]] = hit.end()
        out.append({**m, "start": hit.start(), "end": hit.end()})
    return out


def expected_events(files: set[str]) -> dict[str, tuple[str, str, set[str]]]:
    """event id -> (date, precision, articles) of the events the articles ``files`` report:
    an event's date is the most precise one among the mentions of those articles."""
    out: dict[str, tuple[str, str, set[str]]] = {}
    for m in MENTIONS:
        if m["event"] is None or m["file"] not in files:
            continue
        d, p, arts = out.get(m["event"], ("", "year", set()))
        if len(m["value"]) > len(d):
            d, p = m["value"], m["precision"]
        out[m["event"]] = (d, p, arts | {m["file"]})
    return out


# ------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory) -> Path:
    """The articles of tests/data/dated_news (not its README) in a folder of their own."""
    folder = tmp_path_factory.mktemp("dated-news") / "corpus"
    folder.mkdir()
    for f in DATA.glob("*.md"):
        if f.name != "README.md":
            shutil.copy(f, folder / f.name)
    return folder


@pytest.fixture(scope="module")
def texts(corpus_dir) -> dict[str, str]:
    return {a.id: a.text for a in load_articles(corpus_dir)}


@pytest.fixture(scope="module")
def spans(texts) -> list[dict]:
    return mention_spans(texts)


@pytest.fixture(scope="module")
def news(corpus_dir):
    """(index, index folder) of the corpus, built once with the default settings (those the
    CLI uses, so that `challenge-qa --index` opens the same index)."""
    from challenge_qa import build_index, load_index

    index_dir = corpus_dir.parent / "index"
    settings = Settings(corpus_dir=corpus_dir, index_dir=index_dir, show_progress=False)
    build_index(corpus_dir, index_dir, full=True, settings=settings)
    return load_index(index_dir, settings=settings), index_dir


@pytest.fixture(scope="module")
def idx(news):
    return news[0]


@pytest.fixture(scope="module")
def full_timeline(idx):
    return cqa.timeline(TOPIC, index=idx)


# ------------------------------------------------------------------ corpus (no model)


def test_readme_tables_are_consistent():
    on_disk = {f.name for f in DATA.glob("*.md")} - {"README.md"}
    assert set(ARTICLES) == on_disk
    assert len(ARTICLES) >= 20
    sources = {a["source"] for a in ARTICLES.values()}
    assert set(PUBLISHERS) <= sources and sources - set(PUBLISHERS) == {None}
    assert sum(a["published"] is None for a in ARTICLES.values()) == 1
    assert [f for f, a in ARTICLES.items() if a["source"] is None] == [
        "2025-10-04-city-hall-reopening.md"]
    assert ARTICLES["2025-10-04-city-hall-reopening.md"]["title"] == CITY_HALL
    assert {m["file"] for m in MENTIONS} <= set(ARTICLES)
    # the events table is what the mentions table says: its articles, its most precise date
    derived = expected_events(set(ARTICLES))
    assert set(derived) == set(EVENTS)
    for eid, ev in EVENTS.items():
        d, p, arts = derived[eid]
        assert (ev["date"], ev["precision"], set(ev["articles"])) == (d, p, arts), eid
        assert len(ev["date"]) == PRECISION_LEN[ev["precision"]], eid
        assert ev["label"] == format_value(ev["date"], ev["precision"]), eid
    for m in MENTIONS:
        assert (m["qualifier"] is None) == (m["event"] is not None), m
        if m["event"]:
            assert EVENTS[m["event"]]["date"].startswith(m["value"]), m
    # an event told by several publishers, in different relative words
    assert len({source_name(f) for f in EVENTS["E02"]["articles"]}) == 4
    assert len({m["mention"] for m in MENTIONS if m["event"] == "E02"}) == 5


def test_corpus_loads_with_its_front_matter(corpus_dir):
    arts = {a.id: a for a in load_articles(corpus_dir)}
    assert set(arts) == set(ARTICLES)
    for f, a in arts.items():
        want = ARTICLES[f]
        assert (a.source, a.date, a.title) == (want["source"], want["published"],
                                               want["title"]), f
        assert TOPIC in _ws(a.text), f  # every article is about the topic, by name
        n = len(re.findall(r"[.!?](?:\s|$)", a.text))
        assert 3 <= n <= 8, (f, n)


def test_find_dates_resolves_every_article_to_the_ground_truth(corpus_dir):
    """Each article's date mentions, resolved against its publication date, are exactly
    the README's: relative ones ("on Tuesday", "yesterday", "March 12", "last month", "in
    January") included, and bounds ("since 2019") flagged by their qualifier."""
    for a in load_articles(corpus_dir):
        got = [(_ws(m.text), m.value, m.precision, m.qualifier)
               for m in find_dates(a.text, a.date)]
        want = [(m["mention"], m["value"], m["precision"], m["qualifier"])
                for m in MENTIONS if m["file"] == a.id]
        assert got == want, a.id


def test_mention_spans_lie_in_one_sentence(texts, spans):
    """Each mention is found in its article, and no sentence holds two event mentions of
    different events (so that a quoted sentence names one event)."""
    for m in spans:
        assert _ws(texts[m["file"]][m["start"]:m["end"]]) == m["mention"]
    for f, text in texts.items():
        bounds = [0] + [x.end() for x in re.finditer(r"[.!?](?=\s|$)", text)]
        for a, b in zip(bounds, bounds[1:], strict=False):
            events = {m["event"] for m in spans
                      if m["file"] == f and a <= m["start"] < b and m["event"]}
            assert len(events) <= 1, (f, text[a:b], events)


# ------------------------------------------------------------------ helpers for the API


def _pub(hit) -> date | None:
    return date.fromisoformat(hit.date[:10]) if hit.date else None


def _cited(a, st) -> list:
    return [a.citations[n - 1] for n in st.citations]


def _check_filter(hits, since: str | None = None, until: str | None = None,
                  sources: tuple[str, ...] | None = None) -> None:
    for h in hits:
        if sources is not None:
            assert h.source is not None and h.source.lower() in {s.lower() for s in sources}, (
                h.doc_id, h.source)
        if since or until:
            p = _pub(h)
            assert p is not None, h.doc_id  # undated articles are out when filtering
            assert not since or p >= date.fromisoformat(since), (h.doc_id, h.date)
            assert not until or p <= date.fromisoformat(until), (h.doc_id, h.date)


def _check_answer_filter(a, **bounds) -> None:
    _check_filter(a.citations, **bounds)
    _check_filter(a.hits, **bounds)


def _check_statement_dates(a, texts: dict[str, str], spans: list[dict]) -> None:
    """Every statement's ``dates`` are the ground-truth mentions of its sentence, resolved
    as the README says, and each relative one is shown in ``Answer.text`` as
    "mention [label]"."""
    for st in a.statements:
        h = _cited(a, st)[0]
        text = texts[h.doc_id]
        assert _ws(text[h.sentence_start:h.sentence_end]) == _ws(st.text), (h.doc_id, st.text)
        truth = [m for m in spans if m["file"] == h.doc_id
                 and h.sentence_start <= m["start"] < h.sentence_end]
        got = st.dates
        for d in got:
            assert set(d) >= {"text", "value", "precision", "label", "start", "end"}, d
            # offsets into the sentence (or, failing that, into the article)
            assert (st.text[d["start"]:d["end"]] == d["text"]
                    or text[d["start"]:d["end"]] == d["text"]), d
            match = [m for m in truth if m["mention"] == _ws(d["text"])]
            assert match, (d, truth)
            assert (d["value"], d["precision"]) == (match[0]["value"], match[0]["precision"]), d
            assert d["label"] == format_value(d["value"], d["precision"]), d
        for m in truth:
            if m["qualifier"] is not None:
                continue
            assert any(_ws(d["text"]) == m["mention"] and d["value"] == m["value"]
                       for d in got), (m, got)
            if not re.search(r"\d{4}", m["mention"]):  # relative: shown with its date
                label = format_value(m["value"], m["precision"])
                assert re.search(r"\s+".join(map(re.escape, m["mention"].split()))
                                 + r"\s*\[" + re.escape(label) + r"\]", a.text), (
                    m["mention"], label, a.text)


# ------------------------------------------------------------------ as of


@slow
def test_as_of_reopening_date_follows_the_delay(idx):
    """Before the delay articles (11-12 February 2025) the bridge was to reopen in June
    2025; after them, in September 2025. Before the first article nothing answers."""
    q = "When will the Quennell Bridge reopen?"
    before = cqa.answer(q, index=idx, as_of="2025-01-31")
    assert before.found, before.text
    _check_answer_filter(before, until="2025-01-31")
    assert "June 2025" in before.text, before.text
    # no article published by then says September: it cannot appear
    assert "September" not in before.text, before.text

    # the two delay articles are among the top 8 of the 16 articles published by then: both
    # say "reopening" and "Quennell Bridge", and one of them is the best answer to "when
    # will it reopen" (a date; the June sentences are the only others)
    after = cqa.answer(q, index=idx, as_of="2025-03-01")
    assert after.found, after.text
    _check_answer_filter(after, until="2025-03-01")
    assert "September 2025" in after.text, after.text
    assert {h.doc_id for h in after.citations} & {"2025-02-11-metro-wire-delay.md",
                                                  "2025-02-12-harbor-gazette-delay.md"}

    # a date object is the same bound
    same = cqa.answer(q, index=idx, as_of=date(2025, 3, 1))
    assert same.text == after.text

    nothing = cqa.answer(q, index=idx, as_of="2024-03-11")
    assert not nothing.found
    assert nothing.citations == [] and nothing.hits == []


@slow
def test_as_of_injured_count_follows_the_correction(idx):
    """12 injured until the correction of 20 March 2024 (as_of is inclusive), 14 from it."""
    q = "How many people were injured when the Quennell Bridge collapsed?"
    early = cqa.answer(q, index=idx, as_of="2024-03-19")
    assert early.found, early.text
    _check_answer_filter(early, until="2024-03-19")
    assert re.search(r"\b(12|[Tt]welve)\b", early.text), early.text
    assert not re.search(r"\b(14|[Ff]ourteen)\b", early.text), early.text

    # the correction is one of only 7 articles published by then, and "Hospital records
    # show that 14 people were injured in the collapse" answers the question as well as any
    later = cqa.answer(q, index=idx, as_of="2024-03-20")
    assert later.found, later.text
    _check_answer_filter(later, until="2024-03-20")
    assert re.search(r"\b14\b", later.text), later.text
    assert "2024-03-20-harbor-gazette-correction.md" in {h.doc_id for h in later.citations}


@slow
def test_as_of_on_the_first_day(idx):
    """as_of is inclusive: on 12 March 2024 only the Metro Wire's same-day report exists."""
    hits = cqa.retrieve("When did the Quennell Bridge collapse?", k=10, index=idx,
                        as_of="2024-03-12")
    assert {h.doc_id for h in hits} == {"2024-03-12-metro-wire-collapse.md"}
    a = cqa.answer("When did the Quennell Bridge collapse?", index=idx, as_of="2024-03-12")
    assert a.found, a.text
    assert {h.doc_id for h in a.citations} == {"2024-03-12-metro-wire-collapse.md"}
    assert cqa.retrieve(TOPIC, k=10, index=idx, as_of="2024-03-11") == []


# ------------------------------------------------------------------ filters


# (keyword arguments, the same as the ISO day bounds/sources of files_published)
FILTERS = [
    ({"sources": ["Coastal Radio"]}, {"sources": ("Coastal Radio",)}),
    ({"sources": ["coastal radio"]}, {"sources": ("Coastal Radio",)}),  # any case
    ({"sources": ("Harbor Gazette", "METRO WIRE")},
     {"sources": ("Harbor Gazette", "Metro Wire")}),
    ({"since": "2024-04", "until": "2024-12"}, {"since": "2024-04-01", "until": "2024-12-31"}),
    ({"since": "2025"}, {"since": "2025-01-01"}),
    ({"until": "2024-03"}, {"until": "2024-03-31"}),
    ({"since": date(2024, 3, 13), "until": "2024-03-13"},
     {"since": "2024-03-13", "until": "2024-03-13"}),
    ({"since": "2025", "sources": ["Valley Times"]},
     {"since": "2025-01-01", "sources": ("Valley Times",)}),
    ({"until": "2024-06-04", "sources": ["Valley Times", "Coastal Radio"]},
     {"until": "2024-06-04", "sources": ("Valley Times", "Coastal Radio")}),
]


@slow
@pytest.mark.parametrize(("kwargs", "truth"), FILTERS,
                         ids=[repr(k) for k, _ in FILTERS])
def test_retrieve_filters(idx, kwargs, truth):
    """Every hit passes the filter, and (the query names the topic, which every article
    names, and k is larger than the corpus) every article that passes it is returned."""
    hits = cqa.retrieve(TOPIC, k=50, index=idx, **kwargs)
    _check_filter(hits, **truth)
    assert {h.doc_id for h in hits} == files_published(**truth)


@slow
def test_retrieve_without_filters_has_every_article(idx):
    hits = cqa.retrieve(TOPIC, k=50, index=idx)
    assert {h.doc_id for h in hits} == set(ARTICLES)  # the undated and source-less too


@slow
@pytest.mark.parametrize(("kwargs", "truth"), FILTERS, ids=[repr(k) for k, _ in FILTERS])
def test_answer_filters(idx, kwargs, truth):
    a = cqa.answer("What happened to the Quennell Bridge?", index=idx, **kwargs)
    assert a.citations or a.hits
    _check_answer_filter(a, **truth)
    for st in a.statements:
        if "sources" in truth:
            assert {s.lower() for s in st.sources} <= {s.lower() for s in truth["sources"]}


@slow
def test_answer_filter_that_keeps_nothing(idx):
    a = cqa.answer("When did the Quennell Bridge collapse?", index=idx, until="2024-02")
    assert not a.found and a.citations == [] and a.hits == []
    a = cqa.answer("When did the Quennell Bridge collapse?", index=idx,
                   sources=["Daily Nonexistent"])
    assert not a.found and a.citations == [] and a.hits == []


BAD_DATES = ["2024-13-01", "next week", "", "2024-02-30", "12/03/2024"]


@slow
@pytest.mark.parametrize("bad", BAD_DATES)
def test_bad_dates_raise_through_the_api(idx, bad):
    calls = [
        ("retrieve", lambda **kw: cqa.retrieve(TOPIC, index=idx, **kw), ("since", "until",
                                                                         "as_of")),
        ("answer", lambda **kw: cqa.answer("When did it collapse?", index=idx, **kw),
         ("since", "until", "as_of")),
        ("timeline", lambda **kw: cqa.timeline(TOPIC, index=idx, **kw), ("since", "until")),
    ]
    for name, call, params in calls:
        for param in params:
            with pytest.raises(InvalidArgumentError) as e:
                call(**{param: bad})
            if bad:
                assert bad in str(e.value), (name, param, str(e.value))


@slow
@pytest.mark.parametrize("bad", ["2024-13-01", "next week", ""])
@pytest.mark.parametrize("option", ["--since", "--until", "--as-of"])
def test_bad_dates_through_the_cli(news, corpus_dir, bad, option):
    _, index_dir = news
    r = invoke("ask", "When did the Quennell Bridge collapse?", option, bad,
               "--corpus", corpus_dir, "--index", index_dir)
    assert_one_error_line(r, *([bad] if bad else []))
    if option != "--as-of":
        r = invoke("timeline", TOPIC, option, bad, "--corpus", corpus_dir, "--index",
                   index_dir)
        assert_one_error_line(r, *([bad] if bad else []))


# ------------------------------------------------------------------ resolved dates


@slow
def test_relative_date_resolved_in_the_answer(idx, texts, spans):
    """Only the Coastal Radio article of Monday 18 March 2024 says divers recovered the
    van: "on Friday" there is 15 March 2024, shown in ``dates`` and inline."""
    a = cqa.answer("When did police divers recover the delivery van from the Varro River?",
                   index=idx)
    assert a.found, a.text
    st = a.statements[0]
    assert _cited(a, st)[0].doc_id == "2024-03-18-coastal-radio-divers.md", st
    assert st.text.startswith("Police divers recovered a submerged delivery van")
    assert [(d["text"], d["value"], d["precision"], d["label"]) for d in st.dates] == [
        ("on Friday", "2024-03-15", "day", "15 March 2024")]
    assert "on Friday [15 March 2024]" in a.text, a.text
    _check_statement_dates(a, texts, spans)


@slow
def test_collapse_date_resolved_whichever_report_answers(idx, texts, spans):
    """Four March 2024 reports say when the bridge fell in four ways ("today", "on
    Tuesday", "yesterday", "March 12"): each is 12 March 2024. Until 31 March 2024 only 6
    articles exist, so all four are among the top 8 passages; their sentences are near
    duplicates (cosine 0.86-0.95), so the first statement cites all four."""
    a = cqa.answer("When did the Quennell Bridge collapse?", index=idx, until="2024-03-31")
    assert a.found, a.text
    _check_answer_filter(a, until="2024-03-31")
    st = a.statements[0]
    assert "collapsed into the Varro River" in st.text, st.text
    assert [(d["value"], d["precision"], d["label"]) for d in st.dates] == [
        ("2024-03-12", "day", "12 March 2024")], st.dates
    assert f"{st.dates[0]['text']} [12 March 2024]" in a.text, a.text
    _check_statement_dates(a, texts, spans)
    collapse = set(EVENTS["E02"]["articles"]) & files_published(until="2024-03-31")
    assert {h.doc_id for h in _cited(a, st)} == collapse
    assert st.articles == 4
    assert sorted(st.sources) == sorted(PUBLISHERS)


@slow
@pytest.mark.parametrize("question", [
    "When did the Quennell Bridge collapse?",
    "When did the council vote to rebuild the Quennell Bridge?",
    "When did construction of the new Quennell Bridge begin?",
    "When did the free ferry across the Varro River start?",
    "When was the first deck section of the new Quennell Bridge lifted into place?",
    "When did the new Quennell Bridge reopen to traffic?",
    "When was the memorial plaque unveiled?",
    "When will the public inquiry hold its first hearing?",
])
def test_every_statement_date_matches_the_ground_truth(idx, texts, spans, question):
    """Whatever sentences an answer picks, their dates are the README's."""
    a = cqa.answer(question, index=idx)
    assert a.found, a.text
    assert any(st.dates for st in a.statements), a.statements
    _check_statement_dates(a, texts, spans)


# ------------------------------------------------------------------ corroboration


COST_FILES = {"2024-04-10-harbor-gazette-council-vote.md", "2024-04-10-metro-wire-council-vote.md",
              "2024-04-11-valley-times-council-vote.md"}


@slow
def test_corroborated_fact_counts_its_articles(idx):
    """"The new Quennell Bridge will cost $84 million." is in exactly three articles and
    no other article speaks of the cost, so those three are the top passages for the
    question; the sentence being the same, the first statement cites all three."""
    q = "How much will the new Quennell Bridge cost?"
    a = cqa.answer(q, index=idx)
    assert a.found, a.text
    st = a.statements[0]
    assert "$84 million" in st.text, st.text
    assert {h.doc_id for h in _cited(a, st)} == COST_FILES
    assert st.articles == 3
    assert sorted(st.sources) == ["Harbor Gazette", "Metro Wire", "Valley Times"]
    # later statements are other sentences: none says the cost again
    assert all("$84 million" not in s.text for s in a.statements[1:])

    two = cqa.answer(q, index=idx, sources=["Harbor Gazette", "metro wire"])
    st = two.statements[0]
    assert "$84 million" in st.text and st.articles == 2
    assert sorted(st.sources) == ["Harbor Gazette", "Metro Wire"]

    # the Valley Times one came a day later
    early = cqa.answer(q, index=idx, as_of="2024-04-10")
    st = early.statements[0]
    assert "$84 million" in st.text and st.articles == 2
    assert sorted(st.sources) == ["Harbor Gazette", "Metro Wire"]


@slow
def test_corroborated_reopening_with_a_source_less_article(idx, texts, spans):
    """Three articles of 4-6 October 2025 say the bridge "reopened to traffic" today /
    yesterday / on Saturday: one statement, 4 October 2025, three articles, and the
    source-less press release named by its title. Since 1 October 2025 only four articles
    exist (those three and the plaque), so all three are read."""
    a = cqa.answer("When did the new Quennell Bridge reopen to traffic?", index=idx,
                   since="2025-10-01")
    assert a.found, a.text
    _check_answer_filter(a, since="2025-10-01")
    st = a.statements[0]
    assert "reopened to traffic" in st.text, st.text
    assert [(d["value"], d["label"]) for d in st.dates] == [("2025-10-04", "4 October 2025")]
    assert "[4 October 2025]" in a.text, a.text
    assert st.articles == 3
    assert sorted(st.sources) == sorted([CITY_HALL, "Valley Times", "Coastal Radio"])
    assert {h.doc_id for h in _cited(a, st)} == set(EVENTS["E15"]["articles"])
    _check_statement_dates(a, texts, spans)


@slow
def test_statement_counts_are_consistent(idx):
    """For any answer: ``articles`` counts at least the distinct articles the statement
    cites, ``sources`` names each of them once (the source-less by title) and no more
    names than there are articles."""
    for q in ("When will the Quennell Bridge reopen?", "Why did the Quennell Bridge fall?",
              "How many people were injured in the collapse?",
              "When did the new Quennell Bridge reopen to traffic?"):
        a = cqa.answer(q, index=idx)
        assert a.found, (q, a.text)
        for st in a.statements:
            cited = _cited(a, st)
            assert st.articles >= len({h.doc_id for h in cited}) >= 1, (q, st)
            names = {source_name(h.doc_id) for h in cited}
            assert len(st.sources) == len(set(st.sources)), (q, st)
            assert names <= set(st.sources), (q, st)
            assert len(st.sources) <= st.articles, (q, st)
            assert set(st.sources) <= {source_name(f) for f in ARTICLES}, (q, st)


_NUMBER_WORDS = {w: i for i, w in enumerate((
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
    "eighteen", "nineteen", "twenty"))}


def _numbers(sentence: str, dates: list[tuple[int, int]], offset: int) -> set[int]:
    """The counts a sentence states ("12 people", "Fourteen people"), not its dates."""
    out = set()
    for m in re.finditer(r"\b(\d+(?:,\d{3})*|[A-Za-z]+)\b", sentence):
        if any(a <= offset + m.start() < b for a, b in dates):
            continue
        word = m.group(1).lower()
        if word.replace(",", "").isdigit():
            out.add(int(word.replace(",", "")))
        elif word in _NUMBER_WORDS:
            out.add(_NUMBER_WORDS[word])
    return out


@slow
@pytest.mark.parametrize(("question", "kwargs"), [
    ("When will the Quennell Bridge reopen?", {"as_of": "2025-03-01"}),
    ("When will the Quennell Bridge reopen?", {}),
    ("When did the new Quennell Bridge reopen to traffic?", {}),
    ("How many people were injured when the Quennell Bridge collapsed?", {}),
    ("How many people were injured when the Quennell Bridge collapsed?",
     {"as_of": "2024-03-20"}),
    ("What happened to the Quennell Bridge?", {}),
], ids=["reopen-as-of-2025-03-01", "reopen", "reopened", "injured", "injured-as-of-correction",
        "what-happened"])
def test_corroboration_never_joins_contradicting_reports(idx, texts, spans, question, kwargs):
    """A statement cites several articles only when they say the same thing. Sentences that
    put the thing at different dates ("is expected to reopen in June 2025" and "has been
    delayed to September 2025": cosine 0.86) or give different counts ("12 people were
    injured" and "14 people were injured") contradict each other: each must be said, the
    later one must not hide behind the earlier as its corroboration."""
    a = cqa.answer(question, index=idx, **kwargs)
    assert a.found, a.text
    for st in a.statements:
        told = []
        for h in _cited(a, st):
            inside = [m for m in spans if m["file"] == h.doc_id
                      and h.sentence_start <= m["start"] < h.sentence_end]
            events = {m["event"] for m in inside if m["event"]}
            counts = _numbers(h.sentence, [(m["start"], m["end"]) for m in inside],
                              h.sentence_start)
            told.append((_ws(h.sentence), events, counts))
        for i, (s1, e1, n1) in enumerate(told):
            for s2, e2, n2 in told[i + 1:]:
                assert not (e1 and e2) or e1 == e2, ("different dates joined", s1, s2)
                assert not (n1 and n2) or n1 == n2, ("different counts joined", s1, s2)


# ------------------------------------------------------------------ timeline


def _interval(ev_date: str) -> tuple[str, str]:
    """The first and last day of an ISO day/month/year (as strings that sort as dates)."""
    if len(ev_date) == 10:
        return ev_date, ev_date
    if len(ev_date) == 7:
        return ev_date + "-01", ev_date + "-31"
    return ev_date + "-01-01", ev_date + "-12-31"


def _event_ids(ev, spans: list[dict], texts: dict[str, str]) -> set[str]:
    """The ground-truth events an event's citations quote: those of the (unqualified)
    mentions inside each cited sentence."""
    ids = set()
    for h in ev.citations:
        text = texts[h.doc_id]
        assert text[h.sentence_start:h.sentence_end] == h.sentence, h
        inside = {m["event"] for m in spans if m["file"] == h.doc_id and m["event"]
                  and h.sentence_start <= m["start"] < h.sentence_end}
        assert inside, ("a sentence without an event date", h.doc_id, h.sentence)
        ids |= inside
    return ids


def _check_timeline(tl, files: set[str], spans, texts) -> None:
    """``tl`` is the timeline of the articles ``files``: in date order, each ground-truth
    event once, with its date, precision, label, citations and sources."""
    events = tl.events
    for i, a in enumerate(events):  # no event ends before an earlier one begins
        for b in events[i + 1:]:
            assert _interval(a.date)[0] <= _interval(b.date)[1], (a.date, b.date)
    want = expected_events(files)
    seen: dict[str, object] = {}
    for ev in events:
        ids = _event_ids(ev, spans, texts)
        assert len(ids) == 1, ("one event quotes several", ev.date, ev.text, ids)
        (eid,) = ids
        assert eid in want, (eid, ev.date, ev.text)
        assert eid not in seen, ("told twice", eid, ev.date, seen[eid].date)
        seen[eid] = ev
        d, p, arts = want[eid]
        assert (ev.date, ev.precision) == (d, p), (eid, ev.date, ev.precision, ev.text)
        assert ev.label == format_value(d, p), (eid, ev.label)
        assert _ws(ev.text) in {_ws(h.sentence) for h in ev.citations}, (eid, ev.text)
        cited = [h.doc_id for h in ev.citations]
        assert len(cited) == len(set(cited)), (eid, cited)  # one citation per article
        assert set(cited) == arts, (eid, sorted(cited), sorted(arts))
        names = {source_name(f) for f in arts}
        assert len(ev.sources) == len(set(ev.sources)), (eid, ev.sources)
        named = {source_name(f) for f in arts if ARTICLES[f]["source"]}
        assert named <= set(ev.sources) <= names, (eid, ev.sources, names)
    assert set(seen) == set(want), ("missing", sorted(set(want) - set(seen)))


@slow
def test_timeline_is_the_ground_truth(full_timeline, spans, texts):
    _check_timeline(full_timeline, set(ARTICLES), spans, texts)


@slow
def test_timeline_merges_reports_of_one_event(full_timeline, spans, texts):
    """The collapse, told by five articles of four publishers (today, on Tuesday,
    yesterday, March 12, in March 2024), is one event of 12 March 2024; the state of
    emergency declared the same day is another."""
    by_id = {next(iter(_event_ids(ev, spans, texts))): ev for ev in full_timeline.events}
    collapse = by_id["E02"]
    assert (collapse.date, collapse.precision, collapse.label) == (
        "2024-03-12", "day", "12 March 2024")
    assert len(collapse.citations) == 5
    assert len({h.doc_id for h in collapse.citations}) == 5
    assert sorted(collapse.sources) == sorted(PUBLISHERS)
    assert by_id["E03"] is not collapse and len(by_id["E03"].citations) == 1
    reopening = by_id["E15"]
    assert reopening.date == "2025-10-04" and len(reopening.citations) == 3
    assert CITY_HALL in reopening.sources or len(reopening.sources) == 2
    # two plans, two events: June 2025, then September 2025 (each told by two articles)
    assert [len(by_id[e].citations) for e in ("E07", "E12")] == [2, 2]
    assert (by_id["E07"].date, by_id["E12"].date) == ("2025-06", "2025-09")


@slow
def test_timeline_has_no_bounds(full_timeline):
    """"since 2019", "by December 2025" and "before 2027" bound something: no events."""
    dates = {ev.date for ev in full_timeline.events}
    assert not dates & {"2019", "2025-12", "2027"}, dates
    assert "2019" not in " ".join(ev.label for ev in full_timeline.events)


@slow
@pytest.mark.parametrize(("kwargs", "truth"), [
    ({"sources": ["Coastal Radio"]}, {"sources": ("Coastal Radio",)}),
    ({"sources": ["harbor gazette", "Valley Times"]},
     {"sources": ("Harbor Gazette", "Valley Times")}),
    # the anniversary article alone tells the collapse: as "March 2024", a month
    ({"since": "2025", "until": "2025-10-05"}, {"since": "2025-01-01", "until": "2025-10-05"}),
    ({"until": "2024-04"}, {"until": "2024-04-30"}),
    ({"since": "2024-03-13", "until": "2024-03-13", "sources": ["Valley Times"]},
     {"since": "2024-03-13", "until": "2024-03-13", "sources": ("Valley Times",)}),
], ids=["one-source", "two-sources", "since-until", "until-month", "all-three"])
def test_timeline_filters(idx, spans, texts, kwargs, truth):
    """since/until bound the publication date of the articles told, as for answers."""
    tl = cqa.timeline(TOPIC, index=idx, **kwargs)
    for ev in tl.events:
        _check_filter(ev.citations, **truth)
    _check_timeline(tl, files_published(**truth), spans, texts)


@slow
def test_timeline_of_nothing(idx):
    assert cqa.timeline(TOPIC, index=idx, until="2024-02").events == []
    assert cqa.timeline(TOPIC, index=idx, sources=["Daily Nonexistent"]).events == []


# ------------------------------------------------------------------ CLI


def _find_date(out: str, ev: dict, pos: int) -> int:
    """Where the event's label or ISO date is printed at or after ``pos`` (not as the tail
    of a longer date: "April 2025" is not found in "14 April 2025"); -1 if not."""
    found = []
    for rx in (rf"(?<![\w-])(?<!\w )(?<!\w\n){re.escape(ev['label'])}(?![\w-])",
               rf"(?<![\w-]){re.escape(ev['date'])}(?![\w-])"):
        m = re.compile(rx).search(out, pos)
        if m:
            found.append(m.start())
    return min(found, default=-1)


def _json_events(out: str) -> list[dict]:
    data = json.loads(out)
    events = data["events"] if isinstance(data, dict) else data
    assert isinstance(events, list)
    return events


@slow
def test_cli_timeline(news, corpus_dir, full_timeline):
    _, index_dir = news
    r = invoke("timeline", TOPIC, "--corpus", corpus_dir, "--index", index_dir, "--json")
    assert r.exit_code == 0, (r.output, r.exception)
    events = _json_events(r.stdout)
    assert [(e["date"], e["precision"], e["label"]) for e in events] == [
        (ev.date, ev.precision, ev.label) for ev in full_timeline.events]
    assert [sorted(e["sources"]) for e in events] == [
        sorted(ev.sources) for ev in full_timeline.events]

    r = invoke("timeline", TOPIC, "--corpus", corpus_dir, "--index", index_dir)
    assert r.exit_code == 0, (r.output, r.exception)
    out = r.stdout
    starts, pos = [], 0
    for e in events:  # each event's date, in order
        at = _find_date(out, e, pos)
        assert at >= 0, (e["label"], e["date"], out[pos:pos + 300])
        starts.append(at)
        pos = at + 1
    # each event is printed with all its sources (from its date to the next event's date)
    for e, a, b in zip(events, starts, starts[1:] + [len(out)], strict=True):
        block = _ws(out[a:b])
        for name in e["sources"]:
            assert name in block, (e["label"], name, block)

    r = invoke("timeline", TOPIC, "--corpus", corpus_dir, "--index", index_dir,
               "--source", "Coastal Radio", "--source", "Metro Wire", "--since", "2025",
               "--json")
    assert r.exit_code == 0, (r.output, r.exception)
    got = _json_events(r.stdout)
    api = cqa.timeline(TOPIC, index=news[0], sources=["Coastal Radio", "Metro Wire"],
                       since="2025")
    assert [e["date"] for e in got] == [ev.date for ev in api.events]
    assert {s for e in got for s in e["sources"]} <= {"Coastal Radio", "Metro Wire"}
    want = expected_events(files_published(since="2025-01-01",
                                           sources=("Coastal Radio", "Metro Wire")))
    assert len(got) == len(want)


@slow
def test_cli_ask_filters(news, corpus_dir):
    _, index_dir = news
    r = invoke("ask", "How much will the new Quennell Bridge cost?", "--source",
               "Harbor Gazette", "--source", "Metro Wire", "--as-of", "2024-04-10", "--json",
               "--corpus", corpus_dir, "--index", index_dir)
    assert r.exit_code == 0, (r.output, r.exception)
    a = json.loads(r.stdout)
    assert a["found"] and "$84 million" in a["text"]
    for h in a["citations"] + a["hits"]:
        assert h["source"] in ("Harbor Gazette", "Metro Wire") and h["date"] <= "2024-04-10"
    assert a["statements"][0]["articles"] == 2

    r = invoke("ask", "When did the Quennell Bridge collapse?", "--since", "2024-03-13",
               "--until", "2024-03-13", "--corpus", corpus_dir, "--index", index_dir)
    assert r.exit_code == 0, (r.output, r.exception)
    assert "[12 March 2024]" in " ".join(r.stdout.split())  # resolved inline, maybe wrapped
