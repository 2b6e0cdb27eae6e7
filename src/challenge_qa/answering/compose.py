"""Extractive, cited answers: the sentences of the articles that answer the question.

Candidate sentences come from the top passages. A cheap score (embedding cosine, how much
of the question's weighted terms a sentence covers, whether it holds the kind of thing
asked for) picks the most promising ones, and the trained reader (``reader.py``) reads each
of them with the question: the probability that it answers, and the short answer inside
it. The answer leads with the best sentence and its short answer; when no sentence is
judged an answer, the articles "do not cover" the question. A statement that two articles
make alike is said once and cites both.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

import numpy as np

from ..config import TIDY_RULES, Settings
from ..encoders.reader import Reader, Reading
from ..search.index import Filters, Index
from ..search.retrieve import (
    Hit,
    check_k,
    clean_question,
    json_safe,
    page_of,
    rank,
    sentence_spans,
    to_hits,
)
from ..text.lexical import find_terms
from .conversation import Conversation, names
from .news import asks_when, corroboration, in_sentence, same_facts, with_dates

NOT_FOUND = "The articles do not cover this question."
_MONTHS = ("january|february|march|april|may|june|july|august|september|october|november|"
           "december|jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec")
# What kind of answer a question asks for, and what a sentence holding one looks like.
_ANSWER_TYPES = (
    (re.compile(r"^\s*(who|whom|whose)\b|\bwhich (person|actor|actress|director)\b", re.I),
     re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][a-z]+(?:[ -][A-Z][a-z]+)+")),
    (re.compile(r"^\s*when\b|\bwhat (year|date|day|month|time)\b|\bwhich year\b", re.I),
     re.compile(rf"\b(1[5-9]\d\d|20\d\d|{_MONTHS})\b|\b\d{{1,2}}(st|nd|rd|th)\b|"
                r"\b(monday|tuesday|wednesday|thursday|friday|saturday|sunday)\b", re.I)),
    (re.compile(r"\bhow long\b|\bfor how\b|\bwhat (duration|period)\b", re.I),
     re.compile(r"\b(second|minute|hour|day|week|month|year|decade|centur)", re.I)),
    (re.compile(r"\bhow (many|much|far|old|big|large|high|often|fast)\b|"
                r"\bwhat (percentage|number|amount)\b", re.I),
     re.compile(r"\d|\b(one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|"
                r"twenty|thirty|forty|fifty|hundred|thousand|million|billion|dozen|several|"
                r"few)\b", re.I)),
    (re.compile(r"^\s*where\b", re.I),
     re.compile(r"\b(in|at|from|on|near|above|aboard|to)\s+(the\s+)?[A-Z]")),)
PREFIX = 5


@dataclass(frozen=True)
class Statement:
    """One sentence of the answer and the numbers of the citations behind it (1-based)."""

    text: str
    citations: list[int]
    #: The date mentions of the sentence, resolved against its article's publication date:
    #: dicts with text, value (ISO, cut to its precision), precision, label, start, end
    #: (article offsets), relative, qualifier.
    dates: list[dict] = field(default_factory=list)
    #: How many distinct articles state it among the passages read, and their publishers.
    articles: int = 1
    sources: list[str] = field(default_factory=list)

    #: The fields of ``to_dict()``.
    JSON_FIELDS: ClassVar[tuple[str, ...]] = ("text", "citations", "dates", "articles",
                                              "sources")

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: ``text`` (the sentence), ``citations`` (the numbers n of the ``[n]``
        behind it), ``dates`` (its date mentions, see above), ``articles`` (how many
        articles state it) and ``sources`` (their publishers)."""
        return json_safe({"text": self.text, "citations": self.citations,
                          "dates": self.dates, "articles": self.articles,
                          "sources": self.sources})


