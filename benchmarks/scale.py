"""Scale: the segmented index at 20k, 200k and 1M passages: build, updates, queries, memory.

Corpus: short news-like articles made by recombining SQuAD dev sentences (each article
takes 8-16 sentences of one SQuAD article, in 2-4 paragraphs, under a numbered title, so
every passage is distinct), written as JSONL "day" files of ``DAY_ARTICLES`` articles,
plus a few files of one article each. Adding an article is adding a small new file;
deleting one is removing such a file.

Vectors come from a deterministic STAND-IN ENCODER, so that only index work is timed:
384-d unit vectors clustered like sentence embeddings, keyed by hashes of the text (the
title line picks one of 4,000 topic centres, a 64-bit hash of the whole text the noise
around it; same-topic neighbours at cosine about 0.5). It is injected by replacing
``challenge_qa.store.build.local_stage`` in the benchmark's own processes (no model is loaded).

Each step runs in a fresh process (``python -m benchmarks.scale TASK ARGS``), so that its
peak RSS is its own: the full build, the serving process (load, RSS, ``rank()`` of SQuAD
questions with precomputed query vectors), the updates (adding and deleting one article,
each a real ``build_index`` with auto-merge as configured, median of ``REPEATS``), and at
the largest size ``optimize`` into one segment, then serving again.

Settings: the defaults except ``segment_passages`` (``SEGMENT_PASSAGES``: 100,000, so
that 1M passages make 10 segments, each large enough for HNSW, and no auto-merge runs).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from challenge_qa.config import Settings
from challenge_qa.eval.data import squad_path
from challenge_qa.testing import HashEmbedder

from .common import (
    PROJECT_ROOT,
    Context,
    Target,
    load_avg,
    print_table,
    print_targets,
    section,
    summary,
    workdir,
    write_results,
)

DIM = 384
CENTRES = 4000
NOISE_ROWS = 8192
NOISE = 0.05  # per coordinate: same-topic neighbours at cosine ~0.5, as with MiniLM
FULL_SIZES = (20_000, 200_000, 1_000_000)
QUICK_SIZES = (5_000, 20_000)
SEGMENT_PASSAGES = 100_000
QUICK_SEGMENT_PASSAGES = 10_000
DAY_ARTICLES = 2_000
QUICK_DAY_ARTICLES = 500
SINGLES = 8  # one-article files, removed one at a time by the delete test
REPEATS = 5
QUICK_REPEATS = 3
QUERIES = 200
QUICK_QUERIES = 50
WARMUP = 10
#: What decides the dense side's speed (a change starts the work folder's steps afresh).
ANN_MIN = Settings().ann_min_passages
SEARCH = ("segments searched side by side, "
          + (f"{Settings().search_threads} threads" if Settings().search_threads
             else "a thread per core")
          + f", each HNSW segment with efSearch {Settings().hnsw_ef_search} x sqrt(its "
          "share of the passages)")
DEPTH = 10
RSS_LIMIT_MB = 2500
ADD_LIMIT_S = 5.0


# --------------------------------------------------------------------------- encoder

class StandInEncoder(HashEmbedder):
    """Deterministic 384-d unit vectors from text hashes (no model): topic centre of the
    title line + noise keyed by a hash of the whole text, normalised. A ``HashEmbedder``
    whose vectors cluster by topic, as a real model's do, so recall is measurable."""

    name = "stand-in-384"

    def __init__(self) -> None:
        super().__init__(DIM)
        self.name = StandInEncoder.name
        rng = np.random.default_rng(7)
        c = rng.standard_normal((CENTRES, DIM)).astype(np.float32)
        self.centres = c / np.linalg.norm(c, axis=1, keepdims=True)
        # three noise rows summed per text: 8192^3 combinations per centre
        self.noise = (rng.standard_normal((NOISE_ROWS, DIM)) * (NOISE / np.sqrt(3))
                      ).astype(np.float32)
        self.seconds = 0.0

    def encode_documents(self, texts: list[str], **_: Any) -> np.ndarray:
        t0 = time.perf_counter()
        n = len(texts)
        centre = np.fromiter((zlib.crc32(t.split("\n", 1)[0].encode()) % CENTRES
                              for t in texts), dtype=np.int64, count=n)
        h = np.frombuffer(b"".join(hashlib.blake2b(t.encode(), digest_size=6).digest()
                                   for t in texts), dtype=np.uint16).reshape(n, 3)
        h = h.astype(np.int64) % NOISE_ROWS
        x = self.centres[centre] + self.noise[h[:, 0]] + self.noise[h[:, 1]] \
            + self.noise[h[:, 2]]
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        self.seconds += time.perf_counter() - t0
        return np.ascontiguousarray(x, dtype=np.float32)

    encode_queries = encode_documents


