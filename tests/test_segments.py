"""The segmented index: incremental updates rank exactly as a full rebuild, BM25 over
segments with deletions is bm25s, unchanged files are not read, merges purge deletions,
readers keep their commit, and a full rebuild runs in the background of a live index.

Real model and FAISS on small SciFact subsets; ``changes.READ_GROUP`` is lowered so that
a build commits several segments (a segment is committed at the end of a read group once
it holds ``segment_passages`` passages).
"""

from __future__ import annotations

import csv
import json
import os
import shutil
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
from helpers import SMALL, invoke, live_ids, write_files

import challenge_qa.store.manifest as mf
from challenge_qa import build_index, load_index
from challenge_qa.corpus.load import load_corpus, read_file
from challenge_qa.corpus.passages import split_passages
from challenge_qa.search.index import Index
from challenge_qa.search.retrieve import rank
from challenge_qa.store import changes
from challenge_qa.store.manifest import MANIFEST, build_lock, referenced
from challenge_qa.store.merging import merge_segments, optimize, optimize_plan, plan_merges
from challenge_qa.text.chunking import passage_context
from challenge_qa.text.lexical import build_bm25, question_terms

slow = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
SCIFACT = ROOT.parent / "shared" / "benchmarks" / "scifact"
needs_scifact = pytest.mark.skipif(not (SCIFACT / "corpus.jsonl").is_file(),
                                   reason="BEIR SciFact (../shared/benchmarks) is not present")

#: Small passages, small segments and an eager merge policy: a few hundred articles make
#: many segments, and merges of three segments of a tier.
SEG = SMALL.replace(chunk_chars=600, overlap_chars=100, segment_passages=80,
                    merge_floor=100, merge_factor=3)
#: Settings of the ``segmented`` fixture: a segment for every read group.
SEGS = SEG.replace(segment_passages=40)
#: The CLI's environment for ``SEG``'s chunking.
SEG_ENV = {"CHALLENGE_QA_CHUNK_CHARS": str(SEG.chunk_chars),
           "CHALLENGE_QA_OVERLAP_CHARS": str(SEG.overlap_chars),
           "CHALLENGE_QA_BATCH_SIZE": str(SEG.batch_size)}


# --------------------------------------------------------------------------- data

