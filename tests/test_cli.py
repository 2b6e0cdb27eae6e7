"""The challenge-qa command through click's CliRunner."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import Result
from helpers import (
    DEFAULT,
    DOCS_CORPUS,
    ROOT,
    SMALL_FILES,
    assert_one_error_line,
    invoke,
    write_files,
)

import challenge_qa.store.manifest as mf
from challenge_qa import answer, load_index, retrieve
from challenge_qa.app.cli import cli

slow = pytest.mark.slow

SUMMARY = re.compile(
    r"^Indexed (\d+) article\(s\) into (.+): (\d+) added, (\d+) changed, (\d+) removed, "
    r"(\d+) unchanged; (\d+) passages \((\d+) embedded\) in (\d+) segment\(s\)"
    r"(?:, (\d+) merge\(s\))?, \d+\.\d s\.$")



def ok(result: Result) -> Result:
    assert result.exit_code == 0, (result.exit_code, result.output, result.exception)
    return result


def summary(result: Result) -> dict[str, int]:
    lines = ok(result).stdout.strip().splitlines()
    assert len(lines) == 1, lines
    m = SUMMARY.match(lines[0])
    assert m, lines[0]
    keys = ("articles", "index", "added", "changed", "removed", "unchanged", "passages",
            "embedded", "segments", "merges")
    return {k: (v if k == "index" else int(v or 0))
            for k, v in zip(keys, m.groups(), strict=True)}



@pytest.fixture(scope="module")
def cli_index(tmp_path_factory):
    """The small corpus (plus one unreadable file) indexed by `challenge-qa index`."""
    base = tmp_path_factory.mktemp("cli")
    corpus = write_files(base / "corpus", {**SMALL_FILES, "broken.md": b""})
    index_dir = base / "index"
    result = invoke("index", "--corpus", corpus, "--index", index_dir)
    return corpus, index_dir, result


# ------------------------------------------------------------------ index

@slow
def test_index_summary_and_warnings(cli_index):
    corpus, index_dir, result = cli_index
    s = summary(result)
    assert s["index"] == str(index_dir)
    assert (s["articles"], s["added"], s["changed"], s["removed"], s["unchanged"]) == (
        5, 5, 0, 0, 0)
    assert s["passages"] == s["embedded"] > 0
    assert f"Indexing {corpus} ..." in result.stderr
    assert "Warning: broken.md: skipped, it has no text" in result.stderr
    assert (index_dir / "manifest.json").is_file()


@slow
def test_index_again_is_incremental_and_full_reembeds(tmp_path):
    corpus = write_files(tmp_path / "corpus", SMALL_FILES)
    index_dir = tmp_path / "index"
    first = summary(invoke("index", "--corpus", corpus, "--index", index_dir))
    again = summary(invoke("index", "--corpus", corpus, "--index", index_dir))
    assert (again["added"], again["unchanged"], again["embedded"]) == (0, 5, 0)
    assert again["passages"] == first["passages"]
    (corpus / "volcano.md").write_text("---\ntitle: Etna\n---\nEtna is quiet today.\n",
                                       encoding="utf-8")
    changed = summary(invoke("index", "--corpus", corpus, "--index", index_dir))
    assert (changed["changed"], changed["unchanged"], changed["embedded"]) == (1, 4, 1)
    # the changed article went into a new segment, its old version is marked deleted
    assert (first["segments"], again["segments"], changed["segments"]) == (1, 1, 2)
    info = json.loads(ok(invoke("status", "--json", "--corpus", corpus, "--index",
                                index_dir)).stdout)
    assert info["segments"] == 2 and info["deleted_passages"] > 0
    assert info["passages"] == changed["passages"] and info["stale"] is False
    # --optimize merges them into one, purging the deleted passages; nothing is embedded
    lines = ok(invoke("index", "--corpus", corpus, "--index", index_dir,
                      "--optimize")).stdout.strip().splitlines()
    assert len(lines) == 2 and SUMMARY.match(lines[0]), lines
    assert re.fullmatch(r"Optimized: merged into one segment in \d+\.\d s\.", lines[1])
    info = json.loads(ok(invoke("status", "--json", "--corpus", corpus, "--index",
                                index_dir)).stdout)
    assert (info["segments"], info["deleted_passages"]) == (1, 0)
    assert info["passages"] == changed["passages"]
    full = summary(invoke("index", "--corpus", corpus, "--index", index_dir, "--full"))
    assert full["added"] == 5 and full["embedded"] == full["passages"]
    assert full["segments"] == 1


@slow
def test_ask_waits_for_the_first_build_another_process_runs(tmp_path, monkeypatch):
    """The chat builds the first index in the background; an `ask` meanwhile waits for
    that build and answers from its index, instead of failing on the build lock."""
    import threading
    import time

    from challenge_qa import build_index

    corpus = write_files(tmp_path / "corpus", SMALL_FILES)
    index_dir = tmp_path / "index"
    real_commit = mf.commit
    ask_started = threading.Event()

    def late_commit(*args):  # the other build holds its lock until `ask` is waiting
        ask_started.wait(timeout=60)
        time.sleep(1.5)
        real_commit(*args)

    monkeypatch.setattr(mf, "commit", late_commit)
    other = threading.Thread(target=build_index, args=(corpus, index_dir), daemon=True)
    other.start()
    deadline = time.monotonic() + 60
    while not mf.build_running(index_dir) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert mf.build_running(index_dir)
    ask_started.set()
    result = ok(invoke("ask", "Who won the national chess championship?", "--corpus", corpus,
                       "--index", index_dir))
    other.join(timeout=60)
    assert "waiting for it" in result.stderr and "Error" not in result.stderr
    assert "Leeds" in result.stdout
    assert not mf.build_running(index_dir)


@slow
def test_index_reads_environment(tmp_path):
    corpus = write_files(tmp_path / "corpus", {"a.txt": "Alpha\nThe alpha article text."})
    index_dir = tmp_path / "envindex"
    s = summary(invoke("index", env={"CHALLENGE_QA_CORPUS": str(corpus),
                                     "CHALLENGE_QA_INDEX": str(index_dir)}))
    assert s["articles"] == 1 and s["index"] == str(index_dir)
    assert (index_dir / "manifest.json").is_file()


# ------------------------------------------------------------------ ask

ANSWER_FIELDS = {"question", "text", "found", "citations", "statements", "hits", "query",
                 "confidence", "short", "short_start", "short_end", "short_date", "reader",
                 "filters"}
#: An answer's hits and citations in JSON: compact (``Hit.to_dict``), as the API gives them.
CITATION_FIELDS = {"doc_id", "title", "source", "date", "url", "article_path", "page",
                   "passage_id", "sentence", "sentence_start", "sentence_end"}


@slow
def test_ask_text(cli_index):
    corpus, index_dir, _ = cli_index
    result = ok(invoke("ask", "Which volcano erupted and where did the ash fall?", "-k", "2",
                       "--corpus", corpus, "--index", index_dir))
    out = result.stdout
    answer_text, _, sources = out.partition("\nSources:\n")
    assert sources, out
    assert "[1]" in answer_text  # the answer cites its first source
    first, source = sources.splitlines()[:2]
    assert re.fullmatch(r"\[1\] “.+”", first), first  # the quoted sentence, then its article
    assert re.fullmatch(r"    Mount Etna erupts again \(Volcano Weekly, 2024-02-11\); "
                        r"volcano\.md#\d+, chars \d+-\d+", source), source
    quoted = re.findall(r"^\[\d+\] “(.+?)”$", sources, re.M | re.S)
    assert len(quoted) == len(set(quoted))  # each cited sentence once
    assert "score" not in sources  # no passage dump without -v
    assert "Note:" not in result.stderr  # the index is up to date


@slow
def test_ask_passages_shows_each_whole_passage_once(cli_index):
    corpus, index_dir, _ = cli_index
    question = "Which volcano erupted and where did the ash fall?"
    short = ok(invoke("ask", question, "--corpus", corpus, "--index", index_dir)).stdout
    out = ok(invoke("ask", question, "-v", "--corpus", corpus, "--index", index_dir)).stdout
    assert out.startswith(short.rstrip("\n"))  # the same answer, then the passages
    heads = re.findall(r"^((?:\[\d+\])+) passage (\S+), chars \d+-\d+, score \d\.\d{3}$",
                       out[len(short):], re.M)
    assert heads, out
    assert len({pid for _, pid in heads}) == len(heads)  # each passage once
    cited = sum(len(re.findall(r"\[\d+\]", refs)) for refs, _ in heads)
    assert cited == len(re.findall(r"^\[\d+\] “", short, re.M))  # every citation's passage
    assert ok(invoke("ask", question, "--passages", "--corpus", corpus, "--index",
                     index_dir)).stdout == out


@slow
def test_ask_json_hits_equal_the_api(cli_index):
    corpus, index_dir, _ = cli_index
    question = "How do honey bees tell the hive where flowers are?"
    result = ok(invoke("ask", question, "--json", "-k", "3", "--corpus", corpus,
                       "--index", index_dir))
    data = json.loads(result.stdout)
    assert isinstance(data, dict) and set(data) == ANSWER_FIELDS
    assert data["question"] == question and data["found"] is True
    hits = data["hits"]
    assert isinstance(hits, list) and len(hits) == 3
    for h in hits:
        assert isinstance(h, dict) and set(h) == CITATION_FIELDS | {"rank", "score"}
    for h in data["citations"]:
        assert isinstance(h, dict) and set(h) == CITATION_FIELDS
    assert hits[0]["doc_id"] == "nature/bees.html"
    assert hits[0]["source"] == "Nature Notes"
    idx = load_index(index_dir, settings=DEFAULT)
    api = answer(question, k=3, index=idx).hits
    assert [h["passage_id"] for h in hits] == [h.passage_id for h in api]
    assert [h["score"] for h in hits] == [h.score for h in api]
    # the passages retrieval ranks first, listed in the order of their best sentence
    pool = retrieve(question, k=DEFAULT.answer_passages, index=idx)
    assert {h["passage_id"] for h in hits} <= {h.passage_id for h in pool}
    assert data["citations"][0]["doc_id"] == "nature/bees.html"
    assert data["citations"][0]["sentence"] in data["text"]


@slow
def test_chat_reads_a_follow_up_against_the_answer_before_it(docs_index_ro):
    """``challenge-qa chat`` keeps the conversation as the web chat does: "he" after "Who
    plays the patient?" is the cosmonaut the answer named; an empty line ends it."""
    typed = "Who plays the patient?\nIs he a real cosmonaut?\n\nWho directed it?\n"
    result = invoke("chat", "--corpus", DOCS_CORPUS, "--index", docs_index_ro, input=typed)
    assert result.exit_code == 0, (result.output, result.exception)
    out = result.stdout
    assert out.count("Oleg Novitskiy") >= 2
    assert "Searched: Is Oleg Novitskiy a real cosmonaut?" in out
    assert result.stderr.count("Question> ") == 3  # the third, empty, ended the chat


