"""Subscriptions of a corpus: news feeds (RSS, Atom) and watched folders, listed in
``sources.toml`` in the corpus folder, with what polling them last found.

The file is meant to be read and edited by people::

    [[source]]
    name = "cnn-space"
    kind = "feed"
    url = "https://example.org/space/rss.xml"
    interval = 900          # seconds between polls

    [[source]]
    name = "inbox"
    kind = "folder"
    url = "/srv/articles-inbox"
    interval = 60

What polling found (validators for conditional GETs, the items seen, errors, back-off) is
kept apart, in ``.challenge_qa/sources-state.json``, written atomically after each poll.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from ..errors import InvalidArgumentError

SOURCES_FILE = "sources.toml"
STATE_FILE = Path(".challenge_qa") / "sources-state.json"
KINDS = ("feed", "folder")
#: Seconds between two polls of a source unless it says otherwise.
DEFAULT_INTERVAL = 900
MIN_INTERVAL = 10


@dataclass(frozen=True)
class Source:
    """One subscription: a feed's address or a folder's path, polled every ``interval``
    seconds; ``name`` names it in messages and in the corpus (``feeds/<name>/``)."""

    name: str
    kind: str
    url: str
    interval: int = DEFAULT_INTERVAL


@dataclass
class SourceState:
    """What polling a source last found; kept between polls and across restarts."""

    last_checked: str | None = None  #: ISO time of the last poll
    last_ok: str | None = None  #: ISO time of the last poll without an error
    error: str | None = None  #: why the last poll failed, with the next step
    failures: int = 0  #: polls failed in a row (the back-off grows with them)
    next_due: float = 0.0  #: epoch seconds before which it is not polled again
    last_added: int = 0  #: articles the last poll added or replaced
    added_total: int = 0
    etag: str | None = None
    last_modified: str | None = None
    #: feed items seen: key (GUID or link) -> {"file": corpus path, "hash": text hash}
    seen: dict = field(default_factory=dict)
    #: watched folder files: relative path -> [size, mtime_ns]
    files: dict = field(default_factory=dict)


def load_sources(corpus_dir: str | Path) -> list[Source]:
    """The sources listed in the corpus's ``sources.toml`` (none when there is no file)."""
    path = Path(corpus_dir) / SOURCES_FILE
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise InvalidArgumentError(f"{path} cannot be read: {e}",
                                   hint=f"Fix or remove {path}.") from None
    out = []
    for i, raw in enumerate(data.get("source", []), 1):
        try:
            s = Source(name=str(raw["name"]), kind=str(raw["kind"]), url=str(raw["url"]),
                       interval=int(raw.get("interval", DEFAULT_INTERVAL)))
        except (KeyError, TypeError, ValueError):
            raise InvalidArgumentError(f"Source {i} of {path} needs a name, kind and url.",
                                       hint=f"Fix or remove it in {path}.") from None
        if s.kind not in KINDS:
            raise InvalidArgumentError(f"Source {s.name!r} of {path} has kind {s.kind!r}.",
                                       hint=f"Use one of: {', '.join(KINDS)}.")
        out.append(s)
    return out


def save_sources(corpus_dir: str | Path, sources: list[Source]) -> None:
    """Write ``sources.toml`` atomically (strings quoted as TOML basic strings)."""
    path = Path(corpus_dir) / SOURCES_FILE
    parts = ["# Subscriptions of this corpus: challenge-qa source add|list|remove, "
             "challenge-qa watch.\n"]
    for s in sources:
        parts.append(f"\n[[source]]\nname = {json.dumps(s.name)}\nkind = {json.dumps(s.kind)}"
                     f"\nurl = {json.dumps(s.url)}\ninterval = {int(s.interval)}\n")
    _write_atomic(path, "".join(parts))


