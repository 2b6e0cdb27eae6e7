"""The one owner of state: settings, the embedder, the reader, the loaded index (with its
sentence-vector cache and search threads) and the background build of a server.

``Engine`` is what every way in shares: the web chat and the MCP tools hold one, each CLI
command makes one, and the module functions ``retrieve``, ``answer``, ``timeline`` and
``build_index`` below are thin wrappers over a default one. Below the engine, nothing keeps
state between calls: the layers it calls (``store``, ``search``, ``answering``) are handed
the index, embedder and reader they use.

Example:
    >>> from challenge_qa import Engine, Settings
    >>> from challenge_qa.testing import HashEmbedder, write_corpus
    >>> import tempfile, pathlib
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> corpus = write_corpus(root / "corpus")
    >>> engine = Engine(Settings(corpus_dir=corpus, index_dir=root / "index",
    ...                          show_progress=False), embedder=HashEmbedder())
    >>> engine.build().articles
    3
    >>> engine.retrieve("Where did the lava fall?", k=1)[0].title
    'Mount Etna erupts again'
    >>> engine.close()
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .config import Settings
from .encoders.embedding import Embedder, make_embedder
from .encoders.reader import Reader, reader_dir
from .errors import (
    BuildCancelledError,
    ChallengeQAError,
    IndexChangedError,
    IndexNotFoundError,
)
from .search.dense import SearchPool, search_threads
from .search.index import Index, SearchableIndex
from .search.index import load_index as _load_index
from .search.sharded import ShardClient, ShardedIndex
from .store.changes import Staleness
from .store.manifest import MANIFEST, check_compatible, read_manifest

if TYPE_CHECKING:
    from .corpus.watch import PollReport

log = logging.getLogger(__name__)
#: How long a staleness check (which stats every corpus file) is reused by ``status``.
STALE_CHECK_SECONDS = 10.0
PROGRESS_LOG_SECONDS = 10.0


@dataclass(frozen=True)
class Status:
    """Where an engine's index stands: ``state`` is "ready", "stale", "building", "error"
    or "missing"; ``message`` says it in a sentence for the chat's status line."""

    state: str
    message: str
    stale: Staleness | None = None
    #: While building: what the build has embedded so far, as a sentence ("" before the
    #: first batch); the message ends with it.
    done: str = ""


