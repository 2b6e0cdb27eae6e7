"""A read-only view over an index's committed segments: what retrieval searches.

Rows are numbered across segments in manifest order (segment offset + row in the
segment), deleted ones included; articles likewise. Search covers the live rows only,
and ranks them as one index of the same live passages would: BM25 uses corpus-wide
document frequencies and average length, and dense candidates are re-scored exactly
from the stored vectors by ``retrieve.rank``.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

import numpy as np

from ..config import Settings
from ..encoders.embedding import Embedder, make_embedder
from ..errors import IndexCorruptError
from ..store.changes import Staleness, staleness
from ..store.manifest import check_compatible, read_manifest
from ..store.segments import NO_DATE, Segment
from ..store.tables import PassageTables
from ..text.dates import EPOCH
from ..text.lexical import Tokenizer
from . import dense
from .bm25 import Lexical
from .candidates import Candidates, merge, propose
from .filters import Filters

__all__ = ["Filters", "Index", "Lexical", "SearchableIndex", "check_compatible", "load_index",
           "read_manifest"]


class SentenceVectors:
    """Embeddings of sentences the answerer has looked at, keyed by article span; least
    recently used ones are dropped beyond ``size``. One per index: a new commit starts
    afresh."""

    def __init__(self, embedder: Embedder, size: int = 50_000):
        self.embedder = embedder
        self.size = size
        self.data: OrderedDict[tuple, np.ndarray] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, keys: list[tuple], texts: list[str]) -> np.ndarray:
        """The vectors of ``texts`` (whose spans are ``keys``), encoding the missing ones."""
        with self.lock:
            missing = [i for i, k in enumerate(keys) if k not in self.data]
        if missing:
            vecs = self.embedder.encode_documents([texts[i] for i in missing])
            with self.lock:
                for i, v in zip(missing, vecs, strict=True):
                    self.data[keys[i]] = v
                while len(self.data) > self.size:
                    self.data.popitem(last=False)
        with self.lock:
            return np.stack([self.data[k] for k in keys])


class LexicalView(Protocol):
    """The BM25 side of a ``SearchableIndex``: its words and their statistics."""

    tokenizer: Tokenizer

    def df(self, term: str) -> int: ...
    def question_terms(self, question: str) -> list[str]: ...
    def query_terms(self, question: str) -> list[str]: ...
    def term_weights(self, terms: list[str]) -> dict[str, float]: ...


class SearchableIndex(Protocol):
    """What retrieval, answers and timelines ask of an index: an ``Index`` (segments
    loaded in this process) or a ``search.sharded.ShardedIndex`` (segments served by
    shards). Rows and articles are numbered across the index's segments."""

    settings: Settings
    embedder: Embedder
    sentence_vectors: SentenceVectors
    manifest: dict

    @property
    def lexical(self) -> LexicalView: ...
    @property
    def size(self) -> int: ...
    @property
    def generation(self) -> str: ...
    def candidates(self, q_vecs: np.ndarray, terms: list[list[str]], n: int,
                   filters: Filters | None = None) -> list[Candidates]: ...
    def has_dated(self) -> bool: ...
    def spans(self, rows) -> np.ndarray: ...
    def rows(self, rows: list[int]) -> list[dict]: ...
    def sentence_spans(self, rows: list[int]) -> list[np.ndarray]: ...
    def date_mentions(self, docs: Iterable[int]) -> dict[int, list[dict]]: ...
    def passages_at(self, items: list[tuple[int, int, int]]) -> list[dict]: ...
    def pages(self, docs: Iterable[int]) -> dict[int, tuple[int, ...]]: ...
    def latest(self, n: int = 20) -> list[dict]: ...
    def source_names(self) -> list[str]: ...
    def doc_ids(self) -> list[str]: ...
    def article(self, doc_id: str) -> dict | None: ...
    def staleness(self, corpus_dir: str | Path | None = None) -> Staleness: ...
    def close(self) -> None: ...


