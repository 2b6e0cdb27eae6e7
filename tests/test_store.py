"""Building, updating and loading the on-disk index."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from helpers import DEFAULT, SMALL, SMALL_IDS, copy_index, invoke, write_files

import challenge_qa.store.manifest as mf
from challenge_qa import build_index, load_index, retrieve
from challenge_qa.corpus.load import load_articles
from challenge_qa.corpus.passages import split_passages
from challenge_qa.engine import get_index
from challenge_qa.errors import (
    CorpusEmptyError,
    IndexCorruptError,
    IndexLockedError,
    IndexMismatchError,
    IndexNotFoundError,
)
from challenge_qa.search.index import Index
from challenge_qa.store.manifest import FORMAT_VERSION, LOCK, MANIFEST, read_manifest, referenced
from challenge_qa.store.segments import SEGMENT_FILES
from challenge_qa.text.lexical import tokenize

QUESTIONS = [
    "What did the volcano do on Sunday?",
    "How do bees show where the flowers are?",
    "Who won the chess championship?",
    "How far can ships see the lighthouse beam?",
    "How fast was the marathon?",
]

CHANGED_CHESS = (
    "Chess prodigy wins the national title\nA twelve-year-old girl from Leeds won the national "
    "chess championship on Saturday after a long final. She now plans to write a book about "
    "her favourite openings, starting with the Sicilian defence.\n"
)
NEW_ARTICLE = (
    "---\ntitle: Comet seen over Chile\nsource: Sky Daily\n---\n\nAstronomers in Chile "
    "photographed a bright green comet on Tuesday. The comet passes the sun only once every "
    "fifty thousand years. It will be visible with binoculars until the end of the month.\n"
)


def manifest_of(index_dir: Path) -> dict:
    return json.loads((index_dir / MANIFEST).read_text(encoding="utf-8"))


def segment_dirs(index_dir: Path) -> list[Path]:
    """The live segments' folders, in manifest order."""
    return [index_dir / e["name"] for e in manifest_of(index_dir)["segments"]]


def on_disk(index_dir: Path) -> set[str]:
    """The segments, deletion files and old-format folders in an index folder."""
    return {p.name for p in index_dir.iterdir() if p.name.startswith(("seg-", "del-", "gen-"))}


def segment_rows(folder: Path):
    """(articles, passages) of one segment's SQLite tables, by article number / row."""
    con = sqlite3.connect(folder / "segment.sqlite")
    try:
        arts = con.execute("SELECT idx, id, title, source, date, url, path, sha256, text, "
                           "first_row, n_passages FROM articles ORDER BY idx").fetchall()
        passages = con.execute('SELECT p.row, a.id, p.passage_id, p.start, p."end" FROM '
                               "passages p JOIN articles a ON a.idx = p.doc_idx "
                               "ORDER BY p.row").fetchall()
    finally:
        con.close()
    return arts, passages


def live_content(index_dir: Path):
    """What the committed index holds, however it is split into segments: its live
    articles (id -> fields, sha256, text, passage count), its live passages
    ``(id, passage_id, start, end)`` sorted, and each live passage's vector by
    passage_id."""
    articles: dict[str, tuple] = {}
    passages: list[tuple] = []
    vectors: dict[str, np.ndarray] = {}
    for entry in manifest_of(index_dir)["segments"]:
        folder = index_dir / entry["name"]
        dead = (np.load(index_dir / entry["deleted"]) if entry["deleted"]
                else np.zeros(entry["articles"], dtype=bool))
        assert dead.dtype == bool and len(dead) == entry["articles"]
        assert int(dead.sum()) == entry["deleted_articles"]
        arts, rows = segment_rows(folder)
        vecs = np.load(folder / "vectors.npy")
        alive = {a[1] for a in arts if not dead[a[0]]}
        for a in arts:
            if not dead[a[0]]:
                assert a[1] not in articles, f"{a[1]} is live twice"
                articles[a[1]] = (*a[2:9], a[10])
        for row, aid, pid, start, end in rows:
            if aid in alive:
                passages.append((aid, pid, start, end))
                vectors[pid] = vecs[row]
    return articles, sorted(passages), vectors


def answers(index, questions=QUESTIONS, k=4):
    return [[(h.doc_id, h.passage_id, h.start, h.end) for h in retrieve(q, k=k, index=index)]
            for q in questions]


def scores(index, questions=QUESTIONS, k=4):
    return [[(h.score, h.dense_score, h.bm25_score) for h in retrieve(q, k=k, index=index)]
            for q in questions]


