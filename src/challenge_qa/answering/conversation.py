"""Follow-up questions: resolve "he", "it" or an elliptic "In which year?" against the
conversation, and leave self-contained questions alone.

The previous turn's short answer is usually what a pronoun points to ("Who plays the
patient?" -> **Oleg Novitskiy** -> "Is he a real cosmonaut?" becomes "Is Oleg Novitskiy a
real cosmonaut?"); otherwise a name in the previous question. A ``Conversation`` keeps each
turn as it was resolved when asked, so a chain of pronouns keeps its referent without the
history being resolved again; ``Conversation.from_pairs`` rebuilds one from a plain
``[[question, answer], ...]`` history (the API's and MCP's clients) by resolving its
questions in order, as the chat did. Words the index has never seen are words all the same:
"How do I bake sourdough bread?" stands on its own.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from types import SimpleNamespace

from ..text.words import MONTH_NAMES, QUESTION_WORDS, WEEKDAY_NAMES

_PERSON = frozenset({"he", "she", "him", "her", "his", "hers", "himself", "herself"})
_THING = frozenset({"it", "its", "itself"})
_PLURAL = frozenset({"they", "them", "their", "theirs", "themselves"})
_POSSESSIVE = frozenset({"his", "her", "hers", "its", "their", "theirs"})
_PRONOUN = re.compile(r"\b(" + "|".join(sorted(_PERSON | _THING | _PLURAL)) + r")\b", re.I)
_ELLIPTIC = re.compile(r"^\s*(and|also|what about|how about|and what about)\b", re.I)
_QUESTION_WORDS = QUESTION_WORDS | frozenset({
                   "is", "are", "was", "were", "do", "does", "did", "can", "could", "will",
                   "would", "should", "has", "have", "had", "the", "a", "an", "of", "in", "on",
                   "at", "to", "for", "by", "with", "about", "and", "or", "that", "this",
                   "there", "i", "you", "me", "my", "your", "be", "been", "much", "many",
                   "long", "else", "also", "then", "so", "from", "as", "it", "he", "she",
                   "they", "his", "her", "its", "their", "them", "him"})
_NAME = re.compile(r"\b(?:[A-Z][\w'’.-]*|of|and|de|von|van)(?:\s+(?:[A-Z][\w'’.-]*|of|de|von"
                   r"|van))*")
_NOT_NAMES = QUESTION_WORDS - {"whom", "whose"} | frozenset(MONTH_NAMES) | frozenset(
    WEEKDAY_NAMES) | frozenset({"is", "are", "was", "were", "did", "does", "do", "i", "in",
                                "on", "the", "a", "an", "and", "of", "can", "could", "will",
                                "would", "should", "has", "have", "had", "it", "he", "she",
                                "they"})
_BOLD = re.compile(r"\*\*(.+?)\*\*|<strong>(.+?)</strong>|<b>(.+?)</b>", re.S)


@dataclass(frozen=True)
class Resolved:
    """What is searched for a question asked in a conversation."""

    #: The question as searched: pronouns replaced, or the previous question added.
    query: str
    #: The entity a pronoun was replaced with, if any.
    referent: str | None = None
    #: True when the question leaned on the conversation.
    follow_up: bool = False
    #: The question as asked.
    question: str = ""
    #: "person", "thing" or "plural": the kind of pronoun resolved.
    kind: str | None = None
    #: The earlier turn added to an elliptic question or an unresolved pronoun.
    context: str | None = None


def plain(text: str) -> str:
    """Chat turns may arrive as the web chat's escaped HTML: back to plain text."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", text)).split())


def short_of(answer_text: str) -> str | None:
    """The short answer an assistant turn leads with (in bold), if any.

    Example:
        >>> short_of("**Oleg Novitskiy** — The patient is portrayed by ... [1]")
        'Oleg Novitskiy'
    """
    m = _BOLD.search(answer_text)
    if not m:
        return None
    return plain(next(g for g in m.groups() if g)) or None


def content_words(question: str) -> list[str]:
    """The words of a question that say what it is about (any word, known to the index
    or not), without question words, pronouns and the most common function words.

    Example:
        >>> content_words("How do I bake sourdough bread?")
        ['bake', 'sourdough', 'bread']
    """
    words = re.findall(r"[\w’'-]+", question.lower())
    return [w for w in words if w not in _QUESTION_WORDS and len(w) > 1]


def names(text: str) -> list[str]:
    """Capitalised runs that look like names ("The Challenge", "Oleg Novitskiy"), in order;
    a sentence-initial question word or a month is not one.

    Example:
        >>> names("Who directed The Challenge with Yulia Peresild in October?")
        ['The Challenge', 'Yulia Peresild']
    """
    out = []
    for m in _NAME.finditer(text):
        words = m.group(0).split()
        while words and (words[0].lower() in _NOT_NAMES and not (
                words[0] == "The" and len(words) > 1)):
            words.pop(0)
        while words and words[-1].lower() in {"of", "and", "de", "von", "van"}:
            words.pop()
        if words and words[0][0].isupper():
            out.append(" ".join(words).rstrip(".’'"))
    return [n for n in out if n]


