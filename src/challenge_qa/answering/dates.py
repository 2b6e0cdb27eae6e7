"""Dates in answers: "when" questions, the date mentions of a sentence, and the resolved
date written beside the words that name it ("last year (2021)")."""

from __future__ import annotations

from collections.abc import Iterable

from ..text.dates import format_value
from ..text.words import WHEN_QUESTION


def asks_when(question: str) -> bool:
    """A question about a date ("When was the trailer released?").

    Example:
        >>> asks_when("When was the trailer released?"), asks_when("Who directed it?")
        (True, False)
    """
    return bool(WHEN_QUESTION.search(question))


def in_sentence(mentions: Iterable[dict], start: int, end: int) -> list[dict]:
    """The mentions inside the article span ``start:end``, each with its ``label``
    ("7 March 2023"; "" when unresolved), in text order."""
    out = []
    for m in mentions:
        if start <= m["start"] and m["end"] <= end:
            label = format_value(m["value"], m["precision"]) if m.get("value") else ""
            out.append({k: m[k] for k in ("text", "value", "precision", "start", "end",
                                           "relative", "qualifier")} | {"label": label})
    return sorted(out, key=lambda m: m["start"])


def with_dates(text: str, start: int, mentions: Iterable[dict]) -> str:
    """``text`` (the article span from ``start``) with each relative date's resolved value
    in brackets after it: "on Tuesday [7 March 2023] released".

    Example:
        >>> with_dates("He left on Tuesday.", 100, [{"start": 108, "end": 118,
        ...     "relative": True, "label": "7 March 2023"}])
        'He left on Tuesday [7 March 2023].'
    """
    out, pos = [], 0
    for m in sorted(mentions, key=lambda m: m["start"]):
        a, b = m["start"] - start, m["end"] - start
        if not (m.get("relative") and m.get("label")) or a < pos or b > len(text):
            continue
        out.append(text[pos:b] + f" [{m['label']}]")
        pos = b
    return "".join(out) + text[pos:]
