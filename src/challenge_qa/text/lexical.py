"""Words as BM25 sees them: folded, lower-cased, stop words dropped, stemmed (the same
tokens as bm25s's tokenizer), and bm25s itself as the reference implementation.

The index scores BM25 itself (``search.bm25.Lexical``) from raw postings, so that segments
share corpus-wide statistics; ``build_bm25`` builds the bm25s index that tests and
benchmarks compare it with."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from types import MappingProxyType

import bm25s
from bm25s.stopwords import STOPWORDS_EN

from . import words

BM25_METHOD = "lucene"
STOPWORDS = "en"
#: Recorded in the manifest: an index whose BM25 terms were not folded is rebuilt (BM25 only).
ACCENTS = "folded"
# Words that shape a question but say nothing about its topic; dropped from queries only.
QUESTION_WORDS = " ".join(sorted(words.QUESTION_WORDS)) + (
    " did does do doing done can could would should tell me please")


def _fold_table() -> dict[int, str]:
    """Latin letters with diacritics -> their base letter, one character for one, so that
    offsets in folded text are offsets in the original ("Pelé" matches "Pele")."""
    table = {}
    for cp in range(0xC0, 0x250):
        base = unicodedata.normalize("NFKD", chr(cp))
        if len(base) > 1 and base[0].isascii() and base[0].isalpha() and all(
                unicodedata.combining(c) for c in base[1:]):
            table[cp] = base[0]
    table.update({ord(k): v for k, v in zip("ŁłØøĐđ", "LlOoDd", strict=True)})
    return table


_FOLD = MappingProxyType(_fold_table())


def fold(text: str) -> str:
    """``text`` with accents removed from Latin letters; the length is unchanged.

    Example:
        >>> fold("Ögedei, Łódź, Pelé")
        'Ogedei, Lodz, Pele'
    """
    return text.translate(_FOLD)


#: bm25s's default token pattern: words of two or more word characters.
_WORD = re.compile(r"(?u)\b\w\w+\b")
#: bm25s's English stop words (bm25s is imported with this module anyway).
STOP = frozenset(STOPWORDS_EN)


class Tokenizer:
    """Turns text into the stems BM25 sees. Each index and each build owns one: its
    stemmer keeps a bounded cache of the words it has stemmed (a news vocabulary repeats
    itself), so a query's words are seldom stemmed twice.

    Example:
        >>> Tokenizer().tokenize(["The directors met."])
        [['director', 'met']]
    """

    def __init__(self, cache_words: int = 100_000):
        import Stemmer

        self.stemmer = Stemmer.Stemmer("english", cache_words)
        self.question_stems = frozenset(self.tokenize([QUESTION_WORDS])[0])

    def stems(self, words) -> dict[str, str]:
        """``{word: stem}`` of the distinct ``words`` (stemmed in one call)."""
        words = list(words)
        return dict(zip(words, self.stemmer.stemWords(words), strict=True))

    def tokenize(self, texts: list[str]) -> list[list[str]]:
        """Lower-cased, stop-word-free, stemmed tokens of each text.

        The same tokens as ``bm25s.tokenize([fold(t) for t in texts], stopwords="en",
        stemmer=english)``, which builds the index, at a fraction of its fixed cost per call
        (this runs per query). Accents are folded, so "Pele" finds "Pelé".
        """
        words = [[w for w in _WORD.findall(fold(t).lower()) if w not in STOP] for t in texts]
        stems = self.stems({w for ws in words for w in ws})
        return [[stems[w] for w in ws] for ws in words]

    def find_terms(self, texts: list[str], terms) -> list[list[tuple[int, str]]]:
        """Where the stems ``terms`` occur in each text: ``(character offset, stem)`` pairs,
        with words found, filtered and stemmed as ``tokenize`` does.

        Only words that begin like a term's stem are looked at (an English stem is a prefix
        of its word up to the last letter: "happi" of "happy", "fli" of "flies"), so the
        cost follows the few matches, not every word of every passage.
        """
        terms = set(terms)
        if not terms or not texts:
            return [[] for _ in texts]
        heads = {t[:-1] if len(t) > 2 else t for t in terms}
        heads |= {t[0] + "y" for t in terms if t in ("die", "lie", "tie")}  # dying, lying
        found = [_words_starting(fold(t), heads) for t in texts]
        stems = self.stems({w for f in found for _, w in f if len(w) > 1 and w not in STOP})
        return [[(pos, stems[w]) for pos, w in f if stems.get(w) in terms] for f in found]

    def question_terms(self, question: str) -> list[str]:
        """The question's searchable stems: its tokens without question words."""
        return [t for t in self.tokenize([question])[0] if t not in self.question_stems]


def tokenize(texts: list[str]) -> list[list[str]]:
    """``Tokenizer().tokenize(texts)``, for a one-off call.

    Example:
        >>> tokenize(["Pelé scored twice"])
        [['pele', 'score', 'twice']]
    """
    return Tokenizer().tokenize(texts)


def find_terms(texts: list[str], terms) -> list[list[tuple[int, str]]]:
    """``Tokenizer().find_terms(texts, terms)``, for a one-off call.

    Example:
        >>> find_terms(["The directors met.", "Nothing"], ["director"])
        [[(4, 'director')], []]
    """
    return Tokenizer().find_terms(texts, terms)


_REST = re.compile(r"\w*")


def _words_starting(text: str, heads: set[str]) -> list[tuple[int, str]]:
    """``(offset, lower-cased word)`` of the words of ``text`` that begin with a head, in
    order, words as bm25s finds them in the lower-cased text. Substring search (C speed)
    finds the heads; a regex runs only at the hits."""
    low = text.lower()
    out: dict[int, str] = {}
    for h in heads:
        i = low.find(h)
        while i >= 0:
            if i not in out and (i == 0 or not (low[i - 1].isalnum() or low[i - 1] == "_")):
                rest = _REST.match(low, i + len(h))
                out[i] = low[i:rest.end() if rest else i + len(h)]
            i = low.find(h, i + 1)
    found = sorted(out.items())
    if len(low) != len(text):  # a letter whose lower case is longer ("İ"): map offsets back
        back = [i for i, c in enumerate(text) for _ in c.lower()]
        found = [(back[p], w) for p, w in found]
    return found


def build_bm25(texts: list[str], *, k1: float, b: float,
               show_progress: bool = False) -> bm25s.BM25:
    retriever = bm25s.BM25(k1=k1, b=b, method=BM25_METHOD)
    tokens = bm25s.tokenize([fold(t) for t in texts], stopwords=STOPWORDS,
                            stemmer=Tokenizer().stemmer, show_progress=show_progress)
    retriever.index(tokens, show_progress=show_progress)
    return retriever


def save_bm25(retriever: bm25s.BM25, folder: Path) -> None:
    retriever.save(str(folder), show_progress=False)


def load_bm25(folder: Path) -> bm25s.BM25:
    return bm25s.BM25.load(str(folder), mmap=True, show_progress=False, verbosity=0)


def question_terms(question: str) -> list[str]:
    """``Tokenizer().question_terms(question)``, for a one-off call.

    Example:
        >>> question_terms("Who directed the film?")
        ['direct', 'film']
    """
    return Tokenizer().question_terms(question)
