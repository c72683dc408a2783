"""Discover: ask the parent for the zone's delegation and find an address for every NS.

The parent's referral gives the NS set and its glue; NS names without glue are resolved
with aiodns against the configured resolver (the system's by default), as a resolver on
the Internet would have to.
"""

from __future__ import annotations

import asyncio
import errno
import socket
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

import aiodns
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype

from probes.engine import LOCAL_RETRY_PAUSE, LOCAL_RETRY_PAUSE_MAX, QueryEngine
from probes.model import Delegation, NameServer, Observation, Source, Transport
from probes.names import absolute
from probes.settings import ProbeSettings


class AddressResolver:
    """A/AAAA look-ups for NS names without glue, through aiodns."""

    def __init__(self, settings: ProbeSettings) -> None:
        options: dict[str, Any] = {"timeout": settings.udp_timeout, "tries": settings.udp_tries}
        if settings.resolver:
            options.update(udp_port=settings.resolver_port, tcp_port=settings.resolver_port)
        self._resolver = aiodns.DNSResolver(nameservers=list(settings.resolver) or None, **options)
        self._families = ("A", "AAAA") if settings.ipv6 else ("A",)
        self._patience = settings.udp_timeout + settings.tcp_timeout

    async def addresses(self, name: str) -> tuple[tuple[str, ...], str]:
        """(addresses, error text) for one host name; error is "" when any address came."""
        results = await asyncio.gather(
            *(self._lookup(name, family) for family in self._families))
        found = sorted({a for addresses, _ in results for a in addresses})
        errors = "; ".join(err for _, err in results if err)
        return tuple(found), ("" if found else errors or "no A/AAAA record")

    async def _lookup(self, name: str, family: str) -> tuple[list[str], str]:
        give_up = time.monotonic() + self._patience
        pause = LOCAL_RETRY_PAUSE
        while True:
            try:
                result = await self._resolver.query_dns(name, family)
            except aiodns.error.DNSError as exc:
                # c-ares reports a socket it could not open (EMFILE) as a timeout: when this
                # host is short of descriptors right now, that failure is ours, try again.
                if descriptors_short() and time.monotonic() + pause < give_up:
                    await asyncio.sleep(pause)
                    pause = min(pause * 2, LOCAL_RETRY_PAUSE_MAX)
                    continue
                return [], f"{family}: {exc.args[-1] if exc.args else exc}"
            addresses = [str(r.data.addr) for r in result.answer if hasattr(r.data, "addr")]
            return addresses, ""

    async def close(self) -> None:
        """Close the aiodns channel; call once, when the prober is done."""
        await self._resolver.close()


def descriptors_short() -> bool:
    """This process cannot open one more socket right now (out of descriptors or buffers)."""
    try:
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM).close()
    except OSError as exc:
        return exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)
    return False


def parse_referral(reply: dns.message.Message, zone: str) -> tuple[list[str], dict[str, list[str]]]:
    """NS names (sorted, lower case) and glue (name → addresses) from a parent's reply."""
    owner = dns.name.from_text(zone)
    names: set[str] = set()
    for section in (reply.answer, reply.authority):
        for rrset in section:
            if rrset.rdtype == dns.rdatatype.NS and rrset.name == owner:
                names.update(r.target.to_text().lower() for r in rrset)
    glue: dict[str, list[str]] = {}
    for rrset in reply.additional:
        name = rrset.name.to_text().lower()
        if rrset.rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA) and name in names:
            glue.setdefault(name, []).extend(r.address for r in rrset)
    return sorted(names), {n: sorted(set(a)) for n, a in glue.items()}


async def ask_parent(
    zone: str, engine: QueryEngine, parents: Iterable[str]
) -> tuple[Observation | None, list[str]]:
    """The first usable parent reply to `zone NS`, and "address: reason" for those that failed."""
    failures: list[str] = []
    for address in parents:
        obs = await engine.ask("parent", address, zone, "NS", Transport.UDP)
        if obs.reply is not None and obs.reply.rcode() in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
            return obs, failures
        reason = (dns.rcode.to_text(obs.reply.rcode()).lower() if obs.reply is not None
                  else str(obs.failure))
        failures.append(f"{address}: {reason}")
    return None, failures


