"""The transport on real sockets: what the kernel says, and what a timeout bounds."""

from __future__ import annotations

import asyncio
import socket
import time

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
