"""challenge_qa: ask questions of a folder of news articles and get cited snippets.

Importing the package is cheap: no model, index or heavy library loads until used.

Example:
    >>> from challenge_qa import retrieve
    >>> retrieve("Who plays the patient?", k=1)[0].sentence  # doctest: +SKIP
    'The patient is portrayed by real-life cosmonaut Oleg Novitskiy.'
"""

from __future__ import annotations

import importlib

from .config import VERSION as __version__

_EXPORTS = {
    "Settings": "config",
    "Article": "corpus.load",
    "load_articles": "corpus.load",
    "Passage": "text.chunking",
    "split_passages": "text.chunking",
    "build_index": "store.build",
    "load_index": "search.index",
    "Index": "search.index",
    "IndexReport": "store.build",
    "Hit": "search.retrieve",
    "retrieve": "search.retrieve",
    "evaluate": "eval.beir",
    "Answer": "answering.compose",
    "Engine": "engine",
    "timeline": "answering.timeline",
    "Timeline": "answering.timeline",
    "Event": "answering.timeline",
    "get_engine": "engine",
    "answer": "answering.compose",
    "add_files": "corpus.ingest",
    "add_url": "corpus.ingest",
    "AddReport": "corpus.ingest",
    "answer_markdown": "app.markdown",
}
_EXPORTS.update({name: "errors" for name in (
    "ChallengeQAError", "InvalidQuestionError", "InvalidArgumentError", "CorpusNotFoundError",
    "CorpusEmptyError", "IndexNotFoundError", "IndexMismatchError", "IndexCorruptError",
    "IndexLockedError", "ModelLoadError", "EvalInputError", "AddArticleError",
    "UploadRefusedError", "FetchError", "NotAnArticleError")})

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

