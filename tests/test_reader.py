"""The shipped answer reader (challenge_qa.encoders.reader): its file, its hash, its verdicts."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from challenge_qa.encoders.reader import MODEL_FILE, READER_DIR, Reader, best_spans, pair_text
from challenge_qa.errors import ModelLoadError

PATIENT = "The patient is portrayed by real-life cosmonaut Oleg Novitskiy."
TITLE = "Russia releases trailer for 'The Challenge', the first feature film shot in space"


def test_pair_text_marks_where_the_sentence_starts():
    text, at = pair_text("Film", "x " * 300, "It landed.")
    assert text[at:] == "It landed."
    assert len(text) < 260  # the previous sentence is cut to its last words


def test_best_spans_respects_order_length_and_mask():
    start = np.array([[9.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 3.0]])
    end = np.array([[9.0, 0.0, 2.0, 0.0], [5.0, 0.0, 0.0, 1.0]])
    allowed = np.array([[False, True, True, True], [True, True, True, True]])
    offs = np.array([[[0, 0], [0, 2], [3, 5], [6, 8]], [[0, 4], [5, 6], [7, 9], [10, 12]]])
    spans, score = best_spans(start, end, allowed, offs)
    # row 0: [CLS] (9 + 9) is masked; tokens 1..2 score 1 + 2
    assert spans[0] == (0, 5) and score[0] == 3.0
    # row 1: start 3 with end 0 (8) would end before it starts; token 0 alone scores 5
    assert spans[1] == (0, 4) and score[1] == 5.0
    spans, _ = best_spans(start, end, allowed, offs, max_tokens=1)
    assert spans[0] == (3, 5)


def test_card_records_version_hash_and_held_out_figures():
    card = json.loads((READER_DIR / "reader.json").read_text())
    r = Reader()
    assert r.version.startswith(card["version"] + "+")
    assert card["sha256"].startswith(r.version.split("+")[1])
    assert card["held_out"]["questions"] >= 1000
    assert set(card["recipe"]["tune_articles"]) <= set(range(0, 48, 2))


@pytest.mark.slow
def test_reader_finds_the_answer_sentence_and_its_words():
    r = Reader().load()
    res = r.read("Who plays the patient?", [
        (TITLE, "", "“The Challenge” will be released on April 12."),
        (TITLE, "The trailer outlines the movie’s plot.", PATIENT),
        (TITLE, "", "The space race has expanded to new frontiers in recent years."),
    ])
    assert int(np.argmax(res.score)) == 1
    # far surer of the answer sentence than of the others (reader-2: 0.17 against 0.0006)
    assert res.score[1] > 20 * max(res.score[0], res.score[2]), res.score
    a, b = res.spans[1]
    assert PATIENT[a:b] == "Oleg Novitskiy"
    assert r.read("Who?", []).spans == []


def test_damaged_model_is_refused(tmp_path):
    folder = tmp_path / "reader"
    shutil.copytree(READER_DIR, folder)
    blob = bytearray((folder / MODEL_FILE).read_bytes())
    blob[-100] ^= 0xFF
    (folder / MODEL_FILE).write_bytes(bytes(blob))
    with pytest.raises(ModelLoadError, match="does not match"):
        Reader(folder).load()
    (folder / "reader.json").unlink()
    with pytest.raises(ModelLoadError, match="missing or damaged"):
        Reader(folder).load()