@contextmanager
def stand_in_encoder() -> Iterator[StandInEncoder]:
    """A ``StandInEncoder`` for the builds of this block, which are handed it as their
    embedder (``build_index(..., embedder=enc)``); the index records its name."""
    yield StandInEncoder()


# --------------------------------------------------------------------------- corpus

def squad_sentences(path: Path) -> tuple[list[str], list[list[str]], list[str]]:
    """SQuAD dev titles, each article's sentences, and all questions (file order)."""
    from challenge_qa.text.chunking import split_sentences

    data = json.loads(path.read_text(encoding="utf-8"))["data"]
    titles, pools, questions = [], [], []
    for art in data:
        sents = []
        for p in art["paragraphs"]:
            c = p["context"].strip()
            sents += [c[a:b] for a, b in split_sentences(c)]
            questions += [qa["question"] for qa in p["qas"]]
        titles.append(art["title"].replace("_", " "))
        pools.append(sents)
    return titles, pools, questions


def estimate_passages(sent_lens: list[int], seps: list[int], chunk: int, overlap: int) -> int:
    """Passages ``split_passages`` makes of sentences of these lengths (joined by
    separators of ``seps`` characters), without running the sentence splitter."""
    from challenge_qa.text.chunking import pack_sentences

    spans, pos = [], 0
    for n, sep in zip(sent_lens, seps, strict=True):
        spans.append((pos, pos + n))
        pos += n + sep
    return len(pack_sentences(spans, chunk, overlap))


def make_article(rng: random.Random, aid: str, label: str, titles: list[str],
                 pools: list[list[str]], date: str) -> tuple[dict, int]:
    """One article record and its estimated passage count."""
    t = rng.randrange(len(titles))
    k = rng.randint(8, 16)
    sents = rng.sample(pools[t], min(k, len(pools[t])))
    paras, lens, seps, j = [], [], [], 0
    while j < len(sents):
        m = rng.randint(3, 5)
        part = sents[j:j + m]
        paras.append(" ".join(part))
        lens += [len(s) for s in part]
        seps += [1] * (len(part) - 1) + [2]
        j += m
    rec = {"id": aid, "title": f"{titles[t]}: {label}", "text": "\n\n".join(paras),
           "date": date, "source": "SQuAD remix"}
    return rec, estimate_passages(lens, seps, 1000, 200)


def write_corpus(folder: Path, target: int, day_articles: int, titles: list[str],
                 pools: list[list[str]]) -> dict[str, Any]:
    """Day files of ``day_articles`` articles until about ``target`` passages, then
    ``SINGLES`` one-article files. Day ``d`` is the same at every size."""
    folder.mkdir(parents=True)
    passages = articles = day = 0
    while passages < target:
        rng = random.Random(1000 + day)
        date = f"2024-{1 + day // 28 % 12:02d}-{1 + day % 28:02d}"
        with open(folder / f"day-{day:04d}.jsonl", "w", encoding="utf-8") as f:
            for i in range(day_articles):
                rec, n = make_article(rng, f"d{day:04d}-{i:05d}", f"report {day}-{i}",
                                      titles, pools, date)
                f.write(json.dumps(rec, ensure_ascii=False) + "\n")
                passages += n
                articles += 1
                if passages >= target:
                    break
        day += 1
    rng = random.Random(7)
    for i in range(SINGLES):
        rec, n = make_article(rng, f"single-{i}", f"single report {i}", titles, pools,
                              "2024-12-31")
        (folder / f"single-{i:02d}.jsonl").write_text(json.dumps(rec) + "\n", "utf-8")
        passages += n
        articles += 1
    size = sum(p.stat().st_size for p in folder.iterdir())
    return {"files": day + SINGLES, "articles": articles, "passages_estimated": passages,
            "mb": round(size / 2**20, 1)}


# --------------------------------------------------------------------------- children

