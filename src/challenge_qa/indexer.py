"""The build pipeline: changed articles -> new segments + deletions, then merges.

A build compares the corpus with the last commit and touches only what changed:

1. Files whose size and mtime are those recorded at the last commit are skipped unread.
   Other files are read lazily (a JSONL archive line by line); each article is looked up
   by id in the segments' article tables and compared by hash: unchanged ones are skipped,
   new and changed ones go on, the old version of a changed one and articles no longer in
   the corpus are marked deleted.
2. New articles are chunked and embedded in batches (locally, or by a Ray Data pipeline)
   and streamed into a segment writer. Every ``Settings.segment_passages`` passages the
   segment is committed with the deletions it supersedes, so a killed build resumes where
   it stopped: the next build finds the committed articles unchanged and embeds only the
   rest. Memory holds one segment at most.
3. After the last commit, small segments are merged (size-tiered, ``plan_merges``) and the
   merged segment replaces them in a new commit; deletions are purged.

A full rebuild of an existing index writes its segments as ``pending`` in the manifest:
the old index keeps answering until the rebuild's last commit swaps them in.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from . import __version__
from .chunking import passage_context, split_passages
from .config import Settings
from .corpus import Article, file_stamp, read_file, scan
from .embedding import get_embedder, resolve_backend
from .errors import CorpusEmptyError
from .lexical import ACCENTS, BM25_METHOD, STOPWORDS
from .searcher import Index, check_compatible
from .segments import (
    FORMAT_VERSION,
    SEGMENT_FILES,
    Batch,
    Segment,
    SegmentWriter,
    build_lock,
    clean,
    commit,
    new_name,
    read_manifest_quiet,
    save_deletions,
)

#: Articles read before they are chunked and embedded together.
READ_GROUP = 256


@dataclass(frozen=True)
class IndexReport:
    """What a build did. ``skipped`` names input files or lines that were left out."""

    index_dir: str
    added: int
    changed: int
    removed: int
    unchanged: int
    articles: int
    passages: int
    embedded_passages: int
    seconds: float
    full: bool
    skipped: list[str] = field(default_factory=list)
    #: Live segments after the build, and how many merges it ran.
    segments: int = 0
    merges: int = 0
    #: Articles of re-read files found already indexed (after a killed build, or in a
    #: changed file): not embedded again.
    already_indexed: int = 0


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


def index_settings(s: Settings) -> dict:
    """Settings that shape the index but not the passages or vectors."""
    return {"bm25_k1": s.bm25_k1, "bm25_b": s.bm25_b, "bm25_accents": ACCENTS,
            "dense_index": s.dense_index,
            "ann_min_passages": s.ann_min_passages, "hnsw_m": s.hnsw_m,
            "hnsw_ef_construction": s.hnsw_ef_construction}


# --------------------------------------------------------------------------- the view

class _View:
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
            got = (np.load(self.index_dir / entry["deleted"]).copy() if entry.get("deleted")
                   else np.zeros(entry["articles"], dtype=bool))
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
                entry["deleted"] = save_deletions(self.index_dir, entry["name"],
                                                  self._deleted[entry["name"]])
        self.dirty.clear()
        return [dict(e) for e in self.entries]

    def close(self) -> None:
        for con in self._db.values():
            con.close()
        self._db.clear()


def counts(entries: list[dict]) -> dict:
    return {"articles": sum(e["articles"] - e.get("deleted_articles", 0) for e in entries),
            "passages": sum(e["passages"] - e.get("deleted_passages", 0) for e in entries)}


# --------------------------------------------------------------------------- the diff

class _Diff:
    """Walks the corpus against a view: yields groups of articles to add and records
    deletions, file stamps, skips and counts on the way."""

    def __init__(self, view: _View, known_files: dict, root: Path,
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
            arts = read_file(file, rel, self.skipped, max_bytes=limit, base=base)
            for part in _chunks(arts, READ_GROUP):
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


def _chunks(items: Iterable, n: int) -> Iterator[list]:
    part: list = []
    for x in items:
        part.append(x)
        if len(part) >= n:
            yield part
            part = []
    if part:
        yield part


# --------------------------------------------------------------------------- stages

def prepare(articles: list[Article], s: Settings,
            encode: Callable[[list[str]], np.ndarray]) -> Batch:
    """Chunk ``articles`` and embed their passages: the unit of work of a build."""
    per = [split_passages(a, s) for a in articles]
    flat = [p for ps in per for p in ps]
    titles = {a.id: a.title for a in articles}
    contexts = [passage_context(titles[p.doc_id], p.text, s.title_context) for p in flat]
    sents = [p.sentences for p in flat]
    return Batch(
        articles=list(articles),
        n_passages=np.fromiter((len(ps) for ps in per), dtype=np.int64, count=len(per)),
        passage_ids=[p.passage_id for p in flat],
        starts=np.fromiter((p.start for p in flat), dtype=np.int64, count=len(flat)),
        ends=np.fromiter((p.end for p in flat), dtype=np.int64, count=len(flat)),
        sent_counts=np.fromiter((len(x) for x in sents), dtype=np.int64, count=len(sents)),
        sentences=np.asarray([sp for x in sents for sp in x], dtype=np.int64).reshape(-1, 2),
        vectors=encode(contexts) if contexts else np.zeros((0, 0), np.float32),
        contexts=contexts)


def local_stage(s: Settings) -> Callable[[Iterable[list[Article]]], Iterator[Batch]]:
    """Chunk and embed in this process, one group at a time."""
    embedder = get_embedder(s.model, device=s.device, batch_size=s.batch_size,
                            backend=s.backend)

    def run(groups: Iterable[list[Article]]) -> Iterator[Batch]:
        for g in groups:
            yield prepare(g, s, lambda texts: embedder.encode_documents(texts))

    return run


# --------------------------------------------------------------------------- building

def build_index(corpus_dir: str | Path | None = None, index_dir: str | Path | None = None, *,
                full: bool = False, settings: Settings | None = None,
                ray: str | bool | None = None, merge: bool = True) -> IndexReport:
    """Index the articles under ``corpus_dir`` into ``index_dir``.

    Incremental: only new or changed articles are embedded, into a new segment; removed
    and replaced ones are marked deleted; the result ranks exactly as a full rebuild.
    ``full=True`` rebuilds everything (the old index answers until the rebuild commits).
    ``ray`` runs chunking and embedding as a Ray Data pipeline (True: a local cluster, or
    a cluster address). ``merge=False`` skips the merges after the build.

    Example:
        >>> build_index("docs_corpus", "index")  # doctest: +SKIP
        IndexReport(index_dir='index', added=2, changed=0, removed=0, unchanged=0, ...)
    """
    s = settings or Settings.from_env()
    corpus_dir = Path(corpus_dir or s.corpus_dir)
    index_dir = Path(index_dir or s.index_dir)
    t0 = time.perf_counter()
    root, files = scan(corpus_dir)
    created = not index_dir.exists()
    index_dir.mkdir(parents=True, exist_ok=True)
    use_ray = ray if ray is not None else s.ray
    with build_lock(index_dir):
        clean(index_dir)
        if use_ray:
            from .ray_stage import ray_stage

            stage = ray_stage(s, None if use_ray in (True, "local") else str(use_ray))
        else:
            stage = local_stage(s)
        try:
            report = _Build(index_dir, s, full, stage).run(root, files, t0)
        except CorpusEmptyError:
            if created:  # nothing to index: leave no index folder where there was none
                _remove_empty_folder(index_dir)
            raise
        if merge and s.auto_merge:
            merges = merge_segments(index_dir, s, plan=plan_merges)
            if merges:
                m = read_manifest_quiet(index_dir) or {}
                report = _replace(report, merges=merges, segments=len(m.get("segments", [])),
                                  seconds=round(time.perf_counter() - t0, 3))
    return report


def _remove_empty_folder(index_dir: Path) -> None:
    """Remove an index folder holding nothing but the build lock."""
    from .segments import LOCK

    try:
        if {p.name for p in index_dir.iterdir()} <= {LOCK}:
            (index_dir / LOCK).unlink(missing_ok=True)
            index_dir.rmdir()
    except OSError:
        pass


def _replace(r: IndexReport, **kw) -> IndexReport:
    from dataclasses import replace

    return replace(r, **kw)


class _Build:
    def __init__(self, index_dir: Path, s: Settings, full: bool,
                 stage: Callable[[Iterable[list[Article]]], Iterator[Batch]]):
        self.index_dir, self.s, self.stage = index_dir, s, stage
        self.previous = read_manifest_quiet(index_dir)
        prev = self.previous
        # a damaged index (a file of a segment missing) is rebuilt, not extended
        ok = (prev is not None and _compatible(prev, s)
              and _intact(index_dir, prev.get("segments")))
        pending = (prev or {}).get("pending")
        if pending and not (_same_shape(pending, s)
                            and _intact(index_dir, pending.get("segments"))):
            pending = None
        if pending:  # resume a full rebuild
            self.pending, self.base, files = True, pending["segments"], pending.get("files", {})
        elif full or not ok:
            # a rebuild: in the background of a working index, else in place
            self.pending = bool(ok)
            self.base, files = [], {}
        else:
            self.pending = False
            assert prev is not None
            self.base, files = prev["segments"], prev.get("files", {})
        self.full = not self.base and not files
        self.known_files = files
        self.view = _View(index_dir, self.base)
        self.writer: SegmentWriter | None = None
        self.writer_ids: list[str] = []
        self.dim: int | None = ((prev or {}).get("dimension") if ok else None)
        self.embedded = 0
        self.commits = 0

    def run(self, root: Path, files: list[tuple[Path, str]], t0: float) -> IndexReport:
        diff = _Diff(self.view, self.known_files, root, files, self.s)
        try:
            from tqdm.auto import tqdm

            bar = tqdm(desc="Indexing", unit=" passages", disable=not self.s.show_progress,
                       leave=False, delay=2.0)  # a quick build shows no bar
            try:
                for batch in self.stage(diff.groups()):
                    if not batch.size and not batch.articles:
                        continue
                    self._write(batch, diff)
                    bar.update(batch.size)
            finally:  # also on an error, whose message must not follow the bar on its line
                bar.close()
            last = self.writer is not None and self.writer.n_articles > 0
            if last:  # committed below, with the removals: one commit, not two in a row
                self._commit_segment(diff, commit=False)
            for name, idx, n in diff.removals:
                self.view.delete(name, idx, n)
            if not counts(self.view.entries)["articles"]:
                from .errors import CorpusEmptyError

                detail = "; ".join(diff.skipped[:3])
                raise CorpusEmptyError(f"No readable articles in {root}"
                                       + (f" ({detail})" if detail else ""))
            if (last or self.view.dirty or self.commits or self.pending or self.previous is None
                    or self._files(diff) != self.known_files
                    or not _compatible(self.previous, self.s)):
                self._commit(diff, final=True)
        finally:
            if self.writer is not None:
                self.writer.abort()
            self.view.close()
        entries = self.view.entries
        c = counts(entries)
        return IndexReport(
            index_dir=str(self.index_dir), added=diff.added, changed=diff.changed,
            removed=diff.removed, unchanged=c["articles"] - diff.added - diff.changed,
            articles=c["articles"], passages=c["passages"], embedded_passages=self.embedded,
            seconds=round(time.perf_counter() - t0, 3), full=self.full,
            skipped=list(diff.skipped), segments=len(entries),
            already_indexed=diff.unchanged_seen)

    def _write(self, batch: Batch, diff: _Diff) -> None:
        if self.writer is None:
            self.dim = self.dim or int(batch.vectors.shape[1]) or None
            if self.dim is None:
                self.dim = get_embedder(self.s.model, device=self.s.device,
                                        backend=self.s.backend).dimension
            self.writer = SegmentWriter(self.index_dir, self.s, self.dim)
        if batch.size:
            self.writer.add(batch)
        else:  # articles without passages cannot happen (empty texts are skipped)
            return
        self.embedded += batch.size
        if self.writer.n_passages >= self.s.segment_passages:
            self._commit_segment(diff)

    def _commit_segment(self, diff: _Diff, *, commit: bool = True) -> None:
        assert self.writer is not None
        writer, self.writer = self.writer, None
        try:
            entry = writer.finish()
        except BaseException:
            writer.abort()
            raise
        for aid in writer.ids:  # the versions this segment replaces go with it
            old = diff.replaces.pop(aid, None)
            if old is not None:
                self.view.delete(*old)
        self.view.add(entry)
        if commit:
            self._commit(diff, final=False)

    def _files(self, diff: _Diff) -> dict:
        """The corpus file stamps once the build is complete."""
        if self.full or self.pending:
            return dict(diff.stamps)
        kept = {k: v for k, v in self.known_files.items() if k in diff.now}
        return {**kept, **diff.stamps}

    def _commit(self, diff: _Diff, *, final: bool) -> None:
        s = self.s
        entries = self.view.flush()
        files = self._files(diff)
        if not final:  # files are recorded when all their articles are in
            files = dict(self.known_files) if not (self.full or self.pending) else {}
        shape = {
            "model": s.model,
            "backend": resolve_backend(s.backend, s.device),
            "dimension": self.dim or (self.previous or {}).get("dimension"),
            "chunking": s.chunking(),
            "index_settings": index_settings(s),
            "bm25": {"k1": s.bm25_k1, "b": s.bm25_b, "method": BM25_METHOD,
                     "stemmer": "english", "accents": ACCENTS, "stopwords": STOPWORDS},
        }
        if self.pending and not final:
            manifest = {**(self.previous or {}),
                        "pending": {**shape, "segments": entries, "files": {}}}
        else:
            manifest = {
                "format_version": FORMAT_VERSION,
                "package_version": __version__,
                "generation": new_name("gen"),
                "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
                **shape,
                "corpus": str(diff.root),
                "counts": counts(entries),
                "segments": entries,
                "files": files,
            }
        commit(self.index_dir, manifest, self.previous)
        self.previous = manifest
        self.commits += 1


def _intact(index_dir: Path, entries: list[dict] | None) -> bool:
    """Every file the segments need is there and not empty (a cheap check: loading
    checks their contents)."""
    if not isinstance(entries, list):
        return False
    for e in entries:
        folder = index_dir / e["name"]
        if any(not (folder / f).is_file() or not (folder / f).stat().st_size
               for f in SEGMENT_FILES):
            return False
        if e.get("deleted") and not (index_dir / e["deleted"]).is_file():
            return False
    return True


def _same_shape(m: dict, s: Settings) -> bool:
    return (m.get("model") == s.model and m.get("chunking") == s.chunking()
            and m.get("index_settings") == index_settings(s)
            and (m.get("bm25") or {}).get("method") == BM25_METHOD)


def _compatible(m: dict, s: Settings) -> bool:
    try:
        check_compatible(m, s, Path("."))
    except Exception:  # noqa: BLE001 - any mismatch means "rebuild"
        return False
    return _same_shape(m, s)


# --------------------------------------------------------------------------- merging

def plan_merges(entries: list[dict], s: Settings) -> list[list[str]]:
    """Size-tiered merge policy: segments are grouped in tiers of live passages
    (``merge_floor`` x ``merge_factor``^tier); a tier holding ``merge_factor`` segments
    merges them into one, unless that would exceed ``merge_max_passages``. A segment with
    more than half its passages deleted is rewritten on its own.

    Example:
        >>> e = [{"name": f"s{i}", "passages": 50, "articles": 5} for i in range(10)]
        >>> plan_merges(e, Settings())
        [['s0', 's1', 's2', 's3', 's4', 's5', 's6', 's7', 's8', 's9']]
    """
    def live(e: dict) -> int:
        return e["passages"] - e.get("deleted_passages", 0)

    tiers: dict[int, list[dict]] = {}
    plans: list[list[str]] = []
    for e in entries:
        if e.get("deleted_passages", 0) * 2 > e["passages"]:
            plans.append([e["name"]])
            continue
        # in integers: math.log(1000, 10) is 2.9999999999999996
        tier, bound = 0, s.merge_floor * s.merge_factor
        while live(e) >= bound:
            tier, bound = tier + 1, bound * s.merge_factor
        tiers.setdefault(tier, []).append(e)
    for tier in sorted(tiers):
        group = sorted(tiers[tier], key=live)
        while len(group) >= s.merge_factor:
            take, group = group[:s.merge_factor], group[s.merge_factor:]
            if sum(live(e) for e in take) <= s.merge_max_passages:
                plans.append([e["name"] for e in take])
    return plans


def optimize_plan(entries: list[dict], s: Settings) -> list[list[str]]:
    """Merge every segment into one (and purge all deletions)."""
    if len(entries) > 1 or any(e.get("deleted_articles") for e in entries):
        return [[e["name"] for e in entries]]
    return []


def merge_segments(index_dir: Path, s: Settings, *,
                   plan: Callable[[list[dict], Settings], list[list[str]]] = plan_merges
                   ) -> int:
    """Run ``plan`` over the committed segments until it proposes nothing; each merge is
    committed by swapping the manifest. Returns the number of merges. The caller holds
    the build lock."""
    done = 0
    for _ in range(64):
        manifest = read_manifest_quiet(index_dir)
        if not manifest or manifest.get("pending") or manifest.get(
                "format_version") != FORMAT_VERSION:
            return done
        groups = plan(manifest["segments"], s)
        if not groups:
            return done
        for names in groups:
            manifest = _merge(index_dir, s, read_manifest_quiet(index_dir) or {}, names)
            done += 1
        if plan is optimize_plan:
            return done
    return done


def optimize(index_dir: str | Path | None = None, *,
             settings: Settings | None = None) -> int:
    """Merge all segments of an index into one, purging deletions (``index --optimize``).
    Readers keep their loaded index until they see the new manifest."""
    s = settings or Settings.from_env()
    index_dir = Path(index_dir or s.index_dir)
    from .searcher import read_manifest

    check_compatible(read_manifest(index_dir), s, index_dir)
    with build_lock(index_dir):
        clean(index_dir)
        n = merge_segments(index_dir, s, plan=optimize_plan)
    return n


def _merge(index_dir: Path, s: Settings, manifest: dict, names: list[str]) -> dict:
    entries = manifest["segments"]
    chosen = [e for e in entries if e["name"] in names]
    writer = SegmentWriter(index_dir, s, int(manifest["dimension"]))
    try:
        for entry in chosen:
            seg = Segment(index_dir, entry)
            try:
                for batch in _segment_batches(seg, s):
                    writer.add(batch)
            finally:
                seg.close()
        merged = writer.finish() if writer.n_articles else None
    except BaseException:
        writer.abort()
        raise
    out: list[dict] = []
    for e in entries:
        if e["name"] not in names:
            out.append(e)
        elif merged is not None and e["name"] == chosen[0]["name"]:
            out.append(merged)
    new = {**manifest, "segments": out, "counts": counts(out), "generation": new_name("gen"),
           "merged_at": datetime.now(UTC).isoformat(timespec="seconds")}
    commit(index_dir, new, manifest)
    return new


def _segment_batches(seg: Segment, s: Settings, per: int = 512) -> Iterator[Batch]:
    """The live articles of a segment as batches, vectors copied, not re-embedded."""
    n_art = seg.entry["articles"]
    for a in range(0, n_art, per):
        rows = seg.query("SELECT idx, id, title, source, date, url, path, sha256, text, "
                         "first_row, n_passages, pages FROM articles WHERE idx >= ? AND "
                         "idx < ? ORDER BY idx", (a, a + per))
        rows = [r for r in rows if not seg.deleted_articles[r[0]]]
        if not rows:
            continue
        arts = [Article(id=r[1], title=r[2], text=r[8], path=r[6], source=r[3], date=r[4],
                        url=r[5], sha256=r[7], pages=tuple(json.loads(r[11] or "[]")))
                for r in rows]
        firsts = np.array([r[9] for r in rows], dtype=np.int64)
        ns = np.array([r[10] for r in rows], dtype=np.int64)
        prow = np.concatenate([np.arange(f, f + n) for f, n in zip(firsts, ns, strict=True)])
        pid = dict(seg.query(
            f"SELECT row, passage_id FROM passages WHERE row IN ({','.join('?' * len(prow))})",
            prow.tolist()))
        spans = np.asarray(seg.spans[prow])
        ptr = np.asarray(seg.sentence_ptr)
        sent_counts = ptr[prow + 1] - ptr[prow]
        sent_rows = np.concatenate([np.arange(ptr[r], ptr[r + 1]) for r in prow.tolist()])
        doc_of = np.repeat(np.arange(len(arts)), ns)
        contexts = [passage_context(arts[d].title, arts[d].text[st:en], s.title_context)
                    for d, st, en in zip(doc_of.tolist(), spans[:, 1].tolist(),
                                         spans[:, 2].tolist(), strict=True)]
        yield Batch(articles=arts, n_passages=ns, passage_ids=[pid[r] for r in prow.tolist()],
                    starts=spans[:, 1].copy(), ends=spans[:, 2].copy(),
                    sent_counts=sent_counts, sentences=np.asarray(seg.sentences[sent_rows]),
                    vectors=np.asarray(seg.vectors[prow]), contexts=contexts)


# --------------------------------------------------------------------------- staleness

def staleness(index: Index, corpus_dir: str | Path | None = None) -> Staleness:
    """Compare the corpus with the index: file stamps first; files that differ are read
    and their articles compared by id and hash (nothing is embedded or written)."""
    from .errors import ChallengeQAError

    root = Path(corpus_dir or index.manifest.get("corpus") or index.settings.corpus_dir)
    known = index.manifest.get("files", {})
    try:
        root_, files = scan(root)
    except ChallengeQAError:
        return Staleness(removed=int(index.manifest["counts"]["articles"]))
    if {rel: file_stamp(f) for f, rel in files} == known:
        return Staleness()
    view = _View(index.index_dir, index.manifest["segments"])
    try:
        diff = _Diff(view, known, root_, files, index.settings)
        for _ in diff.groups():
            pass
    finally:
        view.close()
    return Staleness(added=diff.added, changed=diff.changed, removed=diff.removed)
