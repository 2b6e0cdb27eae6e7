"""Crash-safe builds with real processes: `challenge-qa index` killed with SIGKILL at
several moments (while a segment is written, during a merge, between the segment commits
of a long build and again while it resumes), two builds of one index started at once,
and Ctrl-C.

After every kill the last committed index must load and answer exactly as it did before
the kill; the next build must complete, remove what the killed ones left behind, and
hold each article once, as a clean full build of the same corpus does, without embedding
again what a killed build had committed.

Precise kill moments come from a bootstrap (``HOOKED``) that runs the real command line
in the child process with a pause at a named point: the child writes a marker file and
sleeps, the test looks at the index, then sends SIGKILL. The pause points wrap, without
changing, ``SegmentWriter.add``, ``writer.fsync_tree`` (inside ``SegmentWriter.finish``
before the segment folder is renamed into place), ``merging._merge`` and
``mf.commit``. Other kills use plain timing and polling of the index folder.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import helpers
import pytest
from helpers import SMALL, copy_index, live_ids, write_files

from challenge_qa import build_index, load_index, retrieve
from challenge_qa.engine import get_index
from challenge_qa.store.manifest import LOCK, MANIFEST

pytestmark = pytest.mark.slow

QUESTIONS = [
    "What did the volcano do on Sunday?",
    "How do bees show where the flowers are?",
    "Who won the chess championship?",
    "How far can ships see the lighthouse beam?",
    "How heavy was the pumpkin of Pumpkinville7?",
]
#: The CLI reads its settings from the environment: these make them equal to ``SMALL``.
SMALL_ENV = {"CHALLENGE_QA_CHUNK_CHARS": str(SMALL.chunk_chars),
             "CHALLENGE_QA_OVERLAP_CHARS": str(SMALL.overlap_chars),
             "CHALLENGE_QA_BATCH_SIZE": str(SMALL.batch_size)}
BUILD_TIMEOUT = 300

#: Runs ``challenge-qa`` (argv[1:]) with test hooks read from the environment:
#: TEST_READ_GROUP (articles read, chunked and embedded together; a segment can be
#: committed after each group), TEST_SETTINGS (JSON of Settings overrides, e.g. the merge
#: policy) and TEST_PAUSE_AT / TEST_PAUSE_MARKER: at that point the process writes the
#: marker file and sleeps until it is killed.
HOOKED = r"""
import json, os, sys, time

import challenge_qa.store.changes as ch
import challenge_qa.store.merging as mg
import challenge_qa.store.manifest as mf
import challenge_qa.store.writer as wr
from challenge_qa.config import Settings

point = os.environ.get("TEST_PAUSE_AT", "")
marker = os.environ.get("TEST_PAUSE_MARKER", "")
if os.environ.get("TEST_READ_GROUP"):
    ch.READ_GROUP = int(os.environ["TEST_READ_GROUP"])
extra = json.loads(os.environ.get("TEST_SETTINGS") or "{}")
if extra:
    from_env = Settings.from_env.__func__
    Settings.from_env = classmethod(lambda cls, environ=None, **kw: from_env(
        cls, environ, **{**extra, **{k: v for k, v in kw.items() if v is not None}}))

def pause(tag):
    with open(marker + ".tmp", "w") as f:
        f.write(tag)
    os.replace(marker + ".tmp", marker)
    time.sleep(3600)

state = {"merging": False, "commits": 0}
real_commit, real_fsync_tree, real_merge = mf.commit, wr.fsync_tree, mg._merge
real_add = wr.SegmentWriter.add

def commit(index_dir, manifest, previous):
    if point == ("merge-commit" if state["merging"] else "segment-commit"):
        pause(point)
    real_commit(index_dir, manifest, previous)
    state["commits"] += 1
    if point == "after-commit-%d" % state["commits"]:
        pause(point)

def fsync_tree(folder):
    real_fsync_tree(folder)
    if point == ("merge-finish" if state["merging"] else "segment-finish"):
        pause(point)

def merge(*args, **kwargs):
    state["merging"] = True
    try:
        return real_merge(*args, **kwargs)
    finally:
        state["merging"] = False

def add(self, batch):
    real_add(self, batch)
    if point == "segment-add" and not state["merging"]:
        pause(point)

