"""answer() on the bundled articles, cold start of `challenge-qa ask`, peak memory.

In one run, on the project's own ``docs_corpus`` (the two articles the chat ships with):

1. Warm ``answer(q)`` and ``retrieve(q, k=5)`` vs ``encode_queries([q])`` + ``dense.search``
   alone, interleaved per question (on- and off-topic questions, repeated; medians).
   Target: ``answer()`` p50 at most 60 ms.
2. Cold start: wall time from launching ``challenge-qa ask "..."`` (a new process, index
   already built) to its exit with the answer printed; median of ``--repeats`` (at least 3)
   runs per encoder backend.
3. Peak RSS (``ru_maxrss``) of a process that builds the index, and of one that loads it and
   answers every question, for the bundled articles and for SciFact (its first 1,000
   articles, or ``--limit``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from .common import (
    BUNDLED_QUESTIONS,
    DATASET,
    DOCS_CORPUS,
    FILES,
    Context,
    Target,
    bare_dense,
    copy_corpus,
    load_avg,
    median,
    print_table,
    print_targets,
    section,
    summary,
    write_results,
)

os.environ.setdefault("HF_HUB_OFFLINE", "1")

NAME = "latency"
ROUNDS = 5  # each question asked this many times (interleaved with the baselines)
QUICK_ROUNDS = 1
SCIFACT_ARTICLES = 1000
QUICK_SCIFACT_ARTICLES = 100
COLD_QUESTION = "Who plays the patient?"
TARGET_ANSWER_MS = 60.0
BACKENDS = ("onnx-int8", "torch")

#: Run in a fresh interpreter: build or serve, then print peak RSS (MiB) as JSON.
CHILD = r"""
import json, os, resource, sys, time
os.environ.setdefault("HF_HUB_OFFLINE", "1")
from challenge_qa.config import Settings
mode, corpus, index = sys.argv[1:4]
s = Settings(show_progress=False)
t0 = time.perf_counter()
if mode == "build":
    from challenge_qa import build_index
    build_index(corpus, index, full=True, settings=s)
else:
    from challenge_qa import answer
    from challenge_qa import load_index
    idx = load_index(index, settings=s)
    for q in json.loads(sys.argv[4]):
        answer(q, index=idx)