@pytest.fixture
def commits(monkeypatch) -> list[tuple[dict, dict | None]]:
    """Every ``(manifest, previous)`` the builds of this test commit, in order."""
    seen: list[tuple[dict, dict | None]] = []
    real = mf.commit

    def spy(index_dir, manifest, previous):
        real(index_dir, manifest, previous)
        seen.append((manifest, previous))

    monkeypatch.setattr(mf, "commit", spy)
    return seen


def assert_only_the_last_two_commits_kept(index_dir: Path, last: tuple[dict, dict | None]):
    """The folder holds exactly what the last commit and the one it replaced name."""
    manifest, previous = last
    assert manifest_of(index_dir) == manifest
    assert on_disk(index_dir) == referenced(manifest) | referenced(previous)
    assert not list(index_dir.glob("*.partial")) and not list(index_dir.glob(".*.tmp"))


# ------------------------------------------------------------------ no model needed

def test_empty_corpus_builds_nothing(tmp_path):
    corpus = write_files(tmp_path / "corpus", {"empty.md": ""})
    with pytest.raises(CorpusEmptyError):
        build_index(corpus, tmp_path / "index", settings=SMALL)
    assert not (tmp_path / "index").exists()


def test_build_refused_while_another_holds_the_lock(tmp_path, small_corpus):
    index_dir = tmp_path / "index"
    index_dir.mkdir()
    fd = os.open(index_dir / LOCK, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(IndexLockedError, match="Another build") as e:
            build_index(small_corpus, index_dir, settings=SMALL)
        assert "Wait" in e.value.hint
    finally:
        os.close(fd)
    assert not (index_dir / MANIFEST).exists()
    assert not on_disk(index_dir)


def test_missing_index(tmp_path):
    with pytest.raises(IndexNotFoundError, match="the folder does not exist") as e:
        load_index(tmp_path / "nope", settings=SMALL)
    assert "challenge-qa index" in e.value.hint
    (tmp_path / "empty").mkdir()
    with pytest.raises(IndexNotFoundError) as e:
        load_index(tmp_path / "empty", settings=SMALL)
    assert "does not exist" not in str(e.value)


# ------------------------------------------------------------------ a fresh build

slow = pytest.mark.slow


@slow
def test_fresh_build_report_and_layout(small_index_ro, small_corpus_ro):
    index_dir, report = small_index_ro
    arts = load_articles(small_corpus_ro)
    n_passages = sum(len(split_passages(a, SMALL)) for a in arts)
    assert (report.added, report.changed, report.removed, report.unchanged) == (5, 0, 0, 0)
    assert report.articles == 5 and report.full is True and report.skipped == []
    assert report.passages == report.embedded_passages == n_passages
    assert n_passages > 5  # the small chunk size splits articles
    assert report.segments == 1 and report.merges == 0 and report.already_indexed == 0

    m = manifest_of(index_dir)
    assert m["format_version"] == FORMAT_VERSION == 3
    assert m["model"] == SMALL.model and m["dimension"] == 384
    assert m["chunking"] == SMALL.chunking()
    assert m["counts"] == {"articles": 5, "passages": n_passages}
    assert m["generation"] and "pending" not in m
    assert set(m["files"]) == {"volcano.md", "chess.txt", "nature/bees.html", "extra.jsonl"}
    for rel, stamp in m["files"].items():
        st = (small_corpus_ro / rel).stat()
        assert stamp == [st.st_size, st.st_mtime_ns]
    # one segment (the corpus is far below segment_passages) with no deletions
    [entry] = m["segments"]
    assert entry["name"].startswith("seg-")
    assert (entry["articles"], entry["passages"]) == (5, n_passages)
    assert (entry["deleted"], entry["deleted_articles"], entry["deleted_passages"]) == (
        None, 0, 0)
    assert entry["faiss"]["type"] == "IndexFlatIP"
    seg = index_dir / entry["name"]
    assert seg.is_dir()
    for name in SEGMENT_FILES:
        assert (seg / name).is_file(), name
    assert json.loads((seg / "segment.json").read_text("utf-8")) == entry
    assert on_disk(index_dir) == {entry["name"]}  # no deletion file, no gen-* folder
    assert not list(index_dir.glob("*.partial")) and not list(index_dir.glob(".*.tmp"))
    assert set(live_content(index_dir)[0]) == SMALL_IDS

    emb = np.load(seg / "vectors.npy")
    assert emb.shape == (n_passages, 384) and emb.dtype == np.float32
    assert np.allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-4)


