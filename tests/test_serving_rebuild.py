"""Serving while the index is rebuilt: readers in threads never fail and never see a mix of
two commits (each call answers from the one manifest it loaded); afterwards the final
commit (and its new fact) is served. Engine reports a changed corpus as stale and
swaps in the rebuilt index."""

from __future__ import annotations

import threading
import time

import pytest
from helpers import SMALL, copy_index, write_files

import challenge_qa.engine as service_mod
import challenge_qa.store.manifest as mf
from challenge_qa import answer, build_index, load_index, retrieve
from challenge_qa.engine import Engine, get_index
from challenge_qa.search.index import Index
from challenge_qa.store.manifest import MANIFEST, read_manifest_quiet

pytestmark = pytest.mark.slow

QUESTIONS = [
    "What did the volcano do on Sunday?",
    "Who won the chess championship?",
    "How far can ships see the lighthouse beam?",
    "Which comet did astronomers in Chile photograph?",
]
NEW_QUESTION = "Which comet did astronomers in Chile photograph?"
NEW_ID = "space/comet.md"
COMET = ("---\ntitle: Comet seen over Chile\nsource: Sky Daily\n---\n\nAstronomers in Chile "
         "photographed the bright green comet Zelkova-7 on Tuesday. The comet passes the sun "
         "only once every fifty thousand years.\n")
FILLER = {f"filler/{i:02d}.txt": f"Harbour note {i}\nThe ferry number {i} left the harbour "
          f"at {i % 12 + 1} o'clock with {10 + i} passengers and a cargo of apples.\n"
          for i in range(20)}
MAX_CALLS = 150  # per thread, while the build runs
POST_BUILD_CALLS = 3
MAX_SECONDS = 240
K = 3


def key(hits) -> list[tuple]:
    return [(h.doc_id, h.passage_id, h.start, h.end) for h in hits]


def scores(hits) -> list[float]:
    return [h.score for h in hits]


def live_ids(idx: Index) -> set[str]:
    """The ids of the articles an index serves (deleted ones left out)."""
    ids = idx.doc_ids()
    return {ids[d] for d in idx.spans(idx.live_rows())[:, 0].tolist()}


def test_readers_see_one_whole_commit_during_a_rebuild(tmp_path, small_corpus,
                                                       small_index_ro, monkeypatch):
    index_dir = copy_index(small_index_ro[0], tmp_path / "index")
    s = SMALL.replace(index_dir=index_dir, corpus_dir=small_corpus)
    old = load_index(index_dir, settings=s)
    def results(idx):
        """What each kind of call returns on ``idx``: retrieve's hits, answer's hits."""
        return {q: {"hits": retrieve(q, k=K, index=idx),
                    "answer": answer(q, k=K, index=idx).hits} for q in QUESTIONS}

    expected = {old.generation: results(old)}
    assert all(h.doc_id != NEW_ID for got in expected[old.generation].values()
               for hits in got.values() for h in hits)
    committed: list[str] = []  # the generations the build commits, in order
    real_commit = mf.commit

    def spy(index_dir, manifest, previous):
        real_commit(index_dir, manifest, previous)
        committed.append(manifest["generation"])

    monkeypatch.setattr(mf, "commit", spy)

    records: list[tuple] = []  # (thread, generation, question, kind, result, after_build)
    held: dict[str, Index] = {old.generation: old}  # an Index of each generation read
    errors: list[BaseException] = []
    started = threading.Barrier(4)
    built = threading.Event()
    t_end = time.monotonic() + MAX_SECONDS

    def call(n: int, i: int, after_build: bool) -> None:
        q = QUESTIONS[(i + n) % len(QUESTIONS)]
        idx = get_index(s)
        gen = idx.generation
        held.setdefault(gen, idx)
        if n == 2:  # one thread asks for answers, the others for hits
            records.append((n, gen, q, "answer", answer(q, k=K, index=idx), after_build))
        else:
            records.append((n, gen, q, "hits", retrieve(q, k=K, index=idx), after_build))

    def reader(n: int) -> None:
        try:
            started.wait(timeout=60)
            i = 0
            # during the build: until it ends, at most MAX_CALLS calls, at most MAX_SECONDS
            while not built.is_set() and i < MAX_CALLS and time.monotonic() < t_end:
                call(n, i, False)
                i += 1
            built.wait(timeout=max(0.0, t_end - time.monotonic()))
            for j in range(POST_BUILD_CALLS):  # started after the commit: the new index
                call(n, i + j, True)
        except BaseException as e:  # noqa: BLE001 - reported by the main thread
            errors.append(e)

    threads = [threading.Thread(target=reader, args=(n,), daemon=True) for n in range(3)]
    for t in threads:
        t.start()
    started.wait(timeout=60)
    while len({r[0] for r in records}) < 3 and not errors and time.monotonic() < t_end:
        time.sleep(0.01)  # every reader has answered from the old index at least once
    # the comet, and enough other new articles that the build takes a while
    write_files(small_corpus, {NEW_ID: COMET, **FILLER})
    before_build = len(records)
    report = build_index(small_corpus, index_dir, settings=s)
    during_build = len(records) - before_build
    built.set()
    for t in threads:
        t.join(timeout=MAX_SECONDS)
    assert not any(t.is_alive() for t in threads)
    assert not errors, errors
    assert report.added == 1 + len(FILLER) and report.unchanged == 5
    assert during_build >= 1, "no reader call completed while the build ran"

    new = get_index(s)
    new_gen = new.generation
    assert new_gen != old.generation and new_gen == report_gen(index_dir) == committed[-1]
    expected[new_gen] = results(load_index(index_dir, settings=s))

    gens_seen = {gen for _, gen, *_ in records}
    # only committed manifests are ever read: the old one, the build's segment commit(s)
    # and its final one
    assert gens_seen <= {old.generation, *committed}, gens_seen
    assert old.generation in gens_seen and new_gen in gens_seen
    for gen in gens_seen - set(expected):  # an intermediate commit, read during the build
        expected[gen] = results(held[gen])
    allowed = {gen: live_ids(held.get(gen, new)) for gen in gens_seen}
    assert NEW_ID not in allowed[old.generation] and NEW_ID in allowed[new_gen]
    for n, gen, q, kind, result, after_build in records:
        want = expected[gen][q][kind]
        hits = result.hits if kind == "answer" else result
        # all hits of one call come from the commit it read, and equal its answer
        assert {h.doc_id for h in hits} <= allowed[gen]
        assert key(hits) == key(want), (n, gen, q, kind)
        assert scores(hits) == pytest.approx(scores(want), abs=1e-4)
        if after_build:
            assert gen == new_gen, (n, q)  # a call started after the commit reads the new
    # the new fact is found once the rebuild is in
    top = retrieve(NEW_QUESTION, k=1, settings=s)[0]
    assert top.doc_id == NEW_ID and "Zelkova-7" in top.text
    a = answer(NEW_QUESTION, settings=s)
    assert a.found and "Zelkova-7" in a.text and a.citations[0].doc_id == NEW_ID
    new_answers = [r for r in records if r[1] == new_gen and r[2] == NEW_QUESTION]
    assert all(key(r[4] if r[3] == "hits" else r[4].hits)[0][0] == NEW_ID
               for r in new_answers)


