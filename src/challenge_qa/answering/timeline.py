"""The story in order: the dated events of the articles about a topic.

``timeline(topic)`` finds the articles about the topic (hybrid retrieval, best passage per
article), takes the date mentions of their sentences that resolved against the article's
publication date (bounds such as "after 2024" are not events), and turns each into an
event. The same event reported by several articles
becomes one event citing all of them: two reports are the same event when their dates
agree at the coarser precision ("5 October 2021" and "October 2021") and their sentences
say the same (cosine of the sentence embeddings, a stricter bar when the dates are not
the same day).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, ClassVar

import numpy as np

from ..config import Settings
from ..search.index import Filters, SearchableIndex
from ..search.retrieve import Hit, clean_question, json_safe, rank
from ..text.dates import format_value
from .corroboration import corroboration

_PRECISION = MappingProxyType({"year": 0, "month": 1, "day": 2})


@dataclass(frozen=True)
class Event:
    """One dated event: ``date`` is ISO cut to its ``precision`` ("2021-10-05",
    "2022-07", "2020"); ``text`` quotes the sentence of ``citations[0]``; every citation
    is a report of it (its ``sentence`` is the quoted sentence of that article)."""

    date: str
    precision: str
    label: str
    text: str
    citations: list[Hit] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    #: The words that date it in the quoted sentence ("on Tuesday").
    mention: str = ""

    #: The fields of ``to_dict()``, in order.
    JSON_FIELDS: ClassVar[tuple[str, ...]] = ("date", "precision", "label", "text", "mention",
                                              "sources", "citations")

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: ``date`` (ISO cut to its precision), ``precision`` ("day", "month" or
        "year"), ``label`` ("5 October 2021"), ``text`` (the quoted sentence), ``mention``
        (the words that date it), ``sources`` (the publishers reporting it) and
        ``citations`` (each report, compact: ``Hit.to_dict`` without ranking or passage)."""
        return json_safe({"date": self.date, "precision": self.precision, "label": self.label,
                          "text": self.text, "mention": self.mention, "sources": self.sources,
                          "citations": [c.to_dict(ranked=False) for c in self.citations]})


