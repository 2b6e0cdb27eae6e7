"""Lexical engines: the index's own BM25 (raw per-segment postings, global statistics)
against tantivy, on SciFact passages.

The same 10,465 SciFact passages (title + passage text, as the index builds them) are
indexed by the project (``build_index`` with the stand-in encoder of ``scale``: only BM25
is compared) and by tantivy (``pip install tantivy``; not a dependency of the project), in
two ways:

* ``tantivy (own analysis)``: tantivy's tokenizer, lower-casing, ASCII folding, the same
  English stop words as bm25s, and tantivy's English (Snowball) stemmer;
* ``tantivy (project tokens)``: the project's tokens, pre-tokenized (whitespace), so that
  only the scoring differs: tantivy's fixed k1 = 1.2, b = 0.75 and its one-byte field
  norms against the project's exact lengths.

For the 300 judged SciFact test queries: top-10 passage overlap with the project's BM25
(at its tuned k1 = 0.9, b = 0.4, and at tantivy's 1.2 / 0.75), score differences,
document-level nDCG@10 (best passage per article), and per-query latency (the project:
BM25 scores of every passage plus the top 100; tantivy: a top-100 search). Also: the
project's scores of an index split into about ten segments against one segment, and what a
deletion does to tantivy's document frequencies before a merge.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from challenge_qa.eval.data import SCIFACT_DIR, SCIFACT_FILES, squad_path
from challenge_qa.eval.metrics import ndcg_at_10

from .common import (
    Context,
    Target,
    print_table,
    print_targets,
    section,
    summary,
    write_results,
)

K1_TANTIVY, B_TANTIVY = 1.2, 0.75
DEPTH = 100
SCALE_PASSAGES = 1_000_000


def _project_index(corpus: Path, index_dir: Path, segment_passages: int):
    from challenge_qa import build_index, load_index
    from challenge_qa.config import Settings

    from .scale import stand_in_encoder

    s = Settings(show_progress=False, segment_passages=segment_passages, auto_merge=False)
    with stand_in_encoder():
        build_index(corpus, index_dir, settings=s)
    return load_index(index_dir, settings=s)


def _top(scores: np.ndarray, k: int) -> np.ndarray:
    """Rows of the ``k`` best positive scores, best first, ties by row."""
    hit = np.flatnonzero(scores > 0)
    order = np.lexsort((hit, -scores[hit]))
    return hit[order[:k]]


def _tantivy_index(folder: Path, docs: list[str], analyzer, name: str):
    import tantivy

    sb = tantivy.SchemaBuilder()
    sb.add_integer_field("row", stored=True, indexed=True, fast=True)
    sb.add_text_field("body", tokenizer_name=name, index_option="freq")
    schema = sb.build()
    folder.mkdir(parents=True)
    index = tantivy.Index(schema, path=str(folder))
    index.register_tokenizer(name, analyzer)
    t0 = time.perf_counter()
    writer = index.writer(heap_size=200_000_000, num_threads=1)
    for row, text in enumerate(docs):
        doc = tantivy.Document()
        doc.add_integer("row", row)
        doc.add_text("body", text)
        writer.add_document(doc)
    writer.commit()
    writer.wait_merging_threads()
    build_s = time.perf_counter() - t0
    index.reload()
    size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    return index, schema, build_s, size


def _tantivy_search(index, schema, terms_per_query: list[list[str]], k: int
                    ) -> tuple[list[np.ndarray], list[np.ndarray], list[float]]:
    import tantivy

    searcher = index.searcher()
    rows, scores, lat = [], [], []
    for terms in terms_per_query:
        if not terms:
            rows.append(np.zeros(0, np.int64))
            scores.append(np.zeros(0))
            lat.append(0.0)
            continue
        t0 = time.perf_counter()
        q = tantivy.Query.boolean_query(
            [(tantivy.Occur.Should, tantivy.Query.term_query(schema, "body", t)) for t in terms])
        hits = searcher.search(q, k).hits
        lat.append(time.perf_counter() - t0)
        rows.append(np.array([searcher.doc(a)["row"][0] for _, a in hits], dtype=np.int64))
        scores.append(np.array([s for s, _ in hits], dtype=np.float64))
    return rows, scores, lat


def _overlap(a: list[np.ndarray], b: list[np.ndarray], k: int = 10) -> float:
    vals = [len(set(x[:k].tolist()) & set(y[:k].tolist())) / k
            for x, y in zip(a, b, strict=True) if len(x) or len(y)]
    return float(np.mean(vals))


def _ndcg(rankings: list[np.ndarray], doc_of_row: list[str], qids: list[str],
          qrels: dict[str, dict[str, int]]) -> float:
    run: dict[str, dict[str, float]] = {}
    for qid, rows in zip(qids, rankings, strict=True):
        docs: dict[str, float] = {}
        for r in rows.tolist():  # best passage per article, in rank order
            docs.setdefault(doc_of_row[r], float(len(rows) - len(docs)))
        run[qid] = docs or {"__none__": 0.0}
    return ndcg_at_10({q: qrels[q] for q in qids}, run)


def at_scale(ctx: Context, tmp: Path, n: int, n_queries: int = 200) -> dict[str, Any]:
    """The project's BM25 and tantivy (on the project's tokens) over ``n`` passages of
    the ``scale`` benchmark's corpus (SQuAD sentences recombined into articles): query
    latency for SQuAD questions, top-10 overlap at equal k1 and b, and size on disk."""
    import random

    import tantivy

    from challenge_qa import build_index, load_index
    from challenge_qa.config import Settings
    from challenge_qa.search.candidates import top_rows
    from challenge_qa.search.index import Lexical
    from challenge_qa.search.retrieve import clean_question
    from challenge_qa.text.chunking import passage_context
    from challenge_qa.text.lexical import tokenize

    from .scale import DAY_ARTICLES, squad_sentences, stand_in_encoder, write_corpus

    titles, pools, questions = squad_sentences(squad_path(ctx.data))
    write_corpus(tmp / "corpus", n, DAY_ARTICLES, titles, pools)
    # exact dense indexes: only BM25 is compared, and HNSW would take most of the build
    s = Settings(show_progress=False, dense_index="flat", segment_passages=100_000,
                 auto_merge=False)
    t0 = time.perf_counter()
    with stand_in_encoder():
        build_index(tmp / "corpus", tmp / "index", settings=s)
    project_build_s = time.perf_counter() - t0
    index = load_index(tmp / "index", settings=s)
    project_bytes = sum((seg.folder / f).stat().st_size for seg in index.segments for f in (
        "postings_ptr.npy", "postings_doc.npy", "postings_tf.npy", "lengths.npy",
        "terms.json"))
    ws = tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.whitespace()).build()
    sb = tantivy.SchemaBuilder()
    sb.add_integer_field("row", stored=True, indexed=True, fast=True)
    sb.add_text_field("body", tokenizer_name="ws", index_option="freq")
    schema = sb.build()
    (tmp / "tantivy").mkdir()
    t_idx = tantivy.Index(schema, path=str(tmp / "tantivy"))
    t_idx.register_tokenizer("ws", ws)
    tokenize_s = add_s = 0.0
    writer = t_idx.writer(heap_size=400_000_000, num_threads=2)
    rows = index.live_rows()
    for a in range(0, len(rows), 5000):
        part = rows[a:a + 5000].tolist()
        t0 = time.perf_counter()
        toks = tokenize([passage_context(r["title"], r["text"], s.title_context)
                         for r in index.rows(part)])
        tokenize_s += time.perf_counter() - t0
        t0 = time.perf_counter()
        for row, ts in zip(part, toks, strict=True):
            doc = tantivy.Document()
            doc.add_integer("row", row)
            doc.add_text("body", " ".join(ts))
            writer.add_document(doc)
        add_s += time.perf_counter() - t0
    t0 = time.perf_counter()
    writer.commit()
    writer.wait_merging_threads()
    add_s += time.perf_counter() - t0
    t_idx.reload()
    searcher = t_idx.searcher()
    t_bytes = sum(p.stat().st_size for p in (tmp / "tantivy").rglob("*") if p.is_file())
    qs = [clean_question(q, s.max_question_chars)
          for q in random.Random(ctx.seed).sample(questions, n_queries)]
    terms = [index.lexical.query_terms(q) for q in qs]
    lex12 = Lexical(index.segments, index.offsets, K1_TANTIVY, B_TANTIVY)
    p_lat, t_lat, overlap = [], [], []
    for t in terms:
        if not t:
            continue
        t0 = time.perf_counter()
        top_rows(index.lexical.scores(t), DEPTH)
        p_lat.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        q = tantivy.Query.boolean_query(
            [(tantivy.Occur.Should, tantivy.Query.term_query(schema, "body", x)) for x in t])
        hits = searcher.search(q, DEPTH).hits
        t_lat.append(time.perf_counter() - t0)
        got = {searcher.doc(h)["row"][0] for _, h in hits[:10]}
        overlap.append(len(got & set(_top(lex12.scores(t), 10).tolist())) / 10)
    out = {"passages": index.size, "segments": len(index.segments),
           "project_bm25_ms": summary(p_lat, scale=1000, digits=3),
           "tantivy_ms": summary(t_lat, scale=1000, digits=3),
           "top10_overlap_at_k1_1.2_b_0.75": round(float(np.mean(overlap)), 4),
           "project_postings_mb": round(project_bytes / 2**20, 1),
           "tantivy_mb": round(t_bytes / 2**20, 1),
           "project_build_s": round(project_build_s, 1),
           "tokenize_s": round(tokenize_s, 1), "tantivy_index_s": round(add_s, 1),
           "tantivy_segments": searcher.num_segments, "queries": len(p_lat)}
    index.close()
    return out


def run(ctx: Context) -> dict[str, Any]:
    try:
        import tantivy
    except ImportError:
        print("lexical_engines: tantivy is not installed (pip install tantivy); skipped")
        return {"passed": True, "skipped": "tantivy not installed"}
    from bm25s.stopwords import STOPWORDS_EN

    from challenge_qa.eval.beir import load_qrels, load_queries
    from challenge_qa.search.candidates import top_rows
    from challenge_qa.search.index import Lexical
    from challenge_qa.search.retrieve import clean_question
    from challenge_qa.text.chunking import passage_context
    from challenge_qa.text.lexical import tokenize

    folder = ctx.dataset(SCIFACT_DIR, SCIFACT_FILES)
    qrels = load_qrels(folder / "qrels" / "test.tsv")
    texts = load_queries(folder / "queries.jsonl")
    qids = [q for q in qrels if q in texts]
    if ctx.limit:
        qids = qids[:ctx.limit]
    section(f"lexical engines: SciFact passages, {len(qids)} test queries")
    with tempfile.TemporaryDirectory(prefix="challenge_qa_lex_") as tmp_name:
        tmp = Path(tmp_name)
        t0 = time.perf_counter()
        index = _project_index(folder / "corpus.jsonl", tmp / "one", 1_000_000)
        project_build_s = time.perf_counter() - t0
        rows = index.live_rows()
        recs = index.rows(rows.tolist())
        contexts = [passage_context(r["title"], r["text"], index.settings.title_context)
                    for r in recs]
        doc_of_row = [r["doc_id"] for r in recs]
        n = len(contexts)
        seg = index.segments[0]
        project_bytes = sum((seg.folder / f).stat().st_size for f in (
            "postings_ptr.npy", "postings_doc.npy", "postings_tf.npy", "lengths.npy",
            "terms.json"))
        questions = [clean_question(texts[q], index.settings.max_question_chars) for q in qids]
        terms = [index.lexical.query_terms(q) for q in questions]

        # the project's BM25, tuned and at tantivy's parameters
        lex = index.lexical
        lex12 = Lexical(index.segments, index.offsets, K1_TANTIVY, B_TANTIVY)
        p_rows, p12_rows, p12_scores, p_lat = [], [], [], []
        for t in terms:
            t0 = time.perf_counter()
            sc = lex.scores(t)
            top_rows(sc, DEPTH)
            p_lat.append(time.perf_counter() - t0)
            p_rows.append(_top(sc, DEPTH))
            sc12 = lex12.scores(t)
            p12_rows.append(_top(sc12, DEPTH))
            p12_scores.append(sc12)

        # the same passages in ten segments: global statistics make the scores identical
        multi = _project_index(folder / "corpus.jsonl", tmp / "multi", max(1, n // 10))
        assert multi.size == n
        m_rows = multi.live_rows()
        m_ids = [r["passage_id"] for r in multi.rows(m_rows.tolist())]
        pos = {pid: i for i, pid in enumerate(m_ids)}
        perm = np.array([pos[r["passage_id"]] for r in recs])
        seg_diff = 0.0
        for t in terms[:100]:
            a = lex.scores(t)[rows]
            b = multi.lexical.scores(t)[m_rows][perm]
            seg_diff = max(seg_diff, float(np.abs(a - b).max()))
        segments_multi = len(multi.segments)
        multi.close()

        # tantivy on the project's tokens: only the scoring differs
        toks = tokenize(contexts)
        ws = tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.whitespace()).build()
        t_idx, t_schema, t_build_tok, t_size_tok = _tantivy_index(
            tmp / "tantivy-tokens", [" ".join(x) for x in toks], ws, "ws")
        tt_rows, tt_scores, tt_lat = _tantivy_search(t_idx, t_schema, terms, DEPTH)
        # tantivy's own analysis: its simple tokenizer, and a regex one like bm25s's
        from challenge_qa.text.lexical import Tokenizer

        skip = Tokenizer().question_stems
        own: dict[str, Any] = {}
        for label, tokenizer in (("regex", tantivy.Tokenizer.regex(r"(?u)\b\w\w+\b")),
                                 ("simple", tantivy.Tokenizer.simple())):
            an = (tantivy.TextAnalyzerBuilder(tokenizer)
                  .filter(tantivy.Filter.remove_long(40))
                  .filter(tantivy.Filter.lowercase())
                  .filter(tantivy.Filter.ascii_fold())
                  .filter(tantivy.Filter.custom_stopword(sorted(STOPWORDS_EN)))
                  .filter(tantivy.Filter.stemmer("english"))
                  .build())
            o_idx, o_schema, o_build, o_size = _tantivy_index(tmp / f"tantivy-{label}",
                                                              contexts, an, label)
            o_terms = [[t for t in an.analyze(q) if t not in skip] for q in questions]
            o_rows, _, o_lat = _tantivy_search(o_idx, o_schema, o_terms, DEPTH)
            same = float(np.mean([tuple(x) == tuple(an.analyze(c))
                                  for x, c in zip(toks, contexts, strict=True)]))
            own[label] = {"rows": o_rows, "lat": o_lat, "build_s": o_build, "size": o_size,
                          "same_tokens": same}
            del o_idx

        # scores: tantivy = (1 + k1) x the project's at the same k1, b, up to field norms
        rel = []
        for r, s, sc12 in zip(tt_rows, tt_scores, p12_scores, strict=True):
            if len(r):
                expect = (1 + K1_TANTIVY) * sc12[r[:10]]
                rel.extend((np.abs(s[:10] - expect) / expect).tolist())

        # deletions: tantivy keeps counting deleted documents until segments merge
        term = max(terms[0], key=lambda t: lex.df(t)) if terms[0] else "cell"
        searcher = t_idx.searcher()
        df_before = searcher.doc_freq("body", term)
        writer = t_idx.writer(heap_size=50_000_000, num_threads=1)
        gone = [int(r) for r in np.flatnonzero([term in x for x in toks])[::2]]
        for r in gone:
            writer.delete_documents_by_term("row", r)
        writer.commit()
        t_idx.reload()
        searcher = t_idx.searcher()
        deletion = {"term": term, "df_before": df_before, "deleted": len(gone),
                    "df_after_delete": searcher.doc_freq("body", term),
                    "num_docs_after_delete": searcher.num_docs,
                    "live_df": df_before - len(gone)}
        writer.wait_merging_threads()
        index.close()
        shutil.rmtree(tmp, ignore_errors=True)

    ndcg = {
        "project (k1 0.9, b 0.4)": _ndcg(p_rows, doc_of_row, qids, qrels),
        "project (k1 1.2, b 0.75)": _ndcg(p12_rows, doc_of_row, qids, qrels),
        "tantivy (project tokens)": _ndcg(tt_rows, doc_of_row, qids, qrels),
        "tantivy (regex tokenizer)": _ndcg(own["regex"]["rows"], doc_of_row, qids, qrels),
        "tantivy (simple tokenizer)": _ndcg(own["simple"]["rows"], doc_of_row, qids, qrels),
    }
    engines = {
        "project (k1 0.9, b 0.4)": {"overlap@10": 1.0, "lat": p_lat,
                                    "index_mb": project_bytes / 2**20,
                                    "build_s": project_build_s},
        "project (k1 1.2, b 0.75)": {"overlap@10": _overlap(p12_rows, p_rows), "lat": p_lat,
                                     "index_mb": project_bytes / 2**20, "build_s": None},
        "tantivy (project tokens)": {"overlap@10": _overlap(tt_rows, p_rows),
                                     "overlap@10 vs 1.2/0.75": _overlap(tt_rows, p12_rows),
                                     "lat": tt_lat, "index_mb": t_size_tok / 2**20,
                                     "build_s": t_build_tok},
        **{f"tantivy ({label} tokenizer)": {
            "overlap@10": _overlap(o["rows"], p_rows),
            "overlap@10 vs 1.2/0.75": _overlap(o["rows"], p12_rows),
            "lat": o["lat"], "index_mb": o["size"] / 2**20, "build_s": o["build_s"],
            "same_tokens": o["same_tokens"]} for label, o in own.items()},
    }
    out_engines = {}
    for name, e in engines.items():
        out_engines[name] = {
            "top10_overlap_vs_project": round(e["overlap@10"], 4),
            "top10_overlap_vs_project_k1_1.2_b_0.75": round(e.get("overlap@10 vs 1.2/0.75",
                                                                  float("nan")), 4)
            if "overlap@10 vs 1.2/0.75" in e else None,
            "ndcg@10": round(ndcg[name], 4),
            "query_ms": summary(e["lat"], scale=1000, digits=3),
            "index_mb": round(e["index_mb"], 2),
            "build_s": round(e["build_s"], 2) if e["build_s"] is not None else None,
            "same_tokens_as_project": round(e.get("same_tokens", 1.0), 4)}
    print_table(["engine", "same tokens", "top-10 overlap vs project",
                 "vs project at 1.2/0.75", "nDCG@10", "query p50 ms", "index MB", "build s"],
                [[k, v["same_tokens_as_project"], v["top10_overlap_vs_project"],
                  v["top10_overlap_vs_project_k1_1.2_b_0.75"] or "",
                  v["ndcg@10"], v["query_ms"]["p50"], v["index_mb"], v["build_s"] or ""]
                 for k, v in out_engines.items()])
    score_diff = summary(rel, digits=5)
    print(f"  tantivy (project tokens) scores vs (1 + k1) x the project's at k1 1.2, b 0.75, "
          f"top 10: relative difference p50 {score_diff['p50']}, max {score_diff['max']}")
    for label, o in own.items():
        print(f"  tantivy's analysis with its {label} tokenizer gives the project's tokens "
              f"for {o['same_tokens']:.1%} of the passages")
    print(f"  project BM25, {segments_multi} segments vs 1: largest score difference "
          f"{seg_diff:.2e}")
    print(f"  tantivy after deleting {deletion['deleted']} of the {deletion['df_before']} "
          f"passages holding {term!r}: doc_freq {deletion['df_after_delete']} (live "
          f"{deletion['live_df']}) until a merge")
    scale = None
    if not ctx.quick:
        section(f"lexical engines at {SCALE_PASSAGES:,} passages (scale benchmark's corpus)")
        with tempfile.TemporaryDirectory(prefix="challenge_qa_lex_scale_") as tmp_name:
            scale = at_scale(ctx, Path(tmp_name), SCALE_PASSAGES)
        print_table(["engine", "query p50 ms", "p95 ms", "postings MB", "index time s"],
                    [["project BM25", scale["project_bm25_ms"]["p50"],
                      scale["project_bm25_ms"]["p95"], scale["project_postings_mb"],
                      f"{scale['tokenize_s']} (tokenize)"],
                     ["tantivy (project tokens)", scale["tantivy_ms"]["p50"],
                      scale["tantivy_ms"]["p95"], scale["tantivy_mb"],
                      scale["tantivy_index_s"]]])
        print(f"  top-10 overlap at k1 1.2, b 0.75: {scale['top10_overlap_at_k1_1.2_b_0.75']}")
    targets = [Target(f"BM25 score difference, {segments_multi} segments vs 1", seg_diff, 1e-4,
                      "global statistics at query time")]
    section("lexical engines targets")
    print_targets(targets)
    payload = {"passages": n, "queries": len(qids), "engines": out_engines,
               "tantivy_version": getattr(tantivy, "__version__", None),
               "tantivy_score_rel_diff_top10": score_diff,
               "segments_multi": segments_multi, "segment_score_max_diff": seg_diff,
               "tantivy_deletion": deletion, "at_scale": scale,
               "targets": [t.as_dict() for t in targets],
               "passed": all(t.passed for t in targets)}
    write_results(ctx, "lexical_engines", payload)
    return payload
