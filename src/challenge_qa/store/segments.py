"""The index on disk: ``manifest.json`` and immutable segments, committed atomically.

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
import os
import shutil
import sqlite3
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from ..config import Settings
from ..corpus.load import Article
from ..text.dates import EPOCH, find_dates, parse_published
from ..text.lexical import Tokenizer
from .manifest import fsync_dir, fsync_tree

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

_SCHEMA = """
    CREATE TABLE articles (idx INTEGER PRIMARY KEY, id TEXT NOT NULL, title TEXT,
        source TEXT, date TEXT, url TEXT, path TEXT, sha256 TEXT, text TEXT NOT NULL,
        first_row INTEGER NOT NULL, n_passages INTEGER NOT NULL, pages TEXT);
    CREATE TABLE dates (doc_idx INTEGER NOT NULL, start INTEGER NOT NULL,
        "end" INTEGER NOT NULL, sent_start INTEGER NOT NULL, sent_end INTEGER NOT NULL,
        text TEXT NOT NULL, value TEXT, precision TEXT NOT NULL, relative INTEGER NOT NULL,
        qualifier TEXT);
    CREATE TABLE passages (row INTEGER PRIMARY KEY, doc_idx INTEGER NOT NULL,
        passage_id TEXT NOT NULL, start INTEGER NOT NULL, "end" INTEGER NOT NULL);
"""
_INDEXES = """
    CREATE UNIQUE INDEX articles_id ON articles (id);
    CREATE INDEX articles_path ON articles (path);
    CREATE INDEX dates_doc ON dates (doc_idx, sent_start);
