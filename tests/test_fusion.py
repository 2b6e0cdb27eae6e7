"""Fusion helpers against hand-worked examples."""

from __future__ import annotations

import numpy as np
import pytest

from challenge_qa.search.fusion import drop_overlapping, first_per_group, fuse, normalise, rrf


def test_minmax():
    assert normalise(np.array([2.0, 4.0, 3.0])).tolist() == [0.0, 1.0, 0.5]
    assert normalise(np.array([-1.0, 1.0, 0.0, 3.0]), "minmax").tolist() == [0.0, 0.5, 0.25,
                                                                             1.0]


def test_zscore():
    got = normalise(np.array([1.0, 2.0, 3.0]), "zscore")
    sd = np.sqrt(2.0 / 3.0)  # population standard deviation of 1, 2, 3
    assert got == pytest.approx([-1 / sd, 0.0, 1 / sd])
    assert got == pytest.approx([-1.2247449, 0.0, 1.2247449])


@pytest.mark.parametrize("method", ["minmax", "zscore"])
def test_constant_and_empty(method):
    assert normalise(np.array([5.0, 5.0, 5.0]), method).tolist() == [0.0, 0.0, 0.0]
    assert normalise(np.array([7.0]), method).tolist() == [0.0]
    assert normalise(np.array([]), method).size == 0


def test_normalise_does_not_modify_input_and_returns_float64():
    x = np.array([1, 3], dtype=np.int64)
    got = normalise(x)
    assert got.dtype == np.float64 and got.tolist() == [0.0, 1.0]
    assert x.tolist() == [1, 3]


def test_unknown_method():
    with pytest.raises(ValueError, match="unknown score normalisation 'rank'"):
        normalise(np.array([1.0, 2.0]), "rank")


def test_fuse_hand_worked():
    dense = np.array([0.9, 0.5, 0.8])  # minmax -> [1, 0, 0.75]
    lex = np.array([1.0, 9.0, 5.0])  # minmax -> [0, 1, 0.5]
    assert fuse(dense, lex, 0.5).tolist() == pytest.approx([0.5, 0.5, 0.625])
    assert fuse(dense, lex, 0.25).tolist() == pytest.approx([0.25, 0.75, 0.5625])
    assert fuse(dense, lex, 1.0).tolist() == pytest.approx([1.0, 0.0, 0.75])
    assert fuse(dense, lex, 0.0).tolist() == pytest.approx([0.0, 1.0, 0.5])


def test_fuse_with_constant_lexical_is_scaled_dense():
    # no BM25 match at all: only the dense side orders the candidates
    got = fuse(np.array([0.2, 0.6, 0.4]), np.zeros(3), 0.5)
    assert got.tolist() == pytest.approx([0.0, 0.5, 0.25])


def test_fuse_zscore():
    got = fuse(np.array([1.0, 2.0, 3.0]), np.array([3.0, 2.0, 1.0]), 0.75, "zscore")
    z = 1 / np.sqrt(2.0 / 3.0)
    assert got.tolist() == pytest.approx([-0.5 * z, 0.0, 0.5 * z])


def test_rrf_hand_worked():
    assert rrf([np.array([7, 3]), np.array([3, 5])], k=1) == pytest.approx(
        {7: 1 / 2, 3: 1 / 3 + 1 / 2, 5: 1 / 3})
    got = rrf([np.array([1, 2, 3]), np.array([3, 1])])  # k = 60
    assert got == pytest.approx({1: 1 / 61 + 1 / 62, 2: 1 / 62, 3: 1 / 63 + 1 / 61})
    assert sorted(got, key=got.get, reverse=True) == [1, 3, 2]
    assert rrf([]) == {}


def test_first_per_group_hand_worked():
    # positions 4, 0, 2, 1 belong to groups 8, 9, 9, 7
    assert first_per_group(np.array([4, 0, 2, 1]), np.array([9, 7, 9, 8, 8])).tolist() == [
        4, 0, 1]
    assert first_per_group(np.array([3, 1, 0, 2]), np.array([0, 0, 1, 1])).tolist() == [3, 1]
    assert first_per_group(np.array([2, 1, 0]), np.array([5, 6, 7])).tolist() == [2, 1, 0]
    assert first_per_group(np.array([], dtype=np.int64), np.array([1, 2])).tolist() == []


def test_drop_overlapping_docstring():
    got = drop_overlapping(np.array([0, 1, 2]), np.array([1, 1, 2]), np.array([0, 10, 0]),
                           np.array([100, 90, 50]), 0.5, 3)
    assert got.tolist() == [0, 2]


def _drop(spans, order, max_share=0.5, limit=10):
    doc = np.array([d for d, _, _ in spans])
    start = np.array([s for _, s, _ in spans])
    end = np.array([e for _, _, e in spans])
    return drop_overlapping(np.array(order), doc, start, end, max_share, limit).tolist()


def test_drop_overlapping_hand_worked():
    spans = [
        (0, 0, 100),    # 0: kept first
        (0, 50, 150),   # 1: overlaps 0 by 50/100 = 0.5, not more than 0.5 -> kept
        (0, 40, 140),   # 2: overlaps 0 by 60/100 -> dropped
        (1, 0, 100),    # 3: same span, other article -> kept
        (0, 10, 20),    # 4: inside 0: 10/10 -> dropped
        (0, 150, 300),  # 5: touches 1, no overlap -> kept
    ]
    assert _drop(spans, [0, 1, 2, 3, 4, 5]) == [0, 1, 3, 5]
    # the order decides which of two clashing passages survives
    assert _drop(spans, [2, 0, 1]) == [2]
    # a stricter share drops the half-overlapping one too
    assert _drop(spans, [0, 1, 3], max_share=0.4) == [0, 3]


def test_drop_overlapping_stops_at_limit():
    spans = [(i, 0, 10) for i in range(6)]
    assert _drop(spans, [5, 4, 3, 2, 1, 0], limit=3) == [5, 4, 3]
    assert _drop(spans, [], limit=3) == []

