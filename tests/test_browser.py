"""The web chat in headless Chromium (Playwright): asking, citing, opening an article from
any answer, filters, the timeline, adding articles, subscribing to a feed and reading the
latest articles, and rendering an untrusted article without running anything from it."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import re  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
from helpers import BEES_HTML, running_chat  # noqa: E402

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs_corpus"
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
TIMEOUT_MS = 90_000  # two shared cores: the first answer of a process can take a while
PATIENT = "The patient is portrayed by real-life cosmonaut Oleg Novitskiy."

SCRIPT = "<script>window.__xss=1</script>"
IMG = '<img src=x onerror="window.__xss=2">'
MD_LINK = "[click me](javascript:window.__xss=3)"
RAW_LINK = '<a href="javascript:window.__xss=4">x</a>'
HOSTILE_MD = (
    "---\n"
    f"title: 'Zephyr rover news {SCRIPT} {IMG}'\n"
    "source: Untrusted Wire\n"
    "---\n\n"
    f"The rover Zephyr reached the crater Jezero in 2031 {SCRIPT} after a drive of four "
    f"years {IMG} across the plain. The team shared {MD_LINK} and {RAW_LINK} photos of the "
    "crater rim. Engineers said the wheels were worn but still turning.\n"
)
CONTAINERS = ("#qa-chat", "#qa-sources", "#qa-article")



@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium is not installed at {CHROMIUM}; the browser tests need it "
                    "(Playwright must not download its own browser)")
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    try:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()
    finally:
        pw.stop()


@pytest.fixture(scope="module")
def docs_chat(browser, tmp_path_factory):
    with running_chat(DOCS, tmp_path_factory.mktemp("browser-docs") / "index") as (_, _, url):
        yield url


@pytest.fixture(scope="module")
def hostile_chat(browser, tmp_path_factory):
    base = tmp_path_factory.mktemp("browser-hostile")
    corpus = base / "corpus"
    corpus.mkdir()
    (corpus / "zephyr.md").write_text(HOSTILE_MD, encoding="utf-8")
    with running_chat(corpus, base / "index") as (_, _, url):
        yield url


@pytest.fixture
def page(browser):
    """A fresh page; any dialog (alert, confirm, prompt) it opens fails the test."""
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    pg = context.new_page()
    pg.set_default_timeout(TIMEOUT_MS)
    dialogs: list[str] = []

    def on_dialog(dialog):
        dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    pg.on("dialog", on_dialog)
    yield pg
    context.close()
    assert dialogs == [], f"the page opened dialogs: {dialogs}"


def ask(page, url: str, question: str) -> None:
    page.goto(url)
    box = page.locator("#qa-question textarea")
    box.wait_for()
    box.fill(question)
    box.press("Enter")
    page.locator("#qa-sources .qa-card").first.wait_for()


def test_ask_cite_and_open_the_article(page, docs_chat):
    from playwright.sync_api import expect

    ask(page, docs_chat, "Who plays the patient?")
    answer = page.locator("#qa-chat p.qa-answer").last
    expect(answer).to_contain_text("Oleg Novitskiy")
    marker = page.locator("#qa-chat button.qa-cite").first
    expect(marker).to_have_text("[1]")
    expect(marker).to_have_attribute("aria-label", re.compile(r"^Open source 1: CNN, 8 March"))
    card = page.locator("#qa-sources .qa-card").first
    expect(card).to_contain_text("Oleg Novitskiy")
    expect(card.locator(".qa-pub")).to_have_text("CNN")
    expect(card.locator(".qa-meta time")).to_have_text("8 March 2023")
    expect(page.locator("#qa-sources .qa-card mark").first).to_be_visible()

    marker.click()
    mark = page.locator("#qa-article mark")
    expect(mark).to_have_count(1)
    expect(mark).to_have_text(PATIENT)
    expect(mark).to_be_in_viewport()
    expect(page.locator("#qa-article .qa-passage")).to_contain_text(PATIENT)
    expect(page.locator("#qa-article h3")).to_contain_text("The Challenge")

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "chat.png"), full_page=True)


def assert_inert(page) -> None:
    """Nothing from the article ran or became markup."""
    page.wait_for_timeout(500)  # give a failed <img> load the time to fire onerror
    assert page.evaluate("window.__xss") is None
    for sel in CONTAINERS:
        for tag in ("script", "img", "iframe", "[onerror]", "a[href]"):
            assert page.locator(f"{sel} {tag}").count() == 0, (sel, tag)
    assert page.locator('a[href^="javascript:" i]').count() == 0
    assert page.locator('img[src="x"]').count() == 0


def test_untrusted_article_renders_as_text(page, hostile_chat):
    from playwright.sync_api import expect

    ask(page, hostile_chat, "When did the rover Zephyr reach the crater Jezero?")
    expect(page.locator("#qa-chat p.qa-answer").last).to_contain_text("Zephyr")
    card = page.locator("#qa-sources .qa-card").first
    # the markup is shown to the reader as the text it is
    expect(card.locator(".qa-title")).to_contain_text(SCRIPT)
    expect(card.locator(".qa-snippet")).to_contain_text(SCRIPT)
    expect(card.locator(".qa-snippet")).to_contain_text(IMG)
    expect(card.locator(".qa-snippet")).to_contain_text(MD_LINK)
    expect(card.locator(".qa-snippet")).to_contain_text(RAW_LINK)
    assert_inert(page)

    card.click()  # a whole source card opens its article
    article = page.locator("#qa-article")
    expect(article.locator("mark")).to_contain_text("Zephyr")
    expect(article.locator("h3")).to_contain_text(SCRIPT)
    expect(article.locator(".qa-text")).to_contain_text(RAW_LINK)
    assert_inert(page)

    # the user's own message is escaped too
    page.locator("#qa-question textarea").fill("<img src=x onerror=window.__xss=5> Zephyr?")
    page.locator("#qa-question textarea").press("Enter")
    expect(page.locator("#qa-chat")).to_contain_text("onerror=window.__xss=5")
    assert_inert(page)

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "untrusted.png"), full_page=True)


#: (question, text the answer must show, or None for a refusal, what must be searched)
CHAT_CONVERSATIONS = {
    "pronoun": [("Who plays the patient?", "Oleg Novitskiy", None),
                ("Is he a real cosmonaut?", "real-life cosmonaut",
                 "Is Oleg Novitskiy a real cosmonaut?")],
    "pronoun_then_near_miss": [("Who plays Zhenya?", "Yulia Peresild", None),
                               ("How old is she?", None, "How old is Yulia Peresild?")],
    "off_topic_switch": [("Who was the cosmonaut who flew with Peresild and Shipenko?",
                          "Anton Shkaplerov", None),
                         ("How do I bake sourdough bread?", None, None)],
}


def _replies(page):
    return page.locator("#qa-chat p.qa-answer, #qa-chat p.qa-notfound")


@pytest.mark.parametrize("name", list(CHAT_CONVERSATIONS))
def test_conversation_in_the_chat(page, docs_chat, name):
    from playwright.sync_api import expect

    page.goto(docs_chat)
    box = page.locator("#qa-question textarea")
    box.wait_for()
    for n, (question, shown, searched) in enumerate(CHAT_CONVERSATIONS[name], 1):
        box.fill(question)
        box.press("Enter")
        expect(_replies(page)).to_have_count(n)
        reply = _replies(page).nth(n - 1)
        if shown is None:
            expect(reply).to_have_class("qa-notfound")
            expect(reply).to_contain_text("do not cover")
        else:
            expect(reply).to_have_class("qa-answer")
            expect(reply).to_contain_text(shown)
        if searched:
            expect(page.locator("#qa-chat .qa-searched").last).to_have_text(
                f"Searched: {searched}")
    if name == "pronoun_then_near_miss":
        # the short answer of the first turn, in bold, before its sentence
        expect(page.locator("#qa-chat .qa-short strong").first).to_have_text("Yulia Peresild")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"conversation-{name}.png"), full_page=True)


# ------------------------------------------------------------------ news features

def open_settings(page) -> None:
    page.locator("#qa-settings").get_by_text("Settings").first.click()
    page.locator("#qa-as-of textarea, #qa-as-of input").first.wait_for()


def set_field(page, elem_id: str, value: str) -> None:
    page.locator(f"#{elem_id} textarea, #{elem_id} input").first.fill(value)


def ask_again(page, question: str, replies: int) -> None:
    """Ask in the open page and wait for the ``replies``-th reply."""
    from playwright.sync_api import expect

    box = page.locator("#qa-question textarea")
    box.fill(question)
    box.press("Enter")
    expect(_replies(page)).to_have_count(replies)


def test_filters_limit_the_sources(page, docs_chat):
    from playwright.sync_api import expect

    page.goto(docs_chat)
    page.locator("#qa-question textarea").wait_for()
    open_settings(page)
    page.locator("#qa-filter-sources input").click()
    page.get_by_role("option", name="CNN").click()
    ask_again(page, "Who directed The Challenge?", 1)
    expect(page.locator("#qa-chat .qa-filters").last).to_contain_text("from cnn")
    pubs = page.locator("#qa-sources .qa-card .qa-pub")
    expect(pubs.first).to_be_visible()
    assert set(pubs.all_inner_texts()) == {"CNN"}, pubs.all_inner_texts()

    # as of the day before CNN's article: only what was published by then (nothing here)
    page.locator("#qa-filter-sources .token-remove, #qa-filter-sources .remove-all").first.click()
    set_field(page, "qa-as-of", "2023-03-07")
    ask_again(page, "When was the trailer released?", 2)
    reply = _replies(page).nth(1)
    expect(page.locator("#qa-chat .qa-filters").last).to_contain_text("published by 7 March 2023")
    if "qa-notfound" not in (reply.get_attribute("class") or ""):
        assert "CNN" not in page.locator("#qa-sources .qa-card .qa-pub").all_inner_texts()

    # a bad date is refused with a message naming the field and the forms it takes
    set_field(page, "qa-as-of", "")
    set_field(page, "qa-since", "2023-13")
    page.locator("#qa-question textarea").fill("Who plays the patient?")
    page.locator("#qa-question textarea").press("Enter")
    expect(page.locator(".toast-body").last).to_contain_text("since must be a date like")
    expect(page.locator("#qa-question textarea")).to_have_value("Who plays the patient?")
    expect(_replies(page)).to_have_count(2)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "filters.png"), full_page=True)


def test_statement_shows_its_corroboration_and_sources_sort_by_date(page, docs_chat):
    from playwright.sync_api import expect

    ask(page, docs_chat, "When was the trailer released?")
    answer = page.locator("#qa-chat p.qa-answer").last
    expect(answer).to_contain_text("on Tuesday [7 March 2023]")
    corr = answer.locator(".qa-corr").first
    expect(corr).to_contain_text("2 articles: CNN, New trailer")

    page.locator("#qa-sort").get_by_text("Newest first").click()
    expect(page.locator("#qa-sources .qa-card").first.locator(".qa-pub")).to_have_text("CNN")
    dates = page.locator("#qa-sources .qa-card").evaluate_all(
        "cards => cards.map(c => (c.querySelector('time') || {}).dateTime || '')")
    dated = [d for d in dates if d]
    assert dated == sorted(dated, reverse=True) and dates[:len(dated)] == dated, dates
    page.locator("#qa-sort").get_by_text("Relevance").click()
    expect(page.locator("#qa-sources .qa-card")).to_have_count(len(dates))


def test_timeline_lists_events_in_order_with_their_reports(page, docs_chat):
    from playwright.sync_api import expect

    page.goto(docs_chat)
    page.get_by_role("tab", name="Timeline").click()
    topic = page.locator("#qa-topic textarea, #qa-topic input").first
    topic.fill("The Challenge")
    topic.press("Enter")
    events = page.locator("#qa-timeline .qa-event")
    expect(events.first).to_be_visible()
    labels = page.locator("#qa-timeline .qa-when time").all_inner_texts()
    assert labels.index("November 2020") < labels.index("12 April 2023"), labels
    # the precision is the articles': a month stays a month, a day a day
    assert "October 2021" in labels and "5 October 2021" in labels, labels
    release = events.filter(has_text="12 April 2023")
    expect(release.locator(".qa-who")).to_have_text("CNN and 1 other")
    expect(release.locator("button.qa-cite")).to_have_count(2)

    release.locator("button.qa-cite").first.click()
    mark = page.locator("#qa-article mark")
    expect(mark).to_have_text("“The Challenge” will be released on April 12.")
    expect(mark).to_be_in_viewport()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "timeline.png"), full_page=True)

    # the filters apply: since 2023 leaves out the undated article
    open_settings(page)
    set_field(page, "qa-since", "2023")
    page.locator("#qa-timeline-go").click()
    expect(release.locator(".qa-who")).to_have_text("CNN")
    expect(page.locator("#qa-timeline .qa-when time", has_text="5 October 2021")).to_have_count(0)


def test_timeline_topic_follows_the_last_question(page, docs_chat):
    from playwright.sync_api import expect

    ask(page, docs_chat, "Who directed The Challenge?")
    page.get_by_role("tab", name="Timeline").click()
    expect(page.locator("#qa-topic textarea, #qa-topic input").first).to_have_value(
        "The Challenge")
    expect(page.locator("#qa-timeline .qa-event").first).to_be_visible()


def test_marker_of_an_earlier_answer_opens_its_article(page, docs_chat):
    from playwright.sync_api import expect

    page.goto(docs_chat)
    page.locator("#qa-question textarea").wait_for()
    ask_again(page, "Who plays the patient?", 1)
    ask_again(page, "Who was the cosmonaut who flew with Peresild and Shipenko?", 2)
    expect(page.locator("#qa-sources .qa-for")).to_have_text(
        "for: Who was the cosmonaut who flew with Peresild and Shipenko?")

    first = page.locator("#qa-chat p.qa-answer").first.locator("button.qa-cite").first
    first.click()
    mark = page.locator("#qa-article mark")
    expect(mark).to_have_text(PATIENT)
    expect(mark).to_be_in_viewport()
    # the sources beside it are now the ones of that answer
    expect(page.locator("#qa-sources .qa-for")).to_have_text("for: Who plays the patient?")

    # the keyboard reaches a marker and opens it
    second = page.locator("#qa-chat p.qa-answer").nth(1).locator("button.qa-cite").first
    second.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#qa-article .qa-cited")).to_contain_text(
        "for: Who was the cosmonaut who flew with Peresild and Shipenko?")
    expect(page.locator("#qa-article mark")).to_contain_text("Anton Shkaplerov")


def test_copy_as_markdown(browser, docs_chat):
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    context.grant_permissions(["clipboard-read", "clipboard-write"],
                              origin=docs_chat.rstrip("/"))
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    try:
        ask(page, docs_chat, "Who plays the patient?")
        page.locator("#qa-chat button.qa-copy").last.click()
        md = page.locator("#qa-markdown textarea")
        expect(md).to_have_value(re.compile(r"^\*\*Oleg Novitskiy\*\*"))
        text = md.input_value()
        assert "[^1]" in text and "[^1]: " in text and "CNN" in text, text
        page.wait_for_function("navigator.clipboard.readText().then(t => t.length > 0)")
        assert page.evaluate("navigator.clipboard.readText()") == text
    finally:
        context.close()


def test_narrow_and_dark_screens(browser, docs_chat):
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 420, "height": 900},
                                  color_scheme="dark")
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    try:
        ask(page, docs_chat, "Who plays the patient?")
        page.locator("#qa-chat button.qa-cite").first.click()
        mark = page.locator("#qa-article mark")
        expect(mark).to_have_text(PATIENT)
        expect(mark).to_be_in_viewport()
        # nothing is wider than the window
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 420, width
        # dark mode: the cards follow the theme, no white boxes
        bg = page.locator("#qa-sources .qa-card").first.evaluate(
            "c => getComputedStyle(c).backgroundColor")
        assert bg not in ("rgb(255, 255, 255)", "rgba(0, 0, 0, 0)"), bg
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "narrow-420-dark.png"), full_page=True)
    finally:
        context.close()
    context = browser.new_context(viewport={"width": 420, "height": 900})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    try:
        ask(page, docs_chat, "Who plays the patient?")
        page.screenshot(path=str(ARTIFACTS / "narrow-420.png"), full_page=True)
    finally:
        context.close()


# ------------------------------------------------------------------ adding articles

PDF_PAGES = [["Old lighthouse restored on Skerry Island",
              "Volunteers restored the old lighthouse on Skerry Island last spring.",
              "The brass lens was polished by hand in a workshop in Oban."],
             ["The lamp was lit again after forty years of darkness.",
              "Ships can see its beam from twenty miles away."]]
PDF_INFO = {"Title": "Skerry Island lighthouse shines again", "Author": "Coast News",
            "CreationDate": "D:20220914093000+01'00'"}
ETNA_HTML = """<!doctype html>
<html><head><title>Mount Etna erupts again</title>
<meta property="og:site_name" content="Volcano Weekly">
<meta property="article:published_time" content="2024-02-11T07:00:00Z"></head>
<body><nav>Home | World | Science</nav><article><h1>Mount Etna erupts again</h1>
<p>Mount Etna, the tallest active volcano in Europe, erupted on Sunday night. Lava fountains
rose hundreds of metres above the south-east crater of the mountain.</p>
<p>Ash fell on the city of Catania and the airport closed for six hours. Volcanologists at
the national institute said the eruption had been expected for weeks.</p>
<p>No one was hurt, and the flights resumed on Monday morning once the runway was swept.</p>
</article><footer>Volcano Weekly</footer></body></html>
"""
#: (question, words the answer shows, the cited sentence, words of the article's title)
ADDED = [
    ("Who restored the lighthouse on Skerry Island?", "Volunteers",
     "Volunteers restored the old lighthouse on Skerry Island last spring.", "lighthouse"),
    ("What do honey bees use to tell their hive mates where flowers are?", "waggle dance",
     "Honey bees tell their hive mates where flowers are with a waggle dance.", "honey bees"),
    ("How long was the airport of Catania closed?", "six hours",
     "Ash fell on the city of Catania and the airport closed for six hours.", "Etna"),
]


@pytest.fixture(scope="module")
def web_page(tmp_path_factory):
    """The Etna article served by http.server on 127.0.0.1: its address."""
    import functools
    import http.server
    import threading

    folder = tmp_path_factory.mktemp("site")
    (folder / "etna.html").write_text(ETNA_HTML, encoding="utf-8")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/etna.html"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def writable_chat(browser, tmp_path):
    """The chat over a copy of docs_corpus that articles can be added to (from 127.0.0.1
    too: the test's web page is there)."""
    import shutil

    corpus = tmp_path / "corpus"
    shutil.copytree(DOCS, corpus)
    with running_chat(corpus, tmp_path / "index", allow_private_urls=True) as (_, _, url):
        yield url, corpus


def test_add_files_and_a_web_page_then_cite_them(page, writable_chat, web_page, tmp_path):
    from minipdf import make_pdf
    from playwright.sync_api import expect

    url, corpus = writable_chat
    pdf = tmp_path / "upload" / "lighthouse.pdf"
    pdf.parent.mkdir()
    pdf.write_bytes(make_pdf(PDF_PAGES, info=PDF_INFO))
    html = pdf.parent / "bees.html"
    html.write_text(BEES_HTML, encoding="utf-8")

    page.goto(url)
    page.get_by_role("tab", name="Add articles").click()
    page.locator("#qa-upload input[type=file]").set_input_files([str(pdf), str(html)])
    added = page.locator("#qa-added")
    expect(added).to_contain_text("Saved: uploads/lighthouse.pdf")
    expect(added).to_contain_text("Saved: uploads/bees.html")
    address = page.locator("#qa-url textarea, #qa-url input").first
    address.fill(web_page)
    address.press("Enter")
    expect(added).to_contain_text("Saved: web/")
    assert (corpus / "uploads" / "lighthouse.pdf").is_file()
    # the same file again is a duplicate, not a second article
    page.locator("#qa-upload input[type=file]").set_input_files([str(html)])
    expect(added).to_contain_text("Already in the corpus: bees.html")
    # while the index is rebuilt, the chat answers from the current one
    page.get_by_role("tab", name="Chat").click()
    ask_again(page, "Who plays the patient?", 1)
    expect(page.locator("#qa-chat p.qa-answer").first).to_contain_text("Oleg Novitskiy")

    status = page.locator("#qa-status")
    expect(status).to_contain_text("5 articles", timeout=TIMEOUT_MS)
    expect(status).to_contain_text("Ready")
    page.screenshot(path=str(ARTIFACTS / "add-articles.png"), full_page=True)
    # the new publishers are offered as filters
    page.locator("#qa-settings").get_by_text("Settings").first.click()
    page.locator("#qa-filter-sources input").click()
    expect(page.get_by_role("option", name="Nature Notes")).to_be_visible()
    page.keyboard.press("Escape")

    page.get_by_role("tab", name="Chat").click()
    for n, (question, shown, sentence, title) in enumerate(ADDED, 2):
        ask_again(page, question, n)
        reply = page.locator("#qa-chat p.qa-answer").nth(n - 1)
        expect(reply).to_contain_text(shown)
        reply.locator("button.qa-cite").first.click()
        mark = page.locator("#qa-article mark")
        expect(mark).to_have_text(re.compile(r"\s*".join(map(re.escape, sentence.split()))))
        expect(mark).to_be_in_viewport()
        expect(page.locator("#qa-article h3")).to_contain_text(re.compile(title, re.I))
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "added-articles-cited.png"), full_page=True)


