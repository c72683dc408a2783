"""Observe: the queries a sweep sends to the zone's servers. No judgement here."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from probes.engine import Answers, Asking, QueryEngine
from probes.evidence import is_authoritative, name_of
from probes.model import Delegation, Observation, Transport
from probes.observe_further import further_queries

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
    most = engine.settings.udp_timeout
    asked: list[Asking] = []
    for ns in delegation.nameservers:
        for address in ns.addresses:
            asked.extend(_core_of(engine, ns.name, address, zone, most))
    core = await Answers(asked)  # futures: no task per question
    return core, await _glue_questions(delegation, core, engine)


def _core_of(
    engine: QueryEngine, nameserver: str, address: str, zone: str, most: float
) -> tuple[Asking, Asking, Asking]:
    """One address's core questions under way, in CORE_QUERIES order: the SOA over TCP
    alongside the SOA then the NS over UDP. The NS question follows the SOA's over UDP so
    it goes out on the socket the SOA's exchange gave back (a sweep of the whole root zone
    opened ~27,500 UDP sockets for ~41,700 UDP queries when both went at once); a silent
    server still gets it after `most` seconds (one UDP timeout), so the pair takes no
    longer than the SOA over TCP would."""
    soa = engine.asking(nameserver, address, zone, "SOA", Transport.UDP)
    tcp = engine.asking(nameserver, address, zone, "SOA", Transport.TCP)
    ns = engine.asking(nameserver, address, zone, "NS", Transport.UDP, start=False)
    ns.follow(soa, most)
    return soa, tcp, ns


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
    asked = [
        engine.asking(server.nameserver, server.address, name, rdtype, Transport.UDP)
        for name in sorted(in_zone)
        for rdtype in ("A", "AAAA")
    ]
    return await Answers(asked)