class Engine:
    """Settings, models and the current index of one corpus, cheap to ask from many threads.

    Args:
        settings: ``Settings.from_env()`` by default.
        embedder: The passage and question encoder (``challenge_qa.testing.HashEmbedder``
            in tests); by default the settings' model, loaded on first use. Its ``name`` is
            the model the index records.
        reader: The answer reader; by default ``Settings.reader_dir``, or the shipped one.
        shards: Where the index's shards are served (``search.sharded.ShardClient``): then
            the engine asks them instead of loading the segments. By default, with
            ``Settings.serve_ray`` set, the shards are deployed on that Ray cluster
            (``search.ray_shards.RayShards``); without it the engine loads the index.

    Two engines share nothing: each loads its own models, index and search threads.
    """

    def __init__(self, settings: Settings | None = None, *, embedder: Embedder | None = None,
                 reader: Reader | None = None, shards: ShardClient | None = None):
        s = settings or Settings.from_env()
        if embedder is not None:
            s = s.replace(model=embedder.name)
        self.settings = s
        self._embedder = embedder
        self._reader = reader
        self._shards = shards
        self._own_shards = False
        self._pool = SearchPool(search_threads(s))
        self._lock = threading.Lock()
        self._index: tuple[tuple, Index | ShardedIndex] | None = None
        # the background build of a server (``start_build``)
        self._building: threading.Thread | None = None
        self._error: str | None = None
        self._stale: tuple[float, Staleness] | None = None
        self._cancel = threading.Event()
        self._cancelled: str | None = None
        self._progress = (0, 0)  # (articles, passages) the running build has embedded
        self._logged = 0.0
        # the sources' watcher (``start_watch``)
        self._watching: threading.Thread | None = None
        self._stop_watch = threading.Event()
        self._unbuilt = False  # a poll saved articles that no build has indexed yet
        # one poll of the sources at a time (the watcher's, "Check now"'s, ``poll``'s)
        self._poll_lock = threading.Lock()
        self._polling: threading.Thread | None = None  # ``start_poll``'s
        self._last_poll: tuple[float, PollReport] | None = None
        self._closed = threading.Event()

    # ------------------------------------------------------------------ models and index

    @property
    def embedder(self) -> Embedder:
        with self._lock:
            if self._embedder is None:
                s = self.settings
                self._embedder = make_embedder(s.model, device=s.device,
                                               batch_size=s.batch_size, backend=s.backend)
            return self._embedder

    @property
    def reader(self) -> Reader:
        with self._lock:
            if self._reader is None:
                self._reader = Reader(reader_dir(self.settings.reader_dir))
            return self._reader

    def shard_client(self) -> ShardClient | None:
        """The shards' client (made on first use from ``Settings.serve_ray``), or None
        when the index is served by this process."""
        with self._lock:
            if self._shards is None and self.settings.serve_ray:
                from .search.ray_shards import RayShards

                self._shards = RayShards(self.settings.index_dir, self.settings,
                                         self.settings.serve_ray)
                self._own_shards = True
            return self._shards

    def index(self) -> Index | ShardedIndex:
        """The index of ``settings.index_dir``, reloaded when a build has committed a new
        manifest (a cheap ``stat`` per call), so a long-running server picks up a rebuild;
        requests holding the old ``Index`` finish on it. Raises ``IndexNotFoundError``
        while there is none. With shards (``shard_client``), a ``ShardedIndex`` of the
        newest commit, whose shards load that commit when first asked."""
        index_dir = Path(self.settings.index_dir)
        try:
            st = (index_dir / MANIFEST).stat()
            stamp: tuple | None = (st.st_ino, st.st_mtime_ns, st.st_size)
        except OSError:
            stamp = None
        with self._lock:
            cached = self._index
            if cached and stamp and cached[0] == stamp:
                return cached[1]
        client = self.shard_client()
        idx: Index | ShardedIndex
        if client is not None:
            manifest = read_manifest(index_dir)
            check_compatible(manifest, self.settings, index_dir)
            idx = ShardedIndex(index_dir, manifest, self.settings, client,
                               embedder=self.embedder)
            client.ensure(len(idx.groups))
        else:
            idx = _load_index(index_dir, settings=self.settings, embedder=self.embedder,
                              pool=self._pool)
        if stamp:
            with self._lock:
                self._index = (stamp, idx)
        return idx

    def using(self, settings: Settings) -> Engine:
        """An engine for other ``settings`` that shares this one's models where they are
        the same (the model, device, backend and batch; the reader folder)."""
        s = self.settings
        same_model = (settings.model, settings.device, settings.backend, settings.batch_size
                      ) == (s.model, s.device, s.backend, s.batch_size)
        return Engine(settings, embedder=self._embedder if same_model else None,
                      reader=self._reader if settings.reader_dir == s.reader_dir else None)

    # ------------------------------------------------------------------ asking

    def retrieve(self, question: str, k: int | None = None, **options):
        """The ``k`` passages that best answer ``question`` (``search.retrieve.retrieve``:
        ``per_article``, ``since``, ``until``, ``sources``, ``as_of``)."""
        from .search.retrieve import retrieve

        return self._on_index(lambda idx: retrieve(question, k, index=idx, **options))

    def answer(self, question: str, *, history=(), k: int | None = None, **options):
        """A cited answer to ``question`` (``answering.compose.answer``); ``history`` is a
        ``Conversation`` or earlier turns, against which "he" or "it" is resolved."""
        from .answering.compose import answer

        return self._on_index(lambda idx: answer(question, index=idx, reader=self.reader,
                                                 history=history, k=k, **options))

    def timeline(self, topic: str, **options):
        """The dated events of the articles about ``topic`` (``answering.timeline``)."""
        from .answering.timeline import timeline

        return self._on_index(lambda idx: timeline(topic, index=idx, **options))

    def _on_index(self, ask):
        """``ask(index)``, asked again of the newer commit when a shard has moved on to
        one while the question was answered (``IndexChangedError``)."""
        for attempt in range(3):
            try:
                return ask(self.index())
            except IndexChangedError:
                if attempt == 2:
                    raise
                with self._lock:
                    self._index = None
        raise AssertionError("unreachable")

    # ------------------------------------------------------------------ building

    def build(self, full: bool = False, **options):
        """Index the corpus now (incrementally; ``full`` rebuilds) and return the
        ``IndexReport``; options as ``store.build.build_index``."""
        from .store.build import build_index

        s = self.settings
        return build_index(s.corpus_dir, s.index_dir, full=full, settings=s,
                           embedder=self._build_embedder(), **options)

    def _build_embedder(self) -> Embedder | None:
        # a Ray build embeds on its workers, which make their own
        return None if self.settings.ray and self._embedder is None else self.embedder

    def add(self, paths_or_urls: Iterable[str | Path] | str | Path, *, build: bool = True):
        """Add articles (files or web addresses) to the corpus, then index them (unless
        ``build`` is False). Returns the ``AddReport`` of each input, in order."""
        from .corpus.ingest import add_files, add_url

        items = [paths_or_urls] if isinstance(paths_or_urls, str | Path) else paths_or_urls
        s = self.settings
        reports = [add_url(str(x), s.corpus_dir, settings=s)
                   if str(x).startswith(("http://", "https://"))
                   else add_files([x], s.corpus_dir, settings=s) for x in items]
        if build and any(r.saved for r in reports):
            self.build()
        return reports

    def poll(self, *, force: bool = False, timeout: float = 20):
        """Poll the corpus's sources that are due (all with ``force``; ``corpus.watch``),
        then index what they brought in one build. Returns the ``PollReport``."""
        from .corpus.watch import poll
        from .errors import IndexLockedError

        with self._poll_lock:
            report = poll(self.settings.corpus_dir, self.settings, force=force,
                          timeout=timeout)
        self._last_poll = (time.time(), report)
        if report.changed or self._unbuilt or self._behind(report):
            try:
                self.build()
                self._unbuilt = False
            except IndexLockedError:  # another build runs: the next poll indexes them
                self._unbuilt = True
        return report

    def _behind(self, report: PollReport) -> bool:
        """Whether the index lacks what earlier polls saved though this one brought
        nothing (a poll killed before its build committed, in this process or another):
        asked only when a source was polled, from the corpus's file stamps."""
        from .corpus.watch import FEEDS, WATCHED
        from .store.changes import staleness
        from .store.manifest import read_manifest

        if all(r.skipped for r in report.sources):
            return False
        s = self.settings
        try:
            return staleness(Path(s.index_dir), read_manifest(s.index_dir), s,
                             s.corpus_dir).stale
        except IndexNotFoundError:  # a poll saved articles before any index was made
            return any((Path(s.corpus_dir) / d).is_dir() for d in (FEEDS, WATCHED))
        except ChallengeQAError:  # an index a build must deal with: not a poll's work
            return False

    def start_poll(self, *, force: bool = True) -> bool:
        """Poll the sources in the background now (every one with ``force``, else those
        due), then index what they brought with a background build (``start_build``), as
        the chat's "Check now" does; False if such a poll is running already. ``polling``
        says whether it still runs, ``last_poll`` what the last poll found."""
        with self._lock:
            if self.polling:
                return False
            self._polling = threading.Thread(target=self._poll_in_background, args=(force,),
                                             daemon=True, name="challenge-qa-poll")
            self._polling.start()
            return True

    @property
    def polling(self) -> bool:
        """Whether a poll started by ``start_poll`` is running."""
        t = self._polling
        return t is not None and t.is_alive()

    @property
    def last_poll(self) -> tuple[float, PollReport] | None:
        """When the last poll of this engine ended (epoch seconds) and its report."""
        return self._last_poll

    def build_pending(self) -> bool:
        """Start the background build that a poll's new articles wait for (a build was
        running when the poll ended); True if one started."""
        if self._unbuilt and not self._closed.is_set() and self.start_build():
            self._unbuilt = False
            return True
        return False

    def _poll_in_background(self, force: bool) -> PollReport | None:
        """One poll, then a background build if it changed the corpus: the build shows in
        ``status`` (with its progress) and is the one build a chat runs at a time."""
        from .corpus.watch import poll

        try:
            with self._poll_lock:
                report = poll(self.settings.corpus_dir, self.settings, force=force)
            self._last_poll = (time.time(), report)
        except Exception:  # noqa: BLE001 - a background thread's boundary: log, go on
            log.exception("polling the sources failed")
            return None
        if report.changed or self._behind(report):
            self._unbuilt = True
        self.build_pending()
        return report

    def start_watch(self, tick: float = 5.0) -> bool:
        """Poll the sources in the background, each on its own interval (checked every
        ``tick`` seconds), until ``close``; False if already watching. What a poll brings
        is indexed by a background build (``start_build``), after the running one if a
        build is running."""
        with self._lock:
            if self._watching is not None and self._watching.is_alive():
                return False
            self._stop_watch.clear()
            self._watching = threading.Thread(target=self._watch, args=(tick,), daemon=True,
                                              name="challenge-qa-watch")
            self._watching.start()
            return True

    @property
    def watching(self) -> bool:
        """Whether the sources are polled in the background (``start_watch``)."""
        t = self._watching
        return t is not None and t.is_alive() and not self._stop_watch.is_set()

    def _watch(self, tick: float) -> None:
        while not self._stop_watch.is_set():
            report = self._poll_in_background(False)
            for line in report.describe().splitlines() if report is not None and any(
                    not r.skipped for r in report.sources) else ():
                log.info("sources: %s", line)
            self._stop_watch.wait(tick)

    @property
    def building(self) -> bool:
        t = self._building
        return t is not None and t.is_alive()

    @property
    def cancelling(self) -> bool:
        return self.building and self._cancel.is_set()

    def ensure_index(self) -> None:
        """Start a background build when no index exists yet."""
        try:
            self.index()
        except IndexNotFoundError:
            self.start_build()

    def start_build(self, *, full: bool = False) -> bool:
        """Start a background (incremental) build; False if one is already running."""
        with self._lock:
            if self.building:
                return False
            self._error = self._cancelled = None
            self._cancel.clear()
            self._progress = (0, 0)
            self._building = threading.Thread(target=self._build, args=(full,), daemon=True,
                                              name="challenge-qa-build")
            self._building.start()
            return True

    def cancel_build(self) -> bool:
        """Stop the running build before its next batch (what it committed stays, the
        index answers as before); False if none is running."""
        if not self.building:
            return False
        self._cancel.set()
        return True

    def wait(self, timeout: float | None = None) -> None:
        """Wait for the background build to end."""
        t = self._building
        if t is not None:
            t.join(timeout)

    def _on_progress(self, articles: int, passages: int) -> None:
        self._progress = (articles, passages)
        now = time.monotonic()
        if now - self._logged >= PROGRESS_LOG_SECONDS:  # a long build says how far it is
            self._logged = now
            log.info("indexing: %d articles (%d passages) embedded so far", articles, passages)

    def _build(self, full: bool) -> None:
        s = self.settings
        started = time.perf_counter()
        self._logged = time.monotonic()
        log.info("building the index of %s in the background ...", s.corpus_dir)
        try:
            from .store.build import build_index

            report = build_index(s.corpus_dir, s.index_dir, full=full,
                                 settings=s.replace(show_progress=False),
                                 progress=self._on_progress, cancel=self._cancel,
                                 embedder=self._build_embedder())
            for reason in report.skipped:
                log.warning("%s", reason)
            log.info("index built in %.1f s: %d articles, %d passages",
                     time.perf_counter() - started, report.articles, report.passages)
            self.embedder.load()  # the models load now, not at the first question
            self.reader.load()
        except BuildCancelledError as e:
            self._cancelled = str(e)
            log.warning("%s", e)
        except ChallengeQAError as e:
            self._error = e.explain()
            log.error("index build failed: %s", self._error)
        except Exception as e:  # noqa: BLE001 - the thread's boundary: report, never vanish
            self._error = f"{type(e).__name__}: {e}"
            log.exception("index build failed")
        finally:
            self._stale = None

    # ------------------------------------------------------------------ status

    def staleness(self) -> Staleness | None:
        """What changed in the corpus since the index was built (checked at most every
        ``STALE_CHECK_SECONDS``); None without an index."""
        now = time.monotonic()
        if self._stale and now - self._stale[0] < STALE_CHECK_SECONDS:
            return self._stale[1]
        try:
            st = self.index().staleness(self.settings.corpus_dir)
        except ChallengeQAError:
            return None
        self._stale = (now, st)
        return st

    def status(self) -> Status:
        """Ready, stale, building, failed or missing, in a sentence."""
        if self.building:
            articles, passages = self._progress
            done = (f" {articles:,} articles ({passages:,} passages) embedded so far."
                    if articles else "")
            if self._cancel.is_set():
                return Status("building", "Cancelling the build …" + done, done=done)
            return Status("building", f"Building the index of {self.settings.corpus_dir}"
                          " … questions can be asked once it is ready." + done, done=done)
        if self._error:
            return Status("error", f"The last index build failed: {self._error}")
        try:
            idx = self.index()
        except ChallengeQAError as e:
            return Status("missing", e.explain())
        st = self.staleness()
        counts = idx.manifest["counts"]
        base = f"{counts['articles']} articles, {counts['passages']} passages"
        if st is not None and st.stale:
            note = f"{self._cancelled} " if self._cancelled else ""
            return Status("stale", f"{note}{base}. The index is {st.describe()}", st)
        return Status("ready", f"{base}, index up to date.", st)

    def close(self) -> None:
        """Stop the search threads and close the index files (a running background build
        is cancelled and waited for)."""
        self._closed.set()
        self._stop_watch.set()
        if self.cancel_build():
            self.wait()
        with self._lock:
            cached, self._index = self._index, None
        self._pool.close()
        if cached:
            cached[1].close()
        if self._own_shards and self._shards is not None:
            self._shards.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# --------------------------------------------------------------------------- the default

