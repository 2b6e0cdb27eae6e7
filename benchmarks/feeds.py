"""Feeds: one poll of a 200-item news feed into an index of 20k and one of 200k passages.

    python -m benchmarks --only feeds [--quick] [--repeats N]
    python -m benchmarks.feeds [--quick] [--repeats N] [--items N] [--data DIR] [--out DIR]

A corpus subscribed to one RSS feed served on 127.0.0.1 (``allow_private_urls``) by a
``http.server`` in this process, whose items link to article pages on the same server.
Each repeat publishes a new batch of ``ITEMS`` items (200; ``--quick`` 20) and times
``Engine.poll(force=True)``: the feed fetched, each item's page fetched, its article
extracted (trafilatura) and saved as a corpus file, then the one incremental build that
indexes them. The two sizes take turns (which goes first alternates), so that the
machine's state weighs on both alike; the figure is the median over the repeats, and
the target is that the larger index costs about the same (at most 1.5x), since the build
is incremental.

Corpora and indexes are those of ``benchmarks/scale.py`` (SQuAD dev sentences recombined
into articles in JSONL day files; vectors from its ``StandInEncoder``, no model loaded);
the poll's build embeds with the same stand-in. Before the timed polls, one poll of the
feed with no items makes the corpus's fingerprints (the text hash and address of every
article, which a poll checks new items against; kept in the corpus afterwards): timed
and reported apart, as "first poll". A poll that finds nothing new is timed too.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import argparse  # noqa: E402
import contextlib  # noqa: E402
import html  # noqa: E402
import http.server  # noqa: E402
import random  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from email.utils import formatdate  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from challenge_qa.eval.data import squad_path  # noqa: E402
from challenge_qa.testing import http_server  # noqa: E402

from .common import (  # noqa: E402
    Context,
    Target,
    data_root,
    load_avg,
    print_table,
    print_targets,
    section,
    workdir,
    write_results,
)
from .scale import StandInEncoder, make_article, squad_sentences, write_corpus  # noqa: E402

NAME = "feeds"
SIZES = (20_000, 200_000)
QUICK_SIZES = (1_000, 10_000)
ITEMS = 200
QUICK_ITEMS = 20
REPEATS = 5
QUICK_REPEATS = 3
DAY_ARTICLES = 2_000
QUICK_DAY_ARTICLES = 500
RATIO_LIMIT = 1.5
#: A folder to keep the base corpora and indexes in between runs (each run polls into
#: hard-linked copies of them, so they stay as built).
WORKDIR_ENV = "CHALLENGE_QA_FEEDS_WORKDIR"
FEED = "/feeds/news.xml"


# --------------------------------------------------------------------------- the site

class NewsSite:
    """Routes (path -> content type, body) served on 127.0.0.1 by ``serve``."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple[str, bytes]] = {}
        self.base = ""
        self.requests = 0

    def url(self, path: str) -> str:
        return self.base + path

    def publish(self, batch: str, records: list[dict]) -> list[str]:
        """Pages for ``records`` and a feed listing exactly them; returns their paths."""
        paths = []
        items = []
        for i, rec in enumerate(records):
            path = f"/news/{batch}/{i:04d}"
            paths.append(path)
            self.routes[path] = ("text/html; charset=utf-8", page(rec))
            date = formatdate(1_714_640_400 + i * 60, usegmt=True)
            items.append(f"<item><title>{html.escape(rec['title'])}</title>"
                         f"<link>{self.url(path)}</link>"
                         f'<guid isPermaLink="false">{batch}-{i}</guid>'
                         f"<pubDate>{date}</pubDate>"
                         f"<description>{html.escape(rec['title'])}</description></item>")
        self.routes[FEED] = ("application/rss+xml", (
            '<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"><channel>'
            "<title>Benchmark Gazette</title><link>http://news.example/</link>"
            "<description>news</description>" + "".join(items)
            + "</channel></rss>\n").encode())
        return paths


def page(rec: dict) -> bytes:
    """A news page: navigation, the article (title, paragraphs), a footer."""
    paras = "".join(f"<p>{html.escape(p)}</p>\n" for p in rec["text"].split("\n\n"))
    title = html.escape(rec["title"])
    return (f"<!doctype html><html><head><title>{title}</title>"
            '<meta property="og:site_name" content="Benchmark Gazette">'
            f'<meta property="article:published_time" content="{rec["date"]}T08:00:00Z">'
            "</head><body><nav><a href='/'>Home</a> <a href='/news'>News</a></nav>"
            f"<article><h1>{title}</h1>\n{paras}</article>"
            "<footer>Copyright the publisher.</footer></body></html>").encode()


@contextmanager
def serve(site: NewsSite) -> Iterator[NewsSite]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            site.requests += 1
            route = site.routes.get(self.path)
            if route is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", route[0])
            self.send_header("Content-Length", str(len(route[1])))
            self.end_headers()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(route[1])

        def log_message(self, *args):
            pass

    with http_server(Handler) as server:
        site.base = f"http://127.0.0.1:{server.server_port}"
        yield site


