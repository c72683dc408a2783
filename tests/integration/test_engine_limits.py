"""The engine is gentle: never more than `per_address_in_flight` queries at one address."""

from __future__ import annotations

import asyncio

import dns.flags
import dns.message
import dns.rrset

from probes.engine import QueryEngine
from probes.model import Transport
from probes.settings import ProbeSettings

HOLD = 0.05  # seconds the server sits on each query


class CountingServer(asyncio.DatagramProtocol):
    """Holds every query HOLD seconds before answering; records the most it held at once."""

    def __init__(self) -> None:
        self.held = 0
        self.most_held = 0
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.held += 1
        self.most_held = max(self.most_held, self.held)
        asyncio.get_running_loop().call_later(HOLD, self._answer, data, addr)

    def _answer(self, data: bytes, addr: tuple[str, int]) -> None:
        self.held -= 1
        reply = dns.message.make_response(dns.message.from_wire(data))
        reply.flags |= dns.flags.AA
        reply.answer.append(dns.rrset.from_text(
            "fr.", 60, "IN", "SOA", "ns1.nic.fr. h.nic.fr. 1 14400 3600 604800 3600"))
        assert self.transport is not None
        self.transport.sendto(reply.to_wire(), addr)


async def run(limit: int, queries: int) -> tuple[int, int]:
    loop = asyncio.get_running_loop()
    transport, server = await loop.create_datagram_endpoint(
        CountingServer, local_addr=("127.0.0.1", 0))
    try:
        port = transport.get_extra_info("sockname")[1]
        engine = QueryEngine(ProbeSettings(port=port, per_address_in_flight=limit,
                                           udp_timeout=2.0))
        found = await asyncio.gather(*(engine.ask("ns1.nic.fr.", "127.0.0.1", "fr.", "SOA",
                                                  Transport.UDP) for _ in range(queries)))
        answered = sum(1 for obs in found if obs.reply is not None)
        return server.most_held, answered
    finally:
        transport.close()


async def test_per_address_limit_holds_under_a_burst():
    most_held, answered = await run(limit=4, queries=40)
    assert answered == 40
    assert most_held == 4  # the limit is reached and never passed


async def test_limit_is_configurable():
    most_held, answered = await run(limit=1, queries=10)
    assert (most_held, answered) == (1, 10)
