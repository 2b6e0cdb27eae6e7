"""What changed in the corpus since the last commit, found without re-reading the archive.

``CommittedArticles`` are the articles of the committed segments as a build extends them:
looked up by id in the segments' SQLite tables (never loaded whole), their deletion flags
changed in memory until the build commits them. ``CorpusChanges`` walks the corpus against
them: files whose size and mtime match the manifest are skipped unread, other files are
read lazily (a JSONL archive line by line) and their articles compared by id and hash; it
yields groups of new and changed articles and records what is deleted. ``staleness`` runs
the same walk without writing anything.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config import Settings
from ..corpus.load import Article, ArticleLimits, file_stamp, read_file, scan
from . import writer
from .segments import load_array

#: Articles read before they are chunked and embedded together.
READ_GROUP = 256


@dataclass(frozen=True)
class Staleness:
    added: int = 0
    changed: int = 0
    removed: int = 0

    @property
    def stale(self) -> bool:
        return bool(self.added or self.changed or self.removed)

    def describe(self) -> str:
        if not self.stale:
            return "up to date"
        return (f"stale: {self.added} new, {self.changed} changed, {self.removed} removed "
                "article(s) since the build; run: challenge-qa index")


class CommittedArticles:
    """The segments a build extends, with their deletion flags as this build changes
    them. Article look-ups go to the segments' SQLite tables, so a build reads only the
    rows of the articles it sees, never the whole catalogue."""

    def __init__(self, index_dir: Path, entries: list[dict]):
        self.index_dir = index_dir
        self.entries: list[dict] = [dict(e) for e in entries]
        self._db: dict[str, sqlite3.Connection] = {}
        self._deleted: dict[str, np.ndarray] = {}
        self.dirty: set[str] = set()

    def db(self, name: str) -> sqlite3.Connection:
        con = self._db.get(name)
        if con is None:
            path = self.index_dir / name / "segment.sqlite"
            con = self._db[name] = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        return con

    def deleted(self, entry: dict) -> np.ndarray:
        name = entry["name"]
        got = self._deleted.get(name)
        if got is None:
            got = (load_array(self.index_dir / entry["deleted"], mmap=False)
                   if entry.get("deleted") else np.zeros(entry["articles"], dtype=bool))
            self._deleted[name] = got
        return got

    def lookup(self, ids: list[str]) -> dict[str, tuple[str, int, str, str, int]]:
        """Live articles among ``ids``: id -> (segment, article number, sha256, path,
        passages)."""
        out: dict[str, tuple[str, int, str, str, int]] = {}
        for entry in reversed(self.entries):
            todo = [i for i in ids if i not in out]
            if not todo:
                break
            dead = self.deleted(entry)
            for a in range(0, len(todo), 500):
                part = todo[a:a + 500]
                for idx, aid, sha, path, n in self.db(entry["name"]).execute(
                        "SELECT idx, id, sha256, path, n_passages FROM articles WHERE id IN "
                        f"({','.join('?' * len(part))})", part):
                    if not dead[idx]:
                        out[aid] = (entry["name"], idx, sha, path, n)
        return out

    def of_path(self, rel: str) -> list[tuple[str, str, int, int]]:
        """Live articles read from the file ``rel``: (id, segment, article number,
        passages)."""
        out: list[tuple[str, str, int, int]] = []
        for entry in self.entries:
            dead = self.deleted(entry)
            out.extend((aid, entry["name"], idx, n) for idx, aid, n in self.db(
                entry["name"]).execute("SELECT idx, id, n_passages FROM articles WHERE "
                                       "path = ?", (rel,)) if not dead[idx])
        return out

    def delete(self, name: str, idx: int, n_passages: int) -> bool:
        entry = next(e for e in self.entries if e["name"] == name)
        dead = self.deleted(entry)
        if dead[idx]:
            return False
        dead[idx] = True
        entry["deleted_articles"] = entry.get("deleted_articles", 0) + 1
        entry["deleted_passages"] = entry.get("deleted_passages", 0) + n_passages
        self.dirty.add(name)
        return True

    def add(self, entry: dict) -> None:
        self.entries.append(dict(entry))

    def flush(self) -> list[dict]:
        """Entries for a commit: changed deletion flags are written as new files first."""
        for entry in self.entries:
            if entry["name"] in self.dirty:
                entry["deleted"] = writer.save_deletions(self.index_dir, entry["name"],
                                                  self._deleted[entry["name"]])
        self.dirty.clear()
        return [dict(e) for e in self.entries]

    def close(self) -> None:
        for con in self._db.values():
            con.close()
        self._db.clear()


# --------------------------------------------------------------------------- the diff

class CorpusChanges:
    """Walks the corpus against a view: yields groups of articles to add and records
    deletions, file stamps, skips and counts on the way."""

    def __init__(self, view: CommittedArticles, known_files: dict, root: Path,
                 files: list[tuple[Path, str]], s: Settings):
        self.view, self.known, self.root, self.files, self.s = view, known_files, root, files, s
        self.stamps: dict[str, list[int]] = {}
        self.now = {rel for _, rel in files}
        self.skipped: list[str] = []
        self.added = self.changed = self.removed = self.unchanged_seen = 0
        #: id -> (segment, article number, passages) of the version a new one replaces
        self.replaces: dict[str, tuple[str, int, int]] = {}
        self.removals: list[tuple[str, int, int]] = []
        self.new_ids: dict[str, str] = {}  # id -> file, of articles kept from re-read files
        self.resumed = 0

    def groups(self) -> Iterator[list[Article]]:
        base = self.root if self.root.is_dir() else self.root.parent
        limit = self.s.max_file_mb * 2**20
        for rel in sorted(set(self.known) - self.now):
            for _aid, name, idx, n in self.view.of_path(rel):
                self.removals.append((name, idx, n))
                self.removed += 1
        reread = set()
        for file, rel in self.files:
            stamp = file_stamp(file)
            if stamp is not None and self.known.get(rel) == stamp:
                continue
            reread.add(rel)
        group: list[Article] = []
        chars = 0
        for file, rel in self.files:
            if rel not in reread:
                continue
            stamp = file_stamp(file)
            seen: set[str] = set()
            duplicates = False
            arts = read_file(file, rel, self.skipped, max_bytes=limit, base=base,
                             limits=ArticleLimits.of(self.s))
            for part in chunks(arts, READ_GROUP):
                found = self.view.lookup([a.id for a in part])
                for art in part:
                    old = found.get(art.id)
                    other = self.new_ids.get(art.id)
                    if art.id in seen or (other is not None and other != rel) or (
                            old is not None and old[3] != rel and old[3] in self.now
                            and old[3] not in reread):
                        self.skipped.append(f"{rel}: duplicate article id {art.id!r}, skipped")
                        duplicates = duplicates or art.id not in seen  # in another file
                        continue
                    seen.add(art.id)
                    # kept from this file, changed or not: a later file's copy is a duplicate
                    self.new_ids[art.id] = rel
                    if old is not None and old[2] == art.sha256 and old[3] == rel:
                        self.unchanged_seen += 1
                        continue
                    if old is not None:
                        self.changed += 1
                        self.replaces[art.id] = (old[0], old[1], old[4])
                    else:
                        self.added += 1
                    group.append(art)
                    chars += len(art.text)
                    if len(group) >= READ_GROUP or chars >= 4_000_000:
                        yield group
                        group, chars = [], 0
            for aid, name, idx, n in self.view.of_path(rel):
                if aid not in seen:
                    self.removals.append((name, idx, n))
                    self.removed += 1
            # a file with a skipped duplicate is read again by the next build: its copy
            # is indexed once the article it duplicates leaves the corpus
            if stamp is not None and not duplicates:
                self.stamps[rel] = stamp
        if group:
            yield group


def chunks(items: Iterable, n: int) -> Iterator[list]:
    part: list = []
    for x in items:
        part.append(x)
        if len(part) >= n:
            yield part
            part = []
    if part:
        yield part


def staleness(index_dir: Path, manifest: dict, settings: Settings,
              corpus_dir: str | Path | None = None) -> Staleness:
    """Compare the corpus with the index committed as ``manifest``: file stamps first;
    files that differ are read and their articles compared by id and hash (nothing is
    embedded or written)."""
    from ..errors import ChallengeQAError

    root = Path(corpus_dir or manifest.get("corpus") or settings.corpus_dir)
    known = manifest.get("files", {})
    try:
        root_, files = scan(root)
    except ChallengeQAError:
        return Staleness(removed=int(manifest["counts"]["articles"]))
    if {rel: file_stamp(f) for f, rel in files} == known:
        return Staleness()
    view = CommittedArticles(index_dir, manifest["segments"])
    try:
        diff = CorpusChanges(view, known, root_, files, settings)
        for _ in diff.groups():
            pass
    finally:
        view.close()
    return Staleness(added=diff.added, changed=diff.changed, removed=diff.removed)
