"""Test data and helpers shared by the test modules (imported as ``helpers``)."""

from __future__ import annotations

import contextlib
import http.server
import shutil
import textwrap
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from click.testing import CliRunner, Result

from challenge_qa.app.cli import cli
from challenge_qa.config import Settings
from challenge_qa.testing import http_server

ROOT = Path(__file__).resolve().parents[1]
DOCS_CORPUS = ROOT / "docs_corpus"

#: Small passages, so every article of the small corpus has several of them.
SMALL = Settings(chunk_chars=300, overlap_chars=80, show_progress=False, batch_size=16)
#: The defaults (what the CLI uses) without progress bars.
DEFAULT = Settings(show_progress=False)

VOLCANO_MD = textwrap.dedent("""\
    ---
    title: Mount Etna erupts again
    source: Volcano Weekly
    date: 2024-02-11
    url: https://example.org/etna
    ---

    Mount Etna, the tallest active volcano in Europe, erupted on Sunday night. Lava fountains
    rose hundreds of metres above the south-east crater. Ash fell on the city of Catania and
    the airport closed for six hours.

    Volcanologists at the national institute said the eruption was expected. Tremor had been
    rising for a week before the lava broke through. No one was hurt, and the flights resumed
    on Monday morning.
    """)

CHESS_TXT = textwrap.dedent("""\
    Chess prodigy wins the national title
    A twelve-year-old girl from Leeds won the national chess championship on Saturday. She beat
    the defending champion in the final round with a daring queen sacrifice. Her coach said she
    studies endgames for three hours every day.

    The tournament drew two hundred players from across the country. Next year the girl hopes
    to play in the world junior championship in Italy.
    """)

BEES_HTML = textwrap.dedent("""\
    <!doctype html>
    <html><head>
      <title>How honey bees talk</title>
      <meta property="og:site_name" content="Nature Notes">
      <meta property="article:published_time" content="2023-06-01T08:30:00Z">
      <link rel="canonical" href="https://example.org/bees">
      <style>body { color: red; }</style>
      <script>var tracking = "SCRIPTTEXT";</script>
    </head><body>
      <nav>NAVTEXT Home | About</nav>
      <article>
        <h1>How honey bees talk</h1>
        <p>Honey bees tell their hive mates where flowers are with a waggle dance. The angle of
        the dance shows the direction of the food relative to the sun.</p>
        <p>The length of the waggle run tells the distance to the flowers. A forager that found
        rich nectar dances longer and with more energy, so more workers follow her.</p>
      </article>
      <footer>FOOTERTEXT copyright</footer>
    </body></html>
    """)

EXTRA_JSONL = (
    '{"_id": "lighthouse", "title": "Old lighthouse restored", "text": "Volunteers restored '
    'the old lighthouse on Skerry Island. The brass lens was polished and the lamp was lit '
    'again after forty years of darkness. Ships can see its beam from twenty miles away.", '
    '"source": "Coast News", "date": "2022-09-14", "url": "https://example.org/light"}\n'
    '{"id": "marathon", "title": "Marathon record falls", "text": "A runner from Kenya set a '
    'new course record at the city marathon. She trained at high altitude for three months. '
    'The winning time was two hours and seventeen minutes, a minute faster than the old '
    'record."}\n'
)

SMALL_FILES = {
    "volcano.md": VOLCANO_MD,
    "chess.txt": CHESS_TXT,
    "nature/bees.html": BEES_HTML,
    "extra.jsonl": EXTRA_JSONL,
}
SMALL_IDS = {"volcano.md", "chess.txt", "nature/bees.html", "lighthouse", "marathon"}


