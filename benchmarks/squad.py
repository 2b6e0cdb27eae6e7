"""Answer quality on SQuAD v1.1 dev: does ``answer()`` say the gold answer, and how fast?

    python -m benchmarks.squad [--quick] [--sample N] [--split even|odd|all]
                               [--set key=value ...] [--grid key=v1,v2,... ...]

The 48 dev articles become one JSONL corpus (one article per SQuAD title, paragraphs
joined by blank lines) indexed with ``challenge_qa.store.build_index``; every question (or a
seeded sample) is then asked with ``answer(question, k=5, index=idx)``. A question counts as
answered at a level when some gold answer, after the official SQuAD ``normalize_answer``
(lower case, no punctuation, no a/an/the, single spaces), occurs as a whole-word run in:

(a) the first statement of the answer, (b) the whole answer (all statements),
(c) one of the top-5 passages (``a.hits[:5]``), and (d) the top passage comes from the
question's own article. The short answer (``a.short``) is scored with the official exact
match and token F1, end to end: an answer that is not found, or whose first sentence is
wrong, scores 0. Also: the share answered "not covered" (found=False) and the latency of
``answer()`` and ``retrieve()`` for the same questions (p50/p95, after a warm-up call).

``--split even|odd`` keeps only questions of the even- or odd-numbered articles (0-based, file
order). The reader is trained on the even articles except a few kept out for tuning
(``--split tune``: the ``tune_articles`` of its ``reader.json``); the odd articles are held
out for reporting. The index always holds every article (except with ``--quick``: the 8
shortest articles and 200 of their questions).

``--grid`` evaluates every combination of answer settings on the same loaded index (query
vectors cached across combinations, so its timings are not latencies) and ranks them by (a)
then (b); it writes ``results/squad.grid.<split>.json``.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before anything imports huggingface_hub

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import random  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from challenge_qa.eval.data import squad_path  # noqa: E402
from challenge_qa.eval.squad import (  # noqa: E402
    best_over_gold,
    contains,
    exact_match,
    f1_score,
    normalize_answer,
)

from .common import (  # noqa: E402
    DATA_ENV,
    SEED,
    CachedQueries,
    Context,
    Question,
    Squad,
    build_and_load,
    data_root,
    in_split,
    load_squad,
    parse_grid,
    parse_sets,
    percentile,
    print_table,
    reader_version,
    sample,
    set_threads,
    write_json,
    write_jsonl,
)

QUICK_ARTICLES = 8
QUICK_QUESTIONS = 200
K = 5
WARMUP_QUESTION = "What is this collection of articles about?"
TARGETS = {"a_first_statement": 0.88, "b_answer_text": 0.93, "d_article_at_rank1": 0.97,
           "short_em": 0.62, "short_f1": 0.72}
#: answer() p50 on the 48-article index, milliseconds.
LATENCY_TARGET_MS = 120
LABELS = {"a_first_statement": "(a) gold in first statement",
          "b_answer_text": "(b) gold in answer text",
          "c_top5_passages": "(c) gold in top-5 passages",
          "d_article_at_rank1": "(d) right article at rank 1",
          "short_em": "short answer exact match",
          "short_f1": "short answer token F1",
          "not_found": "found=False"}
EXAMPLES = 25


# --------------------------------------------------------------------------- data

def select(squad: Squad, *, split: str = "all", n: int | None = None, quick: bool = False,
           seed: int = SEED) -> tuple[list[dict], list[Question]]:
    """The articles to index and the questions to ask."""
    articles = squad.articles
    nums = list(range(len(articles)))
    if quick:  # the shortest articles, so that the build stays small
        pool = [i for i in nums if in_split(i, split)]
        nums = sorted(sorted(pool, key=lambda i: len(articles[i]["text"]))[:QUICK_ARTICLES])
        articles = [articles[i] for i in nums]
        n = min(n or QUICK_QUESTIONS, QUICK_QUESTIONS)
    keep = set(nums)
    qs = [q for q in squad.questions if q.article in keep and in_split(q.article, split)]
    return articles, sample(qs, n, seed)


# --------------------------------------------------------------------------- evaluation

def judge(q: Question, a) -> dict[str, Any]:
    """The per-question verdicts for one answer."""
    golds = [normalize_answer(g) for g in q.answers]
    first = a.statements[0].text if a.found and a.statements else ""
    whole = " ".join(st.text for st in a.statements) if a.found else ""
    short = normalize_answer(a.short) if a.found and a.short else ""
    return {
        "a_first_statement": contains(normalize_answer(first), golds),
        "b_answer_text": contains(normalize_answer(whole), golds),
        "c_top5_passages": any(contains(normalize_answer(h.text), golds)
                               for h in a.hits[:K]),
        "d_article_at_rank1": bool(a.hits) and a.hits[0].doc_id == q.title,
        "short_em": best_over_gold(exact_match, a.short, q.answers) if short else 0.0,
        "short_f1": best_over_gold(f1_score, a.short, q.answers) if short else 0.0,
        "not_found": not a.found,
    }


def evaluate(idx, questions: Sequence[Question], *, progress: bool = True,
             keep_records: bool = True, label: str = "") -> dict[str, Any]:
    """Ask every question; shares of each verdict, latency, and per-question records."""
    from challenge_qa import answer, retrieve

    answer(WARMUP_QUESTION, k=K, index=idx)
    counts = dict.fromkeys(LABELS, 0)
    latencies: list[float] = []
    retrieve_s: list[float] = []
    statements = answer_chars = 0
    records: list[dict[str, Any]] = []
    t_start = time.perf_counter()
    for i, q in enumerate(questions, 1):
        t0 = time.perf_counter()
        a = answer(q.question, k=K, index=idx)
        latencies.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        retrieve(q.question, k=K, index=idx)
        retrieve_s.append(time.perf_counter() - t0)
        v = judge(q, a)
        statements += len(a.statements)
        answer_chars += sum(len(st.text) for st in a.statements)
        for key, ok in v.items():
            counts[key] += ok
        if keep_records:
            records.append({
                "id": q.qid, "article": q.title, "question": q.question,
                "answers": list(q.answers), **v, "confidence": round(a.confidence, 4),
                "short": a.short, "statements": [st.text for st in a.statements],
                "top_doc": a.hits[0].doc_id if a.hits else None})
        if progress and (i % 500 == 0 or i == len(questions)):
            el = time.perf_counter() - t_start
            print(f"  {label}{i}/{len(questions)} questions, {el:.0f} s, "
                  f"(a) so far {counts['a_first_statement'] / i:.3f}", file=sys.stderr,
                  flush=True)
    n = len(questions) or 1
    shares = {key: round(c / n, 4) for key, c in counts.items()}
    return {"n": len(questions), "shares": shares, "counts": counts,
            "latency_ms": {"p50": round(percentile(latencies, 50) * 1000, 1),
                           "p95": round(percentile(latencies, 95) * 1000, 1),
                           "mean": round(sum(latencies) / n * 1000, 1)},
            "retrieve_latency_ms": {"p50": round(percentile(retrieve_s, 50) * 1000, 1),
                                    "p95": round(percentile(retrieve_s, 95) * 1000, 1)},
            "mean_statements": round(statements / n, 3),
            "mean_answer_chars": round(answer_chars / n, 1),
            "seconds": round(time.perf_counter() - t_start, 1), "records": records}


def examples(records: list[dict], n: int = EXAMPLES) -> dict[str, list[dict]]:
    """A few failures of each kind, for reading."""
    def short(r):
        return {"question": r["question"], "answers": r["answers"][:3], "article": r["article"],
                "top_doc": r["top_doc"], "confidence": r["confidence"], "short": r["short"],
                "statements": r["statements"]}
    rng = random.Random(SEED)
    out = {}
    kinds = {
        "missed_in_answer_but_in_top5": lambda r: r["c_top5_passages"] and not r["b_answer_text"],
        "in_answer_but_not_first": lambda r: r["b_answer_text"] and not r["a_first_statement"],
        "wrong_article_at_rank1": lambda r: not r["d_article_at_rank1"],
        "not_found": lambda r: r["not_found"],
        "right_sentence_wrong_short": lambda r: r["a_first_statement"] and not r["short_em"],
    }
    for name, pred in kinds.items():
        bad = [r for r in records if pred(r)]
        out[name] = [short(r) for r in sample(bad, min(n, len(bad)), rng.randrange(10**6))]
    return out


# --------------------------------------------------------------------------- output

def target_rows(shares: dict[str, float]) -> tuple[list[list[str]], bool]:
    rows, ok = [], True
    for key, label in LABELS.items():
        value = shares[key]
        if key in TARGETS:
            passed = value >= TARGETS[key]
            ok &= passed
            rows.append([label, f"{value:.4f}", f">= {TARGETS[key]:.2f}",
                         "PASS" if passed else "FAIL"])
        else:
            rows.append([label, f"{value:.4f}", "", ""])
    return rows, ok


def mode_name(quick: bool, split: str, sample_n: int | None) -> str:
    parts = []
    if quick:
        parts.append("quick")
    if split != "all":
        parts.append(split)
    if sample_n:
        parts.append(f"sample{sample_n}")
    return ".".join(parts) or "full"


# --------------------------------------------------------------------------- main

def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.squad", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", metavar="PATH",
                   help=f"data root, squad folder or dev-v1.1.json [default: ${DATA_ENV} or "
                        "../shared/benchmarks]")
    p.add_argument("--quick", action="store_true",
                   help=f"{QUICK_ARTICLES} articles, {QUICK_QUESTIONS} questions (CI)")
    p.add_argument("--sample", type=int, metavar="N", help="a seeded sample of N questions")
    p.add_argument("--seed", type=int, default=SEED, help=f"sample seed [default: {SEED}]")
    p.add_argument("--split", choices=("all", "even", "odd", "tune"), default="all",
                   help="questions of even- or odd-numbered articles only (0-based), or of "
                        "the even articles the reader was not trained on")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override a Settings field (repeatable), e.g. answer_w_lex=0.8")
    p.add_argument("--grid", action="append", metavar="KEY=V1,V2",
                   help="evaluate every combination of these values (repeatable)")
    p.add_argument("--threads", type=int, metavar="N",
                   help="torch CPU threads [default: torch's own]; 1 is often faster on a "
                        "busy machine")
    p.add_argument("--index-dir", type=Path, metavar="DIR",
                   help="keep the index here and reuse it next time [default: a temp folder]")
    p.add_argument("--dump", type=Path, metavar="FILE",
                   help="write one JSON line per question (verdicts, answer) to FILE")
    p.add_argument("--out", type=Path, metavar="FILE",
                   help="results file [default: benchmarks/results/squad.json for the full "
                        "run, squad.<mode>.json otherwise]")
    p.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        overrides = parse_sets(args.set)
        grid = parse_grid(args.grid) if args.grid else None
        squad_path(args.data)
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    ctx = Context(data=data_root(args.data), quick=args.quick, limit=args.sample,
                  seed=args.seed, overrides=overrides)
    result = run(ctx, split=args.split, grid=grid, threads=args.threads,
                 index_dir=args.index_dir, dump=args.dump, out_file=args.out)
    return 1 if args.strict and not result.get("passed", True) else 0


def run(ctx: Context, *, split: str = "all", grid: list[dict[str, Any]] | None = None,
        threads: int | None = None, index_dir: Path | None = None, dump: Path | None = None,
        out_file: Path | None = None) -> dict[str, Any]:
    """Index the articles, ask the questions (``ctx.limit``: a sample of that many), write
    the results (``out_file``, else ``ctx.out/squad[.<mode>].json``); with ``grid``, every
    combination of settings instead (``squad.grid.<split>.json``)."""
    path = squad_path(ctx.data)
    n_threads = set_threads(threads)
    squad = load_squad(path)
    articles, questions = select(squad, split=split, n=ctx.limit, quick=ctx.quick,
                                 seed=ctx.seed)
    settings = ctx.settings()
    print(f"SQuAD v1.1 dev: {len(articles)} articles indexed, {len(questions)} questions "
          f"(split={split}, sample={ctx.limit}, quick={ctx.quick})", flush=True)

    with tempfile.TemporaryDirectory(prefix="squad-bench-") as tmp:
        idx, build = build_and_load(articles, index_dir or Path(tmp) / "index", settings,
                                    Path(tmp))
        print(f"index: {build['passages']} passages, built in {build['build_s']} s", flush=True)
        if grid:
            return run_grid(ctx, idx, questions, grid, build, split=split, out_file=out_file)
        res = evaluate(idx, questions)

    shares = res["shares"]
    rows, ok = target_rows(shares)
    rows.append(["statements per answer (mean)", f"{res['mean_statements']:.2f}", "", ""])
    rows.append(["answer() latency p50 / p95",
                 f"{res['latency_ms']['p50']:.1f} / {res['latency_ms']['p95']:.1f} ms",
                 f"<= {LATENCY_TARGET_MS} ms",
                 "PASS" if res["latency_ms"]["p50"] <= LATENCY_TARGET_MS else "FAIL"])
    lr = res["retrieve_latency_ms"]
    rows.append(["retrieve() latency p50 / p95", f"{lr['p50']:.1f} / {lr['p95']:.1f} ms", "",
                 ""])
    print()
    print_table(["metric", "value", "target", "result"], rows)
    mode = mode_name(ctx.quick, split, ctx.limit)
    out = out_file or ctx.out / ("squad.json" if mode == "full" else f"squad.{mode}.json")
    payload = {
        "benchmark": "squad", "mode": mode, "data": str(path), "split": split,
        "sample": ctx.limit, "seed": ctx.seed, "quick": ctx.quick, "k": K,
        "overrides": dict(ctx.overrides),
        "settings": {k: str(v) if isinstance(v, Path) else v
                     for k, v in dataclasses.asdict(settings).items()},
        "torch_threads": n_threads, "index": build, "questions": res["n"], "shares": shares,
        "counts": res["counts"],
        "latency_ms": res["latency_ms"], "retrieve_latency_ms": res["retrieve_latency_ms"],
        "reader": reader_version(), "mean_statements": res["mean_statements"],
        "mean_answer_chars": res["mean_answer_chars"], "seconds": res["seconds"],
        "targets": {k: {"value": shares[k], "target": f">= {t}", "passed": shares[k] >= t}
                    for k, t in TARGETS.items()},
        "latency_target_ms": LATENCY_TARGET_MS,
        "all_targets_passed": ok, "examples": examples(res["records"])}
    write_json(out, payload)
    print(f"\nresults: {out}")
    if dump:
        write_jsonl(res["records"], dump)
    return {**payload, "passed": ok}


def run_grid(ctx: Context, idx, questions, grid, build, *, split: str,
             out_file: Path | None = None) -> dict[str, Any]:
    """Every combination on the same index; query vectors are cached across them."""
    base = idx.settings
    idx.embedder = CachedQueries(idx.embedder)
    rows = []
    for n, combo in enumerate(grid, 1):
        idx.settings = base.replace(**combo)
        res = evaluate(idx, questions, progress=False, keep_records=False)
        s = res["shares"]
        rows.append({"settings": combo, "shares": s, "mean_statements": res["mean_statements"],
                     "mean_answer_chars": res["mean_answer_chars"],
                     "seconds": res["seconds"]})
        print(f"[{n}/{len(grid)}] {combo}: a={s['a_first_statement']:.4f} "
              f"b={s['b_answer_text']:.4f} em={s['short_em']:.4f} f1={s['short_f1']:.4f} "
              f"nf={s['not_found']:.4f} ({res['seconds']:.0f} s)", flush=True)
    idx.settings = base
    rows.sort(key=lambda r: (-r["shares"]["a_first_statement"], -r["shares"]["b_answer_text"]))
    keys = list(grid[0])
    print()
    print_table([*keys, "(a)", "(b)", "(c)", "(d)", "EM", "F1", "found=False", "statements"],
                [[*(r["settings"][k] for k in keys),
                  *(f"{r['shares'][m]:.4f}" for m in LABELS), f"{r['mean_statements']:.2f}"]
                 for r in rows])
    out = out_file or ctx.out / f"squad.grid.{split}.json"
    payload = {
        "benchmark": "squad-grid", "split": split, "sample": ctx.limit,
        "seed": ctx.seed, "quick": ctx.quick, "questions": len(questions),
        "base_overrides": dict(ctx.overrides), "index": build, "ranked_by": "(a) then (b)",
        "best": rows[0], "rows": rows}
    write_json(out, payload)
    print(f"\nbest: {rows[0]['settings']}\nresults: {out}")
    return payload


if __name__ == "__main__":
    sys.exit(main())