class _Default:
    """The engine behind the module functions: one, for the last settings asked for. A
    call with other settings gets a new engine that keeps the models (``Engine.using``)."""

    def __init__(self) -> None:
        self.engine: Engine | None = None
        self.lock = threading.Lock()

    def get(self, settings: Settings | None) -> Engine:
        s = settings or Settings.from_env()
        with self.lock:
            eng = self.engine
            if eng is None or eng.settings != s:
                eng = self.engine = eng.using(s) if eng is not None else Engine(s)
            return eng


#: The one piece of process-wide state: which engine the module functions use.
DEFAULT = _Default()


def default_engine(settings: Settings | None = None) -> Engine:
    """The engine the module functions use for ``settings`` (``Settings.from_env()`` by
    default)."""
    return DEFAULT.get(settings)


def _engine_of(index: SearchableIndex | None, settings: Settings | None) -> Engine:
    return default_engine(index.settings if index is not None else settings)


def retrieve(question: str, k: int | None = None, *, index: SearchableIndex | None = None,
             settings: Settings | None = None, **options):
    """``Engine.retrieve`` on the default engine (or on ``index``, when given)."""
    if index is not None:
        from .search.retrieve import retrieve as _retrieve

        return _retrieve(question, k, index=index, **options)
    return default_engine(settings).retrieve(question, k, **options)


