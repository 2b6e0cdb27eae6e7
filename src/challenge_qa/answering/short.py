"""The short answer inside the best sentence: the reader's span, tidied by rules measured
one by one on the tuning questions (``Settings.answer_tidy``), replaced by the resolved
date when the question asks "when", and left out where a span would mislead (a yes/no
question; a "why" answered by less than a clause).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from ..config import TIDY_RULES, Settings
from ..text.lexical import find_terms
from .conversation import names
from .dates import asks_when

_YES_NO = re.compile(r"^\W*(is|are|was|were|am|do|does|did|can|could|has|have|had|will|would|"
                     r"should|shall|may|might|must)\b", re.I)


def is_yes_no(question: str) -> bool:
    """A question answered by yes or no: its answer is a whole statement, not a phrase
    (the reader learnt phrases from SQuAD, which has no yes/no questions).

    Example:
        >>> is_yes_no("Is Oleg Novitskiy a real cosmonaut?"), is_yes_no("Who plays him?")
        (True, False)
    """
    return bool(_YES_NO.match(question))


_FOCUS = re.compile(r"^\W*(?:(?:which|what)\s+((?:\w+\s+){0,1}\w+)\s+(\w+)"
                    r"|who\s+(?:is|was|are|were)\s+(?:the|an?)\s+(\w+)|who\s+(\w+))", re.I)
_NAMED = re.compile(r"(?<![\w-])([A-Za-z]+)[ -]+((?:[A-Z][\w'’.-]*)(?:\s+[A-Z][\w'’-]*)+)")
_FOCUS_STOP = frozenset({"is", "was", "are", "were", "did", "does", "do", "has", "had", "the",
                         "a", "an", "of", "in", "on", "to", "be", "been", "will", "can"})


def _focus(question: str) -> set[str]:
    """Five-letter prefixes of the words that say what a "which"/"what"/"who" question asks
    for: the noun after "which"/"what" and the verb after it, the noun of "who was the
    ...", or the verb after "who".

    Example:
        >>> sorted(_focus("Who was the cosmonaut who flew with Peresild?"))
        ['cosmo']
        >>> sorted(_focus("Who directed the film?"))
        ['direc']
    """
    m = _FOCUS.match(question)
    if not m:
        return set()
    words = " ".join(g for g in m.groups() if g).lower().split()
    return {w[:5] for w in words if len(w) >= 5 and w not in _FOCUS_STOP}


def role_name(sentence: str, span: tuple[int, int], question: str) -> tuple[int, int] | None:
    """When the sentence names several people by role ("actress Yulia Peresild, Director
    Klim Shipenko and cosmonaut Anton Shkaplerov"), the short answer sits on a name whose
    role is not the one asked about, and exactly one other name carries that role: the
    ``(start, end)`` of that name in the sentence; else None. The role asked about is the
    noun after "which"/"what" or the verb after it or after "who" (prefixes of five
    letters match: "directed" finds "Director").

    Example:
        >>> s = "a crew of actress Yulia Peresild, Director Klim Shipenko and cosmonaut Anton"
        >>> a, b = role_name(s, (18, 32), "Who directed the film?"); s[a:b]
        'Klim Shipenko'
        >>> role_name(s, (43, 56), "Who directed the film?") is None  # already right
        True
        >>> s += " Shkaplerov"
        >>> a, b = role_name(s, (18, 32), "Who was the cosmonaut with them?"); s[a:b]
        'Anton Shkaplerov'
    """
    focus = _focus(question)
    if not focus:
        return None
    items = [(r.group(1).lower(), r.start(2), r.end(2)) for r in _NAMED.finditer(sentence)]
    a, b = span
    said = [it for it in items if it[1] < b and a < it[2]]
    if len(said) != 1 or said[0][0][:5] in focus:
        return None  # the short answer is no labelled name, or already the one asked for
    # a role is a noun: "designed Sage Gateshead" is a verb and its object
    asked = [it for it in items if it[0][:5] in focus and not it[0].endswith(("ed", "ing"))]
    if len(asked) != 1:
        return None
    return asked[0][1], asked[0][2]


# words that stand before a person's name as a title, not as part of the name
_TITLES = frozenset({"actor", "actress", "anchor", "astronaut", "author", "captain",
    "cardinal", "ceo", "chairman", "chairwoman", "chancellor", "chief", "coach",
    "commander", "composer", "cosmonaut", "director", "doctor", "dr", "editor", "engineer",
    "general", "governor", "judge", "king", "lieutenant", "lord", "minister", "mr", "mrs",
    "ms", "pilot", "pope", "president", "prime", "prince", "princess", "producer",
    "professor", "queen", "reporter", "senator", "sir", "writer"})


def whole_name(sentence: str, span: tuple[int, int], question: str = "") -> tuple[int, int]:
    """A short answer that is part of a name, widened to the whole name: the reader's span
    can stop a word short ("One Russia" of "Channel One Russia"). A leading title that is
    the role the question asks about stays out ("Klim Shipenko", not "Director Klim
    Shipenko", for "Who directed it?"), and so does a possessive ("Russia's"); a leading
    word that is no title stays in ("Channel One Russia" for "Which TV channel co-produced
    it?").

    Example:
        >>> s = "Produced by the studio and Channel One Russia – a state TV station."
        >>> a, b = whole_name(s, (35, 45)); s[a:b]
        'Channel One Russia'
        >>> whole_name(s, (16, 22))  # not a name
        (16, 22)
        >>> s = "a crew of Director Klim Shipenko"
        >>> a, b = whole_name(s, (19, 32), "Who directed it?"); s[a:b]
        'Klim Shipenko'
        >>> s = "Produced by Channel One Russia."
        >>> a, b = whole_name(s, (20, 30), "Which TV channel produced it?"); s[a:b]
        'Channel One Russia'
        >>> s = "the first human to space (Russia's Yuri Gagarin)"
        >>> a, b = whole_name(s, (35, 47)); s[a:b]  # a possessive is no part of the name
        'Yuri Gagarin'
    """
    a, b = span
    piece = sentence[a:b]
    if not piece or names(piece) != [piece]:
        return span
    for n in names(sentence):
        for m in re.finditer(re.escape(n), sentence):
            if m.start() <= a and b <= m.end():
                first = re.match(r"\S+\s+", m.group())
                word = first.group().strip().lower().rstrip(".") if first else ""
                if first and a >= m.start() + first.end() and (word.endswith(("'s", "’s")) or (
                        word in _TITLES and word[:5] in _focus(question))):
                    return m.start() + first.end(), m.end()
                return m.start(), m.end()
    return span


def date_answer(sentence: str, start: int, mentions: list[dict], span: tuple[int, int],
                terms: list[str]) -> dict | None:
    """The date mention of a sentence that answers a "when" question: the one the reader's
    span falls on, unless another sits much nearer the question's words ("Russian film
    makers on Tuesday released a trailer ... shot in space in 2021" for "When was the
    trailer released?"); its ``start`` skips a leading "on"/"in". None when the sentence
    has no resolved date."""
    found = [m for m in mentions if m["value"] and not m["qualifier"]]
    if not found:
        return None
    a, b = span[0] + start, span[1] + start
    where = [start + pos for pos, _ in find_terms([sentence], terms)[0]] or [a]

    def far(m: dict) -> int:
        return min(min(abs(m["start"] - w), abs(m["end"] - w)) for w in where)

    best = min(found, key=far)
    hit = [m for m in found if m["start"] < b and a < m["end"]]
    # the reader's choice stands unless another date sits much nearer the question's words
    if len(hit) == 1 and far(hit[0]) <= 3 * far(best) + 20:
        best = hit[0]
    lead = re.match(r"(?:on|in)\s+", sentence[best["start"] - start:best["end"] - start], re.I)
    return {**best, "start": best["start"] + (lead.end() if lead else 0)}


_WHY = re.compile(r"^\W*(?:why\b|how\s+come\b|for\s+what\s+reasons?\b)", re.I)


def asks_why(question: str) -> bool:
    """A question for a reason, answered by a clause ("because ...", "to ...").

    Example:
        >>> asks_why("Why did Russia want to leave the ISS?"), asks_why("Who left?")
        (True, False)
    """
    return bool(_WHY.match(question))


_REASON = re.compile(r"^(?:because|to|so|since|due|as|for|in order|by|after|owing)\b", re.I)


def is_clause(span: str, min_words: int) -> bool:
    """A span that can answer "why": it starts with a word giving a reason or a purpose
    ("because ...", "to popularize ...") or runs to ``min_words`` words.

    Example:
        >>> is_clause("the space station", 4), is_clause("to popularize space", 4)
        (False, True)
    """
    return bool(_REASON.match(span.strip())) or len(span.split()) >= min_words


def tidy_short(sentence: str, span: tuple[int, int], question: str,
               rules: Iterable[str] = TIDY_RULES) -> tuple[int, int]:
    """The reader's short answer ``span`` in ``sentence`` after the named tidying rules.

    Each rule is kept because leaving it out lost answers on questions the reader never
    trained on and no setting was chosen with (``python -m benchmarks.squad --split tune
    --grid answer_tidy=...``, 972 questions, ``results/squad.grid.tune.tidy.json``):
    without ``whole_name`` short-answer EM fell 0.509 -> 0.502, without ``role_name``
    0.509 -> 0.508 (and one of the 26 bundled dev questions lost its answer). Two more
    rules (cutting a list of names down to the role asked about; answering "Who is X?"
    with X's title) changed nothing there and were removed.

    Example:
        >>> s = "Produced by Channel One Russia."
        >>> a, b = tidy_short(s, (20, 30), "Which channel?"); s[a:b]
        'Channel One Russia'
        >>> tidy_short(s, (20, 30), "Which channel?", rules=())
        (20, 30)
    """
    rules = set(rules)
    sa, sb = span
    if "role_name" in rules:
        sa, sb = role_name(sentence, (sa, sb), question) or (sa, sb)
    if "whole_name" in rules:
        sa, sb = whole_name(sentence, (sa, sb), question)
    return sa, sb


@dataclass(frozen=True)
class Short:
    """A short answer: its text (None when there is none), its span in the sentence, and
    the resolved date it names when that date was relative ("last year")."""

    text: str | None
    start: int = 0
    end: int = 0
    date: str | None = None


def short_answer(sentence: str, start: int, span: tuple[int, int], question: str,
                 dates: list[dict], terms: list[str], s: Settings) -> Short:
    """The short answer of ``sentence`` (which starts at article offset ``start``) from the
    reader's ``span``: none for a yes/no question, nor for a "why" answered by less than a
    clause; tidied (``tidy_short``); for a "when" question, the date it asks about
    (``date_answer``, ``terms`` being the question's stems)."""
    sa, sb = span
    short = sentence[sa:sb] if sb > sa and not is_yes_no(question) else None
    if short and asks_why(question) and not is_clause(short, s.answer_why_words):
        short = None  # a "why" is answered by a clause, not by a word of the sentence
    if short:
        sa, sb = tidy_short(sentence, (sa, sb), question, s.answer_tidy)
        short = sentence[sa:sb]
    short_date = None
    if asks_when(question):  # the date the question asks about, resolved
        m = date_answer(sentence, start, dates, (sa, sb), terms)
        if m is not None:
            sa, sb = m["start"] - start, m["end"] - start
            short = sentence[sa:sb]
            short_date = m["label"] if m["relative"] else None
    return Short(short, sa, sb, short_date) if short else Short(None)
