"""A strict reader of the replies the core checks read, from RFC 1035 section 4.1.

dnspython's `dns.message.from_wire` costs ~300 us for a 164-byte SOA reply here (most of a
cold sweep): it builds every owner name anew and hashes each record through its wire form
while adding it. The core queries (SOA, NS, A, AAAA, with EDNS and no DNSSEC) only ever get
header, question, SOA, NS, A, AAAA and an OPT back. This reader reads exactly that
subset and builds the very objects dnspython would (a `dns.message.Message` of
`dns.rrset.RRset`s of dnspython's own rdata classes, names shared through a bounded cache),
so every reader of a reply, judge or not, sees no difference.

Anything outside the subset - another opcode, more than one question, another class or
type, a TSIG, a name or pointer it does not like, a count that runs
past the end - is not read here at all: `read_reply` returns None and the caller hands the
bytes to dnspython, which parses them or raises. So this reader never accepts what
dnspython refuses, and tests/unit/test_wire.py compares both on every reply it can make.
"""

from __future__ import annotations

import struct

import dns.flags
import dns.ipv6
import dns.message
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.NS
import dns.rdtypes.ANY.OPT
import dns.rdtypes.ANY.SOA
import dns.rdtypes.IN.A
import dns.rdtypes.IN.AAAA
import dns.rrset

_HEADER = struct.Struct("!HHHHHH")
_QUESTION_TAIL = struct.Struct("!HH")
_RR_HEADER = struct.Struct("!HHIH")
_SOA_NUMBERS = struct.Struct("!IIIII")

_MAX_HOPS = 16  # compression pointers followed per name, as dnspython allows
_MAX_NAME = 255  # octets of a name in wire form, RFC 1035 section 2.3.4
# The name cache is dropped whole beyond this many names (~350 bytes each, so ~6 MB at
# most whatever servers send); the whole root zone's replies name ~10,000.
_NAMES_KEPT = 16_384

_IN = dns.rdataclass.IN
_NONE = dns.rdatatype.NONE
_A, _NS, _SOA, _AAAA, _OPT = (dns.rdatatype.A, dns.rdatatype.NS, dns.rdatatype.SOA,
                              dns.rdatatype.AAAA, dns.rdatatype.OPT)
_QUESTION, _ANSWER, _AUTHORITY, _ADDITIONAL = 0, 1, 2, 3


class OutsideSubset(Exception):
    """The bytes are not (only) what this reader reads: dnspython decides."""


# Records built here carry their canonical wire form (RFC 4034 section 6.2: names lower
# case, uncompressed), which is exactly what dnspython hashes: the hash is the same, only
# computed once while reading instead of by writing the record out again.
class _Digested:
    __slots__ = ()

    def __hash__(self) -> int:
        try:
            return hash(self._digest)  # type: ignore[attr-defined]
        except AttributeError:  # made by dnspython itself (replace(), copy)
            return hash(self.to_digestable(dns.name.root))  # type: ignore[attr-defined]


class SOA(_Digested, dns.rdtypes.ANY.SOA.SOA):
    """dnspython's SOA rdata, read by this module."""

    __slots__ = ("_digest",)


class NS(_Digested, dns.rdtypes.ANY.NS.NS):
    """dnspython's NS rdata, read by this module."""

    __slots__ = ("_digest",)


class A(_Digested, dns.rdtypes.IN.A.A):
    """dnspython's A rdata, read by this module."""

    __slots__ = ("_digest",)


class AAAA(_Digested, dns.rdtypes.IN.AAAA.AAAA):
    """dnspython's AAAA rdata, read by this module."""

    __slots__ = ("_digest",)


_set = object.__setattr__  # dnspython's rdata are immutable once made: fill them as it does


