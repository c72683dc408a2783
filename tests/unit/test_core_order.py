"""The NS question of an address follows its SOA over UDP (so it can reuse the SOA's
socket), but never waits longer than one UDP timeout for it (probes.observe.in_turn)."""

from __future__ import annotations

import asyncio
import time

import pytest

from probes.observe import in_turn


async def _started_after(first_takes: float, most: float) -> tuple[float, tuple[str, str]]:
    t0 = time.monotonic()
    started: list[float] = []

    async def first() -> str:
        await asyncio.sleep(first_takes)
        return "soa"

    async def then() -> str:
        started.append(time.monotonic() - t0)
        return "ns"

    results = await in_turn(first, then, most)
    return started[0], results


def test_the_second_starts_when_the_first_is_done_before_the_bound() -> None:
    waited, results = asyncio.run(_started_after(0.05, most=1.0))
    assert results == ("soa", "ns")
    assert 0.05 <= waited < 0.5  # at the first's end, well before the bound (1 s)


def test_the_second_starts_at_the_bound_when_the_first_is_still_running() -> None:
    waited, results = asyncio.run(_started_after(1.0, most=0.1))
    assert results == ("soa", "ns")
    assert 0.1 <= waited < 0.8  # at the bound, long before the first's end (1 s)


def test_a_cancelled_pair_cancels_the_second_started_early() -> None:
    async def scenario() -> bool:
        second: list[asyncio.Task[str]] = []

        async def first() -> str:
            await asyncio.sleep(5)
            return "soa"

        async def then() -> str:
            second.append(asyncio.current_task())  # type: ignore[arg-type]
            await asyncio.sleep(5)
            return "ns"

        pair = asyncio.ensure_future(in_turn(first, then, 0.05))
        await asyncio.sleep(0.2)  # the bound passed: the second runs
        pair.cancel()
        with pytest.raises(asyncio.CancelledError):
            await pair
        await asyncio.sleep(0)
        return bool(second) and second[0].cancelled()

    assert asyncio.run(scenario())


def test_the_core_observations_come_in_core_queries_order() -> None:
    """_core_of returns (SOA over UDP, SOA over TCP, NS over UDP): the order CORE_QUERIES
    names, which the precheck and the readers of a sweep's observations rely on."""
    from probes.model import Observation, Question, Transport
    from probes.observe import CORE_QUERIES, _core_of
    from probes.settings import ProbeSettings

    class Recorder:  # stands in for the engine: answers at once, in the order asked
        settings = ProbeSettings(udp_timeout=1.0)

        async def ask(self, nameserver: str, address: str, qname: str, rdtype: str,
                      transport: Transport) -> Observation:
            return Observation(nameserver=nameserver, address=address, transport=transport,
                               question=Question(qname, rdtype), sent_at=0.0)

    got = asyncio.run(_core_of(Recorder(), "ns1.fr.", "192.0.2.1", "fr."))  # type: ignore[arg-type]
    assert tuple((o.question.rdtype, o.transport) for o in got) == CORE_QUERIES
