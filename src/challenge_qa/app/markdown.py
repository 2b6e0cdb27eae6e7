"""An answer as Markdown with footnotes: what "Copy as Markdown" and ``ask --markdown`` give."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from ..answering.dates import with_dates

if TYPE_CHECKING:
    from ..answering.compose import Answer
    from ..search.retrieve import Hit

_SPECIAL = re.compile(r"([\\`*_\[\]<>#|~])")


def escape_markdown(text: str) -> str:
    """Article text as Markdown that shows it literally, on one line.

    Example:
        >>> escape_markdown("A *bold*  claim [1]\\n<b>x</b>")
        'A \\\\*bold\\\\* claim \\\\[1\\\\] \\\\<b\\\\>x\\\\</b\\\\>'
    """
    return _SPECIAL.sub(r"\\\1", " ".join(text.split()))


def answer_markdown(answer: Answer) -> str:
    """The answer in Markdown: the short answer in bold, the statements with ``[^n]``
    footnote references, then one footnote per citation (title, publisher, date, the quoted
    sentence, and the address, or the file and page).

    Example:
        >>> from challenge_qa.answering.compose import Answer
        >>> print(answer_markdown(Answer(question="Who?", text="No answer here.", found=False)))
        No answer here.
        <BLANKLINE>
    """
    if not answer.found:
        return escape_markdown(answer.text) + "\n"
    parts: list[str] = []
    if answer.short:
        when = f" ({escape_markdown(answer.short_date)})" if answer.short_date else ""
        parts.append(f"**{escape_markdown(answer.short)}**{when}")
    statements = []
    for st in answer.statements:
        first = answer.citations[st.citations[0] - 1]
        text = with_dates(st.text, first.sentence_start, st.dates)
        statements.append(escape_markdown(text) + "".join(f"[^{n}]" for n in st.citations))
    body = " ".join(statements) if statements else escape_markdown(answer.text)
    # a paragraph starting "1990. " or "- " would render as a list
    body = re.sub(r"^([-+]) ", r"\\\1 ", re.sub(r"^(\d{1,9})([.)]) ", r"\1\\\2 ", body))
    parts.append(body)
    notes = [footnote(n, h) for n, h in enumerate(answer.citations, 1)]
    return "\n\n".join(parts) + "\n\n" + "\n".join(notes) + "\n"


def footnote(n: int, hit: Hit) -> str:
    """One citation as a Markdown footnote.

    Example:
        >>> from types import SimpleNamespace as H
        >>> print(footnote(2, H(title="Dam report", source="Water Board", date="2024-03-12",
        ...     sentence="Levels fell.", url=None, path="uploads/dam.pdf", page=3)))
        [^2]: *Dam report*, Water Board, 2024-03-12: "Levels fell." uploads/dam.pdf, page 3
    """
    meta = ", ".join(escape_markdown(x) for x in (hit.source, hit.date) if x)
    where = f"<{hit.url}>" if hit.url and _plain_url(hit.url) else escape_markdown(
        hit.url or hit.path)
    if hit.page is not None:
        where += f", page {hit.page}"
    head = f"*{escape_markdown(hit.title)}*" + (f", {meta}" if meta else "")
    return f'[^{n}]: {head}: "{escape_markdown(hit.sentence)}" {where}'


def _plain_url(url: str) -> bool:
    return bool(re.fullmatch(r"https?://[^\s<>]+", url))
