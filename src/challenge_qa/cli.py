"""The ``challenge-qa`` command: a thin layer over the Python API."""

from __future__ import annotations

import json
import sys
import textwrap
from dataclasses import asdict
from pathlib import Path

import click

from .config import Settings
from .errors import ChallengeQAError, IndexNotFoundError


class _Group(click.Group):
    """Turns library errors into one line naming the next step, and a non-zero exit."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except ChallengeQAError as e:
            click.secho(f"Error: {e.explain()}", err=True, fg="red")
            sys.exit(1)
        except KeyboardInterrupt:
            # only a build has an index to leave unchanged
            click.echo("Interrupted; the previous index is unchanged." if _BUILDING
                       else "Interrupted.", err=True)
            sys.exit(130)


#: True while this process runs a build (``index``, or the first build of ``ask``/``serve``).
_BUILDING = False


def _settings(corpus=None, index=None, **extra) -> Settings:
    return Settings.from_env(corpus_dir=corpus, index_dir=index, **extra)


corpus_opt = click.option("--corpus", type=click.Path(path_type=Path),
                          help="Folder or file of articles [default: docs_corpus, or "
                               "CHALLENGE_QA_CORPUS].")
index_opt = click.option("--index", type=click.Path(path_type=Path),
                         help="Index folder [default: index, or CHALLENGE_QA_INDEX].")


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="challenge-qa")
def cli():
    """Ask questions of a folder of news articles and get cited source snippets."""


@cli.command("index")
@corpus_opt
@index_opt
@click.option("--full", is_flag=True, help="Re-embed every article instead of only new or "
                                           "changed ones.")
def index_cmd(corpus, index, full):
    """Build or update the search index from the corpus."""
    s = _settings(corpus, index)
    report = _build(s, full)
    _print_skipped(report.skipped)
    click.echo(
        f"Indexed {report.articles} article(s) into {report.index_dir}: {report.added} added, "
        f"{report.changed} changed, {report.removed} removed, {report.unchanged} unchanged; "
        f"{report.passages} passages ({report.embedded_passages} embedded) in "
        f"{report.seconds:.1f} s.")


def _build(s: Settings, full: bool = False):
    from .store import build_index

    global _BUILDING
    click.echo(f"Indexing {s.corpus_dir} ...", err=True)
    _BUILDING = True  # left set if Ctrl-C interrupts the build
    report = build_index(s.corpus_dir, s.index_dir, full=full, settings=s)
    _BUILDING = False
    return report


def _print_skipped(skipped: list[str]) -> None:
    for reason in skipped:
        click.secho(f"Warning: {reason}", err=True, fg="yellow")


def _explicit_corpus(corpus) -> Path | None:
    """The corpus the user named (flag or environment); None means "the one indexed"."""
    import os

    named = corpus or os.environ.get("CHALLENGE_QA_CORPUS")
    return Path(named) if named else None


def _ensure_index(s: Settings, corpus=None):
    """Load the index, building it first when there is none yet; warn when stale."""
    from .store import get_index

    try:
        idx = get_index(s)
    except IndexNotFoundError:
        click.echo(f"No index in {s.index_dir} yet.", err=True)
        _print_skipped(_build(s).skipped)
        idx = get_index(s)
    stale = idx.staleness(_explicit_corpus(corpus))
    if stale.stale:
        click.secho(f"Note: the index is {stale.describe()}", err=True, fg="yellow")
    return idx


@cli.command()
@click.argument("question")
@click.option("-k", "k", type=int, default=None, help="How many snippets [default: 5].")
@click.option("--per-article", is_flag=True, help="At most one snippet per article.")
@click.option("--json", "as_json", is_flag=True, help="Print asdict(answer) as JSON.")
@corpus_opt
@index_opt
def ask(question, k, per_article, as_json, corpus, index):
    """Ask a question: the short answer, the cited sentences, then their sources."""
    from .answer import answer
    from .retrieval import check_k, clean_question

    s = _settings(corpus, index)
    k = check_k(s.k if k is None else k)
    clean_question(question, s.max_question_chars)  # refuse a bad question before any build
    idx = _ensure_index(s, corpus)
    a = answer(question, k=k, index=idx, per_article=per_article)
    if as_json:
        click.echo(json.dumps(asdict(a), ensure_ascii=False, indent=2))
        return
    if a.query != a.question:
        click.secho(f"Searched: {a.query}", dim=True)
    if a.found and a.short is not None:
        click.secho(' '.join(a.short.split()), bold=True)
    click.echo(textwrap.fill(a.text, 100))
    click.echo()
    if a.found:
        _print_hits(a.citations, "Sources:")
    elif a.hits:
        _print_hits(a.hits, "Closest passages (they do not answer the question):")


def _print_hits(hits, heading: str) -> None:
    click.secho(heading, bold=True)
    for n, h in enumerate(hits, 1):
        meta = ", ".join(x for x in (h.source, h.date) if x)
        click.secho(f"[{n}] {h.title}" + (f" ({meta})" if meta else ""), bold=True)
        click.echo(f"    {h.doc_id}, passage {h.passage_id}, chars {h.start}-{h.end}, "
                   f"score {h.score:.3f}")
        # a hard-wrapped article's sentence holds line breaks: shown on one line
        click.echo(f"    > {' '.join(h.sentence.split())}  "
                   f"[chars {h.sentence_start}-{h.sentence_end}]")
        click.echo(textwrap.indent(textwrap.fill(h.text, 96), "      "))
        click.echo()


@cli.command()
@corpus_opt
@index_opt
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def status(corpus, index, as_json):
    """Show where the index is, what built it, and whether it is stale."""
    from .store import read_manifest

    s = _settings(corpus, index)
    m = read_manifest(s.index_dir)
    stale = None
    try:
        from .store import load_index

        stale = load_index(s.index_dir, settings=s).staleness(_explicit_corpus(corpus))
        problem = None
    except ChallengeQAError as e:
        problem = e.explain()
    info = {
        "index": str(s.index_dir), "corpus": str(_explicit_corpus(corpus) or m.get("corpus")),
        "model": m.get("model"),
        "dimension": m.get("dimension"), "chunking": m.get("chunking"),
        "built_at": m.get("built_at"), "format_version": m.get("format_version"),
        "articles": m["counts"].get("articles"), "passages": m["counts"].get("passages"),
        "reader": _reader_version(),
        "stale": None if stale is None else stale.stale,
        "state": problem or (stale.describe() if stale else "unknown"),
    }
    if as_json:
        click.echo(json.dumps(info, indent=2))
        return
    width = max(map(len, info))
    for key, value in info.items():
        click.echo(f"{key:<{width}}  {value}")


def _reader_version() -> str:
    """The answer reader's version+hash, or what is wrong with it."""
    from .reader import get_reader

    try:
        return get_reader().version
    except ChallengeQAError as e:
        return e.explain()


