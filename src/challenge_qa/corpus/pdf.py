"""The text, page offsets and metadata of a PDF article (pypdf, imported when first used).

A PDF has no paragraphs, only lines drawn at positions, so a title, a byline and the first
paragraph typeset on consecutive lines read as one run of text. ``page_text`` puts a blank
line (a block boundary for the chunker) where the layout shows one: a change of font size, a
gap wider than the page's line spacing, or a short line that ends no sentence followed by a
line that starts one.
"""

from __future__ import annotations

import io
import logging
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

#: A title in the metadata that is really a file or template name is not used.
_JUNK_TITLE = re.compile(r"^(untitled|microsoft \w+ - .*|.*\.(docx?|odt|rtf|pdf|txt|indd|tex))$",
                         re.I)


class UnreadablePdf(Exception):
    """The PDF gives no article; the message says why and what to do."""


@dataclass(frozen=True)
class PdfText:
    text: str
    #: Where each page starts in ``text``: a page without text starts where the next does.
    pages: tuple[int, ...]
    title: str | None = None
    author: str | None = None
    date: str | None = None


#: Bytes of decompressed page content allowed per character of ``max_chars``: a page of
#: news text draws a few bytes of operators per character (positioning, kerning), far
#: below this.
CONTENT_BYTES_PER_CHAR = 10


def _content_bytes(page, sizes: dict) -> int:
    """The decompressed size of what ``page`` draws; a stream shared by several pages is
    decompressed once (``sizes`` keeps each stream's size)."""
    from pypdf.generic import ArrayObject, IndirectObject

    ref = page.get("/Contents")
    if ref is None:
        return 0
    items = ref.get_object()
    items = list(items) if isinstance(items, ArrayObject) else [ref]
    total = 0
    for item in items:
        key = (item.idnum, item.generation) if isinstance(item, IndirectObject) else id(item)
        if key not in sizes:
            sizes[key] = len(item.get_object().get_data())
        total += sizes[key]
    return total


def read_pdf(data: bytes, *, max_pages: int | None = None,
             max_chars: int | None = None) -> PdfText:
    """The pages' text joined by blank lines, each page's start offset, and the metadata.

    Raises:
        UnreadablePdf: encrypted, damaged, without a text layer (a scanned document), with
            more than ``max_pages`` pages (counted before any is read), more than
            ``max_chars`` characters of text (reading stops there), or pages that draw more
            than ``CONTENT_BYTES_PER_CHAR * max_chars`` bytes of content (measured before
            each page is parsed).
    """
    try:
        import pypdf
        from pypdf.errors import DependencyError, FileNotDecryptedError
    except ImportError as e:  # a dependency, but say so plainly if it is missing
        raise UnreadablePdf("reading PDF files needs pypdf (pip install pypdf)") from e
    log = logging.getLogger("pypdf")
    if log.level == logging.NOTSET:  # recoverable damage is logged: not news to the reader
        log.setLevel(logging.ERROR)
    try:
        reader = pypdf.PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted and not reader.decrypt(""):
            raise UnreadablePdf("the PDF is encrypted (password-protected); save an unlocked "
                                "copy and add that")
        # the page tree's own count first: reading the tree of 100,000 pages takes long
        n_pages = _declared_pages(reader) if max_pages is not None else None
        if n_pages is None or max_pages is None or n_pages <= max_pages:
            n_pages = len(reader.pages)
        if max_pages is not None and n_pages > max_pages:
            raise UnreadablePdf(f"it has {n_pages:,} pages, more than the {max_pages:,} a PDF "
                                "may have (raise CHALLENGE_QA_MAX_PDF_PAGES to include it)")
        texts, chars, drawn = [], 0, 0
        budget = None if max_chars is None else CONTENT_BYTES_PER_CHAR * max_chars
        sizes: dict = {}
        for page in reader.pages:
            # what the page draws, decompressed, is bounded before it is parsed: a few
            # kilobytes of compressed operators can expand to megabytes that take minutes
            drawn += _content_bytes(page, sizes)
            if budget is not None and drawn > budget:
                raise UnreadablePdf(f"its pages draw more than {budget / 2**20:.0f} MB of "
                                    f"content for at most {max_chars:,} characters of text "
                                    "(a decompression bomb?; raise "
                                    "CHALLENGE_QA_MAX_ARTICLE_CHARS to include it)")
            texts.append(page_text(page))
            chars += len(texts[-1]) + 2
            if max_chars is not None and chars > max_chars:
                raise UnreadablePdf(f"its text has more than the {max_chars:,} characters an "
                                    "article may have (raise CHALLENGE_QA_MAX_ARTICLE_CHARS "
                                    "to include it)")
        info = reader.metadata
    except UnreadablePdf:
        raise
    except (FileNotDecryptedError, DependencyError) as e:
        raise UnreadablePdf("the PDF is encrypted (password-protected); save an unlocked "
                            "copy and add that") from e
    except Exception as e:  # pypdf raises many kinds on a damaged file; a skip names it
        raise UnreadablePdf(f"it is not a readable PDF ({e.__class__.__name__}: "
                            f"{_short(str(e))}); save or export it again") from e
    text, pages = join_pages(texts)
    if not re.search(r"\w", text):
        raise UnreadablePdf("the PDF has no text layer (a scanned document?); run it through "
                            "OCR (e.g. ocrmypdf) and add the result")
    title = author = date = None
    if info is not None:
        title = _clean(info.get("/Title"))
        if title and _JUNK_TITLE.match(title):
            title = None
        author = _clean(info.get("/Author"))
        date = pdf_date(_clean(info.get("/CreationDate")) or "")
    return PdfText(text=text, pages=pages, title=title, author=author, date=date)


