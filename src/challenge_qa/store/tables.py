"""The tables behind an index's rows: passages, sentences, dates, pages and articles.

``PassageTables`` is the part of ``search.index.Index`` that reads the segments' arrays and
SQLite tables for given rows or articles; rows and articles are numbered across segments.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from ..errors import IndexCorruptError
from .segments import Segment


class PassageTables:
    """Look-ups by global row or article number over ``segments`` (mixed into ``Index``,
    which sets the attributes below)."""

    index_dir: Path
    segments: list[Segment]
    #: First global row, and first article number, of each segment (and the total).
    offsets: np.ndarray
    doc_offsets: np.ndarray
    _lock: threading.Lock
    _doc_ids: list[str] | None

    def _split(self, rows) -> list[tuple[int, np.ndarray, np.ndarray]]:
        """Group global rows by segment: (segment number, positions in ``rows``, local
        rows)."""
        rows = np.asarray(rows, dtype=np.int64)
        seg_of = np.searchsorted(self.offsets, rows, side="right") - 1
        out = []
        for i in np.unique(seg_of).tolist():
            pos = np.flatnonzero(seg_of == i)
            out.append((i, pos, rows[pos] - self.offsets[i]))
        return out

    def _query(self, seg: Segment, sql: str, params=()) -> list[tuple]:
        """Rows of a query; a damaged database raises IndexCorruptError, not sqlite3's."""
        try:
            with self._lock:
                return seg.query(sql, params)
        except sqlite3.DatabaseError as e:
            raise IndexCorruptError(f"The index in {self.index_dir} is damaged or incomplete "
                                    f"({e.__class__.__name__}: {str(e)[:200]})") from e

    def doc_ids(self) -> list[str]:
        """Article ids by article number (the first column of ``spans``), deleted
        articles included."""
        if self._doc_ids is None:
            ids: list[str] = []
            for seg in self.segments:
                ids.extend(r[0] for r in self._query(seg, "SELECT id FROM articles "
                                                          "ORDER BY idx"))
            self._doc_ids = ids
        return self._doc_ids

    def rows(self, rows: list[int]) -> list[dict]:
        """Passage and article fields for the given rows, in that order; ``text`` is the
        passage's (the article text is not read)."""
        keys = ("row", "passage_id", "start", "end", "doc_id", "title", "source", "date",
                "url", "path", "text")
        out: list[dict | None] = [None] * len(rows)
        for i, pos, local in self._split(rows):
            marks = ",".join("?" * len(local))
            got = {r[0]: r for r in self._query(
                self.segments[i],
                f'SELECT p.row, p.passage_id, p.start, p."end", a.id, a.title, a.source, '
                f'a.date, a.url, a.path, substr(a.text, p.start + 1, p."end" - p.start), '
                f"a.pages, p.doc_idx FROM passages p JOIN articles a ON a.idx = p.doc_idx "
                f"WHERE p.row IN ({marks})", local.tolist())}
            for p, r in zip(pos.tolist(), local.tolist(), strict=True):
                rec = dict(zip(keys, got[r][:11], strict=True))
                rec["row"] = int(rows[p])
                rec["pages"] = tuple(json.loads(got[r][11])) if got[r][11] else ()
                rec["doc"] = int(self.doc_offsets[i]) + int(got[r][12])
                out[p] = rec
        return [r for r in out if r is not None]

    def sentence_spans(self, rows: list[int]) -> list[np.ndarray]:
        """Article spans ``(k, 2)`` of the sentences of each row."""
        out: list[np.ndarray] = [np.zeros((0, 2), np.int64)] * len(rows)
        for i, pos, local in self._split(rows):
            seg = self.segments[i]
            ptr = seg.sentence_ptr
            for p, r in zip(pos.tolist(), local.tolist(), strict=True):
                out[p] = np.asarray(seg.sentences[ptr[r]:ptr[r + 1]])
        return out

    def _docs_by_segment(self, docs: Iterable[int]) -> list[tuple[int, list[int]]]:
        """Article numbers grouped by segment: (segment number, numbers in it)."""
        docs = sorted(set(int(d) for d in docs))
        if not docs:
            return []
        seg_of = (np.searchsorted(self.doc_offsets, docs, side="right") - 1).tolist()
        return [(i, [d - int(self.doc_offsets[i]) for d, s in zip(docs, seg_of, strict=True)
                     if s == i]) for i in sorted(set(seg_of))]

    def date_mentions(self, docs: Iterable[int]) -> dict[int, list[dict]]:
        """The resolved date mentions of articles (by article number): per article, dicts
        with the mention's ``start``, ``end``, ``text``, ``value``, ``precision``,
        ``relative``, ``qualifier`` and its sentence's ``sent_start``, ``sent_end``."""
        keys = ("doc", "start", "end", "sent_start", "sent_end", "text", "value",
                "precision", "relative", "qualifier")
        docs = sorted(set(int(d) for d in docs))
        out: dict[int, list[dict]] = {d: [] for d in docs}
        for i, local in self._docs_by_segment(docs):
            for r in self._query(self.segments[i], "SELECT * FROM dates WHERE doc_idx IN "
                                 f"({','.join('?' * len(local))}) ORDER BY doc_idx, start",
                                 local):
                rec = dict(zip(keys, r, strict=True))
                rec["doc"] += int(self.doc_offsets[i])
                rec["relative"] = bool(rec["relative"])
                out[rec["doc"]].append(rec)
        return out

    def passages_at(self, items: list[tuple[int, int, int]]) -> list[dict]:
        """For ``(article number, start, end)`` spans (a sentence), the passage holding
        each (the first one whose span covers it) with its article's fields and the span's
        text: dicts like ``rows`` gives, plus ``span_text``."""
        out: list[dict] = []
        keys = ("row", "passage_id", "start", "end", "doc_id", "title", "source", "date",
                "url", "path", "text", "pages", "span_text")
        for doc, a, b in items:
            i = int(np.searchsorted(self.doc_offsets, doc, side="right") - 1)
            local = doc - int(self.doc_offsets[i])
            r = self._query(
                self.segments[i],
                'SELECT p.row, p.passage_id, p.start, p."end", a.id, a.title, a.source, '
                'a.date, a.url, a.path, substr(a.text, p.start + 1, p."end" - p.start), '
                "a.pages, substr(a.text, ? + 1, ? - ?) FROM passages p JOIN articles a ON "
                'a.idx = p.doc_idx WHERE p.doc_idx = ? AND p.start <= ? AND p."end" >= ? '
                "ORDER BY p.row LIMIT 1", (a, b, a, local, a, b))
            if not r:
                raise IndexCorruptError(f"The index in {self.index_dir} has a date mention "
                                        "outside every passage of its article.")
            rec = dict(zip(keys, r[0], strict=True))
            rec["row"] = int(self.offsets[i]) + int(rec["row"])
            rec["pages"] = tuple(json.loads(rec["pages"])) if rec["pages"] else ()
            out.append(rec)
        return out

    def pages(self, docs: Iterable[int]) -> dict[int, tuple[int, ...]]:
        """Where each page starts, for the paged (PDF) articles among ``docs`` (article
        numbers); unpaged articles are left out."""
        out: dict[int, tuple[int, ...]] = {}
        for i, local in self._docs_by_segment(docs):
            for idx, pages in self._query(
                    self.segments[i], "SELECT idx, pages FROM articles WHERE pages IS NOT "
                    f"NULL AND idx IN ({','.join('?' * len(local))})", local):
                out[int(self.doc_offsets[i]) + idx] = tuple(json.loads(pages))
        return out

    def source_names(self) -> list[str]:
        """Every publisher of a live article, sorted."""
        names: set[str] = set()
        for seg in self.segments:
            ids = np.unique(np.asarray(seg.source_ids)[~seg.deleted_articles])
            names.update(seg.sources[j] for j in ids.tolist() if j >= 0)
        return sorted(names, key=str.lower)

    def latest(self, n: int = 20) -> list[dict]:
        """The ``n`` newest live articles by their ``date``, newest first: dicts of
        ``doc`` (article number), ``doc_id``, ``title``, ``source``, ``date``, ``url`` and
        ``path``. Of one day, the article indexed last comes first; undated articles come
        after every dated one."""
        if n <= 0:
            return []
        found: list[tuple[int, int]] = []  # (days since 1970 or NO_DATE, article number)
        for i, seg in enumerate(self.segments):
            live = np.flatnonzero(~np.asarray(seg.deleted_articles))
            days = np.asarray(seg.published, dtype=np.int64)[live]
            best = np.lexsort((live, days))[::-1][:n]  # by day, then by number, descending
            base = int(self.doc_offsets[i])
            found += [(int(days[j]), base + int(live[j])) for j in best.tolist()]
        found.sort(reverse=True)
        docs = [d for _, d in found[:n]]
        keys = ("doc_id", "title", "source", "date", "url", "path")
        rows: dict[int, dict] = {}
        for i, local in self._docs_by_segment(docs):
            for r in self._query(self.segments[i], "SELECT idx, id, title, source, date, url, "
                                 f"path FROM articles WHERE idx IN ({','.join('?' * len(local))})",
                                 local):
                doc = int(self.doc_offsets[i]) + int(r[0])
                rows[doc] = {"doc": doc, **dict(zip(keys, r[1:], strict=True))}
        return [rows[d] for d in docs if d in rows]

    def article(self, doc_id: str) -> dict | None:
        """An article's fields and text; None when the index has no live article of that
        id."""
        keys = ("doc_id", "title", "source", "date", "url", "path", "text")
        for seg in reversed(self.segments):  # a newer segment holds a newer version
            found = self._query(seg, "SELECT idx, id, title, source, date, url, path, text "
                                     "FROM articles WHERE id = ?", (doc_id,))
            if found and not seg.deleted_articles[found[0][0]]:
                return dict(zip(keys, found[0][1:], strict=True))
        return None
