"""Full index build vs plain encoding, retrieve() vs bare dense search, incremental update.

On BEIR SciFact (or its first ``--limit`` articles), in one run:

1. ``build_index(full=True)`` vs encoding exactly the same passage texts with the same
   backend's bare encoder (sentence-transformers for torch, an ONNX Runtime session for the
   default onnx-int8; alternated, medians over ``--repeats``); target build/encode
   <= 1.15. The build's non-encoding time is broken down by timing store.py's steps.
2. Warm ``retrieve(q, k=10)`` vs ``encode_queries([q])`` + ``dense.search(vec, 10)``,
   interleaved per query over the judged test queries; target ratio of medians <= 1.5.
3. Incremental ``build_index`` after appending a sentence to one article vs the full build;
   target <= 0.05, and the report must say changed=1.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from ._common import (
    Clock,
    Context,
    Probe,
    Target,
    fmt_s,
    load_avg,
    median,
    print_table,
    print_targets,
    section,
    summary,
    timed,
    usable_cpus,
    write_results,
)

os.environ.setdefault("HF_HUB_OFFLINE", "1")

NAME = "core"
DATASET = "scifact"
FILES = ("corpus.jsonl", "queries.jsonl", "qrels/test.tsv")
QUICK_ARTICLES = 300
QUICK_QUERIES = 50
FULL_QUERIES = 200
WARMUP_QUERIES = 10
WARMUP_TEXTS = 64
INCREMENTAL_EDITS = 3
K = 10
TARGET_BUILD = 1.15
TARGET_RETRIEVE = 1.5
TARGET_INCREMENTAL = 0.05

# store.py functions timed for the breakdown of a build (none of them calls another).
BUILD_STEPS = ("load_corpus", "_reusable", "split_passages", "build_bm25", "save_bm25",
               "_write_sqlite", "_fsync_tree", "_file_stats", "_commit_manifest",
               "_clean_leftovers")


# --------------------------------------------------------------------------- data

def read_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def write_jsonl(path: Path, records: list[dict]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for rec in records:
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")
    os.replace(tmp, path)


def copy_corpus(src: Path, dst: Path, limit: int | None) -> int:
    """Copy the corpus (or its first ``limit`` records) to a temp file; returns the count."""
    if limit is None:
        shutil.copyfile(src, dst)
        with open(dst, encoding="utf-8") as f:
            return sum(1 for line in f if line.strip())
    records = []
    with open(src, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                records.append(json.loads(line))
                if len(records) >= limit:
                    break
    write_jsonl(dst, records)
    return len(records)


def test_queries(folder: Path, n: int) -> tuple[list[str], list[str]]:
    """``n`` judged test query texts (qrels order) and a few other queries for warm-up."""
    from challenge_qa.evaluation import load_qrels, load_queries

    texts = load_queries(folder / "queries.jsonl")
    judged = [q for q in load_qrels(folder / "qrels" / "test.tsv") if q in texts]
    chosen = set(judged[:n])
    warm = [texts[q] for q in texts if q not in chosen][:WARMUP_QUERIES]
    return [texts[q] for q in judged[:n]], warm


def passage_texts(corpus_file: Path, s) -> list[str]:
    """The texts a full build embeds, in its order: load, split, title context."""
    from challenge_qa.chunking import passage_context, split_passages
    from challenge_qa.corpus import load_corpus

    return [passage_context(a.title, p.text, s.title_context)
            for a in load_corpus(corpus_file).articles for p in split_passages(a, s)]


def spread(texts: list[str], n: int) -> list[str]:
    """``n`` texts spread over the length range (warm-up that sees short and long inputs)."""
    by_len = sorted(texts, key=len)
    if len(by_len) <= n:
        return by_len
    return [by_len[round(i * (len(by_len) - 1) / (n - 1))] for i in range(n)]


# --------------------------------------------------------------------------- probing

def probe_build(probe: Probe, embedder) -> Probe:
    from challenge_qa import store

    for name in BUILD_STEPS:
        probe.wrap(store, name)
    probe.wrap(embedder, "encode_documents", "encode")
    return probe


def breakdown(probe: Probe, total: float) -> dict[str, float]:
    """Seconds per build step (in a fixed order), the unprobed rest, and the total."""
    parts = {k: round(probe.seconds.get(k, 0.0), 4) for k in ("encode", *BUILD_STEPS)}
    parts["other (faiss, npy, vectors, lock)"] = round(total - sum(probe.seconds.values()), 4)
    parts["total"] = round(total, 4)
    return parts


def print_breakdown(builds: dict[str, dict[str, float]]) -> None:
    labels = list(dict.fromkeys(k for b in builds.values() for k in b))
    print_table(["step", *builds], [[lab, *(fmt_s(b.get(lab, 0.0)) for b in builds.values())]
                                    for lab in labels])


# --------------------------------------------------------------------------- steps

def plain_encoder(s) -> tuple[str, Any, float]:
    """(label, encode(texts), load seconds) of the bare encoder the build's own backend uses:
    sentence-transformers for torch, a separate ONNX Runtime session for onnx/onnx-int8."""
    from challenge_qa.embedding import default_batch_size, resolve_backend, resolve_model

    backend = resolve_backend(s.backend, s.device)
    batch = s.batch_size or default_batch_size(backend, s.device)
    if backend == "torch":
        from sentence_transformers import SentenceTransformer

        model, load_s = timed(SentenceTransformer, resolve_model(s.model), device=s.device)
        return "sentence-transformers encode", lambda texts: model.encode(
            texts, batch_size=batch, normalize_embeddings=True,
            show_progress_bar=False), load_s
    from challenge_qa.onnx_backend import OnnxEmbedder

    onnx = OnnxEmbedder(s.model, quantized=backend == "onnx-int8", batch_size=batch)
    _, load_s = timed(onnx.encode_queries, ["load"])
    return f"ONNX Runtime encode ({backend})", onnx.encode_documents, load_s


def bench_build(corpus_file: Path, tmp: Path, s, repeats: int) -> dict[str, Any]:
    """Alternate plain encoding and full builds of the same corpus; keep the last index."""
    import numpy as np
    from transformers.utils import logging as hf_logging

    from challenge_qa.embedding import get_embedder, resolve_backend
    from challenge_qa.store import build_index, read_manifest

    hf_logging.disable_progress_bar()  # as the library's embedder does
    texts, prep_s = timed(passage_texts, corpus_file, s)
    label, encode, st_load_s = plain_encoder(s)
    embedder = get_embedder(s.model, device=s.device, batch_size=s.batch_size,
                            backend=s.backend)
    _, lib_load_s = timed(embedder.encode_queries, ["load"])
    warm = spread(texts, WARMUP_TEXTS)
    encode(warm)
    embedder.encode_documents(warm)

    encode_s: list[float] = []
    build_s: list[float] = []
    cores: dict[str, list[float]] = {"encode": [], "build": []}
    cpu_s: dict[str, list[float]] = {"encode": [], "build": []}
    parts: list[dict[str, float]] = []
    report = None
    index_dir = None
    vectors = None
    for r in range(repeats):
        with Clock() as c:
            vectors = encode(texts)
        encode_s.append(c.wall)
        cores["encode"].append(round(c.cores, 2))
        cpu_s["encode"].append(round(c.cpu, 3))
        print(f"  [{r + 1}/{repeats}] encode {len(texts)} passages: {fmt_s(c.wall)} "
              f"(cpu/wall {c.cores:.2f}, load {load_avg()})", flush=True)
        if index_dir is not None:
            shutil.rmtree(index_dir, ignore_errors=True)
        index_dir = tmp / f"index-{r}"
        with probe_build(Probe(), embedder) as probe, Clock() as c:
            report = build_index(corpus_file, index_dir, full=True, settings=s)
        build_s.append(c.wall)
        cores["build"].append(round(c.cores, 2))
        cpu_s["build"].append(round(c.cpu, 3))
        parts.append(breakdown(probe, c.wall))
        print(f"  [{r + 1}/{repeats}] build_index(full=True): {fmt_s(c.wall)} "
              f"(cpu/wall {c.cores:.2f}, load {load_avg()})", flush=True)

    manifest = read_manifest(index_dir)
    stored = np.load(index_dir / manifest["data"] / "embeddings.npy")
    same_shape = stored.shape == vectors.shape
    max_diff = float(np.abs(stored - vectors).max()) if same_shape else float("nan")
    enc, bld = median(encode_s), median(build_s)
    best = min(range(repeats), key=lambda i: abs(build_s[i] - bld))
    return {
        "index_dir": index_dir,
        "report": report,
        "articles": report.articles,
        "passages": report.passages,
        "texts": len(texts),
        "same_texts": len(texts) == report.embedded_passages == report.passages,
        "embeddings_max_abs_diff": max_diff,
        "encode_s": encode_s,
        "build_s": build_s,
        "cpu_per_wall": cores,
        "cpu_s": cpu_s,
        # process CPU time is less sensitive than wall time to other work on the machine
        "cpu_ratio": median(cpu_s["build"]) / median(cpu_s["encode"]),
        "encode_median_s": enc,
        "build_median_s": bld,
        "ratio": bld / enc,
        "encode_passages_per_s": len(texts) / enc,
        "build_passages_per_s": report.passages / bld,
        "text_prep_s": prep_s,
        "model_load_s": {"plain": st_load_s, "challenge_qa": lib_load_s},
        "encoder": label,
        "batch_size": embedder.batch_size,
        "backend": resolve_backend(s.backend, s.device),
        "breakdown_s": parts[best],
        "breakdown_all_s": parts,
    }


def bench_retrieve(index_dir: Path, s, queries: list[str], warm: list[str]) -> dict[str, Any]:
    """Interleave retrieve(), rank() and bare encode+search per query, rotating the order."""
    import time

    from challenge_qa.retrieval import clean_question, rank, retrieve
    from challenge_qa.store import load_index

    idx, load_s = timed(load_index, index_dir, settings=s)

    def dense(q: str):
        vec = idx.embedder.encode_queries([q])
        return idx.dense.search(vec, K)

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
    ("  dense.search", "dense", "search"),
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

    from challenge_qa import retrieval

    owners = {"retrieval": retrieval, "embedder": idx.embedder, "dense": idx.dense,
              "lexical": idx.lexical, "index": idx}
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
    from challenge_qa.embedding import get_embedder
    from challenge_qa.store import build_index

    embedder = get_embedder(s.model, device=s.device, batch_size=s.batch_size,
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
        write_jsonl(corpus_file, records)
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
    from challenge_qa.config import Settings

    folder = ctx.dataset(DATASET, FILES)
    limit = ctx.limit or (QUICK_ARTICLES if ctx.quick else None)
    n_queries = ctx.queries or (QUICK_QUERIES if ctx.quick else FULL_QUERIES)
    s = Settings(show_progress=False)
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
        "targets": [t.as_dict() for t in targets], "checks": checks,
        "passed": all(t.passed for t in targets) and not bad,
    }
    path = write_results(ctx, NAME, payload)
    print(f"\nresults: {path}")
    return payload


def _median_edit(inc: dict[str, Any]) -> dict[str, Any]:
    return min(inc["edits"], key=lambda e: abs(e["seconds"] - inc["median_s"]))