@cli.command("eval")
@click.option("--corpus", type=click.Path(path_type=Path, exists=True, dir_okay=False),
              required=True, help="BEIR corpus.jsonl.")
@click.option("--queries", type=click.Path(path_type=Path, exists=True, dir_okay=False),
              required=True, help="BEIR queries.jsonl.")
@click.option("--qrels", type=click.Path(path_type=Path, exists=True, dir_okay=False),
              required=True, help="BEIR qrels .tsv (only its queries are asked).")
@index_opt
@click.option("--run", "run_path", type=click.Path(path_type=Path),
              help="Write the run (query -> article -> score) as JSON here.")
@click.option("--full", is_flag=True, help="Rebuild the evaluation index from scratch.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def eval_cmd(corpus, queries, qrels, index, run_path, full, as_json):
    """Score retrieval on a BEIR data set: nDCG@10, Recall@10/100, MRR@10."""
    from .evaluation import evaluate

    s = Settings.from_env()
    report = evaluate(corpus, queries, qrels, index_dir=index, settings=s, run_path=run_path,
                      rebuild=full)
    if as_json:
        click.echo(json.dumps(asdict(report), indent=2))
        return
    click.echo(f"{report.queries} queries, index {report.index_dir}")
    for name, value in report.metrics.items():
        click.echo(f"{name:<11} {value:.4f}")


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Use 0.0.0.0 only to expose the chat on purpose.")
@click.option("--port", default=7860, show_default=True, type=int, help="Port to listen on.")
@click.option("--auth", envvar="CHALLENGE_QA_AUTH", metavar="USER:PASSWORD",
              help="Require this login (also CHALLENGE_QA_AUTH).")
@corpus_opt
@index_opt
def serve(host, port, auth, corpus, index):
    """Start the web chat (builds the index first if there is none)."""
    from .ui import launch

    login = None
    if auth:
        user, sep, password = auth.partition(":")
        if not (sep and user and password):
            raise click.BadParameter("expected USER:PASSWORD", param_hint="--auth")
        login = (user, password)
    s = _settings(corpus, index)
    if host not in ("127.0.0.1", "localhost", "::1"):
        click.secho(f"Warning: listening on {host}: the chat is reachable from other "
                    "machines.", err=True, fg="yellow")
    click.echo(f"Serving {s.corpus_dir} on http://{host}:{port}", err=True)
    launch(s, host=host, port=port, auth=login)


def main() -> None:
    cli(prog_name="challenge-qa")


if __name__ == "__main__":
    main()
