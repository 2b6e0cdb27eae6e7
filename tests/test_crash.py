"""Crash-safe rebuilds with real processes: `challenge-qa index` killed with SIGKILL at
several moments, and two builds of one index started at once.

After every kill the previous index must load and answer exactly as before (same passages,
same scores); the next build must succeed and remove what the killed ones left behind.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import SMALL, copy_index, write_files

from challenge_qa.retrieval import retrieve
from challenge_qa.store import LOCK, MANIFEST, get_index, load_index

pytestmark = pytest.mark.slow

QUESTIONS = [
    "What did the volcano do on Sunday?",
    "How do bees show where the flowers are?",
    "Who won the chess championship?",
    "How far can ships see the lighthouse beam?",
]
#: The CLI reads its settings from the environment: these make them equal to ``SMALL``.
SMALL_ENV = {"CHALLENGE_QA_CHUNK_CHARS": str(SMALL.chunk_chars),
             "CHALLENGE_QA_OVERLAP_CHARS": str(SMALL.overlap_chars),
             "CHALLENGE_QA_BATCH_SIZE": str(SMALL.batch_size)}
BUILD_TIMEOUT = 300


def new_articles(n: int, tag: str) -> dict[str, str]:
    """``n`` short articles, each with one fact found nowhere else (``{tag}{i}`` weighs)."""
    return {
        f"towns/{tag}-{i:02d}.md": (
            f"---\ntitle: The fair of {tag}{i}\nsource: Town Crier\n---\n\n"
            f"The village of {tag}{i} held its yearly pumpkin fair on Saturday. The winning "
            f"pumpkin weighed {100 + i} kilograms and was grown by a retired teacher. Visitors "
            f"came from {i + 3} nearby villages, and the brass band played until midnight.\n")
        for i in range(n)}


def answers(index) -> list[list[tuple]]:
    return [[(h.doc_id, h.passage_id, h.start, h.end, h.score, h.dense_score, h.bm25_score)
             for h in retrieve(q, k=4, index=index)] for q in QUESTIONS]


def cli_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHALLENGE_QA_")}
    env.update(SMALL_ENV, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    return env


def start_build(corpus: Path, index_dir: Path, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "challenge_qa.cli", "index", "--corpus", str(corpus),
         "--index", str(index_dir)],
        cwd=cwd, env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


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


def new_generation(index_dir: Path, before: set[str]) -> bool:
    """A complete new gen-* folder (renamed from .partial) or a manifest being written."""
    return any(p.name not in before and not p.name.endswith(".partial")
               for p in index_dir.glob("gen-*")) or any(index_dir.glob(f".{MANIFEST}.*.tmp"))


def run_and_kill(corpus: Path, index_dir: Path, cwd: Path, trigger) -> dict:
    """Start a build, SIGKILL it as soon as ``trigger(proc, elapsed)`` is true."""
    proc = start_build(corpus, index_dir, cwd)
    t0 = time.monotonic()
    try:
        while proc.poll() is None and time.monotonic() - t0 < BUILD_TIMEOUT:
            if trigger(proc, time.monotonic() - t0):
                proc.send_signal(signal.SIGKILL)
                break
            time.sleep(0.002)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return {"rc": proc.returncode, "killed": proc.returncode == -signal.SIGKILL,
            "seconds": round(time.monotonic() - t0, 2), "stdout": out, "stderr": err,
            "partials": sorted(p.name for p in index_dir.glob("gen-*.partial"))}


def leftovers(index_dir: Path) -> list[str]:
    return sorted(p.name for p in [*index_dir.glob("*.partial"),
                                   *index_dir.glob(f".{MANIFEST}.*.tmp")])


@pytest.fixture
def crash_setup(tmp_path, small_corpus, small_index_ro):
    """An index of the small corpus, its answers, and a corpus changed since (60 new
    articles and one edited), so that a rebuild has real work to do."""
    index_dir = copy_index(small_index_ro[0], tmp_path / "index")
    idx = load_index(index_dir, settings=SMALL)
    before = {"manifest": (index_dir / MANIFEST).read_bytes(), "answers": answers(idx),
              "gens": {p.name for p in index_dir.glob("gen-*")}}
    write_files(small_corpus, new_articles(60, "Pumpkinville"))
    with open(small_corpus / "chess.txt", "a", encoding="utf-8") as f:
        f.write("\nShe later won the blitz title as well.\n")
    return small_corpus, index_dir, before


# Kill points: fixed delays (starting up, importing torch, loading the model, embedding),
# then events: the build holds its lock, the new generation's folder appears, and the
# moment the generation is renamed complete / the manifest is being written.
KILL_POINTS = [
    ("after-0.5s", lambda index_dir, gens: lambda p, t: t >= 0.5),
    ("after-2s", lambda index_dir, gens: lambda p, t: t >= 2.0),
    ("after-4s", lambda index_dir, gens: lambda p, t: t >= 4.0),
    ("holding-the-lock", lambda index_dir, gens: lambda p, t: lock_held_by(p.pid, index_dir)),
    ("partial-appears", lambda index_dir, gens: lambda p, t: any(
        index_dir.glob("gen-*.partial"))),
    ("generation-renamed", lambda index_dir, gens: lambda p, t: new_generation(index_dir,
                                                                               gens)),
]


def test_sigkilled_builds_leave_the_previous_index_intact(tmp_path, crash_setup):
    corpus, index_dir, before = crash_setup
    s = SMALL.replace(index_dir=index_dir, corpus_dir=corpus)
    log = []
    committed = False
    for name, make_trigger in KILL_POINTS:
        result = run_and_kill(corpus, index_dir, tmp_path, make_trigger(index_dir,
                                                                        before["gens"]))
        log.append((name, result["rc"], result["seconds"], result["partials"]))
        assert "Traceback" not in result["stderr"], (name, result["stderr"])
        manifest = (index_dir / MANIFEST).read_bytes()
        if not result["killed"]:
            # only possible for the last kill point: the build finished first
            assert result["rc"] == 0 and name == "generation-renamed", (name, result)
        if manifest == before["manifest"]:
            idx = load_index(index_dir, settings=s)
            assert not idx.manifest["data"].endswith(".partial")
            assert idx.manifest["data"] in before["gens"]
            assert answers(idx) == before["answers"], name
            assert answers(get_index(s)) == before["answers"], name
            assert idx.staleness(corpus).stale, name  # the change is still to be indexed
        else:
            # killed after the commit point: the new index is complete and current
            assert name == "generation-renamed", (name, log)
            committed = True
            m = json.loads(manifest)
            assert not m["data"].endswith(".partial") and (index_dir / m["data"]).is_dir()
            idx = load_index(index_dir, settings=s)
            assert idx.staleness(corpus).stale is False
            assert retrieve("How heavy was the pumpkin of Pumpkinville7?", k=1,
                            index=idx)[0].doc_id == "towns/Pumpkinville-07.md"
    print("kill log:", log)
    # the kills did hit a build at work: at least one left an unfinished generation
    assert committed or any(partials for *_, partials in log), log

    # The next build succeeds and removes every leftover, including a stale manifest
    # temp file and a complete generation that no manifest names.
    (index_dir / f".{MANIFEST}.424242.tmp").write_text("{", encoding="utf-8")
    write_files(index_dir, {"gen-0123.partial/embeddings.npy": b"half",
                            "gen-00orphan/dense.faiss": b"whole but unnamed"})
    result = run_and_kill(corpus, index_dir, tmp_path, lambda p, t: False)
    assert result["rc"] == 0, result["stderr"]
    assert result["stdout"].startswith("Indexed 65 article(s)"), result["stdout"]
    assert leftovers(index_dir) == []
    m = json.loads((index_dir / MANIFEST).read_bytes())
    gens = {p.name for p in index_dir.glob("gen-*")}
    assert m["data"] in gens and len(gens) <= 2 and "gen-00orphan" not in gens
    idx = get_index(s)
    assert idx.manifest["data"] == m["data"]
    assert idx.staleness(corpus).stale is False
    assert idx.manifest["counts"]["articles"] == 65
    for i in (0, 33, 59):
        top = retrieve(f"How heavy was the pumpkin of Pumpkinville{i}?", k=1, index=idx)[0]
        assert top.doc_id == f"towns/Pumpkinville-{i:02d}.md"
        assert f"{100 + i} kilograms" in top.text


def test_two_builds_at_once_never_corrupt_the_index(tmp_path, small_corpus, small_index_ro):
    index_dir = copy_index(small_index_ro[0], tmp_path / "index")
    write_files(small_corpus, new_articles(40, "Gourdham"))
    procs = [start_build(small_corpus, index_dir, tmp_path) for _ in range(2)]
    outs = []
    try:
        for p in procs:
            out, err = p.communicate(timeout=BUILD_TIMEOUT)
            outs.append((p.returncode, out, err))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    codes = sorted(rc for rc, _, _ in outs)
    assert codes in ([0, 1], [0, 0]), outs
    for rc, out, err in outs:
        assert "Traceback" not in err, err
        if rc == 0:
            assert out.startswith("Indexed 45 article(s)"), out
        else:
            errors = [line for line in err.splitlines() if line.startswith("Error:")]
            assert len(errors) == 1, err
            assert "Another build of" in errors[0] and "is running" in errors[0], errors
            assert "Wait for the running build to finish" in errors[0]
            assert out == ""
    # the index is whole and consistent with its manifest
    assert leftovers(index_dir) == []
    m = json.loads((index_dir / MANIFEST).read_bytes())
    idx = load_index(index_dir, settings=SMALL)
    assert m["counts"]["articles"] == len(m["articles"]) == 45
    assert sum(n for _, _, n in m["articles"].values()) == m["counts"]["passages"] == idx.size
    rows = sorted((first, n) for _, first, n in m["articles"].values())
    assert rows[0][0] == 0 and all(a + n == b for (a, n), (b, _) in zip(rows, rows[1:],
                                                                      strict=False))
    assert len(idx.doc_ids()) == 45 and set(idx.doc_ids()) == set(m["articles"])
    assert idx.staleness(small_corpus).stale is False
    top = retrieve("How heavy was the pumpkin of Gourdham12?", k=1, index=idx)[0]
    assert top.doc_id == "towns/Gourdham-12.md"


def test_ctrl_c_during_a_build_says_so_and_keeps_the_index(tmp_path, crash_setup):
    """SIGINT (Ctrl-C) while the build holds its lock: exit 130, one line saying the
    previous index is unchanged, no traceback, nothing left behind."""
    corpus, index_dir, before = crash_setup
    proc = start_build(corpus, index_dir, tmp_path)
    t0 = time.monotonic()
    try:
        while proc.poll() is None and time.monotonic() - t0 < BUILD_TIMEOUT:
            if lock_held_by(proc.pid, index_dir):
                proc.send_signal(signal.SIGINT)
                break
            time.sleep(0.002)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if proc.returncode == 0:
        pytest.skip("the build finished before the lock could be seen held")
    assert proc.returncode == 130, (proc.returncode, err)
    assert err.strip().splitlines()[-1] == "Interrupted; the previous index is unchanged."
    assert "Traceback" not in err and out == ""
    assert (index_dir / MANIFEST).read_bytes() == before["manifest"]
    assert leftovers(index_dir) == []
    idx = load_index(index_dir, settings=SMALL)
    assert answers(idx) == before["answers"]
