"""The input of every judge, and small pure readings of observations shared by them.

Part of the model, not of a stage: observe reads replies with these (is it authoritative,
did it respond) as the judges do, and neither stage imports the other."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TypeVar

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.SOA

from probes.addresses import family_of
from probes.model import Delegation, FailureKind, FamilyHealth, Observation, Transport
from probes.names import name_text
from probes.settings import ProbeSettings

#: The key that says the observations have been filed by question (Evidence._by_question).
_SORTED: tuple[str, str, None] = ("", "", None)


@dataclass(frozen=True, slots=True)
class Evidence:
    """Everything a sweep saw of one zone; the judges read it and never do I/O."""

    zone: str  # absolute, lower case: "fr."
    delegation: Delegation
    observations: tuple[Observation, ...]
    settings: ProbeSettings
    # Vantage health of this sweep: family -> verdict ({} = not assessed), and the
    # addresses left unmeasured (family offline/absent here, or only local errors).
    vantage: Mapping[str, FamilyHealth] = field(default_factory=dict)
    unmeasured: frozenset[str] = frozenset()
    nothing_measured: bool = False
    # The observations by question, sorted out in one pass on first use: the judges and the
    # summarise stage ask for the same few selections ~40 times per zone.
    _selected: dict[tuple[str, str, Transport | None], list[Observation]] = field(
        default_factory=dict, init=False, repr=False, compare=False)
    _soa: dict[Transport, dict[tuple[str, str], Observation]] = field(
        default_factory=dict, init=False, repr=False, compare=False)
    _labelled: dict[str, dict[tuple[str, str], Observation]] = field(
        default_factory=dict, init=False, repr=False, compare=False)
    _targets: list[tuple[tuple[str, str], ...]] = field(
        default_factory=list, init=False, repr=False, compare=False)

    def _by_question(self) -> dict[tuple[str, str, Transport | None], list[Observation]]:
        """(variant, "", None) for further queries; ("", rdtype, transport) and
        ("", rdtype, None) for core ones: each observation filed once, in probe order."""
        groups = self._selected
        if _SORTED not in groups:
            for obs in self.observations:
                question = obs.question
                if question.variant:
                    groups.setdefault((question.variant, "", None), []).append(obs)
                else:
                    groups.setdefault(("", question.rdtype, obs.transport), []).append(obs)
                    groups.setdefault(("", question.rdtype, None), []).append(obs)
            groups[_SORTED] = []
        return groups

    def select(self, rdtype: str, transport: Transport | None = None) -> Iterator[Observation]:
        """Observations of one core query type (and transport), in probe order; the further
        queries' variants of the same type are not among them (see `variant`)."""
        return iter(self._by_question().get(("", rdtype, transport), ()))

    def variant(self, label: str) -> Iterator[Observation]:
        """Observations of one further query (probes.labels), in probe order."""
        if not label:  # "": the core queries, of every type
            return (obs for obs in self.observations if not obs.question.variant)
        return iter(self._by_question().get((label, "", None), ()))

    def soa(self, transport: Transport) -> Mapping[tuple[str, str], Observation]:
        """The apex SOA observation per (name server, address), made once: read only."""
        found = self._soa.get(transport)
        if found is None:
            found = self._soa[transport] = {
                (o.nameserver, o.address): o
                for o in self.select("SOA", transport)
                if o.question.name == self.zone
            }
        return found

    def by_address(self, label: str) -> Mapping[tuple[str, str], Observation]:
        """The observation of one further query per (name server, address), the last of
        each in probe order; made once: read only."""
        found = self._labelled.get(label)
        if found is None:
            found = self._labelled[label] = {(o.nameserver, o.address): o
                                             for o in self.variant(label)}
        return found

    def targets(self) -> tuple[tuple[str, str], ...]:
        """Every (name server, address) the sweep measured, in delegation order (unmeasured
        addresses are left out: no check judges them); made once."""
        if not self._targets:
            self._targets.append(tuple(
                (ns.name, a) for ns in self.delegation.nameservers for a in ns.addresses
                if a not in self.unmeasured))
        return self._targets[0]

    def unmeasured_servers(self) -> list[str]:
        """NS names with addresses none of which could be measured: neither up nor down."""
        return [ns.name for ns in self.delegation.nameservers
                if ns.addresses and all(a in self.unmeasured for a in ns.addresses)]

    def unmeasured_families(self) -> list[str]:
        """Families ("ipv4", "ipv6") not online here that left some address unmeasured."""
        down = {f for f, h in self.vantage.items() if h.state != "online"}
        found = {family_of(a) for a in self.unmeasured}
        return sorted(found & down)