# --------------------------------------------------------------------------- steps

def settings_for(corpus: Path, index: Path, items: int):
    from challenge_qa.config import Settings

    return Settings(corpus_dir=corpus, index_dir=index, show_progress=False,
                    allow_private_urls=True, max_feed_items=items,
                    model=StandInEncoder.name)


def base_index(work: Path, n: int, day: int, titles, pools) -> dict[str, Any]:
    """The corpus of about ``n`` passages and its index (kept in ``work`` when it was
    made before with the same figures)."""
    from challenge_qa import build_index
    from challenge_qa.store.manifest import read_manifest_quiet

    corpus, index = work / f"corpus-{n}-d{day}", work / f"index-{n}-d{day}"
    done = work / f"corpus-{n}-d{day}.done"
    manifest = read_manifest_quiet(index)
    if manifest and done.is_file():
        print(f"  {n:,}: kept from an earlier run ({manifest['counts']['passages']:,} "
              "passages)", flush=True)
        return {"passages": manifest["counts"]["passages"],
                "articles": manifest["counts"]["articles"], "build_s": None,
                "corpus": corpus, "index": index}
    shutil.rmtree(corpus, ignore_errors=True)
    shutil.rmtree(index, ignore_errors=True)
    made = write_corpus(corpus, n, day, titles, pools)
    print(f"  {n:,}: corpus of {made['files']} files, {made['articles']:,} articles; "
          "building ...", flush=True)
    t0 = time.perf_counter()
    r = build_index(corpus, index, settings=settings_for(corpus, index, 1),
                    embedder=StandInEncoder())
    done.write_text("built\n", "utf-8")
    return {"passages": r.passages, "articles": r.articles,
            "build_s": round(time.perf_counter() - t0, 1), "corpus": corpus, "index": index}


def linked_copy(src: Path, dst: Path) -> None:
    """A copy of ``src`` by hard links: the corpus's files are only added and replaced
    (never written in place), an index's segments never change once written."""
    shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(src, dst, copy_function=os.link)


def warm_up(site: NewsSite, rec: dict) -> None:
    from challenge_qa.corpus.fetch import extract_article, fetch

    site.routes["/warm-up"] = ("text/html; charset=utf-8", page(rec))
    extract_article(fetch(site.url("/warm-up"), timeout=20, max_bytes=2**20,
                          allow_private=True))


def timed_poll(engine, *, expect: int) -> dict[str, Any]:
    """``engine.poll(force=True)``, split into the poll itself and its build."""
    took: list[float] = []
    build = engine.build

    def timed_build(*args, **kwargs):
        t = time.perf_counter()
        try:
            return build(*args, **kwargs)
        finally:
            took.append(time.perf_counter() - t)

    engine.build = timed_build
    os.sync()  # the poll's fsyncs wait for no earlier writes
    try:
        t0 = time.perf_counter()
        report = engine.poll(force=True)
        wall = time.perf_counter() - t0
    finally:
        del engine.build
    (rep,) = report.sources
    assert rep.error is None and not rep.refused, rep
    assert rep.added == expect and len(took) == (1 if expect else 0), (rep, took)
    return {"s": round(wall, 3), "build_s": round(sum(took), 3),
            "fetch_save_s": round(wall - sum(took), 3), "added": rep.added}


# --------------------------------------------------------------------------- run