class Index(PassageTables):
    """A loaded index: all live segments of one commit. Cheap to query from many threads.

    ``embedder`` encodes questions (made from the settings when not given); ``pool`` is
    the threads that search segments side by side (the index makes its own when not
    given, and ``close`` stops them)."""

    def __init__(self, index_dir: Path, manifest: dict, settings: Settings, *,
                 embedder: Embedder | None = None, pool: dense.SearchPool | None = None):
        self.index_dir = index_dir
        self.manifest = manifest
        self.settings = settings
        self.segments: list[Segment] = []
        try:
            for entry in manifest["segments"]:
                self.segments.append(Segment(index_dir, entry))
        except Exception as e:  # noqa: BLE001 - any unreadable file means the same thing
            for seg in self.segments:
                seg.close()
            raise IndexCorruptError(
                f"The index in {index_dir} is damaged or incomplete "
                f"({e.__class__.__name__}: {str(e)[:200]})") from e
        dim = int(manifest["dimension"])
        if any(seg.vectors.shape[1] != dim or seg.dense.d != dim for seg in self.segments
               if seg.n):
            raise IndexCorruptError(f"The index in {index_dir} is inconsistent: its vectors "
                                    f"do not have the dimension the manifest names ({dim}).")
        self.dimension = dim
        self.offsets = np.zeros(len(self.segments) + 1, dtype=np.int64)
        np.cumsum([seg.n for seg in self.segments], out=self.offsets[1:])
        self.doc_offsets = np.zeros(len(self.segments) + 1, dtype=np.int64)
        np.cumsum([seg.entry["articles"] for seg in self.segments], out=self.doc_offsets[1:])
        self.lexical = Lexical(self.segments, self.offsets, manifest["bm25"]["k1"],
                               manifest["bm25"]["b"])
        live = sum(seg.n_live for seg in self.segments)
        if live != manifest["counts"]["passages"]:
            raise IndexCorruptError(f"The index in {index_dir} is inconsistent: it holds "
                                    f"{live} live passages, its manifest says "
                                    f"{manifest['counts']['passages']}.")
        self._lock = threading.Lock()
        self._doc_ids: list[str] | None = None
        self._allowed: OrderedDict[Filters, list[np.ndarray | None]] = OrderedDict()
        # the settings' backend, not the build's: vectors of all backends are close enough
        # to query each other's index, so a user may switch without rebuilding
        self.embedder = embedder or make_embedder(
            manifest["model"], device=settings.device, batch_size=settings.batch_size,
            backend=settings.backend)
        self._own_pool = pool is None
        self.pool = pool or dense.SearchPool(dense.search_threads(settings))
        self.sentence_vectors = SentenceVectors(self.embedder)

    # ------------------------------------------------------------------ sizes

    @property
    def size(self) -> int:
        """Live passages."""
        return int(self.manifest["counts"]["passages"])

    @property
    def rows_total(self) -> int:
        """Rows across segments, deleted ones included (the row-number space)."""
        return int(self.offsets[-1])

    @property
    def generation(self) -> str:
        """A name unique to this commit (caches key on it)."""
        return str(self.manifest.get("generation", ""))

    # ------------------------------------------------------------------ vectors, spans

    def vectors(self, rows) -> np.ndarray:
        """The stored passage vectors of ``rows`` (float32)."""
        out = np.empty((len(rows), self.dimension), dtype=np.float32)
        for i, pos, local in self._split(rows):
            out[pos] = self.segments[i].vectors[local]
        return out

    def spans(self, rows) -> np.ndarray:
        """``(article number, start, end)`` of ``rows``, article numbers across segments."""
        out = np.empty((len(rows), 3), dtype=np.int64)
        for i, pos, local in self._split(rows):
            out[pos] = self.segments[i].spans[local]
            out[pos, 0] += self.doc_offsets[i]
        return out

    def live_rows(self) -> np.ndarray:
        """Every live row number."""
        parts = [np.flatnonzero(seg.live) + off if seg.live is not None
                 else np.arange(seg.n) + off
                 for seg, off in zip(self.segments, self.offsets[:-1].tolist(), strict=True)]
        return np.concatenate(parts) if parts else np.zeros(0, np.int64)

    def allowed(self, filters: Filters | None) -> list[np.ndarray | None] | None:
        """Per segment, the rows a filtered search may return (live and passing the
        filters; None for "all live rows"); None when there is no filter."""
        if filters is None or not filters.active:
            return None
        with self._lock:
            got = self._allowed.get(filters)
            if got is not None:
                self._allowed.move_to_end(filters)
                return got
        masks: list[np.ndarray | None] = []
        lo = filters.since.toordinal() - EPOCH if filters.since else None
        hi = filters.until.toordinal() - EPOCH if filters.until else None
        for seg in self.segments:
            ok = ~seg.deleted_articles
            pub = np.asarray(seg.published)
            if lo is not None or hi is not None:
                ok = ok & (pub != NO_DATE)
            if lo is not None:
                ok = ok & (pub >= lo)
            if hi is not None:
                ok = ok & (pub <= hi)
            if filters.sources:
                wanted = np.array([" ".join(x.split()).lower() in filters.sources
                                   for x in seg.sources] + [False], dtype=bool)
                ok = ok & wanted[np.asarray(seg.source_ids)]  # -1 (none) picks False
            masks.append(ok[np.asarray(seg.spans[:, 0])])
        with self._lock:
            self._allowed[filters] = masks
            while len(self._allowed) > 16:
                self._allowed.popitem(last=False)
        return masks

    def row_mask(self, filters: Filters | None) -> np.ndarray | None:
        """The rows a filtered search may return, as one boolean array over all rows."""
        masks = self.allowed(filters)
        if masks is None:
            return None
        return np.concatenate([m for m in masks if m is not None] or [np.zeros(0, bool)])

    def search_dense(self, q_vecs: np.ndarray, n: int,
                     filters: Filters | None = None) -> list[np.ndarray]:
        """For each query vector, up to ``n`` live rows (passing ``filters``) proposed by
        the segments' dense indexes, best first by the index's (possibly approximate)
        score; see ``dense.search``."""
        return [rows for rows, _ in self.search_dense_scored(q_vecs, n, filters)]

    def search_dense_scored(self, q_vecs: np.ndarray, n: int, filters: Filters | None = None,
                            *, live_total: int | None = None
                            ) -> list[tuple[np.ndarray, np.ndarray]]:
        """``search_dense`` with the dense index's scores (rows, scores)."""
        return dense.search(self.segments, self.offsets, self.settings, q_vecs, n,
                            self.allowed(filters), self.pool, live_total=live_total)

    def candidates(self, q_vecs: np.ndarray, terms: list[list[str]], n: int,
                   filters: Filters | None = None) -> list[Candidates]:
        """For each question (its vector and BM25 terms), the ``n`` best dense rows and
        the BM25 rows at or above the ``n``-th best score, with exact scores (see
        ``candidates``)."""
        return [merge([p], n) for p in propose(self, q_vecs, terms, n, filters)]

    def has_dated(self) -> bool:
        """Whether any live article has a publication date."""
        dated = self.row_mask(Filters(since=dt.date.min))
        return bool(dated is not None and dated.any())

    def staleness(self, corpus_dir: str | Path | None = None) -> Staleness:
        """What changed in the corpus (``corpus_dir``, by default the one indexed) since
        this commit."""
        return staleness(self.index_dir, self.manifest, self.settings, corpus_dir)

    def close(self) -> None:
        if self._own_pool:
            self.pool.close()
        for seg in self.segments:
            seg.close()


# --------------------------------------------------------------------------- loading

def load_index(index_dir: str | Path | None = None, *, settings: Settings | None = None,
               embedder: Embedder | None = None, pool: dense.SearchPool | None = None
               ) -> Index:
    """Load an index, refusing one built with another model or chunking. ``embedder``
    and ``pool`` are an engine's, shared by the indexes it loads (see ``Index``).

    Example:
        >>> idx = load_index("index")  # doctest: +SKIP
        >>> idx.size  # doctest: +SKIP
        6
    """
    s = settings or Settings.from_env()
    index_dir = Path(index_dir or s.index_dir)
    manifest = read_manifest(index_dir)
    for attempt in range(10):
        check_compatible(manifest, s, index_dir)
        try:
            return Index(index_dir, manifest, s, embedder=embedder, pool=pool)
        except IndexCorruptError:
            # a commit keeps the files of the manifest it replaces, not older ones: when
            # two commits (a build's last segment and its deletions, or merges) came
            # between reading the manifest and opening its files, load the newer commit
            newer = read_manifest(index_dir)
            if newer == manifest or attempt == 9:
                raise
            manifest = newer
    raise AssertionError("unreachable")
