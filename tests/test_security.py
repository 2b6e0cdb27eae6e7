"""What comes from outside reaches no address it should not: adding a web page (library,
``challenge-qa add``, the chat's add-by-URL) refuses loopback, private, link-local and
reserved addresses in every notation, checks every redirect and the address actually
connected to, and does all of it unless ``allow_private_urls`` opts in.

The pages are served by a real ``http.server`` on 127.0.0.1; a refused address is never
asked (the server counts its requests).
"""

from __future__ import annotations

import http.server
import socket
import threading
from pathlib import Path

import pytest
from helpers import invoke

from challenge_qa.config import Settings
from challenge_qa.corpus import fetch as fetch_mod
from challenge_qa.corpus.ingest import add_url
from challenge_qa.errors import BlockedAddressError, InvalidArgumentError

ARTICLE = b"""<!doctype html><html><head><title>Internal salaries</title></head><body>
<article><h1>Internal salaries</h1>
<p>The internal salary table lists every person of the company with the amount they were
paid in the last year of work, and it is meant for the board only.</p>
<p>The head of finance keeps the table on a server in the basement that no one outside the
office network should be able to reach from the street.</p>
<p>Each line also holds the bank account the salary goes to and the date it was last paid.</p>
</article></body></html>"""


class _Internal(http.server.BaseHTTPRequestHandler):
    hits: list[str] = []
    port = 0

    def do_GET(self):  # noqa: N802 - http.server's name
        _Internal.hits.append(self.path)
        redirects = {"/to-ftp": "ftp://127.0.0.1/secret.html",
                     "/to-file": "file:///etc/passwd",
                     "/to-loopback": f"http://127.1.2.3:{self.port}/secret",
                     "/to-same-name": f"http://news.test:{self.port}/secret"}
        if self.path in redirects:
            self.send_response(302)
            self.send_header("Location", redirects[self.path])
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(ARTICLE)))
        self.end_headers()
        self.wfile.write(ARTICLE)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def port():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Internal)
    server.daemon_threads = True
    _Internal.port = server.server_port
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_port
    server.shutdown()
    server.server_close()


@pytest.fixture
def corpus(tmp_path) -> Path:
    (tmp_path / "corpus").mkdir()
    return tmp_path / "corpus"


def files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))


#: (address, the kind of address named in the refusal)
LOOPBACK = [
    ("http://localhost:{p}/secret", "loopback"),
    ("http://127.0.0.1:{p}/secret", "loopback"),
    ("http://[::1]:{p}/secret", "loopback"),
    ("http://2130706433:{p}/secret", "loopback"),  # 127.0.0.1 as one number
    ("http://0x7f000001:{p}/secret", "loopback"),  # ... in hexadecimal
    ("http://0177.0.0.1:{p}/secret", "loopback"),  # ... in octal
    ("http://127.1:{p}/secret", "loopback"),  # ... shortened
    ("http://[::ffff:127.0.0.1]:{p}/secret", "loopback"),  # ... inside IPv6
    ("http://0.0.0.0:{p}/secret", "unspecified"),
    ("http://169.254.169.254/latest/meta-data/", "link-local"),  # cloud metadata
    ("http://10.0.0.1/", "private"),
    ("http://192.168.1.1/", "private"),
    ("http://[fd00::1]/", "private"),
    ("http://[fe80::1]/", "link-local"),
    ("http://224.0.0.1/", "multicast"),
]


@pytest.mark.parametrize("address, why", LOOPBACK, ids=[a for a, _ in LOOPBACK])
def test_private_addresses_are_refused_by_default(port, corpus, address, why):
    url = address.format(p=port)
    before = len(_Internal.hits)
    report = add_url(url, corpus, settings=Settings(), timeout=2)
    ((name, message),) = report.refused
    assert name == url and report.saved == []
    assert f"is a {why} address: it is not fetched" in message, message
    assert "CHALLENGE_QA_ALLOW_PRIVATE_URLS=1" in message  # the way out, named
    assert len(_Internal.hits) == before  # never asked
    assert files(corpus) == []