def memory_mb() -> dict[str, float]:
    """Resident memory of this process: all of it, private (anonymous) and file pages."""
    keys = {"VmRSS:": "rss", "RssAnon:": "anon", "RssFile:": "file"}
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            k = line.split(maxsplit=1)[0] if line.strip() else ""
            if k in keys:
                out[keys[k]] = round(int(line.split()[1]) / 1024, 1)
    return out


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_by_file(index_dir: Path) -> dict[str, float]:
    """Resident MB of this process by mapped index file kind, and the rest."""
    out: dict[str, float] = {}
    where = "other"
    root = str(index_dir.resolve())
    with open("/proc/self/smaps") as f:
        for line in f:
            first = line.split(maxsplit=1)[0]
            if "-" in first and not first.endswith(":"):
                parts = line.split()
                path = parts[5] if len(parts) > 5 else ""
                where = Path(path).name if path.startswith(root) else "other"
            elif first == "Rss:":
                out[where] = out.get(where, 0.0) + int(line.split()[1]) / 1024
    return {k: round(v, 1) for k, v in sorted(out.items())}


def child_settings(a: dict):
    from challenge_qa.config import Settings

    return Settings(show_progress=False, model=StandInEncoder.name, corpus_dir=Path(a["corpus"]),
                    index_dir=Path(a["index"]), segment_passages=a["segment_passages"])


def task_build(a: dict) -> dict:
    from challenge_qa import build_index

    s = child_settings(a)
    with stand_in_encoder() as enc:
        t0 = time.perf_counter()
        cpu0 = time.process_time()
        r = build_index(s.corpus_dir, s.index_dir, settings=s, embedder=enc)
        wall = time.perf_counter() - t0
        cpu = time.process_time() - cpu0
    return {"seconds": round(wall, 2), "encode_s": round(enc.seconds, 2),
            "build_s": round(wall - enc.seconds, 2), "cpu_s": round(cpu, 1),
            "articles": r.articles, "passages": r.passages, "segments": r.segments,
            "merges": r.merges, "peak_rss_mb": round(peak_rss_mb(), 1)}


def fsync_ms(folder: Path) -> float:
    """Median milliseconds to write and fsync a small file in ``folder`` (the disk's
    state at the time of an update)."""
    out = []
    for _ in range(5):
        t0 = time.perf_counter()
        with open(folder / ".fsync-probe", "wb") as f:
            f.write(b"x" * 512)
            f.flush()
            os.fsync(f.fileno())
        out.append(time.perf_counter() - t0)
    (folder / ".fsync-probe").unlink()
    return round(statistics.median(out) * 1000, 3)


def task_update(a: dict) -> dict:
    """For each index in turn (interleaved, so that the machine's state weighs on all
    sizes alike), ``repeats`` times: add one article as a new file, then (second loop)
    remove one of the one-article files; each change is followed by a full
    ``build_index`` call. Each call starts from an index at rest (``os.sync()`` first:
    its own fsyncs do not wait for earlier writes)."""
    from challenge_qa import build_index
    from challenge_qa.config import Settings

    targets = [(Path(c), Path(i)) for c, i in a["indexes"]]
    s = Settings(show_progress=False, model=StandInEncoder.name,
                 segment_passages=a["segment_passages"])
    titles, pools, _ = squad_sentences(Path(a["squad"]))
    rng = random.Random(99)
    adds: list[list[dict]] = [[] for _ in targets]
    deletes: list[list[dict]] = [[] for _ in targets]
    with stand_in_encoder() as enc:
        for r in range(a["repeats"]):
            for k, (corpus, index) in enumerate(targets):
                rec, _ = make_article(rng, f"added-{r}", f"added report {r}", titles, pools,
                                      "2025-01-01")
                (corpus / f"added-{r:02d}.jsonl").write_text(json.dumps(rec) + "\n", "utf-8")
                os.sync()
                probe = fsync_ms(index)
                e0 = enc.seconds
                t0 = time.perf_counter()
                rep = build_index(corpus, index, settings=s, embedder=enc)
                wall = time.perf_counter() - t0
                assert rep.added == 1 and rep.embedded_passages >= 1, rep
                adds[k].append({"s": round(wall - (enc.seconds - e0), 4),
                                "encode_s": round(enc.seconds - e0, 5), "fsync_ms": probe,
                                "merges": rep.merges, "segments": rep.segments})
        for r in range(a["repeats"]):
            for k, (corpus, index) in enumerate(targets):
                (corpus / f"single-{r:02d}.jsonl").unlink()
                os.sync()
                probe = fsync_ms(index)
                t0 = time.perf_counter()
                rep = build_index(corpus, index, settings=s, embedder=enc)
                wall = time.perf_counter() - t0
                assert rep.removed == 1 and rep.embedded_passages == 0, rep
                deletes[k].append({"s": round(wall, 4), "fsync_ms": probe,
                                   "merges": rep.merges, "segments": rep.segments})
    return {"per_index": [
        {"add": ad, "delete": de,
         "add_median_s": round(statistics.median(x["s"] for x in ad), 4),
         "delete_median_s": round(statistics.median(x["s"] for x in de), 4)}
        for ad, de in zip(adds, deletes, strict=True)]}