mf.commit, wr.fsync_tree, mg._merge, wr.SegmentWriter.add = commit, fsync_tree, merge, add

from challenge_qa.app.cli import main
sys.argv[0] = "challenge-qa"
main()
"""


def new_articles(n: int, tag: str) -> dict[str, str]:
    """``n`` short articles, each with one fact found nowhere else (``{tag}{i}`` weighs)."""
    return {
        f"towns/{tag}-{i:03d}.md": (
            f"---\ntitle: The fair of {tag}{i}\nsource: Town Crier\n---\n\n"
            f"The village of {tag}{i} held its yearly pumpkin fair on Saturday. The winning "
            f"pumpkin weighed {100 + i} kilograms and was grown by a retired teacher. Visitors "
            f"came from {i + 3} nearby villages, and the brass band played until midnight.\n")
        for i in range(n)}


def answers(index) -> list[list[tuple]]:
    return [[(h.doc_id, h.passage_id, h.start, h.end, h.score, h.dense_score, h.bm25_score)
             for h in retrieve(q, k=4, index=index)] for q in QUESTIONS]



def live_passages(idx) -> list[tuple]:
    return sorted((r["doc_id"], r["passage_id"], r["start"], r["end"])
                  for r in idx.rows(idx.live_rows().tolist()))


def cli_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    # CHALLENGE_QA_CACHE (set by conftest) is kept: the ONNX export is made once
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("CHALLENGE_QA_", "TEST_")) or k == "CHALLENGE_QA_CACHE"}
    env.update(SMALL_ENV, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    env.update({k: str(v) for k, v in (extra or {}).items()})
    return env


def start_build(corpus: Path, index_dir: Path, cwd: Path, *, hooks: dict | None = None,
                args: tuple[str, ...] = ()) -> subprocess.Popen:
    """`challenge-qa index` in a new process; with ``hooks`` (TEST_* variables) through
    the ``HOOKED`` bootstrap."""
    cmd = ([sys.executable, "-c", HOOKED] if hooks is not None
           else [sys.executable, "-m", "challenge_qa.app.cli"])
    return subprocess.Popen(
        [*cmd, "index", "--corpus", str(corpus), "--index", str(index_dir), *args],
        cwd=cwd, env=cli_env(hooks), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen, kill: bool = False, timeout: float = BUILD_TIMEOUT) -> dict:
    return helpers.finish(proc, kill, timeout)


def lock_held_by(pid: int, index_dir: Path) -> bool:
    """Whether process ``pid`` holds the build lock (read from /proc/locks, so that looking
    never competes with the build for the lock)."""
    try:
        inode = (index_dir / LOCK).stat().st_ino
        lines = Path("/proc/locks").read_text().splitlines()
    except OSError:
        return False
    for line in lines:
        f = line.split()
        if len(f) >= 6 and f[1] == "FLOCK" and f[4] == str(pid) and f[5].endswith(f":{inode}"):
            return True
    return False


def manifest_inode(index_dir: Path) -> int | None:
    try:
        return (index_dir / MANIFEST).stat().st_ino
    except OSError:
        return None


def run_and_kill(corpus: Path, index_dir: Path, cwd: Path, trigger, hooks=None) -> dict:
    """Start a build, SIGKILL it as soon as ``trigger(proc, elapsed)`` is true."""
    proc = start_build(corpus, index_dir, cwd, hooks=hooks)
    t0 = time.monotonic()
    fired = False
    while proc.poll() is None and time.monotonic() - t0 < BUILD_TIMEOUT:
        if trigger(proc, time.monotonic() - t0):
            fired = True
            break
        time.sleep(0.002)
    result = finish(proc, kill=fired, timeout=60)
    result["seconds"] = round(time.monotonic() - t0, 2)
    result["partials"] = sorted(p.name for p in index_dir.glob("*.partial"))
    return result


def run_to_pause(corpus: Path, index_dir: Path, cwd: Path, point: str, tmp: Path,
                 **hooks) -> tuple[subprocess.Popen, float]:
    """Start a hooked build and wait until it pauses at ``point``; returns the paused
    process (the caller kills it)."""
    marker = tmp / f"paused-{point}-{time.monotonic_ns()}"
    env = {"TEST_PAUSE_AT": point, "TEST_PAUSE_MARKER": str(marker),
           **{k: str(v) for k, v in hooks.items()}}
    proc = start_build(corpus, index_dir, cwd, hooks=env)
    t0 = time.monotonic()
    while not marker.exists():
        if proc.poll() is not None or time.monotonic() - t0 > BUILD_TIMEOUT:
            result = finish(proc)
            pytest.fail(f"the build did not reach {point}: {result}")
        time.sleep(0.005)
    assert marker.read_text() == point
    return proc, time.monotonic() - t0


def leftovers(index_dir: Path) -> list[str]:
    return sorted(p.name for p in [*index_dir.glob("*.partial"),
                                   *index_dir.glob(f".{MANIFEST}.*.tmp"),
                                   *index_dir.glob(".*.tmp")])


def snapshot(index_dir: Path, s) -> dict:
    """What the committed index is and says."""
    idx = load_index(index_dir, settings=s)
    try:
        return {"manifest": (index_dir / MANIFEST).read_bytes(), "answers": answers(idx),
                "ids": live_ids(idx), "passages": idx.size}
    finally:
        idx.close()


def assert_answers_as(snap: dict, index_dir: Path, s, what: str) -> None:
    """The index is the snapshot's commit, loads, and answers exactly as it did."""
    assert (index_dir / MANIFEST).read_bytes() == snap["manifest"], what
    now = snapshot(index_dir, s)
    assert now["answers"] == snap["answers"], what
    assert now["ids"] == snap["ids"] and max(now["ids"].values()) == 1, what


