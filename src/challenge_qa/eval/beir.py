"""Retrieval quality on BEIR-format data (corpus.jsonl, queries.jsonl, qrels.tsv) with ranx."""

from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..config import Settings, cache_dir
from ..errors import EvalInputError
from .metrics import RETRIEVAL_METRICS, retrieval_scores

if TYPE_CHECKING:
    from ..store.build import IndexReport

METRICS = tuple(RETRIEVAL_METRICS)
DEPTH = 100
BATCH = 64


@dataclass(frozen=True)
class EvalReport:
    metrics: dict[str, float]
    queries: int
    index_dir: str
    build: IndexReport | None


def load_qrels(path: str | Path) -> dict[str, dict[str, int]]:
    """``query-id<TAB>corpus-id<TAB>score`` rows (header optional, CRLF tolerated)."""
    qrels: dict[str, dict[str, int]] = {}
    try:
        with open(path, encoding="utf-8", newline="") as f:
            for n, row in enumerate(csv.reader(f, delimiter="\t"), 1):
                if not row or (n == 1 and not row[-1].strip().lstrip("-").isdigit()):
                    continue
                if len(row) < 3:
                    raise EvalInputError(f"{path}:{n}: expected 3 tab-separated columns "
                                         "(query-id, corpus-id, score)")
                qrels.setdefault(row[0].strip(), {})[row[1].strip()] = int(row[2])
    except OSError as e:
        raise EvalInputError(f"Cannot read qrels file {path}: {e.strerror or e}") from e
    except ValueError as e:
        raise EvalInputError(f"{path}: a relevance score is not a whole number") from e
    if not qrels:
        raise EvalInputError(f"No judgements in qrels file {path}")
    return qrels


def load_queries(path: str | Path) -> dict[str, str]:
    """``{"_id", "text"}`` per line."""
    out: dict[str, str] = {}
    try:
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    rec = json.loads(line)
                    out[str(rec.get("_id", rec.get("id")))] = rec["text"]
                except (ValueError, KeyError, AttributeError) as e:
                    raise EvalInputError(f"{path}:{n}: not a JSON query with _id and text") from e
    except OSError as e:
        raise EvalInputError(f"Cannot read queries file {path}: {e.strerror or e}") from e
    return out


def default_eval_index(corpus: str | Path) -> Path:
    """A cache folder per evaluated corpus, so repeated runs reuse its index."""
    base = cache_dir()
    key = hashlib.sha1(str(Path(corpus).resolve()).encode()).hexdigest()[:10]
    return base / "eval" / f"{Path(corpus).stem}-{key}"


def run_queries(index, queries: dict[str, str], depth: int = DEPTH) -> dict[str, dict[str, float]]:
    """Document-level run: each article scored by its best passage, top ``depth`` articles."""
    from ..search.retrieve import clean_question, rank

    doc_ids = index.doc_ids()
    qids = list(queries)
    run: dict[str, dict[str, float]] = {}
    for i in range(0, len(qids), BATCH):
        batch = qids[i:i + BATCH]
        texts = [clean_question(queries[q], index.settings.max_question_chars) for q in batch]
        for qid, r in zip(batch, rank(index, texts, depth, per_article=True), strict=True):
            docs = index.spans(r.rows)[:, 0]
            run[qid] = {doc_ids[d]: float(s) for d, s in zip(docs, r.score, strict=True)}
    return run


def evaluate(corpus: str | Path, queries: str | Path, qrels: str | Path, *,
             index_dir: str | Path | None = None, settings: Settings | None = None,
             run_path: str | Path | None = None, rebuild: bool = False) -> EvalReport:
    """Build (or reuse) an index of ``corpus`` and score the judged queries with ranx.

    Only queries that appear in ``qrels`` are asked.

    Example:
        >>> evaluate("scifact/corpus.jsonl", "scifact/queries.jsonl",
        ...          "scifact/qrels/test.tsv").metrics["ndcg@10"]  # doctest: +SKIP
        0.74
    """
    from ..search.index import load_index
    from ..store.build import build_index

    s = settings or Settings.from_env()
    index_dir = Path(index_dir or default_eval_index(corpus))
    judged = load_qrels(qrels)
    all_queries = load_queries(queries)
    asked = {q: all_queries[q] for q in judged if q in all_queries}
    if not asked:
        raise EvalInputError(f"None of the {len(judged)} judged query ids of {qrels} is in "
                             f"{queries}.")
    s = s.replace(index_dir=index_dir, corpus_dir=Path(corpus))
    build = build_index(corpus, index_dir, settings=s, full=rebuild)
    index = load_index(index_dir, settings=s)
    run = run_queries(index, asked)
    scores = retrieval_scores({q: judged[q] for q in asked}, run, METRICS, digits=4)
    if run_path:
        Path(run_path).write_text(json.dumps(run), encoding="utf-8")
    return EvalReport(metrics=scores,
                      queries=len(asked), index_dir=str(index_dir), build=build)