@functools.lru_cache(maxsize=32_768)  # zones and glue names: the whole root ~7,400, each sweep
def name_of(text: str) -> dns.name.Name:
    """A parsed name, cached: judges compare owners against the same few names all sweep
    long, and parsing them again for every observation was a third of a sweep's CPU; the
    glue questions test the same NS names against their zones every sweep."""
    return dns.name.from_text(text)


# LAME01 reasons: a closed vocabulary, used as a metric label value.
LAME_REASONS: tuple[str, ...] = (
    "refused", "servfail", "not-authoritative", "referral", "nxdomain", "wrong-owner",
    "malformed", "other-rcode",
)  # fmt: skip

_RCODE_REASONS: dict[int, str] = {
    dns.rcode.REFUSED: "refused",
    dns.rcode.SERVFAIL: "servfail",
    dns.rcode.NXDOMAIN: "nxdomain",
}


Reading = TypeVar("Reading")
ReplyReader = Callable[[dns.message.Message, str], Reading]


# The readings of the sweep being judged: (reader, id of reply, zone) -> (reply, reading).
# Set by `sweep_readings` for one sweep and dropped with it: no reply outlives its sweep here.
_readings: ContextVar[dict[tuple[str, int, str], tuple[object, object]] | None] = (
    ContextVar("ccmon_sweep_readings", default=None))


@contextmanager
def sweep_readings() -> Iterator[None]:
    """Remember readings of replies while one sweep is judged (probes.sweep wraps its
    judging in this); outside such a scope every reading is made anew."""
    token = _readings.set({})
    try:
        yield
    finally:
        _readings.reset(token)


def per_reply(read: ReplyReader[Reading]) -> ReplyReader[Reading]:
    """Remember a reading of a reply for a zone within one sweep. Parsed replies are shared
    (equal bytes parse once), and every check reads the same few of them: reading each once
    saves a quarter of a sweep's CPU. Keyed by identity; the entry keeps the reply alive for
    the sweep, so ids are not reused, and the whole memo goes when the sweep's scope ends."""
    reader = read.__qualname__

    @functools.wraps(read)
    def cached(reply: dns.message.Message, zone: str) -> Reading:
        memo = _readings.get()
        if memo is None:
            return read(reply, zone)
        key = (reader, id(reply), zone)
        hit = memo.get(key)
        if hit is not None and hit[0] is reply:
            return hit[1]  # type: ignore[return-value]
        value = read(reply, zone)
        memo[key] = (reply, value)
        return value

    return cached


EvidenceReading = TypeVar("EvidenceReading")


def per_evidence(
    read: Callable[[Evidence], EvidenceReading],
) -> Callable[[Evidence], EvidenceReading]:
    """Remember a reading of a whole sweep's evidence while it is judged and summarised: the
    judges and the summarise stage read the same facts (EDNS outcomes, signature verdicts,
    expiries), worked out once. Same scope and identity rule as `per_reply`; the reading
    must not be changed by whoever gets it."""
    reader = read.__qualname__ + "@" + read.__module__

    @functools.wraps(read)
    def cached(evidence: Evidence) -> EvidenceReading:
        memo = _readings.get()
        if memo is None:
            return read(evidence)
        key = (reader, id(evidence), "")
        hit = memo.get(key)
        if hit is not None and hit[0] is evidence:
            return hit[1]  # type: ignore[return-value]
        value = read(evidence)
        memo[key] = (evidence, value)
        return value

    return cached


def same_name(owner: dns.name.Name, name: dns.name.Name) -> bool:
    """`owner == name` (case-insensitive), equal labels first: a reply's owners mostly carry
    the labels we asked with, and dnspython's full comparison of every pair was a tenth of
    the judging."""
    return owner.labels == name.labels or owner == name


_AA = int(dns.flags.AA)


def aa_set(reply: dns.message.Message) -> bool:
    """The reply has the AA bit: read as an int, not as a Flag member made per test."""
    return bool(int(reply.flags) & _AA)


