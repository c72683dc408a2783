"""DELEG01-04: the delegation at the parent, and whether the child agrees with it."""

from __future__ import annotations

import functools
from collections.abc import Iterator

import dns.message
import dns.name
import dns.rcode

from probes.checks.registry import Tag, register
from probes.evidence import Evidence, aa_set, apex_ns_names, rcode_of, rrset_addresses
from probes.model import Finding, Severity, Transport

MIN_NAMESERVERS = 2  # RFC 2182


@register(
    "DELEG01",
    "Delegation found at the parent",
    "The parent's referral has at least one NS record (ERROR if none), and at least 2 "
    "(WARNING if fewer, RFC 2182).",
    tags=(
        Tag("PARENT_NO_RESPONSE", Severity.ERROR),
        Tag("NOT_DELEGATED", Severity.ERROR),
        Tag("TOO_FEW_NS", Severity.WARNING),
    ),
    reasons=("parent-unreachable", "none", "too-few"),
)
def judge_parent(evidence: Evidence) -> Iterator[Finding]:
    """DELEG01: the parent answers and lists at least MIN_NAMESERVERS name servers."""
    delegation = evidence.delegation
    count = len(delegation.parent_ns)
    if count == 0:
        if not delegation.parent_addresses:
            tried = "; ".join(delegation.parent_failures) or "none configured"
            yield judge_parent.finding(
                "PARENT_NO_RESPONSE",
                f"no parent server answered the referral query ({tried})",
                reason="parent-unreachable")
        else:
            yield judge_parent.finding(
                "NOT_DELEGATED",
                "the parent has no NS records for the zone", reason="none")
    elif count < MIN_NAMESERVERS:
        yield judge_parent.finding(
            "TOO_FEW_NS",
            f"the parent lists {count} name server; RFC 2182 asks for at least 2",
            reason="too-few", args={"count": count})


@register(
    "DELEG02",
    "Every NS name has an address",
    "Glue or resolution gives at least one A or AAAA for every NS name of the delegation.",
    tags=(Tag("NS_NO_ADDRESS", Severity.ERROR),),
    reasons=("no-address",),
)
def judge_addresses(evidence: Evidence) -> Iterator[Finding]:
    """DELEG02: every NS name has an address, from glue or from the resolver."""
    errors = evidence.delegation.resolution_errors
    for ns in evidence.delegation.nameservers:
        if not ns.addresses:
            why = errors.get(ns.name, "no glue and no A/AAAA found")
            yield judge_addresses.finding(
                "NS_NO_ADDRESS",
                f"{ns.name} has no address: {why}", nameserver=ns.name,
                reason="no-address")


@functools.lru_cache(maxsize=16_384)
def _normal(name: str) -> str:
    return dns.name.from_text(name).to_text().lower()


@register(
    "DELEG03",
    "Parent and child NS sets agree",
    "The NS set at the parent equals the apex NS set each authoritative server returns "
    "(case-insensitive, trailing dot normalised). One finding per distinct differing set, "
    "naming the servers that returned it.",
    tags=(Tag("NS_SET_DIFFERS", Severity.WARNING),),
    reasons=("differs",),
)
def judge_ns_sets(evidence: Evidence) -> Iterator[Finding]:
    """DELEG03: the NS set each child server serves equals the parent's, one finding per set."""
    parent = {_normal(n) for n in evidence.delegation.parent_ns}
    if not parent:
        return
    by_set: dict[frozenset[str], list[str]] = {}
    for obs in evidence.select("NS", Transport.UDP):
        if obs.reply is None or obs.question.name != evidence.zone:
            continue
        child = apex_ns_names(obs.reply, evidence.zone)
        if child and child != parent:
            by_set.setdefault(child, []).append(f"{obs.nameserver} {obs.address}")
    for child, servers in sorted(by_set.items(), key=lambda item: sorted(item[0])):
        only_parent = sorted(parent - child)
        only_child = sorted(child - parent)
        yield judge_ns_sets.finding(
            "NS_SET_DIFFERS",
            f"child NS set differs from the parent's: only at parent {only_parent or '-'}, "
            f"only at child {only_child or '-'} (from {', '.join(servers)})",
            reason="differs",
            args={"only_parent": only_parent, "only_child": only_child, "servers": servers},
        )


