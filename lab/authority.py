"""Authoritative answers from dnspython zones: what a healthy server says, before faults.

Enough of RFC 1034 §4.3.2 for the lab: exact answers, CNAME (not chased), referrals at
zone cuts with glue, NXDOMAIN / NODATA with the SOA, NS targets' addresses as additional data.
"""

from __future__ import annotations

from collections.abc import Mapping

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import dns.zone

IN = dns.rdataclass.IN


def make_response(query: dns.message.Message) -> dns.message.Message:
    """dnspython's response skeleton, with the query's DO bit copied back (RFC 3225)."""
    response = dns.message.make_response(query)
    if query.edns >= 0 and query.ednsflags & dns.flags.DO:
        response.ednsflags |= dns.flags.DO
    return response


def find_zone(
    zones: Mapping[dns.name.Name, dns.zone.Zone], qname: dns.name.Name
) -> dns.zone.Zone | None:
    """The deepest of `zones` containing `qname`."""
    best = None
    for origin, zone in zones.items():
        if qname.is_subdomain(origin) and (best is None or len(origin) > len(best.origin)):
            best = zone
    return best


def soa_rrset(zone: dns.zone.Zone) -> dns.rrset.RRset:
    rds = zone.find_rdataset(zone.origin, dns.rdatatype.SOA)
    rrset = dns.rrset.RRset(zone.origin, IN, dns.rdatatype.SOA)
    rrset.update(rds)
    return rrset


def zone_serial(zone: dns.zone.Zone) -> int:
    return zone.find_rdataset(zone.origin, dns.rdatatype.SOA)[0].serial


def _rrset(zone: dns.zone.Zone, name: dns.name.Name, rdtype) -> dns.rrset.RRset | None:
    node = zone.get_node(name)
    if node is None:
        return None
    rds = node.get_rdataset(IN, rdtype)
    if rds is None:
        return None
    rrset = dns.rrset.RRset(name, IN, rdtype)
    rrset.update(rds)
    return rrset


def _add_glue(zone: dns.zone.Zone, response: dns.message.Message, ns: dns.rrset.RRset) -> None:
    for rd in ns:
        if not rd.target.is_subdomain(zone.origin):
            continue
        for rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
            rrset = _rrset(zone, rd.target, rdtype)
            if rrset is not None and rrset not in response.additional:
                response.additional.append(rrset)


def _cut(zone: dns.zone.Zone, qname: dns.name.Name) -> dns.rrset.RRset | None:
    """The NS RRset of the highest zone cut between the apex (excluded) and `qname`."""
    for depth in range(len(zone.origin) + 1, len(qname) + 1):
        ns = _rrset(zone, qname.split(depth)[1], dns.rdatatype.NS)
        if ns is not None:
            return ns
    return None


def _has_descendant(zone: dns.zone.Zone, qname: dns.name.Name) -> bool:
    return any(n != qname and n.is_subdomain(qname) for n in zone.nodes)


def answer(zone: dns.zone.Zone, query: dns.message.Message) -> dns.message.Message:
    """The healthy authoritative response of `zone` to `query` (QR set, AA as appropriate)."""
    response = make_response(query)
    response.flags &= ~dns.flags.RA
    question = query.question[0]
    qname, qtype = question.name, question.rdtype
    rel_cut = _cut(zone, qname)
    if rel_cut is not None and not (qtype == dns.rdatatype.DS and rel_cut.name == qname):
        response.authority.append(rel_cut)
        _add_glue(zone, response, rel_cut)
        return response
    response.flags |= dns.flags.AA
    node = zone.get_node(qname)
    if node is None:
        if not _has_descendant(zone, qname):
            response.set_rcode(dns.rcode.NXDOMAIN)
        response.authority.append(soa_rrset(zone))
        return response
    if qtype == dns.rdatatype.ANY:
        for rds in node.rdatasets:
            rrset = dns.rrset.RRset(qname, IN, rds.rdtype)
            rrset.update(rds)
            response.answer.append(rrset)
        return response
    rrset = _rrset(zone, qname, qtype)
    if rrset is None and qtype != dns.rdatatype.CNAME:
        rrset = _rrset(zone, qname, dns.rdatatype.CNAME)
    if rrset is None:
        response.authority.append(soa_rrset(zone))
        return response
    response.answer.append(rrset)
    if rrset.rdtype == dns.rdatatype.NS:
        _add_glue(zone, response, rrset)
    return response


def referral(zone: dns.zone.Zone, query: dns.message.Message) -> dns.message.Message:
    """An upward-looking referral: no answer, the zone's own NS set in authority, AA=0."""
    response = make_response(query)
    response.flags &= ~(dns.flags.RA | dns.flags.AA)
    ns = _rrset(zone, zone.origin, dns.rdatatype.NS)
    if ns is not None:
        response.authority.append(ns)
        _add_glue(zone, response, ns)
    return response


def _signatures(zone: dns.zone.Zone, name: dns.name.Name,
                covers: dns.rdatatype.RdataType) -> dns.rrset.RRset | None:
    node = zone.get_node(name)
    if node is None:
        return None
    rds = node.get_rdataset(IN, dns.rdatatype.RRSIG, covers)
    if rds is None:
        return None
    rrset = dns.rrset.RRset(name, IN, dns.rdatatype.RRSIG, covers)
    rrset.update(rds)
    return rrset


def _nsec_covering(zone: dns.zone.Zone, qname: dns.name.Name) -> list[dns.rrset.RRset]:
    """The NSEC records denying `qname` (its predecessor in canonical order) and the
    wildcard (the apex's predecessor of ``*.zone``)."""
    owners = sorted(n for n, node in zone.nodes.items()
                    if node.get_rdataset(IN, dns.rdatatype.NSEC) is not None)
    out: list[dns.rrset.RRset] = []
    for target in (qname, dns.name.from_text("*", zone.origin)):
        before = [n for n in owners if n < target]
        if before:
            rrset = _rrset(zone, before[-1], dns.rdatatype.NSEC)
            if rrset is not None and rrset not in out:
                out.append(rrset)
    return out


def add_signatures(zone: dns.zone.Zone, response: dns.message.Message) -> None:
    """DO=1: the zone's RRSIGs over every answer and authority RRset of `response`, and the
    NSEC records of a negative answer (RFC 4035 §3.1). Nothing for an unsigned zone."""
    if zone.get_rdataset(zone.origin, dns.rdatatype.DNSKEY) is None:
        return
    question = response.question[0] if response.question else None
    if question is not None and response.flags & dns.flags.AA and not response.answer:
        if response.rcode() == dns.rcode.NXDOMAIN:
            response.authority.extend(_nsec_covering(zone, question.name))
        else:
            nsec = _rrset(zone, question.name, dns.rdatatype.NSEC)
            if nsec is not None:
                response.authority.append(nsec)
    for section in (response.answer, response.authority):
        for rrset in list(section):
            if rrset.rdtype == dns.rdatatype.RRSIG:
                continue
            sigs = _signatures(zone, rrset.name, rrset.rdtype)
            if sigs is not None and sigs not in section:
                section.append(sigs)
