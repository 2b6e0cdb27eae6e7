"""Dates in news text, resolved against the article's publication date.

``find_dates(text, published)`` finds the date and time expressions of a text ("on
Tuesday", "in October 2021", "last July", "April 12, 2023", "after 2024", "two years
ago") and resolves each to an ISO value cut to its precision: ``2023-03-07`` (day),
``2021-10`` (month) or ``2021`` (year). A relative or partial expression ("Tuesday",
"April 12", "last year") needs the publication date; without one it is kept unresolved
(``value`` None), never guessed. Arithmetic and validation use python-dateutil
(``relativedelta``, ``parser``).

Conventions of news writing decide the ambiguous cases: a bare weekday is the last one
on or before publication ("Russian film makers on Tuesday released ..." in an article of
Wednesday 8 March 2023 is 7 March), unless the sentence speaks of the future ("will",
"scheduled"), when it is the next one; a day or month without a year is the occurrence
nearest the publication date (ties: the past, or the future in a sentence about it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from types import MappingProxyType

from dateutil import parser as du_parser
from dateutil.relativedelta import FR, MO, SA, SU, TH, TU, WE, relativedelta

from . import words

MONTHS = MappingProxyType({w: i for i, ms in enumerate(words.MONTHS) for w in ms})
WEEKDAYS = MappingProxyType(dict(zip(words.WEEKDAY_NAMES, (MO, TU, WE, TH, FR, SA, SU),
                                     strict=True)))
NUMBERS = MappingProxyType({"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4,
                            "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
                            "eleven": 11, "twelve": 12})
#: ``date.toordinal()`` of 1970-01-01: stored dates are days since then.
EPOCH = date(1970, 1, 1).toordinal()
MONTH_NAMES = tuple(m.title() for m in words.MONTH_NAMES)
#: Words before a date that make it a bound rather than the date of an event.
QUALIFIERS = ("after", "before", "by", "until", "till", "since")

_MON = (r"(?P<{g}>Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|"
        r"Aug(?:ust)?|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\.?")
_DAY = r"(?P<{g}>[0-3]?\d)(?:st|nd|rd|th)?"
_YEAR = r"(?P<{g}>1[89]\d\d|20\d\d)"
_WDAY = r"(?P<wd>Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)"
#: A bare month name counts only after one of these words ("May" is also a verb).
_MONTH_LEAD = (r"(?:in|since|by|until|till|from|during|through|early|late|mid-?|last|next|"
               r"this|of|before|after|earlier\s+this|later\s+this)")
_NUM = r"(?P<n>\d+|an?|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|few)"

_PATTERNS = (
    ("iso", rf"\b{_YEAR.format(g='y')}-(?P<m>[01]\d)-(?P<d>[0-3]\d)(?!\d)"),
    ("mdy", rf"\b{_MON.format(g='mon')}\s+{_DAY.format(g='d')},?\s+{_YEAR.format(g='y')}\b"),
    ("dmy", rf"\b{_DAY.format(g='d')}\s+(?:of\s+)?{_MON.format(g='mon')},?\s+"
            rf"{_YEAR.format(g='y')}\b"),
    ("my", rf"\b{_MON.format(g='mon')},?\s+(?:of\s+)?{_YEAR.format(g='y')}\b"),
    ("md", rf"\b{_MON.format(g='mon')}\s+{_DAY.format(g='d')}\b(?!\s*,?\s*\d)"),
    ("dm", rf"\b{_DAY.format(g='d')}\s+(?:of\s+)?{_MON.format(g='mon')}\b"),
    ("mon", rf"\b(?P<lead>{_MONTH_LEAD})(?:\s+|(?<=-))(?:the\s+month\s+of\s+)?"
            rf"{_MON.format(g='mon')}\b(?!\s*,?\s*(?:of\s+)?\d)"),
    ("wday", rf"\b(?:(?P<rel>last|next|this|on)\s+)?{_WDAY}\b"),
    ("word", r"\b(?P<w>today|tonight|yesterday|tomorrow)\b"),
    ("period", r"\b(?P<rel>last|next|this|earlier\s+this|later\s+this|past)\s+"
               r"(?P<unit>month|year)\b"),
    ("ago", rf"\b{_NUM}\s+(?P<unit>days?|weeks?|months?|years?)\s+ago\b"),
    ("year", rf"(?<![\d,.$-]){_YEAR.format(g='y')}(?!\d|[,.]\d|-\d|\s*(?:%|percent))"),
)
_RXS = tuple((name, re.compile(rx, re.I)) for name, rx in _PATTERNS)
_FUTURE = re.compile(r"\b(will|scheduled|schedule|upcoming|plans?\s+to|set\s+to|due\s+to|"
                     r"expected\s+to|is\s+to|are\s+to)\b", re.I)
_QUALIFIER = re.compile(r"\b(" + "|".join(QUALIFIERS) + r")\s+(?:the\s+end\s+of\s+)?$", re.I)


@dataclass(frozen=True)
class DateMention:
    """A date expression in a text: ``text[start:end]``, its ISO ``value`` cut to its
    ``precision`` ("day", "month" or "year"; None when it could not be resolved),
    whether resolving it needed the publication date (``relative``), and a bound word
    before it ("after 2024": ``qualifier`` "after")."""

    start: int
    end: int
    text: str
    value: str | None
    precision: str
    relative: bool
    qualifier: str | None = None

    @property
    def label(self) -> str:
        """A reader's form of the value: "7 March 2023", "October 2021", "2020"."""
        return format_value(self.value, self.precision) if self.value else ""


