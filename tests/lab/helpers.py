"""Small DNS helpers for the lab tests (dnspython and raw sockets, all bounded)."""

from __future__ import annotations

import socket
import time

import dns.flags
import dns.message
import dns.query
import dns.rdatatype


def soa_query(zone: str, payload: int | None = 1232) -> dns.message.Message:
    name = zone if zone.endswith(".") else zone + "."
    q = dns.message.make_query(name, dns.rdatatype.SOA, flags=0,
                               use_edns=0 if payload else False, payload=payload or 512)
    return q


def udp(zone: str, address: str, port: int, timeout: float = 1.5) -> dns.message.Message:
    return dns.query.udp(soa_query(zone), address, port=port, timeout=timeout)


def tcp(zone: str, address: str, port: int, timeout: float = 1.5) -> dns.message.Message:
    return dns.query.tcp(soa_query(zone), address, port=port, timeout=timeout)


def raw_udp(wire: bytes, address: str, port: int, timeout: float = 1.5) -> bytes:
    """Send `wire` on a connected UDP socket and return the first datagram back."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.connect((address, port))
        s.send(wire)
        return s.recv(65535)


def timed(fn, *args, **kwargs):
    t0 = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - t0


def soa_serial(msg: dns.message.Message) -> int | None:
    for rrset in msg.answer:
        if rrset.rdtype == dns.rdatatype.SOA:
            return rrset[0].serial
    return None


def is_aa(msg: dns.message.Message) -> bool:
    return bool(msg.flags & dns.flags.AA)
