"""End to end on the real articles of docs_corpus/ (the film "The Challenge")."""

from __future__ import annotations

import pytest
from helpers import DEFAULT, DOCS_CORPUS

from challenge_qa import load_index, retrieve
from challenge_qa.corpus.load import load_articles

pytestmark = pytest.mark.slow

CNN = "challenge-trailer-cnn.md"
ISS = "challenge-trailer-iss.md"

# question, the text a top-3 hit must contain, the article it must come from (None: any)
QUESTIONS = [
    ("Who plays the patient?", "Oleg Novitskiy", CNN),
    ("Who directed the film?", "Klim Shipenko", None),
    ("How long did the shoot last?", "12 days", None),
    ("When was the crew launched?", "October 5, 2021", ISS),
]


@pytest.fixture(scope="module")
def index(docs_index_ro):
    return load_index(docs_index_ro, settings=DEFAULT)


@pytest.fixture(scope="module")
def articles():
    return {a.id: a for a in load_articles(DOCS_CORPUS)}


def test_docs_corpus_articles(articles):
    assert set(articles) == {CNN, ISS}
    cnn = articles[CNN]
    assert cnn.source == "CNN" and cnn.date == "2023-03-08"
    assert cnn.title.startswith("Russia releases trailer for 'The Challenge'")
    assert articles[ISS].title.startswith("New trailer for 'The Challenge'")


@pytest.mark.parametrize(("question", "needle", "doc_id"), QUESTIONS,
                         ids=[q for q, _, _ in QUESTIONS])
def test_answer_in_top_hits(index, question, needle, doc_id):
    hits = retrieve(question, k=3, index=index)
    assert len(hits) == 3
    good = [h for h in hits if needle in h.text and (doc_id is None or h.doc_id == doc_id)]
    assert good, [(h.doc_id, h.passage_id, h.text[:80]) for h in hits]


def test_patient_question_is_answered_by_cnn_first(index):
    top = retrieve("Who plays the patient?", k=1, index=index)[0]
    assert top.doc_id == CNN and top.source == "CNN"
    assert "Oleg Novitskiy" in top.text
    assert top.sentence in top.text


def test_offsets_match_the_article_text(index, articles):
    for question, _, _ in QUESTIONS:
        for per_article in (False, True):
            for h in retrieve(question, k=5, index=index, per_article=per_article):
                text = articles[h.doc_id].text
                assert text[h.start:h.end] == h.text
                assert text[h.sentence_start:h.sentence_end] == h.sentence
                assert h.sentence in h.text


def test_per_article_gives_one_hit_per_article(index):
    for question, _, _ in QUESTIONS:
        hits = retrieve(question, k=5, index=index, per_article=True)
        ids = [h.doc_id for h in hits]
        assert len(ids) == len(set(ids)) == 2
        assert [h.rank for h in hits] == [1, 2]
