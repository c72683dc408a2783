"""The NS question of an address follows its SOA over UDP (so it can reuse the SOA's
socket), but never waits longer than one UDP timeout for it."""

from __future__ import annotations

import asyncio
import time

from probes.observe import _after


async def _started_after(first_done_in: float | None, most: float) -> float:
    loop = asyncio.get_running_loop()
    first: asyncio.Future[str] = loop.create_future()
    if first_done_in is not None:
        loop.call_later(first_done_in, first.set_result, "soa")
    t0 = time.monotonic()
    started: list[float] = []

    async def then() -> str:
        started.append(time.monotonic() - t0)
        return "ns"

    assert await _after(first, most, then) == "ns"
    return started[0]


def test_the_second_starts_when_the_first_is_done_before_the_bound() -> None:
    waited = asyncio.run(_started_after(0.05, most=1.0))
    assert 0.05 <= waited < 0.5  # at the first's end, well before the bound (1 s)


def test_the_second_starts_at_the_bound_when_the_first_is_still_running() -> None:
    waited = asyncio.run(_started_after(2.0, most=0.1))
    assert 0.1 <= waited < 1.0  # at the bound, long before the first's end (2 s)


def test_an_already_finished_first_lets_the_second_start_at_once() -> None:
    async def done_first() -> float:
        first: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        first.set_result("soa")
        t0 = time.monotonic()

        async def then() -> float:
            return time.monotonic() - t0

        return await _after(first, 5.0, then)

    assert asyncio.run(done_first()) < 0.5
