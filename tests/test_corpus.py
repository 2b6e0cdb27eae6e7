"""Loading articles: every format, metadata, and every kind of bad file."""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import pytest
from helpers import SMALL_FILES, SMALL_IDS, write_files

from challenge_qa.corpus.load import (
    MAX_TITLE_CHARS,
    Article,
    SkippedFileWarning,
    load_articles,
    load_corpus,
)
from challenge_qa.errors import ChallengeQAError, CorpusEmptyError, CorpusNotFoundError

SCIFACT = (Path(__file__).resolve().parents[1].parent / "shared" / "benchmarks" / "scifact"
           / "corpus.jsonl")
GOOD_MD = "---\ntitle: Good one\n---\nA perfectly fine article about tides and the moon.\n"


def load_quiet(path) -> list[Article]:
    """load_articles, failing the test if anything is skipped."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", SkippedFileWarning)
        return load_articles(path)


def by_id(articles) -> dict[str, Article]:
    return {a.id: a for a in articles}


# ------------------------------------------------------------------ formats

def test_small_corpus_all_formats(small_corpus):
    arts = load_quiet(small_corpus)
    assert {a.id for a in arts} == SMALL_IDS
    # files are read in sorted order, JSONL records in line order
    assert [a.id for a in arts] == ["chess.txt", "lighthouse", "marathon", "nature/bees.html",
                                    "volcano.md"]
    for a in arts:
        assert a.text == a.text.strip() and a.text
        assert len(a.sha256) == 64 and int(a.sha256, 16) >= 0


def test_markdown_front_matter(small_corpus):
    a = by_id(load_quiet(small_corpus))["volcano.md"]
    assert a.title == "Mount Etna erupts again"
    assert a.source == "Volcano Weekly"
    assert a.date == "2024-02-11"  # YAML parses it as a date; it comes back as ISO text
    assert a.url == "https://example.org/etna"
    assert a.path == "volcano.md"
    assert a.text.startswith("Mount Etna, the tallest active volcano")
    assert "---" not in a.text and "title:" not in a.text
    assert a.text.endswith("resumed\non Monday morning.")


def test_markdown_publisher_alias_and_id_field(tmp_path):
    write_files(tmp_path, {"x.md": "---\ntitle: T\npublisher: Daily Planet\nid: custom-7\n"
                                   "---\nBody text here.\n"})
    a = load_quiet(tmp_path)[0]
    assert (a.id, a.source, a.title, a.text, a.path) == (
        "custom-7", "Daily Planet", "T", "Body text here.", "x.md")


def test_markdown_without_front_matter_takes_heading_as_title(tmp_path):
    write_files(tmp_path, {"plain.md": "# The Heading\n\nFirst paragraph. Second sentence.\n"})
    a = load_quiet(tmp_path)[0]
    assert a.title == "The Heading"
    assert a.text == "# The Heading\n\nFirst paragraph. Second sentence."
    assert a.source is a.date is a.url is None


def test_txt_title_from_first_line(small_corpus):
    a = by_id(load_quiet(small_corpus))["chess.txt"]
    assert a.title == "Chess prodigy wins the national title"
    assert a.text.startswith("Chess prodigy wins the national title\nA twelve-year-old")
    assert a.source is None


def test_txt_long_first_line_title_from_file_name(tmp_path):
    long_line = "word " * (MAX_TITLE_CHARS // 5 + 10)
    write_files(tmp_path, {"long_first-line.txt": long_line + "\nMore text."})
    a = load_quiet(tmp_path)[0]
    assert a.title == "long first line"


def test_txt_with_utf8_bom(tmp_path):
    write_files(tmp_path, {"bom.txt": "\ufeffBOM title\nBody."})
    a = load_quiet(tmp_path)[0]
    assert a.title == "BOM title" and a.text.startswith("BOM title")


def test_html_text_and_metadata(small_corpus):
    a = by_id(load_quiet(small_corpus))["nature/bees.html"]
    assert a.title == "How honey bees talk"
    assert a.source == "Nature Notes"
    assert a.date == "2023-06-01"
    assert a.url == "https://example.org/bees"
    assert a.path == "nature/bees.html"
    assert "waggle dance" in a.text and "length of the waggle run" in a.text
    for junk in ("SCRIPTTEXT", "NAVTEXT", "FOOTERTEXT", "color: red", "<p>"):
        assert junk not in a.text
    # whitespace inside a paragraph is collapsed; paragraphs are separated by a blank line
    assert "The angle of the dance" in a.text
    assert "\n\n" in a.text


def test_html_main_and_fragment(tmp_path):
    write_files(tmp_path, {
        "main.html": "<html><head><title>M</title></head><body><nav>Menu</nav>"
                     "<main><p>Main text only.</p></main><p>Outside.</p></body></html>",
        "frag.htm": "<p>Just a <b>fragment</b> of text.</p><script>x=1</script>",
    })
    arts = by_id(load_quiet(tmp_path))
    assert arts["main.html"].text == "Main text only."
    assert arts["main.html"].title == "M"
    assert arts["frag.htm"].text == "Just a fragment of text."
    assert arts["frag.htm"].title == "Just a fragment of text."  # no <title>: first line


def test_jsonl_records(small_corpus):
    arts = by_id(load_quiet(small_corpus))
    light, run = arts["lighthouse"], arts["marathon"]
    assert light.title == "Old lighthouse restored"
    assert (light.source, light.date, light.url) == ("Coast News", "2022-09-14",
                                                     "https://example.org/light")
    assert light.path == "extra.jsonl"
    assert light.text.startswith("Volunteers restored the old lighthouse")
    assert run.id == "marathon"  # "id" is accepted as well as "_id"
    assert run.source is None


def test_jsonl_numeric_id_and_missing_title(tmp_path):
    write_files(tmp_path, {"recs.jsonl": json.dumps({"_id": 42, "text": " Some text. "}) + "\n"})
    a = load_quiet(tmp_path)[0]
    assert a.id == "42" and a.title == "recs 42" and a.text == "Some text."


def test_single_file_corpus(tmp_path):
    f = write_files(tmp_path, {"one.md": GOOD_MD}) / "one.md"
    arts = load_quiet(f)
    assert [a.id for a in arts] == ["one.md"]


def test_ids_are_relative_posix_paths_and_hidden_is_ignored(tmp_path):
    write_files(tmp_path, {
        "a/b/deep.txt": "Deep title\nDeep text.",
        ".hidden/secret.md": "Hidden text.",
        ".dot.md": "Dot text.",
        "notes.docx": "not an article",
        "README": "no suffix",
    })
    assert [a.id for a in load_quiet(tmp_path)] == ["a/b/deep.txt"]


def test_sha256_tracks_content():
    a = Article.make(id="x", title="T", text="Hello.", path="x.txt")
    b = Article.make(id="y", title="T", text="Hello.", path="y.txt")
    c = Article.make(id="x", title="T", text="Hello!", path="x.txt")
    d = Article.make(id="x", title="T", text="Hello.", path="x.txt", source="S")
    assert a.sha256 == b.sha256  # the hash covers content, not the id
    assert len({a.sha256, c.sha256, d.sha256}) == 3


def test_scifact_corpus_loads():
    if not SCIFACT.is_file():
        pytest.skip("BEIR scifact corpus not present")
    arts = load_quiet(SCIFACT)
    assert len(arts) == 5183
    assert len({a.id for a in arts}) == 5183
    assert arts[0].id == "4983"
    assert arts[0].title.startswith("Microstructural development of human newborn")
    assert all(a.path == "corpus.jsonl" for a in arts)


# ------------------------------------------------------------------ bad files

BAD_FILES = [
    pytest.param("empty.md", b"", "empty.md: skipped, it has no text", id="empty"),
    pytest.param("blank.txt", b"  \n\n \t\n", "blank.txt: skipped, it has no text", id="blank"),
    pytest.param("only-front-matter.md", b"---\ntitle: x\n---\n\n",
                 "only-front-matter.md: skipped, it has no text", id="front-matter-only"),
    pytest.param("latin1.txt", "Caf\u00e9 au lait, na\u00efve.".encode("latin-1"),
                 "latin1.txt: skipped, it is not UTF-8 text (bad byte at offset 3)",
                 id="latin-1"),
    pytest.param("binary.md", b"PK\x03\x04\x00\x00binary\x00data",
                 "binary.md: skipped, it looks like a binary file", id="binary-nul"),
    pytest.param("bad-yaml.md", b"---\ntitle: [unclosed\n---\nBody.\n",
                 "bad-yaml.md: skipped, its YAML front matter is invalid", id="invalid-yaml"),
    pytest.param("list-yaml.md", b"---\n- a\n- b\n---\nBody.\n",
                 "list-yaml.md: skipped, its front matter is not a mapping", id="yaml-list"),
    pytest.param("broken.jsonl", b'{"_id": "j1", "text": "ok text"}\n{"_id": "j2", "te\n',
                 "broken.jsonl:2: skipped, not valid JSON", id="jsonl-broken-line"),
    pytest.param("notext.jsonl", b'{"_id": "j3", "title": "No text"}\n',
                 "notext.jsonl:1: skipped, the record has no", id="jsonl-no-text"),
    pytest.param("emptytext.jsonl", b'{"_id": "j3", "text": "   "}\n',
                 "emptytext.jsonl:1: skipped, the record has no", id="jsonl-empty-text"),
    pytest.param("noid.jsonl", b'\n{"title": "x", "text": "has text"}\n',
                 "noid.jsonl:2: skipped, the record has no", id="jsonl-no-id"),
    pytest.param("array.jsonl", b'[1, 2, 3]\n', "array.jsonl:1: skipped, not a JSON object",
                 id="jsonl-not-object"),
    pytest.param("dup.jsonl", b'{"_id": "d", "text": "one"}\n{"_id": "d", "text": "two"}\n',
                 "dup.jsonl: duplicate article id 'd', skipped", id="jsonl-duplicate-id"),
]


@pytest.mark.parametrize(("name", "content", "reason"), BAD_FILES)
def test_bad_file_is_skipped_with_a_named_warning(tmp_path, name, content, reason):
    write_files(tmp_path, {"good.md": GOOD_MD, name: content})
    with pytest.warns(SkippedFileWarning) as record:
        arts = load_articles(tmp_path)
    messages = [str(w.message) for w in record if w.category is SkippedFileWarning]
    assert len(messages) == 1, messages
    assert messages[0].startswith(reason), messages[0]
    assert "good.md" in {a.id for a in arts}
    # the skipped file (or line) left nothing broken behind
    assert all(a.text.strip() for a in arts)
    corpus = load_corpus(tmp_path)
    assert corpus.skipped == messages


def test_jsonl_missing_fields_name_what_is_missing(tmp_path):
    write_files(tmp_path, {"r.jsonl": '{"_id": "1", "title": "t"}\n{"text": "x"}\n'
                                      '{"_id": "3", "text": "fine"}\n'})
    corpus = load_corpus(tmp_path)
    assert [a.id for a in corpus.articles] == ["3"]
    assert len(corpus.skipped) == 2
    assert corpus.skipped[0].startswith("r.jsonl:1:") and "text" in corpus.skipped[0]
    assert corpus.skipped[1].startswith("r.jsonl:2:") and "id" in corpus.skipped[1]


def test_duplicate_id_across_files_keeps_the_first(tmp_path):
    write_files(tmp_path, {"a.md": "---\nid: same\n---\nFirst.\n",
                           "b.md": "---\nid: same\n---\nSecond.\n"})
    corpus = load_corpus(tmp_path)
    assert [(a.id, a.text) for a in corpus.articles] == [("same", "First.")]
    assert corpus.skipped == ["b.md: duplicate article id 'same', skipped"]


def test_symlink_outside_corpus_is_skipped(tmp_path):
    corpus = write_files(tmp_path / "corpus", {"good.md": GOOD_MD})
    outside = write_files(tmp_path / "outside", {"secret.md": "Secret outside text."})
    os.symlink(outside / "secret.md", corpus / "link.md")
    os.symlink(corpus / "good.md", corpus / "inside-link.md")
    with pytest.warns(SkippedFileWarning, match="link.md: skipped, it is a link to a file "
                                                "outside the corpus"):
        arts = load_articles(corpus)
    texts = {a.id: a.text for a in arts}
    assert "link.md" not in texts
    assert all("Secret" not in t for t in texts.values())
    assert texts["inside-link.md"] == texts["good.md"]  # links inside the corpus are fine


def test_broken_symlink_is_skipped(tmp_path):
    corpus = write_files(tmp_path / "corpus", {"good.md": GOOD_MD})
    os.symlink(corpus / "gone.md", corpus / "dangling.md")
    with pytest.warns(SkippedFileWarning, match="dangling.md: skipped, cannot be read"):
        arts = load_articles(corpus)
    assert [a.id for a in arts] == ["good.md"]


def test_missing_corpus(tmp_path):
    with pytest.raises(CorpusNotFoundError, match="Corpus not found") as e:
        load_corpus(tmp_path / "nope")
    assert "--corpus" in e.value.hint


def test_empty_folder(tmp_path):
    write_files(tmp_path, {"image.png": b"\x89PNG"})
    with pytest.raises(CorpusEmptyError, match="No article files") as e:
        load_corpus(tmp_path)
    assert ".md" in e.value.hint


def test_folder_of_unreadable_articles_names_the_files(tmp_path):
    write_files(tmp_path, {"empty.md": b"", "latin.txt": b"\xe9t\xe9"})
    with pytest.raises(CorpusEmptyError, match="No readable articles") as e:
        load_corpus(tmp_path)
    assert "empty.md" in str(e.value) and "latin.txt" in str(e.value)


def test_unsupported_single_file_is_a_named_error(tmp_path):
    """Pointing the corpus at one file of an unknown type should be a ChallengeQAError
    (once a bare KeyError('.pdf') escaped from corpus._load_file)."""
    f = tmp_path / "notes.docx"
    f.write_text("Some text.", encoding="utf-8")
    with pytest.raises(ChallengeQAError, match="notes.docx"):
        load_corpus(f)


def test_all_small_files_roundtrip(tmp_path):
    """Each small-corpus file alone is a valid single-file corpus."""
    folder = write_files(tmp_path, SMALL_FILES)
    for name in SMALL_FILES:
        arts = load_quiet(folder / name)
        assert arts and all(a.path == Path(name).name for a in arts)


# ------------------------------------------------------------------ found bugs

def test_html_title_ignores_svg_titles(tmp_path):
    """An inline <svg><title> (an icon label) must not be glued to the page <title>."""
    write_files(tmp_path, {"page.html": (
        "<html><head><title>Real title</title></head><body>"
        "<svg><title>Menu icon</title><path/></svg>"
        "<article><p>Body text here.</p></article></body></html>")})
    a = load_quiet(tmp_path)[0]
    assert a.title == "Real title"
    assert a.text == "Body text here."


def test_html_date_that_is_not_iso_is_not_cut(tmp_path):
    """Only an ISO timestamp may be cut to its date; 'March 8, 2023' must not become
    'March 8, 2'."""
    write_files(tmp_path, {
        "iso.html": '<html><head><meta name="date" content="2023-03-08T10:00:00+01:00">'
                    "</head><body><p>Text one.</p></body></html>",
        "words.html": '<html><head><meta name="date" content="March 8, 2023"></head>'
                      "<body><p>Text two.</p></body></html>",
    })
    arts = by_id(load_quiet(tmp_path))
    assert arts["iso.html"].date == "2023-03-08"
    assert arts["words.html"].date == "March 8, 2023"


@pytest.mark.parametrize("char", ["\u2028", "\u2029", "\x85"],
                         ids=["LINE-SEPARATOR", "PARAGRAPH-SEPARATOR", "NEL"])
def test_jsonl_lines_split_only_on_newline(tmp_path, char):
    """JSON strings may hold U+2028, U+2029 or NEL unescaped (json.dumps with
    ensure_ascii=False writes U+2028 as is); str.splitlines() breaks the record there."""
    record = {"_id": "x", "title": "T", "text": f"Line one{char}still the same record."}
    write_files(tmp_path, {"r.jsonl": json.dumps(record, ensure_ascii=False) + "\n"})
    arts = load_quiet(tmp_path)
    assert [(a.id, a.text) for a in arts] == [("x", record["text"])]
