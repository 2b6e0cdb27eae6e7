"""The Gradio web chat: cited answers, source cards, the article with the span marked, a
timeline, adding articles, subscriptions to feeds (and, where allowed, folders), the latest
articles; and the API and MCP tools of ``api.py``.

The callbacks here only read the widgets, call the library and render (``html.py``): the
chat keeps a ``Conversation`` per session, each turn resolved once when it is asked, and
hands it to ``answer``; the HTML shown is never read back. A citation marker is a button
holding its key; one page script (the hidden ``#qa-bridge``) turns a click on any marker, in
any answer, into a Python event that renders the article beside the chat.
"""

from __future__ import annotations

import importlib.util
import inspect
import ipaddress
import logging
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import gradio as gr

from ..answering.compose import Answer
from ..answering.conversation import Conversation, names
from ..answering.timeline import Timeline
from ..config import Settings
from ..engine import Engine
from ..errors import (
    ChallengeQAError,
    IndexNotFoundError,
    InvalidArgumentError,
    MissingExtraError,
)
from ..formats import SUFFIXES, file_types
from ..search.index import Filters
from .api import api_tools, filters_of
from .html import (
    SORTS,
    esc,
    publisher,
    render_answer,
    render_article,
    render_latest,
    render_sources,
    render_subscriptions,
    render_timeline,
)

log = logging.getLogger(__name__)

__all__ = ["build_ui", "launch", "esc", "render_answer", "render_sources", "CSS"]

#: The example questions offered on first load: each is answered right on the bundled
#: articles (tests/test_answer.py checks it), so a first click shows what works.
EXAMPLES = (
    "Who plays Zhenya?",
    "How long did the shoot on the ISS last?",
    "Who plays the patient?",
    "When will the film be released?",)
UPLOAD_TYPES = tuple(SUFFIXES)
DATE_HINT = "YYYY, YYYY-MM or YYYY-MM-DD"
#: Articles the "Latest" tab lists.
LATEST = 20
#: Sources the chat lets its users subscribe the corpus to, at most (the command line has
#: no limit): each is fetched at every check.
MAX_CHAT_SOURCES = 50
#: Minutes between two checks of a source subscribed from the chat, unless it says.
DEFAULT_MINUTES = 15
FOLDERS_OFF = ("Watching a folder on the server is off for this chat; its operator can "
               "allow it with CHALLENGE_QA_CHAT_WATCH_FOLDERS=1 (honoured only while the "
               "chat listens on this machine alone or asks for a login), or watch one with: "
               "challenge-qa source add FOLDER")