def add_source(corpus_dir: str | Path, url_or_dir: str, *, interval: int | None = None,
               name: str | None = None) -> Source:
    """Subscribe the corpus to a feed (an http or https address) or a folder (a path to an
    existing folder outside the corpus). Refused, with the reason: another scheme, a
    missing folder, the corpus itself or a folder inside it, a name or address already
    subscribed."""
    root = Path(corpus_dir)
    interval = DEFAULT_INTERVAL if interval is None else int(interval)
    if interval < MIN_INTERVAL:
        raise InvalidArgumentError(f"An interval of {interval} s is too short.",
                                   hint=f"Use at least {MIN_INTERVAL} seconds.")
    scheme = urlsplit(url_or_dir).scheme.lower()
    if scheme in ("http", "https"):
        from .fetch import check_url

        url, kind = check_url(url_or_dir), "feed"
        default = _slug(urlsplit(url).hostname or "feed", urlsplit(url).path)
    elif scheme and len(scheme) > 1:
        raise InvalidArgumentError(f"{url_or_dir} is not an http(s) feed address or a "
                                   "folder.", hint="Give a feed's http:// or https:// address,"
                                                   " or a folder's path.")
    else:
        folder = Path(url_or_dir).expanduser().resolve()
        if not folder.is_dir():
            raise InvalidArgumentError(f"{url_or_dir} is not a folder.",
                                       hint="Give the path of an existing folder.")
        corpus = root.resolve()
        if folder == corpus or corpus in folder.parents or folder in corpus.parents:
            raise InvalidArgumentError(
                f"{folder} holds or is inside the corpus {corpus}.",
                hint="Watch a folder outside the corpus; files inside it are indexed anyway.")
        url, kind, default = str(folder), "folder", _slug(folder.name or "folder")
    sources = load_sources(root)
    taken = {s.name for s in sources}
    if any(s.url == url for s in sources):
        raise InvalidArgumentError(f"{url} is already a source of {root}.",
                                   hint="See them with: challenge-qa source list")
    if name:
        name = _slug(name)
        if name in taken:
            raise InvalidArgumentError(f"A source named {name!r} exists already.",
                                       hint="Choose another --name.")
    else:
        name, n = default, 2
        while name in taken:
            name, n = f"{default}-{n}", n + 1
    src = Source(name=name, kind=kind, url=url, interval=interval)
    root.mkdir(parents=True, exist_ok=True)
    save_sources(root, [*sources, src])
    return src


def remove_source(corpus_dir: str | Path, url_or_name: str) -> Source:
    """Unsubscribe (by name or address). The articles it brought stay in the corpus."""
    sources = load_sources(corpus_dir)
    gone = next((s for s in sources if url_or_name in (s.name, s.url)), None)
    if gone is None:
        raise InvalidArgumentError(f"No source {url_or_name!r} in {corpus_dir}.",
                                   hint="See them with: challenge-qa source list")
    save_sources(corpus_dir, [s for s in sources if s is not gone])
    states = load_states(corpus_dir)
    if states.pop(gone.name, None) is not None:
        save_states(corpus_dir, states)
    return gone


def load_states(corpus_dir: str | Path) -> dict[str, SourceState]:
    """Each source's state by name (a missing or unreadable file: none known)."""
    try:
        raw = json.loads((Path(corpus_dir) / STATE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    known = set(SourceState.__dataclass_fields__)
    return {name: SourceState(**{k: v for k, v in st.items() if k in known})
            for name, st in raw.items() if isinstance(st, dict)}


def save_states(corpus_dir: str | Path, states: dict[str, SourceState]) -> None:
    _write_atomic(Path(corpus_dir) / STATE_FILE,
                  json.dumps({n: asdict(st) for n, st in states.items()}, indent=1))


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _slug(*parts: str) -> str:
    """A file-name-safe name from ``parts``.

    Example:
        >>> _slug("www.example.org", "/space/rss.xml")
        'example-org-space-rss'
    """
    text = "-".join(p for p in parts if p).lower().removeprefix("www.")
    text = re.sub(r"\.(xml|rss|atom)$", "", text)
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-")[:60] or "source"
