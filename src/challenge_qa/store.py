"""Build, update and load the on-disk index: FAISS + BM25 + passages + manifest.json.

Layout: ``index_dir/manifest.json`` is the commit point of a build and names the
``gen-*`` folder holding its data. A build writes a new ``gen-*.partial`` folder, renames
it when complete, then atomically replaces ``manifest.json``; a crash at any moment leaves
the previous manifest, and so the previous index, intact.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import sqlite3
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import chain
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from . import __version__
from .chunking import Passage, passage_context, split_passages
from .config import Settings
from .corpus import Article, load_corpus
from .embedding import get_embedder, resolve_backend
from .errors import (
    IndexCorruptError,
    IndexLockedError,
    IndexMismatchError,
    IndexNotFoundError,
)
from .lexical import (
    ACCENTS,
    BM25_METHOD,
    STOPWORDS,
    Lexical,
    build_bm25,
    load_bm25,
    save_bm25,
)

#: 2 adds each passage's sentence spans (sentences.npy, sentence_ptr.npy); version 1
#: indexes still load, and their sentences are found at query time.
FORMAT_VERSION = 2
MANIFEST = "manifest.json"
LOCK = ".build.lock"


@dataclass(frozen=True)
class IndexReport:
    """What a build did. ``skipped`` names input files or lines that were left out."""

    index_dir: str
    added: int
    changed: int
    removed: int
    unchanged: int
    articles: int
    passages: int
    embedded_passages: int
    seconds: float
    full: bool
    skipped: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Staleness:
    added: int = 0
    changed: int = 0
    removed: int = 0

    @property
    def stale(self) -> bool:
        return bool(self.added or self.changed or self.removed)

    def describe(self) -> str:
        if not self.stale:
            return "up to date"
        return (f"stale: {self.added} new, {self.changed} changed, {self.removed} removed "
                "article(s) since the build; run: challenge-qa index")


# --------------------------------------------------------------------------- building

def build_index(corpus_dir: str | Path | None = None, index_dir: str | Path | None = None, *,
                full: bool = False, settings: Settings | None = None) -> IndexReport:
    """Index the articles under ``corpus_dir`` into ``index_dir``.

    Incremental by default: only new or changed articles are embedded, deleted ones are
    dropped, and the result equals a full rebuild. ``full=True`` re-embeds everything.

    Example:
        >>> build_index("docs_corpus", "index")  # doctest: +SKIP
        IndexReport(index_dir='index', added=2, changed=0, removed=0, unchanged=0, ...)
    """
    s = settings or Settings.from_env()
    corpus_dir = Path(corpus_dir or s.corpus_dir)
    index_dir = Path(index_dir or s.index_dir)
    t0 = time.perf_counter()
    corpus = load_corpus(corpus_dir, max_bytes=s.max_file_mb * 2**20)
    index_dir.mkdir(parents=True, exist_ok=True)
    with _build_lock(index_dir):
        _clean_leftovers(index_dir)
        previous = _read_manifest_quiet(index_dir)
        old = None if full else _reusable(index_dir, s)
        report = _build(corpus.articles, corpus_dir, index_dir, s, old, t0, corpus.skipped,
                        previous.get("data") if isinstance(previous, dict) else None)
    _INDEX_CACHE.pop(index_dir.resolve(), None)
    return report


def _build(articles: list[Article], corpus_dir: Path, index_dir: Path, s: Settings,
           old: dict | None, t0: float, skipped: list[str],
           previous_gen: str | None) -> IndexReport:
    embedder = get_embedder(s.model, device=s.device, batch_size=s.batch_size,
                            backend=s.backend)
    old_arts = old["manifest"]["articles"] if old else {}
    passages: list[Passage] = []
    contexts: list[str] = []
    # Per article: (first row in the new index, count, first row in the old index or -1).
    layout: list[tuple[int, int, int]] = []
    counts = {"added": 0, "changed": 0, "unchanged": 0}
    for art in articles:
        ps = split_passages(art, s)
        prev = old_arts.get(art.id)
        reuse = prev is not None and prev[0] == art.sha256 and prev[2] == len(ps)
        counts["unchanged" if reuse else "changed" if prev else "added"] += 1
        layout.append((len(passages), len(ps), prev[1] if prev is not None and reuse else -1))
        passages.extend(ps)
        if not reuse:
            contexts.extend(passage_context(art.title, p.text, s.title_context) for p in ps)
    removed = len(set(old_arts) - {a.id for a in articles})
    if (old and not contexts and not removed and all(o == a for a, _, o in layout)
            and old["manifest"].get("index_settings") == _index_settings(s)
            and old["manifest"].get("format_version") == FORMAT_VERSION):
        # Nothing to do: keep the data, refresh only the file stamps used for staleness.
        manifest = {**old["manifest"], "files": _file_stats(corpus_dir)}
        if manifest != old["manifest"]:
            _commit_manifest(index_dir, manifest)
        return IndexReport(
            index_dir=str(index_dir), added=0, changed=0, removed=0,
            unchanged=len(articles), articles=len(articles), passages=len(passages),
            embedded_passages=0, seconds=round(time.perf_counter() - t0, 3), full=False,
            skipped=list(skipped))

    dim = old["manifest"]["dimension"] if old else embedder.dimension
    if contexts:
        new_vecs = embedder.encode_documents(contexts, show_progress=s.show_progress
                                             and len(contexts) > 256)
    else:  # nothing changed: the model need not even load
        new_vecs = np.zeros((0, dim), dtype=np.float32)
    vectors = np.empty((len(passages), dim), dtype=np.float32)
    new_rows = np.concatenate([np.arange(a, a + n) for a, n, o in layout if o < 0]
                              or [np.zeros(0, dtype=np.int64)])
    vectors[new_rows.astype(np.int64)] = new_vecs
    if old:
        pairs = [(a, n, o) for a, n, o in layout if o >= 0]
        if pairs:
            dst = np.concatenate([np.arange(a, a + n) for a, n, _ in pairs])
            src = np.concatenate([np.arange(o, o + n) for _, n, o in pairs])
            vectors[dst] = old["embeddings"][src]

    gen = f"gen-{time.time_ns():x}"
    tmp = index_dir / f"{gen}.partial"
    tmp.mkdir()
    try:
        np.save(tmp / "embeddings.npy", vectors)
        dense, dense_params = make_dense_index(vectors, s)
        faiss.write_index(dense, str(tmp / "dense.faiss"))
        titles = {a.id: a.title for a in articles}
        all_contexts = [passage_context(titles[p.doc_id], p.text, s.title_context)
                        for p in passages]
        save_bm25(build_bm25(all_contexts, k1=s.bm25_k1, b=s.bm25_b), tmp / "bm25")
        spans = _write_sqlite(tmp / "passages.sqlite", articles, passages, layout)
        np.save(tmp / "passages.npy", spans)
        sentences, sentence_ptr = _sentence_table(passages)
        np.save(tmp / "sentences.npy", sentences)
        np.save(tmp / "sentence_ptr.npy", sentence_ptr)
        _fsync_tree(tmp)
        os.rename(tmp, index_dir / gen)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise

    seconds = time.perf_counter() - t0
    manifest = {
        "format_version": FORMAT_VERSION,
        "package_version": __version__,
        "data": gen,
        "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "build_seconds": round(seconds, 3),
        "model": s.model,
        "backend": resolve_backend(s.backend, s.device),
        "dimension": dim,
        "chunking": s.chunking(),
        "faiss": dense_params,
        "index_settings": _index_settings(s),
        "bm25": {"k1": s.bm25_k1, "b": s.bm25_b, "method": BM25_METHOD, "stemmer": "english",
                 "accents": ACCENTS,
                 "stopwords": STOPWORDS},
        "corpus": str(corpus_dir),
        "counts": {"articles": len(articles), "passages": len(passages)},
        "files": _file_stats(corpus_dir),
        "articles": {a.id: [a.sha256, first, n] for a, (first, n, _) in zip(articles, layout,
                                                                          strict=True)},
    }
    _commit_manifest(index_dir, manifest)
    _clean_leftovers(index_dir, keep={gen} | ({previous_gen} if previous_gen else set()))
    return IndexReport(
        index_dir=str(index_dir), added=counts["added"], changed=counts["changed"],
        removed=removed, unchanged=counts["unchanged"], articles=len(articles),
        passages=len(passages), embedded_passages=len(contexts), seconds=round(seconds, 3),
        full=old is None, skipped=list(skipped))


def _index_settings(s: Settings) -> dict:
    """Settings that shape the index but not the passages or vectors."""
    return {"bm25_k1": s.bm25_k1, "bm25_b": s.bm25_b, "bm25_accents": ACCENTS,
            "dense_index": s.dense_index,
            "ann_min_passages": s.ann_min_passages, "hnsw_m": s.hnsw_m,
            "hnsw_ef_construction": s.hnsw_ef_construction}


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


def _write_sqlite(path: Path, articles: list[Article], passages: list[Passage],
                  layout: list[tuple[int, int, int]]) -> np.ndarray:
    con = sqlite3.connect(path)
    try:
        con.executescript("""
            CREATE TABLE articles (idx INTEGER PRIMARY KEY, id TEXT UNIQUE NOT NULL,
                title TEXT, source TEXT, date TEXT, url TEXT, path TEXT, sha256 TEXT,
                text TEXT NOT NULL);
            CREATE TABLE passages (row INTEGER PRIMARY KEY, doc_idx INTEGER NOT NULL,
                passage_id TEXT NOT NULL, start INTEGER NOT NULL, "end" INTEGER NOT NULL);
        """)
        con.executemany(
            "INSERT INTO articles VALUES (?,?,?,?,?,?,?,?,?)",
            ((i, a.id, a.title, a.source, a.date, a.url, a.path, a.sha256, a.text)
             for i, a in enumerate(articles)))
        doc_idx = np.repeat(np.arange(len(articles)), [n for _, n, _ in layout])
        con.executemany(
            "INSERT INTO passages VALUES (?,?,?,?,?)",
            ((r, int(d), p.passage_id, p.start, p.end)
             for r, (d, p) in enumerate(zip(doc_idx, passages, strict=True))))
        con.commit()
    finally:
        con.close()
    spans = np.empty((len(passages), 3), dtype=np.int64)
    spans[:, 0] = doc_idx
    spans[:, 1] = [p.start for p in passages]
    spans[:, 2] = [p.end for p in passages]
    return spans


def _sentence_table(passages: list[Passage]) -> tuple[np.ndarray, np.ndarray]:
    """All passages' sentence spans as one (n, 2) array, and where each passage's start."""
    per = np.fromiter((len(p.sentences) for p in passages), dtype=np.int64,
                      count=len(passages))
    ptr = np.zeros(len(passages) + 1, dtype=np.int64)
    np.cumsum(per, out=ptr[1:])
    flat = np.fromiter(chain.from_iterable(chain.from_iterable(p.sentences for p in passages)),
                       dtype=np.int64, count=2 * int(ptr[-1]))
    return flat.reshape(-1, 2), ptr


def _file_stats(corpus_dir: Path) -> dict[str, list[int]]:
    """Size and mtime of every input file: a cheap first check for staleness."""
    from .corpus import SUFFIXES, _walk

    root = corpus_dir
    files = [root] if root.is_file() else _walk(root)
    base = root.parent if root.is_file() else root
    out = {}
    for f in files:
        try:
            st = f.stat()
        except OSError:
            continue
        if f.suffix.lower() in SUFFIXES:
            out[f.relative_to(base).as_posix()] = [st.st_size, st.st_mtime_ns]
    return out


def _commit_manifest(index_dir: Path, manifest: dict) -> None:
    tmp = index_dir / f".{MANIFEST}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=1)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, index_dir / MANIFEST)
    dir_fd = os.open(index_dir, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _fsync_tree(folder: Path) -> None:
    for p in folder.rglob("*"):
        if p.is_file():
            fd = os.open(p, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)


def _clean_leftovers(index_dir: Path, keep: set[str] | None = None) -> None:
    """Remove unfinished builds and, when ``keep`` is given, generations not in it.

    After a build, ``keep`` holds the new and the previous generation: a reader that read
    the old manifest a moment before the swap can still open the old files.
    """
    current = _read_manifest_quiet(index_dir)
    keep = None if keep is None else keep | ({current["data"]} if current and current.get("data")
                                             else set())
    for p in index_dir.glob("gen-*"):
        if p.name.endswith(".partial") or (keep is not None and p.name not in keep):
            shutil.rmtree(p, ignore_errors=True)
    for p in index_dir.glob(f".{MANIFEST}.*.tmp"):
        p.unlink(missing_ok=True)


@contextmanager
def _build_lock(index_dir: Path):
    fd = os.open(index_dir / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as e:
            raise IndexLockedError(f"Another build of {index_dir} is running.") from e
        yield
    finally:
        os.close(fd)


def _read_manifest_quiet(index_dir: Path) -> dict | None:
    try:
        return json.loads((index_dir / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _reusable(index_dir: Path, s: Settings) -> dict | None:
    """The old index's manifest and vectors when they can seed an incremental build."""
    try:
        idx = load_index(index_dir, settings=s)
    except (IndexNotFoundError, IndexMismatchError, IndexCorruptError):
        return None
    return {"manifest": idx.manifest, "embeddings": idx.embeddings}