def test_the_opt_in_fetches_a_private_address(port, corpus):
    url = f"http://127.0.0.1:{port}/secret"
    assert add_url(url, corpus, settings=Settings(allow_private_urls=True)).saved == [
        "web/127-0-0-1-secret.md"]
    env = Settings.from_env({"CHALLENGE_QA_ALLOW_PRIVATE_URLS": "1"})
    assert env.allow_private_urls and not Settings.from_env({}).allow_private_urls
    with pytest.raises(InvalidArgumentError, match="must be 1 or 0"):
        Settings.from_env({"CHALLENGE_QA_ALLOW_PRIVATE_URLS": "maybe"})


@pytest.mark.parametrize("path, target", [("/to-ftp", "ftp://127.0.0.1/secret.html"),
                                          ("/to-file", "file:///etc/passwd")])
def test_a_redirect_to_another_scheme_is_refused(port, corpus, path, target):
    """Even with private addresses allowed, a redirect leaves http(s) for nothing."""
    url = f"http://127.0.0.1:{port}{path}"
    report = add_url(url, corpus, settings=Settings(allow_private_urls=True), timeout=2)
    ((_, message),) = report.refused
    assert f"redirects to {target}: only http:// and https:// addresses are fetched" in message
    assert files(corpus) == []


@pytest.fixture
def loopback_stands_for_public(monkeypatch):
    """No public server can be reached from a test: 127.0.0.1 plays one (every other
    address is judged as it is), and the name news.test resolves to it."""
    real_rule, real_resolve = fetch_mod.refused_address, socket.getaddrinfo
    monkeypatch.setattr(fetch_mod, "refused_address",
                        lambda a: None if a == "127.0.0.1" else real_rule(a))
    answers = {"news.test": ["127.0.0.1"]}

    def resolve(host, port, *args, **kwargs):
        if host in answers:
            ip = answers[host].pop(0) if len(answers[host]) > 1 else answers[host][0]
            return real_resolve(ip, port, *args, **kwargs)
        return real_resolve(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    return answers


def test_a_redirect_to_a_private_address_is_refused(port, corpus, loopback_stands_for_public):
    assert add_url(f"http://127.0.0.1:{port}/secret", corpus).saved  # the "public" page
    before = len(_Internal.hits)
    report = add_url(f"http://127.0.0.1:{port}/to-loopback", corpus, timeout=2)
    ((_, message),) = report.refused
    assert "127.1.2.3 is a loopback address: it is not fetched" in message
    assert _Internal.hits[before:] == ["/to-loopback"]  # the redirect's target never asked


def test_a_name_that_turns_private_is_refused_when_connected(port, corpus,
                                                              loopback_stands_for_public):
    """DNS rebinding: news.test resolves to a public address for the first request and to a
    loopback one when the redirect comes back to it; the second connection is refused."""
    loopback_stands_for_public["news.test"] = ["127.0.0.1", "127.0.0.9"]
    before = len(_Internal.hits)
    report = add_url(f"http://news.test:{port}/to-same-name", corpus, timeout=2)
    ((_, message),) = report.refused
    assert "news.test (127.0.0.9) is a loopback address" in message
    assert _Internal.hits[before:] == ["/to-same-name"]
    assert files(corpus) == []


def test_a_name_with_one_private_address_among_public_ones_is_refused(monkeypatch):
    real = socket.getaddrinfo
    monkeypatch.setattr(socket, "getaddrinfo", lambda host, port, *a, **k: (
        real("93.184.215.14", port, *a, **k) + real("10.1.2.3", port, *a, **k)))
    with pytest.raises(BlockedAddressError, match=r"mixed.test \(10.1.2.3\) is a private"):
        fetch_mod.fetch("http://mixed.test/", timeout=1, max_bytes=1000)


def test_the_command_line_refuses_a_loopback_address(port, tmp_path, corpus):
    url = f"http://localhost:{port}/secret"
    before = len(_Internal.hits)
    result = invoke("add", url, "--no-index", "--corpus", corpus, "--index", tmp_path / "ix")
    assert result.exit_code == 1, result.output
    assert "localhost (127.0.0.1) is a loopback address: it is not fetched" in result.output \
        or "is a loopback address: it is not fetched" in result.output, result.output
    assert len(_Internal.hits) == before and files(corpus) == []


def test_the_chat_refuses_a_loopback_address(port, tmp_path, corpus):
    from challenge_qa.app.web import build_ui
    from challenge_qa.engine import Engine

    demo = build_ui(engine=Engine(Settings(corpus_dir=corpus, index_dir=tmp_path / "ix",
                                                  show_progress=False)))
    (add_from_url,) = [f.fn for f in demo.fns.values() if f.fn and f.fn.__name__ ==
                       "add_from_url"][:1]
    url = f"http://0x7f000001:{port}/secret"
    before = len(_Internal.hits)
    shown, kept, *_ = add_from_url(url)
    assert "is a loopback address: it is not fetched" in shown, shown
    assert kept == url  # the address stays in the box to correct
    assert len(_Internal.hits) == before and files(corpus) == []


# --------------------------------------------------------------------------- costly uploads

def _refusal(report) -> str:
    assert report.saved == [] and report.duplicates == [], report
    ((_, message),) = report.refused
    return message


def _flate_pdf(content: bytes, pages: int = 1) -> bytes:
    """A PDF whose ``pages`` pages all draw one Flate-compressed content stream."""
    import zlib

    packed = zlib.compress(content, 9)
    kids = " ".join(f"{5 + i} 0 R" for i in range(pages)).encode()
    objs = [b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [" + kids + b"] /Count %d >>" % pages,
            b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(packed) + packed
            + b"\nendstream",
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    objs += [b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 3 0 R "
             b"/Resources << /Font << /F1 4 0 R >> >> >>"] * pages
    out, offsets = b"%PDF-1.4\n", []
    for n, body in enumerate(objs, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % n + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    return out + b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objs) + 1, xref)


def test_a_pdf_decompression_bomb_is_refused_before_it_is_parsed(corpus):
    """117 KB that expand to 40 MB of drawing operators per page, on 500 pages: parsing them
    would take hours; the decompressed size is measured first, and the PDF refused."""
    from challenge_qa.corpus.ingest import add_files

    bomb = _flate_pdf(b"q Q " * 10_000_000, pages=500)
    assert len(bomb) < 120_000
    message = _refusal(add_files([("bomb.pdf", bomb)], corpus, settings=Settings()))
    assert "MB of content for at most 2,000,000 characters" in message, message
    assert "decompression bomb" in message and files(corpus) == []
    # the same text as an ordinary PDF draws it is read
    fine = _flate_pdf(b"BT /F1 12 Tf 72 700 Td (The harbor bridge reopened on Thursday after "
                      b"eight months of repairs.) Tj ET")
    assert add_files([("fine.pdf", fine)], corpus, settings=Settings()).saved == [
        "uploads/fine.pdf"]


def test_a_pdf_of_100000_pages_is_refused_by_its_page_count(corpus):
    """(This one is 27 MB; with shared objects as many pages fit in 600 KB.) Refused by the
    count its page tree declares, before any page is read."""
    from minipdf import make_pdf

    from challenge_qa.corpus.ingest import add_files

    data = make_pdf([["x"]] * 100_000)
    report = add_files([("pages.pdf", data)], corpus, settings=Settings(max_upload_mb=40,
                                                                          max_file_mb=40))
    message = _refusal(report)
    assert "it has 100,000 pages, more than the 2,000 a PDF may have" in message, message
    assert "CHALLENGE_QA_MAX_PDF_PAGES" in message
    assert files(corpus) == []


TOO_MUCH = [
    pytest.param("long.txt", "A sentence of the long article. " * 60, {"max_article_chars": 1000},
                 "its text has 1,919 characters, more than the 1,000 an article may have",
                 id="characters"),
    pytest.param("many.md", "Short line here. " * 40,
                 {"max_article_passages": 3, "chunk_chars": 50, "overlap_chars": 0},
                 "makes 14 passages, more than the 3 an article may make", id="passages"),
    pytest.param("text.pdf", None, {"max_article_chars": 60},
                 "its text has more than the 60 characters an article may have",
                 id="pdf-characters"),
]


@pytest.mark.parametrize("name, text, settings, fragment", TOO_MUCH)
def test_an_article_beyond_a_limit_is_refused_naming_it(corpus, name, text, settings,
                                                         fragment):
    from minipdf import make_pdf

    from challenge_qa.corpus.ingest import add_files

    data = (make_pdf([["The first page of the report holds one long sentence of text."]] * 3)
            if text is None else text.encode())
    message = _refusal(add_files([(name, data)], corpus, settings=Settings(**settings)))
    assert fragment in message, message
    assert files(corpus) == []


def test_a_build_skips_what_is_beyond_the_limits_and_indexes_the_rest(tmp_path):
    import json

    from challenge_qa import build_index

    corpus = tmp_path / "c"
    corpus.mkdir()
    (corpus / "ok.md").write_text("# Bridge\n\nThe harbor bridge reopened on Thursday.\n")
    (corpus / "long.txt").write_text("A sentence of the long article. " * 60)
    (corpus / "feed.jsonl").write_text(
        json.dumps({"id": "a", "text": "The ferry runs every forty minutes."}) + "\n"
        + json.dumps({"id": "b", "text": "A very long line of text. " * 60}) + "\n")
    report = build_index(corpus, tmp_path / "ix",
                         settings=Settings(max_article_chars=1000, show_progress=False))
    assert report.articles == 2  # ok.md and the JSONL file's first line
    assert any(r.startswith("long.txt: skipped, its text has 1,919 characters")
               for r in report.skipped), report.skipped
    assert any(r.startswith("feed.jsonl:2: skipped, its text has") for r in report.skipped)


def test_the_chat_refuses_an_upload_beyond_the_limits(tmp_path, corpus):
    from challenge_qa.app.web import build_ui
    from challenge_qa.engine import Engine

    demo = build_ui(engine=Engine(Settings(
        corpus_dir=corpus, index_dir=tmp_path / "ix", show_progress=False,
        max_article_chars=1000)))
    (add_uploaded,) = [f.fn for f in demo.fns.values() if f.fn and f.fn.__name__ ==
                       "add_uploaded"][:1]
    upload = tmp_path / "up" / "long.txt"
    upload.parent.mkdir()
    upload.write_text("A sentence of the long article. " * 60)
    shown, *_ = add_uploaded([str(upload)])
    assert "more than the 1,000 an article may have" in shown, shown
    assert files(corpus) == []


# --------------------------------------------------------------------------- long builds

def _many_articles(folder: Path, n: int = 800) -> None:
    import json

    lines = [json.dumps({"id": f"n{i}", "title": f"Note {i}",
                         "text": f"Note {i} says the ferry number {i} left pier {i % 7}."})
             for i in range(n)]
    (folder / "notes.jsonl").write_text("\n".join(lines) + "\n")


def test_a_build_reports_progress_and_stops_when_cancelled(tmp_path):
    from challenge_qa import build_index, load_index
    from challenge_qa.errors import BuildCancelledError

    corpus = tmp_path / "c"
    corpus.mkdir()
    _many_articles(corpus)
    stop, seen = threading.Event(), []

    def progress(articles, passages):
        seen.append((articles, passages))
        stop.set()  # cancel once the first batch is in

    s = Settings(show_progress=False)
    with pytest.raises(BuildCancelledError, match="cancelled after 256 articles"):
        build_index(corpus, tmp_path / "ix", settings=s, progress=progress, cancel=stop)
    assert seen == [(256, 256)]
    report = build_index(corpus, tmp_path / "ix", settings=s)  # a later build goes on
    assert report.articles == 800
    assert load_index(tmp_path / "ix", settings=s).manifest["counts"]["articles"] == 800


def test_the_chat_service_cancels_a_build_and_answers_as_before(tmp_path):
    import shutil

    from challenge_qa import answer
    from challenge_qa.engine import Engine

    corpus = tmp_path / "c"
    shutil.copytree(Path(__file__).parent.parent / "docs_corpus", corpus)
    svc = Engine(Settings(corpus_dir=corpus, index_dir=tmp_path / "ix",
                                show_progress=False))
    svc.ensure_index()
    svc.wait()
    _many_articles(corpus)
    assert svc.start_build() and svc.cancel_build()
    svc.wait()
    st = svc.status()
    assert st.state == "stale" and st.message.startswith("The build was cancelled after"), st
    assert not svc.cancel_build()  # nothing running any more
    a = answer("Who plays the patient?", index=svc.index())
    assert a.found and "Novitskiy" in a.text


# --------------------------------------------------------------------------- a server with --auth

LOGIN = ("editor", "s3cret-pass")


@pytest.fixture(scope="module")
def guarded(tmp_path_factory):
    """The chat with a login and MCP on 127.0.0.1: (base URL, corpus, index folder)."""
    import shutil

    pytest.importorskip("mcp", reason="the MCP route needs challenge-qa[mcp]")
    from challenge_qa.app.web import launch
    from challenge_qa.engine import Engine

    base = tmp_path_factory.mktemp("guarded")
    shutil.copytree(Path(__file__).parent.parent / "docs_corpus", base / "corpus")
    svc = Engine(Settings(corpus_dir=base / "corpus", index_dir=base / "index",
                                show_progress=False))
    svc.ensure_index()
    svc.wait()
    demo = launch(engine=svc, port=None, block=False, quiet=True, auth=LOGIN, mcp=True)
    try:
        yield demo.local_url.rstrip("/"), base / "corpus", base / "index"
    finally:
        demo.close()


def _status(url: str, *, method: str = "GET", data: bytes | None = None,
            headers: dict | None = None) -> int:
    import urllib.error
    import urllib.request

    req = urllib.request.Request(url, method=method, data=data, headers=headers or {})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(req, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def test_every_route_of_a_guarded_server_asks_for_the_login(guarded):
    base, corpus, index = guarded
    article = next(corpus.iterdir())
    index_file = next(p for p in index.rglob("*") if p.is_file())
    gets = ["/config", "/gradio_api/info", "/gradio_api/queue/status",
            f"/gradio_api/file={article}", f"/gradio_api/file={index_file}",
            "/gradio_api/file=/etc/passwd", "/gradio_api/mcp/schema", "/gradio_api/mcp/",
            "/gradio_api/mcp/sse"]
    for path in gets:
        assert _status(base + path) == 401, path
    json_post = {"Content-Type": "application/json"}
    for path in ["/gradio_api/upload", "/gradio_api/call/answer", "/gradio_api/mcp/",
                 "/gradio_api/mcp/messages/?session_id=x"]:
        assert _status(base + path, method="POST", data=b"{}", headers=json_post) == 401, path
    # a wrong password is no login either
    import base64

    wrong = {"Authorization": "Basic " + base64.b64encode(b"editor:guess").decode()}
    assert _status(base + "/gradio_api/mcp/schema", headers=wrong) == 401


def test_mcp_clients_send_the_login_as_basic_credentials(guarded):
    import base64

    import httpx
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    base, _, _ = guarded
    header = {"Authorization": "Basic " + base64.b64encode(":".join(LOGIN).encode()).decode()}

    async def tools(headers):
        async with httpx.AsyncClient(trust_env=False, headers=headers,
                                     timeout=httpx.Timeout(120.0)) as http, \
                streamable_http_client(base + "/gradio_api/mcp/", http_client=http) as (
                    read, write, _), ClientSession(read, write) as s:
            await s.initialize()
            return sorted(t.name for t in (await s.list_tools()).tools)

    import asyncio

    assert {"answer", "retrieve", "timeline"} <= set(asyncio.run(tools(header)))
    assert _status(base + "/gradio_api/mcp/schema", headers=header) == 200


def test_logged_in_no_file_outside_the_corpus_can_be_read(guarded):
    import http.cookiejar
    import urllib.parse
    import urllib.request

    base, corpus, index = guarded
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}),
                                         urllib.request.HTTPCookieProcessor(jar))
    form = urllib.parse.urlencode({"username": LOGIN[0], "password": LOGIN[1]}).encode()
    with opener.open(base + "/login", data=form, timeout=10) as r:
        assert r.status == 200
    assert any(c.name.startswith("access-token") for c in jar)
    with opener.open(base + "/config", timeout=10) as r:  # logged in now
        assert r.status == 200
    index_file = next(p for p in index.rglob("*") if p.is_file())
    secret = corpus.parent / "secret.txt"
    secret.write_text("not for the chat")
    for path in ["/etc/passwd", str(index_file), str(secret), str(corpus / ".." / "secret.txt"),
                 str(Path(__file__).resolve())]:
        import urllib.error

        try:
            with opener.open(base + "/gradio_api/file=" + path, timeout=10) as r:
                status = r.status
        except urllib.error.HTTPError as e:
            status = e.code
        assert status in (403, 404), (path, status)