def parse_published(value: object) -> date | None:
    """A publication date from front matter, HTML meta or JSONL (``2023-03-08``,
    ``2023-03-08T10:00:00Z``, ``March 8, 2023``, a ``date``); None when it names no day.

    Example:
        >>> parse_published("2023-03-08T10:00:00Z"), parse_published("soon")
        (datetime.date(2023, 3, 8), None)
    """
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}.*", text):
        try:
            return date.fromisoformat(text[:10])
        except ValueError:
            return None
    try:
        a = du_parser.parse(text, default=_SENTINEL_A)
        b = du_parser.parse(text, default=_SENTINEL_B)
    except (ValueError, OverflowError):
        return None
    return a.date() if a.date() == b.date() else None  # the text named the day itself


# two defaults that differ in every field: what both parses agree on came from the text
_SENTINEL_A = du_parser.parse("2001-01-01")
_SENTINEL_B = du_parser.parse("2002-02-02")


def parse_bound(value: object, *, end: bool, name: str = "date") -> date:
    """A filter bound: a ``date``, or ``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD``; a partial
    bound covers its whole period (``end``: its last day, else its first).

    Example:
        >>> parse_bound("2022", end=False), parse_bound("2024-02", end=True)
        (datetime.date(2022, 1, 1), datetime.date(2024, 2, 29))
    """
    from ..errors import InvalidArgumentError

    if isinstance(value, date):
        return value
    text = value.strip() if isinstance(value, str) else ""
    m = re.fullmatch(r"(\d{4})(?:-(\d{1,2})(?:-(\d{1,2}))?)?", text)
    try:
        if not m:
            raise ValueError
        y, mo, d = int(m.group(1)), m.group(2), m.group(3)
        if d is not None:
            return date(y, int(mo), int(d))
        if mo is not None:
            first = date(y, int(mo), 1)
            return first + relativedelta(months=1, days=-1) if end else first
        return date(y, 12, 31) if end else date(y, 1, 1)
    except ValueError:
        raise InvalidArgumentError(
            f"{name} must be a date like 2023-03-08, 2023-03 or 2023, not {value!r}.",
            hint=f"Give {name} as YYYY-MM-DD, YYYY-MM or YYYY.") from None


def format_value(value: str, precision: str) -> str:
    """``2023-03-07`` -> "7 March 2023", ``2021-10`` -> "October 2021", ``2020`` -> "2020".

    Example:
        >>> format_value("2023-03-07", "day"), format_value("2021-10", "month")
        ('7 March 2023', 'October 2021')
    """
    parts = [int(p) for p in value.split("-")]
    names = MONTH_NAMES
    if precision == "day" and len(parts) == 3:
        return f"{parts[2]} {names[parts[1] - 1]} {parts[0]}"
    if precision == "month" and len(parts) >= 2:
        return f"{names[parts[1] - 1]} {parts[0]}"
    return str(parts[0])


def find_dates(text: str, published: date | str | None = None) -> list[DateMention]:
    """Date expressions of ``text`` in order, resolved against ``published``.

    Example:
        >>> [(m.text, m.value) for m in find_dates(
        ...     "On Tuesday the trailer came out; the film was shot in October 2021.",
        ...     "2023-03-08")]
        [('On Tuesday', '2023-03-07'), ('October 2021', '2021-10')]
    """
    pub = parse_published(published)
    out = []
    for kind, m in _matches(text):
        g = {k: v for k, v in m.groupdict().items() if v is not None}
        future = bool(_FUTURE.search(_sentence_before(text, m.start())))
        try:
            got = _resolve(kind, g, pub, future)
        except (ValueError, OverflowError):
            continue  # "February 30": not a date
        if got is None:
            continue
        value, precision, relative = got
        lead = _QUALIFIER.search(text, max(0, m.start() - 30), m.start())
        qualifier = lead.group(1).lower() if lead else None
        if kind == "mon" and g.get("lead", "").lower() in QUALIFIERS:
            qualifier = g["lead"].lower()
        out.append(DateMention(m.start(), m.end(), m.group(), value, precision, relative,
                               qualifier))
    return out


