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
    response = dns.message.make_response(query)
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
    response = dns.message.make_response(query)
    response.flags &= ~(dns.flags.RA | dns.flags.AA)
    ns = _rrset(zone, zone.origin, dns.rdatatype.NS)
    if ns is not None:
        response.authority.append(ns)
        _add_glue(zone, response, ns)
    return response
