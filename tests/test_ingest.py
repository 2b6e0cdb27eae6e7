"""Adding articles (challenge_qa.corpus.ingest, ``challenge-qa add``): real files, real PDFs, and
web pages served by a real ``http.server`` on 127.0.0.1 and extracted by trafilatura.

Every refusal is checked to leave the corpus folder byte for byte as it was (and, through
the command line, the index's files too).
"""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import socket
import threading
import time
from pathlib import Path

import pytest
from helpers import SMALL_FILES, invoke, write_files
from minipdf import make_pdf

from challenge_qa.config import Settings
from challenge_qa.corpus.ingest import AddReport, add_files, add_url, safe_name
from challenge_qa.corpus.load import load_corpus

ARTICLE_HTML = b"""<!doctype html>
<html><head>
  <title>Harbor bridge reopens after repairs | Harbor Gazette</title>
  <meta property="og:site_name" content="Harbor Gazette">
  <meta property="og:title" content="Harbor bridge reopens after repairs">
  <meta property="article:published_time" content="2024-05-02T09:00:00Z">
</head><body>
  <nav><a href="/">Home</a> <a href="/news">News</a> <a href="/sport">Sport</a></nav>
  <article>
    <h1>Harbor bridge reopens after repairs</h1>
    <p>The old harbor bridge in Veldhaven reopened to traffic on Thursday after eight months
    of repairs. Engineers replaced the rusted cables and repainted the steel deck in a pale
    green colour.</p>
    <p>The city council paid 14 million euros for the work, two million more than planned.
    Mayor Lotte Brandt said the extra cost came from a shortage of steel in the winter.</p>
    <p>Ferries that carried commuters during the closure will stop running on Sunday.</p>
  </article>
  <footer>Copyright 2024 Harbor Gazette. All rights reserved.</footer>
</body></html>"""

HOME_HTML = b"""<!doctype html><html><head><title>Harbor Gazette</title></head><body>
<nav><a href="/news">News</a> <a href="/sport">Sport</a></nav>
<ul><li><a href="/news/bridge">Bridge reopens</a></li><li><a href="/w">Weather</a></li></ul>
</body></html>"""

PDF_PAGES = [["Veldhaven ferry timetable", "The ferry to Oosterduin leaves every forty minutes."],
             ["The last ferry of the day departs at 23:10 from pier four."]]


class _Site(http.server.BaseHTTPRequestHandler):
    hits: dict[str, int] = {}

    def do_GET(self):  # noqa: N802 - http.server's name
        _Site.hits[self.path] = _Site.hits.get(self.path, 0) + 1
        route = {
            "/news/bridge": (200, "text/html; charset=utf-8", ARTICLE_HTML),
            "/mirror/bridge-copy": (200, "text/html", ARTICLE_HTML),
            "/home": (200, "text/html", HOME_HTML),
            "/file.bin": (200, "application/octet-stream", bytes(range(256)) * 8),
            "/big": (200, "text/html", b"<html><body><p>" + b"word " * 500_000 + b"</p>"),
        }.get(self.path)
        if self.path == "/old-bridge":
            self.send_response(301)
            self.send_header("Location", "/news/bridge")
            self.end_headers()
            return
        if self.path == "/slow":
            time.sleep(3)
            route = (200, "text/html", ARTICLE_HTML)
        if self.path == "/broken":
            self.send_error(500)
            return
        if route is None:
            self.send_error(404)
            return
        status, ctype, body = route
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(autouse=True)
def _local_site_allowed(monkeypatch):
    """The test site is on 127.0.0.1: these tests opt in to private addresses, as an
    intranet would (test_security.py checks that the default refuses them)."""
    monkeypatch.setenv("CHALLENGE_QA_ALLOW_PRIVATE_URLS", "1")


