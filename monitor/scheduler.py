"""APScheduler jobs that sweep each zone on its interval, never two at once per zone.

One job per zone on APScheduler's asyncio scheduler. Each zone starts at a random offset
within the jitter spread (RSSAC047 spreads its tests over the interval the same way), so
300 zones do not all hit the network in the same second, and then keeps its phase. A
sweep that outlasts its interval makes the next run of that zone skip (``max_instances=1``);
skips, and runs the scheduler woke up too late for, are reported through ``on_skip`` so
they can be counted. :meth:`SweepScheduler.stop` cancels running sweeps and waits a
bounded time for them to unwind.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import random
from collections.abc import Awaitable, Callable

from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED, JobEvent
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

log = logging.getLogger(__name__)
# APScheduler logs every job start and end at INFO: 300 zones a minute of noise.
logging.getLogger("apscheduler.executors.default").setLevel(logging.WARNING)
logging.getLogger("apscheduler.scheduler").setLevel(logging.WARNING)  # one line per job added

Sweep = Callable[[str], Awaitable[None]]
_HOUSEKEEPING = "housekeeping:"


class SweepScheduler:
    """Runs ``sweep(zone)`` for every zone, every ``interval`` seconds."""

    def __init__(
        self,
        zones: tuple[str, ...],
        interval: float,
        jitter: float,
        sweep: Sweep,
        on_skip: Callable[[str], None] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        if interval <= 0:
            raise ValueError("interval must be positive")
        self.zones = zones
        self.interval = interval
        self.jitter = max(0.0, min(jitter, interval))
        self._sweep = sweep
        self._on_skip = on_skip or (lambda zone: None)
        self._rng = rng or random.Random()
        self._scheduler = AsyncIOScheduler(timezone=datetime.UTC)
        self._tasks: set[asyncio.Task[None]] = set()
        self.running: set[str] = set()  # zones with a sweep in progress
        self.offsets: dict[str, float] = {}

    def start(self) -> None:
        """Add one job per zone and start; call from within the running event loop."""
        now = datetime.datetime.now(datetime.UTC)
        misfire = max(1, int(self.interval))
        for zone in self.zones:
            offset = self._rng.uniform(0, self.jitter) if self.jitter else 0.0
            self.offsets[zone] = offset
            first = now + datetime.timedelta(seconds=offset)
            self._scheduler.add_job(
                self._run,
                IntervalTrigger(seconds=self.interval, start_date=first),
                next_run_time=first,  # the trigger alone would skip a start date just past
                args=(zone,),
                id=zone,
                name=f"sweep {zone}",
                max_instances=1,
                coalesce=True,
                misfire_grace_time=misfire,
            )
        self._scheduler.add_listener(self._skipped, EVENT_JOB_MAX_INSTANCES | EVENT_JOB_MISSED)
        self._scheduler.start()

    def add_periodic(self, name: str, func: Callable[[], Awaitable[None]], every: float) -> None:
        """A housekeeping coroutine (pruning), run on the loop every ``every`` seconds."""
        self._scheduler.add_job(
            func,
            IntervalTrigger(seconds=every),
            id=_HOUSEKEEPING + name,
            max_instances=1,
            coalesce=True,
        )

    def _skipped(self, event: JobEvent) -> None:
        if event.job_id.startswith(_HOUSEKEEPING):
            return
        log.warning("sweep of %s skipped: the previous one is still running", event.job_id)
        self._on_skip(event.job_id)

    async def _run(self, zone: str) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        self.running.add(zone)
        try:
            await self._sweep(zone)
        except asyncio.CancelledError:
            log.debug("sweep of %s cancelled", zone)  # stopping: end quietly, write nothing
        finally:
            self.running.discard(zone)
            if task is not None:
                self._tasks.discard(task)

    async def stop(self, timeout: float = 2.0) -> None:
        """Stop scheduling, cancel sweeps in progress, wait at most ``timeout`` for them."""
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        tasks = [t for t in self._tasks if not t.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            _done, pending = await asyncio.wait(tasks, timeout=timeout)
            if pending:
                log.warning("%d sweeps did not stop within %.1f s", len(pending), timeout)
        await asyncio.sleep(0)  # let the deferred scheduler shutdown run
