"""Shards: the manifest's plan of segments grouped by publication date, shards loaded
alone in the index's numbering, and a ``ShardedIndex`` that answers as one index does.

Real index builds and FAISS over SQuAD paragraphs dated a week apart (``HashEmbedder``
for the vectors, the shipped reader for answers); ``changes.READ_GROUP`` is lowered so a
build commits several segments.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import random
import shutil
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
from helpers import DEFAULT, SMALL, SMALL_FILES, assert_one_error_line, invoke, write_files

from challenge_qa import Engine, build_index, load_index
from challenge_qa.answering.compose import answer
from challenge_qa.answering.timeline import timeline
from challenge_qa.encoders.reader import Reader, reader_dir
from challenge_qa.errors import IndexChangedError
from challenge_qa.search.retrieve import retrieve
from challenge_qa.search.shard import Numbering, Shard
from challenge_qa.search.sharded import LocalShards, ShardedIndex
from challenge_qa.store import changes, merging
from challenge_qa.store.manifest import MANIFEST, read_manifest
from challenge_qa.store.merging import optimize, plan_merges, reshard
from challenge_qa.store.segments import NO_DATE
from challenge_qa.store.shards import date_range, groups_of, may_match, plan, shard_count
from challenge_qa.testing import HashEmbedder

slow = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
SQUAD = ROOT.parent / "shared" / "benchmarks" / "squad" / "dev-v1.1.json"
needs_squad = pytest.mark.skipif(not SQUAD.is_file(),
                                 reason="SQuAD dev (../shared/benchmarks) is not present")

EMB = HashEmbedder()
#: Small passages and segments, no automatic merges, three shards; every article counts
#: for a timeline (hashed words are a weak model).
S = SMALL.replace(model=EMB.name, chunk_chars=400, overlap_chars=80, segment_passages=40,
                  auto_merge=False, shards=3, timeline_min_article=0.0)
PUBLISHERS = ("Daily Star", "Evening Post", "Harbor Times")
#: The first article's day; the next ones follow a week apart.
DAY0 = dt.date(2021, 1, 4)


# --------------------------------------------------------------------------- data

@lru_cache(maxsize=1)
def paragraphs() -> tuple[tuple[str, str, tuple[str, ...]], ...]:
    """(title, paragraph, questions) of SQuAD dev: eight paragraphs of each article."""
    data = json.loads(SQUAD.read_text(encoding="utf-8"))["data"]
    return tuple((art["title"].replace("_", " "), para["context"],
                  tuple(q["question"] for q in para["qas"]))
                 for art in data for para in art["paragraphs"][:8])


def day_of(i: int) -> dt.date:
    return DAY0 + dt.timedelta(days=7 * i)


def article_md(i: int, *, dated: bool = True, extra: str = "") -> str:
    title, text, _ = paragraphs()[i]
    meta = f"title: {title} {i}\n"
    if dated:
        meta += f"date: {day_of(i).isoformat()}\nsource: {PUBLISHERS[i % 3]}\n"
    return f"---\n{meta}---\n\n{text}{extra}\n"


def write_dated(corpus: Path, indices) -> None:
    """Article ``i`` as ``a{i:03d}.md``, published ``day_of(i)``: file order is date
    order, so segments (and shards) hold runs of dates."""
    write_files(corpus, {f"a{i:03d}.md": article_md(i) for i in indices})


def days(iso: str) -> int:
    return (dt.date.fromisoformat(iso) - dt.date(1970, 1, 1)).days


def iso(day: int) -> str:
    return (dt.date(1970, 1, 1) + dt.timedelta(days=day)).isoformat()


def entry(name: str, live: int, dates: list[int] | None, deleted: int = 0) -> dict:
    return {"name": name, "passages": live + deleted, "deleted_passages": deleted,
            "articles": 1, "dates": dates}


def manifest_of(index_dir: Path) -> dict:
    return json.loads((index_dir / MANIFEST).read_text(encoding="utf-8"))


def write_manifest(index_dir: Path, m: dict) -> None:
    (index_dir / MANIFEST).write_text(json.dumps(m), encoding="utf-8")


def sharded(index_dir: Path, settings=S) -> tuple[ShardedIndex, LocalShards]:
    client = LocalShards(index_dir, settings)
    return ShardedIndex(index_dir, read_manifest(index_dir), settings, client,
                        embedder=EMB), client


def hits_of(hits) -> list[dict]:
    return [dataclasses.asdict(h) for h in hits]


SCORES = ("score", "dense_score", "bm25_score")


def differences(a: list[dict], b: list[dict]) -> list:
    """What differs between two hit lists: any field, or a score by more than 1e-5."""
    if [h["passage_id"] for h in a] != [h["passage_id"] for h in b]:
        return [("passages", [h["passage_id"] for h in a], [h["passage_id"] for h in b])]
    out = []
    for x, y in zip(a, b, strict=True):
        rest = {k for k in x if k not in SCORES}
        if {k: x[k] for k in rest} != {k: y[k] for k in rest}:
            out.append(("fields", x["passage_id"]))
        out += [(k, x["passage_id"], x[k], y[k]) for k in SCORES if abs(x[k] - y[k]) > 1e-5]
    return out


# --------------------------------------------------------------------------- the plan

def check_plan(entries: list[dict], count: int) -> list[dict]:
    """``plan``'s groups, checked against what the module promises."""
    groups = plan(Path("unused"), entries, count)["groups"]
    assert len(groups) == count
    names = [e["name"] for e in entries]
    # each segment in exactly one group, listed in manifest order
    assert sorted(n for grp in groups for n in grp["segments"]) == sorted(names)
    for grp in groups:
        assert grp["segments"] == [n for n in names if n in set(grp["segments"])]
    # runs in date order (a segment's first day; undated last)
    key = {e["name"]: (e["dates"] is None, (e["dates"] or [0])[0]) for e in entries}
    for g in range(count - 1):
        later = [key[n] for grp in groups[g + 1:] for n in grp["segments"]]
        if groups[g]["segments"] and later:
            assert max(key[n] for n in groups[g]["segments"]) <= min(later), groups
    # the true range and the live passages of each group
    by_name = {e["name"]: e for e in entries}
    for grp in groups:
        spans = [by_name[n]["dates"] for n in grp["segments"] if by_name[n]["dates"]]
        want = (min(d[0] for d in spans), max(d[1] for d in spans)) if spans else None
        got = (days(grp["first"]), days(grp["last"])) if grp["first"] else None
        assert got == want and (grp["last"] is None) == (grp["first"] is None)
        assert grp["passages"] == sum(by_name[n]["passages"] - by_name[n]["deleted_passages"]
                                      for n in grp["segments"])
    # no shard is left empty while segments remain to fill it
    assert sum(1 for grp in groups if grp["segments"]) == min(count, len(entries))
    return groups