@pytest.fixture(scope="module")
def site():
    """A web server on 127.0.0.1: its base URL; ``_Site.hits`` counts requests per path."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Site)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def snapshot(root: Path) -> dict[str, str]:
    """Every file and folder under ``root`` (hidden ones too) with its content's hash."""
    return {p.relative_to(root).as_posix(): (hashlib.sha256(p.read_bytes()).hexdigest()
                                            if p.is_file() else "dir")
            for p in sorted(root.rglob("*"))}


@pytest.fixture
def corpus(tmp_path) -> Path:
    return write_files(tmp_path / "corpus", SMALL_FILES)


# --------------------------------------------------------------------------- files

@pytest.mark.parametrize("name, expected", [
    ("report.pdf", "report.pdf"),
    ("../../x.md", "x.md"),
    ("..\\..\\windows\\x.md", "x.md"),
    ("/etc/passwd", "passwd"),
    (".hidden.md", "hidden.md"),
    ("a:b*c?.txt", "a-b-c.txt"),
    ("Résumé 2024.md", "Résumé 2024.md"),
    ("..", "upload"),
    ("x" * 300 + ".md", "x" * 117 + ".md"),
])
def test_safe_name(name, expected):
    assert safe_name(name) == expected


def test_added_files_are_saved_under_uploads_and_load_as_articles(tmp_path, corpus):
    src = write_files(tmp_path / "downloads", {"notes.txt": "Tide tables\nHigh tide is at "
                                               "noon on Saturday in Veldhaven."})
    pdf = make_pdf(PDF_PAGES, info={"Author": "Veldhaven Ferries"})
    report = add_files([("../../x.md", b"# Storm warning\n\nA storm reaches the coast tonight."),
                        src / "notes.txt", ("timetable.pdf", pdf)], corpus)
    assert report == AddReport(saved=["uploads/x.md", "uploads/notes.txt",
                                      "uploads/timetable.pdf"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corpus", "downloads"]  # no x.md
    assert (corpus / "uploads" / "timetable.pdf").read_bytes() == pdf
    arts = {a.id: a for a in load_corpus(corpus).articles}
    assert arts["uploads/x.md"].title == "Storm warning"
    assert arts["uploads/timetable.pdf"].source == "Veldhaven Ferries"
    assert len(arts["uploads/timetable.pdf"].pages) == 2


def test_a_different_file_of_the_same_name_is_never_overwritten(corpus):
    add_files([("x.md", b"First article about the lighthouse keeper.")], corpus)
    report = add_files([("x.md", b"Second article about the harbour master."),
                        ("x.md", b"Third article about the ferry captain.")], corpus)
    assert report.saved == ["uploads/x-2.md", "uploads/x-3.md"]
    assert (corpus / "uploads" / "x.md").read_bytes() == b"First article about the lighthouse " \
                                                         b"keeper."


def test_the_same_article_twice_is_a_duplicate(corpus):
    volcano = (corpus / "volcano.md").read_bytes()
    before = snapshot(corpus)
    report = add_files([("etna.md", volcano),                      # same bytes as volcano.md
                        ("bees.md", b"x" * len(volcano))], corpus)  # same size, other bytes
    assert report.duplicates == [("etna.md", "volcano.md")]
    assert report.saved == ["uploads/bees.md"]
    after = snapshot(corpus)
    assert set(after) - set(before) == {"uploads", "uploads/bees.md", ".challenge_qa",
                                        ".challenge_qa/known.json"}

    # the same text with other line breaks and spacing; the same bytes twice in one call
    chess = (corpus / "chess.txt").read_text(encoding="utf-8")
    again = add_files([("chess copy.txt", ("  " + chess.replace("\n", "\n\n")).encode()),
                       ("new.txt", b"New article\nThe harbour froze over."),
                       ("new (1).txt", b"New article\nThe harbour froze over.")], corpus)
    assert again.duplicates == [("chess copy.txt", "chess.txt"), ("new (1).txt",
                                                                   "uploads/new.txt")]
    assert again.saved == ["uploads/new.txt"]


def test_fingerprints_are_cached_and_a_damaged_cache_is_rebuilt(corpus, monkeypatch):
    import challenge_qa.corpus.fingerprints as fp

    add_files([("a.txt", b"Tide tables\nHigh tide is at noon.")], corpus)
    cache = corpus / ".challenge_qa" / "known.json"
    assert cache.is_file()
    reads: list[str] = []
    real = fp.read_file
    monkeypatch.setattr(fp, "read_file", lambda f, rel, *a, **kw: (reads.append(rel),
                                                                    real(f, rel, *a, **kw))[1])
    volcano = (corpus / "volcano.md").read_bytes()
    assert add_files([("v.md", volcano + b"\n\n")], corpus).duplicates == [("v.md", "volcano.md")]
    assert reads == []  # every corpus file was known by its size and mtime
    cache.write_text('{"volcano.md": {"stamp": "garbage"}, "x": 1', encoding="utf-8")
    assert add_files([("v.md", volcano + b"\n\n")], corpus).duplicates == [("v.md", "volcano.md")]
    assert "volcano.md" in reads


def _sparse(tmp: Path, mb: int) -> Path:
    f = tmp / "huge.txt"
    with open(f, "wb") as fh:  # sparse: nothing is written, nothing needs reading
        fh.truncate(mb * 2**20)
    return f


def _encrypted_pdf() -> bytes:
    import io

    import pypdf

    w = pypdf.PdfWriter(clone_from=io.BytesIO(make_pdf(PDF_PAGES)))
    w.encrypt("secret", algorithm="AES-128")
    out = io.BytesIO()
    w.write(out)
    return out.getvalue()


BAD_UPLOADS = [
    pytest.param(lambda t: ("big.txt", b"a " * 2**20), {"max_upload_mb": 1},
                 ["larger than the 1 MB upload limit (2 MB)", "CHALLENGE_QA_MAX_UPLOAD_MB"],
                 id="too-large-for-a-small-limit"),
    pytest.param(lambda t: _sparse(t, 60), {},
                 ["larger than the 20 MB upload limit (60 MB)", "CHALLENGE_QA_MAX_UPLOAD_MB"],
                 id="60MB-file"),
    pytest.param(lambda t: ("notes.md", bytes(range(256)) * 4), {},
                 ["looks like a binary file, not Markdown"], id="binary-renamed-md"),
    pytest.param(lambda t: ("photo.md", b"\x89PNG\r\n\x1a\n" + bytes(64)), {},
                 ["named .md but is a PNG image, not Markdown"], id="png-renamed-md"),
    pytest.param(lambda t: ("paper.txt", make_pdf(PDF_PAGES)), {},
                 ["named .txt but is a PDF document, not plain text"], id="pdf-renamed-txt"),
    pytest.param(lambda t: ("latin.txt", "Caf\u00e9 cr\u00e8me".encode("latin-1")), {},
                 ["not UTF-8 text (bad byte at offset 3)", "Save it as UTF-8"],
                 id="not-utf8"),
    pytest.param(lambda t: ("fake.pdf", b"Just some words, no PDF."), {},
                 ["named .pdf but is not a PDF document"], id="not-a-pdf"),
    pytest.param(lambda t: ("scan.pdf", make_pdf(image_only=2)), {},
                 ["the PDF has no text layer (a scanned document?)", "OCR"], id="scanned-pdf"),
    pytest.param(lambda t: ("locked.pdf", _encrypted_pdf()), {},
                 ["the PDF is encrypted (password-protected)"], id="encrypted-pdf"),
    pytest.param(lambda t: ("report.docx", b"PK\x03\x04" + bytes(32)), {},
                 [".docx is not a supported type", ".pdf"], id="unsupported-type"),
    pytest.param(lambda t: ("README", b"Some words."), {},
                 ["without a suffix is not a supported type"], id="no-suffix"),
    pytest.param(lambda t: ("empty.md", b" \n\t\n"), {}, ["The file is empty"], id="empty"),
    pytest.param(lambda t: ("page.html", b"Just words, no markup at all."), {},
                 ["named .html but does not look like HTML"], id="html-without-markup"),
    pytest.param(lambda t: ("bad.md", b"---\ntitle: [unclosed\n---\nText."), {},
                 ["Not added: its YAML front matter is invalid"], id="broken-front-matter"),
    pytest.param(lambda t: ("r.jsonl", b'{"title": "no id"}\n[1, 2]\n'), {},
                 ["Not added: the record has no id"], id="jsonl-without-articles"),
    pytest.param(lambda t: t / "no-such-file.md", {}, ["No such file"], id="missing-path"),
    pytest.param(lambda t: t, {}, ["is a folder"], id="folder"),
]


@pytest.mark.parametrize("make, settings, fragments", BAD_UPLOADS)
def test_bad_uploads_are_refused_and_change_nothing(tmp_path, corpus, make, settings,
                                                    fragments):
    item = make(tmp_path)
    before = snapshot(corpus)
    report = add_files([item], corpus, settings=Settings(**settings))
    assert report.saved == [] and report.duplicates == []
    ((name, message),) = report.refused
    assert name == (item[0] if isinstance(item, tuple) else str(item))
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    assert snapshot(corpus) == before


def test_a_refusal_does_not_stop_the_other_files(corpus):
    report = add_files([("a.md", bytes(range(256))), ("b.md", b"Fine article about boats."),
                        ("c.exe", b"MZ")], corpus)
    assert report.saved == ["uploads/b.md"]
    assert [n for n, _ in report.refused] == ["a.md", "c.exe"]


def test_single_file_corpus_is_refused_by_name(tmp_path):
    from challenge_qa.errors import AddArticleError

    f = write_files(tmp_path, {"one.md": "One article."}) / "one.md"
    with pytest.raises(AddArticleError, match="single file") as e:
        add_files([("x.md", b"text")], f)
    assert "corpus folder" in e.value.explain()


def test_max_upload_mb_setting_from_the_environment():
    assert Settings().max_upload_mb == 20
    assert Settings.from_env({"CHALLENGE_QA_MAX_UPLOAD_MB": "5"}).max_upload_mb == 5
    from challenge_qa.errors import InvalidArgumentError

    with pytest.raises(InvalidArgumentError, match="CHALLENGE_QA_MAX_UPLOAD_MB"):
        Settings.from_env({"CHALLENGE_QA_MAX_UPLOAD_MB": "lots"})
    with pytest.raises(InvalidArgumentError, match="max_upload_mb must be at least 1"):
        Settings(max_upload_mb=0)


# --------------------------------------------------------------------------- web pages

def test_a_web_page_is_saved_as_markdown_with_its_metadata(site, corpus):
    url = f"{site}/news/bridge"
    report = add_url(url, corpus)
    assert report == AddReport(saved=["web/127-0-0-1-news-bridge.md"])
    saved = (corpus / "web" / "127-0-0-1-news-bridge.md").read_text(encoding="utf-8")
    assert saved.startswith("---\ntitle: Harbor bridge reopens after repairs\n")
    (art,) = [a for a in load_corpus(corpus).articles if a.id.startswith("web/")]
    assert (art.title, art.source, art.date, art.url) == (
        "Harbor bridge reopens after repairs", "Harbor Gazette", "2024-05-02", url)
    assert "Mayor Lotte Brandt said" in art.text
    assert "Copyright" not in art.text and "Sport" not in art.text  # no navigation, footer
    assert "\n\n" in art.text  # paragraphs stay paragraphs


def test_the_same_page_again_is_a_duplicate_and_not_fetched(site, corpus):
    first = add_url(f"{site}/news/bridge", corpus)
    (saved,) = first.saved
    before = snapshot(corpus)
    fetched = _Site.hits.get("/news/bridge", 0)
    assert add_url(f"{site}/news/bridge/", corpus).duplicates == [(f"{site}/news/bridge/",
                                                                    saved)]
    assert _Site.hits.get("/news/bridge", 0) == fetched  # known address: not fetched again
    # another address with the same article text, and a redirect to the known page
    assert add_url(f"{site}/mirror/bridge-copy", corpus).duplicates == [
        (f"{site}/mirror/bridge-copy", saved)]
    assert add_url(f"{site}/old-bridge", corpus).duplicates == [(f"{site}/old-bridge", saved)]
    assert snapshot(corpus) == before


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


BAD_URLS = [
    pytest.param("/missing", {}, ["The server answered 404 Not Found"], id="404"),
    pytest.param("/broken", {}, ["The server answered 500"], id="500"),
    pytest.param("/home", {}, ["is not an article: no article text was found",
                               "not a home or section page"], id="not-an-article"),
    pytest.param("/file.bin", {}, ["is not a web page (its type is application/octet-stream)"],
                 id="binary"),
    pytest.param("/big", {"max_upload_mb": 1}, ["larger than the 1 MB upload limit"],
                 id="too-large"),
    pytest.param("/slow", {}, ["did not answer within 0.5 s"], id="timeout"),
    pytest.param(lambda: f"http://127.0.0.1:{_closed_port()}/news", {},
                 ["Could not reach", "connection refused"], id="connection-refused"),
    pytest.param(lambda: "ftp://127.0.0.1/news.html", {},
                 ["Only http:// and https:// addresses can be added, not ftp:"], id="ftp"),
    pytest.param(lambda: "file:///etc/passwd", {},
                 ["Only http:// and https:// addresses can be added, not file:"], id="file"),
    pytest.param(lambda: "127.0.0.1/news", {}, ["Only http:// and https://"], id="no-scheme"),
]


@pytest.mark.parametrize("path, settings, fragments", BAD_URLS)
def test_bad_urls_are_refused_and_change_nothing(site, corpus, path, settings, fragments):
    url = path() if callable(path) else site + path
    before = snapshot(corpus)
    t0 = time.perf_counter()
    report = add_url(url, corpus, settings=Settings.from_env(**settings), timeout=0.5)
    assert time.perf_counter() - t0 < 2.5  # the timeout holds
    assert report.saved == [] and report.duplicates == []
    ((name, message),) = report.refused
    assert name == url
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    assert snapshot(corpus) == before


# --------------------------------------------------------------------------- end to end

@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """(corpus, index) of the small corpus, indexed with the defaults: copy before changing."""
    from challenge_qa import build_index

    base = tmp_path_factory.mktemp("ingest-e2e")
    corpus = write_files(base / "corpus", SMALL_FILES)
    build_index(corpus, base / "index", settings=Settings(show_progress=False))
    return corpus, base / "index"


@pytest.fixture
def built_copy(built, tmp_path):
    import shutil

    corpus, index = built
    return (Path(shutil.copytree(corpus, tmp_path / "corpus")),
            Path(shutil.copytree(index, tmp_path / "index")))


@pytest.mark.slow
def test_cli_add_then_answer_from_the_page_and_the_pdf(site, built_copy, tmp_path):
    from challenge_qa import answer, load_index

    corpus, index = built_copy
    pdf = write_files(tmp_path / "in", {"ferry.pdf": make_pdf(PDF_PAGES, info={
        "Title": "Veldhaven ferry timetable", "Author": "Veldhaven Ferries"})}) / "ferry.pdf"
    url = f"{site}/news/bridge"
    result = invoke("add", url, pdf, "--corpus", corpus, "--index", index)
    assert result.exit_code == 0, result.output
    assert f"Saved {corpus / 'web' / '127-0-0-1-news-bridge.md'}" in result.stdout
    assert f"Saved {corpus / 'uploads' / 'ferry.pdf'}" in result.stdout
    assert "2 added, 0 changed, 0 removed, 5 unchanged" in result.stdout

    idx = load_index(index, settings=Settings(show_progress=False))
    articles = {a.id: a for a in load_corpus(corpus).articles}
    a = answer("How much did the council pay for the bridge repairs?", index=idx)
    assert a.found and "14 million euros" in a.citations[0].sentence, a.text
    first = a.citations[0]
    assert (first.doc_id, first.url, first.source, first.page) == (
        "web/127-0-0-1-news-bridge.md", url, "Harbor Gazette", None)
    b = answer("When does the last ferry leave?", index=idx)
    assert b.found and b.citations[0].doc_id == "uploads/ferry.pdf", b.text
    # the whole PDF is one passage; the citation names the page of its sentence
    pages = articles["uploads/ferry.pdf"].pages
    assert b.citations[0].page == sum(p <= b.citations[0].sentence_start for p in pages)
    for h in a.citations + b.citations:
        art = articles[h.doc_id]
        assert art.text[h.start:h.end] == h.text
        assert art.text[h.sentence_start:h.sentence_end] == h.sentence

    md = invoke("ask", "How much did the council pay for the bridge repairs?", "--markdown",
                "--corpus", corpus, "--index", index)
    assert md.exit_code == 0, md.output
    assert "[^1]" in md.stdout
    assert '[^1]: *Harbor bridge reopens after repairs*, Harbor Gazette, 2024-05-02: "' \
           in md.stdout and f"<{url}>" in md.stdout

    again = invoke("add", url, "--corpus", corpus, "--index", index)
    assert again.exit_code == 0
    assert "is already in the corpus as" in again.stdout and "Indexed" not in again.stdout


BAD_CLI = [
    pytest.param(lambda t, site: _sparse(t, 60), "larger than the 20 MB upload limit",
                 id="60MB-file"),
    pytest.param(lambda t, site: write_files(t, {"n.md": bytes(range(256)) * 4}) / "n.md",
                 "looks like a binary file", id="binary-renamed-md"),
    pytest.param(lambda t, site: write_files(t, {"scan.pdf": make_pdf(image_only=1)})
                 / "scan.pdf", "the PDF has no text layer (a scanned document?)",
                 id="scanned-pdf"),
    pytest.param(lambda t, site: f"{site}/missing", "The server answered 404 Not Found",
                 id="404-url"),
    pytest.param(lambda t, site: f"{site}/home", "is not an article", id="not-an-article-url"),
]


@pytest.mark.slow
@pytest.mark.parametrize("make, fragment", BAD_CLI)
def test_cli_refusals_leave_corpus_and_index_unchanged(site, built_copy, tmp_path, make,
                                                       fragment):
    corpus, index = built_copy
    item = make(_mkdir(tmp_path / "in"), site)
    before = (snapshot(corpus), snapshot(index))
    result = invoke("add", item, "--corpus", corpus, "--index", index)
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Refused {item}: "), lines
    assert fragment in lines[0]
    assert "Traceback" not in result.output and "Indexed" not in result.output
    assert (snapshot(corpus), snapshot(index)) == before


def _mkdir(p: Path) -> Path:
    p.mkdir(parents=True, exist_ok=True)
    return p


@pytest.mark.slow
def test_cli_add_no_index_saves_but_does_not_build(built_copy, tmp_path):
    corpus, index = built_copy
    before = snapshot(index)
    f = write_files(tmp_path / "in", {"t.txt": "Tide tables\nHigh tide is at noon."}) / "t.txt"
    result = invoke("add", f, "--no-index", "--corpus", corpus, "--index", index)
    assert result.exit_code == 0, result.output
    assert (corpus / "uploads" / "t.txt").is_file()
    assert snapshot(index) == before
