"""Full index build vs plain encoding, retrieve() vs bare dense search, incremental update.

On BEIR SciFact (or its first ``--limit`` articles), in one run:

1. ``build_index(full=True)`` vs encoding exactly the same passage texts with the same
   backend's bare encoder (sentence-transformers for torch, an ONNX Runtime session for the
   default onnx-int8; alternated, medians over ``--repeats``); target build/encode
   <= 1.15. The build's non-encoding time is broken down by timing the pipeline's steps.
2. Warm ``retrieve(q, k=10)`` vs ``encode_queries([q])`` + ``dense.search(vec, 10)``,
   interleaved per query over the judged test queries; target ratio of medians <= 1.5.
3. Incremental ``build_index`` after appending a sentence to one article vs the full build;
   target <= 0.05, and the report must say changed=1.
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
    Probe,
    Target,
    bare_dense,
    bench_build,
    breakdown,
    copy_corpus,
    fmt_s,
    judged_queries,
    load_avg,
    median,
    print_breakdown,
    print_table,
    print_targets,
    probe_build,
    quality,
    read_jsonl,
    section,
    summary,
    test_queries,
    timed,
    usable_cpus,
    write_jsonl,
    write_results,
)

os.environ.setdefault("HF_HUB_OFFLINE", "1")

NAME = "core"
QUICK_ARTICLES = 300
QUICK_QUERIES = 50
FULL_QUERIES = 200
INCREMENTAL_EDITS = 3
K = 10
TARGET_RETRIEVE = 1.5
TARGET_INCREMENTAL = 0.05



def bench_retrieve(index_dir: Path, s, queries: list[str], warm: list[str]) -> dict[str, Any]:
    """Interleave retrieve(), rank() and bare encode+search per query, rotating the order."""
    import time

    from challenge_qa import load_index, retrieve
    from challenge_qa.search.retrieve import clean_question, rank

    idx, load_s = timed(load_index, index_dir, settings=s)

    def dense(q: str):
        vec = idx.embedder.encode_queries([q])
        return bare_dense(idx).search(vec, K)

    def ranked(q: str):
        return rank(idx, [clean_question(q, s.max_question_chars)], K)

    calls = {"retrieve": lambda q: retrieve(q, k=K, index=idx), "rank": ranked,
             "dense": dense}
    for q in warm:
        for fn in calls.values():
            fn(q)
    times: dict[str, list[float]] = {name: [] for name in calls}
    names = list(calls)
    short = 0
    for i, q in enumerate(queries):
        order = names[i % 3:] + names[:i % 3]
        for name in order:
            t0 = time.perf_counter()
            out = calls[name](q)
            times[name].append(time.perf_counter() - t0)
            if name == "retrieve" and len(out) < min(K, idx.size):
                short += 1
    med = {n: median(v) for n, v in times.items()}
    return {
        "queries": len(queries),
        "warmup_queries": len(warm),
        "k": K,
        "index_load_s": load_s,
        "latency_ms": {n: summary(v, scale=1000, digits=3) for n, v in times.items()},
        "breakdown_ms_per_query": retrieve_breakdown(idx, queries),
        "ratio": med["retrieve"] / med["dense"],
        "rank_ratio": med["rank"] / med["dense"],
        "queries_with_fewer_than_k_hits": short,
    }


# Parts of retrieve() timed in a separate, probed pass. Indented labels are inside the
# part above them, so the column does not add up.
RETRIEVE_PARTS = (
    ("clean_question", "retrieval", "clean_question"),
    ("rank", "retrieval", "rank"),
    ("  encode_queries", "embedder", "encode_queries"),
    ("  search_dense (FAISS, all segments)", "index", "search_dense"),
    ("  lexical.query_terms", "lexical", "query_terms"),
    ("  lexical.scores (BM25, all passages)", "lexical", "scores"),
    ("to_hits", "retrieval", "to_hits"),
    ("  Index.rows (sqlite)", "index", "rows"),
    ("  lexical.term_weights", "lexical", "term_weights"),
    ("  best_sentence (x k)", "retrieval", "best_sentence"),
)


def retrieve_breakdown(idx, queries: list[str]) -> dict[str, float]:
    """Milliseconds per query spent in each part of retrieve() (a separate probed pass)."""
    import time

    from challenge_qa.search import retrieve as retrieval

    owners = {"retrieval": retrieval, "embedder": idx.embedder, "lexical": idx.lexical,
              "index": idx}
    with Probe() as probe:
        for label, owner, attr in RETRIEVE_PARTS:
            try:
                probe.wrap(owners[owner], attr, label)
            except (AttributeError, TypeError):
                continue  # e.g. an extension object that refuses new attributes
        t0 = time.perf_counter()
        for q in queries:
            retrieval.retrieve(q, k=K, index=idx)
        total = time.perf_counter() - t0
    n = max(1, len(queries))
    out = {label: round(probe.seconds[label] * 1000 / n, 3)
           for label, _, _ in RETRIEVE_PARTS if label in probe.calls}
    out["retrieve total (probed)"] = round(total * 1000 / n, 3)
    return out


def bench_incremental(corpus_file: Path, index_dir: Path, s, full_s: float,
                      edits: int) -> dict[str, Any]:
    """A no-op rebuild, then ``edits`` rebuilds each after appending to one article."""
    from challenge_qa import build_index
    from challenge_qa.encoders.embedding import make_embedder

    embedder = make_embedder(s.model, device=s.device, batch_size=s.batch_size,
                            backend=s.backend)
    records = read_jsonl(corpus_file)
    with probe_build(Probe(), embedder) as probe:
        noop, noop_s = timed(build_index, corpus_file, index_dir, settings=s)
    noop_parts = breakdown(probe, noop_s)
    print(f"  no-op incremental build: {fmt_s(noop_s)} (changed={noop.changed})", flush=True)

    runs = []
    for e in range(edits):
        pos = (len(records) * (e + 1)) // (edits + 1)
        rec = records[pos]
        rec["text"] = rec["text"].rstrip() + (
            f" This sentence was appended by the challenge_qa benchmark (edit {e + 1}).")
        write_jsonl(records, corpus_file)
        with probe_build(Probe(), embedder) as probe:
            report, t = timed(build_index, corpus_file, index_dir, settings=s)
        ok = (report.changed == 1 and report.added == 0 and report.removed == 0
              and not report.full and report.unchanged == len(records) - 1)
        runs.append({"article": str(rec.get("_id")), "seconds": t, "changed": report.changed,
                     "added": report.added, "removed": report.removed,
                     "unchanged": report.unchanged, "embedded_passages": report.embedded_passages,
                     "full": report.full, "report_ok": ok, "breakdown_s": breakdown(probe, t)})
        print(f"  [{e + 1}/{edits}] edit article {rec.get('_id')}: {fmt_s(t)} "
              f"(changed={report.changed}, embedded={report.embedded_passages})", flush=True)
    med = median([r["seconds"] for r in runs])
    return {
        "edits": runs,
        "median_s": med,
        "ratio": med / full_s,
        "full_build_median_s": full_s,
        "reports_ok": all(r["report_ok"] for r in runs),
        "noop": {"seconds": noop_s, "changed": noop.changed, "unchanged": noop.unchanged,
                 "embedded_passages": noop.embedded_passages, "breakdown_s": noop_parts},
    }


# --------------------------------------------------------------------------- entry point

def run(ctx: Context) -> dict[str, Any]:
    folder = ctx.dataset(DATASET, FILES)
    limit = ctx.limit or (QUICK_ARTICLES if ctx.quick else None)
    n_queries = ctx.queries or (QUICK_QUERIES if ctx.quick else FULL_QUERIES)
    s = ctx.settings()
    queries, warm = test_queries(folder, n_queries)

    with tempfile.TemporaryDirectory(prefix="challenge_qa_bench_") as tmp_name:
        tmp = Path(tmp_name)
        corpus_file = tmp / "corpus.jsonl"
        n_articles = copy_corpus(folder / "corpus.jsonl", corpus_file, limit)

        section(f"core: {DATASET}, {n_articles} articles, {len(queries)} queries, "
                f"repeats={ctx.repeats}")
        loads = {"start": load_avg()}
        print(f"1) full build vs the bare encoder (load {loads['start']})",
              flush=True)
        b = bench_build(corpus_file, tmp, s, ctx.repeats)
        loads["after_build"] = load_avg()
        judged, qrels = judged_queries(folder, corpus_file)
        q = quality(b["index_dir"], s, judged, qrels)
        print("2) retrieve() warm latency", flush=True)
        r = bench_retrieve(b["index_dir"], s, queries, warm)
        loads["after_retrieve"] = load_avg()
        print("3) incremental re-index after editing one article", flush=True)
        inc = bench_incremental(corpus_file, b["index_dir"], s, b["build_median_s"],
                                max(INCREMENTAL_EDITS, ctx.repeats))
        loads["after_incremental"] = load_avg()

    section("1) full index build vs encoding the same passages (median of "
            f"{ctx.repeats})")
    print_table(
        ["what", "seconds", "passages/s", "passages", "cpu s", "cpu/wall"],
        [[b["encoder"], fmt_s(b["encode_median_s"]),
          f"{b['encode_passages_per_s']:.1f}", b["texts"],
          f"{median(b['cpu_s']['encode']):.1f}", median(b["cpu_per_wall"]["encode"])],
         ["build_index(full=True)", fmt_s(b["build_median_s"]),
          f"{b['build_passages_per_s']:.1f}", b["passages"],
          f"{median(b['cpu_s']['build']):.1f}", median(b["cpu_per_wall"]["build"])]])
    print(f"build/encode by process CPU time (less sensitive to other work on the "
          f"machine): {b['cpu_ratio']:.3f}")
    print(f"same texts: {b['same_texts']}, max |embedding diff|: "
          f"{b['embeddings_max_abs_diff']:.2e}, text prep (load+chunk, measured apart): "
          f"{fmt_s(b['text_prep_s'])}")
    print_breakdown({"full build": b["breakdown_s"], "no-op incr.": inc["noop"]["breakdown_s"],
                     "1-edit incr.": _median_edit(inc)["breakdown_s"]})

    section(f"2) warm latency per query, k={K} ({r['queries']} queries, interleaved)")
    lat = r["latency_ms"]
    print_table(["call", "p50 ms", "p95 ms", "mean ms", "max ms"],
                [[label, lat[n]["p50"], lat[n]["p95"], lat[n]["mean"], lat[n]["max"]]
                 for n, label in (("retrieve", "retrieve(q, k=10)"),
                                  ("rank", "rank() only (no hits/sentences)"),
                                  ("dense", "encode_queries + dense.search"))])

    print("where retrieve() spends its time (separate probed pass, ms per query; "
          "indented parts are inside the one above):")
    print_table(["part", "ms/query"],
                [[k, f"{v:.3f}"] for k, v in r["breakdown_ms_per_query"].items()])

    section("3) incremental build after appending one sentence to one article")
    print_table(["build", "seconds", "changed", "embedded passages"],
                [["full (median above)", fmt_s(b["build_median_s"]), "-", b["passages"]],
                 ["incremental, nothing changed", fmt_s(inc["noop"]["seconds"]),
                  inc["noop"]["changed"], inc["noop"]["embedded_passages"]],
                 *[[f"incremental, edit {e['article']}", fmt_s(e["seconds"]), e["changed"],
                    e["embedded_passages"]] for e in inc["edits"]]])

    targets = [
        Target("build / encode", b["ratio"], TARGET_BUILD,
               f"{fmt_s(b['build_median_s'])} vs {fmt_s(b['encode_median_s'])}"),
        Target("retrieve / encode+search (p50)", r["ratio"], TARGET_RETRIEVE,
               f"{lat['retrieve']['p50']} ms vs {lat['dense']['p50']} ms"),
        Target("incremental / full build", inc["ratio"], TARGET_INCREMENTAL,
               f"{fmt_s(inc['median_s'])} vs {fmt_s(b['build_median_s'])}; "
               f"changed=1: {'yes' if inc['reports_ok'] else 'NO'}"),
    ]
    section(f"retrieval quality of the built index ({len(judged)} judged test queries)")
    print_table(list(q), [list(q.values())])
    section("targets")
    print_targets(targets)
    busy = [k for k, v in loads.items() if v is not None and v > usable_cpus() + 0.5]
    if busy:
        print(f"warning: the machine was busy with other work (1-min load average {loads}, "
              f"{usable_cpus()} CPUs): timings are noisy, compare ratios with care")
    checks = {"incremental_report_changed_1": inc["reports_ok"], "same_texts": b["same_texts"],
              "embeddings_match": b["embeddings_max_abs_diff"] < 1e-4,
              "retrieve_returned_k_hits": r["queries_with_fewer_than_k_hits"] == 0}
    bad = [k for k, v in checks.items() if not v]
    if bad:
        print(f"checks failed: {', '.join(bad)}")

    build = {k: v for k, v in b.items() if k not in ("index_dir", "report")}
    payload = {
        "config": {"dataset": DATASET, "data": str(folder), "articles": n_articles,
                   "limit": limit, "queries": len(queries), "repeats": ctx.repeats,
                   "load_avg_1min": loads,
                   "settings": {"model": s.model, "device": s.device,
                                "backend": b["backend"],
                                "batch_size": b["batch_size"], **s.chunking()}},
        "build": build, "retrieve": r, "incremental": inc,
        "quality": {"judged_queries": len(judged), **q},
        "targets": [t.as_dict() for t in targets], "checks": checks,
        "passed": all(t.passed for t in targets) and not bad,
    }
    path = write_results(ctx, NAME, payload)
    print(f"\nresults: {path}")
    return payload


def _median_edit(inc: dict[str, Any]) -> dict[str, Any]:
    return min(inc["edits"], key=lambda e: abs(e["seconds"] - inc["median_s"]))
