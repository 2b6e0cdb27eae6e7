"""Hybrid retrieval: dense (FAISS) and BM25 candidates, fused, de-duplicated, cited."""

from __future__ import annotations

import datetime as dt
import numbers
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ..errors import InvalidArgumentError, InvalidQuestionError
from ..text.lexical import find_terms
from .fusion import drop_overlapping, first_per_group, fuse
from .index import Filters, SearchableIndex

MAX_K = 1000


@dataclass(frozen=True)
class Hit:
    """One retrieved passage with its source and the sentence that best supports the query.

    Offsets are character offsets into the article text: ``article.text[start:end] == text``
    and ``article.text[sentence_start:sentence_end] == sentence``.
    """

    rank: int
    doc_id: str
    title: str
    source: str | None
    date: str | None
    url: str | None
    path: str
    passage_id: str
    text: str
    start: int
    end: int
    sentence: str
    sentence_start: int
    sentence_end: int
    score: float
    dense_score: float
    bm25_score: float
    #: The page of the supporting sentence (PDF articles), counting from 1; None otherwise.
    page: int | None = None

    #: The fields of ``to_dict()``: always the citation's, then with ``ranked`` the
    #: ranking's, then with ``passage`` the passage's.
    CITATION_FIELDS: ClassVar[tuple[str, ...]] = (
        "doc_id", "title", "source", "date", "url", "article_path", "page", "passage_id",
        "sentence", "sentence_start", "sentence_end")
    RANKED_FIELDS: ClassVar[tuple[str, ...]] = ("rank", "score")
    PASSAGE_FIELDS: ClassVar[tuple[str, ...]] = (
        "text", "start", "end", "dense_score", "bm25_score")

    @classmethod
    def from_row(cls, rec: dict, rank: int, sentence: tuple[int, int], *,
                 score: float = 0.0, dense_score: float = 0.0, bm25_score: float = 0.0
                 ) -> Hit:
        """The hit of one passage row (``Index.rows``) citing the sentence at article
        offsets ``sentence``."""
        sa, sb = sentence
        return cls(rank=rank, doc_id=rec["doc_id"], title=rec["title"], source=rec["source"],
                   date=rec["date"], url=rec["url"], path=rec["path"],
                   passage_id=rec["passage_id"], text=rec["text"], start=rec["start"],
                   end=rec["end"], sentence=rec["text"][sa - rec["start"]:sb - rec["start"]],
                   sentence_start=sa, sentence_end=sb, score=round(float(score), 6),
                   dense_score=round(float(dense_score), 6),
                   bm25_score=round(float(bm25_score), 6),
                   page=page_of(rec.get("pages", ()), sa))

    def to_dict(self, *, ranked: bool = True, passage: bool = False) -> dict[str, Any]:
        """The hit as JSON-safe values under stable names; compact by default (the quoted
        sentence, not the whole passage).

        Always (a citation): ``doc_id`` (the article's id), ``title``, ``source`` (the
        publisher), ``date`` (publication date, ISO), ``url``, ``article_path`` (the
        article's file in the corpus; not named ``path``, which ``gradio_client`` would
        take for a file to download), ``page`` (PDF articles, from 1; else null),
        ``passage_id``, ``sentence`` (the supporting sentence's text), ``sentence_start``,
        ``sentence_end`` (its character offsets in the article text).
        With ``ranked`` (default): ``rank`` (from 1) and ``score`` (the fused score).
        With ``passage``: ``text`` (the whole passage), ``start``, ``end`` (its offsets),
        ``dense_score`` and ``bm25_score``.

        Example:
            >>> h = Hit(1, "a.md", "T", "CNN", "2023-03-07", None, "a.md", "a.md#0", "One. Two.",
            ...         0, 9, "Two.", 5, 9, 0.5, 0.4, 1.2)
            >>> h.to_dict(ranked=False)["sentence"], sorted(h.to_dict(passage=True))[:3]
            ('Two.', ['article_path', 'bm25_score', 'date'])
        """
        out: dict[str, Any] = {
            "doc_id": self.doc_id, "title": self.title, "source": self.source,
            "date": self.date, "url": self.url, "article_path": self.path, "page": self.page,
            "passage_id": self.passage_id, "sentence": self.sentence,
            "sentence_start": self.sentence_start, "sentence_end": self.sentence_end}
        if ranked:
            out.update(rank=self.rank, score=self.score)
        if passage:
            out.update(text=self.text, start=self.start, end=self.end,
                       dense_score=self.dense_score, bm25_score=self.bm25_score)
        return json_safe(out)


