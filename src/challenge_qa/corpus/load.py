"""Load articles from a folder (or one file) of .md, .txt, .html, .pdf and .jsonl files."""

from __future__ import annotations

import datetime
import hashlib
import json
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import yaml

from ..errors import CorpusEmptyError, CorpusNotFoundError
from ..formats import SUFFIXES, file_types

MAX_TITLE_CHARS = 150


class SkippedFileWarning(UserWarning):
    """An input file (or JSONL line) was skipped; the message names it and says why."""


@dataclass(frozen=True)
class Article:
    id: str
    title: str
    text: str
    path: str
    source: str | None = None
    date: str | None = None
    url: str | None = None
    sha256: str = ""
    #: Where each page starts in ``text`` (PDF articles); empty for unpaged articles.
    pages: tuple[int, ...] = ()

    @staticmethod
    def make(**kw) -> Article:
        kw = {k: (str(v).strip() or None) if k in ("source", "date", "url") and v is not None
              else v for k, v in kw.items()}
        a = Article(**kw)
        payload = json.dumps([a.title, a.source, a.date, a.url, a.text], ensure_ascii=False)
        return Article(**{**kw, "sha256": hashlib.sha256(payload.encode()).hexdigest()})


@dataclass
class Corpus:
    articles: list[Article]
    skipped: list[str] = field(default_factory=list)


def load_articles(path: str | Path, *, max_bytes: int | None = None) -> list[Article]:
    """Load every article under ``path``; skipped files are reported as warnings.

    Files larger than ``max_bytes`` (when given) are skipped.

    Example:
        >>> [a.id for a in load_articles("docs_corpus")]  # doctest: +SKIP
        ['challenge-trailer-cnn.md', 'challenge-trailer-iss.md']
    """
    corpus = load_corpus(path, max_bytes=max_bytes)
    for reason in corpus.skipped:
        warnings.warn(reason, SkippedFileWarning, stacklevel=2)
    return corpus.articles


def load_corpus(path: str | Path, *, max_bytes: int | None = None) -> Corpus:
    """Load articles and collect, rather than raise, the reasons files were skipped.

    Files larger than ``max_bytes`` (when given) are skipped unread; in a JSONL file the
    limit applies to each line (article), not to the file.
    """
    root, files = scan(path)
    corpus = Corpus(articles=[])
    seen: set[str] = set()
    for file, rel in files:
        for art in read_file(file, rel, corpus.skipped, max_bytes=max_bytes,
                             base=root if root.is_dir() else root.parent):
            if art.id in seen:
                corpus.skipped.append(f"{rel}: duplicate article id {art.id!r}, skipped")
                continue
            seen.add(art.id)
            corpus.articles.append(art)
    if not corpus.articles:
        detail = "; ".join(corpus.skipped[:3])
        raise CorpusEmptyError(
            f"No readable articles in {root}" + (f" ({detail})" if detail else ""))
    return corpus


def scan(path: str | Path) -> tuple[Path, list[tuple[Path, str]]]:
    """The corpus root and its article files as ``(path, name relative to the root)``,
    sorted by name; a single file is its own corpus. Nothing is read."""
    root = Path(path)
    if not root.exists():
        raise CorpusNotFoundError(f"Corpus not found: {root}")
    if root.is_file():
        if root.suffix.lower() not in SUFFIXES:
            raise CorpusEmptyError(f"{root} is not a {file_types()} file.")
        return root, [(root, root.name)]
    files = sorted((f.relative_to(root).as_posix(), f) for f in _walk(root))
    if not files:
        raise CorpusEmptyError(f"No article files ({file_types()}) in {root}")
    return root, [(f, rel) for rel, f in files]


def file_stamp(file: Path) -> list[int] | None:
    """``[size, mtime_ns]`` of a file: unchanged stamps mean an unchanged file."""
    try:
        st = file.stat()
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns]


