"""Shards: the index's segments in groups that are served apart (``serve --ray``).

A shard is a set of whole segments, so it can be loaded alone (memory-mapped, like any
segment). The plan is part of every commit (``manifest.commit``): the live segments are
put in order of publication date (a segment's first dated article; undated segments
last) and cut into ``count`` runs holding about the same number of live passages. Each
shard records its segments (in manifest order, so rows keep their index-wide numbers) and
the first and last publication day of its articles, which lets a question filtered by
date skip the shards that cannot match. News archives are asked about periods, so
grouping by date keeps a filtered question on few shards, and grouping by size keeps the
shards' memory even.

The manifest's entry::

    "shards": {"count": 3, "groups": [
        {"segments": ["seg-..."], "passages": 41230, "first": "2021-01-04",
         "last": "2022-06-30"}, ...]}

``first``/``last`` are None for a shard without dated articles; ``count`` survives
commits (a build keeps the index's count unless ``Settings.shards`` names another).
A shard with no segments (fewer segments than shards) answers with nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..text.dates import EPOCH
from .segments import NO_DATE


def date_range(published: Sequence[int] | np.ndarray) -> list[int] | None:
    """The first and last publication day (days since 1970-01-01) among ``published``,
    leaving out articles without a date; None when none has one.

    Example:
        >>> date_range([NO_DATE, 19400, 19350]), date_range([NO_DATE])
        ([19350, 19400], None)
    """
    days = np.asarray(published, dtype=np.int64)
    days = days[days != NO_DATE]
    return [int(days.min()), int(days.max())] if len(days) else None


def shard_count(manifest: dict, previous: dict | None = None) -> int:
    """The shard count a manifest asks for: its own, else the one it replaces, else 1."""
    for m in (manifest, previous or {}):
        count = (m.get("shards") or {}).get("count")
        if isinstance(count, int) and count >= 1:
            return count
    return 1


def _segment_dates(index_dir: Path, entry: dict) -> list[int] | None:
    if "dates" in entry:
        return entry["dates"]
    # segments written before the range was recorded: read their (small) date array
    return date_range(np.load(index_dir / entry["name"] / "published.npy"))


def _iso(day: int | None) -> str | None:
    return None if day is None else dt.date.fromordinal(day + EPOCH).isoformat()


def plan(index_dir: Path, entries: list[dict], count: int) -> dict:
    """The shards of live segments ``entries``: ``count`` runs in date order holding about
    equal numbers of live passages (see the module's docstring).

    A run is cut before a segment when the run would otherwise pass its share by more
    than half that segment, and whenever the segments left are only enough to give each
    remaining shard one.
    """
    live = [e["passages"] - e.get("deleted_passages", 0) for e in entries]
    dates = [_segment_dates(index_dir, e) for e in entries]
    order = sorted(range(len(entries)),
                   key=lambda i: (dates[i] is None, dates[i] or [0, 0], i))
    total = sum(live) or 1
    members: list[list[int]] = [[] for _ in range(count)]
    g, acc = 0, 0
    for pos, i in enumerate(order):
        left, groups_left = len(order) - pos, count - g - 1
        if members[g] and groups_left > 0 and (
                acc + live[i] / 2 > total * (g + 1) / count or left <= groups_left):
            g += 1
        members[g].append(i)
        acc += live[i]
    groups = []
    for m in members:
        m.sort()  # manifest order: rows keep their index-wide numbers
        spans = [d for d in (dates[i] for i in m) if d is not None]
        groups.append({
            "segments": [entries[i]["name"] for i in m],
            "passages": int(sum(live[i] for i in m)),
            "first": _iso(min(d[0] for d in spans)) if spans else None,
            "last": _iso(max(d[1] for d in spans)) if spans else None,
        })
    return {"count": count, "groups": groups}


def may_match(group: dict, since: dt.date | None, until: dt.date | None) -> bool:
    """Whether a shard can hold an article published between ``since`` and ``until``
    (either None: open): False only when its dates lie wholly outside, or it has no
    dated article and a bound is given.

    Example:
        >>> g = {"first": "2023-03-01", "last": "2023-04-30"}
        >>> may_match(g, dt.date(2023, 5, 1), None), may_match(g, None, dt.date(2023, 3, 1))
        (False, True)
    """
    if since is None and until is None:
        return True
    if group.get("first") is None:
        return False
    first = dt.date.fromisoformat(group["first"])
    last = dt.date.fromisoformat(group["last"])
    return not ((since is not None and last < since) or (until is not None and first > until))


def groups_of(index_dir: Path, manifest: dict) -> list[dict]:
    """The manifest's shards (planned now, as one shard, for a manifest written before
    shards were recorded)."""
    recorded = manifest.get("shards") or {}
    if isinstance(recorded.get("groups"), list):
        return recorded["groups"]
    return plan(index_dir, manifest.get("segments", []), shard_count(manifest))["groups"]