"""


@dataclass
class Batch:
    """Articles with their passages, ready to be written into a segment.

    Passages are in article order: the first ``n_passages[0]`` belong to ``articles[0]``.
    ``sentences`` holds the article spans of all passages' sentences, ``sent_counts[i]``
    of them for passage ``i``; ``contexts`` are the texts BM25 indexes (title + passage).
    """

    articles: list[Article]
    n_passages: np.ndarray
    passage_ids: list[str]
    starts: np.ndarray
    ends: np.ndarray
    sent_counts: np.ndarray
    sentences: np.ndarray
    vectors: np.ndarray
    contexts: list[str]

    @property
    def size(self) -> int:
        return len(self.passage_ids)


#: Bytes reserved for a .npy header: enough for any 2-d float32 shape.
NPY_HEADER = 128


def npy_header(shape: tuple[int, int], size: int = NPY_HEADER) -> bytes:
    """A .npy (version 1.0) header of exactly ``size`` bytes for C-ordered float32 data.

    Example:
        >>> h = npy_header((3, 4)); len(h), h[:6]
        (128, b'\\x93NUMPY')
    """
    d = f"{{'descr': '<f4', 'fortran_order': False, 'shape': {tuple(shape)}, }}"
    pad = size - 10 - len(d) - 1
    if pad < 0:
        raise ValueError(f"shape {shape} does not fit a {size}-byte header")
    body = (d + " " * pad + "\n").encode("latin1")
    return b"\x93NUMPY\x01\x00" + len(body).to_bytes(2, "little") + body


def new_name(prefix: str) -> str:
    """A name no other segment or commit of this folder has."""
    return f"{prefix}-{time.time_ns():x}{os.getpid() % 4096:03x}"


class SegmentWriter:
    """Writes one segment batch by batch; ``finish`` makes it complete and immutable.

    Memory holds only this segment's vectors and token ids: a build bounds it by
    committing a segment every ``Settings.segment_passages`` passages.
    """

    def __init__(self, index_dir: Path, settings: Settings, dim: int):
        self.settings = settings
        self.dim = dim
        self.tokenizer = Tokenizer()
        self.name = new_name("seg")
        self.tmp = index_dir / f"{self.name}.partial"
        self.tmp.mkdir()
        self.db = sqlite3.connect(self.tmp / "segment.sqlite")
        self.db.executescript(_SCHEMA)
        # vectors go straight to disk behind a header written at the end: a segment's
        # vectors are never all in memory
        self._vec_file = open(self.tmp / "vectors.npy", "wb")  # noqa: SIM115
        self._vec_file.write(b"\0" * NPY_HEADER)
        self.spans: list[np.ndarray] = []
        self.sent_counts: list[np.ndarray] = []
        self.sentences: list[np.ndarray] = []
        self.tokens: list[np.ndarray] = []
        self.lengths: list[np.ndarray] = []
        self.vocab: dict[str, int] = {}
        self.n_articles = 0
        self.n_passages = 0
        self.ids: list[str] = []
        self.published: list[int] = []
        self.source_ids: list[int] = []
        self.sources: dict[str, int] = {}

    def add(self, batch: Batch) -> None:
        if not batch.articles:
            return
        first = self.n_passages + np.concatenate([[0], np.cumsum(batch.n_passages)[:-1]])
        self.db.executemany(
            "INSERT INTO articles VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            ((self.n_articles + i, a.id, a.title, a.source, a.date, a.url, a.path, a.sha256,
              a.text, int(f), int(n), json.dumps(list(a.pages)) if a.pages else None)
             for i, (a, f, n) in enumerate(zip(batch.articles, first, batch.n_passages,
                                               strict=True))))
        doc = self.n_articles + np.repeat(np.arange(len(batch.articles)), batch.n_passages)
        self.db.executemany(
            "INSERT INTO passages VALUES (?,?,?,?,?)",
            zip(range(self.n_passages, self.n_passages + batch.size), doc.tolist(),
                batch.passage_ids, batch.starts.tolist(), batch.ends.tolist(), strict=True))
        self.spans.append(np.stack([doc, batch.starts, batch.ends], axis=1).astype(np.int64))
        self.sent_counts.append(np.asarray(batch.sent_counts, dtype=np.int64))
        self.sentences.append(np.asarray(batch.sentences, dtype=np.int64).reshape(-1, 2))
        vecs = np.ascontiguousarray(batch.vectors, dtype=np.float32).reshape(-1, self.dim)
        if len(vecs) != batch.size:
            raise ValueError(f"{len(vecs)} vectors for {batch.size} passages")
        self._vec_file.write(vecs.tobytes())
        toks = self.tokenizer.tokenize(batch.contexts)
        vocab = self.vocab
        ids = [vocab.setdefault(t, len(vocab)) for ts in toks for t in ts]
        self.tokens.append(np.asarray(ids, dtype=np.int32))
        self.lengths.append(np.fromiter((len(ts) for ts in toks), dtype=np.int64,
                                        count=len(toks)))
        self.ids.extend(a.id for a in batch.articles)
        self._add_news(batch)
        self.n_articles += len(batch.articles)
        self.n_passages += batch.size

    def _add_news(self, batch: Batch) -> None:
        """Publication day, publisher and the resolved date mentions of each article,
        each mention with the sentence that holds it."""
        sent_end = np.cumsum(batch.sent_counts)
        sent_start = sent_end - batch.sent_counts
        passage_end = np.cumsum(batch.n_passages)
        rows = []
        for i, a in enumerate(batch.articles):
            pub = parse_published(a.date)
            self.published.append(pub.toordinal() - EPOCH if pub else NO_DATE)
            self.source_ids.append(self.sources.setdefault(a.source, len(self.sources))
                                   if a.source else -1)
            mentions = find_dates(a.text, pub)
            if not mentions:
                continue
            p0, p1 = int(passage_end[i] - batch.n_passages[i]), int(passage_end[i])
            sents = np.unique(batch.sentences[int(sent_start[p0]):int(sent_end[p1 - 1])],
                              axis=0)
            at = np.searchsorted(sents[:, 0], [m.start for m in mentions], side="right") - 1
            doc = self.n_articles + i
            for m, j in zip(mentions, at.tolist(), strict=True):
                sa, sb = (int(sents[j, 0]), int(sents[j, 1])) if j >= 0 else (m.start, m.end)
                rows.append((doc, m.start, m.end, sa, sb, m.text, m.value, m.precision,
                             int(m.relative), m.qualifier))
        self.db.executemany("INSERT INTO dates VALUES (?,?,?,?,?,?,?,?,?,?)", rows)

    def finish(self) -> dict:
        """Write the arrays and indexes, fsync, and rename the folder into place.
        Returns the segment's manifest entry."""
        tmp, n = self.tmp, self.n_passages
        self.db.executescript(_INDEXES)
        self.db.commit()
        self.db.close()
        f = self._vec_file
        f.seek(0)
        f.write(npy_header((n, self.dim)))
        f.close()
        vectors = load_array(tmp / "vectors.npy")
        dense, params = make_dense_index(vectors, self.settings)
        faiss.write_index(dense, str(tmp / "dense.faiss"))
        del dense
        np.save(tmp / "passages.npy", np.concatenate(self.spans) if self.spans
                else np.zeros((0, 3), np.int64))
        counts = np.concatenate(self.sent_counts) if self.sent_counts else np.zeros(0, np.int64)
        ptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(counts, out=ptr[1:])
        np.save(tmp / "sentences.npy", np.concatenate(self.sentences) if self.sentences
                else np.zeros((0, 2), np.int64))
        np.save(tmp / "sentence_ptr.npy", ptr)
        lengths = np.concatenate(self.lengths) if self.lengths else np.zeros(0, np.int64)
        tokens = np.concatenate(self.tokens) if self.tokens else np.zeros(0, np.int32)
        self.tokens = []
        indptr, docs, tf = postings(tokens, lengths, len(self.vocab))
        del tokens
        terms = sorted(self.vocab, key=self.vocab.__getitem__)
        (tmp / "terms.json").write_text(json.dumps(terms, ensure_ascii=False), "utf-8")
        np.save(tmp / "postings_ptr.npy", indptr)
        np.save(tmp / "postings_doc.npy", docs)
        np.save(tmp / "postings_tf.npy", tf)
        np.save(tmp / "lengths.npy", lengths.astype(np.float32))
        np.save(tmp / "published.npy", np.asarray(self.published, dtype=np.int32))
        np.save(tmp / "source_ids.npy", np.asarray(self.source_ids, dtype=np.int32))
        (tmp / "sources.json").write_text(json.dumps(list(self.sources), ensure_ascii=False),
                                          "utf-8")
        entry = {"name": self.name, "articles": self.n_articles, "passages": n,
                 "tokens": int(lengths.sum()), "faiss": params, "deleted": None,
                 "deleted_articles": 0, "deleted_passages": 0}
        (tmp / "segment.json").write_text(json.dumps(entry), "utf-8")
        fsync_tree(tmp)
        os.rename(tmp, tmp.parent / self.name)
        fsync_dir(tmp.parent)
        return entry

    def abort(self) -> None:
        try:
            self._vec_file.close()
            self.db.close()
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)