@slow
def test_passages_in_sqlite_match_the_articles(small_index_ro, small_corpus_ro):
    index_dir, _ = small_index_ro
    arts = load_articles(small_corpus_ro)
    [seg] = segment_dirs(index_dir)
    db_arts, db_passages = segment_rows(seg)
    assert [r[1] for r in db_arts] == [a.id for a in arts]
    assert [r[0] for r in db_arts] == list(range(len(arts)))
    for row, a in zip(db_arts, arts, strict=True):
        assert row[2:9] == (a.title, a.source, a.date, a.url, a.path, a.sha256, a.text)
    expected = [(p.doc_id, p.passage_id, p.start, p.end) for a in arts
                for p in split_passages(a, SMALL)]
    assert [r[1:] for r in db_passages] == expected
    assert [r[0] for r in db_passages] == list(range(len(expected)))
    spans = np.load(seg / "passages.npy")
    ids = [a.id for a in arts]
    assert [(ids[d], s, e) for d, s, e in spans.tolist()] == [
        (d, s, e) for d, _, s, e in expected]
    # each article's first row and passage count
    first = 0
    for row, a in zip(db_arts, arts, strict=True):
        n = len(split_passages(a, SMALL))
        assert row[9:] == (first, n)
        first += n


@slow
def test_bm25_postings_hold_the_token_counts(small_index_ro, small_corpus_ro):
    """The segment's raw postings are the term counts of each passage's indexed text
    (title + passage), tokenised as bm25s tokenises (test_lexical checks tokenize)."""
    from collections import Counter

    from challenge_qa.text.chunking import passage_context

    index_dir, _ = small_index_ro
    [seg] = segment_dirs(index_dir)
    contexts = [passage_context(a.title, p.text, SMALL.title_context)
                for a in load_articles(small_corpus_ro) for p in split_passages(a, SMALL)]
    tokens = tokenize(contexts)
    terms = json.loads((seg / "terms.json").read_text("utf-8"))
    ptr = np.load(seg / "postings_ptr.npy")
    doc = np.load(seg / "postings_doc.npy")
    tf = np.load(seg / "postings_tf.npy")
    assert len(terms) == len(set(terms)) == len(ptr) - 1
    assert set(terms) == {t for ts in tokens for t in ts}
    got = [Counter() for _ in contexts]
    for j, term in enumerate(terms):
        for d, f in zip(doc[ptr[j]:ptr[j + 1]].tolist(), tf[ptr[j]:ptr[j + 1]].tolist(),
                        strict=True):
            got[d][term] += f
    assert got == [Counter(ts) for ts in tokens]
    np.testing.assert_array_equal(np.load(seg / "lengths.npy"), [len(ts) for ts in tokens])
    entry = manifest_of(index_dir)["segments"][0]
    assert entry["tokens"] == sum(len(ts) for ts in tokens)


@slow
def test_loaded_index_parts(small_index_ro, small_corpus_ro):
    index_dir, report = small_index_ro
    idx = load_index(index_dir, settings=SMALL)
    assert idx.size == idx.rows_total == report.passages
    assert sum(seg.dense.ntotal for seg in idx.segments) == report.passages
    assert len(idx.vectors(idx.live_rows())) == report.passages
    assert idx.generation == manifest_of(index_dir)["generation"]
    assert idx.doc_ids() == [a.id for a in load_articles(small_corpus_ro)]
    art = idx.article("lighthouse")
    assert art["title"] == "Old lighthouse restored" and art["source"] == "Coast News"
    assert idx.article("no-such-article") is None
    rows = idx.rows([2, 0])
    assert [r["row"] for r in rows] == [2, 0]
    for r in rows:
        assert r["text"] == idx.article(r["doc_id"])["text"][r["start"]:r["end"]] != ""
    assert idx.rows([]) == []
    assert idx.staleness(small_corpus_ro).stale is False


# ------------------------------------------------------------------ incremental == full

