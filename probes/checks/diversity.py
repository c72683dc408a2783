"""DIV01: enough name servers, on both address families, in more than one network."""

from __future__ import annotations

from collections.abc import Iterator

from probes.addresses import Family, family_of, network_prefix
from probes.checks.registry import Tag, register
from probes.evidence import Evidence
from probes.model import Finding, Severity

MIN_NAMESERVERS = 2  # RFC 2182
MIN_PER_FAMILY = 2  # Zonemaster connectivity03/04

REASONS: dict[str, tuple[str, ...]] = {
    "DIV01": ("too-few-nameservers", "too-few-ipv4", "too-few-ipv6", "one-ipv4-prefix",
              "one-ipv6-prefix"),
}


@register(
    "DIV01",
    "Name servers are diverse",
    "At least 2 NS names with an address (RFC 2182), at least 2 NS names with an IPv4 address "
    "and, when IPv6 is probed, at least 2 with an IPv6 address; when there are 2 or more "
    "addresses of a family, they span more than one /24 (IPv4) or /48 (IPv6). Each shortfall "
    "is a zone-level WARNING: too-few-nameservers, too-few-ipv4, too-few-ipv6, "
    "one-ipv4-prefix, one-ipv6-prefix.",
    tags=(
        Tag("TOO_FEW_NAMESERVERS", Severity.WARNING),
        Tag("TOO_FEW_IPV4", Severity.WARNING),
        Tag("TOO_FEW_IPV6", Severity.WARNING),
        Tag("ONE_IPV4_PREFIX", Severity.WARNING),
        Tag("ONE_IPV6_PREFIX", Severity.WARNING),
    ),
    reasons=REASONS["DIV01"],
)
def judge_diversity(evidence: Evidence) -> Iterator[Finding]:
    """DIV01: enough name servers, per address family, in more than one network prefix."""
    servers = [ns for ns in evidence.delegation.nameservers if ns.addresses]
    if not servers:
        return  # DELEG01/DELEG02 already say there is nothing to probe
    if len(servers) < MIN_NAMESERVERS:
        yield judge_diversity.finding(
            "TOO_FEW_NAMESERVERS",
            f"{len(servers)} name server with an address; RFC 2182 asks for 2",
            reason="too-few-nameservers", args={"count": len(servers)})
    families = [(Family.IPV4, 4, "IPv4")]
    if evidence.settings.ipv6:
        families.append((Family.IPV6, 6, "IPv6"))
    for kind, version, family in families:
        names: list[str] = []
        addresses: set[str] = set()
        for ns in servers:
            mine = [a for a in ns.addresses if family_of(a) is kind]
            if mine:
                names.append(ns.name)
                addresses.update(mine)
        if len(names) < MIN_PER_FAMILY:
            yield judge_diversity.finding(
                f"TOO_FEW_{family.upper()}",
                f"{len(names)} name server(s) with an {family} address; at least "
                f"{MIN_PER_FAMILY} are needed", reason=f"too-few-ipv{version}",
                args={"count": len(names), "nameservers": names})
        prefixes = {network_prefix(a) for a in addresses}
        if len(addresses) >= 2 and len(prefixes) < 2:
            yield judge_diversity.finding(
                f"ONE_{family.upper()}_PREFIX",
                f"all {len(addresses)} {family} addresses are in {prefixes.pop()}: "
                "one routing failure takes them all", reason=f"one-ipv{version}-prefix",
                args={"count": len(addresses)})
