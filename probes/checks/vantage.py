"""VANTAGE01: what this vantage point could not measure, and why.

Not a verdict on the zone: it says which of the zone's addresses were left out because of
our own host (an address family offline or absent here), so that no other check mistakes
our outage for the zone's. Always NOTICE; the monitor never mails it as a zone problem.
"""

from __future__ import annotations

from collections.abc import Iterator

from probes.addresses import family_of
from probes.checks.registry import Tag, register
from probes.evidence import Evidence
from probes.model import FamilyHealth, Finding, Severity, VantageState

REASONS: dict[str, tuple[str, ...]] = {"VANTAGE01": ("absent", "offline")}

FAMILY_NAMES = {"ipv4": "IPv4", "ipv6": "IPv6"}


def _addresses(count: int, family: str) -> str:
    return f"{count} {FAMILY_NAMES[family]} address{'' if count == 1 else 'es'}"


def _answer_words(health: FamilyHealth) -> str:
    return (f"{health.answering} of {health.references} reference addresses answer over "
            f"{FAMILY_NAMES[health.family]}")


@register(
    "VANTAGE01",
    "This vantage point measured every address",
    "Before judging, each sweep round asks a reference set (by default the parent's own "
    "servers; `vantage.references`) for the parent's SOA with RD=0, per address family. A "
    "family is online when at least `vantage.min_answering` references answer (default 4, or "
    "all of them when fewer are configured), absent when the host has no route or address for "
    "it (ENETUNREACH, EADDRNOTAVAIL, EAFNOSUPPORT before any packet), offline otherwise. The "
    "zone's addresses of a family that is not online are unmeasured: no other check judges "
    "them, and NOTICE absent or offline says how many were left out. When nothing could be "
    "measured the zone is UNKNOWN (`ccmon check` exits 3) and this is its only finding.",
    tags=(
        Tag("FAMILY_ABSENT", Severity.NOTICE),
        Tag("FAMILY_OFFLINE", Severity.NOTICE),
        Tag("VANTAGE_OFFLINE", Severity.NOTICE),
    ),
    reasons=REASONS["VANTAGE01"],
    relevel=False,
)
def judge_vantage(evidence: Evidence) -> Iterator[Finding]:
    """VANTAGE01: addresses left unmeasured because this host cannot reach their family."""
    addresses = dict.fromkeys(a for ns in evidence.delegation.nameservers for a in ns.addresses)
    unmeasured = [a for a in addresses if a in evidence.unmeasured]
    if evidence.nothing_measured:
        yield _nothing_measured(evidence, len(unmeasured))
        return
    for family, health in sorted(evidence.vantage.items()):
        if health.state is VantageState.ONLINE:
            continue
        count = sum(1 for a in unmeasured if family_of(a) == family)
        if not count:
            continue  # the zone has no address of this family: nothing was left out
        yield _family_finding(health, count)


def _family_finding(health: FamilyHealth, count: int) -> Finding:
    name = FAMILY_NAMES[health.family]
    if health.state is VantageState.ABSENT:
        tag, words = "FAMILY_ABSENT", f"{name} absent at this vantage point"
    else:
        tag = "FAMILY_OFFLINE"
        words = f"{name} offline at this vantage point ({_answer_words(health)})"
    return judge_vantage.finding(
        tag,
        f"{words}: {_addresses(count, health.family)} not measured",
        reason=str(health.state),
        args={"family": health.family, "unmeasured": count, "answering": health.answering,
              "references": health.references},
    )


def _nothing_measured(evidence: Evidence, count: int) -> Finding:
    down = [h for _f, h in sorted(evidence.vantage.items()) if h.state is not VantageState.ONLINE]
    health = down[0] if down else None
    why = "; ".join(f"{FAMILY_NAMES[h.family]} {h.state} ({_answer_words(h)})" for h in down)
    why = why or "every query failed on this host"
    if evidence.delegation.nameservers:
        what = f"{count} address{'' if count == 1 else 'es'} not measured"
    else:
        what = "the parent could not be asked for the delegation"
    return judge_vantage.finding(
        "VANTAGE_OFFLINE",
        f"vantage point offline, nothing measured: {why}; {what}",
        reason="absent" if health and health.state is VantageState.ABSENT else "offline",
        args={"family": health.family if health else "", "unmeasured": count,
              "answering": health.answering if health else 0,
              "references": health.references if health else 0},
    )
