"""The index's commit point, ``manifest.json``: what it names, how it is read, checked
against the settings, and replaced atomically; and the lock that lets one build (or
merge) of an index folder run at a time. Every rule about the manifest lives here.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from contextlib import contextmanager
from pathlib import Path

from ..config import Settings
from ..errors import IndexCorruptError, IndexLockedError, IndexMismatchError, IndexNotFoundError
from ..text.lexical import BM25_METHOD
from . import shards

#: 3: segments with raw BM25 postings and deletion files (1 and 2 were one generation).
FORMAT_VERSION = 3
MANIFEST = "manifest.json"
LOCK = ".build.lock"

def fsync_tree(folder: Path) -> None:
    for p in folder.rglob("*"):
        if p.is_file():
            fd = os.open(p, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)


def fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def referenced(manifest: dict | None) -> set[str]:
    """The files and folders of the index that a manifest names."""
    if not manifest:
        return set()
    out = set()
    for seg in list(manifest.get("segments", [])) + list(
            (manifest.get("pending") or {}).get("segments", [])):
        out.add(seg["name"])
        if seg.get("deleted"):
            out.add(seg["deleted"])
    return out


def commit(index_dir: Path, manifest: dict, previous: dict | None) -> None:
    """Atomically make ``manifest`` the index, then remove what neither it nor
    ``previous`` (the manifest it replaces) names. The shards are planned here, for every
    commit (``shards.plan``; ``manifest`` gets its ``shards``)."""
    if isinstance(manifest.get("segments"), list):
        manifest["shards"] = shards.plan(index_dir, manifest["segments"],
                                         shards.shard_count(manifest, previous))
    tmp = index_dir / f".{MANIFEST}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=1)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, index_dir / MANIFEST)
    fsync_dir(index_dir)
    clean(index_dir, keep=referenced(manifest) | referenced(previous))


def clean(index_dir: Path, keep: set[str] | None = None) -> None:
    """Remove unfinished segments and temporary files and, when ``keep`` is given, every
    segment, deletion file and older-format folder not in it."""
    for p in index_dir.iterdir():
        name = p.name
        unfinished = name.endswith(".partial") or (name.startswith(".")
                                                    and name.endswith(".tmp"))
        unused = (keep is not None and name.startswith(("seg-", "del-", "gen-"))
                  and name not in keep)
        if unfinished or unused:
            _remove(p)


def _remove(p: Path) -> None:
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p, ignore_errors=True)
    else:
        p.unlink(missing_ok=True)


@contextmanager
def build_lock(index_dir: Path):
    """One build (or merge) of an index folder at a time; readers never wait."""
    fd = os.open(index_dir / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as e:
            raise IndexLockedError(f"Another build of {index_dir} is running.") from e
        yield
    finally:
        os.close(fd)


def build_running(index_dir: Path) -> bool:
    """Whether a build (or merge) of ``index_dir`` holds its lock right now."""
    try:
        fd = os.open(index_dir / LOCK, os.O_RDWR)
    except OSError:  # no lock file: no build ever started here
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing releases the lock taken to probe
    return False


def read_manifest_quiet(index_dir: Path) -> dict | None:
    try:
        m = json.loads((index_dir / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return m if isinstance(m, dict) else None



def read_manifest(index_dir: str | Path) -> dict:
    index_dir = Path(index_dir)
    path = index_dir / MANIFEST
    if not path.is_file():
        where = "" if index_dir.is_dir() else " (the folder does not exist)"
        raise IndexNotFoundError(f"No index in {index_dir}{where}.")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        if manifest.get("format_version") == FORMAT_VERSION:
            manifest["segments"], manifest["counts"]["passages"]  # noqa: B018
            manifest["counts"]["articles"]  # noqa: B018
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise IndexCorruptError(f"The index manifest {path} is unreadable.") from e
    return manifest


def check_compatible(manifest: dict, s: Settings, index_dir: Path) -> None:
    version = manifest.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise IndexMismatchError(
            f"The index in {index_dir} has format version {version!r}; this challenge_qa "
            f"reads version {FORMAT_VERSION}. It was built by a newer release.",
            hint="Upgrade challenge_qa, or rebuild with: challenge-qa index --full")
    if version < FORMAT_VERSION:
        raise IndexMismatchError(
            f"The index in {index_dir} has format version {version}, from an older release; "
            f"this challenge_qa reads version {FORMAT_VERSION}.",
            hint="Rebuild it with: challenge-qa index")
    if manifest.get("model") != s.model:
        raise IndexMismatchError(
            f"The index in {index_dir} was built with the model {manifest.get('model')!r}, "
            f"but the settings ask for {s.model!r}.")
    if manifest.get("chunking") != s.chunking():
        raise IndexMismatchError(
            f"The index in {index_dir} was built with chunking {manifest.get('chunking')}, "
            f"but the settings ask for {s.chunking()}.")
    if (manifest.get("bm25") or {}).get("method") != BM25_METHOD:
        raise IndexMismatchError(f"The index in {index_dir} was built with another BM25.")
