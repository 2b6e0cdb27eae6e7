"""``python -m benchmarks [--quick] [--only NAME] [--limit N]``: run the benchmark suite."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before anything imports huggingface_hub

import argparse  # noqa: E402
import importlib  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
from pathlib import Path  # noqa: E402

from .common import (  # noqa: E402
    DATA_ENV,
    RESULTS_DIR,
    Context,
    DataNotFoundError,
    data_root,
)

#: Benchmark name -> module under ``benchmarks``; each module has ``run(ctx) -> dict``.
BENCHMARKS = {"core": "core", "encoders": "encoders", "latency": "latency", "scale": "scale",
              "squad": "squad", "load": "load", "answerability": "answerability",
              "squad_v2": "squad_v2", "tune_fusion": "tune_fusion",
              "lexical_engines": "lexical_engines", "feeds": "feeds", "shards": "shards"}
#: Run only when named with --only: tuning grids, comparisons, the tuning articles'
#: SQuAD v2.0 figures (calibration data, no held-out figure), not the suite's figures,
#: and serving on Ray (the ray extra, and a long run on a quiet machine).
ON_REQUEST = {"tune_fusion", "lexical_engines", "squad_v2", "shards"}


def _positive(value: str) -> int:
    n = int(value)
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {n}")
    return n


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="challenge_qa benchmarks. Results go to benchmarks/results/<name>.json "
                    "(<name>.quick.json with --quick, <name>.limit<N>.json with --limit).")
    p.add_argument("--quick", action="store_true",
                   help="small subset for CI (300 articles, 50 queries; about 1-2 minutes)")
    p.add_argument("--only", metavar="NAME",
                   help=f"run only these benchmarks (comma-separated): {', '.join(BENCHMARKS)}")
    p.add_argument("--limit", type=_positive, metavar="N",
                   help="use only the first N articles of the corpus")
    p.add_argument("--queries", type=_positive, metavar="N",
                   help="number of timed queries (default 200, 50 with --quick)")
    p.add_argument("--repeats", type=_positive, default=1, metavar="N",
                   help="alternate encode/build N times and report medians (default 1)")
    p.add_argument("--data", type=Path, metavar="DIR",
                   help=f"benchmark data folder [default: ${DATA_ENV} or ../shared/benchmarks]")
    p.add_argument("--out", type=Path, default=RESULTS_DIR, metavar="DIR",
                   help="where to write results JSON [default: benchmarks/results]")
    p.add_argument("--strict", action="store_true",
                   help="exit 1 when a target is missed (default: only errors fail)")
    p.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.list:
        for name, module in BENCHMARKS.items():
            doc = importlib.import_module(f"{__package__}.{module}").__doc__ or ""
            print(f"{name}: {doc.strip().splitlines()[0] if doc.strip() else ''}")
        return 0
    names = [n for n in BENCHMARKS if n not in ON_REQUEST] if not args.only else [
        n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown or not names:
        print(f"unknown benchmark(s): {', '.join(unknown) or '(none given)'}; "
              f"choose from {', '.join(BENCHMARKS)}", file=sys.stderr)
        return 2
    ctx = Context(data=data_root(args.data), quick=args.quick, limit=args.limit,
                  queries=args.queries, repeats=args.repeats, out=args.out.resolve())
    status = 0
    for name in names:
        t0 = time.perf_counter()
        try:
            result = importlib.import_module(f"{__package__}.{BENCHMARKS[name]}").run(ctx)
        except DataNotFoundError as e:
            print(f"{name}: data not found: {e}", file=sys.stderr)
            return 2
        except Exception:  # noqa: BLE001 - report and go on with the next benchmark
            traceback.print_exc()
            print(f"{name}: FAILED with an error", file=sys.stderr)
            status = 1
            continue
        print(f"{name}: {'all targets met' if result.get('passed') else 'TARGETS MISSED'} "
              f"({time.perf_counter() - t0:.0f} s)")
        if args.strict and not result.get("passed"):
            status = max(status, 1)
    return status


if __name__ == "__main__":
    sys.exit(main())
