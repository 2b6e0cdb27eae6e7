"""Shards served on a real Ray cluster (``serve --ray``): a head node and a second node
started with ``ray start`` on 127.0.0.1, one Ray Serve application per shard.

Compared with one process over the same segments: SciFact's 300 test queries get the
same top 10 (passages and scores within 1e-5) through three shards; a date-filtered
question asks only the shards whose dates can match; a replica killed during a run of
questions loses no answer, and a question that cannot wait for its restart fails as
"part of the archive is unavailable" instead of answering from the rest; a build's new
commit reaches the shards without a restart.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from helpers import SMALL, stop_session
from test_segments import needs_scifact, pool, scifact

from challenge_qa import Engine, Settings, build_index, load_index
from challenge_qa.errors import ShardUnavailableError
from challenge_qa.search.retrieve import rank, retrieve
from challenge_qa.search.sharded import ShardedIndex
from challenge_qa.store import changes
from challenge_qa.store.manifest import read_manifest
from challenge_qa.testing import HashEmbedder

ray = pytest.importorskip("ray")
pytest.importorskip("ray.serve")

pytestmark = [pytest.mark.slow,
              pytest.mark.filterwarnings("ignore::DeprecationWarning"),
              pytest.mark.filterwarnings("ignore:Tip. In future versions of Ray:FutureWarning")]

RAY_BIN = Path(sys.executable).with_name("ray")
#: Small passages and segments: a few hundred articles make a dozen segments.
SHARDED = SMALL.replace(chunk_chars=600, overlap_chars=100, segment_passages=150,
                        auto_merge=False, shards=3, shard_cpus=0.5, shard_wait_s=60.0)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start(args: list[str], log: Path, env: dict) -> subprocess.Popen:
    with log.open("w") as out:
        # --block keeps the node's processes children of this one: stopping it stops
        # them only (``ray stop`` would stop every Ray of this machine)
        return subprocess.Popen([str(RAY_BIN), "start", *args, "--block"], env=env,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """The address of a two-node Ray cluster on 127.0.0.1 (2 CPUs each)."""
    if ray.is_initialized():  # another module's in-process cluster
        ray.shutdown()
    tmp = tmp_path_factory.mktemp("cluster")
    port = _free_port()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("CHALLENGE_QA_", "RAY_")) or k == "CHALLENGE_QA_CACHE"}
    # token authentication, as Ray 2.60 turns on for a new local cluster (tests/test_ray.py's
    # turns it on in this process, which then serves results to the replicas only with a
    # token): the nodes and this process share one token, and its children inherit it
    auth = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(16)}
    env.update(HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false", **auth,
               RAY_DISABLE_USAGE_STATS="1", RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S="0")
    mp = pytest.MonkeyPatch()
    for k, v in auth.items():
        mp.setenv(k, v)
    _refresh_ray_auth()
    common = ["--node-ip-address=127.0.0.1", "--num-cpus=2", "--disable-usage-stats"]
    nodes = [_start(["--head", f"--port={port}", "--include-dashboard=false", *common],
                     tmp / "head.log", env)]
    try:
        deadline = time.monotonic() + 120
        while "block forever" not in (tmp / "head.log").read_text():
            assert nodes[0].poll() is None and time.monotonic() < deadline, \
                (tmp / "head.log").read_text()
            time.sleep(0.5)
        nodes.append(_start([f"--address=127.0.0.1:{port}", *common], tmp / "node.log", env))
        address = f"127.0.0.1:{port}"
        ray.init(address=address, logging_level="WARNING")
        while len([n for n in ray.nodes() if n["Alive"]]) < 2:
            assert nodes[1].poll() is None and time.monotonic() < deadline, \
                (tmp / "node.log").read_text()
            time.sleep(0.5)
        yield address
    finally:
        try:
            from ray import serve

            if ray.is_initialized():
                serve.shutdown()
        finally:
            ray.shutdown()
            for node in reversed(nodes):
                stop_session(node)
            mp.undo()
            _refresh_ray_auth()


def _refresh_ray_auth() -> None:
    """Make this process's Ray read ``RAY_AUTH_MODE`` and ``RAY_AUTH_TOKEN`` again (what
    Ray itself does when it turns token authentication on)."""
    from ray._raylet import AuthenticationTokenLoader, Config

    Config.initialize("")
    AuthenticationTokenLoader.instance().reset_cache()


@pytest.fixture(autouse=True)
def _shards_removed_after(request):
    """Each test's shard applications are removed after it: their replicas hold CPUs of
    the small test cluster."""
    yield
    if "cluster" in request.fixturenames and ray.is_initialized():
        from ray import serve

        for name in list(serve.status().applications):
            if name.startswith("cqa-"):
                serve.delete(name)


# --------------------------------------------------------------------------- SciFact

@pytest.fixture(scope="module")
def scifact_index(tmp_path_factory):
    """~600 SciFact articles (every one judged for a test query), in a dozen segments
    grouped into three shards, embedded by the real model."""
    from challenge_qa.encoders.embedding import make_embedder

    root = tmp_path_factory.mktemp("scifact")
    corpus = root / "corpus"
    corpus.mkdir()
    docs = pool(610)
    for i in range(0, len(docs), 100):  # day files: several read groups, several segments
        (corpus / f"day{i // 100:02d}.jsonl").write_text(
            "".join(json.dumps(d) + "\n" for d in docs[i:i + 100]), "utf-8")
    emb = make_embedder(SHARDED.model, batch_size=SHARDED.batch_size, backend=SHARDED.backend)
    s = SHARDED.replace(corpus_dir=corpus, index_dir=root / "index")
    mp = pytest.MonkeyPatch()
    mp.setattr(changes, "READ_GROUP", 60)
    try:
        build_index(corpus, root / "index", settings=s, embedder=emb)
    finally:
        mp.undo()
    return s, emb


@needs_scifact
def test_scifact_top10_through_three_shards_on_two_nodes_equals_one_process(
        cluster, scifact_index):
    s, emb = scifact_index
    manifest = read_manifest(s.index_dir)
    groups = manifest["shards"]["groups"]
    assert len(manifest["segments"]) >= 6 and len(groups) == 3
    assert all(g["segments"] for g in groups)
    _, questions, _ = scifact()
    assert len(questions) == 300
    one = load_index(s.index_dir, settings=s, embedder=emb)
    with Engine(s.replace(serve_ray=cluster), embedder=emb) as engine:
        idx = engine.index()
        assert isinstance(idx, ShardedIndex)
        q_vecs = emb.encode_queries(questions)
        want = rank(one, questions, 10, q_vecs=q_vecs)
        got = rank(idx, questions, 10, q_vecs=q_vecs)
        assert idx.last_asked == [0, 1, 2]
        for w, g in zip(want, got, strict=True):
            assert g.rows.tolist() == w.rows.tolist()
            np.testing.assert_allclose(g.score, w.score, rtol=0, atol=1e-5)
            np.testing.assert_allclose(g.dense, w.dense, rtol=0, atol=1e-5)
            np.testing.assert_allclose(g.bm25, w.bm25, rtol=0, atol=1e-5)
        # hits, with their cited sentences, through the engine as a user asks
        for q in questions[:20]:
            a = [(h.passage_id, h.sentence, round(h.score, 5)) for h in retrieve(q, 10,
                                                                                 index=one)]
            b = [(h.passage_id, h.sentence, round(h.score, 5)) for h in engine.retrieve(q, 10)]
            assert a == b
        # the shards run on both nodes, each replica in a process of its own
        infos = idx.infos()
        assert len({i["pid"] for i in infos}) == 3
        assert len({i["node"] for i in infos}) == 2
    one.close()


# --------------------------------------------------------------------------- dates

ARTICLES = {
    # (file, date, title, text): three periods, one shard each
    "2019": [("harbour-2019-{}.md", "2019-0{}-10", "Harbour news {}",
              "The harbour master of Porthaven counted {} fishing boats at the quay. "
              "Storms kept the fleet in port for a week in spring.")],
    "2021": [("dam-2021-{}.md", "2021-0{}-12", "Dam news {}",
              "Engineers inspected the Kessel dam {} times this year. The reservoir "
              "held more water than at any time since records began.")],
    "2023": [("orchard-2023-{}.md", "2023-0{}-15", "Orchard news {}",
              "The Lindenfeld orchard picked {} tonnes of apples. Frost in April "
              "had threatened the blossom but the harvest was saved.")],
}


def _write_dated(corpus: Path, per_year: int = 6) -> None:
    corpus.mkdir(parents=True, exist_ok=True)
    for year, [(name, day, title, text)] in ARTICLES.items():
        for i in range(1, per_year + 1):
            (corpus / name.format(i)).write_text(
                f"---\ntitle: {title.format(i)}\ndate: {day.format(i)}\nsource: Gazette "
                f"{year}\n---\n\n{text.format(10 * i)}\n", "utf-8")


@pytest.fixture(scope="module")
def dated(tmp_path_factory):
    """18 dated articles of three years in three date shards (one segment per read
    group of six), embedded by a stand-in encoder."""
    root = tmp_path_factory.mktemp("dated")
    _write_dated(root / "corpus")
    emb = HashEmbedder()
    s = SHARDED.replace(corpus_dir=root / "corpus", index_dir=root / "index",
                        model=emb.name, segment_passages=6)
    mp = pytest.MonkeyPatch()
    mp.setattr(changes, "READ_GROUP", 6)
    try:
        build_index(s.corpus_dir, s.index_dir, settings=s, embedder=emb)
    finally:
        mp.undo()
    return s, emb


def test_date_filters_ask_only_the_shards_that_can_match(cluster, dated):
    s, emb = dated
    groups = read_manifest(s.index_dir)["shards"]["groups"]
    years = [(g["first"][:4], g["last"][:4]) for g in groups]
    assert years == [("2019", "2019"), ("2021", "2021"), ("2023", "2023")]
    with Engine(s.replace(serve_ray=cluster), embedder=emb) as engine:
        idx = engine.index()
        before = [i["calls"].get("propose", 0) for i in idx.infos()]
        hits = engine.retrieve("How many tonnes of apples did the orchard pick?", 5,
                               since="2023-01-01", until="2023-12-31")
        assert hits and all(h.date.startswith("2023") for h in hits)
        assert idx.last_asked == [2]
        idx._infos = None
        after = [i["calls"].get("propose", 0) for i in idx.infos()]
        assert [a - b for a, b in zip(after, before, strict=True)] == [0, 0, 1]
        # a range that no shard holds asks none and finds nothing
        assert engine.retrieve("apples", 5, since="2030") == []
        assert idx.last_asked == []
        # without dates every shard is asked; the answer equals one process's
        one = load_index(s.index_dir, settings=s, embedder=emb)
        q = "How many fishing boats did the harbour master count?"
        assert [h.passage_id for h in engine.retrieve(q, 5)] == \
            [h.passage_id for h in retrieve(q, 5, index=one)]
        assert idx.last_asked == [0, 1, 2]
        one.close()


def test_a_killed_replica_loses_no_answer_and_none_is_partial(cluster, dated):
    s, emb = dated
    one = load_index(s.index_dir, settings=s, embedder=emb)
    questions = ["How many fishing boats did the harbour master count?",
                 "How often was the Kessel dam inspected?",
                 "How many tonnes of apples did the orchard pick?",
                 "What threatened the blossom?"] * 3
    want = {q: [(h.passage_id, round(h.score, 5)) for h in retrieve(q, 5, index=one)]
            for q in questions}
    one.close()
    with Engine(s.replace(serve_ray=cluster), embedder=emb) as engine:
        pids = [i["pid"] for i in engine.index().infos()]
        results = []
        for n, q in enumerate(questions):
            if n == 3:
                os.kill(pids[1], signal.SIGKILL)  # the middle shard's only replica
            results.append([(h.passage_id, round(h.score, 5))
                            for h in engine.retrieve(q, 5)])
        assert results == [want[q] for q in questions]  # every answer, and whole
        idx = engine.index()
        idx._infos = None
        now = [i["pid"] for i in idx.infos()]
        assert now[0] == pids[0] and now[2] == pids[2] and now[1] != pids[1]  # restarted

    # a question that may not wait for the restart is refused, never answered from less
    impatient = s.replace(serve_ray=cluster, shard_wait_s=0.5)
    with Engine(impatient, embedder=emb) as engine:
        pid = engine.index().infos()[2]["pid"]
        os.kill(pid, signal.SIGKILL)
        time.sleep(0.2)
        with pytest.raises(ShardUnavailableError, match="shard 3 of 3 did not answer"):
            engine.retrieve(questions[2], 5)
        deadline = time.monotonic() + 60  # Ray restarts it; questions are answered again
        while True:
            try:
                got = [(h.passage_id, round(h.score, 5)) for h in
                       engine.retrieve(questions[2], 5)]
                break
            except ShardUnavailableError:
                assert time.monotonic() < deadline
        assert got == want[questions[2]]


def test_with_two_replicas_a_shard_answers_while_one_restarts(cluster, dated):
    """A question that may wait only 2 s (a restart takes longer) is answered right after
    one of a shard's two replicas is killed: the other one answers."""
    s, emb = dated
    one = load_index(s.index_dir, settings=s, embedder=emb)
    q = "How often was the Kessel dam inspected?"
    want = [(h.passage_id, round(h.score, 5)) for h in retrieve(q, 5, index=one)]
    one.close()
    with Engine(s.replace(serve_ray=cluster, shard_replicas=2, shard_wait_s=2.0),
                embedder=emb) as engine:
        idx = engine.index()
        pids: set[int] = set()
        for _ in range(40):  # a call goes to either replica
            idx._infos = None
            pids |= {i["pid"] for i in idx.infos() if i["slot"] == 1}
            if len(pids) == 2:
                break
        assert len(pids) == 2
        os.kill(min(pids), signal.SIGKILL)
        for _ in range(5):
            assert [(h.passage_id, round(h.score, 5)) for h in engine.retrieve(q, 5)] == want


