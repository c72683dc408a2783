"""SEC01 and SEC02: the zone's servers give away neither the zone nor recursion."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype

from probes.checks.registry import Check, Tag, register
from probes.evidence import Evidence, name_of, rcode_of
from probes.labels import AXFR, RECURSION, RECURSION_QNAME, by_label
from probes.model import FailureKind, Finding, Observation, Severity

REASONS: dict[str, tuple[str, ...]] = {
    "SEC01": ("open",),
    "SEC02": ("open-resolver",),
}


def axfr_granted(obs: Observation | None, zone: str) -> bool | None:
    """True when the (first message of the) AXFR reply carries the zone's SOA; None: no reply.

    A refusal is any other reply (REFUSED, NOTAUTH, ...) or a closed connection, which the
    engine reports as a failure without reply: that too counts as refused.
    """
    if obs is None:
        return None
    reply = obs.reply
    if reply is None:
        closed = obs.failure in (FailureKind.NETWORK_ERROR, FailureKind.UNREACHABLE)
        return False if closed else None
    if rcode_of(reply) != dns.rcode.NOERROR:
        return False
    name = name_of(zone)
    return any(r.rdtype == dns.rdatatype.SOA and r.name == name for r in reply.answer)


def recursion_offered(obs: Observation | None) -> bool | None:
    """True when the query for a name outside the zone got a recursive answer; None: no reply.

    Recursive means: RA=1, not authoritative (AA=0), NOERROR with an answer. A server that
    happens to be authoritative for the probe name (AA=1) answers from its own data.
    """
    if obs is None or obs.reply is None:
        return None
    reply: dns.message.Message = obs.reply
    return bool(
        reply.flags & dns.flags.RA and not reply.flags & dns.flags.AA
        and rcode_of(reply) == dns.rcode.NOERROR and reply.answer
    )


def open_resolver_findings(check: Check, evidence: Evidence,
                           targets: Iterable[tuple[str, str]]) -> Iterator[Finding]:
    """The open-resolver judgement, for SEC02 (each sweep) and PRE09 (a proposed delegation):
    OPEN_RECURSION for each target whose recursion probe got a recursive answer."""
    observed = by_label(evidence, RECURSION)
    for nameserver, address in targets:
        if recursion_offered(observed.get((nameserver, address))):
            yield check.finding(
                "OPEN_RECURSION",
                f"{nameserver} {address} answers recursive queries for names outside "
                "the zone (open resolver)",
                nameserver=nameserver, address=address, reason="open-resolver")


@register(
    "SEC01",
    "Zone transfers are refused",
    "Each address refuses AXFR of the zone over TCP (any rcode other than NOERROR, no SOA in "
    "the answer, or a closed connection). A reply that starts a transfer (NOERROR with the "
    "zone's SOA) is WARNING open: ccmon never needs a transfer, so nobody else should get one "
    "unless the registry publishes its zone on purpose (then disable SEC01).",
    tags=(Tag("OPEN_AXFR", Severity.WARNING),),
    reasons=REASONS["SEC01"],
)
def judge_axfr(evidence: Evidence) -> Iterator[Finding]:
    """SEC01: servers that grant a zone transfer (AXFR) to anyone."""
    observed = by_label(evidence, AXFR)
    for nameserver, address in evidence.targets():
        if axfr_granted(observed.get((nameserver, address)), evidence.zone):
            yield judge_axfr.finding(
                "OPEN_AXFR",
                f"{nameserver} {address} grants a zone transfer (AXFR) to anyone",
                nameserver=nameserver, address=address, reason="open")


@register(
    "SEC02",
    "No recursion offered",
    f"Each address, asked '{RECURSION_QNAME} SOA' (outside the zone) with RD=1, gives no "
    "recursive answer. RA=1 with a non-authoritative NOERROR answer is ERROR open-resolver "
    "(an open resolver on a ccTLD server serves amplification attacks and cache poisoning).",
    tags=(Tag("OPEN_RECURSION", Severity.ERROR),),
    reasons=REASONS["SEC02"],
)
def judge_recursion(evidence: Evidence) -> Iterator[Finding]:
    """SEC02: servers that answer recursive queries for names outside the zone."""
    return open_resolver_findings(judge_recursion, evidence, evidence.targets())
