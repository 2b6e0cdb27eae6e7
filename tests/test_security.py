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

from challenge_qa import fetch as fetch_mod
from challenge_qa.config import Settings
from challenge_qa.errors import BlockedAddressError, InvalidArgumentError
from challenge_qa.ingest import add_url

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
    from challenge_qa.service import IndexService
    from challenge_qa.ui import build_ui

    demo = build_ui(service=IndexService(Settings(corpus_dir=corpus, index_dir=tmp_path / "ix",
                                                  show_progress=False)))
    (add_from_url,) = [f.fn for f in demo.fns.values() if f.fn and f.fn.__name__ ==
                       "add_from_url"][:1]
    url = f"http://0x7f000001:{port}/secret"
    before = len(_Internal.hits)
    shown, kept, *_ = add_from_url(url)
    assert "is a loopback address: it is not fetched" in shown, shown
    assert kept == url  # the address stays in the box to correct
    assert len(_Internal.hits) == before and files(corpus) == []
