"""The unit of work of a build: chunk a group of articles and embed their passages.

Shared by the local stage (``build``) and the Ray stage (``ray``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..config import Settings
from ..corpus.load import Article
from ..corpus.passages import split_passages
from ..text.chunking import passage_context
from .writer import Batch


def prepare(articles: list[Article], s: Settings,
            encode: Callable[[list[str]], np.ndarray]) -> Batch:
    """Chunk ``articles`` and embed their passages: the unit of work of a build."""
    per = [split_passages(a, s) for a in articles]
    flat = [p for ps in per for p in ps]
    titles = {a.id: a.title for a in articles}
    contexts = [passage_context(titles[p.doc_id], p.text, s.title_context) for p in flat]
    sents = [p.sentences for p in flat]
    return Batch(
        articles=list(articles),
        n_passages=np.fromiter((len(ps) for ps in per), dtype=np.int64, count=len(per)),
        passage_ids=[p.passage_id for p in flat],
        starts=np.fromiter((p.start for p in flat), dtype=np.int64, count=len(flat)),
        ends=np.fromiter((p.end for p in flat), dtype=np.int64, count=len(flat)),
        sent_counts=np.fromiter((len(x) for x in sents), dtype=np.int64, count=len(sents)),
        sentences=np.asarray([sp for x in sents for sp in x], dtype=np.int64).reshape(-1, 2),
        vectors=encode(contexts) if contexts else np.zeros((0, 0), np.float32),
        contexts=contexts)


