"""Questions about recent news: "What happened this week?", "since Monday", "recently".

``find_recency(question, today)`` finds the one expression of a question that limits it to
recent news and turns it into a range of publication dates (inclusive), relative to
``today``; ``answer()`` applies it as its ``since``/``until`` filters when none were given.
Weeks start on Monday (ISO). The expressions, with today Wednesday 20 March 2024:

- "today": 20 March; "yesterday": 19-20 March (a report of yesterday's events is often
  published today);
- "this week" / "this month" / "this year": from the period's first day (18 March, 1 March,
  1 January 2024) to today; "last week" / "last month" / "last year": the whole previous
  period (11-17 March, February 2024, 2023);
- "in the last N days/weeks/months/years" (also "the past week", "over the last 24 hours";
  N a number or a number word up to twelve): from today less that much to today
  ("in the last 7 days": 13-20 March);
- "recently", "lately": the last ``RECENT_DAYS`` (30) days;
- "since" with a date that ``text.dates.find_dates`` resolves against today: "since
  Monday" (the last Monday on or before today: 18 March; on a Monday, today), "since last
  Monday" (the one before today: 18 March; on a Monday, a week ago), "since 1 March",
  "since March" (the last such day or month on or before today), "since March 2024",
  "since yesterday", "since last month"; and "since last week", "since this week",
  "since the start of the year". A bare year ("since 2019") is left alone: it usually says
  how long a state has lasted, not which news is asked for. A date after today fires nothing.

Conservative by design, it leaves these alone: a phrase written as a name ("This Week",
"USA Today", "Yesterday" by the Beatles: capitalised inside the question); a period of
something else ("the last week of filming", "his last year in office", "the last days of
the war", "over the past years"); a bound ("until last week", "the day before yesterday",
"as of today", "until recently", "most recently", "how recently"); and "today" that means
"nowadays" ("How many people live there today?", "still used today", "than it is today",
"today's pharmacists"): "today" counts only in a question about an event (a past tense,
"happen", "news", "headlines"). "Latest" and "newest" ask for an order, not a range, and
are left to the ranking.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from dateutil.relativedelta import MO, relativedelta

from ..search.filters import Filters
from ..text.dates import NUMBERS, find_dates, parse_bound

if TYPE_CHECKING:
    from ..search.index import SearchableIndex

#: The window of "recently" and "lately", in days before today.
RECENT_DAYS = 30

_N = r"(?P<n>\d{1,4}|" + "|".join(w for w in NUMBERS if w not in ("a", "an")) + ")"
#: "in the last 3 days", "the past week", "over the last 24 hours" (a plural unit needs a
#: number: "over the past years" is vague).
_ROLLING = re.compile(
    r"\b(?:(?:in|during|over|within|for)\s+)?(?P<core>the\s+(?:last|past)\s+"
    rf"(?:{_N}\s+)?(?P<unit>hours?|days?|weeks?|months?|years?))\b", re.I)
#: "this week", "last month", "in this year".
_PERIOD = re.compile(r"\b(?:(?:in|during|over)\s+)?(?P<core>(?P<rel>this|last)\s+"
                     r"(?P<unit>week|month|year))\b", re.I)
_DAY = re.compile(r"\b(?P<core>(?P<w>today|yesterday))\b", re.I)
_RECENTLY = re.compile(r"\b(?P<core>recently|lately)\b", re.I)
#: "since last week", "since the start of the year": the weeks and period starts that
#: ``find_dates`` does not read.
_SINCE_PERIOD = re.compile(
    r"\b(?:ever\s+)?(?P<core>since\s+(?:(?P<rel>last|this)\s+week|the\s+(?:start|beginning)"
    r"\s+of\s+(?P<rel2>the|this|last)\s+(?P<unit>week|month|year)))\b", re.I)
_SINCE_BEFORE = re.compile(r"\b(?:ever\s+)?since\s+(?P<end>the\s+end\s+of\s+)?$", re.I)

#: Words before a phrase that make it something else's period or a bound: "the last week
#: of", "his last year", "until last week", "more than last year".
_NOT_AFTER = (r"the|a|an|his|her|its|their|our|my|your|whose|that|each|every|one|first|"
              r"final|until|till|before|after|by|since|than")
#: ... and more before "today" or "yesterday" ("the day before yesterday", "as of today",
#: "the world of today", "than it is today") or "recently" ("until recently", "how
#: recently", "most recently").
_NOT_AFTER_DAY = _NOT_AFTER + r"|to|from|of|as\s+of|up\s+to|is|are|was|were|be|been"
_NOT_AFTER_RECENTLY = _NOT_AFTER + r"|how|most|more|up\s+to"
#: After a phrase: "the last week of filming", "last-minute", "the last days before".
_NOT_BEFORE = re.compile(r"(?:\s+(?:of|before|after)\b|-)", re.I)
_POSSESSIVE = re.compile(r"['’]s\b")
#: "today" is the day of an event only in a question about one: a past tense or "happen",
#: the news; a participle ("-ed") counts only without a present "is"/"are" (which makes it
#: a state: "is generated today").
_EVENT = re.compile(
    r"\b(?:happen\w*|news|headlines?|did|was|were|said|told|won|lost|made|took|went|came|"
    r"began|fell|rose|met|sold|held|left|gave|got|saw|found|spoke|broke|shot|ran|wrote|sent|"
    r"bought|struck|announc\w*)\b", re.I)
_PARTICIPLE = re.compile(r"\b(?!(?:hundred|indeed|speed|breed|greed|bleed|sacred|naked|"
                         r"wicked)\b)[a-z]{3,}ed\b", re.I)
_PRESENT = re.compile(r"\b(?:is|are|am|isn't|aren't)\b|\w'(?:s|re)\b", re.I)
_NOWADAYS = re.compile(r"\b(?:still|even|nowadays|anymore|currently|now)\b", re.I)


@dataclass(frozen=True)
class Recency:
    """A recency expression of a question: ``question[start:end]`` (``phrase``, with its
    preposition: "in the last 3 days", "since Monday"), the publication dates it means
    (``since`` to ``until``, inclusive) and the question without it (``rest``; the
    question itself where taking the phrase out would leave nothing, or a broken
    possessive: "this year's festival")."""

    since: date
    until: date
    start: int
    end: int
    phrase: str
    rest: str


def find_recency(question: str, today: date) -> Recency | None:
    """The recency expression of ``question`` as a range of publication dates relative to
    ``today`` (the first one, when there are several), or None.

    Example:
        >>> r = find_recency("What happened this week?", date(2024, 3, 20))
        >>> r.since, r.until, r.phrase, r.rest
        (datetime.date(2024, 3, 18), datetime.date(2024, 3, 20), 'this week', 'What happened?')
        >>> find_recency("What happened in the last week of filming?", date(2024, 3, 20))
    """
    text = question.lower() if question.upper() == question else question
    found = _since_dates(text, today) + _since_periods(text, today) + _periods(text, today)
    found += _rolling(text, today) + _days(text, today) + _recently(text, today)
    if not found:
        return None
    start, end, since, until = min(found, key=lambda f: (f[0], -f[1]))
    # "this year's festival": taking the phrase out would leave "'s festival"
    rest = question if _POSSESSIVE.match(text, end) else _without(question, start, end)
    return Recency(since, until, start, end, question[start:end],
                   rest if re.search(r"\w", rest) else question)


def parse_today(value: object) -> date:
    """The date that a question's "this week" is relative to: a ``date`` (a ``datetime``'s
    day), ``YYYY-MM-DD``, or None for the current date.

    Example:
        >>> parse_today("2024-03-20"), parse_today(datetime(2024, 3, 20, 23, 59))
        (datetime.date(2024, 3, 20), datetime.date(2024, 3, 20))
    """
    from ..errors import InvalidArgumentError

    if value is None:
        return date.today()
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str) and re.fullmatch(r"\s*\d{4}-\d{1,2}-\d{1,2}\s*", value):
        return parse_bound(value, end=False, name="today")
    raise InvalidArgumentError(f"today must be a date like 2024-03-20, not {value!r}.",
                               hint="Give today as YYYY-MM-DD.")


def recent_filters(question: str, filters: Filters, index: SearchableIndex, today: date
                   ) -> tuple[Filters, str]:
    """``filters`` with the publication range of the question's recency expression, and
    the question to search: without the expression (the dates are in the filters; left
    in, "this week" only makes the reader look for a sentence that names a time, and
    lowers its confidence in the ones that answer). Unchanged when the question has none
    or ``index`` has no dated article (an archive without dates has no recent news: the
    words stay words)."""
    found = find_recency(question, today)
    if found is None:
        return filters, question
    if not index.has_dated():
        return filters, question
    return replace(filters, since=found.since, until=found.until), found.rest


# ------------------------------------------------------------------ the expressions

_Found = tuple[int, int, date, date]  # start, end, since, until


def _stands_alone(text: str, m: re.Match, not_after: str = _NOT_AFTER, *,
                 lower: bool = False) -> bool:
    """Whether a match is a recency phrase rather than part of something else: not after
    a determiner or a bound word (``not_after``), not before "of" or a hyphen, and not a
    capitalised name inside the question (``lower``: never capitalised)."""
    core = m.start("core")
    if re.search(rf"\b(?:{not_after})\s+$", text[:core], re.I) or (
            text[core - 1:core] in ("-", "'")) or _NOT_BEFORE.match(text, m.end()):
        return False
    if text[core].isupper():
        return not lower and not re.search(r"\w", text[:m.start()])
    return True


def _periods(text: str, today: date) -> list[_Found]:
    out = []
    for m in _PERIOD.finditer(text):
        if not _stands_alone(text, m):
            continue
        unit, last = m.group("unit").lower(), m.group("rel").lower() == "last"
        first = _period_start(unit, today)
        if not last:
            out.append((m.start(), m.end(), first, today))
            continue
        prev = _period_start(unit, first - timedelta(days=1))
        out.append((m.start(), m.end(), prev, first - timedelta(days=1)))
    return out


def _period_start(unit: str, day: date) -> date:
    if unit == "week":
        return day + relativedelta(weekday=MO(-1))
    return day.replace(day=1) if unit == "month" else day.replace(month=1, day=1)


def _rolling(text: str, today: date) -> list[_Found]:
    out = []
    for m in _ROLLING.finditer(text):
        unit = m.group("unit").lower()
        n_text = (m.group("n") or "1").lower()
        if (unit.endswith("s") and m.group("n") is None) or not _stands_alone(text, m):
            continue
        n = int(n_text) if n_text.isdigit() else NUMBERS[n_text]
        if n < 1:
            continue
        unit = unit.rstrip("s")
        if unit == "hour":
            since = today - timedelta(days=-(-n // 24))
        else:
            since = today - relativedelta(**{unit + "s": n})
        out.append((m.start(), m.end(), since, today))
    return out


def _days(text: str, today: date) -> list[_Found]:
    out = []
    for m in _DAY.finditer(text):
        if not _stands_alone(text, m, _NOT_AFTER_DAY, lower=True) or _POSSESSIVE.match(
                text, m.end()):
            continue
        if m.group("w").lower() == "yesterday":
            out.append((m.start(), m.end(), today - timedelta(days=1), today))
        elif _about_an_event(text):
            out.append((m.start(), m.end(), today, today))
    return out


def _about_an_event(text: str) -> bool:
    """Whether "today" in ``text`` is the day of an event rather than "nowadays"."""
    if _NOWADAYS.search(text):
        return False
    return bool(_EVENT.search(text)) or (
        bool(_PARTICIPLE.search(text)) and not _PRESENT.search(text))


def _recently(text: str, today: date) -> list[_Found]:
    return [(m.start(), m.end(), today - timedelta(days=RECENT_DAYS), today)
            for m in _RECENTLY.finditer(text) if _stands_alone(text, m, _NOT_AFTER_RECENTLY)]


def _since_periods(text: str, today: date) -> list[_Found]:
    out = []
    for m in _SINCE_PERIOD.finditer(text):
        if m.group("rel"):
            unit, rel = "week", m.group("rel").lower()
        else:
            unit, rel = m.group("unit").lower(), m.group("rel2").lower()
        first = _period_start(unit, today)
        if rel == "last":
            first = _period_start(unit, first - timedelta(days=1))
        out.append((m.start(), m.end(), first, today))
    return out


def _since_dates(text: str, today: date) -> list[_Found]:
    """"since" with a date: ``find_dates`` resolves it against today; a day or month
    without a year is its last occurrence on or before today, a weekday its last one."""
    out = []
    for d in find_dates(text, today):
        if d.qualifier != "since" or d.value is None or (
                d.precision == "year" and not d.relative):
            continue
        own = re.match(r"since\s+", d.text, re.I)  # "since March": the lead is matched
        lead = _SINCE_BEFORE.search(text, max(0, d.start - 30), d.start + (
            own.end() if own else 0))
        if lead is None:
            continue
        at_end = bool(lead.group("end"))  # "since the end of March": its last day
        since = parse_bound(d.value, end=at_end)
        # "since Monday" in a sentence about the future ("will") was resolved forwards
        weekday = d.precision == "day" and bool(re.search(r"day\b", d.text, re.I))
        step = relativedelta(weeks=1) if weekday else relativedelta(years=1)
        while since > today and d.relative and d.precision in ("day", "month") and not (
                re.search(r"\b(?:next|tomorrow)\b", d.text, re.I)):
            since -= step
        if since <= today:
            out.append((lead.start(), d.end, since, today))
    return out


def _without(question: str, start: int, end: int) -> str:
    """The question with ``question[start:end]`` taken out, its spaces and punctuation
    tidied ("What happened this week?" -> "What happened?")."""
    rest = " ".join(f"{question[:start]} {question[end:]}".split())
    rest = re.sub(r"\s+([?.!,;:])", r"\1", rest)
    rest = re.sub(r"([,;:])+(?=[?.!]|$)", "", rest).lstrip(",;: ")
    if rest[:1].islower() and question[:1].isupper():
        rest = rest[0].upper() + rest[1:]
    return rest
