"""The figure tables of README.md and docs/, generated from ``benchmarks/results/*.json``.

    python -m benchmarks.report           # rewrite the tables in the documents
    python -m benchmarks.report --check   # exit 1 when a document differs from the results

Each table stands in a document between ``<!-- figures:NAME -->`` and
``<!-- /figures:NAME -->``; what is between the markers is replaced, everything else is
left alone. A benchmark run writes new JSON; this script carries its figures into the
documents, and the test suite fails when the two disagree.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from typing import Any

from .common import PROJECT_ROOT, RESULTS_DIR

README = PROJECT_ROOT / "README.md"
#: The documents whose figures are generated.
DOCUMENTS = (README, PROJECT_ROOT / "docs" / "scale.md")
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
    goal = d.get("latency_target_ms", 100)
    cols = ["a_first_statement", "b_answer_text", "d_article_at_rank1", "short_em", "short_f1"]
    return _table(
        ["(a) first sentence", "(b) whole answer", "(c) top-5 snippets", "(d) article first",
         "short answer EM", "short answer F1", "answer() p50 / p95", "retrieve() p50"],
        [[*(f"{s[c]:.3f}" for c in cols[:2]), f"{s['c_top5_passages']:.3f}",
          *(f"{s[c]:.3f}" for c in cols[2:]), f"{lat['p50']:.0f} ms / {lat['p95']:.0f} ms",
          f"{ret['p50']:.0f} ms"],
         [*(_verdict(t[c]) for c in cols[:2]), "", *(_verdict(t[c]) for c in cols[2:]),
          f"≤ {goal} ms " + ("met" if lat["p50"] <= goal else "**missed**"), ""]]) + (
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
    noop = d["incremental"]["noop"]
    return _table(["figure", "measured", "target"],
                  [[t["name"], f"{t['value']:.3f} ({t['detail']})", _verdict(t)]
                   for t in d["targets"]]) + (
        f"\nRe-indexing with nothing changed: {noop['seconds'] * 1000:,.1f} ms (no file is "
        f"read, nothing is rewritten, no model loads); {d['build']['passages']:,} passages, "
        f"1-minute load average {d['config']['load_avg_1min']['start']} at the start.\n")


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
    from challenge_qa.encoders.reader import READER_DIR

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

    def serving(sv: dict) -> list[str]:
        recall = sv.get("dense_recall@10")
        return [f"{sv['rank_ms']['p50']:.1f} / {sv['dense_search_ms']['p50']:.1f} / "
                f"{sv['bm25_scores_ms']['p50']:.1f} ms",
                f"{recall:.4f}" if recall is not None else "",
                f"{sv['anon_bytes_per_passage']:,.0f} / {sv['rss_bytes_per_passage']:,.0f} B"]

    for r in d["sizes"]:
        b, u, sv = r["build"], r["update"], r["serve"]
        rows.append([f"{r['passages']:,}", _segments(sv), f"{b['build_s']:,.0f} s",
                     f"{b['peak_rss_mb']:,.0f} MB", f"{u['add_median_s'] * 1000:.0f} ms",
                     f"{u['delete_median_s'] * 1000:.0f} ms", *serving(sv)])
        if "serve_optimized" in r:
            for label, key in (("as built, again", "serve_as_built"),
                               ("optimized", "serve_optimized")):
                first = (f"+{r['optimize']['seconds']:,.0f} s (optimize)",
                         f"{r['optimize']['peak_rss_mb']:,.0f} MB") if label == "optimized" \
                    else ("", "")
                rows.append([f"{r['passages']:,} {label}", _segments(r[key]), *first, "", "",
                             *serving(r[key])])
    table = _table(["passages", "segments (dense index)", "build (excl. encoding)",
                    "build peak RSS", "add 1 article", "delete 1 article",
                    "p50: rank() / dense / BM25", "dense recall@10",
                    "serving memory per passage (private / resident)"], rows)
    targets = _table(["target", "measured", "limit"],
                     [[t["name"], f"{t['value']:.3f} ({t['detail']})", _verdict(t)]
                      for t in d["targets"]])
    return table + "\n" + targets + (
        f"\n{d['queries']} SQuAD questions per index (query vectors precomputed); updates: "
        f"medians of {d['repeats']} `build_index` calls; segment_passages "
        f"{d['settings']['segment_passages']:,}; dense index: "
        f"{d['settings']['dense_index']}; {d['settings'].get('search', '')}; the run took "
        f"{d['runtime_s'] / 60:.0f} min.\n")


def scifact() -> str:
    d = _load("core")
    q = d["quality"]
    return _table(["nDCG@10", "Recall@10", "Recall@100", "MRR@10", "judged test queries"],
                  [[f"{q['ndcg@10']:.4f}", f"{q['recall@10']:.4f}", f"{q['recall@100']:.4f}",
                    f"{q['mrr@10']:.4f}", q["judged_queries"]]])


def encoders() -> str:
    d = _load("encoders")
    rows = []
    for name, r in d["backends"].items():
        label = f"`{name}`" + (" (fp32)" if name == "onnx" else "") + (
            " (default on a CPU)" if name == d["auto_picks"] else "")
        batch = ("1 per run, one run per core" if name == "onnx-int8" and r["batch_size"] == 1
                 else r["batch_size"])
        speed = f"{r['speedup_vs_torch']:.2f}"
        if name == d["fastest_at_equal_quality"] and name != "torch":
            speed = f"**{speed}**"
        rows.append([label, batch, f"{r['build_passages_per_s']:.1f}", speed,
                     f"{r['build_per_encode']:.3f}", f"{r['quality']['ndcg@10']:.4f}",
                     f"{r['quality']['recall@100']:.4f}"])
    return _table(["backend", "batch", "build passages/s", "vs torch",
                   "build / same encoder alone", "SciFact nDCG@10", "Recall@100"], rows)


def load() -> str:
    d = _load("load")
    c, r = d["config"], d["load"]
    lat = r["latency_ms"]
    return _table(["clients", "seconds", "requests", "errors", "wrong answers", "requests/s",
                   "latency p50 / p95", "queue (concurrency / size)", "machine load"],
                  [[c["clients"], f"{c['duration_s']:.0f}", r["requests"], r["errors"],
                    r["wrong"], f"{r['throughput_rps']:.1f}",
                    f"{lat['p50'] / 1000:.1f} / {lat['p95'] / 1000:.1f} s",
                    f"{c['queue']['default_concurrency_limit']} / {c['queue']['max_size']}",
                    f"{c['load_avg_1min']['before']:.0f}-{c['load_avg_1min']['after']:.0f}"]])


def scale_disk() -> str:
    d = _load("scale")
    cols = [(f"{r['passages']:,}", r["disk"]) for r in d["sizes"]]
    big = d["sizes"][-1]
    if "disk_optimized" in big:
        cols.append((f"{big['passages']:,} merged", big["disk_optimized"]))
    kinds = list(dict.fromkeys(k for _, disk in cols for k in disk if k != "total"))
    kinds.append("total")
    return _table(["bytes per passage", *(name for name, _ in cols)],
                  [[k, *(f"{disk[k]['bytes_per_passage']:,.0f}" if k in disk else ""
                         for _, disk in cols)] for k in kinds])


def scale_segments() -> str:
    d = _load("scale")
    big = d["sizes"][-1]
    rows = []
    for label, key in (("as built", "serve_as_built"), ("merged", "serve_optimized")):
        for x in big.get(key, {}).get("segment_dense_search", []):
            rows.append([label, f"{x['passages']:,}", x["type"],
                         x["efSearch"] if x.get("efSearch") else "exact",
                         f"{x['p50_ms']:.2f} ms"])
    return _table(["index at " + f"{big['passages']:,}", "segment passages", "dense index",
                   "efSearch", "search p50 (alone)"], rows)


def lexical_engines() -> str:
    d = _load("lexical_engines")
    rows = []
    for name, e in d["engines"].items():
        other = e["top10_overlap_vs_project_k1_1.2_b_0.75"]
        rows.append([name, f"{e['same_tokens_as_project']:.3f}",
                     f"{e['top10_overlap_vs_project']:.3f}",
                     f"{other:.3f}" if other is not None else "", f"{e['ndcg@10']:.4f}",
                     f"{e['query_ms']['p50']:.2f} ms"])
    out = _table(["engine", "same tokens as the project", "top-10 overlap with the project "
                  "(k1 0.9, b 0.4)", "with the project at k1 1.2, b 0.75", "nDCG@10 (BM25 alone)",
                  "query p50"], rows)
    diff = d["tantivy_score_rel_diff_top10"]
    out += (f"\n{d['passages']:,} SciFact passages, {d['queries']} judged test queries; "
            f"{d['tantivy_version']}. Fed the same tokens, tantivy's top-10 scores differ from "
            f"the project's at k1 1.2, b 0.75 by {diff['p50'] * 100:.1f} % at the median "
            f"({diff['max'] * 100:.1f} % at most). Over {d['segments_multi']} segments the "
            f"project's scores differ from one segment's by at most "
            f"{d['segment_score_max_diff']:g}.")
    dl = d.get("tantivy_deletion")
    if dl:
        out += (f" After {dl['deleted']:,} of the {dl['df_before']:,} passages holding "
                f"\"{dl['term']}\" were deleted, tantivy still counted a document frequency of "
                f"{dl['df_after_delete']:,} (the live passages: {dl['live_df']:,}) until a merge.")
    out += "\n"
    sc = d.get("at_scale")
    if sc:
        out += ("\n" + _table(
            [f"at {sc['passages']:,} passages", "query p50 / p95", "index size", "indexing"],
            [[f"the project ({sc['segments']} segments)",
              f"{sc['project_bm25_ms']['p50']:.1f} / {sc['project_bm25_ms']['p95']:.1f} ms",
              f"{sc['project_postings_mb']:,.0f} MB (postings)",
              f"{sc['project_build_s']:,.0f} s (the whole build, stand-in vectors)"],
             [f"tantivy ({sc['tantivy_segments']} segments)",
              f"{sc['tantivy_ms']['p50']:.1f} / {sc['tantivy_ms']['p95']:.1f} ms",
              f"{sc['tantivy_mb']:,.0f} MB", f"{sc['tantivy_index_s']:,.0f} s (after "
              f"{sc['tokenize_s']:,.0f} s of tokenizing)"]])
            + f"\nTop-10 overlap at k1 1.2, b 0.75 over {sc['queries']} SQuAD questions: "
              f"{sc['top10_overlap_at_k1_1.2_b_0.75']:.3f}.\n")
    return out


def feeds() -> str:
    d = _load("feeds")
    rows = [[f"{z['passages']:,}", f"{z['articles']:,}", f"{z['poll_build_median_s']:.2f} s",
             f"{z['fetch_save_median_s']:.2f} s", f"{z['build_median_s']:.2f} s",
             f"{z['per_article_ms']:.1f} ms", f"{z['idle_poll_median_s']:.2f} s"]
            for z in d["sizes"]]
    t = d["targets"][0]
    return _table(["index passages", "articles", "poll + build", "fetch + save", "build",
                   "per new article", "poll, nothing new"], rows) + (
        f"\nA feed of {d['items']} new items on 127.0.0.1, medians of {d['repeats']}; "
        f"{t['name']}: ratio {t['value']:.2f}, target {t['target']} "
        f"{'met' if t['passed'] else '**missed**'}.\n")


def _month(day: str | None) -> str:
    return day[:7] if day else "undated"


def shards() -> str:
    if not (RESULTS_DIR / "shards.json").is_file():
        return ("Not measured yet: `python -m benchmarks --only shards`, then "
                "`python -m benchmarks.report`.\n")
    d = _load("shards")
    rows = []
    for r in d["rows"]:
        if r["shards"]:
            mems = [x["memory_mb"] for x in r["per_shard"]]
            where = ", ".join(f"{x['passages']:,} ({_month(x['first'])} to {_month(x['last'])})"
                              for x in r["per_shard"])
            each = (f"{sum(m['rss'] for m in mems) / len(mems):,.0f} / "
                    f"{sum(m['private'] for m in mems) / len(mems):,.0f} MB")
            own = f"{sum(m['own_private'] for m in mems):,.0f} MB"
        else:
            m = r.get("memory_mb")
            where = f"{d['made']['passages']:,} ({r['segments']} segments)"
            each = f"{m['after']['rss']:,.0f} / {m['after']['private']:,.0f} MB" if m else ""
            own = f"{m['private']:,.0f} MB" if m else ""
        same = "(the reference)" if r is d["rows"][0] else \
            f"{d['queries'] - r['mismatches']} of {d['queries']}"
        rows.append([r["label"], where, f"{r['ms']['p50']:.1f} / {r['ms']['p90']:.1f} ms",
                     f"{r['p50_ratio']:.2f}", f"{r['throughput_qps']:.0f}",
                     f"{r['throughput_ratio']:.2f}", each, own, same])
    empty = d["empty_replica"]["memory_mb"]
    st = d["settings"]
    return _table(["served by", "passages (per shard)", "p50 / p90", "p50 / one process",
                   f"questions/s, {d['clients']} clients", "/ one process",
                   "memory of a process: resident / private (shards: mean)",
                   "index's own private memory (all processes)",
                   "rankings equal to one process"], rows) + (
        f"\n{d['made']['passages']:,} passages in {d['made']['segments']} segments "
        f"({', '.join(d['rows'][0].get('dense_indexes', []))}; stand-in vectors), published "
        f"over {d['made']['files']} months; {d['queries']} "
        f"SQuAD questions through `rank()` (top {d['depth']}, query vectors precomputed), one "
        f"at a time for p50 / p90, {d['clients']} threads side by side for questions/s. "
        f"Shards: a local Ray cluster on the same {d['cpus_usable']}-core machine, one Serve "
        f"replica per shard reserving {st['shard_cpus']} CPU; a replica without segments "
        f"holds {empty['rss']:,.0f} MB resident, {empty['private']:,.0f} MB private, and a "
        f"shard's own memory is its replica's private memory less that. The run took "
        f"{d['runtime_s'] / 60:.0f} min.\n")


TABLES: dict[str, Callable[[], str]] = {
    "squad": squad, "reader": reader, "answerability": answerability, "core": core,
    "latency": latency, "scale": scale, "scifact": scifact, "encoders": encoders,
    "load": load, "scale_disk": scale_disk, "scale_segments": scale_segments,
    "lexical_engines": lexical_engines, "feeds": feeds, "shards": shards}


def render(text: str) -> str:
    """``text`` with every figures block regenerated."""
    def repl(m: re.Match) -> str:
        name = m.group("name")
        if name not in TABLES:
            raise KeyError(f"a document names an unknown figures block {name!r}")
        return m.group(1) + TABLES[name]() + m.group(4)
    return BLOCK.sub(repl, text)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.report", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--check", action="store_true",
                   help="exit 1 when a document differs from the results")
    args = p.parse_args(argv)
    differ = []
    for doc in DOCUMENTS:
        text = doc.read_text(encoding="utf-8")
        new = render(text)
        found = ", ".join(sorted({m.group("name") for m in BLOCK.finditer(text)}))
        name = doc.relative_to(PROJECT_ROOT)
        if args.check:
            if new != text:
                differ.append(str(name))
            else:
                print(f"{name} figures match benchmarks/results ({found})")
        elif new != text:
            doc.write_text(new, encoding="utf-8")
            print(f"{name} figures regenerated ({found})")
        else:
            print(f"{name} figures already match ({found})")
    if differ:
        print(f"{', '.join(differ)}: figures differ from benchmarks/results: run "
              "`python -m benchmarks.report`", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
