"""The Gradio web chat: cited answers, source cards, and the article with the span marked.

Article text is untrusted. Everything taken from an article is escaped here, including the
characters Markdown would act on, so that it can only ever render as text.
"""

from __future__ import annotations

import logging
from dataclasses import asdict

import gradio as gr

from .answer import Answer, answer
from .config import Settings
from .errors import ChallengeQAError
from .retrieval import Hit
from .service import IndexService

log = logging.getLogger(__name__)

EXAMPLES = [
    "Who directed The Challenge?",
    "How long did the shoot on the ISS last?",
    "Who plays the patient?",
    "When will the film be released?",
]
# Characters that Markdown or HTML could act on, as numeric entities.
_MD_SPECIAL = {c: f"&#{ord(c)};" for c in "\\`*_{}[]()#+-.!|~<>&\"'="}
CSS = """
.qa-card {border:1px solid var(--border-color-primary); border-radius:8px; padding:8px 10px;
  margin:6px 0;}
.qa-card .qa-title {font-weight:600;}
.qa-card .qa-meta {font-size:0.85em; opacity:0.75;}
.qa-card .qa-snippet {margin-top:4px; font-size:0.92em;}
.qa-card mark, #qa-article mark {background:#ffe36e; color:inherit;}
.qa-short {font-size:1.1em; margin-bottom:2px;}
.qa-short-mark {background:#ffe36e; color:inherit; font-weight:600;}
.qa-searched {font-size:0.85em; opacity:0.75; margin-bottom:2px;}
#qa-article .qa-passage {background:rgba(120,160,255,0.15);}
#qa-article .qa-text {white-space:pre-wrap; max-height:480px; overflow-y:auto;}
"""


def esc(text: object) -> str:
    """Escape untrusted text for HTML that may also pass through a Markdown renderer."""
    return "".join(_MD_SPECIAL.get(c, c) for c in str(text or ""))


def _searched(a: Answer) -> str:
    """A note of what was searched, when a follow-up was resolved against the chat."""
    if not a.query or a.query == a.question:
        return ""
    return f"<p class=\"qa-searched\"><em>Searched: {esc(a.query)}</em></p>"


def render_answer(a: Answer) -> str:
    """The chat message: the short answer in bold, then each statement with its citation
    markers (the short answer marked inside the first)."""
    if not a.found:
        closest = " The closest passages are listed under Sources." if a.hits else ""
        return f"{_searched(a)}<p class=\"qa-notfound\">{esc(a.text)}{closest}</p>"
    parts = []
    for i, st in enumerate(a.statements):
        marks = "".join(f"<sup class=\"qa-cite\">&#91;{n}&#93;</sup>" for n in st.citations)
        text = esc(st.text)
        if i == 0 and a.short_start is not None and a.short_end is not None:
            c = a.citations[0]
            lo, hi = a.short_start - c.sentence_start, a.short_end - c.sentence_start
            text = (esc(st.text[:lo]) + "<mark class=\"qa-short-mark\">" + esc(st.text[lo:hi])
                    + "</mark>" + esc(st.text[hi:]))
        parts.append(f"{text}{marks}")
    short = (f"<p class=\"qa-short\"><strong>{esc(a.short)}</strong></p>"
             if a.short is not None else "")
    return _searched(a) + short + "<p class=\"qa-answer\">" + " ".join(parts) + "</p>"


def _meta(h) -> str:
    return " · ".join(esc(x) for x in (h.source, h.date, h.doc_id) if x)


def _highlight(text: str, start: int, end: int, marks: list[tuple[int, int]],
               strong: tuple[int, int] | None = None) -> str:
    """``text[start:end]`` escaped, with the spans ``marks`` (inside it) marked and the
    span ``strong`` (inside a mark: the short answer) in bold."""
    def inner(a: int, b: int) -> str:
        if strong is None or strong[1] <= a or strong[0] >= b:
            return esc(text[a:b])
        lo, hi = max(strong[0], a), min(strong[1], b)
        return (esc(text[a:lo]) + "<strong class=\"qa-short-mark\">" + esc(text[lo:hi])
                + "</strong>" + esc(text[hi:b]))

    out, pos = [], start
    for a, b in sorted(marks):
        a, b = max(a, pos), min(b, end)
        if b <= a:
            continue
        out += [esc(text[pos:a]), "<mark>", inner(a, b), "</mark>"]
        pos = b
    out.append(esc(text[pos:end]))
    return "".join(out)