@slow
def test_incremental_rebuild_equals_full_rebuild(tmp_path, small_corpus, small_index_ro,
                                                 commits):
    from challenge_qa.text.chunking import passage_context
    from challenge_qa.text.lexical import build_bm25

    index_dir = copy_index(small_index_ro[0], tmp_path / "incremental")
    before_manifest = manifest_of(index_dir)
    before = live_content(index_dir)[0]

    # change one article, add one, delete one (a JSONL record)
    (small_corpus / "chess.txt").write_text(CHANGED_CHESS, encoding="utf-8")
    write_files(small_corpus, {"space/comet.md": NEW_ARTICLE})
    lines = (small_corpus / "extra.jsonl").read_text(encoding="utf-8").splitlines()
    (small_corpus / "extra.jsonl").write_text(lines[0] + "\n", encoding="utf-8")  # no marathon

    inc = build_index(small_corpus, index_dir, settings=SMALL)
    arts = {a.id: a for a in load_articles(small_corpus)}
    expected_embedded = (len(split_passages(arts["chess.txt"], SMALL))
                         + len(split_passages(arts["space/comet.md"], SMALL)))
    assert (inc.added, inc.changed, inc.removed, inc.unchanged) == (1, 1, 1, 3)
    assert inc.full is False
    assert inc.articles == 5
    assert inc.embedded_passages == expected_embedded < inc.passages
    inc_last_commit = commits[-1]

    full_dir = tmp_path / "full"
    full = build_index(small_corpus, full_dir, full=True, settings=SMALL)
    assert full.full is True and full.embedded_passages == full.passages == inc.passages
    assert (full.added, full.changed, full.removed, full.unchanged) == (5, 0, 0, 0)

    # the incremental build kept the old segment, marked the old chess and the marathon
    # deleted there, and added a segment with the new chess and the comet
    m_inc, m_full = manifest_of(index_dir), manifest_of(full_dir)
    old_seg = before_manifest["segments"][0]
    assert [e["name"] for e in m_inc["segments"]][0] == old_seg["name"]
    assert len(m_inc["segments"]) == inc.segments == 2 and len(m_full["segments"]) == 1
    kept, new = m_inc["segments"]
    assert kept["deleted_articles"] == 2 and kept["deleted"].startswith("del-")
    assert kept["deleted_passages"] == before["chess.txt"][-1] + before["marathon"][-1]
    assert (new["articles"], new["passages"], new["deleted"]) == (2, expected_embedded, None)
    assert m_inc["counts"] == m_full["counts"] == {"articles": 5, "passages": inc.passages}
    assert inc.passages == sum(e["passages"] - e["deleted_passages"]
                               for e in m_inc["segments"])

    # ... and holds what the full rebuild holds
    a_inc, p_inc, v_inc = live_content(index_dir)
    a_full, p_full, v_full = live_content(full_dir)
    assert a_inc == a_full
    assert set(a_inc) == set(arts)
    assert p_inc == p_full
    # unchanged: same hash and passage count; changed: a new hash
    assert a_inc["volcano.md"][5:] == before["volcano.md"][5:]
    assert a_inc["chess.txt"][5] != before["chess.txt"][5]
    assert v_inc.keys() == v_full.keys()
    for pid, vec in v_inc.items():
        np.testing.assert_allclose(vec, v_full[pid], atol=1e-5)

    # it ranks exactly as the full rebuild: BM25 uses corpus-wide statistics
    i_inc, i_full = load_index(index_dir, settings=SMALL), load_index(full_dir, settings=SMALL)
    assert i_inc.size == i_full.size and i_inc.rows_total > i_inc.size
    assert i_inc.lexical.n_docs == i_full.lexical.n_docs
    assert i_inc.lexical.avgdl == pytest.approx(i_full.lexical.avgdl, rel=1e-12)
    questions = [*QUESTIONS, "When is the comet visible?", "What book will the girl write?"]
    assert answers(i_inc, questions) == answers(i_full, questions)
    for a, b in zip(scores(i_inc, questions), scores(i_full, questions), strict=True):
        assert np.allclose(a, b, atol=1e-4)
    # and its BM25 is bm25s's over the live passages, whatever rows they sit in
    live = i_inc.live_rows()
    pids = [r["passage_id"] for r in i_inc.rows(live.tolist())]
    contexts = [passage_context(arts[p.doc_id].title, p.text, SMALL.title_context)
                for pid in pids for p in split_passages(arts[pid.rsplit("#", 1)[0]], SMALL)
                if p.passage_id == pid]
    ref = build_bm25(contexts, k1=SMALL.bm25_k1, b=SMALL.bm25_b)
    for q in questions:
        terms = i_inc.lexical.query_terms(q)
        got = i_inc.lexical.scores(terms)
        expected = ref.get_scores(terms) if terms else np.zeros(len(live))
        np.testing.assert_allclose(got[live], expected, rtol=1e-5, atol=1e-6)
        assert not got[np.setdiff1d(np.arange(i_inc.rows_total), live)].any()
    assert retrieve("When is the comet visible?", k=1, index=i_inc)[0].doc_id == "space/comet.md"
    assert all(h.doc_id != "marathon" for q in questions
               for h in retrieve(q, k=10, index=i_inc))

    # only the last commit and the one it replaced are kept on disk
    assert_only_the_last_two_commits_kept(index_dir, inc_last_commit)


