"""One shard of an index, loaded alone: what a shard's server (``search.ray_shards``)
holds, and what ``search.sharded.ShardedIndex`` asks.

A ``Shard`` loads the segments the manifest's shard plan gives its slot (memory-mapped;
the other segments are never opened) as an ``Index`` of their own, and speaks in the
whole index's numbers: rows and articles are numbered across all segments in manifest
order, so a shard's answers merge into exactly what one process would give.

Every call names the commit (``generation``) the asker has loaded. A shard on an older
commit loads the newer one first; a shard already past it raises ``IndexChangedError``
so that the asker loads the newer commit too. So a build's new segments reach every
shard without a restart, and no answer mixes two commits.
"""

from __future__ import annotations

import functools
import os
import threading
from collections import Counter
from pathlib import Path
from typing import Any, cast

import numpy as np

from ..config import Settings
from ..encoders.embedding import Embedder
from ..errors import IndexChangedError, IndexCorruptError
from ..store.manifest import check_compatible, read_manifest
from ..store.segments import counts
from ..store.shards import groups_of
from .bm25 import Stats
from .candidates import Proposal, propose
from .filters import Filters
from .index import Index


class Numbering:
    """Index-wide and shard-local numbers (of rows, or of articles) of a shard's
    segments, which are a subsequence of the manifest's: ``starts`` are each segment's
    first index-wide number, ``local`` its first number in the shard.

    Example:
        >>> n = Numbering(np.array([10, 40]), np.array([0, 5]), np.array([5, 3]))
        >>> n.to_local([11, 41]).tolist(), n.to_global([1, 6]).tolist()
        ([1, 6], [11, 41])
    """

    def __init__(self, starts: np.ndarray, local: np.ndarray, sizes: np.ndarray):
        self.starts, self.local, self.sizes = starts, local, sizes

    def to_local(self, numbers) -> np.ndarray:
        g = np.asarray(numbers, dtype=np.int64)
        seg = np.searchsorted(self.starts, g, side="right") - 1
        if len(g) and ((seg < 0).any() or (g - self.starts[seg] >= self.sizes[seg]).any()):
            raise ValueError("numbers outside this shard's segments")
        return g - self.starts[seg] + self.local[seg]

    def to_global(self, numbers) -> np.ndarray:
        loc = np.asarray(numbers, dtype=np.int64)
        seg = np.searchsorted(self.local, loc, side="right") - 1
        return loc - self.local[seg] + self.starts[seg]


def _numbering(entries: list[dict], mine: list[int], key: str) -> Numbering:
    sizes = np.array([int(e[key]) for e in entries], dtype=np.int64)
    starts = np.zeros(len(entries), dtype=np.int64)
    np.cumsum(sizes[:-1], out=starts[1:]) if len(entries) > 1 else None
    own = sizes[mine]
    local = np.zeros(len(mine), dtype=np.int64)
    np.cumsum(own[:-1], out=local[1:]) if len(mine) > 1 else None
    return Numbering(starts[mine], local, own)


class ShardView:
    """One commit of one shard: its segments as an ``Index`` and the numbering."""

    def __init__(self, index_dir: Path, manifest: dict, slot: int, settings: Settings):
        groups = groups_of(index_dir, manifest)
        names = set(groups[slot]["segments"]) if slot < len(groups) else set()
        entries = manifest["segments"]
        mine = [i for i, e in enumerate(entries) if e["name"] in names]
        own = [entries[i] for i in mine]
        self.generation = str(manifest.get("generation", ""))
        self.manifest = manifest
        self.segment_names = [e["name"] for e in own]
        self.positions = mine  # each segment's place in the manifest
        self.rows = _numbering(entries, mine, "passages")
        self.docs = _numbering(entries, mine, "articles")
        # the shard never encodes text: questions arrive as vectors
        self.index = Index(index_dir, {**manifest, "segments": own, "counts": counts(own)},
                           settings, embedder=cast(Embedder, _NoEncoder(manifest.get("model", ""))))

    def close(self) -> None:
        self.index.close()