# --------------------------------------------------------------------------- loading

class Index:
    """A loaded index. Cheap to query from many threads; load it once per process."""

    def __init__(self, index_dir: Path, manifest: dict, settings: Settings):
        self.index_dir = index_dir
        self.manifest = manifest
        self.settings = settings
        data = index_dir / manifest["data"]
        try:
            params = manifest.get("faiss", {})
            self.dense: Any
            if params.get("type", "IndexFlatIP") == "IndexFlatIP":
                self.dense = faiss.read_index(str(data / "dense.faiss"), faiss.IO_FLAG_MMAP)
            else:
                self.dense = faiss.read_index(str(data / "dense.faiss"))
                self.dense.hnsw.efSearch = int(params.get("efSearch", settings.hnsw_ef_search))
            self.embeddings = np.load(data / "embeddings.npy", mmap_mode="r")
            self.spans = np.load(data / "passages.npy", mmap_mode="r")
            self.sentences: Any = None  # format 1: found at query time
            self.sentence_ptr: Any = None
            if manifest.get("format_version", 1) >= 2:
                self.sentences = np.load(data / "sentences.npy", mmap_mode="r")
                self.sentence_ptr = np.load(data / "sentence_ptr.npy", mmap_mode="r")
            self.lexical = Lexical(load_bm25(data / "bm25"))
            db = data / "passages.sqlite"
            if not db.is_file():
                raise FileNotFoundError(db)
            self._db = sqlite3.connect(f"file:{db}?mode=ro", uri=True, check_same_thread=False)
            # connecting reads nothing: count the rows so that a damaged file shows now
            db_counts = [self._db.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                         for t in ("passages", "articles")]
        except Exception as e:  # noqa: BLE001 - any unreadable file means the same thing
            raise IndexCorruptError(
                f"The index in {index_dir} is damaged or incomplete "
                f"({e.__class__.__name__}: {str(e)[:200]})") from e
        n = manifest["counts"]["passages"]
        dim = manifest.get("dimension", self.dense.d)
        if not (self.embeddings.ndim == 2 and self.embeddings.shape[1] == self.dense.d == dim
                and self.spans.ndim == 2 and self.spans.shape[1] == 3):
            raise IndexCorruptError(f"The index in {index_dir} is inconsistent: its vectors or "
                                    f"passage table do not have the shape the manifest names "
                                    f"(dimension {dim}).")
        if self.sentences is not None and not (
                self.sentences.ndim == 2 and self.sentences.shape[1] == 2
                and self.sentence_ptr.shape == (n + 1,)
                and int(self.sentence_ptr[-1]) == len(self.sentences)):
            raise IndexCorruptError(f"The index in {index_dir} is inconsistent: its sentence "
                                    "table does not match its passages.")
        n_articles = manifest["counts"].get("articles", db_counts[1])
        if not (self.dense.ntotal == n == len(self.embeddings) == len(self.spans)
                == self.lexical.n_docs == db_counts[0] and db_counts[1] == n_articles):
            raise IndexCorruptError(f"The index in {index_dir} is inconsistent: its parts "
                                    "hold different numbers of passages.")
        self._db_lock = threading.Lock()
        self._doc_ids: list[str] | None = None
        # the settings' backend, not the build's: vectors of all backends are close enough
        # to query each other's index, so a user may switch without rebuilding
        self.embedder = get_embedder(manifest["model"], device=settings.device,
                                     batch_size=settings.batch_size, backend=settings.backend)

    def _query(self, sql: str, params=()) -> list[tuple]:
        """Rows of a query; a damaged database raises IndexCorruptError, not sqlite3's."""
        try:
            with self._db_lock:
                return self._db.execute(sql, params).fetchall()
        except sqlite3.DatabaseError as e:
            raise IndexCorruptError(f"The index in {self.index_dir} is damaged or incomplete "
                                    f"({e.__class__.__name__}: {str(e)[:200]})") from e

    def doc_ids(self) -> list[str]:
        """Article ids by article number (the first column of ``spans``)."""
        if self._doc_ids is None:
            self._doc_ids = [r[0] for r in self._query("SELECT id FROM articles ORDER BY idx")]
        return self._doc_ids

    @property
    def size(self) -> int:
        return int(self.manifest["counts"]["passages"])

    def rows(self, rows: list[int]) -> list[dict]:
        """Passage and article fields for the given passage rows, in that order; ``text`` is
        the passage's (the article text is not read)."""
        if not rows:
            return []
        marks = ",".join("?" * len(rows))
        got = {r[0]: r for r in self._query(
            f'SELECT p.row, p.passage_id, p.start, p."end", a.id, a.title, a.source, '
            f'a.date, a.url, a.path, substr(a.text, p.start + 1, p."end" - p.start) '
            f"FROM passages p JOIN articles a "
            f"ON a.idx = p.doc_idx WHERE p.row IN ({marks})", [int(r) for r in rows])}
        keys = ("row", "passage_id", "start", "end", "doc_id", "title", "source", "date",
                "url", "path", "text")
        return [dict(zip(keys, got[int(r)], strict=True)) for r in rows]

    def sentence_spans(self, rows: list[int]) -> list[np.ndarray] | None:
        """Article spans ``(k, 2)`` of the sentences of each passage row; None for a
        format-1 index, which does not store them."""
        if self.sentences is None:
            return None
        ptr = self.sentence_ptr
        return [np.asarray(self.sentences[ptr[r]:ptr[r + 1]]) for r in rows]

    def article(self, doc_id: str) -> dict | None:
        found = self._query("SELECT id, title, source, date, url, path, text FROM articles "
                            "WHERE id = ?", (doc_id,))
        r = found[0] if found else None
        keys = ("doc_id", "title", "source", "date", "url", "path", "text")
        return dict(zip(keys, r, strict=True)) if r else None

    def staleness(self, corpus_dir: str | Path | None = None) -> Staleness:
        """Compare the corpus with the build: sizes and mtimes first, hashes if they differ."""
        root = Path(corpus_dir or self.manifest.get("corpus") or self.settings.corpus_dir)
        if not root.exists():
            return Staleness(removed=len(self.manifest["articles"]))
        if _file_stats(root) == self.manifest.get("files"):
            return Staleness()
        try:
            limit = self.settings.max_file_mb * 2**20
            arts = load_corpus(root, max_bytes=limit).articles
        except Exception:  # noqa: BLE001 - an unreadable corpus counts as all removed
            return Staleness(removed=len(self.manifest["articles"]))
        old = self.manifest["articles"]
        new_ids = {a.id for a in arts}
        return Staleness(
            added=sum(a.id not in old for a in arts),
            changed=sum(a.id in old and old[a.id][0] != a.sha256 for a in arts),
            removed=sum(i not in new_ids for i in old))