@dataclass(frozen=True)
class ArticleLimits:
    """What one article may cost: a PDF's pages, its text's characters and the passages it
    makes (chunked with ``chunk_chars`` / ``overlap_chars``). A file beyond them is skipped
    by a build and refused by ``add``, naming the limit: a small file (a 600 KB PDF of
    100,000 empty pages) must not keep a core busy for hours."""

    max_pages: int | None = None
    max_chars: int | None = None
    max_passages: int | None = None
    chunk_chars: int = 1000
    overlap_chars: int = 200

    @classmethod
    def of(cls, s) -> ArticleLimits:
        """The limits of a ``Settings``."""
        return cls(s.max_pdf_pages, s.max_article_chars, s.max_article_passages,
                   s.chunk_chars, s.overlap_chars)

    def check(self, art: Article) -> None:
        """Raise ``_Skip`` naming the limit ``art`` is beyond."""
        n = len(art.text)
        if self.max_chars is not None and n > self.max_chars:
            raise _Skip(f"its text has {n:,} characters, more than the {self.max_chars:,} "
                        "an article may have (raise CHALLENGE_QA_MAX_ARTICLE_CHARS to "
                        "include it)")
        # two passages in a row hold about chunk_chars - overlap_chars new characters (a
        # passage ends where the next sentence does not fit), so a text this short cannot
        # make too many; counting costs about 0.5 s per million characters
        if self.max_passages is not None and n > self.max_passages * 20:
            from ..text.chunking import chunk_spans

            got = len(chunk_spans(art.text, self.chunk_chars, self.overlap_chars))
            if got > self.max_passages:
                raise _Skip(f"it makes {got:,} passages, more than the "
                            f"{self.max_passages:,} an article may make (raise "
                            "CHALLENGE_QA_MAX_ARTICLE_PASSAGES to include it)")


def read_file(file: Path, rel: str, skipped: list[str], *, max_bytes: int | None = None,
              base: Path | None = None,
              limits: ArticleLimits | None = None) -> Iterator[Article]:
    """The articles of one corpus file, lazily (a JSONL file is read line by line);
    reasons for skipping the file or a line are appended to ``skipped``. An article
    beyond ``limits`` is skipped (in a JSONL file, its line)."""
    lim = limits or ArticleLimits()
    try:
        if base is not None and not file.resolve().is_relative_to(base.resolve()):
            raise _Skip("it is a link to a file outside the corpus")
        if SUFFIXES[file.suffix.lower()] == "jsonl":
            for n, art in _load_jsonl(file, rel, skipped, max_bytes):
                try:
                    lim.check(art)
                except _Skip as why:
                    skipped.append(f"{rel}:{n}: skipped, {why}")
                    continue
                yield art
            return
        if max_bytes is not None:
            _check_size(file, max_bytes)
        arts = _load_file(file, rel, lim)
        for art in arts:
            lim.check(art)
    except _Skip as why:
        skipped.append(f"{rel}: skipped, {why}")
        return
    yield from arts


class _Skip(Exception):
    pass


def _walk(root: Path) -> Iterator[Path]:
    for p in root.rglob("*"):
        parts = p.relative_to(root).parts
        if any(part.startswith(".") for part in parts):
            continue
        if p.suffix.lower() in SUFFIXES and (p.is_file() or p.is_symlink()):
            yield p


def _check_size(file: Path, max_bytes: int) -> None:
    try:
        size = file.stat().st_size
    except OSError:
        return  # _read_text says why it cannot be read
    if size > max_bytes:
        raise _Skip(f"it is larger than the {_mb(max_bytes)} limit ({_mb(size)}; "
                    "raise CHALLENGE_QA_MAX_FILE_MB to include it)")


def _mb(n: int) -> str:
    return f"{n / 2**20:.4g} MB"


def _read_text(file: Path) -> str:
    try:
        data = file.read_bytes()
    except OSError as e:
        raise _Skip(f"cannot be read ({e.strerror or e})") from e
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise _Skip(f"it is not UTF-8 text (bad byte at offset {e.start})") from e
    if "\x00" in text:
        raise _Skip("it looks like a binary file")
    # Windows line endings as "\n" (as Python's text mode reads them), so that a blank
    # CRLF line ends a paragraph and a sentence like a blank LF line does
    return text.replace("\r\n", "\n")


def _load_file(file: Path, rel: str, limits: ArticleLimits) -> list[Article]:
    kind = SUFFIXES[file.suffix.lower()]
    if kind == "pdf":
        return [_load_pdf(file, rel, limits)]
    raw = _read_text(file)
    if kind == "html":
        meta, text = _parse_html(raw)
    elif kind == "md":
        meta, text = _split_front_matter(raw, rel)
    else:
        meta, text = {}, raw
    text = text.strip()
    if not text:
        raise _Skip("it has no text")
    title = str(meta.get("title") or "").strip() or _title_from_text(text, file)
    return [Article.make(
        id=str(meta.get("id") or rel), title=title, text=text, path=rel,
        source=meta.get("source") or meta.get("publisher"), date=meta.get("date"),
        url=meta.get("url"))]