@dataclass(frozen=True)
class Timeline:
    """The events of ``topic`` in date order, from ``articles`` articles."""

    topic: str
    events: list[Event] = field(default_factory=list)
    articles: int = 0
    filters: dict = field(default_factory=dict)

    #: The fields of ``to_dict()``, in order.
    JSON_FIELDS: ClassVar[tuple[str, ...]] = ("topic", "articles", "filters", "events")

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: ``topic`` (as searched), ``articles`` (how many articles about it
        were read), ``filters`` (the filters applied: since, until, sources) and ``events``
        (in date order, ``Event.to_dict``)."""
        return json_safe({"topic": self.topic, "articles": self.articles,
                          "filters": self.filters,
                          "events": [e.to_dict() for e in self.events]})


@dataclass
class _Report:
    value: str
    precision: str
    doc: int
    start: int
    end: int
    mention: str
    vec: np.ndarray


def timeline(topic: str, *, index: SearchableIndex, since: object = None,
             until: object = None, sources: Iterable[str] | str | None = None) -> Timeline:
    """The dated events of the articles about ``topic``, in date order.

    Args:
        topic: What the story is about ("The Challenge").
        index: The index to search (an ``Engine``'s, which ``Engine.timeline`` passes).
        since, until: Only articles published in this range (``YYYY``, ``YYYY-MM``,
            ``YYYY-MM-DD`` or a ``date``).
        sources: Only articles of these publishers (case-insensitive).

    Example:
        >>> t = timeline("The Challenge", index=idx)  # doctest: +SKIP
        >>> [(e.label, e.sources) for e in t.events][:2]  # doctest: +SKIP
        [('November 2020', ['CNN']), ('5 October 2021', ["New trailer for 'The Challenge', ..."])]
    """
    filters = Filters.make(since, until, sources)
    used = {k: v for k, v in (("since", filters.since and filters.since.isoformat()),
                              ("until", filters.until and filters.until.isoformat()),
                              ("sources", list(filters.sources))) if v}
    idx = index
    s = idx.settings
    q = clean_question(topic, s.max_question_chars)
    qvec = idx.embedder.encode_queries([q])
    ranking = rank(idx, [q], s.timeline_articles, per_article=True, q_vecs=qvec,
                   filters=filters)
    if not ranking or not len(ranking[0].rows):
        return Timeline(topic=q, filters=used)
    r = ranking[0]
    keep = r.dense >= s.timeline_min_article
    docs = idx.spans(r.rows[keep])[:, 0].tolist()
    mentions = [m for ms in idx.date_mentions(docs).values() for m in ms
                if m["value"] and not m["qualifier"]]
    if not mentions:
        return Timeline(topic=q, articles=len(docs), filters=used)
    spans = list(dict.fromkeys((m["doc"], m["sent_start"], m["sent_end"]) for m in mentions))
    recs = idx.passages_at(spans)
    rec_of = dict(zip(spans, recs, strict=True))
    # reports are compared by the clause around their date: "the movie is scheduled for
    # release on April 12, 2023" and "“The Challenge” will be released on April 12" (0.50),
    # where their whole sentences differ (0.37)
    clauses = []
    for m in mentions:
        rec = rec_of[(m["doc"], m["sent_start"], m["sent_end"])]
        a, b = clause(rec["span_text"], m["start"] - m["sent_start"], m["end"] - m["sent_start"])
        clauses.append(((rec["doc_id"], m["sent_start"] + a, m["sent_start"] + b),
                        rec["span_text"][a:b]))
    vecs = idx.sentence_vectors.get([k for k, _ in clauses], [c for _, c in clauses])
    # every dated sentence of an article about the topic: a sentence's own similarity to
    # a short topic says little ("The Challenge" and the sentence dating its shoot: 0.07)
    reports = [_Report(m["value"], m["precision"], m["doc"], m["sent_start"], m["sent_end"],
                       m["text"], v) for m, v in zip(mentions, vecs, strict=True)]
    events = [_event(group, rec_of) for group in merge_reports(reports, s)]
    events.sort(key=lambda e: (e.date, _PRECISION[e.precision]))
    return Timeline(topic=q, events=events, articles=len(docs), filters=used)


_BREAK = re.compile(r"[,;:()\u2013\u2014]")


def clause(sentence: str, a: int, b: int) -> tuple[int, int]:
    """The span of the clause of ``sentence`` around ``sentence[a:b]`` (a date): from the
    punctuation before it to the punctuation after it.

    Example:
        >>> s = "A joint project, the movie is scheduled for release on April 12, 2023."
        >>> x, y = clause(s, 55, 69); s[x:y]
        'the movie is scheduled for release on April 12, 2023.'
    """
    left = [m.end() for m in _BREAK.finditer(sentence, 0, a)]
    lo = left[-1] if left else 0
    right = _BREAK.search(sentence, b)
    hi = right.start() if right else len(sentence)
    while lo < hi and sentence[lo].isspace():
        lo += 1
    return lo, hi


def same_date(a: str, b: str) -> bool:
    """Dates that agree at the coarser precision.

    Example:
        >>> same_date("2021-10-05", "2021-10"), same_date("2021-10", "2021-11")
        (True, False)
    """
    return a.startswith(b) or b.startswith(a)


def merge_reports(reports: list[_Report], s: Settings) -> list[list[_Report]]:
    """Group the reports of one event: the most precise report of a group comes first."""
    groups: list[list[_Report]] = []
    # the most precise first, so that each group is led by its best-dated report
    for rep in sorted(reports, key=lambda x: (-_PRECISION[x.precision], x.value, x.doc,
                                              x.start)):
        home = None
        for g in groups:
            lead = g[0]
            if not same_date(lead.value, rep.value):
                continue
            if any(x.doc == rep.doc and x.start == rep.start for x in g):
                home = g  # the same sentence dated twice at different precision
                break
            bar = s.timeline_same_day if lead.value == rep.value else s.timeline_same_event
            if all(x.doc != rep.doc for x in g) and float(lead.vec @ rep.vec) >= bar:
                home = g
                break
        if home is None:
            groups.append([rep])
        elif all(x.doc != rep.doc for x in home):
            home.append(rep)
    return groups


def _event(group: list[_Report], rec_of: dict) -> Event:
    lead = group[0]
    cites = []
    for n, rep in enumerate(group, 1):
        rec = rec_of[(rep.doc, rep.start, rep.end)]
        # the span's own text: a sentence may reach past the passage that holds its start
        cites.append(replace(Hit.from_row(rec, n, (rep.start, rep.end)),
                             sentence=rec["span_text"]))
    _, names = corroboration((c.doc_id, c.source, c.title) for c in cites)
    return Event(date=lead.value, precision=lead.precision,
                 label=format_value(lead.value, lead.precision), text=cites[0].sentence,
                 citations=cites, sources=names, mention=lead.mention)
