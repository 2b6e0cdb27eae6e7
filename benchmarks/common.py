"""Shared helpers: the benchmarks' context, timing, statistics, machine info, results and
tables. Metrics, the data location, the SQuAD split and the seed are ``challenge_qa.eval``'s.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from challenge_qa.eval.data import (  # noqa: F401 - DATA_ENV and data_root for the CLIs
    DATA_ENV,
    SCIFACT_DIR,
    SCIFACT_FILES,
    SEED,
    DataNotFoundError,
    data_root,
    dataset_dir,
)
from challenge_qa.eval.data import in_split as parity_split

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = PACKAGE_DIR.parent
RESULTS_DIR = PACKAGE_DIR / "results"
#: The two articles the chat ships with, and the hand-written questions about them.
DOCS_CORPUS = PROJECT_ROOT / "docs_corpus"
BUNDLED_QUESTIONS = PACKAGE_DIR / "questions" / "bundled.json"


@dataclass(frozen=True)
class Context:
    """What every benchmark's ``run(ctx)`` gets: where the data is and the results go, how
    much to run, the seed of its samples and its ``Settings`` overrides (``--set``).

    ``limit`` is the first N articles of a corpus, or for the SQuAD benchmarks a sample of N
    questions.
    """

    data: Path
    quick: bool = False
    limit: int | None = None
    queries: int | None = None
    repeats: int = 1
    out: Path = RESULTS_DIR
    seed: int = SEED
    overrides: Mapping[str, Any] = field(default_factory=dict)

    @property
    def mode(self) -> str:
        if self.quick:
            return "quick"
        return f"limit{self.limit}" if self.limit else "full"

    def dataset(self, name: str, required: Sequence[str]) -> Path:
        """The folder of data set ``name`` (``DATA/name``), checked to hold ``required``."""
        return dataset_dir(name, required, self.data)

    def settings(self, **more: Any):
        """``Settings`` without progress bars, with the overrides (and ``more``) applied."""
        return build_settings({**self.overrides, **more})


# --------------------------------------------------------------------------- timing

@contextmanager
def workdir(env_var: str, prefix: str) -> Iterator[Path]:
    """A benchmark's working folder: the one ``env_var`` names (kept, so that a later run
    reuses what it built), else a temporary one removed afterwards."""
    import tempfile

    keep = os.environ.get(env_var)
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        yield Path(keep)
        return
    with tempfile.TemporaryDirectory(prefix=prefix) as name:
        yield Path(name)


def timed(fn: Callable[..., Any], *args, **kwargs) -> tuple[Any, float]:
    """``(fn(*args, **kwargs), seconds)`` measured with ``time.perf_counter``."""
    t0 = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - t0


class Clock:
    """Wall and process CPU seconds of a block; ``cores`` = cpu/wall (2.0 = both of 2 cores
    busy for us, much less = we were waiting, e.g. for CPUs taken by other work)."""

    def __enter__(self) -> Clock:
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc) -> None:
        self.wall = time.perf_counter() - self._wall
        self.cpu = time.process_time() - self._cpu

    @property
    def cores(self) -> float:
        return self.cpu / self.wall if self.wall > 0 else float("nan")


def load_avg() -> float | None:
    """The 1-minute load average (None where the OS has none)."""
    return round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None


def usable_cpus() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


class Probe:
    """Accumulates the time spent in named functions while installed (a cost breakdown).

    ``probe.wrap(module_or_object, "name")`` replaces the attribute with a timing wrapper;
    leaving the ``with`` block restores the originals. Wrap only functions that do not call
    each other, so that the parts add up without double counting.
    """

    _MISSING = object()

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self._undo: list[tuple[Any, str, Any]] = []

    def wrap(self, owner: Any, attr: str, label: str | None = None) -> None:
        original = getattr(owner, attr)
        own = vars(owner).get(attr, self._MISSING) if hasattr(owner, "__dict__") else None
        label = label or attr
        seconds, calls = self.seconds, self.calls

        @functools.wraps(original)
        def probed(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                seconds[label] += time.perf_counter() - t0
                calls[label] += 1

        setattr(owner, attr, probed)
        self._undo.append((owner, attr, own))

    def __enter__(self) -> Probe:
        return self

    def __exit__(self, *exc) -> None:
        for owner, attr, own in reversed(self._undo):
            if own is self._MISSING:
                delattr(owner, attr)  # it was a class attribute: uncover it again
            else:
                setattr(owner, attr, own)
        self._undo.clear()


# --------------------------------------------------------------------------- statistics

def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) with linear interpolation, as numpy's default."""
    if not values:
        return float("nan")
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def median(values: Sequence[float]) -> float:
    return percentile(values, 50)


