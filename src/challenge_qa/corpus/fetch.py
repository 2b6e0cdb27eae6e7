"""Fetching one web page and turning its article into a Markdown file (trafilatura).

The page's main text, title, publisher and date are extracted by trafilatura, the
maintained extractor behind many news crawls; this module only fetches the page, checks
what came back, and writes the result in the corpus's Markdown form.
"""

from __future__ import annotations

import functools
import http.client
import ipaddress
import re
import socket
import unicodedata
import urllib.error
import urllib.request
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit, urlunsplit

import yaml

from ..config import VERSION
from ..errors import AddArticleError, BlockedAddressError, FetchError, NotAnArticleError

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
    #: False when the page named no title and ``title`` is its first words
    title_found: bool = True
    #: False when the page named no publisher and ``source`` is its host
    source_found: bool = True


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


def refused_address(address: str) -> str | None:
    """Why an IP address (IPv4 or IPv6, any notation ``ipaddress`` reads) must not be
    fetched by default, or None for a public one.

    Example:
        >>> [refused_address(a) for a in ("127.0.0.1", "::ffff:10.0.0.1", "169.254.169.254",
        ...                               "::", "93.184.215.14")]
        ['loopback', 'private', 'link-local', 'unspecified', None]
    """
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # an IPv6 zone is no part of it
    if isinstance(ip, ipaddress.IPv6Address):
        # an IPv4 address inside an IPv6 one is judged as that IPv4 address
        inner = ip.ipv4_mapped or ip.sixtofour or (ip.teredo or (None, None))[1]
        if inner is None and ip in ipaddress.ip_network("64:ff9b::/96"):  # NAT64
            inner = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if inner is not None:
            return refused_address(str(inner))
    for why, hit in (("unspecified", ip.is_unspecified), ("loopback", ip.is_loopback),
                     ("link-local", ip.is_link_local), ("multicast", ip.is_multicast),
                     ("private", ip.is_private), ("reserved", ip.is_reserved),
                     ("non-public", not ip.is_global)):
        if hit:
            return why
    return None


