"""Pure functions over score arrays: normalisation, fusion and de-duplication."""

from __future__ import annotations

import numpy as np


def normalise(scores: np.ndarray, method: str = "minmax") -> np.ndarray:
    """Put one retriever's candidate scores on a common scale.

    ``minmax`` maps the best candidate to 1 and the worst to 0; ``zscore`` centres on the
    mean in units of the standard deviation. A constant array maps to zeros.

    Example:
        >>> normalise(np.array([2.0, 4.0, 3.0])).tolist()
        [0.0, 1.0, 0.5]
    """
    x = np.asarray(scores, dtype=np.float64)
    if x.size == 0:
        return x
    if method == "minmax":
        lo, hi = x.min(), x.max()
        return (x - lo) / (hi - lo) if hi > lo else np.zeros_like(x)
    if method == "zscore":
        sd = x.std()
        return (x - x.mean()) / sd if sd > 0 else np.zeros_like(x)
    raise ValueError(f"unknown score normalisation {method!r} (use 'minmax' or 'zscore')")


def fuse(dense: np.ndarray, lexical: np.ndarray, dense_weight: float,
         method: str = "minmax") -> np.ndarray:
    """Convex combination of the normalised dense and lexical scores of the same candidates.

    Example:
        >>> fuse(np.array([0.9, 0.5, 0.8]), np.array([1.0, 9.0, 5.0]), 0.5).round(3).tolist()
        [0.5, 0.5, 0.625]
    """
    w = float(dense_weight)
    return w * normalise(dense, method) + (1.0 - w) * normalise(lexical, method)


def rrf(rankings: list[np.ndarray], k: int = 60) -> dict[int, float]:
    """Reciprocal rank fusion of ranked id lists (a baseline for benchmarks).

    Example:
        >>> rrf([np.array([7, 3]), np.array([3, 5])], k=1)
        {7: 0.5, 3: 0.8333333333333333, 5: 0.3333333333333333}
    """
    out: dict[int, float] = {}
    for ranking in rankings:
        for r, i in enumerate(ranking.tolist(), 1):
            out[i] = out.get(i, 0.0) + 1.0 / (k + r)
    return out


def first_per_group(order: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Keep, in order, the first position of each group (e.g. the best passage per article).

    Example:
        >>> first_per_group(np.array([4, 0, 2, 1]), np.array([9, 7, 9, 8, 8])).tolist()
        [4, 0, 1]
    """
    g = groups[order]
    _, first = np.unique(g, return_index=True)
    return order[np.sort(first)]


def drop_overlapping(order: np.ndarray, doc: np.ndarray, start: np.ndarray, end: np.ndarray,
                     max_share: float, limit: int) -> np.ndarray:
    """Walk ``order`` and drop a passage that overlaps a kept one of the same article by more
    than ``max_share`` of the shorter one; stop after ``limit`` kept.

    Example:
        >>> drop_overlapping(np.array([0, 1, 2]), np.array([1, 1, 2]), np.array([0, 10, 0]),
        ...                  np.array([100, 90, 50]), 0.5, 3).tolist()
        [0, 2]
    """
    kept: list[int] = []
    for i in order.tolist():
        clash = False
        for j in kept:
            if doc[i] != doc[j]:
                continue
            inter = min(end[i], end[j]) - max(start[i], start[j])
            shorter = max(1, min(end[i] - start[i], end[j] - start[j]))
            if inter / shorter > max_share:
                clash = True
                break
        if not clash:
            kept.append(i)
            if len(kept) >= limit:
                break
    return np.asarray(kept, dtype=np.int64)
