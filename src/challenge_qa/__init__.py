"""challenge_qa: ask questions of a folder of news articles and get cited snippets.

Importing the package is cheap: no model, index or heavy library loads until used.

Example:
    >>> from challenge_qa import retrieve
    >>> retrieve("Who plays the patient?", k=1)[0].sentence  # doctest: +SKIP
    'The patient is portrayed by real-life cosmonaut Oleg Novitskiy.'
"""

from __future__ import annotations

import importlib
import sys
import types

__version__ = "0.1.0"

_EXPORTS = {
    "Settings": "config",
    "Article": "corpus",
    "load_articles": "corpus",
    "Passage": "chunking",
    "split_passages": "chunking",
    "build_index": "indexer",
    "load_index": "searcher",
    "Index": "searcher",
    "IndexReport": "indexer",
    "Hit": "retrieval",
    "retrieve": "retrieval",
    "evaluate": "evaluation",
    "Answer": "answer",
    "Engine": "engine",
    "timeline": "timeline",
    "Timeline": "timeline",
    "Event": "timeline",
    "get_engine": "engine",
    "answer": "answer",
    "add_files": "ingest",
    "add_url": "ingest",
    "AddReport": "ingest",
    "answer_markdown": "export",
}
_EXPORTS.update({name: "errors" for name in (
    "ChallengeQAError", "InvalidQuestionError", "InvalidArgumentError", "CorpusNotFoundError",
    "CorpusEmptyError", "IndexNotFoundError", "IndexMismatchError", "IndexCorruptError",
    "IndexLockedError", "ModelLoadError", "EvalInputError", "AddArticleError",
    "UploadRefusedError", "FetchError", "NotAnArticleError")})

__all__ = sorted(_EXPORTS) + ["__version__"]


class _Package(types.ModuleType):
    """Keeps the exported functions ``answer`` and ``timeline`` in place when their
    modules (``challenge_qa.answer``, ``challenge_qa.timeline``) are imported: the import
    system sets a package attribute for each submodule it loads, which would otherwise
    replace the function with the module."""

    def __setattr__(self, name: str, value) -> None:
        if isinstance(value, types.ModuleType) and _EXPORTS.get(name) == name:
            return  # the submodule stays reachable through sys.modules
        super().__setattr__(name, value)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'challenge_qa' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return __all__


sys.modules[__name__].__class__ = _Package
