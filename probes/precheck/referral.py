"""The referral the parent would send for the proposed delegation, built and measured.

IANA requires the referral to fit a UDP message without EDNS (512 octets) with the whole
NS set and the minimal glue: one A record, and one AAAA record when any name server has
an IPv6 address. As Zonemaster's DELEGATION03 reads the rule, the question is the longest
possible name under the zone (255 octets on the wire): if that referral fits, every one
does. The message is a real dnspython message with RFC 1035 name compression, measured
record by record, so the first record that does not fit can be named.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

import dns.flags
import dns.message
import dns.name
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from probes.precheck.proposal import Proposal

LIMIT = 512  # octets: a DNS message over UDP without EDNS (RFC 1035 4.2.1)
QNAME_OCTETS = 255  # the longest name (RFC 1035 2.3.4), as Zonemaster's DELEGATION03
TTL = 172800  # the root zone's delegation TTL (2 days)


@dataclass(frozen=True, slots=True)
class Record:
    """One record of the referral: an NS (address "") or a glue A/AAAA."""

    nameserver: str
    address: str = ""

    @property
    def text(self) -> str:
        """The record as a reader names it: "NS name" or "A/AAAA glue name address"."""
        if not self.address:
            return f"NS {self.nameserver}"
        kind = "AAAA" if ipaddress.ip_address(self.address).version == 6 else "A"
        return f"{kind} glue {self.nameserver} {self.address}"


@dataclass(frozen=True, slots=True)
class ReferralSize:
    """How big the referral for the proposal is, and the record that first passes LIMIT."""
    size: int  # octets of the whole referral
    overflow: Record | None  # the first record whose addition passed LIMIT (None: fits)
    records: tuple[Record, ...]  # what the referral holds, in order
    size_before_overflow: int = 0  # octets of the referral up to the record before it

    @property
    def fits(self) -> bool:
        """The whole referral fits in LIMIT octets."""
        return self.size <= LIMIT


def long_qname(zone: str, octets: int = QNAME_OCTETS) -> dns.name.Name:
    """A name under `zone` exactly `octets` long on the wire (as close as labels allow)."""
    origin = dns.name.from_text(zone)
    labels: list[bytes] = []
    wire = origin.to_wire()
    assert wire is not None  # without a file, to_wire() returns the bytes
    room = octets - len(wire)
    while room >= 2:  # a label costs its length + 1
        size = min(63, room - 1)
        labels.append(b"x" * size)
        room -= size + 1
    return dns.name.Name((*labels, *origin.labels))


def minimal_glue(proposal: Proposal) -> list[Record]:
    """IANA's minimal glue: one A, and one AAAA when any server has an IPv6 address."""
    chosen: list[Record] = []
    for version in (4, 6):
        for server in proposal.nameservers:
            address = next((a for a in server.glue
                            if ipaddress.ip_address(a).version == version), None)
            if address is not None:
                chosen.append(Record(server.name, address))
                break
    return chosen


def all_glue(proposal: Proposal) -> list[Record]:
    """Every proposed glue record, A before AAAA, in NS order (as parents tend to send)."""
    return [Record(s.name, a) for version in (4, 6) for s in proposal.nameservers
            for a in s.glue if ipaddress.ip_address(a).version == version]


def measure(proposal: Proposal, glue: Sequence[Record],
            qname_octets: int = QNAME_OCTETS) -> ReferralSize:
    """Build the referral record by record; its size and the first record past LIMIT."""
    query = dns.message.make_query(long_qname(proposal.zone, qname_octets), dns.rdatatype.A,
                                   use_edns=False)
    reply = dns.message.make_response(query)
    reply.flags &= ~dns.flags.AA
    zone = dns.name.from_text(proposal.zone)
    ns_set = dns.rrset.RRset(zone, dns.rdataclass.IN, dns.rdatatype.NS)
    ns_set.ttl = TTL
    reply.authority.append(ns_set)
    records = [Record(name) for name in proposal.names] + list(glue)
    size = before = len(reply.to_wire())
    overflow: Record | None = None
    for record in records:
        if record.address:
            rdtype = "AAAA" if ipaddress.ip_address(record.address).version == 6 else "A"
            reply.additional.append(dns.rrset.from_text(record.nameserver, TTL, "IN", rdtype,
                                                        record.address))
        else:
            ns_set.add(dns.rdata.from_text("IN", "NS", record.nameserver))
        previous, size = size, len(reply.to_wire())
        if overflow is None and size > LIMIT:
            overflow, before = record, previous
    return ReferralSize(size, overflow, tuple(records), before if overflow else size)
