"""The cyclic garbage collector's pace while ccmon sweeps.

Python's generational collector, left automatic, traverses a sweep's objects again and
again: each young collection walks what the sweep still holds, survivors are promoted and
walked again by the middle and full collections, and a full one walks the whole heap (the
parse cache's replies, every zone's report). On a warm sweep of the whole root zone that
was 0.6-1.5 CPU-s of ~5 (young 0.30-0.34, middle 0.28-0.44, a full one 0.73 every second or
third sweep; docs/performance.md), for almost nothing found: a one-shot check of the 309
ccTLDs made 20-50 objects in cycles in all. Reference counting frees everything else.

So the automatic collector is off, and on a timer the objects made since the previous
tick are collected (generation 0: everything older is frozen) and what survives is frozen
in turn, so each object is walked about once. Cycles among frozen objects wait for the
hourly collection of everything, which bounds what they can hold.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Callable

#: Seconds between collections of what was made since the previous one.
NEW_EVERY = 10.0
#: Seconds between collections of everything (cycles among frozen objects).
WHOLE_EVERY = 3600.0


class CollectorPace:
    """Automatic collection off; `collect_due()` on a timer (`start`) or by hand."""

    def __init__(self, every: float = NEW_EVERY, whole_every: float = WHOLE_EVERY,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.every = every
        self.whole_every = whole_every
        self.clock = clock
        self.collections = 0
        self.whole_collections = 0
        self.seconds = 0.0  # CPU time spent in the timed collections
        self._was_enabled = gc.isenabled()
        self._next = self._whole_at = 0.0
        self._handle: asyncio.TimerHandle | None = None

    def take_over(self) -> None:
        """Switch the automatic collector off and freeze what exists (start-up's modules,
        config and store live as long as the process)."""
        self._was_enabled = gc.isenabled()
        gc.disable()
        gc.collect()
        gc.freeze()
        now = self.clock()
        self._next, self._whole_at = now + self.every, now + self.whole_every

    def collect_due(self) -> int:
        """Collect if a tick is due: what is new, or everything once per `whole_every`;
        then freeze the survivors. Returns the objects found unreachable."""
        now = self.clock()
        if now < self._next:
            return 0
        self._next = now + self.every
        cpu = time.process_time()
        if now >= self._whole_at:
            self._whole_at = now + self.whole_every
            gc.unfreeze()
            found = gc.collect()
            self.whole_collections += 1
        else:
            found = gc.collect(0)
        gc.freeze()
        self.collections += 1
        self.seconds += time.process_time() - cpu
        return found

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Take over and tick on `loop` every `every` seconds until `stop`."""
        self.take_over()
        self._schedule(loop)

    def _schedule(self, loop: asyncio.AbstractEventLoop) -> None:
        self._handle = loop.call_at(loop.time() + max(0.0, self._next - self.clock()),
                                    self._tick, loop)

    def _tick(self, loop: asyncio.AbstractEventLoop) -> None:
        self.collect_due()
        self._schedule(loop)

    def stop(self) -> None:
        """Stop ticking and give the collector back as it was (frozen objects included)."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        gc.unfreeze()
        if self._was_enabled:
            gc.enable()
