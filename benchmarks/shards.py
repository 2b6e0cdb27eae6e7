"""Shards: one process against the same index split into 1, 2 and 4 shards on Ray Serve.

    python -m benchmarks --only shards [--quick] [--queries N]
    python -m benchmarks.shards [--quick] [--queries N] [--data DIR] [--out DIR]

Corpus: about ``TARGET`` passages (100,000; ``--quick`` 5,000) of the scale benchmark's
articles (SQuAD dev sentences recombined, ``benchmarks/scale.py``), in one JSONL file
per month over ``MONTHS`` months (2021-2024) and published in file order, so that the
segments, and the shards the manifest cuts from them by date, each cover a period. Vectors
come from the scale benchmark's ``StandInEncoder`` (no model), questions are encoded once
up front, so every figure is the index's work. ``segment_passages`` makes about
``SEGMENTS`` segments, with ``auto_merge=False``.

In one run, on one machine:

- **one process**: ``load_index`` and ``rank()`` per question (``DEPTH`` 10);
- **N shards** for each N of ``SHARD_COUNTS``: the same index resharded
  (``store.merging.reshard``: a commit naming the plan, no segment rewritten) and served
  by a local Ray cluster (``RAY_CPUS`` logical CPUs), one Serve application per shard
  with one replica reserving ``SHARD_CPUS`` CPUs, asked through ``ShardedIndex`` over
  ``RayShards``; the applications are deleted before the next N;
- **one process, again** after Ray has stopped, to show how much the machine drifted.

For each: a warm-up, one pass over the questions whose rankings are compared with the
one process's (same passage rows in the same order, scores within ``SCORE_TOL``; its
latencies are "first ask": a sharded index also asks the shards for the document
frequencies of terms it has not seen), a timed pass of single questions one after
another (p50, p90), and a pass of ``CLIENTS`` threads asking the questions side by side
(questions per second). Memory of each replica process (pids from
``ShardedIndex.infos()``): resident, private (pages no other process maps:
``Private_Clean + Private_Dirty`` of ``/proc/PID/smaps_rollup``) and its index files'
resident pages; a replica serving no segments is measured once, so that a shard's own
memory is its replica's private memory less that. The one process's memory is measured
in a fresh process (``python -m benchmarks.shards memory ARGS``): its growth over
loading the index and asking the same questions the same ways.

On one machine the shards share its cores (and their replicas the Ray processes'):
the ratios to one process say what fanning a question out over processes and Ray's
calls cost, not what shards on machines of their own would gain.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import random  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from concurrent.futures import ThreadPoolExecutor  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

from challenge_qa.eval.data import squad_path  # noqa: E402

from .common import (  # noqa: E402
    PROJECT_ROOT,
    Context,
    Target,
    data_root,
    fmt_s,
    load_avg,
    percentile,
    print_table,
    print_targets,
    section,
    usable_cpus,
    workdir,
    write_results,
)
from .scale import StandInEncoder, make_article, squad_sentences  # noqa: E402

NAME = "shards"
TARGET = 100_000
QUICK_TARGET = 5_000
SEGMENTS = 8
#: Passages per segment: a segment is committed once it holds this many (a build adds
#: articles in groups of 256, about 670 passages), so that the corpus makes 8 segments,
#: each below ``Settings.ann_min_passages`` (searched exactly).
SEGMENT_PASSAGES = 12_400
QUICK_SEGMENT_PASSAGES = 600
MONTHS = 48
FIRST_YEAR = 2021
SHARD_COUNTS = (1, 2, 4)
QUERIES = 200
QUICK_QUERIES = 100
WARMUP = 10
CLIENTS = 4
DEPTH = 10
RAY_CPUS = 8
SHARD_CPUS = 0.5
SCORE_TOL = 1e-5
#: A folder to keep the corpus and index in between runs (rebuilt when the figures that
#: make them change).
WORKDIR_ENV = "CHALLENGE_QA_SHARDS_WORKDIR"


# --------------------------------------------------------------------------- corpus

def write_dated_corpus(folder: Path, target: int, titles: list[str],
                       pools: list[list[str]], seed: int) -> dict[str, Any]:
    """Articles until about ``target`` passages, spread in order over ``MONTHS`` months:
    one JSONL file per month, its articles dated through the month."""
    rng = random.Random(seed)
    records: list[dict] = []
    passages = 0
    while passages < target:
        rec, n = make_article(rng, f"a{len(records):06d}", f"report {len(records)}", titles,
                              pools, "")
        records.append(rec)
        passages += n
    folder.mkdir(parents=True)
    by_month: list[list[dict]] = [[] for _ in range(MONTHS)]
    for k, rec in enumerate(records):
        by_month[k * MONTHS // len(records)].append(rec)
    for m, recs in enumerate(by_month):
        year, month = FIRST_YEAR + m // 12, m % 12 + 1
        with open(folder / f"month-{year}-{month:02d}.jsonl", "w", encoding="utf-8") as f:
            for j, rec in enumerate(recs):
                rec["date"] = f"{year}-{month:02d}-{1 + j * 28 // len(recs):02d}"
                f.write(json.dumps(rec, ensure_ascii=False) + "\n")
    size = sum(p.stat().st_size for p in folder.iterdir())
    return {"files": MONTHS, "articles": len(records), "passages_estimated": passages,
            "mb": round(size / 2**20, 1),
            "dates": [f"{FIRST_YEAR}-01-01", f"{FIRST_YEAR + (MONTHS - 1) // 12}-"
                      f"{(MONTHS - 1) % 12 + 1:02d}-28"]}


def corpus_and_index(work: Path, s, target: int, titles, pools, seed: int) -> dict[str, Any]:
    """The corpus and its index in ``work`` (kept from an earlier run made with the same
    figures), as one shard."""
    from challenge_qa import build_index
    from challenge_qa.store.manifest import read_manifest_quiet
    from challenge_qa.store.merging import reshard

    corpus, index = work / "corpus", work / "index"
    key = {"target": target, "segment_passages": s.segment_passages, "months": MONTHS,
           "seed": seed, "encoder": StandInEncoder.name}
    done = work / "built.json"
    manifest = read_manifest_quiet(index)
    if manifest and done.is_file() and json.loads(done.read_text("utf-8"))["key"] == key:
        made = json.loads(done.read_text("utf-8"))["made"]
        reshard(index, 1, settings=s)
        print(f"  corpus and index kept from an earlier run ({made['passages']:,} passages, "
              f"{made['segments']} segments)", flush=True)
        return {**made, "build_s": None}
    shutil.rmtree(corpus, ignore_errors=True)
    shutil.rmtree(index, ignore_errors=True)
    done.unlink(missing_ok=True)
    t0 = time.perf_counter()
    made = write_dated_corpus(corpus, target, titles, pools, seed)
    made["corpus_s"] = round(time.perf_counter() - t0, 1)
    print(f"  corpus: {made['articles']:,} articles in {made['files']} monthly files, "
          f"{made['mb']} MB ({made['corpus_s']} s); building ...", flush=True)
    t0 = time.perf_counter()
    r = build_index(corpus, index, settings=s.replace(shards=1), embedder=StandInEncoder())
    made.update(passages=r.passages, segments=r.segments,
                build_s=round(time.perf_counter() - t0, 1))
    done.write_text(json.dumps({"key": key, "made": made}), "utf-8")
    print(f"  built {r.passages:,} passages in {r.segments} segments ({made['build_s']} s)",
          flush=True)
    return made


# --------------------------------------------------------------------------- memory

def _kb_fields(path: Path, names: Sequence[str]) -> dict[str, float]:
    out = dict.fromkeys(names, 0.0)
    for line in path.read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in out:
            out[key] += int(rest.split()[0])
    return out


def process_memory(pid: int | str, index_dir: Path | None = None) -> dict[str, float]:
    """Memory of process ``pid`` in MB: resident, anonymous, private (pages no other
    process maps), proportional share, and the resident pages of ``index_dir``'s files."""
    proc = Path("/proc") / str(pid)
    st = _kb_fields(proc / "status", ("VmRSS", "RssAnon"))
    smaps_rollup = proc / "smaps_rollup"
    roll = _kb_fields(smaps_rollup if smaps_rollup.is_file() else proc / "smaps",
                      ("Pss", "Private_Clean", "Private_Dirty"))
    out = {"rss": st["VmRSS"], "anon": st["RssAnon"],
           "private": roll["Private_Clean"] + roll["Private_Dirty"], "pss": roll["Pss"]}
    if index_dir is not None:
        out["index_files"] = index_file_kb(proc, index_dir)
    return {k: round(v / 1024, 1) for k, v in out.items()}


