"""The dense index is chosen by size: exact search when small, HNSW-SQ8 when large."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import SMALL

from challenge_qa import build_index, load_index
from challenge_qa.config import Settings
from challenge_qa.errors import InvalidArgumentError
from challenge_qa.store.writer import make_dense_index


def unit_vectors(n: int, dim: int = 48, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_auto_is_exact_below_the_threshold_and_hnsw_from_it():
    x = unit_vectors(300)
    small, p_small = make_dense_index(x, Settings(ann_min_passages=301))
    large, p_large = make_dense_index(x, Settings(ann_min_passages=300))
    assert p_small["type"] == "IndexFlatIP" and small.ntotal == 300
    assert p_large["type"] == "IndexHNSWSQ" and large.ntotal == 300
    assert p_large["efSearch"] == Settings().hnsw_ef_search


def test_hnsw_candidates_match_brute_force_on_clear_neighbours():
    x = unit_vectors(2000, seed=1)
    queries = x[:50] + 0.01 * unit_vectors(50, seed=2)
    index, _ = make_dense_index(x, Settings(dense_index="hnsw"))
    _, ids = index.search(np.ascontiguousarray(queries, dtype=np.float32), 10)
    exact = np.argsort(-(queries @ x.T), axis=1)[:, :10]
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(ids, exact, strict=True)])
    assert recall >= 0.9
    assert (ids[:, 0] == np.arange(50)).all()


def test_unknown_dense_index_is_refused():
    with pytest.raises(InvalidArgumentError, match="dense_index"):
        Settings(dense_index="annoy")


@pytest.mark.slow
def test_an_hnsw_index_builds_loads_and_retrieves_like_exact(small_corpus, tmp_path):
    from challenge_qa import retrieve

    hnsw = SMALL.replace(dense_index="hnsw", index_dir=tmp_path / "hnsw")
    flat = SMALL.replace(dense_index="flat", index_dir=tmp_path / "flat")
    build_index(small_corpus, hnsw.index_dir, settings=hnsw)
    build_index(small_corpus, flat.index_dir, settings=flat)
    a, b = load_index(hnsw.index_dir, settings=hnsw), load_index(flat.index_dir, settings=flat)
    assert a.segments and b.segments
    assert {seg.entry["faiss"]["type"] for seg in a.segments} == {"IndexHNSWSQ"}
    assert {seg.entry["faiss"]["type"] for seg in b.segments} == {"IndexFlatIP"}
    assert [e["faiss"] for e in a.manifest["segments"]] == [
        seg.entry["faiss"] for seg in a.segments]
    for q in ("Who directed the film?", "When did the probe land?"):
        ra = [(h.passage_id, h.score) for h in retrieve(q, k=3, index=a)]
        rb = [(h.passage_id, h.score) for h in retrieve(q, k=3, index=b)]
        assert ra == rb


@pytest.mark.slow
def test_search_over_segments_with_deletions_equals_brute_force(small_corpus, tmp_path):
    """Several segments, one article deleted: the dense candidates are exactly the best
    live rows by an exhaustive NumPy search, and no deleted row is proposed."""
    s = SMALL.replace(dense_index="flat", auto_merge=False)
    index_dir = tmp_path / "index"
    held_back = {name: (small_corpus / name).read_bytes() for name in ("volcano.md",
                                                                        "chess.txt")}
    for name in held_back:
        (small_corpus / name).unlink()
    build_index(small_corpus, index_dir, settings=s)
    for name, content in held_back.items():  # a second segment
        (small_corpus / name).write_bytes(content)
    build_index(small_corpus, index_dir, settings=s)
    lines = (small_corpus / "extra.jsonl").read_text(encoding="utf-8").splitlines()
    (small_corpus / "extra.jsonl").write_text(lines[0] + "\n", encoding="utf-8")  # no marathon
    build_index(small_corpus, index_dir, settings=s)
    idx = load_index(index_dir, settings=s)
    assert len(idx.segments) > 1 and idx.rows_total > idx.size
    live = idx.live_rows()
    assert len(live) == idx.size
    ids = idx.doc_ids()
    assert "marathon" not in {ids[d] for d in idx.spans(live)[:, 0].tolist()}
    emb = idx.vectors(live)
    queries = np.vstack([idx.embedder.encode_queries(["What was the winning time?",
                                                      "Where did the ash fall?"]),
                         unit_vectors(3, dim=emb.shape[1], seed=5)])
    for k in (1, 3, 7, idx.size):
        got = idx.search_dense(queries, k)
        for q, rows in zip(queries, got, strict=True):
            expected = live[np.argsort(-(emb @ q), kind="stable")[:k]]
            np.testing.assert_array_equal(rows, expected)


def test_search_settings_are_validated():
    with pytest.raises(InvalidArgumentError, match="search_threads"):
        Settings(search_threads=-1)
    with pytest.raises(InvalidArgumentError, match="hnsw_ef_search"):
        Settings(hnsw_ef_search=0)


@pytest.mark.slow
def test_hnsw_segments_searched_side_by_side_give_what_one_thread_gives(small_corpus,
                                                                         tmp_path):
    """Several HNSW segments, with and without a filter, a single query and a batch: the
    search threads change nothing; and each segment's candidates are the live rows its
    dense index proposes (HNSW over a few passages is exact)."""
    from challenge_qa.search.index import Filters

    s = SMALL.replace(dense_index="hnsw", auto_merge=False, index_dir=tmp_path / "index")
    held_back = {name: (small_corpus / name).read_bytes() for name in ("volcano.md",
                                                                        "chess.txt")}
    for name in held_back:
        (small_corpus / name).unlink()
    build_index(small_corpus, s.index_dir, settings=s)
    for name, content in held_back.items():
        (small_corpus / name).write_bytes(content)
    build_index(small_corpus, s.index_dir, settings=s)
    one = load_index(s.index_dir, settings=s.replace(search_threads=1))
    many = load_index(s.index_dir, settings=s.replace(search_threads=3))
    assert len(one.segments) == 2
    assert {seg.entry["faiss"]["type"] for seg in one.segments} == {"IndexHNSWSQ"}
    queries = one.embedder.encode_queries(["Who won the chess match?", "Where did ash fall?",
                                           "What did the probe find?"])
    live = one.live_rows()
    emb = one.vectors(live)
    for filters in (None, Filters.make(since="2000-01-01")):
        for batch in (queries[:1], queries):
            got = one.search_dense(batch, 5, filters)
            assert all(len(rows) for rows in got)
            for a, b in zip(got, many.search_dense(batch, 5, filters), strict=True):
                np.testing.assert_array_equal(a, b)
            if filters is None:  # a handful of passages per graph: HNSW finds them all
                for q, rows in zip(batch, got, strict=True):
                    top = live[np.argsort(-(emb @ q), kind="stable")[:5]]
                    assert set(rows.tolist()) == set(top.tolist())


@pytest.mark.slow
def test_changing_the_ann_threshold_keeps_the_index(small_corpus, tmp_path):
    """``ann_min_passages`` decides the dense index of segments written from then on: the
    existing ones stay as they are, nothing is embedded again."""
    s = SMALL.replace(index_dir=tmp_path / "index", auto_merge=False)
    build_index(small_corpus, s.index_dir, settings=s)
    (small_corpus / "new.md").write_text("# Tides\n\nThe tide rose four metres at noon. "
                                         "Boats waited in the harbour until evening.\n",
                                         encoding="utf-8")
    low = s.replace(ann_min_passages=1)
    report = build_index(small_corpus, s.index_dir, settings=low)
    assert not report.full and report.added == 1 and report.unchanged > 0
    idx = load_index(s.index_dir, settings=low)
    assert [seg.entry["faiss"]["type"] for seg in idx.segments] == ["IndexFlatIP",
                                                                     "IndexHNSWSQ"]


_FORKED: dict = {}


@pytest.mark.slow
def test_a_forked_process_searches_with_its_own_threads(small_index_ro):
    """A process forked after searching (a worker pool, a server's workers) gets no live
    threads from its parent; its searches must not wait for them."""
    import multiprocessing

    idx = load_index(small_index_ro[0], settings=SMALL)
    q = idx.embedder.encode_queries(["Who won the chess match?"])
    before = idx.search_dense(q, 5)[0].tolist()  # the parent's search threads exist now
    _FORKED.update(index=idx, q=q)  # the child inherits them; an Index does not pickle
    try:
        ctx = multiprocessing.get_context("fork")
        with ctx.Pool(1) as pool:
            got = pool.apply_async(_search_in_child).get(timeout=60)
    finally:
        _FORKED.clear()
    assert got == before


def _search_in_child() -> list[int]:
    return _FORKED["index"].search_dense(_FORKED["q"], 5)[0].tolist()
