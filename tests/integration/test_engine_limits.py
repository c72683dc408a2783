"""The engine is gentle: never more than `per_address_in_flight` queries at one address."""

from __future__ import annotations

import asyncio

from probes.engine import QueryEngine
from probes.model import Transport
from probes.settings import ProbeSettings
from tests.integration.test_engine_calls import Server

HOLD = 0.05  # seconds the server sits on each query


async def run(limit: int, queries: int) -> tuple[int, int]:
    loop = asyncio.get_running_loop()
    server = Server(hold=HOLD)
    transport, _ = await loop.create_datagram_endpoint(lambda: server,
                                                       local_addr=("127.0.0.1", 0))
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
