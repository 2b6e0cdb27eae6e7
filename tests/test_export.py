"""Answers as Markdown with footnotes (challenge_qa.export), checked against hand-written
expected output; the real pipeline's output is checked in test_ingest.py (``ask --markdown``)."""

from __future__ import annotations

from challenge_qa.answer import NOT_FOUND, Answer, Statement
from challenge_qa.export import answer_markdown
from challenge_qa.retrieval import Hit


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
