"""Where the benchmark data lives, which SQuAD articles may be tuned on, and the one seed.

The data sets are kept outside the project and never copied into it: ``$CHALLENGE_QA_BENCH_DATA``
or, by default, ``../shared/benchmarks`` beside the project folder, holding ``squad/`` and
``scifact/``. Commands that take ``--data`` pass it as ``data``; it beats the variable.

SQuAD v1.1 dev's articles are numbered 0-47 in file order. Even articles may be used for
training and tuning; odd ones are held out: every reported figure is taken on them.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from ..errors import EvalInputError

#: The seed of every sample and shuffle in the benchmarks and the reader's training.
SEED = 13
#: Names the benchmark data folder (it beats the default, ``--data`` beats it).
DATA_ENV = "CHALLENGE_QA_BENCH_DATA"

SQUAD_DIR = "squad"
SQUAD_DEV = "dev-v1.1.json"
SQUAD_TRAIN = "train-v1.1.json"
#: SQuAD v2.0 dev questions of the even dev articles only (the odd ones are held out).
SQUAD_V2_EVEN = "dev-v2.0-even.json"
SCIFACT_DIR = "scifact"
SCIFACT_FILES = ("corpus.jsonl", "queries.jsonl", "qrels/test.tsv")
#: Articles in SQuAD v1.1 dev.
DEV_ARTICLES = 48


class DataNotFoundError(EvalInputError, FileNotFoundError):
    """A benchmark data set is not where it was looked for."""

    hint = f"Pass --data DIR or set {DATA_ENV} to the folder holding squad/ and scifact/."


def project_root() -> Path:
    """The project folder of a source checkout (the one holding ``pyproject.toml`` above
    ``src/``); the current folder when the package is installed elsewhere."""
    here = Path(__file__).resolve().parents[3]
    return here if (here / "pyproject.toml").is_file() else Path.cwd()


def shared_root() -> Path:
    """``../shared`` beside the project folder."""
    return project_root().parent / "shared"


def default_data() -> Path:
    """The benchmark data folder when neither ``--data`` nor the variable names one."""
    return shared_root() / "benchmarks"


def data_root(data: str | Path | None = None) -> Path:
    """``data`` beats ``$CHALLENGE_QA_BENCH_DATA`` beats ``../shared/benchmarks``; not
    checked here (``dataset_dir`` and ``squad_path`` say what is missing)."""
    if data is not None and str(data):
        return Path(data).expanduser().resolve()
    env = os.environ.get(DATA_ENV)
    return Path(env).expanduser().resolve() if env else default_data()


def dataset_dir(name: str, required: Sequence[str], data: str | Path | None = None) -> Path:
    """The folder of data set ``name`` (``<data root>/name``, or the root itself when it
    holds the files), checked to hold the ``required`` files.

    Raises:
        DataNotFoundError: a required file is missing.
    """
    root = data_root(data)
    folder = root / name
    if not folder.is_dir() and all((root / f).exists() for f in required):
        folder = root  # the data set itself was named
    missing = [f for f in required if not (folder / f).exists()]
    if missing:
        raise DataNotFoundError(
            f"{name}: missing {', '.join(missing)} under {folder} (set --data DIR or "
            f"{DATA_ENV} to the folder holding {name}/)")
    return folder


def squad_path(data: str | Path | None = None, name: str = SQUAD_DEV) -> Path:
    """A SQuAD file: ``data`` (or the default) may be the data root, the ``squad`` folder,
    or a file. A file stands for the dev file; the other files are looked for beside it.

    Raises:
        DataNotFoundError: the file is not there.
    """
    root = data_root(data)
    if root.is_file():
        if name == SQUAD_DEV:
            return root
        root = root.parent
    for cand in (root / name, root / SQUAD_DIR / name):
        if cand.is_file():
            return cand
    raise DataNotFoundError(
        f"SQuAD {name} not found under {root} (set --data DIR or {DATA_ENV} to the folder "
        f"holding {SQUAD_DIR}/{name})")


def scifact_dir(data: str | Path | None = None,
                required: Sequence[str] = SCIFACT_FILES) -> Path:
    """The BEIR SciFact folder, checked to hold ``required``."""
    return dataset_dir(SCIFACT_DIR, required, data)


# --------------------------------------------------------------------------- splits

def is_held_out(article: int) -> bool:
    """Odd SQuAD v1.1 dev articles (0-based, file order) are held out for reporting.

    Example:
        >>> [a for a in range(6) if is_held_out(a)]
        [1, 3, 5]
    """
    return article % 2 == 1


def in_split(article: int, split: str) -> bool:
    """Whether a dev article belongs to ``split``: ``even`` (may be tuned on), ``odd``
    (held out) or ``all``.

    Example:
        >>> [in_split(4, s) for s in ("even", "odd", "all")]
        [True, False, True]
    """
    if split == "all":
        return True
    if split not in ("even", "odd"):
        raise ValueError(f"unknown split {split!r}: expected even, odd or all")
    return is_held_out(article) == (split == "odd")


def split_articles(split: str, n: int = DEV_ARTICLES) -> list[int]:
    """The numbers of the first ``n`` dev articles in ``split``.

    Example:
        >>> split_articles("odd", 8)
        [1, 3, 5, 7]
    """
    return [a for a in range(n) if in_split(a, split)]
