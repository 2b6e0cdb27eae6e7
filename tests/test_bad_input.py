"""Bad input of every kind, as tables: each row names the error class and the message it must
give (or the warning, for files that are skipped), through the Python API and through the
CLI, and the good index built before is left untouched byte for byte."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
from helpers import (
    DEFAULT,
    DOCS_CORPUS,
    SMALL,
    assert_one_error_line,
    copy_index,
    invoke,
    write_files,
)

from challenge_qa import answer, build_index, load_index, retrieve
from challenge_qa.answering.compose import Answer
from challenge_qa.config import Settings
from challenge_qa.corpus.load import SkippedFileWarning, load_articles, load_corpus
from challenge_qa.errors import (
    ChallengeQAError,
    CorpusEmptyError,
    CorpusNotFoundError,
    IndexCorruptError,
    IndexMismatchError,
    IndexNotFoundError,
    InvalidArgumentError,
    InvalidQuestionError,
)
from challenge_qa.search.retrieve import Hit
from challenge_qa.store.manifest import LOCK, MANIFEST

slow = pytest.mark.slow

GOOD_MD = ("---\ntitle: Tides and the moon\nsource: Sea Notes\n---\n\nThe moon pulls the "
           "oceans and makes the tides. Spring tides come twice a month, at new and full moon.\n")
HUGE_MB = 50
#: The CLI reads settings from the environment: these make them equal to ``SMALL``.
SMALL_ENV = {"CHALLENGE_QA_CHUNK_CHARS": str(SMALL.chunk_chars),
             "CHALLENGE_QA_OVERLAP_CHARS": str(SMALL.overlap_chars)}


def snapshot(index_dir: Path) -> dict[str, str]:
    """Every file of an index folder (the lock file aside) with the hash of its bytes."""
    return {p.relative_to(index_dir).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(index_dir.rglob("*")) if p.is_file() and p.name != LOCK}




@pytest.fixture(scope="module")
def huge_file(tmp_path_factory) -> Path:
    """A 50 MB .txt of one repeated sentence, linked (not copied) into corpora."""
    path = tmp_path_factory.mktemp("huge") / "huge.txt"
    sentence = b"The quick brown fox jumps over the lazy dog again and again. "
    size = HUGE_MB * 2**20
    path.write_bytes((sentence * (size // len(sentence) + 1))[:size])
    return path


def add_huge(folder: Path, huge: Path, name: str = "huge.txt") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    try:
        os.link(huge, folder / name)
    except OSError:
        shutil.copyfile(huge, folder / name)


# =========================================================================== questions

#: (question, None for "answers" or the InvalidQuestionError message fragment)
QUESTIONS = [
    pytest.param("", "The question is empty.", id="empty"),
    pytest.param(" \t\n\r \u3000 ", "The question is empty.", id="whitespace-only"),
    pytest.param("\x00\x00\x00", "The question is empty.", id="nul-only"),
    pytest.param(None, "The question must be text, not NoneType.", id="none"),
    pytest.param(b"who directed", "The question must be text, not bytes.", id="bytes"),
    pytest.param(42, "The question must be text, not int.", id="number"),
    pytest.param(("Who directed the film? " * 5000)[:100_000], None, id="100kB"),
    pytest.param("\x00\x01\x02 who directed", None, id="control-chars"),
    pytest.param("\x01\x02\x03\x7f\x1b[31m", None, id="only-control-chars"),
    pytest.param("مَن أخرج الفيلم؟ 🎬", None, id="arabic-rtl-emoji"),
    pytest.param("Wer hat den Film gedreht?", None, id="german"),
    pytest.param("誰が映画を監督しましたか", None, id="japanese"),
    pytest.param("\u202eWho directed\u202c \u200b\ufeff?", None, id="bidi-zero-width"),
    pytest.param("🎬" * 500, None, id="emoji-only"),
]


@pytest.fixture(scope="module")
def docs_index(docs_index_ro):
    return load_index(docs_index_ro, settings=DEFAULT)


@pytest.fixture
def untouched_docs_index(docs_index_ro):
    """Fails the test if the shared docs index changed while it ran."""
    before = snapshot(docs_index_ro)
    yield docs_index_ro
    assert snapshot(docs_index_ro) == before


def check_hits(hits, index, k: int) -> None:
    assert isinstance(hits, list) and 1 <= len(hits) <= k
    assert all(isinstance(h, Hit) for h in hits)
    assert [h.rank for h in hits] == list(range(1, len(hits) + 1))
    for h in hits:
        text = index.article(h.doc_id)["text"]
        assert text[h.start:h.end] == h.text and text[h.sentence_start:h.sentence_end] == (
            h.sentence)
        assert np.isfinite([h.score, h.dense_score, h.bm25_score]).all()


@slow
@pytest.mark.parametrize(("question", "error"), QUESTIONS)
def test_question_api(docs_index, untouched_docs_index, question, error):
    if error:
        for call in (retrieve, answer):
            with pytest.raises(InvalidQuestionError, match=error) as e:
                call(question, k=3, index=docs_index)
            assert "Ask a question in words" in e.value.hint
        return
    check_hits(retrieve(question, k=3, index=docs_index), docs_index, 3)
    a = answer(question, k=3, index=docs_index)
    assert isinstance(a, Answer) and a.text and isinstance(a.found, bool)
    assert len(a.question) <= DEFAULT.max_question_chars
    if a.found:
        assert a.citations and "[1]" in a.text
    else:
        assert a.citations == [] and len(a.hits) <= 3


CLI_QUESTIONS = [p for p in QUESTIONS if isinstance(p.values[0], str)]


@slow
@pytest.mark.parametrize(("question", "error"), CLI_QUESTIONS)
def test_question_cli(untouched_docs_index, question, error):
    result = invoke("ask", question, "-k", "3", "--index", untouched_docs_index,
                    "--corpus", DOCS_CORPUS)
    if error:
        assert_one_error_line(result, error, "Ask a question in words")
        return
    assert result.exit_code == 0, (result.output, result.exception)
    assert "Traceback" not in result.output and "Error" not in result.stderr
    out = result.stdout
    assert out.strip()
    assert "Sources:" in out or "Closest passages" in out


# =========================================================================== k

KS = [
    pytest.param(0, "k must be between 1 and 1000, not 0", id="0"),
    pytest.param(-1, "k must be between 1 and 1000, not -1", id="-1"),
    pytest.param(10**9, "k must be between 1 and 1000, not 1000000000", id="1e9"),
    pytest.param(2.5, "k must be a whole number, not 2.5", id="2.5"),
    pytest.param("5", "k must be a whole number, not '5'", id="str-5"),
    pytest.param(True, "k must be a whole number, not True", id="True"),
    pytest.param("None", "k must be a whole number, not 'None'", id="str-None"),
]


@slow
@pytest.mark.parametrize(("k", "message"), KS)
def test_k_api(docs_index, untouched_docs_index, k, message):
    for call in (retrieve, answer):
        with pytest.raises(InvalidArgumentError, match=message) as e:
            call("Who directed the film?", k=k, index=docs_index)
        assert "e.g. k=5" in e.value.hint


@slow
def test_k_none_is_the_settings_default(docs_index):
    """k=None (the default) takes Settings.k; so does every front end."""
    assert docs_index.settings.k == 5
    assert len(retrieve("Who directed the film?", k=None, index=docs_index)) == 5
    assert len(answer("Who directed the film?", k=None, index=docs_index).hits) == 5


@slow
@pytest.mark.parametrize(("k", "message"), [
    ("0", "k must be between 1 and 1000, not 0"),
    ("-1", "k must be between 1 and 1000, not -1"),
    ("1000000000", "k must be between 1 and 1000, not 1000000000"),
], ids=["0", "-1", "1e9"])
def test_k_cli(untouched_docs_index, k, message):
    result = invoke("ask", "Who directed the film?", "-k", k, "--index", untouched_docs_index,
                    "--corpus", DOCS_CORPUS)
    assert_one_error_line(result, message, "e.g. k=5")


@pytest.mark.parametrize("k", ["2.5", "five", ""])
def test_k_cli_not_a_number_is_a_usage_error(tmp_path, k):
    result = invoke("ask", "Who directed the film?", "-k", k, "--index", tmp_path / "idx")
    assert result.exit_code == 2 and "is not a valid integer" in result.stderr
    assert "Traceback" not in result.output
    assert not (tmp_path / "idx").exists()


# =========================================================================== corpus

def _missing(tmp: Path, huge: Path) -> Path:
    return tmp / "no-such-corpus"


def _empty_folder(tmp: Path, huge: Path) -> Path:
    (tmp / "c").mkdir()
    return tmp / "c"


def _only_unsupported(tmp: Path, huge: Path) -> Path:
    return write_files(tmp / "c", {"photo.jpg": b"\xff\xd8\xff", "notes.docx": b"PK\x03\x04"})


def _only_unreadable(tmp: Path, huge: Path) -> Path:
    return write_files(tmp / "c", {
        "latin1.txt": "Caf\u00e9 cr\u00e8me, na\u00efve r\u00e9sum\u00e9.".encode("latin-1"),
        "blob.md": bytes(range(256)) * 4,              # binary: NUL bytes, invalid UTF-8
        "zipped.html": b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + bytes(64),
    })


def _only_empty_files(tmp: Path, huge: Path) -> Path:
    return write_files(tmp / "c", {"a.md": b"", "b.txt": b"\n \n", "c.html": b"<p> </p>"})


def _only_huge(tmp: Path, huge: Path) -> Path:
    add_huge(tmp / "c", huge)
    return tmp / "c"


def _only_broken_jsonl(tmp: Path, huge: Path) -> Path:
    return write_files(tmp / "c", {"r.jsonl": b'{"_id": 1, "te\n[1, 2]\n{"title": "x"}\n'})


def _only_outside_link(tmp: Path, huge: Path) -> Path:
    outside = write_files(tmp / "outside", {"secret.md": GOOD_MD})
    (tmp / "c").mkdir()
    os.symlink(outside / "secret.md", tmp / "c" / "link.md")
    return tmp / "c"


CORPUS_ERRORS = [
    pytest.param(_missing, CorpusNotFoundError, ["Corpus not found", "no-such-corpus"],
                 "Point --corpus", id="missing"),
    pytest.param(_empty_folder, CorpusEmptyError, ["No article files"], "Add .md, .txt",
                 id="empty-folder"),
    pytest.param(_only_unsupported, CorpusEmptyError, ["No article files"], "Add .md, .txt",
                 id="only-unsupported-types"),
    pytest.param(_only_unreadable, CorpusEmptyError,
                 ["No readable articles", "blob.md: skipped, it is not UTF-8 text",
                  "latin1.txt: skipped, it is not UTF-8 text",
                  "zipped.html: skipped, it looks like a binary file"], "Add .md, .txt",
                 id="only-unreadable-files"),
    pytest.param(_only_empty_files, CorpusEmptyError,
                 ["No readable articles", "a.md: skipped, it has no text"], "Add .md, .txt",
                 id="only-empty-files"),
    pytest.param(_only_huge, CorpusEmptyError,
                 ["No readable articles", "huge.txt: skipped, it is larger than the 20 MB "
                  "limit (50 MB"], "Add .md, .txt", id="only-huge-file"),
    pytest.param(_only_broken_jsonl, CorpusEmptyError,
                 ["No readable articles", "r.jsonl:1: skipped, not valid JSON",
                  "r.jsonl:2: skipped, not a JSON object",
                  "r.jsonl:3: skipped, the record has no id"], "Add .md, .txt",
                 id="only-broken-jsonl"),
    pytest.param(_only_outside_link, CorpusEmptyError,
                 ["No readable articles", "link.md: skipped, it is a link to a file outside "
                  "the corpus"], "Add .md, .txt", id="only-outside-symlink"),
]


@pytest.fixture
def good_small_index(tmp_path, small_index_ro):
    """A copy of the small index (to try builds into) and a snapshot of it."""
    index_dir = copy_index(small_index_ro[0], tmp_path / "good-index")
    return index_dir, snapshot(index_dir)


@pytest.mark.parametrize(("make", "error", "fragments", "hint"), CORPUS_ERRORS)
def test_corpus_error_api(tmp_path, huge_file, good_small_index, make, error, fragments, hint):
    corpus = make(tmp_path, huge_file)
    index_dir, before = good_small_index
    with pytest.raises(error) as e:
        build_index(corpus, index_dir, settings=SMALL)
    for fragment in fragments:
        assert fragment in str(e.value), (fragment, str(e.value))
    assert hint in e.value.hint
    assert snapshot(index_dir) == before
    assert not (tmp_path / "fresh").exists()
    with pytest.raises(error):  # nor is an index folder created where there was none
        build_index(corpus, tmp_path / "fresh", settings=SMALL)
    assert not (tmp_path / "fresh").exists()


@pytest.mark.parametrize(("make", "error", "fragments", "hint"), CORPUS_ERRORS)
def test_corpus_error_cli(tmp_path, huge_file, good_small_index, make, error, fragments, hint):
    corpus = make(tmp_path, huge_file)
    index_dir, before = good_small_index
    result = invoke("index", "--corpus", corpus, "--index", index_dir, env=SMALL_ENV)
    assert_one_error_line(result, *fragments, hint)
    assert snapshot(index_dir) == before


#: Files skipped with a warning that names them, next to a good article.
SKIPPED = [
    pytest.param({"empty.md": b""}, ["empty.md: skipped, it has no text"], id="empty-file"),
    pytest.param({"latin1.txt": "Caf\u00e9 au lait".encode("latin-1")},
                 ["latin1.txt: skipped, it is not UTF-8 text (bad byte at offset 3)"],
                 id="latin-1"),
    pytest.param({"binary.md": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"},
                 ["binary.md: skipped, it is not UTF-8 text"], id="binary"),
    pytest.param("huge", ["huge.txt: skipped, it is larger than the 20 MB limit (50 MB; raise "
                          "CHALLENGE_QA_MAX_FILE_MB"], id="huge-50MB"),
    pytest.param("link", ["link.md: skipped, it is a link to a file outside the corpus"],
                 id="symlink-outside"),
    pytest.param({"r.jsonl": b'{"_id": "j1", "text": "Whales sing long songs."}\n'
                             b'{"_id": "j2", "te\n'
                             b'{"_id": "j3", "title": "no text"}\n'
                             b'{"title": "no id", "text": "x"}\n'
                             b'"just a string"\n'},
                 ["r.jsonl:2: skipped, not valid JSON",
                  "r.jsonl:3: skipped, the record has no text",
                  "r.jsonl:4: skipped, the record has no id",
                  "r.jsonl:5: skipped, not a JSON object"], id="jsonl-broken-lines"),
]


def _skipped_corpus(tmp: Path, huge: Path, files) -> Path:
    corpus = write_files(tmp / "c", {"good.md": GOOD_MD})
    if files == "huge":
        add_huge(corpus, huge)
    elif files == "link":
        outside = write_files(tmp / "outside", {"secret.md": "Secret text from outside."})
        os.symlink(outside / "secret.md", corpus / "link.md")
    else:
        write_files(corpus, files)
    return corpus


@pytest.mark.parametrize(("files", "warnings_expected"), SKIPPED)
def test_skipped_file_api(tmp_path, huge_file, files, warnings_expected):
    corpus = _skipped_corpus(tmp_path, huge_file, files)
    with pytest.warns(SkippedFileWarning) as record:
        arts = load_articles(corpus, max_bytes=Settings().max_file_mb * 2**20)
    messages = [str(w.message) for w in record if w.category is SkippedFileWarning]
    assert len(messages) == len(warnings_expected), messages
    for message, expected in zip(messages, warnings_expected, strict=True):
        assert message.startswith(expected), (message, expected)
    ids = {a.id for a in arts}
    assert "good.md" in ids and not ids & {"huge.txt", "link.md", "empty.md", "latin1.txt"}
    assert all(a.text.strip() and len(a.sha256) == 64 for a in arts)
    assert all("Secret" not in a.text and "lazy dog" not in a.text for a in arts)


@slow
def test_skipped_files_cli_build(tmp_path, huge_file):
    """All the skipped files of the table in one corpus: `challenge-qa index` succeeds,
    warns once per file or line, naming it, and indexes only the good articles."""
    corpus = write_files(tmp_path / "c", {"good.md": GOOD_MD})
    expected = []
    for i, p in enumerate(SKIPPED):
        files, fragments = p.values
        sub = _skipped_corpus(tmp_path / f"s{i}", huge_file, files)
        for f in sub.iterdir():
            if f.name != "good.md":
                os.replace(f, corpus / f.name)  # a symlink moves as a symlink
        expected += fragments
    result = invoke("index", "--corpus", corpus, "--index", tmp_path / "idx")
    assert result.exit_code == 0, (result.output, result.exception)
    warned = [line for line in result.stderr.splitlines() if line.startswith("Warning:")]
    assert len(warned) == len(expected), warned
    for fragment in expected:
        assert any(fragment in line for line in warned), (fragment, warned)
    assert result.stdout.startswith("Indexed 2 article(s)"), result.stdout  # good.md, j1
    idx = load_index(tmp_path / "idx", settings=DEFAULT)
    assert set(idx.doc_ids()) == {"good.md", "j1"}
    assert idx.manifest["counts"]["articles"] == 2
    # skipped files do not make it look stale
    assert idx.staleness(corpus).stale is False


def test_max_file_mb_setting(tmp_path, monkeypatch):
    assert Settings().max_file_mb == 20
    assert Settings.from_env({"CHALLENGE_QA_MAX_FILE_MB": "3"}).max_file_mb == 3
    with pytest.raises(InvalidArgumentError, match="CHALLENGE_QA_MAX_FILE_MB must be a whole"):
        Settings.from_env({"CHALLENGE_QA_MAX_FILE_MB": "lots"})
    with pytest.raises(InvalidArgumentError, match="max_file_mb must be at least 1"):
        Settings(max_file_mb=0)
    # a 1.5 MB file: skipped under a 1 MB limit, read under a 2 MB one
    corpus = write_files(tmp_path / "c", {"good.md": GOOD_MD,
                                          "big.txt": "Big file\n" + "Words. " * 225_000})
    small = load_corpus(corpus, max_bytes=1 * 2**20)
    assert [a.id for a in small.articles] == ["good.md"]
    assert small.skipped == ["big.txt: skipped, it is larger than the 1 MB limit (1.502 MB; "
                             "raise CHALLENGE_QA_MAX_FILE_MB to include it)"]
    assert {a.id for a in load_corpus(corpus, max_bytes=2 * 2**20).articles} == {
        "good.md", "big.txt"}
    assert len(load_corpus(corpus).articles) == 2  # no limit unless asked for
    # the CLI applies the setting from the environment (nothing is built: no good files)
    (corpus / "good.md").unlink()
    result = invoke("index", "--corpus", corpus, "--index", tmp_path / "idx",
                    env={"CHALLENGE_QA_MAX_FILE_MB": "1"})
    assert_one_error_line(result, "big.txt: skipped, it is larger than the 1 MB limit")


def _record(doc_id: str, text: str) -> bytes:
    return json.dumps({"_id": doc_id, "title": f"Record {doc_id}", "text": text}).encode() + (
        b"\n")


def test_jsonl_limit_applies_per_line_not_per_file(tmp_path):
    """A JSONL archive is read line by line: a file larger than max_file_mb is read, and
    only a line (article) larger than the limit is skipped, with a warning naming
    file:line."""
    limit_mb = Settings().max_file_mb
    small = _record("r{}", "Sea turtles return to the beach where they hatched. " * 20)
    n = (limit_mb + 5) * 2**20 // len(small) + 1  # a 25 MB file of 1 kB records
    huge_line = _record("too-big", "word " * ((limit_mb + 1) * 2**20 // 5))
    path = tmp_path / "c" / "archive.jsonl"
    path.parent.mkdir()
    with open(path, "wb") as f:
        f.write(small.replace(b"r{}", b"r0"))
        f.write(huge_line)
        for i in range(1, n):
            f.write(small.replace(b"r{}", f"r{i}".encode()))
    assert path.stat().st_size > (2 * limit_mb + 5) * 2**20
    corpus = load_corpus(path.parent, max_bytes=limit_mb * 2**20)
    assert len(corpus.articles) == n
    assert [a.id for a in corpus.articles[:2]] == ["r0", "r1"]
    assert corpus.articles[-1].id == f"r{n - 1}"
    size = f"{len(huge_line) / 2**20:.4g}"
    assert corpus.skipped == [f"archive.jsonl:2: skipped, the article is larger than the "
                              f"{limit_mb} MB limit ({size} MB; raise "
                              "CHALLENGE_QA_MAX_FILE_MB to include it)"]
    with pytest.warns(SkippedFileWarning, match="archive.jsonl:2: skipped, the article is "
                                                "larger than the"):
        assert len(load_articles(path, max_bytes=limit_mb * 2**20)) == n


@slow
def test_jsonl_line_limit_in_a_build(tmp_path):
    """`challenge-qa index` applies the limit to each line of a JSONL file larger than
    the limit: the small record is indexed, the big one skipped with a warning."""
    corpus = tmp_path / "c"
    corpus.mkdir()
    (corpus / "r.jsonl").write_bytes(
        _record("big", "Whales sing. " * (2**20 // 13 + 1000))
        + _record("whales", "Humpback whales sing long songs that change every year."))
    assert (corpus / "r.jsonl").stat().st_size > 2**20
    result = invoke("index", "--corpus", corpus, "--index", tmp_path / "idx",
                    env={**SMALL_ENV, "CHALLENGE_QA_MAX_FILE_MB": "1"})
    assert result.exit_code == 0, (result.output, result.exception)
    warned = [line for line in result.stderr.splitlines() if line.startswith("Warning:")]
    assert len(warned) == 1 and "r.jsonl:1: skipped, the article is larger than the 1 MB " \
        "limit" in warned[0], warned
    assert result.stdout.startswith("Indexed 1 article(s)"), result.stdout
    assert load_index(tmp_path / "idx", settings=SMALL).doc_ids() == ["whales"]


# =========================================================================== index

def _index_missing(tmp: Path, good: Path) -> Path:
    return tmp / "no-such-index"


def _index_only_partial(tmp: Path, good: Path) -> Path:
    """A build killed before its first commit, into an empty folder: only a
    seg-*.partial."""
    seg = json.loads((good / MANIFEST).read_text())["segments"][0]["name"]
    index_dir = tmp / "partial"
    shutil.copytree(good / seg, index_dir / "seg-99.partial")
    (index_dir / "seg-99.partial" / "segment.sqlite").unlink()
    return index_dir


def _damage(fn):
    """Copy the good index and damage it: ``fn(index folder, its first segment)``."""
    def make(tmp: Path, good: Path) -> Path:
        index_dir = copy_index(good, tmp / "damaged")
        seg = index_dir / json.loads((index_dir / MANIFEST).read_text())["segments"][0]["name"]
        fn(index_dir, seg)
        return index_dir
    return make


def _truncate(path: Path, keep: float = 0.5) -> None:
    raw = path.read_bytes()
    path.write_bytes(raw[: int(len(raw) * keep)])


def _edit_manifest(**changes):
    def edit(index_dir: Path, data: Path) -> None:
        m = json.loads((index_dir / MANIFEST).read_text())
        m.update(changes)
        (index_dir / MANIFEST).write_text(json.dumps(m), encoding="utf-8")
    return edit


def _garbage_npy_header(index_dir: Path, seg: Path) -> None:
    raw = bytearray((seg / "vectors.npy").read_bytes())
    raw[10:60] = os.urandom(50)
    (seg / "vectors.npy").write_bytes(bytes(raw))


def _wrong_dimension(index_dir: Path, seg: Path) -> None:
    n = len(np.load(seg / "vectors.npy"))
    np.save(seg / "vectors.npy", np.ones((n, 100), dtype=np.float32))


def _flat_vectors(index_dir: Path, seg: Path) -> None:
    np.save(seg / "vectors.npy", np.load(seg / "vectors.npy")[:, 0].copy())


def _missing_deletions(index_dir: Path, seg: Path) -> None:
    m = json.loads((index_dir / MANIFEST).read_text())
    m["segments"][0]["deleted"] = f"del-0-{seg.name}.npy"
    (index_dir / MANIFEST).write_text(json.dumps(m), encoding="utf-8")


#: (make the index, error class, message fragments, hint fragment, CLI command)
INDEX_ERRORS = [
    pytest.param(_index_missing, IndexNotFoundError,
                 ["No index in", "(the folder does not exist)"], "Build it with: challenge-qa "
                 "index", "status", id="missing-folder"),
    pytest.param(_index_only_partial, IndexNotFoundError, ["No index in"],
                 "Build it with: challenge-qa index", "status", id="only-partial-segment"),
    pytest.param(_damage(lambda i, d: _truncate(d / "dense.faiss")), IndexCorruptError,
                 ["damaged or incomplete", "RuntimeError"], "challenge-qa index --full", "ask",
                 id="truncated-dense-faiss"),
    pytest.param(_damage(lambda i, d: (d / "dense.faiss").write_bytes(b"")),
                 IndexCorruptError, ["damaged or incomplete"], "challenge-qa index --full",
                 "ask", id="empty-dense-faiss"),
    pytest.param(_damage(lambda i, d: _truncate(d / "vectors.npy", 0.9)),
                 IndexCorruptError, ["damaged or incomplete"], "challenge-qa index --full",
                 "ask", id="truncated-vectors"),
    pytest.param(_damage(_garbage_npy_header), IndexCorruptError, ["damaged or incomplete"],
                 "challenge-qa index --full", "ask", id="corrupted-vectors-header"),
    pytest.param(_damage(_wrong_dimension), IndexCorruptError,
                 ["inconsistent", "dimension the manifest names (384)"],
                 "challenge-qa index --full", "ask", id="vectors-of-another-dimension"),
    pytest.param(_damage(_flat_vectors), IndexCorruptError,
                 ["damaged or incomplete", "different numbers of rows"],
                 "challenge-qa index --full", "ask", id="vectors-not-a-matrix"),
    pytest.param(_damage(lambda i, d: _truncate(d / "segment.sqlite", 0.3)),
                 IndexCorruptError, ["damaged or incomplete"], "challenge-qa index --full",
                 "ask", id="truncated-sqlite"),
    pytest.param(_damage(lambda i, d: _truncate(d / "postings_doc.npy", 0.5)),
                 IndexCorruptError, ["damaged or incomplete"], "challenge-qa index --full",
                 "ask", id="truncated-postings"),
    pytest.param(_damage(lambda i, d: (d / "terms.json").write_text("[", "utf-8")),
                 IndexCorruptError, ["damaged or incomplete"], "challenge-qa index --full",
                 "ask", id="broken-terms"),
    pytest.param(_damage(lambda i, d: shutil.rmtree(d)), IndexCorruptError,
                 ["damaged or incomplete"], "challenge-qa index --full", "ask",
                 id="segment-folder-gone"),
    pytest.param(_damage(_missing_deletions), IndexCorruptError, ["damaged or incomplete"],
                 "challenge-qa index --full", "ask", id="deletions-file-gone"),
    pytest.param(_damage(lambda i, d: _truncate(i / MANIFEST)), IndexCorruptError,
                 ["manifest", "is unreadable"], "challenge-qa index --full", "ask",
                 id="half-written-manifest"),
    pytest.param(_damage(_edit_manifest(format_version=99)), IndexMismatchError,
                 ["format version 99", "built by a newer release"], "Upgrade challenge_qa",
                 "ask", id="future-format-version"),
    pytest.param(_damage(_edit_manifest(format_version=2)), IndexMismatchError,
                 ["format version 2", "from an older release"],
                 "Rebuild it with: challenge-qa index", "ask", id="older-format-version"),
    pytest.param(_damage(_edit_manifest(model="someone/other-model")), IndexMismatchError,
                 ["was built with the model 'someone/other-model'"],
                 "challenge-qa index --full", "ask", id="other-model"),
]


@pytest.fixture
def good_index_guard(small_index_ro):
    """The session's small index, checked unchanged after the test."""
    before = snapshot(small_index_ro[0])
    yield small_index_ro[0]
    assert snapshot(small_index_ro[0]) == before