def test_a_new_commit_reaches_the_shards_without_a_restart(cluster, dated, tmp_path):
    s, emb = dated
    # a copy, so that the other tests' index stays as it was
    import shutil

    shutil.copytree(s.corpus_dir, tmp_path / "corpus")
    shutil.copytree(s.index_dir, tmp_path / "index")
    s = s.replace(corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "index")
    with Engine(s.replace(serve_ray=cluster), embedder=emb) as engine:
        pids = [i["pid"] for i in engine.index().infos()]
        q = "Which lighthouse keeper rescued the sailors?"
        assert not any("lighthouse" in h.text.lower() for h in engine.retrieve(q, 3))
        (s.corpus_dir / "lighthouse-2023.md").write_text(
            "---\ntitle: Lighthouse rescue\ndate: 2023-11-02\nsource: Gazette 2023\n---\n\n"
            "The lighthouse keeper Ada Quill rescued the sailors of a stranded trawler.\n",
            "utf-8")
        report = engine.build()
        assert report.added == 1
        hits = engine.retrieve(q, 3)
        assert hits[0].title == "Lighthouse rescue"
        idx = engine.index()
        assert idx.generation == read_manifest(s.index_dir)["generation"]
        assert [i["pid"] for i in idx.infos()] == pids  # the same replicas, reloaded
        assert {i["generation"] for i in idx.infos()} == {idx.generation}


