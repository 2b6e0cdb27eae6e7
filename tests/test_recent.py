"""Questions about recent news: "What happened this week?", "since Monday", "recently".

``answering.recent.find_recency`` on many phrasings with a fixed today (a Wednesday, a
Monday, a Sunday, the first of a month and of a year), the phrases it must leave alone, and
(slow, with the real model) ``answer()`` over the dated articles of ``tests/test_news.py``:
a question about this week is answered from that week's articles only.

Calendar: Wednesday 20 March 2024 (2024 is a leap year), Monday 6 October 2025.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from datetime import date, datetime  # noqa: E402
from types import SimpleNamespace  # noqa: E402

import pytest  # noqa: E402

# the dated articles and their index, as tests/test_news.py builds them (its fixtures)
from test_news import corpus_dir, files_published, idx, news  # noqa: E402, F401

import challenge_qa as cqa  # noqa: E402
from challenge_qa.answering.recent import (  # noqa: E402
    RECENT_DAYS,
    find_recency,
    parse_today,
    recent_filters,
)
from challenge_qa.errors import InvalidArgumentError  # noqa: E402
from challenge_qa.search.filters import Filters  # noqa: E402

slow = pytest.mark.slow

WED = date(2024, 3, 20)
MON = date(2025, 10, 6)
SUN = date(2024, 3, 24)

# (question, today, since, until, phrase, question without it)
CASES = [
    ("What happened this week?", WED, "2024-03-18", "2024-03-20", "this week", "What happened?"),
    ("What happened this week?", MON, "2025-10-06", "2025-10-06", "this week", "What happened?"),
    ("What happened this week?", SUN, "2024-03-18", "2024-03-24", "this week", "What happened?"),
    ("What happened last week?", WED, "2024-03-11", "2024-03-17", "last week", "What happened?"),
    ("What happened last week?", MON, "2025-09-29", "2025-10-05", "last week", "What happened?"),
    ("What happened last week?", date(2024, 1, 1), "2023-12-25", "2023-12-31", "last week",
     "What happened?"),
    ("What did the council decide this month?", WED, "2024-03-01", "2024-03-20", "this month",
     "What did the council decide?"),
    ("What did the council decide last month?", WED, "2024-02-01", "2024-02-29", "last month",
     "What did the council decide?"),
    ("What happened last month?", date(2024, 1, 1), "2023-12-01", "2023-12-31", "last month",
     "What happened?"),
    ("Who was elected this year?", WED, "2024-01-01", "2024-03-20", "this year",
     "Who was elected?"),
    ("Who was elected last year?", WED, "2023-01-01", "2023-12-31", "last year",
     "Who was elected?"),
    ("What happened in this year?", date(2024, 1, 1), "2024-01-01", "2024-01-01",
     "in this year", "What happened?"),
    ("What happened today?", WED, "2024-03-20", "2024-03-20", "today", "What happened?"),
    ("Who won today?", WED, "2024-03-20", "2024-03-20", "today", "Who won?"),
    ("What is the news today?", WED, "2024-03-20", "2024-03-20", "today", "What is the news?"),
    # yesterday's events are often reported today
    ("What happened yesterday?", WED, "2024-03-19", "2024-03-20", "yesterday",
     "What happened?"),
    ("What has happened since Monday?", WED, "2024-03-18", "2024-03-20", "since Monday",
     "What has happened?"),
    # on a Monday, "since Monday" is today; "since last Monday" the Monday before
    ("What has happened since Monday?", MON, "2025-10-06", "2025-10-06", "since Monday",
     "What has happened?"),
    ("What has happened since last Monday?", MON, "2025-09-29", "2025-10-06",
     "since last Monday", "What has happened?"),
    ("What has happened since last Monday?", WED, "2024-03-18", "2024-03-20",
     "since last Monday", "What has happened?"),
    ("What has happened since Sunday?", SUN, "2024-03-24", "2024-03-24", "since Sunday",
     "What has happened?"),
    ("What has happened since Friday?", WED, "2024-03-15", "2024-03-20", "since Friday",
     "What has happened?"),
    ("What changed ever since Tuesday?", WED, "2024-03-19", "2024-03-20",
     "ever since Tuesday", "What changed?"),
    ("What has happened since 1 March?", WED, "2024-03-01", "2024-03-20", "since 1 March",
     "What has happened?"),
    ("What has happened since March 1st?", WED, "2024-03-01", "2024-03-20",
     "since March 1st", "What has happened?"),
    ("What has happened since March?", WED, "2024-03-01", "2024-03-20", "since March",
     "What has happened?"),
    # a day or month still to come this year is last year's
    ("What has happened since April?", WED, "2023-04-01", "2024-03-20", "since April",
     "What has happened?"),
    ("What has happened since 1 April?", WED, "2023-04-01", "2024-03-20", "since 1 April",
     "What has happened?"),
    ("What has happened since March 2023?", WED, "2023-03-01", "2024-03-20",
     "since March 2023", "What has happened?"),
    ("What has happened since 2024-03-12?", WED, "2024-03-12", "2024-03-20",
     "since 2024-03-12", "What has happened?"),
    ("What has happened since yesterday?", WED, "2024-03-19", "2024-03-20", "since yesterday",
     "What has happened?"),
    ("What has happened since last week?", WED, "2024-03-11", "2024-03-20", "since last week",
     "What has happened?"),
    ("What has happened since last month?", WED, "2024-02-01", "2024-03-20",
     "since last month", "What has happened?"),
    ("What has happened since last year?", WED, "2023-01-01", "2024-03-20", "since last year",
     "What has happened?"),
    ("What has happened since the start of the year?", WED, "2024-01-01", "2024-03-20",
     "since the start of the year", "What has happened?"),
    ("What has happened since the beginning of the month?", WED, "2024-03-01", "2024-03-20",
     "since the beginning of the month", "What has happened?"),
    ("What happened in the last 3 days?", WED, "2024-03-17", "2024-03-20",
     "in the last 3 days", "What happened?"),
    ("What happened in the last three days?", WED, "2024-03-17", "2024-03-20",
     "in the last three days", "What happened?"),
    ("What happened in the past week?", WED, "2024-03-13", "2024-03-20", "in the past week",
     "What happened?"),
    ("What happened during the last two weeks?", WED, "2024-03-06", "2024-03-20",
     "during the last two weeks", "What happened?"),
    ("How did prices change over the past 6 months?", WED, "2023-09-20", "2024-03-20",
     "over the past 6 months", "How did prices change?"),
    ("What happened in the last month?", WED, "2024-02-20", "2024-03-20", "in the last month",
     "What happened?"),
    ("What happened in the past year?", WED, "2023-03-20", "2024-03-20", "in the past year",
     "What happened?"),
    ("What happened over the last 24 hours?", WED, "2024-03-19", "2024-03-20",
     "over the last 24 hours", "What happened?"),
    ("Who has recently joined the board?", WED, "2024-02-19", "2024-03-20", "recently",
     "Who has joined the board?"),
    ("What happened lately?", WED, "2024-02-19", "2024-03-20", "lately", "What happened?"),
    # capitalised at the start of the question is still the phrase, and the rest is tidied
    ("This week, what did the council decide?", WED, "2024-03-18", "2024-03-20", "This week",
     "What did the council decide?"),
    ("Recently, who joined the board?", WED, "2024-02-19", "2024-03-20", "Recently",
     "Who joined the board?"),
    ("WHAT HAPPENED THIS WEEK?", WED, "2024-03-18", "2024-03-20", "THIS WEEK",
     "WHAT HAPPENED?"),
    # a possessive keeps the phrase in the question ("'s halftime show" would be left)
    ("Who played at this year's halftime show?", WED, "2024-01-01", "2024-03-20", "this year",
     "Who played at this year's halftime show?"),
    # two expressions: the first one counts
    ("What happened last week and since Monday?", WED, "2024-03-11", "2024-03-17",
     "last week", "What happened and since Monday?"),
]


@pytest.mark.parametrize(("question", "today", "since", "until", "phrase", "rest"), CASES)
def test_recency_expression_is_a_range_of_publication_dates(question, today, since, until,
                                                             phrase, rest):
    r = find_recency(question, today)
    assert r is not None, question
    assert (r.since.isoformat(), r.until.isoformat()) == (since, until), question
    assert (r.phrase, question[r.start:r.end], r.rest) == (phrase, phrase, rest)
    assert r.since <= r.until <= today


def test_recently_is_the_last_thirty_days():
    assert RECENT_DAYS == 30
    r = find_recency("What happened recently?", WED)
    assert r is not None and (WED - r.since).days == RECENT_DAYS and r.until == WED


# Not about recency (each with why): they must fire nothing, whatever today is.
FALSE_POSITIVES = [
    "What happened in the last week of filming?",  # a period of something else
    "Who did the Broncos play in the last week of the regular season?",
    "What did he do in his last year in office?",
    "What company was in its last year for getting commercials at a discount?",
    "What happened during the last days of the war?",  # no number, plural
    "What has the infrastructure done over the past years?",
    "Savannah areas expanded over the last how many years?",
    "What has caused savannas to grow in the last 34 million years?",
    "Which direction did the Rhine flow during the last cold phase?",
    "Who won the last Super Bowl?",
    "How much has the temperature changed in the last century?",
    "Who hosts This Week?",  # names
    "What did USA Today report about the bridge?",
    "Which female anchor from Today joined Hugh Downs on 20/20?",
    "Who wrote Yesterday?",
    "Who led the party until last week?",  # bounds
    "Were sales higher than last year?",
    "What happened the day before yesterday?",
    "How many people have died as of today?",
    "Until recently, who ran the ferry?",
    "How recently were the homes in Fresno restored?",
    "Who most recently won the title?",
    "Was it more recently rebuilt?",
    "How many protestants live in France today?",  # "today" as "nowadays"
    "What translation of Luther's is still used today?",
    "Whose wall has fragments visible around Newcastle even today?",
    "Why aren't the examples of that architecture visible today?",
    "What has risen to be a factor in teaching today?",
    "Most power of what sort is generated by steam turbines today?",
    "Where in China is Genghis Khan most favorably viewed today?",
    "How much lower was the North Sea than it is today?",
    "How were the men who did tasks like those of today's pharmacists viewed?",
    "Today, which church is considered one of the more tolerant denominations?",
    "What is the population of the city today?",
    "What is the week the film was shot?",
    "What happened in the week after the collapse?",
    "Who has composed the music since 2005?",  # a bare year: how long a state has lasted
    "What has happened since the collapse?",  # not a date
    "Since when has the bridge been closed?",
    "What will happen since next Monday?",  # after today
    "What did the mayor say on Monday?",  # a day, not a range (not supported)
    "What happened two days ago?",
    "What is the latest news about the bridge?",  # an order, not a range
    "Who is the newest member of the council?",
    "Which areas has the space race moved into in recent years?",
    "What happened at the last-minute meeting?",
    "How did the recently-built bridge fare?",
]


@pytest.mark.parametrize("question", FALSE_POSITIVES)
@pytest.mark.parametrize("today", [WED, MON])
def test_phrases_not_about_recency_fire_nothing(question, today):
    assert find_recency(question, today) is None


def test_parse_today():
    assert parse_today(None) == date.today()
    assert parse_today("2024-03-20") == parse_today(WED) == WED
    assert parse_today(datetime(2024, 3, 20, 23, 59)) == WED
    for bad in ("2024-03", "soon", "2024-02-30", 20240320):
        with pytest.raises(InvalidArgumentError):
            parse_today(bad)


def _index(dated: bool):
    """An index stand-in: ``has_dated`` says whether any article has a date."""
    return SimpleNamespace(has_dated=lambda: dated)


def test_recent_filters_apply_the_range_and_take_the_phrase_out():
    base = Filters.make(sources=["Coastal Radio"])
    got, query = recent_filters("What happened this week?", base, _index(True), WED)
    assert got == Filters(date(2024, 3, 18), WED, ("coastal radio",))
    assert query == "What happened?"
    # no recency expression: unchanged
    assert recent_filters("Who was hurt?", base, _index(True), WED) == (base, "Who was hurt?")


def test_recent_filters_leave_an_archive_without_dates_alone():
    """Articles without a date are left out by any date filter: over an archive without
    dates a question about "this week" would find nothing, so it is asked as it stands."""
    q = "What has recently undergone extensive restoration?"
    assert recent_filters(q, Filters(), _index(False), WED) == (Filters(), q)


# ------------------------------------------------------------------ answers (real model)


@pytest.fixture(scope="module")
def dated(request):
    """The index of the dated articles, built once by ``tests/test_news.py``'s fixtures."""
    return request.getfixturevalue("idx")


