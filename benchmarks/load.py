"""Load test of the web chat: 32 concurrent clients asking the Gradio "/answer" API.

The app is started in-process on 127.0.0.1 and a free port, exactly as ``ui.launch`` sets
it up (``Engine`` + ``build_ui`` + ``queue(default_concurrency_limit=4,
max_size=256)``), over an index of ``docs_corpus/`` built in a temporary folder. Each client
thread has its own ``gradio_client.Client`` and asks questions with known answers in a
loop, for a bounded time (60 s, ``--quick`` 15 s) and a bounded number of requests.

Reported: requests, errors (exceptions; target 0), wrong answers (not found, or the known
fact missing; target 0), throughput (completed requests per second) and latency p50/p95.
Only 127.0.0.1 is ever contacted.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import contextlib  # noqa: E402
import json  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from .common import (  # noqa: E402
    DOCS_CORPUS,
    Context,
    Target,
    load_avg,
    print_table,
    print_targets,
    section,
    summary,
    usable_cpus,
    write_results,
)

NAME = "load"
CLIENTS = 32
DURATION_S = 60.0
QUICK_DURATION_S = 15.0
MAX_REQUESTS = 5000
QUICK_MAX_REQUESTS = 1000
REQUEST_TIMEOUT_S = 120.0
#: Questions about docs_corpus/ and a fact the answer must state (any one of them).
QUESTIONS: list[tuple[str, tuple[str, ...]]] = [
    ("Who plays the patient?", ("Oleg Novitskiy",)),
    ("Who directed the film?", ("Klim Shipenko",)),
    ("When will the film be released?", ("April 12",)),
    ("How long did the shoot last?", ("12 days", "two weeks")),
    ("Who plays the surgeon?", ("Yulia Peresild",)),
    ("How far above Earth is the ISS?", ("250 miles",)),
    ("When did Russia launch Sputnik?", ("1957",)),
    ("Who is the head of Universal Pictures?", ("Donna Langley",)),
]


def start_server(index_dir: Path, corpus: Path = DOCS_CORPUS):
    """(demo, service) of the chat on 127.0.0.1:<free port>, its index built first."""
    from challenge_qa.app.web import launch
    from challenge_qa.config import Settings
    from challenge_qa.engine import Engine

    svc = Engine(Settings(corpus_dir=corpus, index_dir=index_dir, show_progress=False))
    svc.ensure_index()
    svc.wait()
    status = svc.status()
    if status.state != "ready":
        raise RuntimeError(f"the index is not ready: {status}")
    demo = launch(engine=svc, port=None, block=False, quiet=True)
    if not demo.local_url.startswith("http://127.0.0.1:"):
        demo.close()
        raise RuntimeError(f"the app is not on 127.0.0.1: {demo.local_url}")
    return demo, svc


def check_answer(result: Any, facts: tuple[str, ...]) -> str | None:
    """None when the answer (the JSON text ``/answer`` returns) is found and states one of
    ``facts``, else what is wrong."""
    if isinstance(result, str):
        with contextlib.suppress(ValueError):  # not JSON: not a dict either
            result = json.loads(result)
    if not isinstance(result, dict):
        return f"not a dict: {type(result).__name__}"
    if result.get("found") is not True:
        return "not found"
    if not any(f in result.get("text", "") for f in facts):
        return f"none of {facts} in {result.get('text', '')[:80]!r}"
    if not result.get("citations"):
        return "no citations"
    return None


def drive(url: str, *, clients: int = CLIENTS, duration_s: float = DURATION_S,
          max_requests: int = MAX_REQUESTS, per_client: int | None = None) -> dict[str, Any]:
    """Ask the "/answer" API from ``clients`` threads, each with its own Client, until
    ``duration_s`` has passed, ``max_requests`` were sent, or each sent ``per_client``."""
    from gradio_client import Client

    if not url.startswith("http://127.0.0.1:"):
        raise ValueError(f"load tests run against 127.0.0.1 only, not {url}")
    lock = threading.Lock()
    sent = 0
    latencies: list[float] = []
    errors: list[str] = []
    wrong: list[str] = []
    per_thread = [0] * clients
    ready = threading.Barrier(clients + 1)
    go = threading.Event()
    t_start = t_stop = 0.0

    def claim() -> bool:
        nonlocal sent
        with lock:
            if sent >= max_requests or time.perf_counter() >= t_stop:
                return False
            sent += 1
            return True

    def worker(n: int) -> None:
        try:
            client = Client(url, verbose=False)
        except Exception as e:  # noqa: BLE001 - counted, the others go on
            with lock:
                errors.append(f"client {n}: connect: {e.__class__.__name__}: {e}"[:300])
            ready.wait()
            return
        ready.wait()
        go.wait()
        i = 0
        while (per_client is None or i < per_client) and claim():
            question, facts = QUESTIONS[(n + i) % len(QUESTIONS)]
            t0 = time.perf_counter()
            try:
                result = client.predict(question, 5, False, api_name="/answer")
            except Exception as e:  # noqa: BLE001 - counted, the loop goes on
                with lock:
                    errors.append(f"client {n}: {question!r}: {e.__class__.__name__}: "
                                  f"{e}"[:300])
            else:
                dt = time.perf_counter() - t0
                problem = check_answer(result, facts)
                with lock:
                    latencies.append(dt)
                    per_thread[n] += 1
                    if problem:
                        wrong.append(f"{question!r}: {problem}")
            i += 1

    threads = [threading.Thread(target=worker, args=(n,), daemon=True, name=f"load-{n}")
               for n in range(clients)]
    for t in threads:
        t.start()
    ready.wait()  # every client is connected: the clock starts now
    t_start = time.perf_counter()
    t_stop = t_start + duration_s
    go.set()
    for t in threads:
        t.join(timeout=duration_s + REQUEST_TIMEOUT_S)
    wall = time.perf_counter() - t_start
    hung = sum(t.is_alive() for t in threads)
    if hung:
        errors.append(f"{hung} client thread(s) still waiting after {wall:.0f} s")
    return {
        "clients": clients, "duration_limit_s": duration_s, "max_requests": max_requests,
        "per_client_limit": per_client, "requests": sent, "completed": len(latencies),
        "errors": len(errors), "wrong": len(wrong), "wall_s": round(wall, 3),
        "throughput_rps": round(len(latencies) / wall, 3) if wall > 0 else 0.0,
        "latency_ms": summary(latencies, scale=1000.0, digits=1),
        "requests_per_client": summary(per_thread, digits=1),
        "error_samples": errors[:10], "wrong_samples": wrong[:10],
    }


def run(ctx: Context, *, clients: int = CLIENTS, duration_s: float | None = None,
        max_requests: int | None = None) -> dict[str, Any]:
    duration_s = duration_s or (QUICK_DURATION_S if ctx.quick else DURATION_S)
    max_requests = max_requests or (QUICK_MAX_REQUESTS if ctx.quick else MAX_REQUESTS)
    from challenge_qa.app import web as ui

    loads = {"start": load_avg()}
    with tempfile.TemporaryDirectory(prefix="challenge-qa-load-") as tmp:
        t0 = time.perf_counter()
        demo, _ = start_server(Path(tmp) / "index")
        startup_s = time.perf_counter() - t0
        try:
            url = demo.local_url
            print(f"app on {url} (index built and model loaded in {startup_s:.1f} s); "
                  f"{clients} clients for {duration_s:.0f} s or {max_requests} requests",
                  flush=True)
            warm = drive(url, clients=1, duration_s=60.0, max_requests=len(QUESTIONS))
            loads["before"] = load_avg()
            r = drive(url, clients=clients, duration_s=duration_s, max_requests=max_requests)
            loads["after"] = load_avg()
        finally:
            demo.close()

    section(f"load: {clients} concurrent clients -> /answer (queue concurrency "
            f"{ui.QUEUE_CONCURRENCY}, max size {ui.QUEUE_MAX_SIZE})")
    lat = r["latency_ms"]
    print_table(["requests", "completed", "errors", "wrong", "wall s", "req/s", "p50 ms",
                 "p95 ms", "max ms"],
                [[r["requests"], r["completed"], r["errors"], r["wrong"], r["wall_s"],
                  r["throughput_rps"], lat.get("p50"), lat.get("p95"), lat.get("max")]])
    for sample in r["error_samples"] + r["wrong_samples"]:
        print(f"  {sample}")
    targets = [Target("errors", float(r["errors"]), 0, "exceptions, hung clients"),
               Target("wrong answers", float(r["wrong"]), 0, "not found or fact missing"),
               Target("warm-up errors", float(warm["errors"] + warm["wrong"]), 0)]
    section("targets")
    print_targets(targets)
    if any(v is not None and v > usable_cpus() + 0.5 for v in loads.values()):
        print(f"warning: the machine was busy with other work (1-min load average {loads}, "
              f"{usable_cpus()} CPUs): throughput and latency are noisy")
    payload = {
        "config": {"clients": clients, "duration_s": duration_s, "max_requests": max_requests,
                   "queue": {"default_concurrency_limit": ui.QUEUE_CONCURRENCY,
                             "max_size": ui.QUEUE_MAX_SIZE},
                   "corpus": str(DOCS_CORPUS), "endpoint": "/answer", "k": 5,
                   "questions": [q for q, _ in QUESTIONS], "load_avg_1min": loads},
        "startup_s": round(startup_s, 2), "warmup": warm, "load": r,
        "targets": [t.as_dict() for t in targets],
        "passed": all(t.passed for t in targets) and r["completed"] > 0,
    }
    path = write_results(ctx, NAME, payload)
    print(f"results: {path}")
    return payload
