"""Tune the fusion settings on SciFact *train* queries, then report them once on test.

    python -m benchmarks --only tune_fusion
    python -m benchmarks.tune_fusion [--data DIR] [--index DIR] [--weights 0.3,0.4,...]

Runs the production ranking path (``challenge_qa.search.retrieve.rank``) for every setting on a
grid; query vectors are computed once and reused. Test queries are only scored for the
chosen setting and the defaults, never used to choose.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from contextlib import nullcontext
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from challenge_qa import (
    build_index,  # noqa: E402
    load_index,  # noqa: E402
)
from challenge_qa.config import Settings  # noqa: E402
from challenge_qa.eval.beir import load_qrels, load_queries, run_queries  # noqa: E402
from challenge_qa.eval.data import SCIFACT_DIR  # noqa: E402
from challenge_qa.eval.metrics import ndcg_at_10  # noqa: E402

from .common import CachedQueries, Context, data_root, write_results  # noqa: E402

NAME = "tune_fusion"
FILES = ("corpus.jsonl", "queries.jsonl", "qrels/train.tsv", "qrels/test.tsv")
#: The standalone command's index, kept between runs (it re-embeds nothing).
KEPT_INDEX = Path(tempfile.gettempdir()) / "challenge_qa_scifact_tune"
WEIGHTS = "0.4,0.5,0.55,0.6,0.65,0.7,0.75,0.8,0.85"
NORMS = "minmax,zscore"
BM25 = "1.2:0.75,0.9:0.4,1.5:0.75,0.9:0.75,1.2:0.5"


def ndcg10(index, queries, qrels):
    return ndcg_at_10(qrels, run_queries(index, queries))


def tune(sci: Path, index_dir: Path, weights: str = WEIGHTS, norms: str = NORMS,
         bm25: str = BM25) -> dict:
    """Every setting's train nDCG@10; the best one and the defaults scored once on test."""
    queries = load_queries(sci / "queries.jsonl")
    split = {}
    for name in ("train", "test"):
        qrels = load_qrels(sci / "qrels" / f"{name}.tsv")
        split[name] = ({q: queries[q] for q in qrels}, qrels)
    results = []
    cached = None

    def open_index(s):
        nonlocal cached
        build_index(sci / "corpus.jsonl", index_dir, settings=s)  # re-embeds nothing
        index = load_index(index_dir, settings=s)
        cached = cached or CachedQueries(index.embedder)
        index.embedder = cached
        return index

    for pair in bm25.split(","):
        k1, b = map(float, pair.split(":"))
        base = Settings(show_progress=True, bm25_k1=k1, bm25_b=b)
        index = open_index(base)
        for norm in norms.split(","):
            for w in map(float, weights.split(",")):
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
    out = {"best_on_train": best, "defaults_on_test": default_test, "grid": results}
    print(json.dumps({k: out[k] for k in ("best_on_train", "defaults_on_test")}, indent=1))
    return out


def run(ctx: Context, *, index_dir: Path | None = None, weights: str = WEIGHTS,
        norms: str = NORMS, bm25: str = BM25) -> dict:
    """The whole grid (about an hour on 2 cores) over an index in ``index_dir`` (kept and
    reused), else a temporary one; writes ``ctx.out/tune_fusion.json``."""
    sci = ctx.dataset(SCIFACT_DIR, FILES)
    with (nullcontext() if index_dir else
          tempfile.TemporaryDirectory(prefix="tune-fusion-")) as tmp:
        out = tune(sci, index_dir or Path(tmp) / "index", weights, norms, bm25)
    write_results(ctx, NAME, out)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, help="benchmark data folder")
    ap.add_argument("--index", type=Path, default=KEPT_INDEX,
                    help="where the index is kept between runs [default: a folder in the "
                         "system's temp folder]")
    ap.add_argument("--weights", default=WEIGHTS)
    ap.add_argument("--norms", default=NORMS)
    ap.add_argument("--bm25", default=BM25, help="k1:b pairs to try")
    args = ap.parse_args(argv)
    run(Context(data=data_root(args.data)), index_dir=args.index, weights=args.weights,
        norms=args.norms, bm25=args.bm25)
    return 0


if __name__ == "__main__":
    sys.exit(main())