@slow
def test_changed_chunking_forces_a_full_build(tmp_path, small_corpus_ro, small_index_ro):
    index_dir = copy_index(small_index_ro[0], tmp_path / "index")
    old_segments = {e["name"] for e in manifest_of(index_dir)["segments"]}
    other = SMALL.replace(chunk_chars=500)
    report = build_index(small_corpus_ro, index_dir, settings=other)
    assert report.full is True and report.embedded_passages == report.passages
    assert report.added == 5 and report.unchanged == 0
    assert load_index(index_dir, settings=other).manifest["chunking"]["chunk_chars"] == 500
    assert not old_segments & {e["name"] for e in manifest_of(index_dir)["segments"]}
    with pytest.raises(IndexMismatchError):
        load_index(index_dir, settings=SMALL)


# ------------------------------------------------------------------ refusing an index

@slow
@pytest.mark.parametrize("changes", [
    {"chunk_chars": 500},
    {"overlap_chars": 10},
    {"title_context": False},
], ids=["chunk_chars", "overlap_chars", "title_context"])
def test_other_chunking_is_refused(small_index_ro, changes):
    with pytest.raises(IndexMismatchError, match="was built with chunking") as e:
        load_index(small_index_ro[0], settings=SMALL.replace(**changes))
    assert "challenge-qa index --full" in e.value.hint


def _edit_manifest(index_dir: Path, **changes) -> None:
    m = manifest_of(index_dir)
    m.update(changes)
    (index_dir / MANIFEST).write_text(json.dumps(m), encoding="utf-8")


@slow
def test_other_model_is_refused(tmp_path, small_index_ro):
    index_dir = copy_index(small_index_ro[0], tmp_path / "index")
    _edit_manifest(index_dir, model="someone/other-model")
    with pytest.raises(IndexMismatchError, match="'someone/other-model'") as e:
        load_index(index_dir, settings=SMALL)
    assert "challenge-qa index --full" in e.value.hint
    # and the other way round: settings asking for another model than the index's
    with pytest.raises(IndexMismatchError, match="settings ask for 'someone/else'"):
        load_index(small_index_ro[0], settings=SMALL.replace(model="someone/else"))


@slow
@pytest.mark.parametrize("version", [4, 99, "3", None])
def test_future_or_odd_format_version_is_refused(tmp_path, small_index_ro, version):
    index_dir = copy_index(small_index_ro[0], tmp_path / "index")
    _edit_manifest(index_dir, format_version=version)
    with pytest.raises(IndexMismatchError, match="format version") as e:
        load_index(index_dir, settings=SMALL)
    assert "challenge-qa index --full" in e.value.hint


@slow
def test_sentence_table_holds_each_passages_sentences(small_index_ro, small_corpus_ro):
    idx = load_index(small_index_ro[0], settings=SMALL)
    passages = [p for a in load_articles(small_corpus_ro) for p in split_passages(a, SMALL)]
    spans = idx.sentence_spans(list(range(idx.size)))
    assert [[tuple(x) for x in sp.tolist()] for sp in spans] == [
        list(p.sentences) for p in passages]
    for p, sp in zip(passages, spans, strict=True):
        assert sp[0, 0] == p.start and sp[-1, 1] == p.end  # they tile the passage
        assert (sp[:, 0] < sp[:, 1]).all() and (sp[1:, 0] >= sp[:-1, 1]).all()


def _older_format_index(index_dir: Path, version: int) -> None:
    """Turn ``index_dir`` into what an older release left: one generation folder named by
    the manifest's "data", its articles listed in the manifest, no segments."""
    m = manifest_of(index_dir)
    for entry in m["segments"]:
        shutil.rmtree(index_dir / entry["name"])
    gen = index_dir / "gen-18a2b3c4d5e6f7a8b"
    gen.mkdir()
    for name in ("dense.faiss", "embeddings.npy", "passages.npy", "passages.sqlite",
                 "sentences.npy", "sentence_ptr.npy"):
        (gen / name).write_bytes(b"old format")
    (gen / "bm25").mkdir()
    old = {k: v for k, v in m.items() if k not in ("segments", "generation")}
    old.update(format_version=version, data=gen.name,
               articles={i: ["0" * 64, 0, 1] for i in SMALL_IDS})
    (index_dir / MANIFEST).write_text(json.dumps(old), encoding="utf-8")


