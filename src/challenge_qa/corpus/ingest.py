"""Adding articles to a corpus folder: uploaded files and web pages, checked before saving.

Every input is checked by its content, not its name, and read by the same loader a build
uses: what is saved is an article the next build indexes. The same article arriving again
(the same bytes, the same text, or the same address) is reported as a duplicate. A refused
input leaves the corpus exactly as it was. Files go to ``<corpus>/uploads/``, web pages to
``<corpus>/web/``; the next ``build_index`` (incremental) indexes them.

Example:
    >>> add_files([("a.txt", b"Harbor news\\nThe bridge reopened.")], "corpus")  # doctest: +SKIP
    AddReport(saved=['uploads/a.txt'], duplicates=[], refused=[])
"""

from __future__ import annotations

import fcntl
import os
import re
import tempfile
import unicodedata
from collections.abc import Iterable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ..config import Settings
from ..errors import AddArticleError, UploadRefusedError
from ..formats import KINDS, SUFFIXES
from .fingerprints import CorpusFingerprints, text_key
from .load import Article, ArticleLimits, read_file

UPLOADS = "uploads"
WEB = "web"
#: Start of other file types, to name what a misnamed binary file really is.
_MAGIC = ((b"%PDF-", "a PDF document"), (b"\x89PNG", "a PNG image"), (b"\xff\xd8\xff",
          "a JPEG image"), (b"GIF8", "a GIF image"), (b"PK\x03\x04", "a ZIP archive (or "
          "Office document)"), (b"\x1f\x8b", "a gzip archive"), (b"\x7fELF", "a program"))

# one add at a time per process (the chat may add from several sessions at once)


