"""The event loop ccmon runs on: uvloop when it is installed, asyncio's own otherwise.

uvloop keeps `add_reader` (the transport's kernel receive stamps need it) and costs about
a sixth less CPU per query here (bench/sweep.py, same lab, same run). CCMON_EVENT_LOOP=asyncio
forces the standard loop (to compare, or if uvloop misbehaves somewhere).
"""

from __future__ import annotations

import asyncio
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


def run(main: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run(main)`, on uvloop when installed (see `loop_name`)."""
    if loop_name() == "uvloop":
        import uvloop

        return uvloop.run(main)
    return asyncio.run(main)