CSS = """
#qa-bridge {display:none;}
.qa-card {border:1px solid var(--border-color-primary); border-radius:8px; padding:8px 10px;
  margin:6px 0; background:var(--background-fill-secondary); cursor:pointer;}
.qa-card .qa-title {font-weight:600;}
.qa-meta {font-size:0.85em; color:var(--body-text-color-subdued);}
.qa-pub {font-weight:600; color:var(--body-text-color);}
.qa-card .qa-snippet {margin-top:4px; font-size:0.92em;}
.qa-card mark, #qa-article mark {background:var(--qa-mark); color:var(--qa-mark-text);}
.qa-short {font-size:1.1em; margin-bottom:2px;}
.qa-short-mark {background:var(--qa-mark); color:var(--qa-mark-text); font-weight:600;}
.qa-searched, .qa-filters, .qa-for {font-size:0.85em; color:var(--body-text-color-subdued);
  margin-bottom:2px;}
.qa-date {color:var(--body-text-color-subdued);}
.qa-corr {font-size:0.8em; color:var(--body-text-color-subdued); border:1px solid
  var(--border-color-primary); border-radius:9px; padding:0 6px; margin-left:2px;
  white-space:nowrap;}
button.qa-cite, button.qa-copy {font:inherit; color:var(--link-text-color); background:none;
  border:0; padding:0 1px; cursor:pointer; text-align:left; line-height:1.25;
  min-height:0;}
button.qa-copy {font-size:0.85em; text-decoration:underline;}
button.qa-cite:hover, button.qa-copy:hover {text-decoration:underline;}
button.qa-cite:focus-visible, button.qa-copy:focus-visible, .qa-text:focus-visible
  {outline:2px solid var(--color-accent); outline-offset:1px; border-radius:3px;}
sup.qa-marks {white-space:nowrap;}
#qa-article .qa-passage {background:var(--qa-passage); border-radius:3px;}
#qa-article .qa-text {white-space:pre-wrap; max-height:60vh; overflow-y:auto;
  overflow-wrap:anywhere;}
#qa-article .qa-cited {font-size:0.85em; color:var(--body-text-color-subdued);}
.qa-events {list-style:none; padding-left:0; margin:0;}
.qa-event {border-left:3px solid var(--color-accent); padding:4px 10px; margin:8px 0;}
.qa-when time {font-weight:700;}
.qa-precision {font-size:0.75em; color:var(--body-text-color-subdued); border:1px solid
  var(--border-color-primary); border-radius:8px; padding:0 5px;}
.qa-quote {margin:4px 0; font-style:italic; border:0; padding:0;}
.qa-by {font-size:0.9em;}
.qa-card, .qa-event, .qa-answer {overflow-wrap:anywhere;}
.qa-hint {color:var(--body-text-color-subdued); font-size:0.9em;}
.qa-sub-list {list-style:none; padding-left:0; margin:0;}
.qa-sub {border-left:3px solid var(--border-color-primary); padding:4px 10px; margin:6px 0;
  overflow-wrap:anywhere;}
.qa-sub-name {font-weight:600;}
.qa-sub-error {color:var(--error-text-color, #c0392b);}
.qa-checking {font-weight:600;}
.qa-last-check ul {margin:2px 0 0 0;}
:root, .light {--qa-mark:#ffe36e; --qa-mark-text:#1a1a1a; --qa-passage:rgba(90,140,255,0.14);}
.dark {--qa-mark:#806a00; --qa-mark-text:#fff; --qa-passage:rgba(120,160,255,0.22);}
"""
#: The page script: a click (or Enter/Space: they are buttons) on a citation marker or a
#: source card anywhere sends its key to Python; "Copy as Markdown" sends its message.
#: The chat's sanitiser drops aria-* attributes, so each marker's title becomes its label.
BRIDGE_JS = """
if (window.__qaClick) document.removeEventListener('click', window.__qaClick);
window.__qaClick = (e) => {
  if (e.target.closest('a[href]')) return;  // an article's address opens as a link
  const copy = e.target.closest('button.qa-copy');
  if (copy) { e.preventDefault(); trigger('submit', {copy: copy.value}); return; }
  let btn = e.target.closest('button.qa-cite');
  if (!btn) {
    const card = e.target.closest('.qa-card');
    if (!card || window.getSelection().toString()) return;
    btn = card.querySelector('button.qa-cite');
  }
  if (!btn || !btn.value) return;
  e.preventDefault();
  trigger('click', {cite: btn.value});
};
document.addEventListener('click', window.__qaClick);
if (!window.__qaLabels) {
  const label = () => document.querySelectorAll(
    'button.qa-cite[title]:not([aria-label]), button.qa-copy[title]:not([aria-label])'
  ).forEach((b) => b.setAttribute('aria-label', b.title));
  window.__qaLabels = new MutationObserver(label);
  window.__qaLabels.observe(document.body, {subtree: true, childList: true});
  label();
}
"""
#: Scrolls the opened article to its marked sentence (and the panel into view).
ARTICLE_JS = """
watch('value', () => {
  const m = element.querySelector('mark');
  if (m) m.scrollIntoView({block: 'center'});
});
"""
ARTICLE_HINT = ("<p class=\"qa-hint\">Click a [n] marker in an answer, or a source, to read "
                "the article here with the cited sentence marked.</p>")
CLIPBOARD_JS = """
(text) => {
  if (text && navigator.clipboard) navigator.clipboard.writeText(text).catch(() => {});
  return [];
}
"""


def topic_of(a: Answer) -> str:
    """What a timeline of the last question is about: the names in it, else the title of
    the article it cites first, else the question."""
    found = names(a.query or a.question)
    if found:
        return " ".join(dict.fromkeys(found))
    return a.citations[0].title if a.found and a.citations else (a.query or a.question)


def _has_index(engine: Engine) -> bool:
    try:
        engine.index()
    except ChallengeQAError:
        return False
    return True


def warn(text: str) -> None:
    """A warning toast showing ``text`` as text: Gradio renders a toast's message as
    (sanitised) HTML, and messages name what the user typed."""
    import html

    gr.Warning(html.escape(text, quote=False))


def _event_value(evt: gr.EventData, name: str) -> str:
    """What the page script sent with an event (a citation key, a message number)."""
    data = evt._data if isinstance(evt._data, dict) else {}
    return str(data.get(name) or "")


def render_added(report) -> str:
    """What adding articles did, one plain line per file (``ingest.AddReport``)."""
    lines = [f"- Saved: {esc(path)}" for path in report.saved]
    lines += [f"- Already in the corpus: {esc(name)} (as {esc(path)})"
              for name, path in report.duplicates]
    lines += [f"- Refused: {esc(name)}: {esc(why)}" for name, why in report.refused]
    return "\n".join(lines) or "Nothing was added."


def subscribe_hint(settings: Settings, folders: bool) -> str:
    """What the chat's "Subscriptions" offer, and which rule limits them."""
    if folders:
        text = ("Subscribe to a news feed (its http:// or https:// address) or watch a folder "
                "on the server (its path, outside the corpus): each new article is added at "
                "the next check. Folders are offered because this server's operator allowed "
                "them and the chat listens on this machine alone or asks for a login.")
    else:
        text = ("Subscribe to a news feed by its http:// or https:// address: each new "
                f"article is added at the next check. {FOLDERS_OFF}.")
    if not settings.allow_private_urls:
        text += " Feeds on this machine or a private network are refused."
    return text


