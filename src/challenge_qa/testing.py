"""Helpers for tests and benchmarks: an embedder without a model, and small corpora.

``HashEmbedder`` turns a text into a bag of hashed words (feature hashing): texts that
share words get close vectors, so retrieval over it behaves like a weak lexical model,
deterministically and in any dimension, with nothing to load. Give it to an ``Engine``
(or to ``build_index``/``load_index``) wherever the real model is not what is tested.

Example:
    >>> e = HashEmbedder(dimension=64)
    >>> v = e.encode_documents(["Lava rose above the crater", "The lava fell on Catania"])
    >>> v.shape, round(float(v[0] @ v[0]), 3)
    ((2, 64), 1.0)
    >>> q = e.encode_queries(["lava crater"])[0]
    >>> bool(v[0] @ q > v[1] @ q)
    True
"""

from __future__ import annotations

import http.server
import re
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

_WORD = re.compile(r"\w+")

#: Three short news articles, as Markdown files with front matter (``write_corpus``).
ARTICLES = (
    ("etna.md", """---
title: Mount Etna erupts again
source: Volcano Weekly
date: 2024-02-11
---

Europe's tallest active volcano, Mount Etna, erupted late on Sunday. Fountains of lava
shot hundreds of metres into the air above its south-east crater, and ash fell on the
city of Catania, where the airport shut for six hours.

The eruption had been expected: tremor beneath the volcano had grown for a week. Nobody
was hurt, and flights resumed on Monday morning.
"""),
    ("chess.md", """---
title: Chess prodigy wins the national title
source: Board Games Today
date: 2023-11-04
---

A twelve-year-old girl from Leeds won the national chess championship on Saturday. She
beat the defending champion in the final round with a daring queen sacrifice. Her coach
said she studies endgames for three hours every day.
"""),
    ("lighthouse.md", """---
title: Old lighthouse restored
source: Coast News
date: 2022-09-14
---

Volunteers restored the old lighthouse on Skerry Island. The brass lens was polished and
the lamp was lit again after forty years of darkness. Ships can see its beam from twenty
miles away.
"""),
)


class HashEmbedder:
    """A deterministic embedder without a model: hashed words, signed, L2-normalised.

    It has what an ``Engine`` asks of an embedder (``name``, ``dimension``,
    ``batch_size``, ``encode_documents``, ``encode_queries``, ``load``, ``loaded``); its
    ``name`` (``hash-<dimension>``) is the model an index built with it records.
    """

    batch_size = 64
    loaded = True

    def __init__(self, dimension: int = 384):
        if dimension < 2:
            raise ValueError("a HashEmbedder needs at least 2 dimensions")
        self._dimension = int(dimension)
        self.name = f"hash-{self._dimension}"

    @property
    def dimension(self) -> int:
        return self._dimension

    def load(self) -> HashEmbedder:
        return self

    def encode_documents(self, texts: list[str], *, show_progress: bool = False) -> np.ndarray:
        words = [_WORD.findall(t.lower()) for t in texts]
        counts = np.fromiter((len(w) for w in words), dtype=np.int64, count=len(words))
        codes = np.fromiter((zlib.crc32(w.encode()) for ws in words for w in ws),
                            dtype=np.int64, count=int(counts.sum()))
        rows = np.repeat(np.arange(len(texts)), counts)
        signs = np.where((codes >> 20) & 1, 1.0, -1.0).astype(np.float32)
        out = np.zeros((len(texts), self._dimension), dtype=np.float32)
        np.add.at(out, (rows, codes % self._dimension), signs)
        out[~out.any(axis=1), 0] = 1.0  # a text without words still gets a unit vector
        out /= np.linalg.norm(out, axis=1, keepdims=True)
        return out

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        return self.encode_documents(texts)


def write_corpus(folder: str | Path, articles=ARTICLES) -> Path:
    """Write ``articles`` (``(file name, text)`` pairs; three short ones by default) into
    ``folder`` and return it."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in articles:
        (folder / name).write_text(text, encoding="utf-8")
    return folder


@contextmanager
def http_server(handler: type[http.server.BaseHTTPRequestHandler]
                ) -> Iterator[http.server.ThreadingHTTPServer]:
    """``handler`` served on 127.0.0.1 (a free port, ``server.server_port``) by a
    background thread while in use; stopped and closed after."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
