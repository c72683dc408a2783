"""SOA04: the SOA timers are within the ranges of RFC 1912 and Zonemaster ZONE02-06."""

from __future__ import annotations

from collections.abc import Iterator

from probes.checks.registry import Tag, register
from probes.checks.soa import served_soas
from probes.evidence import Evidence
from probes.model import Finding, Severity

MIN_REFRESH = 14400
MIN_RETRY = 3600
MIN_EXPIRE = 604800
MINIMUM_RANGE = (300, 86400)
#: Timer advice (RIPE-203, RFC 1912) is NOTICE by default, Zonemaster's level: advice, not
#: a fault (`checks.severity` can re-level it).
TIMER_TAG = Tag("SOA_TIMER_OUT_OF_RANGE", Severity.NOTICE)
ADVICE = TIMER_TAG.severity

REASONS: dict[str, tuple[str, ...]] = {
    "SOA04": ("refresh-low", "retry-low", "retry-not-below-refresh", "expire-low",
              "minimum-low", "minimum-high"),
}

Timers = tuple[int, int, int, int]  # refresh, retry, expire, minimum


def timer_problems(timers: Timers) -> list[tuple[Severity, str, str]]:
    """(default severity, reason, words) for every rule a set of SOA timers breaks."""
    refresh, retry, expire, minimum = timers
    problems = []
    if refresh < MIN_REFRESH:
        problems.append((ADVICE, "refresh-low",
                         f"REFRESH {refresh} below {MIN_REFRESH}"))
    if retry < MIN_RETRY:
        problems.append((ADVICE, "retry-low", f"RETRY {retry} below {MIN_RETRY}"))
    if retry >= refresh:
        problems.append((ADVICE, "retry-not-below-refresh",
                         f"RETRY {retry} not below REFRESH {refresh}"))
    if expire < MIN_EXPIRE:
        problems.append((ADVICE, "expire-low", f"EXPIRE {expire} below {MIN_EXPIRE}"))
    low, high = MINIMUM_RANGE
    if minimum < low:
        problems.append((ADVICE, "minimum-low", f"MINIMUM {minimum} below {low}"))
    elif minimum > high:
        problems.append((ADVICE, "minimum-high", f"MINIMUM {minimum} above {high}"))
    return problems


def served_timers(evidence: Evidence) -> dict[tuple[str, str], Timers]:
    """Per address, the served SOA (refresh, retry, expire, minimum), in seconds."""
    return {
        key: (int(soa.refresh), int(soa.retry), int(soa.expire), int(soa.minimum))
        for key, soa in served_soas(evidence).items()
    }


@register(
    "SOA04",
    "SOA timers are sensible",
    "REFRESH ≥ 14400, RETRY ≥ 3600 and below REFRESH, EXPIRE ≥ 604800 (NOTICE refresh-low, "
    "retry-low, retry-not-below-refresh, expire-low) and MINIMUM within 300-86400 (NOTICE "
    "minimum-low, minimum-high). One zone-level finding per broken rule when every "
    "authoritative server serves the same timers, else per address (SOA02 names the "
    "disagreement).",
    tags=(TIMER_TAG,),
    reasons=REASONS["SOA04"],
)
def judge_timers(evidence: Evidence) -> Iterator[Finding]:
    """SOA04: SOA timers outside the recommended ranges; one finding when all servers agree."""
    served = served_timers(evidence)
    if not served:
        return
    everywhere = set(served.values())
    if len(everywhere) == 1:
        for _default, reason, words in timer_problems(everywhere.pop()):
            yield judge_timers.finding(TIMER_TAG.name, f"SOA {words}", reason=reason)
        return
    for (nameserver, address), timers in sorted(served.items()):
        for _default, reason, words in timer_problems(timers):
            yield judge_timers.finding(
                TIMER_TAG.name,
                f"{nameserver} {address} SOA {words}", nameserver=nameserver,
                address=address, reason=reason)