def task_optimize(a: dict) -> dict:
    from challenge_qa.store.merging import optimize

    s = child_settings(a)
    t0 = time.perf_counter()
    merges = optimize(s.index_dir, settings=s)
    return {"seconds": round(time.perf_counter() - t0, 2), "merges": merges,
            "peak_rss_mb": round(peak_rss_mb(), 1)}


def task_serve(a: dict) -> dict:
    """Load the index, note its memory, run ``rank()`` per question with precomputed
    query vectors (and each retriever alone, and each segment's dense index alone with
    the beam it gets in the index); then dense recall@10 against exact search."""
    import math

    from challenge_qa import load_index
    from challenge_qa.search.dense import search_threads
    from challenge_qa.search.retrieve import clean_question, rank

    s = child_settings(a)
    questions = json.loads(Path(a["questions"]).read_text("utf-8"))
    questions = [clean_question(q, s.max_question_chars) for q in questions]
    q_vecs = np.load(a["q_vecs"])
    mem0 = memory_mb()
    t0 = time.perf_counter()
    index = load_index(s.index_dir, settings=s, embedder=StandInEncoder())
    load_s = time.perf_counter() - t0
    mem_loaded = memory_mb()
    for i in range(WARMUP):
        rank(index, [questions[i]], DEPTH, q_vecs=q_vecs[i:i + 1])
    timed = range(WARMUP, len(questions))
    lat, dense_t, lex_t = [], [], []
    for i in timed:
        qv = q_vecs[i:i + 1]
        t = time.perf_counter()
        rank(index, [questions[i]], DEPTH, q_vecs=qv)
        lat.append(time.perf_counter() - t)
        t = time.perf_counter()
        index.search_dense(qv, s.candidates)
        dense_t.append(time.perf_counter() - t)
        t = time.perf_counter()
        index.lexical.scores(index.lexical.query_terms(questions[i]))
        lex_t.append(time.perf_counter() - t)
    mem_queried = memory_mb()
    by_file = rss_by_file(s.index_dir)
    per_seg = []
    live = sum(seg.n_live for seg in index.segments)
    for seg in index.segments:
        k = min(seg.n, s.candidates + seg.n - seg.n_live)
        ef = max(k, math.ceil(s.hnsw_ef_search * math.sqrt(seg.n_live / live)))
        hnsw = hasattr(seg.dense, "hnsw")
        if hnsw:
            seg.dense.hnsw.efSearch = ef
        ts = []
        for i in list(timed)[:50]:
            t = time.perf_counter()
            seg.dense.search(q_vecs[i:i + 1], k)
            ts.append(time.perf_counter() - t)
        per_seg.append({"passages": seg.n, "type": seg.entry["faiss"]["type"],
                        "efSearch": ef if hnsw else None,
                        "p50_ms": round(statistics.median(ts) * 1000, 3)})
    passages = index.size
    out = {"passages": passages, "segments": len(index.segments),
           "dense_indexes": sorted({seg.entry["faiss"]["type"] for seg in index.segments}),
           "load_s": round(load_s, 3), "memory_before_load_mb": mem0,
           "memory_loaded_mb": mem_loaded, "memory_after_queries_mb": mem_queried,
           "rss_by_file_mb": by_file,
           # private memory (heap, HNSW graphs, vocabularies) per passage, and all resident
           # memory including the index files' pages it maps (reclaimable page cache)
           "anon_bytes_per_passage": round(
               (mem_queried["anon"] - mem0["anon"]) * 2**20 / passages, 1),
           "rss_bytes_per_passage": round(
               (mem_queried["rss"] - mem0["rss"]) * 2**20 / passages, 1),
           "rank_ms": summary(lat, scale=1000, digits=2),
           "search_threads": search_threads(s), "load_avg": load_avg(),
           "dense_search_ms": summary(dense_t, scale=1000, digits=2),
           "bm25_scores_ms": summary(lex_t, scale=1000, digits=2),
           "segment_dense_search": per_seg}
    if a.get("recall"):
        out["dense_recall@10"] = round(dense_recall(index, q_vecs[WARMUP:], s.candidates), 4)
    out["peak_rss_mb"] = round(peak_rss_mb(), 1)
    return out


