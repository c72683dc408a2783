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