@per_reply
def apex_soa(reply: dns.message.Message, zone: str) -> dns.rdtypes.ANY.SOA.SOA | None:
    """The SOA record for the zone apex in the answer section, if there is one."""
    name = name_of(zone)
    for rrset in reply.answer:
        if rrset.rdtype == dns.rdatatype.SOA and same_name(rrset.name, name) and len(rrset):
            return rrset[0]
    return None


def lame_reason(obs: Observation, zone: str) -> str | None:
    """Why this SOA observation is lame, or None when it is an authoritative answer.

    Not called for observations without a usable reply: no reply is unreachable, not lame.
    A reply that only came as malformed bytes is lame ("malformed").
    """
    reply = obs.reply
    if reply is None:
        if obs.failure in (FailureKind.MALFORMED, FailureKind.MISMATCH):
            return "malformed"
        raise ValueError("no reply: unreachable, not lame")
    return reply_lame_reason(reply, zone)


def rcode_of(reply: dns.message.Message) -> int:
    """`reply.rcode()` as a plain int (equal to dnspython's Rcode members): the same bits,
    header and OPT, without an enum member made per call (a tenth of the judging)."""
    opt = reply.opt
    extended = (opt.ttl >> 20) & 0xFF0 if opt else 0
    return (int(reply.flags) & 0xF) | extended


@per_reply
def reply_lame_reason(reply: dns.message.Message, zone: str) -> str | None:
    """LAME01's reading of one reply to `zone SOA` (None: authoritative)."""
    rcode = rcode_of(reply)
    if rcode != dns.rcode.NOERROR:
        return _RCODE_REASONS.get(rcode, "other-rcode")
    name = name_of(zone)
    soa_any_owner = [r for r in reply.answer if r.rdtype == dns.rdatatype.SOA]
    if soa_any_owner and not any(same_name(r.name, name) for r in soa_any_owner):
        return "wrong-owner"
    authoritative = aa_set(reply)
    delegates = any(r.rdtype == dns.rdatatype.NS for r in reply.authority)
    if not reply.answer and delegates and not authoritative:
        return "referral"
    if not authoritative:
        return "not-authoritative"
    if apex_soa(reply, zone) is None:
        if any(r.rdtype == dns.rdatatype.SOA and not same_name(r.name, name)
               for r in reply.authority):
            return "wrong-owner"  # authoritative for some other zone: NODATA from elsewhere
        return "malformed"  # claims authority yet has no apex SOA
    return None


def is_authoritative(obs: Observation, zone: str) -> bool:
    """A usable reply that is an authoritative apex SOA answer."""
    if obs.reply is None:
        return False
    return lame_reason(obs, zone) is None


def has_reply(obs: Observation | None) -> bool:
    """A reply came back that we could read (whatever it said)."""
    return obs is not None and obs.reply is not None


def responded(obs: Observation | None) -> bool:
    """The server sent something, usable or not: a reply, garbage or a mismatched reply."""
    if obs is None:
        return False
    return obs.reply is not None or obs.failure in (FailureKind.MALFORMED, FailureKind.MISMATCH,
                                                     FailureKind.OVERSIZED)


def serial_of(obs: Observation, zone: str) -> int | None:
    """The serial of the zone's apex SOA in this reply, None without a reply or SOA."""
    if obs.reply is None:
        return None
    soa = apex_soa(obs.reply, zone)
    return None if soa is None else int(soa.serial)


@per_reply
def apex_ns_names(reply: dns.message.Message, zone: str) -> frozenset[str]:
    """The NS target names for the zone apex in the answer section, lower case."""
    name = name_of(zone)
    return frozenset(
        name_text(rdata.target).lower()
        for rrset in reply.answer
        if rrset.rdtype == dns.rdatatype.NS and same_name(rrset.name, name)
        and rrset.rdclass == dns.rdataclass.IN
        for rdata in rrset
    )


def rrset_addresses(reply: dns.message.Message, owner: str) -> set[str]:
    """A and AAAA addresses for an owner name in the answer section."""
    name = name_of(owner)
    return {
        rdata.address
        for rrset in reply.answer
        if rrset.rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA) and same_name(rrset.name, name)
        for rdata in rrset
    }
