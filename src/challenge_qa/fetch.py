"""Fetching one web page and turning its article into a Markdown file (trafilatura).

The page's main text, title, publisher and date are extracted by trafilatura, the
maintained extractor behind many news crawls; this module only fetches the page, checks
what came back, and writes the result in the corpus's Markdown form.
"""

from __future__ import annotations

import re
import socket
import unicodedata
import urllib.error
import urllib.request
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import yaml

from . import __version__
from .errors import AddArticleError, FetchError, NotAnArticleError

#: Fewer words than this, or no paragraph of ``MIN_PARAGRAPH_WORDS``, is not an article
#: (a home page's link lists and a cookie notice are).
MIN_WORDS = 40
MIN_PARAGRAPH_WORDS = 12
_HTML_TYPES = ("text/html", "application/xhtml+xml")


@dataclass(frozen=True)
class Page:
    url: str  # after redirects
    data: bytes


@dataclass(frozen=True)
class WebArticle:
    title: str
    text: str
    url: str
    source: str | None = None
    date: str | None = None


def check_url(url: str) -> str:
    """The address without its #fragment, if it is an http(s) address of a host.

    Example:
        >>> check_url(" https://Example.org/news/a?id=3#top ")
        'https://example.org/news/a?id=3'
    """
    u = url.strip()
    parts = urlsplit(u)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        shown = f"{scheme}: ones" if scheme else f"{u!r}"
        raise AddArticleError(f"Only http:// and https:// addresses can be added, not {shown}.",
                              hint="Give the page's full address, e.g. https://example.org/"
                                   "news/article; add a file on this machine by its path.")
    if not parts.hostname:
        raise AddArticleError(f"{u!r} names no host.", hint="Give the page's full address.")
    return urlunsplit((scheme, parts.netloc.lower(), parts.path or "/", parts.query, ""))


def same_url(url: str) -> str:
    """The form two addresses of one page share (no trailing slash, no "www.").

    Example:
        >>> same_url("https://www.example.org/a/") == same_url("http://example.org/a")
        True
    """
    p = urlsplit(url.strip())
    host = (p.hostname or "").lower().removeprefix("www.")
    return f"{host}{p.path.rstrip('/')}" + (f"?{p.query}" if p.query else "")


