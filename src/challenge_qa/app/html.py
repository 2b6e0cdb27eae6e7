"""HTML of the web chat: answers with clickable citation markers, source cards, the article
with its cited sentence marked, and timelines.

Article text is untrusted. Everything taken from an article is escaped here, including the
characters Markdown would act on, so that it can only ever render as text. Every marker and
card holds a citation key (``c:<message>:<n>``, ``h:<message>:<n>``, ``t:<event>:<j>``) in
a button's ``value``: the chat's sanitiser keeps ``value``, ``title`` and ``class`` but drops
``data-*`` and ``aria-*``, so the page script (``web.BRIDGE_JS``) copies each ``title`` into
``aria-label``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import replace
from types import MappingProxyType

from ..answering.compose import Answer
from ..answering.timeline import Timeline
from ..search.retrieve import Hit
from ..text.dates import format_value

# Characters that Markdown or HTML could act on, as numeric entities.
_MD_SPECIAL = MappingProxyType({c: f"&#{ord(c)};" for c in "\\`*_{}[]()#+-.!|~<>&\"'="})
_ISO = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?")
SORTS = ("Relevance", "Newest first")


def esc(text: object) -> str:
    """Escape untrusted text for HTML that may also pass through a Markdown renderer.

    Example:
        >>> esc("<b>[1]</b>")
        '&#60;b&#62;&#91;1&#93;&#60;/b&#62;'
    """
    return "".join(_MD_SPECIAL.get(c, c) for c in str(text or ""))


def nice_date(value: str | None) -> str:
    """An article's ISO date for people: "2023-03-08" -> "8 March 2023"; "" when none.

    Example:
        >>> nice_date("2023-03-08"), nice_date("2021-10"), nice_date(None)
        ('8 March 2023', 'October 2021', '')
    """
    m = _ISO.match(value or "")
    if not m:
        return str(value or "")
    try:
        precision = "day" if m.group(3) else "month" if m.group(2) else "year"
        return format_value(m.group(0), precision)
    except (ValueError, IndexError):
        return str(value)


def publisher(h: Hit) -> str:
    return h.source or "Publisher unknown"


def cite_button(key: str, label_html: str, describe: str) -> str:
    """A citation marker: a real button (focusable, Enter opens it) holding its key."""
    return (f"<button type=\"button\" class=\"qa-cite\" value=\"{esc(key)}\" "
            f"title=\"{esc(describe)}\" aria-label=\"{esc(describe)}\">{label_html}</button>")


def _describe(n: int | str, h: Hit) -> str:
    when = nice_date(h.date)
    return f"Open source {n}: {publisher(h)}{', ' + when if when else ''}, {h.title}"


def who_reports(names: Sequence[str]) -> str:
    """ "CNN", "CNN and 1 other", "CNN and 2 others".

    Example:
        >>> who_reports(["CNN"]), who_reports(["CNN", "BBC"]), who_reports(["A", "B", "C"])
        ('CNN', 'CNN and 1 other', 'A and 2 others')
    """
    if not names:
        return ""
    rest = len(names) - 1
    return names[0] + ("" if not rest else f" and {rest} other" + ("s" if rest > 1 else ""))


def _short(name: str, n: int = 32) -> str:
    return name if len(name) <= n else name[: n - 1].rstrip() + "…"


# --------------------------------------------------------------------------- answers

def _statement(text: str, base: int, dates: Iterable[dict],
               short: tuple[int, int] | None) -> str:
    """A statement escaped, the short answer marked and each relative date followed by its
    resolved value ("on Tuesday [7 March 2023]"); offsets are article offsets from
    ``base``."""
    inserts: dict[int, list[str]] = {}
    for m in dates:
        pos = m["end"] - base
        if m.get("relative") and m.get("label") and 0 <= pos <= len(text):
            inserts.setdefault(pos, []).append(
                f" <span class=\"qa-date\">&#91;{esc(m['label'])}&#93;</span>")
    lo = hi = -1
    if short is not None:
        lo, hi = max(0, short[0] - base), min(len(text), short[1] - base)
        if hi <= lo:
            lo = hi = -1
    cuts = sorted({0, len(text), *inserts, *([lo, hi] if lo >= 0 else [])})
    out = []
    for i, p in enumerate(cuts):
        if p == hi:
            out.append("</mark>")
        out += inserts.get(p, [])
        if p == lo:
            out.append("<mark class=\"qa-short-mark\">")
        if i + 1 < len(cuts):
            out.append(esc(text[p:cuts[i + 1]]))
    return "".join(out)


def _corroboration(articles: int, names: Sequence[str]) -> str:
    if articles <= 1:
        return ""
    shown = ", ".join(esc(_short(n)) for n in names[:2]) + (", …" if len(names) > 2 else "")
    return (f" <span class=\"qa-corr\" title=\"Stated by {esc('; '.join(names))}\">"
            f"{articles} articles: {shown}</span>")


def _filters_note(filters: dict) -> str:
    if not filters:
        return ""
    parts = []
    if filters.get("since"):
        parts.append(f"published since {nice_date(filters['since'])}")
    if filters.get("until"):
        parts.append(f"published by {nice_date(filters['until'])}")
    if filters.get("sources"):
        parts.append("from " + ", ".join(filters["sources"]))
    return f"<p class=\"qa-filters\"><em>Only articles {esc(', '.join(parts))}</em></p>"


def render_answer(a: Answer, msg: int | None = None) -> str:
    """The chat message: the short answer in bold, then each statement with its citation
    markers (the short answer marked inside the first) and, when several articles state
    it, how many and which. ``msg`` (the message's place in the chat) makes the markers
    open their article and adds "Copy as Markdown"."""
    searched = ("" if not a.query or a.query == a.question else
                f"<p class=\"qa-searched\"><em>Searched: {esc(a.query)}</em></p>")
    head = searched + _filters_note(a.filters)
    if not a.found:
        closest = " The closest passages are listed under Sources." if a.hits else ""
        return f"{head}<p class=\"qa-notfound\">{esc(a.text)}{closest}</p>"
    parts = []
    for i, st in enumerate(a.statements):
        marks = "".join(
            cite_button(f"c:{msg}:{n}", f"&#91;{n}&#93;", _describe(n, a.citations[n - 1]))
            if msg is not None else f"&#91;{n}&#93;" for n in st.citations)
        first = a.citations[st.citations[0] - 1]
        short = None
        if i == 0 and a.short_start is not None and a.short_end is not None:
            short = (a.short_start, a.short_end)
        text = _statement(st.text, first.sentence_start, st.dates, short)
        parts.append(f"{text}<sup class=\"qa-marks\">{marks}</sup>"
                     f"{_corroboration(st.articles, st.sources)}")
    when = (f" <span class=\"qa-date\">&#91;{esc(a.short_date)}&#93;</span>"
            if a.short_date else "")
    short_p = (f"<p class=\"qa-short\"><strong>{esc(a.short)}</strong>{when}</p>"
               if a.short is not None else "")
    copy = ("" if msg is None else
            f"<p class=\"qa-actions\"><button type=\"button\" class=\"qa-copy\" value=\"{msg}\" "
            "title=\"Copy this answer as Markdown\">Copy as Markdown</button></p>")
    return head + short_p + "<p class=\"qa-answer\">" + " ".join(parts) + "</p>" + copy


# --------------------------------------------------------------------------- sources

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


def _meta(h: Hit, *extra: str) -> str:
    return _meta_of(h.source, h.date, h.page, *extra)


def _meta_of(source: str | None, date: str | None, page: int | None = None,
             *extra: str) -> str:
    when = nice_date(date)
    parts = [f"<span class=\"qa-pub\">{esc(source or 'Publisher unknown')}</span>"]
    if when:
        parts.append(f"<time datetime=\"{esc(date)}\">{esc(when)}</time>")
    if page:
        parts.append(f"page {page}")
    parts += [esc(x) for x in extra if x]
    return " · ".join(parts)


def render_sources(a: Answer | None, msg: int | None = None, order: str = SORTS[0]) -> str:
    """The source cards of an answer (its closest passages when it found none), by
    relevance or newest first; each card opens its article."""
    if a is None or not a.hits:
        return ""
    found = a.found and bool(a.citations)
    cards, kind = (a.citations, "c") if found else (a.hits, "h")
    heading = "Sources" if found else "Closest passages (they do not answer the question)"
    # citations of one passage share a card, with each cited sentence marked
    grouped: dict[str, list[tuple[int, Hit]]] = {}
    for n, h in enumerate(cards, 1):
        grouped.setdefault(h.passage_id, []).append((n, h))
    groups = list(grouped.values())
    if order == SORTS[1]:
        groups.sort(key=lambda g: g[0][1].date or "", reverse=True)  # undated last
    out = [f"<div class=\"qa-sources\"><h4>{esc(heading)}</h4>"
           f"<p class=\"qa-for\">for: {esc(a.question)}</p>"]
    for group in groups:
        n0, h = group[0]
        label = "".join(f"&#91;{n}&#93;" for n, _ in group) + " " if found else ""
        marks = [(g.sentence_start - h.start, g.sentence_end - h.start) for _, g in group]
        strong = None
        if found and a.short_start is not None and a.short_end is not None and n0 == 1:
            strong = (a.short_start - h.start, a.short_end - h.start)
        snippet = _highlight(h.text, 0, len(h.text), marks, strong)
        title = label + esc(h.title)
        button = (cite_button(f"{kind}:{msg}:{n0}", title, _describe(n0, h))
                  if msg is not None else title)
        out.append(
            f"<div class=\"qa-card\"><div class=\"qa-title\">{button}</div>"
            f"<div class=\"qa-meta\">{_meta(h, h.doc_id)}</div>"
            f"<div class=\"qa-snippet\">{snippet}</div></div>")
    out.append("</div>")
    return "".join(out)


# --------------------------------------------------------------------------- article

def _link(url: str | None) -> str:
    """The article's address: a link only for http(s), never a script."""
    if not url:
        return ""
    if re.match(r"^https?://", url, re.I):
        return (f"<a href=\"{esc(url)}\" target=\"_blank\" rel=\"noopener noreferrer\">"
                f"{esc(url)}</a>")
    return esc(url)


def render_article(art: dict | None, hit: Hit | None, label: str = "") -> str:
    """The whole article of a citation, its passage shaded and its sentence marked (an
    article opened from "Latest", ``hit`` None, has nothing marked)."""
    if art is None:
        return "<p class=\"qa-gone\">This article is no longer in the index.</p>"
    text = art["text"]
    if hit is None:
        body = esc(text)
        meta = _meta_of(art.get("source"), art.get("date"), None, art["doc_id"])
    else:
        ps, pe = hit.start, hit.end
        if not (0 <= ps <= hit.sentence_start <= hit.sentence_end <= pe <= len(text)):
            return "<p class=\"qa-gone\">This article has changed since it was cited.</p>"
        body = (esc(text[:ps]) + "<span class=\"qa-passage\">"
                + _highlight(text, ps, pe, [(hit.sentence_start, hit.sentence_end)])
                + "</span>" + esc(text[pe:]))
        meta = _meta(replace(hit, source=art.get("source"), date=art.get("date")),
                     art["doc_id"])
    url = _link(art.get("url"))
    cited = f"<p class=\"qa-cited\">{esc(label)}</p>" if label else ""
    return (f"<div class=\"qa-article\"><h3>{esc(art['title'])}</h3>"
            f"<div class=\"qa-meta\">{meta}</div>"
            + (f"<div class=\"qa-url\">{url}</div>" if url else "")
            + f"{cited}<div class=\"qa-text\" tabindex=\"0\" role=\"region\" "
            f"aria-label=\"Article text\">{body}</div></div>")


# --------------------------------------------------------------------------- timeline

def render_timeline(t: Timeline | None) -> str:
    """The events in date order: the date as precise as the articles give it, the quoted
    sentence, and who reports it, each report a button that opens its article."""
    if t is None:
        return ""
    if not t.events:
        return (f"<p class=\"qa-notfound\">No dated events found for {esc(t.topic)} in "
                f"{t.articles} article(s).</p>")
    out = [f"<p class=\"qa-for\">{len(t.events)} events from {t.articles} article(s) about "
           f"{esc(t.topic)}</p><ol class=\"qa-events\">"]
    for i, e in enumerate(t.events):
        # a publisher before an article known only by its title
        order = sorted(range(len(e.citations)), key=lambda j: e.citations[j].source is None)
        names = [publisher(e.citations[j]) if e.citations[j].source else e.citations[j].title
                 for j in order]
        buttons = " ".join(cite_button(f"t:{i}:{j}", f"&#91;{k + 1}&#93;",
                                       _describe(k + 1, e.citations[j]))
                           for k, j in enumerate(order))
        text = e.text
        at = text.find(e.mention) if e.mention else -1
        quote = (esc(text[:at]) + "<strong>" + esc(e.mention) + "</strong>"
                 + esc(text[at + len(e.mention):]) if at >= 0 else esc(text))
        out.append(
            f"<li class=\"qa-event\"><div class=\"qa-when\"><time datetime=\"{esc(e.date)}\">"
            f"{esc(e.label)}</time> <span class=\"qa-precision\">{esc(e.precision)}</span>"
            f"</div><blockquote class=\"qa-quote\">{quote}</blockquote>"
            f"<div class=\"qa-by\">Reported by <span class=\"qa-who\">"
            f"{esc(who_reports([_short(n, 40) for n in names]))}</span> {buttons}</div></li>")
    out.append("</ol>")
    return "".join(out)


# --------------------------------------------------------------------------- news

def render_latest(items: Sequence[dict]) -> str:
    """The newest articles (``Index.latest``), newest first: each a card whose title opens
    the article (key ``l:<place in the list>``), with its publisher, date and address."""
    if not items:
        return "<p class=\"qa-hint\">No article is indexed yet.</p>"
    out = [f"<p class=\"qa-for\">The {len(items)} newest articles of the index, by their "
           "date</p>"]
    for i, it in enumerate(items):
        when = nice_date(it.get("date"))
        title = it.get("title") or it["doc_id"]
        describe = (f"Open: {it.get('source') or 'Publisher unknown'}"
                    f"{', ' + when if when else ''}, {title}")
        url = _link(it.get("url"))
        out.append(f"<div class=\"qa-card qa-latest-item\"><div class=\"qa-title\">"
                   f"{cite_button(f'l:{i}', esc(title), describe)}</div>"
                   f"<div class=\"qa-meta\">{_meta_of(it.get('source'), it.get('date'))}</div>"
                   + (f"<div class=\"qa-meta qa-url\">{url}</div>" if url else "")
                   + "</div>")
    return "".join(out)


def _every(seconds: int) -> str:
    """A source's interval for people.

    Example:
        >>> _every(30), _every(900), _every(7200)
        ('every 30 s', 'every 15 min', 'every 2 h')
    """
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"every {seconds // 3600} h"
    if seconds >= 60:
        return f"every {round(seconds / 60)} min"
    return f"every {seconds} s"


def _stamp(iso: str | None) -> str:
    """A poll's ISO time as a ``<time>``: "2024-05-02 09:00:05 UTC"."""
    from datetime import UTC, datetime

    try:
        t = datetime.fromisoformat(str(iso)).astimezone(UTC)
    except ValueError:
        return esc(iso)
    return f"<time datetime=\"{esc(iso)}\">{t:%Y-%m-%d %H:%M:%S} UTC</time>"


def render_subscriptions(rows: Sequence[dict], *, checking: bool = False,
                         last: tuple[str, Sequence[str]] | None = None,
                         problem: str | None = None, watching: bool = False) -> str:
    """The corpus's sources: each with its kind, address (``url`` None: not shown),
    interval, when it was last checked, what it added (by the last check and in all) and
    its error while it fails; ``checking`` while a check runs; ``last``: when the last
    check of this server ended and what it found per source; ``problem``: why the list
    cannot be read."""
    out = ["<div class=\"qa-subs\">"]
    if checking:
        out.append("<p class=\"qa-checking\">Checking the sources …</p>")
    if problem:
        out.append(f"<p class=\"qa-sub-error\">{esc(problem)}</p>")
    elif not rows:
        out.append("<p class=\"qa-hint\">No subscriptions yet.</p>")
    else:
        how = ("checked in the background, each on its interval" if watching else
               "checked when you press Check now (this chat does not check them by itself)")
        out.append(f"<p class=\"qa-for\">{len(rows)} source(s), {how}</p>"
                   "<ul class=\"qa-sub-list\">")
        for r in rows:
            where = (f"<div class=\"qa-meta qa-sub-url\">{esc(r['url'])}</div>"
                     if r.get("url") else "")
            if r.get("last_checked"):
                checked = (f"Checked {_stamp(r['last_checked'])}: {r.get('last_added', 0)} "
                           f"added by the last check, {r.get('added_total', 0)} in all")
            else:
                checked = "Not checked yet"
            error = (f"<div class=\"qa-sub-error\">Failing: {esc(r['error'])}</div>"
                     if r.get("error") else "")
            out.append(f"<li class=\"qa-sub\"><div class=\"qa-title\"><span "
                       f"class=\"qa-sub-name\">{esc(r['name'])}</span> <span "
                       f"class=\"qa-precision\">{esc(r['kind'])}</span> "
                       f"<span class=\"qa-meta\">{_every(int(r['interval']))}</span></div>"
                       f"{where}<div class=\"qa-meta qa-sub-checked\">{checked}</div>"
                       f"{error}</li>")
        out.append("</ul>")
    if last is not None:
        when, lines = last
        items = "".join(f"<li>{esc(line)}</li>" for line in lines)
        out.append(f"<div class=\"qa-meta qa-last-check\">Last check, {esc(when)}:"
                   f"<ul>{items}</ul></div>")
    out.append("</div>")
    return "".join(out)
