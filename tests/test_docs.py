"""Docs that cannot drift: the README's command reference and settings table are what
``challenge_qa.app.reference`` generates from the code, its figures what
``benchmarks.report`` generates from the results, every command and option has help text,
and the pure modules' docstring examples run."""

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
PURE = ["text.chunking", "corpus.passages", "engine", "testing", "config", "errors",
        "answering.conversation", "answering.short", "answering.shortlist", "text.words",
        "search.fusion", "text.lexical", "encoders.reader", "answering.compose", "text.dates",
        "answering.dates", "answering.corroboration", "answering.timeline", "store.segments",
        "store.build", "store.merging", "store.changes", "search.index", "search.filters",
        "search.bm25", "search.dense", "store.tables", "search.retrieve", "corpus.pdf",
        "app.markdown", "corpus.ingest", "corpus.fetch", "app.html", "app.reference",
        "answering.recent"]


@pytest.mark.parametrize("command", COMMANDS)
def test_command_and_options_have_help(command):
    cmd = cli.commands[command]
    assert cmd.help and cmd.help.strip(), command
    for param in cmd.params:
        if isinstance(param, click.Option):
            assert param.help and param.help.strip(), (command, param.opts)


def test_readme_reference_tables_match_the_code():
    """The command reference and the settings table are what the generator writes from the
    click commands and ``Settings``: a new or changed command, option or setting shows."""
    from challenge_qa.app.reference import BLOCKS, blocks_in, render

    assert blocks_in(README) == set(BLOCKS), "README lacks a reference block's markers"
    assert render(README) == README, (
        "README's reference tables differ from the code: run "
        "`python -m challenge_qa.app.reference README.md` (or `make docs`)")


def test_cli_reference_names_every_command_and_option():
    from challenge_qa.app.reference import cli_reference

    text = cli_reference()
    for name in COMMANDS:
        assert f"`challenge-qa {name} " in text, name
        for param in cli.commands[name].params:
            if isinstance(param, click.Option):
                for opt in param.opts:
                    assert f"`{opt}`" in text, (name, opt)


def test_settings_reference_has_every_field_and_variable_described():
    from dataclasses import fields

    from challenge_qa.app.reference import setting_groups, settings_reference
    from challenge_qa.config import ENV_VARS, Settings

    groups = setting_groups()
    assert [n for names, _ in groups for n in names] == [f.name for f in fields(Settings)]
    assert all(comment.strip() for _, comment in groups)
    text = settings_reference()
    for name in (f.name for f in fields(Settings)):
        assert f"`{name}`" in text, name
    for var in ENV_VARS:
        assert f"`{var}`" in text, var


def test_settings_reference_refuses_a_field_without_a_description():
    from dataclasses import dataclass

    from challenge_qa.app.reference import setting_groups

    @dataclass
    class Described:
        #: Said.
        first: int = 1
        other: int = 2

    with pytest.raises(ValueError, match="Described.other has no"):
        setting_groups(Described)


def test_the_reference_generator_checks_and_rewrites_a_document(tmp_path):
    from challenge_qa.app.reference import main

    doc = tmp_path / "doc.md"
    doc.write_text("Intro\n<!-- settings:start -->\nstale\n<!-- settings:end -->\nEnd\n",
                   encoding="utf-8")
    assert main(["--check", str(doc)]) == 1
    assert main([str(doc)]) == 0
    text = doc.read_text(encoding="utf-8")
    assert text.startswith("Intro\n<!-- settings:start -->\n") and text.endswith(
        "<!-- settings:end -->\nEnd\n")
    assert "stale" not in text and "`corpus_dir`" in text
    assert main(["--check", str(doc)]) == 0


def test_docs_name_no_machine_paths():
    """The documents describe the project, not the machine it was written on."""
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = doc.read_text(encoding="utf-8")
        assert not re.search(r"(?<![\w.~])/(?:work|tmp|home|root)/", text), doc.name


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