def test_plan_balances_live_passages_in_date_order():
    rng = random.Random(7)
    for _ in range(200):
        n = rng.randint(12, 40)
        entries = []
        for i in range(n):
            first = rng.randint(18000, 19000)
            live, deleted = rng.randint(5, 30), rng.choice([0, 0, 0, 40])
            entries.append(entry(f"seg-{i:02d}", live, [first, first + rng.randint(0, 60)],
                                 deleted))
        count = rng.randint(1, 4)
        groups = check_plan(entries, count)
        share = sum(e["passages"] - e["deleted_passages"] for e in entries) / count
        biggest = max(e["passages"] - e["deleted_passages"] for e in entries)
        assert all(abs(g["passages"] - share) <= biggest for g in groups), (
            [g["passages"] for g in groups], share, biggest)
    # ten equal segments, given in reverse date order: 30 / 40 / 30 passages
    entries = [entry(f"s{i}", 10, [19000 - 10 * i, 19005 - 10 * i]) for i in range(10)]
    groups = check_plan(entries, 3)
    assert [g["passages"] for g in groups] == [30, 40, 30]
    assert [g["segments"] for g in groups] == [["s7", "s8", "s9"], ["s3", "s4", "s5", "s6"],
                                               ["s0", "s1", "s2"]]
    assert (groups[0]["first"], groups[0]["last"]) == (iso(18910), iso(18935))
    # deleted passages do not count: the first segment is mostly deleted
    entries = [entry("a", 5, [18000, 18000], deleted=95), entry("b", 50, [18001, 18001]),
               entry("c", 50, [18002, 18002])]
    assert [g["segments"] for g in check_plan(entries, 2)] == [["a", "b"], ["c"]]


def test_plan_with_fewer_segments_than_shards_or_undated_segments():
    entries = [entry("x", 10, [18500, 18510]), entry("y", 10, [18400, 18450])]
    groups = check_plan(entries, 4)
    assert [g["segments"] for g in groups] == [["y"], ["x"], [], []]
    assert groups[2] == {"segments": [], "passages": 0, "first": None, "last": None}
    assert check_plan([], 2) == [{"segments": [], "passages": 0, "first": None,
                                  "last": None}] * 2
    # undated segments go last, whatever their place in the manifest
    entries = [entry("u1", 10, None), entry("d1", 10, [18600, 18620]), entry("u2", 10, None),
               entry("d2", 10, [18300, 18310])]
    groups = check_plan(entries, 2)
    assert [g["segments"] for g in groups] == [["d1", "d2"], ["u1", "u2"]]
    assert (groups[0]["first"], groups[0]["last"]) == (iso(18300), iso(18620))
    assert (groups[1]["first"], groups[1]["last"]) == (None, None)
    # a shard holding dated and undated segments has the dated ones' range
    groups = check_plan(entries, 1)
    assert (groups[0]["first"], groups[0]["last"]) == (iso(18300), iso(18620))


def test_date_range_and_shard_count():
    assert date_range([NO_DATE, 19400, 19350, NO_DATE]) == [19350, 19400]
    assert date_range([NO_DATE]) is None and date_range([]) is None
    assert shard_count({}) == 1
    assert shard_count({"shards": {"count": 4}}) == 4
    assert shard_count({}, {"shards": {"count": 3, "groups": []}}) == 3
    assert shard_count({"shards": {"count": 2}}, {"shards": {"count": 3}}) == 2
    assert shard_count({"shards": {"count": 0}}, {"shards": {"count": 5}}) == 5


