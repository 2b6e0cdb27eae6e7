"""Shared helpers: data location, timing, statistics, machine info, results and tables."""

from __future__ import annotations

import functools
import json
import os
import platform
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = PACKAGE_DIR.parent
#: Benchmark data lives outside the project: ``<project>/../shared/benchmarks``.
DEFAULT_DATA = PROJECT_ROOT.parent / "shared" / "benchmarks"
DATA_ENV = "CHALLENGE_QA_BENCH_DATA"
RESULTS_DIR = PACKAGE_DIR / "results"


class DataNotFoundError(Exception):
    """A benchmark's data set is not where it was looked for."""


@dataclass(frozen=True)
class Context:
    """What every benchmark gets from the command line."""

    data: Path
    quick: bool = False
    limit: int | None = None
    queries: int | None = None
    repeats: int = 1
    out: Path = RESULTS_DIR

    @property
    def mode(self) -> str:
        if self.quick:
            return "quick"
        return f"limit{self.limit}" if self.limit else "full"

    def dataset(self, name: str, required: Sequence[str]) -> Path:
        """The folder of data set ``name`` (``DATA/name``), checked to hold ``required``."""
        folder = self.data / name
        if not folder.is_dir() and all((self.data / f).exists() for f in required):
            folder = self.data  # --data pointed at the data set itself
        missing = [f for f in required if not (folder / f).exists()]
        if missing:
            raise DataNotFoundError(
                f"{name}: missing {', '.join(missing)} under {folder} (set --data DIR or "
                f"{DATA_ENV} to the folder holding {name}/)")
        return folder


def data_root(cli_value: Path | None) -> Path:
    """``--data`` beats ``$CHALLENGE_QA_BENCH_DATA`` beats ``../shared/benchmarks``."""
    if cli_value is not None:
        return Path(cli_value).expanduser().resolve()
    env = os.environ.get(DATA_ENV)
    return Path(env).expanduser().resolve() if env else DEFAULT_DATA


# --------------------------------------------------------------------------- timing

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
    """A measured ratio and the most it may be."""

    name: str
    value: float
    limit: float
    detail: str = ""

    @property
    def passed(self) -> bool:
        return self.value == self.value and self.value <= self.limit  # NaN fails

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "value": round(self.value, 4), "target": f"<= {self.limit}",
                "passed": self.passed, "detail": self.detail}


def print_targets(targets: Sequence[Target]) -> None:
    print_table(["target", "value", "limit", "result", "detail"],
                [[t.name, f"{t.value:.3f}", f"<= {t.limit}", "PASS" if t.passed else "FAIL",
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


def write_results(ctx: Context, name: str, payload: dict[str, Any]) -> Path:
    """Write ``payload`` (plus machine info and a UTC timestamp) atomically as JSON."""
    path = results_path(ctx, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {"benchmark": name, "timestamp_utc": utc_now(), "mode": ctx.mode,
           "machine": machine_info(), **payload}
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=2, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


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