@dataclass(frozen=True)
class Answer:
    """An answer in Markdown with ``[n]`` markers; ``citations[n-1]`` is the hit behind ``[n]``.

    ``found`` is False when nothing in the articles is relevant: ``text`` then says so and
    ``hits`` holds the closest passages, none of them presented as the answer.
    """

    question: str
    text: str
    found: bool
    citations: list[Hit] = field(default_factory=list)
    statements: list[Statement] = field(default_factory=list)
    hits: list[Hit] = field(default_factory=list)
    #: The text actually searched: the question, with a follow-up's pronoun resolved.
    query: str = ""
    #: The probability (0..1) that the first statement answers the question: the best
    #: candidate sentence's final score (the reader's probability plus the weighted cheap
    #: score and short-answer logit, ``Settings.answer_w_*``), calibrated
    #: (``Settings.answer_calibration``).
    confidence: float = 0.0
    #: The short answer: the exact words of the first statement that answer the question,
    #: at ``short_start:short_end`` in the article of ``citations[0]``.
    short: str | None = None
    short_start: int | None = None
    short_end: int | None = None
    #: When the short answer is a relative date ("Tuesday"), its resolved value ("7 March
    #: 2023").
    short_date: str | None = None
    #: The reader model (version+hash) that judged the sentences.
    reader: str = ""
    #: The filters the answer was limited to (since, until, sources), when any.
    filters: dict = field(default_factory=dict)

    @property
    def markdown(self) -> str:
        """The short answer in bold, then the cited statements."""
        if not (self.found and self.short):
            return self.text
        when = f" [{self.short_date}]" if self.short_date else ""
        return f"**{self.short}**{when} — {self.text}"

    #: The fields of ``to_dict()``, in order.
    JSON_FIELDS: ClassVar[tuple[str, ...]] = (
        "question", "query", "found", "short", "short_date", "short_start", "short_end",
        "confidence", "text", "statements", "citations", "hits", "reader", "filters")

    def to_dict(self) -> dict[str, Any]:
        """The answer as JSON-safe values under stable names (what the API and MCP tools
        return):

        - ``question``: as asked; ``query``: what was searched (a follow-up's "he" resolved).
        - ``found``: false when the articles do not cover the question (``text`` says so,
          ``hits`` are the closest passages).
        - ``short``: the short answer, or null; ``short_date``: its resolved date when it
          is a relative one ("7 March 2023"); ``short_start``, ``short_end``: its offsets
          in the article of ``citations[0]``.
        - ``confidence``: the probability (0..1) that the first statement answers.
        - ``text``: the answer with ``[n]`` markers.
        - ``statements``: each with ``text``, ``citations`` (its n), ``dates``,
          ``articles`` and ``sources`` (``Statement.to_dict``).
        - ``citations``: the n-th is the source of ``[n]``, compact (``Hit.to_dict``
          without ranking or passage: article, passage id, the quoted sentence and its
          offsets).
        - ``hits``: the retrieved passages, compact (``Hit.to_dict``: with rank and score,
          the best sentence, not the passage text).
        - ``reader``: the reader model's version; ``filters``: the filters applied.
        """
        return json_safe({
            "question": self.question, "query": self.query, "found": self.found,
            "short": self.short, "short_date": self.short_date,
            "short_start": self.short_start, "short_end": self.short_end,
            "confidence": round(float(self.confidence), 4), "text": self.text,
            "statements": [st.to_dict() for st in self.statements],
            "citations": [h.to_dict(ranked=False) for h in self.citations],
            "hits": [h.to_dict() for h in self.hits],
            "reader": self.reader, "filters": self.filters})


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


def term_coverage(question_weights: dict[str, float], sentence_tokens: list[list[str]],
                  prefix: int = PREFIX) -> np.ndarray:
    """Share of the question's term weight found in each sentence.

    Stems match when equal or when they share their first ``prefix`` letters, so that
    "directed" finds "director".

    Example:
        >>> term_coverage({"direct": 2.0, "film": 1.0}, [["director"], ["film", "x"], []])
        array([0.66666667, 0.33333333, 0.        ])
    """
    total = sum(question_weights.values()) or 1.0
    keys = {t: t[:prefix] if len(t) >= prefix else t for t in question_weights}
    out = np.zeros(len(sentence_tokens))
    for i, toks in enumerate(sentence_tokens):
        have = set(toks) | {t[:prefix] for t in toks if len(t) >= prefix}
        out[i] = sum(w for t, w in question_weights.items() if keys[t] in have) / total
    return out


def answer_type_match(question: str, sentences: list[str]) -> np.ndarray:
    """1.0 for sentences holding the kind of thing the question asks for (a name for
    "who", a date for "when", a number for "how many"), else 0.0."""
    for asks, holds in _ANSWER_TYPES:
        if asks.search(question):
            return np.array([1.0 if holds.search(t) else 0.0 for t in sentences])
    return np.zeros(len(sentences))


def evidence(cos: np.ndarray, cover: np.ndarray, typed: np.ndarray, s: Settings) -> np.ndarray:
    """How promising each sentence is, before the reader reads it: cosine, term coverage
    and answer type."""
    return s.answer_w_cos * cos + s.answer_w_lex * cover + s.answer_w_type * typed