@needs_scifact
def test_ask_from_the_command_line_through_the_shards(cluster, scifact_index):
    """With ``CHALLENGE_QA_SERVE_RAY`` set, ``ask`` is a front end of the shards, and
    prints what it prints over the index loaded in its own process."""
    s, _ = scifact_index
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "CHALLENGE_QA_INDEX": str(s.index_dir),
           "CHALLENGE_QA_CORPUS": str(s.corpus_dir),
           "CHALLENGE_QA_CHUNK_CHARS": str(s.chunk_chars),
           "CHALLENGE_QA_OVERLAP_CHARS": str(s.overlap_chars)}
    question = "What protein do macrophages release in response to infection?"

    def ask(**extra) -> dict:
        done = subprocess.run([sys.executable, "-m", "challenge_qa.app.cli", "ask", question,
                               "--json"], env={**env, **extra}, capture_output=True,
                              text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        return json.loads(done.stdout)

    here = ask()
    there = ask(CHALLENGE_QA_SERVE_RAY=cluster)
    assert there == here
    assert there["hits"] and there["hits"][0]["passage_id"] == here["hits"][0]["passage_id"]


def test_settings_refuse_bad_shard_values():
    with pytest.raises(Exception, match="shard_replicas between 1 and 64"):
        Settings(shard_replicas=0)
