"""Polling the corpus's sources: new feed items and watched files become corpus files.

A feed is fetched with a conditional GET (ETag, Last-Modified) through the same checked
path as ``add URL`` (size limit, loopback and private addresses refused unless
``allow_private_urls``); each new or changed item's page is fetched and its article
extracted (trafilatura), the item giving the title, publisher, date and address the page
lacks, and saved as ``feeds/<source>/<item>.md``. An item is known by its GUID (else its
link): seen again unchanged it is skipped; changed (its date or text in the feed) its
article is fetched again and replaces the old one. An article whose text or address the
corpus holds already is a duplicate and is not saved. A watched folder's article files
are mirrored into ``watched/<source>/``: added, changed and deleted alike.

Each source is polled on its own interval; one that fails is reported (``source list``)
and backs off, and never stops the others. Files are written atomically and the state
after each source, so a poll killed at any moment loses nothing and saves nothing twice:
the next poll goes on from the files on disk. The index is not touched here: the engine
builds once after a poll that changed something (``Engine.poll``).
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from ..config import Settings
from ..errors import AddArticleError, ChallengeQAError, FetchError
from ..formats import SUFFIXES
from .fingerprints import CorpusFingerprints, text_key
from .ingest import adding_lock, check_content, read_as_corpus
from .sources import STATE_FILE, Source, SourceState, load_sources, load_states, save_states

FEEDS = "feeds"
WATCHED = "watched"
#: The longest a failing source waits before it is tried again, in seconds.
MAX_BACKOFF = 6 * 3600
FEED_TYPES = ("application/rss+xml, application/atom+xml, application/xml;q=0.9, "
              "text/xml;q=0.9, */*;q=0.1")


@dataclass
class SourceReport:
    """What one poll of one source did."""

    name: str
    kind: str
    added: int = 0
    replaced: int = 0
    removed: int = 0
    duplicates: int = 0
    #: items or files not saved, with why
    refused: list[tuple[str, str]] = field(default_factory=list)
    #: why the source itself could not be polled (None: it was)
    error: str | None = None
    not_modified: bool = False  #: the feed answered 304
    skipped: bool = False  #: not due yet

    @property
    def changed(self) -> bool:
        return bool(self.added or self.replaced or self.removed)


@dataclass
class PollReport:
    """What one poll of every due source did."""

    sources: list[SourceReport] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return any(r.changed for r in self.sources)

    def describe(self) -> str:
        """One line per source polled."""
        lines = []
        for r in self.sources:
            if r.skipped:
                continue
            if r.error:
                lines.append(f"{r.name}: {r.error}")
                continue
            what = (f"{r.added} added, {r.replaced} replaced, {r.removed} removed, "
                    f"{r.duplicates} duplicates")
            if r.not_modified:
                what = "unchanged since the last poll"
            lines.append(f"{r.name}: {what}" + (f"; {len(r.refused)} refused" if r.refused
                                                   else ""))
        return "\n".join(lines) or "No source was due."


def poll(corpus_dir: str | Path, settings: Settings | None = None, *, force: bool = False,
         now: float | None = None, timeout: float = 20) -> PollReport:
    """Poll every source of the corpus that is due (every source with ``force``), saving
    what is new, changed or gone as corpus files; ``timeout`` is per request."""
    s = settings or Settings.from_env()
    root = Path(corpus_dir)
    report = PollReport()
    states = load_states(root)
    _remove_leftovers(root)
    for src in load_sources(root):
        t = time.time() if now is None else now
        st = states.setdefault(src.name, SourceState())
        rep = SourceReport(src.name, src.kind)
        report.sources.append(rep)
        if not force and t < st.next_due:
            rep.skipped = True
            continue
        try:
            if src.kind == "feed":
                _poll_feed(root, src, st, rep, s, timeout)
            else:
                _poll_folder(root, src, st, rep, s)
        except ChallengeQAError as e:
            rep.error = e.explain()
        except Exception as e:  # noqa: BLE001 - one source's failure never stops the others
            rep.error = f"{type(e).__name__}: {e}"
        stamp = datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds")
        st.last_checked = stamp
        if rep.error:
            st.error, st.failures = rep.error, st.failures + 1
            st.next_due = t + min(MAX_BACKOFF, src.interval * 2 ** min(st.failures, 10))
        else:
            st.error, st.failures, st.last_ok = None, 0, stamp
            st.next_due = t + src.interval
        st.last_added = rep.added + rep.replaced
        st.added_total += rep.added
        save_states(root, states)
    return report


def _poll_feed(root: Path, src: Source, st: SourceState, rep: SourceReport, s: Settings,
               timeout: float) -> None:
    import feedparser

    from .fetch import get

    r = get(src.url, timeout=timeout, max_bytes=s.max_upload_mb * 2**20,
            allow_private=s.allow_private_urls, accept=FEED_TYPES, etag=st.etag,
            last_modified=st.last_modified)
    if r.status == 304:
        rep.not_modified = True
        return
    feed = feedparser.parse(r.data)
    if not feed.get("version") and not feed.entries:
        why = getattr(feed.get("bozo_exception"), "getMessage", lambda: "")() or \
            str(feed.get("bozo_exception") or "no items")
        raise FetchError(f"{src.url} is not an RSS or Atom feed ({why}).",
                         hint="Check the address: it should give the feed's XML.")
    publisher = " ".join(str(feed.feed.get("title") or "").split()) or None
    todo = [e for e in feed.entries if _due(st, e)]
    with adding_lock(root):
        known = CorpusFingerprints(root, s)
    for entry in todo[: s.max_feed_items]:
        _feed_item(root, src, st, rep, s, timeout, entry, publisher, known)
    with adding_lock(root):
        known.save()
    # with items left for the next poll, the feed must be fetched again in full then
    more = len(todo) > s.max_feed_items
    st.etag, st.last_modified = (None, None) if more else (r.etag, r.last_modified)


def _due(st: SourceState, entry) -> bool:
    """Whether a feed item is new or changed since it was last seen."""
    link = str(_field(entry, "link") or "").strip()
    key = str(_field(entry, "id") or link).strip()
    seen = st.seen.get(key) if key else None
    return seen is None or seen.get("sign") != _signature(entry)


def _feed_item(root: Path, src: Source, st: SourceState, rep: SourceReport, s: Settings,
               timeout: float, entry, publisher: str | None,
               known: CorpusFingerprints) -> None:
    from .fetch import WebArticle, check_url, extract_article, fetch, same_url, to_markdown

    link = str(_field(entry, "link") or "").strip()
    key = str(_field(entry, "id") or link).strip()
    title = " ".join(str(_field(entry, "title") or "").split())
    if not key or not link:
        rep.refused.append((title or "an item", "it has no link to an article"))
        return
    sign = _signature(entry)
    try:
        page = fetch(check_url(link), timeout=timeout, max_bytes=s.max_upload_mb * 2**20,
                     allow_private=s.allow_private_urls)
        art = extract_article(page)
    except AddArticleError as e:
        rep.refused.append((link, e.explain()))
        st.seen[key] = {"sign": sign, "refused": e.explain()}
        return
    art = WebArticle(title=art.title if art.title_found or not title else title,
                     text=art.text, url=link,
                     source=art.source if art.source_found or not publisher else publisher,
                     date=art.date or _entry_date(entry))
    data = to_markdown(art).encode("utf-8")
    # its own file: a changed item replaces it; an item that was a duplicate never
    # writes over the article it repeated
    rel = _item_file(src, key)
    try:
        arts = read_as_corpus(Path(rel).name, data, s)
    except AddArticleError as e:
        rep.refused.append((link, e.explain()))
        st.seen[key] = {"sign": sign, "refused": e.explain()}
        return
    holder = next((known.texts.get(text_key(a)) for a in arts if text_key(a) in known.texts),
                  None) or known.urls.get(same_url(link)) or known.urls.get(same_url(page.url))
    if holder is not None and holder != rel:
        rep.duplicates += 1
        st.seen[key] = {"sign": sign, "file": holder, "duplicate": True}
        return
    dest = root / rel
    existed = dest.exists()
    with adding_lock(root):
        _write(dest, data)
        known.add(rel, dest, data, arts)
    if existed:
        rep.replaced += 1
    else:
        rep.added += 1
    st.seen[key] = {"sign": sign, "file": rel}


def _poll_folder(root: Path, src: Source, st: SourceState, rep: SourceReport,
                 s: Settings) -> None:
    folder = Path(src.url)
    if not folder.is_dir():
        raise FetchError(f"The watched folder {folder} is not there.",
                         hint="Restore it, or remove the source: challenge-qa source remove "
                              f"{src.name}")
    mirror = root / WATCHED / src.name
    current: dict[str, list[int]] = {}
    for p in sorted(folder.rglob("*")):
        parts = p.relative_to(folder).parts
        if (p.suffix.lower() not in SUFFIXES or p.is_symlink() or not p.is_file()
                or any(part.startswith(".") for part in parts)):
            continue
        info = p.stat()
        current["/".join(parts)] = [info.st_size, info.st_mtime_ns]
    for rel, stamp in current.items():
        dest = mirror / rel
        if st.files.get(rel) == stamp and dest.exists():
            continue
        if stamp[0] > s.max_file_mb * 2**20:
            rep.refused.append((rel, f"it is larger than {s.max_file_mb} MB"))
            continue
        try:
            data = (folder / rel).read_bytes()
            check_content(rel, data)
        except AddArticleError as e:
            rep.refused.append((rel, e.explain()))
            continue
        except OSError as e:
            rep.refused.append((rel, f"it cannot be read ({e.strerror})"))
            continue
        existed = dest.exists()
        with adding_lock(root):
            _write(dest, data)
        if existed:
            rep.replaced += 1
        else:
            rep.added += 1
    for rel in sorted(set(st.files) - set(current)):
        dest = mirror / rel
        if dest.exists():
            with adding_lock(root):
                dest.unlink()
            rep.removed += 1
    st.files = current


def _field(entry, key: str):
    """A feed item's own field: the raw value, without feedparser's aliases (reading
    ``updated`` of an RSS item that has only ``published`` warns that the alias goes)."""
    return dict.get(entry, key)


def _signature(entry) -> str:
    """What says a feed item changed: its dates, title and text in the feed."""
    parts = [str(_field(entry, k) or "") for k in ("updated", "published", "title",
                                                    "summary")]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:16]


def _entry_date(entry) -> str | None:
    t = _field(entry, "published_parsed") or _field(entry, "updated_parsed")
    return time.strftime("%Y-%m-%d", t) if t else None


def _item_file(src: Source, key: str) -> str:
    """The corpus file of a feed item: readable, and unique to its key (two long
    addresses that differ only at the end get two files)."""
    from .fetch import slug

    digest = hashlib.sha256(key.encode()).hexdigest()[:10]
    return f"{FEEDS}/{src.name}/{slug(key, 60)}-{digest}.md"


def _remove_leftovers(root: Path) -> None:
    """Remove the temporary files that polls killed while writing left behind (of the
    state, the fingerprints, feed items and mirrored files): those named with the id of
    a process that is gone; another running poll's are its own."""
    for tmp in [*(root / STATE_FILE.parent).glob("*.tmp"), *(root / FEEDS).glob("*/.*.tmp"),
                *(root / WATCHED).rglob(".*.tmp")]:
        pid = tmp.name.split(".")[-2]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            tmp.unlink(missing_ok=True)
        except OSError:  # a process of another user
            pass


def _write(dest: Path, data: bytes) -> None:
    """Write atomically: a poll killed mid-write leaves the old file or none."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, dest)
