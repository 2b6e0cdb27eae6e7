"""The ONNX Runtime encoder: agreement with PyTorch, the export cache, index use, settings."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest
from helpers import SMALL

from challenge_qa import answer, build_index, load_index, retrieve
from challenge_qa.config import DEFAULT_MODEL, Settings
from challenge_qa.encoders.embedding import SentenceTransformerEmbedder, make_embedder
from challenge_qa.encoders.models import resolve_model
from challenge_qa.errors import InvalidArgumentError, ModelLoadError

SENTENCES = [
    "Mount Etna erupted on Sunday night and ash fell on Catania.",
    "Honey bees show their hive mates where flowers are with a waggle dance.",
    "Who won the national chess championship?",
    "The winning time was two hours and seventeen minutes.",
    "A bright green comet was photographed over Chile on Tuesday.",
    "Volunteers restored the old lighthouse. " * 40,  # longer than max_seq_length: truncated
]


@pytest.fixture(scope="module")
def onnx_cache(tmp_path_factory):
    """One export cache for the module: every test after the first reuses its files."""
    return tmp_path_factory.mktemp("onnx-cache")


@pytest.fixture(autouse=True)
def _cache_env(monkeypatch, onnx_cache):
    monkeypatch.setenv("CHALLENGE_QA_CACHE", str(onnx_cache))


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1)


@pytest.mark.slow
@pytest.mark.parametrize(("backend", "floor"), [("onnx", 0.999), ("onnx-int8", 0.98)])
def test_vectors_match_torch(backend, floor):
    ref = make_embedder(DEFAULT_MODEL, backend="torch").encode_documents(SENTENCES)
    emb = make_embedder(DEFAULT_MODEL, batch_size=4, backend=backend)  # several batches
    got = emb.encode_documents(SENTENCES)
    assert got.shape == ref.shape == (len(SENTENCES), emb.dimension)
    assert got.dtype == np.float32 and got.flags.c_contiguous
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    assert cosines(got, ref).min() > floor
    # the same text as a query, alone, gets the vector it gets in a sorted batch
    one = emb.encode_queries([SENTENCES[2]])
    assert cosines(one, ref[2:3])[0] > floor
    assert emb.encode_documents([]).shape == (0, emb.dimension)


@pytest.mark.slow
def test_int8_vectors_do_not_depend_on_their_neighbours():
    """int8 activations are scaled per run: each text runs alone, so an incremental build
    (other batches) gives the vectors of a full one, and a query those of a document."""
    emb = make_embedder(DEFAULT_MODEL, backend="onnx-int8")
    together = emb.encode_documents(SENTENCES)
    alone = np.concatenate([emb.encode_documents([t]) for t in SENTENCES])
    np.testing.assert_allclose(together, alone, atol=1e-6)
    np.testing.assert_allclose(emb.encode_documents(SENTENCES[::-1])[::-1], together,
                               atol=1e-6)


@pytest.mark.slow
def test_export_is_cached(onnx_cache):
    from challenge_qa.encoders.onnx import OnnxEmbedder, export_dir

    first = OnnxEmbedder(DEFAULT_MODEL, quantized=True, batch_size=8)
    v1 = first.encode_queries(SENTENCES[:2])
    folder = export_dir(DEFAULT_MODEL, first.spec.folder)
    assert folder.parent.parent == onnx_cache
    files = [folder / "model.onnx", folder / "model_int8.onnx"]
    stamps = [f.stat().st_mtime_ns for f in files]
    second = OnnxEmbedder(DEFAULT_MODEL, quantized=True, batch_size=8)
    np.testing.assert_allclose(second.encode_queries(SENTENCES[:2]), v1, atol=1e-6)
    assert [f.stat().st_mtime_ns for f in files] == stamps  # loaded, not exported again
    assert not list(folder.glob(".*.onnx"))  # no temporary file left behind


@pytest.mark.slow
def test_int8_index_answers_questions(tmp_path, small_corpus_ro):
    s = SMALL.replace(backend="onnx-int8")
    build_index(small_corpus_ro, tmp_path / "index", full=True, settings=s)
    manifest = json.loads((tmp_path / "index" / "manifest.json").read_text())
    assert manifest["backend"] == "onnx-int8"
    idx = load_index(tmp_path / "index", settings=s)
    assert idx.embedder.name == DEFAULT_MODEL and idx.embedder.quantized
    dense_only = load_index(tmp_path / "index", settings=s.replace(dense_weight=1.0))
    hit = retrieve("Where do the bees find flowers?", k=1, index=dense_only)[0]
    assert hit.doc_id == "nature/bees.html"
    a = answer("What did the volcano do on Sunday?", index=idx)
    assert a.found and a.citations[0].doc_id == "volcano.md"
    assert "erupted" in a.text
    # an index built by one backend is still loaded by another: the vectors are compatible
    torch_idx = load_index(tmp_path / "index", settings=SMALL.replace(backend="torch"))
    assert isinstance(torch_idx.embedder, SentenceTransformerEmbedder)
    assert answer("What did the volcano do on Sunday?", index=torch_idx).citations[0].doc_id \
        == "volcano.md"


def test_auto_backend_is_int8_onnx_on_the_cpu(monkeypatch):
    import challenge_qa.encoders.embedding as emb

    monkeypatch.setattr(emb, "_cuda_visible", lambda: False)
    assert Settings().backend == "auto"
    assert emb.resolve_backend("auto") == emb.resolve_backend("auto", "cpu") == "onnx-int8"
    assert emb.resolve_backend("auto", "cuda:0") == emb.resolve_backend("auto", "mps") == "torch"
    assert emb.resolve_backend("onnx", "cuda") == "onnx"  # an explicit choice is kept
    monkeypatch.setattr(emb, "_cuda_visible", lambda: True)
    assert emb.resolve_backend("auto") == "torch"  # a GPU: PyTorch encodes on it
    assert emb.resolve_backend("auto", "cpu") == "onnx-int8"
    # without onnxruntime, auto falls back to PyTorch instead of failing
    monkeypatch.setattr(emb, "_cuda_visible", lambda: False)
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "onnxruntime" else real(name, *a))
    assert emb.resolve_backend("auto") == "torch"


@pytest.mark.slow
def test_default_index_records_the_resolved_backend(small_index_ro):
    index_dir, _ = small_index_ro
    from challenge_qa.encoders.embedding import resolve_backend

    manifest = json.loads((index_dir / "manifest.json").read_text())
    assert manifest["backend"] == resolve_backend("auto") != "auto"
    if manifest["backend"] == "onnx-int8":  # a machine without a GPU, as in CI
        assert load_index(index_dir, settings=SMALL).embedder.quantized


def test_invalid_backend_is_refused():
    with pytest.raises(InvalidArgumentError, match="backend"):
        Settings(backend="tensorrt")
    with pytest.raises(InvalidArgumentError, match="backend"):
        Settings.from_env({"CHALLENGE_QA_BACKEND": "onnx-fp16"})
    assert Settings.from_env({"CHALLENGE_QA_BACKEND": "onnx-int8"}).backend == "onnx-int8"
    with pytest.raises(InvalidArgumentError):
        make_embedder(DEFAULT_MODEL, backend="openvino")


def test_missing_onnxruntime_says_what_to_do(monkeypatch):
    import challenge_qa.encoders.onnx as ob

    real = importlib.util.find_spec
    monkeypatch.setattr(ob.importlib.util, "find_spec",
                        lambda name, *a: None if name == "onnxruntime" else real(name, *a))
    with pytest.raises(ModelLoadError) as err:
        ob.OnnxEmbedder(DEFAULT_MODEL, quantized=False)
    assert "pip install onnxruntime" in err.value.hint and "BACKEND=torch" in err.value.hint


def test_model_spec_of_the_bundled_model():
    from challenge_qa.encoders.onnx import read_spec

    spec = read_spec(resolve_model(DEFAULT_MODEL))
    assert (spec.pooling, spec.max_seq_length, spec.dimension, spec.normalize) == (
        "mean", 256, 384, True)


def test_unsupported_pooling_is_refused(tmp_path):
    from challenge_qa.encoders.onnx import read_spec

    (tmp_path / "1_Pooling").mkdir()
    (tmp_path / "modules.json").write_text(json.dumps([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling",
         "type": "sentence_transformers.models.Pooling"},
    ]))
    (tmp_path / "config.json").write_text('{"hidden_size": 8}')
    (tmp_path / "1_Pooling" / "config.json").write_text('{"pooling_mode_max_tokens": true}')
    with pytest.raises(ModelLoadError, match="pooling"):
        read_spec(tmp_path)
    (tmp_path / "1_Pooling" / "config.json").write_text('{"pooling_mode": "cls"}')
    assert read_spec(tmp_path).pooling == "cls"