def test_examples_ask_and_the_chat_follows_each_new_answer(page, docs_chat):
    from playwright.sync_api import expect

    page.goto(docs_chat)
    page.locator("#qa-question textarea").wait_for()
    page.get_by_text("Who plays the patient?", exact=True).first.click()  # an example
    expect(_replies(page)).to_have_count(1)
    expect(page.locator("#qa-chat p.qa-answer").last).to_contain_text("Oleg Novitskiy")
    page.locator("#qa-chat button.qa-copy").last.click()
    expect(page.locator("#qa-markdown textarea")).to_have_value(re.compile("Novitskiy"))
    questions = ["Who directed The Challenge?", "How long did the shoot on the ISS last?",
                 "When will the film be released?", "Who is Yulia Peresild?"]
    for n, question in enumerate(questions, 2):
        # the reader scrolls up to an older answer, then asks again
        page.evaluate("""() => { for (const el of document.querySelectorAll('#qa-chat *'))
            if (el.scrollHeight > el.clientHeight + 4) el.scrollTop = 0; }""")
        ask_again(page, question, n)
        # the Markdown box held an earlier answer: hidden until this one is copied
        expect(page.locator("#qa-markdown")).to_be_hidden()
        asked = page.locator("#qa-chat").get_by_text(question, exact=True).last
        expect(asked).to_be_in_viewport()


