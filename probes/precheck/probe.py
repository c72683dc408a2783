"""Probe a proposed delegation as if the parent already published it.

Per address of the proposal: the zone's SOA over UDP and TCP and its NS set (the core
queries of a sweep), A and AAAA of every NS name inside the zone, '. SOA' with RD=1, and
with --ds the DNSKEY and SOA with DO=1; once per address an SOA query from an unconnected
socket, to see which address the reply really comes from (PRE04). NS names outside the
zone without glue are resolved through the configured resolver, as a resolver would; NS
names outside the zone with glue are resolved too, to compare the glue. With --ds the
parent is asked for the zone's current DS set, to say what the change replaces.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from collections.abc import Awaitable
from dataclasses import dataclass

import dns.exception
import dns.message
import dns.rcode
import dns.rdatatype

from probes import labels
from probes.checks.dnssec import answer_rrset
from probes.checks.precheck import PrecheckEvidence, SourceReply, is_local_failure
from probes.discover import AddressResolver
from probes.engine import QueryEngine, QueryTally, current_tally
from probes.evidence import Evidence, is_authoritative
from probes.model import Delegation, NameServer, Observation, Source, Transport
from probes.observe import CORE_QUERIES
from probes.observe_further import ask_further
from probes.precheck.proposal import Proposal
from probes.precheck.referral import QNAME_OCTETS, all_glue, measure, minimal_glue
from probes.settings import ProbeSettings
from probes.transport import make_query

PARENT_TRIES = 2  # parent servers asked for the current DS set, one after the other


@dataclass(frozen=True, slots=True)
class PrecheckRun:
    """What probing saw, ready for the judges, with the sweep-like accounting."""

    evidence: PrecheckEvidence
    queries: int
    failures: dict[str, int]
    duration: float


async def probe_proposal(proposal: Proposal, settings: ProbeSettings, *,
                         allow_private: bool = False, asn_table: dict[str, int] | None = None,
                         qname_octets: int = QNAME_OCTETS) -> PrecheckRun:
    """Probe a proposed delegation's servers and collect what the prechecks judge."""
    started = time.monotonic()
    tally = QueryTally()
    current_tally.set(tally)
    engine = QueryEngine(settings)
    resolved, errors = await _resolve_outside(proposal, settings)
    delegation = delegation_of(proposal, resolved)
    unmeasured = {(ns.name, a) for ns in delegation.nameservers for a in ns.addresses
                  if not settings.ipv6 and ipaddress.ip_address(a).version == 6}
    probed = [(ns.name, a) for ns in delegation.nameservers for a in ns.addresses
              if (ns.name, a) not in unmeasured]
    core = await _gather(engine.ask(n, a, proposal.zone, rdtype, transport)
                         for n, a in probed for rdtype, transport in CORE_QUERIES)
    unmeasured |= {(o.nameserver, o.address) for o in core if is_local_failure(o)
                   and o.question.rdtype == "SOA" and o.transport is Transport.UDP}
    answering = [k for k in probed if any(
        (o.nameserver, o.address) == k and o.reply is not None for o in core)]
    authoritative = [k for k in probed if any(
        (o.nameserver, o.address) == k and o.question.rdtype == "SOA"
        and o.transport is Transport.UDP and is_authoritative(o, proposal.zone) for o in core)]
    further, sources, current_ds = await asyncio.gather(
        _further(proposal, engine, answering, authoritative),
        _sources(proposal, settings, [k for k in probed if k not in unmeasured], core, tally),
        _current_ds(proposal, engine, settings),
    )
    evidence = Evidence(proposal.zone, delegation, tuple(core + further), settings)
    pre = PrecheckEvidence(
        proposal=proposal, evidence=evidence, resolved=resolved, resolution_errors=errors,
        sources=sources, unmeasured=frozenset(unmeasured),
        referral_minimal=measure(proposal, minimal_glue(proposal), qname_octets),
        referral_full=measure(proposal, all_glue(proposal), qname_octets),
        allow_private=allow_private, asn_table=asn_table or {}, current_ds=current_ds,
    )
    return PrecheckRun(pre, tally.sent, dict(tally.failures), time.monotonic() - started)


async def _gather(tasks: object) -> list[Observation]:
    return list(await asyncio.gather(*tasks))  # type: ignore[misc]


async def _resolve_outside(proposal: Proposal, settings: ProbeSettings
                           ) -> tuple[dict[str, tuple[str, ...]], dict[str, str]]:
    """A/AAAA of the NS names outside the zone, through the resolver (glue or not)."""
    outside = [n for n in proposal.names if not proposal.in_zone(n)]
    if not outside:
        return {}, {}
    resolver = AddressResolver(settings)
    try:
        found = await asyncio.gather(*(resolver.addresses(n) for n in outside))
    finally:
        await resolver.close()
    resolved = {n: addrs for n, (addrs, _e) in zip(outside, found, strict=True) if addrs}
    errors = {n: err for n, (addrs, err) in zip(outside, found, strict=True) if not addrs}
    return resolved, errors


