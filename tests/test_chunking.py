"""Sentence splitting and passages: exact offsets, size limits, coverage, order."""

from __future__ import annotations

import signal
from contextlib import contextmanager

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from challenge_qa.config import Settings
from challenge_qa.corpus.load import Article
from challenge_qa.corpus.passages import split_passages
from challenge_qa.text.chunking import (
    chunk_spans,
    has_text,
    passage_context,
    split_sentences,
)


def art(text: str, doc_id: str = "doc") -> Article:
    return Article.make(id=doc_id, title="Title", text=text, path=f"{doc_id}.txt")


# ------------------------------------------------------------------ examples

def test_split_sentences_example():
    assert split_sentences("It flew. It landed.\n\nThe end") == [(0, 8), (9, 19), (21, 28)]


def test_split_sentences_blank_lines_and_list_items():
    text = "Intro line\n- item one\n- item two\n\n  Last one.  \n\n## Heading\n\nText."
    spans = split_sentences(text)
    assert [text[a:b] for a, b in spans] == [
        "Intro line", "- item one", "- item two", "Last one.", "## Heading", "Text."]


def test_heading_line_ends_a_sentence():
    """The chunking module says Markdown headings end a sentence whatever the punctuation;
    a heading followed by a single newline is currently glued to the next sentence."""
    text = "# Heading\nFirst sentence here. Second one."
    spans = split_sentences(text)
    assert [text[a:b] for a, b in spans] == [
        "# Heading", "First sentence here.", "Second one."]


def test_split_sentences_of_blank_text():
    assert split_sentences("") == []
    assert split_sentences(" \n\n\t ") == []


def test_docstring_example_with_overlap():
    text = "The crew launched in October. They filmed for twelve days. The film opens."
    ps = split_passages(art(text), Settings(chunk_chars=60, overlap_chars=30))
    assert [p.text for p in ps] == [
        "The crew launched in October. They filmed for twelve days.",
        "They filmed for twelve days. The film opens.",
    ]
    assert [(p.start, p.end) for p in ps] == [(0, 58), (30, 74)]
    assert [p.passage_id for p in ps] == ["doc#0", "doc#1"]
    assert all(p.doc_id == "doc" for p in ps)


def test_no_overlap_when_overlap_is_zero():
    text = "One short sentence. Two short sentence. Three short sentence. Four short one."
    ps = split_passages(art(text), Settings(chunk_chars=40, overlap_chars=0))
    assert [p.text for p in ps] == ["One short sentence. Two short sentence.",
                                    "Three short sentence. Four short one."]


def test_whole_text_fits_in_one_passage():
    text = "Alpha beta. Gamma delta.\n\nEpsilon."
    ps = split_passages(art(text), Settings(chunk_chars=1000, overlap_chars=200))
    assert len(ps) == 1 and ps[0].text == text and (ps[0].start, ps[0].end) == (0, len(text))


def test_long_sentence_is_cut_at_spaces():
    text = " ".join(f"word{i:02d}" for i in range(40)) + "."  # one 279-char sentence
    spans = chunk_spans(text, 50, 10)
    assert len(spans) > 1
    for a, b in spans:
        assert b - a <= 50
        assert not text[a].isspace()
        assert a == 0 or text[a - 1] == " "  # starts on a word
        assert b == len(text) or text[b] == " "  # ends on a word
    assert "".join(text[a:b] + " " for a, b in spans).strip() == text  # nothing lost


def test_long_word_without_spaces_is_hard_cut():
    text = "x" * 25
    assert chunk_spans(text, 10, 0) == [(0, 10), (10, 20), (20, 25)]


def test_passage_context():
    assert passage_context("Title", "Body.", True) == "Title\nBody."
    assert passage_context("Title", "Title and body.", True) == "Title and body."
    assert passage_context("Title", "Body.", False) == "Body."
    assert passage_context("", "Body.", True) == "Body."


@contextmanager
def time_limit(seconds: float):
    """Raise TimeoutError in the main thread after ``seconds`` (the loop it guards against
    also grows a list, so keep this short)."""
    def _raise(signum, frame):
        raise TimeoutError(f"did not finish within {seconds} s (infinite loop?)")

    old = signal.signal(signal.SIGALRM, _raise)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


@pytest.mark.parametrize("chunk_chars", [0, -1])
def test_nonpositive_chunk_size_is_refused_not_looped(chunk_chars):
    """chunk_spans with chunk_chars <= 0 must raise, not spin forever in _pieces."""
    with time_limit(0.5), pytest.raises(ValueError):
        chunk_spans("Hello world. Bye.", chunk_chars, 0)