def summary(values: Sequence[float], scale: float = 1.0, digits: int = 4) -> dict[str, Any]:
    """n, min, p50, p95, max and mean of ``values`` (each multiplied by ``scale``)."""
    v = [x * scale for x in values]
    if not v:
        return {"n": 0}
    return {"n": len(v), "min": round(min(v), digits), "p50": round(median(v), digits),
            "p95": round(percentile(v, 95), digits), "max": round(max(v), digits),
            "mean": round(sum(v) / len(v), digits)}


# --------------------------------------------------------------------------- targets

@dataclass(frozen=True)
class Target:
    """A measured ratio and the most (``higher``: the least) it may be."""

    name: str
    value: float
    limit: float
    detail: str = ""
    higher: bool = False

    @property
    def passed(self) -> bool:
        if self.value != self.value:  # NaN fails
            return False
        return self.value >= self.limit if self.higher else self.value <= self.limit

    @property
    def bound(self) -> str:
        return f"{'>=' if self.higher else '<='} {self.limit}"

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "value": round(self.value, 4), "target": self.bound,
                "passed": self.passed, "detail": self.detail}


def print_targets(targets: Sequence[Target]) -> None:
    print_table(["target", "value", "limit", "result", "detail"],
                [[t.name, f"{t.value:.3f}", t.bound, "PASS" if t.passed else "FAIL",
                  t.detail] for t in targets])


# --------------------------------------------------------------------------- machine info