# --------------------------------------------------------------------------- names and files

TEXT = b"The harbor bridge reopened on Thursday after eight months of repairs in the city.\n"


@pytest.mark.parametrize("name, saved", [
    ("../../evil.md", "uploads/evil.md"), ("/etc/cron.d/job.md", "uploads/job.md"),
    ("C:\\Windows\\win.md", "uploads/win.md"), ("nul\x00byte.md", "uploads/nul-byte.md"),
    ("new\nline.md", "uploads/new-line.md"), (".env.md", "uploads/env.md")])
def test_an_upload_name_cannot_leave_the_uploads_folder(corpus, name, saved):
    from challenge_qa.corpus.ingest import add_files

    report = add_files([(name, TEXT + name.encode("unicode_escape"))], corpus,
                       settings=Settings())
    assert report.saved == [saved], report
    assert [p for p in files(corpus) if not p.startswith(".challenge_qa")] == [
        "uploads", saved]


FRONT_MATTER = [
    ("tag.md", "title: !!python/object/apply:os.system ['touch /tmp/pwned']",
     "its YAML front matter is invalid (ConstructorError)"),
    ("deep.md", "title: " + "[" * 5000 + "]" * 5000,
     "its YAML front matter is nested more than 20 levels deep"),
    ("aliases.md", "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "\n".join(
        f"{k}: &{k} [" + ", ".join([f"*{p}"] * 10) + "]" for p, k in
        zip("abcdefg", "bcdefgh", strict=True)),
     "its YAML front matter has more than 10 aliases"),
]


