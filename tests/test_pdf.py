"""PDF articles: real PDFs (written by ``minipdf``) read by the real pypdf, indexed and cited
with the page of the cited sentence."""

from __future__ import annotations

import io
import warnings

import pytest
from helpers import SMALL_FILES, write_files
from hypothesis import given, settings
from hypothesis import strategies as st
from minipdf import Line, make_pdf, paragraph

from challenge_qa.config import Settings
from challenge_qa.corpus.load import SkippedFileWarning, load_articles, load_corpus, read_file
from challenge_qa.corpus.passages import split_passages
from challenge_qa.corpus.pdf import join_pages, read_pdf, with_blocks
from challenge_qa.text.chunking import split_sentences

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
    from challenge_qa import answer, build_index, load_index, retrieve
    from challenge_qa.search.retrieve import page_of

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


# A news article as a word processor lays it out: a two-line title in large bold type, a
# byline in small type, then paragraphs of body text wrapped at about 80 characters with
# space after each paragraph, a bold subheading at the body's size, and a second page.
TITLE = ["Hjo opens Sweden's first", "lakeside library"]
BYLINE = "By Anna Berg, Hjo Courier, 3 September 2024"
LONG_BYLINE = "By Anna Berg and Erik Ström, Hjo Courier, Tuesday 3 September 2024, updated 14:05"
LEAD = ("The Swedish town of Hjo on Tuesday opened a library on a pontoon in Lake Vättern, the "
        "first of its kind in the country.")
BODY1 = (LEAD + " The mayor, Karin Lund, said the town had wanted a new library for twenty "
         "years and that the lake was the only place left to build one. Builders from "
         "Karlsborg floated the hull across the lake in May and moored it by the harbour.")
BODY2 = ("The library holds eleven thousand books and a reading room with a view of the "
         "harbour. It opens every day from nine in the morning until eight in the evening.")
SUBHEAD = "Queues at dawn"
BODY3 = ("Readers queued from six in the morning on the first day. Librarian Erik Ström said "
         "the first book lent was a guide to the birds of the lake, and the second a cookbook "
         "of recipes for perch and whitefish from Vättern.")
BODY4 = ("The town council will decide in October whether the library stays open through the "
         "winter, when ice closes the harbour for up to three months.")


def news_pages(title: list[Line], byline: Line) -> list[list[Line]]:
    return [title + [byline] + paragraph(BODY1, space_before=10)
            + paragraph(BODY2, space_before=6)
            + [Line(SUBHEAD, bold=True, space_before=12)] + paragraph(BODY3, space_before=3),
            paragraph(BODY4)]


BIG_TITLE = [Line(t, size=22, bold=True) for t in TITLE]
#: Ways a byline is set apart from the text around it: each is found by a different sign.
BYLINES = {
    "smaller-type": (BIG_TITLE, Line(BYLINE, size=9, space_before=6)),
    "body-type-with-space": (BIG_TITLE, Line(BYLINE, space_before=8)),
    # no size or space apart from the lead: only that it is short and ends no sentence
    "body-type-tight": ([Line(" ".join(TITLE), size=22, bold=True)], Line(BYLINE)),
    "all-body-type": ([Line(" ".join(TITLE), bold=True)], Line(BYLINE)),
    # as wide as the body and no smaller: only the space after it
    "long-with-space": (BIG_TITLE, Line(LONG_BYLINE, space_before=8)),
}


def _sentences(text: str) -> list[str]:
    return [" ".join(text[a:b].split()) for a, b in split_sentences(text)]


@pytest.mark.parametrize("layout", list(BYLINES))
def test_news_pdf_title_byline_and_lead_are_separate_sentences(tmp_path, layout):
    """What a user gets from a news PDF: the title, the byline and the lead are sentences
    of their own in the passages, not one run-on sentence."""
    title, byline = BYLINES[layout]
    write_files(tmp_path, {"hjo.pdf": make_pdf(news_pages(title, byline))})
    art = only_article(tmp_path)
    sents = [" ".join(art.text[a:b].split())
             for p in split_passages(art) for a, b in p.sentences]
    assert not [s for s in sents if "Courier" in s and "Hjo on Tuesday" in s], sents
    assert " ".join(TITLE) in sents
    assert byline.text in sents
    assert LEAD in sents  # wrapped over two lines, and whole
    assert SUBHEAD in sents
    assert not [s for s in sents if SUBHEAD in s and s != SUBHEAD]


def test_lines_of_a_paragraph_stay_one_block_with_whole_sentences():
    lines = paragraph(BODY1 + " " + BODY3)
    assert len(lines) >= 5
    text = read_pdf(make_pdf([[Line(BYLINE, size=9)] + lines])).text
    blocks = text.split("\n\n")
    assert blocks == [BYLINE, "\n".join(ln.text for ln in lines)]
    assert _sentences(blocks[1]) == _sentences(BODY1 + " " + BODY3)
    assert len(_sentences(blocks[1])) == 5


