"""The event loop ccmon runs on, and the garbage collector's pace.

`ccmon run`, `ccmon check` and the benches prefer uvloop when it is installed: it keeps
`add_reader` (the transport's kernel receive stamps need it), costs about a sixth less CPU
per query, and at 3,000 queries in flight its RTT error p99 was 0.058 ms against 0.164 ms
on the standard loop (bench/rtt_accuracy.py --samples 800, same hour, idle machine).
`ccmon check` once kept the standard loop because under uvloop its `--json` into a slow
pipe lost everything past the pipe's capacity about half the time: a short write() that an
unbuffered sys.stdout ignores; the reports now go out through `monitor.output.write_whole`
(tests/integration/test_check_lab.py, test_json_reaches_a_slow_reader_whole).
CCMON_EVENT_LOOP=asyncio|uvloop overrides the choice.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def loop_name(prefer_uvloop: bool = False) -> str:
    """"uvloop" or "asyncio": what `run` will use. CCMON_EVENT_LOOP=asyncio|uvloop decides
    when set; else uvloop when preferred (the service) and installed."""
    asked = os.environ.get("CCMON_EVENT_LOOP", "").lower()
    if asked == "asyncio" or (asked != "uvloop" and not prefer_uvloop):
        return "asyncio"
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return "asyncio"
    return "uvloop"


def run(main: Coroutine[Any, Any, T], prefer_uvloop: bool = False) -> T:
    """`asyncio.run(main)`, on uvloop when installed (see `loop_name`). The garbage
    collector is the caller's: `ccmon run` paces it (probes.collector), `ccmon check`
    pauses it."""
    if loop_name(prefer_uvloop) == "uvloop":
        import uvloop

        return uvloop.run(main)
    return asyncio.run(main)
