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
from helpers import DEFAULT, SMALL, SMALL_IDS, copy_index, write_files

import challenge_qa.store as store
from challenge_qa.chunking import split_passages
from challenge_qa.corpus import load_articles
from challenge_qa.errors import (
    CorpusEmptyError,
    IndexCorruptError,
    IndexLockedError,
    IndexMismatchError,
    IndexNotFoundError,
)
from challenge_qa.retrieval import retrieve
from challenge_qa.store import build_index, get_index, load_index, read_manifest

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
    return json.loads((index_dir / "manifest.json").read_text(encoding="utf-8"))


def data_dir(index_dir: Path) -> Path:
    return index_dir / manifest_of(index_dir)["data"]


def sqlite_rows(index_dir: Path):
    con = sqlite3.connect(data_dir(index_dir) / "passages.sqlite")
    try:
        arts = con.execute("SELECT idx, id, title, source, date, url, path, sha256, text "
                           "FROM articles ORDER BY idx").fetchall()
        passages = con.execute('SELECT p.row, a.id, p.passage_id, p.start, p."end" FROM '
                               "passages p JOIN articles a ON a.idx = p.doc_idx "
                               "ORDER BY p.row").fetchall()
    finally:
        con.close()
    return arts, passages


def answers(index, questions=QUESTIONS, k=4):
    return [[(h.doc_id, h.passage_id, h.start, h.end) for h in retrieve(q, k=k, index=index)]
            for q in questions]


def scores(index, questions=QUESTIONS, k=4):
    return [[(h.score, h.dense_score, h.bm25_score) for h in retrieve(q, k=k, index=index)]
            for q in questions]


def generations(index_dir: Path) -> set[str]:
    return {p.name for p in index_dir.glob("gen-*")}


# ------------------------------------------------------------------ no model needed

def test_empty_corpus_builds_nothing(tmp_path):
    corpus = write_files(tmp_path / "corpus", {"empty.md": ""})
    with pytest.raises(CorpusEmptyError):
        build_index(corpus, tmp_path / "index", settings=SMALL)
    assert not (tmp_path / "index").exists()


def test_build_refused_while_another_holds_the_lock(tmp_path, small_corpus):
    index_dir = tmp_path / "index"
    index_dir.mkdir()
    fd = os.open(index_dir / store.LOCK, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(IndexLockedError, match="Another build") as e:
            build_index(small_corpus, index_dir, settings=SMALL)
        assert "Wait" in e.value.hint
    finally:
        os.close(fd)
    assert not (index_dir / "manifest.json").exists()


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

    m = manifest_of(index_dir)
    assert m["format_version"] == store.FORMAT_VERSION == 2
    assert m["model"] == SMALL.model and m["dimension"] == 384
    assert m["chunking"] == SMALL.chunking()
    assert m["counts"] == {"articles": 5, "passages": n_passages}
    assert set(m["articles"]) == SMALL_IDS
    assert set(m["files"]) == {"volcano.md", "chess.txt", "nature/bees.html", "extra.jsonl"}
    data = index_dir / m["data"]
    assert data.name.startswith("gen-") and data.is_dir()
    for name in ("dense.faiss", "embeddings.npy", "passages.npy", "passages.sqlite",
                 "sentences.npy", "sentence_ptr.npy"):
        assert (data / name).is_file(), name
    assert (data / "bm25").is_dir()
    assert not list(index_dir.glob("*.partial"))

    emb = np.load(data / "embeddings.npy")
    assert emb.shape == (n_passages, 384) and emb.dtype == np.float32
    assert np.allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-4)


@slow
def test_passages_in_sqlite_match_the_articles(small_index_ro, small_corpus_ro):
    index_dir, _ = small_index_ro
    arts = load_articles(small_corpus_ro)
    db_arts, db_passages = sqlite_rows(index_dir)
    assert [r[1] for r in db_arts] == [a.id for a in arts]
    for row, a in zip(db_arts, arts, strict=True):
        assert row[2:] == (a.title, a.source, a.date, a.url, a.path, a.sha256, a.text)
    expected = [(p.doc_id, p.passage_id, p.start, p.end) for a in arts
                for p in split_passages(a, SMALL)]
    assert [r[1:] for r in db_passages] == expected
    assert [r[0] for r in db_passages] == list(range(len(expected)))
    spans = np.load(data_dir(index_dir) / "passages.npy")
    ids = [a.id for a in arts]
    assert [(ids[d], s, e) for d, s, e in spans.tolist()] == [
        (d, s, e) for d, _, s, e in expected]
    m = manifest_of(index_dir)
    first = 0
    for a in arts:
        sha, start, n = m["articles"][a.id]
        assert (sha, start, n) == (a.sha256, first, len(split_passages(a, SMALL)))
        first += n