def assert_as_clean_build(index_dir: Path, corpus: Path, tmp: Path, s) -> None:
    """The index holds the articles and passages of a clean full build, each once."""
    clean = build_index(corpus, tmp / f"clean-{time.monotonic_ns()}", full=True, settings=s)
    idx, ref = load_index(index_dir, settings=s), load_index(clean.index_dir, settings=s)
    ids = live_ids(idx)
    assert max(ids.values()) == 1, ids.most_common(3)  # nothing duplicated
    assert set(ids) == set(live_ids(ref))  # nothing lost
    assert idx.size == ref.size == clean.passages
    assert live_passages(idx) == live_passages(ref)
    assert idx.manifest["counts"] == ref.manifest["counts"]
    assert idx.staleness(corpus).stale is False
    assert answers(idx) == answers(ref)


def embedded(stdout: str) -> int:
    m = re.search(r"\((\d+) embedded\)", stdout)
    assert m, stdout
    return int(m.group(1))


@pytest.fixture
def crash_setup(tmp_path, small_corpus, small_index_ro):
    """An index of the small corpus, and the corpus changed since (60 new articles and one
    edited), so that a build has real work to do."""
    index_dir = copy_index(small_index_ro[0], tmp_path / "index")
    write_files(small_corpus, new_articles(60, "Pumpkinville"))
    with open(small_corpus / "chess.txt", "a", encoding="utf-8") as f:
        f.write("\nShe later won the blitz title as well.\n")
    return small_corpus, index_dir


# --------------------------------------------------------------------------- timed kills

#: Kill points by timing and polling: starting up (imports, loading the model), the build
#: holds its lock, a segment folder appears (it stays while two groups of 20 articles are
#: embedded into it), the manifest is replaced (a segment commit; two are due before the
#: build's last one).
KILL_POINTS = [
    ("after-0.5s", lambda index_dir, ino: lambda p, t: t >= 0.5),
    ("holding-the-lock", lambda index_dir, ino: lambda p, t: lock_held_by(p.pid, index_dir)),
    ("partial-appears", lambda index_dir, ino: lambda p, t: any(
        index_dir.glob("seg-*.partial"))),
    ("manifest-replaced", lambda index_dir, ino: lambda p, t: manifest_inode(index_dir)
     != ino),
]