def check_public(url: str) -> None:
    """Refuse (``BlockedAddressError``) an http(s) address whose host resolves to an
    address ``get`` would not connect to without ``allow_private``: the same check, made
    before anything is saved (a subscription), without connecting. A name that does not
    resolve now passes: fetching it later fails, or is checked then."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, ValueError, UnicodeError):
        return
    for *_, sockaddr in infos:
        resolved = str(sockaddr[0])
        if why := refused_address(resolved):
            shown = host if host == resolved else f"{host} ({resolved})"
            raise BlockedAddressError(f"{shown} is a {why} address: it is not fetched.")


def _connect(address: tuple[str, int], timeout: float | None,
             source: tuple[str, int] | None = None, *,
             allow_private: bool) -> socket.socket:
    """A connection to ``address`` on an address it resolves to that may be fetched; the
    check is made on the very address connected to, so a name that resolves once to a
    public address and then to a private one (DNS rebinding) cannot slip through."""
    host, port = address
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    if not allow_private:  # every address the name has must be public, not only one
        for *_, sockaddr in infos:
            resolved = str(sockaddr[0])
            if why := refused_address(resolved):
                shown = host if host == resolved else f"{host} ({resolved})"
                raise BlockedAddressError(f"{shown} is a {why} address: it is not fetched.")
    err: OSError | None = None
    for family, kind, proto, _, sockaddr in infos:
        sock = socket.socket(family, kind, proto)
        try:
            if timeout is not None:
                sock.settimeout(timeout)
            if source:
                sock.bind(source)
            sock.connect(sockaddr)
            peer = sock.getpeername()[0]
            if not allow_private and (why := refused_address(peer)):
                raise BlockedAddressError(f"{host} ({peer}) is a {why} address: it is not "
                                          "fetched.")
            return sock
        except OSError as e:
            sock.close()
            err = e
        except BlockedAddressError:
            sock.close()
            raise
    raise err or OSError(f"{host} has no address")


class _HTTP(http.client.HTTPConnection):
    def __init__(self, *args, allow_private: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self._create_connection = functools.partial(_connect, allow_private=allow_private)


class _HTTPS(http.client.HTTPSConnection):
    def __init__(self, *args, allow_private: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self._create_connection = functools.partial(_connect, allow_private=allow_private)


class _HTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, allow_private: bool):
        super().__init__()
        self.allow_private = allow_private

    def http_open(self, req):
        return self.do_open(functools.partial(_HTTP, allow_private=self.allow_private), req)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, allow_private: bool):
        super().__init__()
        self.allow_private = allow_private

    def https_open(self, req):
        return self.do_open(functools.partial(_HTTPS, allow_private=self.allow_private), req,
                            context=getattr(self, "_context", None))


class _Redirects(urllib.request.HTTPRedirectHandler):
    """Follows at most 5 redirects, each to an http(s) address (whose host is checked
    again when connected to)."""

    max_redirections = 5

    def http_error_302(self, req, fp, code, msg, headers):
        target = headers.get("location") or headers.get("uri")
        if target:
            newurl = urljoin(req.full_url, target.strip())
            if urlsplit(newurl).scheme.lower() not in ("http", "https"):
                fp.close()
                raise BlockedAddressError(f"{req.full_url} redirects to {newurl}: only "
                                          "http:// and https:// addresses are fetched.")
        return super().http_error_302(req, fp, code, msg, headers)

    http_error_301 = http_error_303 = http_error_307 = http_error_308 = http_error_302


def opener(allow_private: bool = False) -> urllib.request.OpenerDirector:
    """An opener for http(s) only: no file:, ftp: or data: handler, no proxy from the
    environment, redirects checked, and (unless ``allow_private``) only connections to
    public addresses (``refused_address``)."""
    o = urllib.request.OpenerDirector()
    for h in (_HTTPHandler(allow_private), _HTTPSHandler(allow_private), _Redirects(),
              urllib.request.HTTPDefaultErrorHandler(), urllib.request.HTTPErrorProcessor()):
        o.add_handler(h)
    return o


@dataclass(frozen=True)
class Response:
    """What a GET brought back: the final address, the status (200, or 304 when a
    conditional GET found the resource unchanged), the body and the validators."""

    url: str
    status: int
    data: bytes
    content_type: str = ""
    etag: str | None = None
    last_modified: str | None = None


def get(url: str, *, timeout: float, max_bytes: int, allow_private: bool = False,
        accept: str = "*/*", etag: str | None = None,
        last_modified: str | None = None) -> Response:
    """GET ``url`` (redirects followed) through the checked opener: at most ``max_bytes``,
    loopback, private, link-local, multicast and reserved addresses refused (also after a
    redirect, and on the address connected to) unless ``allow_private``. ``etag`` and
    ``last_modified`` make it a conditional GET (status 304, no body, when unchanged)."""
    headers = {"User-Agent": f"challenge-qa/{VERSION} (+article import)", "Accept": accept}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    req = urllib.request.Request(url, headers=headers)
    try:
        with opener(allow_private).open(req, timeout=timeout) as resp:
            final = resp.geturl()
            ctype = (resp.headers.get_content_type() if resp.headers.get("Content-Type")
                     else "")
            length = resp.headers.get("Content-Length")
            if length and length.isdigit() and int(length) > max_bytes:
                raise _too_large(int(length), max_bytes)
            data = resp.read(max_bytes + 1)
            validators = resp.headers.get("ETag"), resp.headers.get("Last-Modified")
    except urllib.error.HTTPError as e:
        if e.code == 304 and (etag or last_modified):
            return Response(url, 304, b"", etag=e.headers.get("ETag") or etag,
                            last_modified=e.headers.get("Last-Modified") or last_modified)
        raise FetchError(f"The server answered {e.code} {e.reason} for {url}.") from None
    except urllib.error.URLError as e:
        if isinstance(e.reason, BlockedAddressError):
            raise e.reason from None
        if isinstance(e.reason, TimeoutError):
            raise _timeout(url, timeout) from None
        raise FetchError(f"Could not reach {url} ({_reason(e.reason)}).") from None
    except TimeoutError:
        raise _timeout(url, timeout) from None
    except (OSError, ValueError) as e:  # connection reset mid-body, a bad header
        raise FetchError(f"Fetching {url} failed ({_reason(e)}).") from None
    if len(data) > max_bytes:
        raise _too_large(None, max_bytes)
    return Response(final, 200, data, ctype, *validators)


def fetch(url: str, *, timeout: float, max_bytes: int, allow_private: bool = False) -> Page:
    """GET ``url`` as ``get`` does; only an HTML page passes."""
    r = get(url, timeout=timeout, max_bytes=max_bytes, allow_private=allow_private,
            accept="text/html,application/xhtml+xml;q=0.9,*/*;q=0.1")
    if r.content_type and r.content_type not in _HTML_TYPES:
        raise NotAnArticleError(f"{url} is not a web page (its type is {r.content_type}).",
                                hint="Download it and add the file if it is an article "
                                     "(.pdf, .txt, .md).")
    if not r.content_type and not looks_like_html(r.data):
        raise NotAnArticleError(f"{url} is not a web page (no HTML came back).")
    return Page(url=r.url, data=r.data)


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
                      date=doc.get("date") or None, title_found=bool(title),
                      source_found=bool(source) and source.removeprefix("www.") not in (
                          host, urlsplit(page.url).netloc.removeprefix("www.")))


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
