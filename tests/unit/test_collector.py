"""The collector's pace: off between ticks, what is new collected at each tick, what is
old only at the collection of everything; the collector given back as it was."""

from __future__ import annotations

import asyncio
import gc
import time
import weakref
from collections.abc import Iterator

import pytest

from probes.collector import CollectorPace


class Node:
    """An object in a reference cycle: only the cyclic collector frees it."""

    def __init__(self) -> None:
        self.me = self


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def pace() -> Iterator[tuple[CollectorPace, Clock]]:
    clock = Clock()
    pace = CollectorPace(every=10.0, whole_every=100.0, clock=clock)
    pace.take_over()
    try:
        yield pace, clock
    finally:
        pace.stop()


def cycle() -> weakref.ref[Node]:
    return weakref.ref(Node())


def test_take_over_switches_automatic_collection_off_and_freezes(
    pace: tuple[CollectorPace, Clock],
) -> None:
    assert not gc.isenabled()
    assert gc.get_freeze_count() > 0


def test_a_tick_is_due_after_every_seconds_not_before(pace: tuple[CollectorPace, Clock]) -> None:
    collector, clock = pace
    garbage = cycle()
    clock.now += 9.999
    assert collector.collect_due() == 0 and collector.collections == 0
    assert garbage() is not None  # the automatic collector is off: nothing freed it
    clock.now += 0.001
    assert collector.collect_due() >= 1 and collector.collections == 1
    assert garbage() is None
    assert collector.collect_due() == 0  # the next tick is `every` seconds later


def test_old_cycles_wait_for_the_collection_of_everything(
    pace: tuple[CollectorPace, Clock],
) -> None:
    collector, clock = pace
    held = Node()
    old = weakref.ref(held)
    clock.now += 10.0
    collector.collect_due()  # `held` survives this tick and is frozen
    del held
    clock.now += 10.0
    collector.collect_due()  # what is new only
    assert old() is not None and collector.whole_collections == 0
    clock.now += 80.0  # 100 s since the take-over: everything
    collector.collect_due()
    assert old() is None and collector.whole_collections == 1
    assert gc.get_freeze_count() > 0  # survivors frozen again


def test_stop_gives_the_collector_back() -> None:
    was = gc.isenabled()
    gc.enable()
    try:
        collector = CollectorPace()
        collector.take_over()
        collector.stop()
        assert gc.isenabled() and gc.get_freeze_count() == 0
        gc.disable()
        collector = CollectorPace()
        collector.take_over()
        collector.stop()
        assert not gc.isenabled()  # it was off before: left off
    finally:
        (gc.enable if was else gc.disable)()


def test_ticks_run_on_the_loop() -> None:
    """every 20 ms, over a measured span of at least 200 ms: ten ticks are due; at least
    two must have run (margin for a busy machine) and the cycles made meanwhile are gone."""

    async def main() -> tuple[int, list[weakref.ref[Node]]]:
        collector = CollectorPace(every=0.02)
        collector.start(asyncio.get_running_loop())
        made: list[weakref.ref[Node]] = []
        started = time.monotonic()
        try:
            while time.monotonic() - started < 0.2 or collector.collections < 2:
                made.append(cycle())
                await asyncio.sleep(0.01)
                if time.monotonic() - started > 10:
                    break
            made.append(cycle())
            await asyncio.sleep(0.05)  # a tick after the last cycle was made
            return collector.collections, made
        finally:
            collector.stop()

    collections, made = asyncio.run(main())
    assert collections >= 2
    assert all(ref() is None for ref in made)
