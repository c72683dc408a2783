"""Observe: the queries a sweep sends to the zone's servers. No judgement here."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from functools import partial
from typing import Any, TypeVar

from probes.engine import QueryEngine
from probes.evidence import is_authoritative, name_of
from probes.model import Delegation, Observation, Transport
from probes.observe_further import further_queries

T = TypeVar("T")

# Per address: the apex SOA over both transports, and the apex NS set over UDP (in this
# order in a sweep's observations: `_core_of` asks them so).
CORE_QUERIES: tuple[tuple[str, Transport], ...] = (
    ("SOA", Transport.UDP),
    ("SOA", Transport.TCP),
    ("NS", Transport.UDP),
)


# Further probes (DNSSEC, AXFR, recursion, EDNS, NSID, ...): an explicit list, not import
# side effects. Each gets the delegation, the core observations and the engine, and returns
# its own observations.
ExtraProbe = Callable[[Delegation, list[Observation], QueryEngine], Awaitable[list[Observation]]]
EXTRA_PROBES: tuple[ExtraProbe, ...] = (further_queries,)


async def observe(delegation: Delegation, engine: QueryEngine) -> list[Observation]:
    """Ask every (NS, address) the core questions, then the glue and further questions."""
    core, glue = await observe_core(delegation, engine)
    return core + glue + await observe_further(delegation, core, engine)


async def observe_core(
    delegation: Delegation, engine: QueryEngine
) -> tuple[list[Observation], list[Observation]]:
    """The core questions of every (NS, address), then the glue questions (DELEG04).
    Observations in CORE_QUERIES order per address."""
    zone = delegation.zone
    pairs = await asyncio.gather(*(
        _core_of(engine, ns.name, address, zone)
        for ns in delegation.nameservers for address in ns.addresses))
    core = [obs for pair in pairs for obs in pair]
    return core, await _glue_questions(delegation, core, engine)


async def _core_of(
    engine: QueryEngine, nameserver: str, address: str, zone: str
) -> tuple[Observation, Observation, Observation]:
    """One address's core questions (CORE_QUERIES order): the SOA over TCP alongside the
    SOA then the NS over UDP."""
    loop = asyncio.get_running_loop()
    tcp = loop.create_task(engine.ask(nameserver, address, zone, "SOA", Transport.TCP))
    try:
        soa, ns = await in_turn(
            partial(engine.ask, nameserver, address, zone, "SOA", Transport.UDP),
            partial(engine.ask, nameserver, address, zone, "NS", Transport.UDP),
            engine.settings.udp_timeout)
    except BaseException:
        tcp.cancel()
        raise
    return soa, await tcp, ns


async def in_turn(first: Callable[[], Awaitable[T]], then: Callable[[], Coroutine[Any, Any, T]],
                  most: float) -> tuple[T, T]:
    """`first()`, then `then()` once it is done or after `most` seconds, whichever comes
    first. The NS question follows the SOA's over UDP so it goes out on the socket the SOA's
    exchange gave back (a sweep of the whole root zone opened ~27,500 UDP sockets for
    ~41,700 UDP queries when both went at once); a silent server still gets it after one
    UDP timeout, so the pair takes no longer than the SOA over TCP would."""
    loop = asyncio.get_running_loop()
    early: list[asyncio.Task[T]] = []

    def start() -> None:
        early.append(loop.create_task(then()))

    timer = loop.call_later(most, start)
    try:
        result = await first()
    except BaseException:
        for task in early:
            task.cancel()
        raise
    finally:
        timer.cancel()
    return result, await (early[0] if early else then())


async def observe_further(
    delegation: Delegation, core: list[Observation], engine: QueryEngine
) -> list[Observation]:
    """The further probes of EXTRA_PROBES (DNSSEC, AXFR, recursion, EDNS, NSID, ...)."""
    found = await asyncio.gather(*(probe(delegation, core, engine) for probe in EXTRA_PROBES))
    return [obs for batch in found for obs in batch]


async def _glue_questions(
    delegation: Delegation, observations: list[Observation], engine: QueryEngine
) -> list[Observation]:
    """A and AAAA of the in-zone NS names that have glue, asked of one authoritative server."""
    zone = name_of(delegation.zone)
    in_zone = [n for n in delegation.glue if name_of(n).is_subdomain(zone)]
    if not in_zone:
        return []
    answering = [
        o for o in observations
        if o.question.rdtype == "SOA" and o.transport is Transport.UDP
        and is_authoritative(o, delegation.zone)
    ]
    if not answering:
        return []
    server = min(answering, key=lambda o: (o.rtt or 0.0, o.address))
    tasks = [
        engine.ask(server.nameserver, server.address, name, rdtype, Transport.UDP)
        for name in sorted(in_zone)
        for rdtype in ("A", "AAAA")
    ]
    return list(await asyncio.gather(*tasks))
