"""The one place that touches sockets: a query to one address, over UDP or TCP.

Why not dnspython's asyncquery: its round-trip time is taken when the event loop gets
round to the reply, so a busy loop inflates it (measured here: a 100 ms server read as
p99 536 ms with 2,000 queries in flight). We take the send time at the send call and the
receive time from the kernel (SO_TIMESTAMPNS), so loop lateness never reaches the RTT.

UDP queries go over connected sockets: the kernel picks a random source port, drops
datagrams from any other source, and reports ICMP port-unreachable at once as
ECONNREFUSED instead of leaving us to wait for the timeout. A socket whose query got a
clean answer may carry the next query to the same address (`UdpSockets`); after a
timeout or an error it is closed, so a retry always starts from a fresh source port.
"""

from __future__ import annotations

import asyncio
import errno
import os
import socket
import struct
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Protocol

import dns.edns
import dns.flags
import dns.message
import dns.rdatatype

from probes.model import FailureKind
from probes.settings import DEFAULT_PARSE_CACHE_BYTES
from probes.wire import parse_reply

SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # Linux; Python has no constant
_TIMESPEC = struct.Struct("qq")
_ANCILLARY_SIZE = socket.CMSG_SPACE(_TIMESPEC.size)
_MAX_UDP = 65535
_QUERY_HEADER = struct.Struct("!HHHHHH")
_QUESTION_TAIL = struct.Struct("!HH")
_OPT_HEADER = struct.Struct("!HHIH")


@dataclass(slots=True)
class RawResult:
    """What one exchange produced, before it becomes an Observation. Not frozen: built
    once per try (a frozen one costs three times as much to build); never changed."""

    sent_at: float  # unix seconds
    rtt: float | None = None
    reply: dns.message.Message | None = None
    failure: FailureKind | None = None
    detail: str = ""
    mismatches: int = 0
    malformed: int = 0
    size: int = 0  # bytes of the accepted reply
    errno: int = 0  # of a local error (FailureKind.LOCAL_ERROR), for the engine's retry


def _kernel_stamp_ns(ancillary: list[tuple[int, int, bytes]]) -> int | None:
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(data) >= _TIMESPEC.size:
            seconds, nanos = _TIMESPEC.unpack_from(data)
            return seconds * 1_000_000_000 + nanos
    return None


# Our host ran out of something: wait a moment and try again, the server is not involved.
RESOURCE_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM,
                             errno.EAGAIN})
# Our host has no route or no source address for the destination's family.
ABSENT_ERRNOS = frozenset({errno.ENETUNREACH, errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT,
                           errno.ENETDOWN, errno.EHOSTUNREACH})
# Refused by our own host's packet filter.
FILTERED_ERRNOS = frozenset({errno.EPERM, errno.EACCES})
# Raised by socket(), connect() or the first send(), before any packet left: ours, not the
# server's. The same errno read from the socket later (an ICMP error from a router on the
# path) is about the path or the server and stays a network error.
LOCAL_ERRNOS = RESOURCE_ERRNOS | ABSENT_ERRNOS | FILTERED_ERRNOS


def _failure_for_oserror(exc: OSError, *, before_packet: bool = False) -> FailureKind:
    if before_packet and exc.errno in LOCAL_ERRNOS:
        return FailureKind.LOCAL_ERROR
    if exc.errno in (errno.ECONNREFUSED, errno.ECONNRESET):
        return FailureKind.UNREACHABLE
    return FailureKind.NETWORK_ERROR


def _errno_detail(exc: OSError) -> str:
    name = errno.errorcode.get(exc.errno or 0, "")
    text = exc.strerror or str(exc)
    return f"{name}: {text}" if name else text


# Non-blocking from socket() on (Linux): two fcntl() calls fewer than setblocking(False).
_NONBLOCK = getattr(socket, "SOCK_NONBLOCK", 0)


def _new_socket(address: str, kind: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, kind | _NONBLOCK)
    if not _NONBLOCK:
        sock.setblocking(False)
    sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    return sock


_ID_POOL_BYTES = 4096  # 2,048 query IDs per read of the OS's random source
_id_pool = b""
_id_at = 0


