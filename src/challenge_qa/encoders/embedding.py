"""Sentence embeddings: PyTorch here, ONNX Runtime in ``onnx``; the default model is bundled."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from types import MappingProxyType
from typing import Protocol

import numpy as np

from ..config import BACKENDS
from ..errors import ModelLoadError
from .models import resolve_model


class Embedder(Protocol):
    name: str

    batch_size: int

    def encode_documents(self, texts: list[str], *, show_progress: bool = False) -> np.ndarray:
        ...

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        ...

    def load(self) -> object:
        """Load the model now (once; later calls return the same object)."""
        ...

    @property
    def loaded(self) -> bool:
        ...

    @property
    def dimension(self) -> int:
        ...


class SentenceTransformerEmbedder:
    """Lazy wrapper around ``SentenceTransformer``: the model loads on first use.

    Vectors are float32 and L2-normalised, so inner product is cosine similarity.

    Example:
        >>> e = SentenceTransformerEmbedder()
        >>> e.encode_queries(["Who directed The Challenge?"]).shape
        (1, 384)
    """

    def __init__(self, name: str, *, device: str | None = None, batch_size: int = 8):
        self.name = name
        self.device = device
        self.batch_size = batch_size
        self._model = None
        self._lock = threading.Lock()

    def load(self):
        return self.model

    @property
    def loaded(self) -> bool:
        return self._model is not None

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


def _cuda_visible() -> bool:
    """torch sees a CUDA GPU; without an NVIDIA driver this is answered without importing
    torch, which would add a second to every command's start."""
    if not any(os.path.exists(p) for p in ("/proc/driver/nvidia/version", "/dev/nvidiactl")):
        return False
    import torch

    return bool(torch.cuda.is_available())


def _on_accelerator(device: str | None) -> bool:
    """``device`` names a GPU (or other non-CPU device), or is unset and CUDA is visible."""
    return (device is not None and not device.startswith("cpu")) or (
        device is None and _cuda_visible())


def resolve_backend(backend: str, device: str | None = None) -> str:
    """The encoder ``backend`` names: "auto" is "torch" for an accelerator (``device`` other
    than the CPU, or CUDA when no device is set) or without onnxruntime, else "onnx-int8",
    the fastest CPU encoder at PyTorch's quality (benchmarks/encoders.py)."""
    if backend not in BACKENDS:
        from ..errors import InvalidArgumentError

        raise InvalidArgumentError(f"Unknown encoder backend {backend!r}.",
                                   hint=f"Use one of: {', '.join(BACKENDS)}.")
    if backend != "auto":
        return backend
    if _on_accelerator(device):
        return "torch"
    import importlib.util

    return "onnx-int8" if importlib.util.find_spec("onnxruntime") else "torch"


#: Encoding batch sizes when none is set. On a CPU, small batches keep the activations in
#: cache, and measured faster than large ones for both torch and ONNX Runtime (figures in
#: docs/experiments.md, "Encoder batch sizes"). int8 encodes one text per run instead,
#: spread over the cores (see ``encoders.onnx``): its activations are scaled per run, so
#: only then does a passage's vector not depend on the other texts of its batch.
CPU_BATCH = MappingProxyType({"torch": 8, "onnx": 4, "onnx-int8": 1})
GPU_BATCH = 64


def default_batch_size(backend: str, device: str | None = None) -> int:
    backend = resolve_backend(backend, device)
    if backend == "torch" and _on_accelerator(device):
        return GPU_BATCH
    return CPU_BATCH[backend]


def make_embedder(name: str, *, device: str | None = None, batch_size: int | None = None,
                  backend: str = "auto") -> Embedder:
    """A new embedder for model ``name`` (the model loads on first use, not here). Whoever
    makes one owns it: an ``Engine`` makes one and shares it with its index and builds.

    ``backend`` "onnx" and "onnx-int8" run on the CPU (``device`` is ignored); "auto" is
    resolved by :func:`resolve_backend`, and ``batch_size=None`` by
    :func:`default_batch_size`.
    """
    backend = resolve_backend(backend, device)
    batch_size = batch_size or default_batch_size(backend, device)
    if backend == "torch":
        return SentenceTransformerEmbedder(name, device=device, batch_size=batch_size)
    from .onnx import OnnxEmbedder

    return OnnxEmbedder(name, quantized=backend == "onnx-int8", batch_size=batch_size)