@slow
@pytest.mark.parametrize(("make", "error", "fragments", "hint", "command"), INDEX_ERRORS)
def test_index_error_api(tmp_path, good_index_guard, make, error, fragments, hint, command):
    index_dir = make(tmp_path, good_index_guard)
    with pytest.raises(error) as e:
        load_index(index_dir, settings=SMALL)
    for fragment in fragments:
        assert fragment in str(e.value), (fragment, str(e.value))
    assert hint in e.value.hint
    with pytest.raises(ChallengeQAError):
        retrieve("Who won the chess championship?", settings=SMALL.replace(
            index_dir=index_dir))


@slow
@pytest.mark.parametrize(("make", "error", "fragments", "hint", "command"), INDEX_ERRORS)
def test_index_error_cli(tmp_path, small_corpus_ro, good_index_guard, make, error, fragments,
                         hint, command):
    index_dir = make(tmp_path, good_index_guard)
    args = ["status", "--index", index_dir] if command == "status" else [
        "ask", "Who won the chess championship?", "--index", index_dir,
        "--corpus", small_corpus_ro]
    assert_one_error_line(invoke(*args, env=SMALL_ENV), *fragments, hint)
    if index_dir.exists():
        # `ask` does not build over a damaged index, and leaves nothing behind
        assert not any(index_dir.glob(".manifest.json.*.tmp"))