def random_id() -> bytes:
    """Two bytes from the OS's random source (as secrets.randbits), read 4 KiB at a time:
    one getrandom() per 2,048 queries instead of one per query. Each ID is used once."""
    global _id_pool, _id_at
    at = _id_at
    if at >= len(_id_pool):
        _id_pool, at = os.urandom(_ID_POOL_BYTES), 0
    _id_at = at + 2
    return _id_pool[at : at + 2]


def _forget_ids() -> None:
    global _id_pool, _id_at
    _id_pool, _id_at = b"", 0


if hasattr(os, "register_at_fork"):  # a forked child must not send its parent's next IDs
    os.register_at_fork(after_in_child=_forget_ids)


@dataclass(frozen=True, slots=True)
class WireQuery:
    """A query as bytes, with what a reply must echo: our ID and our question."""

    wire: bytes
    question: bytes  # the question section's bytes, lower case (servers may change case)
    payload: int  # the UDP size we advertise: the EDNS buffer, or 512 without EDNS

    @classmethod
    def from_message(cls, message: dns.message.Message) -> WireQuery:
        """The query's bytes, its question section (lower case) and the UDP size it advertises."""
        wire = message.to_wire()
        end = 12
        while wire[end]:  # our own question's name is never compressed
            end += wire[end] + 1
        end += 5  # the root label, QTYPE, QCLASS
        payload = message.payload if message.edns >= 0 else 512
        return cls(wire, wire[12:end].lower(), payload)

    @classmethod
    def standard(cls, qname: str, rdtype: str, edns_buffer: int | None) -> WireQuery:
        """The engine's own question (RD off, EDNS0 with `edns_buffer`, no DO, no options)
        written straight to bytes, as `from_message(make_query(...))` writes it with ID 0 at
        a tenth of its cost (2,265 of them in a cold ccTLD sweep). Names that are not plain
        ASCII labels of 1-63 octets (escapes, over-long) go through dnspython."""
        labels = qname.rstrip(".").split(".") if qname != "." else []
        if (not qname.endswith(".") or "\\" in qname or not qname.isascii()
                or any(not 0 < len(label) < 64 for label in labels)
                or len(qname) + 1 > 255):
            return cls.from_message(make_query(qname, rdtype, edns_buffer=edns_buffer))
        name = b"".join(bytes((len(label),)) + label.encode() for label in labels) + b"\0"
        question = name + _QUESTION_TAIL.pack(dns.rdatatype.from_text(rdtype), 1)
        if edns_buffer is None:
            return cls(_QUERY_HEADER.pack(0, 0, 1, 0, 0, 0) + question, question.lower(), 512)
        opt = b"\0" + _OPT_HEADER.pack(dns.rdatatype.OPT, edns_buffer, 0, 0)
        return cls(_QUERY_HEADER.pack(0, 0, 1, 0, 0, 1) + question + opt, question.lower(),
                   edns_buffer)

    def with_new_id(self) -> WireQuery:
        """The same query under a fresh random ID (one per try, never reused)."""
        return WireQuery(random_id() + self.wire[2:], self.question,
                         self.payload)


class _ReplyMatcher:
    """Accepts only a well-formed reply to our query; counts what it had to discard."""

    def __init__(self, query: WireQuery) -> None:
        self.query = query
        self.id_bytes = query.wire[:2]
        self.question_end = 12 + len(query.question)
        self.mismatches = 0
        self.malformed = 0

    def accept(self, data: bytes) -> dns.message.Message | None:
        if len(data) < 12:
            self.malformed += 1
            return None
        # A reply echoes our ID and question, with QR=1 and opcode QUERY. Bytes that do not
        # parse are malformed; a parsed message that does not match is a mismatch.
        matches = (data[:2] == self.id_bytes and data[2] & 0x80 and not data[2] & 0x78
                   and data[4:6] == b"\x00\x01"
                   and data[12 : self.question_end].lower() == self.query.question)
        try:
            if len(data) > LARGE_REPLY_BYTES:
                reply = _slim(dns.message.from_wire(b"\x00\x00" + data[2:],
                                                    ignore_trailing=True))
            else:
                reply = _parse_reply(b"\x00\x00" + data[2:])
        except Exception:  # hostile bytes may break the parser anywhere
            self.malformed += 1  # junk, whatever its first bytes happen to say
            return None
        if not matches:
            self.mismatches += 1  # a DNS message, but not the reply to our question
            return None
        return reply

    def failure_without_reply(self) -> tuple[FailureKind, str]:
        if self.mismatches:
            return FailureKind.MISMATCH, f"{self.mismatches} reply(ies) with wrong ID or question"
        if self.malformed:
            return FailureKind.MALFORMED, f"{self.malformed} unparseable reply(ies)"
        return FailureKind.TIMEOUT, "no reply"