def read_manifest(index_dir: str | Path) -> dict:
    index_dir = Path(index_dir)
    path = index_dir / MANIFEST
    if not path.is_file():
        where = "" if index_dir.is_dir() else " (the folder does not exist)"
        raise IndexNotFoundError(f"No index in {index_dir}{where}.")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        manifest["data"], manifest["counts"]["passages"], manifest["articles"]  # noqa: B018
    except (ValueError, KeyError, TypeError) as e:
        raise IndexCorruptError(f"The index manifest {path} is unreadable.") from e
    return manifest


def check_compatible(manifest: dict, s: Settings, index_dir: Path) -> None:
    version = manifest.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise IndexMismatchError(
            f"The index in {index_dir} has format version {version!r}; this challenge_qa "
            f"reads version {FORMAT_VERSION}. It was built by a newer release.",
            hint="Upgrade challenge_qa, or rebuild with: challenge-qa index --full")
    if manifest.get("model") != s.model:
        raise IndexMismatchError(
            f"The index in {index_dir} was built with the model {manifest.get('model')!r}, "
            f"but the settings ask for {s.model!r}.")
    if manifest.get("chunking") != s.chunking():
        raise IndexMismatchError(
            f"The index in {index_dir} was built with chunking {manifest.get('chunking')}, "
            f"but the settings ask for {s.chunking()}.")


