"""The text, page offsets and metadata of a PDF article (pypdf, imported when first used)."""

from __future__ import annotations

import io
import logging
import re
from dataclasses import dataclass

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


def read_pdf(data: bytes, *, max_pages: int | None = None,
             max_chars: int | None = None) -> PdfText:
    """The pages' text joined by blank lines, each page's start offset, and the metadata.

    Raises:
        UnreadablePdf: encrypted, damaged, without a text layer (a scanned document), with
            more than ``max_pages`` pages (counted before any is read) or more than
            ``max_chars`` characters of text (reading stops there).
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
        texts, chars = [], 0
        for page in reader.pages:
            texts.append(page.extract_text() or "")
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