def write_files(folder: Path, files: dict[str, str | bytes]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        p = folder / name
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            p.write_bytes(content)
        else:
            p.write_text(content, encoding="utf-8")
    return folder


def copy_index(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def invoke(*args, env: dict[str, str] | None = None, input: str | None = None) -> Result:
    """Run the ``challenge-qa`` command line in-process (``input``: what is typed)."""
    return CliRunner().invoke(cli, [str(a) for a in args], env=env, input=input,
                              prog_name="challenge-qa")


def assert_one_error_line(result: Result, *fragments: str) -> str:
    """The command failed with exit 1 and one ``Error:`` line (the last) holding
    ``fragments``, no traceback and nothing on stdout; returns that line."""
    assert result.exit_code == 1, (result.exit_code, result.output, result.exception)
    assert isinstance(result.exception, SystemExit), result.exception
    lines = result.stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("Error:")]
    assert len(errors) == 1 and lines[-1] == errors[0], lines
    assert "Traceback" not in result.output
    assert result.stdout == ""
    for fragment in fragments:
        assert fragment in errors[0], (fragment, errors[0])
    return errors[0]


@contextmanager
def running_chat(corpus: Path, index_dir: Path, **settings):
    """The chat for ``corpus`` on 127.0.0.1 (with these ``Settings`` fields), its index
    built first: yields ``(demo, service, url)`` and closes the server afterwards."""
    from challenge_qa.app.web import launch
    from challenge_qa.engine import Engine

    svc = Engine(Settings(corpus_dir=corpus, index_dir=index_dir, show_progress=False,
                                **settings))
    svc.ensure_index()
    svc.wait()
    assert svc.status().state == "ready", svc.status()
    demo = launch(engine=svc, port=None, block=False, quiet=True)
    assert demo.local_url.startswith("http://127.0.0.1:"), demo.local_url
    try:
        yield demo, svc, demo.local_url
    finally:
        demo.close()


def live_ids(idx) -> Counter:
    """How many live articles of each id the index holds (1 each, if all is well)."""
    out: Counter = Counter()
    for seg in idx.segments:
        for i, aid in seg.query("SELECT idx, id FROM articles ORDER BY idx"):
            if not seg.deleted_articles[i]:
                out[aid] += 1
    return out


# --------------------------------------------------------------------------- a news site
# (tests/test_sources.py, and the chat's subscriptions in tests/test_browser.py)


def article_html(title: str | None, paragraphs: list[str], *, site: str | None = None,
                 date: str | None = None) -> bytes:
    """An article page; without ``title``, ``site`` and ``date`` it states none of them."""
    head = [f"<title>{title}</title>", f'<meta property="og:title" content="{title}">'
            ] if title else []
    if site:
        head.append(f'<meta property="og:site_name" content="{site}">')
    if date:
        head.append(f'<meta property="article:published_time" content="{date}">')
    body = "".join(f"<p>{p}</p>\n" for p in paragraphs)
    h1 = f"<h1>{title}</h1>" if title else ""
    return (f"<!doctype html><html><head>{''.join(head)}</head><body>"
            f"<nav><a href='/'>Home</a> <a href='/news'>News</a></nav>"
            f"<article>{h1}\n{body}</article>"
            f"<footer>Copyright the publisher.</footer></body></html>").encode()


#: A news story (the harbor feed of tests/test_sources.py, and the chat's in
#: tests/test_browser.py): two paragraphs of an article page.
BRIDGE = [
    "The old harbor bridge in Veldhaven reopened to traffic on Thursday after eight months "
    "of repairs. Engineers replaced the rusted cables and repainted the steel deck in a pale "
    "green colour.",
    "The city council paid fourteen million euros for the work, two million more than "
    "planned. Mayor Lotte Brandt said the extra cost came from a shortage of steel.",
]


@dataclass
class Route:
    body: bytes = b""
    ctype: str = "text/html; charset=utf-8"
    status: int = 200
    etag: str | None = None
    last_modified: str | None = None
    delay: float = 0.0


class Site:
    """A news site on 127.0.0.1 whose ``routes`` the test edits; ``requests`` holds every
    (path, headers) it was asked for."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.base = ""
        self.port = 0

    def url(self, path: str) -> str:
        return self.base + path

    def hits(self, path: str) -> int:
        return sum(1 for p, _ in self.requests if p == path)

    def headers_of(self, path: str) -> list[dict[str, str]]:
        return [h for p, h in self.requests if p == path]

    def page(self, path: str, title: str | None, paragraphs: list[str], **meta) -> str:
        self.routes[path] = Route(article_html(title, paragraphs, **meta))
        return self.url(path)

    def feed(self, path: str, xml: str, *, ctype: str = "application/rss+xml",
             etag: str | None = None, last_modified: str | None = None) -> str:
        self.routes[path] = Route(xml.encode(), ctype, etag=etag, last_modified=last_modified)
        return self.url(path)


def _site_handler(site: Site):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            site.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
            r = site.routes.get(self.path)
            if r is None:
                self.send_error(404)
                return
            if r.delay:
                time.sleep(r.delay)
            if r.status != 200:
                self.send_error(r.status)
                return
            unchanged = ((r.etag and self.headers.get("If-None-Match") == r.etag)
                         or (r.last_modified
                             and self.headers.get("If-Modified-Since") == r.last_modified))
            self.send_response(304 if unchanged else 200)
            if r.etag:
                self.send_header("ETag", r.etag)
            if r.last_modified:
                self.send_header("Last-Modified", r.last_modified)
            if unchanged:
                self.end_headers()
                return
            self.send_header("Content-Type", r.ctype)
            self.send_header("Content-Length", str(len(r.body)))
            self.end_headers()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(r.body)

        def log_message(self, *args):
            pass

    return Handler


@contextmanager
def news_site() -> Iterator[Site]:
    """A ``Site`` served by ``http.server`` on 127.0.0.1 (a free port) while in use."""
    s = Site()
    with http_server(_site_handler(s)) as server:
        s.port = server.server_port
        s.base = f"http://127.0.0.1:{server.server_port}"
        yield s


def rss(title: str, items: list[dict]) -> str:
    """An RSS 2.0 feed; an item is a dict of title, link, guid, date (RFC 822), summary."""
    def item(i: dict) -> str:
        parts = [f"<title>{i['title']}</title>", f"<link>{i['link']}</link>"]
        if i.get("guid"):
            parts.append(f'<guid isPermaLink="false">{i["guid"]}</guid>')
        if i.get("date"):
            parts.append(f"<pubDate>{i['date']}</pubDate>")
        parts.append(f"<description>{i.get('summary', i['title'])}</description>")
        return "<item>" + "".join(parts) + "</item>"

    return ('<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"><channel>'
            f"<title>{title}</title><link>http://news.example/</link>"
            f"<description>{title} news</description>"
            + "".join(item(i) for i in items) + "</channel></rss>\n")


def atom(title: str, entries: list[dict]) -> str:
    """An Atom feed; an entry is a dict of title, link, id, updated (ISO 8601), summary."""
    def entry(e: dict) -> str:
        return (f"<entry><title>{e['title']}</title><link href=\"{e['link']}\"/>"
                f"<id>{e['id']}</id><updated>{e['updated']}</updated>"
                f"<published>{e.get('published', e['updated'])}</published>"
                f"<summary>{e.get('summary', e['title'])}</summary></entry>")

    return ('<?xml version="1.0" encoding="utf-8"?>\n'
            '<feed xmlns="http://www.w3.org/2005/Atom">'
            f"<title>{title}</title><id>urn:feed:{title}</id>"
            "<updated>2024-08-20T10:00:00Z</updated>"
            + "".join(entry(e) for e in entries) + "</feed>\n")


def finish(proc, kill: bool = False, timeout: float = 180) -> dict:
    """Wait for a child process (SIGKILLed first with ``kill``): its exit code, whether
    the kill took it, and what it printed. A child still running at ``timeout`` is
    killed, never left behind."""
    import signal

    try:
        if kill:
            proc.send_signal(signal.SIGKILL)
        out, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return {"rc": proc.returncode, "killed": proc.returncode == -signal.SIGKILL,
            "stdout": out, "stderr": err}


def stop_session(proc, timeout: float = 60) -> None:
    """Stop a child started in a session of its own (a ``ray start --block`` node): SIGTERM,
    then SIGKILL to its whole process group if it has not stopped within ``timeout``."""
    import os
    import signal
    import subprocess

    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
