"""An article cut into passages: sentence-aware, with exact character offsets."""

from __future__ import annotations

from dataclasses import dataclass

from ..config import Settings
from ..text.chunking import pack_sentences, sentence_units
from .load import Article


@dataclass(frozen=True)
class Passage:
    doc_id: str
    passage_id: str
    start: int
    end: int
    text: str
    #: ``(start, end)`` article offsets of the passage's sentences, in order.
    sentences: tuple[tuple[int, int], ...] = ()


def split_passages(article: Article, settings: Settings | None = None) -> list[Passage]:
    """Split an article into passages; ``article.text[p.start:p.end] == p.text``, and
    ``p.sentences`` are the article spans of the passage's sentences.

    Example:
        >>> from challenge_qa.corpus.load import Article
        >>> text = "The crew launched in October. They filmed for twelve days. The film opens."
        >>> a = Article.make(id="a", title="T", text=text, path="a.txt")
        >>> [p.text for p in split_passages(a, Settings(chunk_chars=60, overlap_chars=30))]
        ['The crew launched in October. They filmed for twelve days.', \
'They filmed for twelve days. The film opens.']
    """
    s = settings or Settings()
    text = article.text
    sents = sentence_units(text, s.chunk_chars)
    out = []
    for n, (i, j) in enumerate(pack_sentences(sents, s.chunk_chars, s.overlap_chars)):
        a, b = sents[i][0], sents[j][1]
        out.append(Passage(doc_id=article.id, passage_id=f"{article.id}#{n}", start=a, end=b,
                           text=text[a:b], sentences=tuple(sents[i:j + 1])))
    return out
