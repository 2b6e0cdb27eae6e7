"""Calibrate ``Settings.answer_floor`` (the "not covered" cut on ``Answer.confidence``) on data.

    python -m benchmarks.calibrate_floor [--quick] [--positives N] [--negatives N]
                                         [--set key=value ...] [--keep 0.97]

Only the even-numbered SQuAD v1.1 dev articles (0-based, file order) are indexed.
Positives: a seeded sample of their questions (answerable). Negatives: a seeded sample of
questions about the odd-numbered articles (not in the index; a few are still answerable
where articles overlap, e.g. Huguenots and Martin Luther) plus hand-written off-topic
questions. Every question is asked with ``answer_floor=-1e9`` (so it always answers) and its
``confidence`` is recorded. Reported: percentiles per class, ROC AUC, the highest floor that
keeps at least ``--keep`` (97%) of the positives answered, and the floor with the best
balanced accuracy. The same is then shown question by question on the project's own
``docs_corpus`` (two articles) with on-topic and off-topic questions written for it.

The floor depends on the answer weights: rerun with the same ``--set`` as the weights used.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before anything imports huggingface_hub

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import math  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

from .squad import (  # noqa: E402
    DATA_ENV,
    RESULTS_DIR,
    SEED,
    build_and_load,
    build_settings,
    contains,
    load_squad,
    normalize_answer,
    parse_sets,
    print_table,
    sample,
    set_threads,
    squad_file,
    write_json,
)

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DOCS_CORPUS = PROJECT_ROOT / "docs_corpus"
KEEP = 0.97
POSITIVES = 1500
NEGATIVES = 1500
QUICK_ARTICLES = 6
QUICK_SAMPLE = 150
PERCENTILES = (1, 3, 5, 10, 25, 50, 75, 90, 95, 99)
NO_FLOOR = -1e9
SWEEP = (0.40, 1.001, 0.05)

#: General questions that no SQuAD dev article (nor docs_corpus) answers.
OFF_TOPIC = [
    "What is the capital of Australia?",
    "How do I bake sourdough bread at home?",
    "Who won the 2018 FIFA World Cup?",
    "How many legs does a spider have?",
    "What programming language is used to write Android apps?",
    "Who painted the Mona Lisa?",
    "What is the tallest mountain in the world?",
    "How do you fix a flat tire on a bicycle?",
    "What is the plot of the novel Pride and Prejudice?",
    "Which planet is known as the Red Planet?",
    "What is the recipe for guacamole?",
    "Who is the lead singer of the band U2?",
    "What is the exchange rate between the euro and the Japanese yen?",
    "How long should I boil an egg for a soft yolk?",
    "What are the rules of cricket?",
    "When was the Eiffel Tower built?",
    "What is the best way to learn to play the guitar?",
    "How many calories are in a banana?",
    "Who wrote the Harry Potter books?",
    "What is the population of Tokyo?",
    "How do I reset my Wi-Fi router password?",
    "What breed of dog is best for a small apartment?",
    "How fast can a cheetah run?",
    "What is the weather like in Iceland in winter?",
    "How do I file my taxes online?",
    "What is the main ingredient of hummus?",
    "Which team won the NBA championship in 2016?",
    "What is the difference between a crocodile and an alligator?",
    "How tall is the Statue of Liberty?",
    "What is the best-selling video game of all time?",
    "Who directed the movie Jurassic Park?",
    "How do you knit a scarf?",
    "What is the national animal of Mexico?",
    "How do bees make honey?",
    "Where did the game of chess originate?",
    "When does the cherry blossom season start in Japan?",
    "What is the plural of octopus?",
    "How much water should I drink every day?",
    "Who is the current manager of Manchester United?",
    "What time zone is Hawaii in?",
]

#: Questions the two docs_corpus articles answer, with the answer each should contain.
DOCS_ON_TOPIC = [
    ("Who plays the surgeon in The Challenge?", ["Yulia Peresild"]),
    ("Who plays the patient?", ["Oleg Novitskiy"]),
    ("Who directed The Challenge?", ["Klim Shipenko"]),
    ("When will The Challenge be released?", ["April 12"]),
    ("How many days did the crew film aboard the ISS?", ["12 days"]),
    ("How far above Earth is the International Space Station?", ["250 miles"]),
    ("Which cosmonaut flew to the ISS with the actress and the director?",
     ["Anton Shkaplerov"]),
    ("When did the film crew launch to the space station?", ["October 5, 2021"]),
    ("Which studios produced the movie?", ["Yellow, Black and White", "Channel One"]),
    ("How was the lead actress chosen?", ["open casting call"]),
    ("What tests did prospective stars have to pass?", ["medical, psychological"]),
    ("How often is there a sunrise on the space station?", ["every 45 minutes"]),
    ("Who narrated the 2002 IMAX documentary shot on the ISS?", ["Tom Cruise"]),
    ("Which director is working with Tom Cruise on a film in space?", ["Doug Liman"]),
    ("When does Russia plan to leave the space station?", ["after 2024"]),
    ("Who was the first human in space?", ["Yuri Gagarin"]),
    ("What is the plot of The Challenge?", ["heart surgery", "emergency surgery"]),
]

#: Questions docs_corpus does not answer: general ones and near misses about space.
DOCS_OFF_TOPIC = [
    "What is the capital of Australia?",
    "How do I bake sourdough bread at home?",
    "Who won the 2018 FIFA World Cup?",
    "Who painted the Mona Lisa?",
    "What is the recipe for guacamole?",
    "How many calories are in a banana?",
    "Who wrote the Harry Potter books?",
    "How do I reset my Wi-Fi router password?",
    "What are the rules of cricket?",
    "Which team won the NBA championship in 2016?",
    "When did Apollo 11 land on the Moon?",
    "Who was the first woman to walk in space?",
    "How much does a SpaceX Falcon 9 launch cost?",
    "What is the box office gross of Gravity?",
    "Which actor played the lead role in the film Interstellar?",
]


# --------------------------------------------------------------------------- statistics

def pct_table(values: Sequence[float]) -> dict[str, float]:
    if not len(values):
        return {}
    v = np.asarray(values, dtype=np.float64)
    out = {f"p{p}": round(float(np.percentile(v, p)), 4) for p in PERCENTILES}
    out.update(n=len(v), min=round(float(v.min()), 4), max=round(float(v.max()), 4),
               mean=round(float(v.mean()), 4))
    return out


def roc_auc(pos: Sequence[float], neg: Sequence[float]) -> float:
    """P(a positive scores above a negative), ties counted half (Mann-Whitney)."""
    p = np.asarray(pos, dtype=np.float64)
    n = np.sort(np.asarray(neg, dtype=np.float64))
    if not len(p) or not len(n):
        return float("nan")
    below = np.searchsorted(n, p, side="left")
    equal = np.searchsorted(n, p, side="right") - below
    return float((below + 0.5 * equal).sum() / (len(p) * len(n)))


def kept(values: Sequence[float], floor: float) -> float:
    """Share answered at ``floor`` (answer() answers when confidence >= floor)."""
    v = np.asarray(values, dtype=np.float64)
    return float((v >= floor).mean()) if len(v) else float("nan")


def floor_keeping(pos: Sequence[float], keep: float) -> float:
    """The highest floor at which at least ``keep`` of the positives are still answered."""
    v = np.sort(np.asarray(pos, dtype=np.float64))
    allowed = int(math.floor(len(v) * (1 - keep) + 1e-9))  # positives we may lose
    return float(v[min(allowed, len(v) - 1)])


def floor_balanced(pos: Sequence[float], neg: Sequence[float]) -> tuple[float, float]:
    """The floor maximising (TPR + TNR) / 2 and that balanced accuracy.

    The floor is put halfway between the two neighbouring scores, so it does not sit on
    a measured value."""
    p = np.asarray(pos, dtype=np.float64)
    n = np.asarray(neg, dtype=np.float64)
    cuts = np.unique(np.concatenate([p, n]))
    mids = np.concatenate([[cuts[0] - 1e-6], (cuts[1:] + cuts[:-1]) / 2, [cuts[-1] + 1e-6]])
    ps, ns = np.sort(p), np.sort(n)
    tpr = 1 - np.searchsorted(ps, mids, side="left") / len(ps)
    tnr = np.searchsorted(ns, mids, side="left") / len(ns)
    bal = (tpr + tnr) / 2
    i = int(np.argmax(bal))
    return float(mids[i]), float(bal[i])


def round_down(x: float, step: float = 0.01) -> float:
    return math.floor(x / step + 1e-9) * step


# --------------------------------------------------------------------------- asking

def ask_all(idx, questions: Sequence[str], golds: Sequence[Sequence[str]] | None = None,
            label: str = "") -> list[dict[str, Any]]:
    """Confidence (and, with golds, whether the first statement is right) per question."""
    from challenge_qa.answer import answer

    out = []
    t0 = time.perf_counter()
    for i, q in enumerate(questions):
        a = answer(q, k=5, index=idx)
        rec = {"question": q, "confidence": round(float(a.confidence), 4),
               "first_statement": a.statements[0].text if a.statements else "",
               "top_doc": a.hits[0].doc_id if a.hits else None}
        if golds is not None:
            g = [normalize_answer(x) for x in golds[i]]
            rec["answers"] = list(golds[i])
            rec["first_statement_right"] = contains(normalize_answer(rec["first_statement"]), g)
        out.append(rec)
        if label and (i + 1) % 500 == 0:
            print(f"  {label}: {i + 1}/{len(questions)}, {time.perf_counter() - t0:.0f} s",
                  file=sys.stderr, flush=True)
    return out


def floor_settings(overrides: dict[str, Any]):
    return build_settings({**overrides, "answer_floor": NO_FLOOR})


def docs_check(overrides: dict[str, Any], tmp: Path) -> dict[str, list[dict[str, Any]]]:
    """Confidence of each hand-written question on the project's own docs_corpus."""
    from challenge_qa.store import build_index, load_index

    s = floor_settings(overrides)
    index_dir = tmp / "docs-index"
    build_index(DOCS_CORPUS, index_dir, settings=s)
    idx = load_index(index_dir, settings=s)
    on = ask_all(idx, [q for q, _ in DOCS_ON_TOPIC], [g for _, g in DOCS_ON_TOPIC])
    off = ask_all(idx, DOCS_OFF_TOPIC)
    return {"on_topic": on, "off_topic": off}


