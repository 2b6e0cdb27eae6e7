"""Answers as Markdown with footnotes (challenge_qa.app.markdown), checked against hand-written
expected output; the real pipeline's output is checked in test_ingest.py (``ask --markdown``)."""

from __future__ import annotations

from challenge_qa.answering.compose import NOT_FOUND, Answer, Statement
from challenge_qa.app.markdown import answer_markdown
from challenge_qa.search.retrieve import Hit


def hit(n: int, sentence: str, start: int, **kw) -> Hit:
    base = dict(rank=n, doc_id=f"doc{n}", title=f"Title {n}", source=None, date=None,
                url=None, path=f"doc{n}.md", passage_id=f"doc{n}#0", text=sentence, start=start,
                end=start + len(sentence), sentence=sentence, sentence_start=start,
                sentence_end=start + len(sentence), score=1.0, dense_score=0.5,
                bm25_score=1.0)
    return Hit(**{**base, **kw})


def test_short_answer_statements_and_footnotes():
    h1 = hit(1, "The level fell by eleven metres.", 40, title="Dam *report*",
             source="Water Board", date="2024-08-05", path="uploads/dam.pdf", page=2)
    h2 = hit(2, "Levels dropped eleven metres.", 0, title="Lake news", source="Gazette",
             url="https://example.org/lake?id=1")
    h3 = hit(3, "1990. Engineers [1] closed the <b>gates</b> on Tuesday.", 100)
    at = 100 + h3.sentence.index("Tuesday")
    tuesday = {"start": at, "end": at + 7, "relative": True, "label": "6 August 2024"}
    a = Answer(question="How far did it fall?", text="(unused)", found=True,
               citations=[h1, h2, h3], short="eleven metres",
               statements=[Statement(h1.sentence, [1, 2]),
                           Statement(h3.sentence, [3], dates=[tuesday])])
    assert answer_markdown(a) == (
        "**eleven metres**\n"
        "\n"
        "The level fell by eleven metres.[^1][^2] 1990. Engineers \\[1\\] closed the "
        "\\<b\\>gates\\</b\\> on Tuesday \\[6 August 2024\\].[^3]\n"
        "\n"
        '[^1]: *Dam \\*report\\**, Water Board, 2024-08-05: "The level fell by eleven '
        'metres." uploads/dam.pdf, page 2\n'
        '[^2]: *Lake news*, Gazette: "Levels dropped eleven metres." '
        "<https://example.org/lake?id=1>\n"
        '[^3]: *Title 3*: "1990. Engineers \\[1\\] closed the \\<b\\>gates\\</b\\> on '
        'Tuesday." doc3.md\n')


def test_a_paragraph_that_would_start_a_list_is_escaped():
    h = hit(1, "1990. The dam was built.", 0)
    a = Answer(question="q", text="", found=True, citations=[h],
               statements=[Statement(h.sentence, [1])])
    assert answer_markdown(a).startswith("1990\\. The dam was built.[^1]\n\n[^1]: ")


def test_not_found_has_no_footnotes_even_with_closest_passages():
    a = Answer(question="q", text=NOT_FOUND, found=False, hits=[hit(1, "Unrelated.", 0)])
    assert answer_markdown(a) == NOT_FOUND + "\n"


def _unescape(md: str) -> str:
    """Markdown backslash escapes removed (what a reader of the rendered text sees)."""
    import re

    return re.sub(r"\\(.)", r"\1", md)


def test_real_answers_round_trip_every_citation(docs_index_ro):
    """Each citation of real answers comes back from the Markdown: one footnote per
    citation, in order, quoting its sentence exactly and naming its title and file."""
    import re

    from helpers import DEFAULT

    from challenge_qa import answer, load_index

    idx = load_index(docs_index_ro, settings=DEFAULT)
    for q in ("When was the trailer released?", "Who directed The Challenge?",
              "How long did the shoot last?"):
        a = answer(q, index=idx)
        md = answer_markdown(a)
        notes = re.findall(r"^\[\^(\d+)\]: (.*)$", md, re.M)
        assert [int(n) for n, _ in notes] == list(range(1, len(a.citations) + 1)), md
        body = md.split("\n[^1]:")[0]
        for (n, note), c in zip(notes, a.citations, strict=True):
            assert f"[^{n}]" in body
            text = _unescape(note)
            assert f'"{" ".join(c.sentence.split())}"' in " ".join(text.split()), (note, c)
            assert c.title in text and (c.url or c.path) in text
