"""Docs that cannot drift: the README's command table names every CLI command and option,
every command and option has help text, and the pure modules' docstring examples run."""

from __future__ import annotations

import doctest
import importlib
import re
from pathlib import Path

import click
import pytest

from challenge_qa.app.cli import cli

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
COMMANDS = sorted(cli.commands)
#: Modules whose examples run without a model, an index or the network.
PURE = ["text.chunking", "config", "errors", "answering.conversation", "search.fusion",
        "text.lexical", "encoders.reader", "answering.compose", "text.dates", "answering.news",
        "answering.timeline", "store.segments", "store.build", "store.merging",
        "store.changes", "search.index", "search.filters", "search.bm25", "search.dense",
        "store.tables", "search.retrieve", "corpus.pdf", "app.markdown", "corpus.ingest",
        "corpus.fetch", "app.html"]


def table_row(command: str) -> str:
    rows = [line for line in README.splitlines()
            if line.startswith(f"| `challenge-qa {command}")]
    assert len(rows) == 1, f"README's command table has {len(rows)} rows for {command!r}"
    return rows[0]


@pytest.mark.parametrize("command", COMMANDS)
def test_command_is_in_the_readme_table_with_every_option(command):
    row = table_row(command)
    for param in cli.commands[command].params:
        if isinstance(param, click.Option):
            names = [n for n in param.opts if n.startswith("--")] or param.opts
            assert any(re.search(rf"(?<![\w-]){re.escape(n)}(?![\w-])", row) for n in names), (
                f"{command}: option {param.opts} is not in the README table row")


@pytest.mark.parametrize("command", COMMANDS)
def test_command_and_options_have_help(command):
    cmd = cli.commands[command]
    assert cmd.help and cmd.help.strip(), command
    for param in cmd.params:
        if isinstance(param, click.Option):
            assert param.help and param.help.strip(), (command, param.opts)


def test_readme_table_has_no_command_that_does_not_exist():
    named = set(re.findall(r"^\| `challenge-qa ([a-z-]+)", README, re.M))
    assert named == set(COMMANDS)


@pytest.mark.parametrize("name", PURE)
def test_docstring_examples(name):
    module = importlib.import_module(f"challenge_qa.{name}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed"


def test_readme_figures_match_the_benchmark_results():
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "benchmarks.report", "--check"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "<!-- figures:" in README


def test_every_generated_table_stands_in_a_document():
    """A table ``benchmarks.report`` can generate but no document shows is a figure
    somebody copies by hand instead."""
    from benchmarks.report import BLOCK, DOCUMENTS, TABLES

    shown = {m.group("name") for doc in DOCUMENTS
             for m in BLOCK.finditer(doc.read_text(encoding="utf-8"))}
    assert set(TABLES) <= shown, sorted(set(TABLES) - shown)