def _is_name(text: str | None) -> bool:
    if not text or any(ch.isdigit() for ch in text) or len(text.split()) > 6:
        return False
    return names(text) == [text]


def _referent(pronoun: str, prev_query: str, prev_short: str | None) -> str | None:
    p = pronoun.lower()
    asked_person = bool(re.match(r"\s*(who|whom|whose)\b", prev_query, re.I))
    in_question = names(prev_query)
    if p in _PERSON:
        people = [n for n in in_question if not n.startswith("The ")]
        if prev_short and _is_name(prev_short) and not prev_short.startswith("The "):
            return prev_short
        return people[0] if people else None
    if p in _THING:
        if _is_name(prev_short) and not asked_person:
            return prev_short
        return in_question[0] if in_question else definite(prev_query)
    if prev_short and not any(ch.isdigit() for ch in prev_short) and (
            _is_name(prev_short) or (" and " in prev_short and len(prev_short.split()) <= 8)):
        return prev_short
    return " and ".join(in_question) if in_question else definite(prev_query, plural=True)


_THE = re.compile(r"\bthe\s+([a-z][a-z-]*)(?:\s+([a-z][a-z-]*))?")
_NOT_NOUN = _QUESTION_WORDS | {"aboard", "after", "before", "into", "over", "under", "during",
                               "shot", "made", "set", "run", "built", "known", "seen",
                               "done", "given", "taken", "first", "last", "same", "other"}


_GROUPS = frozenset({"crew", "team", "cast", "band", "government", "company", "agency", "studio",
           "audience", "public", "police", "family", "couple", "pair", "staff", "committee"})


def definite(question: str, plural: bool = False) -> str | None:
    """The last "the ..." phrase of a question: what "it" points to when the answer was a
    person ("Who directed the film?" -> "the film"); with ``plural``, for "they", the first
    one naming a group or several ("When did the crew launch?" -> "the crew").

    Example:
        >>> definite("Who narrated the documentary?")
        'the documentary'
        >>> definite("Who plays the patient in the film?")
        'the film'
        >>> definite("Who directed the movie shot aboard the ISS?"), definite("Who is Klim?")
        ('the movie', None)
        >>> definite("What does the new trailer show?")
        'the new trailer'
        >>> definite("When did the crew launch to the orbital outpost?", plural=True)
        'the crew'
    """
    found = None
    for m in _THE.finditer(question):
        words = []
        for w in m.groups():
            if not w or w in _NOT_NOUN or w.endswith(("ed", "ing")):
                break
            words.append(w)
        if not words:
            continue
        if plural:
            for n in range(len(words), 0, -1):
                noun = words[n - 1]
                if noun in _GROUPS or (noun.endswith("s") and not noun.endswith("ss")):
                    return "the " + " ".join(words[:n])
            continue
        found = "the " + " ".join(words)
    return found


def _substitute(question: str, match: re.Match, referent: str) -> str:
    word = match.group(0).lower()
    possessive = word in _POSSESSIVE and word != "her"
    if word == "her":  # "her film" (possessive) or "ask her" (object)
        nxt = re.match(r"[a-z]+", question[match.end():].lstrip())
        possessive = nxt is not None and nxt.group(0) not in _QUESTION_WORDS | {
            "to", "about", "with"}
    repl = referent + "'s" if possessive else referent
    return question[:match.start()] + repl + question[match.end():]


def _kind(pronoun: str) -> str:
    p = pronoun.lower()
    return "person" if p in _PERSON else "thing" if p in _THING else "plural"


def _fuller(ref: str, text: str) -> str:
    """The longest name in ``text`` that contains the one-word name ``ref``: "Klim" ->
    "Klim Shipenko"."""
    if " " in ref:
        return ref
    longer = [n for n in names(text) if ref in n.split() and not n.startswith("The ")]
    return max(longer, key=len, default=ref)


_NAME_RUN = r"[A-Z][\w'’-]*(?:\s+[A-Z][\w'’-]*)*"


def _plural(ref: str, text: str) -> str:
    """For "they": the pair a one-person referent stands in within ``text`` ("Doug Liman"
    -> "Cruise and director Doug Liman"), else ``ref``.

    Example:
        >>> _plural("Doug Liman", "Cruise and director Doug Liman had hoped to film.")
        'Cruise and director Doug Liman'
        >>> _plural("Doug Liman", "Doug Liman had hoped to film.")
        'Doug Liman'
    """
    if " and " in ref:
        return ref
    r = re.escape(ref)
    m = re.search(rf"{_NAME_RUN}\s+and\s+(?:[a-z]+\s+)?{r}\b", text) or re.search(
        rf"\b{r}\s+and\s+(?:[a-z]+\s+)?{_NAME_RUN}", text)
    return m.group(0) if m else ref