def test_may_match_is_inclusive_at_both_ends():
    g = {"first": "2023-03-01", "last": "2023-04-30"}
    d = dt.date
    assert may_match(g, None, None)
    assert may_match(g, d(2023, 4, 30), None) and not may_match(g, d(2023, 5, 1), None)
    assert may_match(g, None, d(2023, 3, 1)) and not may_match(g, None, d(2023, 2, 28))
    assert may_match(g, d(2023, 3, 10), d(2023, 3, 10))  # one day inside
    assert may_match(g, d(2020, 1, 1), d(2030, 1, 1))  # around it
    assert not may_match(g, d(2023, 5, 1), d(2023, 6, 1))
    assert not may_match(g, d(2022, 1, 1), d(2023, 2, 28))
    undated = {"segments": ["seg-x"], "first": None, "last": None}
    assert may_match(undated, None, None)
    assert not may_match(undated, d(2000, 1, 1), None)
    assert not may_match(undated, None, d(2100, 1, 1))


# --------------------------------------------------------------------------- builds

@needs_squad
def test_a_manifest_without_shards_is_one_shard(tmp_path, monkeypatch):
    """A manifest written before shards were recorded (no ``shards``, no segment
    ``dates``, as the bundled index's): one shard with the articles' true range, read
    from the segments; it answers as one index, and its next commit records one shard."""
    monkeypatch.setattr(changes, "READ_GROUP", 6)
    corpus, index_dir = tmp_path / "corpus", tmp_path / "index"
    write_dated(corpus, [3, 1, 4, 15, 9, 2, 6, 5, 35, 8, 30, 7])
    settings = S.replace(shards=None, segment_passages=6)
    build_index(corpus, index_dir, settings=settings, embedder=EMB)
    m = manifest_of(index_dir)
    assert len(m["segments"]) >= 2 and m["shards"]["count"] == 1
    old = {k: v for k, v in m.items() if k != "shards"}
    old["segments"] = [{k: v for k, v in e.items() if k != "dates"} for e in m["segments"]]
    write_manifest(index_dir, old)

    assert shard_count(old) == 1
    [group] = groups_of(index_dir, old)
    assert group["segments"] == [e["name"] for e in old["segments"]]
    assert (group["first"], group["last"]) == (day_of(1).isoformat(), day_of(35).isoformat())
    assert group["passages"] == old["counts"]["passages"]
    one = load_index(index_dir, settings=settings, embedder=EMB)
    idx, client = sharded(index_dir, settings)
    try:
        for q in paragraphs()[9][2][:3] + paragraphs()[30][2][:2]:
            assert not differences(hits_of(retrieve(q, 5, index=idx)),
                                   hits_of(retrieve(q, 5, index=one))), q
        assert idx.last_asked == [0]
    finally:
        client.close()
        one.close()
    write_dated(corpus, [40])
    build_index(corpus, index_dir, settings=settings, embedder=EMB)
    m = manifest_of(index_dir)
    assert m["shards"]["count"] == 1 and m["shards"]["groups"][0]["last"] == \
        day_of(40).isoformat()
    assert m["segments"][-1]["dates"] == [days(day_of(40).isoformat())] * 2


@needs_squad
def test_the_count_survives_builds_merges_and_reshard(tmp_path, monkeypatch):
    monkeypatch.setattr(changes, "READ_GROUP", 8)
    corpus, index_dir = tmp_path / "corpus", tmp_path / "index"
    write_dated(corpus, range(40))
    s3 = S.replace(segment_passages=12)
    default = s3.replace(shards=None)

    def check(count: int) -> dict:
        m = manifest_of(index_dir)
        assert m["shards"]["count"] == count and len(m["shards"]["groups"]) == count
        # the plan is the one of this commit's segments
        assert m["shards"] == plan(index_dir, m["segments"], count)
        return m

    build_index(corpus, index_dir, settings=s3, embedder=EMB)
    assert len(check(3)["segments"]) >= 4
    write_dated(corpus, [40, 41])
    report = build_index(corpus, index_dir, settings=default, embedder=EMB)
    assert report.added == 2
    check(3)
    build_index(corpus, index_dir, settings=default, embedder=EMB, full=True)
    # --optimize: one segment per shard, without deletions
    m = check(3)
    several = sum(1 for g in m["shards"]["groups"] if len(g["segments"]) > 1)
    assert several >= 1
    assert optimize(index_dir, settings=default) == several
    m = check(3)
    assert [len(g["segments"]) for g in m["shards"]["groups"]] == [1, 1, 1]
    assert all(e["deleted_passages"] == 0 for e in m["segments"])
    # a reshard is a commit of its own, kept by the next builds
    generation = m["generation"]
    assert reshard(index_dir, 2, settings=default)["count"] == 2
    assert check(2)["generation"] != generation
    assert reshard(index_dir, 2, settings=default) == manifest_of(index_dir)["shards"]
    write_dated(corpus, [42])
    build_index(corpus, index_dir, settings=default, embedder=EMB)
    check(2)
    # a count in the settings replaces the index's at the build's commit
    write_dated(corpus, [43])
    build_index(corpus, index_dir, settings=default.replace(shards=4), embedder=EMB)
    check(4)


