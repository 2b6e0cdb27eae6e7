"""Settings: defaults, environment overrides, validation; the lazy package namespace."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

import challenge_qa
from challenge_qa.config import DEFAULT_MODEL, Settings
from challenge_qa.errors import ChallengeQAError


def test_defaults():
    s = Settings()
    assert s.model == DEFAULT_MODEL == "sentence-transformers/all-MiniLM-L6-v2"
    assert s.corpus_dir == Path("docs_corpus")
    assert s.index_dir == Path("index")
    assert (s.chunk_chars, s.overlap_chars, s.k) == (1000, 200, 5)
    assert s.chunking() == {"chunk_chars": 1000, "overlap_chars": 200, "title_context": True}


def test_frozen_and_replace():
    s = Settings()
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.k = 3  # type: ignore[misc]
    t = s.replace(chunk_chars=600)
    assert t.chunk_chars == 600 and s.chunk_chars == 1000
    assert t.chunking()["chunk_chars"] == 600


def test_from_env_parses_types():
    env = {
        "CHALLENGE_QA_CORPUS": "/data/articles",
        "CHALLENGE_QA_INDEX": "/data/idx",
        "CHALLENGE_QA_MODEL": "/models/mini",
        "CHALLENGE_QA_DEVICE": "cpu",
        "CHALLENGE_QA_CHUNK_CHARS": "500",
        "CHALLENGE_QA_OVERLAP_CHARS": "50",
        "CHALLENGE_QA_BATCH_SIZE": "8",
    }
    s = Settings.from_env(env)
    assert s.corpus_dir == Path("/data/articles") and isinstance(s.corpus_dir, Path)
    assert s.index_dir == Path("/data/idx") and isinstance(s.index_dir, Path)
    assert s.model == "/models/mini"
    assert s.device == "cpu"
    assert (s.chunk_chars, s.overlap_chars, s.batch_size) == (500, 50, 8)
    assert isinstance(s.chunk_chars, int)


def test_from_env_ignores_empty_and_overrides_win():
    env = {"CHALLENGE_QA_CHUNK_CHARS": "", "CHALLENGE_QA_INDEX": "/from/env"}
    s = Settings.from_env(env, index_dir="/explicit", corpus_dir=None, k=7)
    assert s.chunk_chars == 1000  # empty value ignored
    assert s.index_dir == Path("/explicit") and isinstance(s.index_dir, Path)
    assert s.corpus_dir == Path("docs_corpus")  # None override ignored
    assert s.k == 7


def test_from_env_reads_os_environ_by_default(monkeypatch):
    monkeypatch.setenv("CHALLENGE_QA_CHUNK_CHARS", "444")
    assert Settings.from_env().chunk_chars == 444


def test_from_env_bad_number_is_a_named_error():
    """A non-numeric CHALLENGE_QA_* value should be a ChallengeQAError naming the variable
    (the CLI then prints one 'Error:' line) rather than a bare ValueError traceback."""
    with pytest.raises(ChallengeQAError, match="CHALLENGE_QA_CHUNK_CHARS"):
        Settings.from_env({"CHALLENGE_QA_CHUNK_CHARS": "abc"})


@pytest.mark.parametrize("changes", [
    {"chunk_chars": 0},
    {"chunk_chars": -5},
])
def test_settings_refuse_impossible_values(changes):
    """chunk_chars <= 0 makes chunk_spans loop forever (see test_chunking); Settings should
    refuse such values up front."""
    with pytest.raises(ChallengeQAError):
        Settings(**changes)


def test_lazy_exports():
    assert challenge_qa.Settings is Settings
    assert "retrieve" in dir(challenge_qa)
    assert "__version__" in challenge_qa.__all__
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        challenge_qa.nope  # noqa: B018


def test_import_is_cheap():
    """Importing the package loads no model, no FAISS and no torch."""
    code = ("import challenge_qa, sys; print('torch' in sys.modules, 'faiss' in sys.modules, "
            "'sentence_transformers' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120)
    assert out.stdout.split() == ["False", "False", "False"]
