"""Merging segments: the size-tiered policy run after each build, and ``--optimize``.

A merge copies the live articles of some segments into one new segment (their vectors
are copied, nothing is embedded again; passages are re-tokenized for the postings and the
merged segment gets its own dense index), then commits a manifest naming it instead of
them. Deletions are purged. Readers holding the previous manifest keep answering from
its files until they reload.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from ..config import Settings
from ..corpus.load import Article
from ..text.chunking import passage_context
from . import manifest as mf
from .manifest import (
    FORMAT_VERSION,
    build_lock,
    check_compatible,
    clean,
    read_manifest,
    read_manifest_quiet,
)
from .segments import Segment, counts
from .shards import groups_of, shard_count
from .writer import Batch, SegmentWriter, new_name


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
    """Merge every segment into one (and purge all deletions); of a sharded index,
    every segment of a shard (merges stay within shards: ``merge_segments``)."""
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
        groups = [names for shard in groups_of(index_dir, manifest)
                  for names in plan([e for e in manifest["segments"]
                                     if e["name"] in set(shard["segments"])], s)]
        if not groups:
            return done
        for names in groups:
            manifest = _merge(index_dir, s, read_manifest_quiet(index_dir) or {}, names)
            done += 1
        if plan is optimize_plan:
            return done
    return done


def reshard(index_dir: str | Path | None = None, count: int = 1, *,
            settings: Settings | None = None) -> dict:
    """Group the index's segments into ``count`` shards (``index --shards N``): a new
    commit naming the plan; no segment is rewritten. Returns the manifest's ``shards``."""
    s = settings or Settings.from_env()
    index_dir = Path(index_dir or s.index_dir)
    check_compatible(read_manifest(index_dir), s, index_dir)
    with build_lock(index_dir):
        manifest = read_manifest(index_dir)
        if shard_count(manifest) == count and "groups" in (manifest.get("shards") or {}):
            return manifest["shards"]
        new = {**manifest, "shards": {"count": count}, "generation": new_name("gen")}
        mf.commit(index_dir, new, manifest)
        return new["shards"]


def optimize(index_dir: str | Path | None = None, *,
             settings: Settings | None = None) -> int:
    """Merge all segments of an index into one, purging deletions (``index --optimize``).
    Readers keep their loaded index until they see the new manifest."""
    s = settings or Settings.from_env()
    index_dir = Path(index_dir or s.index_dir)

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
    mf.commit(index_dir, new, manifest)
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
        prow = ranges(firsts, ns)
        pid = dict(seg.query(
            f"SELECT row, passage_id FROM passages WHERE row IN ({','.join('?' * len(prow))})",
            prow.tolist()))
        spans = np.asarray(seg.spans[prow])
        ptr = np.asarray(seg.sentence_ptr)
        sent_counts = ptr[prow + 1] - ptr[prow]
        sent_rows = ranges(ptr[prow], sent_counts)
        doc_of = np.repeat(np.arange(len(arts)), ns)
        contexts = [passage_context(arts[d].title, arts[d].text[st:en], s.title_context)
                    for d, st, en in zip(doc_of.tolist(), spans[:, 1].tolist(),
                                         spans[:, 2].tolist(), strict=True)]
        yield Batch(articles=arts, n_passages=ns, passage_ids=[pid[r] for r in prow.tolist()],
                    starts=spans[:, 1].copy(), ends=spans[:, 2].copy(),
                    sent_counts=sent_counts, sentences=np.asarray(seg.sentences[sent_rows]),
                    vectors=np.asarray(seg.vectors[prow]), contexts=contexts)


def ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The concatenated ranges ``starts[i] .. starts[i] + lengths[i]``, without a loop.

    Example:
        >>> ranges(np.array([5, 0, 9]), np.array([2, 0, 3])).tolist()
        [5, 6, 9, 10, 11]
    """
    starts = np.asarray(starts, dtype=np.int64)
    lengths = np.asarray(lengths, dtype=np.int64)
    total = int(lengths.sum())
    begin = np.cumsum(lengths) - lengths  # where each range starts in the output
    return np.arange(total, dtype=np.int64) + np.repeat(starts - begin, lengths)