@slow
@pytest.mark.parametrize("version", [1, 2])
def test_older_format_index_is_refused_and_rebuilt_by_index(tmp_path, small_index_ro,
                                                            small_corpus_ro, version):
    """An index written by an older release (one generation folder, format 1 or 2) is
    refused with a hint to rebuild; `challenge-qa index` (no --full needed) rebuilds it
    in the current format, removes the old folder, and it answers as a fresh build."""
    index_dir = copy_index(small_index_ro[0], tmp_path / "index")
    _older_format_index(index_dir, version)
    with pytest.raises(IndexMismatchError, match=f"format version {version}") as e:
        load_index(index_dir, settings=SMALL)
    assert "older release" in str(e.value)
    assert e.value.hint == "Rebuild it with: challenge-qa index"
    result = invoke("status", "--index", index_dir, "--corpus", small_corpus_ro)
    assert result.exit_code == 0 and "challenge-qa index" in result.output

    env = {"CHALLENGE_QA_CHUNK_CHARS": str(SMALL.chunk_chars),
           "CHALLENGE_QA_OVERLAP_CHARS": str(SMALL.overlap_chars)}
    result = invoke("index", "--corpus", small_corpus_ro, "--index", index_dir, env=env)
    assert result.exit_code == 0, (result.output, result.exception)
    assert "Indexed 5 article(s)" in result.stdout and "5 added" in result.stdout
    m = manifest_of(index_dir)
    assert m["format_version"] == FORMAT_VERSION and "data" not in m and "articles" not in m
    assert not list(index_dir.glob("gen-*"))
    assert on_disk(index_dir) == {e["name"] for e in m["segments"]}
    rebuilt = load_index(index_dir, settings=SMALL)
    fresh = load_index(small_index_ro[0], settings=SMALL)
    assert rebuilt.size == fresh.size
    for q in ("Where do the bees find flowers?", "What did the volcano do on Sunday?"):
        assert retrieve(q, k=5, index=rebuilt) == retrieve(q, k=5, index=fresh)


def _seg(index_dir: Path) -> Path:
    return segment_dirs(index_dir)[0]


@slow
def test_damaged_sentence_table_is_detected(tmp_path, small_index_ro):
    index_dir = copy_index(small_index_ro[0], tmp_path / "index")
    np.save(_seg(index_dir) / "sentence_ptr.npy", np.zeros(3, dtype=np.int64))
    with pytest.raises(IndexCorruptError, match="damaged or incomplete .*different numbers"):
        load_index(index_dir, settings=SMALL)


def _garbage_manifest(index_dir: Path) -> None:
    (index_dir / MANIFEST).write_text("{not json", encoding="utf-8")


def _manifest_without_segments(index_dir: Path) -> None:
    m = manifest_of(index_dir)
    del m["segments"]
    (index_dir / MANIFEST).write_text(json.dumps(m), encoding="utf-8")


def _remove(name):
    def damage(index_dir: Path) -> None:
        (_seg(index_dir) / name).unlink()
    return damage


def _truncate_vectors(index_dir: Path) -> None:
    p = _seg(index_dir) / "vectors.npy"
    p.write_bytes(p.read_bytes()[:100])


def _wrong_count(index_dir: Path) -> None:
    m = manifest_of(index_dir)
    m["counts"]["passages"] += 1
    (index_dir / MANIFEST).write_text(json.dumps(m), encoding="utf-8")


def _remove_segment(index_dir: Path) -> None:
    shutil.rmtree(_seg(index_dir))


def _missing_deletions_file(index_dir: Path) -> None:
    m = manifest_of(index_dir)
    m["segments"][0].update(deleted="del-0000-" + m["segments"][0]["name"] + ".npy")
    (index_dir / MANIFEST).write_text(json.dumps(m), encoding="utf-8")


@slow
@pytest.mark.parametrize(("damage", "message"), [
    (_garbage_manifest, "manifest .* is unreadable"),
    (_manifest_without_segments, "manifest .* is unreadable"),
    (_remove("dense.faiss"), "damaged or incomplete"),
    (_remove("segment.sqlite"), "damaged or incomplete"),
    (_remove("passages.npy"), "damaged or incomplete"),
    (_remove("postings_doc.npy"), "damaged or incomplete"),
    (_remove("terms.json"), "damaged or incomplete"),
    (_truncate_vectors, "damaged or incomplete"),
    (_remove_segment, "damaged or incomplete"),
    (_missing_deletions_file, "damaged or incomplete"),
    (_wrong_count, "inconsistent"),
], ids=["garbage-manifest", "no-segments-key", "no-faiss", "no-sqlite", "no-spans",
        "no-postings", "no-terms", "truncated-vectors", "no-segment", "no-deletions-file",
        "wrong-count"])