def index_file_kb(proc: Path, index_dir: Path) -> float:
    """Resident kB of the mappings of files under ``index_dir``."""
    root = str(index_dir.resolve())
    total, inside = 0.0, False
    with open(proc / "smaps", encoding="utf-8", errors="replace") as f:
        for line in f:
            first = line.split(maxsplit=1)[0] if line.strip() else ""
            if "-" in first and not first.endswith(":"):
                parts = line.split()
                inside = len(parts) > 5 and parts[5].startswith(root)
            elif inside and first == "Rss:":
                total += int(line.split()[1])
    return total


# --------------------------------------------------------------------------- questions

def ask_all(index, questions: list[str], q_vecs: np.ndarray, warm: list[str],
            warm_vecs: np.ndarray) -> dict[str, Any]:
    """Warm-up, a first pass (rankings kept), a timed pass of single questions and a
    pass of ``CLIENTS`` threads side by side."""
    from challenge_qa.search.retrieve import rank

    def one(i: int) -> Any:
        return rank(index, [questions[i]], DEPTH, q_vecs=q_vecs[i:i + 1])[0]

    for i in range(len(warm)):
        rank(index, [warm[i]], DEPTH, q_vecs=warm_vecs[i:i + 1])
    first, rankings = [], []
    for i in range(len(questions)):
        t = time.perf_counter()
        r = one(i)
        first.append(time.perf_counter() - t)
        rankings.append((r.rows.copy(), r.score.copy()))
    lat = []
    for i in range(len(questions)):
        t = time.perf_counter()
        one(i)
        lat.append(time.perf_counter() - t)
    with ThreadPoolExecutor(CLIENTS) as pool:
        list(pool.map(one, range(min(CLIENTS, len(questions)))))  # threads started
        t = time.perf_counter()
        list(pool.map(one, range(len(questions))))
        wall = time.perf_counter() - t
    return {"rankings": rankings,
            "first_ms": _ms(first), "ms": _ms(lat),
            "throughput_qps": round(len(questions) / wall, 2),
            "concurrent_s": round(wall, 3), "load_avg": load_avg()}


