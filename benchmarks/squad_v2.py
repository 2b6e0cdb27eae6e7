"""Refusing what the articles do not say: SQuAD v2.0's unanswerable questions.

    python -m benchmarks.squad_v2 [--calibrate] [--sample N] [--set key=value ...]

SQuAD v2.0 adds to the v1.1 dev questions others written to look answerable from their
paragraph (negations, swapped entities, antonyms) that it does not answer. The shared data
holds those of the even dev articles (``dev-v2.0-even.json``); the reader trains on the
unanswerable ones except those of its tuning articles (``tune_articles`` of ``reader.json``),
so only the tuning articles' v2.0 questions are asked here, of the index of all 48 dev
articles, through ``answer()``. The odd articles' v2.0 questions are not in the shared data.

A question counts as answered right when it is answerable, the answer is found and its
first statement holds a gold answer. Reported: the share of answerable questions answered,
of unanswerable ones refused, of answerable ones answered right, the short answer's EM/F1
on the answerable ones (end to end), and the ROC AUC of ``Answer.confidence`` between the
questions answered right and the unanswerable ones.

``--calibrate`` asks the same questions with the threshold off and the identity
calibration, fits the Platt scaling of the best sentence's final score into the probability
that the first statement is right (logistic regression, all tuning questions), and picks
the threshold: the highest probability that keeps at least 92 % of the answerable tuning
questions answered (the project's bar is 90 % on held-out questions). It prints the values
for ``Settings.answer_calibration`` and ``answer_threshold``.
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
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

from challenge_qa.eval.data import SQUAD_V2_EVEN, squad_path  # noqa: E402
from challenge_qa.eval.metrics import roc_auc  # noqa: E402

from .common import (  # noqa: E402
    Context,
    Question,
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
from .squad import K, judge  # noqa: E402

KEEP = 0.92
TARGETS = {"unanswerable_refused": 0.50, "answerable_answered": 0.90, "auc": 0.85}
QUICK_SAMPLE = 100


def v2_questions(path: Path, articles: set[int]) -> list[tuple[Question, bool]]:
    """(question, answerable) for the v2.0 questions of these dev articles (numbers in
    ``dev-v1.1.json``)."""
    data = json.loads(path.read_text(encoding="utf-8"))["data"]
    out = []
    for art in data:
        n = art["v11_dev_index"]
        if n not in articles:
            continue
        for p in art["paragraphs"]:
            for qa in p["qas"]:
                golds = tuple(dict.fromkeys(a["text"] for a in qa["answers"]))
                out.append((Question(qa["id"], qa["question"], golds, n, art["title"]),
                            not qa["is_impossible"]))
    return out


def ask(idx, questions: list[tuple[Question, bool]]) -> list[dict[str, Any]]:
    from challenge_qa import answer

    recs = []
    t0 = time.perf_counter()
    for i, (q, answerable) in enumerate(questions, 1):
        a = answer(q.question, k=K, index=idx)
        v = judge(q, a) if answerable else {}
        recs.append({"id": q.qid, "question": q.question, "answerable": answerable,
                     "found": a.found, "confidence": float(a.confidence),
                     "right": bool(answerable and a.found and v["a_first_statement"]),
                     "short_em": v.get("short_em", 0.0), "short_f1": v.get("short_f1", 0.0),
                     "short": a.short, "first": a.statements[0].text if a.statements else ""})
        if i % 200 == 0:
            print(f"  {i}/{len(questions)} questions, {time.perf_counter() - t0:.0f} s",
                  file=sys.stderr, flush=True)
    return recs


def figures(recs: list[dict], threshold: float) -> dict[str, float]:
    ans = [r for r in recs if r["answerable"]]
    una = [r for r in recs if not r["answerable"]]
    said = [r["confidence"] >= threshold for r in recs]
    ok = dict(zip([r["id"] for r in recs], said, strict=True))
    return {
        "answerable_answered": round(sum(ok[r["id"]] for r in ans) / len(ans), 4),
        "unanswerable_refused": round(sum(not ok[r["id"]] for r in una) / len(una), 4),
        "answered_right": round(sum(ok[r["id"]] and r["right"] for r in ans) / len(ans), 4),
        "short_em": round(sum(ok[r["id"]] * r["short_em"] for r in ans) / len(ans), 4),
        "short_f1": round(sum(ok[r["id"]] * r["short_f1"] for r in ans) / len(ans), 4),
        "auc": round(roc_auc([r["confidence"] for r in ans if r["right"]],
                             [r["confidence"] for r in una]), 4),
    }


def platt(scores: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """Logistic regression of the labels on the scores: (a, b) of sigmoid(a * s + b)."""
    from sklearn.linear_model import LogisticRegression

    fit = LogisticRegression(C=1e4).fit(scores[:, None], labels)
    return float(fit.coef_[0, 0]), float(fit.intercept_[0])


def calibrate_fit(recs: list[dict]) -> dict[str, Any]:
    """Platt scaling and threshold from answers asked with the identity calibration
    (confidence = sigmoid(raw score))."""
    conf = np.clip(np.array([r["confidence"] for r in recs]), 1e-12, 1 - 1e-12)
    raw = np.log(conf / (1 - conf))
    y = np.array([r["right"] for r in recs], dtype=int)
    a, b = platt(raw, y)
    prob = 1 / (1 + np.exp(-(a * raw + b)))
    answerable = np.array([r["answerable"] for r in recs])
    ps = np.sort(prob[answerable])
    # the highest threshold at which KEEP of the answerable questions are still answered
    th = math.floor(ps[int(math.floor((1 - KEEP) * len(ps)))] * 100) / 100
    calibrated = [{**r, "confidence": float(p)} for r, p in zip(recs, prob, strict=True)]
    bins = np.linspace(0, 1, 6)
    reliability = []
    for lo, hi in zip(bins[:-1], bins[1:], strict=True):
        m = (prob >= lo) & (prob < hi if hi < 1 else prob <= hi)
        if m.any():
            reliability.append({"bin": f"{lo:.1f}-{hi:.1f}", "n": int(m.sum()),
                                "mean_probability": round(float(prob[m].mean()), 3),
                                "share_right": round(float(y[m].mean()), 3)})
    return {"answer_calibration": [round(a, 4), round(b, 4)], "answer_threshold": th,
            "figures_at_threshold": figures(calibrated, th), "reliability": reliability,
            "calibrated": calibrated}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.squad_v2", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", metavar="PATH", help="data root or squad folder")
    p.add_argument("--calibrate", action="store_true",
                   help="fit answer_calibration and answer_threshold on these questions")
    p.add_argument("--sample", type=int, metavar="N", help="a seeded sample of N questions")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override a Settings field (repeatable)")
    p.add_argument("--index-dir", type=Path, metavar="DIR",
                   help="keep the 48-article index here and reuse it next time")
    p.add_argument("--out", type=Path, metavar="FILE", help="results file")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        overrides = parse_sets(args.set)
        squad_path(args.data)
        squad_path(args.data, SQUAD_V2_EVEN)
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    ctx = Context(data=data_root(args.data), limit=args.sample, overrides=overrides)
    run(ctx, calibrate=args.calibrate, index_dir=args.index_dir, out_file=args.out)
    return 0


def run(ctx: Context, *, calibrate: bool = False, index_dir: Path | None = None,
        out_file: Path | None = None) -> dict[str, Any]:
    """The tuning articles' v2.0 questions (``ctx.limit``, or 100 with ``ctx.quick``: a
    sample) asked of all dev articles; ``calibrate``: fit the Platt scaling and threshold.
    Writes ``out_file``, else ``ctx.out/squad_v2[.calibrate|.quick].json``."""
    dev = squad_path(ctx.data)
    v2 = squad_path(ctx.data, SQUAD_V2_EVEN)
    overrides = dict(ctx.overrides)
    if calibrate:
        overrides = {**overrides, "answer_calibration": (1.0, 0.0), "answer_threshold": 0.0}
    settings = ctx.settings(**overrides)
    questions = v2_questions(v2, set(tune_articles()))
    n = ctx.limit or (QUICK_SAMPLE if ctx.quick else None)
    if n:
        questions = sample(questions, n, ctx.seed)
    squad = load_squad(dev)
    print(f"SQuAD v2.0: {len(questions)} questions of the tuning articles "
          f"({sum(not a for _, a in questions)} unanswerable), asked of all "
          f"{len(squad.articles)} dev articles", flush=True)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="squad-v2-") as tmp:
        idx, _ = build_and_load(squad.articles, index_dir or Path(tmp) / "index",
                                settings, Path(tmp))
        recs = ask(idx, questions)
    payload: dict[str, Any] = {"benchmark": "squad_v2", "calibrate": calibrate,
                               "overrides": {k: list(v) if isinstance(v, tuple) else v
                                             for k, v in overrides.items()},
                               "reader": reader_version(), "questions": len(recs),
                               "unanswerable": sum(not r["answerable"] for r in recs)}
    th = settings.answer_threshold
    if calibrate:
        cal = calibrate_fit(recs)
        payload.update({k: v for k, v in cal.items() if k != "calibrated"})
        print(f"\nanswer_calibration = {tuple(cal['answer_calibration'])}, answer_threshold = "
              f"{cal['answer_threshold']}")
        res = cal["figures_at_threshold"]
        recs, th = cal.pop("calibrated"), cal["answer_threshold"]
    else:
        res = figures(recs, th)
    payload["threshold"] = th
    rows = [[k, f"{v:.4f}", f">= {TARGETS[k]:.2f}" if k in TARGETS else ""]
            for k, v in res.items()]
    print_table(["metric", "value", "target (held out)"], rows)
    payload.update(figures=res, seconds=round(time.perf_counter() - t0, 1),
                   answered_unanswerable=[r for r in recs if not r["answerable"]
                                          and r["confidence"] >= th][:25])
    name = "squad_v2" + (".calibrate" if calibrate else ".quick" if ctx.quick else "")
    out = out_file or ctx.out / f"{name}.json"
    write_json(out, payload)
    print(f"results: {out}")
    return {**payload, "passed": all(res[k] >= t for k, t in TARGETS.items())}


if __name__ == "__main__":
    sys.exit(main())