def resolve(question: str, prev: Resolved | None, prev_short: str | None,
            prev_answer: str = "") -> Resolved:
    """Resolve one question against the previous (already resolved) one and the short
    answer it got. A pronoun of the same kind as the previous turn's keeps its referent.

    Example:
        >>> first = resolve("Who plays the patient?", None, None)
        >>> resolve("Is he a real cosmonaut?", first, "Oleg Novitskiy").query
        'Is Oleg Novitskiy a real cosmonaut?'
        >>> resolve("How do I bake sourdough bread?", first, "Oleg Novitskiy").query
        'How do I bake sourdough bread?'
    """
    if prev is None:
        return Resolved(question, question=question)
    own = names(question)
    context = prev.context or (f"{prev.query.rstrip('?')}: {prev_short}" if prev_short
                               else prev.query.rstrip("?"))
    m = _PRONOUN.search(question)
    if m:
        # "When did Russia say it would leave?": the pronoun has its referent in the question
        if any(n in question[:m.start()] for n in own):
            return Resolved(question, question=question)
        kind = _kind(m.group(0))
        ref = prev.referent if prev.referent and prev.kind == kind else _referent(
            m.group(0), prev.query, prev_short)
        if ref:
            ref = _fuller(ref, prev_answer)
            if kind == "plural":
                ref = _plural(ref, prev_answer)
        if ref and ref.lower() not in question.lower():
            return Resolved(_substitute(question, m, ref), ref, True, question, kind)
        return Resolved(f"{question} ({context})", None, True, question, context=context)
    if _ELLIPTIC.match(question) or (len(content_words(question)) < 2 and not own):
        return Resolved(f"{question} ({context})", None, True, question, context=context)
    return Resolved(question, question=question)


_ASKS_PERSON = re.compile(r"\s*(who|whom|whose)\b", re.I)


def _answer_parts(answer: object, question: str) -> tuple[str | None, str]:
    """The short answer and the plain text of an assistant turn, however it came: an
    ``Answer``, the API's answer result (a dict, or its JSON text), or the chat's Markdown
    or HTML with the short answer in bold, or plain text. When nothing is in bold and the
    question asked "who", the first name of the answer that the question does not hold is
    its short answer ("Who plays the patient?" -> "The patient is portrayed by real-life
    cosmonaut Oleg Novitskiy. [1]" -> "Oleg Novitskiy").

    Example:
        >>> _answer_parts("**Oleg Novitskiy** — The patient is portrayed by ... [1]", "Who?")
        ('Oleg Novitskiy', '**Oleg Novitskiy** — The patient is portrayed by ... [1]')
        >>> _answer_parts("The patient is portrayed by cosmonaut Oleg Novitskiy. [1]",
        ...               "Who plays the patient?")[0]
        'Oleg Novitskiy'
    """
    if isinstance(answer, str) and answer.lstrip().startswith("{"):
        try:  # the API's answer result, as the JSON text it returned
            parsed = json.loads(answer)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict) and "text" in parsed:
            answer = parsed
    if isinstance(answer, dict):
        answer = SimpleNamespace(short=answer.get("short"), text=str(answer.get("text") or ""))
    if hasattr(answer, "markdown") and hasattr(answer, "short"):
        text = str(answer.markdown)  # an Answer: its short answer (if any) leads in bold
    elif hasattr(answer, "short") and hasattr(answer, "text"):
        text = f"**{answer.short}** {answer.text}" if answer.short else str(answer.text)
    else:
        text = answer if isinstance(answer, str) else ""
    short = short_of(text)
    if short is None and _ASKS_PERSON.match(question):
        short = next((n for n in names(plain(text))
                      if not n.startswith("The ") and n not in question), None)
    return short, plain(text)


def _entities(resolved: Resolved, short: str | None) -> tuple[str, ...]:
    found = [resolved.referent] if resolved.referent else []
    if short and _is_name(short):
        found.append(short)
    return tuple(dict.fromkeys(found + names(resolved.query)))


@dataclass(frozen=True)
class Turn:
    """One question of a conversation, resolved and answered."""

    #: The question as asked.
    question: str
    #: How it was resolved: ``resolved.query`` is what was searched.
    resolved: Resolved
    #: The answer as given: an ``Answer``, the API's answer result, text, or None.
    answer: object = None
    #: The short answer the turn led with (what "he" or "it" may point to next).
    short: str | None = None
    #: The answer as plain text (a one-word referent is completed from it).
    text: str = ""
    #: The names the turn is about: the referent, the short answer, the names searched.
    entities: tuple[str, ...] = ()

    @property
    def query(self) -> str:
        """What was searched for the question."""
        return self.resolved.query