@needs_squad
def test_a_build_with_a_new_shard_count_records_it_though_nothing_changed(tmp_path):
    corpus, index_dir = tmp_path / "corpus", tmp_path / "index"
    write_dated(corpus, range(6))
    build_index(corpus, index_dir, settings=S.replace(shards=2), embedder=EMB)
    build_index(corpus, index_dir, settings=S.replace(shards=4), embedder=EMB)
    assert manifest_of(index_dir)["shards"]["count"] == 4


@needs_squad
def test_merges_never_combine_segments_of_different_shards(tmp_path, monkeypatch):
    """An eager merge policy over many small segments in two shards: every merge takes
    segments of one shard of the commit it starts from, though the same policy over all
    segments would mix them."""
    monkeypatch.setattr(changes, "READ_GROUP", 5)
    corpus, index_dir = tmp_path / "corpus", tmp_path / "index"
    write_dated(corpus, range(60))
    s = S.replace(shards=2, segment_passages=10, auto_merge=True, merge_floor=12,
                  merge_factor=3)
    build_index(corpus, index_dir, settings=s, embedder=EMB, merge=False)
    before = manifest_of(index_dir)
    segs = before["segments"]
    assert len(segs) >= 8
    slot = {n: g for g, grp in enumerate(before["shards"]["groups"]) for n in grp["segments"]}
    mixed = [names for names in plan_merges(segs, s) if len({slot[n] for n in names}) > 1]
    assert mixed, "the policy over all segments would not mix shards: the test proves nothing"

    merges: list[tuple[list[str], list[dict]]] = []
    real = merging._merge

    def spy(index_dir_, s_, manifest, names):
        merges.append((list(names), groups_of(index_dir_, manifest)))
        return real(index_dir_, s_, manifest, names)

    monkeypatch.setattr(merging, "_merge", spy)
    report = build_index(corpus, index_dir, settings=s, embedder=EMB)
    assert report.merges == len(merges) >= 2
    for names, groups in merges:
        assert any(set(names) <= set(g["segments"]) for g in groups), (names, groups)
    touched = {next(i for i, g in enumerate(groups) if names[0] in g["segments"])
               for names, groups in merges}
    assert touched == {0, 1}
    after = manifest_of(index_dir)
    assert after["shards"]["count"] == 2 and len(after["segments"]) < len(segs)
    assert after["counts"] == before["counts"]


# --------------------------------------------------------------------------- numbering

def test_numbering_round_trips():
    rng = np.random.default_rng(3)
    for _ in range(50):
        sizes = rng.integers(0, 6, size=rng.integers(1, 9))
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        mine = np.flatnonzero(rng.random(len(sizes)) < 0.6)
        if not len(mine):
            continue
        own = sizes[mine]
        local = np.concatenate([[0], np.cumsum(own)[:-1]])
        n = Numbering(starts[mine], local, own)
        numbers = np.concatenate([np.arange(s, s + k) for s, k in zip(starts[mine], own,
                                                                      strict=True)])
        assert n.to_local(numbers).tolist() == list(range(int(own.sum())))
        assert n.to_global(np.arange(int(own.sum()))).tolist() == numbers.tolist()
        assert n.to_global(n.to_local(numbers[::-1])).tolist() == numbers[::-1].tolist()
        others = sorted(set(range(int(sizes.sum()))) - set(numbers.tolist()))
        for x in others[:3]:
            with pytest.raises(ValueError):
                n.to_local([x])
    n = Numbering(np.array([10, 40]), np.array([0, 5]), np.array([5, 3]))
    for bad in ([9], [15], [43], [-1]):
        with pytest.raises(ValueError):
            n.to_local(bad)
    assert n.to_local([]).tolist() == []


# --------------------------------------------------------------------------- a dated index

@pytest.fixture(scope="module")
def dated(tmp_path_factory):
    """(corpus, index_dir, questions): 96 SQuAD paragraphs as articles a week apart,
    built into five segments in three shards; then two articles changed (a segment of
    their new versions, deletions in the first) and six undated ones added (a segment
    without dates). ``questions``: by article number."""
    if not SQUAD.is_file():
        pytest.skip("SQuAD dev (../shared/benchmarks) is not present")
    base = tmp_path_factory.mktemp("shards")
    corpus, index_dir = base / "corpus", base / "index"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(changes, "READ_GROUP", 10)
        write_dated(corpus, range(96))
        build_index(corpus, index_dir, settings=S, embedder=EMB)
        for i in (20, 22):
            write_files(corpus, {f"a{i:03d}.md": article_md(
                i, extra=" The article was corrected by the editors the next week.")})
        assert build_index(corpus, index_dir, settings=S, embedder=EMB).changed == 2
        write_files(corpus, {f"u{i:03d}.md": article_md(i, dated=False)
                             for i in range(96, 102)})
        assert build_index(corpus, index_dir, settings=S, embedder=EMB).added == 6
    m = manifest_of(index_dir)
    assert len(m["segments"]) == 7 and m["segments"][-1]["dates"] is None
    assert sum(1 for e in m["segments"] if e["deleted_passages"]) == 1
    return corpus, index_dir, {i: paragraphs()[i][2] for i in range(102)}


