"""ONNX Runtime embedder: the sentence-transformers model exported once to ONNX (fp32 or int8).

The export reads only the local model folder (never the network) and is cached under
``$CHALLENGE_QA_CACHE``, ``$XDG_CACHE_HOME/challenge_qa`` or ``~/.cache/challenge_qa``.
Needs ``onnxruntime`` and ``onnx`` (dependencies of challenge-qa) and, for the export, torch.

Why not sentence-transformers' own ONNX backend (``SentenceTransformer(backend="onnx")``,
``export_dynamic_quantized_onnx_model``)? Three reasons, each measured (the figures are in
docs/experiments.md, "The ONNX encoder"):

- It needs ``optimum[onnxruntime]`` for both export and quantisation: another large
  dependency tree for what ``torch.onnx.export`` and ``onnxruntime.quantization`` do here
  in about 60 lines.
- It runs batches. With int8 weights, ONNX Runtime scales activations per call, so a text's
  vector depends on the other texts of its batch; running each text alone makes a passage's
  vector the same in a full and an incremental build (tested), and on a CPU it was also
  faster than batches (``python -m benchmarks --only encoders``).
- Its quantisation presets (optimum's ``AutoQuantizationConfig.<arch>(is_static=False)``)
  quantise weights per tensor, which moves the vectors much further from fp32's than
  per-channel int8 weights do (see ``_quantize``).
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import json
import logging
import os
import re
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from ..config import cache_dir
from ..errors import ModelLoadError
from .models import resolve_model

#: Bump when the export or quantisation recipe changes, so stale cached files are not reused.
EXPORT_VERSION = 1
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
#: Texts tokenised and length-sorted together: bounds memory on big corpora, and within a
#: block the batches are cut from texts of near-equal token length, so padding is minimal.
SORT_BLOCK = 8192


_USE_TORCH = "Use the PyTorch backend: CHALLENGE_QA_BACKEND=torch."


@dataclass(frozen=True)
class ModelSpec:
    """What the sentence-transformers modules around the transformer do.

    ``normalize`` is informational: vectors are always L2-normalised, as with PyTorch here,
    because the index scores by inner product.
    """

    folder: Path  #: the transformer's own folder (config, weights, tokenizer)
    max_seq_length: int | None
    pooling: str  #: "mean" or "cls"
    normalize: bool
    dimension: int
    lower_case: bool = False
    prompts: dict[str, str] = field(default_factory=dict)


def _json(path: Path):
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def read_spec(root: str | Path) -> ModelSpec:
    """Read modules.json and the module configs of a sentence-transformers folder.

    Raises:
        ModelLoadError: modules or pooling modes (not mean or cls) this backend lacks.
    """
    root = Path(root)
    # without modules.json sentence-transformers wraps a plain model with mean pooling
    modules = _json(root / "modules.json") or [{"type": "Transformer"}, {"type": "Pooling"}]
    kinds = {m["type"].rsplit(".", 1)[-1]: m for m in modules}
    if set(kinds) - {"Normalize"} != {"Transformer", "Pooling"}:
        raise ModelLoadError(f"The ONNX backend supports Transformer + Pooling (+ Normalize) "
                             f"models, not {sorted(kinds)}.", hint=_USE_TORCH)
    folder = root / (kinds["Transformer"].get("path") or "")
    st_cfg, hf_cfg = _json(folder / "sentence_bert_config.json"), _json(folder / "config.json")
    # as sentence-transformers: max_seq_length, else what both tokenizer and positions allow
    limits = [x for x in (_json(folder / "tokenizer_config.json").get("model_max_length"),
                          hf_cfg.get("max_position_embeddings")) if isinstance(x, int)]
    pool = _json(root / (kinds["Pooling"].get("path") or "-") / "config.json")
    mode = pool.get("pooling_mode") or [  # older files: one pooling_mode_*_token(s) flag each
        k.removeprefix("pooling_mode_").removesuffix("_tokens").removesuffix("_token")
        for k, v in pool.items() if k.startswith("pooling_mode_") and v is True] or "mean"
    mode = [mode] if isinstance(mode, str) else list(mode)
    if mode not in (["mean"], ["cls"]):
        raise ModelLoadError(f"The ONNX backend supports mean or cls pooling, not {mode}.",
                             hint=_USE_TORCH)
    prompts = {k: v for k, v in _json(root / "config_sentence_transformers.json")
               .get("prompts", {}).items() if v}
    if prompts and pool.get("include_prompt") is False:
        raise ModelLoadError("The ONNX backend pools prompt tokens too.", hint=_USE_TORCH)
    dim = pool.get("embedding_dimension") or pool.get("word_embedding_dimension") or hf_cfg[
        "hidden_size"]
    return ModelSpec(folder=folder, pooling=mode[0], normalize="Normalize" in kinds,
                     max_seq_length=st_cfg.get("max_seq_length") or min(limits, default=None),
                     dimension=int(dim), lower_case=bool(st_cfg.get("do_lower_case")),
                     prompts=prompts)


def cache_root() -> Path:
    """The cache folder of ``config.cache_dir``."""
    return cache_dir()


def export_dir(name: str, folder: Path) -> Path:
    """``onnx/<name>-<hash>``: the hash of config and weight sizes notices a changed model."""
    h = hashlib.sha256(f"v{EXPORT_VERSION}".encode())
    h.update((folder / "config.json").read_bytes() if (folder / "config.json").is_file() else b"")
    for p in sorted(folder.iterdir()):
        if p.suffix in (".safetensors", ".bin", ".pt", ".pth"):
            h.update(f"{p.name}:{p.stat().st_size};".encode())
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._")[:80] or "model"
    return cache_root() / "onnx" / f"{safe}-{h.hexdigest()[:12]}"


def ensure_onnx(name: str, folder: Path, *, quantized: bool) -> Path:
    """The cached ``model.onnx`` (or ``model_int8.onnx``), exported on first use; a file
    lock makes concurrent processes wait for one export, and files appear atomically."""
    out = export_dir(name, folder)
    target = out / ("model_int8.onnx" if quantized else "model.onnx")
    if target.is_file():
        return target
    out.mkdir(parents=True, exist_ok=True)
    with open(out / ".export.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # blocks while another process exports
        if not (out / "model.onnx").is_file():
            _atomic(out / "model.onnx", lambda tmp: _export(folder, tmp))
        if quantized and not target.is_file():
            _atomic(target, lambda tmp: _quantize(out / "model.onnx", tmp))
    return target


def _atomic(dest: Path, write) -> None:
    tmp = dest.with_name(f".{os.getpid()}-{dest.name}")  # keeps the .onnx suffix
    try:
        write(tmp)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


def _export(folder: Path, dest: Path) -> None:
    import inspect

    import torch
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # per-weight loading bars are noise for users
    # eager attention traces to plain ops that ORT fuses; a fresh model is used and dropped
    # because tracing leaves the exported instance unfit for further use
    model = AutoModel.from_pretrained(folder, attn_implementation="eager").eval()
    names = [n for n in INPUTS if n in inspect.signature(model.forward).parameters]

    class LastHidden(torch.nn.Module):  # keyword call: positional order differs by version
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, *args):
            return self.model(**dict(zip(names, args, strict=True))).last_hidden_state

    dummy = tuple(torch.ones(2, 8, dtype=torch.long) for _ in names)
    axes = {n: {0: "batch", 1: "sequence"} for n in [*names, "last_hidden_state"]}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about shape-dependent Python code
        # the TorchScript exporter needs no onnxscript and handles dynamic axes well here
        torch.onnx.export(LastHidden(), dummy, str(dest), input_names=names,
                          output_names=["last_hidden_state"], dynamic_axes=axes,
                          opset_version=17, dynamo=False)


def _quantize(src: Path, dest: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # Per-channel int8 weights keep the vectors close to fp32's; per-tensor weights do
    # not. reduce_range (7-bit weights, meant for CPUs without VNNI) is left off: on a CPU
    # with VNNI it only lowers precision, a little with per-channel weights and a lot
    # without (docs/experiments.md, "The ONNX encoder").
    # ORT advises pre-processing, which changes nothing for this graph: drop that log line
    quiet = lambda r: "pre-processing before quantization" not in r.getMessage()  # noqa: E731
    logging.getLogger().addFilter(quiet)
    try:
        quantize_dynamic(src, dest, weight_type=QuantType.QInt8, per_channel=True)
    finally:
        logging.getLogger().removeFilter(quiet)


def _local_folder(name: str) -> Path:
    """The model's folder: a path, the bundled model, or a hub name already downloaded."""
    target = Path(resolve_model(name))
    if target.is_dir():
        return target
    from huggingface_hub import snapshot_download

    return Path(snapshot_download(name, local_files_only=True))  # never the network