print(json.dumps({"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "seconds": time.perf_counter() - t0}))
"""


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHALLENGE_QA_")}
    if "CHALLENGE_QA_CACHE" in os.environ:  # where the ONNX export is kept
        env["CHALLENGE_QA_CACHE"] = os.environ["CHALLENGE_QA_CACHE"]
    return {**env, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", **extra}


def run_child(mode: str, corpus: Path, index: Path, questions: list[str]) -> dict[str, float]:
    done = subprocess.run([sys.executable, "-c", CHILD, mode, str(corpus), str(index),
                           json.dumps(questions)], capture_output=True, text=True,
                          env=child_env(), check=False, timeout=3600)
    if done.returncode:
        raise RuntimeError(f"{mode} child failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def bench_warm(index_dir: Path, questions: list[str], rounds: int) -> dict[str, Any]:
    from challenge_qa import answer, load_index, retrieve
    from challenge_qa.config import Settings

    idx = load_index(index_dir, settings=Settings(show_progress=False))

    def dense(q: str):
        return bare_dense(idx).search(idx.embedder.encode_queries([q]), 5)

    calls = {"answer": lambda q: answer(q, index=idx),
             "retrieve": lambda q: retrieve(q, k=5, index=idx), "dense": dense}
    for q in questions:  # warm: model, caches, sentence vectors of the passages
        for fn in calls.values():
            fn(q)
    times: dict[str, list[float]] = {n: [] for n in calls}
    names = list(calls)
    i = 0
    for _ in range(rounds):
        for q in questions:
            for name in names[i % 3:] + names[:i % 3]:
                t0 = time.perf_counter()
                calls[name](q)
                times[name].append(time.perf_counter() - t0)
            i += 1
    med = {n: median(v) for n, v in times.items()}
    return {"calls_each": len(times["answer"]), "questions": len(questions),
            "latency_ms": {n: summary(v, scale=1000, digits=3) for n, v in times.items()},
            "answer_over_dense": med["answer"] / med["dense"],
            "retrieve_over_dense": med["retrieve"] / med["dense"]}


def bench_cold(index_dir: Path, repeats: int) -> dict[str, Any]:
    """Process start to first answer, per backend (the ONNX export is made beforehand)."""
    out: dict[str, Any] = {}
    exe = Path(sys.executable).with_name("challenge-qa")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "challenge_qa.app.cli"]
    for backend in BACKENDS:
        env = child_env(CHALLENGE_QA_BACKEND=backend, CHALLENGE_QA_INDEX=str(index_dir),
                        CHALLENGE_QA_CORPUS=str(DOCS_CORPUS))
        subprocess.run([*cmd, "ask", COLD_QUESTION], env=env, capture_output=True, check=True,
                       timeout=600)  # first use: export, page cache
        runs = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            done = subprocess.run([*cmd, "ask", COLD_QUESTION], env=env, capture_output=True,
                                  text=True, timeout=600, check=True)
            runs.append(time.perf_counter() - t0)
        out[backend] = {"seconds": [round(x, 3) for x in runs], "median_s": median(runs),
                        "answer": done.stdout.splitlines()[0] if done.stdout else ""}
    return out


def run(ctx: Context) -> dict[str, Any]:
    from challenge_qa import build_index
    from challenge_qa.config import Settings


    rounds = QUICK_ROUNDS if ctx.quick else ROUNDS
    repeats = max(3, ctx.repeats) if not ctx.quick else 1
    n_sci = ctx.limit or (QUICK_SCIFACT_ARTICLES if ctx.quick else SCIFACT_ARTICLES)
    qs = json.loads(BUNDLED_QUESTIONS.read_text(encoding="utf-8"))
    questions = [x["q"] for x in qs["answerable"]["test"] + qs["near_miss"]["test"]]
    section(f"latency: docs_corpus ({len(questions)} questions x {rounds}), cold start x "
            f"{repeats}, peak RSS (docs_corpus, SciFact {n_sci} articles)")
    with tempfile.TemporaryDirectory(prefix="challenge_qa_bench_") as tmp_name:
        tmp = Path(tmp_name)
        docs_index = tmp / "docs-index"
        build_index(DOCS_CORPUS, docs_index, settings=Settings(show_progress=False))
        print(f"1) warm answer()/retrieve() (load {load_avg()})", flush=True)
        warm = bench_warm(docs_index, questions, rounds)
        print(f"2) cold start of challenge-qa ask (load {load_avg()})", flush=True)
        cold = bench_cold(docs_index, repeats)
        print(f"3) peak RSS (load {load_avg()})", flush=True)
        folder = ctx.dataset(DATASET, FILES)
        sci = tmp / "scifact.jsonl"
        copy_corpus(folder / "corpus.jsonl", sci, n_sci)
        sci_queries = [json.loads(line)["text"] for line in
                       (folder / "queries.jsonl").read_text(encoding="utf-8").splitlines()[:50]]
        memory = {}
        for label, corpus, qs in (("docs_corpus", DOCS_CORPUS, questions),
                                  (f"scifact_{n_sci}", sci, sci_queries)):
            index = tmp / f"rss-{label}"
            build = run_child("build", corpus, index, [])
            serve = run_child("serve", corpus, index, qs)
            manifest = json.loads((index / "manifest.json").read_text(encoding="utf-8"))
            memory[label] = {"passages": manifest["counts"]["passages"],
                             "build_peak_rss_mb": round(build["peak_rss_mb"], 1),
                             "build_s": round(build["seconds"], 2),
                             "serve_peak_rss_mb": round(serve["peak_rss_mb"], 1),
                             "serve_questions": len(qs)}

    lat = warm["latency_ms"]
    section(f"1) warm latency on the bundled articles ({warm['calls_each']} calls each)")
    print_table(["call", "p50 ms", "p95 ms", "mean ms"],
                [[label, lat[n]["p50"], lat[n]["p95"], lat[n]["mean"]]
                 for n, label in (("answer", "answer(q)"), ("retrieve", "retrieve(q, k=5)"),
                                  ("dense", "encode_queries + dense.search"))])
    print(f"answer / (encode + search) p50: {warm['answer_over_dense']:.2f}; "
          f"retrieve / (encode + search): {warm['retrieve_over_dense']:.2f}")
    section("2) cold start: `challenge-qa ask` from process start to the printed answer")
    print_table(["backend", "median s", "runs"],
                [[b, f"{c['median_s']:.2f}", ", ".join(f"{x:.2f}" for x in c["seconds"])]
                 for b, c in cold.items()])
    section("3) peak memory (RSS) of one process")
    print_table(["corpus", "passages", "build peak MB", "serving peak MB"],
                [[k, m["passages"], m["build_peak_rss_mb"], m["serve_peak_rss_mb"]]
                 for k, m in memory.items()])
    targets = [Target("answer() p50 on the bundled articles (ms)", lat["answer"]["p50"],
                      TARGET_ANSWER_MS, f"retrieve {lat['retrieve']['p50']} ms, encode+search "
                      f"{lat['dense']['p50']} ms")]
    section("targets")
    print_targets(targets)
    payload = {"config": {"questions": len(questions), "rounds": rounds, "repeats": repeats,
                          "scifact_articles": n_sci, "load_avg_1min_end": load_avg()},
               "warm": warm, "cold_start": cold, "memory": memory,
               "targets": [t.as_dict() for t in targets],
               "passed": all(t.passed for t in targets)}
    path = write_results(ctx, NAME, payload)
    print(f"\nresults: {path}")
    return payload
