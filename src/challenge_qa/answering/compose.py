"""Extractive, cited answers: the sentences of the articles that answer the question.

Candidate sentences come from the top passages; ``shortlist`` picks the most promising
by a cheap score, and the trained reader (``encoders/reader.py``) reads each of them with
the question: the probability that it answers, and the short answer inside it
(``short``). The answer leads with the best sentence and its short answer; when no sentence is
judged an answer, the articles "do not cover" the question. A statement that two articles
make alike is said once and cites both.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

import numpy as np

from ..config import Settings
from ..encoders.reader import Reader, Reading
from ..search.index import Filters, SearchableIndex
from ..search.retrieve import (
    Hit,
    check_k,
    clean_question,
    json_safe,
    page_of,
)
from .conversation import Conversation
from .corroboration import corroboration, same_facts
from .dates import asks_when, in_sentence, with_dates
from .recent import parse_today, recent_filters
from .short import short_answer
from .shortlist import Shortlist, calibrated, read_shortlist, rerank_by_sentences, shortlist

NOT_FOUND = "The articles do not cover this question."
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
    #: The text actually searched: the question, with a follow-up's pronoun resolved and
    #: a recency phrase ("this week") taken out (its dates are in ``filters``).
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

        - ``question``: as asked; ``query``: what was searched (a follow-up's "he" resolved,
          "this week" taken out).
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


def answer(question: str, *, index: SearchableIndex, reader: Reader, history=(),
           k: int | None = None, per_article: bool = False, since: object = None,
           until: object = None, sources: Iterable[str] | str | None = None, as_of: object = None,
           today: object = None) -> Answer:
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
        today: The date that a question about recent news is relative to (a ``date`` or
            ``YYYY-MM-DD``; by default the current date): without ``since``, ``until``
            and ``as_of``, "this week", "since Monday", "in the last 3 days" or
            "recently" in the question become the date filters (``answering.recent``),
            over an index that has dated articles, and are taken out of the query.

    Example:
        >>> a = answer("Who plays the patient?", index=idx, reader=reader)  # doctest: +SKIP
        >>> a.short, a.text  # doctest: +SKIP
        ('Oleg Novitskiy', 'The patient is portrayed by real-life cosmonaut Oleg Novitskiy. [1]')
    """
    filters = Filters.make(since, until, sources, as_of)  # bad dates are refused first
    now = parse_today(today)
    s = index.settings
    k = check_k(s.k if k is None else k)
    q = clean_question(question, s.max_question_chars)
    searched = q
    if since is None and until is None and as_of is None:  # "What happened this week?"
        filters, searched = recent_filters(q, filters, index, now)
    used = {k: v for k, v in (("since", filters.since and filters.since.isoformat()),
                              ("until", filters.until and filters.until.isoformat()),
                              ("sources", list(filters.sources))) if v}
    query = Conversation.of(history).resolve(searched)
    absent = Answer(question=q, text=NOT_FOUND, found=False, query=query,
                    reader=reader.version, filters=used)
    sl = shortlist(query, index, max(k, s.answer_passages), per_article=per_article,
                   filters=filters)
    if sl is None:
        return absent
    reading, read = read_shortlist(reader, query, sl, s)
    j = judge(index, query, sl, reading, read)
    if j.confidence < s.answer_threshold:
        return replace(absent, hits=j.hits[:k], confidence=j.confidence)
    chosen = choose_statements(sl, j, len(read), s)
    citations, statements, text = cite(index, sl, chosen, j.dates)
    best = j.order[0]
    span = reading.spans[int(np.flatnonzero(read == best)[0])]
    sentence, start = sl.texts[best], sl.cands[sl.keys[best]][1]
    short = short_answer(sentence, start, span, query, j.dates[best],
                         index.lexical.question_terms(query), s)
    return Answer(question=q, text=text, found=True, citations=citations,
                  statements=statements, hits=j.hits[:k], query=query,
                  confidence=j.confidence, short=short.text,
                  short_start=start + short.start if short.text else None,
                  short_end=start + short.end if short.text else None,
                  short_date=short.date, reader=reader.version, filters=used)


@dataclass(frozen=True)
class Judged:
    """The reader's verdict on a shortlist: the final score of each candidate sentence
    (``order`` best first), the probability that it answers (``answers``, the best of them
    is the answer's ``confidence``), its resolved dates, and the passages re-ranked by
    their best sentence."""

    order: list[int]
    answers: np.ndarray
    confidence: float
    dates: list[list[dict]]
    hits: list[Hit]


def judge(idx: SearchableIndex, query: str, sl: Shortlist, reading: Reading, read: np.ndarray
          ) -> Judged:
    """Combine the reader's probabilities with the cheap score, the span score and, for a
    "when" question, whether the sentence's date resolves."""
    s = idx.settings
    keys, cands = sl.keys, sl.cands
    prob = np.full(len(keys), -np.inf)
    prob[read] = reading.score
    score = prob + s.answer_w_evidence * sl.cheap
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
    order = np.argsort(-(score + passage), kind="stable").tolist()
    # the rest of the score judges whether a sentence answers, as a probability
    # calibrated on the tuning articles (``calibrated``)
    answers = calibrated(score, s.answer_calibration)
    hits = rerank_by_sentences(sl.hits, [cands[kk][0].passage_id for kk in keys],
                               score + passage, min(len(sl.hits), s.answer_passages))
    return Judged(order, answers, float(answers.max()), dates, hits)


def choose_statements(sl: Shortlist, j: Judged, n_read: int, s: Settings) -> list[list[int]]:
    """The statements of the answer, best first: each a list of candidate ids, the first
    the sentence said, the others the same statement in other articles (cited too). A
    further statement must answer on its own (``answer_also``)."""
    keys, texts, svecs = sl.keys, sl.texts, sl.svecs
    best = j.order[0]
    chosen: list[list[int]] = []
    for i in j.order[:n_read]:
        same = next((st for st in chosen if texts[i] == texts[st[0]] or (
            float(svecs[i] @ svecs[st[0]]) >= s.same_statement and same_facts(
                texts[i], keys[i][1], j.dates[i], texts[st[0]], keys[st[0]][1],
                j.dates[st[0]]))), None)
        if same is not None:
            if all(keys[x][0] != keys[i][0] for x in same):
                same.append(i)  # another article says the same: cite it too
            continue
        if i != best and j.answers[i] < s.answer_also:
            continue
        if len(chosen) < s.answer_sentences:
            chosen.append([i])
    return chosen


def cite(idx: SearchableIndex, sl: Shortlist, chosen: list[list[int]], dates: list[list[dict]]
         ) -> tuple[list[Hit], list[Statement], str]:
    """The citations (numbered from 1), the statements and the answer's text with its
    ``[n]`` markers and resolved dates."""
    keys, cands, texts = sl.keys, sl.cands, sl.texts
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
    return citations, statements, text