class OnnxEmbedder:
    """``SentenceTransformerEmbedder``'s interface on ONNX Runtime (CPU), fp32 or int8.

    Loads on first use; ``encode_*`` may be called from many threads at once.

    Example:
        >>> e = OnnxEmbedder("all-MiniLM-L6-v2", quantized=True)  # doctest: +SKIP
        >>> e.encode_queries(["Who directed The Challenge?"]).shape  # doctest: +SKIP
        (1, 384)
    """

    def __init__(self, name: str, *, quantized: bool = False, batch_size: int = 4):
        if importlib.util.find_spec("onnxruntime") is None:
            raise ModelLoadError("The ONNX backend needs onnxruntime, which is not installed.",
                                 hint="pip install onnxruntime onnx, or use the PyTorch "
                                 "backend: CHALLENGE_QA_BACKEND=torch.")
        self.name, self.quantized, self.batch_size = name, quantized, batch_size
        self._spec: ModelSpec | None = None
        self._session: Any = None
        self._solo: Any = None
        self._tokenizer: Any = None
        self._workers = 1
        self._inputs: list[str] = []
        self._max_len = self._pad = 0
        self._lock = threading.Lock()  # first load
        self._tok_lock = threading.Lock()  # HF fast tokenizers are not safe to share

    @property
    def spec(self) -> ModelSpec:
        if self._spec is None:
            try:
                folder = _local_folder(self.name)
            except Exception as e:  # noqa: BLE001 - hub errors vary; all mean "not here"
                where = "folder" if Path(self.name).exists() else "name"
                raise ModelLoadError(
                    f"Could not load the embedding model {self.name!r} (by {where}): it is "
                    "neither a local sentence-transformers folder nor a model already in the "
                    "Hugging Face cache.") from e
            try:
                self._spec = read_spec(folder)
            except (OSError, ValueError, KeyError) as e:
                raise ModelLoadError(f"Could not load the embedding model {self.name!r}: "
                                     f"cannot read its folder {folder}: {e}") from e
        return self._spec

    @property
    def dimension(self) -> int:
        return self.spec.dimension

    def load(self):
        """The ONNX Runtime session, loaded (and exported, the first time) on first call."""
        return self._session or self._load()

    @property
    def loaded(self) -> bool:
        return self._session is not None

    def _load(self):
        with self._lock:
            if self._session is None:
                import onnxruntime as ort
                from transformers import AutoTokenizer

                spec = self.spec
                try:
                    path = ensure_onnx(self.name, spec.folder, quantized=self.quantized)
                except Exception as e:  # noqa: BLE001 - any failure means no ONNX model
                    raise ModelLoadError(f"Could not export {self.name!r} to ONNX: "
                                         f"{e.__class__.__name__}: {e}", hint=_USE_TORCH) from e
                def session(threads: int):
                    opts = ort.SessionOptions()
                    opts.intra_op_num_threads = threads
                    opts.inter_op_num_threads = 1  # no op parallelism in this graph
                    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
                    return ort.InferenceSession(str(path), opts,
                                                providers=["CPUExecutionProvider"])

                cores = len(os.sched_getaffinity(0))
                main = session(cores)  # one text (a query) uses every core
                if self.quantized:
                    # int8 activations are scaled per call, so each text runs alone (its
                    # vector never depends on its neighbours); texts are spread over the
                    # cores, one single-threaded run each: faster than splitting every
                    # product over the cores, and bit-identical to it
                    self._solo, self._workers = session(1), cores
                self._tokenizer = AutoTokenizer.from_pretrained(spec.folder, use_fast=True)
                self._inputs = [i.name for i in main.get_inputs()]
                self._max_len = int(spec.max_seq_length or self._tokenizer.model_max_length)
                self._pad = self._tokenizer.pad_token_id or 0
                self._session = main
        return self._session

    def _feed(self, input_ids: np.ndarray, mask: np.ndarray) -> dict[str, np.ndarray]:
        feed = {"input_ids": input_ids, "attention_mask": mask,
                "token_type_ids": np.zeros_like(input_ids)}
        return {k: feed[k] for k in self._inputs}

    def _pool(self, hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
        if self.spec.pooling == "cls":
            return hidden[:, 0]
        m = mask.astype(np.float32)  # mean over real tokens: (B,1,T) @ (B,T,D), no temporary
        return (m[:, None, :] @ hidden)[:, 0] / m.sum(1, keepdims=True)

    def _one(self, session, ids: list[int]) -> np.ndarray:
        """The pooled vector of one tokenised text."""
        x = np.asarray(ids, dtype=np.int64)[None]
        mask = np.ones_like(x)
        return self._pool(session.run(None, self._feed(x, mask))[0], mask)[0]

    def _encode(self, texts: list[str], prompt: str, show_progress: bool) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        session, spec = self._session or self._load(), self.spec
        texts = [(prompt + t).lower() if spec.lower_case else prompt + t for t in texts]
        out = np.empty((len(texts), spec.dimension), dtype=np.float32)
        solo = self.quantized or len(texts) == 1
        bar = tqdm(total=len(texts), desc="Embedding", unit="passage",
                   disable=not show_progress or len(texts) <= self.batch_size)
        for lo in range(0, len(texts), SORT_BLOCK):
            with self._tok_lock:
                ids = self._tokenizer(texts[lo:lo + SORT_BLOCK], truncation=True,
                                      max_length=self._max_len, return_attention_mask=False,
                                      return_token_type_ids=False)["input_ids"]
            # longest first: a batch is as wide as its first text; solo runs end evenly
            order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))
            if solo and len(ids) == 1:
                out[lo] = self._one(session, ids[0])
                bar.update(1)
                continue
            if solo:
                with ThreadPoolExecutor(self._workers) as pool:
                    vecs = pool.map(partial(self._one, self._solo), [ids[i] for i in order])
                    for i, vec in zip(order, vecs, strict=True):
                        out[lo + i] = vec
                        bar.update(1)
                continue
            for b in range(0, len(order), self.batch_size):
                rows = order[b:b + self.batch_size]
                input_ids = np.full((len(rows), len(ids[rows[0]])), self._pad, dtype=np.int64)
                mask = np.zeros_like(input_ids)
                for r, i in enumerate(rows):
                    input_ids[r, :len(ids[i])], mask[r, :len(ids[i])] = ids[i], 1
                hidden = session.run(None, self._feed(input_ids, mask))[0]
                out[[lo + i for i in rows]] = self._pool(hidden, mask)
                bar.update(len(rows))
        bar.close()
        out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return np.ascontiguousarray(out)

    def encode_documents(self, texts: list[str], *, show_progress: bool = False) -> np.ndarray:
        p = self.spec.prompts  # as sentence-transformers' encode_document
        prompt = p.get("document") or p.get("passage") or p.get("corpus") or ""
        return self._encode(list(texts), prompt, show_progress)

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        return self._encode(list(texts), self.spec.prompts.get("query", ""), False)
