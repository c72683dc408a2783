"""The engine's questions as callbacks (QueryEngine.asking), on real sockets: the NS question
follows the SOA's over UDP (or goes at its bound), the core questions come back in
CORE_QUERIES order, the per-address and global bounds hold, and a cancelled question
leaves no socket, timer or place in line behind."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from typing import ClassVar

import dns.flags
import dns.message
import dns.rdatatype
import dns.rrset
import pytest

from probes.engine import QueryEngine
from probes.model import Delegation, NameServer, Source, Transport
from probes.observe import CORE_QUERIES, observe_core
from probes.settings import ProbeSettings

pytestmark = pytest.mark.integration

SOA = "ns1.nic.fr. h.nic.fr. 1 14400 3600 604800 3600"


class Server(asyncio.DatagramProtocol):
    """Answers every query after `hold` seconds (SOA queries after `soa_hold` when given,
    never when it is None and `soa_silent`); records when each query type arrived and the
    most it held at once."""

    def __init__(self, hold: float = 0.0, soa_hold: float | None = None,
                 soa_silent: bool = False) -> None:
        self.hold = hold
        self.soa_hold = hold if soa_hold is None else soa_hold
        self.soa_silent = soa_silent
        self.arrived: list[tuple[str, float]] = []
        self.held = 0
        self.most_held = 0
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        query = dns.message.from_wire(data)
        rdtype = dns.rdatatype.to_text(query.question[0].rdtype)
        self.arrived.append((rdtype, time.monotonic()))
        if rdtype == "SOA" and self.soa_silent:
            return
        self.held += 1
        self.most_held = max(self.most_held, self.held)
        hold = self.soa_hold if rdtype == "SOA" else self.hold
        asyncio.get_running_loop().call_later(hold, self._answer, query, addr)

    def _answer(self, query: dns.message.Message, addr: tuple[str, int]) -> None:
        self.held -= 1
        reply = dns.message.make_response(query)
        reply.flags |= dns.flags.AA
        rdtype = dns.rdatatype.to_text(query.question[0].rdtype)
        data = SOA if rdtype == "SOA" else "ns1.nic.fr."
        reply.answer.append(dns.rrset.from_text("fr.", 60, "IN", rdtype, data))
        assert self.transport is not None
        self.transport.sendto(reply.to_wire(), addr)


async def serve(server: Server) -> tuple[asyncio.DatagramTransport, int]:
    transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
        lambda: server, local_addr=("127.0.0.1", 0))
    return transport, transport.get_extra_info("sockname")[1]


def _arrival(server: Server, rdtype: str) -> float:
    return next(t for kind, t in server.arrived if kind == rdtype)


async def _ns_after(server: Server, most: float) -> tuple[float, float, float]:
    """(SOA arrived, SOA answered, NS arrived), seconds after the start: the NS question
    asked to follow the SOA's, at most `most` seconds after it started."""
    transport, port = await serve(server)
    try:
        engine = QueryEngine(ProbeSettings(port=port, udp_timeout=2.0, udp_tries=1))
        t0 = time.monotonic()
        soa = engine.asking("ns1.nic.fr.", "127.0.0.1", "fr.", "SOA", Transport.UDP)
        ns = engine.asking("ns1.nic.fr.", "127.0.0.1", "fr.", "NS", Transport.UDP, start=False)
        ns.follow(soa, most)
        soa_obs, ns_obs = await asyncio.gather(soa, ns)
        assert ns_obs.reply is not None
        answered = soa_obs.sent_at + (soa_obs.rtt or 0.0) - (time.time() - time.monotonic())
        engine.close()
        return _arrival(server, "SOA") - t0, answered - t0, _arrival(server, "NS") - t0
    finally:
        transport.close()


def test_the_ns_question_follows_the_soa_answer_before_the_bound() -> None:
    soa_at, answered, ns_at = asyncio.run(_ns_after(Server(soa_hold=0.1), most=1.0))
    assert soa_at < 0.05  # the SOA went at once
    # The NS went after the SOA's answer (10 ms margin: two clocks read apart), long before
    # the 1 s bound.
    assert answered - 0.01 <= ns_at < 0.6, (answered, ns_at)


def test_the_ns_question_goes_at_the_bound_when_the_soa_is_not_answered() -> None:
    # The SOA is never answered (it times out at 2 s); the bound is 0.2 s.
    _soa_at, _answered, ns_at = asyncio.run(_ns_after(Server(soa_silent=True), most=0.2))
    assert 0.2 <= ns_at < 1.0, ns_at


def _delegation(address: str, count: int = 1) -> Delegation:
    servers = tuple(NameServer(f"ns{n}.nic.fr.", (address,), frozenset({Source.PARENT}))
                    for n in range(count))
    return Delegation(zone="fr.", parent_ns=tuple(s.name for s in servers), glue={},
                      nameservers=servers, parent_addresses=("127.0.0.1",))


