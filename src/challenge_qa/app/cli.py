"""The ``challenge-qa`` command: a thin layer over the Python API."""

from __future__ import annotations

import json
import sys
import textwrap
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click

from ..config import Settings
from ..errors import ChallengeQAError, IndexNotFoundError
from ..formats import file_types


class _Group(click.Group):
    """Turns library errors into one line naming the next step, and a non-zero exit."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except ChallengeQAError as e:
            click.secho(f"Error: {e.explain()}", err=True, fg="red")
            sys.exit(1)
        except KeyboardInterrupt as e:
            # only a build has an index to leave unchanged
            click.echo("Interrupted; the index keeps what the build had committed: run "
                       "challenge-qa index to continue." if isinstance(e, BuildInterrupted)
                       else "Interrupted.", err=True)
            sys.exit(130)


class BuildInterrupted(KeyboardInterrupt):
    """Ctrl-C during a build (``index``, or the first build of ``ask``/``serve``)."""


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
@click.option("--full", is_flag=True, help="Rebuild every article instead of only new or "
                                           "changed ones (the old index answers meanwhile).")
@click.option("--optimize", is_flag=True, help="Then merge all segments into one, purging "
                                               "deleted rows.")
@click.option("--ray", "ray", metavar="[ADDRESS]", is_flag=False, flag_value="local",
              default=None, help="Chunk and embed on Ray: a local cluster, or the cluster at "
                                 "ADDRESS (also CHALLENGE_QA_RAY). Needs challenge-qa[ray].")
@click.option("--shards", type=click.IntRange(1, 1024), default=None, metavar="N",
              help="Group the segments into N shards by publication date, for serve --ray "
                   "(also CHALLENGE_QA_SHARDS) [default: the index's, 1 for a new one].")
def index_cmd(corpus, index, full, optimize, ray, shards):
    """Build or update the search index from the corpus."""
    s = _settings(corpus, index, ray=ray, shards=shards)
    _print_build(_build(s, full))
    if optimize:
        from ..store.merging import optimize as run_optimize

        t0 = time.perf_counter()
        n = run_optimize(s.index_dir, settings=s)
        one = "into one segment" + (" per shard" if (s.shards or 1) > 1 else "")
        click.echo(f"Optimized: {'merged ' + one if n else 'already one segment'} "
                   f"in {time.perf_counter() - t0:.1f} s.")
    if s.shards:
        from ..store.merging import reshard

        plan = reshard(s.index_dir, s.shards, settings=s)
        click.echo(f"Shards: {_describe_shards(plan['groups'])}.")


def _describe_shards(groups: list[dict]) -> str:
    """One phrase per shard: its passages and publication dates."""
    def one(i: int, g: dict) -> str:
        dates = f"{g['first']} to {g['last']}" if g.get("first") else "no dates"
        return (f"{i + 1}: {g['passages']:,} passages in {len(g['segments'])} segment(s), "
                f"{dates}")

    return "; ".join(one(i, g) for i, g in enumerate(groups))


def _print_build(report) -> None:
    _print_skipped(report.skipped)
    merged = f", {report.merges} merge(s)" if report.merges else ""
    click.echo(
        f"Indexed {report.articles} article(s) into {report.index_dir}: {report.added} added, "
        f"{report.changed} changed, {report.removed} removed, {report.unchanged} unchanged; "
        f"{report.passages} passages ({report.embedded_passages} embedded) in "
        f"{report.segments} segment(s){merged}, {report.seconds:.1f} s.")


def _build(s: Settings, full: bool = False):
    from ..engine import default_engine

    click.echo(f"Indexing {s.corpus_dir} ...", err=True)
    try:
        return default_engine(s).build(full)
    except KeyboardInterrupt:
        raise BuildInterrupted from None


def _first_build(s: Settings) -> None:
    """Build the first index; when another process (the chat, another ``ask``) is
    building it already, wait for that build instead of failing, then use its index."""
    from ..errors import IndexLockedError
    from ..store.manifest import build_running, read_manifest_quiet

    while True:
        try:
            _print_skipped(_build(s).skipped)
            return
        except IndexLockedError:
            pass
        click.echo(f"Another process is building {s.index_dir}; waiting for it ...", err=True)
        while build_running(Path(s.index_dir)):
            time.sleep(0.5)
        if read_manifest_quiet(Path(s.index_dir)):
            return
        # that build left no index (it failed or was stopped): build it here


def _print_skipped(skipped: list[str]) -> None:
    for reason in skipped:
        click.secho(f"Warning: {reason}", err=True, fg="yellow")


def _explicit_corpus(corpus) -> Path | None:
    """The corpus the user named (flag or environment); None means "the one indexed"."""
    from ..config import named_in_env

    named = corpus or named_in_env("corpus_dir")
    return Path(named) if named else None


def _ensure_index(s: Settings, corpus=None):
    """Load the index, building it first when there is none yet; warn when stale."""
    from ..engine import get_index

    try:
        idx = get_index(s)
    except IndexNotFoundError:
        click.echo(f"No index in {s.index_dir} yet.", err=True)
        _first_build(s)
        idx = get_index(s)
    stale = idx.staleness(_explicit_corpus(corpus))
    if stale.stale:
        click.secho(f"Note: the index is {stale.describe()}", err=True, fg="yellow")
    return idx


def filter_opts(f):
    """--since, --until, --source (and --as-of where it applies) for a command."""
    f = click.option("--source", "sources", multiple=True, metavar="NAME",
                     help="Only articles of this publisher (repeat for several).")(f)
    f = click.option("--until", metavar="DATE",
                     help="Only articles published on or before DATE (YYYY[-MM[-DD]]).")(f)
    f = click.option("--since", metavar="DATE",
                     help="Only articles published on or after DATE (YYYY[-MM[-DD]]).")(f)
    return f


@cli.command()
@click.argument("question")
@click.option("-k", "k", type=int, default=None, help="How many snippets [default: 5].")
@click.option("--per-article", is_flag=True, help="At most one snippet per article.")
@click.option("--json", "as_json", is_flag=True,
              help="Print the answer as JSON (Answer.to_dict, as the API returns it).")
@click.option("--markdown", "as_markdown", is_flag=True,
              help="Print the answer as Markdown with footnotes for its sources.")
@click.option("-v", "--passages", "passages", is_flag=True,
              help="Also print the whole passages the cited sentences come from.")
@filter_opts
@click.option("--as-of", "as_of", metavar="DATE",
              help="Answer from what was published by DATE (YYYY[-MM[-DD]]).")
@corpus_opt
@index_opt
def ask(question, k, per_article, as_json, as_markdown, passages, since, until, sources,
        as_of, corpus, index):
    """Ask a question: the short answer, the cited sentences, then their sources.

    Each quoted sentence is shown once with its article; -v adds the whole passages."""
    from ..engine import answer
    from ..search.index import Filters
    from ..search.retrieve import check_k, clean_question

    s = _settings(corpus, index)
    k = check_k(s.k if k is None else k)
    clean_question(question, s.max_question_chars)  # refuse a bad question before any build
    Filters.make(since, until, sources, as_of)  # and bad dates
    idx = _ensure_index(s, corpus)
    a = answer(question, k=k, index=idx, per_article=per_article, since=since, until=until,
               sources=sources, as_of=as_of)
    if as_json:
        click.echo(json.dumps(a.to_dict(), ensure_ascii=False, indent=2))
        return
    if as_markdown:
        from .markdown import answer_markdown

        click.echo(answer_markdown(a), nl=False)
        return
    _print_answer(a, passages)


def _print_answer(a, passages: bool = False) -> None:
    """The short answer, the cited sentences, then their sources (the text of ``ask``)."""
    if a.query != a.question:
        click.secho(f"Searched: {a.query}", dim=True)
    if a.found and a.short is not None:
        click.secho(' '.join(a.short.split()), bold=True)
    click.echo(textwrap.fill(a.text, 100))
    for n, st in enumerate(a.statements, 1):
        if st.articles > 1:
            click.secho(f"  statement {n}: stated by {st.articles} articles: "
                        f"{', '.join(st.sources)}", dim=True)
    if a.filters:
        click.secho("Filters: " + "; ".join(
            f"{k} {', '.join(v) if isinstance(v, list) else v}" for k, v in a.filters.items()),
            dim=True)
    click.echo()
    if a.found:
        _print_citations(a.citations)
    elif a.hits:
        _print_closest(a.hits)
    if passages:
        _print_passages(a.citations if a.found else a.hits)


@cli.command("chat")
@click.option("-k", type=int, default=None, help="How many sources to show per answer.")
@filter_opts
@corpus_opt
@index_opt
def chat_cmd(k, since, until, sources, corpus, index):
    """Ask questions one after another, each answered as by ask.

    A follow-up is read against the answers before it ("Who plays the patient?", then "Is
    he a real cosmonaut?"), as in the web chat. An empty line or Ctrl-D ends the chat."""
    from ..answering.conversation import Conversation
    from ..engine import default_engine
    from ..search.index import Filters
    from ..search.retrieve import check_k

    s = _settings(corpus, index)
    k = check_k(s.k if k is None else k)
    Filters.make(since, until, sources)  # bad dates are refused before any build
    _ensure_index(s, corpus)
    engine = default_engine(s)
    conversation = Conversation()
    while True:
        try:
            question = click.prompt("Question", default="", show_default=False,
                                    prompt_suffix="> ", err=True)
        except (EOFError, click.Abort):
            break
        if not question.strip():
            break
        try:
            a = engine.answer(question, history=conversation, k=k, since=since, until=until,
                              sources=sources)
        except ChallengeQAError as e:  # a bad question ends nothing: say why, ask again
            click.secho(f"Error: {e.explain()}", err=True, fg="red")
            continue
        conversation.add(a.question, a.query, a)
        _print_answer(a)
        click.echo()


def _source_line(h) -> str:
    meta = ", ".join(x for x in (h.source, h.date) if x)
    where = f"{h.passage_id}" + (f", page {h.page}" if h.page else "")
    return f"{h.title}" + (f" ({meta})" if meta else "") + f"; {where}"


def _print_citations(hits) -> None:
    """Each cited sentence once, with the article it is quoted from."""
    click.secho("Sources:", bold=True)
    for n, h in enumerate(hits, 1):
        # a hard-wrapped article's sentence holds line breaks: shown on one line
        click.echo(textwrap.fill(f"[{n}] \u201c{' '.join(h.sentence.split())}\u201d", 100,
                                 subsequent_indent="    "))
        click.secho(textwrap.fill(f"{_source_line(h)}, chars {h.sentence_start}-"
                                  f"{h.sentence_end}", 100, initial_indent="    ",
                                  subsequent_indent="    "), dim=True)


def _print_closest(hits) -> None:
    click.secho("Closest passages (they do not answer the question):", bold=True)
    for n, h in enumerate(hits, 1):
        click.echo(textwrap.fill(f"[{n}] {_source_line(h)}, score {h.score:.3f}", 100,
                                 subsequent_indent="    "))
        click.echo(textwrap.fill(f"> {' '.join(h.sentence.split())}", 100,
                                 initial_indent="    ", subsequent_indent="      "))


def _print_passages(hits) -> None:
    """The whole passages the hits come from, each once, naming the hits it holds."""
    held: dict[str, tuple[Any, list[int]]] = {}
    for n, h in enumerate(hits, 1):
        held.setdefault(h.passage_id, (h, []))[1].append(n)
    for pid, (h, nums) in held.items():
        click.echo()
        click.secho("".join(f"[{n}]" for n in nums) + f" passage {pid}, chars "
                    f"{h.start}-{h.end}, score {h.score:.3f}", bold=True)
        click.echo(textwrap.indent(textwrap.fill(h.text, 96), "    "))


@cli.command("add", epilog=f"Supported files: {file_types('and')}.")
@click.argument("items", nargs=-1, required=True, metavar="PATH_OR_URL...")
@corpus_opt
@index_opt
@click.option("--no-index", is_flag=True, help="Only save the articles; do not update the "
                                                "index.")
@click.pass_context
def add_cmd(ctx, items, corpus, index, no_index):
    """Add article files or web pages to the corpus, then update the index.

    Files (of the types below) go to <corpus>/uploads/, web pages (http:// or
    https:// addresses) to <corpus>/web/; duplicates are not saved again."""
    from ..corpus.ingest import AddReport, add_files, add_url

    s = _settings(corpus, index)
    report = AddReport()
    files = [Path(i) for i in items if "://" not in i]
    if files:
        report += add_files(files, s.corpus_dir, settings=s)
    for url in (i for i in items if "://" in i):
        report += add_url(url, s.corpus_dir, settings=s)
    for rel in report.saved:
        click.echo(f"Saved {s.corpus_dir / rel}")
    for name, same in report.duplicates:
        click.echo(f"Duplicate: {name} is already in the corpus as {s.corpus_dir / same}; "
                   "not saved again.")
    for name, why in report.refused:
        click.secho(f"Refused {name}: {why}", err=True, fg="red")
    if report.saved and not no_index:
        _print_build(_build(s))
    if report.refused:
        ctx.exit(1)


@cli.command("timeline")
@click.argument("topic")
@filter_opts
@click.option("--json", "as_json", is_flag=True,
              help="Print the timeline as JSON (Timeline.to_dict).")
@corpus_opt
@index_opt
def timeline_cmd(topic, since, until, sources, as_json, corpus, index):
    """Dated events of the articles about TOPIC, in date order, quoted and cited."""
    from ..answering.timeline import timeline
    from ..search.index import Filters
    from ..search.retrieve import clean_question

    s = _settings(corpus, index)
    clean_question(topic, s.max_question_chars)
    Filters.make(since, until, sources)
    idx = _ensure_index(s, corpus)
    t = timeline(topic, index=idx, since=since, until=until, sources=sources)
    if as_json:
        click.echo(json.dumps(t.to_dict(), ensure_ascii=False, indent=2))
        return
    click.secho(f"Timeline of {t.topic!r}: {len(t.events)} event(s) from {t.articles} "
                "article(s)", bold=True)
    if not t.events:
        click.echo("No dated events found in the articles about this topic.")
    width = max((len(e.label) for e in t.events), default=0)
    for e in t.events:
        who = ", ".join(e.sources)
        click.echo(f"{e.label:<{width}}  {' '.join(e.text.split())}")
        click.secho(f"{'':<{width}}  ({e.precision}; {who}: "
                    + "; ".join(f"{c.doc_id} chars {c.sentence_start}-{c.sentence_end}"
                                for c in e.citations) + ")", dim=True)


@cli.command()
@corpus_opt
@index_opt
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def status(corpus, index, as_json):
    """Show where the index is, what built it, and whether it is stale."""
    from ..store.manifest import read_manifest
    from ..store.shards import groups_of

    s = _settings(corpus, index)
    m = read_manifest(s.index_dir)
    stale = None
    try:
        from ..search.index import load_index

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
        "segments": len(m.get("segments", [])),
        "shards": _describe_shards(groups_of(Path(s.index_dir), m)),
        "deleted_passages": sum(g.get("deleted_passages", 0) for g in m.get("segments", [])),
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
    from ..engine import get_reader

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
    from ..eval.beir import evaluate

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
@click.option("--mcp", is_flag=True, help="Also serve the answer, retrieve and timeline tools "
                                           "over MCP at /gradio_api/mcp/ (needs "
                                           "challenge-qa[mcp]).")
@click.option("--watch", "watch_sources", is_flag=True,
              help="Also poll the corpus's sources (feeds, watched folders) in the "
                   "background, each on its interval.")
@click.option("--ray", "ray", metavar="[ADDRESS]", is_flag=False, flag_value="local",
              default=None, help="Serve the index's shards on Ray Serve: a local cluster, or "
                                 "the cluster at ADDRESS ('auto': the one ray start began "
                                 "here; also CHALLENGE_QA_SERVE_RAY). Needs "
                                 "challenge-qa[ray].")
@click.option("--replicas", type=click.IntRange(1, 64), default=None, metavar="N",
              help="Replicas of each shard on Ray (also CHALLENGE_QA_SHARD_REPLICAS) "
                   "[default: 1].")
@corpus_opt
@index_opt
def serve(host, port, auth, mcp, watch_sources, ray, replicas, corpus, index):
    """Start the web chat (builds the index first if there is none)."""
    from ..engine import Engine
    from .web import folders_allowed, launch

    login = None
    if auth:
        user, sep, password = auth.partition(":")
        if not (sep and user and password):
            raise click.BadParameter("expected USER:PASSWORD", param_hint="--auth")
        login = (user, password)
    s = _settings(corpus, index, serve_ray=ray, shard_replicas=replicas)
    if host not in ("127.0.0.1", "localhost", "::1"):
        click.secho(f"Warning: listening on {host}: the chat is reachable from other "
                    "machines.", err=True, fg="yellow")
    if s.chat_watch_folders and not folders_allowed(s, host, login):
        click.secho("Warning: CHALLENGE_QA_CHAT_WATCH_FOLDERS is ignored: without --auth, a "
                    "chat reachable from other machines subscribes to feeds only.", err=True,
                    fg="yellow")
    click.echo(f"Serving {s.corpus_dir} on http://{host}:{port}", err=True)
    # the background build's start, progress and end, on the terminal
    import logging

    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    service_log = logging.getLogger("challenge_qa.engine")
    service_log.addHandler(handler)
    service_log.setLevel(logging.INFO)
    if mcp:
        click.echo(f"MCP tools (answer, retrieve, timeline) on http://{host}:{port}"
                   "/gradio_api/mcp/", err=True)
    engine = Engine(s)
    if s.serve_ray:
        _deploy_shards(engine)
    if watch_sources:
        click.echo("Watching the sources of sources.toml in the background.", err=True)
        logging.getLogger("challenge_qa.engine").info("watching %d source(s)",
                                                      len(_sources_of(s)))
    launch(engine=engine, host=host, port=port, auth=login, mcp=mcp, watch=watch_sources)


def _deploy_shards(engine) -> None:
    """Deploy the index's shards on Ray before the chat opens (when there is an index
    already; otherwise the first question after the first build deploys them)."""
    from ..store.manifest import read_manifest_quiet
    from ..store.shards import groups_of

    s = engine.settings
    m = read_manifest_quiet(Path(s.index_dir))
    if not m or "segments" not in m:
        return
    groups = groups_of(Path(s.index_dir), m)
    where = "a local Ray cluster" if s.serve_ray == "local" else f"Ray at {s.serve_ray}"
    click.echo(f"Deploying {len(groups)} shard(s) x {s.shard_replicas} replica(s) on "
               f"{where} ...", err=True)
    t0 = time.perf_counter()
    engine.index()
    click.echo(f"Shards ready in {time.perf_counter() - t0:.1f} s: {_describe_shards(groups)}.",
               err=True)


def _sources_of(s: Settings):
    from ..corpus.sources import load_sources

    return load_sources(s.corpus_dir)


@cli.group("source")
def source_group():
    """Subscribe the corpus to news feeds (RSS, Atom) and watched folders."""


@source_group.command("add")
@click.argument("url_or_dir")
@click.option("--interval", type=click.IntRange(min=1), default=None, metavar="MINUTES",
              help="Minutes between two polls of this source (default 15).")
@click.option("--name", default=None, help="What to call it (default: from the address).")
@corpus_opt
def source_add(url_or_dir, interval, name, corpus):
    """Subscribe to a feed (http:// or https:// address) or watch a folder; its articles
    arrive with the next poll (challenge-qa watch, or serve --watch)."""
    from ..corpus.sources import add_source

    s = _settings(corpus)
    src = add_source(s.corpus_dir, url_or_dir, name=name,
                     interval=None if interval is None else interval * 60)
    click.echo(f"Added {src.kind} {src.name!r}: {src.url} (every {src.interval // 60} min).")


@source_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@corpus_opt
def source_list(as_json, corpus):
    """Each source, when it was last checked, what it added, and why it failed if it did."""
    from ..corpus.sources import load_sources, load_states

    s = _settings(corpus)
    states = load_states(s.corpus_dir)
    rows = []
    for src in load_sources(s.corpus_dir):
        st = states.get(src.name)
        rows.append({"name": src.name, "kind": src.kind, "url": src.url,
                     "interval": src.interval,
                     "last_checked": st.last_checked if st else None,
                     "last_ok": st.last_ok if st else None,
                     "last_added": st.last_added if st else 0,
                     "added_total": st.added_total if st else 0,
                     "error": st.error if st else None})
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo(f"No sources in {s.corpus_dir}; add one with: challenge-qa source add URL")
    for r in rows:
        checked = r["last_checked"] or "never"
        click.echo(f"{r['name']} ({r['kind']}) {r['url']}")
        click.echo(f"    checked {checked}; {r['last_added']} added by the last poll, "
                   f"{r['added_total']} in all")
        if r["error"]:
            click.secho(f"    failing: {r['error']}", fg="red")


@source_group.command("remove")
@click.argument("url_or_name")
@corpus_opt
def source_remove(url_or_name, corpus):
    """Unsubscribe; the articles it brought stay in the corpus."""
    from ..corpus.sources import remove_source

    s = _settings(corpus)
    gone = remove_source(s.corpus_dir, url_or_name)
    click.echo(f"Removed {gone.kind} {gone.name!r} ({gone.url}).")


@cli.command("watch")
@click.option("--once", is_flag=True, help="Poll every source once, index, and exit.")
@corpus_opt
@index_opt
def watch_cmd(once, corpus, index):
    """Poll the corpus's sources, each on its own interval, and index what they bring
    (one build per poll). Stop with Ctrl-C: nothing is lost or saved twice."""
    from ..engine import default_engine

    s = _settings(corpus, index)
    if not _sources_of(s):
        raise click.UsageError(f"No sources in {s.corpus_dir}: add one with "
                               "challenge-qa source add URL_OR_DIR")
    engine = default_engine(s)
    while True:
        report = engine.poll(force=once)
        text = report.describe()
        if text != "No source was due." or once:
            click.echo(text)
        for r in report.sources:
            for item, why in r.refused:
                click.secho(f"Warning: {r.name}: {item}: {why}", err=True, fg="yellow")
        if once:
            return
        time.sleep(5)


def main() -> None:
    cli(prog_name="challenge-qa")


if __name__ == "__main__":
    main()