def test_sigkilled_builds_leave_the_last_commit_intact(tmp_path, crash_setup):
    corpus, index_dir = crash_setup
    s = SMALL.replace(index_dir=index_dir, corpus_dir=corpus)
    hooks = {"TEST_READ_GROUP": 20, "CHALLENGE_QA_SEGMENT_PASSAGES": 40}
    before = snapshot(index_dir, s)
    first_manifest = before["manifest"]
    log = []
    for name, make_trigger in KILL_POINTS:
        trigger = make_trigger(index_dir, manifest_inode(index_dir))
        result = run_and_kill(corpus, index_dir, tmp_path, trigger, hooks=hooks)
        log.append((name, result["rc"], result["seconds"], result["partials"]))
        assert result["killed"], (name, result)
        assert "Traceback" not in result["stderr"], (name, result["stderr"])
        manifest = (index_dir / MANIFEST).read_bytes()
        if manifest == before["manifest"]:
            # killed before a commit: the last commit answers exactly as before
            assert_answers_as(before, index_dir, s, name)
            assert answers(get_index(s)) == before["answers"], name
        else:
            # killed after a segment commit: that commit is whole and loads
            assert name == "manifest-replaced", (name, log)
            before = snapshot(index_dir, s)
            assert max(before["ids"].values()) == 1
        idx = load_index(index_dir, settings=s)
        assert idx.staleness(corpus).stale, name  # the rest is still to be indexed
    print("kill log:", log)
    # the kills did hit builds at work: one left a segment folder, one committed
    assert before["manifest"] != first_manifest, log
    assert any(partials for *_, partials in log), log

    # The next build succeeds and removes every leftover, including a stale manifest
    # temp file, an unfinished segment and a complete one that no manifest names.
    (index_dir / f".{MANIFEST}.424242.tmp").write_text("{", encoding="utf-8")
    write_files(index_dir, {"seg-0123.partial/vectors.npy": b"half",
                            "seg-00orphan/dense.faiss": b"whole but unnamed"})
    result = finish(start_build(corpus, index_dir, tmp_path, hooks=hooks))
    assert result["rc"] == 0, result["stderr"]
    assert result["stdout"].startswith("Indexed 65 article(s)"), result["stdout"]
    assert 0 < embedded(result["stdout"]) < json.loads(
        (index_dir / MANIFEST).read_bytes())["counts"]["passages"]
    assert leftovers(index_dir) == [] and not (index_dir / "seg-00orphan").exists()
    idx = get_index(s)
    assert idx.generation == json.loads((index_dir / MANIFEST).read_bytes())["generation"]
    assert idx.manifest["counts"]["articles"] == 65
    for i in (0, 33, 59):
        top = retrieve(f"How heavy was the pumpkin of Pumpkinville{i}?", k=1, index=idx)[0]
        assert top.doc_id == f"towns/Pumpkinville-{i:03d}.md"
        assert f"{100 + i} kilograms" in top.text
    assert_as_clean_build(index_dir, corpus, tmp_path, SMALL)


# --------------------------------------------------------------------------- precise kills

def test_sigkill_while_a_segment_is_written(tmp_path, crash_setup):
    """Killed after a segment's first batch was added, inside ``finish`` (the segment
    complete but not renamed into place), and after the rename, before the commit: the
    index answers as before; the next build completes and removes every leftover."""
    corpus, index_dir = crash_setup
    s = SMALL.replace(index_dir=index_dir, corpus_dir=corpus)
    before = snapshot(index_dir, s)
    old = {p.name for p in index_dir.glob("seg-*")}
    for point in ("segment-add", "segment-finish", "segment-commit"):
        proc, _ = run_to_pause(corpus, index_dir, tmp_path, point, tmp_path)
        new = sorted({p.name for p in index_dir.glob("seg-*")} - old)
        assert len(new) == 1, new  # the segment being written (earlier ones were removed)
        assert new[0].endswith(".partial") == (point != "segment-commit"), (point, new)
        if point != "segment-add":
            assert (index_dir / new[0] / "segment.json").is_file()  # all written
        assert_answers_as(before, index_dir, s, point)  # while it is paused, too
        result = finish(proc, kill=True)
        assert result["killed"] and "Traceback" not in result["stderr"]
        assert (index_dir / new[0]).is_dir()  # left behind
        assert_answers_as(before, index_dir, s, point)
        assert load_index(index_dir, settings=s).staleness(corpus).stale

    result = finish(start_build(corpus, index_dir, tmp_path))
    assert result["rc"] == 0, result["stderr"]
    assert result["stdout"].startswith("Indexed 65 article(s)"), result["stdout"]
    assert leftovers(index_dir) == [] and not (index_dir / new[0]).exists()
    assert_as_clean_build(index_dir, corpus, tmp_path, SMALL)


