"""Encoder backends side by side: index build throughput and SciFact quality per backend.

For each backend (``torch``, ``onnx``, ``onnx-int8``), in one run on BEIR SciFact (or its
first ``--limit`` articles):

1. a full ``build_index`` alternated with the same backend's bare encoder on the same passage
   texts (``core.bench_build``; medians over ``--repeats``);
2. nDCG@10, Recall@10 and Recall@100 of that index on the judged test queries (queries
   encoded by the same backend; with ``--limit``, only queries whose relevant articles are
   all in the subset).

Targets: the fastest backend whose nDCG@10 is within 0.005 of torch's builds at least 2x
torch's passages/s (stated as its build time / torch's <= 0.5), and it is the one that
``backend="auto"`` picks on a CPU.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from .common import (
    DATASET,
    FILES,
    TARGET_BUILD,
    Context,
    Target,
    bench_build,
    copy_corpus,
    fmt_s,
    judged_queries,
    load_avg,
    median,
    print_table,
    print_targets,
    quality,
    section,
    write_results,
)

os.environ.setdefault("HF_HUB_OFFLINE", "1")

NAME = "encoders"
BACKENDS = ("torch", "onnx", "onnx-int8")
QUICK_ARTICLES = 150
QUALITY_TOLERANCE = 0.005
TARGET_SPEEDUP = 2.0


def run(ctx: Context) -> dict[str, Any]:
    from challenge_qa.encoders.embedding import resolve_backend

    folder = ctx.dataset(DATASET, FILES)
    limit = ctx.limit or (QUICK_ARTICLES if ctx.quick else None)
    base = ctx.settings()
    rows: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="challenge_qa_bench_") as tmp_name:
        tmp = Path(tmp_name)
        corpus_file = tmp / "corpus.jsonl"
        n_articles = copy_corpus(folder / "corpus.jsonl", corpus_file, limit)
        queries, qrels = judged_queries(folder, corpus_file)
        section(f"encoders: {DATASET}, {n_articles} articles, {len(queries)} judged queries, "
                f"repeats={ctx.repeats}, backends {', '.join(BACKENDS)}")
        for backend in BACKENDS:
            s = base.replace(backend=backend)
            print(f"{backend}: build vs bare encoder (load {load_avg()})", flush=True)
            (tmp / backend).mkdir()
            b = bench_build(corpus_file, tmp / backend, s, ctx.repeats)
            q = quality(b["index_dir"], s, queries, qrels)
            print(f"  {backend}: nDCG@10 {q['ndcg@10']}, recall@100 {q['recall@100']}",
                  flush=True)
            rows[backend] = {
                "passages": b["passages"], "encoder": b["encoder"],
                "encode_s": b["encode_s"], "build_s": b["build_s"], "cpu_s": b["cpu_s"],
                "encode_median_s": b["encode_median_s"], "build_median_s": b["build_median_s"],
                "build_per_encode": b["ratio"], "cpu_ratio": b["cpu_ratio"],
                "encode_passages_per_s": b["encode_passages_per_s"],
                "build_passages_per_s": b["build_passages_per_s"],
                "build_passages_per_cpu_s": b["passages"] / median(b["cpu_s"]["build"]),
                "batch_size": b["batch_size"], "model_load_s": b["model_load_s"], "quality": q}

    torch = rows["torch"]
    for r in rows.values():
        r["speedup_vs_torch"] = r["build_passages_per_s"] / torch["build_passages_per_s"]
        r["cpu_speedup_vs_torch"] = (r["build_passages_per_cpu_s"]
                                     / torch["build_passages_per_cpu_s"])
        r["ndcg_delta_vs_torch"] = r["quality"]["ndcg@10"] - torch["quality"]["ndcg@10"]
        r["equal_quality"] = abs(r["ndcg_delta_vs_torch"]) <= QUALITY_TOLERANCE + 1e-9
    fastest = max((b for b, r in rows.items() if r["equal_quality"]),
                  key=lambda b: rows[b]["build_passages_per_s"])
    auto = resolve_backend("auto", base.device)

    section(f"build throughput and quality per backend (median of {ctx.repeats})")
    print_table(
        ["backend", "batch", "build s", "passages/s", "x torch", "per CPU-s x torch",
         "build/encode", "nDCG@10", "R@100", "d nDCG@10"],
        [[b, r["batch_size"], fmt_s(r["build_median_s"]), f"{r['build_passages_per_s']:.1f}",
          f"{r['speedup_vs_torch']:.2f}", f"{r['cpu_speedup_vs_torch']:.2f}",
          f"{r['build_per_encode']:.3f}", r["quality"]["ndcg@10"],
          r["quality"]["recall@100"], f"{r['ndcg_delta_vs_torch']:+.4f}"]
         for b, r in rows.items()])
    print(f"fastest at torch's quality (nDCG@10 within {QUALITY_TOLERANCE}): {fastest}; "
          f"backend='auto' picks {auto} here")
    f = rows[fastest]
    targets = [
        Target(f"{fastest} build time / torch's", 1 / f["speedup_vs_torch"],
               1 / TARGET_SPEEDUP, f"{f['build_passages_per_s']:.1f} vs "
               f"{torch['build_passages_per_s']:.1f} passages/s"),
        Target(f"|nDCG@10 {fastest} - torch|", abs(f["ndcg_delta_vs_torch"]),
               QUALITY_TOLERANCE, f"{f['quality']['ndcg@10']} vs {torch['quality']['ndcg@10']}"),
        *[Target(f"{b} build / bare encode", r["build_per_encode"], TARGET_BUILD,
                 f"{fmt_s(r['build_median_s'])} vs {fmt_s(r['encode_median_s'])}")
          for b, r in rows.items()],
    ]
    section("targets")
    print_targets(targets)
    payload = {
        "config": {"dataset": DATASET, "articles": n_articles, "limit": limit,
                   "judged_queries": len(queries), "repeats": ctx.repeats,
                   "load_avg_1min_end": load_avg()},
        "backends": rows, "fastest_at_equal_quality": fastest, "auto_picks": auto,
        "targets": [t.as_dict() for t in targets],
        "passed": all(t.passed for t in targets) and auto == fastest,
    }
    path = write_results(ctx, NAME, payload)
    print(f"\nresults: {path}")
    return payload
