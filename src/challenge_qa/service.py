"""The index as a long-running service: built in the background, rebuilt on demand.

Shared by every session of the web chat: the model and index load once per process.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from .config import Settings
from .engine import get_engine, get_index
from .errors import BuildCancelledError, ChallengeQAError, IndexNotFoundError
from .search.index import Index
from .store.build import build_index
from .store.changes import Staleness, staleness

log = logging.getLogger(__name__)
STALE_CHECK_SECONDS = 10.0
PROGRESS_LOG_SECONDS = 10.0


@dataclass(frozen=True)
class ServiceStatus:
    state: str  # "ready", "building", "error", "missing"
    message: str
    stale: Staleness | None = None
    #: While building: what the build has embedded so far, as a sentence ("" before the
    #: first batch); the message ends with it.
    done: str = ""


class IndexService:
    """Owns the index for a server: starts a build when there is none, reports staleness."""

    def __init__(self, settings: Settings | None = None):
        self.settings = settings or Settings.from_env()
        self._lock = threading.Lock()
        self._building: threading.Thread | None = None
        self._error: str | None = None
        self._stale: tuple[float, Staleness] | None = None
        self._cancel = threading.Event()
        self._cancelled: str | None = None
        self._progress = (0, 0)  # (articles, passages) the running build has embedded
        self._logged = 0.0

    @property
    def building(self) -> bool:
        return self._building is not None and self._building.is_alive()

    def index(self) -> Index:
        """The current index; raises IndexNotFoundError while none has been built."""
        return get_index(self.settings)

    def ensure(self) -> None:
        """Start a background build when no index exists yet."""
        try:
            self.index()
        except IndexNotFoundError:
            self.rebuild()

    def rebuild(self, *, full: bool = False) -> bool:
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

    @property
    def cancelling(self) -> bool:
        return self.building and self._cancel.is_set()

    def cancel(self) -> bool:
        """Stop the running build before its next batch (what it committed stays, the
        index answers as before); False if none is running."""
        if not self.building:
            return False
        self._cancel.set()
        return True

    def _on_progress(self, articles: int, passages: int) -> None:
        self._progress = (articles, passages)
        now = time.monotonic()
        if now - self._logged >= PROGRESS_LOG_SECONDS:  # a long build says how far it is
            self._logged = now
            log.info("indexing: %d articles (%d passages) embedded so far", articles, passages)

    def wait(self, timeout: float | None = None) -> None:
        t = self._building
        if t is not None:
            t.join(timeout)

    def _build(self, full: bool) -> None:
        s = self.settings
        started = time.perf_counter()
        self._logged = time.monotonic()
        log.info("building the index of %s in the background ...", s.corpus_dir)
        try:
            report = build_index(s.corpus_dir, s.index_dir, full=full,
                                 settings=s.replace(show_progress=False),
                                 progress=self._on_progress, cancel=self._cancel)
            for reason in report.skipped:
                log.warning("%s", reason)
            log.info("index built in %.1f s: %d articles, %d passages",
                     time.perf_counter() - started, report.articles, report.passages)
            self.index().embedder.load()  # the models load now, not at the first question
            get_engine(s).reader().load()
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

    def staleness(self) -> Staleness | None:
        now = time.monotonic()
        if self._stale and now - self._stale[0] < STALE_CHECK_SECONDS:
            return self._stale[1]
        try:
            st = staleness(self.index(), self.settings.corpus_dir)
        except ChallengeQAError:
            return None
        self._stale = (now, st)
        return st

    def status(self) -> ServiceStatus:
        if self.building:
            articles, passages = self._progress
            done = (f" {articles:,} articles ({passages:,} passages) embedded so far."
                    if articles else "")
            if self._cancel.is_set():
                return ServiceStatus("building", "Cancelling the build …" + done, done=done)
            return ServiceStatus("building", f"Building the index of {self.settings.corpus_dir}"
                                 " … questions can be asked once it is ready." + done,
                                 done=done)
        if self._error:
            return ServiceStatus("error", f"The last index build failed: {self._error}")
        try:
            idx = self.index()
        except ChallengeQAError as e:
            return ServiceStatus("missing", e.explain())
        st = self.staleness()
        counts = idx.manifest["counts"]
        base = f"{counts['articles']} articles, {counts['passages']} passages"
        if st is not None and st.stale:
            note = f"{self._cancelled} " if self._cancelled else ""
            return ServiceStatus("stale", f"{note}{base}. The index is {st.describe()}", st)
        return ServiceStatus("ready", f"{base}, index up to date.", st)