#: A text run as drawn: its text and, when it is upright, its font size and baseline in
#: points (None when its position is unknown or the text is rotated).
Run = tuple[str, tuple[float, float] | None]

#: Lines whose font sizes differ by more than this ratio are a heading or byline and body.
_SIZE_STEP = 1.15
#: Space between baselines beyond the page's usual leading, in font sizes, that ends a block
#: (a word processor's space after a paragraph is 6 points or more at 11-point text).
_EXTRA_GAP = 0.4
#: A line narrower than this share of the page's usual body line is short.
_SHORT_LINE = 0.7
#: A short line ending so ends its sentence already, or goes on into the next line.
_NO_BREAK_AFTER = frozenset(".!?\u2026:;,-\u2010\u2013\u2014/&")
_CLOSERS = "\"'\u201d\u2019\u00bb)]"
_OPENERS = "\"'\u201c\u2018\u00ab(["


def page_text(page: Any) -> str:
    """A pypdf page's plain text, with a blank line where its layout starts a new block."""
    runs: list[Run] = []
    text = page.extract_text(visitor_text=_run_collector(runs)) or ""
    return with_blocks(text, runs)


def _run_collector(runs: list[Run]) -> Callable[[Any, Any, Any, Any, Any], None]:
    def visit(text: Any, cm: Any, tm: Any, _font: Any, size: Any) -> None:
        if not isinstance(text, str) or not text:
            return
        pos = None
        try:
            # the text to page space matrix (tm times cm), read at once: pypdf goes on
            # changing the lists it passes
            a = tm[0] * cm[0] + tm[1] * cm[2]
            b = tm[0] * cm[1] + tm[1] * cm[3]
            c = tm[2] * cm[0] + tm[3] * cm[2]
            d = tm[2] * cm[1] + tm[3] * cm[3]
            y = tm[4] * cm[1] + tm[5] * cm[3] + cm[5]
            points = float(size) * d
            if (a > 0 and d > 0 and abs(b) <= 1e-3 * d and abs(c) <= 1e-3 * d
                    and 0 < points < 1e4 and math.isfinite(y)):
                pos = (points, y)
        except (TypeError, ValueError, IndexError, OverflowError):
            pass  # a damaged matrix: the run's text counts, its position does not
        runs.append((text, pos))
    return visit


def with_blocks(text: str, runs: list[Run]) -> str:
    """``text`` with a blank line between two of its lines where the layout of ``runs`` (the
    pieces ``text`` is made of, in order) shows a new block; otherwise unchanged.

    Lines of one paragraph share a size, a leading and (but for the last) the full width,
    so they stay joined: a sentence wrapped over lines stays one sentence.

    Example:
        >>> with_blocks("Big title\\nBody text.", [("Big title\\n", (20.0, 700.0)),
        ...                                        ("Body text.", (11.0, 672.0))])
        'Big title\\n\\nBody text.'
    """
    if "".join(t for t, _ in runs) != text:  # the runs do not spell the text: keep it as is
        return text
    lines = text.split("\n")
    if len(lines) < 2:
        return text
    info = _line_layout(lines, runs)
    body, leading, usual = _page_layout(info)
    out = [lines[0]]
    for i in range(1, len(lines)):
        prev, cur = info[i - 1], info[i]
        brk = (prev is not None and cur is not None
               and _starts_block(lines[i - 1], lines[i], prev, cur, body, leading, usual))
        out.append("\n\n" + lines[i] if brk else "\n" + lines[i])
    return "".join(out)


#: A line's dominant font size, its baseline and its visible characters.
_Line = tuple[float, float, int]


def _line_layout(lines: list[str], runs: list[Run]) -> list[_Line | None]:
    """Each line's layout, None for a blank line or one with text of unknown position."""
    sizes: list[dict[float, int]] = [{} for _ in lines]
    first_y: list[float | None] = [None] * len(lines)
    known = [True] * len(lines)
    i = 0
    for t, pos in runs:
        for k, seg in enumerate(t.split("\n")):
            if k:
                i += 1
            chars = len("".join(seg.split()))
            if not chars:
                continue
            if pos is None or k:  # text after a newline inside a run has no position of its own
                known[i] = False
                continue
            points, y = pos
            if first_y[i] is None:
                first_y[i] = y
            key = round(points, 1)
            sizes[i][key] = sizes[i].get(key, 0) + chars
    out: list[_Line | None] = []
    for sz, base, ok in zip(sizes, first_y, known, strict=True):
        if ok and base is not None and sz:
            out.append((max(sz, key=sz.__getitem__), base, sum(sz.values())))
        else:
            out.append(None)
    return out