def _load_pdf(file: Path, rel: str, limits: ArticleLimits) -> Article:
    from .pdf import UnreadablePdf, read_pdf

    try:
        data = file.read_bytes()
    except OSError as e:
        raise _Skip(f"cannot be read ({e.strerror or e})") from e
    try:
        pdf = read_pdf(data, max_pages=limits.max_pages, max_chars=limits.max_chars)
    except UnreadablePdf as why:
        raise _Skip(str(why)) from why
    # the text starts with page 1's first character: offsets (and pages) stay exact
    return Article.make(id=rel, title=pdf.title or _title_from_text(pdf.text, file),
                        text=pdf.text, path=rel, source=pdf.author, date=pdf.date,
                        pages=pdf.pages)


def _title_from_text(text: str, file: Path) -> str:
    first = text.lstrip().split("\n", 1)[0].strip().lstrip("#").strip()
    if first and len(first) <= MAX_TITLE_CHARS:
        return first
    return file.stem.replace("_", " ").replace("-", " ").strip() or file.name


def _split_front_matter(raw: str, rel: str) -> tuple[dict, str]:
    if not raw.startswith("---"):
        return {}, raw
    parts = raw.split("\n")
    for i in range(1, len(parts)):
        if parts[i].strip() in ("---", "..."):
            front = "\n".join(parts[1:i])
            try:
                _check_front_matter(front)
                meta = yaml.safe_load(front) or {}
            except yaml.YAMLError as e:
                raise _Skip(f"its YAML front matter is invalid ({e.__class__.__name__})") from e
            if not isinstance(meta, dict):
                raise _Skip("its front matter is not a mapping of fields")
            for key in FRONT_MATTER_FIELDS:
                if meta.get(key) is not None and (
                        isinstance(meta[key], bool)
                        or not isinstance(meta[key], str | int | float | datetime.date)):
                    raise _Skip(f"its front matter's {key!r} is not a single value")
            return meta, "\n".join(parts[i + 1:])
    return {}, raw


#: The front matter fields an article takes (each a single value); others are ignored.
FRONT_MATTER_FIELDS = ("id", "title", "source", "publisher", "date", "url")
#: Front matter holds a few fields: nesting deeper than this, or more aliases, is no
#: article's (PyYAML composes nested nodes recursively, and aliases can multiply a
#: small text into a huge structure).
MAX_FRONT_MATTER_DEPTH = 20
MAX_FRONT_MATTER_ALIASES = 10
MAX_FRONT_MATTER_CHARS = 65_536


def _check_front_matter(front: str) -> None:
    """Raise ``_Skip`` for front matter too large, too deeply nested or with too many
    aliases, reading only its event stream (flat, not recursive)."""
    if len(front) > MAX_FRONT_MATTER_CHARS:
        raise _Skip(f"its YAML front matter is longer than {MAX_FRONT_MATTER_CHARS:,} "
                    "characters")
    depth = aliases = 0
    for event in yaml.parse(front, Loader=yaml.SafeLoader):
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            if depth > MAX_FRONT_MATTER_DEPTH:
                raise _Skip(f"its YAML front matter is nested more than "
                            f"{MAX_FRONT_MATTER_DEPTH} levels deep")
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1
        elif isinstance(event, yaml.AliasEvent):
            aliases += 1
            if aliases > MAX_FRONT_MATTER_ALIASES:
                raise _Skip(f"its YAML front matter has more than {MAX_FRONT_MATTER_ALIASES} "
                            "aliases")


def _load_jsonl(file: Path, rel: str, skipped: list[str],
                max_bytes: int | None) -> Iterator[tuple[int, Article]]:
    try:
        f = open(file, "rb")  # noqa: SIM115 - closed below, also when the caller stops
    except OSError as e:
        raise _Skip(f"cannot be read ({e.strerror or e})") from e
    with f:
        # lines end at b"\n" only: str.splitlines would also split inside JSON strings at
        # U+2028
        for n, raw in enumerate(f, 1):
            if n == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            if max_bytes is not None and len(raw) > max_bytes:
                skipped.append(f"{rel}:{n}: skipped, the article is larger than the "
                               f"{_mb(max_bytes)} limit ({_mb(len(raw))}; raise "
                               "CHALLENGE_QA_MAX_FILE_MB to include it)")
                continue
            if not raw.strip():
                continue
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                skipped.append(f"{rel}:{n}: skipped, not UTF-8 text (bad byte at offset "
                               f"{e.start})")
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                skipped.append(f"{rel}:{n}: skipped, not valid JSON")
                continue
            if not isinstance(rec, dict):
                skipped.append(f"{rel}:{n}: skipped, not a JSON object")
                continue
            art = _jsonl_article(rec, rel, n, skipped)
            if art is not None:
                yield n, art