def render_sources(a: Answer) -> str:
    if not a.hits:
        return ""
    if a.found:
        cards, heading = a.citations, "Sources"
    else:
        cards, heading = a.hits, "Closest passages (they do not answer the question)"
    # Citations of one passage share a card, with each cited sentence marked.
    grouped: dict[str, list[tuple[int, Hit]]] = {}
    for n, h in enumerate(cards, 1):
        grouped.setdefault(h.passage_id, []).append((n, h))
    out = [f"<div class=\"qa-sources\"><h4>{esc(heading)}</h4>"]
    for group in grouped.values():
        h = group[0][1]
        label = "".join(f"&#91;{n}&#93;" for n, _ in group) + " " if a.found else ""
        marks = [(g.sentence_start - h.start, g.sentence_end - h.start) for _, g in group]
        strong = None
        if a.found and a.short_start is not None and a.short_end is not None \
                and group[0][0] == 1:
            strong = (a.short_start - h.start, a.short_end - h.start)
        snippet = _highlight(h.text, 0, len(h.text), marks, strong)
        out.append(
            f"<div class=\"qa-card\" data-citation=\"{group[0][0]}\"><div class=\"qa-title\">"
            f"{label}{esc(h.title)}</div><div class=\"qa-meta\">{_meta(h)}</div>"
            f"<div class=\"qa-snippet\">{snippet}</div></div>")
    out.append("</div>")
    return "".join(out)


def render_article(service: IndexService, cited: dict) -> str:
    """The whole article of a citation, its passage shaded and its sentence marked."""
    art = service.index().article(cited["doc_id"])
    if art is None:
        return "<p>This article is no longer in the index.</p>"
    text, ps, pe = art["text"], cited["start"], cited["end"]
    sa, sb = cited["sentence_start"], cited["sentence_end"]
    body = (esc(text[:ps]) + "<span class=\"qa-passage\">" + _highlight(text, ps, pe, [(sa, sb)])
            + "</span>" + esc(text[pe:]))
    meta = " · ".join(esc(x) for x in (art["source"], art["date"], art["doc_id"]) if x)
    return (f"<div class=\"qa-article\"><h3>{esc(art['title'])}</h3>"
            f"<div class=\"qa-meta\">{meta}</div><div class=\"qa-text\">{body}</div></div>")


