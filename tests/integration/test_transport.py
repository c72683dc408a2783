"""The transport on real sockets: what the kernel says, and what a timeout bounds."""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import dns.flags
import dns.message
import dns.rrset

from probes.model import FailureKind
from probes.transport import WireQuery, make_query, tcp_exchange, udp_exchange


def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def query() -> WireQuery:
    return WireQuery.from_message(make_query("fr.", "SOA")).with_new_id()


def test_nothing_listening_over_udp_is_unreachable_at_once():
    started = time.monotonic()
    result = asyncio.run(udp_exchange(query(), "127.0.0.1", closed_port(), 5.0))
    assert result.failure is FailureKind.UNREACHABLE
    assert time.monotonic() - started < 1.0  # ICMP port unreachable, not the 5 s timeout


def test_nothing_listening_over_tcp_is_unreachable_at_once():
    started = time.monotonic()
    result = asyncio.run(tcp_exchange(query(), "127.0.0.1", closed_port(), 5.0))
    assert result.failure is FailureKind.UNREACHABLE
    assert time.monotonic() - started < 1.0  # TCP RST


def test_silent_udp_server_times_out_within_the_timeout():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        started = time.monotonic()
        result = asyncio.run(udp_exchange(query(), "127.0.0.1", silent.getsockname()[1], 0.3))
        elapsed = time.monotonic() - started
    assert result.failure is FailureKind.TIMEOUT
    assert 0.3 <= elapsed < 2.0


def test_query_ids_are_fresh_and_question_is_ours():
    template = WireQuery.from_message(make_query("Fr.", "SOA"))
    ids = {template.with_new_id().wire[:2] for _ in range(64)}
    assert len(ids) > 50  # random 16-bit IDs: collisions in 64 draws are rare
    assert template.question == b"\x02fr\x00\x00\x06\x00\x01"
    assert template.payload == 1232


class _OneShotServer:
    """Answers one SOA query authoritatively over UDP and TCP on ::1 (IPv6 loopback)."""

    def __init__(self) -> None:
        self.udp = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        self.udp.bind(("::1", 0))
        self.port = self.udp.getsockname()[1]
        self.tcp = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        self.tcp.bind(("::1", self.port))
        self.tcp.listen(1)
        self.udp.settimeout(5)
        self.tcp.settimeout(5)

    @staticmethod
    def answer(wire: bytes) -> bytes:
        query = dns.message.from_wire(wire)
        reply = dns.message.make_response(query)
        reply.flags |= dns.flags.AA
        reply.answer.append(dns.rrset.from_text(
            "fr.", 3600, "IN", "SOA", "ns1.nic.fr. hostmaster.nic.fr. 7 14400 3600 604800 3600"))
        return reply.to_wire()

    def serve_udp(self) -> None:
        data, peer = self.udp.recvfrom(4096)
        self.udp.sendto(self.answer(data), peer)

    def serve_tcp(self) -> None:
        conn, _ = self.tcp.accept()
        with conn:
            length = int.from_bytes(conn.recv(2), "big")
            wire = self.answer(conn.recv(length))
            conn.sendall(len(wire).to_bytes(2, "big") + wire)

    def close(self) -> None:
        self.udp.close()
        self.tcp.close()


def test_ipv6_queries_over_udp_and_tcp():
    server = _OneShotServer()
    try:
        for transport, serve, exchange in (("udp", server.serve_udp, udp_exchange),
                                           ("tcp", server.serve_tcp, tcp_exchange)):
            thread = threading.Thread(target=serve, daemon=True)
            thread.start()
            result = asyncio.run(exchange(query(), "::1", server.port, 3.0))
            thread.join(5)
            assert result.failure is None, (transport, result.detail)
            assert result.reply is not None and result.reply.answer[0][0].serial == 7
            assert result.rtt is not None and 0 < result.rtt < 3.0
    finally:
        server.close()