def _published_in(hits, since: str, until: str) -> None:
    keep = files_published(since, until)
    for h in hits:
        assert h.doc_id in keep, (h.doc_id, h.date, since, until)


@slow
def test_what_happened_this_week_is_answered_from_that_weeks_articles(dated):
    """Wednesday 20 March 2024: this week's articles are the divers (Monday 18) and the
    correction (Wednesday 20); the collapse reports of the week before are out."""
    a = cqa.answer("What happened this week?", index=dated, today="2024-03-20")
    assert a.filters == {"since": "2024-03-18", "until": "2024-03-20"}
    assert a.query == "What happened?"
    assert a.found, a.text
    assert a.hits
    _published_in(a.citations, "2024-03-18", "2024-03-20")
    _published_in(a.hits, "2024-03-18", "2024-03-20")
    assert {h.doc_id for h in a.hits} == files_published("2024-03-18", "2024-03-20")
    same = cqa.answer("What happened this week?", index=dated, today=date(2024, 3, 20))
    assert same.text == a.text


@slow
def test_since_monday_is_answered_from_the_articles_since_monday(dated):
    a = cqa.answer("What has happened since Monday?", index=dated, today="2024-03-20")
    assert a.filters == {"since": "2024-03-18", "until": "2024-03-20"}
    assert a.found, a.text
    _published_in(a.citations, "2024-03-18", "2024-03-20")
    _published_in(a.hits, "2024-03-18", "2024-03-20")

    # on a Monday, "since Monday" is today only: Coastal Radio's report of the reopening
    q = "What has happened to the Quennell Bridge since Monday?"
    monday = cqa.answer(q, index=dated, today="2025-10-06")
    assert monday.filters == {"since": "2025-10-06", "until": "2025-10-06"}
    assert monday.found, monday.text
    assert {h.doc_id for h in monday.citations} == {"2025-10-06-coastal-radio-reopening.md"}
    assert {h.doc_id for h in monday.hits} == {"2025-10-06-coastal-radio-reopening.md"}


