"""challenge_qa.eval's shared measures: SQuAD answer metrics, ROC AUC and thresholds, where the
benchmark data lives (and the error when it is not there), and the benchmarks' use of them."""

from __future__ import annotations

import ast
import doctest
import importlib
import math
import random
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from challenge_qa.errors import EvalInputError
from challenge_qa.eval import data as D
from challenge_qa.eval import metrics as M
from challenge_qa.eval import squad as S

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `pytest` run without `python -m` does not add the root
    sys.path.insert(0, str(ROOT))


# ------------------------------------------------------------------ SQuAD answer metrics

@pytest.mark.parametrize(("text", "expected"), [
    ("The Denver Broncos", "denver broncos"),
    ("  Hello,   World! ", "hello world"),
    ("an apple a day", "apple day"),
    ("Theatre of the Absurd", "theatre of absurd"),  # "the" only as a whole word
    ("A.B.C.", "abc"),
    ("Broncos' (1997)", "broncos 1997"),
    ("THE", ""),
    ("", ""),
    ("Saint-Étienne", "saintétienne"),  # ASCII punctuation only, as the official script
])
def test_normalize_answer_official_cases(text, expected):
    assert S.normalize_answer(text) == expected


@pytest.mark.parametrize(("pred", "gold", "em", "f1"), [
    ("Denver Broncos", "Denver Broncos", 1.0, 1.0),
    ("the Denver Broncos.", "Denver Broncos", 1.0, 1.0),
    ("Denver Broncos", "Broncos", 0.0, 2 / 3),
    ("Broncos of Denver", "Denver Broncos", 0.0, 0.8),
    ("cat cat", "cat", 0.0, 2 / 3),  # a repeated token counts once per gold occurrence
    ("Carolina Panthers", "Denver Broncos", 0.0, 0.0),
    ("", "Denver Broncos", 0.0, 0.0),
    ("the", "a", 1.0, 0.0),  # both normalise to nothing: equal, but no token in common
])
def test_exact_match_and_f1_known_values(pred, gold, em, f1):
    assert S.exact_match(pred, gold) == em
    assert S.f1_score(pred, gold) == pytest.approx(f1)


def _official_f1(prediction: str, ground_truth: str) -> float:
    """The SQuAD v1.1 evaluation script's f1_score (Counter intersection)."""
    pred, gold = (S.normalize_answer(prediction).split(),
                  S.normalize_answer(ground_truth).split())
    common = Counter(pred) & Counter(gold)
    same = sum(common.values())
    if same == 0:
        return 0
    precision, recall = same / len(pred), same / len(gold)
    return (2 * precision * recall) / (precision + recall)


def test_f1_matches_the_official_counter_formula():
    rng = random.Random(0)
    words = ["the", "a", "Denver", "Broncos", "broncos,", "won", "Super", "Bowl", "50", "an"]
    for _ in range(500):
        pred = " ".join(rng.choices(words, k=rng.randrange(0, 7)))
        gold = " ".join(rng.choices(words, k=rng.randrange(1, 5)))
        assert S.f1_score(pred, gold) == _official_f1(pred, gold)


def test_best_over_gold_takes_the_best_answer():
    golds = ["Denver Broncos", "Broncos", "the Broncos"]
    assert S.best_over_gold(S.exact_match, "broncos", golds) == 1.0
    assert S.best_over_gold(S.f1_score, "Denver", golds) == pytest.approx(2 / 3)
    assert S.best_over_gold(S.f1_score, "Denver", []) == 0.0


def test_contains_whole_words_only():
    assert S.contains("super bowl 50 was won by denver broncos", ["broncos"])
    assert not S.contains("broncosaurus", ["broncos"])
    assert not S.contains("anything", [""])  # an answer normalised to nothing never matches


# ------------------------------------------------------------------ ranking and answerability

def _pairwise_auc(pos, neg) -> float:
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


@pytest.mark.parametrize("seed", range(20))
def test_roc_auc_equals_the_pairwise_count(seed):
    rng = random.Random(seed)
    pos = [round(rng.random(), 1) for _ in range(rng.randrange(1, 40))]  # rounded: ties
    neg = [round(rng.random() * 0.8, 1) for _ in range(rng.randrange(1, 40))]
    assert M.roc_auc(pos, neg) == pytest.approx(_pairwise_auc(pos, neg), abs=1e-12)


def test_roc_auc_edges():
    assert M.roc_auc([0.9, 0.8], [0.1, 0.2]) == 1.0
    assert M.roc_auc([0.1], [0.9, 0.8]) == 0.0
    assert M.roc_auc([0.5, 0.5], [0.5]) == 0.5
    assert math.isnan(M.roc_auc([], [0.1])) and math.isnan(M.roc_auc([0.1], []))


def test_kept_and_threshold_keeping():
    assert M.kept([0.2, 0.5, 0.9, 0.4], 0.5) == 0.5
    assert math.isnan(M.kept([], 0.5))
    values = [i / 10 for i in range(1, 11)]
    th = M.threshold_keeping(values, 0.8)
    assert M.kept(values, th) >= 0.8
    assert M.kept(values, th + 1e-9) < 0.8  # the highest such threshold


@pytest.mark.slow  # ranx compiles its metrics with numba on first use
def test_retrieval_scores_are_ranx_figures():
    qrels = {"q1": {"a": 1}, "q2": {"c": 1}}
    run = {"q1": {"b": 2.0, "a": 1.0}, "q2": {"c": 3.0, "d": 1.0}}
    scores = M.retrieval_scores(qrels, run)
    assert list(scores) == list(M.RETRIEVAL_METRICS)
    assert scores["ndcg@10"] == pytest.approx((1 / math.log2(3) + 1) / 2)
    assert scores["mrr@10"] == pytest.approx(0.75)
    assert M.ndcg_at_10(qrels, run) == scores["ndcg@10"]
    assert M.retrieval_scores(qrels, run, digits=2)["ndcg@10"] == 0.82