def test_damaged_index_is_reported(tmp_path, small_index_ro, small_corpus_ro, damage, message):
    index_dir = copy_index(small_index_ro[0], tmp_path / "index")
    damage(index_dir)
    with pytest.raises(IndexCorruptError, match=message) as e:
        load_index(index_dir, settings=SMALL)
    assert "challenge-qa index --full" in e.value.hint
    # the build the hint names repairs it; so does a plain build when a file is missing
    missing = damage in (_garbage_manifest, _manifest_without_segments, _remove_segment,
                         _missing_deletions_file) or getattr(damage, "__name__", "") == "damage"
    report = build_index(small_corpus_ro, index_dir, full=not missing, settings=SMALL)
    assert report.full is True and report.articles == 5
    assert load_index(index_dir, settings=SMALL).size == report.passages


# ------------------------------------------------------------------ staleness

@slow
def test_staleness(tmp_path, small_corpus, small_index_ro):
    index_dir = copy_index(small_index_ro[0], tmp_path / "index")
    idx = load_index(index_dir, settings=SMALL)
    fresh = idx.staleness(small_corpus)  # same content, other files: hashes decide
    assert fresh.stale is False and fresh.describe() == "up to date"

    # touching a file changes its mtime but not its content: still up to date
    os.utime(small_corpus / "volcano.md", ns=(1, 1))
    assert idx.staleness(small_corpus).stale is False

    with open(small_corpus / "volcano.md", "a", encoding="utf-8") as f:
        f.write("\nA second eruption followed on Wednesday.\n")
    s = idx.staleness(small_corpus)
    assert (s.added, s.changed, s.removed, s.stale) == (0, 1, 0, True)
    assert "1 changed" in s.describe() and "challenge-qa index" in s.describe()

    write_files(small_corpus, {"new.txt": "A new article\nWith new text."})
    (small_corpus / "extra.jsonl").unlink()
    s = idx.staleness(small_corpus)
    assert (s.added, s.changed, s.removed) == (1, 1, 2)

    assert idx.staleness(tmp_path / "gone").removed == 5
    assert manifest_of(index_dir) == idx.manifest  # checking writes nothing


@slow
def test_staleness_defaults_to_the_built_corpus(tmp_path, small_corpus):
    index_dir = tmp_path / "index"
    build_index(small_corpus, index_dir, settings=SMALL)
    idx = load_index(index_dir, settings=SMALL)
    assert idx.manifest["corpus"] == str(small_corpus)
    assert idx.staleness().stale is False
    (small_corpus / "chess.txt").write_text(CHANGED_CHESS, encoding="utf-8")
    assert idx.staleness().changed == 1


# ------------------------------------------------------------------ interrupted builds

@slow
@pytest.mark.parametrize(("target", "exc"), [
    # before the new segment is complete: while writing its passages, its BM25 postings
    ("challenge_qa.store.writer.SegmentWriter.add", OSError),
    ("challenge_qa.store.writer.postings", RuntimeError),
    # after it is complete, before the commit: the deletions it supersedes, the manifest
    ("challenge_qa.store.writer.save_deletions", OSError),
    ("challenge_qa.store.manifest.commit", KeyboardInterrupt),
], ids=["add", "postings", "deletions", "commit"])
def test_interrupted_build_keeps_the_previous_index(tmp_path, small_corpus, small_index_ro,
                                                    monkeypatch, target, exc):
    index_dir = copy_index(small_index_ro[0], tmp_path / "index")
    manifest_before = (index_dir / MANIFEST).read_bytes()
    answers_before = answers(load_index(index_dir, settings=SMALL))

    (small_corpus / "chess.txt").write_text(CHANGED_CHESS, encoding="utf-8")
    write_files(small_corpus, {"space/comet.md": NEW_ARTICLE})

    def boom(*args, **kwargs):
        raise exc("simulated crash")

    with monkeypatch.context() as m:
        m.setattr(target, boom)
        with pytest.raises(exc, match="simulated crash"):
            build_index(small_corpus, index_dir, settings=SMALL)

    assert (index_dir / MANIFEST).read_bytes() == manifest_before
    assert not list(index_dir.glob("*.partial"))
    assert not list(index_dir.glob(".*.tmp"))
    idx = load_index(index_dir, settings=SMALL)
    assert answers(idx) == answers_before
    assert idx.staleness(small_corpus).stale  # the corpus did change

    # the next build succeeds and removes whatever the crash left behind
    seen: list[tuple[dict, dict | None]] = []
    real = mf.commit
    monkeypatch.setattr(mf, "commit", lambda d, m, p: (real(d, m, p), seen.append((m, p))))
    report = build_index(small_corpus, index_dir, settings=SMALL)
    assert (report.added, report.changed) == (1, 1)
    assert seen
    assert_only_the_last_two_commits_kept(index_dir, seen[-1])
    assert load_index(index_dir, settings=SMALL).staleness(small_corpus).stale is False


