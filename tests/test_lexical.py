"""The query-time tokeniser and term finder agree with bm25s, which tokenises the index."""

from __future__ import annotations

import bm25s
from hypothesis import given, settings
from hypothesis import strategies as st

from challenge_qa.text.lexical import Tokenizer, find_terms, fold, tokenize

WORDS = ["Pelé", "Pele", "Ögedei", "Łódź", "The", "directors", "directed", "Directing", "film",
         "films", "flies", "happy",
         "happiness", "dying", "die", "running", "ran", "organization", "İstanbul", "ÉCOLE",
         "straße", "snake_case", "a1", "x", "of", "and", "cosmonaut", "Cosmonauts", "ISS",
         "日本語", "naïve", "Ǆemal"]
SEPARATORS = [" ", ", ", ". ", "\n", "-", "'", "  ", "\t", "—", "(", ")"]

texts = st.lists(st.one_of(st.sampled_from(WORDS), st.text(max_size=8)), max_size=30).flatmap(
    lambda words: st.lists(st.sampled_from(SEPARATORS), min_size=len(words),
                           max_size=len(words)).map(
        lambda seps: "".join(w + s for w, s in zip(words, seps, strict=True))))


def reference(docs: list[str]) -> list[list[str]]:
    return bm25s.tokenize([fold(d) for d in docs], stopwords="en", stemmer=Tokenizer().stemmer,
                          return_ids=False, show_progress=False)


@settings(max_examples=300, deadline=None)
@given(docs=st.lists(texts, min_size=1, max_size=4))
def test_tokenize_equals_bm25s(docs):
    assert tokenize(docs) == reference(docs)


@settings(max_examples=300, deadline=None)
@given(text=texts, data=st.data())
def test_find_terms_finds_exactly_the_tokens_with_those_stems(text, data):
    tokens = tokenize([text])[0]
    terms = set(data.draw(st.lists(st.sampled_from(tokens), max_size=4))) if tokens else set()
    terms.add(data.draw(st.sampled_from(["direct", "fli", "happi", "die", "zzz"])))
    found = find_terms([text, ""], terms)
    assert found[1] == []
    assert [t for _, t in found[0]] == [t for t in tokens if t in terms]
    for pos, term in found[0]:  # each offset is where a word with that stem starts
        assert tokenize([text[pos:]])[0][:1] == [term]
        if len(text.lower()) == len(text):
            assert pos == 0 or not (text[pos - 1].isalnum() or text[pos - 1] == "_")


def test_find_terms_examples():
    text = "Directors direct. The director's flies: a happy, dying fly."
    got = find_terms([text], {"direct", "director", "fli", "happi", "die"})[0]
    assert got == [(0, "director"), (10, "direct"), (22, "director"), (33, "fli"),
                   (42, "happi"), (49, "die"), (55, "fli")]
    assert find_terms(["Pelé met Ögedei in Łódź."], {"pele", "ogedei", "lodz"}) == [
        [(0, "pele"), (9, "ogedei"), (19, "lodz")]]
    assert tokenize(["Pelé"]) == tokenize(["Pele"]) == [["pele"]]
    assert fold("Ögedei, Łódź, İstanbul") == "Ogedei, Lodz, Istanbul"
    assert find_terms(["anything"], set()) == [[]]
    assert find_terms([], {"x"}) == []
