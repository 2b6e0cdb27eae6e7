"""BM25 over passages with bm25s: English stemming and stop words."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import bm25s
import numpy as np

BM25_METHOD = "lucene"
STOPWORDS = "en"
# Words that shape a question but say nothing about its topic; dropped from queries only.
QUESTION_WORDS = ("what who whom whose which when where why how did does do doing done "
                  "can could would should tell me please")


@lru_cache(maxsize=1)
def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("english")


def tokenize(texts: list[str], *, show_progress: bool = False) -> list[list[str]]:
    """Lower-cased, stop-word-free, stemmed tokens of each text."""
    return bm25s.tokenize(list(texts), stopwords=STOPWORDS, stemmer=_stemmer(),
                          return_ids=False, show_progress=show_progress)


@lru_cache(maxsize=1)
def _question_stems() -> frozenset[str]:
    return frozenset(tokenize([QUESTION_WORDS])[0])


def build_bm25(texts: list[str], *, k1: float, b: float,
               show_progress: bool = False) -> bm25s.BM25:
    retriever = bm25s.BM25(k1=k1, b=b, method=BM25_METHOD)
    tokens = bm25s.tokenize(list(texts), stopwords=STOPWORDS, stemmer=_stemmer(),
                            show_progress=show_progress)
    retriever.index(tokens, show_progress=show_progress)
    return retriever


def save_bm25(retriever: bm25s.BM25, folder: Path) -> None:
    retriever.save(str(folder), show_progress=False)


def load_bm25(folder: Path) -> bm25s.BM25:
    return bm25s.BM25.load(str(folder), mmap=True, show_progress=False, verbosity=0)


class Lexical:
    """A loaded BM25 index plus the document frequencies used to weigh query terms."""

    def __init__(self, retriever: bm25s.BM25):
        self.retriever = retriever
        self.vocab: dict[str, int] = retriever.vocab_dict
        self.n_docs = int(retriever.scores["num_docs"])
        df = np.diff(np.asarray(retriever.scores["indptr"]))
        self.idf = np.log1p((self.n_docs - df + 0.5) / (df + 0.5)).astype(np.float32)

    def question_terms(self, question: str) -> list[str]:
        """The question's searchable stems, whether or not the corpus has them."""
        skip = _question_stems()
        return [t for t in tokenize([question])[0] if t not in skip]

    def query_terms(self, question: str) -> list[str]:
        """The question's stems that occur in the corpus (what BM25 can score)."""
        return [t for t in self.question_terms(question) if t in self.vocab]

    def scores(self, terms: list[str]) -> np.ndarray:
        """BM25 score of every passage (float32, one per passage row)."""
        if not terms:
            return np.zeros(self.n_docs, dtype=np.float32)
        return np.asarray(self.retriever.get_scores(terms), dtype=np.float32)

    def term_weights(self, terms: list[str]) -> dict[str, float]:
        """IDF of each distinct term; a term the corpus lacks gets the highest IDF."""
        unseen = float(np.log1p((self.n_docs + 0.5) / 0.5))
        return {t: float(self.idf[self.vocab[t]]) if t in self.vocab else unseen
                for t in dict.fromkeys(terms)}
