"""The web app's API endpoints, also served as MCP tools: ``answer``, ``retrieve`` and
``timeline``, typed and documented for an agent (Gradio names each tool after its function
and reads its parameters from the signature and the docstring's Args).

Each returns the library's result as a dict (``dataclasses.asdict``), with every hit's
``path`` named ``article_path``: ``gradio_client`` takes any dict with a ``path`` for a file
to download. An empty optional field is no filter.
"""

from __future__ import annotations

from dataclasses import asdict

from ..answering.compose import answer as _answer
from ..answering.timeline import timeline as _timeline
from ..search.retrieve import retrieve as _retrieve
from ..service import IndexService


def _opt(value) -> str | None:
    """An empty text field is no filter (the library refuses an empty date)."""
    value = (value or "").strip() if isinstance(value, str) else value
    return value or None


def filters_of(since, until, as_of, sources) -> dict:
    """The filter widgets as ``answer``'s keyword arguments."""
    return {"since": _opt(since), "until": _opt(until), "as_of": _opt(as_of),
            "sources": [s for s in sources or [] if s] or None}


def _no_path(hit: dict) -> dict:
    # gradio_client takes any dict with a ``path`` for a file to download
    hit["article_path"] = hit.pop("path")
    return hit


def api_tools(service: IndexService):
    """The API endpoints, also served as MCP tools (named after the functions)."""

    def answer(question: str, k: int | None = None, per_article: bool = False,
               history: list | None = None, since: str | None = None,
               until: str | None = None, sources: list[str] | None = None,
               as_of: str | None = None) -> dict:
        """Answer a question from the news articles with quoted, cited sentences.
        Each hit's article file path is named article_path.

        Args:
            question: The question in plain words, e.g. "Who plays the patient?".
            k: How many passages to return as sources, 1 to 1000 (default 5).
            per_article: Return at most one passage per article.
            history: Earlier [question, answer] pairs (answer: a result of this tool) for "he".
            since: Only articles published on or after this date (YYYY, YYYY-MM or YYYY-MM-DD).
            until: Only articles published on or before this date (YYYY, YYYY-MM or YYYY-MM-DD).
            sources: Only articles of these publishers, e.g. ["CNN"].
            as_of: Answer from what was published by this date (YYYY, YYYY-MM or YYYY-MM-DD).

        Returns:
            A dict: text (the answer, with [n] markers), found (false when the articles
            do not cover the question), short (the short answer), confidence (0 to 1),
            query (what was searched), statements, citations (the n-th is [n]: title,
            source, date, url, article_path, sentence and offsets), hits (the passages).
        """
        out = asdict(_answer(question, k=None if k is None else int(k),
                             per_article=bool(per_article), history=history or (),
                             index=service.index(),
                             **filters_of(since, until, as_of, sources)))
        for hit in out["citations"] + out["hits"]:
            _no_path(hit)
        return out

    def retrieve(question: str, k: int | None = None, per_article: bool = False,
                 since: str | None = None, until: str | None = None,
                 sources: list[str] | None = None, as_of: str | None = None) -> list[dict]:
        """The passages of the news articles that best match a question, best first.

        Args:
            question: The question or search words.
            k: How many passages, 1 to 1000 (default 5).
            per_article: At most one passage (the best) per article.
            since: Only articles published on or after this date (YYYY, YYYY-MM or YYYY-MM-DD).
            until: Only articles published on or before this date (YYYY, YYYY-MM or YYYY-MM-DD).
            sources: Only articles of these publishers, e.g. ["CNN"].
            as_of: Only articles published by this date (YYYY, YYYY-MM or YYYY-MM-DD).

        Returns:
            A list of hits, best first: doc_id, title, source, date, url, article_path,
            text (the passage), sentence (the one best matching), offsets, score.
        """
        hits = _retrieve(question, None if k is None else int(k), index=service.index(),
                         per_article=bool(per_article),
                         **filters_of(since, until, as_of, sources))
        return [_no_path(asdict(h)) for h in hits]

    def timeline(topic: str, since: str | None = None, until: str | None = None,
                 sources: list[str] | None = None) -> dict:
        """The dated events of the news articles about a topic, in date order,
        each with its quoted sentence and the articles reporting it.

        Args:
            topic: What the story is about, e.g. "The Challenge".
            since: Only articles published on or after this date (YYYY, YYYY-MM or YYYY-MM-DD).
            until: Only articles published on or before this date (YYYY, YYYY-MM or YYYY-MM-DD).
            sources: Only articles of these publishers, e.g. ["CNN"].

        Returns:
            A dict whose events, in date order, each have a label ("5 October 2021"), a
            precision (day, month or year), the text reported and its citations.
        """
        f = filters_of(since, until, None, sources)
        f.pop("as_of")
        out = asdict(_timeline(topic, index=service.index(), **f))
        for event in out["events"]:
            for hit in event["citations"]:
                _no_path(hit)
        return out

    return answer, retrieve, timeline