# ------------------------------------------------------------------ properties

WORDS = st.sampled_from([
    "the", "crew", "launched", "Dr.", "film", "12", "days", "Zhenya", "café", "naïve",
    "ISS", "October", "5,", "2021", "x" * 30, "über", "日本", "a", "e.g.", "U.S.",
    "\u201cquoted\u201d", "it\u2019s", "(left", "right)", "\U0001F680",
])
ENDS = st.sampled_from([".", "!", "?", "", "...", ".\u201d"])
SEPS = st.sampled_from([" ", "  ", "\n", "\n\n", " \n\n  ", "\n- ", "\n# ", "\n1. ", "\t"])


@st.composite
def article_texts(draw):
    n = draw(st.integers(1, 25))
    parts = []
    for _ in range(n):
        words = draw(st.lists(WORDS, min_size=1, max_size=30))
        parts.append(" ".join(words) + draw(ENDS))
        parts.append(draw(SEPS))
    return "".join(parts).strip()


TEXTS = st.one_of(
    article_texts(),
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1,
            max_size=600),
    st.text(alphabet="ab .!?\n\t\u00e9", min_size=1, max_size=600),
)


PROPERTY_EXAMPLES = 250


def check_passages(text: str, chunk: int, overlap: int) -> None:
    a = art(text)
    ps = split_passages(a, Settings(chunk_chars=chunk, overlap_chars=overlap))
    sents = split_sentences(text)
    if not has_text(text):  # blanks, control and format characters only
        assert ps == [] and sents == []
        return
    assert ps, "non-blank text gives at least one passage"
    for n, p in enumerate(ps):
        # offsets are exact and the passage is a tidy, non-empty span
        assert 0 <= p.start < p.end <= len(text)
        assert text[p.start:p.end] == p.text
        assert p.text.strip()
        assert not p.text[0].isspace()
        assert p.passage_id == f"{a.id}#{n}"
        # size limit
        assert p.end - p.start <= chunk
    # increasing order, and every passage brings new text
    for prev, nxt in zip(ps, ps[1:], strict=False):
        assert prev.start < nxt.start
        assert prev.end < nxt.end
        assert nxt.start <= prev.end or text[prev.end:nxt.start].strip() == ""
    # sentences: exact, ordered, non-overlapping, covering all non-blank text
    covered_by_sents = bytearray(len(text))
    last = 0
    for s0, s1 in sents:
        assert last <= s0 < s1 <= len(text)
        assert text[s0:s1] == text[s0:s1].strip()
        covered_by_sents[s0:s1] = b"\x01" * (s1 - s0)
        last = s1
    # every sentence lies inside one passage unless it is longer than a passage
    for s0, s1 in sents:
        if s1 - s0 <= chunk:
            assert any(p.start <= s0 and s1 <= p.end for p in ps), (s0, s1)
    # nothing is lost: every non-blank character is in a sentence and in a passage
    covered = bytearray(len(text))
    for p in ps:
        covered[p.start:p.end] = b"\x01" * (p.end - p.start)
    for i, ch in enumerate(text):
        # blingfire treats control and format characters (e.g. \x08) as blanks
        if ch.isprintable() and not ch.isspace():
            assert covered_by_sents[i], f"char {i} {ch!r} is in no sentence"
            assert covered[i], f"char {i} {ch!r} is in no passage"


@settings(max_examples=PROPERTY_EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(text=TEXTS, chunk=st.integers(20, 400), overlap_share=st.floats(0, 1.2))
def test_passage_properties(text, chunk, overlap_share):
    check_passages(text, chunk, int(chunk * overlap_share))


@settings(max_examples=60, deadline=None)
@given(text=article_texts())
def test_passage_properties_default_settings(text):
    s = Settings()
    check_passages(text, s.chunk_chars, s.overlap_chars)


@settings(max_examples=100, deadline=None)
@given(text=article_texts(), chunk=st.integers(30, 300))
def test_overlap_never_reduces_passages(text, chunk):
    first = chunk_spans(text, chunk, chunk // 4)
    assert first == chunk_spans(text, chunk, chunk // 4)
    no_overlap = chunk_spans(text, chunk, 0)
    # without overlap passages are disjoint
    for (_, a1), (b0, _) in zip(no_overlap, no_overlap[1:], strict=False):
        assert a1 <= b0
    # overlap only ever adds passages, never fewer
    assert len(first) >= len(no_overlap)
