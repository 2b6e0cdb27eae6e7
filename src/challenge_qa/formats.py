"""The article files challenge_qa reads: the one list of supported types, by suffix."""

from __future__ import annotations

from types import MappingProxyType

#: The article files read, by suffix, and their kind: the one list of supported types.
SUFFIXES = MappingProxyType({".md": "md", ".markdown": "md", ".txt": "txt", ".html": "html",
                             ".htm": "html", ".jsonl": "jsonl", ".pdf": "pdf"})
#: What each kind of file is called in messages.
KINDS = MappingProxyType({"md": "Markdown", "txt": "plain text", "html": "HTML",
                          "jsonl": "JSONL", "pdf": "PDF"})


def file_types(last: str = "or") -> str:
    """The supported files, one suffix per kind, for messages.

    Example:
        >>> file_types()
        '.md, .txt, .html, .jsonl or .pdf'
    """
    named = list(dict.fromkeys(f".{kind}" for kind in SUFFIXES.values()))
    return f"{', '.join(named[:-1])} {last} {named[-1]}"
