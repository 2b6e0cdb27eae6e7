"""The README's figure tables, generated from ``benchmarks/results/*.json``.

    python -m benchmarks.report           # rewrite the tables in README.md
    python -m benchmarks.report --check   # exit 1 when README.md differs from the results

Each table stands in README.md between ``<!-- figures:NAME -->`` and
``<!-- /figures:NAME -->``; what is between the markers is replaced, everything else is
left alone. A benchmark run writes new JSON; this script carries its figures into the
README, and the test suite fails when the two disagree.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from typing import Any

from ._common import PROJECT_ROOT, RESULTS_DIR

README = PROJECT_ROOT / "README.md"
BLOCK = re.compile(r"(<!-- figures:(?P<name>[\w.-]+) -->\n)(?P<body>.*?)"
                   r"(<!-- /figures:(?P=name) -->)", re.S)


def _load(name: str) -> dict[str, Any]:
    return json.loads((RESULTS_DIR / f"{name}.json").read_text(encoding="utf-8"))


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join("---" for _ in headers) + " |"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def _verdict(target: dict) -> str:
    return f"{target['target']} {'met' if target['passed'] else '**missed**'}"


def squad() -> str:
    d = _load("squad.odd")
    s, t = d["shares"], d["targets"]
    lat, ret = d["latency_ms"], d["retrieve_latency_ms"]
    cols = ["a_first_statement", "b_answer_text", "d_article_at_rank1", "short_em", "short_f1"]
    return _table(
        ["(a) first sentence", "(b) whole answer", "(c) top-5 snippets", "(d) article first",
         "short answer EM", "short answer F1", "answer() p50 / p95", "retrieve() p50"],
        [[*(f"{s[c]:.3f}" for c in cols[:2]), f"{s['c_top5_passages']:.3f}",
          *(f"{s[c]:.3f}" for c in cols[2:]), f"{lat['p50']:.0f} ms / {lat['p95']:.0f} ms",
          f"{ret['p50']:.0f} ms"],
         [*(_verdict(t[c]) for c in cols[:2]), "", *(_verdict(t[c]) for c in cols[2:]),
          "≤ 100 ms " + ("met" if lat["p50"] <= 100 else "**missed**"), ""]]) + (
        f"\n{d['questions']:,} questions of the odd articles, reader `{d['reader']}`; "
        f"not covered (found=False): {s['not_found']:.3f}.\n")


def answerability() -> str:
    d = _load("answerability")
    f, t = d["figures"], d["targets"]
    return _table(
        ["near-miss refused", "answerable answered", "answerable answered right",
         "ROC AUC (bundled)", "SQuAD odd: answered / right answered", "SQuAD odd: wrong "
         "articles refused", "ROC AUC (SQuAD odd)", "threshold"],
        [[f"{f['near_miss_refused']:.3f}", f"{f['answerable_answered']:.3f}",
          f"{f['answerable_answered_right']:.3f}", f"{f['auc_bundled']:.3f}",
          f"{f['squad_answered']:.3f} / {f['squad_right_answered']:.3f}",
          f"{f['squad_wrong_articles_refused']:.3f}", f"{f['auc_squad']:.3f}",
          f"{f['threshold']:.2f}"],
         [_verdict(t["near_miss_refused"]), _verdict(t["answerable_answered"]), "", "", "", "",
          "", ""]]) + (
        f"\n{d['counts']['answerable']} answerable and {d['counts']['near_miss']} near-miss "
        f"test questions, {d['counts']['squad']} SQuAD odd-article questions.\n")


def core() -> str:
    d = _load("core")
    return _table(["figure", "measured", "target"],
                  [[t["name"], f"{t['value']:.3f} ({t['detail']})", _verdict(t)]
                   for t in d["targets"]])


def latency() -> str:
    d = _load("latency")
    w = d["warm"]["latency_ms"]
    rounds = d["warm"]["calls_each"] // d["warm"]["questions"]
    cold = d["cold_start"]
    mem = d["memory"]
    return _table(
        ["answer() p50 / p95", "retrieve() p50", "encode + search p50",
         "cold start (int8 / torch)", "peak RSS: bundled / 1,000 SciFact articles (build)"],
        [[f"{w['answer']['p50']:.1f} / {w['answer']['p95']:.1f} ms",
          f"{w['retrieve']['p50']:.1f} ms", f"{w['dense']['p50']:.1f} ms",
          f"{cold['onnx-int8']['median_s']:.1f} s / {cold['torch']['median_s']:.1f} s",
          f"{mem['docs_corpus']['serve_peak_rss_mb']:.0f} MB / "
          f"{mem['scifact_1000']['build_peak_rss_mb']:.0f} MB"]]) + (
        f"\n{d['warm']['questions']} questions × {rounds}, interleaved.\n")


def reader() -> str:
    from challenge_qa.reader import READER_DIR

    card = json.loads((READER_DIR / "reader.json").read_text(encoding="utf-8"))
    h = card["held_out"]
    em_f1 = f"{h['span_em_in_gold_sentence']:.3f} / {h['span_f1_in_gold_sentence']:.3f}"
    return _table(["right sentence first", "short answer EM / F1 in the gold sentence",
                   "ROC AUC: answerable vs asked of another article", "questions"],
                  [[f"{h['right_sentence_first']:.3f}",
                    em_f1,
                    f"{h['answerable_vs_wrong_article_auc']:.3f}", f"{h['questions']:,}"]]) + (
        "\nThe prototype measured before this reader: 0.766 (bundled model's cosine), 0.840 "
        "(a cross-encoder with random negatives); EM 0.534 / F1 0.671 (a span model). "
        f"Reader `{card['version']}`, trained in {card['train_minutes']} min on 2 CPU "
        f"cores.\n")


def _segments(serve: dict) -> str:
    kinds = [x["type"] for x in serve["segment_dense_search"]]
    hnsw = sum(k != "IndexFlatIP" for k in kinds)
    parts = [f"{hnsw} HNSW-SQ8"] if hnsw else []
    parts += [f"{len(kinds) - hnsw} exact"] if len(kinds) > hnsw else []
    return f"{len(kinds)} ({', '.join(parts)})"


def scale() -> str:
    d = _load("scale")
    rows = []
    for r in d["sizes"]:
        b, u, sv = r["build"], r["update"], r["serve"]
        rows.append([f"{r['passages']:,}", _segments(sv), f"{b['build_s']:,.0f} s",
                     f"{b['peak_rss_mb']:,.0f} MB", f"{u['add_median_s']:.2f} s",
                     f"{u['delete_median_s']:.2f} s",
                     f"{sv['rank_ms']['p50']:.1f} / {sv['rank_ms_faiss_1_thread']['p50']:.1f} ms",
                     f"{sv['anon_bytes_per_passage']:,.0f} / {sv['rss_bytes_per_passage']:,.0f} B"])
        if "serve_optimized" in r:
            for label, key in (("as built, again", "serve_as_built"),
                               ("optimized", "serve_optimized")):
                sv = r[key]
                first = (f"+{r['optimize']['seconds']:,.0f} s (optimize)",
                         f"{r['optimize']['peak_rss_mb']:,.0f} MB") if label == "optimized" \
                    else ("", "")
                rows.append([f"{r['passages']:,} {label}", _segments(sv), *first, "", "",
                             f"{sv['rank_ms']['p50']:.1f} / "
                             f"{sv['rank_ms_faiss_1_thread']['p50']:.1f} ms",
                             f"{sv['anon_bytes_per_passage']:,.0f} / "
                             f"{sv['rss_bytes_per_passage']:,.0f} B"])
    table = _table(["passages", "segments (dense index)", "build (excl. encoding)",
                    "build peak RSS", "add 1 article", "delete 1 article",
                    "rank() p50 (FAISS default / 1 thread)",
                    "serving memory per passage (private / resident)"], rows)
    targets = _table(["target", "measured", "limit"],
                     [[t["name"], f"{t['value']:.3f} ({t['detail']})", _verdict(t)]
                      for t in d["targets"]])
    return table + "\n" + targets + (
        f"\n{d['queries']} SQuAD questions per index (query vectors precomputed); updates: "
        f"medians of {d['repeats']} `build_index` calls; segment_passages "
        f"{d['settings']['segment_passages']:,}; full run {d['runtime_s'] / 60:.0f} min.\n")


TABLES: dict[str, Callable[[], str]] = {
    "squad": squad, "reader": reader, "answerability": answerability, "core": core,
    "latency": latency, "scale": scale}


def render(text: str) -> str:
    """``text`` with every figures block regenerated."""
    def repl(m: re.Match) -> str:
        name = m.group("name")
        if name not in TABLES:
            raise KeyError(f"README names an unknown figures block {name!r}")
        return m.group(1) + TABLES[name]() + m.group(4)
    return BLOCK.sub(repl, text)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.report", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--check", action="store_true",
                   help="exit 1 when README.md differs from the results")
    args = p.parse_args(argv)
    text = README.read_text(encoding="utf-8")
    new = render(text)
    found = {m.group("name") for m in BLOCK.finditer(text)}
    if args.check:
        if new != text:
            print("README.md figures differ from benchmarks/results: run "
                  "`python -m benchmarks.report`", file=sys.stderr)
            return 1
        print(f"README.md figures match benchmarks/results ({', '.join(sorted(found))})")
        return 0
    README.write_text(new, encoding="utf-8")
    print(f"README.md figures regenerated ({', '.join(sorted(found))})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