@slow
def test_loaded_index_parts(small_index_ro, small_corpus_ro):
    index_dir, report = small_index_ro
    idx = load_index(index_dir, settings=SMALL)
    assert idx.size == report.passages == idx.dense.ntotal == len(idx.embeddings)
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
def test_incremental_rebuild_equals_full_rebuild(tmp_path, small_corpus, small_index_ro):
    index_dir = copy_index(small_index_ro[0], tmp_path / "incremental")
    # make sure the copied index is the small corpus's (its files are equal, paths differ)
    before = manifest_of(index_dir)["articles"]

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

    full_dir = tmp_path / "full"
    full = build_index(small_corpus, full_dir, full=True, settings=SMALL)
    assert full.full is True and full.embedded_passages == full.passages == inc.passages
    assert (full.added, full.changed, full.removed, full.unchanged) == (5, 0, 0, 0)

    m_inc, m_full = manifest_of(index_dir), manifest_of(full_dir)
    assert m_inc["articles"] == m_full["articles"]
    assert set(m_inc["articles"]) == set(arts)
    assert m_inc["counts"] == m_full["counts"]
    # unchanged: same hash and passage count (its rows moved: an article before it went)
    assert m_inc["articles"]["volcano.md"][::2] == before["volcano.md"][::2]
    assert m_inc["articles"]["chess.txt"][0] != before["chess.txt"][0]
    assert sqlite_rows(index_dir) == sqlite_rows(full_dir)

    e_inc = np.load(data_dir(index_dir) / "embeddings.npy")
    e_full = np.load(data_dir(full_dir) / "embeddings.npy")
    assert e_inc.shape == e_full.shape
    np.testing.assert_allclose(e_inc, e_full, atol=1e-5)
    np.testing.assert_array_equal(np.load(data_dir(index_dir) / "passages.npy"),
                                  np.load(data_dir(full_dir) / "passages.npy"))

    i_inc, i_full = load_index(index_dir, settings=SMALL), load_index(full_dir, settings=SMALL)
    questions = [*QUESTIONS, "When is the comet visible?", "What book will the girl write?"]
    assert answers(i_inc, questions) == answers(i_full, questions)
    for a, b in zip(scores(i_inc, questions), scores(i_full, questions), strict=True):
        assert np.allclose(a, b, atol=1e-4)
    assert retrieve("When is the comet visible?", k=1, index=i_inc)[0].doc_id == "space/comet.md"
    assert all(h.doc_id != "marathon" for q in questions
               for h in retrieve(q, k=10, index=i_inc))

    # at most the new and the previous generation are kept
    assert len(generations(index_dir)) <= 2
    assert m_inc["data"] in generations(index_dir)


@slow
def test_rebuild_without_changes_embeds_nothing(tmp_path, small_corpus_ro, small_index_ro):
    index_dir = copy_index(small_index_ro[0], tmp_path / "index")
    before = answers(load_index(index_dir, settings=SMALL))
    report = build_index(small_corpus_ro, index_dir, settings=SMALL)
    assert (report.added, report.changed, report.removed, report.unchanged) == (0, 0, 0, 5)
    assert report.embedded_passages == 0 and report.full is False
    assert answers(load_index(index_dir, settings=SMALL)) == before


@slow
def test_changed_chunking_forces_a_full_build(tmp_path, small_corpus_ro, small_index_ro):
    index_dir = copy_index(small_index_ro[0], tmp_path / "index")
    other = SMALL.replace(chunk_chars=500)
    report = build_index(small_corpus_ro, index_dir, settings=other)
    assert report.full is True and report.embedded_passages == report.passages
    assert report.added == 5 and report.unchanged == 0
    assert load_index(index_dir, settings=other).manifest["chunking"]["chunk_chars"] == 500
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
    (index_dir / "manifest.json").write_text(json.dumps(m), encoding="utf-8")


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
@pytest.mark.parametrize("version", [3, 99, "1", None])
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