def answer(question: str, *, index: SearchableIndex | None = None, settings: Settings | None = None,
           history=(), k: int | None = None, **options):
    """``Engine.answer`` on the default engine (or on ``index``, when given, read by the
    default engine's reader).

    Example:
        >>> a = answer("Who plays the patient?")  # doctest: +SKIP
        >>> a.short, a.text  # doctest: +SKIP
        ('Oleg Novitskiy', 'The patient is portrayed by real-life cosmonaut Oleg Novitskiy. [1]')
    """
    if index is not None:
        from .answering.compose import answer as _answer

        return _answer(question, index=index, reader=_engine_of(index, settings).reader,
                       history=history, k=k, **options)
    return default_engine(settings).answer(question, history=history, k=k, **options)


def timeline(topic: str, *, index: SearchableIndex | None = None, settings: Settings | None = None,
             **options):
    """``Engine.timeline`` on the default engine (or on ``index``, when given)."""
    if index is not None:
        from .answering.timeline import timeline as _timeline

        return _timeline(topic, index=index, **options)
    return default_engine(settings).timeline(topic, **options)


def get_index(settings: Settings | None = None) -> Index | ShardedIndex:
    """The default engine's current index."""
    return default_engine(settings).index()


def get_reader(settings: Settings | None = None) -> Reader:
    """The default engine's answer reader."""
    return default_engine(settings).reader


