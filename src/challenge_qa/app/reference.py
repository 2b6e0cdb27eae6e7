"""Reference tables generated from the code: the ``challenge-qa`` commands and their
options (from the click group), and every ``Settings`` field with its environment variable,
default and description (from the ``#:`` comments above the fields in ``config.py``).

    python -m challenge_qa.app.reference README.md           # rewrite the tables
    python -m challenge_qa.app.reference --check README.md   # exit 1 when they differ

Each table stands in a document between ``<!-- NAME:start -->`` and ``<!-- NAME:end -->``
(``cli-options``, ``settings``); what is between the markers is replaced, everything else is
left alone. ``tests/test_docs.py`` fails when the README's tables differ from what this
module writes, so a new option or setting cannot go undocumented.
"""

from __future__ import annotations

import argparse
import ast
import inspect
import re
import sys
import textwrap
from collections.abc import Callable, Mapping
from dataclasses import MISSING, fields
from pathlib import Path
from types import MappingProxyType

import click

from ..config import ENV_VARS, Settings


def _cell(text: str) -> str:
    r"""``text`` on one line, made safe for a Markdown table cell or paragraph: RST
    ````code```` becomes Markdown ```code```; ``|`` is escaped, and outside code ``<`` and
    ``*`` too.

    Example:
        >>> print(_cell("Texts per ``encoder``\n call | <corpus>/x * 2"))
        Texts per `encoder` call \| &lt;corpus>/x \* 2
    """
    text = " ".join(text.replace("``", "`").split())
    parts = text.split("`")
    for i in range(0, len(parts), 2):  # outside code spans
        parts[i] = parts[i].replace("<", "&lt;").replace("*", "\\*")
    return "`".join(parts).replace("|", "\\|")


def _table(headers: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join("---" for _ in headers) + " |"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ commands

def _help(text: str | None) -> str:
    """A click help text as Markdown paragraphs (click's ``\\f`` ends what it shows)."""
    text = inspect.cleandoc((text or "").split("\f")[0])
    return "\n\n".join(_cell(p) for p in re.split(r"\n\s*\n", text) if p.strip())


def _value(param: click.Option, ctx: click.Context) -> str:
    """What an option takes: ``flag``, or its metavar with default, repetition and
    requirement."""
    if param.is_flag:
        return "flag"
    parts = [f"`{param.make_metavar(ctx)}`"]
    if not param.is_flag and isinstance(param.flag_value, str):  # an optional value
        parts.append(f"alone: `{param.flag_value}`")
    default = param.get_default(ctx, call=False)
    if isinstance(default, (int, float, str)) and not isinstance(default, bool):
        parts.append(f"default `{default}`")
    if param.multiple:
        parts.append("repeatable")
    if param.required:
        parts.append("required")
    if isinstance(param.envvar, str):
        parts.append(f"env `{param.envvar}`")
    return ", ".join(parts)


def cli_reference(group: click.Group | None = None, prog: str = "challenge-qa") -> str:
    """Every command of ``group`` (the ``challenge-qa`` group by default) in the order they
    are defined: its usage, its help and a table of its options."""
    if group is None:
        from .cli import cli as group
    assert group is not None
    root = click.Context(group, info_name=prog)
    out = [f"Every command takes `-h`/`--help`; `{prog} --version` prints the version.\n"]
    for name, cmd in group.commands.items():
        ctx = click.Context(cmd, info_name=name, parent=root)
        usage = " ".join([prog, name, *cmd.collect_usage_pieces(ctx)])
        epilog = f"\n{_help(cmd.epilog)}\n" if cmd.epilog else ""
        out.append(f"#### `{usage}`\n\n{_help(cmd.help)}\n{epilog}")
        rows = [[", ".join(f"`{o}`" for o in [*p.opts, *p.secondary_opts]), _value(p, ctx),
                 _cell(p.help or "")]
                for p in cmd.params if isinstance(p, click.Option)]
        if rows:
            out.append(_table(["option", "value", "what it does"], rows))
    return "\n".join(out)


# ------------------------------------------------------------------ settings

def field_comments(cls: type = Settings) -> dict[str, str]:
    """The ``#:`` comment right above each field of the dataclass ``cls`` that has one,
    read from its source (the Sphinx convention for attribute docs).

    Example:
        >>> field_comments()["chunk_chars"]
        'Passage size limit in characters; passages end on sentence boundaries.'
    """
    lines = textwrap.dedent(inspect.getsource(cls)).splitlines()
    body = ast.parse("\n".join(lines)).body[0]
    assert isinstance(body, ast.ClassDef)
    found = {}
    for node in body.body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            above = []
            i = node.lineno - 2  # the line above, 0-based
            while i >= 0 and lines[i].strip().startswith("#:"):
                above.append(lines[i].strip()[2:].strip())
                i -= 1
            if above:
                found[node.target.id] = " ".join(reversed(above))
    return found


def setting_groups(cls: type = Settings) -> list[tuple[list[str], str]]:
    """The fields of ``cls`` grouped as ``config.py`` documents them: a field with a ``#:``
    comment starts a group, and the fields right after it without one join it when the
    comment names them (````name````) or they share the first word of its first field's
    name (``bm25_k1``, ``bm25_b``). Any other field without a comment is an error, so that
    a new setting cannot go undescribed.

    Example:
        >>> dict((tuple(n), d) for n, d in setting_groups())[("bm25_k1", "bm25_b")][:22]
        'BM25 term-frequency sa'
    """
    comments = field_comments(cls)
    groups: list[tuple[list[str], str]] = []
    for f in fields(cls):
        if f.name in comments:
            groups.append(([f.name], comments[f.name]))
            continue
        if groups:
            names, comment = groups[-1]
            if f"``{f.name}``" in comment or f.name.split("_")[0] == names[0].split("_")[0]:
                names.append(f.name)
                continue
        raise ValueError(f"{cls.__name__}.{f.name} has no '#:' comment above it in config.py: "
                         "describe it there, then regenerate the reference tables")
    return groups


def _default(value: object) -> str:
    """A default as the table shows it.

    Example:
        >>> [_default(v) for v in (Path("index"), None, 20000, 0.55, "auto", (1, 2))]
        ['`index`', '`None`', '20,000', '0.55', '`auto`', '`(1, 2)`']
    """
    if isinstance(value, bool) or value is None:
        return f"`{value}`"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (str, Path)):
        return f"`{value}`"
    return f"`{value!r}`"


