"""A question's candidates before fusion: what the dense and BM25 sides propose, with
both exact scores for every candidate.

Gathering is two steps so that the index can be split: ``propose`` runs over some
segments (the whole index, or one shard of it) with corpus-wide BM25 statistics and
returns each side's best rows with their exact scores (a ``Proposal``); ``merge`` takes
the proposals of all shards and keeps what one index of all the segments would have
kept: the ``n`` best dense rows, the BM25 rows at or above the ``n``-th best score (ties
kept), each with its exact dense and BM25 score. One process is the case of one proposal.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from .bm25 import Lexical, Stats
from .dense import best
from .filters import Filters


class Segments(Protocol):
    """What ``propose`` searches: an ``Index`` (of a whole index, or of a shard)."""

    lexical: Lexical

    @property
    def size(self) -> int: ...
    def search_dense_scored(self, q_vecs: np.ndarray, n: int, filters: Filters | None = None,
                            *, live_total: int | None = None
                            ) -> list[tuple[np.ndarray, np.ndarray]]: ...
    def row_mask(self, filters: Filters | None) -> np.ndarray | None: ...
    def vectors(self, rows) -> np.ndarray: ...
    def spans(self, rows) -> np.ndarray: ...


@dataclass(frozen=True)
class Candidates:
    """One question's candidate rows (ascending), each with its exact dense score, BM25
    score and span ``(article number, start, end)``."""

    rows: np.ndarray
    dense: np.ndarray
    bm25: np.ndarray
    spans: np.ndarray


@dataclass(frozen=True)
class Proposal:
    """What some segments propose for one question: their best dense rows with the
    dense index's (possibly approximate) scores, their best BM25 rows, and for the union
    of both (``rows``, ascending) the exact dense and BM25 scores and the spans."""

    dense_rows: np.ndarray
    dense_approx: np.ndarray
    bm25_rows: np.ndarray
    rows: np.ndarray
    dense: np.ndarray
    bm25: np.ndarray
    spans: np.ndarray

    @classmethod
    def empty(cls) -> Proposal:
        z = np.zeros(0, np.int64)
        return cls(z, np.zeros(0, np.float32), z, z, np.zeros(0), np.zeros(0),
                   np.zeros((0, 3), np.int64))


def top_rows(scores: np.ndarray, n: int) -> np.ndarray:
    """Rows scoring above zero and at least the ``n``-th best score: ties at the cut are
    all kept, so the set (and the fused scores normalised over it) does not depend on
    row order, which differs between an index of many segments and its merge, nor on
    how the rows are split into shards.

    Example:
        >>> top_rows(np.array([0.0, 2.0, 1.0, 1.0, 3.0]), 2).tolist()
        [1, 4]
        >>> top_rows(np.array([0.0, 2.0, 1.0, 1.0, 3.0]), 3).tolist()
        [1, 2, 3, 4]
    """
    hit = np.flatnonzero(scores > 0)
    if len(hit) <= n:
        return hit
    cut = np.partition(scores[hit], len(hit) - n)[len(hit) - n]
    return hit[scores[hit] >= cut]


def propose(index: Segments, q_vecs: np.ndarray, terms: list[list[str]], n: int,
            filters: Filters | None, stats: list[Stats] | None = None,
            live_total: int | None = None) -> list[Proposal]:
    """For each question (its vector and BM25 terms), the ``Proposal`` of ``index``'s
    segments. ``stats`` and ``live_total``: the whole index's BM25 statistics and live
    passages when ``index`` is one shard of it (see ``dense.search``)."""
    if not index.size or not len(q_vecs):
        return [Proposal.empty() for _ in terms]
    dense_lists = index.search_dense_scored(q_vecs, n, filters, live_total=live_total)
    mask = index.row_mask(filters)
    out = []
    for qi, (d_rows, d_sc) in enumerate(dense_lists):
        bm_all = index.lexical.scores(terms[qi], stats[qi] if stats else None)
        if mask is not None:
            bm_all = np.where(mask, bm_all, np.float32(0))
        bm_top = top_rows(bm_all, n)
        rows = np.union1d(d_rows, bm_top)
        dense = np.asarray(index.vectors(rows) @ q_vecs[qi], dtype=np.float64)
        out.append(Proposal(d_rows, d_sc, bm_top, rows, dense,
                            bm_all[rows].astype(np.float64), index.spans(rows)))
    return out


def merge(proposals: list[Proposal], n: int) -> Candidates:
    """The candidates one index of all the proposals' segments would gather for one
    question: the ``n`` best dense rows and the BM25 rows at or above the ``n``-th best
    score (ties kept), each with its exact scores and span."""
    proposals = [p for p in proposals if len(p.rows)]
    if not proposals:
        e = Proposal.empty()
        return Candidates(e.rows, e.dense, e.bm25, e.spans)
    if len(proposals) == 1:
        p = proposals[0]
        d_rows, _ = best(p.dense_rows, p.dense_approx, n)
        keep = np.union1d(d_rows, p.bm25_rows)  # the proposal's own union when alone
        if len(keep) == len(p.rows):
            return Candidates(p.rows, p.dense, p.bm25, p.spans)
    rows = np.concatenate([p.rows for p in proposals])
    order = np.argsort(rows, kind="stable")
    rows = rows[order]
    dense = np.concatenate([p.dense for p in proposals])[order]
    bm25 = np.concatenate([p.bm25 for p in proposals])[order]
    spans = np.concatenate([p.spans for p in proposals])[order]
    d_rows, _ = best(np.concatenate([p.dense_rows for p in proposals]),
                     np.concatenate([p.dense_approx for p in proposals]), n)
    b_rows = np.concatenate([p.bm25_rows for p in proposals])
    b_rows = b_rows[top_rows(bm25[np.searchsorted(rows, b_rows)], n)]
    keep = np.searchsorted(rows, np.union1d(d_rows, b_rows))
    return Candidates(rows[keep], dense[keep], bm25[keep], spans[keep])