@slow
def test_format_1_index_still_answers_and_is_upgraded(tmp_path, small_index_ro,
                                                      small_corpus_ro):
    """An index written before sentence spans were stored: its sentences are found at query
    time, with the same hits; the next build rewrites it in the current format even though
    no article changed (reusing its vectors)."""
    index_dir = copy_index(small_index_ro[0], tmp_path / "index")
    data = index_dir / manifest_of(index_dir)["data"]
    (data / "sentences.npy").unlink()
    (data / "sentence_ptr.npy").unlink()
    _edit_manifest(index_dir, format_version=1)
    old = load_index(index_dir, settings=SMALL)
    assert old.sentence_spans([0]) is None
    new = load_index(small_index_ro[0], settings=SMALL)
    for q in ("Where do the bees find flowers?", "What did the volcano do on Sunday?"):
        assert retrieve(q, k=5, index=old) == retrieve(q, k=5, index=new)
    report = build_index(small_corpus_ro, index_dir, settings=SMALL)
    assert report.embedded_passages == 0 and report.unchanged == 5
    assert manifest_of(index_dir)["format_version"] == store.FORMAT_VERSION
    assert load_index(index_dir, settings=SMALL).sentence_spans([0]) is not None


@slow
def test_damaged_sentence_table_is_detected(tmp_path, small_index_ro):
    index_dir = copy_index(small_index_ro[0], tmp_path / "index")
    data = index_dir / manifest_of(index_dir)["data"]
    np.save(data / "sentence_ptr.npy", np.zeros(3, dtype=np.int64))
    with pytest.raises(IndexCorruptError, match="sentence table"):
        load_index(index_dir, settings=SMALL)


def _garbage_manifest(index_dir: Path) -> None:
    (index_dir / "manifest.json").write_text("{not json", encoding="utf-8")


def _manifest_without_data(index_dir: Path) -> None:
    m = manifest_of(index_dir)
    del m["data"]
    (index_dir / "manifest.json").write_text(json.dumps(m), encoding="utf-8")


def _remove(name):
    def damage(index_dir: Path) -> None:
        target = data_dir(index_dir) / name
        if target.is_dir():
            import shutil

            shutil.rmtree(target)
        else:
            target.unlink()
    return damage


def _truncate_embeddings(index_dir: Path) -> None:
    p = data_dir(index_dir) / "embeddings.npy"
    p.write_bytes(p.read_bytes()[:100])


def _wrong_count(index_dir: Path) -> None:
    m = manifest_of(index_dir)
    m["counts"]["passages"] += 1
    (index_dir / "manifest.json").write_text(json.dumps(m), encoding="utf-8")


def _remove_generation(index_dir: Path) -> None:
    import shutil

    shutil.rmtree(data_dir(index_dir))


@slow
@pytest.mark.parametrize(("damage", "message"), [
    (_garbage_manifest, "manifest .* is unreadable"),
    (_manifest_without_data, "manifest .* is unreadable"),
    (_remove("dense.faiss"), "damaged or incomplete"),
    (_remove("passages.sqlite"), "damaged or incomplete"),
    (_remove("passages.npy"), "damaged or incomplete"),
    (_remove("bm25"), "damaged or incomplete"),
    (_truncate_embeddings, "damaged or incomplete"),
    (_remove_generation, "damaged or incomplete"),
    (_wrong_count, "inconsistent"),
], ids=["garbage-manifest", "no-data-key", "no-faiss", "no-sqlite", "no-spans", "no-bm25",
        "truncated-embeddings", "no-generation", "wrong-count"])
def test_damaged_index_is_reported(tmp_path, small_index_ro, small_corpus_ro, damage, message):
    index_dir = copy_index(small_index_ro[0], tmp_path / "index")
    damage(index_dir)
    with pytest.raises(IndexCorruptError, match=message) as e:
        load_index(index_dir, settings=SMALL)
    assert "challenge-qa index --full" in e.value.hint
    # an ordinary (incremental) build repairs it
    report = build_index(small_corpus_ro, index_dir, settings=SMALL)
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
    ("build_bm25", RuntimeError),         # before the new generation is complete
    ("_write_sqlite", OSError),           # idem, while writing passages
    ("_commit_manifest", KeyboardInterrupt),  # after it is complete, before the commit
])
def test_interrupted_build_keeps_the_previous_index(tmp_path, small_corpus, small_index_ro,
                                                    monkeypatch, target, exc):
    index_dir = copy_index(small_index_ro[0], tmp_path / "index")
    manifest_before = (index_dir / "manifest.json").read_bytes()
    answers_before = answers(load_index(index_dir, settings=SMALL))

    (small_corpus / "chess.txt").write_text(CHANGED_CHESS, encoding="utf-8")
    write_files(small_corpus, {"space/comet.md": NEW_ARTICLE})

    def boom(*args, **kwargs):
        raise exc("simulated crash")

    with monkeypatch.context() as m:
        m.setattr(store, target, boom)
        with pytest.raises(exc, match="simulated crash"):
            build_index(small_corpus, index_dir, settings=SMALL)

    assert (index_dir / "manifest.json").read_bytes() == manifest_before
    assert not list(index_dir.glob("*.partial"))
    assert not list(index_dir.glob(".manifest.json.*.tmp"))
    idx = load_index(index_dir, settings=SMALL)
    assert answers(idx) == answers_before
    assert idx.staleness(small_corpus).stale  # the corpus did change

    # the next build succeeds and removes whatever the crash left behind
    report = build_index(small_corpus, index_dir, settings=SMALL)
    assert (report.added, report.changed) == (1, 1)
    gens = generations(index_dir)
    assert len(gens) <= 2 and manifest_of(index_dir)["data"] in gens
    assert load_index(index_dir, settings=SMALL).staleness(small_corpus).stale is False


