"""Shards served on a Ray cluster with Ray Serve (``challenge-qa serve --ray``).

Each shard of the index is its own Serve application (``cqa-<index>-<slot>``) with one
deployment, ``shard``, whose replicas each hold a ``search.shard.Shard`` (the shard's
segments, memory-mapped from the index folder, which every node serving a shard reads
at the same path: shared storage, or a copy kept in step). ``RayShards`` is the front
end's ``ShardClient``: it deploys the shards the manifest names and calls them through
deployment handles, side by side. No HTTP proxy runs: only handles reach the shards.

Faults: Ray Serve restarts a replica whose process dies (and one failing its health
check). A call to a shard that fails because its replica died, or finds no replica
ready, is sent again until ``Settings.shard_wait_s`` has passed since the question
began; then the question fails with ``ShardUnavailableError``. Shard calls only read,
so sending one again is safe. An error the shard raised itself (``IndexChangedError``)
reaches the caller as that error.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..config import Settings
from ..errors import (
    ChallengeQAError,
    ClusterUnavailableError,
    MissingExtraError,
    ShardUnavailableError,
)
from ..store.ray import INSTALL_HINT, cores, init_cluster
from .shard import Shard

log = logging.getLogger(__name__)

#: What a front end may ask a shard's replica (``Shard``'s methods).
SHARD_METHODS = frozenset({
    "info", "df", "propose", "spans", "rows", "sentence_spans", "date_mentions",
    "passages_at", "pages", "latest", "source_names", "doc_ids", "article"})
#: Seconds between a replica's health checks, and before one is declared failed.
HEALTH_CHECK_PERIOD_S = 2.0
HEALTH_CHECK_TIMEOUT_S = 30.0
#: Seconds to wait for newly deployed shards to be running (their replicas have loaded
#: their segments).
DEPLOY_TIMEOUT_S = 300.0


def _import() -> tuple[Any, Any]:
    try:
        import ray
        from ray import serve
    except ImportError as e:
        raise MissingExtraError(f"Serving on Ray needs Ray Serve, which is not installed "
                                f"({e}).", hint=INSTALL_HINT) from e
    return ray, serve


def _transient(ray: Any, serve: Any) -> tuple[type[BaseException], ...]:
    """Errors of a replica that died or is not ready: worth sending the call again."""
    ex, sx = ray.exceptions, serve.exceptions
    return (ex.RayActorError, ex.WorkerCrashedError, ex.NodeDiedError, ex.ObjectLostError,
            sx.BackPressureError, sx.DeploymentUnavailableError, sx.ReplicaUnavailableError,
            sx.RequestCancelledError)


class ShardReplica:
    """What one replica of a shard's deployment runs (wrapped by ``serve.deployment``
    in ``deployment``): the shard, loaded before the replica takes requests."""

    def __init__(self, index_dir: str, slot: int, settings: Settings):
        self.shard = Shard(index_dir, slot, settings)
        self.shard.view()

    async def call(self, method: str, args: tuple) -> Any:
        if method not in SHARD_METHODS:
            raise ValueError(f"not a shard method: {method!r}")
        # searches release the GIL (FAISS, numpy): requests run side by side
        got = await asyncio.to_thread(getattr(self.shard, method), *args)
        if method == "info":  # where the replica runs
            import ray

            got["node"] = ray.get_runtime_context().get_node_id()
        return got

    def check_health(self) -> None:
        """Serve's health check: the loaded commit's files are still readable."""
        self.shard.view().index.size  # noqa: B018


def deployment(serve: Any, settings: Settings) -> Any:
    """The shard deployment, with its replicas and resources."""
    return serve.deployment(
        ShardReplica, name="shard", num_replicas=settings.shard_replicas,
        ray_actor_options={"num_cpus": settings.shard_cpus}, max_ongoing_requests=16,
        health_check_period_s=HEALTH_CHECK_PERIOD_S,
        health_check_timeout_s=HEALTH_CHECK_TIMEOUT_S, graceful_shutdown_timeout_s=2,
        logging_config={"log_level": "WARNING", "enable_access_log": False})


def app_name(index_dir: Path, slot: int) -> str:
    """The Serve application of one shard of one index folder."""
    digest = hashlib.sha1(str(index_dir.resolve()).encode()).hexdigest()[:8]
    return f"cqa-{digest}-{slot}"


class RayShards:
    """The shards of ``index_dir`` on the Ray cluster at ``address`` ("local": a new
    cluster on this machine; "auto": the one ``ray start`` began here; or an address),
    deployed on first need (see the module's docstring)."""

    def __init__(self, index_dir: str | Path, settings: Settings, address: str | None = None):
        self.index_dir = Path(index_dir)
        self.settings = settings
        self.address = address
        self.ray, self.serve = _import()
        self.transient = _transient(self.ray, self.serve)
        self.handles: dict[int, Any] = {}
        self.started: bool | None = None  # whether this client started the cluster

    def app(self, slot: int) -> str:
        return app_name(self.index_dir, slot)

    def _connect(self, count: int) -> None:
        """Join (or, for "local", start) the cluster and Serve, and check that it has the
        CPUs the shards' replicas reserve (else deploying would wait for ever)."""
        ray, s = self.ray, self.settings
        need = count * s.shard_replicas * s.shard_cpus
        if self.address in (None, "local") and not ray.is_initialized():
            # a cluster of this machine: room for every replica, whatever its core count
            ray.init(address="local", num_cpus=max(cores(), math.ceil(need) + 1),
                     include_dashboard=False, logging_level=logging.WARNING)
            self.started = True
        else:
            self.started = init_cluster(ray, self.address)
        logging.getLogger("ray.serve").setLevel(logging.WARNING)
        have = float(ray.cluster_resources().get("CPU", 0))
        if need > have:
            raise ClusterUnavailableError(
                f"The Ray cluster has {have:g} CPUs; {count} shard(s) x {s.shard_replicas} "
                f"replica(s) reserve {need:g}.",
                hint="Add nodes, or lower CHALLENGE_QA_SHARD_REPLICAS or Settings.shard_cpus.")
        # only handles reach the shards; Serve's controller logs warnings and errors
        self.serve.start(proxy_location="Disabled", logging_config={"log_level": "WARNING"})

    def ensure(self, count: int) -> None:
        """Deploy shards ``0 .. count-1`` that this client has not deployed (a shard
        already running on the cluster with the same settings is left as it is)."""
        if self.started is None:
            self._connect(count)
        todo = [slot for slot in range(count) if slot not in self.handles]
        if not todo:
            return
        serve, s = self.serve, self.settings
        targets = [serve.RunTarget(deployment(serve, s).bind(str(self.index_dir.resolve()),
                                                             slot, s),
                                   name=self.app(slot), route_prefix=None) for slot in todo]
        log.info("deploying shards %s of %s", todo, self.index_dir)
        handles = serve.run_many(targets, wait_for_applications_running=False)
        deadline = time.monotonic() + DEPLOY_TIMEOUT_S
        waiting = {self.app(slot) for slot in todo}
        while waiting:
            apps = serve.status().applications
            for name in list(waiting):
                state = str(getattr(apps.get(name), "status", ""))
                if state.endswith("RUNNING"):
                    waiting.discard(name)
                elif state.endswith("DEPLOY_FAILED"):
                    raise ClusterUnavailableError(
                        f"Ray Serve could not start shard {name}: {apps[name].message}")
            if waiting and time.monotonic() > deadline:
                raise ClusterUnavailableError(
                    f"{len(waiting)} shard(s) of {self.index_dir} were not running after "
                    f"{DEPLOY_TIMEOUT_S:g} s: each replica reserves {s.shard_cpus:g} CPU, "
                    "and the cluster may have none free (`ray status` shows its use).",
                    hint="Add nodes, remove applications the cluster no longer needs "
                         "(`serve status`, `serve shutdown`), or lower Settings.shard_cpus.")
            if waiting:
                time.sleep(0.25)
        self.handles.update(zip(todo, handles, strict=True))

    def call(self, slots: Sequence[int], method: str, args: Sequence[tuple]) -> list[Any]:
        self.ensure(max(slots) + 1 if slots else 0)
        deadline = time.monotonic() + self.settings.shard_wait_s
        pending = {i: self.handles[s].call.remote(method, a)
                   for i, (s, a) in enumerate(zip(slots, args, strict=True))}
        results: list[Any] = [None] * len(slots)
        while pending:
            for i in list(pending):
                left = deadline - time.monotonic()
                try:
                    results[i] = pending[i].result(timeout_s=max(left, 0.05))
                    del pending[i]
                except self.ray.exceptions.RayTaskError as e:
                    cause = getattr(e, "cause", None)
                    if isinstance(cause, ChallengeQAError):
                        raise cause from None
                    if isinstance(cause, self.transient):
                        pending[i] = self._again(slots[i], method, args[i], deadline)
                        continue
                    raise
                except TimeoutError:
                    raise self._unavailable(slots[i]) from None
                except self.transient as e:
                    log.warning("shard %d: %s; asking again", slots[i], e.__class__.__name__)
                    pending[i] = self._again(slots[i], method, args[i], deadline)
        return results

    def _again(self, slot: int, method: str, args: tuple, deadline: float) -> Any:
        if time.monotonic() >= deadline:
            raise self._unavailable(slot)
        time.sleep(0.2)
        return self.handles[slot].call.remote(method, args)

    def _unavailable(self, slot: int) -> ShardUnavailableError:
        n = len(self.handles)
        return ShardUnavailableError(
            f"Part of the archive is unavailable: shard {slot + 1} of {n} did not answer "
            f"within {self.settings.shard_wait_s:g} s, so no answer is given from the rest.")

    def close(self) -> None:
        """Leave the shards running (they serve other front ends, and a restarted front
        end finds them ready); a cluster this client started stops with this process."""
        self.handles.clear()