def test_loaders_warn_not_raise_on_a_table_of_bad_files(tmp_path, huge_file):
    """Every skipped file of the tables at once: only the good article loads."""
    corpus = write_files(tmp_path / "c", {"good.md": GOOD_MD, "empty.md": b"",
                                          "latin1.txt": b"caf\xe9", "bin.md": b"\x00\x01"})
    add_huge(corpus, huge_file)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        arts = load_articles(corpus, max_bytes=20 * 2**20)
    assert [a.id for a in arts] == ["good.md"]
    named = " ".join(str(w.message) for w in record)
    for name in ("empty.md", "latin1.txt", "bin.md", "huge.txt"):
        assert name in named


@slow
def test_index_damaged_after_it_was_loaded_is_a_named_error(tmp_path, small_index_ro):
    """A server holds its Index for long; if the SQLite file is damaged underneath it, the
    next question gets IndexCorruptError (with its hint), not a bare sqlite3 error."""
    index_dir = copy_index(small_index_ro[0], tmp_path / "index")
    idx = load_index(index_dir, settings=SMALL)
    db = index_dir / idx.segments[0].name / "segment.sqlite"
    with open(db, "r+b") as f:
        f.truncate(os.path.getsize(db) // 3)
    with pytest.raises(IndexCorruptError, match="damaged or incomplete") as e:
        retrieve("What did the volcano do on Sunday?", k=3, index=idx)
    assert "challenge-qa index --full" in e.value.hint
    with pytest.raises(IndexCorruptError, match="DatabaseError"):
        answer("Who won the chess championship?", index=idx)
