"""challenge_qa: ask questions of a folder of news articles and get cited snippets.

Importing the package is cheap: no model, index or heavy library loads until used.

Example:
    >>> from challenge_qa import retrieve
    >>> retrieve("Who plays the patient?", k=1)[0].sentence  # doctest: +SKIP
    'The patient is portrayed by real-life cosmonaut Oleg Novitskiy.'
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_EXPORTS = {
    "Settings": "config",
    "Article": "corpus",
    "load_articles": "corpus",
    "Passage": "chunking",
    "split_passages": "chunking",
    "build_index": "store",
    "load_index": "store",
    "Index": "store",
    "IndexReport": "store",
    "Hit": "retrieval",
    "retrieve": "retrieval",
    "evaluate": "evaluation",
    "Answer": "answer",
    "answer": "answer",
}
_EXPORTS.update({name: "errors" for name in (
    "ChallengeQAError", "InvalidQuestionError", "InvalidArgumentError", "CorpusNotFoundError",
    "CorpusEmptyError", "IndexNotFoundError", "IndexMismatchError", "IndexCorruptError",
    "IndexLockedError", "ModelLoadError", "EvalInputError")})

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
