"""The values that flow through a sweep: observations in, findings and a report out.

Nothing here does I/O. Observations keep the parsed reply so the judges can look at
any part of it; reports keep only plain values so they serialise to JSON and back.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

import dns.message


class Transport(enum.StrEnum):
    """The transport of one query; its value is the `transport` label."""
    UDP = "udp"
    TCP = "tcp"


class FailureKind(enum.StrEnum):
    """Why a query produced no usable reply. A closed set: these become label values."""

    TIMEOUT = "timeout"  # nothing usable came back before the deadline
    UNREACHABLE = "unreachable"  # the kernel said so: ICMP port unreachable, TCP RST
    NETWORK_ERROR = "network-error"  # any other socket error (no route, ...)
    MALFORMED = "malformed"  # only unparseable bytes came back
    MISMATCH = "mismatch"  # only replies with the wrong ID or question came back
    OVERSIZED = "oversized"  # UDP reply larger than our EDNS buffer and not truncated
    TRUNCATED = "truncated"  # TC=1 where no fallback is possible (TC over TCP)
    # The query failed for a reason of OUR host (EMFILE, ENOBUFS, EADDRNOTAVAIL, no route for
    # the family, ...) before any packet could leave: never attributed to a server.
    LOCAL_ERROR = "local-error"


class VantageState(enum.StrEnum):
    """What this vantage point can see over one address family, assessed per sweep round."""

    ONLINE = "online"  # enough reference servers answer
    OFFLINE = "offline"  # packets leave, too few references answer
    ABSENT = "absent"  # the host has no route / address for the family


class Severity(enum.IntEnum):
    """Outcome levels, ordered so that the worst of several is simply max()."""

    OK = 0
    INFO = 1
    NOTICE = 2
    WARNING = 3
    ERROR = 4
    CRITICAL = 5


class ServerState(enum.StrEnum):
    """The state of one server address in one sweep (the status grid's colour), worst first.

    UNMEASURED is ours, not the server's: this vantage point could not measure the address
    (its family offline or absent here, a local error); it is neither up nor down.
    """

    DOWN = "down"  # no answer over any transport
    LAME = "lame"  # answers, but not authoritatively (LAME01 reason in `reason`)
    STALE = "stale"  # answers authoritatively with a serial behind the zone's highest
    SLOW = "slow"  # answers, slower than the RTT01/RTT02 threshold
    DEGRADED = "degraded"  # one transport (UDP or TCP) does not answer
    OK = "ok"  # authoritative, in time, current serial, over every transport probed
    UNMEASURED = "unmeasured"


class DnssecState(enum.StrEnum):
    """The DNSSEC state of a zone in one sweep."""

    SECURE = "secure"  # DS at the parent matches, every address validates
    ISLAND = "island"  # signed, no DS at the parent
    UNSIGNED = "unsigned"
    BOGUS = "bogus"  # DS or signatures broken (a DNSSEC01/DNSSEC02 error)
    UNKNOWN = "unknown"  # not probed, or not told by what came back

    @classmethod
    def of(cls, text: str) -> DnssecState:
        """The state a stored word names; "" and words of newer versions read as UNKNOWN."""
        try:
            return cls(text)
        except ValueError:
            return cls.UNKNOWN


class Source(enum.StrEnum):
    """Where a name server or address of the delegation came from."""

    PARENT = "parent"
    CHILD = "child"
    GLUE = "glue"
    RESOLVED = "resolved"


def _fields_of(instance: Any) -> dict[str, Any]:
    """A dataclass's fields as a dict, values as they are: `asdict` without its deep copy
    (which cost a third of writing `ccmon check --json`). For the plain-valued rows only;
    their to_dict copies the one mapping each has."""
    names = _FIELD_NAMES.get(type(instance))
    if names is None:
        names = _FIELD_NAMES[type(instance)] = tuple(f.name for f in fields(instance))
    return {name: getattr(instance, name) for name in names}


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


@dataclass(frozen=True, slots=True)
class FamilyHealth:
    """The vantage verdict for one address family: how many reference servers answered."""

    family: str  # "ipv4" | "ipv6"
    state: VantageState
    answering: int = 0  # reference addresses that answered the control query
    references: int = 0  # reference addresses asked
    detail: str = ""  # why, in words (errno text when absent)


@dataclass(frozen=True, slots=True)
class Question:
    """What we ask: an absolute, lower-case name, a record type, and which variant of it.

    The further queries send several kinds of the same type (SOA without EDNS, with DO=1,
    with NSID, ...); `variant` names the kind (probes.labels), "" for the plain query, so a
    reader of `rdtype` always gets a record type and the core SOA is never mistaken for one
    of them.
    """
    name: str  # absolute, lower case, trailing dot
    rdtype: str  # "SOA", "NS", "A", ...: a record type only
    variant: str = ""  # "" for the core queries; a probes.labels name for further ones


@dataclass(frozen=True, slots=True)
class Observation:
    """One query to one address, and what came of it. No judgement here."""

    nameserver: str  # NS name we were probing, absolute, lower case
    address: str
    transport: Transport
    question: Question
    sent_at: float  # unix seconds
    rtt: float | None = None  # seconds, from the send to the kernel's receive stamp
    reply: dns.message.Message | None = None
    failure: FailureKind | None = None
    detail: str = ""  # human words for the failure (errno text, count of bad replies)
    mismatches: int = 0  # replies discarded for wrong ID/question before the answer
    malformed: int = 0  # unparseable datagrams discarded before the answer
    truncated_udp: bool = False  # UDP said TC=1 and this is the TCP retry's result
    oversized_bytes: int = 0  # size of an oversized UDP reply


@dataclass(frozen=True, slots=True)
class NameServer:
    """One NS name of the delegation with the addresses we found for it."""

    name: str
    addresses: tuple[str, ...]
    sources: frozenset[Source]
    address_sources: Mapping[str, Source] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Delegation:
    """What discovery learnt about a zone before any server of the zone was asked."""

    zone: str
    parent_ns: tuple[str, ...]  # as the parent lists them, sorted
    glue: Mapping[str, tuple[str, ...]]  # NS name -> addresses from the referral
    nameservers: tuple[NameServer, ...]  # what we will probe
    parent_addresses: tuple[str, ...]  # parent servers that answered the referral
    parent_failures: tuple[str, ...] = ()  # "address: reason" for parents that did not
    resolution_errors: Mapping[str, str] = field(default_factory=dict)  # NS name -> why
    # What probe.max_nameservers / probe.max_addresses left out (not probed):
    # "nameservers" / "addresses" -> (found, probed); empty when within the caps
    capped: Mapping[str, tuple[int, int]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Finding:
    """One verdict of one check, about the zone or a named server and address."""

    check: str  # stable check ID, e.g. "LAME01"
    severity: Severity
    tag: str  # SCREAMING_SNAKE outcome, e.g. "LAME_DELEGATION"
    message: str  # one line a human reads
    nameserver: str = ""
    address: str = ""
    reason: str = ""  # bounded vocabulary per check, e.g. "refused"
    args: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values: severity by name, args as a plain dict."""
        data = _fields_of(self)
        data["severity"] = self.severity.name
        data["args"] = dict(self.args)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Finding:
        """The inverse of to_dict()."""
        return cls(**{**data, "severity": Severity[data["severity"]], "args": data["args"]})


@dataclass(frozen=True, slots=True)
class ServerStatus:
    """The per (name server, address, transport) summary the monitor exposes."""

    nameserver: str
    address: str
    transport: Transport
    answered: bool  # a usable reply came back (any rcode)
    authoritative: bool  # NOERROR, AA=1, SOA owner = zone
    rtt: float | None  # seconds
    serial: int | None
    lame_reason: str = ""  # LAME01 reason when not authoritative, "" otherwise
    failure: str = ""  # FailureKind value when no usable reply
    within_threshold: bool = False  # authoritative and RTT within RTT01/RTT02
    # Facts of the address from the further queries. They are set on the UDP row
    # only (the TCP row of the same address keeps the defaults), so that one address gives
    # one value; None / "" / {} means not probed or no answer.
    rrsig_expires_at: float | None = None  # unix s: DNSSEC03's earliest signature expiry
    dnssec_valid: bool | None = None  # DNSSEC02: SOA and DNSKEY RRSIGs validate (signed zones)
    nsid: str = ""  # NSID01: the identity the address returned (an info metric, not a label)
    edns: Mapping[str, str] = field(default_factory=dict)  # EDNS01: test -> "ok" | reason
    axfr_open: bool | None = None  # SEC01: the address granted us an AXFR
    recursion_open: bool | None = None  # SEC02: the address answered a recursive query
    # False: not measured this sweep (its family offline/absent here, or a local error):
    # answered/authoritative/rtt/within_threshold then carry no meaning, no finding names it.
    measured: bool = True
    udp_loss: float | None = None  # share of UDP tries to this address without an answer

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values: transport as its string, EDNS as a plain dict."""
        data = _fields_of(self)
        data["transport"] = str(self.transport)
        data["edns"] = dict(self.edns)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ServerStatus:
        """The inverse of to_dict(); fields missing in older stored reports take defaults."""
        return cls(**{**data, "transport": Transport(data["transport"])})  # new fields default


@dataclass(frozen=True, slots=True)
class AddressSummary:
    """One (name server, address) of a report: its UDP and TCP rows side by side, and what
    the summarise stage concluded of them (state, serial, RFC 1982 lag). Every reader (metrics,
    status page, history, mails) takes these as they are."""

    nameserver: str
    address: str
    udp: ServerStatus | None
    tcp: ServerStatus | None
    serial: int | None  # from an authoritative answer, UDP first
    lag: int | None  # RFC 1982 steps behind the zone's highest serial; None without a serial
    lame_reason: str  # LAME01 reason when the state is LAME, "" otherwise
    state: ServerState
    ipv6: bool

    @property
    def rtt(self) -> float | None:
        """The UDP SOA round trip in seconds; None when UDP was not probed or had no answer."""
        return self.udp.rtt if self.udp is not None else None

    @property
    def statuses(self) -> tuple[ServerStatus, ...]:
        """The UDP and TCP rows that exist, UDP first."""
        return tuple(s for s in (self.udp, self.tcp) if s is not None)

    @property
    def measured(self) -> bool:
        """False when this vantage point could not measure the address: then it is neither
        up nor down, and counts for no availability figure."""
        return self.state is not ServerState.UNMEASURED

    @property
    def up(self) -> bool:
        """Counts for ICANN-style availability: UDP (TCP if UDP was not probed) in time."""
        first = self.udp if self.udp is not None else self.tcp
        return bool(first and first.within_threshold)

    # The further queries' facts live on the UDP row (one value per address).

    @property
    def rrsig_expires_at(self) -> float | None:
        """When this address's signatures expire (epoch seconds); None when unknown or unsigned."""
        return self.udp.rrsig_expires_at if self.udp is not None else None

    @property
    def dnssec_valid(self) -> bool | None:
        """Whether its DNSSEC signatures validated; None when not checked."""
        return self.udp.dnssec_valid if self.udp is not None else None

    @property
    def nsid(self) -> str:
        """The NSID the address returned; "" when none."""
        return self.udp.nsid if self.udp is not None else ""

    @property
    def axfr_open(self) -> bool:
        """The address granted a zone transfer to us."""
        return bool(self.udp is not None and self.udp.axfr_open)

    @property
    def recursion_open(self) -> bool:
        """The address answered a recursive query for a name outside the zone."""
        return bool(self.udp is not None and self.udp.recursion_open)

    @property
    def edns_problems(self) -> dict[str, str]:
        """EDNS01 test -> outcome word, for the tests the address failed."""
        if self.udp is None:
            return {}
        return {t: o for t, o in self.udp.edns.items() if o and o != "ok"}

    def to_dict(self) -> dict[str, Any]:
        """The summary's own values (the rows are in ZoneReport.servers already)."""
        return {"nameserver": self.nameserver, "address": self.address,
                "state": str(self.state), "lame_reason": self.lame_reason,
                "serial": self.serial, "lag": self.lag}


@dataclass(frozen=True, slots=True)
class ZoneReport:
    """Everything one sweep of one zone concluded. Plain values only."""

    zone: str  # A-label, no trailing dot ("fr", "xn--fiqs8s")
    started_at: float  # unix seconds
    duration: float  # seconds
    servers: tuple[ServerStatus, ...]
    findings: tuple[Finding, ...]
    parent_ns: tuple[str, ...] = ()
    child_ns: tuple[str, ...] = ()
    queries: int = 0
    query_failures: Mapping[str, int] = field(default_factory=dict)  # FailureKind -> count
    rtts: Mapping[str, tuple[float, ...]] = field(default_factory=dict)  # transport -> RTTs
    # DNSSEC state of the zone, from the DNSSEC findings (a stored word reads back as is).
    dnssec: DnssecState = DnssecState.UNKNOWN
    # Vantage health: family ("ipv4", "ipv6") -> VantageState value for this sweep
    # ({} = not assessed), the addresses left unmeasured, and whether nothing was measured.
    vantage: Mapping[str, str] = field(default_factory=dict)
    unmeasured: tuple[str, ...] = ()
    unknown: bool = False
    # Filled by the summarise stage (probes.summarise) from the rows above whenever a report
    # is made, read back, or replaced: one derivation, never out of step with `servers`.
    addresses: tuple[AddressSummary, ...] = field(init=False, default=())
    nameservers_up: tuple[int, int] = field(init=False, default=(0, 0))  # (up, with a measure)
    serial: int | None = field(init=False, default=None)  # the highest (RFC 1982) served
    distinct_serials: int = field(init=False, default=0)  # different serials served
    # ICANN Spec 10 over what was measured; None when it hangs on unmeasured name servers
    available: bool | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        """Summarise the rows (probes.summarise); a stored DNSSEC word becomes its state."""
        from probes.summarise import summarise_addresses  # the stage needs the model first

        object.__setattr__(self, "dnssec", DnssecState.of(str(self.dnssec)))
        for name, value in summarise_addresses(self)._asdict().items():
            object.__setattr__(self, name, value)

    @property
    def severity(self) -> Severity:
        """The worst severity among the findings; OK when there are none."""
        return max((f.severity for f in self.findings), default=Severity.OK)

    def to_dict(self) -> dict[str, Any]:
        """The report as plain JSON-ready values, as the store keeps it."""
        return {
            "zone": self.zone,
            "started_at": self.started_at,
            "duration": self.duration,
            "severity": self.severity.name,
            "parent_ns": list(self.parent_ns),
            "child_ns": list(self.child_ns),
            "queries": self.queries,
            "query_failures": dict(self.query_failures),
            "rtts": {k: list(v) for k, v in self.rtts.items()},
            "servers": [s.to_dict() for s in self.servers],
            "findings": [f.to_dict() for f in self.findings],
            "dnssec": str(self.dnssec),
            "vantage": dict(self.vantage),
            "unmeasured": list(self.unmeasured),
            "unknown": self.unknown,
            "addresses": [a.to_dict() for a in self.addresses],
            "nameservers_up": list(self.nameservers_up),
            "serial": self.serial,
            "distinct_serials": self.distinct_serials,
            "available": self.available,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ZoneReport:
        """The inverse of to_dict(); keys missing from older stored reports take their defaults,
        and the summary is made afresh from the rows."""
        return cls(
            zone=data["zone"],
            started_at=data["started_at"],
            duration=data["duration"],
            servers=tuple(ServerStatus.from_dict(s) for s in data["servers"]),
            findings=tuple(Finding.from_dict(f) for f in data["findings"]),
            parent_ns=tuple(data.get("parent_ns", ())),
            child_ns=tuple(data.get("child_ns", ())),
            queries=data.get("queries", 0),
            query_failures=dict(data.get("query_failures", {})),
            rtts={k: tuple(v) for k, v in data.get("rtts", {}).items()},
            dnssec=DnssecState.of(data.get("dnssec", "")),
            vantage=dict(data.get("vantage", {})),
            unmeasured=tuple(data.get("unmeasured", ())),
            unknown=bool(data.get("unknown", False)),
        )
