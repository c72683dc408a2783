"""SOA01 and SOA02: do all servers serve the same version of the zone."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping

import dns.rdtypes.ANY.SOA

from probes.checks.lame import own_verdicts
from probes.checks.registry import Tag, register
from probes.evidence import Evidence, apex_soa, per_evidence
from probes.model import Finding, Observation, Severity, Transport
from probes.names import name_text
from probes.serial import highest_serial, serial_lag

__all__ = ["highest_serial", "serial_lag"]  # re-exported: older imports keep working

def authoritative_soa(evidence: Evidence) -> dict[tuple[str, str], Observation]:
    """Per (NS, address), the authoritative apex SOA observation (UDP preferred, TCP else)."""
    chosen: dict[tuple[str, str], Observation] = {}
    own = own_verdicts(evidence)
    for transport in (Transport.TCP, Transport.UDP):  # UDP last, so it wins
        ok = own[transport]
        for key, obs in evidence.soa(transport).items():
            if ok[key][0] == "ok":  # an authoritative answer
                chosen[key] = obs
    return chosen


@per_evidence
def served_soas(evidence: Evidence) -> dict[tuple[str, str], dns.rdtypes.ANY.SOA.SOA]:
    """Per (NS, address), the apex SOA record of its authoritative answer; worked out once
    per sweep for SOA01, SOA02 and SOA03 (not to be changed by its readers)."""
    out = {}
    for key, obs in authoritative_soa(evidence).items():
        soa = apex_soa(obs.reply, evidence.zone) if obs.reply else None
        if soa is not None:  # always, for an authoritative answer; kept for the type checker
            out[key] = soa
    return out


def serials(evidence: Evidence) -> dict[tuple[str, str], int]:
    return {key: int(soa.serial) for key, soa in served_soas(evidence).items()}


def lags(found: Mapping[tuple[str, str], int]) -> dict[tuple[str, str], int]:
    """Each server's lag behind the highest serial seen."""
    top = highest_serial(found.values())
    return {} if top is None else {key: serial_lag(s, top) for key, s in found.items()}


@register(
    "SOA01",
    "SOA serials agree",
    "All authoritative answers carry the same SOA serial. Otherwise each server whose serial "
    "lags the highest serial seen (RFC 1982 arithmetic) by more than the configured tolerance "
    "(default 0) is named with its lag.",
    tags=(Tag("SERIAL_BEHIND", Severity.WARNING),),
    reasons=("behind",),
)
def judge_serials(evidence: Evidence) -> Iterator[Finding]:
    found = serials(evidence)
    top = highest_serial(found.values())
    if top is None:
        return
    tolerance = evidence.settings.serial_tolerance
    for (nameserver, address), serial in sorted(found.items()):
        lag = serial_lag(serial, top)
        if lag > tolerance:
            yield judge_serials.finding(
                "SERIAL_BEHIND",
                f"{nameserver} {address} serves serial {serial}, {lag} behind {top}",
                nameserver=nameserver, address=address, reason="behind",
                args={"serial": serial, "highest": top, "lag": lag},
            )


SOA_FIELDS = ("mname", "rname", "refresh", "retry", "expire", "minimum")


def _fields(soa: dns.rdtypes.ANY.SOA.SOA) -> tuple[str, ...]:
    return (name_text(soa.mname).lower(), name_text(soa.rname).lower(),
            *(str(getattr(soa, f)) for f in SOA_FIELDS[2:]))


@register(
    "SOA02",
    "SOA fields agree",
    "MNAME, RNAME, REFRESH, RETRY, EXPIRE and MINIMUM are equal on every authoritative server. "
    "Servers that differ from the most common set are named with the fields that differ.",
    tags=(Tag("SOA_FIELDS_DIFFER", Severity.WARNING),),
    reasons=("differs",),
)
def judge_fields(evidence: Evidence) -> Iterator[Finding]:
    texts: dict[int, tuple[str, ...]] = {}  # by record: servers mostly share one reply
    per_server = {}
    for key, soa in served_soas(evidence).items():
        fields = texts.get(id(soa))
        if fields is None:
            fields = texts[id(soa)] = _fields(soa)
        per_server[key] = fields
    if len(set(per_server.values())) < 2:
        return
    common, _count = Counter(per_server.values()).most_common(1)[0]
    for (nameserver, address), fields in sorted(per_server.items()):
        if fields == common:
            continue
        differing = [
            f"{name} {mine} (others {theirs})"
            for name, mine, theirs in zip(SOA_FIELDS, fields, common, strict=True)
            if mine != theirs
        ]
        yield judge_fields.finding(
            "SOA_FIELDS_DIFFER",
            f"{nameserver} {address} SOA differs: " + ", ".join(differing),
            nameserver=nameserver, address=address, reason="differs",
        )