def _pairs(history) -> list[tuple[str, object]]:
    """(question, answer) pairs from Gradio-style message dicts or (user, bot) pairs; an
    answer is None when the question got none (yet)."""
    out: list[tuple[str, object]] = []
    for item in history or ():
        if isinstance(item, dict):
            content = item.get("content")
            if isinstance(content, list):  # Gradio 5+ may wrap text in parts
                content = " ".join(str(c.get("text", "")) if isinstance(c, dict) else str(c)
                                   for c in content)
            if not (isinstance(content, str) and content.strip()):
                continue
            if str(item.get("role", "user")) == "user":
                out.append((content, None))
            elif out:  # an assistant turn answers the question before it
                out[-1] = (out[-1][0], content)
        elif isinstance(item, list | tuple) and len(item) == 2:
            user, bot = item
            if isinstance(user, str) and user.strip():
                out.append((user, bot))
    return out


class Conversation:
    """The turns of a conversation, each resolved once when it was asked: a follow-up is
    resolved against the last turn only (which carries its referent on), never by
    resolving the whole history again. Pure: no model, no index.

    Example:
        >>> c = Conversation()
        >>> c.resolve("Who plays the patient?")
        'Who plays the patient?'
        >>> _ = c.add("Who plays the patient?", "Who plays the patient?",
        ...           "**Oleg Novitskiy** — The patient is portrayed by ... [1]")
        >>> c.resolve("Is he a real cosmonaut?")
        'Is Oleg Novitskiy a real cosmonaut?'
    """

    def __init__(self, turns: Iterable[Turn] = ()):
        self.turns: list[Turn] = list(turns)
        # the last resolution asked for, kept for ``add``: (question, last turn then, it)
        self._asked: tuple[str, Turn | None, Resolved] | None = None

    def __len__(self) -> int:
        return len(self.turns)

    def __repr__(self) -> str:
        return f"Conversation({self.turns!r})"

    def resolution(self, question: str) -> Resolved:
        """How ``question`` is resolved after the last turn (nothing is added)."""
        last = self.turns[-1] if self.turns else None
        asked = self._asked
        if asked and asked[0] == question and asked[1] is last:
            return asked[2]
        if last is None:
            found = resolve(question, None, None)
        else:
            found = resolve(question, last.resolved, last.short, last.text)
        self._asked = (question, last, found)
        return found

    def resolve(self, question: str) -> str:
        """The query to search for ``question`` asked next in this conversation."""
        return self.resolution(question).query

    def add(self, question: str, resolved: Resolved | str | None = None,
            answer: object = None) -> Turn:
        """Keep a turn: ``question``, what was searched for it (``resolve``'s query or its
        ``Resolved``; by default resolved now) and the ``answer`` it got (an ``Answer``,
        the API's answer result, or the answer's text). Returns the turn."""
        if not isinstance(resolved, Resolved):
            now = self.resolution(question)
            if resolved is not None and resolved != now.query:  # searched something else
                now = Resolved(resolved, question=question, follow_up=resolved != question)
            resolved = now
        short, text = _answer_parts(answer, resolved.query)
        turn = Turn(question, resolved, answer, short, text, _entities(resolved, short))
        self.turns.append(turn)
        return turn

    @classmethod
    def from_pairs(cls, pairs: Iterable) -> Conversation:
        """A conversation from a plain history: ``[[question, answer], ...]`` as the API's
        and MCP's clients send it (an answer may be the API's answer result, the chat's
        Markdown or HTML with the short answer in bold, or plain text), or Gradio message
        dicts. Each question is resolved in order, as the chat resolved it when asked.

        Example:
            >>> c = Conversation.from_pairs([["Who plays the patient?",
            ...     "The patient is portrayed by real-life cosmonaut Oleg Novitskiy. [1]"]])
            >>> c.resolve("Is he a real cosmonaut?")
            'Is Oleg Novitskiy a real cosmonaut?'
        """
        conv = cls()
        for question, answer in _pairs(pairs):
            conv.add(plain(question), None, answer)
        return conv

    @classmethod
    def of(cls, history) -> Conversation:
        """``history`` as a conversation: a ``Conversation`` as it is, else ``from_pairs``."""
        return history if isinstance(history, Conversation) else cls.from_pairs(history or ())


def resolve_in_history(question: str, history) -> Resolved:
    """Resolve ``question`` after the conversation ``history`` (a ``Conversation``, or
    what ``Conversation.from_pairs`` takes)."""
    return Conversation.of(history).resolution(question)
