"""The dense index is chosen by size: exact search when small, HNSW-SQ8 when large."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import SMALL

from challenge_qa.config import Settings
from challenge_qa.errors import InvalidArgumentError
from challenge_qa.store import build_index, load_index, make_dense_index


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
    from challenge_qa.retrieval import retrieve

    hnsw = SMALL.replace(dense_index="hnsw", index_dir=tmp_path / "hnsw")
    flat = SMALL.replace(dense_index="flat", index_dir=tmp_path / "flat")
    build_index(small_corpus, hnsw.index_dir, settings=hnsw)
    build_index(small_corpus, flat.index_dir, settings=flat)
    a, b = load_index(hnsw.index_dir, settings=hnsw), load_index(flat.index_dir, settings=flat)
    assert a.manifest["faiss"]["type"] == "IndexHNSWSQ"
    assert b.manifest["faiss"]["type"] == "IndexFlatIP"
    for q in ("Who directed the film?", "When did the probe land?"):
        ra = [(h.passage_id, h.score) for h in retrieve(q, k=3, index=a)]
        rb = [(h.passage_id, h.score) for h in retrieve(q, k=3, index=b)]
        assert ra == rb