# ------------------------------------------------------------------ data location

def test_default_data_is_shared_beside_the_project():
    assert D.project_root() == ROOT
    assert D.default_data() == ROOT.parent / "shared" / "benchmarks"
    assert D.data_root() == D.default_data()  # the fixture removed the variable


def test_data_argument_beats_the_variable(tmp_path, monkeypatch):
    monkeypatch.setenv(D.DATA_ENV, str(tmp_path / "env"))
    assert D.data_root() == (tmp_path / "env").resolve()
    assert D.data_root(tmp_path / "cli") == (tmp_path / "cli").resolve()


def test_missing_squad_data_says_where_it_looked(tmp_path):
    with pytest.raises(D.DataNotFoundError) as err:
        D.squad_path(tmp_path, D.SQUAD_TRAIN)
    e = err.value
    assert isinstance(e, FileNotFoundError) and isinstance(e, EvalInputError)
    assert "train-v1.1.json" in str(e) and str(tmp_path) in str(e)
    assert D.DATA_ENV in str(e) and "--data" in e.explain()


def test_missing_data_set_files(tmp_path, monkeypatch):
    monkeypatch.setenv(D.DATA_ENV, str(tmp_path))
    (tmp_path / "scifact").mkdir()
    (tmp_path / "scifact" / "corpus.jsonl").write_text("{}\n")
    with pytest.raises(D.DataNotFoundError, match=r"scifact: missing queries\.jsonl, "
                                                  r"qrels/test\.tsv"):
        D.scifact_dir()


def test_squad_path_accepts_root_folder_or_file(tmp_path):
    squad = tmp_path / "squad"
    squad.mkdir()
    for name in (D.SQUAD_DEV, D.SQUAD_TRAIN, D.SQUAD_V2_EVEN):
        (squad / name).write_text("{}")
    dev = squad / D.SQUAD_DEV
    assert D.squad_path(tmp_path) == dev
    assert D.squad_path(squad) == dev
    assert D.squad_path(dev) == dev
    assert D.squad_path(dev, D.SQUAD_V2_EVEN) == squad / D.SQUAD_V2_EVEN  # beside the file
    # the data set itself may be named
    (tmp_path / "corpus.jsonl").write_text("")
    assert D.dataset_dir("other", ["corpus.jsonl"], tmp_path) == tmp_path.resolve()


def test_even_articles_may_be_tuned_on_odd_are_held_out():
    assert D.split_articles("odd") == list(range(1, 48, 2))
    assert D.split_articles("even") == list(range(0, 48, 2))
    assert len(D.split_articles("all")) == D.DEV_ARTICLES
    assert not D.is_held_out(10) and D.is_held_out(27)
    with pytest.raises(ValueError, match="unknown split"):
        D.in_split(3, "tune")


# ------------------------------------------------------------------ the modules themselves

@pytest.mark.parametrize("name", ["squad", "metrics", "data"])
def test_docstring_examples(name):
    module = importlib.import_module(f"challenge_qa.eval.{name}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted and result.failed == 0


def test_eval_imports_no_model_library_and_nothing_above_it():
    code = ("import sys\n"
            "import challenge_qa.eval.squad, challenge_qa.eval.metrics, challenge_qa.eval.data\n"
            "import challenge_qa.eval.beir\n"
            "bad = [m for m in ('torch', 'faiss', 'ranx', 'onnxruntime', 'challenge_qa.engine',"
            " 'challenge_qa.app') if m in sys.modules]\n"
            "print(bad)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "[]", (out.stdout, out.stderr)
    for path in (ROOT / "src" / "challenge_qa" / "eval").glob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "..app" not in text and "..engine" not in text, path.name


# ------------------------------------------------------------------ the benchmarks use them

def test_every_benchmark_is_a_run_of_a_context():
    from benchmarks.__main__ import BENCHMARKS

    for module in BENCHMARKS.values():
        tree = ast.parse((ROOT / "benchmarks" / f"{module}.py").read_text(encoding="utf-8"))
        runs = [f for f in tree.body if isinstance(f, ast.FunctionDef) and f.name == "run"]
        assert runs and runs[0].args.args[0].arg == "ctx", module


def test_no_private_copies_of_the_shared_measures():
    sources = [*(ROOT / "benchmarks").glob("*.py"), ROOT / "training" / "train_reader.py"]
    for path in sources:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        defined = {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
        assert not defined & {"normalize_answer", "token_f1", "f1_score", "exact_match",
                              "exact", "roc_auc", "auc", "squad_path", "data_root"}, path.name
        assigned = {t.id for n in tree.body if isinstance(n, ast.Assign)
                    for t in n.targets if isinstance(t, ast.Name)}
        assert not assigned & {"SEED", "DEFAULT_DATA", "DATA_ENV"}, path.name


def test_benchmarks_stop_with_code_2_when_data_is_missing(tmp_path, capsys):
    from benchmarks import squad
    from benchmarks.__main__ import main

    assert main(["--only", "core", "--data", str(tmp_path), "--out", str(tmp_path)]) == 2
    assert "data not found" in capsys.readouterr().err
    assert squad.main(["--data", str(tmp_path)]) == 2
    assert "dev-v1.1.json not found" in capsys.readouterr().err


def test_context_defaults():
    from benchmarks.common import RESULTS_DIR, Context

    ctx = Context(data=Path("x"))
    assert ctx.seed == D.SEED and ctx.out == RESULTS_DIR and ctx.mode == "full"
    assert dict(ctx.overrides) == {}