def load_index(index_dir: str | Path | None = None, *,
               settings: Settings | None = None) -> Index:
    """Load an index, refusing one built with another model or chunking.

    Example:
        >>> idx = load_index("index")  # doctest: +SKIP
        >>> idx.size
        12
    """
    s = settings or Settings.from_env()
    index_dir = Path(index_dir or s.index_dir)
    manifest = read_manifest(index_dir)
    check_compatible(manifest, s, index_dir)
    return Index(index_dir, manifest, s)


_INDEX_CACHE: dict[Path, tuple[tuple, Index]] = {}
_INDEX_CACHE_LOCK = threading.Lock()


def get_index(settings: Settings | None = None) -> Index:
    """The process-wide loaded index for ``settings.index_dir``.

    Reloaded when a build has committed a new manifest (a cheap ``stat`` per call), so a
    long-running server picks up a rebuild; requests holding the old ``Index`` finish on it.
    """
    s = settings or Settings.from_env()
    index_dir = Path(s.index_dir)
    key = index_dir.resolve()
    try:
        st = (index_dir / MANIFEST).stat()
        stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
    except OSError:
        stamp = None
    with _INDEX_CACHE_LOCK:
        cached = _INDEX_CACHE.get(key)
        if cached and stamp and cached[0] == stamp and cached[1].settings == s:
            return cached[1]
    idx = load_index(index_dir, settings=s)
    if stamp:
        with _INDEX_CACHE_LOCK:
            _INDEX_CACHE[key] = (stamp, idx)
    return idx
