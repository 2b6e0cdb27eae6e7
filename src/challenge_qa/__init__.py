"""challenge_qa: ask questions of a folder of news articles and get cited snippets.

Importing the package is cheap: no model, index or heavy library loads until used.

Example:
    >>> from challenge_qa import retrieve
    >>> retrieve("Who plays the patient?", k=1)[0].sentence  # doctest: +SKIP
    'The patient is portrayed by real-life cosmonaut Oleg Novitskiy.'
"""

from __future__ import annotations

import importlib
from types import MappingProxyType

from .config import VERSION as __version__

_EXPORTS = MappingProxyType({
    **{name: "errors" for name in (
        "ChallengeQAError", "InvalidQuestionError", "InvalidArgumentError",
        "CorpusNotFoundError", "CorpusEmptyError", "IndexNotFoundError", "IndexMismatchError",
        "IndexCorruptError", "IndexLockedError", "ModelLoadError", "EvalInputError",
        "AddArticleError", "UploadRefusedError", "FetchError", "NotAnArticleError")},
    "Settings": "config",
    "Article": "corpus.load",
    "load_articles": "corpus.load",
    "Passage": "corpus.passages",
    "split_passages": "corpus.passages",
    "build_index": "engine",
    "load_index": "engine",
    "Index": "search.index",
    "IndexReport": "store.build",
    "Hit": "search.retrieve",
    "retrieve": "engine",
    "evaluate": "eval.beir",
    "Answer": "answering.compose",
    "Engine": "engine",
    "timeline": "engine",
    "Timeline": "answering.timeline",
    "Event": "answering.timeline",
    "default_engine": "engine",
    "Status": "engine",
    "answer": "engine",
    "add_files": "corpus.ingest",
    "add_url": "corpus.ingest",
    "AddReport": "corpus.ingest",
    "answer_markdown": "app.markdown",
})


__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'challenge_qa' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return __all__