def is_loopback(host: str | None) -> bool:
    """Whether a chat listening on ``host`` is reachable from this machine alone.

    Example:
        >>> [is_loopback(h) for h in ("127.0.0.1", "localhost", "::1", "0.0.0.0", "")]
        [True, True, True, False, False]
    """
    if (host or "").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address((host or "").strip("[]")).is_loopback
    except ValueError:
        return False


def folders_allowed(settings: Settings, host: str | None,
                    auth: tuple[str, str] | None) -> bool:
    """Whether the chat may subscribe the corpus to folders on the server: a chat user who
    can would read the server's files through the answers, so only when the operator opts
    in (``Settings.chat_watch_folders``) and the chat is reachable from this machine alone
    or asks for a login."""
    return bool(settings.chat_watch_folders and (is_loopback(host) or auth))


def interval_seconds(minutes: object) -> int:
    """The seconds between two checks of a source, from the chat's minutes (empty: the
    default); refused below one minute."""
    if minutes is None or minutes == "":
        return DEFAULT_MINUTES * 60
    try:
        value = float(minutes)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        value = float("nan")
    if not value >= 1:  # also NaN
        raise InvalidArgumentError(f"A source cannot be checked every {minutes} minutes.",
                                   hint="Give a whole number of minutes, at least 1.")
    return int(round(value * 60))


def poll_lines(report, names: set[str]) -> list[str]:
    """What a poll (``watch.PollReport``) did to each of the sources ``names``, a line
    each: its errors are in the sources list, its refused items named here (a few)."""
    lines = []
    for r in report.sources:
        if r.skipped or r.name not in names:
            continue
        if r.error:
            lines.append(f"{r.name}: failed (its error is shown above)")
            continue
        what = ("unchanged since the last check" if r.not_modified else
                f"{r.added} added, {r.replaced} replaced, {r.removed} removed, "
                f"{r.duplicates} duplicates")
        refused = "; ".join(f"{item}: {why}" for item, why in r.refused[:3])
        more = f" and {len(r.refused) - 3} more" if len(r.refused) > 3 else ""
        lines.append(f"{r.name}: {what}" + (f"; refused {refused}{more}" if refused else ""))
    return lines or ["No source was due."]


def subscription_rows(engine: Engine, show_paths: bool) -> list[dict]:
    """The corpus's sources with what polling them last found (as ``source list
    --json``); a watched folder's path (also in its error) only with ``show_paths``."""
    from ..corpus.sources import load_sources, load_states

    corpus = engine.settings.corpus_dir
    states = load_states(corpus)
    rows = []
    for src in load_sources(corpus):
        st = states.get(src.name)
        hide = src.kind == "folder" and not show_paths
        error = st.error if st else None
        if error and hide:
            error = error.replace(src.url, "(a folder on the server)")
        rows.append({"name": src.name, "kind": src.kind,
                     "url": None if hide else src.url, "interval": src.interval,
                     "last_checked": st.last_checked if st else None,
                     "last_added": st.last_added if st else 0,
                     "added_total": st.added_total if st else 0, "error": error})
    return rows


#: After an answer, the chat shows its question at the top of the view, also when the
#: reader had scrolled up to an older answer (the Chatbot stops following then).
FOLLOW_JS = """() => {
  const chat = document.querySelector('#qa-chat');
  if (!chat) return;
  const go = () => {
    const asked = chat.querySelectorAll('.message-row.user-row, .message.user');
    const last = asked[asked.length - 1];
    if (last) last.scrollIntoView({block: 'start', behavior: 'instant'});
  };
  requestAnimationFrame(() => requestAnimationFrame(go));
}"""