def fetch(url: str, *, timeout: float, max_bytes: int) -> Page:
    """GET ``url`` (redirects followed); only an HTML page of at most ``max_bytes`` passes."""
    req = urllib.request.Request(url, headers={
        "User-Agent": f"challenge-qa/{__version__} (+article import)",
        "Accept": "text/html,application/xhtml+xml;q=0.9,*/*;q=0.1"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            final = resp.geturl()
            ctype = (resp.headers.get_content_type() if resp.headers.get("Content-Type")
                     else "")
            length = resp.headers.get("Content-Length")
            if length and length.isdigit() and int(length) > max_bytes:
                raise _too_large(int(length), max_bytes)
            data = resp.read(max_bytes + 1)
    except urllib.error.HTTPError as e:
        raise FetchError(f"The server answered {e.code} {e.reason} for {url}.") from None
    except urllib.error.URLError as e:
        if isinstance(e.reason, TimeoutError):
            raise _timeout(url, timeout) from None
        raise FetchError(f"Could not reach {url} ({_reason(e.reason)}).") from None
    except TimeoutError:
        raise _timeout(url, timeout) from None
    except (OSError, ValueError) as e:  # connection reset mid-body, a bad header
        raise FetchError(f"Fetching {url} failed ({_reason(e)}).") from None
    if len(data) > max_bytes:
        raise _too_large(None, max_bytes)
    if ctype and ctype not in _HTML_TYPES:
        raise NotAnArticleError(f"{url} is not a web page (its type is {ctype}).",
                                hint="Download it and add the file if it is an article "
                                     "(.pdf, .txt, .md).")
    if not ctype and not looks_like_html(data):
        raise NotAnArticleError(f"{url} is not a web page (no HTML came back).")
    return Page(url=final, data=data)


def looks_like_html(data: bytes) -> bool:
    """Whether the start of ``data`` holds HTML markup.

    Example:
        >>> looks_like_html(b"<!DOCTYPE html><p>Hi"), looks_like_html(b"Hi there")
        (True, False)
    """
    head = data[:65536].decode("utf-8", "replace")
    return bool(re.search(r"<(!doctype\s+html|html|head|body|article|main|title|p|div|h1)\b",
                          head, re.I))


def extract_article(page: Page) -> WebArticle:
    """The article of a fetched page: main text (paragraphs split by blank lines), title,
    publisher (the site's name, else its host) and date, as trafilatura finds them."""
    import json

    import trafilatura

    raw = trafilatura.extract(
        page.data, url=page.url, output_format="json", with_metadata=True,
        include_comments=False, include_tables=False,
        # only dates the page states (markup, URL), not guesses from the text
        date_extraction_params={"extensive_search": False, "original_date": True})
    doc = json.loads(raw) if raw else {}
    paragraphs = [" ".join(line.split()) for line in (doc.get("text") or "").split("\n")]
    paragraphs = [p for p in paragraphs if p]
    title = " ".join(str(doc.get("title") or "").split())
    if paragraphs and title and paragraphs[0] == title:
        paragraphs = paragraphs[1:]  # the headline, already the title
    words = sum(len(p.split()) for p in paragraphs)
    if words < MIN_WORDS or max((len(p.split()) for p in paragraphs), default=0) < \
            MIN_PARAGRAPH_WORDS:
        raise NotAnArticleError(f"{page.url} is not an article: no article text was found "
                                f"on the page ({words} words of text).")
    host = (urlsplit(page.url).hostname or "").removeprefix("www.")
    source = " ".join(str(doc.get("source-hostname") or doc.get("sitename") or "").split())
    return WebArticle(title=title or paragraphs[0][:150], text="\n\n".join(paragraphs),
                      url=page.url, source=source or host or None,
                      date=doc.get("date") or None)


def to_markdown(a: WebArticle) -> str:
    """The article as Markdown with YAML front matter, as the corpus reads it.

    Example:
        >>> print(to_markdown(WebArticle("A: b", "Text.", "https://x.org/a", "X", None)))
        ---
        title: 'A: b'
        source: X
        url: https://x.org/a
        ---
        <BLANKLINE>
        Text.
        <BLANKLINE>
    """
    meta = {"title": a.title, "source": a.source, "date": a.date, "url": a.url}
    front = yaml.safe_dump({k: v for k, v in meta.items() if v}, sort_keys=False,
                           allow_unicode=True, width=10_000)
    return f"---\n{front}---\n\n{a.text}\n"


def slug(url: str, max_chars: int = 80) -> str:
    """A file name stem for a page: its host and path in lower-case words.

    Example:
        >>> slug("https://www.example.org/news/2024/Bridge_reopens.html?id=3")
        'example-org-news-2024-bridge-reopens-id-3'
    """
    p = urlsplit(url)
    path = re.sub(r"\.(html?|php|aspx?)$", "", p.path, flags=re.I)
    text = f"{(p.hostname or '').removeprefix('www.')} {path} {p.query}"
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    words = re.findall(r"[a-z0-9]+", text.lower())
    return "-".join(words)[:max_chars].strip("-") or "page"


def _too_large(size: int | None, max_bytes: int) -> AddArticleError:
    got = f" ({size / 2**20:.4g} MB)" if size else ""
    return AddArticleError(f"The page is larger than the {max_bytes / 2**20:.4g} MB upload "
                           f"limit{got}.",
                           hint="Raise CHALLENGE_QA_MAX_UPLOAD_MB to allow it.")


def _timeout(url: str, timeout: float) -> FetchError:
    return FetchError(f"{url} did not answer within {timeout:g} s (timed out).")


def _reason(reason: object) -> str:
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    if isinstance(reason, socket.gaierror):
        return "unknown host"
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror.lower()
    return str(reason) or reason.__class__.__name__