def test_sigkill_during_a_merge(tmp_path, crash_setup):
    """A build whose new segments are merged afterwards, killed while the merged segment
    is written, then (the next build) just before the merge's commit: each time the
    build's own last commit answers as before; the next build merges and cleans up."""
    corpus, index_dir = crash_setup
    s = SMALL.replace(index_dir=index_dir, corpus_dir=corpus)
    hooks = {"TEST_READ_GROUP": 20, "CHALLENGE_QA_SEGMENT_PASSAGES": 1,
             "TEST_SETTINGS": json.dumps({"merge_floor": 10, "merge_factor": 2})}

    proc, _ = run_to_pause(corpus, index_dir, tmp_path, "merge-finish", tmp_path, **hooks)
    committed = snapshot(index_dir, s)  # the build committed everything, then merged
    m = json.loads(committed["manifest"])
    assert len(m["segments"]) >= 2 and m["counts"]["articles"] == 65
    assert len(list(index_dir.glob("seg-*.partial"))) == 1
    result = finish(proc, kill=True)
    assert result["killed"] and "Traceback" not in result["stderr"]
    assert_answers_as(committed, index_dir, s, "merge-finish")
    assert load_index(index_dir, settings=s).staleness(corpus).stale is False

    segments = {p.name for p in index_dir.glob("seg-*") if not p.name.endswith(".partial")}
    proc, _ = run_to_pause(corpus, index_dir, tmp_path, "merge-commit", tmp_path, **hooks)
    merged = {p.name for p in index_dir.glob("seg-*")} - segments
    assert len(merged) == 1  # the merged segment, complete but named by no manifest
    orphan = merged.pop()
    assert not orphan.endswith(".partial") and (index_dir / orphan / "segment.json").is_file()
    assert orphan not in committed["manifest"].decode()
    result = finish(proc, kill=True)
    assert result["killed"] and "Traceback" not in result["stderr"]
    assert_answers_as(committed, index_dir, s, "merge-commit")

    result = finish(start_build(corpus, index_dir, tmp_path, hooks=hooks))
    assert result["rc"] == 0, result["stderr"]
    assert "(0 embedded)" in result["stdout"] and "merge(s)" in result["stdout"], result
    assert leftovers(index_dir) == []
    m = json.loads((index_dir / MANIFEST).read_bytes())
    names = {e["name"] for e in m["segments"]}
    assert len(names) < len(json.loads(committed["manifest"])["segments"])
    assert names <= {p.name for p in index_dir.glob("seg-*")}
    assert not (index_dir / orphan).exists()
    assert_as_clean_build(index_dir, corpus, tmp_path, SMALL)


def test_a_long_build_killed_twice_resumes_without_embedding_again(tmp_path, small_corpus,
                                                                    small_index_ro):
    """A build committing a segment every 20 articles, killed after its third commit,
    then the resumed build killed after its second: each time the last commit answers as
    it did; the third build embeds only what was not committed, and the index equals a
    clean full build."""
    index_dir = copy_index(small_index_ro[0], tmp_path / "index")
    corpus = small_corpus
    write_files(corpus, new_articles(200, "Pumpkinville"))
    s = SMALL.replace(index_dir=index_dir, corpus_dir=corpus)
    hooks = {"TEST_READ_GROUP": 20, "CHALLENGE_QA_SEGMENT_PASSAGES": 1}
    counts = [snapshot(index_dir, s)["passages"]]
    articles = 5
    for point, new in (("after-commit-3", 60), ("after-commit-2", 40)):
        proc, _ = run_to_pause(corpus, index_dir, tmp_path, point, tmp_path, **hooks)
        committed = snapshot(index_dir, s)
        articles += new  # a segment of 20 new articles per commit
        assert len(committed["ids"]) == articles and max(committed["ids"].values()) == 1
        result = finish(proc, kill=True)
        assert result["killed"] and "Traceback" not in result["stderr"], result
        assert_answers_as(committed, index_dir, s, point)
        assert json.loads(committed["manifest"])["counts"]["articles"] == articles
        assert load_index(index_dir, settings=s).staleness(corpus).stale
        counts.append(committed["passages"])
        assert counts[-1] > counts[-2]  # this run committed (new) passages
    result = finish(start_build(corpus, index_dir, tmp_path, hooks=hooks))
    assert result["rc"] == 0, result["stderr"]
    assert result["stdout"].startswith("Indexed 205 article(s)"), result["stdout"]
    total = json.loads((index_dir / MANIFEST).read_bytes())["counts"]["passages"]
    # only the passages of the articles no killed run had committed
    assert embedded(result["stdout"]) == total - counts[-1] < total
    assert leftovers(index_dir) == []
    assert_as_clean_build(index_dir, corpus, tmp_path, SMALL)