@pytest.mark.parametrize("name, front, why", FRONT_MATTER, ids=[f[0] for f in FRONT_MATTER])
def test_hostile_front_matter_is_refused_and_skipped_by_a_build(tmp_path, corpus, name,
                                                                front, why):
    from challenge_qa import build_index
    from challenge_qa.corpus.ingest import add_files

    data = f"---\n{front}\n---\n\nThe article's text is here, long enough to count.\n"
    assert why in _refusal(add_files([(name, data.encode())], corpus, settings=Settings()))
    (corpus / name).write_text(data)
    (corpus / "ok.md").write_text("# Fine\n\nA fine article about the harbor bridge.\n")
    report = build_index(corpus, tmp_path / "ix", settings=Settings(show_progress=False))
    assert report.articles == 1 and report.skipped == [f"{name}: skipped, {why}"]


def test_a_link_out_of_the_corpus_is_not_read(tmp_path, corpus):
    from challenge_qa import build_index

    secret = tmp_path / "secret.txt"
    secret.write_text("The password of the vault is tangerine.")
    (corpus / "link.txt").symlink_to(secret)
    (corpus / "ok.md").write_text("# Fine\n\nA fine article about the harbor bridge.\n")
    report = build_index(corpus, tmp_path / "ix", settings=Settings(show_progress=False))
    assert report.articles == 1
    assert report.skipped == ["link.txt: skipped, it is a link to a file outside the corpus"]


def test_front_matter_fields_must_be_single_values(corpus):
    from challenge_qa.corpus.ingest import add_files

    data = b"---\ntitle: [a, {b: c}]\n---\n\nThe article's text is here, long enough.\n"
    assert "its front matter's 'title' is not a single value" in _refusal(
        add_files([("list.md", data)], corpus, settings=Settings()))