def test_news_pdf_page_offsets_point_at_each_page():
    pages = news_pages(*BYLINES["smaller-type"]) + [paragraph(BODY2), []]
    pdf = read_pdf(make_pdf(pages))
    assert len(pdf.pages) == 4 and pdf.pages[0] == 0
    assert pdf.text[pdf.pages[1]:].startswith(paragraph(BODY4)[0].text)
    assert pdf.text[pdf.pages[2]:] == "\n".join(ln.text for ln in paragraph(BODY2))
    assert pdf.pages[3] == len(pdf.text)  # an empty last page starts at the end
    for start in pdf.pages[1:3]:
        assert pdf.text[start - 2:start] == "\n\n"
    # the blank lines added on page 1 moved the later pages' starts along with their text
    first = pdf.text[:pdf.pages[1] - 2]
    assert first.startswith("\n".join(TITLE) + "\n\n" + BYLINE + "\n\n")
    assert first.endswith(paragraph(BODY3)[-1].text)


def _plain(data: bytes) -> str:
    import pypdf

    return join_pages([p.extract_text() for p in pypdf.PdfReader(io.BytesIO(data)).pages])[0]


def test_text_of_one_size_without_gaps_reads_as_before():
    """Lines of one size at one leading, whose short lines end sentences: nothing to split,
    so the text is pypdf's plain text (and the hand-made report reads as it did)."""
    uniform = make_pdf([paragraph(BODY1) + paragraph(BODY2) + paragraph(BODY3),
                        paragraph(BODY4)])
    text = read_pdf(uniform).text
    assert text == _plain(uniform)
    assert text.count("\n\n") == 1  # between the pages
    old = make_pdf([PAGE2, PAGE3])
    assert read_pdf(old).text == _plain(old) == "\n".join(PAGE2) + "\n\n" + "\n".join(PAGE3)


@pytest.mark.parametrize("text, runs, expected", [
    # the runs do not spell the text: it is kept as is
    ("Title\nBody text here.", [("Title\n", (20.0, 700.0))], "Title\nBody text here."),
    # a rotated line (no position) is not compared with its neighbours
    ("Title\nBody text here.", [("Title\n", None), ("Body text here.", (11.0, 672.0))],
     "Title\nBody text here."),
    # a footnote mark set apart from its line is no heading
    ("the town of Hjo\n1\nopened a library", [
        ("the town of Hjo\n", (11.0, 700.0)), ("1\n", (6.0, 706.0)),
        ("opened a library", (11.0, 700.0))], "the town of Hjo\n1\nopened a library"),
    # the top of the next column after the foot of one: the paragraph goes on there
    ("the library was\nopened on Tuesday.", [
        ("the library was\n", (11.0, 80.0)), ("opened on Tuesday.", (11.0, 700.0))],
     "the library was\nopened on Tuesday."),
    ("Big title\nBody text.", [("Big title\n", (20.0, 700.0)), ("Body text.", (11.0, 672.0))],
     "Big title\n\nBody text."),
], ids=["runs-differ", "rotated", "footnote-mark", "next-column", "heading"])
def test_with_blocks_splits_only_what_the_layout_shows(text, runs, expected):
    assert with_blocks(text, runs) == expected


_WORDS = st.lists(st.sampled_from(["Hjo", "library", "the", "lake", "opened.", "By", "Anna",
                                   "Courier,", "2024", "(x)", "Ström"]), min_size=1, max_size=14)
_LAID_OUT = st.builds(lambda words, size, gap, bold: Line(" ".join(words), size=size,
                                                          space_before=gap, bold=bold),
                      _WORDS, st.sampled_from([8.0, 11.0, 11.5, 16.0, 24.0]),
                      st.sampled_from([0.0, 0.0, 3.0, 12.0]), st.booleans())


@settings(max_examples=40, deadline=None)
@given(pages=st.lists(st.lists(_LAID_OUT, max_size=12), min_size=1, max_size=3))
def test_laid_out_pages_only_gain_blank_lines(pages):
    """Whatever the layout, the text is pypdf's plain text with some line breaks made blank
    lines, and the page offsets point at each page's text."""
    data = make_pdf(pages)
    plain = _plain(data)
    if not plain:
        return
    pdf = read_pdf(data)
    assert pdf.text.replace("\n\n", "\n") == plain.replace("\n\n", "\n")
    starts = [pdf.pages[i] for i, lines in enumerate(pages) if lines]
    for start, lines in zip(starts, [p for p in pages if p], strict=True):
        assert pdf.text[start:].startswith(lines[0].text)
