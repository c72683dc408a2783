"""LAME01 and REACH01: does each listed address answer, and answer with authority."""

from __future__ import annotations

from collections.abc import Iterator

from probes.checks.registry import Tag, register
from probes.evidence import LAME_REASONS, Evidence, has_reply, lame_reason, per_evidence
from probes.model import FailureKind, Finding, Observation, Severity, Transport

_LAME_WORDS = {
    "refused": "answered REFUSED",
    "servfail": "answered SERVFAIL",
    "nxdomain": "answered NXDOMAIN for the apex",
    "not-authoritative": "answered without the AA flag",
    "referral": "answered with a referral instead of the zone's SOA",
    "wrong-owner": "answered an SOA for another owner name",
    "malformed": "sent a malformed reply",
    "other-rcode": "answered with an unexpected rcode",
}


def server_verdict(udp: Observation | None, tcp: Observation | None, zone: str) -> tuple[str, str]:
    """("ok" | "lame" | "unreachable", reason) for one address from its SOA observations.

    The UDP reply is the evidence when there is one, TCP's otherwise. No reply at all is
    unreachable, never lame; a reply that could not be parsed is lame ("malformed"); only
    replies with a wrong ID or question are unreachable ("mismatch"): a resolver drops them.
    """
    for obs in (udp, tcp):
        if obs is not None and has_reply(obs):
            reason = lame_reason(obs, zone)
            return ("lame", reason) if reason else ("ok", "")
    failures = [o.failure for o in (udp, tcp) if o is not None and o.failure is not None]
    if FailureKind.MALFORMED in failures:
        return "lame", "malformed"
    if not failures:
        return "unreachable", "not-probed"
    return "unreachable", str(failures[0])


@per_evidence
def own_verdicts(evidence: Evidence) -> dict[Transport, dict[tuple[str, str], tuple[str, str]]]:
    """Per transport and (name server, address), the `server_verdict` of its SOA observation
    over that transport alone: read once per sweep by the rows, SOA01/02 and TCP01."""
    zone = evidence.zone
    return {transport: {key: server_verdict(obs, None, zone)
                        for key, obs in evidence.soa(transport).items()}
            for transport in (Transport.UDP, Transport.TCP)}


@per_evidence
def verdicts(evidence: Evidence) -> tuple[tuple[str, str, str, str], ...]:
    """(name server, address, verdict, reason) for every probed address; worked out once
    per sweep for LAME01, REACH01 and AVAIL01."""
    udp = evidence.soa(Transport.UDP)
    tcp = evidence.soa(Transport.TCP)
    return tuple((key[0], key[1], *server_verdict(udp.get(key), tcp.get(key), evidence.zone))
                 for key in evidence.targets())


@register(
    "LAME01",
    "No lame delegation",
    "Each listed (NS, address) answers SOA for the zone with rcode NOERROR, AA=1 and owner = "
    "zone. Otherwise it is lame with a reason: refused, servfail, not-authoritative, referral, "
    "nxdomain, wrong-owner, malformed, other-rcode. No reply is unreachable (REACH01), not lame.",
    tags=(Tag("LAME_DELEGATION", Severity.ERROR),),
    reasons=LAME_REASONS,
)
def judge_lame(evidence: Evidence) -> Iterator[Finding]:
    """LAME01: servers that answer but without authority for the zone."""
    for nameserver, address, verdict, reason in verdicts(evidence):
        if verdict == "lame":
            yield judge_lame.finding(
                "LAME_DELEGATION",
                f"{nameserver} {address} is lame: {_LAME_WORDS[reason]}",
                nameserver=nameserver, address=address, reason=reason,
            )


@register(
    "REACH01",
    "Every listed address responds",
    "Each listed (NS, address) sends a reply to an SOA query over UDP (after retries) or TCP. "
    "The reason is the failure kind: timeout, unreachable (port unreachable / RST), "
    "network-error, mismatch (only replies with a wrong ID or question), oversized. When no "
    "address of the zone responds, AVAIL01 reports it once instead.",
    tags=(Tag("NO_RESPONSE", Severity.ERROR),),
    reasons=("timeout", "unreachable", "network-error", "mismatch", "oversized", "truncated",
             "not-probed"),
)
def judge_reach(evidence: Evidence) -> Iterator[Finding]:
    """REACH01: addresses that did not respond; silent when the whole zone is (AVAIL01 says it)."""
    found = [v for v in verdicts(evidence) if v[2] == "unreachable"]
    if len(found) == len(evidence.targets()) and not evidence.unmeasured_servers():
        return  # the whole zone is silent: AVAIL01's ZONE_UNREACHABLE says it once
    for nameserver, address, _verdict, reason in found:
        yield judge_reach.finding(
            "NO_RESPONSE",
            f"{nameserver} {address} did not respond ({reason})",
            nameserver=nameserver, address=address, reason=reason,
        )