@register(
    "DELEG04",
    "Glue agrees with the child",
    "For in-zone NS names, the glue A/AAAA at the parent equals the A/AAAA the zone's "
    "authoritative servers serve. Glue pointing where the child does not is an ERROR; an "
    "address the child serves but the glue lacks is a WARNING.",
    tags=(
        Tag("GLUE_NOT_IN_CHILD", Severity.ERROR),
        Tag("GLUE_MISSING_ADDRESS", Severity.WARNING),
    ),
    reasons=("glue-wrong", "glue-missing"),
)
def judge_glue(evidence: Evidence) -> Iterator[Finding]:
    """DELEG04: the parent's glue matches the addresses the zone itself serves for each name."""
    served: dict[str, set[str]] = {}  # name -> addresses, for names the child answered
    answered: set[tuple[str, str]] = set()
    for rdtype in ("A", "AAAA"):
        for obs in evidence.select(rdtype, Transport.UDP):
            if obs.reply is None or not _authoritative_reply(obs.reply):
                continue
            name = obs.question.name
            answered.add((name, rdtype))
            addresses = rrset_addresses(obs.reply, name)
            if name in served:
                served[name] |= addresses
            else:
                served[name] = addresses
    if not served:
        return  # the child was not asked or did not answer: nothing to compare
    for name, glue in sorted(evidence.delegation.glue.items()):
        child = served.get(name)
        if child is None:
            continue  # the child was not asked or did not answer: nothing to compare
        wrong = sorted(set(glue) - child)
        missing = sorted(a for a in child - set(glue)
                         if (name, "AAAA" if ":" in a else "A") in answered)
        if wrong:
            yield judge_glue.finding(
                "GLUE_NOT_IN_CHILD",
                f"glue for {name} lists {', '.join(wrong)}, which the zone does not "
                f"serve (zone has {', '.join(sorted(child)) or 'none'})",
                nameserver=name, reason="glue-wrong")
        if missing:
            yield judge_glue.finding(
                "GLUE_MISSING_ADDRESS",
                f"the zone serves {', '.join(missing)} for {name}, the glue lacks it",
                nameserver=name, reason="glue-missing")


def _authoritative_reply(reply: dns.message.Message) -> bool:
    return aa_set(reply) and rcode_of(reply) == dns.rcode.NOERROR


@register(
    "DELEG07",
    "Delegation within the probe caps",
    "The delegation has at most `probe.max_nameservers` NS names (default 32) and its "
    "probed names at most `probe.max_addresses` addresses in all (default 64). Beyond "
    "either cap the excess is not probed (the first names in sorted order are kept; "
    "addresses are taken round-robin, every name's first address before any name's "
    "second) and a WARNING says how many were found and how many probed (reason "
    "too-many-nameservers or too-many-addresses): the zone's figures then cover part of it.",
    tags=(
        Tag("TOO_MANY_NAMESERVERS", Severity.WARNING),
        Tag("TOO_MANY_ADDRESSES", Severity.WARNING),
    ),
    reasons=("too-many-nameservers", "too-many-addresses"),
)
def judge_caps(evidence: Evidence) -> Iterator[Finding]:
    """DELEG07: name servers or addresses left unprobed by probe.max_nameservers/max_addresses."""
    capped = evidence.delegation.capped
    settings = evidence.settings
    if "nameservers" in capped:
        found, probed = capped["nameservers"]
        yield judge_caps.finding(
            "TOO_MANY_NAMESERVERS",
            f"the parent lists {found} name servers; {probed} probed "
            f"(probe.max_nameservers), {found - probed} not probed",
            reason="too-many-nameservers",
            args={"found": found, "probed": probed, "limit": settings.max_nameservers})
    if "addresses" in capped:
        found, probed = capped["addresses"]
        yield judge_caps.finding(
            "TOO_MANY_ADDRESSES",
            f"the probed name servers have {found} addresses; {probed} probed "
            f"(probe.max_addresses), {found - probed} not probed",
            reason="too-many-addresses",
            args={"found": found, "probed": probed, "limit": settings.max_addresses})