def rerank_by_sentences(hits: list[Hit], passage_of: list[str], score: np.ndarray,
                        top: int) -> list[Hit]:
    """The first ``top`` hits reordered by their best candidate sentence's score (a sharper
    signal than the passage's: on SQuAD's even articles the article of the best sentence was
    the right one for 97.4 % of questions, the best passage's for 96.5 %); ranks renumbered.
    """
    best: dict[str, float] = {}
    for pid, sc in zip(passage_of, score.tolist(), strict=True):
        best[pid] = max(best.get(pid, -np.inf), sc)
    head = sorted(hits[:top], key=lambda h: -best.get(h.passage_id, -np.inf))  # stable
    return [replace(h, rank=r) for r, h in enumerate(head + hits[top:], 1)]


def _candidates(idx: Index, ranking, top: list[Hit], captions: bool = False):
    """The distinct sentences of the ``top`` passages: (hit, start, end) article spans,
    their texts, and each one's previous sentence in the same paragraph ("" after a break).
    Photo captions only with ``captions`` (a question about a picture)."""
    cands: dict[tuple[str, int], list] = {}
    spans = sentence_spans(idx, ranking.rows[:len(top)].tolist(), [h.text for h in top],
                           [h.start for h in top])
    for h, sp in zip(top, spans, strict=True):
        prev_end = h.start
        for j, (a, b) in enumerate(sp.tolist()):
            prev = ""
            if j and "\n" not in h.text[prev_end - h.start:a - h.start]:
                pa = int(sp[j - 1][0])
                prev = h.text[pa - h.start:prev_end - h.start]
            prev_end = b
            have = cands.get((h.doc_id, a))
            if have is None:
                cands[(h.doc_id, a)] = [h, a, b, prev]
            elif prev and not have[3]:
                have[3] = prev
    keys = list(cands)
    texts = [cands[k][0].text[cands[k][1] - cands[k][0].start:cands[k][2] - cands[k][0].start]
             for k in keys]
    keep = [i for i, t in enumerate(texts) if captions or not is_caption(t)] or list(
        range(len(keys)))
    keys = [keys[i] for i in keep]
    return keys, {k: cands[k] for k in keys}, [texts[i] for i in keep]


_CAPTION = re.compile(r"^\W*\[[^\]]*\b(?:image|photo|picture|credit|source)s?\s*:[^\]]*\]\W*$"
                      r"|^\W*(?:image|photo|picture|credit)s?\s*:", re.I)


_ABOUT_PICTURE = re.compile(r"\b(?:photo\w*|pic(?:ture[sd]?|s)?|image|caption|pictured|shown|"
                            r"foreground|background)\b", re.I)


def is_caption(sentence: str) -> bool:
    """A photo caption or credit line ("[The crew (left to right); Image: Roscosmos]"): it
    names who is in a picture and states nothing else, so it answers only a question about
    the picture ("Who is on the left in the photo?").

    Example:
        >>> is_caption("[Yulia Peresild and Klim Shipenko; Image: Roscosmos]")
        True
        >>> is_caption("Photo: NASA")
        True
        >>> is_caption("The image of the crew was released by Roscosmos.")
        False
    """
    return bool(_CAPTION.search(sentence))


@dataclass(frozen=True)
class Shortlist:
    """The candidate sentences of a question and the ones the reader reads."""

    hits: list[Hit]  #: the ranked passages
    keys: list[tuple[str, int]]  #: (article, sentence start) of each candidate
    cands: dict  #: key -> [hit, start, end, previous sentence]
    texts: list[str]  #: each candidate's text
    cheap: np.ndarray  #: each candidate's cheap score
    svecs: np.ndarray  #: each candidate's embedding
    read: np.ndarray  #: the candidates the reader reads, best cheap score first
    docs: dict = field(default_factory=dict)  #: article id -> article number


def shortlist(query: str, idx: Index, depth: int, *, per_article: bool = False,
              filters: Filters | None = None) -> Shortlist | None:
    """Retrieve ``depth`` passages for ``query`` and pick the sentences the reader reads:
    the ``answer_read`` best by the cheap score among the sentences of the top
    ``answer_passages`` passages. None when nothing is retrieved. The reader's training
    script draws its hard negatives from this same shortlist."""
    s = idx.settings
    qvec = idx.embedder.encode_queries([query])  # one encoding serves search and sentences
    ranking = rank(idx, [query], depth, per_article=per_article, q_vecs=qvec,
                   filters=filters)
    hits = to_hits(idx, ranking[0]) if ranking else []
    if not hits:
        return None
    top = hits[: s.answer_passages]
    keys, cands, texts = _candidates(idx, ranking[0], top,
                                     captions=bool(_ABOUT_PICTURE.search(query)))
    svecs = idx.sentence_vectors.get([(d, a, cands[(d, a)][2]) for d, a in keys], texts)
    cover = term_coverage(idx.lexical.term_weights(idx.lexical.question_terms(query)),
                          idx.lexical.tokenizer.tokenize(texts))
    prior = 1.0 - np.array([cands[kk][0].rank - 1 for kk in keys]) / s.answer_passages
    cheap = evidence(svecs @ qvec[0], cover, answer_type_match(query, texts), s) \
        + s.answer_w_passage * prior
    read = np.argsort(-cheap, kind="stable")[: s.answer_read]
    docs = dict(zip([h.doc_id for h in top],
                    idx.spans(ranking[0].rows[:len(top)])[:, 0].tolist(), strict=True))
    return Shortlist(hits, keys, cands, texts, cheap, svecs, read, docs)