# --------------------------------------------------------------------------- main

def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.calibrate_floor", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", metavar="PATH",
                   help=f"data root, squad folder or dev-v1.1.json [default: ${DATA_ENV} or "
                        "../shared/benchmarks]")
    p.add_argument("--quick", action="store_true",
                   help=f"{QUICK_ARTICLES} short articles indexed, {QUICK_SAMPLE} questions "
                        "per class")
    p.add_argument("--positives", type=int, default=POSITIVES, metavar="N",
                   help=f"positive questions sampled [default: {POSITIVES}]")
    p.add_argument("--negatives", type=int, default=NEGATIVES, metavar="N",
                   help=f"negative SQuAD questions sampled [default: {NEGATIVES}]")
    p.add_argument("--seed", type=int, default=SEED)
    p.add_argument("--keep", type=float, default=KEEP,
                   help=f"share of positives the floor must keep answered [default: {KEEP}]")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override a Settings field (repeatable), e.g. answer_w_lex=0.8")
    p.add_argument("--threads", type=int, metavar="N", help="torch CPU threads")
    p.add_argument("--index-dir", type=Path, metavar="DIR",
                   help="keep the even-article index here and reuse it [default: temp]")
    p.add_argument("--no-docs", action="store_true", help="skip the docs_corpus check")
    p.add_argument("--out", type=Path, metavar="FILE",
                   help="results file [default: benchmarks/results/calibrate_floor.json, "
                        "calibrate_floor.quick.json with --quick]")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        overrides = parse_sets(args.set)
        path = squad_file(args.data)
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    overrides.pop("answer_floor", None)
    threads = set_threads(args.threads)
    squad = load_squad(path)
    even = [i for i in range(len(squad.articles)) if i % 2 == 0]
    odd = [i for i in range(len(squad.articles)) if i % 2 == 1]
    n_pos, n_neg = args.positives, args.negatives
    if args.quick:
        def shortest(nums):
            return sorted(sorted(nums, key=lambda i: len(squad.articles[i]["text"]))
                          [:QUICK_ARTICLES])
        even, odd = shortest(even), shortest(odd)
        n_pos, n_neg = min(n_pos, QUICK_SAMPLE), min(n_neg, QUICK_SAMPLE)
    pos_q = sample([q for q in squad.questions if q.article in set(even)], n_pos, args.seed)
    neg_q = sample([q for q in squad.questions if q.article in set(odd)], n_neg, args.seed + 1)
    settings = floor_settings(overrides)
    print(f"calibrating answer_floor: {len(even)} even articles indexed, "
          f"{len(pos_q)} positives, {len(neg_q)} + {len(OFF_TOPIC)} negatives, "
          f"overrides {overrides or 'none'}", flush=True)

    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="floor-bench-") as tmp:
        index_dir = args.index_dir or Path(tmp) / "index"
        idx, build = build_and_load([squad.articles[i] for i in even], index_dir, settings,
                                    Path(tmp))
        print(f"index: {build['passages']} passages, built in {build['build_s']} s", flush=True)
        pos = ask_all(idx, [q.question for q in pos_q], [q.answers for q in pos_q], "positives")
        neg_sq = ask_all(idx, [q.question for q in neg_q], label="negatives")
        neg_off = ask_all(idx, OFF_TOPIC)
        docs = None if args.no_docs else docs_check(overrides, Path(tmp))
    for rec, q in zip(neg_sq, neg_q, strict=True):
        rec["article"] = q.title

    cp = [r["confidence"] for r in pos]
    cn_sq = [r["confidence"] for r in neg_sq]
    cn_off = [r["confidence"] for r in neg_off]
    cn = cn_sq + cn_off
    cp_right = [r["confidence"] for r in pos if r["first_statement_right"]]
    cp_wrong = [r["confidence"] for r in pos if not r["first_statement_right"]]

    f_keep = floor_keeping(cp, args.keep)
    recommended = round(round_down(f_keep), 2)
    f_bal, bal = floor_balanced(cp, cn)
    current = build_settings({}).answer_floor
    classes = {"positives (even articles, indexed)": cp,
               "  of which first statement right": cp_right,
               "  of which first statement wrong": cp_wrong,
               "negatives: odd-article SQuAD questions": cn_sq,
               "negatives: off-topic questions": cn_off,
               "negatives: all": cn}
    dist = {name.strip(): pct_table(v) for name, v in classes.items()}
    auc = {"all_negatives": round(roc_auc(cp, cn), 4),
           "squad_odd": round(roc_auc(cp, cn_sq), 4),
           "off_topic": round(roc_auc(cp, cn_off), 4)}

    print("\nconfidence distribution")
    cols = ("n", "p1", "p3", "p5", "p10", "p25", "p50", "p75", "p95", "max")
    print_table(["class", *cols],
                [[name, *(dist[name.strip()].get(c, "") for c in cols)]
                 for name, v in classes.items()])
    print(f"\nROC AUC positives vs all negatives {auc['all_negatives']:.4f}, vs odd-article "
          f"SQuAD {auc['squad_odd']:.4f}, vs off-topic {auc['off_topic']:.4f}")

    docs_on = [r["confidence"] for r in docs["on_topic"]] if docs else []
    docs_off = [r["confidence"] for r in docs["off_topic"]] if docs else []
    floors = {f"keeps >= {args.keep:.0%} of positives (rounded down)": recommended,
              f"keeps >= {args.keep:.0%} of positives (exact)": round(f_keep, 4),
              "max balanced accuracy": round(f_bal, 4),
              "current Settings default": current}
    rows, table = [], []
    for name, f in floors.items():
        row = {"floor": f, "positives_answered": kept(cp, f),
               "squad_odd_rejected": 1 - kept(cn_sq, f), "off_topic_rejected": 1 - kept(cn_off, f),
               "balanced_accuracy": (kept(cp, f) + 1 - kept(cn, f)) / 2}
        if docs:
            row.update(docs_on_answered=kept(docs_on, f), docs_off_rejected=1 - kept(docs_off, f))
        rows.append({"name": name, **{k: round(v, 4) for k, v in row.items()}})
        table.append([name, f"{f:.4f}", *(f"{row[k]:.3f}" for k in list(row)[1:])])
    print("\nfloors")
    print_table(["floor", "value", "pos answered", "odd rejected", "off-topic rejected",
                 "balanced acc", *(["docs on answered", "docs off rejected"] if docs else [])],
                table)

    sweep = []
    for f in sorted({round(x, 2) for x in np.arange(*SWEEP)} | {recommended}):
        row = {"floor": f, "positives_answered": round(kept(cp, f), 4),
               "positives_right_answered": round(kept(cp_right, f), 4),
               "positives_wrong_answered": round(kept(cp_wrong, f), 4),
               "squad_odd_rejected": round(1 - kept(cn_sq, f), 4),
               "off_topic_rejected": round(1 - kept(cn_off, f), 4)}
        if docs:
            row.update(docs_on_answered=round(kept(docs_on, f), 4),
                       docs_off_rejected=round(1 - kept(docs_off, f), 4))
        sweep.append(row)
    print("\nfloor sweep (pos right/wrong: positives whose first statement is right/wrong)")
    print_table(["floor", "pos answered", "pos right ans.", "pos wrong ans.", "odd rejected",
                 "off-topic rejected", *(["docs on answered", "docs off rejected"] if docs
                                         else [])],
                [[f"{r['floor']:.2f}", *(f"{v:.3f}" for v in list(r.values())[1:])]
                 for r in sweep])

    if docs:
        print(f"\ndocs_corpus questions (answered at the recommended floor {recommended:.2f} "
              "when confidence >= it)")
        print_table(["class", "confidence", "answered", "right", "question"],
                    [["on-topic", f"{r['confidence']:.4f}",
                      "yes" if r["confidence"] >= recommended else "NO",
                      "yes" if r["first_statement_right"] else "no", r["question"]]
                     for r in docs["on_topic"]]
                    + [["off-topic", f"{r['confidence']:.4f}",
                        "YES" if r["confidence"] >= recommended else "no", "", r["question"]]
                       for r in docs["off_topic"]])

    hardest = sorted(neg_sq + neg_off, key=lambda r: -r["confidence"])[:15]
    lowest = sorted(pos, key=lambda r: r["confidence"])[:15]
    print(f"\nrecommended answer_floor = {recommended:.2f} "
          f"(keeps {kept(cp, recommended):.1%} of positives, rejects "
          f"{1 - kept(cn_sq, recommended):.1%} of odd-article and "
          f"{1 - kept(cn_off, recommended):.1%} of off-topic questions; "
          f"max balanced accuracy {bal:.3f} at {f_bal:.3f})")
    out = args.out or RESULTS_DIR / ("calibrate_floor.quick.json" if args.quick
                                     else "calibrate_floor.json")
    write_json(out, {
        "benchmark": "calibrate_floor", "mode": "quick" if args.quick else "full",
        "data": str(path), "seed": args.seed, "keep": args.keep, "overrides": overrides,
        "settings": {k: str(v) if isinstance(v, Path) else v
                     for k, v in dataclasses.asdict(settings).items()},
        "torch_threads": threads, "index": build,
        "indexed_articles": [squad.articles[i]["id"] for i in even],
        "negative_articles": [squad.articles[i]["id"] for i in odd],
        "counts": {"positives": len(cp), "squad_negatives": len(cn_sq),
                   "off_topic_negatives": len(cn_off)},
        "distribution": dist, "roc_auc": auc, "floors": rows, "sweep": sweep,
        "recommended_floor": recommended,
        "balanced": {"floor": round(f_bal, 4), "balanced_accuracy": round(bal, 4)},
        "highest_negatives": hardest, "lowest_positives": lowest,
        "off_topic": neg_off, "docs_corpus": docs,
        "confidences": {"positives": cp, "positives_first_statement_right":
                        [r["first_statement_right"] for r in pos],
                        "squad_negatives": cn_sq, "off_topic_negatives": cn_off},
        "seconds": round(time.perf_counter() - t0, 1)})
    print(f"results: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
