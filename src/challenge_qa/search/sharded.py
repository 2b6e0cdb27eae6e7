"""The front end of a sharded index: an ``Index`` whose segments are served by shards.

``ShardedIndex`` offers what retrieval, answers and timelines ask of an ``Index``, for
one commit (the manifest it was made from), and asks the shards (``search.shard``)
through a ``ShardClient``: ``LocalShards`` in this process, or ``RayShards``
(``search.ray_shards``) on a Ray cluster. A question is embedded once, here. BM25's
statistics are the whole index's: each query term's document frequency is summed over
all shards (and remembered for this commit), the live passages come from the manifest
and their tokens from the shards. Only the shards whose publication dates can match the
question's date filter are asked for candidates; ``candidates.merge`` then keeps what one
process would keep, so rankings equal those of one index over the same segments.

A shard that does not answer is waited for up to ``Settings.shard_wait_s``; then the
question fails with ``ShardUnavailableError`` rather than being answered from the rest.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ..config import Settings
from ..encoders.embedding import Embedder
from ..store.changes import Staleness, staleness
from ..store.shards import groups_of, may_match
from ..text.lexical import Tokenizer
from .bm25 import Stats
from .candidates import Candidates, merge
from .filters import Filters
from .index import SentenceVectors
from .shard import Shard


class ShardClient(Protocol):
    """How a front end reaches the shards of one index folder."""

    def call(self, slots: Sequence[int], method: str, args: Sequence[tuple]) -> list[Any]:
        """``Shard.<method>(*args[i])`` on shard ``slots[i]``, side by side; the results
        in order. Raises ``ShardUnavailableError`` when a shard does not answer in time,
        and whatever a shard raised (``IndexChangedError``) otherwise."""
        ...

    def ensure(self, count: int) -> None:
        """Make shards ``0 .. count-1`` ready to be asked."""
        ...

    def close(self) -> None: ...


class LocalShards:
    """Every shard of ``index_dir`` in this process (tests, and the one-machine
    baseline of ``benchmarks/shards.py``)."""

    def __init__(self, index_dir: str | Path, settings: Settings):
        self.index_dir = Path(index_dir)
        self.settings = settings
        self.shards: dict[int, Shard] = {}
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(4, thread_name_prefix="challenge-qa-shards")

    def shard(self, slot: int) -> Shard:
        with self._lock:
            if slot not in self.shards:
                self.shards[slot] = Shard(self.index_dir, slot, self.settings)
            return self.shards[slot]

    def ensure(self, count: int) -> None:
        """Shards load when first asked."""

    def call(self, slots: Sequence[int], method: str, args: Sequence[tuple]) -> list[Any]:
        if len(slots) == 1:
            return [getattr(self.shard(slots[0]), method)(*args[0])]
        futures = [self._pool.submit(getattr(self.shard(s), method), *a)
                   for s, a in zip(slots, args, strict=True)]
        return [f.result() for f in futures]

    def close(self) -> None:
        self._pool.shutdown(wait=False)
        with self._lock:
            for shard in self.shards.values():
                shard.close()
            self.shards.clear()


class ShardedLexical:
    """The BM25 side's questions answered with the whole index's statistics, which the
    shards are asked for (document frequencies are remembered for the commit)."""

    def __init__(self, owner: ShardedIndex):
        self.owner = owner
        self.tokenizer = Tokenizer()
        self.n_docs = owner.size
        self._df: dict[str, int] = {}
        self._tokens: float | None = None
        self._lock = threading.Lock()

    def dfs(self, terms: Iterable[str]) -> dict[str, int]:
        """Each distinct term's document frequency over the whole index (one call to every
        shard for the terms not remembered yet)."""
        wanted = list(dict.fromkeys(terms))
        with self._lock:
            known = {t: self._df[t] for t in wanted if t in self._df}
        missing = [t for t in wanted if t not in known]
        if missing:
            slots = self.owner.slots
            got = self.owner.call(slots, "df", [(missing,)] * len(slots))
            total = (np.sum(np.asarray(got, dtype=np.int64), axis=0) if got
                     else np.zeros(len(missing), np.int64))
            fetched = {t: int(x) for t, x in zip(missing, total, strict=True)}
            known.update(fetched)
            with self._lock:
                if len(self._df) > 200_000:
                    self._df.clear()
                self._df.update(fetched)
        return known

    def df(self, term: str) -> int:
        return self.dfs([term])[term]

    @property
    def tokens(self) -> float:
        if self._tokens is None:
            self._tokens = float(sum(i["tokens"] for i in self.owner.infos()))
        return self._tokens

    def question_terms(self, question: str) -> list[str]:
        return self.tokenizer.question_terms(question)

    def query_terms(self, question: str) -> list[str]:
        terms = self.tokenizer.question_terms(question)
        df = self.dfs(terms)
        return [t for t in terms if df[t] > 0]

    def stats(self, terms: list[str]) -> Stats:
        return Stats(self.n_docs, self.tokens, self.dfs(terms))

    def term_weights(self, terms: list[str]) -> dict[str, float]:
        """IDF of each distinct term; a term the corpus lacks gets the highest IDF."""
        n = self.n_docs
        return {t: float(np.log1p((n - df + 0.5) / (df + 0.5)))
                for t, df in self.dfs(terms).items()}


class ShardedIndex:
    """One commit of a sharded index, asked through ``client`` (see the module's
    docstring). Rows and articles carry the index-wide numbers an ``Index`` of the same
    commit gives them."""

    def __init__(self, index_dir: str | Path, manifest: dict, settings: Settings,
                 client: ShardClient, *, embedder: Embedder):
        self.index_dir = Path(index_dir)
        self.manifest = manifest
        self.settings = settings
        self.client = client
        self.embedder = embedder
        self.dimension = int(manifest["dimension"])
        self.groups = groups_of(self.index_dir, manifest)
        self.slots = list(range(len(self.groups)))
        entries = manifest["segments"]
        slot_of = {name: i for i, g in enumerate(self.groups) for name in g["segments"]}
        self.segment_slot = np.array([slot_of.get(e["name"], -1) for e in entries], np.int64)
        self.segment_names = [e["name"] for e in entries]
        self.offsets = np.zeros(len(entries) + 1, dtype=np.int64)
        np.cumsum([e["passages"] for e in entries], out=self.offsets[1:])
        self.doc_offsets = np.zeros(len(entries) + 1, dtype=np.int64)
        np.cumsum([e["articles"] for e in entries], out=self.doc_offsets[1:])
        self.sentence_vectors = SentenceVectors(embedder)
        self.lexical = ShardedLexical(self)
        self._infos: list[dict] | None = None
        #: Shards asked for candidates by the last questions (tests, the benchmark).
        self.last_asked: list[int] = []

    # ------------------------------------------------------------------ sizes

    @property
    def size(self) -> int:
        return int(self.manifest["counts"]["passages"])

    @property
    def generation(self) -> str:
        return str(self.manifest.get("generation", ""))

    @property
    def rows_total(self) -> int:
        return int(self.offsets[-1])

    def call(self, slots: Sequence[int], method: str, args: Sequence[tuple]) -> list[Any]:
        """``method`` on each of ``slots`` for this commit (its generation goes first)."""
        gen = self.generation
        return self.client.call(slots, method, [(gen, *a) for a in args])

    def infos(self) -> list[dict]:
        """Each shard's ``Shard.info`` for this commit."""
        if self._infos is None:
            self._infos = self.call(self.slots, "info", [()] * len(self.slots))
        return self._infos

    # ------------------------------------------------------------------ routing

    def _slots_of(self, numbers, offsets: np.ndarray) -> dict[int, np.ndarray]:
        """Positions in ``numbers`` (rows or articles) by the shard holding them."""
        nums = np.asarray(numbers, dtype=np.int64)
        seg = np.searchsorted(offsets, nums, side="right") - 1
        slots = self.segment_slot[seg]
        return {int(s): np.flatnonzero(slots == s) for s in np.unique(slots)}

    def _by_slot(self, numbers, offsets: np.ndarray, method: str) -> tuple[list, list]:
        nums = np.asarray(numbers, dtype=np.int64)
        groups = self._slots_of(nums, offsets)
        slots = list(groups)
        results = self.call(slots, method, [(nums[groups[s]],) for s in slots])
        return [groups[s] for s in slots], results

    # ------------------------------------------------------------------ search

    def candidates(self, q_vecs: np.ndarray, terms: list[list[str]], n: int,
                   filters: Filters | None = None) -> list[Candidates]:
        """As ``Index.candidates``, from the shards whose dates can match ``filters``."""
        stats = [self.lexical.stats(t) for t in terms]
        since, until = (filters.since, filters.until) if filters else (None, None)
        slots = [s for s in self.slots if self.groups[s]["segments"]
                 and may_match(self.groups[s], since, until)]
        self.last_asked = slots
        if not slots or not self.size:
            return [merge([], n) for _ in terms]
        q = np.ascontiguousarray(q_vecs, dtype=np.float32)
        replies = self.call(slots, "propose",
                            [(q, terms, n, filters, stats, self.size)] * len(slots))
        return [merge([r[qi] for r in replies], n) for qi in range(len(terms))]

    def has_dated(self) -> bool:
        return any(i["dated"] for i in self.infos())

    # ------------------------------------------------------------------ tables

    def spans(self, rows) -> np.ndarray:
        out = np.empty((len(rows), 3), dtype=np.int64)
        for pos, got in zip(*self._by_slot(rows, self.offsets, "spans"), strict=True):
            out[pos] = got
        return out

    def rows(self, rows: list[int]) -> list[dict]:
        out: list[dict | None] = [None] * len(rows)
        for pos, got in zip(*self._by_slot(rows, self.offsets, "rows"), strict=True):
            for p, rec in zip(pos.tolist(), got, strict=True):
                out[p] = rec
        return [r for r in out if r is not None]

    def sentence_spans(self, rows: list[int]) -> list[np.ndarray]:
        out: list[np.ndarray] = [np.zeros((0, 2), np.int64)] * len(rows)
        for pos, got in zip(*self._by_slot(rows, self.offsets, "sentence_spans"),
                            strict=True):
            for p, sp in zip(pos.tolist(), got, strict=True):
                out[p] = sp
        return out

    def date_mentions(self, docs: Iterable[int]) -> dict[int, list[dict]]:
        docs = sorted(set(int(d) for d in docs))
        out: dict[int, list[dict]] = {d: [] for d in docs}
        if docs:
            for _, got in zip(*self._by_slot(docs, self.doc_offsets, "date_mentions"),
                              strict=True):
                out.update(got)
        return out

    def passages_at(self, items: list[tuple[int, int, int]]) -> list[dict]:
        if not items:
            return []
        groups = self._slots_of([d for d, _, _ in items], self.doc_offsets)
        slots = list(groups)
        results = self.call(slots, "passages_at",
                            [([items[i] for i in groups[s].tolist()],) for s in slots])
        out: list[dict | None] = [None] * len(items)
        for s, got in zip(slots, results, strict=True):
            for p, rec in zip(groups[s].tolist(), got, strict=True):
                out[p] = rec
        return [r for r in out if r is not None]

    def pages(self, docs: Iterable[int]) -> dict[int, tuple[int, ...]]:
        docs = sorted(set(int(d) for d in docs))
        out: dict[int, tuple[int, ...]] = {}
        if docs:
            for _, got in zip(*self._by_slot(docs, self.doc_offsets, "pages"), strict=True):
                out.update(got)
        return out

    def latest(self, n: int = 20) -> list[dict]:
        got = self.call(self.slots, "latest", [(n,)] * len(self.slots))
        found = sorted(((day, rec["doc"], rec) for part in got for day, rec in part),
                       key=lambda x: (x[0], x[1]), reverse=True)
        return [rec for _, _, rec in found[:n]]

    def source_names(self) -> list[str]:
        got = self.call(self.slots, "source_names", [()] * len(self.slots))
        return sorted({name for part in got for name in part}, key=str.lower)

    def doc_ids(self) -> list[str]:
        got = self.call(self.slots, "doc_ids", [()] * len(self.slots))
        by_segment = {name: ids for part in got for name, ids in part.items()}
        return [i for name in self.segment_names for i in by_segment.get(name, [])]

    def article(self, doc_id: str) -> dict | None:
        got = [g for g in self.call(self.slots, "article", [(doc_id,)] * len(self.slots))
               if g is not None]
        return max(got, key=lambda g: g[0])[1] if got else None

    def staleness(self, corpus_dir: str | Path | None = None) -> Staleness:
        return staleness(self.index_dir, self.manifest, self.settings, corpus_dir)

    def close(self) -> None:
        """Nothing of its own to release: the client belongs to the engine."""