@pytest.fixture(scope="module")
def both(dated):
    """(one index, the sharded index): the same commit of ``dated``."""
    _, index_dir, _ = dated
    one = load_index(index_dir, settings=S, embedder=EMB)
    idx, client = sharded(index_dir)
    yield one, idx
    client.close()
    one.close()


@pytest.fixture(scope="module")
def reader():
    return Reader(reader_dir(None))


def test_the_dated_index_plan(dated):
    _, index_dir, _ = dated
    m = manifest_of(index_dir)
    segs = [e["name"] for e in m["segments"]]
    groups = m["shards"]["groups"]
    assert m["shards"]["count"] == 3
    assert sorted(n for g in groups for n in g["segments"]) == sorted(segs)
    # the changed articles' segment (sixth in the manifest) lies in the first shard by
    # date, after a segment that comes before it; the undated one in the last shard
    assert groups[0]["segments"] == [n for n in segs if n in set(groups[0]["segments"])]
    assert segs[5] in groups[0]["segments"] and groups[0]["segments"][-1] == segs[5]
    assert segs[6] in groups[2]["segments"] and groups[2]["segments"][-1] == segs[6]
    assert groups[0]["first"] == DAY0.isoformat()
    assert groups[2]["last"] == day_of(95).isoformat()
    for a, b in zip(groups, groups[1:], strict=False):  # runs of dates, one after the other
        assert a["last"] < b["first"]
    live = m["counts"]["passages"]
    assert sum(g["passages"] for g in groups) == live
    assert all(abs(g["passages"] - live / 3) < 60 for g in groups), groups