def settings_reference(cls: type = Settings) -> str:
    """A table of every field of ``cls``: name, default, environment variable, description."""
    env = {name: var for var, name in ENV_VARS.items()}
    by_name = {f.name: f for f in fields(cls)}

    def default(name: str) -> str:
        f = by_name[name]
        if f.default is MISSING and callable(f.default_factory):
            return _default(f.default_factory())
        return _default(f.default)

    rows = [[", ".join(f"`{n}`" for n in names), ", ".join(default(n) for n in names),
             ", ".join(f"`{env[n]}`" for n in names if n in env), _cell(comment)]
            for names, comment in setting_groups(cls)]
    return _table(["setting", "default", "environment", "what it does"], rows)


# ------------------------------------------------------------------ documents

#: Block name -> generator.
BLOCKS: Mapping[str, Callable[[], str]] = MappingProxyType(
    {"cli-options": cli_reference, "settings": settings_reference})
_BLOCK = re.compile(r"(<!-- (?P<name>[\w.-]+):start -->\n)(?P<body>.*?)"
                    r"(<!-- (?P=name):end -->)", re.S)


def render(text: str) -> str:
    """``text`` with every reference block regenerated (blocks of other names are left)."""
    def repl(m: re.Match) -> str:
        name = m.group("name")
        if name not in BLOCKS:
            return m.group(0)
        return m.group(1) + "\n" + BLOCKS[name]() + "\n" + m.group(4)
    return _BLOCK.sub(repl, text)


def blocks_in(text: str) -> set[str]:
    """The names of the reference blocks ``text`` holds."""
    return {m.group("name") for m in _BLOCK.finditer(text) if m.group("name") in BLOCKS}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m challenge_qa.app.reference",
                                description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help="rewrite the tables (the default)")
    mode.add_argument("--check", action="store_true",
                      help="exit 1 when a document's tables differ from the code")
    p.add_argument("documents", nargs="*", type=Path, default=[Path("README.md")],
                   help="Markdown files holding the marked blocks [default: README.md]")
    args = p.parse_args(argv)
    status = 0
    for doc in args.documents:
        text = doc.read_text(encoding="utf-8")
        found = ", ".join(sorted(blocks_in(text))) or "no reference blocks"
        new = render(text)
        if new == text:
            print(f"{doc}: reference tables match the code ({found})")
        elif args.check:
            print(f"{doc}: reference tables differ from the code ({found}); run "
                  f"`python -m challenge_qa.app.reference {doc}`", file=sys.stderr)
            status = 1
        else:
            doc.write_text(new, encoding="utf-8")
            print(f"{doc}: reference tables regenerated ({found})")
    return status


if __name__ == "__main__":
    sys.exit(main())
