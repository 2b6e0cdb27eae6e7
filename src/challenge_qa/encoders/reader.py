"""The trained answer reader: does a sentence answer the question, and which words do?

A 6-layer MiniLM encoder (initialised from the bundled all-MiniLM-L6-v2) with an answer
head on [CLS] and start/end heads on the tokens, trained by ``training/train_reader.py`` on
SQuAD v1.1 dev's even articles and shipped as int8 ONNX beside this module. It reads

    [CLS] question [SEP] title | previous sentence [SEP] sentence [SEP]

and gives each sentence a probability that it answers the question (``Reading.score``) and
the most likely short answer inside it (``Reading.spans``, offsets into the sentence).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelLoadError

READER_DIR = Path(__file__).parents[1] / "models" / "reader"
MODEL_FILE = "reader_int8.onnx"
#: Input limits, in characters and tokens; the same in training and here.
MAX_PREV_CHARS = 120
MAX_SENTENCE_CHARS = 600
MAX_LEN = 192
#: Longest short answer, in tokens.
MAX_ANSWER_TOKENS = 24
#: Taken off a span's start + end logit per token of length: the span head alone runs
#: long ("March 2007" for "What year…?"). Chosen end to end on the SQuAD tuning articles
#: (docs/experiments.md, "The reader").
SPAN_LENGTH_PENALTY = 0.15
_MARK = " [SEP] "


def pair_text(title: str, prev: str, sentence: str) -> tuple[str, int]:
    """The reader's second segment and where the sentence starts in it.

    Example:
        >>> pair_text("Film", "It flew.", "It landed.")
        ('Film | It flew. [SEP] It landed.', 22)
    """
    if len(prev) > MAX_PREV_CHARS:
        cut = prev.find(" ", len(prev) - MAX_PREV_CHARS)
        prev = prev[cut + 1 if cut >= 0 else len(prev) - MAX_PREV_CHARS:]
    head = f"{' '.join(title.split())} | {' '.join(prev.split())}".strip()
    return head + _MARK + sentence[:MAX_SENTENCE_CHARS], len(head) + len(_MARK)


@dataclass(frozen=True)
class Reading:
    """The reader's verdict on each candidate sentence, in the order given."""

    #: Probability that the sentence answers the question (0..1).
    score: np.ndarray
    #: ``(start, end)`` of the short answer, character offsets into each sentence.
    spans: list[tuple[int, int]]
    #: Start + end logit of that short answer (comparable within one question).
    span_score: np.ndarray


