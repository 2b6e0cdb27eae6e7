"""Abstention: does ``answer()`` answer what the articles answer and refuse what they don't?

    python -m benchmarks.answerability [--calibrate] [--quick] [--set key=value ...]

``Answer.confidence`` is the calibrated probability that the best candidate sentence
answers (Platt scaling of its final score: the reader's probability plus the weighted cheap
score and short-answer logit; the passage score that helps choose the first statement is
left out); ``found`` is ``confidence >= Settings.answer_threshold``. Two question sources:

- the bundled articles (``docs_corpus/``) with the hand-written questions of
  ``benchmarks/questions/bundled.json``: answerable ones (each with its short answers) and
  near-miss ones (they sound like the articles, which do not answer them), each split into
  ``dev`` (for calibration) and ``test`` (held out);
- SQuAD v1.1 dev: positives are questions asked of the index of all 48 articles; negatives
  are the same questions asked of an index without their own articles (the question asked
  of the wrong articles). ``--calibrate`` uses the even articles the reader was not trained
  on (``tune_articles`` of ``reader.json``); the report uses the odd articles (held out).

``--calibrate`` sweeps the threshold over the dev questions and the tuning articles and
recommends the highest threshold that keeps at least 97 % of the SQuAD tuning questions
whose first statement is right answered (the larger sample; the 26 answerable bundled dev
questions include two the reader ranks wrong at a probability of 0.03, which would pull
the threshold to nothing), with the bundled dev figures beside it. The default run reports
the held-out figures at the current threshold: share of the near-miss test set refused,
share of the answerable test set answered (and answered right), ROC AUC of the confidence.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before anything imports huggingface_hub

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

from challenge_qa.eval.data import split_articles, squad_path  # noqa: E402
from challenge_qa.eval.metrics import kept, roc_auc, threshold_keeping  # noqa: E402
from challenge_qa.eval.squad import contains, normalize_answer  # noqa: E402

from .common import (  # noqa: E402
    BUNDLED_QUESTIONS,
    DATA_ENV,
    DOCS_CORPUS,
    SEED,
    Context,
    build_and_load,
    data_root,
    load_squad,
    parse_sets,
    print_table,
    reader_version,
    sample,
    tune_articles,
    write_json,
)

KEEP = 0.97
SQUAD_SAMPLE = 600
ALWAYS = 0.0  # a threshold every probability passes: every question is answered
TARGETS = {"near_miss_refused": 0.90, "answerable_answered": 0.97}


def ask_all(idx, questions: Sequence[str], golds: Sequence[Sequence[str]] | None = None
            ) -> list[dict[str, Any]]:
    """Confidence, first statement and short answer per question (always answered)."""
    from challenge_qa import answer

    out = []
    for i, q in enumerate(questions):
        a = answer(q, k=5, index=idx)
        first = a.statements[0].text if a.statements else ""
        rec = {"question": q, "confidence": round(float(a.confidence), 4),
               "first_statement": first, "short": a.short}
        if golds is not None:
            g = [normalize_answer(x) for x in golds[i]]
            rec["answers"] = list(golds[i])
            rec["right"] = contains(normalize_answer(first), g)
        out.append(rec)
    return out


def bundled(split: str, settings, tmp: Path) -> dict[str, list[dict[str, Any]]]:
    """The hand-written questions of ``split`` asked of the bundled articles."""
    from challenge_qa import build_index, load_index

    data = json.loads(BUNDLED_QUESTIONS.read_text(encoding="utf-8"))
    index_dir = tmp / "docs-index"
    build_index(DOCS_CORPUS, index_dir, settings=settings)
    idx = load_index(index_dir, settings=settings)
    ans = data["answerable"][split]
    return {"answerable": ask_all(idx, [x["q"] for x in ans], [x["answers"] for x in ans]),
            "near_miss": ask_all(idx, [x["q"] for x in data["near_miss"][split]])}


def squad_pairs(articles: list[int], n: int, settings, tmp: Path, data: str | Path | None,
                seed: int) -> dict[str, list[dict[str, Any]]]:
    """Questions of ``articles`` asked of all articles (positives) and of all but those
    (negatives)."""
    squad = load_squad(squad_path(data))
    qs = sample([q for q in squad.questions if q.article in set(articles)], n, seed)
    texts, golds = [q.question for q in qs], [q.answers for q in qs]
    full, _ = build_and_load(squad.articles, tmp / "squad-all", settings, tmp / "a")
    pos = ask_all(full, texts, golds)
    rest = [a for i, a in enumerate(squad.articles) if i not in set(articles)]
    without, _ = build_and_load(rest, tmp / "squad-rest", settings, tmp / "b")
    return {"positives": pos, "negatives": ask_all(without, texts)}


def conf(recs: list[dict], right: bool | None = None) -> list[float]:
    return [r["confidence"] for r in recs if right is None or r["right"] == right]


def report(th: float, docs: dict, squad: dict | None) -> dict[str, Any]:
    ans, near = docs["answerable"], docs["near_miss"]
    out = {
        "threshold": th,
        "answerable_answered": round(kept(conf(ans), th), 4),
        "answerable_answered_right": round(
            sum(r["right"] and r["confidence"] >= th for r in ans) / len(ans), 4),
        "near_miss_refused": round(1 - kept(conf(near), th), 4),
        "auc_bundled": round(roc_auc(conf(ans), conf(near)), 4),
    }
    if squad:
        pos, neg = squad["positives"], squad["negatives"]
        out.update({
            "squad_answered": round(kept(conf(pos), th), 4),
            "squad_right_answered": round(kept(conf(pos, True), th), 4),
            "squad_wrong_articles_refused": round(1 - kept(conf(neg), th), 4),
            "auc_squad": round(roc_auc(conf(pos), conf(neg)), 4)})
    return out


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.answerability", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--calibrate", action="store_true",
                   help="sweep the threshold on the dev questions and tuning articles")
    p.add_argument("--quick", action="store_true", help="bundled articles only (no SQuAD)")
    p.add_argument("--data", metavar="PATH",
                   help=f"data root, squad folder or dev-v1.1.json [default: ${DATA_ENV} or "
                        "../shared/benchmarks]")
    p.add_argument("--sample", type=int, default=SQUAD_SAMPLE, metavar="N",
                   help=f"SQuAD questions asked [default: {SQUAD_SAMPLE}]")
    p.add_argument("--seed", type=int, default=SEED)
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override a Settings field (repeatable)")
    p.add_argument("--out", type=Path, metavar="FILE", help="results file")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        overrides = parse_sets(args.set)
        if not args.quick:
            squad_path(args.data)
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    ctx = Context(data=data_root(args.data), quick=args.quick, seed=args.seed,
                  overrides=overrides)
    run(ctx, calibrate=args.calibrate, sample=args.sample, out_file=args.out)
    return 0


def run(ctx: Context, *, calibrate: bool = False, sample: int = SQUAD_SAMPLE,
        out_file: Path | None = None) -> dict[str, Any]:
    """The held-out figures at the current threshold (``calibrate``: the threshold sweep on
    the dev questions and tuning articles); ``ctx.quick``: the bundled articles only.
    Writes ``out_file``, else ``ctx.out/answerability[.calibrate][.quick].json``."""
    settings = ctx.settings()
    th = settings.answer_threshold
    always = settings.replace(answer_threshold=ALWAYS)
    split = "dev" if calibrate else "test"
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="answerability-") as tmp:
        docs = bundled(split, always, Path(tmp))
        squad = None
        if not ctx.quick:
            arts = list(tune_articles()) if calibrate else split_articles("odd")
            squad = squad_pairs(arts, sample, always, Path(tmp), ctx.data, ctx.seed)
    payload: dict[str, Any] = {
        "benchmark": "answerability", "split": split, "quick": ctx.quick,
        "overrides": dict(ctx.overrides), "reader": reader_version(),
        "counts": {"answerable": len(docs["answerable"]), "near_miss": len(docs["near_miss"]),
                   **({"squad": len(squad["positives"])} if squad else {})}}
    if calibrate:
        keep_docs = threshold_keeping(conf(docs["answerable"]), KEEP)
        keep_squad = threshold_keeping(conf(squad["positives"], True), KEEP) if squad else 1.0
        best = math.floor((keep_squad if squad else keep_docs) * 100) / 100
        sweep = [report(t, docs, squad) for t in sorted(
            {round(x, 2) for x in np.arange(0.05, 0.96, 0.05)} | {best})]
        keys = list(sweep[0])
        print_table(keys, [[f"{r[k]:.3f}" for k in keys] for r in sweep])
        print(f"\nrecommended threshold: {best:.2f}, the highest keeping {KEEP:.0%} of the SQuAD "
              f"tuning questions answered right ({keep_squad:.3f}; for the answerable "
              f"bundled dev questions it would be {keep_docs:.3f})")
        payload.update(recommended=best, sweep=sweep)
    else:
        res = report(th, docs, squad)
        rows = [[k, f"{v:.4f}" if isinstance(v, float) else v,
                 f">= {TARGETS[k]:.2f}" if k in TARGETS else "",
                 ("PASS" if v >= TARGETS[k] else "FAIL") if k in TARGETS else ""]
                for k, v in res.items()]
        print_table(["metric", "value", "target", "result"], rows)
        payload.update(figures=res, targets={k: {"value": res[k], "target": f">= {t}",
                                                 "passed": res[k] >= t}
                                             for k, t in TARGETS.items()})
    th_now = payload.get("recommended", th)
    payload["answered_near_miss"] = [r for r in docs["near_miss"] if r["confidence"] >= th_now]
    payload["refused_answerable"] = [r for r in docs["answerable"] if r["confidence"] < th_now]
    payload["wrong_answerable"] = [r for r in docs["answerable"] if not r["right"]]
    payload["bundled"] = docs
    payload["seconds"] = round(time.perf_counter() - t0, 1)
    name = "answerability" + (".calibrate" if calibrate else "") + (
        ".quick" if ctx.quick else "")
    out = out_file or ctx.out / f"{name}.json"
    write_json(out, payload)
    print(f"results: {out}")
    return {**payload, "passed": all(t["passed"] for t in payload.get("targets", {}).values())}


if __name__ == "__main__":
    sys.exit(main())
