"""retrieve(): FAISS against brute force, exact scores, argument checks, per-article hits."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from helpers import SMALL

from challenge_qa import load_index, retrieve
from challenge_qa.corpus.load import load_articles
from challenge_qa.errors import InvalidArgumentError, InvalidQuestionError
from challenge_qa.search.fusion import fuse
from challenge_qa.search.retrieve import Hit, check_k, clean_question

slow = pytest.mark.slow

HIT_FIELDS = ["rank", "doc_id", "title", "source", "date", "url", "path", "passage_id", "text",
              "start", "end", "sentence", "sentence_start", "sentence_end", "score",
              "dense_score", "bm25_score", "page"]

TOPICS = [
    ("Which volcano erupted and where did the ash fall?", "volcano.md"),
    ("How do honey bees tell the hive where flowers are?", "nature/bees.html"),
    ("Who won the national chess championship?", "chess.txt"),
    ("Who restored the lighthouse and how far can its beam be seen?", "lighthouse"),
    ("What was the winning time of the marathon?", "marathon"),
]


@pytest.fixture(scope="module")
def index(small_index_ro):
    return load_index(small_index_ro[0], settings=SMALL)


@pytest.fixture(scope="module")
def articles(small_corpus_ro):
    return {a.id: a for a in load_articles(small_corpus_ro)}


def row_of(index, hit: Hit) -> int:
    doc = index.doc_ids().index(hit.doc_id)
    spans = index.spans(index.live_rows())
    rows = np.flatnonzero((spans[:, 0] == doc) & (spans[:, 1] == hit.start)
                          & (spans[:, 2] == hit.end))
    assert len(rows) == 1
    return int(index.live_rows()[rows[0]])


def all_vectors(index) -> np.ndarray:
    """Every live passage vector, by live row (small index: one segment, no deletions)."""
    assert index.rows_total == index.size
    return index.vectors(index.live_rows())


# ------------------------------------------------------------------ no model needed

def test_hit_fields():
    assert [f.name for f in dataclasses.fields(Hit)] == HIT_FIELDS


def test_clean_question():
    assert clean_question("  Who   directed\n the\tfilm? ", 100) == "Who directed the film?"
    assert clean_question("a\x00b", 100) == "a b"
    long = "word " * 20_000
    cut = clean_question(long, 2000)
    assert len(cut) <= 2000 and cut.endswith("word") and long.startswith(cut)
    assert clean_question("x" * 5000, 2000) == "x" * 2000  # no space: hard cut


@pytest.mark.parametrize("question", ["", "   ", "\n\t ", "\x00", None, 42, b"bytes"])
def test_clean_question_refuses(question):
    with pytest.raises(InvalidQuestionError) as e:
        clean_question(question, 100)
    assert e.value.hint


@pytest.mark.parametrize("k", [1, 5, 1000, np.int64(3)])
def test_check_k_accepts(k):
    assert check_k(k) == int(k) and type(check_k(k)) is int


@pytest.mark.parametrize("k", [0, -1, 1001, 2.5, 3.0, "3", None, True])
def test_check_k_refuses(k):
    with pytest.raises(InvalidArgumentError, match="k must be") as e:
        check_k(k)
    assert "between 1 and 1000" in e.value.hint


# ------------------------------------------------------------------ FAISS == brute force

@slow
def test_faiss_equals_numpy_brute_force(index):
    emb = all_vectors(index)
    n = len(emb)
    assert n == index.size and emb.dtype == np.float32
    queries = index.embedder.encode_queries([q for q, _ in TOPICS])
    rng = np.random.default_rng(7)
    random = rng.normal(size=(3, emb.shape[1])).astype(np.float32)
    random /= np.linalg.norm(random, axis=1, keepdims=True)
    for q in np.vstack([queries, random]):
        for k in (1, 5, n):
            expected = np.argsort(-(emb @ q), kind="stable")[:k]
            ids = index.search_dense(q[None, :], k)[0]
            # the same rows in the same order as an exhaustive NumPy search
            np.testing.assert_array_equal(ids, expected)
            for seg in index.segments:  # and each segment's FAISS index on its own
                scores, local = seg.dense.search(q[None, :], min(k, seg.n))
                sv = np.asarray(seg.vectors)
                exp = np.argsort(-(sv @ q), kind="stable")[:min(k, seg.n)]
                np.testing.assert_array_equal(local[0], exp)
                np.testing.assert_allclose(scores[0], (sv @ q)[exp], atol=1e-5)


@slow
def test_bm25_scores_equal_bm25s(small_index_ro, small_corpus_ro):
    """The index's BM25 (global statistics over raw postings) scores every passage as
    bm25s does over the same passage texts."""
    from challenge_qa.corpus.passages import split_passages
    from challenge_qa.text.chunking import passage_context
    from challenge_qa.text.lexical import build_bm25, question_terms

    idx = load_index(small_index_ro[0], settings=SMALL)
    arts = load_articles(small_corpus_ro)
    contexts = [passage_context(a.title, p.text, SMALL.title_context)
                for a in arts for p in split_passages(a, SMALL)]
    assert len(contexts) == idx.size == idx.lexical.n_docs
    ref = build_bm25(contexts, k1=SMALL.bm25_k1, b=SMALL.bm25_b)
    for question in [q for q, _ in TOPICS] + ["lava lava ash", "volcano chess bees"]:
        terms = idx.lexical.query_terms(question)
        assert terms == [t for t in question_terms(question) if t in ref.vocab_dict]
        np.testing.assert_allclose(idx.lexical.scores(terms), ref.get_scores(terms),
                                   rtol=1e-5, atol=1e-6)
@slow
def test_scores_are_computed_exactly(index):
    s = index.settings
    emb = all_vectors(index).astype(np.float64)
    # the index is smaller than the candidate pool, so every passage is a candidate and
    # the fused score can be recomputed over all of them
    assert index.size < s.candidates
    for question, _ in TOPICS:
        hits = retrieve(question, k=6, index=index)
        q = index.embedder.encode_queries([question])[0].astype(np.float64)
        terms = index.lexical.query_terms(question)
        assert terms
        bm25 = index.lexical.scores(terms)
        fused = fuse(emb @ q, bm25.astype(np.float64), s.dense_weight, s.score_norm)
        for h in hits:
            row = row_of(index, h)
            e = emb[row]
            cosine = e @ q / (np.linalg.norm(e) * np.linalg.norm(q))
            assert h.dense_score == pytest.approx(cosine, abs=1e-5)
            assert h.bm25_score == pytest.approx(float(bm25[row]), abs=1e-5)
            assert h.score == pytest.approx(float(fused[row]), abs=1e-5)
        assert hits[0].score == pytest.approx(float(fused.max()), abs=1e-5)
        assert [h.rank for h in hits] == list(range(1, len(hits) + 1))
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
        assert hits[0].score == pytest.approx(max(h.score for h in hits))


# ------------------------------------------------------------------ answers

@slow
@pytest.mark.parametrize(("question", "doc_id"), TOPICS)
def test_question_finds_its_article(index, question, doc_id):
    hits = retrieve(question, k=3, index=index)
    assert hits[0].doc_id == doc_id


@slow
def test_hits_cite_exact_offsets(index, articles):
    for question, _ in TOPICS:
        for h in retrieve(question, k=10, index=index):
            a = articles[h.doc_id]
            assert (h.title, h.source, h.date, h.url, h.path) == (
                a.title, a.source, a.date, a.url, a.path)
            assert a.text[h.start:h.end] == h.text
            assert a.text[h.sentence_start:h.sentence_end] == h.sentence
            assert h.start <= h.sentence_start < h.sentence_end <= h.end
            assert h.passage_id.startswith(h.doc_id + "#")


@slow
def test_best_sentence_is_the_one_matching_the_question(index):
    hit = retrieve("What was the winning time of the marathon?", k=1, index=index)[0]
    assert hit.sentence.startswith("The winning time was two hours and seventeen minutes")


@slow
def test_hits_of_one_article_do_not_overlap_much(index):
    hits = retrieve("volcano lava ash eruption flights", k=50, index=index)
    assert len(hits) >= 5
    for i, a in enumerate(hits):
        for b in hits[:i]:
            if a.doc_id == b.doc_id:
                inter = min(a.end, b.end) - max(a.start, b.start)
                shorter = min(a.end - a.start, b.end - b.start)
                assert inter / shorter <= SMALL.dedupe_overlap
    assert len({h.passage_id for h in hits}) == len(hits)


@slow
def test_per_article(index, articles):
    question = "volcano lava ash eruption flights"
    plain = retrieve(question, k=50, index=index)
    per = retrieve(question, k=50, index=index, per_article=True)
    assert len({h.doc_id for h in plain}) < len(plain)  # the plain list repeats articles
    assert [h.doc_id for h in per] == list(dict.fromkeys(h.doc_id for h in per))
    assert {h.doc_id for h in per} == set(articles)
    assert per[0].passage_id == plain[0].passage_id
    # each article's hit is its best passage: the first of that article in the plain list
    first_plain = {}
    for h in plain:
        first_plain.setdefault(h.doc_id, h.passage_id)
    assert {h.doc_id: h.passage_id for h in per} == first_plain
    assert len(retrieve(question, k=2, index=index, per_article=True)) == 2


@slow
def test_k_limits_hits(index):
    assert len(retrieve("lava", k=1, index=index)) == 1
    assert len(retrieve("lava", k=3, index=index)) == 3
    many = retrieve("lava", k=1000, index=index)
    assert 3 < len(many) <= index.size


@slow
@pytest.mark.parametrize("k", [0, -1, 1001, 2.5, "5", True])
def test_retrieve_refuses_bad_k(index, k):
    with pytest.raises(InvalidArgumentError):
        retrieve("lava", k=k, index=index)


@slow
@pytest.mark.parametrize("question", ["", "   ", "\n\t", None])
def test_retrieve_refuses_empty_question(index, question):
    with pytest.raises(InvalidQuestionError, match="empty|text"):
        retrieve(question, index=index)


@slow
def test_very_long_question_is_cut_not_crashed_on(index):
    long_question = "Where did the volcano ash fall? " + "lava " * 20_000
    assert len(long_question) > 100_000
    hits = retrieve(long_question, k=3, index=index)
    assert len(hits) == 3 and hits[0].doc_id == "volcano.md"
    no_spaces = retrieve("x" * 100_000, k=2, index=index)
    assert len(no_spaces) == 2


@slow
def test_questions_without_known_words_still_answer(index):
    hits = retrieve("the of and", k=2, index=index)  # only stop words: no BM25 terms
    assert len(hits) == 2 and all(h.bm25_score == 0.0 for h in hits)
    hits = retrieve("???", k=2, index=index)
    assert len(hits) == 2


@slow
def test_retrieve_by_settings_uses_the_shared_index(index, small_index_ro, small_corpus_ro):
    s = SMALL.replace(index_dir=small_index_ro[0], corpus_dir=small_corpus_ro)
    question = TOPICS[1][0]
    assert retrieve(question, k=4, settings=s) == retrieve(question, k=4, index=index)
