"""Shared fixtures: small corpora written to temporary folders, and indexes built once.

The real embedding model (the bundled all-MiniLM-L6-v2) loads at most once per test
session: ``challenge_qa.encoders.embedding.make_embedder`` caches it per process. Tests that need it
are marked ``slow``.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
from helpers import DEFAULT, DOCS_CORPUS, SMALL, SMALL_FILES, write_files  # noqa: E402


@pytest.fixture(autouse=True)
def _hermetic_env(monkeypatch, tmp_path_factory):
    """No CHALLENGE_QA_* variable of the caller leaks in; caches go to a temp folder.

    The ONNX export of the default encoder is made once per session (subprocesses too).
    """
    for var in list(os.environ):
        if var.startswith("CHALLENGE_QA_"):
            monkeypatch.delenv(var)
    base = tmp_path_factory.getbasetemp()
    monkeypatch.setenv("XDG_CACHE_HOME", str(base / "xdg-cache"))
    monkeypatch.setenv("CHALLENGE_QA_CACHE", str(base / "challenge-qa-cache"))


@pytest.fixture
def small_corpus(tmp_path) -> Path:
    """A writable copy of the small five-article corpus (md, txt, html, jsonl)."""
    return write_files(tmp_path / "corpus", SMALL_FILES)


@pytest.fixture(scope="session")
def small_corpus_ro(tmp_path_factory) -> Path:
    """The small corpus, shared by the session: do not modify it."""
    return write_files(tmp_path_factory.mktemp("small") / "corpus", SMALL_FILES)


@pytest.fixture(scope="session")
def small_index_ro(tmp_path_factory, small_corpus_ro):
    """(index_dir, report) of a full build of the small corpus with ``SMALL`` settings.

    Shared by the session: tests that change it must work on ``copy_index`` of it.
    """
    from challenge_qa import build_index

    index_dir = tmp_path_factory.mktemp("small-index") / "index"
    report = build_index(small_corpus_ro, index_dir, full=True, settings=SMALL)
    return index_dir, report


@pytest.fixture(scope="session")
def docs_index_ro(tmp_path_factory) -> Path:
    """The real articles of docs_corpus/ indexed with the default settings."""
    from challenge_qa import build_index

    index_dir = tmp_path_factory.mktemp("docs-index") / "index"
    build_index(DOCS_CORPUS, index_dir, full=True, settings=DEFAULT)
    return index_dir
