"""What a corpus folder already holds: each article's text hash and address, and the byte
hash of files, cached by each file's size and mtime so that an add reads only new files."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from ..config import Settings
from ..errors import ChallengeQAError
from .load import Article, ArticleLimits, file_stamp, read_file, scan

#: Hidden (so never read as articles): the fingerprints of the corpus's articles.
KNOWN = Path(".challenge_qa") / "known.json"


def text_key(article: Article) -> str:
    """What makes two articles the same article: their text, spacing aside."""
    return hashlib.sha256(" ".join(article.text.split()).encode()).hexdigest()


class CorpusFingerprints:
    """The fingerprints of the corpus's articles (text hashes, addresses, and byte hashes of
    files of a size in question), cached in ``KNOWN`` by each file's size and mtime."""

    def __init__(self, root: Path, s: Settings):
        self.root, self.path = root, root / KNOWN
        try:
            cached = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            cached = {}
        try:
            files = scan(root)[1]
        except ChallengeQAError:  # no article files yet
            files = []
        self.files = {rel: f for f, rel in files}
        self.entries: dict[str, dict] = {}
        for file, rel in files:
            stamp = file_stamp(file)
            entry = cached.get(rel) if isinstance(cached, dict) else None
            if not (isinstance(entry, dict) and entry.get("stamp") == stamp
                    and isinstance(entry.get("texts"), list)
                    and isinstance(entry.get("urls"), list)):
                arts = read_file(file, rel, [], max_bytes=s.max_file_mb * 2**20, base=root,
                                 limits=ArticleLimits.of(s))
                entry = {"stamp": stamp, "texts": [], "urls": []}
                for a in arts:
                    entry["texts"].append(text_key(a))
                    if a.url:
                        entry["urls"].append(a.url)
            self.entries[rel] = entry
        self._index()

    def _index(self) -> None:
        from .fetch import same_url

        self.texts: dict[str, str] = {}
        self.urls: dict[str, str] = {}
        for rel, e in self.entries.items():
            for t in e["texts"]:
                self.texts.setdefault(t, rel)
            for u in e["urls"]:
                self.urls.setdefault(same_url(u), rel)

    def same_bytes(self, data: bytes) -> str | None:
        """The corpus file with exactly these bytes (only files of the same size are read)."""
        digest = None
        for rel, e in self.entries.items():
            if not e["stamp"] or e["stamp"][0] != len(data):
                continue
            digest = digest or hashlib.sha256(data).hexdigest()
            if "sha256" not in e:
                try:
                    e["sha256"] = hashlib.sha256(self.files[rel].read_bytes()).hexdigest()
                except OSError:
                    continue
            if e["sha256"] == digest:
                return rel
        return None

    def add(self, rel: str, file: Path, data: bytes, arts: list[Article]) -> None:
        from .fetch import same_url

        self.files[rel] = file
        replaced = rel in self.entries
        entry = self.entries[rel] = {
            "stamp": file_stamp(file), "texts": [text_key(a) for a in arts],
            "urls": [a.url for a in arts if a.url], "sha256": hashlib.sha256(data).hexdigest()}
        if replaced:  # what the file held before goes: look-ups made afresh
            self._index()
            return
        # a new file comes last, as in ``_index``: the corpus is not gone through again
        for t in entry["texts"]:
            self.texts.setdefault(t, rel)
        for u in entry["urls"]:
            self.urls.setdefault(same_url(u), rel)

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(self.entries), encoding="utf-8")
        os.replace(tmp, self.path)
