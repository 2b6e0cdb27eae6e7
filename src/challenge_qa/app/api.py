"""The web app's API endpoints, also served as MCP tools: ``answer``, ``retrieve`` and
``timeline``, typed and documented for an agent (Gradio names each tool after its function
and reads its parameters from the signature and the docstring's Args).

Each returns its result as JSON text, under the field names that the result types document
(``Answer.to_dict``, ``Hit.to_dict``, ``Timeline.to_dict``): an MCP client gets it as the
tool's text content (Gradio's MCP server sends a tool's value as ``str(value)``, which for a
dict would be a Python repr, not JSON; and Gradio's ``structured_output`` would only wrap
that same text), a ``gradio_client`` caller reads it with ``json.loads``. Citations are
compact: the article, the passage id, the quoted sentence and its offsets, not the passage.
An empty optional field is no filter.
"""

from __future__ import annotations

import json

from ..answering.conversation import Conversation
from ..engine import Engine


def _opt(value) -> str | None:
    """An empty text field is no filter (the library refuses an empty date)."""
    value = (value or "").strip() if isinstance(value, str) else value
    return value or None


def filters_of(since, until, as_of, sources) -> dict:
    """The filter widgets as ``answer``'s keyword arguments."""
    return {"since": _opt(since), "until": _opt(until), "as_of": _opt(as_of),
            "sources": [s for s in sources or [] if s] or None}


def to_json(value) -> str:
    """A result's JSON-safe dict (or a list of them) as the JSON text a tool returns."""
    return json.dumps(value, ensure_ascii=False)


def api_tools(engine: Engine):
    """The API endpoints, also served as MCP tools (named after the functions)."""

    def answer(question: str, k: int | None = None, per_article: bool = False,
               history: list | None = None, since: str | None = None,
               until: str | None = None, sources: list[str] | None = None,
               as_of: str | None = None) -> str:
        """Answer a question from the news articles with quoted, cited sentences, as JSON.
        A follow-up ("Is he a real cosmonaut?") is resolved against the history given.

        Args:
            question: The question in plain words, e.g. "Who plays the patient?".
            k: How many passages to return as sources, 1 to 1000 (default 5).
            per_article: Return at most one passage per article.
            history: Earlier [question, answer] pairs for "he"; answer: this tool's result or text.
            since: Only articles published on or after this date (YYYY, YYYY-MM or YYYY-MM-DD).
            until: Only articles published on or before this date (YYYY, YYYY-MM or YYYY-MM-DD).
            sources: Only articles of these publishers, e.g. ["CNN"].
            as_of: Answer from what was published by this date (YYYY, YYYY-MM or YYYY-MM-DD).

        Returns:
            A JSON object: question, query (what was searched, a follow-up's "he" resolved),
            found (false when the articles do not cover the question), short (the short
            answer), short_date, short_start, short_end, confidence (0 to 1), text (the
            answer, with [n] markers), statements (text, citations, dates, articles,
            sources), citations (the n-th is [n]: doc_id, title, source, date, url,
            article_path, page, passage_id, sentence, sentence_start, sentence_end), hits
            (the passages retrieved: the same and rank, score), reader, filters.
        """
        a = engine.answer(question, k=None if k is None else int(k),
                          per_article=bool(per_article), history=Conversation.of(history),
                          **filters_of(since, until, as_of, sources))
        return to_json(a.to_dict())

    def retrieve(question: str, k: int | None = None, per_article: bool = False,
                 since: str | None = None, until: str | None = None,
                 sources: list[str] | None = None, as_of: str | None = None) -> str:
        """The passages of the news articles that best match a question, best first, as JSON.

        Args:
            question: The question or search words.
            k: How many passages, 1 to 1000 (default 5).
            per_article: At most one passage (the best) per article.
            since: Only articles published on or after this date (YYYY, YYYY-MM or YYYY-MM-DD).
            until: Only articles published on or before this date (YYYY, YYYY-MM or YYYY-MM-DD).
            sources: Only articles of these publishers, e.g. ["CNN"].
            as_of: Only articles published by this date (YYYY, YYYY-MM or YYYY-MM-DD).

        Returns:
            A JSON list of hits, best first: doc_id, title, source, date, url, article_path,
            page, passage_id, sentence (the one best matching), sentence_start,
            sentence_end, rank, score, text (the passage), start, end, dense_score,
            bm25_score.
        """
        hits = engine.retrieve(question, None if k is None else int(k),
                               per_article=bool(per_article),
                               **filters_of(since, until, as_of, sources))
        return to_json([h.to_dict(passage=True) for h in hits])

    def timeline(topic: str, since: str | None = None, until: str | None = None,
                 sources: list[str] | None = None) -> str:
        """The dated events of the news articles about a topic, in date order,
        each with its quoted sentence and the articles reporting it, as JSON.

        Args:
            topic: What the story is about, e.g. "The Challenge".
            since: Only articles published on or after this date (YYYY, YYYY-MM or YYYY-MM-DD).
            until: Only articles published on or before this date (YYYY, YYYY-MM or YYYY-MM-DD).
            sources: Only articles of these publishers, e.g. ["CNN"].

        Returns:
            A JSON object: topic, articles, filters, and events in date order, each with
            date (ISO), precision (day, month or year), label ("5 October 2021"), text
            (the quoted sentence), mention, sources and citations (doc_id, title, source,
            date, url, article_path, page, passage_id, sentence, sentence_start,
            sentence_end).
        """
        f = filters_of(since, until, None, sources)
        f.pop("as_of")
        return to_json(engine.timeline(topic, **f).to_dict())

    return answer, retrieve, timeline