@lru_cache(maxsize=1)
def scifact() -> tuple[list[dict], list[str], frozenset[str]]:
    """SciFact's documents (id, title, text), its 300 test queries, and the documents
    judged relevant to them."""
    with open(SCIFACT / "corpus.jsonl", encoding="utf-8") as f:
        docs = [{"_id": d["_id"], "title": d["title"], "text": d["text"]}
                for d in map(json.loads, f)]
    with open(SCIFACT / "queries.jsonl", encoding="utf-8") as f:
        queries = {q["_id"]: q["text"] for q in map(json.loads, f)}
    with open(SCIFACT / "qrels" / "test.tsv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    test = sorted({r["query-id"] for r in rows}, key=int)
    return docs, [queries[q] for q in test], frozenset(r["corpus-id"] for r in rows)


def pool(n: int) -> list[dict]:
    """``n`` SciFact documents: every one judged for a test query, then the first others
    (in corpus order)."""
    docs, _, relevant = scifact()
    extra = n - len(relevant)
    out = []
    for d in docs:
        if d["_id"] in relevant:
            out.append(d)
        elif extra > 0:
            out.append(d)
            extra -= 1
    return out


class JsonlCorpus:
    """A corpus of JSONL files kept in memory too. Each write gives the file a new,
    strictly later mtime, so that a change is never hidden by the clock's resolution."""

    def __init__(self, root: Path):
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.files: dict[str, list[dict]] = {}
        self.gone: dict[str, list[dict]] = {}
        self._tick = 0

    def _bump(self, path: Path) -> None:
        self._tick += 1
        t = 1_700_000_000 * 10**9 + self._tick * 10**9
        os.utime(path, ns=(t, t))

    def write(self, name: str, records: list[dict]) -> None:
        self.files[name] = [dict(r) for r in records]
        path = self.root / name
        path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
        self._bump(path)

    def edit(self, name: str, index: int, **fields) -> None:
        records = list(self.files[name])
        records[index] = {**records[index], **fields}
        self.write(name, records)

    def delete(self, name: str) -> None:
        self.gone[name] = self.files.pop(name)
        (self.root / name).unlink()

    def touch(self, name: str) -> None:
        self._bump(self.root / name)

    def expected(self) -> dict[str, dict]:
        """id -> record as a full build sees them: files by name, the first line of an
        id wins."""
        out: dict[str, dict] = {}
        for name in sorted(self.files):
            for r in self.files[name]:
                out.setdefault(r["_id"], {**r, "path": name})
        return out


def take(fresh, n: int) -> list[dict]:
    return [next(fresh) for _ in range(n)]


def revised(record: dict, n: int) -> str:
    return record["text"] + f" A follow-up study ({n}) confirmed the effect in mice."


def _move(c: JsonlCorpus) -> None:
    moved = c.files["day04.jsonl"][:10]
    c.write("day04.jsonl", c.files["day04.jsonl"][10:])
    c.write("day05.jsonl", c.files["day05.jsonl"] + moved)


def _change_delete_add(c: JsonlCorpus, fresh) -> None:
    recs = list(c.files["day05.jsonl"])
    for i in (0, 5, 9):
        recs[i] = {**recs[i], "text": recs[i]["text"][: len(recs[i]["text"]) // 2]}
    del recs[20:23]
    c.write("day05.jsonl", recs + take(fresh, 3))


def _duplicate(c: JsonlCorpus, fresh) -> None:
    original = c.files["day00.jsonl"][5]
    c.write("day06.jsonl", c.files["day06.jsonl"] + [
        {**original, "title": "A second copy", "text": "It should never be indexed."}])


def _change_across_files(c: JsonlCorpus) -> None:
    for name in ("day00.jsonl", "day06.jsonl"):
        recs = list(c.files[name])
        for i in (1, 10, 20, 30, 40):
            recs[i] = {**recs[i], "text": revised(recs[i], 20)}
        c.write(name, recs)


#: (name, update, whether it changes no article at all); applied in order.
UPDATES = [
    ("add a file", lambda c, f: c.write("day04.jsonl", take(f, 50)), False),
    ("append lines", lambda c, f: c.write("day00.jsonl",
                                          c.files["day00.jsonl"] + take(f, 25)), False),
    ("change lines", lambda c, f: [c.edit("day01.jsonl", i, text=revised(
        c.files["day01.jsonl"][i], 3)) for i in (0, 7, 20, 55, 90)], False),
    ("delete lines", lambda c, f: c.write("day02.jsonl", c.files["day02.jsonl"][15:]),
     False),
    ("delete a file", lambda c, f: c.delete("day03.jsonl"), False),
    ("change a title", lambda c, f: c.edit("day00.jsonl", 2, title="A retitled study"),
     False),
    ("add another file", lambda c, f: c.write("day05.jsonl", take(f, 50)), False),
    ("move lines to another file", lambda c, f: _move(c), False),
    ("a deleted file comes back in part", lambda c, f: c.write(
        "day03.jsonl", c.gone["day03.jsonl"][:55]), False),
    ("reorder lines", lambda c, f: c.write("day04.jsonl", c.files["day04.jsonl"][::-1]),
     True),
    ("touch a file", lambda c, f: c.touch("day01.jsonl"), True),
    ("change, delete and add in one file", _change_delete_add, False),
    ("delete a second file", lambda c, f: c.delete("day02.jsonl"), False),
    ("add a third file", lambda c, f: c.write("day06.jsonl", take(f, 50)), False),
    ("change a title and a text", lambda c, f: (
        c.edit("day06.jsonl", 0, title="Another retitled study"),
        c.edit("day00.jsonl", 3, text=revised(c.files["day00.jsonl"][3], 15))), False),
    ("a duplicate id in a later file", _duplicate, True),
    ("revert a text", lambda c, f: c.edit("day01.jsonl", 0, text=c.files["day01.jsonl"][0][
        "text"].rsplit(" A follow-up study", 1)[0]), False),
    ("delete most of a file", lambda c, f: c.write("day05.jsonl",
                                                   c.files["day05.jsonl"][::4]), False),
    ("re-add deleted ids in a new file", lambda c, f: c.write(
        "day07.jsonl", c.gone["day02.jsonl"][:10] + take(f, 30)), False),
    ("change lines across files", lambda c, f: _change_across_files(c), False),
]


class Memo:
    """The real embedder, remembering each text's vector: a text seen before (a full
    rebuild of a corpus already embedded piecemeal, an article moved or restored) gets
    the vector the model gave it then. The int8 ONNX encoder embeds each text on its
    own, so the vector is the one it would compute again."""

    def __init__(self):
        self.vectors: dict[str, np.ndarray] = {}
        self.embedded = 0

    def make_embedder(self, *args, **kwargs):
        from challenge_qa.encoders.embedding import make_embedder

        real = make_embedder(*args, **kwargs)
        memo = self

        class Remembering:
            def __getattr__(self, name):
                return getattr(real, name)

            def encode_documents(self, texts: list[str], **kw) -> np.ndarray:
                todo = [t for t in dict.fromkeys(texts) if t not in memo.vectors]
                if todo:
                    memo.vectors.update(zip(todo, real.encode_documents(todo, **kw),
                                            strict=True))
                    memo.embedded += len(todo)
                if not texts:
                    return real.encode_documents([], **kw)
                return np.stack([memo.vectors[t] for t in texts])

        return Remembering()


# --------------------------------------------------------------------------- checks


def live_passages(idx: Index) -> list[tuple]:
    recs = idx.rows(idx.live_rows().tolist())
    return sorted((r["doc_id"], r["passage_id"], r["start"], r["end"], r["path"], r["title"])
                  for r in recs)


def ranked(idx: Index, questions: list[str], q_vecs: np.ndarray) -> list[dict]:
    out = []
    for r in rank(idx, questions, 10, q_vecs=q_vecs):
        ids = [rec["passage_id"] for rec in idx.rows(r.rows.tolist())]
        out.append({"ids": ids, "score": r.score, "dense": r.dense, "bm25": r.bm25})
    return out


def assert_same_ranking(got: list[dict], want: list[dict], questions: list[str]) -> None:
    bad = []
    for q, a, b in zip(questions, got, want, strict=True):
        if a["ids"] != b["ids"]:
            bad.append((q, a["ids"], b["ids"]))
            continue
        for key in ("score", "dense", "bm25"):
            if not np.allclose(a[key], b[key], rtol=0, atol=1e-5):
                bad.append((q, key, np.abs(a[key] - b[key]).max()))
    assert not bad, f"{len(bad)} of {len(questions)} rankings differ, e.g. {bad[:3]}"


def manifest(index_dir: Path) -> dict:
    return json.loads((index_dir / MANIFEST).read_text(encoding="utf-8"))


# --------------------------------------------------------------------------- 20 updates

@slow
@needs_scifact
def test_twenty_incremental_updates_rank_as_a_full_rebuild(tmp_path, monkeypatch):
    """~600 SciFact articles in JSONL "day" files, 20 updates each followed by an
    incremental build (several segments, deletions, automatic merges), then the same
    corpus built from scratch: the same live passages, and the same top 10 for the 300
    SciFact test queries, scores within 1e-5; again after ``optimize``."""
    monkeypatch.setattr(changes, "READ_GROUP", 30)
    memo = Memo()
    emb = memo.make_embedder(SEG.model, batch_size=SEG.batch_size, backend=SEG.backend)
    _, questions, _ = scifact()
    docs = pool(610)
    fresh = iter(docs[400:])
    c = JsonlCorpus(tmp_path / "corpus")
    for d in range(4):
        c.write(f"day{d:02d}.jsonl", docs[d * 100:(d + 1) * 100])
    inc = tmp_path / "incremental"
    report = build_index(c.root, inc, embedder=emb, settings=SEG)
    assert report.articles == 400 and report.merges > 0
    most_segments, merges, deleted_seen = report.segments, report.merges, 0
    for name, update, no_change in UPDATES:
        update(c, fresh)
        report = build_index(c.root, inc, embedder=emb, settings=SEG)
        expected = c.expected()
        assert report.articles == len(expected), name
        if no_change:
            assert report.embedded_passages == 0 and (report.added, report.changed,
                                                      report.removed) == (0, 0, 0), name
        else:
            assert report.embedded_passages > 0 or report.removed > 0, name
        m = manifest(inc)
        assert "pending" not in m and m["counts"]["articles"] == len(expected), name
        most_segments = max(most_segments, len(m["segments"]))
        merges += report.merges
        deleted_seen = max(deleted_seen, sum(e["deleted_passages"] for e in m["segments"]))
    # the updates did exercise segments, deletions and automatic merges
    assert most_segments >= 3 and merges >= 3 and deleted_seen > 0, (
        most_segments, merges, deleted_seen)

    full = tmp_path / "full"
    embedded = memo.embedded
    ref = build_index(c.root, full, embedder=emb, full=True,
                      settings=SEG.replace(segment_passages=10**6))
    assert ref.segments == 1 and ref.articles == len(c.expected())
    assert ref.embedded_passages == ref.passages and memo.embedded == embedded  # all known
    assert any("duplicate article id" in s for s in ref.skipped)
    a, b = load_index(inc, settings=SEG), load_index(full, settings=SEG)
    ids = live_ids(a)
    assert max(ids.values()) == 1, ids.most_common(3)  # no article twice
    assert set(ids) == set(live_ids(b)) == set(c.expected())
    assert a.size == b.size and live_passages(a) == live_passages(b)
    for aid, rec in c.expected().items():  # the version a full build keeps
        art = a.article(aid)
        assert art is not None and (art["title"], art["text"], art["path"]) == (
            rec["title"].strip(), rec["text"].strip(), rec["path"]), aid
    q_vecs = a.embedder.encode_queries(questions)
    want = ranked(b, questions, q_vecs)
    assert_same_ranking(ranked(a, questions, q_vecs), want, questions)

    assert optimize(inc, settings=SEG) == 1
    m = manifest(inc)
    assert len(m["segments"]) == 1 and m["segments"][0]["deleted_passages"] == 0
    opt = load_index(inc, settings=SEG)
    assert opt.rows_total == opt.size == b.size
    assert live_passages(opt) == live_passages(b)
    assert_same_ranking(ranked(opt, questions, q_vecs), want, questions)


# --------------------------------------------------------------------------- fixture

@pytest.fixture(scope="module")
def segmented(tmp_path_factory):
    """(corpus, index_dir): 90 SciFact articles in three JSONL files, indexed into seven
    segments (no merges), then updated: two articles changed, five deleted. Shared: tests
    that change it work on ``copied`` versions."""
    docs = pool(300)[200:290]
    base = tmp_path_factory.mktemp("segmented")
    c = JsonlCorpus(base / "corpus")
    c.write("a.jsonl", docs[:40])
    c.write("b.jsonl", docs[40:70])
    c.write("c.jsonl", docs[70:])
    index_dir = base / "index"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(changes, "READ_GROUP", 16)
        build_index(c.root, index_dir, settings=SEGS, merge=False)
        c.edit("a.jsonl", 3, text=revised(c.files["a.jsonl"][3], 1))
        c.edit("a.jsonl", 30, title="A new title")
        c.write("b.jsonl", c.files["b.jsonl"][5:])
        report = build_index(c.root, index_dir, settings=SEGS, merge=False)
    assert (report.changed, report.removed, report.articles) == (2, 5, 85)
    m = manifest(index_dir)
    assert len(m["segments"]) >= 5
    assert sum(1 for e in m["segments"] if e["deleted_passages"]) >= 2
    return c.root, index_dir


@pytest.fixture
def copied(tmp_path, segmented):
    """A writable copy of ``segmented`` (file times kept, so the files are unchanged)."""
    corpus = tmp_path / "corpus"
    shutil.copytree(segmented[0], corpus)
    index_dir = tmp_path / "index"
    shutil.copytree(segmented[1], index_dir)
    # the manifest names the corpus it was built from: point it at the copy
    m = manifest(index_dir)
    m["corpus"] = str(corpus)
    (index_dir / MANIFEST).write_text(json.dumps(m), encoding="utf-8")
    return corpus, index_dir


QUESTIONS = ["Vitamin D deficiency is associated with an increased risk of disease.",
             "Cancer cells depend on glucose metabolism.",
             "Antibiotic resistance spreads among bacteria in hospitals.",
             "T cells regulate the immune response to infection.",
             "cell cell cell protein"]


# --------------------------------------------------------------------------- BM25

@slow
@needs_scifact
def test_bm25_over_segments_with_deletions_equals_bm25s(segmented):
    corpus, index_dir = segmented
    idx = load_index(index_dir, settings=SEGS)
    assert len(idx.segments) >= 5 and sum(seg.live is not None for seg in idx.segments) >= 2
    # the live passages, from the corpus itself (not from the index)
    arts = load_corpus(corpus).articles
    passages = [(p.passage_id, passage_context(a.title, p.text, SEGS.title_context))
                for a in arts for p in split_passages(a, SEGS)]
    assert idx.size == idx.lexical.n_docs == len(passages) < idx.rows_total
    ref = build_bm25([t for _, t in passages], k1=SEGS.bm25_k1, b=SEGS.bm25_b)
    rows = idx.live_rows()
    order = {pid: i for i, (pid, _) in enumerate(passages)}
    pos = np.array([order[r["passage_id"]] for r in idx.rows(rows.tolist())])
    for question in QUESTIONS:
        terms = idx.lexical.query_terms(question)
        assert terms and terms == [t for t in question_terms(question)
                                   if t in ref.vocab_dict], question
        got = idx.lexical.scores(terms)
        want = ref.get_scores(terms)
        np.testing.assert_allclose(got[rows], want[pos], rtol=1e-5, atol=1e-5)
        dead = np.setdiff1d(np.arange(idx.rows_total), rows)
        assert not got[dead].any()  # deleted rows never score


# --------------------------------------------------------------------------- reads

@slow
@needs_scifact
def test_unchanged_files_are_not_read(copied, monkeypatch):
    corpus, index_dir = copied
    reads: list[str] = []

    def spy(file, rel, *args, **kwargs):
        reads.append(rel)
        return read_file(file, rel, *args, **kwargs)

    monkeypatch.setattr(changes, "read_file", spy)
    before = (index_dir / MANIFEST).read_bytes()
    r = build_index(corpus, index_dir, settings=SEGS, merge=False)
    assert reads == [] and r.embedded_passages == 0 and r.articles == 85
    assert (index_dir / MANIFEST).read_bytes() == before  # nothing to commit

    # one line of b.jsonl changes: only b.jsonl is read, only that article embedded
    lines = (corpus / "b.jsonl").read_text(encoding="utf-8").splitlines()
    rec = json.loads(lines[4])
    rec["text"] += " The effect was larger in older patients."
    lines[4] = json.dumps(rec)
    (corpus / "b.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    art = next(a for a in read_file(corpus / "b.jsonl", "b.jsonl", []) if a.id == rec["_id"])
    r = build_index(corpus, index_dir, settings=SEGS, merge=False)
    assert reads == ["b.jsonl"]
    assert (r.changed, r.added, r.removed) == (1, 0, 0)
    assert r.embedded_passages == len(split_passages(art, SEGS))

    # a new article in a new file: only that file is read, its passages embedded
    reads.clear()
    new = {"_id": "new-1", "title": "Sleep and memory",
           "text": "Sleep consolidates memory. " * 40}
    write_files(corpus, {"d.jsonl": json.dumps(new) + "\n"})
    art = next(iter(read_file(corpus / "d.jsonl", "d.jsonl", [])))
    n = len(split_passages(art, SEGS))
    assert n > 1
    r = build_index(corpus, index_dir, settings=SEGS, merge=False)
    assert reads == ["d.jsonl"] and r.added == 1 and r.embedded_passages == n
    assert r.articles == 86

    reads.clear()
    assert build_index(corpus, index_dir, settings=SEGS, merge=False).embedded_passages == 0
    assert reads == []


# --------------------------------------------------------------------------- JSONL

@slow
def test_jsonl_limits_apply_per_line_and_duplicates_are_skipped(tmp_path):
    blob = "x" * 300_000  # a field that is not indexed, to make the lines long
    facts = ["The harbour of Port Elm froze over in January.",
             "The orchard of Kestrel Farm grows forty kinds of apple.",
             "Too long to be indexed at all.",
             "The bell of the Old Mill church was cast in 1702.",
             "The library of Fernbridge lends telescopes to its readers."]
    lines = [json.dumps({"_id": f"big-{i}", "title": f"Notes {i}", "text": t,
                         "metadata": {"blob": blob * (4 if i == 2 else 1)}})
             for i, t in enumerate(facts)]
    lines.append(json.dumps({"_id": "shared", "title": "Second copy",
                             "text": "The second copy of the shared article."}))
    corpus = write_files(tmp_path / "corpus", {
        "a.jsonl": json.dumps({"_id": "shared", "title": "First copy",
                               "text": "The first copy of the shared article."}) + "\n",
        "big.jsonl": "\n".join(lines) + "\n"})
    assert (corpus / "big.jsonl").stat().st_size > 2 * 2**20  # over the limit as a file
    index_dir = tmp_path / "index"
    result = invoke("index", "--corpus", corpus, "--index", index_dir,
                    env={**SEG_ENV, "CHALLENGE_QA_MAX_FILE_MB": "1"})
    assert result.exit_code == 0, (result.output, result.exception)
    assert result.stdout.startswith("Indexed 5 article(s)"), result.stdout
    warnings = [line for line in result.stderr.splitlines() if line.startswith("Warning:")]
    assert len(warnings) == 2, warnings
    assert warnings[0].startswith("Warning: big.jsonl:3: skipped, the article is larger than "
                                  "the 1 MB limit"), warnings
    assert warnings[1] == "Warning: big.jsonl: duplicate article id 'shared', skipped"
    idx = load_index(index_dir, settings=SEG)
    assert sorted(live_ids(idx)) == ["big-0", "big-1", "big-3", "big-4", "shared"]
    assert idx.article("shared")["title"] == "First copy"
    assert idx.article("big-4")["text"] == facts[4]

    # the duplicate stays skipped when only the later file changes
    with open(corpus / "big.jsonl", "a", encoding="utf-8") as f:
        f.write(json.dumps({"_id": "big-9", "title": "More", "text": "One more note."}) + "\n")
    r = build_index(corpus, index_dir, settings=SEG.replace(max_file_mb=1))
    assert r.added == 1 and r.articles == 6
    assert "big.jsonl: duplicate article id 'shared', skipped" in r.skipped
    assert load_index(index_dir, settings=SEG).article("shared")["title"] == "First copy"


@slow
def test_duplicate_ids_across_files_resolve_as_a_full_build(tmp_path):
    """The first file (by name) holding an id wins, whichever files a build re-reads; a
    skipped copy is indexed once the article it duplicates leaves the corpus, though its
    own file did not change."""
    c = JsonlCorpus(tmp_path / "corpus")
    alpha = {"_id": "x", "title": "Alpha", "text": "The alpha copy is about volcanoes."}
    beta = {"_id": "x", "title": "Beta", "text": "The beta copy is about glaciers."}
    other = [{"_id": f"o{i}", "title": f"Other {i}", "text": f"Other article number {i}."}
             for i in range(4)]
    c.write("a.jsonl", [alpha, other[0]])
    c.write("b.jsonl", [other[1], beta])
    index_dir = tmp_path / "index"

    def check(step: str, title: str, n: int) -> None:
        r = build_index(c.root, index_dir, settings=SEG)
        full = build_index(c.root, tmp_path / f"full-{step}", full=True, settings=SEG)
        assert r.articles == full.articles == n, step
        for folder in (index_dir, tmp_path / f"full-{step}"):
            idx = load_index(folder, settings=SEG)
            assert idx.article("x")["title"] == title, (step, folder.name)
            assert max(live_ids(idx).values()) == 1, step

    check("first", "Alpha", 3)
    c.write("a.jsonl", [alpha, other[0], other[2]])  # both files re-read
    c.write("b.jsonl", [other[1], beta, other[3]])
    check("both-changed", "Alpha", 5)
    c.delete("a.jsonl")  # b.jsonl unchanged: its copy of x comes in
    check("original-gone", "Beta", 3)


# --------------------------------------------------------------------------- merges

def seg(name: str, passages: int, deleted: int = 0) -> dict:
    return {"name": name, "passages": passages, "articles": passages,
            "deleted_passages": deleted, "deleted_articles": deleted}


@pytest.mark.parametrize(("entries", "settings", "plans"), [
    pytest.param([seg(f"s{i}", 50) for i in range(10)], {}, [[f"s{i}" for i in range(10)]],
                 id="ten-small-segments-merge"),
    pytest.param([seg(f"s{i}", 50) for i in range(9)], {}, [], id="nine-wait"),
    pytest.param([seg("a", 70), seg("b", 50), seg("c", 500), seg("d", 60), seg("e", 700),
                  seg("f", 80), seg("g", 600)],
                 {"merge_floor": 100, "merge_factor": 3},
                 [["b", "d", "a"], ["c", "g", "e"]], id="two-tiers-smallest-first"),
    pytest.param([seg("a", 500), seg("b", 600), seg("c", 700)],
                 {"merge_floor": 100, "merge_factor": 3, "merge_max_passages": 1000}, [],
                 id="over-the-max-size"),
    pytest.param([seg("a", 500), seg("b", 300), seg("c", 200)],
                 {"merge_floor": 100, "merge_factor": 3, "merge_max_passages": 1000},
                 [], id="different-tiers"),
    pytest.param([seg("a", 100, deleted=51), seg("b", 100, deleted=50), seg("c", 10)], {},
                 [["a"]], id="more-than-half-deleted-alone"),
    pytest.param([seg("a", 1000, deleted=600), seg("b", 400), seg("c", 400), seg("d", 400)],
                 {"merge_floor": 100, "merge_factor": 3},
                 [["a"], ["b", "c", "d"]], id="rewrite-and-merge"),
    pytest.param([seg("a", 1000, deleted=400), seg("b", 50), seg("c", 50)],
                 {"merge_floor": 100, "merge_factor": 3},
                 [], id="tier-of-live-passages"),
    pytest.param([seg("a", 1000, deleted=400), seg("b", 500), seg("c", 700)],
                 {"merge_floor": 100, "merge_factor": 3},
                 [["b", "a", "c"]], id="live-size-orders-the-tier"),
    pytest.param([seg(f"s{i}", 10 + i) for i in range(7)],
                 {"merge_floor": 100, "merge_factor": 3},
                 [["s0", "s1", "s2"], ["s3", "s4", "s5"]], id="two-merges-in-a-tier"),
    pytest.param([seg("a", 24_300), seg("b", 9_000), seg("c", 9_000)],
                 {"merge_floor": 100, "merge_factor": 3}, [],
                 id="exact-tier-boundary"),  # 24300 = 100 * 3**5: tier 5, not 4
    pytest.param([seg("a", 50)], {"merge_floor": 1, "merge_factor": 2}, [], id="one-segment"),
    pytest.param([], {}, [], id="empty"),
])
def test_plan_merges(entries, settings, plans):
    assert plan_merges(entries, SMALL.replace(**settings)) == plans


def test_optimize_plan():
    assert optimize_plan([seg("a", 10), seg("b", 10)], SMALL) == [["a", "b"]]
    assert optimize_plan([seg("a", 10, deleted=1)], SMALL) == [["a"]]
    assert optimize_plan([seg("a", 10)], SMALL) == []


@slow
@needs_scifact
def test_merges_purge_deletions_and_status_shows_segments(copied):
    corpus, index_dir = copied
    env = {**SEG_ENV, "CHALLENGE_QA_SEGMENT_PASSAGES": str(SEGS.segment_passages)}

    def status() -> dict:
        result = invoke("status", "--json", "--corpus", corpus, "--index", index_dir, env=env)
        assert result.exit_code == 0, (result.output, result.exception)
        return json.loads(result.stdout)

    before = status()
    m = manifest(index_dir)
    assert before["segments"] == len(m["segments"]) >= 5 and before["deleted_passages"] > 0
    assert before["stale"] is False
    idx = load_index(index_dir, settings=SEGS)
    q_vecs = idx.embedder.encode_queries(QUESTIONS)
    want = ranked(idx, QUESTIONS, q_vecs)
    passages = live_passages(idx)

    def with_deletions(entries, s):
        names = [e["name"] for e in entries if e.get("deleted_passages")]
        return [names] if names else []

    dirty = [e["name"] for e in m["segments"] if e["deleted_passages"]]
    with build_lock(index_dir):
        assert merge_segments(index_dir, SEGS, plan=with_deletions) == 1
    after = status()
    assert after["segments"] == before["segments"] - len(dirty) + 1
    assert after["deleted_passages"] == 0
    assert (after["articles"], after["passages"]) == (before["articles"], before["passages"])
    assert after["stale"] is False
    # merged away: no longer named (their files go at the next commit; the previous
    # commit's files stay for readers that loaded it)
    assert not set(dirty) & {e["name"] for e in manifest(index_dir)["segments"]}
    merged = load_index(index_dir, settings=SEGS)
    assert merged.rows_total == merged.size == idx.size  # the deleted rows are gone
    assert live_passages(merged) == passages
    assert_same_ranking(ranked(merged, QUESTIONS, q_vecs), want, QUESTIONS)

    result = invoke("index", "--optimize", "--corpus", corpus, "--index", index_dir, env=env)
    assert result.exit_code == 0, (result.output, result.exception)
    assert "0 embedded" in result.stdout, result.stdout
    assert "Optimized: merged into one segment" in result.stdout, result.stdout
    final = status()
    assert final["segments"] == 1 and final["deleted_passages"] == 0
    assert final["passages"] == before["passages"] and final["stale"] is False
    one = load_index(index_dir, settings=SEGS)
    assert len(one.segments) == 1 and live_passages(one) == passages
    assert not any((index_dir / name).exists() for name in dirty)
    assert_same_ranking(ranked(one, QUESTIONS, q_vecs), want, QUESTIONS)
    result = invoke("index", "--optimize", "--corpus", corpus, "--index", index_dir, env=env)
    assert "Optimized: already one segment" in result.stdout, result.stdout


# --------------------------------------------------------------------------- readers

def answers(idx: Index, q_vecs: np.ndarray) -> list:
    out = []
    for r in rank(idx, QUESTIONS, 5, q_vecs=q_vecs):
        recs = idx.rows(r.rows.tolist())
        out.append([(x["passage_id"], x["text"], x["title"]) for x in recs]
                   + np.round(r.score, 6).tolist())
    return out


@slow
@needs_scifact
def test_a_reader_keeps_its_commit_through_an_update_and_a_merge(copied, monkeypatch):
    corpus, index_dir = copied
    m0 = manifest(index_dir)
    old = load_index(index_dir, settings=SEGS)
    q_vecs = old.embedder.encode_queries(QUESTIONS)
    want = answers(old, q_vecs)
    some = old.doc_ids()[0]
    article = old.article(some)

    # every commit keeps the files of the manifest it replaces: a reader that read that
    # manifest a moment earlier can still open it
    real_commit = mf.commit
    commits: list[dict] = []

    def checked_commit(index_dir_, m, previous):
        real_commit(index_dir_, m, previous)
        assert previous is not None
        assert all((index_dir / name).exists() for name in referenced(previous))
        Index(index_dir, previous, SEGS).close()
        commits.append(m)

    monkeypatch.setattr(mf, "commit", checked_commit)

    # an update: an article changed, one deleted, a new one
    lines = (corpus / "a.jsonl").read_text(encoding="utf-8").splitlines()
    changed = json.loads(lines[0])
    changed["text"] = "Cancer cells depend on glucose metabolism, a new study says."
    lines[0] = json.dumps(changed)
    del lines[1]
    lines.append(json.dumps({"_id": "new-2", "title": "Vitamin D",
                             "text": "Vitamin D deficiency raises the risk of disease."}))
    (corpus / "a.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    r = build_index(corpus, index_dir, settings=SEGS, merge=False)
    assert (r.changed, r.removed, r.added) == (1, 1, 1)
    m1 = manifest(index_dir)
    assert commits and commits[-1] == m1 and m1["generation"] != m0["generation"]
    assert answers(old, q_vecs) == want  # the loaded index answers as before
    new = load_index(index_dir, settings=SEGS)
    assert answers(new, q_vecs) != want and new.article("new-2") is not None

    # a merge commit (all segments into one): the old reader still answers from its files
    # (open and memory-mapped), though the commits since removed some of them
    assert optimize(index_dir, settings=SEGS) == 1
    m2 = manifest(index_dir)
    assert len(m2["segments"]) == 1 and commits[-1] == m2
    gone = referenced(m0) - referenced(m1) - referenced(m2)
    assert gone and not any((index_dir / name).exists() for name in gone)
    assert answers(old, q_vecs) == want
    assert old.article(some) == article and old.article("new-2") is None
    assert answers(load_index(index_dir, settings=SEGS), q_vecs) == answers(new, q_vecs)
    new.close()
    old.close()


@slow
@needs_scifact
def test_a_reader_that_loses_the_race_to_two_commits_loads_the_newer_one(copied,
                                                                          monkeypatch):
    """load_index read a manifest, then two commits removed some of its files before it
    opened them: it loads the current commit instead of failing."""
    from challenge_qa.search import index as searcher

    corpus, index_dir = copied
    m0 = manifest(index_dir)
    with open(corpus / "c.jsonl", "a", encoding="utf-8") as f:
        f.write(json.dumps({"_id": "new-3", "title": "Sleep", "text": "Sleep helps."}) + "\n")
    lines = (corpus / "b.jsonl").read_text(encoding="utf-8").splitlines()
    (corpus / "b.jsonl").write_text("\n".join(lines[1:]) + "\n", encoding="utf-8")
    build_index(corpus, index_dir, settings=SEGS)  # a segment commit, then deletions
    assert not all((index_dir / name).exists() for name in referenced(m0))
    real = searcher.read_manifest
    calls = []

    def first_stale(index_dir_):
        calls.append(1)
        return m0 if len(calls) == 1 else real(index_dir_)

    monkeypatch.setattr(searcher, "read_manifest", first_stale)
    idx = load_index(index_dir, settings=SEGS)
    assert idx.generation == manifest(index_dir)["generation"] and len(calls) >= 2
    assert idx.article("new-3") is not None


# --------------------------------------------------------------------------- full rebuild

class Stop(Exception):
    pass


@slow
@needs_scifact
def test_a_full_rebuild_is_pending_until_complete(copied, monkeypatch):
    corpus, index_dir = copied
    monkeypatch.setattr(changes, "READ_GROUP", 16)
    m0 = manifest(index_dir)
    old = load_index(index_dir, settings=SEGS)
    q_vecs = old.embedder.encode_queries(QUESTIONS)
    want = answers(old, q_vecs)
    passages = live_passages(old)
    real_commit = mf.commit

    def stop_after_pending(index_dir_, m, previous):
        real_commit(index_dir_, m, previous)
        if m.get("pending"):
            raise Stop

    monkeypatch.setattr(mf, "commit", stop_after_pending)
    with pytest.raises(Stop):
        build_index(corpus, index_dir, full=True, settings=SEGS)
    m1 = manifest(index_dir)
    pending = m1["pending"]["segments"]
    assert len(pending) == 1 and 0 < pending[0]["passages"] < old.size
    assert {k: v for k, v in m1.items() if k != "pending"} == m0  # the live index unchanged
    assert all((index_dir / name).exists() for name in referenced(m1))
    served = load_index(index_dir, settings=SEGS)
    assert [s.name for s in served.segments] == [e["name"] for e in m0["segments"]]
    assert answers(served, q_vecs) == want and live_passages(served) == passages

    monkeypatch.setattr(mf, "commit", real_commit)
    r = build_index(corpus, index_dir, settings=SEGS)
    assert r.articles == 85 and r.passages == old.size
    assert r.embedded_passages == old.size - pending[0]["passages"]  # the rest only
    m2 = manifest(index_dir)
    assert "pending" not in m2
    names = {e["name"] for e in m2["segments"]}
    assert not names & {e["name"] for e in m0["segments"]}  # all new segments
    done = load_index(index_dir, settings=SEGS)
    assert max(live_ids(done).values()) == 1 and len(live_ids(done)) == 85
    assert live_passages(done) == passages
    assert answers(done, q_vecs) == want
    # the rebuilt index is not rebuilt again
    assert build_index(corpus, index_dir, settings=SEGS).embedded_passages == 0