# ------------------------------------------------------------------ get_index cache

@slow
def test_get_index_caches_and_reloads_after_a_build(tmp_path, small_corpus, small_index_ro):
    index_dir = copy_index(small_index_ro[0], tmp_path / "index")
    s = SMALL.replace(index_dir=index_dir, corpus_dir=small_corpus)
    first = get_index(s)
    assert get_index(s) is first
    assert read_manifest(index_dir)["generation"] == first.generation

    write_files(small_corpus, {"space/comet.md": NEW_ARTICLE})
    build_index(small_corpus, index_dir, settings=s)
    second = get_index(s)
    assert second is not first and second.generation != first.generation
    assert second.article("space/comet.md") is not None
    assert get_index(s) is second
    # the old Index keeps answering from its own (previous) commit
    assert first.article("space/comet.md") is None
    assert retrieve("When is the comet visible?", k=1, index=first)[0].doc_id != (
        "space/comet.md")
    assert retrieve("When is the comet visible?", k=1, settings=s)[0].doc_id == (
        "space/comet.md")


@slow
def test_get_index_respects_settings(tmp_path, small_index_ro):
    index_dir = copy_index(small_index_ro[0], tmp_path / "index")
    with pytest.raises(IndexMismatchError):
        get_index(DEFAULT.replace(index_dir=index_dir))  # default chunking != SMALL's
    assert get_index(SMALL.replace(index_dir=index_dir)).settings.chunk_chars == 300


# ------------------------------------------------------------------ found bugs

@slow
@pytest.mark.parametrize("full", [False, True], ids=["incremental", "full"])
def test_rebuild_keeps_the_previous_commit(tmp_path, small_corpus_ro, small_index_ro, full):
    """mf.commit promises that after a build the files of the manifest it replaced
    stay, so a reader that read the old manifest just before the swap can still open
    them."""
    index_dir = copy_index(small_index_ro[0], tmp_path / "index")
    old = manifest_of(index_dir)
    before = answers(load_index(index_dir, settings=SMALL))
    corpus = small_corpus_ro
    if not full:  # an incremental build with nothing to do commits nothing at all
        corpus = shutil.copytree(small_corpus_ro, tmp_path / "corpus")
        (corpus / "extra.md").write_text("# Extra\n\nA new article about tides.\n")
    build_index(corpus, index_dir, full=full, settings=SMALL)
    new = manifest_of(index_dir)
    assert new["generation"] != old["generation"]
    assert referenced(old) <= on_disk(index_dir)
    if full:  # a full rebuild writes all new segments
        assert not referenced(old) & referenced(new)
    else:  # an incremental one keeps the old segment and adds one
        assert [e["name"] for e in new["segments"]][:1] == [old["segments"][0]["name"]]
        assert len(new["segments"]) == 2
    # a reader holding the old manifest opens and answers from it as before
    late = Index(index_dir, old, SMALL)
    try:
        assert answers(late) == before
    finally:
        late.close()


@slow
def test_a_rebuild_with_nothing_to_do_keeps_the_data_and_loads_no_model(
        tmp_path, small_corpus_ro, small_index_ro):
    """An up-to-date corpus needs no embedding, so `challenge-qa index` (or a repeated
    `eval`) commits nothing, answers as before, and never loads the model just to encode
    an empty list."""
    from challenge_qa.encoders.embedding import SentenceTransformerEmbedder

    class NoLoad(SentenceTransformerEmbedder):
        def _load(self):
            raise AssertionError("the model was loaded for a build with nothing to embed")

    index_dir = copy_index(small_index_ro[0], tmp_path / "index")
    answered = answers(load_index(index_dir, settings=SMALL))
    before = manifest_of(index_dir)
    before_bytes = (index_dir / MANIFEST).read_bytes()
    report = build_index(small_corpus_ro, index_dir, settings=SMALL,
                         embedder=NoLoad(SMALL.model))
    assert (report.embedded_passages, report.added, report.changed, report.removed) == (
        0, 0, 0, 0)
    assert report.unchanged == report.articles == before["counts"]["articles"] == 5
    assert report.full is False
    assert answers(load_index(index_dir, settings=SMALL)) == answered
    assert (index_dir / MANIFEST).read_bytes() == before_bytes  # nothing was committed
    assert on_disk(index_dir) == referenced(before)
    # a setting that shapes the index (BM25 parameters) does force a new commit
    build_index(small_corpus_ro, index_dir, settings=SMALL.replace(bm25_k1=1.5))
    after = manifest_of(index_dir)
    assert after["generation"] != before["generation"]
    assert after["bm25"]["k1"] == 1.5