def report_gen(index_dir) -> str:
    m = read_manifest_quiet(index_dir)
    assert m is not None and (index_dir / MANIFEST).is_file()
    return m["generation"]


def test_index_service_reports_stale_and_rebuild_swaps_the_index(tmp_path, small_corpus,
                                                                 small_index_ro,
                                                                 monkeypatch):
    index_dir = copy_index(small_index_ro[0], tmp_path / "index")
    s = SMALL.replace(index_dir=index_dir, corpus_dir=small_corpus)
    svc = Engine(s)
    st = svc.status()
    assert st.state == "ready" and "index up to date" in st.message
    before = svc.index()

    write_files(small_corpus, {NEW_ID: COMET})
    # the verdict is cached for STALE_CHECK_SECONDS: the same service still says ready ...
    assert svc.status().state == "ready"
    # ... a fresh one (or the same once the cache is out of date) says stale
    assert Engine(s).status().state == "stale"
    monkeypatch.setattr(service_mod, "STALE_CHECK_SECONDS", 0.0)
    st = svc.status()
    assert st.state == "stale" and st.stale.added == 1
    assert "1 new, 0 changed, 0 removed" in st.message and "challenge-qa index" in st.message
    assert retrieve(NEW_QUESTION, k=1, index=svc.index())[0].doc_id != NEW_ID

    assert svc.start_build() is True
    assert svc.start_build() is False  # refused while the first runs
    assert svc.status().state == "building"
    svc.wait(timeout=MAX_SECONDS)
    assert not svc.building
    st = svc.status()
    assert st.state == "ready", st
    after = svc.index()
    assert after is not before and after.generation != before.generation
    assert NEW_ID in live_ids(after) and NEW_ID not in live_ids(before)
    assert after.article(NEW_ID) is not None and before.article(NEW_ID) is None
    assert retrieve(NEW_QUESTION, k=1, index=after)[0].doc_id == NEW_ID
    a = answer(NEW_QUESTION, index=svc.index())
    assert a.found and "Zelkova-7" in a.text
    # the old Index object still answers from its own commit
    assert retrieve(NEW_QUESTION, k=1, index=before)[0].doc_id != NEW_ID


def test_index_service_rebuild_of_a_broken_corpus_keeps_serving(tmp_path, small_corpus,
                                                                small_index_ro):
    index_dir = copy_index(small_index_ro[0], tmp_path / "index")
    s = SMALL.replace(index_dir=index_dir, corpus_dir=small_corpus)
    svc = Engine(s)
    before = svc.index()
    for f in list(small_corpus.rglob("*")):
        if f.is_file():
            f.write_bytes(b"\xff\xfe not utf-8")
    assert svc.start_build() is True
    svc.wait(timeout=MAX_SECONDS)
    st = svc.status()
    assert st.state == "error" and "No readable articles" in st.message
    assert "Add .md, .txt, .html, .jsonl or .pdf" in st.message
    # the previous index is still served, unchanged
    assert svc.index() is before
    assert retrieve("Who won the chess championship?", k=1, index=svc.index())[0].doc_id == (
        "chess.txt")