def test_shards_number_rows_and_articles_as_the_whole_index(dated, both):
    _, index_dir, _ = dated
    one, idx = both
    m = read_manifest(index_dir)
    rows, docs = [], []
    for slot, group in enumerate(idx.groups):
        shard = Shard(index_dir, slot, S)
        try:
            v = shard.view(m["generation"])
            assert v.segment_names == group["segments"]
            n_rows, n_docs = v.index.rows_total, int(v.index.doc_offsets[-1])
            g_rows = v.rows.to_global(np.arange(n_rows))
            g_docs = v.docs.to_global(np.arange(n_docs))
            assert v.rows.to_local(g_rows).tolist() == list(range(n_rows))
            assert v.docs.to_local(g_docs).tolist() == list(range(n_docs))
            rows += g_rows.tolist()
            docs += g_docs.tolist()
            # a shard's rows are the whole index's same rows
            some = g_rows[:: max(1, n_rows // 7)].tolist()
            assert [r["passage_id"] for r in shard.rows(m["generation"], some)] == [
                r["passage_id"] for r in one.rows(some)]
            assert np.array_equal(shard.spans(m["generation"], some), one.spans(some))
            assert shard.info(m["generation"])["passages"] == group["passages"]
        finally:
            shard.close()
    assert sorted(rows) == list(range(one.rows_total))
    assert sorted(docs) == list(range(int(one.doc_offsets[-1])))


def test_retrieve_through_shards_equals_one_index(dated, both):
    _, _, questions = dated
    one, idx = both
    asked = [questions[i][0] for i in range(0, 96, 2)][:40] + [
        "cell cell cell", "zyzzyva quokka"]
    variants = [{}, {"since": day_of(30).isoformat(), "until": day_of(70).isoformat()},
                {"sources": ["harbor times", "Daily Star"]}, {"until": "2021-06"},
                {"per_article": True}]
    bad, found = [], 0
    for q in asked:
        for kw in variants:
            a = hits_of(retrieve(q, 10, index=idx, **kw))
            b = hits_of(retrieve(q, 10, index=one, **kw))
            found += len(b)
            if differences(a, b):
                bad.append((q, kw, differences(a, b)[:2]))
    assert not bad, f"{len(bad)} of {len(asked) * len(variants)} differ, e.g. {bad[:3]}"
    assert found > 30 * len(variants) * 9  # the filters leave plenty to compare


def test_answers_through_shards_equal_one_index(dated, both, reader):
    _, _, questions = dated
    one, idx = both
    asked = [questions[i][0] for i in range(1, 96, 10)]
    assert len(asked) == 10
    found = 0
    for q in asked:
        a = answer(q, index=idx, reader=reader).to_dict()
        b = answer(q, index=one, reader=reader).to_dict()
        assert a == b, q
        found += bool(b["found"])
    assert found >= 5
    kw = {"since": day_of(10).isoformat(), "until": day_of(40).isoformat()}
    q = questions[25][0]
    assert answer(q, index=idx, reader=reader, **kw).to_dict() == answer(
        q, index=one, reader=reader, **kw).to_dict()


def test_timelines_and_tables_through_shards_equal_one_index(dated, both):
    corpus, _, _ = dated
    one, idx = both
    topics = sorted({paragraphs()[i][0] for i in range(0, 96, 8)})[:4]
    events = 0
    for topic in topics:
        for kw in ({}, {"since": day_of(20).isoformat(), "until": day_of(60).isoformat()}):
            a, b = timeline(topic, index=idx, **kw), timeline(topic, index=one, **kw)
            assert a.to_dict() == b.to_dict(), (topic, kw)
            events += len(b.events)
    assert events >= 4
    assert idx.has_dated() is one.has_dated() is True
    for n in (1, 5, 200):
        assert idx.latest(n) == one.latest(n)
    assert idx.latest(3)[0]["doc_id"] == "a095.md"
    assert idx.source_names() == one.source_names() == sorted(PUBLISHERS)
    ids = one.doc_ids()
    assert idx.doc_ids() == ids and len(set(ids)) == 102
    for doc_id in ids + ["missing.md"]:
        assert idx.article(doc_id) == one.article(doc_id), doc_id
    assert "corrected by the editors" in idx.article("a020.md")["text"]
    assert idx.size == one.size and idx.rows_total == one.rows_total


def test_more_shards_than_segments_answers_the_same(dated, tmp_path):
    """Ten shards over seven segments: three empty shards, asked by nobody for
    candidates, and the answers are still those of one index."""
    _, index_dir, questions = dated
    copy = tmp_path / "index"
    shutil.copytree(index_dir, copy)
    plan10 = reshard(copy, 10, settings=S)
    assert [len(g["segments"]) for g in plan10["groups"]] == [1] * 7 + [0] * 3
    one = load_index(copy, settings=S, embedder=EMB)
    idx, client = sharded(copy)
    try:
        for i in (4, 33, 61, 90, 99):
            q = questions[i][0]
            assert not differences(hits_of(retrieve(q, 10, index=idx)),
                                   hits_of(retrieve(q, 10, index=one))), q
            assert idx.last_asked == list(range(7))
        assert idx.latest(4) == one.latest(4) and idx.doc_ids() == one.doc_ids()
        assert idx.source_names() == one.source_names()
        assert idx.article("a050.md") == one.article("a050.md")
        assert idx.has_dated() is True
        # the undated segment is a shard of its own, which no date filter asks
        assert plan10["groups"][6]["segments"] == [manifest_of(copy)["segments"][-1]["name"]]
        assert plan10["groups"][6]["first"] is None
        q = questions[97][0]
        hits = retrieve(q, 10, index=idx)
        assert "u097.md" in {h.doc_id for h in hits} and 6 in idx.last_asked
        kw = {"since": DAY0.isoformat()}
        hits = retrieve(q, 10, index=idx, **kw)
        assert idx.last_asked == list(range(6)) and hits
        assert not any(h.doc_id.startswith("u") for h in hits)
        assert not differences(hits_of(hits), hits_of(retrieve(q, 10, index=one, **kw)))
    finally:
        client.close()
        one.close()


def test_a_date_filter_asks_only_the_shards_it_can_match(dated, both):
    _, _, questions = dated
    one, idx = both
    groups = idx.groups
    # the middle shard's whole range, and a single day at each end of it
    first, last = groups[1]["first"], groups[1]["last"]
    i = next(i for i in range(96) if day_of(i).isoformat() == first)
    for since, until, q in ((first, last, questions[i + 3][0]), (first, first, questions[i][0]),
                            (last, last, questions[i][0])):
        hits = retrieve(q, 10, index=idx, since=since, until=until)
        assert idx.last_asked == [1], (since, until)
        assert hits and all(since <= h.date <= until for h in hits)
        assert not differences(hits_of(hits), hits_of(
            retrieve(q, 10, index=one, since=since, until=until)))
    # the day before the middle shard (the first shard's last) asks the first shard only
    prev = groups[0]["last"]
    retrieve(questions[i][0], 10, index=idx, since=prev, until=prev)
    assert idx.last_asked == [0]
    # ranges holding no article: before all, after all, between two shards' days
    gap = (dt.date.fromisoformat(prev) + dt.timedelta(days=1)).isoformat()
    gap_end = (dt.date.fromisoformat(first) - dt.timedelta(days=1)).isoformat()
    for since, until in (("1990", "2020-12"), ("2030", None), (gap, gap_end)):
        q = questions[i][0]
        assert retrieve(q, 10, index=idx, since=since, until=until) == []
        assert idx.last_asked == [], (since, until)
        assert retrieve(q, 10, index=one, since=since, until=until) == []
    # a range across two shards asks both
    retrieve(questions[i][0], 10, index=idx, since=prev, until=first)
    assert idx.last_asked == [0, 1]
    # publishers and no filter: every shard
    retrieve(questions[i][0], 10, index=idx, sources="Evening Post")
    assert idx.last_asked == [0, 1, 2]
    retrieve(questions[i][0], 10, index=idx)
    assert idx.last_asked == [0, 1, 2]


# --------------------------------------------------------------------------- new commits

@pytest.fixture
def shard_engine(tmp_path, monkeypatch):
    """(engine, client): an engine on two local shards of a 30-article index built with
    the default shard setting (the engine's builds keep the index's count)."""
    if not SQUAD.is_file():
        pytest.skip("SQuAD dev (../shared/benchmarks) is not present")
    monkeypatch.setattr(changes, "READ_GROUP", 6)
    corpus, index_dir = tmp_path / "corpus", tmp_path / "index"
    write_dated(corpus, range(30))
    build_index(corpus, index_dir, settings=S.replace(shards=2, segment_passages=15),
                embedder=EMB)
    s = S.replace(corpus_dir=corpus, index_dir=index_dir, shards=None, segment_passages=15)
    client = LocalShards(index_dir, s)
    engine = Engine(s, embedder=EMB, shards=client)
    yield engine, client
    engine.close()
    client.close()


NEWS = ("---\ntitle: Quokkas cross the causeway\ndate: 2021-03-02\nsource: Daily Star\n"
        "---\n\nA colony of quokkas crossed the causeway to Rottnest at dawn, rangers said. "
        "The marsupials were counted by volunteers with lanterns.\n")
MORE = ("---\ntitle: Zeppelin returns to the valley\ndate: 2021-09-14\nsource: Harbor Times"
        "\n---\n\nA zeppelin moored above the valley vineyards for the harvest festival, "
        "the first airship seen there in ninety years.\n")


def test_an_engine_on_shards_sees_new_commits_without_restart(shard_engine):
    engine, client = shard_engine
    corpus = Path(engine.settings.corpus_dir)
    q = paragraphs()[12][2][0]
    assert engine.retrieve(q, k=1)[0].doc_id == "a012.md"
    old = engine.index()
    assert isinstance(old, ShardedIndex) and len(old.groups) == 2
    assert engine.answer(q).found
    assert sorted(client.shards) == [0, 1]
    (corpus / "quokka.md").write_text(NEWS, encoding="utf-8")
    report = engine.build()
    assert report.added == 1
    m = read_manifest(engine.settings.index_dir)
    assert m["shards"]["count"] == 2 and m["generation"] != old.generation
    hit = engine.retrieve("Where did the quokkas cross the causeway?", k=1)[0]
    assert (hit.doc_id, hit.title) == ("quokka.md", "Quokkas cross the causeway")
    assert engine.index().generation == m["generation"]
    assert {s.view().generation for s in client.shards.values()} == {m["generation"]}
    # the old commit is refused by shards on the newer one
    with pytest.raises(IndexChangedError):
        client.shard(0).info(old.generation)
    with pytest.raises(IndexChangedError):
        retrieve(q, 3, index=old)
    assert engine.timeline("quokkas causeway").articles >= 1


class Racing:
    """A shard client on which a build commits (and the shards load it) just before the
    next question reaches the shards, as a question racing a commit."""

    def __init__(self, client: LocalShards, commit):
        self.client, self.commit = client, commit
        self.armed, self.refused = False, 0

    def ensure(self, count: int) -> None:
        self.client.ensure(count)

    def close(self) -> None:
        self.client.close()

    def call(self, slots, method, args):
        if self.armed:
            self.armed = False
            self.commit()
            newer = read_manifest(self.client.index_dir)["generation"]
            for shard in self.client.shards.values():
                shard.view(newer)  # asked by a front end on the newer commit
        try:
            return self.client.call(slots, method, args)
        except IndexChangedError:
            self.refused += 1
            raise


def test_a_question_racing_a_commit_is_asked_again(shard_engine):
    engine, client = shard_engine
    corpus = Path(engine.settings.corpus_dir)

    def commit():
        (corpus / "zeppelin.md").write_text(MORE, encoding="utf-8")
        assert build_index(corpus, engine.settings.index_dir, settings=engine.settings,
                           embedder=EMB).added == 1

    racing = Racing(client, commit)
    engine.close()
    engine = Engine(engine.settings, embedder=EMB, shards=racing)
    q = paragraphs()[5][2][0]
    assert engine.retrieve(q, k=3)
    before = engine.index().generation
    racing.armed = True
    hits = engine.retrieve("Where did the zeppelin moor for the harvest festival?", k=3)
    assert racing.refused == 1 and not racing.armed
    assert hits[0].doc_id == "zeppelin.md"
    assert engine.index().generation != before
    # and on the newer commit the shards answer as one index of it
    one = load_index(engine.settings.index_dir, settings=engine.settings, embedder=EMB)
    try:
        assert not differences(hits_of(engine.retrieve(q, k=5)),
                               hits_of(retrieve(q, 5, index=one)))
    finally:
        one.close()
        engine.close()
    assert racing.refused == 1


# --------------------------------------------------------------------------- command line

@pytest.fixture
def cli_index(tmp_path, monkeypatch):
    """(corpus, index_dir, env): 24 articles in three segments built with the CLI's
    chunking and ``HashEmbedder``; ``env`` makes the CLI ask for that model, so that a
    build finding nothing to embed never loads one."""
    if not SQUAD.is_file():
        pytest.skip("SQuAD dev (../shared/benchmarks) is not present")
    monkeypatch.setattr(changes, "READ_GROUP", 8)
    corpus, index_dir = tmp_path / "corpus", tmp_path / "index"
    write_dated(corpus, range(24))
    build_index(corpus, index_dir, settings=DEFAULT.replace(segment_passages=6),
                embedder=EMB)
    assert len(manifest_of(index_dir)["segments"]) == 3
    return corpus, index_dir, {"CHALLENGE_QA_MODEL": EMB.name}


def describe(groups: list[dict]) -> str:
    return "; ".join(
        f"{i + 1}: {g['passages']:,} passages in {len(g['segments'])} segment(s), "
        + (f"{g['first']} to {g['last']}" if g["first"] else "no dates")
        for i, g in enumerate(groups))


def test_cli_index_shards_prints_them_and_status_shows_them(cli_index):
    corpus, index_dir, env = cli_index
    where = ["--corpus", corpus, "--index", index_dir]
    status = invoke("status", "--json", *where, env=env)
    assert status.exit_code == 0, status.output
    assert json.loads(status.stdout)["shards"] == describe(
        manifest_of(index_dir)["shards"]["groups"])
    result = invoke("index", *where, "--shards", "2", env=env)
    assert result.exit_code == 0, (result.output, result.exception)
    groups = manifest_of(index_dir)["shards"]["groups"]
    assert [len(g["segments"]) for g in groups] == [2, 1]
    lines = result.stdout.strip().splitlines()
    assert lines[0].startswith("Indexed 24 article(s)") and "0 embedded" in lines[0]
    assert lines[1:] == [f"Shards: {describe(groups)}."]
    assert lines[1].startswith("Shards: 1: ") and f"to {day_of(23).isoformat()}." in lines[1]
    text = invoke("status", *where, env=env)
    assert text.exit_code == 0
    [line] = [x for x in text.stdout.splitlines() if x.startswith("shards ")]
    assert line.split(None, 1)[1] == describe(groups)
    info = json.loads(invoke("status", "--json", *where, env=env).stdout)
    assert info["shards"] == describe(groups) and info["stale"] is False
    # a build without --shards keeps them and prints no shards line
    again = invoke("index", *where, env=env)
    assert again.exit_code == 0 and "Shards:" not in again.stdout
    assert manifest_of(index_dir)["shards"]["groups"] == groups


def test_cli_refuses_zero_shards(cli_index):
    corpus, index_dir, env = cli_index
    where = ["--corpus", corpus, "--index", index_dir]
    before = manifest_of(index_dir)
    result = invoke("index", *where, "--shards", "0", env=env)
    assert result.exit_code == 2 and result.stdout == ""
    errors = [x for x in result.stderr.splitlines() if x.startswith("Error:")]
    assert errors == ["Error: Invalid value for '--shards': 0 is not in the range "
                      "1<=x<=1024."]
    assert "Traceback" not in result.output
    result = invoke("index", *where, env={**env, "CHALLENGE_QA_SHARDS": "0"})
    assert_one_error_line(result, "shards must be between 1 and 1024", "CHALLENGE_QA_")
    assert manifest_of(index_dir) == before


@slow
def test_cli_index_shards_on_a_new_index(tmp_path):
    """``index --shards 2`` with the real model on a new index of the small corpus: one
    segment, so one shard holds it and the other is empty."""
    corpus = write_files(tmp_path / "corpus", SMALL_FILES)
    index_dir = tmp_path / "index"
    result = invoke("index", "--corpus", corpus, "--index", index_dir, "--shards", "2")
    assert result.exit_code == 0, (result.output, result.exception)
    lines = result.stdout.strip().splitlines()
    assert lines[-1] == ("Shards: 1: 5 passages in 1 segment(s), 2022-09-14 to 2024-02-11; "
                         "2: 0 passages in 0 segment(s), no dates.")
    assert manifest_of(index_dir)["shards"]["count"] == 2
    status = invoke("status", "--corpus", corpus, "--index", index_dir)
    assert status.exit_code == 0
    assert "shards            1: 5 passages in 1 segment(s), 2022-09-14 to 2024-02-11; " \
           "2: 0 passages in 0 segment(s), no dates" in status.stdout


def test_cli_index_shards_with_optimize_gives_one_segment_per_shard(cli_index):
    corpus, index_dir, env = cli_index
    result = invoke("index", "--corpus", corpus, "--index", index_dir, "--shards", "2",
                    "--optimize", env=env)
    assert result.exit_code == 0 and "merged into one segment per shard" in result.stdout
    groups = manifest_of(index_dir)["shards"]["groups"]
    assert [len(g["segments"]) for g in groups] == [1, 1]