def _jsonl_article(rec: dict, rel: str, n: int, skipped: list[str]) -> Article | None:
    doc_id = rec.get("_id", rec.get("id"))
    text = rec.get("text")
    if doc_id is None or not isinstance(text, str) or not text.strip():
        missing = "id (_id or id)" if doc_id is None else "text"
        skipped.append(f"{rel}:{n}: skipped, the record has no {missing}")
        return None
    title = str(rec.get("title") or "").strip() or f"{Path(rel).stem} {doc_id}"
    return Article.make(id=str(doc_id), title=title, text=text.strip(), path=rel,
                        source=rec.get("source"), date=rec.get("date"), url=rec.get("url"))


_SKIP_TAGS = frozenset({"script", "style", "noscript", "nav", "header", "footer", "aside",
                        "form", "template", "svg", "button", "iframe"})
_BLOCK_TAGS = frozenset({"p", "div", "section", "article", "main", "br", "li", "ul", "ol", "h1",
                         "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "table", "tr",
                         "figure", "figcaption", "hr", "dd", "dt"})


class _HTMLText(HTMLParser):
    """Collects the readable text of a page: <article>, else <main>, else <body>."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.meta: dict[str, str] = {}
        self.buffers: dict[str, list[str]] = {"article": [], "main": [], "body": []}
        self.depth = {"article": 0, "main": 0, "body": 0}
        self.skip = 0
        self.in_title = False
        self.title: list[str] = []
        self.h1: list[str] = []
        self.in_h1 = False

    def handle_starttag(self, tag, attrs):
        a = {k: v or "" for k, v in attrs}
        if tag in _SKIP_TAGS:
            self.skip += 1
        elif tag == "title":
            self.in_title = True
        elif tag == "h1":
            self.in_h1 = True
        elif tag == "meta":
            key = (a.get("property") or a.get("name") or "").lower()
            if key in ("og:site_name", "author", "article:published_time", "date",
                       "og:url", "og:title"):
                self.meta.setdefault(key, a.get("content", ""))
        elif tag == "link" and a.get("rel", "").lower() == "canonical":
            self.meta.setdefault("canonical", a.get("href", ""))
        if tag in self.depth:
            self.depth[tag] += 1
        if tag in _BLOCK_TAGS:
            self._emit("\n\n")

    def handle_endtag(self, tag):
        if tag in _SKIP_TAGS:
            self.skip = max(0, self.skip - 1)
        elif tag == "title":
            self.in_title = False
        elif tag == "h1":
            self.in_h1 = False
        if tag in self.depth:
            self.depth[tag] = max(0, self.depth[tag] - 1)
        if tag in _BLOCK_TAGS:
            self._emit("\n\n")

    def handle_data(self, data):
        if self.in_title and not self.skip:
            self.title.append(data)
        if self.skip:
            return
        if self.in_h1:
            self.h1.append(data)
        self._emit(data)

    def _emit(self, s: str):
        for name, d in self.depth.items():
            if d:
                self.buffers[name].append(s)


def _parse_html(raw: str) -> tuple[dict, str]:
    p = _HTMLText()
    p.feed(raw)
    p.close()
    chosen = next((b for b in (p.buffers["article"], p.buffers["main"], p.buffers["body"])
                   if "".join(b).strip()), None)
    if chosen is None:  # a fragment with no <body>: take all text outside skipped tags
        q = _HTMLText()
        q.depth["body"] = 1
        q.feed(raw)
        chosen = q.buffers["body"]
    paragraphs = [" ".join(block.split()) for block in "".join(chosen).split("\n\n")]
    text = "\n\n".join(b for b in paragraphs if b)
    m = p.meta
    title = " ".join("".join(p.title).split()) or m.get("og:title") or " ".join(
        "".join(p.h1).split())
    meta = {"title": title, "source": m.get("og:site_name") or m.get("author"),
            "date": _iso_day(m.get("article:published_time") or m.get("date") or "") or None,
            "url": m.get("canonical") or m.get("og:url")}
    return meta, text


def _iso_day(value: str) -> str:
    """``2023-03-08T10:00:00Z`` -> ``2023-03-08``; other date forms are kept whole."""
    value = value.strip()
    return value[:10] if re.match(r"\d{4}-\d{2}-\d{2}", value) else value