def json_safe(value: Any) -> Any:
    """``value`` with only JSON's types: numpy numbers as Python numbers (a float that is
    not finite as None), dates as ISO strings, tuples and sets as lists.

    Example:
        >>> json_safe({"p": np.float32(0.5), "d": dt.date(2023, 3, 7), "t": (np.int64(1),)})
        {'p': 0.5, 'd': '2023-03-07', 't': [1]}
    """
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return json_safe(value.tolist())
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        f = float(value)
        return f if np.isfinite(f) else None
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    return value


@dataclass(frozen=True)
class Ranking:
    """Ranked passage rows for one question, before they are turned into hits."""

    question: str
    rows: np.ndarray
    score: np.ndarray
    dense: np.ndarray
    bm25: np.ndarray
    terms: list[str]


def clean_question(question: object, max_chars: int) -> str:
    """Validate a question and cut an over-long one at a word boundary."""
    if not isinstance(question, str):
        raise InvalidQuestionError(f"The question must be text, not {type(question).__name__}.")
    q = " ".join(question.replace("\x00", " ").split())
    if not q:
        raise InvalidQuestionError("The question is empty.")
    if len(q) > max_chars:
        cut = q.rfind(" ", 0, max_chars)
        q = q[: cut if cut > max_chars // 2 else max_chars]
    return q


def check_k(k: object) -> int:
    if isinstance(k, bool) or not isinstance(k, numbers.Integral):
        raise InvalidArgumentError(f"k must be a whole number, not {k!r}.",
                                   hint="Use a k between 1 and 1000, e.g. k=5.")
    if not 1 <= int(k) <= MAX_K:
        raise InvalidArgumentError(f"k must be between 1 and {MAX_K}, not {k}.",
                                   hint="Use a k between 1 and 1000, e.g. k=5.")
    return int(k)


def rank(index: SearchableIndex, questions: list[str], depth: int, *, per_article: bool = False,
         q_vecs: np.ndarray | None = None, filters: Filters | None = None) -> list[Ranking]:
    """Fuse dense and BM25 rankings for a batch of (already cleaned) questions.

    Each retriever contributes its top candidates; every candidate then gets both its exact
    dense score (from the stored vectors) and its BM25 score, so fusion sees no gaps.
    """
    s = index.settings
    n = index.size
    if n == 0 or not questions:
        return []
    per_doc_factor = 10 if per_article else 3
    n_cand = min(n, max(s.candidates, depth * per_doc_factor))
    if q_vecs is None:
        q_vecs = index.embedder.encode_queries(questions)
    terms = [index.lexical.query_terms(question) for question in questions]
    out = []
    for question, t, c in zip(questions, terms,
                              index.candidates(q_vecs, terms, n_cand, filters), strict=True):
        cand, dense, bm, spans = c.rows, c.dense, c.bm25, c.spans
        fused = fuse(dense, bm, s.dense_weight, s.score_norm)
        order = np.lexsort((cand, -fused))  # ties broken by row for determinism
        if per_article:
            keep = first_per_group(order, spans[:, 0])[:depth]
        else:
            keep = drop_overlapping(order, spans[:, 0], spans[:, 1], spans[:, 2],
                                    s.dedupe_overlap, depth)
        out.append(Ranking(question, cand[keep], fused[keep], dense[keep], bm[keep], t))
    return out


def sentence_spans(index: SearchableIndex, rows: list[int], texts: list[str],
                   starts: list[int]) -> list[np.ndarray]:
    """Article spans ``(k, 2)`` of each passage's sentences, as stored in the index."""
    return index.sentence_spans(rows)


def best_sentences(texts: list[str], offsets: list[int], spans: list[np.ndarray],
                   weights: dict[str, float]) -> list[tuple[int, int]]:
    """For each passage (``texts[i]`` starts at article offset ``offsets[i]`` and has the
    sentences ``spans[i]``), the span of its sentence sharing the most query weight; ties go
    to the earlier sentence. Only the query terms' occurrences are visited."""
    out = []
    for off, sp, found in zip(offsets, spans, find_terms(texts, weights), strict=True):
        best = 0
        if found and len(sp) > 1:
            have: dict[int, set[str]] = {}
            where = np.searchsorted(sp[:, 0], [off + pos for pos, _ in found], side="right")
            for i, (_, term) in zip(where.tolist(), found, strict=True):
                have.setdefault(max(i - 1, 0), set()).add(term)
            score = {i: sum(weights.get(t, 0.0) for t in ts) for i, ts in have.items()}
            best = min(score, key=lambda i: (-score[i], i))
        out.append((int(sp[best, 0]), int(sp[best, 1])))
    return out


def to_hits(index: SearchableIndex, ranking: Ranking) -> list[Hit]:
    weights = index.lexical.term_weights(ranking.terms)
    rows = ranking.rows.tolist()
    recs = index.rows(rows)
    texts = [r["text"] for r in recs]
    starts = [r["start"] for r in recs]
    sentences = best_sentences(texts, starts, sentence_spans(index, rows, texts, starts),
                               weights)
    return [Hit.from_row(rec, r, span, score=score, dense_score=dense, bm25_score=bm)
            for r, (rec, span, score, dense, bm) in enumerate(zip(
                recs, sentences, ranking.score, ranking.dense, ranking.bm25, strict=True), 1)]


def page_of(pages, offset: int) -> int | None:
    """The page (from 1) holding ``offset``, given where each page starts.

    Example:
        >>> page_of((0, 120, 300), 150), page_of((), 150)
        (2, None)
    """
    if not pages:
        return None
    return int(np.searchsorted(np.asarray(pages), offset, side="right"))


def retrieve(question: str, k: int | None = None, *, index: SearchableIndex,
             per_article: bool = False, since: object = None, until: object = None,
             sources: Iterable[str] | str | None = None, as_of: object = None) -> list[Hit]:
    """The ``k`` passages that best answer ``question``, best first.

    Args:
        question: A question in plain words; over-long ones are cut, empty ones refused.
        k: How many hits (1 to 1000); ``Settings.k`` (5) by default.
        index: The index to search (an ``Engine``'s, which ``Engine.retrieve`` passes).
        per_article: Return at most one passage (the best) per article.
        since, until: Only articles published in this range (``YYYY``, ``YYYY-MM``,
            ``YYYY-MM-DD`` or a ``date``; inclusive).
        sources: Only articles of these publishers (case-insensitive).
        as_of: Only articles published by this date: what was known then.

    Example:
        >>> hits = retrieve("Who directed The Challenge?", k=1, index=idx)  # doctest: +SKIP
        >>> hits[0].sentence  # doctest: +SKIP
        'The movie was shot over a course of roughly two weeks after a crew consisting of ...'
    """
    filters = Filters.make(since, until, sources, as_of)  # bad dates are refused first
    idx = index
    k = check_k(idx.settings.k if k is None else k)
    q = clean_question(question, idx.settings.max_question_chars)
    ranking = rank(idx, [q], k, per_article=per_article, filters=filters)
    return to_hits(idx, ranking[0]) if ranking else []