def build_index(corpus_dir: str | Path | None = None, index_dir: str | Path | None = None, *,
                full: bool = False, settings: Settings | None = None, **options):
    """Index ``corpus_dir`` into ``index_dir`` with the default engine's embedder
    (``Engine.build``; options as ``store.build.build_index``).

    Example:
        >>> build_index("docs_corpus", "index")  # doctest: +SKIP
        IndexReport(index_dir='index', added=2, changed=0, removed=0, unchanged=0, ...)
    """
    s = settings or Settings.from_env()
    s = s.replace(corpus_dir=Path(corpus_dir or s.corpus_dir),
                  index_dir=Path(index_dir or s.index_dir))
    if options.get("embedder") is not None:
        from .store.build import build_index as _build_index

        return _build_index(s.corpus_dir, s.index_dir, full=full, settings=s, **options)
    options.pop("embedder", None)
    return default_engine(s).build(full, **options)


def load_index(index_dir: str | Path | None = None, *, settings: Settings | None = None,
               **options) -> Index:
    """A freshly loaded index (``search.index.load_index``) that encodes questions with the
    default engine's embedder, so the model loads once per process."""
    s = settings or Settings.from_env()
    if options.get("embedder") is None:
        options["embedder"] = default_engine(s).embedder
    return _load_index(index_dir or s.index_dir, settings=s, **options)