def run(ctx: Context, items: int | None = None) -> dict[str, Any]:
    from challenge_qa.corpus.sources import add_source
    from challenge_qa.engine import Engine

    sizes = QUICK_SIZES if ctx.quick else SIZES
    if ctx.limit:
        sizes = (max(1_000, ctx.limit // 10), ctx.limit)
    items = items or (QUICK_ITEMS if ctx.quick else ITEMS)
    repeats = ctx.repeats if ctx.repeats > 1 else (QUICK_REPEATS if ctx.quick else REPEATS)
    day = QUICK_DAY_ARTICLES if ctx.quick else DAY_ARTICLES
    titles, pools, _ = squad_sentences(squad_path(ctx.data))
    section(f"feeds: one poll of {items} new items into indexes of "
            f"{' and '.join(f'{n:,}' for n in sizes)} passages, {repeats} repeats "
            "(stand-in encoder)")
    t_all = time.perf_counter()
    with workdir(WORKDIR_ENV, "challenge_qa_feeds_") as work:
        rows, bases = [], []
        for n in sizes:
            base = base_index(work, n, day, titles, pools)
            bases.append(base)
            rows.append({"target_passages": n, "passages": base["passages"],
                         "articles": base["articles"], "base_build_s": base["build_s"],
                         "polls": [], "idle_polls": []})
        site = NewsSite()
        rng = random.Random(ctx.seed)
        with serve(site), contextlib.ExitStack() as engines:
            runs = []
            for row, base in zip(rows, bases, strict=True):
                n = row["target_passages"]
                corpus, index = work / f"run-corpus-{n}", work / f"run-index-{n}"
                linked_copy(base["corpus"], corpus)
                linked_copy(base["index"], index)
                add_source(corpus, site.url(FEED), name="news")
                engine = engines.enter_context(Engine(settings_for(corpus, index, items),
                                                      embedder=StandInEncoder()))
                runs.append(engine)
            # fetching and extracting a page once first (imports, caches), so that no
            # size pays it in its first timed poll
            warm_up(site, make_article(rng, "warm-up", "warm-up", titles, pools,
                                       "2025-03-01")[0])
            # the first poll: a feed without items; every article is fingerprinted
            site.publish("empty", [])
            for row, engine in zip(rows, runs, strict=True):
                row["first_poll"] = timed_poll(engine, expect=0)
                print(f"  {row['passages']:,}: first poll (fingerprints of the corpus) "
                      f"{row['first_poll']['s']} s", flush=True)
            for r in range(repeats):
                records = [make_article(rng, f"feed-{r}-{i}", f"feed story {r}-{i}", titles,
                                        pools, "2025-03-01")[0] for i in range(items)]
                site.publish(f"batch{r}", records)
                turn = list(zip(rows, runs, strict=True))
                for row, engine in turn if r % 2 == 0 else turn[::-1]:
                    before = engine.index().manifest["counts"]["articles"]
                    got = timed_poll(engine, expect=items)
                    after = engine.index().manifest["counts"]["articles"]
                    assert after == before + items, (before, after)
                    got["load_avg"] = load_avg()
                    row["polls"].append(got)
                    # the same feed again: nothing new, nothing built
                    row["idle_polls"].append(timed_poll(engine, expect=0))
                    print(f"  {row['passages']:,} repeat {r + 1}: {got['s']} s (fetch and "
                          f"save {got['fetch_save_s']} s, build {got['build_s']} s); "
                          f"nothing new {row['idle_polls'][-1]['s']} s", flush=True)
        for row in rows:
            polls = row["polls"]
            row["poll_build_median_s"] = round(statistics.median(p["s"] for p in polls), 3)
            row["fetch_save_median_s"] = round(
                statistics.median(p["fetch_save_s"] for p in polls), 3)
            row["build_median_s"] = round(statistics.median(p["build_s"] for p in polls), 3)
            row["per_article_ms"] = round(row["poll_build_median_s"] / items * 1000, 1)
            row["idle_poll_median_s"] = round(
                statistics.median(p["s"] for p in row["idle_polls"]), 3)
            if not os.environ.get(WORKDIR_ENV):
                continue
            for name in (f"run-corpus-{row['target_passages']}",
                         f"run-index-{row['target_passages']}"):
                shutil.rmtree(work / name, ignore_errors=True)
    small, big = rows[0], rows[-1]
    ratio = big["poll_build_median_s"] / small["poll_build_median_s"]
    section("feeds: poll + build of the new items, medians")
    print_table(["passages", "articles", "poll + build", "fetch + save", "build",
                 "per new article", "nothing new", "first poll"],
                [[f"{r['passages']:,}", f"{r['articles']:,}", f"{r['poll_build_median_s']} s",
                  f"{r['fetch_save_median_s']} s", f"{r['build_median_s']} s",
                  f"{r['per_article_ms']} ms", f"{r['idle_poll_median_s']} s",
                  f"{r['first_poll']['s']} s"] for r in rows])
    targets = [Target(f"poll + build of {items} items, {big['passages']:,} / "
                      f"{small['passages']:,} passages", ratio, RATIO_LIMIT,
                      f"{big['poll_build_median_s']} s vs {small['poll_build_median_s']} s, "
                      f"medians of {repeats}")]
    section("feeds targets")
    print_targets(targets)
    payload = {"items": items, "repeats": repeats,
               "encoder": "stand-in (benchmarks/scale.py StandInEncoder), no model",
               "corpus": "SQuAD dev sentences recombined into articles (benchmarks/scale.py),"
                         " JSONL day files; feed items: new articles of the same kind, one "
                         "HTML page each on 127.0.0.1",
               "settings": {"max_feed_items": items, "allow_private_urls": True},
               "sizes": rows, "ratio": round(ratio, 3),
               "runtime_s": round(time.perf_counter() - t_all, 1),
               "targets": [t.as_dict() for t in targets],
               "passed": all(t.passed for t in targets)}
    write_results(ctx, NAME, payload)
    return payload


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.feeds",
                                 description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true",
                    help=f"indexes of {QUICK_SIZES[0]:,} and {QUICK_SIZES[1]:,} passages, "
                         f"{QUICK_ITEMS} items")
    ap.add_argument("--items", type=int, help=f"items per poll [default: {ITEMS}]")
    ap.add_argument("--repeats", type=int, default=1,
                    help=f"polls per size [default: {REPEATS}, {QUICK_REPEATS} with --quick]")
    ap.add_argument("--data", type=Path, help="benchmark data folder (SQuAD)")
    ap.add_argument("--out", type=Path, default=None, help="where to write results JSON")
    args = ap.parse_args(argv)
    ctx = Context(data=data_root(args.data), quick=args.quick, repeats=args.repeats,
                  **({"out": args.out.resolve()} if args.out else {}))
    result = run(ctx, items=args.items)
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