def calibrated(score: np.ndarray, platt: tuple[float, float]) -> np.ndarray:
    """The probability that a sentence answers the question, from its final score:
    ``1 / (1 + exp(-(a * score + b)))`` with ``(a, b) = platt``, fitted on the tuning
    articles (``python -m benchmarks.squad_v2 --calibrate``). A sentence the reader did not
    read (score -inf) gets 0.

    Example:
        >>> calibrated(np.array([0.0, 1.0, -np.inf]), (2.0, -1.0)).round(3)
        array([0.269, 0.731, 0.   ])
    """
    a, b = platt
    with np.errstate(over="ignore", invalid="ignore"):
        z = np.where(np.isfinite(score), a * score + b, -np.inf)
        return 1.0 / (1.0 + np.exp(-z))


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


def answer(question: str, *, index: Index, reader: Reader, history=(), k: int | None = None,
           per_article: bool = False, since: object = None, until: object = None,
           sources: Iterable[str] | str | None = None, as_of: object = None) -> Answer:
    """Answer ``question`` with one to three cited sentences from the articles, led by the
    short answer.

    Args:
        question: The question in plain words.
        history: The conversation so far: a ``Conversation`` (its turns were resolved when
            asked), or what ``Conversation.from_pairs`` takes ((question, answer) pairs,
            an answer being an ``Answer``, the API's result or the answer's text; or
            Gradio message dicts): a follow-up's "he" or "it" is resolved against it.
        k: How many passages to show as sources (``Settings.k`` by default).
        index: The index to search (an ``Engine``'s, which ``Engine.answer`` passes).
        reader: The answer reader that reads the shortlisted sentences.
        per_article: At most one retrieved passage per article.
        since, until: Only articles published in this range (``YYYY``, ``YYYY-MM``,
            ``YYYY-MM-DD`` or a ``date``; inclusive).
        sources: Only articles of these publishers (case-insensitive).
        as_of: Only articles published by this date: what was known then.

    Example:
        >>> a = answer("Who plays the patient?", index=idx, reader=reader)  # doctest: +SKIP
        >>> a.short, a.text  # doctest: +SKIP
        ('Oleg Novitskiy', 'The patient is portrayed by real-life cosmonaut Oleg Novitskiy. [1]')
    """
    filters = Filters.make(since, until, sources, as_of)  # bad dates are refused first
    used = {k: v for k, v in (("since", filters.since and filters.since.isoformat()),
                              ("until", filters.until and filters.until.isoformat()),
                              ("sources", list(filters.sources))) if v}
    idx = index
    s = idx.settings
    k = check_k(s.k if k is None else k)
    q = clean_question(question, s.max_question_chars)
    query = Conversation.of(history).resolve(q)
    sl = shortlist(query, idx, max(k, s.answer_passages), per_article=per_article,
                   filters=filters)
    if sl is None:
        return Answer(question=q, text=NOT_FOUND, found=False, query=query,
                      reader=reader.version, filters=used)
    hits, keys, cands, texts, cheap, svecs, read = (
        sl.hits, sl.keys, sl.cands, sl.texts, sl.cheap, sl.svecs, sl.read)
    top = hits[: s.answer_passages]
    def items(rows: np.ndarray) -> list[tuple[str, str, str]]:
        return [(cands[keys[i]][0].title, cands[keys[i]][3], texts[i]) for i in rows.tolist()]

    # the best by the cheap score are read first; the rest only when none of them is a sure
    # answer (``answer_read_enough``) and one comes near (``answer_read_hopeless``)
    reading: Reading = reader.read(query, items(read[: s.answer_read_first]))
    if len(read) > s.answer_read_first:
        best_first = reading.score.max()
        if (s.answer_read_enough < 1.0 and best_first >= s.answer_read_enough) or (
                best_first < s.answer_read_hopeless):
            read = read[: s.answer_read_first]
        else:
            more = reader.read(query, items(read[s.answer_read_first:]))
            reading = Reading(np.concatenate([reading.score, more.score]),
                              reading.spans + more.spans,
                              np.concatenate([reading.span_score, more.span_score]))
    prob = np.full(len(keys), -np.inf)
    prob[read] = reading.score
    score = prob + s.answer_w_evidence * cheap
    score[read] += s.answer_w_span * reading.span_score
    mentions = idx.date_mentions(sl.docs.values())
    dates = [in_sentence(mentions.get(sl.docs[d], ()), a, cands[(d, a)][2]) for d, a in keys]
    if asks_when(query):  # a "when" question prefers a sentence whose date resolves
        dated = np.array([any(m["value"] and not m["qualifier"] for m in ds) for ds in dates])
        score[read] += s.answer_w_date * dated[read]
    # the passage's retrieval score helps choose among the sentences (measured on the
    # tuning articles, docs/experiments.md), but being a z-score among this question's
    # passages it says nothing of whether any answers
    passage = s.answer_w_hit * np.array([cands[kk][0].score for kk in keys])
    order = np.argsort(-(score + passage), kind="stable")
    best = int(order[0])
    # the rest of the score judges whether a sentence answers, as a probability
    # calibrated on the tuning articles (``calibrated``)
    answers = calibrated(score, s.answer_calibration)
    confidence = float(answers.max())
    score = score + passage
    hits = rerank_by_sentences(hits, [cands[kk][0].passage_id for kk in keys], score,
                               len(top))
    if confidence < s.answer_threshold:
        return Answer(question=q, text=NOT_FOUND, found=False, hits=hits[:k], query=query,
                      confidence=confidence, reader=reader.version, filters=used)

    chosen: list[list[int]] = []  # each statement: candidate ids, first is the one said
    for i in order[: len(read)].tolist():
        same = next((st for st in chosen if texts[i] == texts[st[0]] or (
            float(svecs[i] @ svecs[st[0]]) >= s.same_statement and same_facts(
                texts[i], keys[i][1], dates[i], texts[st[0]], keys[st[0]][1], dates[st[0]]))),
            None)
        if same is not None:
            if all(keys[j][0] != keys[i][0] for j in same):
                same.append(i)  # another article says the same: cite it too
            continue
        if i != best and answers[i] < s.answer_also:
            continue  # a further statement must answer too
        if len(chosen) < s.answer_sentences:
            chosen.append([i])

    citations: list[Hit] = []
    statements: list[Statement] = []
    pages = idx.pages([sl.docs[keys[i][0]] for st in chosen for i in st])
    for st in chosen:
        nums = []
        for i in st:
            h, a, b, _ = cands[keys[i]]
            citations.append(replace(h, rank=len(citations) + 1, sentence=texts[i],
                                     sentence_start=a, sentence_end=b,
                                     page=page_of(pages.get(sl.docs[keys[i][0]], ()), a)))
            nums.append(len(citations))
        n_art, names = corroboration((citations[n - 1].doc_id, citations[n - 1].source,
                                      citations[n - 1].title) for n in nums)
        statements.append(Statement(text=texts[st[0]], citations=nums, dates=dates[st[0]],
                                    articles=n_art, sources=names))
    text = " ".join(with_dates(st.text, cands[keys[i[0]]][1], st.dates) + " "
                    + "".join(f"[{n}]" for n in st.citations)
                    for st, i in zip(statements, chosen, strict=True))
    sa, sb = reading.spans[int(np.flatnonzero(read == best)[0])]
    short = texts[best][sa:sb] if sb > sa and not is_yes_no(query) else None
    if short and asks_why(query) and not is_clause(short, s.answer_why_words):
        short = None  # a "why" is answered by a clause, not by a word of the sentence
    if short:
        sa, sb = tidy_short(texts[best], (sa, sb), query, s.answer_tidy)
        short = texts[best][sa:sb]
    start = cands[keys[best]][1]
    short_date = None
    if asks_when(query):  # the date the question asks about, resolved
        m = date_answer(texts[best], start, dates[best], (sa, sb),
                        idx.lexical.question_terms(query))
        if m is not None:
            sa, sb = m["start"] - start, m["end"] - start
            short = texts[best][sa:sb]
            short_date = m["label"] if m["relative"] else None
    return Answer(question=q, text=text, found=True, citations=citations,
                  statements=statements, hits=hits[:k], query=query, confidence=confidence,
                  short=short, short_start=start + sa if short else None,
                  short_end=start + sb if short else None, short_date=short_date,
                  reader=reader.version,
                  filters=used)
