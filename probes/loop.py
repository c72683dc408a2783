"""The event loop ccmon runs on: uvloop when it is installed, asyncio's own otherwise; and
the garbage collector's pace.

uvloop keeps `add_reader` (the transport's kernel receive stamps need it) and costs about
a sixth less CPU per query here (bench/sweep.py, same lab, same run). CCMON_EVENT_LOOP=asyncio
forces the standard loop (to compare, or if uvloop misbehaves somewhere).

A sweep allocates many short-lived objects (parsed replies, observations) and keeps many
long-lived ones (the parse cache): at Python's default pace (a young collection every 700
allocations) the collector ran ~160 times per ccTLD sweep and took 0.2-0.4 s of its CPU,
a sixth of the whole. Collecting young objects every 10,000 allocations instead cut that
to ~0.01 s (bench, same process, alternating); what a sweep frees is freed by reference
counting anyway, the collector only finds cycles.
"""

from __future__ import annotations

import asyncio
import gc
import os
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def loop_name() -> str:
    """"uvloop" or "asyncio": what `run` will use."""
    if os.environ.get("CCMON_EVENT_LOOP", "").lower() == "asyncio":
        return "asyncio"
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return "asyncio"
    return "uvloop"


YOUNG_COLLECTION_EVERY = 10_000  # allocations; Python's default is 700


def pace_collector() -> None:
    """Collect young objects less often (never more often than Python's default)."""
    young, middle, old = gc.get_threshold()
    if 0 < young < YOUNG_COLLECTION_EVERY:
        gc.set_threshold(YOUNG_COLLECTION_EVERY, middle, old)


def run(main: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run(main)`, on uvloop when installed (see `loop_name`), with the collector
    paced for sweeps (`pace_collector`)."""
    pace_collector()
    if loop_name() == "uvloop":
        import uvloop

        return uvloop.run(main)
    return asyncio.run(main)