class _NoEncoder:
    """A shard's stand-in for an encoder: shards receive vectors, never text."""

    def __init__(self, name: str):
        self.name = name

    def encode_queries(self, texts):
        raise RuntimeError("a shard does not encode text")

    encode_documents = encode_queries


def _counted(method):
    """Count the calls of a ``Shard`` method in ``Shard.calls``."""
    name = method.__name__

    @functools.wraps(method)
    def counted(self, *args):
        self.calls[name] += 1
        return method(self, *args)

    return counted


class Shard:
    """Slot ``slot`` of the sharded index in ``index_dir``, in the index's numbering.

    The methods are what ``ShardedIndex`` asks; each takes the asker's ``generation``
    first (see the module's docstring)."""

    def __init__(self, index_dir: str | Path, slot: int, settings: Settings):
        self.index_dir = Path(index_dir)
        self.slot = slot
        self.settings = settings
        self._lock = threading.Lock()
        self._view: ShardView | None = None
        self._previous: ShardView | None = None  # requests may still be on it
        #: Calls answered, by method (``info`` reports them: tests, the benchmark).
        self.calls: Counter[str] = Counter()

    # ------------------------------------------------------------------ commits

    def _load(self, manifest: dict) -> ShardView:
        for attempt in range(10):
            check_compatible(manifest, self.settings, self.index_dir)
            try:
                return ShardView(self.index_dir, manifest, self.slot, self.settings)
            except IndexCorruptError:
                newer = read_manifest(self.index_dir)  # a later commit removed files
                if newer == manifest or attempt == 9:
                    raise
                manifest = newer
        raise AssertionError("unreachable")

    def view(self, generation: str | None = None) -> ShardView:
        """The loaded commit, after loading ``generation`` if it is not that one; with
        None, the loaded commit (the newest on disk when none is loaded yet)."""
        with self._lock:
            view = self._view
            if view is not None and (generation is None or view.generation == generation):
                return view
            manifest = read_manifest(self.index_dir)
            on_disk = str(manifest.get("generation", ""))
            if generation is not None and on_disk != generation:
                raise IndexChangedError(
                    f"Shard {self.slot} is on commit {on_disk}, newer than {generation}.")
            if view is not None and view.generation == on_disk:
                return view
            new = self._load(manifest)
            if self._previous is not None:
                self._previous.close()
            self._previous, self._view = self._view, new
            return new

    def close(self) -> None:
        with self._lock:
            for v in (self._view, self._previous):
                if v is not None:
                    v.close()
            self._view = self._previous = None

    # ------------------------------------------------------------------ asked

    @_counted
    def info(self, generation: str | None = None) -> dict[str, Any]:
        """The shard's commit, live passages and their tokens, whether any of its
        articles is dated, and the process serving it."""
        v = self.view(generation)
        idx = v.index
        return {"generation": v.generation, "slot": self.slot, "passages": idx.size,
                "tokens": idx.lexical.tokens, "segments": v.segment_names,
                "dated": idx.has_dated(), "pid": os.getpid(), "calls": dict(self.calls)}

    @_counted
    def df(self, generation: str, terms: list[str]) -> list[int]:
        """Live passages of this shard holding each term."""
        lex = self.view(generation).index.lexical
        return [lex.df(t) for t in terms]

    @_counted
    def propose(self, generation: str, q_vecs: np.ndarray, terms: list[list[str]], n: int,
                filters: Filters | None, stats: list[Stats], live_total: int
                ) -> list[Proposal]:
        """The shard's ``Proposal`` for each question, scored with the whole index's
        statistics, in index-wide numbers."""
        v = self.view(generation)
        out = []
        for p in propose(v.index, q_vecs, terms, n, filters, stats, live_total):
            spans = p.spans.copy()
            spans[:, 0] = v.docs.to_global(spans[:, 0])
            out.append(Proposal(v.rows.to_global(p.dense_rows), p.dense_approx,
                                v.rows.to_global(p.bm25_rows), v.rows.to_global(p.rows),
                                p.dense, p.bm25, spans))
        return out

    @_counted
    def spans(self, generation: str, rows) -> np.ndarray:
        v = self.view(generation)
        out = v.index.spans(v.rows.to_local(rows))
        out[:, 0] = v.docs.to_global(out[:, 0])
        return out

    @_counted
    def rows(self, generation: str, rows) -> list[dict]:
        v = self.view(generation)
        recs = v.index.rows(v.rows.to_local(rows).tolist())
        for rec, row in zip(recs, rows, strict=True):
            rec["row"] = int(row)
            rec["doc"] = int(v.docs.to_global([rec["doc"]])[0])
        return recs

    @_counted
    def sentence_spans(self, generation: str, rows) -> list[np.ndarray]:
        v = self.view(generation)
        return v.index.sentence_spans(v.rows.to_local(rows).tolist())

    @_counted
    def date_mentions(self, generation: str, docs) -> dict[int, list[dict]]:
        v = self.view(generation)
        local = v.docs.to_local(list(docs)).tolist()
        got = v.index.date_mentions(local)
        out: dict[int, list[dict]] = {}
        for d, g in zip(local, v.docs.to_global(local).tolist(), strict=True):
            out[g] = [{**m, "doc": g} for m in got.get(d, [])]
        return out

    @_counted
    def passages_at(self, generation: str, items: list[tuple[int, int, int]]) -> list[dict]:
        v = self.view(generation)
        local = v.docs.to_local([d for d, _, _ in items]).tolist()
        recs = v.index.passages_at([(d, a, b) for d, (_, a, b) in
                                    zip(local, items, strict=True)])
        for rec in recs:
            rec["row"] = int(v.rows.to_global([rec["row"]])[0])
        return recs

    @_counted
    def pages(self, generation: str, docs) -> dict[int, tuple[int, ...]]:
        v = self.view(generation)
        got = v.index.pages(v.docs.to_local(list(docs)).tolist())
        return {int(v.docs.to_global([d])[0]): p for d, p in got.items()}

    @_counted
    def latest(self, generation: str, n: int) -> list[tuple[int, dict]]:
        """The shard's ``n`` newest live articles, each with its publication day (the
        order of ``PassageTables.latest``)."""
        v = self.view(generation)
        idx = v.index
        out = []
        for rec in idx.latest(n):
            i = int(np.searchsorted(idx.doc_offsets, rec["doc"], side="right") - 1)
            day = int(idx.segments[i].published[rec["doc"] - int(idx.doc_offsets[i])])
            out.append((day, {**rec, "doc": int(v.docs.to_global([rec["doc"]])[0])}))
        return out

    @_counted
    def source_names(self, generation: str) -> list[str]:
        return self.view(generation).index.source_names()

    @_counted
    def doc_ids(self, generation: str) -> dict[str, list[str]]:
        """Article ids by segment name, in article order."""
        v = self.view(generation)
        ids = v.index.doc_ids()
        offs = v.index.doc_offsets.tolist()
        return {name: ids[offs[i]:offs[i + 1]] for i, name in enumerate(v.segment_names)}

    @_counted
    def article(self, generation: str, doc_id: str) -> tuple[int, dict] | None:
        """The live article ``doc_id`` with its segment's place in the manifest (the
        newest place holds the newest version), or None."""
        v = self.view(generation)
        idx = v.index
        for i in reversed(range(len(idx.segments))):
            seg = idx.segments[i]
            found = idx._query(seg, "SELECT idx, id, title, source, date, url, path, text "
                                    "FROM articles WHERE id = ?", (doc_id,))
            if found and not seg.deleted_articles[found[0][0]]:
                keys = ("doc_id", "title", "source", "date", "url", "path", "text")
                return v.positions[i], dict(zip(keys, found[0][1:], strict=True))
        return None