def _rdata(cls: type[dns.rdata.Rdata], rdtype: dns.rdatatype.RdataType, digest: bytes,
           **fields: object) -> dns.rdata.Rdata:
    rdata = object.__new__(cls)
    _set(rdata, "rdclass", _IN)
    _set(rdata, "rdtype", rdtype)
    _set(rdata, "rdcomment", None)
    for key, value in fields.items():
        _set(rdata, key, value)
    _set(rdata, "_digest", digest)
    return rdata


# Names by their labels as sent (case kept): (the dnspython name, its canonical wire form)
_names: dict[tuple[bytes, ...], tuple[dns.name.Name, bytes]] = {}


def _name_of(labels: tuple[bytes, ...]) -> tuple[dns.name.Name, bytes]:
    known = _names.get(labels)
    if known is None:
        if len(_names) >= _NAMES_KEPT:
            _names.clear()
        digest = b"".join(bytes((len(label),)) + label.lower() for label in labels) + b"\0"
        known = _names[labels] = (dns.name.Name((*labels, b"")), digest)
    return known


def read_name(wire: bytes, pos: int, end: int) -> tuple[dns.name.Name, bytes, int]:
    """The name at `pos` (no byte at or after `end` read), its canonical wire form, and where
    the bytes after it start. Compression pointers must point strictly backwards, each before
    the last, into bytes before the part that pointed (so no loop and no overlap); label
    types 01 and 10 are refused; the whole name is at most 255 octets."""
    labels: list[bytes] = []
    lowest = start = pos  # a pointer must point below every earlier part of the name
    after = -1
    hops = 0
    size = 1  # the root label
    while True:
        if pos >= end:
            raise OutsideSubset("name runs past its end")
        count = wire[pos]
        pos += 1
        if count == 0:
            break
        if count < 64:
            if pos + count > end:
                raise OutsideSubset("label runs past its end")
            labels.append(wire[pos : pos + count])
            pos += count
            size += count + 1
            if size > _MAX_NAME:
                raise OutsideSubset("name longer than 255 octets")
        elif count >= 192:
            if pos >= end:
                raise OutsideSubset("pointer runs past its end")
            target = (count & 0x3F) << 8 | wire[pos]
            pos += 1
            if after < 0:
                after = pos
            hops += 1
            if target >= lowest or hops > _MAX_HOPS:
                raise OutsideSubset("pointer not strictly backwards")
            end = start  # what it points to ends before this part began
            lowest = start = pos = target
        else:
            raise OutsideSubset("label type 01 or 10")
    name, digest = _name_of(tuple(labels))
    return name, digest, (pos if after < 0 else after)


# OPT records by (payload size, TTL, data): a server sends the same one in every reply, so
# its RRset is made once and shared, as parsed replies are (never modified).
_opts: dict[tuple[int, int, bytes], dns.rrset.RRset] = {}
_OPTS_KEPT = 4096
_OPT_KEPT_BYTES = 64  # an NSID or a cookie; so the cache stays under ~2 MB whatever comes


def _opt_rrset(payload: int, ttl: int, wire: bytes, start: int, rdlen: int) -> dns.rrset.RRset:
    if rdlen:
        try:
            rdata = dns.rdata.from_wire(dns.rdataclass.RdataClass.make(payload), _OPT, wire,
                                        start, rdlen)
        except Exception as exc:  # its options do not parse: dnspython refuses the lot
            raise OutsideSubset("OPT options that do not parse") from exc
    else:
        rdata = dns.rdtypes.ANY.OPT.OPT(payload, _OPT, ())
    return dns.rrset.from_rdata(dns.name.root, ttl, rdata)