# ------------------------------------------------------------------ subscriptions, latest

HARBOR_TITLE = "Harbor bridge reopens after repairs"


@pytest.fixture
def news_chat(browser, tmp_path):
    """The chat over a copy of docs_corpus, and a news site with a feed on 127.0.0.1 (which
    the chat may read: ``allow_private_urls``): ``(url, site, engine, corpus)``."""
    import shutil

    from helpers import BRIDGE, news_site, rss

    corpus = tmp_path / "corpus"
    shutil.copytree(DOCS, corpus)
    with news_site() as site:
        site.page("/news/harbor-bridge", HARBOR_TITLE, BRIDGE, site="Harbor Gazette",
                  date="2024-05-02T09:00:00Z")
        site.feed("/feeds/harbor.xml", rss("Harbor Gazette", [
            {"title": HARBOR_TITLE, "guid": "harbor-bridge-1",
             "link": site.url("/news/harbor-bridge"), "date": "Thu, 02 May 2024 09:00:00 GMT"},
        ]))
        with running_chat(corpus, tmp_path / "index", allow_private_urls=True) as (
                _, engine, url):
            yield url, site, engine, corpus


def test_subscribe_to_a_feed_check_it_see_the_latest_and_cite_it(page, news_chat):
    from playwright.sync_api import expect

    url, site, _, corpus = news_chat
    feed = site.url("/feeds/harbor.xml")
    page.goto(url)
    page.get_by_role("tab", name="Add articles").click()
    # the rule for folders is on the page: this chat (no opt-in) takes feeds only
    expect(page.locator("#qa-sub-hint")).to_contain_text(
        "Watching a folder on the server is off")
    address = page.locator("#qa-sub-url textarea, #qa-sub-url input").first
    typed = '/etc/<img src=x onerror="window.__xss=7">'
    address.fill(typed)
    page.locator("#qa-sub-add").click()
    toast = page.locator(".toast-body").last
    expect(toast).to_contain_text(f"{typed} is not a feed's address")  # as text
    expect(address).to_have_value(typed)  # kept, to be corrected
    assert toast.locator("img").count() == 0 and page.evaluate("window.__xss") is None
    assert not (corpus / "sources.toml").exists()

    address.fill(feed)
    page.locator("#qa-sub-add").click()
    expect(page.locator("#qa-sub-note")).to_contain_text("Subscribed to the feed")
    subs = page.locator("#qa-subs")
    expect(subs.locator(".qa-sub-url")).to_have_text(feed)
    expect(subs.locator(".qa-sub-checked")).to_have_text("Not checked yet")

    page.locator("#qa-sub-check").click()
    expect(subs.locator(".qa-sub-checked")).to_contain_text(
        "1 added by the last check, 1 in all", timeout=TIMEOUT_MS)
    expect(subs.locator(".qa-sub-checked time")).to_be_visible()
    expect(subs.locator(".qa-last-check")).to_contain_text("1 added, 0 replaced")
    assert site.hits("/feeds/harbor.xml") == 1
    # indexed by a background build, shown in the status line
    expect(page.locator("#qa-status")).to_contain_text("3 articles", timeout=TIMEOUT_MS)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "subscriptions.png"), full_page=True)

    # "Latest": the new article first, with its publisher, date and address
    page.get_by_role("tab", name="Latest").click()
    first = page.locator("#qa-latest .qa-latest-item").first
    expect(first.locator(".qa-title")).to_have_text(HARBOR_TITLE)
    expect(first.locator(".qa-pub")).to_have_text("Harbor Gazette")
    expect(first.locator("time")).to_have_text("2 May 2024")
    expect(first.locator("a")).to_have_attribute("href", site.url("/news/harbor-bridge"))
    dates = page.locator("#qa-latest time").evaluate_all("ts => ts.map(t => t.dateTime)")
    assert dates == sorted(dates, reverse=True), dates
    first.locator("button.qa-cite").click()
    expect(page.locator("#qa-article h3")).to_have_text(HARBOR_TITLE)
    expect(page.locator("#qa-article .qa-text")).to_contain_text("fourteen million euros")
    page.screenshot(path=str(ARTIFACTS / "latest.png"), full_page=True)

    # a question about it is answered from it
    page.get_by_role("tab", name="Chat").click()
    ask_again(page, "How much did the council pay for the bridge repairs?", 1)
    answer = page.locator("#qa-chat p.qa-answer").last
    expect(answer).to_contain_text("fourteen million euros")
    expect(page.locator("#qa-sources .qa-card").first.locator(".qa-pub")).to_have_text(
        "Harbor Gazette")
    answer.locator("button.qa-cite").first.click()
    expect(page.locator("#qa-article h3")).to_have_text(HARBOR_TITLE)
    expect(page.locator("#qa-article mark")).to_contain_text("fourteen million euros")

    # unsubscribe: the list empties, the article stays
    page.get_by_role("tab", name="Add articles").click()
    page.locator("#qa-sub-pick input").click()
    page.get_by_role("option", name="127-0-0-1-feeds-harbor").click()
    page.locator("#qa-sub-remove").click()
    expect(page.locator("#qa-sub-note")).to_contain_text("the articles it brought stay")
    expect(subs).to_contain_text("No subscriptions yet")
    assert not (corpus / "sources.toml").read_text().count("[[source]]")
    assert list((corpus / "feeds").rglob("*.md"))