def _same_size(a: float, b: float) -> bool:
    return max(a, b) <= _SIZE_STEP * min(a, b)


def _page_layout(info: list[_Line | None]) -> tuple[float, float | None, float | None]:
    """The body font size (the one most characters have), the usual leading in font sizes
    between lines of a size, and the usual width of a body line (characters times points);
    None where the page has too few lines to tell."""
    chars_at: dict[float, int] = {}
    for ln in info:
        if ln is not None:
            chars_at[ln[0]] = chars_at.get(ln[0], 0) + ln[2]
    if not chars_at:
        return 0.0, None, None
    body = max(chars_at, key=chars_at.__getitem__)
    ratios = []
    for prev, cur in zip(info, info[1:], strict=False):
        if prev is not None and cur is not None and _same_size(prev[0], cur[0]):
            big = max(prev[0], cur[0])
            dy = prev[1] - cur[1]
            if dy >= 0.8 * big:
                ratios.append(dy / big)
    ratios.sort()
    leading = ratios[len(ratios) // 2] if ratios else None
    # wrapped lines fill the column and most of a page's body lines are wrapped ones, so a
    # high quantile is the column's width whatever the last lines of paragraphs are
    widths = sorted(ln[0] * ln[2] for ln in info if ln is not None and _same_size(ln[0], body))
    usual = widths[int(0.8 * (len(widths) - 1))] if len(widths) >= 3 else None
    return body, leading, usual


def _starts_block(prev_text: str, text: str, prev: _Line, cur: _Line, body: float,
                  leading: float | None, usual: float | None) -> bool:
    """Whether line ``text`` starts a new block after line ``prev_text``."""
    big, small = max(prev[0], cur[0]), min(prev[0], cur[0])
    dy = prev[1] - cur[1]  # positive: the line is below the previous one
    if abs(dy) < 0.5 * small:  # a raised or lowered piece of the same line
        return False
    if not _same_size(prev[0], cur[0]):
        # a heading or byline next to body text, unless the smaller line is a mark set
        # apart from its line (a footnote number, a raised symbol)
        return (cur if cur[0] < prev[0] else prev)[2] >= 4
    if dy <= 0:  # the top of the next column or frame: a paragraph may go on there
        return False
    if leading is not None and dy > (leading + _EXTRA_GAP) * big:
        return True
    if (usual is not None and _same_size(prev[0], body) and _same_size(cur[0], body)
            and prev[0] * prev[2] < _SHORT_LINE * usual):
        # a short line that ends no sentence (a byline, a heading at the body's size)
        # before one that opens one; a paragraph's short last line ends its sentence
        last = prev_text.rstrip().rstrip(_CLOSERS)[-1:]
        first = text.lstrip().lstrip(_OPENERS)[:1]
        return bool(last) and last not in _NO_BREAK_AFTER and (first.isupper()
                                                               or first.isdigit())
    return False


def _declared_pages(reader) -> int | None:
    """The /Count the PDF's page tree declares (None if unreadable)."""
    try:
        n = reader.trailer["/Root"]["/Pages"]["/Count"]
        return int(n) if int(n) >= 0 else None
    except Exception:  # noqa: BLE001 - a damaged tree: the pages are counted instead
        return None


def join_pages(texts: list[str]) -> tuple[str, tuple[int, ...]]:
    """Pages' text joined by blank lines, and where each page starts.

    Example:
        >>> join_pages(["One.\\r\\n", "", " Two. "])
        ('One.\\n\\nTwo.', (0, 6, 6))
    """
    parts: list[str] = []
    starts: list[int | None] = []
    pos = 0
    for t in texts:
        t = t.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", " ").strip()
        if not t:
            starts.append(None)
            continue
        if parts:
            pos += 2
        starts.append(pos)
        parts.append(t)
        pos += len(t)
    following = pos
    for i in range(len(starts) - 1, -1, -1):
        s = starts[i]
        if s is None:
            starts[i] = following
        else:
            following = s
    return "\n\n".join(parts), tuple(s for s in starts if s is not None)


def pdf_date(value: str) -> str | None:
    """A PDF date (``D:YYYYMMDDHHmmSS...``) as ``YYYY-MM-DD``; None if it is not one.

    Example:
        >>> pdf_date("D:20240312101500+01'00'"), pdf_date("D:2024"), pdf_date("soon")
        ('2024-03-12', None, None)
    """
    m = re.match(r"(?:D:)?(\d{4})(\d{2})(\d{2})", value.strip())
    if not m:
        return None
    y, mo, d = m.groups()
    if not (1 <= int(mo) <= 12 and 1 <= int(d) <= 31):
        return None
    return f"{y}-{mo}-{d}"


def _clean(value: object) -> str | None:
    if value is None:
        return None
    s = " ".join(str(value).replace("\x00", " ").split())
    return s or None


def _short(s: str, n: int = 80) -> str:
    s = " ".join(s.split())
    return s if len(s) <= n else s[: n - 3] + "..."