def dense_recall(index, q_vecs: np.ndarray, candidates: int) -> float:
    """Share of the exact top 10 (brute force over every live vector) that the segments'
    dense indexes propose among ``candidates`` and exact re-scoring puts in the top 10."""
    best_s = np.full((len(q_vecs), 10), -np.inf, dtype=np.float32)
    best_i = np.zeros((len(q_vecs), 10), dtype=np.int64)
    for seg, off in zip(index.segments, index.offsets[:-1].tolist(), strict=True):
        for a in range(0, seg.n, 50_000):
            v = np.asarray(seg.vectors[a:a + 50_000])
            sc = q_vecs @ v.T
            if seg.live is not None:
                sc[:, ~seg.live[a:a + len(v)]] = -np.inf
            sc = np.concatenate([best_s, sc], axis=1)
            ids = np.concatenate([best_i, np.broadcast_to(np.arange(off + a, off + a + len(v)),
                                                          (len(q_vecs), len(v)))], axis=1)
            top = np.argpartition(-sc, 9, axis=1)[:, :10]
            best_s = np.take_along_axis(sc, top, 1)
            best_i = np.take_along_axis(ids, top, 1)
    hits = 0
    for qi, cand in enumerate(index.search_dense(q_vecs, candidates)):
        top = cand[np.argsort(-(index.vectors(cand) @ q_vecs[qi]))[:10]]
        hits += len(set(top.tolist()) & set(best_i[qi].tolist()))
    return hits / (10 * len(q_vecs))


TASKS = {"build": task_build, "update": task_update, "optimize": task_optimize,
         "serve": task_serve}


