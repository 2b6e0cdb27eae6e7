"""PDF articles: real PDFs (written by ``minipdf``) read by the real pypdf, indexed and cited
with the page of the cited sentence."""

from __future__ import annotations

import io
import warnings

import pytest
from helpers import SMALL_FILES, write_files
from hypothesis import given, settings
from hypothesis import strategies as st
from minipdf import make_pdf

from challenge_qa.config import Settings
from challenge_qa.corpus import SkippedFileWarning, load_articles, load_corpus, read_file
from challenge_qa.pdf import join_pages, read_pdf

PAGE1 = ["Lake Moran water report",
         "The water board measures the lake every week from a pontoon near the dam.",
         "Readings are published on the first Monday of each month."]
PAGE2 = ["The level of Lake Moran fell by eleven metres during the July heatwave.",
         "Engineers closed the two northern sluice gates to save water."]
PAGE3 = ["Farmers near the lake were asked to water their fields only at night.",
         "The ban on garden hoses in Moranville stays in force until October."]
INFO = {"Title": "Lake Moran water report, July", "Author": "Moran Water Board",
        "CreationDate": "D:20240805093000+02'00'"}


def report_pdf(**kw) -> bytes:
    return make_pdf([PAGE1, PAGE2, PAGE3], info=kw.pop("info", INFO), **kw)


def only_article(folder):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SkippedFileWarning)
        (art,) = load_articles(folder)
    return art


def test_pdf_article_has_page_offsets_and_metadata(tmp_path):
    write_files(tmp_path, {"reports/moran.pdf": report_pdf()})
    art = only_article(tmp_path)
    assert art.id == "reports/moran.pdf" and art.path == "reports/moran.pdf"
    assert art.title == "Lake Moran water report, July"
    assert art.source == "Moran Water Board"
    assert art.date == "2024-08-05"
    assert len(art.pages) == 3 and art.pages[0] == 0
    # each page's text is where its offset says, and pages are joined by blank lines
    for start, lines in zip(art.pages, (PAGE1, PAGE2, PAGE3), strict=True):
        assert art.text[start:].startswith(lines[0])
    assert art.text[art.pages[1] - 2:art.pages[1]] == "\n\n"
    assert art.text.endswith(PAGE3[-1])
    assert art.sha256 and len(art.sha256) == 64


def test_title_falls_back_to_the_first_line_and_junk_metadata_is_ignored(tmp_path):
    write_files(tmp_path, {
        "a.pdf": report_pdf(info={}),
        "b.pdf": report_pdf(info={"Title": "Microsoft Word - draft3.docx", "Producer": "X"})})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        arts = {a.id: a for a in load_articles(tmp_path)}
    for a in arts.values():
        assert a.title == "Lake Moran water report"
        assert a.source is None and a.date is None  # only Author and CreationDate are used


def _encrypted(user: str) -> bytes:
    import pypdf

    w = pypdf.PdfWriter(clone_from=io.BytesIO(report_pdf()))
    w.encrypt(user, owner_password="owner-secret", algorithm="AES-128")
    out = io.BytesIO()
    w.write(out)
    return out.getvalue()


@pytest.mark.parametrize("content, reason", [
    (make_pdf(image_only=2), "the PDF has no text layer (a scanned document?); run it through "
                             "OCR"),
    (make_pdf([[], []]), "the PDF has no text layer (a scanned document?)"),
    (lambda: _encrypted("user-secret"), "the PDF is encrypted (password-protected)"),
    (b"%PDF-1.4\n1 0 obj << /Type /Catalog", "it is not a readable PDF ("),
    (b"not a pdf at all", "it is not a readable PDF ("),
], ids=["image-only", "empty-pages", "encrypted", "truncated", "not-a-pdf"])
def test_unreadable_pdfs_are_skipped_with_a_clear_reason(tmp_path, content, reason):
    data = content() if callable(content) else content
    write_files(tmp_path, {"good.txt": "Good title\nA readable article.", "bad.pdf": data})
    corpus = load_corpus(tmp_path)
    assert [a.id for a in corpus.articles] == ["good.txt"]
    assert len(corpus.skipped) == 1
    assert corpus.skipped[0].startswith("bad.pdf: skipped, " + reason), corpus.skipped


def test_a_pdf_locked_only_against_editing_is_read():
    data = _encrypted("")  # an owner password only: anyone may open it
    assert read_pdf(data).text.startswith("Lake Moran water report")