def _ms(values: list[float]) -> dict[str, float]:
    v = [x * 1000 for x in values]
    return {"p50": round(percentile(v, 50), 3), "p90": round(percentile(v, 90), 3),
            "p99": round(percentile(v, 99), 3), "mean": round(sum(v) / len(v), 3)}


def mismatches(got: list, want: list) -> dict[str, Any]:
    """Questions whose ranking differs from the one process's: other rows or order, or
    a score further than ``SCORE_TOL``."""
    bad, worst = 0, 0.0
    for (rows, score), (rows0, score0) in zip(got, want, strict=True):
        if len(rows) != len(rows0) or not np.array_equal(rows, rows0):
            bad += 1
            continue
        diff = float(np.abs(score - score0).max()) if len(score) else 0.0
        worst = max(worst, diff)
        bad += diff > SCORE_TOL
    return {"mismatches": bad, "max_score_diff": worst}


# --------------------------------------------------------------------------- steps

def one_process(s, index_dir: Path, asked: Callable[[Any], dict]) -> dict[str, Any]:
    """``load_index`` in this process, asked."""
    from challenge_qa import load_index

    t0 = time.perf_counter()
    index = load_index(index_dir, settings=s, embedder=StandInEncoder())
    load_s = time.perf_counter() - t0
    try:
        out = asked(index)
    finally:
        index.close()
    out["load_s"] = round(load_s, 3)
    out["segments"] = len(index.segments)
    out["dense_indexes"] = sorted({seg.entry["faiss"]["type"] for seg in index.segments})
    return out


