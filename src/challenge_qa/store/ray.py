"""Chunk and embed on a Ray cluster: the ``ray`` stage of a build (``index --ray``).

A build streams groups of new or changed articles through a *stage* into a segment
writer (``build``). This stage hands the work of ``prepare.prepare`` (chunking and
embedding, nearly all of a build's time) to a Ray Data pipeline; reading the corpus,
comparing it with the index and writing segments stay in this process, the *driver*.

Design:

- **Windows.** Ray Data runs datasets, not open-ended streams fed from the driver, so the
  groups are cut into windows, each one ``ray.data.from_items`` dataset of about
  ``Settings.segment_passages`` passages (estimated from the text length before
  chunking): the size of the segment the writer holds anyway. The corpus is never
  materialised; the driver holds the window being embedded, the next one (read while the
  cluster works on this one), and this window's results until they are written.
- **Rows.** One row per group: its sequence number and the pickled ``list[Article]``;
  one result row per group: the number and the pickled ``Batch``. Articles and batches
  are ragged (per-article lists, 2-d arrays of varying length), and a group is a big
  unit of work (up to ``changes.READ_GROUP`` articles), so one opaque, exact value per row
  costs nothing that matters and keeps Ray Data's conversions away from the vectors.
- **Order.** Results are yielded in the order of the groups (the dataset preserves
  order, and a reorder buffer keyed by the sequence number checks it), one ``Batch`` per
  group as the local stage makes them, so the writer commits the same segments as a local
  build: same passages, same rows, and (same encoder) the same vectors.
- **Actors.** ``map_batches`` runs a callable class in a fixed-size actor pool: each actor
  loads the embedder once and then prepares group after group (one group per call).
  Actors restart per window (a new dataset), a model load each: small next to a window's
  embedding time. On a CPU cluster an actor takes one core (its ONNX Runtime worker threads
  are set to match) and the pool takes all cluster cores but one, which the driver needs
  to read articles and write segments.
- **GPUs.** When the cluster has GPUs and the encoder can use them (backend "auto" or
  "torch", no CPU device forced), the pool is one actor per GPU (``num_gpus=1``), each
  encoding with PyTorch on its GPU; the vectors are then those of a local GPU build.
  The manifest records the backend as the driver resolves it; queries are encoded by the
  index's settings either way (``search.index``).

The cluster: ``address=None`` starts a local one on this machine's cores (shut down after
the build) unless Ray is already initialised in this process, which is then reused as it
is; an address connects to a running cluster (``ray start --head`` on its head node), on
whose nodes challenge-qa must be installed (with the model, if not the bundled one). Workers
of a local cluster get this process's cache and offline variables, so they reuse its ONNX
export. Nothing here imports Ray until a stage is made.

Errors: a ``ChallengeQAError`` raised on the cluster (a model that does not load) is raised
in the driver as itself, so that the CLI shows its one line and hint; an actor keeps its
constructor's error and raises it from its first call, because Ray passes a task's
exception to the driver but only the text of a failed actor constructor's.
"""

from __future__ import annotations

import copy
import logging
import math
import os
import pickle
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np

from ..config import Settings
from ..corpus.load import Article
from ..errors import ChallengeQAError, ClusterUnavailableError, MissingExtraError
from .writer import Batch

Stage = Callable[[Iterable[list[Article]]], Iterator[Batch]]

INSTALL_HINT = "pip install 'challenge-qa[ray]'"
#: Variables a local cluster's workers take from this process (model caches, offline mode).
LOCAL_ENV = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HOME", "TOKENIZERS_PARALLELISM",
             "CHALLENGE_QA_CACHE", "XDG_CACHE_HOME", "SENTENCE_TRANSFORMERS_HOME")
#: ... and the ones that mean the same on any node.
PORTABLE_ENV = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "TOKENIZERS_PARALLELISM")

log = logging.getLogger(__name__)


def _import_ray() -> Any:
    try:
        import ray
        import ray.data  # noqa: F401 - the [data] extra, not only ray's core
    except ImportError as e:
        raise MissingExtraError(
            f"Building with --ray needs Ray Data, which is not installed ({e}).",
            hint=INSTALL_HINT) from e
    return ray