# A reply larger than this is parsed for the sweep that asked and never cached; its
# observation keeps only what the judges read (see `_slim`). Real SOA/NS/DNSKEY answers are
# a few KB; a 58 KB answer that changes every time filled 1.3 GB in 77 s.
LARGE_REPLY_BYTES = 16384

# What one cached reply costs, key and value (tracemalloc over re-parsing every distinct
# reply of a scale world, dnspython 2.9). Read by probes.wire (no index, records shared
# between replies): 2,553 bytes per entry for the whole root world's 16,861 replies (mean
# 178 wire bytes) and 2,711 for the ccTLD world's 2,972 (mean 190), the shared name and
# record tables included; the estimate below says 2,804 and 2,924. Parsed by dnspython
# (the rest: DNSSEC, TXT, ...): 2.2 KB (SOA alone) to 4 KB (with EDNS, NS and glue) plus
# ~7 bytes per wire byte; estimated on the high side.
_READ_OVERHEAD = 1024
_READ_BYTES_PER_WIRE_BYTE = 10
_ENTRY_OVERHEAD = 4096
_BYTES_PER_WIRE_BYTE = 8


def entry_cost(wire: bytes, reply: dns.message.Message) -> int:
    """Estimated bytes one cache entry holds (the wire key and its parsed message)."""
    if reply.index is None:  # read by probes.wire, which keeps no index
        return _READ_OVERHEAD + _READ_BYTES_PER_WIRE_BYTE * len(wire)
    return _ENTRY_OVERHEAD + _BYTES_PER_WIRE_BYTE * len(wire)