class _Recorder:
    """A UDP server on loopback that answers the first `answer` queries (echoing ID and
    question) and drops the rest, recording each query's source port."""

    def __init__(self, answer: int) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.answer = answer
        self.sources: list[int] = []
        self.ids: list[bytes] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        deadline = time.monotonic() + 30  # bounded, whatever happens
        while not self.stop.is_set() and time.monotonic() < deadline:
            try:
                data, source = self.sock.recvfrom(4096)
            except TimeoutError:
                continue
            self.sources.append(source[1])
            self.ids.append(data[:2])
            if len(self.sources) <= self.answer:
                request = dns.message.from_wire(data)
                self.sock.sendto(dns.message.make_response(request).to_wire(), source)

    def __enter__(self) -> _Recorder:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(5)
        self.sock.close()


def test_kept_udp_socket_carries_the_next_query_but_never_a_retry():
    from probes.transport import UdpSockets

    async def three(port: int) -> list:
        kept = UdpSockets(per_address=4)
        try:
            results = [await udp_exchange(query(), "127.0.0.1", port, 0.3, kept)
                       for _ in range(3)]
            return [*results, len(kept)]
        finally:
            kept.close()

    with _Recorder(answer=2) as server:
        first, second, third, idle = asyncio.run(three(server.port))
    assert first.reply is not None and second.reply is not None
    assert third.failure is FailureKind.TIMEOUT  # the server dropped it
    assert server.sources[0] == server.sources[1]  # a clean answer: the socket was kept
    assert idle == 0  # the timed-out socket was closed, not kept for a retry
    assert len(server.ids) == 3 and len(set(server.ids)) == 3  # each query its own ID


def test_retry_after_a_timeout_leaves_from_a_fresh_source_port():
    from probes.transport import UdpSockets

    async def twice(port: int) -> tuple:
        kept = UdpSockets(per_address=4)
        try:
            lost = await udp_exchange(query(), "127.0.0.1", port, 0.3, kept)
            retry = await udp_exchange(query(), "127.0.0.1", port, 0.3, kept)
            return lost, retry
        finally:
            kept.close()

    with _Recorder(answer=0) as server:
        lost, retry = asyncio.run(twice(server.port))
    assert lost.failure is FailureKind.TIMEOUT and retry.failure is FailureKind.TIMEOUT
    assert len(server.sources) == 2 and server.sources[0] != server.sources[1]


def test_kept_sockets_at_their_bound_go_one_per_address_before_two():
    """At the bound, an address without an idle socket takes the place of another address's
    second one; an address that has one already gets no second. Below the bound, a second
    one is kept."""
    from probes.transport import UdpSockets, _open_channel

    async def scenario() -> dict[str, object]:
        loop = asyncio.get_running_loop()
        port_a, port_b, port_c = closed_port(), closed_port(), closed_port()

        def channel(port: int):  # a connected UDP socket (nothing is sent)
            return _open_channel(loop, "127.0.0.1", port)

        kept = UdpSockets(per_address=4, limit=3)
        kept.take(loop, ("127.0.0.1", port_a))  # binds the pool to this loop
        a1, a2, b1 = channel(port_a), channel(port_a), channel(port_b)
        for ch in (a1, a2, b1):
            kept.give(ch)
        full = len(kept)
        c1 = channel(port_c)
        kept.give(c1)  # C has none: A's second one makes room
        evicted = a2.sock.fileno() == -1
        c2, a3 = channel(port_c), channel(port_a)
        kept.give(c2)  # C has one, nobody has two: closed
        kept.give(a3)
        after = {"full": full, "evicted": evicted, "count": len(kept),
                 "c2 closed": c2.sock.fileno() == -1, "a3 closed": a3.sock.fileno() == -1,
                 "a1 kept": a1.sock.fileno() != -1, "c1 kept": c1.sock.fileno() != -1}
        roomy = UdpSockets(per_address=4, limit=4)
        roomy.take(loop, ("127.0.0.1", port_a))
        pair = [channel(port_a), channel(port_a)]
        for ch in pair:
            roomy.give(ch)
        after["below the bound, two kept"] = len(roomy) == 2
        kept.close()
        roomy.close()
        return after

    seen = asyncio.run(scenario())
    assert seen == {"full": 3, "evicted": True, "count": 3, "c2 closed": True,
                    "a3 closed": True, "a1 kept": True, "c1 kept": True,
                    "below the bound, two kept": True}
