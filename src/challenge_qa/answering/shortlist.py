"""Which sentences the reader reads: the candidates of the top passages, ranked by a
cheap score (embedding cosine, how much of the question's weighted terms a sentence
covers, whether it holds the kind of thing asked for), and the calibration that turns the
final score into the probability that a sentence answers.

The reader's training script draws its hard negatives from this same shortlist.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

import numpy as np

from ..config import Settings
from ..encoders.reader import Reader, Reading
from ..search.index import Filters, SearchableIndex
from ..search.retrieve import Hit, rank, sentence_spans, to_hits
from ..text.words import MONTH_WORDS, WEEKDAY_NAMES, WHEN_QUESTION

# What kind of answer a question asks for, and what a sentence holding one looks like.
_ANSWER_TYPES = (
    (re.compile(r"^\s*(who|whom|whose)\b|\bwhich (person|actor|actress|director)\b", re.I),
     re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][a-z]+(?:[ -][A-Z][a-z]+)+")),
    (WHEN_QUESTION,
     re.compile(rf"\b(1[5-9]\d\d|20\d\d|{MONTH_WORDS})\b|\b\d{{1,2}}(st|nd|rd|th)\b|"
                rf"\b({'|'.join(WEEKDAY_NAMES)})\b", re.I)),
    (re.compile(r"\bhow long\b|\bfor how\b|\bwhat (duration|period)\b", re.I),
     re.compile(r"\b(second|minute|hour|day|week|month|year|decade|centur)", re.I)),
    (re.compile(r"\bhow (many|much|far|old|big|large|high|often|fast)\b|"
                r"\bwhat (percentage|number|amount)\b", re.I),
     re.compile(r"\d|\b(one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|"
                r"twenty|thirty|forty|fifty|hundred|thousand|million|billion|dozen|several|"
                r"few)\b", re.I)),
    (re.compile(r"^\s*where\b", re.I),
     re.compile(r"\b(in|at|from|on|near|above|aboard|to)\s+(the\s+)?[A-Z]")),)
PREFIX = 5


def term_coverage(question_weights: dict[str, float], sentence_tokens: list[list[str]],
                  prefix: int = PREFIX) -> np.ndarray:
    """Share of the question's term weight found in each sentence.

    Stems match when equal or when they share their first ``prefix`` letters, so that
    "directed" finds "director".

    Example:
        >>> term_coverage({"direct": 2.0, "film": 1.0}, [["director"], ["film", "x"], []])
        array([0.66666667, 0.33333333, 0.        ])
    """
    total = sum(question_weights.values()) or 1.0
    keys = {t: t[:prefix] if len(t) >= prefix else t for t in question_weights}
    out = np.zeros(len(sentence_tokens))
    for i, toks in enumerate(sentence_tokens):
        have = set(toks) | {t[:prefix] for t in toks if len(t) >= prefix}
        out[i] = sum(w for t, w in question_weights.items() if keys[t] in have) / total
    return out


def answer_type_match(question: str, sentences: list[str]) -> np.ndarray:
    """1.0 for sentences holding the kind of thing the question asks for (a name for
    "who", a date for "when", a number for "how many"), else 0.0."""
    for asks, holds in _ANSWER_TYPES:
        if asks.search(question):
            return np.array([1.0 if holds.search(t) else 0.0 for t in sentences])
    return np.zeros(len(sentences))


def evidence(cos: np.ndarray, cover: np.ndarray, typed: np.ndarray, s: Settings) -> np.ndarray:
    """How promising each sentence is, before the reader reads it: cosine, term coverage
    and answer type."""
    return s.answer_w_cos * cos + s.answer_w_lex * cover + s.answer_w_type * typed


def rerank_by_sentences(hits: list[Hit], passage_of: list[str], score: np.ndarray,
                        top: int) -> list[Hit]:
    """The first ``top`` hits reordered by their best candidate sentence's score (a sharper
    signal than the passage's: on SQuAD's even articles the article of the best sentence was
    the right one for 97.4 % of questions, the best passage's for 96.5 %); ranks renumbered.
    """
    best: dict[str, float] = {}
    for pid, sc in zip(passage_of, score.tolist(), strict=True):
        best[pid] = max(best.get(pid, -np.inf), sc)
    head = sorted(hits[:top], key=lambda h: -best.get(h.passage_id, -np.inf))  # stable
    return [replace(h, rank=r) for r, h in enumerate(head + hits[top:], 1)]


def _candidates(idx: SearchableIndex, ranking, top: list[Hit], captions: bool = False):
    """The distinct sentences of the ``top`` passages: (hit, start, end) article spans,
    their texts, and each one's previous sentence in the same paragraph ("" after a break).
    Photo captions only with ``captions`` (a question about a picture)."""
    cands: dict[tuple[str, int], list] = {}
    spans = sentence_spans(idx, ranking.rows[:len(top)].tolist(), [h.text for h in top],
                           [h.start for h in top])
    for h, sp in zip(top, spans, strict=True):
        prev_end = h.start
        for j, (a, b) in enumerate(sp.tolist()):
            prev = ""
            if j and "\n" not in h.text[prev_end - h.start:a - h.start]:
                pa = int(sp[j - 1][0])
                prev = h.text[pa - h.start:prev_end - h.start]
            prev_end = b
            have = cands.get((h.doc_id, a))
            if have is None:
                cands[(h.doc_id, a)] = [h, a, b, prev]
            elif prev and not have[3]:
                have[3] = prev
    keys = list(cands)
    texts = [cands[k][0].text[cands[k][1] - cands[k][0].start:cands[k][2] - cands[k][0].start]
             for k in keys]
    keep = [i for i, t in enumerate(texts) if captions or not is_caption(t)] or list(
        range(len(keys)))
    keys = [keys[i] for i in keep]
    return keys, {k: cands[k] for k in keys}, [texts[i] for i in keep]


_CAPTION = re.compile(r"^\W*\[[^\]]*\b(?:image|photo|picture|credit|source)s?\s*:[^\]]*\]\W*$"
                      r"|^\W*(?:image|photo|picture|credit)s?\s*:", re.I)


_ABOUT_PICTURE = re.compile(r"\b(?:photo\w*|pic(?:ture[sd]?|s)?|image|caption|pictured|shown|"
                            r"foreground|background)\b", re.I)


def is_caption(sentence: str) -> bool:
    """A photo caption or credit line ("[The crew (left to right); Image: Roscosmos]"): it
    names who is in a picture and states nothing else, so it answers only a question about
    the picture ("Who is on the left in the photo?").

    Example:
        >>> is_caption("[Yulia Peresild and Klim Shipenko; Image: Roscosmos]")
        True
        >>> is_caption("Photo: NASA")
        True
        >>> is_caption("The image of the crew was released by Roscosmos.")
        False
    """
    return bool(_CAPTION.search(sentence))


@dataclass(frozen=True)
class Shortlist:
    """The candidate sentences of a question and the ones the reader reads."""

    hits: list[Hit]  #: the ranked passages
    keys: list[tuple[str, int]]  #: (article, sentence start) of each candidate
    cands: dict  #: key -> [hit, start, end, previous sentence]
    texts: list[str]  #: each candidate's text
    cheap: np.ndarray  #: each candidate's cheap score
    svecs: np.ndarray  #: each candidate's embedding
    read: np.ndarray  #: the candidates the reader reads, best cheap score first
    docs: dict = field(default_factory=dict)  #: article id -> article number


def shortlist(query: str, idx: SearchableIndex, depth: int, *, per_article: bool = False,
              filters: Filters | None = None) -> Shortlist | None:
    """Retrieve ``depth`` passages for ``query`` and pick the sentences the reader reads:
    the ``answer_read`` best by the cheap score among the sentences of the top
    ``answer_passages`` passages. None when nothing is retrieved. The reader's training
    script draws its hard negatives from this same shortlist."""
    s = idx.settings
    qvec = idx.embedder.encode_queries([query])  # one encoding serves search and sentences
    ranking = rank(idx, [query], depth, per_article=per_article, q_vecs=qvec,
                   filters=filters)
    hits = to_hits(idx, ranking[0]) if ranking else []
    if not hits:
        return None
    top = hits[: s.answer_passages]
    keys, cands, texts = _candidates(idx, ranking[0], top,
                                     captions=bool(_ABOUT_PICTURE.search(query)))
    svecs = idx.sentence_vectors.get([(d, a, cands[(d, a)][2]) for d, a in keys], texts)
    cover = term_coverage(idx.lexical.term_weights(idx.lexical.question_terms(query)),
                          idx.lexical.tokenizer.tokenize(texts))
    prior = 1.0 - np.array([cands[kk][0].rank - 1 for kk in keys]) / s.answer_passages
    cheap = evidence(svecs @ qvec[0], cover, answer_type_match(query, texts), s) \
        + s.answer_w_passage * prior
    read = np.argsort(-cheap, kind="stable")[: s.answer_read]
    docs = dict(zip([h.doc_id for h in top],
                    idx.spans(ranking[0].rows[:len(top)])[:, 0].tolist(), strict=True))
    return Shortlist(hits, keys, cands, texts, cheap, svecs, read, docs)


def calibrated(score: np.ndarray, platt: tuple[float, float]) -> np.ndarray:
    """The probability that a sentence answers the question, from its final score:
    ``1 / (1 + exp(-(a * score + b)))`` with ``(a, b) = platt``, fitted on the tuning
    articles (``python -m benchmarks.squad_v2 --calibrate``). A sentence the reader did not
    read (score -inf) gets 0.

    Example:
        >>> calibrated(np.array([0.0, 1.0, -np.inf]), (2.0, -1.0)).round(3)
        array([0.269, 0.731, 0.   ])
    """
    a, b = platt
    with np.errstate(over="ignore", invalid="ignore"):
        z = np.where(np.isfinite(score), a * score + b, -np.inf)
        return 1.0 / (1.0 + np.exp(-z))


def read_shortlist(reader: Reader, query: str, sl: Shortlist, s: Settings
                   ) -> tuple[Reading, np.ndarray]:
    """The reader's reading of the shortlist, and the candidates it read: the best
    ``answer_read_first`` by the cheap score first; the rest only when none of them is a
    sure answer (``answer_read_enough``) and one comes near (``answer_read_hopeless``)."""
    read = sl.read

    def items(rows: np.ndarray) -> list[tuple[str, str, str]]:
        return [(sl.cands[sl.keys[i]][0].title, sl.cands[sl.keys[i]][3], sl.texts[i])
                for i in rows.tolist()]

    reading = reader.read(query, items(read[: s.answer_read_first]))
    if len(read) > s.answer_read_first:
        best_first = reading.score.max()
        if (s.answer_read_enough < 1.0 and best_first >= s.answer_read_enough) or (
                best_first < s.answer_read_hopeless):
            read = read[: s.answer_read_first]
        else:
            more = reader.read(query, items(read[s.answer_read_first:]))
            reading = Reading(np.concatenate([reading.score, more.score]),
                              reading.spans + more.spans,
                              np.concatenate([reading.span_score, more.span_score]))
    return reading, read
