"""Dense candidates from the segments' FAISS indexes, searched side by side.

Each segment is searched on a pool of threads (FAISS releases the GIL; each search runs
single-threaded, since OpenMP teams for single-query searches only wait for cores on a
busy server); a large batch of queries is cut into slices. An HNSW segment holding a share
``p`` of the live passages is searched with ``hnsw_ef_search`` x sqrt(p), at least the
candidates asked for: a tenth of the graph reaches the merged graph's recall with a far
smaller beam. ``benchmarks/scale.py`` measures both: at 1M passages in 10 segments the
dense candidates' recall@10 stays above that of the same passages merged into one.
"""

from __future__ import annotations

import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from ..config import Settings
from ..store.segments import Segment


def search_threads(s: Settings) -> int:
    """Threads for per-segment searches: ``search_threads``, or (0) the cores this
    process may use, at most 8."""
    if s.search_threads:
        return s.search_threads
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return min(8, cores or os.cpu_count() or 1)


def _single_threaded_faiss() -> None:
    """A search thread's own OpenMP setting: one thread per search. Parallelism comes
    from searching segments side by side; an OpenMP team per single-query search only
    waits for cores on a busy server."""
    import faiss

    faiss.omp_set_num_threads(1)


class SearchPool:
    """The threads that search segments side by side, made on first use. An ``Engine``
    owns one for every index it loads; an index loaded on its own makes its own. A forked
    child does not have its parent's threads, so it starts a pool of its own."""

    def __init__(self, threads: int):
        self.threads = threads
        self._pool: ThreadPoolExecutor | None = None
        self._pid = 0
        self._lock = threading.Lock()

    def map(self, fn, items):
        with self._lock:
            if self._pool is None or self._pid != os.getpid():
                self._pool = ThreadPoolExecutor(self.threads,
                                                thread_name_prefix="challenge-qa-search",
                                                initializer=_single_threaded_faiss)
                self._pid = os.getpid()
            pool = self._pool
        return pool.map(fn, items)

    def close(self) -> None:
        with self._lock:
            if self._pool is not None and self._pid == os.getpid():
                self._pool.shutdown(wait=False)
            self._pool = None


def _search_segment(seg: Segment, q: np.ndarray, k: int, ef: int,
                    mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """One segment's dense index searched for ``q``: (scores, local rows), -1 padded;
    ``mask`` limits it to the rows it flags."""
    import faiss

    hnsw = hasattr(seg.dense, "hnsw")
    if mask is None and not hnsw:
        return seg.dense.search(q, k)
    params: Any = faiss.SearchParametersHNSW() if hnsw else faiss.SearchParameters()  # type: ignore[attr-defined]
    if hnsw:
        params.efSearch = ef
    bits = None
    if mask is not None:
        bits = np.packbits(mask, bitorder="little")  # alive until the search returns
        params.sel = faiss.IDSelectorBitmap(len(mask), faiss.swig_ptr(bits))
    return seg.dense.search(q, k, params=params)


def search(segments: list[Segment], offsets: np.ndarray, settings: Settings,
           q_vecs: np.ndarray, n: int, allowed: list[np.ndarray | None] | None,
           pool: SearchPool, *, live_total: int | None = None
           ) -> list[tuple[np.ndarray, np.ndarray]]:
    """For each query vector, up to ``n`` live rows (global row numbers) proposed by the
    segments' dense indexes with their scores, best first by the index's (possibly
    approximate) score. ``allowed``: per segment, the rows a filtered search may return
    (None: no filter). A filter is applied inside FAISS (an ID selector), so a narrow one
    still gets its ``n`` candidates. ``live_total``: the live passages of the whole index
    when ``segments`` are a shard of it (each HNSW beam is set by a segment's share of
    the whole, as in one process)."""
    q = np.ascontiguousarray(q_vecs, dtype=np.float32)
    nq = len(q)
    live_total = max(1, live_total or sum(seg.n_live for seg in segments))
    jobs = []
    for si, seg in enumerate(segments):
        if not seg.n_live:
            continue
        mask = allowed[si] if allowed is not None else None
        if mask is not None:
            count = int(mask.sum())
            if not count:
                continue
            k = min(n, count)
        else:
            k = min(seg.n, n + (seg.n - seg.n_live))
        ef = max(k, math.ceil(settings.hnsw_ef_search
                              * math.sqrt(seg.n_live / live_total)))
        jobs.append((si, seg, mask, k, ef))
    threads = pool.threads
    step = max(1, math.ceil(nq / threads)) if len(jobs) < threads else nq
    tasks = [(job, a) for job in jobs for a in range(0, nq, step)]

    def run(task):
        (si, seg, mask, k, ef), a = task
        return _search_segment(seg, q[a:a + step], k, ef, mask)

    # even one search goes to a search thread, whose FAISS runs single-threaded
    results = list(pool.map(run, tasks)) if tasks else []
    per_q_ids: list[list[np.ndarray]] = [[] for _ in range(nq)]
    per_q_sc: list[list[np.ndarray]] = [[] for _ in range(nq)]
    for ((si, seg, mask, _k, _ef), a), (sc, ids) in zip(tasks, results, strict=True):
        off = int(offsets[si])
        for j in range(len(ids)):
            ok = ids[j] >= 0
            if seg.live is not None and mask is None:
                ok &= seg.live[np.maximum(ids[j], 0)]
            per_q_ids[a + j].append(ids[j][ok] + off)
            per_q_sc[a + j].append(sc[j][ok])
    out = []
    for ids_l, sc_l in zip(per_q_ids, per_q_sc, strict=True):
        if not ids_l:
            out.append((np.zeros(0, np.int64), np.zeros(0, np.float32)))
            continue
        out.append(best(np.concatenate(ids_l), np.concatenate(sc_l), n))
    return out


def best(ids: np.ndarray, scores: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``n`` best of candidates ``ids`` by ``scores``, best first; of equal scores
    the lower row first, so the choice at the cut does not depend on the order the
    candidates came in (segments searched in one process, or shards).

    Example:
        >>> best(np.array([7, 3, 9, 1]), np.array([0.1, 0.9, 0.5, 0.5]), 2)[0].tolist()
        [3, 1]
    """
    order = np.lexsort((ids, -scores))[:n]
    return ids[order], scores[order]