# --------------------------------------------------------------------------- concurrency

def test_two_builds_at_once_never_corrupt_the_index(tmp_path, small_corpus, small_index_ro):
    index_dir = copy_index(small_index_ro[0], tmp_path / "index")
    write_files(small_corpus, new_articles(40, "Gourdham"))
    procs = [start_build(small_corpus, index_dir, tmp_path) for _ in range(2)]
    outs = [finish(p) for p in procs]
    codes = sorted(r["rc"] for r in outs)
    assert codes in ([0, 1], [0, 0]), outs
    for r in outs:
        assert "Traceback" not in r["stderr"], r["stderr"]
        if r["rc"] == 0:
            assert r["stdout"].startswith("Indexed 45 article(s)"), r["stdout"]
        else:
            errors = [line for line in r["stderr"].splitlines() if line.startswith("Error:")]
            assert len(errors) == 1, r["stderr"]
            assert "Another build of" in errors[0] and "is running" in errors[0], errors
            assert "Wait for the running build to finish" in errors[0]
            assert r["stdout"] == ""
    # the index is whole and consistent with its manifest
    assert leftovers(index_dir) == []
    m = json.loads((index_dir / MANIFEST).read_bytes())
    idx = load_index(index_dir, settings=SMALL)
    assert m["counts"]["articles"] == 45 and m["counts"]["passages"] == idx.size
    ids = live_ids(idx)
    assert len(ids) == 45 and max(ids.values()) == 1
    assert idx.staleness(small_corpus).stale is False
    top = retrieve("How heavy was the pumpkin of Gourdham12?", k=1, index=idx)[0]
    assert top.doc_id == "towns/Gourdham-012.md"
    assert_as_clean_build(index_dir, small_corpus, tmp_path, SMALL)


def test_ctrl_c_during_a_build_says_so_and_keeps_the_index(tmp_path, crash_setup):
    """SIGINT (Ctrl-C) while the build holds its lock: exit 130, one line saying what the
    index keeps, no traceback, nothing left behind."""
    corpus, index_dir = crash_setup
    before = snapshot(index_dir, SMALL)
    proc = start_build(corpus, index_dir, tmp_path)
    t0 = time.monotonic()
    sent = False
    while proc.poll() is None and time.monotonic() - t0 < BUILD_TIMEOUT:
        if lock_held_by(proc.pid, index_dir):
            proc.send_signal(signal.SIGINT)
            sent = True
            break
        time.sleep(0.002)
    result = finish(proc, timeout=120)
    if result["rc"] == 0 or not sent:
        pytest.skip("the build finished before the lock could be seen held")
    err, out = result["stderr"], result["stdout"]
    assert result["rc"] == 130, (result["rc"], err)
    assert err.strip().splitlines()[-1] == (
        "Interrupted; the index keeps what the build had committed: run challenge-qa index "
        "to continue.")
    assert "Traceback" not in err and out == ""
    assert leftovers(index_dir) == []
    if (index_dir / MANIFEST).read_bytes() == before["manifest"]:
        assert_answers_as(before, index_dir, SMALL, "ctrl-c")
    else:  # a segment was committed before the interrupt: it is whole
        ids = live_ids(load_index(index_dir, settings=SMALL))
        assert max(ids.values()) == 1