class ParseCache:
    """Parsed replies by their bytes (ID zeroed), least recently used first out, bounded by
    the estimated bytes held, not by a count. Parsing is most of a query's CPU cost (215 us
    here), and a server's replies repeat byte for byte from sweep to sweep, so equal bytes
    are parsed once. Parsed replies are shared, so they must never be modified."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.used = 0  # estimated bytes held
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[bytes, tuple[dns.message.Message, int]] = OrderedDict()

    def __len__(self) -> int:
        """The number of replies held."""
        return len(self._entries)

    def resize(self, budget: int) -> None:
        """Set a new byte budget (negative means 0) and drop the oldest entries beyond it."""
        self.budget = max(0, budget)
        self._shrink()

    def clear(self) -> None:
        """Drop every entry; the hit and miss counters keep counting."""
        self._entries.clear()
        self.used = 0

    def parse(self, wire_without_id: bytes) -> dns.message.Message:
        """The parsed reply to these bytes (ID zeroed), parsed once while cached.

        Replies over LARGE_REPLY_BYTES or the whole budget are parsed but not kept.
        """
        entry = self._entries.get(wire_without_id)
        if entry is not None:
            self.hits += 1
            self._entries.move_to_end(wire_without_id)
            return entry[0]
        self.misses += 1
        reply = parse_reply(wire_without_id)
        cost = entry_cost(wire_without_id, reply)
        if len(wire_without_id) <= LARGE_REPLY_BYTES and cost <= self.budget:
            self._entries[wire_without_id] = (reply, cost)
            self.used += cost
            self._shrink()
        return reply

    def _shrink(self) -> None:
        while self.used > self.budget and self._entries:
            _key, (_reply, cost) = self._entries.popitem(last=False)
            self.used -= cost


PARSE_CACHE = ParseCache(DEFAULT_PARSE_CACHE_BYTES)  # one per process; the engine sizes it


def _parse_reply(wire_without_id: bytes) -> dns.message.Message:
    """A reply parsed from its bytes, ID zeroed (so its ID reads 0); shared, never modify."""
    return PARSE_CACHE.parse(wire_without_id)


def _slim(reply: dns.message.Message) -> dns.message.Message:
    """What the judges read of a large reply: header, question, EDNS, answer and authority,
    and of the additional section only the glue of NS names it carries. The rest (the body a
    hostile or broken server pads its answers with) is dropped with the parsed original."""
    slim = dns.message.Message(id=reply.id)
    slim.flags = reply.flags
    slim.question = list(reply.question)
    slim.answer = list(reply.answer)
    slim.authority = list(reply.authority)
    slim.use_edns(reply.edns, reply.ednsflags, reply.payload, options=list(reply.options))
    targets = {r.target for s in (reply.answer, reply.authority) for rrset in s
               if rrset.rdtype == dns.rdatatype.NS for r in rrset}
    slim.additional = [rrset for rrset in reply.additional
                       if rrset.rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA)
                       and rrset.name in targets]
    return slim


def large_reply_detail(size: int) -> str:
    """The detail text for a reply cut to its useful sections because it was too large."""
    return (f"{size}-byte reply over the {LARGE_REPLY_BYTES}-byte body limit: kept header, "
            "question, answer, authority and glue; the rest dropped")


class _UdpChannel:
    """One connected UDP socket with its reader registered for as long as it lives. The
    exchange in progress, if any, gets the datagrams; between exchanges they are dropped
    (a late duplicate must not count against the next query)."""

    __slots__ = ("broken", "fd", "handler", "key", "loop", "sock")

    def __init__(self, loop: asyncio.AbstractEventLoop, sock: socket.socket,
                 key: tuple[str, int]) -> None:
        self.loop = loop
        self.sock = sock
        self.fd = sock.fileno()
        self.key = key
        self.handler: _UdpExchange | None = None
        self.broken = False
        loop.add_reader(self.fd, self.on_readable)

    def on_readable(self) -> None:
        while True:
            try:
                data, ancillary, _flags, _src = self.sock.recvmsg(_MAX_UDP, _ANCILLARY_SIZE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if self.handler is None:
                    self.broken = True  # an ICMP error between exchanges: never reuse
                else:
                    self.handler.on_error(exc)
                return
            if self.handler is not None and self.handler.on_datagram(data, ancillary):
                return

    def close(self) -> None:
        self.handler = None
        if not self.loop.is_closed():
            self.loop.remove_reader(self.fd)
        self.sock.close()


class UdpSockets:
    """Connected UDP sockets kept between queries, per (address, port): a socket whose
    exchange ended with a clean answer goes back here, so the next query to that address
    skips socket(), connect() and the reader's registration (a third of a query's CPU
    here). Every query still has its own random ID. A socket whose exchange saw a timeout,
    an error or a stray datagram is closed, so the retry that follows gets a fresh socket
    and with it a fresh random source port. At most `per_address` idle sockets per address
    (the engine's in-flight bound) and `limit` in all, so descriptors stay bounded."""

    def __init__(self, per_address: int = 4, limit: int = 16_384) -> None:
        self.per_address = max(0, per_address)
        self.limit = max(0, limit)
        self._idle: dict[tuple[str, int], list[_UdpChannel]] = {}
        self._crowded: dict[tuple[str, int], None] = {}  # keys with 2 or more idle sockets
        self._count = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self.opened = 0  # sockets opened because none was idle (for the benches)

    def __len__(self) -> int:
        """The number of idle sockets kept, all addresses together."""
        return self._count

    def take(self, loop: asyncio.AbstractEventLoop, key: tuple[str, int]) -> _UdpChannel | None:
        """An idle, unbroken socket to this (address, port), or None: the caller opens a new one.

        Sockets registered with another event loop are all closed first.
        """
        if loop is not self._loop:  # sockets registered with another (ended) loop
            self.close()
            self._loop = loop
        idle = self._idle.get(key)
        while idle:
            channel = self._pop(key, idle)
            if not channel.broken:
                return channel
            channel.close()
        return None

    def give(self, channel: _UdpChannel) -> None:
        """Keep a socket for the next query to its address; close it if broken or over a
        bound. At the bound, an address without an idle socket takes the place of a second
        one elsewhere: every address keeps one before any keeps two."""
        key = channel.key
        idle = self._idle.setdefault(key, [])
        if channel.broken or channel.loop is not self._loop or len(idle) >= self.per_address:
            channel.close()
            return
        if self._count >= self.limit:
            if idle or not self._crowded:
                channel.close()
                return
            crowded = next(iter(self._crowded))
            self._pop(crowded, self._idle[crowded]).close()
        idle.append(channel)
        self._count += 1
        if len(idle) == 2:
            self._crowded[key] = None

    def _pop(self, key: tuple[str, int], idle: list[_UdpChannel]) -> _UdpChannel:
        channel = idle.pop()
        self._count -= 1
        if len(idle) == 1:
            del self._crowded[key]
        return channel

    def close(self) -> None:
        """Close every idle socket."""
        for idle in self._idle.values():
            for channel in idle:
                channel.close()
        self._idle.clear()
        self._crowded.clear()
        self._count = 0


class Cancellable(Protocol):
    """What a started exchange hands back: a way to drop it (no callback after that)."""

    def cancel(self) -> object:
        """Drop the exchange: close what it holds, cancel its timer, never call back."""


Done = Callable[[RawResult], None]


class Expiring(Protocol):
    """What waits in `Deadlines`: told when its deadline passed, unless finished before."""

    def pending(self) -> bool:
        """Still waiting for its deadline (False: finished, its entry is dropped)."""

    def expire(self) -> None:
        """Its deadline passed."""


class Deadlines:
    """The deadlines of one length on one event loop, in one queue and under one loop
    timer: entries come in deadline order (same length, added in time order), so the
    queue's head is always the next due. A timer per exchange cost a loop timer made and
    cancelled per query; a finished exchange here just waits to be dropped when the queue
    reaches it (at most one length later)."""

    __slots__ = ("length", "loop", "queue", "timer")

    def __init__(self, loop: asyncio.AbstractEventLoop, length: float) -> None:
        self.loop = loop
        self.length = length
        self.queue: deque[tuple[float, Expiring]] = deque()
        self.timer: asyncio.TimerHandle | None = None

    def add(self, waiting: Expiring) -> None:
        """`waiting.expire()` in `length` seconds, unless it is no longer pending then."""
        deadline = self.loop.time() + self.length
        self.queue.append((deadline, waiting))
        if self.timer is None:
            self.timer = self.loop.call_at(deadline, self._due)

    def pending(self) -> int:
        """Entries still waiting for their deadline (for tests and benches)."""
        return sum(1 for _deadline, waiting in self.queue if waiting.pending())

    def _due(self) -> None:
        # self.timer stays set meanwhile: an expiry that adds an entry (a question that
        # starts at its bound) must not arm a second timer; it is armed once, below.
        queue, now = self.queue, self.loop.time()
        while queue:
            deadline, waiting = queue[0]
            if not waiting.pending():
                queue.popleft()
            elif deadline <= now:
                queue.popleft()
                waiting.expire()
            else:
                self.timer = self.loop.call_at(deadline, self._due)
                return
        self.timer = None


class _UdpExchange:
    """One query on a channel, as callbacks: the datagrams it gets until an accepted reply,
    an error or its deadline; then the channel goes back (or is closed), the timer is
    cancelled and `on_done` gets the result, once."""

    __slots__ = ("channel", "matcher", "on_done", "sent_at", "sent_ns", "sockets", "timeout")

    def __init__(self, channel: _UdpChannel, matcher: _ReplyMatcher, on_done: Done,
                 sent_ns: int, deadlines: Deadlines, sockets: UdpSockets | None) -> None:
        self.channel = channel
        self.matcher = matcher
        self.on_done: Done | None = on_done
        self.sent_ns = sent_ns
        self.sent_at = sent_ns / 1e9
        self.timeout = deadlines.length
        self.sockets = sockets
        deadlines.add(self)

    def pending(self) -> bool:
        """Still waiting for a reply."""
        return self.on_done is not None

    def on_datagram(self, data: bytes, ancillary: list[tuple[int, int, bytes]]) -> bool:
        """True once finished (the channel stops reading for us)."""
        if self.on_done is None:
            return True
        stamp = _kernel_stamp_ns(ancillary) or time.time_ns()
        reply = self.matcher.accept(data)
        if reply is None:
            return False
        rtt = (stamp - self.sent_ns) / 1e9
        self.finish(_answered(self.sent_at, rtt, reply, self.matcher, len(data)))
        return True

    def on_error(self, exc: OSError) -> None:
        self.finish(_failed(self.sent_at, exc, self.matcher))

    def expire(self) -> None:
        """The timeout: a reply may be waiting that a busy loop has not read yet, else none."""
        self.channel.on_readable()
        if self.on_done is None:
            return
        failure, detail = self.matcher.failure_without_reply()
        self.finish(RawResult(self.sent_at, failure=failure, detail=detail,
                              mismatches=self.matcher.mismatches,
                              malformed=self.matcher.malformed))

    def finish(self, result: RawResult) -> None:
        on_done = self.on_done
        if on_done is None:
            return
        matcher = self.matcher
        self._release(result.reply is not None and not matcher.mismatches
                      and not matcher.malformed)
        if result.rtt is not None and result.rtt > self.timeout:
            # Read late by a busy loop, but the kernel stamp says it really was too late.
            result = RawResult(result.sent_at, failure=FailureKind.TIMEOUT,
                               detail=f"reply after {result.rtt:.3f} s",
                               mismatches=matcher.mismatches)
        on_done(result)

    def cancel(self) -> None:
        """Drop the exchange: its socket is closed (never kept), no callback follows."""
        if self.on_done is not None:
            self._release(False)

    def _release(self, clean: bool) -> None:
        self.on_done = None
        channel = self.channel
        channel.handler = None
        if clean and self.sockets is not None:
            self.sockets.give(channel)
        else:
            channel.close()
        # The deadline queue holds a finished exchange until its deadline: it keeps nothing
        # else alive meanwhile (a whole sweep's sockets and queries, else).
        del self.channel, self.matcher, self.sockets


def _open_channel(
    loop: asyncio.AbstractEventLoop, address: str, port: int
) -> _UdpChannel:
    sock = _new_socket(address, socket.SOCK_DGRAM)
    try:
        sock.connect((address, port))
        return _UdpChannel(loop, sock, (address, port))
    except BaseException:
        sock.close()
        raise


def start_udp(
    query: WireQuery, address: str, port: int, deadlines: Deadlines,
    sockets: UdpSockets | None, on_done: Done,
) -> Cancellable:
    """Send one query over UDP; `on_done` gets its result from the loop (never from inside
    this call), at most `deadlines.length` seconds later, unless the returned handle is
    cancelled first. On a socket from `sockets` when one is idle for the address, else a
    fresh one."""
    loop = deadlines.loop
    matcher = _ReplyMatcher(query)
    channel = sockets.take(loop, (address, port)) if sockets is not None else None
    fresh = channel is None
    if channel is None:
        try:
            channel = _open_channel(loop, address, port)
        except OSError as exc:
            return loop.call_soon(on_done, _failed(time.time(), exc, matcher, before_packet=True))
        if sockets is not None:
            sockets.opened += 1
    send, wire = channel.sock.send, query.wire
    sent_ns = time.time_ns()
    try:
        send(wire)  # nothing between the stamp and the send: the RTT's start is this moment
    except OSError as exc:
        channel.close()
        # A kept socket's send may report an ICMP error of the path that arrived since its
        # last read: only a shortage or our own filter is certainly ours then.
        ours = fresh or exc.errno in RESOURCE_ERRNOS | FILTERED_ERRNOS
        return loop.call_soon(on_done, _failed(sent_ns / 1e9, exc, matcher, before_packet=ours))
    # Set before any reply can be read: the loop reads only after we return.
    exchange = _UdpExchange(channel, matcher, on_done, sent_ns, deadlines, sockets)
    channel.handler = exchange
    return exchange


async def _until_done(start: Callable[[Done], Cancellable]) -> RawResult:
    """Await an exchange started by callbacks; cancelling the wait drops the exchange."""
    done: asyncio.Future[RawResult] = asyncio.get_running_loop().create_future()
    handle = start(done.set_result)
    try:
        return await done
    finally:
        handle.cancel()  # nothing left once finished; else its socket and timer go


async def udp_exchange(
    query: WireQuery, address: str, port: int, timeout: float,
    sockets: UdpSockets | None = None,
) -> RawResult:
    """Send one query over UDP and wait for its reply, at most `timeout` seconds; on a
    socket from `sockets` when one is idle for the address, else on a fresh one."""
    deadlines = Deadlines(asyncio.get_running_loop(), timeout)
    return await _until_done(partial(start_udp, query, address, port, deadlines, sockets))


def _answered(
    sent_at: float, rtt: float, reply: dns.message.Message, matcher: _ReplyMatcher, size: int
) -> RawResult:
    detail = large_reply_detail(size) if size > LARGE_REPLY_BYTES else ""
    return RawResult(sent_at, rtt=rtt, reply=reply, mismatches=matcher.mismatches,
                     malformed=matcher.malformed, size=size, detail=detail)


def _failed(
    sent_at: float, exc: OSError, matcher: _ReplyMatcher, *, before_packet: bool = False
) -> RawResult:
    failure = _failure_for_oserror(exc, before_packet=before_packet)
    return RawResult(sent_at, failure=failure, detail=_errno_detail(exc),
                     mismatches=matcher.mismatches, malformed=matcher.malformed,
                     errno=(exc.errno or 0) if failure is FailureKind.LOCAL_ERROR else 0)


def start_tcp(
    query: WireQuery, address: str, port: int, deadlines: Deadlines, on_done: Done,
) -> Cancellable:
    """Connect, send one length-prefixed query, read one reply; RTT includes the handshake.
    `on_done` gets the result from the loop (never from inside this call), at most
    `deadlines.length` seconds later, unless the returned handle is cancelled first."""
    loop = deadlines.loop
    matcher = _ReplyMatcher(query)
    started_ns = time.time_ns()
    try:
        sock = _new_socket(address, socket.SOCK_STREAM)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except OSError as exc:
        return loop.call_soon(on_done, _failed(started_ns / 1e9, exc, matcher,
                                               before_packet=True))
    conversation = _TcpConversation(loop, sock, query.wire, matcher, started_ns, on_done)
    return conversation.start(address, port, deadlines)


async def tcp_exchange(query: WireQuery, address: str, port: int, timeout: float) -> RawResult:
    """Connect, send one length-prefixed query, read one reply; RTT includes the handshake."""
    deadlines = Deadlines(asyncio.get_running_loop(), timeout)
    return await _until_done(partial(start_tcp, query, address, port, deadlines))


class _TcpConversation:
    """One query over TCP as callbacks on the socket: connect, send, read until one whole
    message. Cheaper than a coroutine per step (half the CPU of the TCP path here), and the
    RTT end is the kernel's receive stamp of the message's last segment."""

    __slots__ = ("buffer", "fd", "loop", "matcher", "on_done", "reading", "sent_at", "sock",
                 "stamp", "started_ns", "unsent")

    def __init__(
        self, loop: asyncio.AbstractEventLoop, sock: socket.socket, wire: bytes,
        matcher: _ReplyMatcher, started_ns: int, on_done: Done,
    ) -> None:
        self.loop = loop
        self.sock = sock
        self.fd = sock.fileno()
        self.unsent = memoryview(struct.pack("!H", len(wire)) + wire)
        self.matcher = matcher
        self.started_ns = started_ns
        self.sent_at = started_ns / 1e9
        self.buffer = bytearray()
        self.stamp: int | None = None
        self.on_done: Done | None = on_done
        self.reading = False

    def start(self, address: str, port: int, deadlines: Deadlines) -> Cancellable:
        try:
            self.sock.connect((address, port))
        except BlockingIOError:
            pass  # in progress: writable once the handshake is over
        except OSError as exc:  # refused by our own host before the SYN left
            on_done, self.on_done = self.on_done, None
            self.sock.close()
            assert on_done is not None
            return self.loop.call_soon(on_done, _failed(self.sent_at, exc, self.matcher,
                                                         before_packet=True))
        self.loop.add_writer(self.fd, self._on_writable)
        deadlines.add(self)
        return self

    def pending(self) -> bool:
        """Still under way."""
        return self.on_done is not None

    def _on_writable(self) -> None:
        try:  # a handshake that failed raises its error here (ECONNREFUSED, ...)
            self.unsent = self.unsent[self.sock.send(self.unsent):]
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._finish(_failed(self.sent_at, exc, self.matcher))
            return
        if not self.unsent:
            # The reader first, then the writer off: the event loop keeps one poll handle
            # for the socket (the other order closes it and opens a new one).
            self.loop.add_reader(self.fd, self._on_readable)
            self.reading = True
            self.loop.remove_writer(self.fd)

    def _on_readable(self) -> None:
        while self.on_done is not None:
            try:
                data, ancillary, _flags, _src = self.sock.recvmsg(_MAX_UDP, _ANCILLARY_SIZE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                self._finish(_failed(self.sent_at, exc, self.matcher))
                return
            if not data:
                self._finish(self._closed())
                return
            self.buffer += data
            self.stamp = _kernel_stamp_ns(ancillary) or self.stamp
            if len(self.buffer) >= 2:
                length = struct.unpack_from("!H", self.buffer)[0]
                if len(self.buffer) >= 2 + length:
                    self._finish(self._judge(bytes(self.buffer[2 : 2 + length]), length))

    def _judge(self, message: bytes, length: int) -> RawResult:
        reply = self.matcher.accept(message)
        if reply is None:
            failure, detail = self.matcher.failure_without_reply()
            return RawResult(self.sent_at, failure=failure, detail=detail,
                             mismatches=self.matcher.mismatches, malformed=self.matcher.malformed)
        rtt = ((self.stamp or time.time_ns()) - self.started_ns) / 1e9
        return _answered(self.sent_at, rtt, reply, self.matcher, length)

    def _closed(self) -> RawResult:
        if len(self.buffer) >= 2:
            return RawResult(self.sent_at, failure=FailureKind.MALFORMED,
                             detail="connection closed inside a reply")
        return RawResult(self.sent_at, failure=FailureKind.NETWORK_ERROR,
                         detail="connection closed without a reply")

    def expire(self) -> None:
        """The timeout: no whole reply in time."""
        failure, detail = self.matcher.failure_without_reply()
        self._finish(RawResult(self.sent_at, failure=failure, detail=detail,
                               mismatches=self.matcher.mismatches,
                               malformed=self.matcher.malformed))

    def _finish(self, result: RawResult) -> None:
        on_done = self.on_done
        if on_done is not None:
            self.cancel()
            on_done(result)

    def cancel(self) -> None:
        """Drop the conversation: timer cancelled, socket closed, no callback follows."""
        if self.on_done is None:
            return
        self.on_done = None
        if self.reading:
            self.loop.remove_reader(self.fd)
        else:
            self.loop.remove_writer(self.fd)
        self.sock.close()
        # Held by the deadline queue until its deadline: nothing else kept alive meanwhile.
        del self.sock, self.buffer, self.unsent, self.matcher


def make_query(
    qname: str, rdtype: str, *, edns_buffer: int | None = 1232, recursion_desired: bool = False,
    dnssec_ok: bool = False, options: list[dns.edns.Option] | None = None, edns_version: int = 0,
) -> dns.message.Message:
    """A query as an authoritative-server monitor sends it: RD off, EDNS0 unless told not."""
    query = dns.message.make_query(
        qname, dns.rdatatype.from_text(rdtype),
        use_edns=edns_version if edns_buffer is not None else False,
        payload=edns_buffer or 512, want_dnssec=dnssec_ok, options=options,
    )
    query.flags = dns.flags.RD if recursion_desired else 0
    return query