# ------------------------------------------------------------------ get_index cache

@slow
def test_get_index_caches_and_reloads_after_a_build(tmp_path, small_corpus, small_index_ro):
    index_dir = copy_index(small_index_ro[0], tmp_path / "index")
    s = SMALL.replace(index_dir=index_dir, corpus_dir=small_corpus)
    first = get_index(s)
    assert get_index(s) is first
    assert read_manifest(index_dir)["data"] == first.manifest["data"]

    write_files(small_corpus, {"space/comet.md": NEW_ARTICLE})
    build_index(small_corpus, index_dir, settings=s)
    second = get_index(s)
    assert second is not first
    assert "space/comet.md" in second.manifest["articles"]
    assert get_index(s) is second
    # the old Index keeps answering from its own (previous) generation
    assert "space/comet.md" not in first.manifest["articles"]
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
def test_rebuild_keeps_the_previous_generation(tmp_path, small_corpus_ro, small_index_ro, full):
    """store._clean_leftovers promises that after a build the previous generation stays, so
    a reader that read the old manifest just before the swap can still open its files."""
    index_dir = copy_index(small_index_ro[0], tmp_path / "index")
    old_gen = manifest_of(index_dir)["data"]
    corpus = small_corpus_ro
    if not full:  # an incremental build with nothing to do writes no generation at all
        corpus = shutil.copytree(small_corpus_ro, tmp_path / "corpus")
        (corpus / "extra.md").write_text("# Extra\n\nA new article about tides.\n")
    build_index(corpus, index_dir, full=full, settings=SMALL)
    new_gen = manifest_of(index_dir)["data"]
    assert new_gen != old_gen
    assert generations(index_dir) == {old_gen, new_gen}


@slow
def test_a_rebuild_with_nothing_to_do_keeps_the_data_and_loads_no_model(
        tmp_path, small_corpus_ro, small_index_ro):
    index_dir = copy_index(small_index_ro[0], tmp_path / "index")
    before = manifest_of(index_dir)
    report = build_index(small_corpus_ro, index_dir, settings=SMALL)
    assert (report.embedded_passages, report.added, report.changed, report.removed) == (
        0, 0, 0, 0)
    assert report.unchanged == report.articles == before["counts"]["articles"]
    assert manifest_of(index_dir)["data"] == before["data"]
    assert generations(index_dir) == {before["data"]}
    # a setting that shapes the index (BM25 parameters) does force a new generation
    build_index(small_corpus_ro, index_dir, settings=SMALL.replace(bm25_k1=1.5))
    assert manifest_of(index_dir)["data"] != before["data"]


@slow
def test_rebuild_with_nothing_to_embed_does_not_load_the_model(tmp_path, small_corpus_ro,
                                                               small_index_ro, monkeypatch):
    """An up-to-date corpus needs no embedding, so `challenge-qa index` (or a repeated
    `eval`) should not load torch and the model just to encode an empty list."""
    from challenge_qa.embedding import SentenceTransformerEmbedder

    class NoLoad(SentenceTransformerEmbedder):
        def _load(self):
            raise AssertionError("the model was loaded for a build with nothing to embed")

    index_dir = copy_index(small_index_ro[0], tmp_path / "index")
    monkeypatch.setattr(store, "get_embedder", lambda name, **kw: NoLoad(name))
    report = build_index(small_corpus_ro, index_dir, settings=SMALL)
    assert report.embedded_passages == 0 and report.unchanged == 5