@slow
def test_ask_default_k_and_per_article(cli_index):
    corpus, index_dir, _ = cli_index
    common = ("--json", "--corpus", corpus, "--index", index_dir)
    question = "What happened on the day of the event?"
    assert len(json.loads(ok(invoke("ask", question, *common)).stdout)["hits"]) == 5
    per = json.loads(ok(invoke("ask", question, "-k", "50", "--per-article", *common)).stdout)
    ids = [h["doc_id"] for h in per["hits"]]
    assert len(ids) == len(set(ids)) == 5


@slow
def test_ask_unanswerable_shows_closest_passages(cli_index):
    corpus, index_dir, _ = cli_index
    out = ok(invoke("ask", "What is the capital of Mongolia's stock exchange index?",
                    "--corpus", corpus, "--index", index_dir)).stdout
    assert out.startswith("The articles do not cover this question.")
    assert "Closest passages (they do not answer the question):" in out
    assert "Sources:" not in out


@slow
def test_ask_builds_a_missing_index(tmp_path):
    corpus = write_files(tmp_path / "corpus", SMALL_FILES)
    index_dir = tmp_path / "fresh"
    result = ok(invoke("ask", "Who won the chess championship?", "-k", "1", "--json",
                       "--corpus", corpus, "--index", index_dir))
    assert f"No index in {index_dir} yet." in result.stderr
    assert json.loads(result.stdout)["hits"][0]["doc_id"] == "chess.txt"
    assert (index_dir / "manifest.json").is_file()


