"""BM25 over the live passages of all segments, with corpus-wide statistics.

Segments store raw term frequencies and passage lengths, never scores; the statistics
(live passages, their average length, each term's document frequency among them) are
computed at query time, so a passage scores the same however its corpus is split into
segments, and a deletion changes the statistics at once.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ..store.segments import Segment
from ..text.lexical import Tokenizer


@dataclass(frozen=True)
class Stats:
    """BM25's corpus-wide statistics for some query terms: live passages, their tokens,
    and each term's document frequency among them."""

    n_docs: int
    tokens: float
    df: Mapping[str, int]

    @property
    def avgdl(self) -> float:
        return self.tokens / self.n_docs if self.n_docs else 1.0


class Lexical:
    """BM25 (Lucene variant, as bm25s computes it) over the live passages of all segments.

    Statistics are global: the number of live passages, their average length in tokens,
    and each term's document frequency among them, so a passage scores the same whether
    its corpus sits in one segment or many.
    """

    def __init__(self, segments: list[Segment], offsets: np.ndarray, k1: float, b: float):
        self.segments = segments
        self.offsets = offsets
        self.k1, self.b = float(k1), float(b)
        self.tokenizer = Tokenizer()
        self.n_docs = sum(seg.n_live for seg in segments)
        self.n_rows = int(offsets[-1])
        tokens = sum(seg.live_tokens for seg in segments)
        self.avgdl = tokens / self.n_docs if self.n_docs else 1.0
        self._df: dict[str, int] = {}
        self._lock = threading.Lock()

    def _postings(self, term: str):
        """(segment number, passage numbers, term frequencies) of a term's live postings."""
        for i, seg in enumerate(self.segments):
            j = seg.vocab.get(term)
            if j is None:
                continue
            lo, hi = int(seg.post_ptr[j]), int(seg.post_ptr[j + 1])
            docs = np.asarray(seg.post_doc[lo:hi], dtype=np.int64)
            tf = np.asarray(seg.post_tf[lo:hi], dtype=np.float64)
            if seg.live is not None:
                keep = seg.live[docs]
                docs, tf = docs[keep], tf[keep]
            if len(docs):
                yield i, docs, tf

    def df(self, term: str) -> int:
        """Live passages holding ``term``."""
        with self._lock:
            got = self._df.get(term)
        if got is None:
            got = sum(len(d) for _, d, _ in self._postings(term))
            with self._lock:
                if len(self._df) > 200_000:
                    self._df.clear()
                self._df[term] = got
        return got

    @property
    def vocab(self) -> _Vocab:
        return _Vocab(self)

    def question_terms(self, question: str) -> list[str]:
        """The question's searchable stems, whether or not the corpus has them."""
        return self.tokenizer.question_terms(question)

    def query_terms(self, question: str) -> list[str]:
        """The question's stems that occur in the corpus (what BM25 can score)."""
        return [t for t in self.tokenizer.question_terms(question) if self.df(t) > 0]

    @property
    def tokens(self) -> float:
        """Tokens in the live passages (an exact float64 sum)."""
        return float(sum(seg.live_tokens for seg in self.segments))

    def stats(self, terms: list[str]) -> Stats:
        """The statistics scores use: these segments' own."""
        return Stats(self.n_docs, self.tokens, {t: self.df(t) for t in dict.fromkeys(terms)})

    def scores(self, terms: list[str], stats: Stats | None = None) -> np.ndarray:
        """BM25 score of every row (float32; deleted rows score 0). ``stats``: the
        statistics of a larger index these segments are part of (a shard's are the whole
        index's), else these segments' own."""
        out = np.zeros(self.n_rows, dtype=np.float64)
        k1, b = self.k1, self.b
        n = stats.n_docs if stats else self.n_docs
        avgdl = stats.avgdl if stats else self.avgdl
        for term in terms:  # a repeated term counts again, as in bm25s
            found = list(self._postings(term))
            df = stats.df.get(term, 0) if stats else sum(len(d) for _, d, _ in found)
            if not df or not found:
                continue
            idf = np.log1p((n - df + 0.5) / (df + 0.5))
            for i, docs, tf in found:
                seg = self.segments[i]
                dl = np.asarray(seg.lengths[docs], dtype=np.float64)
                out[self.offsets[i] + docs] += idf * tf / (
                    k1 * (1.0 - b + b * dl / avgdl) + tf)
        return out.astype(np.float32)

    def term_weights(self, terms: list[str]) -> dict[str, float]:
        """IDF of each distinct term; a term the corpus lacks gets the highest IDF."""
        n = self.n_docs
        return {t: float(np.log1p((n - df + 0.5) / (df + 0.5)))
                for t in dict.fromkeys(terms) for df in [self.df(t)]}


class _Vocab:
    """``term in index.lexical.vocab``: the term occurs in a live passage."""

    def __init__(self, lexical: Lexical):
        self.lexical = lexical

    def __contains__(self, term: object) -> bool:
        return isinstance(term, str) and self.lexical.df(term) > 0
