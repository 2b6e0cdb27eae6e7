"""SQuAD answer metrics: the official v1.1 normalisation, exact match and token F1.

``exact_match`` and ``f1_score`` are those of the official SQuAD v1.1 evaluation script
(both normalise their arguments); ``best_over_gold`` takes the best score over a question's
gold answers, as the script does. ``token_f1`` and ``contains`` take strings that are
already normalised, for callers that compare one text with many answers.

Example:
    >>> normalize_answer("The Denver Broncos!")
    'denver broncos'
    >>> best_over_gold(exact_match, "denver broncos", ["Denver Broncos", "Broncos"])
    1.0
    >>> round(best_over_gold(f1_score, "the Broncos of Denver", ["Denver Broncos"]), 4)
    0.8
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Iterable

_PUNCTUATION = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize_answer(s: str) -> str:
    """Lower case, no punctuation, no articles (a, an, the), single spaces: the official
    SQuAD v1.1 normalisation.

    Example:
        >>> normalize_answer("  An   Apple, a day.")
        'apple day'
    """
    s = "".join(ch for ch in s.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", s).split())


def token_f1(pred_norm: str, gold_norm: str) -> float:
    """Token F1 of two *normalised* strings (0.0 when they share no token).

    Example:
        >>> token_f1("denver broncos", "broncos")
        0.6666666666666666
    """
    p, g = pred_norm.split(), gold_norm.split()
    common = sum(min(p.count(t), g.count(t)) for t in set(p))
    if not common:
        return 0.0
    prec, rec = common / len(p), common / len(g)
    return 2 * prec * rec / (prec + rec)


def exact_match(prediction: str, gold: str) -> float:
    """1.0 when the two answers are equal after ``normalize_answer``, else 0.0."""
    return float(normalize_answer(prediction) == normalize_answer(gold))


def f1_score(prediction: str, gold: str) -> float:
    """The official SQuAD token F1 of two answers (normalised here)."""
    return token_f1(normalize_answer(prediction), normalize_answer(gold))


def best_over_gold(metric: Callable[[str, str], float], prediction: str,
                   golds: Iterable[str]) -> float:
    """The best ``metric(prediction, gold)`` over the gold answers (0.0 when there are none).

    Example:
        >>> best_over_gold(f1_score, "Broncos", ["Denver Broncos", "the Broncos"])
        1.0
    """
    return max((metric(prediction, g) for g in golds), default=0.0)


def contains(text_norm: str, golds_norm: Iterable[str]) -> bool:
    """Some non-empty gold answer occurs in the text as a run of whole words (all
    *normalised*).

    Example:
        >>> contains("super bowl 50 was won by denver broncos", ["denver broncos"])
        True
        >>> contains("broncosaurus", ["broncos"])
        False
    """
    padded = f" {text_norm} "
    return any(g and f" {g} " in padded for g in golds_norm)