def cores() -> int:
    """The cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def estimate_passages(article: Article, s: Settings) -> int:
    """About how many passages ``article`` makes (before chunking it): a window's size."""
    step = max(s.chunk_chars - s.overlap_chars, s.chunk_chars // 4, 1)
    return max(1, math.ceil(len(article.text) / step))


def windows(groups: Iterable[list[Article]], s: Settings, min_groups: int = 1
            ) -> Iterator[list[list[Article]]]:
    """Consecutive groups, cut where their estimated passages reach
    ``s.segment_passages`` (and at least ``min_groups`` groups, so all actors work)."""
    window: list[list[Article]] = []
    passages = 0
    for g in groups:
        window.append(g)
        passages += sum(estimate_passages(a, s) for a in g)
        if passages >= s.segment_passages and len(window) >= min_groups:
            yield window
            window, passages = [], 0
    if window:
        yield window


class PrepareActor:
    """Ray Data's callable class: loads the embedder once per actor, then chunks and
    embeds one group per row with ``prepare.prepare``."""

    def __init__(self, settings: Settings, cpus: int):
        from ..encoders.embedding import make_embedder

        self.settings = settings
        s = settings
        self.embedder = make_embedder(s.model, device=s.device, batch_size=s.batch_size,
                                      backend=s.backend)
        # an error of ours (the model does not load) is raised by the first call: Ray
        # hands a task's exception to the driver, an actor constructor's only as text
        self.error: ChallengeQAError | None = None
        try:
            self.embedder.load()
        except ChallengeQAError as e:
            self.error = e
        if hasattr(self.embedder, "_workers"):
            # the int8 ONNX encoder runs one single-threaded session per core it sees;
            # an actor owns ``cpus`` cores of the node, not all (vectors do not depend on it)
            self.embedder._workers = max(1, cpus)

    def __call__(self, rows: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        from .prepare import prepare

        if self.error is not None:
            raise self.error
        out = np.empty(len(rows["seq"]), dtype=object)
        for i, payload in enumerate(rows["articles"]):
            articles = pickle.loads(payload)
            batch = prepare(articles, self.settings,
                            lambda texts: self.embedder.encode_documents(texts))
            out[i] = pickle.dumps(batch, protocol=pickle.HIGHEST_PROTOCOL)
        return {"seq": np.asarray(rows["seq"], dtype=np.int64), "batch": out}


def _next(batches: Iterator[Batch]) -> Batch | None:
    """The next batch, or None at the end; an error of ours raised on the cluster (a model
    that does not load, say) is raised here as itself, not inside Ray's wrappers, so that
    the CLI shows its one line."""
    try:
        return next(batches, None)
    except Exception as e:
        cause = _our_error(e)
        if cause is None:
            raise
        message = str(cause)
        if "\nFailed to apply UDF" in message:  # Ray Data appends its retry advice
            cause = copy.copy(cause)
            cause.args = (message[:message.index("\nFailed to apply UDF")], *cause.args[1:])
        raise cause from e


def _our_error(e: BaseException | None, depth: int = 0) -> ChallengeQAError | None:
    if e is None or depth > 8:
        return None
    # a RayTaskError is an instance of the remote error's class too, but its message is
    # the remote traceback: the error itself is its ``cause``
    inner = getattr(e, "cause", None)
    if isinstance(inner, BaseException) and inner is not e:
        found = _our_error(inner, depth + 1)
        if found is not None:
            return found
    if isinstance(e, ChallengeQAError):
        return e
    for inner in (e.__cause__, e.__context__):
        if isinstance(inner, BaseException) and inner is not e:
            found = _our_error(inner, depth + 1)
            if found is not None:
                return found
    return None


def init_cluster(ray: Any, address: str | None) -> bool:
    """Connect to or start the cluster; True when this call started it."""
    if ray.is_initialized():
        return False
    if address:
        try:
            ray.init(address=address, logging_level=logging.WARNING)
        except (ConnectionError, RuntimeError, ValueError,
                ray.exceptions.RayError) as e:  # RayError: a wrong or missing token
            raise ClusterUnavailableError(
                f"Could not connect to the Ray cluster at {address!r}: "
                f"{e.__class__.__name__}: {str(e).splitlines()[0] if str(e) else ''}") from e
        return True
    # "local": a new cluster, never one a `ray start` left on this machine
    ray.init(address="local", num_cpus=cores(), include_dashboard=False,
             logging_level=logging.WARNING)
    return True


def _env(names: tuple[str, ...]) -> dict[str, str]:
    return {k: os.environ[k] for k in names if os.environ.get(k)}


def _plan(ray: Any, s: Settings) -> tuple[Settings, int, dict[str, Any]]:
    """Per-actor settings, pool size and resources for the cluster Ray shows now."""
    from ..encoders.embedding import resolve_backend

    res = ray.cluster_resources()
    gpus = int(res.get("GPU", 0))
    cpu_device = s.device is not None and s.device.startswith("cpu")
    if gpus and not cpu_device and resolve_backend(s.backend, s.device or "cuda") == "torch":
        # Ray sets CUDA_VISIBLE_DEVICES per actor: its GPU is "cuda" (cuda:0) there
        return (s.replace(device=s.device or "cuda", show_progress=False), gpus,
                {"num_gpus": 1, "num_cpus": 1})
    cpus = int(res.get("CPU", 1))
    return (s.replace(device=s.device if cpu_device else "cpu", show_progress=False),
            max(1, cpus - 1), {"num_cpus": 1})


def ray_stage(settings: Settings, address: str | None = None) -> Stage:
    """A stage that chunks and embeds on Ray (see the module docstring).

    ``address`` None: a local cluster (or the Ray this process already initialised);
    else the address of a running cluster ("127.0.0.1:6379", "ray://head:10001").

    Raises:
        MissingExtraError: Ray Data is not installed.
        ClusterUnavailableError: no cluster answers at ``address``.
    """
    ray = _import_ray()
    started = init_cluster(ray, address)
    try:
        actor_settings, pool, resources = _plan(ray, settings)
    except BaseException:
        if started:
            ray.shutdown()
        raise
    log.info("Ray stage: %d actor(s) with %s", pool, resources)
    env = _env(LOCAL_ENV if address is None else PORTABLE_ENV)

    def dataset(window: list[list[Article]], first_seq: int) -> Any:
        items = [{"seq": first_seq + i,
                  "articles": pickle.dumps(g, protocol=pickle.HIGHEST_PROTOCOL)}
                 for i, g in enumerate(window)]
        ds = ray.data.from_items(items, override_num_blocks=len(items))
        ctx = ds.context  # this dataset's copy of the DataContext
        ctx.execution_options.preserve_order = True
        ctx.enable_progress_bars = False
        for name, value in (("print_on_execution_start", False),
                            # our errors reach the driver as themselves (see _unwrap)
                            ("raise_original_map_exception", True)):
            if hasattr(ctx, name):  # not in every Ray version
                setattr(ctx, name, value)
        return ds.map_batches(
            PrepareActor,
            fn_constructor_kwargs={"settings": actor_settings,
                                   "cpus": int(resources["num_cpus"])},
            compute=ray.data.ActorPoolStrategy(size=min(pool, len(window))),
            batch_size=1, batch_format="numpy", zero_copy_batch=True,
            runtime_env={"env_vars": env} if env else None, **resources)

    def results(ds: Any, first_seq: int, n: int) -> Iterator[Batch]:
        """The window's batches in sequence order (a reorder buffer, should the dataset
        ever hand them out of order)."""
        waiting: dict[int, bytes] = {}
        expect = first_seq
        for row in ds.iter_rows():
            waiting[int(row["seq"])] = row["batch"]
            while expect in waiting:
                yield pickle.loads(waiting.pop(expect))
                expect += 1
        if expect != first_seq + n or waiting:
            raise RuntimeError(f"Ray returned {expect - first_seq} of {n} groups in order "
                               f"(and {len(waiting)} out of order)")

    def run(groups: Iterable[list[Article]]) -> Iterator[Batch]:
        seq = 0
        try:
            cut = windows(groups, settings, min_groups=pool)
            window = next(cut, None)
            while window is not None:
                out = results(dataset(window, seq), seq, len(window))
                first = _next(out)  # starts the pipeline, which runs on meanwhile
                seq += len(window)
                window = next(cut, None)  # read the next window while the cluster works
                if first is not None:
                    yield first
                while (batch := _next(out)) is not None:
                    yield batch
        finally:
            if started:
                ray.shutdown()

    return run
