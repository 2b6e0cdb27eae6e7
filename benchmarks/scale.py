"""Scale: dense index build, size, memory, query latency and recall at 10k to 1M passages.

Vectors are synthetic but shaped like sentence embeddings: unit vectors scattered around
a few thousand topic centres (real embeddings cluster by topic; uniform random vectors
would be unrealistically hard for any approximate index). Queries come from the same
distribution. Each size is searched the way ``retrieve()`` does it: the FAISS index
proposes 100 candidates, which are re-scored exactly from the stored vectors; recall@10
is measured against exact brute-force search. BM25 (bm25s) is measured on real SciFact
text repeated with random word drops, so that every passage differs.
"""

from __future__ import annotations

import gc
import os
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from ._common import Context, Target, print_table, print_targets, section, summary, write_results

DIM = 384
CENTRES = 4000
NOISE = 0.05  # per-coordinate noise: same-topic neighbours at cosine ~0.5, as with MiniLM
CANDIDATES = 100
FULL_SIZES = (10_000, 100_000, 1_000_000)
QUICK_SIZES = (10_000, 30_000)
BM25_FULL = (10_000, 100_000)
BM25_QUICK = (5_000,)
QUERIES = 200
EF_SEARCH = (64, 128, 256, 512)


def synthetic(n: int, seed: int, centres: np.ndarray) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = np.empty((n, DIM), dtype=np.float32)
    step = 100_000
    for a in range(0, n, step):
        b = min(n, a + step)
        x = centres[rng.integers(0, len(centres), b - a)]
        x = x + rng.standard_normal((b - a, DIM), dtype=np.float32) * NOISE
        out[a:b] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def exact_top(vectors: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    out = np.empty((len(queries), k), dtype=np.int64)
    for i in range(0, len(queries), 16):
        s = queries[i:i + 16] @ vectors.T
        top = np.argpartition(-s, k, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(s, top, 1), axis=1)
        out[i:i + 16] = np.take_along_axis(top, order, 1)
    return out


def bench_dense(n: int, kind: str, centres: np.ndarray, queries: np.ndarray,
                tmp: Path) -> dict[str, Any]:
    import faiss

    from challenge_qa.config import Settings
    from challenge_qa.store import make_dense_index

    vectors = synthetic(n, seed=n, centres=centres)
    np.save(tmp / "emb.npy", vectors)
    truth = exact_top(vectors, queries, 10)
    t0 = time.perf_counter()
    index, params = make_dense_index(vectors, Settings(dense_index=kind))
    build_s = time.perf_counter() - t0
    path = tmp / "dense.faiss"
    faiss.write_index(index, str(path))
    del index, vectors
    gc.collect()
    rss0 = rss_mb()
    if "efSearch" in params:
        index = faiss.read_index(str(path))
        index.hnsw.efSearch = params["efSearch"]
    else:
        index = faiss.read_index(str(path), faiss.IO_FLAG_MMAP)
    emb = np.load(tmp / "emb.npy", mmap_mode="r")
    lat, recall = search(index, emb, queries, truth)
    rss1 = rss_mb()
    sweep = {}
    if "efSearch" in params:  # recall and latency against the HNSW search breadth
        for ef in EF_SEARCH:
            index.hnsw.efSearch = ef
            sweep_lat, sweep_recall = search(index, emb, queries[:100], truth[:100])
            sweep[ef] = {"recall@10": round(sweep_recall, 4),
                         "p50_ms": round(float(np.median(sweep_lat[5:])) * 1000, 3)}
    size = path.stat().st_size + (tmp / "emb.npy").stat().st_size
    res = {"passages": n, "index": params["type"], "params": params,
           "build_s": round(build_s, 2), "disk_mb": round(size / 2**20, 1),
           "disk_bytes_per_passage": round(size / n, 1),
           "serving_rss_mb": round(rss1 - rss0, 1),
           "query_ms": summary(lat[5:], scale=1000, digits=3),
           "recall@10": round(recall, 4), "nprobe_sweep": sweep}
    del index, emb
    gc.collect()
    return res


def search(index, emb, queries, truth) -> tuple[list[float], float]:
    """Per-query latency and recall@10 of candidates + exact re-scoring, as rank() does."""
    lat, hits = [], 0
    for i, q in enumerate(queries):
        t = time.perf_counter()
        _, ids = index.search(q[None, :], CANDIDATES)
        cand = np.sort(ids[0][ids[0] >= 0])
        top = cand[np.argsort(-(emb[cand] @ q))[:10]]
        lat.append(time.perf_counter() - t)
        hits += len(set(top.tolist()) & set(truth[i].tolist()))
    return lat, hits / (10 * len(queries))


def scifact_texts(ctx: Context) -> list[str]:
    import json

    folder = ctx.dataset("scifact", ["corpus.jsonl"])
    with open(folder / "corpus.jsonl", encoding="utf-8") as f:
        return [(r["title"] + " " + r["text"]) for r in map(json.loads, f)]


def bench_bm25(n: int, base: list[str], tmp: Path) -> dict[str, Any]:
    from challenge_qa.lexical import Lexical, build_bm25, load_bm25, save_bm25

    rng = np.random.default_rng(n)
    texts = []
    for i in range(n):
        words = base[i % len(base)].split()
        keep = rng.random(len(words)) > 0.15
        texts.append(" ".join(w for w, k in zip(words, keep, strict=True) if k))
    t0 = time.perf_counter()
    bm = build_bm25(texts, k1=0.9, b=0.4)
    build_s = time.perf_counter() - t0
    folder = tmp / f"bm25-{n}"
    save_bm25(bm, folder)
    del bm, texts
    gc.collect()
    size = sum(p.stat().st_size for p in folder.iterdir())
    lex = Lexical(load_bm25(folder))
    qs = [" ".join(base[i].split()[:12]) for i in range(60)]
    lat = []
    for q in qs:
        terms = lex.query_terms(q)
        t = time.perf_counter()
        s = lex.scores(terms)
        np.argpartition(-s, CANDIDATES)[:CANDIDATES]
        lat.append(time.perf_counter() - t)
    return {"passages": n, "build_s": round(build_s, 2), "disk_mb": round(size / 2**20, 1),
            "query_ms": summary(lat[5:], scale=1000, digits=3)}


def run(ctx: Context) -> dict[str, Any]:
    sizes = QUICK_SIZES if ctx.quick else FULL_SIZES
    if ctx.limit:
        sizes = tuple(s for s in FULL_SIZES if s <= ctx.limit) or (ctx.limit,)
    rng = np.random.default_rng(7)
    centres = rng.standard_normal((CENTRES, DIM)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    queries = synthetic(ctx.queries or QUERIES, seed=1, centres=centres)
    section(f"scale: dense index at {', '.join(f'{n:,}' for n in sizes)} passages")
    dense = []
    with tempfile.TemporaryDirectory(prefix="challenge_qa_scale_") as tmp_name:
        tmp = Path(tmp_name)
        for n in sizes:
            kinds = ["flat", "hnsw"] if n >= 30_000 else ["flat"]
            for kind in kinds:
                print(f"  {n:,} passages, {kind} ...", flush=True)
                dense.append(bench_dense(n, kind, centres, queries, tmp))
        print_table(["passages", "index", "build", "disk MB", "B/passage", "RSS MB",
                     "p50 ms", "p95 ms", "recall@10"],
                    [[f"{r['passages']:,}", r["index"], f"{r['build_s']} s", r["disk_mb"],
                      r["disk_bytes_per_passage"], r["serving_rss_mb"],
                      r["query_ms"]["p50"], r["query_ms"]["p95"], r["recall@10"]]
                     for r in dense])
        for r in dense:
            if r["nprobe_sweep"]:
                print(f"  HNSW at {r['passages']:,}: " + ", ".join(
                    f"efSearch {p}: recall {v['recall@10']}, {v['p50_ms']} ms"
                    for p, v in r["nprobe_sweep"].items()))
        base = scifact_texts(ctx)
        bm = []
        for n in (BM25_QUICK if ctx.quick else BM25_FULL):
            print(f"  bm25 {n:,} passages ...", flush=True)
            bm.append(bench_bm25(n, base, tmp))
        section("scale: BM25 (bm25s, memory-mapped)")
        print_table(["passages", "build", "disk MB", "p50 ms", "p95 ms"],
                    [[f"{r['passages']:,}", f"{r['build_s']} s", r["disk_mb"],
                      r["query_ms"]["p50"], r["query_ms"]["p95"]] for r in bm])
    largest = max(dense, key=lambda r: (r["passages"], r["index"] != "IndexFlatIP"))
    targets = [
        Target("recall@10 miss at largest size", 1 - largest["recall@10"], 0.05,
               f"{largest['index']} at {largest['passages']:,}"),
        Target("query p50 ms at largest size", largest["query_ms"]["p50"], 20.0,
               "excluding query encoding"),
    ]
    section("scale targets")
    print_targets(targets)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    payload = {"dense": dense, "bm25": bm, "peak_rss_mb": round(peak, 1),
               "targets": [t.as_dict() for t in targets],
               "passed": all(t.passed for t in targets)}
    write_results(ctx, "scale", payload)
    return payload