def _matches(text: str) -> list[tuple[str, re.Match]]:
    """Matches of all patterns without overlaps, in text order: where two overlap, the
    longer wins ("October 5, 2021" over "October 5"), then the earlier pattern."""
    found = [(kind, m) for kind, rx in _RXS for m in rx.finditer(text)]
    order = sorted(range(len(found)), key=lambda i: (found[i][1].start() - found[i][1].end(),
                                                     found[i][1].start(), i))
    taken: list[tuple[int, int]] = []
    chosen = []
    for i in order:
        kind, m = found[i]
        if all(m.end() <= a or m.start() >= b for a, b in taken):
            taken.append((m.start(), m.end()))
            chosen.append((kind, m))
    return sorted(chosen, key=lambda x: x[1].start())


def _sentence_before(text: str, pos: int) -> str:
    """The sentence around ``pos``, roughly: from the last ". " or line break before it to
    the next one after it (a paragraph's end ends its last sentence).

    Example:
        >>> _sentence_before("He left on Sunday.\\n\\nShe will stay.", 11)
        'He left on Sunday.'
    """
    start = max(text.rfind(". ", 0, pos), text.rfind("\n", 0, pos), 0)
    ends = [e for e in (text.find(". ", pos), text.find("\n", pos)) if e >= 0]
    return text[start:min(ends) + 1 if ends else len(text)].strip()


def _month(name: str) -> int:
    n = name.lower().rstrip(".")
    return MONTHS.get(n) or MONTHS[n[:3]]


def _resolve(kind: str, g: dict, pub: date | None, future: bool
             ) -> tuple[str | None, str, bool] | None:
    """(ISO value or None, precision, relative) of one match, or None for a non-date."""
    if kind == "iso":
        return date(int(g["y"]), int(g["m"]), int(g["d"])).isoformat(), "day", False
    if kind in ("mdy", "dmy"):
        return date(int(g["y"]), _month(g["mon"]), int(g["d"])).isoformat(), "day", False
    if kind == "my":
        return f"{int(g['y']):04d}-{_month(g['mon']):02d}", "month", False
    if kind == "year":
        return g["y"], "year", False
    if kind in ("md", "dm"):
        month, day = _month(g["mon"]), int(g["d"])
        date(2000, month, day)  # raises for a day the month never has
        if pub is None:
            return None, "day", True
        options = []
        for y in (pub.year - 1, pub.year, pub.year + 1):
            try:
                options.append(date(y, month, day))
            except ValueError:  # 29 February
                continue
        best = min(options, key=lambda d: (abs((d - pub).days), (d < pub) == future))
        return best.isoformat(), "day", True
    if kind == "mon":
        month = _month(g["mon"])
        lead = " ".join(g["lead"].lower().split())
        if pub is None:
            return None, "month", True
        if lead == "last":
            y = pub.year if month < pub.month else pub.year - 1
        elif lead == "next":
            y = pub.year if month > pub.month else pub.year + 1
        elif lead in ("this", "earlier this", "later this"):
            y = pub.year
        else:
            months = [(y, month) for y in (pub.year - 1, pub.year, pub.year + 1)]
            y = min(months, key=lambda o: (abs((o[0] - pub.year) * 12 + o[1] - pub.month),
                                            ((o[0], o[1]) < (pub.year, pub.month)) == future))[0]
        return f"{y:04d}-{month:02d}", "month", True
    if kind == "wday":
        if pub is None:
            return None, "day", True
        wd = WEEKDAYS[g["wd"].lower()]
        rel = (g.get("rel") or "").lower()
        if rel == "next" or (future and rel != "last"):
            d = pub + relativedelta(days=+1, weekday=wd(+1))
        elif rel == "last":
            d = pub + relativedelta(days=-1, weekday=wd(-1))
        else:  # "on Tuesday", "Tuesday", "this Tuesday": the last one, publication day too
            d = pub + relativedelta(weekday=wd(-1))
        return d.isoformat(), "day", True
    if kind == "word":
        if pub is None:
            return None, "day", True
        shift = {"today": 0, "tonight": 0, "yesterday": -1, "tomorrow": 1}[g["w"].lower()]
        return (pub + relativedelta(days=shift)).isoformat(), "day", True
    if kind == "period":
        unit, rel = g["unit"].lower(), " ".join(g["rel"].lower().split())
        if pub is None:
            return None, unit, True
        step = {"last": -1, "past": -1, "next": 1}.get(rel, 0)
        if unit == "month":
            d = pub + relativedelta(months=step)
            return f"{d.year:04d}-{d.month:02d}", "month", True
        return f"{pub.year + step:04d}", "year", True
    if kind == "ago":
        n_text = g["n"].lower()
        if n_text == "few":
            return None  # "a few days ago": no definite date
        n = int(n_text) if n_text.isdigit() else NUMBERS[n_text]
        unit = g["unit"].lower().rstrip("s")
        precision = {"day": "day", "week": "day", "month": "month", "year": "year"}[unit]
        if pub is None:
            return None, precision, True
        d = pub - relativedelta(**{unit + "s": n})
        value = d.isoformat() if precision == "day" else (
            f"{d.year:04d}-{d.month:02d}" if precision == "month" else f"{d.year:04d}")
        return value, precision, True
    return None
