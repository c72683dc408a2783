"""Where a scrape's time goes inside ``ccmon run``: loaded into the child by
``metrics_latency.py --trace`` (through CCMON_BENCH_PYTHONPATH); does nothing unless
CCMON_SCRAPE_TRACE names the JSON file to write at exit.

Per request, on the web thread: the time from the connection's accept to the request's
turn in the limiter's middleware, the middleware's whole time (handler, headers and body
written), the handler's wall and CPU time, and the thread's CPU time and run-queue wait over
the middleware (``/proc/self/task/TID/schedstat``: time runnable but not on a CPU, that is
the machine's other load), and its run-queue wait since the previous request ended (the
wake-up for this one). What is left (wall - CPU - run queue) is time the thread was
blocked: waiting for the GIL, or for the client to take the body. Per garbage collection:
generation, duration, CPU time and thread (``gc.callbacks``): a collection holds the GIL
for its whole duration, preempted or not.
"""

from __future__ import annotations

import atexit
import gc
import importlib.abc
import importlib.machinery
import json
import os
import sys
import threading
import time
from typing import Any

OUT = os.environ.get("CCMON_SCRAPE_TRACE", "")
RECORDS: dict[str, list[Any]] = {"gc": [], "requests": []}
_gc_started: dict[int, tuple[float, float]] = {}
_last: dict[str, float] = {}  # the web thread's run-queue total when its last request ended


def _gc_callback(phase: str, info: dict[str, int]) -> None:
    now, cpu = time.perf_counter(), time.thread_time()
    ident = threading.get_ident()
    if phase == "start":
        _gc_started[ident] = (now, cpu)
        return
    began, cpu_began = _gc_started.pop(ident, (now, cpu))
    RECORDS["gc"].append({"at": time.time(), "generation": info["generation"],
                          "seconds": now - began, "cpu": cpu - cpu_began,
                          "thread": threading.current_thread().name})  # fmt: skip


def _schedstat() -> tuple[float, float]:
    """(CPU seconds, run-queue seconds) of the calling thread."""
    with open(f"/proc/self/task/{threading.get_native_id()}/schedstat") as f:
        cpu, waited, _slices = f.read().split()
    return int(cpu) / 1e9, int(waited) / 1e9


def _patch_limits(module: Any) -> None:
    from aiohttp import web

    original = module.ConnectionLimiter.middleware

    @web.middleware
    async def middleware(self: Any, request: Any, handler: Any) -> Any:
        conn = self.by_transport.get(request.transport) if request.transport else None
        # from the accept, for a connection's first request (later ones: kept alive)
        queued = self.loop.time() - conn.accepted if conn and conn.requests == 0 else None
        started, (cpu0, runq0) = time.perf_counter(), _schedstat()
        # run-queue wait since the previous request ended: the wake-up for this one
        before = runq0 - _last["runq"] if "runq" in _last else None
        timing = {"wall": 0.0, "cpu": 0.0}

        async def timed(req: Any) -> Any:
            wall, cpu = time.perf_counter(), time.thread_time()
            try:
                return await handler(req)
            finally:
                timing["wall"] = time.perf_counter() - wall
                timing["cpu"] = time.thread_time() - cpu

        try:
            return await original(self, request, timed)
        finally:
            cpu1, runq1 = _schedstat()
            _last["runq"] = runq1
            RECORDS["requests"].append({
                "at": time.time(), "path": request.path, "queued": queued,
                "middleware": time.perf_counter() - started, "handler": timing["wall"],
                "handler_cpu": timing["cpu"], "cpu": cpu1 - cpu0, "runq": runq1 - runq0,
                "runq_before": before,
            })  # fmt: skip

    module.ConnectionLimiter.middleware = middleware


class _Patcher(importlib.abc.MetaPathFinder):
    """Patches monitor.web.limits right after it is imported."""

    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        if name != "monitor.web.limits":
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return spec
        execute = spec.loader.exec_module

        def exec_module(module: Any) -> None:
            execute(module)
            _patch_limits(module)

        spec.loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def _write() -> None:
    with open(OUT, "w") as f:
        json.dump(RECORDS, f)


if OUT:
    gc.callbacks.append(_gc_callback)
    sys.meta_path.insert(0, _Patcher())
    atexit.register(_write)