def test_join_pages_offsets_hold_for_blank_and_crlf_pages():
    text, pages = join_pages(["  A.\r\nB. ", "", "\n", "C.", ""])
    assert text == "A.\nB.\n\nC."
    assert pages == (0, 7, 7, 7, 9)


#: Pages longer than a passage (1000 characters), so that passages start on every page.
_FILLER = [f"Gauge {n} on the {side} shore was read by {who} at {h} o'clock and logged in the "
           f"station book." for n, (side, who, h) in enumerate(
               [("east", "Anna", 6), ("west", "Piet", 7), ("north", "Mara", 8),
                ("south", "Joost", 9), ("east", "Lena", 10), ("west", "Ruben", 11),
                ("north", "Ilse", 12), ("south", "Tom", 13), ("east", "Sanne", 14),
                ("west", "Wim", 15), ("north", "Eva", 16), ("south", "Bram", 17)], 1)]
LONG_PAGES = [PAGE1 + _FILLER, _FILLER[:10] + PAGE2, _FILLER[:8] + PAGE3]


@pytest.mark.slow
def test_question_answered_only_by_the_pdf_cites_its_page(tmp_path):
    """A real index over the small corpus plus a three-page PDF: the answer cites the PDF
    and the page of the cited sentence (page 2, where the fact is), and every offset
    points at the article text."""
    from challenge_qa import answer, build_index, load_index
    from challenge_qa.retrieval import page_of, retrieve

    corpus = write_files(tmp_path / "corpus", SMALL_FILES)
    write_files(corpus, {"reports/moran.pdf": make_pdf(LONG_PAGES, info=INFO)})
    s = Settings(corpus_dir=corpus, index_dir=tmp_path / "index", show_progress=False)
    build_index(corpus, s.index_dir, settings=s)
    idx = load_index(s.index_dir, settings=s)
    articles = {a.id: a for a in load_corpus(corpus).articles}

    a = answer("How far did the level of Lake Moran fall during the July heatwave?", index=idx)
    assert a.found, a.text
    assert a.short and "eleven metres" in a.short
    first = a.citations[0]
    assert first.doc_id == "reports/moran.pdf"
    pages = articles[first.doc_id].pages
    assert len(pages) == 3 and pages[1] <= first.sentence_start < pages[2]
    assert first.page == page_of(pages, first.sentence_start) == 2
    assert first.source == "Moran Water Board" and first.date == "2024-08-05"
    for h in a.citations:
        art = articles[h.doc_id]
        assert art.text[h.start:h.end] == h.text
        assert art.text[h.sentence_start:h.sentence_end] == h.sentence
    assert "eleven metres" in first.sentence

    hits = retrieve("garden hoses ban Moranville October", k=3, index=idx)
    top = hits[0]
    assert top.doc_id == "reports/moran.pdf"
    assert articles[top.doc_id].text[top.start:top.end] == top.text
    # the hose ban is on page 3, and so is the start of the passage quoting it
    assert top.sentence_start >= pages[2]
    assert top.page == page_of(pages, top.sentence_start) == 3
    # other articles carry no page
    assert all(h.page is None for h in hits if h.doc_id != "reports/moran.pdf")


_LINE = st.text(st.characters(codec="cp1252", exclude_categories=("Cs",)), max_size=60)


@settings(max_examples=40, deadline=None)
@given(body=st.binary(max_size=2000), pages=st.lists(st.lists(_LINE, max_size=3), max_size=3))
def test_any_pdf_bytes_load_or_are_skipped(tmp_path_factory, body, pages):
    """Real PDFs of any text, cut short or with garbage after the header, never raise: the
    file gives an article with exact page offsets, or a skip reason."""
    real = make_pdf(pages)
    cut = real[: len(body) % len(real)] + body
    folder = tmp_path_factory.mktemp("fuzz")
    for i, data in enumerate((b"%PDF-1.4\n" + body, real, cut)):
        f = folder / f"f{i}.pdf"
        f.write_bytes(data)
        skipped: list[str] = []
        arts = list(read_file(f, f.name, skipped))
        assert len(arts) + len(skipped) == 1
        for a in arts:
            assert a.pages and a.pages[0] == 0 and list(a.pages) == sorted(a.pages)
            assert a.pages[-1] <= len(a.text) and a.text == a.text.strip()