def build_ui(settings: Settings | None = None, engine: Engine | None = None, *,
             watch_folders: bool | None = None) -> gr.Blocks:
    """The chat app. Nothing heavy happens here: the index loads on the first question.

    ``watch_folders``: whether its users may subscribe to folders on the server (by
    default ``Settings.chat_watch_folders``; ``launch`` decides it by ``folders_allowed``).
    """
    engine = engine or Engine(settings)
    folders = engine.settings.chat_watch_folders if watch_folders is None else watch_folders
    rebuild_due = threading.Event()  # articles were added while a build was running

    def status_md():
        if rebuild_due.is_set() and not engine.building:
            rebuild_due.clear()
            engine.start_build()
        engine.build_pending()  # a poll's articles, when a build was running as it ended
        st = engine.status()
        if st.state == "building" and _has_index(engine) and not engine.cancelling:
            st = replace(st, message="Adding the new and changed articles to the index; "
                                     "questions are answered from the current one meanwhile."
                                     + st.done)
        label = {"ready": "Ready", "building": "Building", "stale": "Stale",
                 "error": "Error"}.get(st.state, "Note")
        return (f"**{label}:** {esc(st.message)}",
                gr.update(visible=st.state in ("stale", "error", "missing")),
                gr.update(visible=st.state == "building"))

    def index_views(seen, ids):
        """The publishers offered as filters and the "Latest" tab, when the index
        changed since this page last saw it (``seen``: its generation)."""
        try:
            idx = engine.index()
        except ChallengeQAError:
            return gr.update(), seen, gr.update(), ids
        if idx.generation == seen:
            return gr.update(), seen, gr.update(), ids
        try:
            items = idx.latest(LATEST)
        except ChallengeQAError as e:
            return (gr.update(choices=idx.source_names()), idx.generation,
                    f"<p class=\"qa-gone\">{esc(e.explain())}</p>", [])
        return (gr.update(choices=idx.source_names()), idx.generation, render_latest(items),
                [it["doc_id"] for it in items])

    def subs_panel(last):
        """The sources list and the names offered for removal, when they changed since
        this page last showed them (``last``: what it shows)."""
        try:
            rows, problem = subscription_rows(engine, folders), None
        except ChallengeQAError as e:
            rows, problem = [], e.explain()
        done = engine.last_poll
        summary = None
        if done is not None:
            when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(done[0]))
            summary = (when, poll_lines(done[1], {r["name"] for r in rows}))
        html = render_subscriptions(rows, checking=engine.polling, last=summary,
                                    problem=problem, watching=engine.watching)
        names = [r["name"] for r in rows]
        if last is not None and last[0] == html:
            return gr.update(), gr.update(), last
        pick = (gr.update() if last is not None and list(last[1]) == names
                else gr.update(choices=names, value=None))
        return html, pick, (html, names)

    def refresh(seen, ids, last):
        return (*status_md(), *index_views(seen, ids), *subs_panel(last))

    def respond(message, history, k, per_article, since, until, as_of, srcs, answers, order,
                conv):
        history, answers = list(history or []), dict(answers or {})
        conv = conv if isinstance(conv, Conversation) else Conversation()
        message = (message or "").strip()
        keep = (gr.update(),) * 6
        if not message:
            return history, "", *keep
        try:
            engine.index()  # is there an index yet (or one being built)?
        except IndexNotFoundError as e:
            if not engine.building:
                warn(e.explain())
                return history, message, *keep
            reply = "<p>The index is being built; please ask again in a moment.</p>"
            return (history + [{"role": "user", "content": esc(message)},
                               {"role": "assistant", "content": reply}], "", *keep)
        except ChallengeQAError as e:
            warn(e.explain())
            return history, message, *keep
        try:
            a = engine.answer(message, history=conv, k=int(k), per_article=bool(per_article),
                              **filters_of(since, until, as_of, srcs))
        except ChallengeQAError as e:
            warn(e.explain())
            return history, message, *keep
        msg = len(history) + 1
        answers[msg] = a
        conv.add(a.question, a.query, a)  # resolved once, here; never again
        history += [{"role": "user", "content": esc(message)},
                    {"role": "assistant", "content": render_answer(a, msg)}]
        # the Markdown box showed an earlier answer: hidden until this one is copied
        return (history, "", render_sources(a, msg, order), answers, msg, topic_of(a),
                gr.update(value="", visible=False), conv)

    def open_latest(key: str, ids):
        """An article of the "Latest" tab (key ``l:<place in its list>``), whole."""
        try:
            i = int(key.removeprefix("l:"))
            if i < 0:
                raise ValueError(key)
            art = engine.index().article(ids[i])
        except (ValueError, IndexError, TypeError):
            return "<p class=\"qa-gone\">That article cannot be opened.</p>"
        except ChallengeQAError as e:
            return f"<p class=\"qa-gone\">{esc(e.explain())}</p>"
        return render_article(art, None, "Latest")

    def open_cite(answers, tl, shown, order, ids, evt: gr.EventData):
        key = _event_value(evt, "cite")
        sources_update: dict | str = gr.update()
        if key.startswith("l:"):
            html = open_latest(key, ids)
            return f"<div data-opened=\"{time.monotonic_ns()}\">{html}</div>", sources_update, shown
        try:
            kind, first, second = key.split(":")
            i, n = int(first), int(second)
            if i < 0 or n < (0 if kind == "t" else 1):
                raise ValueError(key)
            if kind == "t":
                event = tl.events[i]
                hit = event.citations[n]
                label = f"{event.label}: reported by {publisher(hit)}"
            elif kind in ("c", "h"):
                a = answers[i]
                hit = (a.citations if kind == "c" else a.hits)[n - 1]
                label = f"[{n}] for: {a.question}" if kind == "c" else f"For: {a.question}"
                if i != shown:
                    sources_update, shown = render_sources(a, i, order), i
            else:
                raise ValueError(key)
            art = engine.index().article(hit.doc_id)
        except (ValueError, KeyError, IndexError, AttributeError, TypeError):
            return "<p class=\"qa-gone\">That source cannot be opened.</p>", gr.update(), shown
        except ChallengeQAError as e:
            return f"<p class=\"qa-gone\">{esc(e.explain())}</p>", gr.update(), shown
        # the open time makes every opening a change, so the panel scrolls again
        html = render_article(art, hit, label)
        return f"<div data-opened=\"{time.monotonic_ns()}\">{html}</div>", sources_update, shown

    def copy_markdown(answers, evt: gr.EventData):
        from .markdown import answer_markdown

        try:
            a = answers[int(_event_value(evt, "copy"))]
        except (ValueError, KeyError, TypeError):
            return gr.update()
        return gr.update(value=answer_markdown(a), visible=True)

    def resort(answers, shown, order):
        return render_sources((answers or {}).get(shown), shown, order)

    def show_timeline(topic, since, until, as_of, srcs):
        topic = (topic or "").strip()
        if not topic:
            return "<p>Enter a topic, e.g. The Challenge.</p>", None
        f = filters_of(since, until, as_of, srcs)
        try:
            bounds = Filters.make(f["since"], f["until"], None, f["as_of"])
            t = engine.timeline(topic, since=bounds.since, until=bounds.until,
                                sources=f["sources"])
        except ChallengeQAError as e:
            warn(e.explain())
            return gr.update(), gr.update()
        return render_timeline(t), t

    def timeline_on_open(topic, tl: Timeline | None, since, until, as_of, srcs):
        if not (topic or "").strip() or (tl is not None and tl.topic == topic.strip()):
            return gr.update(), gr.update()
        return show_timeline(topic, since, until, as_of, srcs)

    def after_adding(report) -> str:
        # the index is updated in the background; the status line above (refreshed every
        # 2 s) shows its progress and a Cancel button, and says Ready when it is done: a
        # note here would stay after it is over
        if report.saved and not engine.start_build():
            rebuild_due.set()  # a build is running: the new articles follow when it ends
        return render_added(report)

    def add_uploaded(files):
        from ..corpus.ingest import add_files

        paths = [Path(f) for f in files or []]
        if not paths:
            return gr.update(), gr.update(), *status_md()
        try:
            # an upload keeps its original name as the temporary file's name
            report = add_files([(p.name, p) for p in paths], engine.settings.corpus_dir,
                               settings=engine.settings)
        except ChallengeQAError as e:
            return f"- Refused: {esc(e.explain())}", None, *status_md()
        return after_adding(report), None, *status_md()

    def add_from_url(url):
        from ..corpus.ingest import add_url

        url = (url or "").strip()
        if not url:
            return gr.update(), gr.update(), *status_md()
        try:
            report = add_url(url, engine.settings.corpus_dir, settings=engine.settings)
        except ChallengeQAError as e:
            return f"- Refused: {esc(url)}: {esc(e.explain())}", url, *status_md()
        # a refused address stays in the box, to be corrected
        kept = url if report.refused and not (report.saved or report.duplicates) else ""
        return after_adding(report), kept, *status_md()

    def subscribe(address, minutes, last):
        from urllib.parse import urlsplit

        from ..corpus.fetch import check_public, check_url
        from ..corpus.sources import add_source, load_sources

        address = (address or "").strip()
        if not address:
            return gr.update(), gr.update(), *subs_panel(last)
        s = engine.settings
        try:
            every = interval_seconds(minutes)
            if len(load_sources(s.corpus_dir)) >= MAX_CHAT_SOURCES:
                raise InvalidArgumentError(
                    f"The corpus has {MAX_CHAT_SOURCES} sources already: the chat adds no "
                    "more.", hint="Remove one first, or add it with: challenge-qa source add")
            if urlsplit(address).scheme.lower() in ("http", "https"):
                if not s.allow_private_urls:  # what polling it would refuse, refused now
                    check_public(check_url(address))
            elif not folders:  # nothing about the path is looked at
                raise InvalidArgumentError(
                    f"{address} is not a feed's address (http:// or https://).",
                    hint=FOLDERS_OFF)
            src = add_source(s.corpus_dir, address, interval=every)
        except ChallengeQAError as e:
            warn(e.explain())
            # a refused address stays in the box, to be corrected
            why = e.explain()
            shown = why if address in why else f"{address}: {why}"
            return f"Refused: {esc(shown)}", address, *subs_panel(last)
        what = "feed" if src.kind == "feed" else "folder"
        note = (f"Subscribed to the {what} {esc(src.name)}. Its articles arrive with the next "
                "check: press Check now" + (", or wait." if engine.watching else "."))
        return note, "", *subs_panel(last)

    def unsubscribe(name, last):
        from ..corpus.sources import remove_source

        if not name:
            warn("Choose the source to remove first.")
            return gr.update(), *subs_panel(last)
        try:
            gone = remove_source(engine.settings.corpus_dir, str(name))
        except ChallengeQAError as e:
            warn(e.explain())
            return f"Refused: {esc(e.explain())}", *subs_panel(last)
        return (f"Removed the {gone.kind} {esc(gone.name)}; the articles it brought stay in "
                "the corpus.", *subs_panel(last))

    def check_now(last):
        from ..corpus.sources import load_sources

        try:
            if not load_sources(engine.settings.corpus_dir):
                gr.Info("There is no source to check: subscribe to a feed first.")
            elif not engine.start_poll(force=True):
                gr.Info("The sources are being checked already.")
        except ChallengeQAError as e:
            warn(e.explain())
        return subs_panel(last)

    def rebuild():
        if not engine.start_build():
            gr.Info("A rebuild is already running.")
        return status_md()

    def cancel_build():
        rebuild_due.clear()  # a cancelled build is not started again by itself
        engine.cancel_build()
        return status_md()

    with gr.Blocks(title="challenge_qa: ask the articles") as demo:
        gr.Markdown("## Ask the articles\nAnswers quote the articles; every sentence cites "
                    "its source. Click a [n] marker or a source to read the article.")
        with gr.Row():
            status = gr.Markdown(elem_id="qa-status")
            rebuild_btn = gr.Button("Rebuild index", elem_id="qa-rebuild", size="sm",
                                    visible=False, scale=0)
            cancel_btn = gr.Button("Cancel build", elem_id="qa-cancel", size="sm",
                                   visible=False, scale=0, variant="stop")
        with gr.Row(equal_height=False):
            with gr.Column(scale=3, min_width=340):
                with gr.Tabs():
                    with gr.Tab("Chat", elem_id="qa-tab-chat"):
                        # no copy buttons: they copy the HTML; "Copy as Markdown" is
                        # in each answer
                        chat = gr.Chatbot(elem_id="qa-chat", height=460, sanitize_html=True,
                                          label="Chat", buttons=[])
                        box = gr.Textbox(elem_id="qa-question", show_label=False, lines=1,
                                         placeholder="Ask about the articles and press Enter")
                        examples = gr.Examples(list(EXAMPLES), inputs=box, label="Try")
                        md = gr.Textbox(label="Answer as Markdown", elem_id="qa-markdown",
                                        lines=6, buttons=["copy"], visible=False)
                    with gr.Tab("Timeline", elem_id="qa-tab-timeline") as tl_tab:
                        with gr.Row():
                            topic = gr.Textbox(label="Topic", elem_id="qa-topic", scale=4,
                                               placeholder="e.g. The Challenge; Enter shows "
                                                           "its timeline")
                            tl_go = gr.Button("Show timeline", elem_id="qa-timeline-go",
                                              scale=1, min_width=120)
                        tl_html = gr.HTML(elem_id="qa-timeline", js_on_load=None)
                    with gr.Tab("Latest", elem_id="qa-tab-latest"):
                        latest = gr.HTML(render_latest([]), elem_id="qa-latest",
                                         js_on_load=None)
                    with gr.Tab("Add articles", elem_id="qa-tab-add"):
                        files = gr.File(label="Drop articles here or click to choose "
                                              f"({file_types()})",
                                        file_count="multiple", file_types=list(UPLOAD_TYPES),
                                        elem_id="qa-upload")
                        with gr.Row():
                            url = gr.Textbox(label="Or an article's address", scale=4,
                                             elem_id="qa-url", placeholder="https://…")
                            url_go = gr.Button("Add", elem_id="qa-url-add", scale=1,
                                               min_width=80)
                        added = gr.Markdown(elem_id="qa-added")
                        gr.Markdown("#### Subscriptions\n" + subscribe_hint(engine.settings,
                                                                             folders),
                                    elem_id="qa-sub-hint")
                        with gr.Row():
                            sub_url = gr.Textbox(
                                label="A feed's address" + (" or a folder on the server"
                                                            if folders else ""),
                                placeholder="https://…/rss.xml" + (" or /path/to/folder"
                                                                   if folders else ""),
                                scale=4, elem_id="qa-sub-url")
                            sub_every = gr.Number(DEFAULT_MINUTES, label="Check every (min)",
                                                  minimum=1, precision=0, scale=1,
                                                  min_width=110, elem_id="qa-sub-every")
                            sub_go = gr.Button("Subscribe", elem_id="qa-sub-add", scale=1,
                                               min_width=100)
                        sub_note = gr.Markdown(elem_id="qa-sub-note")
                        subs = gr.HTML(elem_id="qa-subs", js_on_load=None)
                        with gr.Row():
                            sub_pick = gr.Dropdown([], value=None, label="Source",
                                                   elem_id="qa-sub-pick", scale=3)
                            sub_remove = gr.Button("Remove", elem_id="qa-sub-remove",
                                                   variant="stop", scale=1, min_width=90)
                            sub_check = gr.Button("Check now", elem_id="qa-sub-check",
                                                  scale=1, min_width=110)
                with gr.Accordion("Settings", open=False, elem_id="qa-settings"):
                    with gr.Row():
                        since = gr.Textbox(label="Since", placeholder=DATE_HINT,
                                           elem_id="qa-since", min_width=140)
                        until = gr.Textbox(label="Until", placeholder=DATE_HINT,
                                           elem_id="qa-until", min_width=140)
                        as_of = gr.Textbox(label="As of", placeholder=DATE_HINT,
                                           elem_id="qa-as-of", min_width=140,
                                           info="Only what was published by then")
                    srcs = gr.Dropdown([], value=[], multiselect=True, label="Sources",
                                       info="Only these publishers (none: all)",
                                       elem_id="qa-filter-sources")
                    k = gr.Slider(1, 10, value=engine.settings.k, step=1,
                                  label="Passages to retrieve (top-k)", elem_id="qa-k")
                    per_article = gr.Checkbox(False, label="One passage per article",
                                              elem_id="qa-per-article")
            with gr.Column(scale=2, min_width=300, elem_id="qa-side"):
                article = gr.HTML(ARTICLE_HINT, elem_id="qa-article", js_on_load=ARTICLE_JS)
                order = gr.Radio(list(SORTS), value=SORTS[0], label="Sort sources",
                                 elem_id="qa-sort")
                sources = gr.HTML(elem_id="qa-sources", js_on_load=None)
        bridge = gr.HTML("", elem_id="qa-bridge", js_on_load=BRIDGE_JS)
        answers = gr.State({})
        conversation = gr.State(Conversation())
        shown = gr.State(None)
        tl_state = gr.State(None)
        seen = gr.State(None)
        latest_ids = gr.State([])  # the doc ids the "Latest" tab lists, in order
        subs_seen = gr.State(None)  # (html, names) of the sources list shown
        filters = [since, until, as_of, srcs]

        ask_inputs = [box, chat, k, per_article, *filters, answers, order, conversation]
        ask_outputs = [chat, box, sources, answers, shown, topic, md, conversation]
        box.submit(respond, ask_inputs, ask_outputs, api_visibility="private").then(
            None, None, None, js=FOLLOW_JS, api_visibility="private")
        # a click on an example asks it (Gradio's Examples only fill the box)
        examples.load_input_event.then(respond, ask_inputs, ask_outputs,
                                       api_visibility="private").then(
            None, None, None, js=FOLLOW_JS, api_visibility="private")
        bridge.click(open_cite, [answers, tl_state, shown, order, latest_ids],
                     [article, sources, shown], api_visibility="private")
        bridge.submit(copy_markdown, answers, md, api_visibility="private").then(
            None, md, None, js=CLIPBOARD_JS, api_visibility="private")
        chat.clear(lambda: ({}, Conversation(), None, "", ARTICLE_HINT), None,
                   [answers, conversation, shown, sources, article], api_visibility="private")
        order.change(resort, [answers, shown, order], sources, api_visibility="private")
        for trigger in (topic.submit, tl_go.click):
            trigger(show_timeline, [topic, *filters], [tl_html, tl_state], api_visibility="private")
        tl_tab.select(timeline_on_open, [topic, tl_state, *filters], [tl_html, tl_state],
                      api_visibility="private")
        files.upload(add_uploaded, files, [added, files, status, rebuild_btn, cancel_btn],
                     api_visibility="private")
        for trigger in (url.submit, url_go.click):
            trigger(add_from_url, url, [added, url, status, rebuild_btn, cancel_btn],
                    api_visibility="private")
        sub_outputs = [subs, sub_pick, subs_seen]
        for trigger in (sub_url.submit, sub_go.click):
            trigger(subscribe, [sub_url, sub_every, subs_seen], [sub_note, sub_url, *sub_outputs],
                    api_visibility="private")
        sub_remove.click(unsubscribe, [sub_pick, subs_seen], [sub_note, *sub_outputs],
                         api_visibility="private")
        sub_check.click(check_now, subs_seen, sub_outputs, api_visibility="private")
        rebuild_btn.click(rebuild, None, [status, rebuild_btn, cancel_btn],
                          api_visibility="private")
        cancel_btn.click(cancel_build, None, [status, rebuild_btn, cancel_btn],
                         api_visibility="private")
        views = [seen, latest_ids, subs_seen]
        shown_views = [status, rebuild_btn, cancel_btn, srcs, seen, latest, latest_ids,
                       *sub_outputs]
        demo.load(refresh, views, shown_views, api_visibility="private")
        gr.Timer(2.0).tick(refresh, views, shown_views, api_visibility="private")

        for fn in api_tools(engine):
            describe_endpoint(demo, gr.api(fn, api_name=fn.__name__), fn)
    demo.engine = engine
    return demo