def delegation_of(proposal: Proposal, resolved: dict[str, tuple[str, ...]]) -> Delegation:
    """The proposal as the Delegation a sweep would have discovered at the parent."""
    servers = []
    for server in proposal.nameservers:
        if server.glue:
            servers.append(NameServer(server.name, server.glue,
                                      frozenset({Source.PARENT, Source.GLUE}),
                                      {a: Source.GLUE for a in server.glue}))
        else:
            addresses = resolved.get(server.name, ())
            servers.append(NameServer(server.name, addresses,
                                      frozenset({Source.PARENT, Source.RESOLVED}),
                                      {a: Source.RESOLVED for a in addresses}))
    glue = {s.name: s.glue for s in proposal.nameservers if s.glue}
    return Delegation(proposal.zone, tuple(sorted(proposal.names)), glue, tuple(servers), ())


async def _further(proposal: Proposal, engine: QueryEngine, answering: list[tuple[str, str]],
                   authoritative: list[tuple[str, str]]) -> list[Observation]:
    zone = proposal.zone
    tasks: list[Awaitable[Observation]] = []
    wanted = [labels.RECURSION] + ([labels.DNSKEY_DO, labels.SOA_DO] if proposal.ds else [])
    for nameserver, address in answering:
        for label in wanted:
            tasks.append(ask_further(engine, nameserver, address, zone, label))
    inside = [n for n in proposal.names if proposal.in_zone(n)]
    for nameserver, address in authoritative:
        for name in inside:
            for rdtype in ("A", "AAAA"):
                tasks.append(engine.ask(nameserver, address, name, rdtype, Transport.UDP))
    return list(await asyncio.gather(*tasks))


async def _current_ds(proposal: Proposal, engine: QueryEngine,
                      settings: ProbeSettings) -> tuple | None:
    """The DS set the parent publishes now (None: not asked, or no usable answer)."""
    if not proposal.ds:
        return None
    for address in settings.parent_addresses[:PARENT_TRIES]:
        obs = await ask_further(engine, labels.PARENT, address, proposal.zone, labels.DS_DO)
        reply = obs.reply
        if reply is not None and reply.rcode() in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
            rrset = answer_rrset(reply, proposal.zone, dns.rdatatype.DS)
            return () if rrset is None else tuple(rrset)
    return None


# --- PRE04: an unconnected socket, which accepts a reply from anywhere -------------------------

async def _sources(proposal: Proposal, settings: ProbeSettings, targets: list[tuple[str, str]],
                   core: list[Observation], tally: QueryTally) -> dict[tuple[str, str],
                                                                       SourceReply]:
    refused = {(o.nameserver, o.address) for o in core if o.transport is Transport.UDP
               and o.question.rdtype == "SOA" and str(o.failure) == "unreachable"}
    asked = [k for k in targets if k not in refused]  # ICMP said nobody listens: no need
    tally.sent += len(asked)
    replies = await asyncio.gather(*(
        unconnected_source(address, settings.port, proposal.zone, settings.udp_timeout)
        for _name, address in asked))
    return dict(zip(asked, replies, strict=True))


async def unconnected_source(address: str, port: int, zone: str,
                             timeout: float) -> SourceReply:
    """Send `zone SOA` from an unbound-peer UDP socket; the source of the matching reply.

    The transport's connected sockets let the kernel drop replies from other addresses,
    which is right for a resolver and hides exactly what this test looks for.
    """
    loop = asyncio.get_running_loop()
    v6 = ipaddress.ip_address(address).version == 6
    query = make_query(zone, "SOA")
    try:
        sock = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_DGRAM)
    except OSError:
        return SourceReply(None)
    sock.setblocking(False)
    done: asyncio.Future[SourceReply] = loop.create_future()

    def on_readable() -> None:
        while not done.done():
            try:
                data, peer = sock.recvfrom(65535)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return  # an ICMP error for an earlier datagram: keep waiting
            try:
                reply = dns.message.from_wire(data)
            except (dns.exception.DNSException, ValueError):
                continue
            if query.is_response(reply):
                done.set_result(SourceReply(str(ipaddress.ip_address(peer[0].split("%")[0])),
                                            int(peer[1])))

    try:
        sock.bind(("::" if v6 else "0.0.0.0", 0))
        loop.add_reader(sock.fileno(), on_readable)
        sock.sendto(query.to_wire(), (address, port))
        return await asyncio.wait_for(done, timeout)
    except (OSError, TimeoutError):
        return SourceReply(None)
    finally:
        loop.remove_reader(sock.fileno())
        sock.close()