def task_memory(a: dict) -> dict[str, Any]:
    """In a fresh process: its memory once the project is imported, then after loading
    the index and asking the questions as ``ask_all`` does (one after another, then
    ``CLIENTS`` at a time), so that it is measured as a replica is."""
    from challenge_qa import load_index
    from challenge_qa.config import Settings
    from challenge_qa.search.retrieve import rank

    s = Settings(show_progress=False).replace(**a["settings"])
    index_dir = Path(a["index"])
    questions = json.loads(Path(a["questions"]).read_text("utf-8"))
    q_vecs = np.load(a["q_vecs"])
    me = os.getpid()
    before = process_memory(me, index_dir)
    index = load_index(index_dir, settings=s, embedder=StandInEncoder())
    loaded = process_memory(me, index_dir)

    def one(i: int) -> Any:
        return rank(index, [questions[i]], DEPTH, q_vecs=q_vecs[i:i + 1])

    for i in range(len(questions)):
        one(i)
    with ThreadPoolExecutor(CLIENTS) as pool:
        list(pool.map(one, range(len(questions))))
    after = process_memory(me, index_dir)
    return {"before": before, "loaded": loaded, "after": after,
            **{k: round(after[k] - before[k], 1) for k in ("rss", "anon", "private")},
            "index_files": after["index_files"]}


