"""The scheduler: per-zone jobs, start jitter, no overlap, skips counted, clean stop."""

from __future__ import annotations

import asyncio
import random
import time

import pytest

from monitor.scheduler import SweepScheduler


async def test_sweeps_repeat_without_overlap_and_skips_are_counted() -> None:
    active: dict[str, int] = {}
    peak: dict[str, int] = {}
    done: list[str] = []
    skipped: list[str] = []

    async def sweep(zone: str) -> None:
        active[zone] = active.get(zone, 0) + 1
        peak[zone] = max(peak.get(zone, 0), active[zone])
        await asyncio.sleep(0.45 if zone == "slow" else 0.01)
        active[zone] -= 1
        done.append(zone)

    sched = SweepScheduler(("fast", "slow"), 0.1, 0, sweep, skipped.append)
    sched.start()
    await asyncio.sleep(1.0)
    await sched.stop()
    assert done.count("fast") >= 6
    assert peak == {"fast": 1, "slow": 1}
    assert skipped.count("slow") >= 3 and "fast" not in skipped
    assert 1 <= done.count("slow") <= 3


async def test_start_jitter_spreads_first_runs() -> None:
    first: dict[str, float] = {}
    t0 = time.monotonic()

    async def sweep(zone: str) -> None:
        first.setdefault(zone, time.monotonic() - t0)

    zones = tuple(f"z{i}" for i in range(20))
    sched = SweepScheduler(zones, 10, 0.6, sweep, rng=random.Random(7))
    assert sched.jitter == 0.6
    sched.start()
    assert all(0 <= o <= 0.6 for o in sched.offsets.values())
    assert len({round(o, 3) for o in sched.offsets.values()}) > 10
    await asyncio.sleep(0.9)
    await sched.stop()
    assert set(first) == set(zones)
    assert max(first.values()) - min(first.values()) > 0.2  # not all at once


async def test_stop_cancels_a_running_sweep_quickly() -> None:
    started = asyncio.Event()
    cancelled = asyncio.Event()

    async def sweep(zone: str) -> None:
        started.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    sched = SweepScheduler(("mx",), 60, 0, sweep)
    sched.start()
    await asyncio.wait_for(started.wait(), 5)
    assert sched.running == {"mx"}
    t = time.monotonic()
    await sched.stop(timeout=2)
    assert time.monotonic() - t < 1 and cancelled.is_set() and not sched.running


async def test_periodic_housekeeping() -> None:
    calls: list[float] = []

    async def prune() -> None:
        calls.append(time.monotonic())

    async def sweep(zone: str) -> None:
        pass

    sched = SweepScheduler((), 1, 0, sweep)
    sched.add_periodic("prune", prune, 0.1)
    sched.start()
    await asyncio.sleep(0.55)
    await sched.stop()
    assert len(calls) >= 3


def test_interval_must_be_positive() -> None:
    async def sweep(zone: str) -> None:
        pass

    with pytest.raises(ValueError):
        SweepScheduler(("mx",), 0, 0, sweep)
