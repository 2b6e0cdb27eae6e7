"""The web chat in headless Chromium (Playwright): asking, citing, opening an article, and
rendering an untrusted article without running anything from it."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
from helpers import running_chat  # noqa: E402

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
    expect(page.locator("#qa-chat sup.qa-cite").first).to_have_text("[1]")
    expect(page.locator("#qa-sources .qa-card").first).to_contain_text("Oleg Novitskiy")
    expect(page.locator("#qa-sources .qa-card mark").first).to_be_visible()

    page.locator("#qa-open label").first.click()
    mark = page.locator("#qa-article mark")
    expect(mark).to_have_count(1)
    expect(mark).to_have_text(PATIENT)
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

    page.locator("#qa-open label").first.click()
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
    "off_topic_switch": [("Who directed The Challenge?", "Klim Shipenko", None),
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