def test_core_observations_come_in_core_queries_order_from_a_real_server() -> None:
    """SOA over UDP, SOA over TCP, NS over UDP per address: the order CORE_QUERIES names,
    which the precheck and the readers of a sweep's observations rely on. The TCP SOA is
    refused (nothing listens on TCP at the port): its own row, not a lost one."""

    async def main() -> list[tuple[str, Transport, bool]]:
        server = Server()
        transport, port = await serve(server)
        try:
            engine = QueryEngine(ProbeSettings(port=port, udp_timeout=1.0))
            core, glue = await observe_core(_delegation("127.0.0.1", count=3), engine)
            engine.close()
            assert glue == []
            return [(o.question.rdtype, o.transport, o.reply is not None) for o in core]
        finally:
            transport.close()

    got = asyncio.run(main())
    assert [(rdtype, t) for rdtype, t, _ in got] == list(CORE_QUERIES) * 3
    assert [answered for _, t, answered in got] == [t is Transport.UDP for _, t, _ in got]


def test_per_address_and_global_bounds_hold_for_questions_under_way() -> None:
    class Both(Server):  # counts what both servers hold together
        together: ClassVar[list[int]] = [0, 0]  # held now, most held

        def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
            self.together[0] += 1
            self.together[1] = max(self.together[1], self.together[0])
            super().datagram_received(data, addr)

        def _answer(self, query: dns.message.Message, addr: tuple[str, int]) -> None:
            self.together[0] -= 1
            super()._answer(query, addr)

    async def main() -> tuple[int, int, int, int]:
        one, two = Both(hold=0.05), Both(hold=0.05)
        loop = asyncio.get_running_loop()
        first, _ = await loop.create_datagram_endpoint(lambda: one,
                                                        local_addr=("127.0.0.1", 0))
        port = first.get_extra_info("sockname")[1]
        second, _ = await loop.create_datagram_endpoint(lambda: two,
                                                         local_addr=("127.0.0.2", port))
        try:
            engine = QueryEngine(ProbeSettings(port=port, udp_timeout=2.0,
                                               per_address_in_flight=4, max_in_flight=6))
            asked = [engine.asking("ns1.nic.fr.", address, "fr.", "NS", Transport.UDP)
                     for address in ("127.0.0.1", "127.0.0.2") for _ in range(20)]
            found = await asyncio.gather(*asked)
            engine.close()
            answered = sum(o.reply is not None for o in found)
            return one.most_held, two.most_held, Both.together[1], answered
        finally:
            first.close()
            second.close()

    one, two, both, answered = asyncio.run(main())
    assert one == 4 and two <= 4  # the per-address bound, reached
    assert both == 6  # the global bound, reached across the two addresses
    assert answered == 40


def _open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


def _silent_pair() -> tuple[socket.socket, socket.socket]:
    """A TCP listener nobody accepts from and a UDP socket nobody reads, on one port (tried
    up to 50 times: other programs' UDP sockets may hold the port the listener got)."""
    for _attempt in range(50):
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)  # the kernel completes handshakes; nobody accepts
        silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            silent.bind(("127.0.0.1", listener.getsockname()[1]))
        except OSError:
            silent.close()
            listener.close()
            continue
        return listener, silent
    raise AssertionError("no port free for both TCP and UDP in 50 tries")


def test_cancelled_questions_leave_no_socket_timer_or_place_behind() -> None:
    """A sweep's core questions cancelled mid-flight (a silent UDP server, a TCP server that
    accepts and never answers): every socket closed, every timer cancelled, every place in
    the bounds given back, and questions still in line never sent."""
    listener, silent = _silent_pair()
    port = listener.getsockname()[1]

    async def main() -> tuple[int, int, list[asyncio.TimerHandle], int, int, int]:
        loop = asyncio.get_running_loop()
        engine = QueryEngine(ProbeSettings(port=port, udp_timeout=5.0, tcp_timeout=5.0,
                                           per_address_in_flight=4, max_in_flight=5))
        before = _open_descriptors()
        sweep = asyncio.ensure_future(observe_core(_delegation("127.0.0.1", count=4), engine))
        await asyncio.sleep(0.2)  # 4 in flight at the address, 8 in line behind them
        during = _open_descriptors()
        sweep.cancel()
        with pytest.raises(asyncio.CancelledError):
            await sweep
        await asyncio.sleep(0.05)  # the loop's deferred closes run
        # The loop timers left: only the deadline queues' own (one per length, dropping
        # finished entries when due), and none of their entries still waiting.
        queues = list(engine._deadlines.values())
        left = [h for h in loop._scheduled if not h.cancelled()  # type: ignore[attr-defined]
                and h not in [q.timer for q in queues]]
        waiting = sum(q.pending() for q in queues)
        slot = engine._address_slot("127.0.0.1")
        return during - before, _open_descriptors() - before, left, waiting, slot.free, \
            engine._global.free

    try:
        in_flight, left_open, timers, waiting, address_free, global_free = asyncio.run(main())
        silent.setblocking(False)
        datagrams = 0
        while datagrams < 100:
            try:
                silent.recv(4096)
            except BlockingIOError:
                break
            datagrams += 1
    finally:
        silent.close()
        listener.close()
    # Two SOA questions over UDP went (with two over TCP, the address's 4); the rest waited
    # in line, and the NS questions waited for the SOA's: none of them was ever sent.
    assert datagrams == 2
    assert in_flight >= 4  # the questions under way held sockets ...
    assert left_open == 0  # ... all closed once cancelled (none kept: no clean answer)
    assert timers == [] and waiting == 0  # no deadline or follow bound left to act
    assert (address_free, global_free) == (4, 5)  # every place given back
