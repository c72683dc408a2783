"""RTT01, RTT02 and TCP01: answers in time, over UDP and over TCP."""

from __future__ import annotations

from collections.abc import Iterator

from probes.checks.lame import own_verdicts
from probes.checks.registry import Check, Tag, register
from probes.evidence import Evidence, has_reply
from probes.model import Finding, Severity, Transport


def _slow(
    evidence: Evidence, transport: Transport, threshold: float, check: Check
) -> Iterator[Finding]:
    for (nameserver, address), obs in evidence.soa(transport).items():
        if obs.rtt is not None and has_reply(obs) and obs.rtt > threshold:
            yield check.finding(
                "SLOW_RESPONSE",
                f"{nameserver} {address} answered over {transport.upper()} in "
                f"{obs.rtt * 1000:.0f} ms (threshold {threshold * 1000:.0f} ms)",
                nameserver=nameserver, address=address, reason="slow",
                args={"rtt": round(obs.rtt, 6), "threshold": threshold},
            )


@register(
    "RTT01",
    "UDP answers in time",
    "The UDP round trip of the SOA query is at most the threshold (default 500 ms, the ICANN "
    "SLA figure). A slower answer counts as unanswered for availability (AVAIL01).",
    tags=(Tag("SLOW_RESPONSE", Severity.WARNING),),
    reasons=("slow",),
)
def judge_udp_rtt(evidence: Evidence) -> Iterator[Finding]:
    """RTT01: UDP SOA round trips over the rtt_udp_threshold."""
    yield from _slow(evidence, Transport.UDP, evidence.settings.rtt_udp_threshold, judge_udp_rtt)


@register(
    "RTT02",
    "TCP answers in time",
    "The TCP round trip of the SOA query, handshake included, is at most the threshold "
    "(default 1500 ms).",
    tags=(Tag("SLOW_RESPONSE", Severity.WARNING),),
    reasons=("slow",),
)
def judge_tcp_rtt(evidence: Evidence) -> Iterator[Finding]:
    """RTT02: TCP SOA round trips over the rtt_tcp_threshold."""
    yield from _slow(evidence, Transport.TCP, evidence.settings.rtt_tcp_threshold, judge_tcp_rtt)


@register(
    "TCP01",
    "TCP service",
    "Every address that answers the SOA query authoritatively over UDP also answers it over "
    "TCP (RFC 7766), authoritatively. Addresses silent or lame over UDP are REACH01's and "
    "LAME01's.",
    tags=(
        Tag("NO_TCP", Severity.ERROR),
        Tag("TCP_NOT_AUTHORITATIVE", Severity.ERROR),
    ),
    reasons=("timeout", "unreachable", "network-error", "mismatch", "malformed", "oversized",
             "truncated", "not-authoritative"),
)
def judge_tcp(evidence: Evidence) -> Iterator[Finding]:
    """TCP01: servers fine over UDP that fail or lack authority over TCP."""
    own = own_verdicts(evidence)
    over_udp, over_tcp = own[Transport.UDP], own[Transport.TCP]
    for key, tcp_obs in evidence.soa(Transport.TCP).items():
        nameserver, address = key
        if key not in over_udp or over_udp[key][0] != "ok":
            continue  # silent or lame over UDP already has its own finding (REACH01, LAME01)
        if not has_reply(tcp_obs):
            reason = str(tcp_obs.failure or "timeout")
            yield judge_tcp.finding(
                "NO_TCP",
                f"{nameserver} {address} does not answer over TCP ({reason})",
                nameserver=nameserver, address=address, reason=reason,
            )
        elif over_tcp[key][0] != "ok":  # a reply, not authoritative for the zone
            yield judge_tcp.finding(
                "TCP_NOT_AUTHORITATIVE",
                f"{nameserver} {address} answers over TCP without authority for the zone",
                nameserver=nameserver, address=address, reason="not-authoritative",
            )
