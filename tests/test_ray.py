"""Builds through Ray (``index --ray``) write the index a local build writes.

``TestLocalCluster`` shares one in-process Ray cluster (2 CPUs on 127.0.0.1); the slow test
starts a real head node with ``ray start --head`` and builds through the command line.
Both compare with a local build: the same segments, passage ids and vectors, and the same
rankings. The cluster is shut down before the head node starts, so that the two never
compete for ports or cores.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from helpers import SMALL, assert_one_error_line, invoke, stop_session, write_files

from challenge_qa import build_index, load_index, retrieve
from challenge_qa.config import Settings
from challenge_qa.corpus.load import Article
from challenge_qa.errors import MissingExtraError, ModelLoadError
from challenge_qa.store import changes
from challenge_qa.store import ray as ray_stage

# Ray Data 2.60's own DataContext() sets its deprecated fields to their defaults, each a
# DeprecationWarning from ray.data.context (Ray's doing, not a deprecated use here); older
# Rays warn at ray.init that a future one will stop overriding CUDA_VISIBLE_DEVICES
pytestmark = [pytest.mark.filterwarnings("ignore::DeprecationWarning:ray.data.context"),
              pytest.mark.filterwarnings("ignore:Tip. In future versions of Ray:FutureWarning")]

QUESTIONS = [
    "What did the volcano do on Sunday?",
    "How do bees show where the flowers are?",
    "Who won the chess championship?",
    "How far can ships see the lighthouse beam?",
]
RAY_BIN = Path(sys.executable).with_name("ray")


def snapshot(index_dir: Path, settings: Settings = SMALL) -> dict:
    """What must not differ between a local and a Ray build of one corpus."""
    idx = load_index(index_dir, settings=settings)
    try:
        rows = idx.live_rows()
        recs = idx.rows(rows.tolist())
        return {
            "segments": [(e["articles"], e["passages"]) for e in idx.manifest["segments"]],
            "passage_ids": [r["passage_id"] for r in recs],
            "spans": [(r["doc_id"], r["start"], r["end"]) for r in recs],
            "vectors": idx.vectors(rows),
            "rankings": [[(h.doc_id, h.passage_id, h.start, h.end, round(h.score, 5))
                          for h in retrieve(q, k=4, index=idx)] for q in QUESTIONS],
        }
    finally:
        idx.close()


def assert_same_index(ray_dir: Path, local_dir: Path, settings: Settings = SMALL) -> None:
    got, want = snapshot(ray_dir, settings), snapshot(local_dir, settings)
    assert got["segments"] == want["segments"]
    assert got["passage_ids"] == want["passage_ids"]
    assert got["spans"] == want["spans"]
    assert got["vectors"].shape == want["vectors"].shape
    np.testing.assert_allclose(got["vectors"], want["vectors"], rtol=0, atol=1e-6)
    assert got["rankings"] == want["rankings"]


def town_articles(n: int) -> dict[str, str]:
    """``n`` short articles of two or three passages each (with ``SMALL`` chunking)."""
    return {f"towns/town-{i:02d}.md": (
        f"---\ntitle: The fair of Town{i}\n---\n\n"
        f"The village of Town{i} held its yearly pumpkin fair on Saturday. The winning pumpkin "
        f"weighed {100 + i} kilograms and was grown by a retired teacher. Visitors came from "
        f"{i + 3} nearby villages. The brass band played until midnight, and the baker sold "
        f"{20 * i + 7} apple pies. Next year the fair moves to the old mill by the river, "
        f"where the mayor promised a new stage for the dancers of Town{i}.\n")
        for i in range(n)}


# --------------------------------------------------------------------------- no cluster

def test_missing_ray_names_the_extra(monkeypatch, small_corpus, tmp_path):
    monkeypatch.setitem(sys.modules, "ray", None)  # "import ray" raises ImportError
    with pytest.raises(MissingExtraError) as err:
        ray_stage.ray_stage(SMALL, None)
    assert err.value.hint == "pip install 'challenge-qa[ray]'"
    result = invoke("index", "--corpus", small_corpus, "--index", tmp_path / "index", "--ray")
    assert_one_error_line(result, "Ray", "pip install 'challenge-qa[ray]'")
    assert not (tmp_path / "index" / "manifest.json").exists()


def test_import_does_not_load_ray():
    code = ("import sys, challenge_qa, challenge_qa.store.build, challenge_qa.app.cli, "
            "challenge_qa.store.ray; assert 'ray' not in sys.modules, 'ray imported'")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_windows_cut_at_segment_size_and_keep_order():
    s = SMALL.replace(segment_passages=10)  # ~220 characters a passage
    groups = [[Article(id=f"{g}-{i}", title="t", text="x" * 500, path="p")
               for i in range(2)] for g in range(7)]  # 6 passages a group, by estimate
    cut = list(ray_stage.windows(groups, s))
    assert [len(w) for w in cut] == [2, 2, 2, 1]
    assert [g for w in cut for g in w] == groups
    assert [len(w) for w in ray_stage.windows(groups, s, min_groups=3)] == [3, 3, 1]


class _FakeRay:
    def __init__(self, resources: dict):
        self.resources = resources

    def cluster_resources(self) -> dict:
        return self.resources


def test_plan_uses_gpus_when_the_cluster_has_them():
    s, pool, res = ray_stage._plan(_FakeRay({"CPU": 32.0, "GPU": 4.0}), SMALL)
    assert (pool, res, s.device) == (4, {"num_gpus": 1, "num_cpus": 1}, "cuda")
    # an ONNX encoder or a CPU device cannot use them: CPU actors, one core left free
    for settings in (SMALL.replace(backend="onnx-int8"), SMALL.replace(device="cpu")):
        s, pool, res = ray_stage._plan(_FakeRay({"CPU": 32.0, "GPU": 4.0}), settings)
        assert (pool, res, s.device) == (31, {"num_cpus": 1}, "cpu")
    s, pool, res = ray_stage._plan(_FakeRay({"CPU": 2.0}), SMALL)
    assert (pool, res, s.device) == (1, {"num_cpus": 1}, "cpu")


# --------------------------------------------------------------------------- in-process

@pytest.fixture(scope="class")
def ray_local():
    """One Ray cluster in this process: 2 CPUs on 127.0.0.1, its own auth token (nothing
    written to ~/.ray); shut down after the class."""
    ray = pytest.importorskip("ray")
    pytest.importorskip("ray.data")
    with pytest.MonkeyPatch.context() as mp:
        # a new local cluster turns token authentication on (RAY_AUTH_MODE=token, set here
        # and undone after); the token comes from the environment, not ~/.ray/auth_token
        mp.delenv("RAY_AUTH_MODE", raising=False)
        mp.setenv("RAY_AUTH_TOKEN", secrets.token_hex(16))
        mp.setenv("RAY_DISABLE_USAGE_STATS", "1")
        ray.init(address="local", num_cpus=2, include_dashboard=False,
                 _node_ip_address="127.0.0.1",
                 logging_level="WARNING")
        try:
            yield ray
        finally:
            ray.shutdown()


@pytest.mark.usefixtures("ray_local")
class TestLocalCluster:
    def test_small_corpus_same_as_local(self, small_corpus_ro, small_index_ro, tmp_path):
        local_dir, local_report = small_index_ro
        report = build_index(small_corpus_ro, tmp_path / "index", full=True, settings=SMALL,
                             ray=True)
        assert (report.articles, report.passages, report.embedded_passages) == (
            local_report.articles, local_report.passages, local_report.passages)
        assert_same_index(tmp_path / "index", local_dir)

    def test_many_groups_two_actors_same_segments(self, monkeypatch, tmp_path):
        """Groups of 2 articles, segments of about 4 passages, two actors: several
        windows and segments, written in the corpus order as a local build writes them."""
        corpus = write_files(tmp_path / "corpus", town_articles(7))
        s = SMALL.replace(segment_passages=4)
        monkeypatch.setattr(changes, "READ_GROUP", 2)
        real_plan = ray_stage._plan

        def two_actors(ray, settings):
            actor_settings, _pool, resources = real_plan(ray, settings)
            return actor_settings, 2, resources

        monkeypatch.setattr(ray_stage, "_plan", two_actors)
        build_index(corpus, tmp_path / "local", full=True, settings=s, merge=False)
        report = build_index(corpus, tmp_path / "ray", full=True, settings=s, merge=False,
                             ray="local")
        assert report.segments >= 3
        assert_same_index(tmp_path / "ray", tmp_path / "local", s)

        # an incremental build through Ray embeds only the changed article
        (corpus / "towns" / "town-03.md").write_text(
            "---\ntitle: Town3 cancels its fair\n---\n\nHeavy rain cancelled the pumpkin "
            "fair of Town3 this year.\n", encoding="utf-8")
        build_index(corpus, tmp_path / "local", settings=s, merge=False)
        report = build_index(corpus, tmp_path / "ray", settings=s, merge=False, ray=True)
        assert (report.changed, report.embedded_passages) == (1, 1)
        assert_same_index(tmp_path / "ray", tmp_path / "local", s)


    def test_an_error_of_ours_on_the_cluster_arrives_as_itself(self, small_corpus, tmp_path):
        bad = SMALL.replace(model=str(tmp_path / "no-such-model"))
        with pytest.raises(ModelLoadError) as err:
            build_index(small_corpus, tmp_path / "index", full=True, settings=bad, ray=True)
        assert "no-such-model" in str(err.value) and "\n" not in str(err.value)
        assert not (tmp_path / "index" / "manifest.json").exists()


# --------------------------------------------------------------------------- real cluster

def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
def test_cli_builds_on_a_started_head_node(small_corpus_ro, small_index_ro, tmp_path):
    pytest.importorskip("ray.data")
    assert RAY_BIN.exists(), RAY_BIN
    port = _free_port()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("CHALLENGE_QA_", "RAY_")) or k == "CHALLENGE_QA_CACHE"}
    env.update(HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false", RAY_AUTH_MODE="token",
               RAY_AUTH_TOKEN=secrets.token_hex(16), RAY_DISABLE_USAGE_STATS="1",
               RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S="0")
    # --block keeps the node's processes children of this one: stopping it stops them only
    # (``ray stop`` would stop every Ray of this machine)
    head_log = tmp_path / "head.log"
    with head_log.open("w") as out:
        head = subprocess.Popen(
            [str(RAY_BIN), "start", "--head", f"--port={port}", "--node-ip-address=127.0.0.1",
             "--num-cpus=2", "--include-dashboard=false", "--disable-usage-stats", "--block"],
            env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while "block forever" not in head_log.read_text():  # the node is up
            assert head.poll() is None and time.monotonic() < deadline, head_log.read_text()
            time.sleep(0.5)
        build_env = {**env, "CHALLENGE_QA_CHUNK_CHARS": str(SMALL.chunk_chars),
                     "CHALLENGE_QA_OVERLAP_CHARS": str(SMALL.overlap_chars),
                     "CHALLENGE_QA_BATCH_SIZE": str(SMALL.batch_size)}
        done = subprocess.run(
            [sys.executable, "-m", "challenge_qa.app.cli", "index", "--corpus",
             str(small_corpus_ro), "--index", str(tmp_path / "index"), "--full",
             "--ray", f"127.0.0.1:{port}"],
            env=build_env, capture_output=True, text=True, timeout=300, cwd=tmp_path)
        assert done.returncode == 0, done.stderr[-3000:]
        assert "Indexed 5 article(s)" in done.stdout
        assert_same_index(tmp_path / "index", small_index_ro[0])
    finally:
        stop_session(head)