def build_ui(settings: Settings | None = None, service: IndexService | None = None) -> gr.Blocks:
    """The chat app. Nothing heavy happens here: the index loads on the first question."""
    service = service or IndexService(settings)

    def status_md():
        st = service.status()
        label = {"ready": "Ready", "building": "Building", "stale": "Stale",
                 "error": "Error"}.get(st.state, "Note")
        return (f"**{label}:** {esc(st.message)}",
                gr.update(visible=st.state in ("stale", "error", "missing")))

    def respond(message, history, k, per_article):
        history = list(history or [])
        message = (message or "").strip()
        if not message:
            return history, "", gr.update(), gr.update(), gr.update(), []
        if service.building:
            reply = "<p>The index is being built; please ask again in a moment.</p>"
            return (history + [{"role": "user", "content": esc(message)},
                               {"role": "assistant", "content": reply}],
                    "", "", gr.update(choices=[], value=None), "", [])
        try:
            a = answer(message, history=history, k=int(k), per_article=bool(per_article),
                       index=service.index())
        except ChallengeQAError as e:
            gr.Warning(e.explain())
            return history, message, gr.update(), gr.update(), gr.update(), []
        cited = [asdict(h) for h in (a.citations if a.found else a.hits)]
        labels = [f"[{n}] {h['title']}" for n, h in enumerate(cited, 1)] if a.found else [
            f"{h['title']} ({h['passage_id']})" for h in cited]
        choices = [(label, str(i)) for i, label in enumerate(labels)]
        history = history + [{"role": "user", "content": esc(message)},
                             {"role": "assistant", "content": render_answer(a)}]
        return (history, "", render_sources(a), gr.update(choices=choices, value=None), "",
                cited)

    def open_article(choice, cited):
        if choice is None or not cited:
            return ""
        try:
            return render_article(service, cited[int(choice)])
        except (ValueError, IndexError, ChallengeQAError):
            return "<p>That source cannot be opened.</p>"

    def rebuild():
        started = service.rebuild()
        if not started:
            gr.Info("A rebuild is already running.")
        return status_md()

    with gr.Blocks(title="challenge_qa: ask the articles") as demo:
        gr.Markdown("## Ask the articles\nAnswers quote the articles; every sentence cites "
                    "its source. Open a source to read it in full.")
        with gr.Row():
            status = gr.Markdown(elem_id="qa-status")
            rebuild_btn = gr.Button("Rebuild index", elem_id="qa-rebuild", size="sm",
                                    visible=False, scale=0)
        with gr.Row():
            with gr.Column(scale=3):
                chat = gr.Chatbot(elem_id="qa-chat", height=460, sanitize_html=True,
                                  label="Chat")
                box = gr.Textbox(elem_id="qa-question", show_label=False, lines=1,
                                 placeholder="Ask about the articles and press Enter")
                gr.Examples(EXAMPLES, inputs=box, label="Try")
                with gr.Accordion("Settings", open=False):
                    k = gr.Slider(1, 10, value=service.settings.k, step=1,
                                  label="Passages to retrieve (top-k)", elem_id="qa-k")
                    per_article = gr.Checkbox(False, label="One passage per article",
                                              elem_id="qa-per-article")
            with gr.Column(scale=2):
                sources = gr.HTML(elem_id="qa-sources")
                pick = gr.Radio([], label="Open a cited article", elem_id="qa-open")
                article = gr.HTML(elem_id="qa-article")
        cited = gr.State([])
        box.submit(respond, [box, chat, k, per_article],
                   [chat, box, sources, pick, article, cited], api_name="ask")
        pick.change(open_article, [pick, cited], article, api_visibility="private")
        rebuild_btn.click(rebuild, None, [status, rebuild_btn], api_visibility="private")
        demo.load(status_md, None, [status, rebuild_btn], api_visibility="private")
        gr.Timer(3.0).tick(status_md, None, [status, rebuild_btn], api_visibility="private")

        def api_answer(question: str, k: int | None = None, per_article: bool = False,
                       history: list | None = None) -> dict:
            """The answer as JSON: the fields of challenge_qa.Answer, except that each hit's
            ``path`` is named ``article_path`` (gradio_client takes any dict with a ``path``
            for a file to download)."""
            out = asdict(answer(question, k=None if k is None else int(k),
                                per_article=bool(per_article),
                                history=history or (), index=service.index()))
            for hit in out["citations"] + out["hits"]:
                hit["article_path"] = hit.pop("path")
            return out

        gr.api(api_answer, api_name="answer")
    demo.service = service
    return demo


#: Answers are CPU-bound and share one model: a few at once keeps latency flat while the
#: queue (bounded, so overload is refused rather than piling up) absorbs bursts.
QUEUE_CONCURRENCY = 4
QUEUE_MAX_SIZE = 256


def launch(settings: Settings | None = None, *, host: str = "127.0.0.1",
           port: int | None = 7860, auth: tuple[str, str] | None = None, block: bool = True,
           service: IndexService | None = None, **kwargs) -> gr.Blocks:
    """Start the web chat; builds the index in the background if there is none.

    Args:
        settings: Corpus, index and answer settings (``Settings.from_env()`` by default).
        host: The address to listen on; 127.0.0.1 keeps the chat on this machine.
        port: The port; None takes the first free one from 7860 on.
        auth: A (user, password) login, if any.
        block: Serve until interrupted; False returns at once with the server running
            (``demo.local_url`` is its address; ``demo.close()`` stops it).
        service: An existing ``IndexService`` to serve (its settings win).
    """
    service = service or IndexService(settings)
    service.ensure()
    demo = build_ui(service=service)
    demo.queue(default_concurrency_limit=QUEUE_CONCURRENCY, max_size=QUEUE_MAX_SIZE)
    demo.launch(server_name=host, server_port=port, auth=auth, css=CSS, show_error=True,
                footer_links=["api"], prevent_thread_lock=not block, **kwargs)
    return demo