class _Reader:
    """One message's bytes, read front to back into a dnspython message."""

    def __init__(self, wire: bytes) -> None:
        self.wire = wire
        self.size = len(wire)
        self.pos = 12
        self.sections: list[list[dns.rrset.RRset]] = [[], [], [], []]
        self.index: dict[tuple[int, bytes, int], dns.rrset.RRset] = {}
        self.opt: dns.rrset.RRset | None = None

    def message(self) -> dns.message.Message:
        wire = self.wire
        if self.size < 12:
            raise OutsideSubset("short header")
        msg_id, flags, qdcount, ancount, nscount, arcount = _HEADER.unpack_from(wire)
        if (flags >> 11) & 0xF or qdcount != 1:
            raise OutsideSubset("not one question of a standard query")
        self.question()
        for section, count in ((_ANSWER, ancount), (_AUTHORITY, nscount),
                               (_ADDITIONAL, arcount)):
            for _ in range(count):
                self.record(section)
        message = dns.message.Message(id=msg_id)
        message.flags = dns.flags.Flag(flags)
        message.wire = wire
        message.sections = self.sections
        message.opt = self.opt
        # No index: dnspython's find_rrset then scans the (short) section, with the same
        # result; the index dict was a sixth of what a cached reply held (630 of 3,850 bytes).
        message.index = None  # type: ignore[assignment]  # dnspython reads None as "scan"
        return message

    def question(self) -> None:
        name, _digest, pos = read_name(self.wire, self.pos, self.size)
        if pos + 4 > self.size:
            raise OutsideSubset("question runs past the end")
        rdtype, rdclass = _QUESTION_TAIL.unpack_from(self.wire, pos)
        self.pos = pos + 4
        rrset = dns.rrset.RRset(name, dns.rdataclass.RdataClass.make(rdclass),
                                dns.rdatatype.RdataType.make(rdtype))
        self.sections[_QUESTION].append(rrset)
        self.index[(_QUESTION, b"", -1)] = rrset

    def record(self, section: int) -> None:
        wire = self.wire
        owner, owner_digest, pos = read_name(wire, self.pos, self.size)
        if pos + 10 > self.size:
            raise OutsideSubset("record header runs past the end")
        rdtype, rdclass, ttl, rdlen = _RR_HEADER.unpack_from(wire, pos)
        start = pos + 10
        end = self.pos = start + rdlen
        if end > self.size:
            raise OutsideSubset("record data runs past the end")
        if rdtype == _OPT:
            self.edns(section, owner_digest, rdclass, ttl, start, rdlen)
            return
        if rdclass != _IN:
            raise OutsideSubset("class other than IN")
        rdata = _read_rdata(wire, rdtype, start, end)
        self.add(section, owner, owner_digest, rdtype, rdata, 0 if ttl > 0x7FFFFFFF else ttl)

    def edns(self, section: int, owner_digest: bytes, payload: int, ttl: int, start: int,
             rdlen: int) -> None:
        # dnspython refuses an OPT outside the additional section, a second one, or one not
        # owned by the root (BadEDNS): left to it. Options (NSID, cookies, the EDNS tests'
        # echoes) are read by dnspython's own OPT reader, alone.
        if section != _ADDITIONAL or self.opt is not None or owner_digest != b"\0":
            raise OutsideSubset("OPT that dnspython refuses")
        if rdlen > _OPT_KEPT_BYTES:  # large options (padding, hostile bytes): never kept
            self.opt = _opt_rrset(payload, ttl, self.wire, start, rdlen)
            return
        key = (payload, ttl, self.wire[start : start + rdlen])
        opt = _opts.get(key)
        if opt is None:
            opt = _opt_rrset(payload, ttl, self.wire, start, rdlen)
            if len(_opts) >= _OPTS_KEPT:
                _opts.clear()
            _opts[key] = opt
        self.opt = opt

    def add(self, section: int, owner: dns.name.Name, owner_digest: bytes, rdtype: int,
            rdata: dns.rdata.Rdata, ttl: int) -> None:
        """As dnspython adds a record: one RRset per (section, owner, type), owner compared
        without case, the smallest TTL, a second SOA replacing the first, no duplicates."""
        key = (section, owner_digest, rdtype)
        rrset = self.index.get(key)
        if rrset is None:
            rrset = self.index[key] = dns.rrset.RRset(owner, _IN, rdata.rdtype)
            self.sections[section].append(rrset)
        if not rrset.items or ttl < rrset.ttl:
            rrset.ttl = ttl
        if rdtype == _SOA and rrset.items:
            rrset.items.clear()
        if rdata not in rrset.items:
            rrset.items[rdata] = None