async def discover(
    zone: str, engine: QueryEngine, resolver: AddressResolver, settings: ProbeSettings
) -> Delegation:
    """The delegation of `zone` ("fr") as its parent publishes it, with addresses to probe."""
    qname = absolute(zone)
    obs, failures = await ask_parent(qname, engine, settings.parent_addresses)
    if obs is None or obs.reply is None:
        return Delegation(qname, (), {}, (), (), tuple(failures))
    names, glue = parse_referral(obs.reply, qname)
    if not settings.ipv6:
        glue = {n: [a for a in addrs if ":" not in a] for n, addrs in glue.items()}
    # A delegation of hundreds of NS names must not become hundreds of look-ups,
    # probes and series: the first max_nameservers names (sorted) are kept, the rest is
    # neither resolved nor probed (nor glue-checked), and DELEG07 says so
    kept = names[: settings.max_nameservers]
    glue = {n: a for n, a in glue.items() if n in kept}
    need = [n for n in kept if not glue.get(n)]
    looked_up = await asyncio.gather(*(resolver.addresses(n) for n in need))
    resolved = {n: addrs for n, (addrs, _err) in zip(need, looked_up, strict=True) if addrs}
    errors = {n: err for n, (addrs, err) in zip(need, looked_up, strict=True) if not addrs}
    nameservers, found = cap_addresses(
        [_nameserver(n, glue, resolved) for n in kept], settings.max_addresses)
    capped = {}
    if len(kept) < len(names):
        capped["nameservers"] = (len(names), len(kept))
    probed = sum(len(ns.addresses) for ns in nameservers)
    if probed < found:
        capped["addresses"] = (found, probed)
    return Delegation(
        zone=qname,
        parent_ns=tuple(names),
        glue={n: tuple(a) for n, a in glue.items() if a},
        nameservers=nameservers,
        parent_addresses=(obs.address,),
        parent_failures=tuple(failures),
        resolution_errors=errors,
        capped=capped,
    )


def cap_addresses(nameservers: Sequence[NameServer],
                  limit: int) -> tuple[tuple[NameServer, ...], int]:  # fmt: skip
    """At most ``limit`` (>= 1) addresses in all, taken round-robin (every name's first
    address, then every name's second, ...) so one name with many addresses cannot crowd
    out the others; returns the name servers as probed and how many addresses they had."""
    found = sum(len(ns.addresses) for ns in nameservers)
    if found <= limit:
        return tuple(nameservers), found
    keep: list[list[str]] = [[] for _ in nameservers]
    budget, depth = limit, 0
    while budget > 0:
        for i, ns in enumerate(nameservers):
            if depth < len(ns.addresses) and budget > 0:
                keep[i].append(ns.addresses[depth])
                budget -= 1
        depth += 1
    # a name left with no address at all (a cap below the number of names) is not probed
    # either: dropped, not reported as a name without address (DELEG02)
    return tuple(
        replace(ns, addresses=tuple(k),
                address_sources={a: s for a, s in ns.address_sources.items() if a in k})
        for ns, k in zip(nameservers, keep, strict=True) if k or not ns.addresses
    ), found


def _nameserver(
    name: str, glue: Mapping[str, list[str]], resolved: Mapping[str, tuple[str, ...]]
) -> NameServer:
    if glue.get(name):
        addresses = tuple(glue[name])
        return NameServer(name, addresses, frozenset({Source.PARENT, Source.GLUE}),
                          {a: Source.GLUE for a in addresses})
    addresses = tuple(resolved.get(name, ()))
    return NameServer(name, addresses, frozenset({Source.PARENT, Source.RESOLVED}),
                      {a: Source.RESOLVED for a in addresses})