def describe_endpoint(demo: gr.Blocks, dep, fn) -> None:
    """Name and describe an API endpoint's parameters and result on the "Use via API" page
    from ``fn``'s docstring (Gradio labels them "1st", "2nd" and describes none)."""
    from gradio.utils import get_function_description

    _, params, returns = get_function_description(fn)
    names = list(inspect.signature(fn).parameters)
    for name, block_id in zip(names, dep["inputs"], strict=True):
        comp: Any = demo.blocks[block_id]  # the Api components gr.api made
        comp.label = name
        if params.get(name):
            comp._api_info = {**comp._api_info, "additional_description": params[name]}
    for block_id in dep["outputs"]:
        comp = demo.blocks[block_id]
        comp.label = "result"
        if returns:  # the result is JSON text: say what it holds
            comp._api_info = {**comp._api_info,
                              "description": " ".join(r.strip() for r in returns)}


#: Answers are CPU-bound and share one model: a few at once keeps latency flat while the
#: queue (bounded, so overload is refused rather than piling up) absorbs bursts.
QUEUE_CONCURRENCY = 4
QUEUE_MAX_SIZE = 256


MCP_PATH = "/gradio_api/mcp"


class McpLogin:
    """ASGI middleware: with a login, the MCP endpoint (which Gradio mounts outside its own
    login check) asks for it too, as HTTP Basic credentials (what MCP clients send in a
    header) or the chat's login cookie; anything else gets 401."""

    def __init__(self, app, login: tuple[str, str]):
        import base64

        self.app = app
        self.expected = "Basic " + base64.b64encode(":".join(login).encode()).decode()

    def allowed(self, scope) -> bool:
        import hmac

        from starlette.requests import HTTPConnection

        conn = HTTPConnection(scope)
        given = conn.headers.get("authorization", "")
        if hmac.compare_digest(given.encode(), self.expected.encode()):
            return True
        app = scope.get("app")
        cookie_id = getattr(app, "cookie_id", None)
        tokens = getattr(app, "tokens", {}) or {}
        return any(conn.cookies.get(f"{name}-{cookie_id}") in tokens
                   for name in ("access-token", "access-token-unsecure"))

    async def __call__(self, scope, receive, send):
        if scope["type"] in ("http", "websocket") and (
                scope.get("path", "") + "/").startswith(MCP_PATH + "/") \
                and not self.allowed(scope):
            from starlette.responses import PlainTextResponse

            response = PlainTextResponse(
                "Not authenticated: send the chat's login as HTTP Basic credentials.",
                status_code=401, headers={"WWW-Authenticate": 'Basic realm="challenge-qa"'})
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def launch(settings: Settings | None = None, *, host: str = "127.0.0.1",
           port: int | None = 7860, auth: tuple[str, str] | None = None, block: bool = True,
           engine: Engine | None = None, mcp: bool = False, watch: bool = False,
           **kwargs) -> gr.Blocks:
    """Start the web chat; builds the index in the background if there is none.

    Args:
        settings: Corpus, index and answer settings (``Settings.from_env()`` by default).
        host: The address to listen on; 127.0.0.1 keeps the chat on this machine.
        port: The port; None takes the first free one from 7860 on.
        auth: A (user, password) login, if any.
        block: Serve until interrupted; False returns at once with the server running
            (``demo.local_url`` is its address; ``demo.close()`` stops it).
        engine: An existing ``Engine`` to serve (its settings win).
        mcp: Also serve the ``answer``, ``retrieve`` and ``timeline`` tools over MCP at
            ``/gradio_api/mcp/`` (streamable HTTP; SSE at ``/gradio_api/mcp/sse``). Needs
            the ``mcp`` extra. With ``auth``, MCP clients send the login as HTTP Basic
            credentials (``McpLogin``).
        watch: Also poll the corpus's sources in the background, each on its interval
            (``Engine.start_watch``); the chat shows them under "Add articles" either way.

    Its users may subscribe the corpus to feeds; to folders on the server only as
    ``folders_allowed`` says (``Settings.chat_watch_folders``, and this machine alone or a
    login).
    """
    if mcp and importlib.util.find_spec("mcp") is None:
        raise MissingExtraError("The MCP server needs the mcp package.",
                                hint="Install it with: pip install 'challenge-qa[mcp]'")
    engine = engine or Engine(settings)
    engine.ensure_index()
    folders = folders_allowed(engine.settings, host, auth)
    if engine.settings.chat_watch_folders and not folders:
        log.warning("chat_watch_folders is ignored: the chat listens on %s without a login, "
                    "so its users may subscribe to feeds only", host)
    if watch:
        engine.start_watch()
    demo = build_ui(engine=engine, watch_folders=folders)
    demo.queue(default_concurrency_limit=QUEUE_CONCURRENCY, max_size=QUEUE_MAX_SIZE)
    if auth and mcp:
        from starlette.middleware import Middleware

        app_kwargs = dict(kwargs.pop("app_kwargs", None) or {})
        app_kwargs["middleware"] = [*app_kwargs.get("middleware", []),
                                    Middleware(McpLogin, login=auth)]
        kwargs["app_kwargs"] = app_kwargs
    demo.launch(server_name=host, server_port=port, auth=auth, css=CSS, show_error=True,
                footer_links=["api"], prevent_thread_lock=not block, mcp_server=mcp,
                **kwargs)
    return demo