class Reader:
    """The shipped reader, loaded on first use (thread-safe).

    Example:
        >>> r = Reader()
        >>> res = r.read("Who plays the patient?", [("The Challenge", "",
        ...     "The patient is portrayed by real-life cosmonaut Oleg Novitskiy.")])
        >>> res.spans[0]
        (48, 62)
    """

    def __init__(self, folder: str | Path = READER_DIR, *, threads: int | None = None):
        self.folder = Path(folder)
        self.threads = threads or min(4, os.cpu_count() or 1)
        self._lock = threading.Lock()
        self._session: Any = None
        self._tok: Any = None
        self._pool: ThreadPoolExecutor | None = None

    @cached_property
    def card(self) -> dict:
        """``reader.json``: version, recipe, hash and held-out figures."""
        try:
            return json.loads((self.folder / "reader.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise ModelLoadError(f"The answer reader in {self.folder} is missing or damaged: "
                                 f"{e}.", hint="Reinstall challenge-qa, or retrain it with "
                                 "`python training/train_reader.py train`.") from None

    @property
    def version(self) -> str:
        """``<version>+<first 12 hex digits of the model file's sha256>``."""
        return f"{self.card['version']}+{self.card['sha256'][:12]}"

    def load(self) -> Reader:
        with self._lock:
            if self._session is None:
                self._load()
        return self

    def _load(self) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        path = self.folder / MODEL_FILE
        card = self.card
        try:
            blob = path.read_bytes()
        except OSError as e:
            raise ModelLoadError(f"The answer reader {path} cannot be read: {e.strerror}.",
                                 hint="Reinstall challenge-qa.") from None
        if hashlib.sha256(blob).hexdigest() != card.get("sha256"):
            raise ModelLoadError(f"The answer reader {path} does not match its reader.json "
                                 "hash.", hint="Reinstall challenge-qa, or retrain it.")
        # Each candidate runs alone on one thread, ``threads`` at a time: int8 activations
        # are scaled per run, so a sentence's verdict never depends on the other candidates,
        # and it was also the fastest way measured (docs/experiments.md, "The reader").
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        self._session = ort.InferenceSession(blob, opts, providers=["CPUExecutionProvider"])
        self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="challenge-qa-reader")
        tok = Tokenizer.from_file(str(self.folder / "tokenizer.json"))
        tok.enable_truncation(MAX_LEN, strategy="longest_first")
        tok.no_padding()
        self._tok = tok

    def read(self, question: str, items: list[tuple[str, str, str]]) -> Reading:
        """Score ``(title, previous sentence, sentence)`` candidates for ``question``; each
        candidate is read on its own, spread over the cores."""
        if not items:
            return Reading(np.zeros(0), [], np.zeros(0))
        if self._session is None:
            self.load()
        pairs = [pair_text(*it) for it in items]
        encs = self._tok.encode_batch([(question, b) for b, _ in pairs])
        n, t = len(encs), max(len(e.ids) for e in encs)
        ids = np.zeros((n, t), np.int64)
        types = np.zeros((n, t), np.int64)
        mask = np.zeros((n, t), np.int64)
        allowed = np.zeros((n, t), bool)
        offs = np.zeros((n, t, 2), np.int64)
        for r, (e, (_, at)) in enumerate(zip(encs, pairs, strict=True)):
            m = len(e.ids)
            ids[r, :m] = e.ids
            types[r, :m] = e.type_ids
            mask[r, :m] = 1
            o = np.asarray(e.offsets, np.int64).reshape(-1, 2)
            offs[r, :m] = o - at
            seq = np.array([s if s is not None else -1 for s in e.sequence_ids])
            allowed[r, :m] = (seq == 1) & (o[:, 0] >= at) & (o[:, 1] > o[:, 0])
        lengths = mask.sum(axis=1)

        def one(r: int):
            m = int(lengths[r])
            return self._session.run(None, {"input_ids": ids[r:r + 1, :m],
                                            "attention_mask": mask[r:r + 1, :m],
                                            "token_type_ids": types[r:r + 1, :m]})

        answer = np.zeros(n, np.float32)
        start = np.zeros((n, t), np.float32)
        end = np.zeros((n, t), np.float32)
        assert self._pool is not None
        for r, (a, s, e) in enumerate(self._pool.map(one, range(n))):
            m = int(lengths[r])
            answer[r], start[r, :m], end[r, :m] = a[0], s[0], e[0]
        score = 1.0 / (1.0 + np.exp(-answer.astype(np.float64)))
        spans, span_score = best_spans(start, end, allowed, offs)
        return Reading(score, spans, span_score)


def best_spans(start: np.ndarray, end: np.ndarray, allowed: np.ndarray, offs: np.ndarray,
               max_tokens: int = MAX_ANSWER_TOKENS, length_penalty: float = SPAN_LENGTH_PENALTY
               ) -> tuple[list[tuple[int, int]], np.ndarray]:
    """The best span per row with start <= end < start + max_tokens over allowed tokens, by
    start + end logit less ``length_penalty`` per token after the first; as character
    offsets taken from ``offs``, with each row's best start + end logit (no penalty).

    Example:
        >>> s = np.array([[0., 5., 1., 0.]]); e = np.array([[0., 0., 1., 4.]])
        >>> ok = np.array([[False, True, True, True]])
        >>> o = np.array([[[0, 0], [0, 3], [4, 6], [7, 9]]])
        >>> best_spans(s, e, ok, o, length_penalty=0)
        ([(0, 9)], array([9.]))
        >>> best_spans(s, e, ok, o, length_penalty=3)  # a long span must earn its length
        ([(0, 3)], array([9.]))
    """
    neg = np.float32(-1e9)
    s = np.where(allowed, start, neg)
    e = np.where(allowed, end, neg)
    t = s.shape[1]
    i, j = np.indices((t, t))
    band = (j >= i) & (j < i + max_tokens)
    total = np.where(band[None], s[:, :, None] + e[:, None, :], neg)
    # the penalty picks the span; the score stays the best start + end logit, so that a
    # sentence's final score (and the answer's confidence) does not depend on it
    flat = (total - np.float32(length_penalty) * (j - i)[None]).reshape(len(s), -1).argmax(
        axis=1)
    a, b = np.divmod(flat, t)
    spans = [(int(offs[r, x, 0]), int(offs[r, y, 1])) for r, x, y in zip(
        range(len(s)), a.tolist(), b.tolist(), strict=True)]
    return spans, total.reshape(len(s), -1).max(axis=1).astype(np.float64)


def reader_dir(settings_dir: str | Path | None = None) -> Path:
    """Where the reader is: ``settings_dir`` (``Settings.reader_dir``), else the shipped one."""
    return Path(settings_dir) if settings_dir else READER_DIR