def make_dense_index(vectors: np.ndarray, s: Settings) -> tuple[faiss.Index, dict]:
    """Exact inner-product search for small corpora, HNSW over 8-bit vectors for large ones.

    The dense index only proposes candidates: ``rank`` re-scores every candidate exactly
    from the stored vectors, so quantisation costs recall of the candidate set, not order.
    """
    n, dim = vectors.shape
    kind = s.dense_index
    if kind == "auto":
        kind = "hnsw" if n >= s.ann_min_passages else "flat"
    if kind == "flat" or n == 0:
        index: Any = faiss.IndexFlatIP(dim)
        index.add(vectors)
        return index, {"type": "IndexFlatIP", "metric": "inner_product"}
    # QT_8bit is an int at run time; faiss's stubs type it as a ScalarQuantizer
    index = faiss.IndexHNSWSQ(dim, faiss.ScalarQuantizer.QT_8bit, s.hnsw_m,  # type: ignore[arg-type]
                              faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = s.hnsw_ef_construction
    # the 8-bit ranges need only a sample; a fixed seed keeps builds reproducible
    rows = np.sort(np.random.default_rng(0).choice(n, min(n, 100_000), replace=False))
    index.train(np.ascontiguousarray(vectors[rows]))
    index.add(vectors)
    index.hnsw.efSearch = s.hnsw_ef_search
    return index, {"type": "IndexHNSWSQ", "metric": "inner_product", "quantizer": "QT_8bit",
                   "M": s.hnsw_m, "efConstruction": s.hnsw_ef_construction,
                   "efSearch": s.hnsw_ef_search}


def postings(tokens: np.ndarray, lengths: np.ndarray, n_terms: int
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Term-major postings from the concatenated token ids of passages of ``lengths``
    tokens: ``indptr`` (per term), passage numbers and term frequencies.

    Example:
        >>> ptr, doc, tf = postings(np.array([0, 1, 0, 1]), np.array([3, 1]), 2)
        >>> ptr.tolist(), doc.tolist(), tf.tolist()
        ([0, 1, 3], [0, 0, 1], [2.0, 1.0, 1.0])
    """
    n = max(len(lengths), 1)
    doc = np.repeat(np.arange(len(lengths), dtype=np.int64), lengths)
    keys, tf = np.unique(tokens.astype(np.int64) * n + doc, return_counts=True)
    term = keys // n
    indptr = np.zeros(n_terms + 1, dtype=np.int64)
    np.cumsum(np.bincount(term, minlength=n_terms), out=indptr[1:])
    return indptr, (keys % n).astype(np.int32), tf.astype(np.float32)


# --------------------------------------------------------------------------- commits

def save_deletions(index_dir: Path, segment: str, deleted: np.ndarray) -> str:
    """Write a segment's deleted-article flags as a new file; returns its name."""
    name = f"{new_name('del')}-{segment}.npy"
    tmp = index_dir / f".{name}.tmp"
    with open(tmp, "wb") as f:
        np.save(f, np.asarray(deleted, dtype=bool))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, index_dir / name)
    return name


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