@slow
def test_ask_and_status_report_a_stale_index(tmp_path, cli_index):
    corpus = write_files(tmp_path / "corpus", SMALL_FILES)
    index_dir = tmp_path / "index"
    ok(invoke("index", "--corpus", corpus, "--index", index_dir))
    with open(corpus / "chess.txt", "a", encoding="utf-8") as f:
        f.write("She also won the blitz event.\n")
    result = ok(invoke("ask", "chess", "-k", "1", "--corpus", corpus, "--index", index_dir))
    assert "Note: the index is stale: 0 new, 1 changed, 0 removed" in result.stderr
    assert "[1] " in result.stdout
    info = json.loads(ok(invoke("status", "--json", "--corpus", corpus, "--index",
                                index_dir)).stdout)
    assert info["stale"] is True and info["state"].startswith("stale: 0 new, 1 changed")


# ------------------------------------------------------------------ status

@slow
def test_status_text_and_json(cli_index):
    corpus, index_dir, build = cli_index
    text = ok(invoke("status", "--corpus", corpus, "--index", index_dir)).stdout
    rows = dict(re.split(r"\s{2,}", line, maxsplit=1) for line in text.strip().splitlines())
    assert rows["index"] == str(index_dir)
    assert rows["model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert rows["articles"] == "5" and rows["state"] == "up to date"
    assert rows["stale"] == "False"

    info = json.loads(ok(invoke("status", "--json", "--corpus", corpus, "--index",
                                index_dir)).stdout)
    assert info["articles"] == 5 and info["passages"] == summary(build)["passages"]
    assert info["stale"] is False and info["state"] == "up to date"
    assert info["format_version"] == 3 and info["dimension"] == 384
    assert info["segments"] == 1 and info["deleted_passages"] == 0
    assert info["chunking"] == DEFAULT.chunking()
    assert info["model"] == DEFAULT.model and info["built_at"]
    assert re.fullmatch(r"reader-\d+\+[0-9a-f]{12}", info["reader"]), info["reader"]


@slow
def test_status_reports_a_mismatched_model_without_failing(cli_index):
    corpus, index_dir, _ = cli_index
    result = ok(invoke("status", "--json", "--corpus", corpus, "--index", index_dir,
                       env={"CHALLENGE_QA_MODEL": "someone/other-model"}))
    info = json.loads(result.stdout)
    assert info["stale"] is None
    assert "was built with the model" in info["state"]
    assert "challenge-qa index --full" in info["state"]


# ------------------------------------------------------------------ errors

def _make_empty(tmp: Path) -> Path:
    (tmp / "empty").mkdir()
    return tmp / "empty"


def _make_unreadable(tmp: Path) -> Path:
    return write_files(tmp / "unreadable", {"empty.md": b"", "latin.txt": b"caf\xe9"})


def _make_corrupt(tmp: Path) -> Path:
    return write_files(tmp / "corrupt", {"manifest.json": "{not json"})


def _make_future(tmp: Path) -> Path:
    manifest = {"format_version": 99, "segments": [{"name": "seg-x"}], "model": DEFAULT.model,
                "chunking": DEFAULT.chunking(), "counts": {"articles": 1, "passages": 1}}
    return write_files(tmp / "future", {"manifest.json": json.dumps(manifest)})


def _make_beir(tmp: Path, queries: str, qrels: str) -> list[str]:
    write_files(tmp / "beir", {
        "corpus.jsonl": '{"_id": "d1", "title": "T", "text": "Some text."}\n',
        "queries.jsonl": queries, "qrels.tsv": qrels})
    b = tmp / "beir"
    return ["--corpus", str(b / "corpus.jsonl"), "--queries", str(b / "queries.jsonl"),
            "--qrels", str(b / "qrels.tsv"), "--index", str(tmp / "eval-index")]


DOCS = str(DOCS_CORPUS)
ERROR_CASES = [
    pytest.param(lambda t: ["index", "--corpus", t / "nope", "--index", t / "idx"], None,
                 ["Corpus not found", "Point --corpus"], id="index-missing-corpus"),
    pytest.param(lambda t: ["index", "--corpus", _make_empty(t), "--index", t / "idx"], None,
                 ["No article files", "Add .md, .txt, .html, .jsonl or .pdf"],
                 id="index-empty-corpus"),
    pytest.param(lambda t: ["index", "--corpus", _make_unreadable(t), "--index", t / "idx"],
                 None, ["No readable articles", "empty.md", "latin.txt"],
                 id="index-unreadable-corpus"),
    pytest.param(lambda t: ["status", "--index", t / "nope"], None,
                 ["No index in", "Build it with: challenge-qa index"], id="status-no-index"),
    pytest.param(lambda t: ["ask", "Who?", "--index", t / "nope", "--corpus", t / "nope"], None,
                 ["Corpus not found"], id="ask-no-index-no-corpus"),
    pytest.param(lambda t: ["ask", "Who?", "--index", _make_corrupt(t)], None,
                 ["manifest", "unreadable", "challenge-qa index --full"],
                 id="ask-corrupt-index"),
    pytest.param(lambda t: ["ask", "Who?", "--index", _make_future(t)], None,
                 ["format version 99", "Upgrade challenge_qa", "challenge-qa index --full"],
                 id="ask-future-format"),
    pytest.param(lambda t: ["status", "--index", t / "nope"],
                 {"CHALLENGE_QA_CHUNK_CHARS": "abc"}, ["CHALLENGE_QA_CHUNK_CHARS"],
                 id="bad-number-in-environment"),
    pytest.param(lambda t: ["ask", "", "--index", "{docs}", "--corpus", DOCS], None,
                 ["The question is empty.", "Ask a question in words"], id="ask-empty",
                 marks=slow),
    pytest.param(lambda t: ["ask", "  \t ", "--index", "{docs}", "--corpus", DOCS], None,
                 ["The question is empty."], id="ask-blank", marks=slow),
    pytest.param(lambda t: ["ask", "Who?", "-k", "0", "--index", "{docs}", "--corpus", DOCS],
                 None, ["k must be between 1 and 1000, not 0", "e.g. k=5"], id="ask-k-0",
                 marks=slow),
    pytest.param(lambda t: ["ask", "Who?", "-k", "-1", "--index", "{docs}", "--corpus", DOCS],
                 None, ["k must be between 1 and 1000, not -1"], id="ask-k-minus-1",
                 marks=slow),
    pytest.param(lambda t: ["ask", "Who?", "-k", "1001", "--index", "{docs}", "--corpus",
                            DOCS], None, ["not 1001"], id="ask-k-1001", marks=slow),
    pytest.param(lambda t: ["ask", "Who?", "--index", "{docs}", "--corpus", DOCS],
                 {"CHALLENGE_QA_MODEL": "someone/other-model"},
                 ["was built with the model", "'someone/other-model'",
                  "challenge-qa index --full"], id="ask-other-model", marks=slow),
    pytest.param(lambda t: ["ask", "Who?", "--index", "{docs}", "--corpus", DOCS],
                 {"CHALLENGE_QA_CHUNK_CHARS": "500"},
                 ["was built with chunking", "challenge-qa index --full"],
                 id="ask-other-chunking", marks=slow),
    pytest.param(lambda t: ["index", "--corpus", DOCS, "--index", t / "idx"],
                 {"CHALLENGE_QA_MODEL": str(Path("/nonexistent/model-folder"))},
                 ["Could not load the embedding model", "CHALLENGE_QA_MODEL"],
                 id="index-missing-model", marks=slow),
    pytest.param(lambda t: ["eval", *_make_beir(t, '{"_id": "q1", "text": "x"}\n',
                                                "query-id\tcorpus-id\tscore\r\n")], None,
                 ["No judgements in qrels file", "Check the --queries and --qrels"],
                 id="eval-no-judgements"),
    pytest.param(lambda t: ["eval", *_make_beir(t, '{"_id": "q1", "text": "x"}\n',
                                                "q7\td1\t1\n")], None,
                 ["None of the 1 judged query ids"], id="eval-unknown-queries"),
    pytest.param(lambda t: ["eval", *_make_beir(t, '{"_id": "q1", "text": "x"}\n',
                                                "q1\td1\t1\nq1\td2\thigh\n")], None,
                 ["relevance score is not a whole number"], id="eval-bad-score"),
    pytest.param(lambda t: ["eval", *_make_beir(t, '{"_id": "q1", "text": "x"}\nnot json\n',
                                                "q1\td1\t1\n")], None,
                 ["queries.jsonl:2: not a JSON query"], id="eval-bad-queries"),
    pytest.param(lambda t: ["eval", *_make_beir(t, '{"_id": "q1", "text": "x"}\n',
                                                "q1\td1\t1\nq1\td2\n")], None,
                 ["qrels.tsv:2: expected 3 tab-separated columns"], id="eval-two-columns"),
]


@pytest.mark.parametrize(("make_args", "env", "fragments"), ERROR_CASES)
def test_errors_are_one_line_with_a_hint(request, tmp_path, make_args, env, fragments):
    args = [str(a) for a in make_args(tmp_path)]
    if "{docs}" in args:
        docs_index = request.getfixturevalue("docs_index_ro")
        args = [str(docs_index) if a == "{docs}" else a for a in args]
    result = invoke(*args, env=env)
    assert_one_error_line(result, *fragments)
    # a failed command leaves no index behind where there was none
    assert not (tmp_path / "idx" / "manifest.json").exists()


def test_usage_errors_exit_2():
    result = invoke("ask")
    assert result.exit_code == 2 and "Missing argument 'QUESTION'" in result.stderr
    result = invoke("ask", "Who?", "-k", "many")
    assert result.exit_code == 2 and "'many' is not a valid integer" in result.stderr
    result = invoke("eval", "--corpus", "/nonexistent.jsonl", "--queries", "/q", "--qrels",
                    "/r")
    assert result.exit_code == 2 and "does not exist" in result.stderr


# ------------------------------------------------------------------ help, version, README

def test_version():
    result = ok(invoke("--version"))
    assert result.stdout.strip() == "challenge-qa, version 0.1.0"


def test_group_help_lists_every_command():
    out = ok(invoke("--help")).stdout
    assert out.startswith("Usage: challenge-qa")
    for name in cli.commands:
        assert re.search(rf"^  {name}\s+\S", out, re.M), name


@pytest.mark.parametrize("name", sorted(cli.commands))
def test_every_command_has_help(name):
    command = cli.commands[name]
    assert command.help and command.help.strip()
    options = [p for p in command.params if isinstance(p, click.Option)]
    assert all(p.help for p in options), [p.name for p in options if not p.help]
    out = ok(invoke(name, "--help")).stdout
    assert out.startswith(f"Usage: challenge-qa {name}")
    assert command.help.strip().splitlines()[0] in out


@pytest.mark.parametrize("name", sorted(cli.commands))
def test_every_command_is_in_the_readme(name):
    readme = ROOT / "README.md"
    assert readme.is_file(), "README.md is missing"
    assert f"challenge-qa {name}" in readme.read_text(encoding="utf-8")


def test_module_entry_point():
    out = subprocess.run([sys.executable, "-m", "challenge_qa.app.cli", "--help"],
                         capture_output=True, text=True, timeout=120, check=True).stdout
    assert "Usage: " in out and all(name in out for name in cli.commands)


# ------------------------------------------------------------------ found bugs

@slow
def test_status_and_ask_judge_staleness_against_the_indexed_corpus(tmp_path, monkeypatch):
    """With only --index given, staleness should be checked against the corpus the index
    was built from (manifest "corpus", which indexer.staleness falls back to), not against
    the default ./docs_corpus."""
    corpus = write_files(tmp_path / "corpus", SMALL_FILES)
    index_dir = tmp_path / "index"
    ok(invoke("index", "--corpus", corpus, "--index", index_dir))
    monkeypatch.chdir(tmp_path)  # no ./docs_corpus here
    info = json.loads(ok(invoke("status", "--json", "--index", index_dir)).stdout)
    assert info["stale"] is False, info["state"]
    result = ok(invoke("ask", "Who won the chess championship?", "--index", index_dir))
    assert "stale" not in result.stderr


@slow
@pytest.mark.parametrize(("args", "message"), [
    (["ask", ""], "The question is empty."),
    (["ask", "Who?", "-k", "0"], "k must be between 1 and 1000"),
], ids=["empty-question", "k-0"])
def test_ask_checks_its_arguments_before_building_an_index(tmp_path, args, message):
    """A bad question or k should be refused at once, not after indexing the whole corpus."""
    corpus = write_files(tmp_path / "corpus", SMALL_FILES)
    result = invoke(*args, "--corpus", corpus, "--index", tmp_path / "idx")
    assert_one_error_line(result, message)
    assert not (tmp_path / "idx" / "manifest.json").exists()
