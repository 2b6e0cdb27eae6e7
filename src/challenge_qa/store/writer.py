"""Writing a segment: the passages of a batch of articles, their vectors, dense index,
BM25 postings, sentence and date tables and the SQLite table of their articles, written
into ``seg-<id>.partial/`` and renamed into place once complete (``SegmentWriter``); and
the deletion files that flag articles of older segments as replaced or removed.

The files are those ``segments.Segment`` reads (``segments.SEGMENT_FILES``); nothing is
visible to readers until a commit (``manifest.commit``) names the segment.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import time
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
from .segments import NO_DATE, load_array
from .shards import date_range

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
                 "deleted_articles": 0, "deleted_passages": 0,
                 "dates": date_range(self.published)}
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
