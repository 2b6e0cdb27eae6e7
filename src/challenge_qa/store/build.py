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

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from ..config import VERSION, Settings
from ..corpus.load import Article, scan
from ..encoders.embedding import Embedder, make_embedder, resolve_backend
from ..errors import CorpusEmptyError
from ..text.lexical import ACCENTS, BM25_METHOD, STOPWORDS
from . import manifest as mf
from .changes import CommittedArticles, CorpusChanges
from .manifest import FORMAT_VERSION, build_lock, check_compatible, clean, read_manifest_quiet
from .merging import merge_segments, plan_merges
from .prepare import prepare
from .segments import SEGMENT_FILES, counts
from .shards import shard_count
from .writer import Batch, SegmentWriter, new_name


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


def index_settings(s: Settings) -> dict:
    """Settings that shape the index but not the passages or vectors; changing one
    rebuilds. (``ann_min_passages`` and the HNSW parameters are not among them: each
    segment records its own dense index, and new segments and merges use the new
    values.)"""
    return {"bm25_k1": s.bm25_k1, "bm25_b": s.bm25_b, "bm25_accents": ACCENTS,
            "dense_index": s.dense_index}


def local_stage(s: Settings, embedder: Embedder
                ) -> Callable[[Iterable[list[Article]]], Iterator[Batch]]:
    """Chunk and embed in this process with ``embedder``, one group at a time."""

    def run(groups: Iterable[list[Article]]) -> Iterator[Batch]:
        for g in groups:
            yield prepare(g, s, lambda texts: embedder.encode_documents(texts))

    return run


# --------------------------------------------------------------------------- building

def build_index(corpus_dir: str | Path | None = None, index_dir: str | Path | None = None, *,
                full: bool = False, settings: Settings | None = None,
                ray: str | bool | None = None, merge: bool = True,
                progress: Callable[[int, int], None] | None = None,
                cancel: threading.Event | None = None,
                embedder: Embedder | None = None) -> IndexReport:
    """Index the articles under ``corpus_dir`` into ``index_dir``.

    Incremental: only new or changed articles are embedded, into a new segment; removed
    and replaced ones are marked deleted; the result ranks exactly as a full rebuild.
    ``full=True`` rebuilds everything (the old index answers until the rebuild commits).
    ``ray`` runs chunking and embedding as a Ray Data pipeline (True: a local cluster, or
    a cluster address). ``merge=False`` skips the merges after the build. ``progress`` is
    called with (articles, passages) embedded so far after each batch; once ``cancel`` is
    set the build stops before its next batch with ``BuildCancelledError`` (segments it
    committed stay: a later build goes on from them). ``embedder`` encodes the passages
    (an engine passes its own; by default one is made from the settings, and the index
    records its name as the model).

    Example:
        >>> build_index("docs_corpus", "index")  # doctest: +SKIP
        IndexReport(index_dir='index', added=2, changed=0, removed=0, unchanged=0, ...)
    """
    s = settings or Settings.from_env()
    if embedder is not None:
        s = s.replace(model=embedder.name)
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
            from .ray import ray_stage

            stage = ray_stage(s, None if use_ray in (True, "local") else str(use_ray))
        else:
            stage = local_stage(s, embedder or make_embedder(
                s.model, device=s.device, batch_size=s.batch_size, backend=s.backend))
        try:
            report = _Build(index_dir, s, full, stage, progress, cancel).run(root, files, t0)
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
    from .manifest import LOCK

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
                 stage: Callable[[Iterable[list[Article]]], Iterator[Batch]],
                 progress: Callable[[int, int], None] | None = None,
                 cancel: threading.Event | None = None):
        self.index_dir, self.s, self.stage = index_dir, s, stage
        self.progress, self.cancel = progress, cancel
        self.articles_done = 0
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
        self.view = CommittedArticles(index_dir, self.base)
        self.writer: SegmentWriter | None = None
        self.writer_ids: list[str] = []
        self.dim: int | None = ((prev or {}).get("dimension") if ok else None)
        self.embedded = 0
        self.commits = 0

    def run(self, root: Path, files: list[tuple[Path, str]], t0: float) -> IndexReport:
        diff = CorpusChanges(self.view, self.known_files, root, files, self.s)
        try:
            from tqdm.auto import tqdm

            bar = tqdm(desc="Indexing", unit=" passages", disable=not self.s.show_progress,
                       leave=False, delay=2.0)  # a quick build shows no bar
            try:
                for batch in self.stage(diff.groups()):
                    if self.cancel is not None and self.cancel.is_set():
                        from ..errors import BuildCancelledError

                        raise BuildCancelledError(
                            f"The build was cancelled after {self.articles_done} articles "
                            f"({self.embedded} passages).")
                    if not batch.size and not batch.articles:
                        continue
                    self._write(batch, diff)
                    bar.update(batch.size)
                    self.articles_done += len(batch.articles)
                    if self.progress is not None:
                        self.progress(self.articles_done, self.embedded)
            finally:  # also on an error, whose message must not follow the bar on its line
                bar.close()
            last = self.writer is not None and self.writer.n_articles > 0
            if last:  # committed below, with the removals: one commit, not two in a row
                self._commit_segment(diff, commit=False)
            for name, idx, n in diff.removals:
                self.view.delete(name, idx, n)
            if not counts(self.view.entries)["articles"]:
                from ..errors import CorpusEmptyError

                detail = "; ".join(diff.skipped[:3])
                raise CorpusEmptyError(f"No readable articles in {root}"
                                       + (f" ({detail})" if detail else ""))
            if (last or self.view.dirty or self.commits or self.pending or self.previous is None
                    or self._files(diff) != self.known_files
                    or not _compatible(self.previous, self.s)
                    or (self.s.shards and shard_count(self.previous) != self.s.shards)):
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

    def _write(self, batch: Batch, diff: CorpusChanges) -> None:
        if self.writer is None:
            self.dim = self.dim or int(batch.vectors.shape[1]) or None
            if self.dim is None:
                self.dim = make_embedder(self.s.model, device=self.s.device,
                                         backend=self.s.backend).dimension
            self.writer = SegmentWriter(self.index_dir, self.s, self.dim)
        if batch.size:
            self.writer.add(batch)
        else:  # articles without passages cannot happen (empty texts are skipped)
            return
        self.embedded += batch.size
        if self.writer.n_passages >= self.s.segment_passages:
            self._commit_segment(diff)

    def _commit_segment(self, diff: CorpusChanges, *, commit: bool = True) -> None:
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

    def _files(self, diff: CorpusChanges) -> dict:
        """The corpus file stamps once the build is complete."""
        if self.full or self.pending:
            return dict(diff.stamps)
        kept = {k: v for k, v in self.known_files.items() if k in diff.now}
        return {**kept, **diff.stamps}

    def _commit(self, diff: CorpusChanges, *, final: bool) -> None:
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
                "package_version": VERSION,
                "generation": new_name("gen"),
                "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
                **shape,
                "corpus": str(diff.root),
                "counts": counts(entries),
                "segments": entries,
                "files": files,
            }
        if s.shards:
            manifest["shards"] = {"count": s.shards}
        mf.commit(self.index_dir, manifest, self.previous)
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


