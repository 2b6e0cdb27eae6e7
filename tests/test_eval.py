"""BEIR-format evaluation: file parsing, and `challenge-qa eval` on a tiny data set."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import write_files

from challenge_qa.app.cli import cli
from challenge_qa.errors import EvalInputError
from challenge_qa.eval.beir import METRICS, default_eval_index, load_qrels, load_queries

CORPUS = [
    {"_id": "d1", "title": "Lighthouse keeper",
     "text": "The lighthouse keeper on Skerry Island polished the brass lens every evening "
             "before lighting the lamp."},
    {"_id": "d2", "title": "Bee communication",
     "text": "Honey bees tell their hive mates where flowers are with a waggle dance. The "
             "angle of the dance shows the direction of the food."},
    {"_id": "d3", "title": "Marathon training",
     "text": "The marathon runner trained at high altitude in Kenya for three months before "
             "the race."},
    {"_id": "d4", "title": "Deep-sea octopus",
     "text": "A new species of deep-sea octopus was discovered near hydrothermal vents in the "
             "Pacific Ocean."},
]
QUERIES = [
    {"_id": "q1", "text": "How do bees tell other bees where the flowers are?"},
    {"_id": "q2", "text": "Where was the new octopus species discovered?"},
    {"_id": "q3", "text": "An unjudged question about marathon training"},
]
# CRLF line ends and a header; q9 is judged but not among the queries (ignored)
QRELS = "query-id\tcorpus-id\tscore\r\nq1\td2\t1\r\nq2\td4\t1\r\nq9\td1\t1\r\n"


@pytest.fixture
def beir(tmp_path) -> Path:
    return write_files(tmp_path / "beir", {
        "corpus.jsonl": "".join(json.dumps(d) + "\n" for d in CORPUS),
        "queries.jsonl": "".join(json.dumps(q) + "\n" for q in QUERIES),
        "qrels.tsv": QRELS.encode(),
    })


# ------------------------------------------------------------------ parsing

def test_load_qrels_crlf_and_header(beir):
    assert load_qrels(beir / "qrels.tsv") == {"q1": {"d2": 1}, "q2": {"d4": 1},
                                              "q9": {"d1": 1}}


def test_load_qrels_without_header_and_with_grades(tmp_path):
    p = write_files(tmp_path, {"r.tsv": "a\tx\t2\na\ty\t0\nb\tz\t-1\n\n"}) / "r.tsv"
    assert load_qrels(p) == {"a": {"x": 2, "y": 0}, "b": {"z": -1}}


@pytest.mark.parametrize(("content", "message"), [
    ("query-id\tcorpus-id\tscore\n", "No judgements"),
    ("", "No judgements"),
    ("q1\td1\t1\nq1\td2\n", "r.tsv:2: expected 3 tab-separated columns"),
    ("q1\td1\t1\nq1\td2\tyes\n", "not a whole number"),
])
def test_load_qrels_errors(tmp_path, content, message):
    p = write_files(tmp_path, {"r.tsv": content}) / "r.tsv"
    with pytest.raises(EvalInputError, match=message) as e:
        load_qrels(p)
    assert "--qrels" in e.value.hint


def test_load_qrels_missing_file(tmp_path):
    with pytest.raises(EvalInputError, match="Cannot read qrels file"):
        load_qrels(tmp_path / "none.tsv")


def test_load_queries(beir, tmp_path):
    assert load_queries(beir / "queries.jsonl") == {q["_id"]: q["text"] for q in QUERIES}
    p = write_files(tmp_path, {"q.jsonl": '{"id": 7, "text": "seven"}\n\n'}) / "q.jsonl"
    assert load_queries(p) == {"7": "seven"}
    bad = write_files(tmp_path, {"b.jsonl": '{"_id": "1", "text": "ok"}\n{"_id": "2"}\n'})
    with pytest.raises(EvalInputError, match="b.jsonl:2: not a JSON query"):
        load_queries(bad / "b.jsonl")
    with pytest.raises(EvalInputError, match="Cannot read queries file"):
        load_queries(tmp_path / "none.jsonl")


def test_default_eval_index_is_per_corpus(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("CHALLENGE_QA_CACHE", raising=False)
    a = default_eval_index(tmp_path / "a" / "corpus.jsonl")
    b = default_eval_index(tmp_path / "b" / "corpus.jsonl")
    assert a != b
    assert a.parent == tmp_path / "cache" / "challenge_qa" / "eval"
    assert a.name.startswith("corpus-")
    assert default_eval_index(tmp_path / "a" / "corpus.jsonl") == a


# ------------------------------------------------------------------ challenge-qa eval

@pytest.mark.slow
def test_eval_command(beir, tmp_path):
    index_dir = tmp_path / "eval-index"
    run_file = tmp_path / "run.json"
    args = ["eval", "--corpus", str(beir / "corpus.jsonl"), "--queries",
            str(beir / "queries.jsonl"), "--qrels", str(beir / "qrels.tsv"),
            "--index", str(index_dir)]
    result = CliRunner().invoke(cli, [*args, "--run", str(run_file)])
    assert result.exit_code == 0, (result.output, result.exception)
    lines = result.stdout.strip().splitlines()
    assert lines[0] == f"2 queries, index {index_dir}"
    metrics = {}
    for line in lines[1:]:
        m = re.fullmatch(r"(\S+)\s+(\d\.\d{4})", line)
        assert m, line
        metrics[m.group(1)] = float(m.group(2))
    assert list(metrics) == list(METRICS) == ["ndcg@10", "recall@10", "recall@100", "mrr@10"]
    # each query's one relevant article is found first
    assert metrics == {"ndcg@10": 1.0, "recall@10": 1.0, "recall@100": 1.0, "mrr@10": 1.0}

    run = json.loads(run_file.read_text(encoding="utf-8"))
    assert set(run) == {"q1", "q2"}  # only judged queries that exist are asked
    for qid, docs in run.items():
        assert set(docs) <= {"d1", "d2", "d3", "d4"} and docs
        best = max(docs, key=docs.get)
        assert best == {"q1": "d2", "q2": "d4"}[qid]
    assert (index_dir / "manifest.json").is_file()

    # again, as JSON: the index is reused, nothing is embedded
    result = CliRunner().invoke(cli, [*args, "--json"])
    assert result.exit_code == 0, (result.output, result.exception)
    report = json.loads(result.stdout)
    assert report["queries"] == 2 and report["index_dir"] == str(index_dir)
    assert report["metrics"] == metrics
    assert report["build"]["embedded_passages"] == 0
    assert report["build"]["unchanged"] == 4 and report["build"]["articles"] == 4
