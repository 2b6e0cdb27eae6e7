"""Tune the fusion settings on SciFact *train* queries, then report them once on test.

    python benchmarks/tune_fusion.py [--index DIR] [--weights 0.3,0.4,...]

Runs the production ranking path (``challenge_qa.retrieval.rank``) for every setting on a
grid; query vectors are computed once and reused. Test queries are only scored for the
chosen setting and the defaults, never used to choose.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from challenge_qa.config import Settings  # noqa: E402
from challenge_qa.evaluation import load_qrels, load_queries, run_queries  # noqa: E402
from challenge_qa.store import build_index, load_index  # noqa: E402

DATA = Path(os.environ.get("CHALLENGE_QA_BENCH_DATA")
            or Path(__file__).resolve().parents[2] / "shared" / "benchmarks")


class _CachedQueries:
    """Wraps an embedder so repeated runs over the same queries encode them once."""

    def __init__(self, inner):
        self.inner, self.cache = inner, {}

    def encode_queries(self, texts):
        missing = [t for t in texts if t not in self.cache]
        if missing:
            for t, v in zip(missing, self.inner.encode_queries(missing), strict=True):
                self.cache[t] = v
        return np.stack([self.cache[t] for t in texts])

    def __getattr__(self, name):
        return getattr(self.inner, name)


def ndcg10(index, queries, qrels):
    from ranx import Qrels, Run
    from ranx import evaluate as ranx_evaluate

    run = run_queries(index, queries)
    return float(ranx_evaluate(Qrels(qrels), Run(run), "ndcg@10"))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--index", type=Path, default=Path("/tmp/challenge_qa_scifact_tune"))
    ap.add_argument("--weights", default="0.4,0.5,0.55,0.6,0.65,0.7,0.75,0.8,0.85")
    ap.add_argument("--norms", default="minmax,zscore")
    ap.add_argument("--bm25", default="1.2:0.75,0.9:0.4,1.5:0.75,0.9:0.75,1.2:0.5",
                    help="k1:b pairs to try")
    args = ap.parse_args(argv)
    sci = DATA / "scifact"
    queries = load_queries(sci / "queries.jsonl")
    split = {}
    for name in ("train", "test"):
        qrels = load_qrels(sci / "qrels" / f"{name}.tsv")
        split[name] = ({q: queries[q] for q in qrels}, qrels)
    results = []
    cached = None

    def open_index(s):
        nonlocal cached
        build_index(sci / "corpus.jsonl", args.index, settings=s)  # re-embeds nothing
        index = load_index(args.index, settings=s)
        cached = cached or _CachedQueries(index.embedder)
        index.embedder = cached
        return index

    for pair in args.bm25.split(","):
        k1, b = map(float, pair.split(":"))
        base = Settings(show_progress=True, bm25_k1=k1, bm25_b=b)
        index = open_index(base)
        for norm in args.norms.split(","):
            for w in map(float, args.weights.split(",")):
                index.settings = base.replace(dense_weight=w, score_norm=norm)
                score = ndcg10(index, *split["train"])
                results.append({"bm25_k1": k1, "bm25_b": b, "score_norm": norm,
                                "dense_weight": w, "train_ndcg@10": round(score, 4)})
                print(f"k1={k1} b={b} {norm:7s} w={w:.2f}  train nDCG@10 {score:.4f}",
                      flush=True)
    best = max(results, key=lambda r: r["train_ndcg@10"])
    chosen = {k: best[k] for k in ("bm25_k1", "bm25_b", "score_norm", "dense_weight")}
    index = open_index(Settings(**chosen))
    best["test_ndcg@10"] = round(ndcg10(index, *split["test"]), 4)
    index = open_index(Settings())
    default_test = round(ndcg10(index, *split["test"]), 4)
    print(json.dumps({"best_on_train": best, "defaults_on_test": default_test}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
