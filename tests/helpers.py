"""Test data and helpers shared by the test modules (imported as ``helpers``)."""

from __future__ import annotations

import shutil
import textwrap
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

from click.testing import CliRunner, Result

from challenge_qa.app.cli import cli
from challenge_qa.config import Settings

ROOT = Path(__file__).resolve().parents[1]
DOCS_CORPUS = ROOT / "docs_corpus"

#: Small passages, so every article of the small corpus has several of them.
SMALL = Settings(chunk_chars=300, overlap_chars=80, show_progress=False, batch_size=16)
#: The defaults (what the CLI uses) without progress bars.
DEFAULT = Settings(show_progress=False)

VOLCANO_MD = textwrap.dedent("""\
    ---
    title: Mount Etna erupts again
    source: Volcano Weekly
    date: 2024-02-11
    url: https://example.org/etna
    ---

    Mount Etna, the tallest active volcano in Europe, erupted on Sunday night. Lava fountains
    rose hundreds of metres above the south-east crater. Ash fell on the city of Catania and
    the airport closed for six hours.

    Volcanologists at the national institute said the eruption was expected. Tremor had been
    rising for a week before the lava broke through. No one was hurt, and the flights resumed
    on Monday morning.
    """)

CHESS_TXT = textwrap.dedent("""\
    Chess prodigy wins the national title
    A twelve-year-old girl from Leeds won the national chess championship on Saturday. She beat
    the defending champion in the final round with a daring queen sacrifice. Her coach said she
    studies endgames for three hours every day.

    The tournament drew two hundred players from across the country. Next year the girl hopes
    to play in the world junior championship in Italy.
    """)

BEES_HTML = textwrap.dedent("""\
    <!doctype html>
    <html><head>
      <title>How honey bees talk</title>
      <meta property="og:site_name" content="Nature Notes">
      <meta property="article:published_time" content="2023-06-01T08:30:00Z">
      <link rel="canonical" href="https://example.org/bees">
      <style>body { color: red; }</style>
      <script>var tracking = "SCRIPTTEXT";</script>
    </head><body>
      <nav>NAVTEXT Home | About</nav>
      <article>
        <h1>How honey bees talk</h1>
        <p>Honey bees tell their hive mates where flowers are with a waggle dance. The angle of
        the dance shows the direction of the food relative to the sun.</p>
        <p>The length of the waggle run tells the distance to the flowers. A forager that found
        rich nectar dances longer and with more energy, so more workers follow her.</p>
      </article>
      <footer>FOOTERTEXT copyright</footer>
    </body></html>
    """)

EXTRA_JSONL = (
    '{"_id": "lighthouse", "title": "Old lighthouse restored", "text": "Volunteers restored '
    'the old lighthouse on Skerry Island. The brass lens was polished and the lamp was lit '
    'again after forty years of darkness. Ships can see its beam from twenty miles away.", '
    '"source": "Coast News", "date": "2022-09-14", "url": "https://example.org/light"}\n'
    '{"id": "marathon", "title": "Marathon record falls", "text": "A runner from Kenya set a '
    'new course record at the city marathon. She trained at high altitude for three months. '
    'The winning time was two hours and seventeen minutes, a minute faster than the old '
    'record."}\n'
)

SMALL_FILES = {
    "volcano.md": VOLCANO_MD,
    "chess.txt": CHESS_TXT,
    "nature/bees.html": BEES_HTML,
    "extra.jsonl": EXTRA_JSONL,
}
SMALL_IDS = {"volcano.md", "chess.txt", "nature/bees.html", "lighthouse", "marathon"}


def write_files(folder: Path, files: dict[str, str | bytes]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        p = folder / name
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            p.write_bytes(content)
        else:
            p.write_text(content, encoding="utf-8")
    return folder


def copy_index(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def invoke(*args, env: dict[str, str] | None = None, input: str | None = None) -> Result:
    """Run the ``challenge-qa`` command line in-process (``input``: what is typed)."""
    return CliRunner().invoke(cli, [str(a) for a in args], env=env, input=input,
                              prog_name="challenge-qa")


def assert_one_error_line(result: Result, *fragments: str) -> str:
    """The command failed with exit 1 and one ``Error:`` line (the last) holding
    ``fragments``, no traceback and nothing on stdout; returns that line."""
    assert result.exit_code == 1, (result.exit_code, result.output, result.exception)
    assert isinstance(result.exception, SystemExit), result.exception
    lines = result.stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("Error:")]
    assert len(errors) == 1 and lines[-1] == errors[0], lines
    assert "Traceback" not in result.output
    assert result.stdout == ""
    for fragment in fragments:
        assert fragment in errors[0], (fragment, errors[0])
    return errors[0]


@contextmanager
def running_chat(corpus: Path, index_dir: Path, **settings):
    """The chat for ``corpus`` on 127.0.0.1 (with these ``Settings`` fields), its index
    built first: yields ``(demo, service, url)`` and closes the server afterwards."""
    from challenge_qa.app.web import launch
    from challenge_qa.engine import Engine

    svc = Engine(Settings(corpus_dir=corpus, index_dir=index_dir, show_progress=False,
                                **settings))
    svc.ensure_index()
    svc.wait()
    assert svc.status().state == "ready", svc.status()
    demo = launch(engine=svc, port=None, block=False, quiet=True)
    assert demo.local_url.startswith("http://127.0.0.1:"), demo.local_url
    try:
        yield demo, svc, demo.local_url
    finally:
        demo.close()


def live_ids(idx) -> Counter:
    """How many live articles of each id the index holds (1 each, if all is well)."""
    out: Counter = Counter()
    for seg in idx.segments:
        for i, aid in seg.query("SELECT idx, id FROM articles ORDER BY idx"):
            if not seg.deleted_articles[i]:
                out[aid] += 1
    return out
