"""Scores of rankings and confidences: ROC AUC, answered shares and thresholds, and the
retrieval metrics of ranx (nDCG@10, recall, MRR) on judged runs.

ranx (and the numba it compiles with) is imported only when a retrieval metric is asked for.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

#: The document-level metrics ``challenge-qa eval`` and the benchmarks report.
RETRIEVAL_METRICS = ("ndcg@10", "recall@10", "recall@100", "mrr@10")


def roc_auc(pos: Sequence[float], neg: Sequence[float]) -> float:
    """P(a positive scores above a negative), ties counted half (Mann-Whitney U over the
    product of the two set sizes); NaN when either set is empty.

    Example:
        >>> roc_auc([0.9, 0.8], [0.1, 0.8])
        0.875
    """
    p = np.asarray(pos, dtype=np.float64)
    n = np.sort(np.asarray(neg, dtype=np.float64))
    if not len(p) or not len(n):
        return float("nan")
    below = np.searchsorted(n, p, side="left")
    equal = np.searchsorted(n, p, side="right") - below
    return float((below + 0.5 * equal).sum() / (len(p) * len(n)))


def kept(values: Sequence[float], threshold: float) -> float:
    """Share answered at ``threshold`` (answered when confidence >= threshold); NaN for none.

    Example:
        >>> kept([0.2, 0.5, 0.9, 0.4], 0.5)
        0.5
    """
    v = np.asarray(values, dtype=np.float64)
    return float((v >= threshold).mean()) if len(v) else float("nan")


def threshold_keeping(pos: Sequence[float], keep: float) -> float:
    """The highest threshold at which at least ``keep`` of ``pos`` are still answered.

    Example:
        >>> threshold_keeping([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0], 0.8)
        0.3
    """
    v = np.sort(np.asarray(pos, dtype=np.float64))
    allowed = int(math.floor(len(v) * (1 - keep) + 1e-9))
    return float(v[min(allowed, len(v) - 1)])


def retrieval_scores(qrels: Mapping[str, Mapping[str, int]],
                     run: Mapping[str, Mapping[str, float]],
                     metrics: Sequence[str] = RETRIEVAL_METRICS,
                     digits: int | None = None) -> dict[str, float]:
    """ranx's mean of each metric over the judged queries (``{qid: {doc_id: grade}}``)
    of a run (``{qid: {doc_id: score}}``), rounded to ``digits`` when given."""
    from ranx import Qrels, Run
    from ranx import evaluate as ranx_evaluate

    names = list(metrics)
    scores = ranx_evaluate(Qrels(qrels), Run(run), names)
    if not isinstance(scores, dict):  # ranx answers one metric with a bare number
        scores = {names[0]: scores}
    return {m: float(scores[m]) if digits is None else round(float(scores[m]), digits)
            for m in names}


def ndcg_at_10(qrels: Mapping[str, Mapping[str, int]],
               run: Mapping[str, Mapping[str, float]]) -> float:
    """ranx's nDCG@10 of a run."""
    return retrieval_scores(qrels, run, ("ndcg@10",))["ndcg@10"]