def memory_child(s, index_dir: Path, work: Path, questions: list[str],
                 q_vecs: np.ndarray) -> dict[str, Any]:
    """``task_memory`` in a fresh Python process; its result is the last stdout line."""
    (work / "questions.json").write_text(json.dumps(questions), "utf-8")
    np.save(work / "q_vecs.npy", q_vecs)
    fields = ("model", "segment_passages", "auto_merge", "chunk_chars", "overlap_chars",
              "candidates", "search_threads")
    args = {"index": str(index_dir), "questions": str(work / "questions.json"),
            "q_vecs": str(work / "q_vecs.npy"),
            "settings": {k: getattr(s, k) for k in fields}}
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TQDM_DISABLE": "1"}
    done = subprocess.run([sys.executable, "-m", "benchmarks.shards", "memory",
                           json.dumps(args)], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"shards memory failed:\n{done.stdout[-2000:]}\n"
                           f"{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def empty_replica(serve, client, s, slot: int) -> dict[str, Any]:
    """A replica of the shard deployment for a slot with no segments: the memory every
    replica has before its shard's (Python, Ray, the project's imports)."""
    from challenge_qa.search.ray_shards import deployment

    name = f"{client.app(slot)}-empty"
    handle = serve.run(deployment(serve, s).bind(str(client.index_dir.resolve()), slot, s),
                       name=name, route_prefix=None)
    try:
        info = handle.call.remote("info", ()).result(timeout_s=s.shard_wait_s)
        time.sleep(0.5)
        return {"pid": info["pid"], "passages": info["passages"],
                "memory_mb": process_memory(info["pid"], client.index_dir)}
    finally:
        serve.delete(name)


def on_ray(serve, s, index_dir: Path, count: int, asked: Callable[[Any], dict],
           empty: dict | None) -> dict[str, Any]:
    """``count`` shards deployed afresh, asked, measured and deleted; ``empty`` is the
    replica without segments (measured here when None, and returned)."""
    from challenge_qa.search.ray_shards import RayShards
    from challenge_qa.search.sharded import ShardedIndex
    from challenge_qa.store.manifest import read_manifest
    from challenge_qa.store.merging import reshard

    reshard(index_dir, count, settings=s)
    manifest = read_manifest(index_dir)
    client = RayShards(index_dir, s, None)  # joins this process's cluster
    try:
        t0 = time.perf_counter()
        client.ensure(count)
        deploy_s = time.perf_counter() - t0
        sh = ShardedIndex(index_dir, manifest, s, client, embedder=StandInEncoder())
        infos = sh.infos()
        out = asked(sh)
        out["asked_shards"] = len(sh.last_asked)
        out["deploy_s"] = round(deploy_s, 2)
        shards = []
        for g, info in zip(sh.groups, infos, strict=True):
            shards.append({"slot": info["slot"], "pid": info["pid"],
                           "passages": info["passages"], "segments": len(g["segments"]),
                           "first": g["first"], "last": g["last"],
                           "memory_mb": process_memory(info["pid"], index_dir)})
        if empty is None:
            empty = empty_replica(serve, client, s, count)
        for shard in shards:
            mem = shard["memory_mb"]
            mem["own_private"] = round(mem["private"] - empty["memory_mb"]["private"], 1)
        out["per_shard"] = shards
        out["empty_replica"] = empty
    finally:
        for slot in range(count):
            serve.delete(client.app(slot))
        client.close()
    return out


# --------------------------------------------------------------------------- run

def run(ctx: Context) -> dict[str, Any]:
    squad = squad_path(ctx.data)
    try:
        import ray
        from ray import serve
    except ImportError as e:
        raise RuntimeError(f"the shards benchmark needs Ray Serve ({e}): "
                           "pip install 'challenge-qa[ray]'") from e
    target = ctx.limit or (QUICK_TARGET if ctx.quick else TARGET)
    seg = QUICK_SEGMENT_PASSAGES if ctx.quick else SEGMENT_PASSAGES
    if ctx.limit:
        seg = max(100, ctx.limit * SEGMENT_PASSAGES // TARGET)
    n_q = ctx.queries or (QUICK_QUERIES if ctx.quick else QUERIES)
    titles, pools, all_questions = squad_sentences(squad)
    picked = random.Random(ctx.seed).sample(all_questions, n_q + WARMUP)
    section(f"shards: one process vs {', '.join(map(str, SHARD_COUNTS))} shards on Ray Serve, "
            f"about {target:,} passages (stand-in encoder), {n_q} questions")
    t_all = time.perf_counter()
    with workdir(WORKDIR_ENV, "challenge_qa_shards_") as work:
        s = ctx.settings(model=StandInEncoder.name, corpus_dir=work / "corpus",
                         index_dir=work / "index", segment_passages=seg, auto_merge=False,
                         shard_replicas=1, shard_cpus=SHARD_CPUS, shard_wait_s=60.0)
        from challenge_qa.search.retrieve import clean_question

        made = corpus_and_index(work, s, target, titles, pools, ctx.seed)
        picked = [clean_question(q, s.max_question_chars) for q in picked]
        warm, questions = picked[:WARMUP], picked[WARMUP:]
        enc = StandInEncoder()
        warm_vecs, q_vecs = enc.encode_queries(warm), enc.encode_queries(questions)

        def asked(index) -> dict:
            return ask_all(index, questions, q_vecs, warm, warm_vecs)

        index_dir = work / "index"
        rows: list[dict[str, Any]] = []
        base = one_process(s, index_dir, asked)
        reference = base.pop("rankings")
        base.update(label="one process", shards=0,
                    **mismatches(reference, reference))
        base["memory_mb"] = memory_child(s, index_dir, work, questions, q_vecs)
        rows.append(base)
        _progress(base)
        os.environ.setdefault("RAY_DISABLE_USAGE_STATS", "1")
        t0 = time.perf_counter()
        # a cluster of this process, never one a `ray start` left on this machine
        ray.init(address="local", num_cpus=RAY_CPUS, include_dashboard=False,
                 logging_level=logging.WARNING, log_to_driver=False)
        ray_start_s = time.perf_counter() - t0
        print(f"  local Ray cluster of {RAY_CPUS} logical CPUs started in {ray_start_s:.1f} s",
              flush=True)
        empty = None
        try:
            for count in SHARD_COUNTS:
                got = on_ray(serve, s, index_dir, count, asked, empty)
                got.update(label=f"{count} shard{'s' if count > 1 else ''} (Ray Serve)",
                           shards=count, **mismatches(got.pop("rankings"), reference))
                empty = got.pop("empty_replica")
                rows.append(got)
                _progress(got)
        finally:
            ray.shutdown()  # Serve's controller and replicas stop with the cluster
        again = one_process(s, index_dir, asked)
        again.update(label="one process, again", shards=0,
                     **mismatches(again.pop("rankings"), reference))
        rows.append(again)
        _progress(again)
        from challenge_qa.store.merging import reshard

        reshard(index_dir, 1, settings=s)  # a kept index starts the next run as built
    runtime = time.perf_counter() - t_all
    for r in rows:
        r["p50_ratio"] = round(r["ms"]["p50"] / base["ms"]["p50"], 3)
        r["p90_ratio"] = round(r["ms"]["p90"] / base["ms"]["p90"], 3)
        r["throughput_ratio"] = round(r["throughput_qps"] / base["throughput_qps"], 3)
    report(rows, empty)
    sharded = [r for r in rows if r["shards"]]
    targets = [Target(f"rankings differing from one process, {r['shards']} shard"
                      f"{'s' if r['shards'] > 1 else ''}", r["mismatches"], 0,
                      f"of {n_q} questions; rows equal, scores within {SCORE_TOL:g} "
                      f"(max diff {r['max_score_diff']:.2g})") for r in sharded]
    section("shards targets")
    print_targets(targets)
    payload = {
        "encoder": "stand-in (benchmarks/scale.py StandInEncoder), no model",
        "corpus": f"SQuAD dev sentences recombined into articles (benchmarks/scale.py), one "
                  f"JSONL file per month over {MONTHS} months from {FIRST_YEAR}",
        "made": made, "queries": n_q, "depth": DEPTH, "clients": CLIENTS,
        "settings": {"segment_passages": seg, "auto_merge": False, "shard_replicas": 1,
                     "shard_cpus": SHARD_CPUS, "ray_cpus": RAY_CPUS,
                     "search_threads": s.search_threads, "candidates": s.candidates},
        "cpus_usable": usable_cpus(), "ray_start_s": round(ray_start_s, 1),
        "empty_replica": empty, "rows": rows,
        # on one machine the shards share its cores: no limit on these, see the docstring
        "ratios": {r["label"]: {"p50": r["p50_ratio"], "throughput": r["throughput_ratio"]}
                   for r in rows[1:]},
        "runtime_s": round(runtime, 1),
        "targets": [t.as_dict() for t in targets],
        "passed": all(t.passed for t in targets)}
    write_results(ctx, NAME, payload)
    return payload


def _progress(r: dict[str, Any]) -> None:
    setup = (f"deployed in {r['deploy_s']:.1f} s" if r["shards"]
             else f"loaded in {r['load_s']:.2f} s")
    print(f"  {r['label']}: {setup}; p50 {r['ms']['p50']:.2f} ms, p90 {r['ms']['p90']:.2f} ms, "
          f"{r['throughput_qps']:.0f} questions/s with {CLIENTS} clients, "
          f"{r['mismatches']} rankings differ (load {load_avg()})", flush=True)


def report(rows: list[dict[str, Any]], empty: dict | None) -> None:
    section("shards: latency, throughput, memory")
    table = []
    for r in rows:
        if r["shards"]:
            mems = [sh["memory_mb"] for sh in r["per_shard"]]
            mem = (f"{sum(m['rss'] for m in mems):,.0f} / {sum(m['private'] for m in mems):,.0f}"
                   f" / {sum(m.get('own_private', 0) for m in mems):,.0f}")
            passages = " / ".join(f"{sh['passages']:,}" for sh in r["per_shard"])
            setup = fmt_s(r["deploy_s"])
        else:
            m = r.get("memory_mb")
            mem = (f"+{m['rss']:,.0f} / +{m['private']:,.0f} / +{m['private']:,.0f}" if m
                   else "")
            passages = f"{r['segments']} segments"
            setup = fmt_s(r["load_s"])
        table.append([r["label"], passages, setup, r["first_ms"]["p50"], r["ms"]["p50"],
                      r["ms"]["p90"], r["p50_ratio"], r["throughput_qps"],
                      r["throughput_ratio"], mem, f"{r['mismatches']}"])
    print_table(["", "passages per shard", "load / deploy", "first p50 ms", "p50 ms",
                 "p90 ms", "p50 / one", "q/s", "q/s / one",
                 "MB resident / private / own (all shards)", "rankings differ"], table)
    if empty:
        m = empty["memory_mb"]
        print(f"  a replica with no segments: {m['rss']:,.0f} MB resident, "
              f"{m['private']:,.0f} MB private")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["memory"] and len(argv) == 2:
        print(json.dumps(task_memory(json.loads(argv[1]))))
        return 0
    ap = argparse.ArgumentParser(prog="python -m benchmarks.shards",
                                 description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--quick", action="store_true",
                    help=f"about {QUICK_TARGET:,} passages, {QUICK_QUERIES} questions")
    ap.add_argument("--queries", type=int, help=f"questions [default: {QUERIES}]")
    ap.add_argument("--data", type=Path, help="benchmark data folder (SQuAD)")
    ap.add_argument("--out", type=Path, default=None, help="where to write results JSON")
    args = ap.parse_args(argv)
    ctx = Context(data=data_root(args.data), quick=args.quick, queries=args.queries,
                  **({"out": args.out.resolve()} if args.out else {}))
    return 0 if run(ctx)["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
