"""The working state of a process: settings, the loaded index, the reader and caches.

An ``Engine`` is what the CLI, the web chat and ``answer()`` share: one per settings
(``get_engine``), holding the index (reloaded when a build commits a new manifest), the
answer reader and the sentence-vector cache. Nothing else in the library keeps state
between calls, except the encoder models themselves (``embedding.get_embedder``), which
index loading and building share.

It sits above the searcher and the reader and below retrieval and answers: those take an
``index`` argument or ask ``get_engine`` for the current one.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np

from .config import Settings
from .encoders.reader import Reader, reader_dir
from .search.index import Index, load_index
from .store.segments import MANIFEST

#: Engines kept per process (distinct settings: a test suite, or a server with several
#: corpora); the least recently used one is dropped beyond this.
MAX_ENGINES = 8


class SentenceVectors:
    """LRU cache of sentence embeddings keyed by index generation and article span."""

    def __init__(self, size: int = 50_000):
        self.size = size
        self.data: OrderedDict[tuple, np.ndarray] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, index: Index, keys: list[tuple], texts: list[str]) -> np.ndarray:
        gen = index.generation
        with self.lock:
            missing = [i for i, k in enumerate(keys) if (gen, *k) not in self.data]
        if missing:
            vecs = index.embedder.encode_documents([texts[i] for i in missing])
            with self.lock:
                for i, v in zip(missing, vecs, strict=True):
                    self.data[(gen, *keys[i])] = v
                while len(self.data) > self.size:
                    self.data.popitem(last=False)
        with self.lock:
            return np.stack([self.data[(gen, *k)] for k in keys])


class Engine:
    """Settings + index + reader + caches. Cheap to ask from many threads."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.sentence_vectors = SentenceVectors()
        self._lock = threading.Lock()
        self._index: tuple[tuple, Index] | None = None

    def index(self) -> Index:
        """The index of ``settings.index_dir``, reloaded when a build has committed a new
        manifest (a cheap ``stat`` per call), so a long-running server picks up a rebuild;
        requests holding the old ``Index`` finish on it."""
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
        idx = load_index(index_dir, settings=self.settings)
        if stamp:
            with self._lock:
                self._index = (stamp, idx)
        return idx

    def reader(self) -> Reader:
        """The answer reader (shared by every engine of the process)."""
        return _reader(reader_dir())


_ENGINES: OrderedDict[Settings, Engine] = OrderedDict()
_READERS: dict[str, Reader] = {}
_LOCK = threading.Lock()


def get_engine(settings: Settings | None = None) -> Engine:
    """The process's engine for ``settings`` (``Settings.from_env()`` by default)."""
    s = settings or Settings.from_env()
    with _LOCK:
        eng = _ENGINES.get(s)
        if eng is None:
            eng = _ENGINES[s] = Engine(s)
            while len(_ENGINES) > MAX_ENGINES:
                _ENGINES.popitem(last=False)
        else:
            _ENGINES.move_to_end(s)
        return eng


def get_index(settings: Settings | None = None) -> Index:
    """The current index for ``settings`` (see ``Engine.index``)."""
    return get_engine(settings).index()


def get_reader() -> Reader:
    """The answer reader: the shipped one, or the folder ``$CHALLENGE_QA_READER`` names."""
    return _reader(reader_dir())


def _reader(path: str | Path) -> Reader:
    key = str(path)
    with _LOCK:
        got = _READERS.get(key)
        if got is None:
            got = _READERS[key] = Reader(path)
        return got