@contextmanager
def adding_lock(root: Path):
    """One add at a time per corpus folder, across threads and processes: an add checks
    what the folder holds and then saves, and two at once could save the same article
    twice. The lock is taken on the folder itself, so nothing is written for it."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


@dataclass(frozen=True)
class AddReport:
    """What an add did: ``saved`` paths (relative to the corpus folder), ``duplicates`` as
    (name, the corpus file it repeats), ``refused`` as (name, why, with the next step)."""

    saved: list[str] = field(default_factory=list)
    duplicates: list[tuple[str, str]] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)

    def __add__(self, other: AddReport) -> AddReport:
        return AddReport(self.saved + other.saved, self.duplicates + other.duplicates,
                         self.refused + other.refused)


def add_files(files: Iterable[tuple[str, bytes | str | Path] | str | Path],
              corpus_dir: str | Path, *, settings: Settings | None = None) -> AddReport:
    """Save article files into ``corpus_dir/uploads/`` after checking each one.

    Args:
        files: ``(name, bytes)`` pairs (an upload's original name and content), ``(name,
            path)`` pairs, or paths. Only the name's last part is kept, cleaned of odd
            characters; an existing different file of that name is never overwritten.
        corpus_dir: The corpus folder (created if missing).
        settings: ``max_upload_mb`` and ``max_file_mb`` limit the size.

    Returns:
        An ``AddReport``; a refused or duplicate file is reported there, not raised.
    """
    s = settings or Settings.from_env()
    root = _folder(corpus_dir)
    report = AddReport()
    with adding_lock(root):
        known = CorpusFingerprints(root, s)
        for item in files:
            name, content = _item(item)
            try:
                data = _content(content, s.max_upload_mb * 2**20)
                _admit(safe_name(name), data, UPLOADS, known, report, name, s)
            except AddArticleError as e:
                report.refused.append((name, e.explain()))
        if report.saved:
            known.save()
    return report


def add_url(url: str, corpus_dir: str | Path, *, settings: Settings | None = None,
            timeout: float = 20) -> AddReport:
    """Fetch a web page and save its article as ``corpus_dir/web/<host-and-path>.md``.

    The article's text, title, publisher and date come from trafilatura. An address already
    in the corpus is a duplicate and not fetched again; so is a page whose article text is.
    A page that cannot be fetched (an HTTP error status, no connection, no answer within
    ``timeout`` seconds), is not HTML, or holds no article is refused, naming why.
    """
    from .fetch import check_url, extract_article, fetch, slug, to_markdown

    s = settings or Settings.from_env()
    root = _folder(corpus_dir)
    report = AddReport()
    try:
        address = check_url(url)
        with adding_lock(root):
            if _known_url(CorpusFingerprints(root, s), address, url, report):
                return report
        # fetched outside the lock: a slow site does not hold up other adds
        page = fetch(address, timeout=timeout, max_bytes=s.max_upload_mb * 2**20,
                     allow_private=s.allow_private_urls)
        article = extract_article(page)
        with adding_lock(root):
            known = CorpusFingerprints(root, s)
            if _known_url(known, page.url, url, report):  # redirected to a known page
                return report
            data = to_markdown(article).encode("utf-8")
            _admit(slug(page.url) + ".md", data, WEB, known, report, url, s)
            if report.saved:
                known.save()
    except AddArticleError as e:
        report.refused.append((url, e.explain()))
    return report


def _known_url(known: CorpusFingerprints, address: str, shown: str, report: AddReport) -> bool:
    from .fetch import same_url

    rel = known.urls.get(same_url(address))
    if rel is not None:
        report.duplicates.append((shown, rel))
    return rel is not None


def safe_name(name: str, max_chars: int = 120) -> str:
    """A file name safe to save: the last part of ``name``, letters, digits, ``.-_`` and
    spaces only, never hidden, at most ``max_chars`` long.

    Example:
        >>> safe_name("../../x.md"), safe_name("..\\\\evil\\\\Ré sumé?.MD"), safe_name(".env")
        ('x.md', 'Ré sumé.MD', 'env')
    """
    base = re.split(r"[/\\]", str(name))[-1]
    base = unicodedata.normalize("NFC", base)
    base = re.sub(r"[^\w.\- ]+", "-", base).strip(" .-")
    stem, dot, ext = base.rpartition(".")
    if not dot:
        stem, ext = base, ""
    elif not stem:  # ".md": a suffix only
        stem = ""
    ext = re.sub(r"[^\w]", "", ext)[:10]
    stem = stem.strip(" .-")[: max_chars - len(ext) - 1] or "upload"
    return f"{stem}.{ext}" if ext else stem


def check_content(name: str, data: bytes) -> str:
    """The kind of article ``data`` is (``SUFFIXES``' values), checked against its content.

    Raises:
        UploadRefusedError: an unsupported type, an empty file, binary data under a text
            name, a .pdf that is not a PDF, an .html that is not HTML.
    """
    suffix = Path(name).suffix.lower()
    kind = SUFFIXES.get(suffix)
    if kind is None:
        kinds = ", ".join(sorted(SUFFIXES))
        raise UploadRefusedError(f"{suffix or 'A file without a suffix'} is not a supported "
                                 f"type (supported: {kinds}).")
    if not data.strip():
        raise UploadRefusedError("The file is empty.")
    head = data[:1024].lstrip()
    real = next((what for magic, what in _MAGIC if head.startswith(magic)), None)
    if kind == "pdf":
        if not head.startswith(b"%PDF-"):
            raise UploadRefusedError(f"It is named {suffix} but is not a PDF document (it does "
                                     "not start with %PDF).")
        return kind
    if real is not None:
        raise UploadRefusedError(f"It is named {suffix} but is {real}, not "
                                 f"{KINDS[kind]}.")
    if b"\x00" in data:
        raise UploadRefusedError(f"It looks like a binary file, not {KINDS[kind]} "
                                 "(it holds NUL bytes).")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise UploadRefusedError(f"It is not UTF-8 text (bad byte at offset {e.start}).",
                                 hint="Save it as UTF-8 and add it again.") from None
    if kind == "html":
        from .fetch import looks_like_html

        if not looks_like_html(data):
            raise UploadRefusedError(f"It is named {suffix} but does not look like HTML.")
    return kind


def _admit(name: str, data: bytes, folder: str, known: CorpusFingerprints, report: AddReport,
           shown: str, s: Settings) -> None:
    """Check ``data`` as the article file ``name``, and save it into ``folder`` unless it
    is refused or a duplicate."""
    check_content(name, data)
    arts = read_as_corpus(name, data, s)
    same = known.same_bytes(data)
    if same is None:
        owners = [known.texts.get(text_key(a)) for a in arts]
        same = owners[0] if all(owners) else None
    if same is not None:
        report.duplicates.append((shown, same))
        return
    target = _save(known.root / folder, name, data)
    rel = target.relative_to(known.root).as_posix()
    known.add(rel, target, data, arts)
    report.saved.append(rel)


def read_as_corpus(name: str, data: bytes, s: Settings) -> list[Article]:
    """The articles a build would read from this file; refused with the loader's reason."""
    skipped: list[str] = []
    with tempfile.TemporaryDirectory(prefix="challenge-qa-add-") as tmp:
        f = Path(tmp) / name
        f.write_bytes(data)
        arts = list(read_file(f, name, skipped, max_bytes=s.max_file_mb * 2**20,
                              limits=ArticleLimits.of(s)))
    if not arts:
        why = skipped[0].split(": skipped, ", 1)[-1] if skipped else "it holds no article"
        # the size limit's and a PDF's reasons already name the next step
        done = "larger than" in why or name.lower().endswith(".pdf")
        raise UploadRefusedError(f"Not added: {why}.", hint="" if done else None)
    return arts


def _save(folder: Path, name: str, data: bytes) -> Path:
    """Write ``data`` as ``folder/name`` (``name-2``... if taken), atomically and never over
    an existing file."""
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".adding-", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        stem, suffix = Path(name).stem, Path(name).suffix
        for n in range(1, 10_000):
            target = folder / (name if n == 1 else f"{stem}-{n}{suffix}")
            try:
                os.link(tmp, target)  # fails if the name is taken, unlike a rename
            except FileExistsError:
                continue
            return target
        raise AddArticleError(f"No free file name for {name} in {folder}.")
    finally:
        os.unlink(tmp)


def _folder(corpus_dir: str | Path) -> Path:
    root = Path(corpus_dir)
    if root.exists() and not root.is_dir():
        raise AddArticleError(f"The corpus {root} is a single file; articles can only be added "
                              "to a corpus folder.",
                              hint="Point --corpus (or CHALLENGE_QA_CORPUS) at a folder.")
    root.mkdir(parents=True, exist_ok=True)
    return root


def _item(item) -> tuple[str, bytes | Path]:
    if isinstance(item, tuple):
        name, content = item
        return str(name), content if isinstance(content, bytes) else Path(content)
    return str(item), Path(item)


def _content(content: bytes | Path, limit: int) -> bytes:
    """The bytes of an input, refused unread when larger than ``limit``."""
    if isinstance(content, bytes):
        size = len(content)
    else:
        try:
            if content.is_dir():
                raise UploadRefusedError(f"{content} is a folder; add the files in it.",
                                         hint="")
            size = content.stat().st_size
        except FileNotFoundError:
            hint = ("For a web page give its full address (https://...)."
                    if re.match(r"(www\.)?[\w-]+\.[a-z]{2,}/", str(content))
                    else "Check the path.")
            raise UploadRefusedError(f"No such file: {content}.", hint=hint) from None
        except OSError as e:
            raise UploadRefusedError(f"{content} cannot be read ({e.strerror or e}).") from e
    if size > limit:
        raise UploadRefusedError(
            f"It is larger than the {limit / 2**20:.4g} MB upload limit ({size / 2**20:.4g} MB).",
            hint="Raise CHALLENGE_QA_MAX_UPLOAD_MB to allow larger files.")
    if isinstance(content, bytes):
        return content
    try:
        return content.read_bytes()
    except OSError as e:
        raise UploadRefusedError(f"{content} cannot be read ({e.strerror or e}).") from e