def _read_rdata(wire: bytes, rdtype: int, start: int, end: int) -> dns.rdata.Rdata:
    """SOA, NS, A or AAAA data filling exactly start..end; anything else is outside."""
    if rdtype == _A:
        if end - start != 4:
            raise OutsideSubset("A data not 4 octets")
        raw = wire[start:end]
        key: tuple[object, ...] = (_A, raw)
        known = _rdatas.get(key)
        return known if known is not None else _kept(key, _rdata(
            A, _A, raw, address=".".join(map(str, raw))))
    if rdtype == _AAAA:
        if end - start != 16:
            raise OutsideSubset("AAAA data not 16 octets")
        raw = wire[start:end]
        key = (_AAAA, raw)
        known = _rdatas.get(key)
        return known if known is not None else _kept(key, _rdata(
            AAAA, _AAAA, raw, address=dns.ipv6.inet_ntoa(raw)))
    if rdtype == _NS:
        target, digest, pos = read_name(wire, start, end)
        if pos != end:
            raise OutsideSubset("NS data longer than its name")
        key = (_NS, target.labels)  # the name as sent: equal records may differ in case
        known = _rdatas.get(key)
        return known if known is not None else _kept(key, _rdata(NS, _NS, digest,
                                                                 target=target))
    if rdtype == _SOA:
        return _read_soa(wire, start, end)
    raise OutsideSubset("record type outside the subset")


def _read_soa(wire: bytes, start: int, end: int) -> dns.rdata.Rdata:
    mname, mdigest, pos = read_name(wire, start, end)
    rname, rdigest, pos = read_name(wire, pos, end)
    if pos + 20 != end:
        raise OutsideSubset("SOA data not two names and five numbers")
    numbers = wire[pos:end]
    key = (_SOA, mname.labels, rname.labels, numbers)
    known = _rdatas.get(key)
    if known is not None:
        return known
    serial, refresh, retry, expire, minimum = _SOA_NUMBERS.unpack(numbers)
    return _kept(key, _rdata(SOA, _SOA, mdigest + rdigest + numbers, mname=mname, rname=rname,
                             serial=serial, refresh=refresh, retry=retry, expire=expire,
                             minimum=minimum))


# Records by their bytes as sent (names with their case): one object per distinct record,
# shared by every reply that carries it, as dnspython's rdata are immutable. The whole root
# world's 16,861 distinct replies carry 118,929 records but only 18,916 distinct ones (the
# glue of shared name servers, a zone's NS set in every server's reply).
_rdatas: dict[tuple[object, ...], dns.rdata.Rdata] = {}
_RDATAS_KEPT = 32_768  # dropped whole beyond this: ~300 bytes each, so ~10 MB at most


def _kept(key: tuple[object, ...], rdata: dns.rdata.Rdata) -> dns.rdata.Rdata:
    if len(_rdatas) >= _RDATAS_KEPT:
        _rdatas.clear()
    _rdatas[key] = rdata
    return rdata


def read_reply(wire: bytes) -> dns.message.Message | None:
    """The message these bytes hold, as dnspython would read it (trailing bytes ignored);
    None when they hold anything outside this reader's subset."""
    try:
        return _Reader(wire).message()
    except OutsideSubset:
        return None


def parse_reply(wire: bytes) -> dns.message.Message:
    """The message these bytes hold: read here when inside the subset, else by dnspython
    (which raises on bytes that are no DNS message)."""
    message = read_reply(wire)
    if message is None:
        message = dns.message.from_wire(wire, ignore_trailing=True)
    return message