@slow
def test_last_week_on_a_monday_is_the_week_before(dated):
    """Monday 6 October 2025: last week (29 September - 5 October) holds the City Hall
    release and the Valley Times report of the reopening, not Monday's Coastal Radio."""
    a = cqa.answer("What happened to the Quennell Bridge last week?", index=dated,
                   today="2025-10-06")
    assert a.filters == {"since": "2025-09-29", "until": "2025-10-05"}
    assert a.found, a.text
    assert "reopened" in a.text, a.text
    _published_in(a.citations, "2025-09-29", "2025-10-05")
    assert {h.doc_id for h in a.hits} == files_published("2025-09-29", "2025-10-05")


@slow
def test_a_week_without_articles_is_not_covered(dated):
    """Monday 11 March 2024, the day before the collapse: nothing was published this week."""
    a = cqa.answer("What happened this week?", index=dated, today="2024-03-11")
    assert a.filters == {"since": "2024-03-11", "until": "2024-03-11"}
    assert not a.found
    assert a.citations == [] and a.hits == []


@slow
def test_explicit_dates_win_over_the_question(dated):
    """With since, until or as_of given, the question's "this week" is only words."""
    q = "How many people were injured this week?"
    a = cqa.answer(q, index=dated, today="2024-03-20", until="2024-03-14")
    assert a.filters == {"until": "2024-03-14"}
    assert a.query == q
    _published_in(a.hits, "2024-03-12", "2024-03-14")
    b = cqa.answer(q, index=dated, today="2024-03-20", as_of="2024-03-13")
    assert b.filters == {"until": "2024-03-13"}
    # publishers combine with the question's dates
    c = cqa.answer(q, index=dated, today="2024-03-20", sources=["Harbor Gazette"])
    assert c.filters == {"since": "2024-03-18", "until": "2024-03-20",
                         "sources": ["harbor gazette"]}
    assert {h.doc_id for h in c.hits} <= {"2024-03-20-harbor-gazette-correction.md"}


@slow
def test_today_defaults_to_the_current_date(dated):
    a = cqa.answer("What happened this week?", index=dated)
    assert a.filters["until"] == date.today().isoformat()
    with pytest.raises(InvalidArgumentError):
        cqa.answer("What happened this week?", index=dated, today="next week")
