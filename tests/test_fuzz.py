"""Property tests: the loaders never fail on any bytes, the chunker keeps exact offsets on
text full of control characters and CR/LF, and the question path never fails on any text.

test_chunking.py already covers arbitrary printable unicode and article-like text; this adds
line-ending and control-character alphabets, and the loaders and questions end to end.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from helpers import DEFAULT
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from challenge_qa import answer, load_index, retrieve
from challenge_qa.answering.compose import Answer
from challenge_qa.config import Settings
from challenge_qa.corpus.load import Article, load_corpus
from challenge_qa.corpus.passages import split_passages
from challenge_qa.errors import CorpusEmptyError, InvalidQuestionError
from challenge_qa.search.retrieve import Hit
from challenge_qa.text.chunking import split_sentences

FUZZ = settings(max_examples=60, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# ------------------------------------------------------------------ loaders

SUFFIXES = [".md", ".txt", ".html", ".jsonl"]
#: Pieces that steer random input towards each format's edge cases.
MARKUP = st.sampled_from([
    "---\n", "---", "...\n", "title: x\n", "title: [\n", "- a\n", ": :\n", "{", "}", "[",
    '{"_id": 1, "text": "t"}', '{"id": "a", "text": ""}', '{"_id": null, "text": "x"}',
    '{"_id": "d", "text": "dup"}\n{"_id": "d", "text": "dup"}', '"text"', "null", "\n",
    "\r\n", "\r", "\u2028", "\x85", "\x00", "\ufeff", "<html>", "<body>", "<article>",
    "</article>", "<script>", "</script>", "<p>", "<title>", "</title>", "<svg>",
    "<meta property='og:title' content='T'>", "&amp;", "&#0;", "&#xD800;", "<!--", "-->",
    "<![CDATA[", "# Heading\n", "word ", "Sentence. ", "é", "日本", "\U0001F680",
])
TEXTY = st.lists(st.one_of(MARKUP, st.text(max_size=40)), max_size=30).map("".join)
CONTENT = st.one_of(
    st.binary(max_size=3000),
    TEXTY.map(lambda s: s.encode("utf-8", "surrogatepass")),
    TEXTY.map(lambda s: s.encode("utf-16")),
    st.lists(st.one_of(
        st.dictionaries(st.sampled_from(["_id", "id", "text", "title", "source", "date",
                                         "url"]),
                        st.one_of(st.none(), st.integers(), st.text(max_size=30),
                                  st.lists(st.integers(), max_size=2)), max_size=5)
        .map(lambda d: json.dumps(d, ensure_ascii=False)),
        st.text(max_size=30)), max_size=6).map(lambda lines: "\n".join(lines).encode(
            "utf-8", "surrogatepass")),
)


def check_corpus(folder: Path, **kw) -> None:
    try:
        corpus = load_corpus(folder, **kw)
    except CorpusEmptyError:
        return
    assert corpus.articles
    ids = [a.id for a in corpus.articles]
    assert len(ids) == len(set(ids))
    for a in corpus.articles:
        assert isinstance(a, Article)
        assert a.text and a.text.strip() == a.text
        assert isinstance(a.title, str) and a.title.strip()
        assert len(a.sha256) == 64 and int(a.sha256, 16) >= 0
        for value in (a.source, a.date, a.url):
            assert value is None or (isinstance(value, str) and value.strip())
    assert all(isinstance(s, str) and s for s in corpus.skipped)


@FUZZ
@given(files=st.lists(st.tuples(st.sampled_from(SUFFIXES), CONTENT), min_size=1, max_size=4),
       limit=st.sampled_from([None, 64, 2**20]))
def test_any_bytes_load_or_raise_corpus_empty(files, limit):
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "corpus"
        folder.mkdir()
        for n, (suffix, content) in enumerate(files):
            (folder / f"f{n}{suffix}").write_bytes(content)
        check_corpus(folder, max_bytes=limit)
        check_corpus(folder / f"f0{files[0][0]}")  # the same file as a one-file corpus


# ------------------------------------------------------------------ chunker

#: Line endings, control and format characters, and the separators str.splitlines knows.
CONTROL_TEXT = st.lists(
    st.one_of(
        st.sampled_from(["\r\n", "\r", "\n", "\n\n", "\r\n\r\n", "\t", "\x0b", "\x0c",
                         "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029", "\u200b",
                         "\u200d", "\ufeff", "\u202e", "\x00", "\x07", "\x1b", "\x7f", " ",
                         ". ", "! ", "? ", "# ", "- ", "1. ", "> "]),
        st.characters(codec="utf-8", exclude_categories=("Cs",)),
        st.sampled_from(["word", "Dr.", "U.S.", "e.g.", "日本", "café", "\U0001F680"])),
    min_size=1, max_size=300).map("".join)


@FUZZ
@given(text=CONTROL_TEXT, chunk=st.integers(20, 300), overlap=st.integers(0, 150))
def test_chunker_offsets_exact_with_control_chars_and_crlf(text, chunk, overlap):
    a = Article.make(id="doc", title="T", text=text, path="doc.txt")
    ps = split_passages(a, Settings(chunk_chars=chunk, overlap_chars=overlap))
    for n, p in enumerate(ps):
        assert 0 <= p.start < p.end <= len(text)
        assert text[p.start:p.end] == p.text and p.text.strip()
        assert p.end - p.start <= chunk
        assert p.passage_id == f"doc#{n}"
    assert [p.start for p in ps] == sorted({p.start for p in ps})
    spans = split_sentences(text)
    last = 0
    for s0, s1 in spans:
        assert last <= s0 < s1 <= len(text)
        assert text[s0:s1].strip() == text[s0:s1]
        last = s1


@FUZZ
@given(paragraphs=st.lists(st.text(alphabet=st.characters(
    codec="utf-8", exclude_categories=("Cs", "Cc", "Zl", "Zp")), min_size=1, max_size=80)
    .filter(str.strip), min_size=1, max_size=6), suffix=st.sampled_from([".md", ".txt"]))
def test_crlf_file_loads_like_the_lf_file(paragraphs, suffix):
    """A file saved with Windows line endings gives the same article, sentences and
    passages as the same file saved with "\n" (found by fuzzing: a blank CRLF line did
    not end a sentence, so a title was glued to the first sentence of the body)."""
    lf = "\n\n".join(p.strip() for p in paragraphs) + "\n"
    with tempfile.TemporaryDirectory() as tmp:
        got = {}
        for name, text in (("lf", lf), ("crlf", lf.replace("\n", "\r\n"))):
            # one file name for both: an untitled article is titled after its file
            (Path(tmp) / name).mkdir()
            (Path(tmp) / name / f"doc{suffix}").write_bytes(text.encode("utf-8"))
            got[name] = load_corpus(Path(tmp) / name / f"doc{suffix}").articles
    (a,), (b,) = got["lf"], got["crlf"]
    assert (a.title, a.text, a.sha256) == (b.title, b.text, b.sha256)
    s = Settings(chunk_chars=60, overlap_chars=20)
    assert split_sentences(a.text) == split_sentences(b.text)
    assert [(p.start, p.end, p.text) for p in split_passages(a, s)] == [
        (p.start, p.end, p.text) for p in split_passages(b, s)]


def test_split_sentences_blank_crlf_line_ends_a_sentence():
    text = "Title line\r\n\r\nBody sentence one. Two."
    assert [text[a:b] for a, b in split_sentences(text)] == [
        "Title line", "Body sentence one.", "Two."]


# ------------------------------------------------------------------ questions

QUESTION_TEXT = st.one_of(
    st.text(max_size=3000),
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=300),
    st.lists(st.sampled_from(["Who", "directed", "the", "film", "?", "ISS", "Oleg", "\n",
                              "\x00", " ", "когда", "🎬", "\u202e", "when", "released"]),
             max_size=40).map(" ".join),
)


@pytest.fixture(scope="module")
def docs_index(docs_index_ro):
    return load_index(docs_index_ro, settings=DEFAULT)


@pytest.mark.slow
@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(question=QUESTION_TEXT, k=st.integers(1, 12))
def test_any_question_gives_hits_or_invalid_question(docs_index, question, k):
    try:
        hits = retrieve(question, k=k, index=docs_index)
    except InvalidQuestionError:
        assert not " ".join(question.replace("\x00", " ").split())
        with pytest.raises(InvalidQuestionError):
            answer(question, k=k, index=docs_index)
        return
    assert isinstance(hits, list) and 1 <= len(hits) <= k
    assert all(isinstance(h, Hit) for h in hits)
    assert [h.rank for h in hits] == list(range(1, len(hits) + 1))
    a = answer(question, k=k, index=docs_index)
    assert isinstance(a, Answer) and a.text
    assert len(a.hits) <= k and (a.found or not a.citations)