def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(PROJECT_ROOT), "rev-parse", "HEAD"],
                             capture_output=True, text=True, timeout=5, check=True).stdout
        dirty = subprocess.run(["git", "-C", str(PROJECT_ROOT), "status", "--porcelain",
                                "--untracked-files=no", "src"], capture_output=True,
                               text=True, timeout=5, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return out.strip() + ("+dirty-src" if dirty.strip() else "")


def machine_info() -> dict[str, Any]:
    """Where the figures were taken: CPUs, load, library versions, commit."""
    info: dict[str, Any] = {
        "cpu_count": os.cpu_count(),
        "cpus_usable": usable_cpus(),
        "cpu_model": _cpu_model(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "load_avg_1_5_15": [round(x, 2) for x in os.getloadavg()]
        if hasattr(os, "getloadavg") else None,
        "git_commit": _git_commit(),
    }
    try:
        import torch

        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
        info["cuda"] = torch.cuda.is_available()
    except ImportError:
        info["torch"] = None
    for dist in ("challenge-qa", "sentence-transformers", "transformers", "faiss-cpu",
                 "bm25s", "numpy"):
        info[dist] = _version(dist)
    return info


# --------------------------------------------------------------------------- output

def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def results_path(ctx: Context, name: str) -> Path:
    """``<name>.json`` for a full run; partial runs get their own file so that they never
    overwrite the full figures: ``<name>.quick.json``, ``<name>.limit<N>.json``."""
    suffix = "" if ctx.mode == "full" else f".{ctx.mode}"
    return ctx.out / f"{name}{suffix}.json"


def write_json(path: Path, payload: dict[str, Any]) -> Path:
    """Write ``payload`` (plus machine info and a UTC timestamp) atomically as JSON."""
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {"timestamp_utc": utc_now(), "machine": machine_info(), **payload}
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=2, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def write_results(ctx: Context, name: str, payload: dict[str, Any]) -> Path:
    """Write ``payload`` as ``results_path(ctx, name)`` (see ``write_json``)."""
    return write_json(results_path(ctx, name), {"benchmark": name, "mode": ctx.mode, **payload})


def fmt_s(seconds: float) -> str:
    """Seconds, or milliseconds below one second."""
    if seconds != seconds:
        return "nan"
    return f"{seconds:.2f} s" if seconds >= 1 else f"{seconds * 1000:.1f} ms"


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """A compact left-aligned text table."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    line = "  ".join("-" * w for w in widths)
    print("  ".join(h.ljust(w) for h, w in zip(cells[0], widths, strict=True)).rstrip())
    print(line)
    for r in cells[1:]:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    sys.stdout.flush()


def section(title: str) -> None:
    print(f"\n== {title}")
    sys.stdout.flush()


# --------------------------------------------------------------------------- SQuAD


@dataclass(frozen=True)
class Question:
    qid: str
    question: str
    answers: tuple[str, ...]
    article: int  # 0-based number of the article in file order
    title: str  # the SQuAD title, which is also the article id in the index


@dataclass(frozen=True)
class Squad:
    articles: list[dict]  # {"id", "title", "text"} records, file order
    questions: list[Question]


def load_squad(path: Path) -> Squad:
    data = json.loads(path.read_text(encoding="utf-8"))["data"]
    articles, questions = [], []
    for n, art in enumerate(data):
        title = art["title"]
        articles.append({"id": title, "title": title.replace("_", " "),
                         "text": "\n\n".join(p["context"].strip() for p in art["paragraphs"])})
        for p in art["paragraphs"]:
            for qa in p["qas"]:
                golds = tuple(dict.fromkeys(a["text"] for a in qa["answers"]))
                questions.append(Question(qa["id"], qa["question"], golds, n, title))
    return Squad(articles, questions)


def write_jsonl(records: Iterable[dict], path: Path) -> Path:
    """One JSON object a line, written atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for rec in records:
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")
    os.replace(tmp, path)
    return path


def tune_articles() -> tuple[int, ...]:
    """The even articles the shipped reader was not trained on."""
    from challenge_qa.engine import get_reader

    return tuple(get_reader().card["recipe"]["tune_articles"])


def reader_version() -> str:
    """The shipped reader's version (``reader.json``)."""
    from challenge_qa.engine import get_reader

    return get_reader().version


def in_split(article: int, split: str) -> bool:
    """``tune``: the reader's tuning articles; else ``challenge_qa.eval.data.in_split``."""
    if split == "tune":
        return article in tune_articles()
    return parity_split(article, split)


def sample(items: Sequence, n: int | None, seed: int = SEED) -> list:
    """A seeded sample of ``n`` items kept in their original order (all when n is None)."""
    if n is None or n >= len(items):
        return list(items)
    keep = sorted(random.Random(seed).sample(range(len(items)), n))
    return [items[i] for i in keep]


def parse_value(raw: str) -> Any:
    low = raw.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null"):
        return None
    if "+" in raw or low == "()":  # a tuple: "a+b", "a+" (one item) or "()" (none)
        return tuple(parse_value(x) for x in raw.split("+") if x.strip() and x.strip() != "()")
    for kind in (int, float):
        try:
            return kind(raw)
        except ValueError:
            pass
    return raw


def settings_fields() -> set[str]:
    from challenge_qa.config import Settings

    return {f.name for f in dataclasses.fields(Settings)}


def parse_sets(items: Sequence[str] | None) -> dict[str, Any]:
    """``["answer_w_lex=0.8", ...]`` -> ``{"answer_w_lex": 0.8}``, names checked."""
    out: dict[str, Any] = {}
    names = settings_fields()
    for item in items or ():
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or key not in names:
            raise ValueError(f"--set {item!r}: expected key=value with key a Settings field")
        out[key] = parse_value(value)
    return out


def parse_grid(items: Sequence[str] | None) -> list[dict[str, Any]]:
    """``["answer_w_lex=0.3,0.5", "answer_w_type=0,0.15"]`` -> the cartesian product."""
    axes: dict[str, list[Any]] = {}
    names = settings_fields()
    for item in items or ():
        key, sep, values = item.partition("=")
        key = key.strip()
        if not sep or key not in names or not values.strip():
            raise ValueError(f"--grid {item!r}: expected key=v1,v2,... with key a Settings "
                             "field")
        axes[key] = [parse_value(v) for v in values.split(",") if v.strip()]
    if not axes:
        return [{}]
    return [dict(zip(axes, combo, strict=True)) for combo in itertools.product(*axes.values())]


def build_settings(overrides: dict[str, Any]):
    from challenge_qa.config import Settings

    return Settings(show_progress=False).replace(**overrides)


def set_threads(n: int | None) -> int:
    """Set torch's intra-op threads when ``n`` is given; the number in use."""
    import torch

    if n:
        torch.set_num_threads(n)
    return torch.get_num_threads()


def bare_dense(idx):
    """The FAISS index of a one-segment index: the baseline "bare dense search" that
    retrieve() is compared with (the benchmarks build their indexes in one go)."""
    if len(idx.segments) != 1:
        raise RuntimeError(f"expected an index of one segment, not {len(idx.segments)}")
    return idx.segments[0].dense


def build_and_load(articles: list[dict], index_dir: Path, settings,
                   tmp: Path) -> tuple[Any, dict]:
    """Write the corpus as JSONL under ``tmp``, build ``index_dir`` (incrementally: a kept
    index is reused when its articles are unchanged) and load it."""
    from challenge_qa import build_index, load_index

    corpus = write_jsonl(articles, tmp / "corpus" / "squad.jsonl")
    t0 = time.perf_counter()
    report = build_index(corpus, index_dir, settings=settings)
    build_s = time.perf_counter() - t0
    idx = load_index(index_dir, settings=settings)
    return idx, {"articles": report.articles, "passages": report.passages,
                 "embedded_passages": report.embedded_passages, "build_s": round(build_s, 2)}


# --------------------------------------------------------------------------- SciFact builds
# The build measurement shared by the core and encoders benchmarks.

DATASET = SCIFACT_DIR
FILES = SCIFACT_FILES
WARMUP_TEXTS = 64
WARMUP_QUERIES = 10
TARGET_BUILD = 1.15
# Steps of a build timed for its breakdown, as (module, attribute, label); none of them
# calls another (reading the corpus is lazy, so it shows in "other").
BUILD_STEPS = (("store.build", "scan", "scan corpus"),
               ("store.changes:CommittedArticles", "lookup", "look-ups"),
               ("store.prepare", "split_passages", "split_passages"),
               ("text.lexical:Tokenizer", "tokenize", "tokenize (BM25)"),
               ("store.writer", "postings", "postings"),
               ("store.writer", "make_dense_index", "dense index"),
               ("store.writer", "fsync_tree", "fsync"), ("store.manifest", "commit", "commit"))


def read_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


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
    write_jsonl(records, dst)
    return len(records)


def test_queries(folder: Path, n: int) -> tuple[list[str], list[str]]:
    """``n`` judged test query texts (qrels order) and a few other queries for warm-up."""
    from challenge_qa.eval.beir import load_qrels, load_queries

    texts = load_queries(folder / "queries.jsonl")
    judged = [q for q in load_qrels(folder / "qrels" / "test.tsv") if q in texts]
    chosen = set(judged[:n])
    warm = [texts[q] for q in texts if q not in chosen][:WARMUP_QUERIES]
    return [texts[q] for q in judged[:n]], warm


def passage_texts(corpus_file: Path, s) -> list[str]:
    """The texts a full build embeds, in its order: load, split, title context."""
    from challenge_qa.corpus.load import load_corpus
    from challenge_qa.corpus.passages import split_passages
    from challenge_qa.text.chunking import passage_context

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
    import importlib

    for module, attr, label in BUILD_STEPS:
        mod, _, owner = module.partition(":")
        obj: Any = importlib.import_module(f"challenge_qa.{mod}")
        if owner:
            obj = getattr(obj, owner)
        probe.wrap(obj, attr, label)
    probe.wrap(embedder, "encode_documents", "encode")
    return probe


def breakdown(probe: Probe, total: float) -> dict[str, float]:
    """Seconds per build step (in a fixed order), the unprobed rest, and the total."""
    parts = {k: round(probe.seconds.get(k, 0.0), 4)
             for k in ("encode", *(label for _, _, label in BUILD_STEPS))}
    parts["other (reading, SQLite, npy, lock)"] = round(total - sum(probe.seconds.values()), 4)
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
    from challenge_qa.encoders.embedding import default_batch_size, resolve_backend
    from challenge_qa.encoders.models import resolve_model

    backend = resolve_backend(s.backend, s.device)
    batch = s.batch_size or default_batch_size(backend, s.device)
    if backend == "torch":
        from sentence_transformers import SentenceTransformer

        model, load_s = timed(SentenceTransformer, resolve_model(s.model), device=s.device)
        return "sentence-transformers encode", lambda texts: model.encode(
            texts, batch_size=batch, normalize_embeddings=True,
            show_progress_bar=False), load_s
    from challenge_qa.encoders.onnx import OnnxEmbedder

    onnx = OnnxEmbedder(s.model, quantized=backend == "onnx-int8", batch_size=batch)
    _, load_s = timed(onnx.encode_queries, ["load"])
    return f"ONNX Runtime encode ({backend})", onnx.encode_documents, load_s


def bench_build(corpus_file: Path, tmp: Path, s, repeats: int) -> dict[str, Any]:
    """Alternate plain encoding and full builds of the same corpus; keep the last index."""
    import numpy as np
    from transformers.utils import logging as hf_logging

    from challenge_qa import build_index, load_index
    from challenge_qa.encoders.embedding import make_embedder, resolve_backend

    hf_logging.disable_progress_bar()  # as the library's embedder does
    texts, prep_s = timed(passage_texts, corpus_file, s)
    label, encode, st_load_s = plain_encoder(s)
    embedder = make_embedder(s.model, device=s.device, batch_size=s.batch_size,
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

    built = load_index(index_dir, settings=s)
    stored = built.vectors(built.live_rows())
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


class CachedQueries:
    """Wraps an embedder so that a query text is encoded once per process (grid runs)."""

    def __init__(self, inner):
        self.inner = inner
        self.cache: dict[str, Any] = {}

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def encode_queries(self, texts):
        import numpy as np

        missing = [t for t in dict.fromkeys(texts) if t not in self.cache]
        if missing:
            for t, v in zip(missing, self.inner.encode_queries(missing), strict=True):
                self.cache[t] = v
        return np.stack([self.cache[t] for t in texts])


# --------------------------------------------------------------------------- quality

def judged_queries(folder: Path, corpus_file: Path) -> tuple[dict[str, str], dict]:
    """Test queries and qrels, restricted to queries answerable from ``corpus_file``."""
    from challenge_qa.eval.beir import load_qrels, load_queries

    with open(corpus_file, encoding="utf-8") as f:
        ids = {str(json.loads(line)["_id"]) for line in f if line.strip()}
    qrels = load_qrels(folder / "qrels" / "test.tsv")
    texts = load_queries(folder / "queries.jsonl")
    keep = {q: rel for q, rel in qrels.items() if q in texts and set(rel) <= ids}
    return {q: texts[q] for q in keep}, keep


def quality(index_dir: Path, s, queries: dict[str, str], qrels: dict) -> dict[str, float]:
    """Document-level retrieval quality of an index on judged queries (ranx), as
    ``challenge-qa eval`` reports it."""
    from challenge_qa import load_index
    from challenge_qa.eval.beir import run_queries
    from challenge_qa.eval.metrics import RETRIEVAL_METRICS, retrieval_scores

    if not queries:
        return dict.fromkeys(RETRIEVAL_METRICS, float("nan"))
    run = run_queries(load_index(index_dir, settings=s), queries)
    return retrieval_scores(qrels, run, RETRIEVAL_METRICS, digits=4)
