"""Statements several articles make: whether two sentences state the same facts (the
same numbers and dates), and how many articles (which publishers) state a statement."""

from __future__ import annotations

import re
from collections.abc import Iterable

_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")


def same_facts(text_a: str, start_a: int, dates_a: list[dict], text_b: str, start_b: int,
               dates_b: list[dict]) -> bool:
    """Whether two similar sentences can be one statement: their resolved dates agree (at
    the coarser precision) and they state the same numbers. "Expected to reopen in June
    2025" and "delayed to September 2025" are close in meaning but contradict each other.

    Example:
        >>> a = [{"value": "2025-06", "qualifier": None, "start": 20, "end": 29}]
        >>> b = [{"value": "2025-09", "qualifier": None, "start": 15, "end": 29}]
        >>> same_facts("Expected to reopen June 2025.", 0, a, "Delayed to Sept 2025.", 0, b)
        False
        >>> same_facts("12 people were hurt.", 0, [], "Twelve hurt, 12 people.", 0, [])
        True
    """
    va = {m["value"] for m in dates_a if m.get("value") and not m.get("qualifier")}
    vb = {m["value"] for m in dates_b if m.get("value") and not m.get("qualifier")}
    if va and vb and not any(x.startswith(y) or y.startswith(x) for x in va for y in vb):
        return False
    na, nb = _numbers(text_a, start_a, dates_a), _numbers(text_b, start_b, dates_b)
    return not (na and nb and na != nb)


def _numbers(text: str, start: int, dates: list[dict]) -> set[str]:
    """The numbers a sentence states, outside its dates."""
    spans = [(m["start"] - start, m["end"] - start) for m in dates]
    return {m.group().replace(",", "") for m in _NUMBER.finditer(text)
            if not any(a <= m.start() < b for a, b in spans)}


def corroboration(articles: Iterable[tuple[str, str | None, str]]) -> tuple[int, list[str]]:
    """How many distinct articles state a statement, and their publishers (an article
    without one by its title), from ``(article id, source, title)`` of its citations.

    Example:
        >>> corroboration([("a", "CNN", "x"), ("b", None, "ISS news"), ("a", "CNN", "x")])
        (2, ['CNN', 'ISS news'])
    """
    seen: dict[str, str] = {}
    for doc_id, source, title in articles:
        seen.setdefault(doc_id, source or title)
    return len(seen), list(dict.fromkeys(seen.values()))
