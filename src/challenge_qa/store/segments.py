"""The index on disk, and reading a segment (``Segment``): ``manifest.json`` (see
``manifest``) and immutable segments (written by ``writer``), committed atomically.

Layout of an index folder::

    manifest.json           the commit point: settings, live segments, corpus file stamps
    seg-<id>/               one immutable segment (SEGMENT_FILES)
    del-<id>-<gen>.npy      the articles of segment <id> deleted as of commit <gen>
    seg-<id>.partial/       a segment being written (removed by the next build)

A segment holds some articles with everything search needs: their passages' vectors
and dense index, BM25 postings (raw term frequencies and passage lengths, so that
scores use corpus-wide statistics at query time), the passage and sentence tables and
an SQLite table of the articles. An update writes new segments and new deletion files,
then replaces ``manifest.json`` (``os.replace``, fsynced): a crash at any moment leaves
the previous manifest, and everything it names, intact. Files the new manifest no
longer names are removed after the commit, except those of the manifest it replaced,
which a reader that loaded it a moment earlier may still be opening.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import faiss
import numpy as np

SEGMENT_FILES = ("vectors.npy", "dense.faiss", "passages.npy", "sentences.npy",
                 "sentence_ptr.npy", "terms.json", "postings_ptr.npy", "postings_doc.npy",
                 "postings_tf.npy", "lengths.npy", "published.npy", "source_ids.npy",
                 "sources.json", "segment.sqlite", "segment.json")
#: Publication dates are stored as days since 1970-01-01; this marks "no date".
NO_DATE = -(2**31)


#: numpy parses an .npy header with ``ast.literal_eval``; CPython 3.11 before 3.11.8 can
#: fail with "SystemError: AST constructor recursion depth mismatch" when two threads
#: build ASTs at once (python/cpython#106905), as readers loading an index while a build
#: commits do. Array headers are therefore read one thread at a time.
_NPY_LOCK = threading.Lock()


def load_array(path: Path, mmap: bool = True) -> np.ndarray:
    """An array file, memory-mapped read-only (``mmap``) or read into memory."""
    with _NPY_LOCK:
        return np.load(path, mmap_mode="r" if mmap else None)

def counts(entries: list[dict]) -> dict:
    """Live articles and passages of manifest segment entries."""
    return {"articles": sum(e["articles"] - e.get("deleted_articles", 0) for e in entries),
            "passages": sum(e["passages"] - e.get("deleted_passages", 0) for e in entries)}


# --------------------------------------------------------------------------- reading

class Segment:
    """Read-only, memory-mapped view of one segment with a deletion state."""

    def __init__(self, index_dir: Path, entry: dict):
        self.entry = entry
        self.name = entry["name"]
        folder = index_dir / self.name
        self.folder = folder
        self.vectors = load_array(folder / "vectors.npy")
        self.spans = load_array(folder / "passages.npy")
        self.sentences = load_array(folder / "sentences.npy")
        self.sentence_ptr = load_array(folder / "sentence_ptr.npy")
        self.post_ptr = load_array(folder / "postings_ptr.npy")
        self.post_doc = load_array(folder / "postings_doc.npy")
        self.post_tf = load_array(folder / "postings_tf.npy")
        self.lengths = load_array(folder / "lengths.npy")
        self.published = load_array(folder / "published.npy")
        self.source_ids = load_array(folder / "source_ids.npy")
        self.sources: list[str] = json.loads((folder / "sources.json").read_text("utf-8"))
        terms = json.loads((folder / "terms.json").read_text("utf-8"))
        self.vocab: dict[str, int] = {t: i for i, t in enumerate(terms)}
        params = entry.get("faiss", {})
        self.dense: Any
        if params.get("type", "IndexFlatIP") == "IndexFlatIP":
            self.dense = faiss.read_index(str(folder / "dense.faiss"), faiss.IO_FLAG_MMAP)
        else:
            self.dense = faiss.read_index(str(folder / "dense.faiss"))
            self.dense.hnsw.efSearch = int(params.get("efSearch", 256))
        db = folder / "segment.sqlite"
        if not db.is_file():
            raise FileNotFoundError(db)
        self.db = sqlite3.connect(f"file:{db}?mode=ro", uri=True, check_same_thread=False)
        n_art = entry["articles"]
        self.deleted_articles = np.zeros(n_art, dtype=bool)
        if entry.get("deleted"):
            self.deleted_articles = load_array(index_dir / entry["deleted"], mmap=False)
        n = entry["passages"]
        self.live: np.ndarray | None = None  # None: every passage is live
        if self.deleted_articles.any():
            self.live = ~self.deleted_articles[np.asarray(self.spans[:, 0])]
        self.n = n
        self.n_live = n if self.live is None else int(self.live.sum())
        # summed in float64: exact, so the average length is the same however the live
        # passages are split into segments
        self.live_tokens = float(self.lengths.sum(dtype=np.float64) if self.live is None
                                 else self.lengths[self.live].sum(dtype=np.float64))
        self.check()

    def check(self) -> None:
        n, name = self.n, self.name
        db_counts = [self.db.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                     for t in ("passages", "articles")]
        ok = (self.vectors.ndim == 2 and self.dense.ntotal == len(self.vectors) == n
              and self.spans.shape == (n, 3) and len(self.lengths) == n
              and self.sentence_ptr.shape == (n + 1,)
              and int(self.sentence_ptr[-1]) == len(self.sentences)
              and len(self.post_ptr) == len(self.vocab) + 1
              and int(self.post_ptr[-1]) == len(self.post_doc) == len(self.post_tf)
              and db_counts == [n, self.entry["articles"]]
              and len(self.published) == len(self.source_ids) == self.entry["articles"]
              and len(self.deleted_articles) == self.entry["articles"])
        if not ok:
            raise ValueError(f"segment {name}: its parts hold different numbers of rows")

    def close(self) -> None:
        self.db.close()

    def query(self, sql: str, params: Sequence = ()) -> list[tuple]:
        return self.db.execute(sql, params).fetchall()