def child(task: str, args: dict, log: Path | None = None) -> dict:
    """Run a task in a fresh Python process; its result is the last stdout line."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TQDM_DISABLE": "1"}
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "benchmarks.scale", task, json.dumps(args)],
                          cwd=PROJECT_ROOT, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"scale {task} failed:\n{done.stdout[-2000:]}\n"
                           f"{done.stderr[-4000:]}")
    out = json.loads(done.stdout.strip().splitlines()[-1])
    out["process_s"] = round(time.perf_counter() - t0, 1)
    out["load_avg_after"] = load_avg()
    return out


# --------------------------------------------------------------------------- disk

KINDS = {"vectors.npy": "vectors", "dense.faiss": "dense index",
         "postings_ptr.npy": "BM25 postings", "postings_doc.npy": "BM25 postings",
         "postings_tf.npy": "BM25 postings", "lengths.npy": "BM25 postings",
         "terms.json": "BM25 postings", "segment.sqlite": "SQLite (articles, passages)",
         "passages.npy": "spans", "sentences.npy": "spans", "sentence_ptr.npy": "spans",
         "published.npy": "date and source filters", "source_ids.npy": "date and source filters",
         "sources.json": "date and source filters"}


def disk_by_kind(index_dir: Path) -> dict[str, dict[str, float]]:
    """Bytes per live passage on disk by kind of file, over the live segments."""
    manifest = json.loads((index_dir / "manifest.json").read_text("utf-8"))
    passages = manifest["counts"]["passages"]
    sizes: dict[str, int] = {}
    for e in manifest["segments"]:
        for p in (index_dir / e["name"]).iterdir():
            kind = KINDS.get(p.name, "other")
            sizes[kind] = sizes.get(kind, 0) + p.stat().st_size
    total = sum(sizes.values())
    out = {k: {"mb": round(v / 2**20, 1), "bytes_per_passage": round(v / passages, 1)}
           for k, v in sorted(sizes.items())}
    out["total"] = {"mb": round(total / 2**20, 1), "bytes_per_passage": round(total / passages, 1)}
    return out


# --------------------------------------------------------------------------- run

#: A folder to keep the run's corpora, indexes and finished steps in: a run that was
#: stopped continues from its last finished step when started again with the same folder.
WORKDIR_ENV = "CHALLENGE_QA_SCALE_WORKDIR"


class Steps:
    """Results of finished steps, saved after each one (``progress.json``)."""

    def __init__(self, path: Path, key: dict):
        self.path = path
        self.key = json.loads(json.dumps(key))
        saved = json.loads(path.read_text("utf-8")) if path.is_file() else {}
        self.done: dict[str, Any] = saved.get("done", {}) if saved.get("key") == self.key \
            else {}
        self.seconds: float = sum(v.get("step_s", 0.0) for v in self.done.values())

    def __call__(self, name: str, fn) -> Any:
        if name in self.done:
            print(f"  ({name}: done before, {self.done[name]['step_s']:.0f} s)", flush=True)
            return json.loads(json.dumps(self.done[name]["result"]))
        t0 = time.perf_counter()
        result = fn()
        step_s = time.perf_counter() - t0
        self.seconds += step_s
        self.done[name] = {"result": result, "step_s": round(step_s, 1)}
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"key": self.key, "done": self.done}, default=str), "utf-8")
        os.replace(tmp, self.path)
        return json.loads(json.dumps(result, default=str))



def run(ctx: Context) -> dict[str, Any]:
    sizes = QUICK_SIZES if ctx.quick else FULL_SIZES
    if ctx.limit:
        sizes = tuple(n for n in sizes if n <= ctx.limit) or (ctx.limit,)
    seg = QUICK_SEGMENT_PASSAGES if ctx.quick else SEGMENT_PASSAGES
    day = QUICK_DAY_ARTICLES if ctx.quick else DAY_ARTICLES
    repeats = QUICK_REPEATS if ctx.quick else REPEATS
    n_q = (ctx.queries or (QUICK_QUERIES if ctx.quick else QUERIES)) + WARMUP
    squad = squad_path(ctx.data)
    titles, pools, questions = squad_sentences(squad)
    qs = random.Random(ctx.seed).sample(questions, n_q)
    section(f"scale: segmented index at {', '.join(f'{n:,}' for n in sizes)} passages "
            f"(stand-in encoder, segment_passages={seg:,})")
    print("  vectors: stand-in encoder (384-d, clustered, keyed by text hashes); timings "
          "exclude encoding", flush=True)
    rows: list[dict[str, Any]] = []
    t_all = time.perf_counter()
    with workdir(WORKDIR_ENV, "challenge_qa_scale_") as tmp:
        steps = Steps(tmp / "progress.json", {"sizes": sizes, "segment_passages": seg,
                                              "queries": n_q, "repeats": repeats,
                                              "ann_min_passages": ANN_MIN,
                                              "search": SEARCH})
        (tmp / "questions.json").write_text(json.dumps(qs), "utf-8")
        np.save(tmp / "q_vecs.npy", StandInEncoder().encode_queries(qs))
        common = {"segment_passages": seg, "questions": str(tmp / "questions.json"),
                  "q_vecs": str(tmp / "q_vecs.npy"), "squad": str(squad)}
        args = []
        for n in sizes:
            corpus, index = tmp / f"corpus-{n}", tmp / f"index-{n}"
            a = {**common, "corpus": str(corpus), "index": str(index)}
            args.append(a)

            def make(corpus=corpus, n=n):
                shutil.rmtree(corpus, ignore_errors=True)
                t0 = time.perf_counter()
                made = write_corpus(corpus, n, day, titles, pools)
                made["seconds"] = round(time.perf_counter() - t0, 1)
                return made

            def build(a=a, index=index):
                shutil.rmtree(index, ignore_errors=True)
                out = child("build", a)
                out["disk"] = disk_by_kind(index)
                return out

            row: dict[str, Any] = {"target_passages": n, "corpus": steps(f"corpus-{n}", make)}
            print(f"  {n:,}: corpus of {row['corpus']['files']} files, "
                  f"{row['corpus']['articles']:,} articles, {row['corpus']['mb']} MB; "
                  "building ...", flush=True)
            row["build"] = steps(f"build-{n}", build)
            row["passages"] = row["build"]["passages"]
            row["disk"] = row["build"].pop("disk")
            print(f"    build {row['build']['seconds']} s, {row['build']['segments']} "
                  f"segments, peak RSS {row['build']['peak_rss_mb']:.0f} MB; serving ...",
                  flush=True)
            row["serve"] = steps(f"serve-{n}", lambda a=a, n=n: child(
                "serve", {**a, "recall": n == sizes[-1]}))
            print(f"    rank p50 {row['serve']['rank_ms']['p50']} ms, serving RSS "
                  f"{row['serve']['memory_after_queries_mb']['rss']:.0f} MB", flush=True)
            rows.append(row)
        # updates and the optimize run on copies, so that every index stays as built
        # (hard links: segments are immutable, an update writes new files and replaces
        # the manifest; corpus files are only added and removed)
        print("  updates (sizes interleaved) ...", flush=True)

        def update():
            pairs = []
            for a in args:
                c, i = Path(a["corpus"] + "-updated"), Path(a["index"] + "-updated")
                for src, dst in ((a["corpus"], c), (a["index"], i)):
                    shutil.rmtree(dst, ignore_errors=True)
                    shutil.copytree(src, dst, copy_function=os.link)
                pairs.append([str(c), str(i)])
            out = child("update", {**common, "repeats": repeats, "indexes": pairs})
            for _, i in pairs:
                shutil.rmtree(i, ignore_errors=True)
            return out

        upd = steps("update", update)
        for row, u in zip(rows, upd["per_index"], strict=True):
            row["update"] = u
            print(f"    {row['passages']:,}: add {u['add_median_s']} s, delete "
                  f"{u['delete_median_s']} s", flush=True)
        big, last = rows[-1], args[-1]
        optimized = {**last, "index": last["index"] + "-optimized"}

        def run_optimize():
            shutil.rmtree(optimized["index"], ignore_errors=True)
            shutil.copytree(last["index"], optimized["index"], copy_function=os.link)
            out = child("optimize", optimized)
            out["disk"] = disk_by_kind(Path(optimized["index"]))
            return out

        big["optimize"] = steps("optimize", run_optimize)
        big["disk_optimized"] = big["optimize"].pop("disk")
        print(f"  {big['passages']:,}: optimize {big['optimize']['seconds']} s; serving ...",
              flush=True)
        # back to back, so that the machine's load weighs on both alike
        big["serve_as_built"] = steps("serve-as-built", lambda: child(
            "serve", {**last, "recall": True}))
        big["serve_optimized"] = steps("serve-optimized", lambda: child(
            "serve", {**optimized, "recall": True}))
        print(f"    rank p50 {big['serve_as_built']['rank_ms']['p50']} ms as built, "
              f"{big['serve_optimized']['rank_ms']['p50']} ms optimized", flush=True)
    runtime = steps.seconds if os.environ.get(WORKDIR_ENV) else time.perf_counter() - t_all
    report(rows)
    small, big = rows[0], rows[-1]
    mid = rows[1] if len(rows) > 2 else rows[-1]
    multi, single = big["serve_as_built"], big["serve_optimized"]
    ratio = mid["update"]["add_median_s"] / small["update"]["add_median_s"]
    targets = [
        Target(f"peak RSS MB of the build at {big['passages']:,}",
               big["build"]["peak_rss_mb"], RSS_LIMIT_MB, "fresh process, ru_maxrss"),
        Target(f"add 1 article s at {big['passages']:,}", big["update"]["add_median_s"],
               ADD_LIMIT_S, f"median of {repeats}, build_index excluding encoding"),
        Target(f"add time {mid['passages']:,} / {small['passages']:,}", ratio, 1.5,
               f"{mid['update']['add_median_s']} s vs {small['update']['add_median_s']} s"),
        Target(f"delete 1 article s at {big['passages']:,}",
               big["update"]["delete_median_s"], ADD_LIMIT_S, f"median of {repeats}"),
        Target(f"query p50 {multi['segments']} segments / 1 segment",
               multi["rank_ms"]["p50"] / single["rank_ms"]["p50"], 2.0,
               f"{multi['rank_ms']['p50']} ms vs {single['rank_ms']['p50']} ms, rank() "
               f"at {big['passages']:,}"),
    ]
    recall = [Target(f"dense recall@10, {multi['segments']} segments / 1 segment",
                     multi["dense_recall@10"] / single["dense_recall@10"], 1.0,
                     f"{multi['dense_recall@10']} vs {single['dense_recall@10']}; each "
                     "segment searched with efSearch x sqrt(its share)", higher=True)]
    section("scale targets")
    targets += recall
    print_targets(targets)
    payload = {"encoder": "stand-in: 384-d unit vectors, 4,000 topic centres keyed by a "
                          "hash of the title line, noise keyed by a hash of the text",
               "corpus": "SQuAD dev sentences recombined into articles, JSONL day files",
               "settings": {"segment_passages": seg, "auto_merge": True,
                            "dense_index": f"auto (HNSW-SQ8 for segments of {ANN_MIN:,} "
                                           "passages or more, else exact)",
                            "search": SEARCH},
               "queries": n_q - WARMUP, "repeats": repeats, "sizes": rows,
               "runtime_s": round(runtime, 1),
               "targets": [t.as_dict() for t in targets],
               "passed": all(t.passed for t in targets)}
    # kept until the results file is written: a failure there loses nothing
    ctx.out.mkdir(parents=True, exist_ok=True)
    backup = ctx.out / ".scale.payload.json"
    backup.write_text(json.dumps(payload, default=str), "utf-8")
    write_results(ctx, "scale", payload)
    backup.unlink()
    return payload


def report(rows: list[dict[str, Any]]) -> None:
    section("scale: build, updates, queries, memory")
    table = []
    for r in rows:
        b, u, sv = r["build"], r["update"], r["serve"]
        table.append([f"{r['passages']:,}", sv["segments"], f"{b['build_s']} s",
                      f"{b['peak_rss_mb']:.0f} MB", f"{u['add_median_s']} s",
                      f"{u['delete_median_s']} s", sv["rank_ms"]["p50"],
                      sv["rank_ms"]["p95"], sv["dense_search_ms"]["p50"],
                      sv["bm25_scores_ms"]["p50"], sv["anon_bytes_per_passage"],
                      sv["rss_bytes_per_passage"], sv.get("dense_recall@10", "")])
        if "serve_as_built" in r:
            sb = r["serve_as_built"]
            table.append([f"{r['passages']:,} as built, again", sb["segments"], "", "", "",
                          "", sb["rank_ms"]["p50"], sb["rank_ms"]["p95"],
                          sb["dense_search_ms"]["p50"], sb["bm25_scores_ms"]["p50"],
                          sb["anon_bytes_per_passage"], sb["rss_bytes_per_passage"], ""])
        if "serve_optimized" in r:
            so = r["serve_optimized"]
            table.append([f"{r['passages']:,} optimized", so["segments"],
                          f"+{r['optimize']['seconds']} s",
                          f"{r['optimize']['peak_rss_mb']:.0f} MB", "", "",
                          so["rank_ms"]["p50"], so["rank_ms"]["p95"],
                          so["dense_search_ms"]["p50"], so["bm25_scores_ms"]["p50"],
                          so["anon_bytes_per_passage"], so["rss_bytes_per_passage"],
                          so.get("dense_recall@10", "")])
    print_table(["passages", "segments", "build", "peak RSS", "add 1", "delete 1",
                 "rank p50 ms", "p95 ms", "dense p50", "bm25 p50", "private B/passage",
                 "RSS B/passage", "recall@10"], table)
    section("scale: disk bytes per passage")
    disks = [(f"{r['passages']:,}", r["disk"]) for r in rows]
    disks.append((f"{rows[-1]['passages']:,} optimized", rows[-1]["disk_optimized"]))
    kinds = list(dict.fromkeys(k for _, d in disks for k in d))
    print_table(["kind", *(name for name, _ in disks)],
                [[k, *(d.get(k, {}).get("bytes_per_passage", "") for _, d in disks)]
                 for k in kinds])


def _main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in TASKS:
        print(f"usage: python -m benchmarks.scale {{{','.join(TASKS)}}} JSON", file=sys.stderr)
        return 2
    out = TASKS[argv[0]](json.loads(argv[1]))
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
