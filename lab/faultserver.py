"""The fault server: one asyncio process answering on many loopback addresses, UDP and TCP,
each address with its own zone data and its own fault.

Run by the lab as ``python -m lab.faultserver --config CONFIG.json``. It also hosts:

* the **NOTIFY relay**: primaries send their NOTIFY here; after the zone's configured
  delay the relay sends a NOTIFY to every secondary (which then runs a real SOA query and
  IXFR/AXFR against the primary) and refreshes the fault-server copies of the zone by AXFR;
* in python mode, the **resolver** stand-in (answers RD queries from the world's zones);
* a **control channel**: a unix socket taking one JSON object per line and answering one
  JSON object per line (``ping``, ``set_fault``, ``clear_fault``, ``relay_delay``,
  ``notify``, ``load_zone``, ``serials``, ``timings``, ``stop``);
* per-query **timing records**: how long each query was held, receive to send, in ns; over
  UDP also from the kernel's receive stamp of the query to the kernel's send stamp of the
  reply (the reference bench/rtt_accuracy.py measures ccmon's RTT against).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import os
import random
import signal
import socket
import struct
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.query
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import dns.zone

from lab.authority import (
    add_signatures,
    answer,
    find_zone,
    make_response,
    referral,
    soa_rrset,
    zone_serial,
)
from lab.faults import SIGNING_FAULTS, fault_params
from lab.signing import ZoneKeys, resigned

SO_TIMESTAMPNS = 35  # Linux; Python has no constant for it
# Kernel send stamps of UDP replies (Linux SO_TIMESTAMPING, software stamps, from the error
# queue): when a reply really left, not when this process was about to send it. Each
# stamp carries the socket's count of datagrams sent (OPT_ID), without the packet (TSONLY).
SO_TIMESTAMPING = 37
TIMESTAMPING_TX = (1 << 1) | (1 << 4) | (1 << 7) | (1 << 11)  # TX_SOFTWARE SOFTWARE OPT_ID TSONLY
MSG_ERRQUEUE = 0x2000
SO_EE_ORIGIN_TIMESTAMPING = 4
_EXTENDED_ERR = struct.Struct("IBBBBII")  # struct sock_extended_err
TX_PENDING_MAX = 10_000  # replies awaiting their send stamp, per address
TCP_IDLE_SECONDS = 120.0  # a silent TCP peer is closed after this, so nothing lives forever
MAX_RECORDS = 500_000
NOTIFY_TRIES = 5


def _load_zone(zone_name: str, path: str) -> dns.zone.Zone:
    origin = dns.name.from_text(zone_name)
    return dns.zone.from_file(path, origin=origin, relativize=False, check_origin=True)


def _name(zone: str) -> dns.name.Name:
    return dns.name.from_text(zone)


class Address:
    """State of one listening address."""

    def __init__(self, kind: str, fault: str, params: dict, zones: dict,
                 axfr_open: frozenset = frozenset()):
        self.kind = kind  # auth | relay | resolver
        self.fault = fault
        self.params = params
        self.zones: dict[dns.name.Name, dns.zone.Zone] = zones
        self.pinned: dict[dns.name.Name, int] = {}
        #: copies this address keeps instead of the current zone (signing faults): pinned,
        #: they do not follow bumps, like a secondary that stopped transferring
        self.overrides: dict[dns.name.Name, dns.zone.Zone] = {}
        #: zones this address transfers to anyone (AXFR over TCP)
        self.axfr_open: frozenset[dns.name.Name] = axfr_open

    def set_fault(self, fault: str, params: dict,
                  keys: dict[dns.name.Name, ZoneKeys] | None = None) -> None:
        overrides = {}
        if fault in SIGNING_FAULTS:
            signed = [n for n in self.zones if keys and n in keys]
            if not signed:
                raise ValueError(f"fault {fault!r} needs a signed zone; none of "
                                 f"{[n.to_text() for n in self.zones]} is signed")
            now = time.time()
            expiration = (now - params["ago"] if fault == "expired-signatures"
                          else now + params["remaining"])
            overrides = {n: resigned(self.zones[n], keys[n], expiration) for n in signed}
        self.fault, self.params = fault, params
        self.overrides = overrides
        self.pinned = {}
        if fault == "stale-serial":
            by = params["by"]
            self.pinned = {n: (zone_serial(z) - by) % 2**32 for n, z in self.zones.items()}

    @property
    def view(self) -> dict[dns.name.Name, dns.zone.Zone]:
        """The zones as this address serves them now."""
        return {**self.zones, **self.overrides} if self.overrides else self.zones

    def served_serials(self) -> dict[str, int]:
        out = {}
        for name, zone in self.view.items():
            out[name.to_text()] = self.pinned.get(name, zone_serial(zone))
        return out


class FaultServer:
    def __init__(self, config: dict):
        self.config = config
        self.port = int(config["port"])
        self.zone_data: dict[dns.name.Name, dns.zone.Zone] = {
            _name(z): _load_zone(z, path) for z, path in config.get("zone_files", {}).items()
        }
        self.keys: dict[dns.name.Name, ZoneKeys] = {
            _name(z): ZoneKeys.read(path) for z, path in (config.get("keys") or {}).items()}
        self.addresses: dict[str, Address] = {}
        for addr, spec in config.get("addresses", {}).items():
            zones = {_name(z): self.zone_data[_name(z)] for z in spec.get("zones", [])}
            state = Address("auth", "none", {}, zones,
                            frozenset(_name(z) for z in spec.get("axfr_open", [])))
            state.set_fault(spec.get("fault", "none"), fault_params(spec.get("fault", "none"),
                                                                     spec.get("params")),
                            self.keys)
            self.addresses[addr] = state
        relay = config.get("relay") or {}
        self.relay_address: str | None = relay.get("address")
        self.relay_zones: dict[str, dict] = relay.get("zones", {})
        self.relay_delays: dict[str, float] = {}
        if self.relay_address:
            self.addresses[self.relay_address] = Address("relay", "none", {}, {})
        self.resolver_address: str | None = config.get("resolver")
        if self.resolver_address:
            self.addresses[self.resolver_address] = Address("resolver", "none", {}, {})
        self.primaries: dict[str, list[str]] = config.get("primaries", {})
        self.records: collections.deque = collections.deque(maxlen=MAX_RECORDS)
        self.timing_log = config.get("timing_log")
        self._log_buffer: list[str] = []
        self.udp_socks: dict[str, socket.socket] = {}
        # per address: datagrams sent, and the records awaiting their kernel send stamp
        self.tx_sent: dict[str, int] = {}
        self.tx_pending: dict[str, dict[int, tuple[dict, int]]] = {}
        self.servers: list[asyncio.AbstractServer] = []
        self.pending_notifies: dict[int, asyncio.TimerHandle] = {}
        self.stopping = asyncio.Event()
        self.tasks: set[asyncio.Task] = set()

    # ------------------------------------------------------------------ sockets

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        for addr in self.addresses:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            with contextlib.suppress(OSError):  # without it, records have no send stamp
                sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPING, TIMESTAMPING_TX)
                self.tx_sent[addr] = 0
                self.tx_pending[addr] = {}
            sock.bind((addr, self.port))
            sock.setblocking(False)
            self.udp_socks[addr] = sock
            loop.add_reader(sock.fileno(), self._on_udp, sock, addr)
            server = await asyncio.start_server(
                lambda r, w, a=addr: self._on_tcp(r, w, a), addr, self.port,
                reuse_address=True, backlog=128)
            self.servers.append(server)
        control = self.config["control"]
        if os.path.exists(control):
            os.unlink(control)
        self.servers.append(await asyncio.start_unix_server(self._on_control, control))
        if self.timing_log:
            self._spawn(self._flush_loop())

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        for sock in self.udp_socks.values():
            loop.remove_reader(sock.fileno())
            sock.close()
        for server in self.servers:
            server.close()
        for task in list(self.tasks):
            task.cancel()
        self._flush()

    def _spawn(self, coro) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def _on_udp(self, sock: socket.socket, addr: str) -> None:
        if addr in self.tx_pending:
            self._read_send_stamps(sock, addr)  # else its error queue keeps the socket ready
        for _ in range(256):
            try:
                data, ancdata, _flags, peer = sock.recvmsg(65535, socket.CMSG_SPACE(16) * 4)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            t_read = time.perf_counter_ns()
            kernel_ns = None
            for level, kind, payload in ancdata:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(payload) >= 16:
                    sec, nsec = struct.unpack("qq", payload[:16])
                    kernel_ns = sec * 1_000_000_000 + nsec
            if self.addresses[addr].kind == "relay" and self._relay_reply(data):
                continue

            def send(wire: bytes, sock=sock, peer=peer, addr=addr) -> int | None:
                with contextlib.suppress(OSError):
                    sock.sendto(wire, peer)
                    if addr in self.tx_sent:  # the number its kernel send stamp will carry
                        self.tx_sent[addr] += 1
                        return self.tx_sent[addr] - 1
                return None

            self._handle(data, addr, "udp", send, t_read, kernel_ns, peer)

    def _read_send_stamps(self, sock: socket.socket, addr: str) -> None:
        """Give each UDP reply's record its kernel send stamp: kernel_sent_held_ns, from the
        kernel's receive stamp of the query to the kernel's send stamp of the reply."""
        pending = self.tx_pending[addr]
        for _ in range(1024):
            try:
                _data, ancdata, _flags, _peer = sock.recvmsg(1, 512, MSG_ERRQUEUE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            stamp = number = None
            for level, kind, payload in ancdata:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPING and len(payload) >= 16:
                    sec, nsec = struct.unpack("qq", payload[:16])
                    stamp = sec * 1_000_000_000 + nsec
                elif len(payload) >= _EXTENDED_ERR.size:
                    fields = _EXTENDED_ERR.unpack(payload[:_EXTENDED_ERR.size])
                    if fields[1] == SO_EE_ORIGIN_TIMESTAMPING:
                        number = fields[6]
            waiting = pending.pop(number, None) if number is not None else None
            if waiting is not None and stamp:
                rec, kernel_received = waiting
                rec["kernel_sent_held_ns"] = stamp - kernel_received

    def _await_send_stamp(self, addr: str, number: int, rec: dict, kernel_ns: int) -> None:
        pending = self.tx_pending[addr]
        if len(pending) >= TX_PENDING_MAX:  # stamps that never came (a send the kernel dropped)
            pending.pop(next(iter(pending)))
        pending[number] = (rec, kernel_ns)

    async def _on_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                      addr: str) -> None:
        peer = writer.get_extra_info("peername")
        try:
            while True:
                try:
                    head = await asyncio.wait_for(reader.readexactly(2), TCP_IDLE_SECONDS)
                    (length,) = struct.unpack("!H", head)
                    data = await asyncio.wait_for(reader.readexactly(length), TCP_IDLE_SECONDS)
                except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
                    return
                t_read = time.perf_counter_ns()

                def send(wire: bytes) -> None:
                    if not writer.is_closing():
                        writer.write(struct.pack("!H", len(wire)) + wire)

                self._handle(data, addr, "tcp", send, t_read, None, peer)
        finally:
            writer.close()

    # ------------------------------------------------------------------ queries

    def _record(self, addr: str, transport: str, query: dns.message.Message | None,
                fault: str, t_read: int, kernel_ns: int | None,
                sent_at: tuple[int, int] | None) -> dict[str, Any]:
        """Record one query; `sent_at` is (perf_counter_ns, time_ns) taken just before the
        reply's send call, or None when nothing was sent."""
        rec: dict[str, Any] = {
            "address": addr, "transport": transport, "fault": fault, "sent": sent_at is not None,
            "held_ns": sent_at[0] - t_read if sent_at else None,
            "received_monotonic_ns": t_read,
        }
        if kernel_ns is not None:
            # Kernel receive timestamp (CLOCK_REALTIME) to the send call: includes the wait
            # in the socket buffer before the event loop read it. Stamped before sending, so
            # it never includes time spent after the reply left (a lower bound of the hold
            # that any client's RTT for this query must exceed).
            rec["kernel_held_ns"] = sent_at[1] - kernel_ns if sent_at else None
        if query is not None and query.question:
            rec["qname"] = query.question[0].name.to_text()
            rec["qtype"] = dns.rdatatype.to_text(query.question[0].rdtype)
            rec["id"] = query.id
        self.records.append(rec)
        if self.timing_log:
            self._log_buffer.append(json.dumps(rec))
        return rec

    def _handle(self, data: bytes, addr: str, transport: str, send: Callable[[bytes], int | None],
                t_read: int, kernel_ns: int | None, peer) -> None:
        state = self.addresses[addr]
        fault = state.fault
        try:
            query = dns.message.from_wire(data)
        except Exception:
            query = None
        silent = fault == "silent" or (transport == "tcp" and fault in ("tcp-silent",
                                                                        "tc-silent-tcp"))
        dropped = fault == "drop" and random.random() < state.params["share"]
        if silent or dropped or query is None or not query.question or query.flags & dns.flags.QR:
            self._record(addr, transport, query, fault, t_read, kernel_ns, None)
            return
        if fault == "garbage":
            wire = self._garbage(query, state.params["size"])
        else:
            wire = self._respond(state, addr, query, transport, peer)
        if wire is None:
            self._record(addr, transport, query, fault, t_read, kernel_ns, None)
            return

        def finish() -> None:
            sent_at = (time.perf_counter_ns(), time.time_ns())
            numbers = [send(one) for one in (wire if isinstance(wire, list) else [wire])]
            rec = self._record(addr, transport, query, fault, t_read, kernel_ns, sent_at)
            if transport == "udp" and kernel_ns is not None and numbers[-1] is not None:
                self._await_send_stamp(addr, numbers[-1], rec, kernel_ns)

        if fault == "delay":
            ms = state.params["ms"] + random.uniform(-1, 1) * state.params["jitter_ms"]
            asyncio.get_running_loop().call_later(max(ms, 0.0) / 1000.0, finish)
        else:
            finish()

    @staticmethod
    def _garbage(query: dns.message.Message, size: int) -> bytes:
        # The query's ID and QR=1, then a header promising more records than the bytes that
        # follow can hold: random, and certain not to parse.
        header = struct.pack("!HHHHHH", query.id, 0x8400, 1, 5, 0, 0)
        return header + os.urandom(size)

    def _respond(self, state: Address, addr: str, query: dns.message.Message,
                 transport: str, peer) -> bytes | list[bytes] | None:
        fault = state.fault
        if state.kind == "relay":
            return self._relay_notify(query)
        if query.opcode() != dns.opcode.QUERY:
            response = make_response(query)
            response.set_rcode(dns.rcode.NOTIMP)
            return response.to_wire()
        if state.kind == "resolver":
            return self._resolve(query).to_wire()
        qname, qtype = query.question[0].name, query.question[0].rdtype
        zones = state.view
        zone = find_zone(zones, qname)
        transfer = (qtype == dns.rdatatype.AXFR and transport == "tcp" and zone is not None
                    and qname == zone.origin and zone.origin in state.axfr_open)
        if zone is None or (qtype in (dns.rdatatype.AXFR, dns.rdatatype.IXFR)
                            and not transfer):
            response = make_response(query)
            response.flags &= ~dns.flags.RA
            response.set_rcode(dns.rcode.REFUSED)
            return response.to_wire()
        if transfer and fault not in ("refused", "servfail"):
            return self._axfr(state, zone, query)
        if fault in ("refused", "servfail"):
            response = make_response(query)
            response.flags &= ~dns.flags.RA
            response.set_rcode(dns.rcode.REFUSED if fault == "refused" else dns.rcode.SERVFAIL)
        elif query.edns > 0:
            # RFC 6891 §6.1.3: an EDNS version we do not implement is BADVERS, OPT version 0.
            response = make_response(query)
            response.flags &= ~dns.flags.RA
            response.set_rcode(dns.rcode.BADVERS)
        elif fault == "nxdomain":
            response = answer(zone, query)
            response.answer.clear()
            response.additional.clear()
            response.authority = [r for r in response.authority
                                  if r.rdtype == dns.rdatatype.SOA] or [soa_rrset(zone)]
            response.flags |= dns.flags.AA
            response.set_rcode(dns.rcode.NXDOMAIN)
        elif fault == "referral":
            response = referral(zone, query)
        elif fault == "tc-silent-tcp" and transport == "udp":
            response = make_response(query)
            response.flags = (response.flags & ~dns.flags.RA) | dns.flags.TC | dns.flags.AA
            return response.to_wire()
        else:
            response = answer(zone, query)
        if query.edns >= 0 and query.ednsflags & dns.flags.DO and fault != "referral":
            add_signatures(zone, response)
        if zone.origin in state.pinned:
            self._pin_serial(response, state.pinned[zone.origin])
        if fault == "noaa":
            response.flags &= ~dns.flags.AA
        elif fault == "wrong-owner" and response.answer:
            owner = dns.name.from_text(state.params["owner"])
            response.answer = [self._renamed(r, owner) for r in response.answer]
        elif fault == "wrong-id":
            response.id = (query.id + 1 + random.randrange(0xFFFE)) % 0x10000
        elif fault == "wrong-question":
            other = dns.name.from_text(state.params["qname"])
            response.question = [dns.rrset.RRset(other, dns.rdataclass.IN,
                                                 query.question[0].rdtype)]
        if transport == "tcp":
            if fault == "huge-tcp":
                self._pad_random(response, zone.origin, state.params["size"])
            return response.to_wire(max_size=65535)
        limit = max(query.payload, 512) if query.edns >= 0 else 512
        if fault == "oversized":
            self._pad(response, zone.origin, limit + state.params["extra"])
            return response.to_wire(max_size=65535)
        try:
            return response.to_wire(max_size=limit)
        except dns.exception.TooBig:
            response.answer.clear()
            response.authority.clear()
            response.additional.clear()
            response.flags |= dns.flags.TC
            return response.to_wire()

    def _axfr(self, state: Address, zone: dns.zone.Zone,
              query: dns.message.Message) -> list[bytes]:
        """A granted zone transfer: SOA, every other RRset, SOA, in as many TCP messages as
        needed (RFC 5936)."""
        soa = soa_rrset(zone)
        rrsets = [soa]
        for name, rds in zone.iterate_rdatasets():
            if rds.rdtype != dns.rdatatype.SOA:
                rrset = dns.rrset.RRset(name, rds.rdclass, rds.rdtype, rds.covers)
                rrset.update(rds)
                rrsets.append(rrset)
        rrsets.append(soa)
        pinned = state.pinned.get(zone.origin)

        def message(part: list[dns.rrset.RRset]) -> dns.message.Message:
            response = make_response(query)
            response.flags = (response.flags & ~dns.flags.RA) | dns.flags.AA
            response.answer = list(part)
            if pinned is not None:
                self._pin_serial(response, pinned)
            return response

        wires: list[bytes] = []
        part: list[dns.rrset.RRset] = []
        for rrset in rrsets:
            try:
                message([*part, rrset]).to_wire(max_size=65535)
                part.append(rrset)
            except dns.exception.TooBig:
                wires.append(message(part).to_wire(max_size=65535))
                part = [rrset]
        wires.append(message(part).to_wire(max_size=65535))
        return wires

    @staticmethod
    def _renamed(rrset: dns.rrset.RRset, owner: dns.name.Name) -> dns.rrset.RRset:
        out = dns.rrset.RRset(owner, rrset.rdclass, rrset.rdtype)
        out.update(rrset)
        return out

    @staticmethod
    def _pin_serial(response: dns.message.Message, serial: int) -> None:
        for section in (response.answer, response.authority):
            for i, rrset in enumerate(section):
                if rrset.rdtype == dns.rdatatype.SOA:
                    out = dns.rrset.RRset(rrset.name, rrset.rdclass, rrset.rdtype)
                    out.update_ttl(rrset.ttl)
                    for rd in rrset:
                        out.add(rd.replace(serial=serial))
                    section[i] = out

    @staticmethod
    def _pad(response: dns.message.Message, origin: dns.name.Name, size: int) -> None:
        owner = dns.name.from_text("padding", origin)
        rrset = dns.rrset.RRset(owner, dns.rdataclass.IN, dns.rdatatype.TXT)
        chunk = "x" * 255
        for i in range(size // 260 + 1):
            rrset.add(dns.rdata.from_text("IN", "TXT", f'"{i:05d}" "{chunk}"'))
        response.additional.append(rrset)

    @staticmethod
    def _pad_random(response: dns.message.Message, origin: dns.name.Name, size: int) -> None:
        """Pad the additional section with random TXT records until the message is about
        `size` bytes (at most 65,535): bytes no cache has seen before, every time."""
        base = len(response.to_wire(max_size=65535))
        owner = dns.name.from_text("padding", origin)
        rrset = dns.rrset.RRset(owner, dns.rdataclass.IN, dns.rdatatype.TXT)
        room = min(size, 65535) - base - 12 - 2 - 10  # owner pointer, type, class, TTL, length
        while room > 3:
            # one record: up to four 255-byte strings (1 length byte each) and 2 bytes of length
            chunk = min(room - 2, 4 * 256)
            strings = [os.urandom(128).hex()[:255] for _ in range(chunk // 256)]
            if chunk % 256 > 1:
                strings.append(os.urandom(128).hex()[: chunk % 256 - 1])
            if not strings:
                break
            rrset.add(dns.rdata.from_text("IN", "TXT", " ".join(f'"{t}"' for t in strings)))
            room -= 2 + 10 + sum(len(t) + 1 for t in strings)
        if rrset:
            response.additional.append(rrset)

    # ------------------------------------------------------------------ resolver stand-in

    def _resolve(self, query: dns.message.Message) -> dns.message.Message:
        """Python-mode resolver: answer from the world's current zone data, RA=1, AA=0."""
        if not query.flags & dns.flags.RD:
            response = make_response(query)
            response.set_rcode(dns.rcode.REFUSED)
            return response
        zone = find_zone(self.zone_data, query.question[0].name)
        if zone is None:
            response = make_response(query)
            response.set_rcode(dns.rcode.SERVFAIL)
        else:
            response = answer(zone, query)
            if not response.flags & dns.flags.AA:  # a referral out of the lab: nobody to ask
                response = make_response(query)
                response.set_rcode(dns.rcode.SERVFAIL)
        response.flags = (response.flags & ~dns.flags.AA) | dns.flags.RA
        return response

    # ------------------------------------------------------------------ NOTIFY relay

    def _relay_notify(self, query: dns.message.Message) -> bytes | None:
        response = make_response(query)
        if query.opcode() != dns.opcode.NOTIFY:
            response.set_rcode(dns.rcode.REFUSED)
            return response.to_wire()
        response.flags |= dns.flags.AA
        zone = query.question[0].name.to_text(omit_final_dot=True).lower() or "."
        if zone not in self.relay_zones:
            response.set_rcode(dns.rcode.NOTAUTH)
            return response.to_wire()
        delay = self.relay_delays.get(zone, 0.0)
        asyncio.get_running_loop().call_later(delay, self.forward_notify, zone)
        return response.to_wire()

    def _relay_reply(self, data: bytes) -> bool:
        """Swallow replies to our own NOTIFYs (QR=1) arriving at the relay address."""
        if len(data) < 4 or not data[2] & 0x80:
            return False
        (msg_id,) = struct.unpack("!H", data[:2])
        handle = self.pending_notifies.pop(msg_id, None)
        if handle is not None:
            handle.cancel()
        return True

    def forward_notify(self, zone: str) -> None:
        spec = self.relay_zones.get(zone)
        if spec is None or self.relay_address is None:
            return
        sock = self.udp_socks[self.relay_address]
        for target in spec.get("secondaries", []):
            query = dns.message.make_query(_name(zone), dns.rdatatype.SOA, flags=dns.flags.AA)
            query.set_opcode(dns.opcode.NOTIFY)
            self._send_notify(sock, query.to_wire(), query.id, target, NOTIFY_TRIES)
        copies = [a for a, st in self.addresses.items() if _name(zone) in st.zones]
        if copies:
            self._spawn(self._refresh_copies(zone, spec["primary"], copies))

    def _send_notify(self, sock: socket.socket, wire: bytes, msg_id: int, target: str,
                     tries: int) -> None:
        with contextlib.suppress(OSError):
            sock.sendto(wire, (target, self.port))
        if tries > 1:
            self.pending_notifies[msg_id] = asyncio.get_running_loop().call_later(
                1.0, self._send_notify, sock, wire, msg_id, target, tries - 1)
        else:
            self.pending_notifies.pop(msg_id, None)

    async def _refresh_copies(self, zone: str, primary: str, copies: list[str]) -> None:
        """Fault-server copies follow the primary by AXFR, like any secondary."""
        origin = _name(zone)

        def transfer() -> dns.zone.Zone:
            return dns.zone.from_xfr(dns.query.xfr(
                primary, origin, port=self.port, source=self.relay_address, timeout=5.0,
                lifetime=10.0, relativize=False), relativize=False)

        try:
            new = await asyncio.to_thread(transfer)
        except Exception as exc:
            print(f"faultserver: AXFR {zone} from {primary} failed: {exc!r}", file=sys.stderr)
            return
        self._install(origin, new, copies)

    def _install(self, origin: dns.name.Name, zone: dns.zone.Zone, addresses: list[str]) -> None:
        self.zone_data[origin] = zone
        for addr in addresses:
            state = self.addresses.get(addr)
            if state is not None and origin in state.zones:
                state.zones[origin] = zone

    # ------------------------------------------------------------------ control channel

    async def _on_control(self, reader: asyncio.StreamReader,
                          writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                try:
                    reply = self.command(json.loads(line))
                except Exception as exc:
                    reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
                writer.write(json.dumps(reply).encode() + b"\n")
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    def command(self, cmd: dict) -> dict:
        op = cmd.get("cmd")
        if op == "ping":
            return {"ok": True, "pid": os.getpid(), "addresses": len(self.addresses)}
        if op in ("set_fault", "clear_fault"):
            state = self.addresses.get(cmd["address"])
            if state is None or state.kind != "auth":
                raise KeyError(f"{cmd['address']} is not a fault-server address here")
            fault = cmd.get("fault", "none") if op == "set_fault" else "none"
            state.set_fault(fault, fault_params(fault, cmd.get("params")), self.keys)
            return {"ok": True}
        if op == "relay_delay":
            self.relay_delays[cmd["zone"]] = float(cmd["seconds"])
            return {"ok": True}
        if op == "notify":
            self.forward_notify(cmd["zone"])
            return {"ok": True}
        if op == "load_zone":
            self._load_command(cmd["zone"], cmd["file"], float(cmd.get("delay", 0.0)))
            return {"ok": True}
        if op == "serials":
            return {"ok": True, "serials": {a: st.served_serials()
                                            for a, st in self.addresses.items() if st.zones}}
        if op == "timings":
            records = list(self.records)
            if cmd.get("address"):
                records = [r for r in records if r["address"] == cmd["address"]]
            if cmd.get("clear", False):
                self.records.clear()
            return {"ok": True, "records": records}
        if op == "stop":
            self.stopping.set()
            return {"ok": True}
        raise ValueError(f"unknown command {op!r}")

    def _load_command(self, zone: str, path: str, delay: float) -> None:
        origin = _name(zone)
        new = _load_zone(zone, path)
        primaries = self.primaries.get(zone, [])
        others = [a for a, st in self.addresses.items() if origin in st.zones
                  and a not in primaries]
        self._install(origin, new, primaries)
        if delay > 0:
            asyncio.get_running_loop().call_later(delay, self._install, origin, new, others)
        else:
            self._install(origin, new, others)

    # ------------------------------------------------------------------ timing log

    def _flush(self) -> None:
        if self._log_buffer and self.timing_log:
            with open(self.timing_log, "a", encoding="utf-8") as f:
                f.write("\n".join(self._log_buffer) + "\n")
            self._log_buffer.clear()

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(0.2)
            self._flush()


async def serve(config: dict) -> None:
    server = FaultServer(config)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, server.stopping.set)
    await server.start()
    try:
        await server.stopping.wait()
    finally:
        await server.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab.faultserver", description=__doc__)
    parser.add_argument("--config", required=True, help="JSON file written by the lab")
    args = parser.parse_args(argv)
    config = json.loads(Path(args.config).read_text(encoding="utf-8"))
    asyncio.run(serve(config))
    return 0


if __name__ == "__main__":
    sys.exit(main())
