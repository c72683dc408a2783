"""AVAIL01: the zone is available the way ICANN's Specification 10 counts it."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from probes.checks.lame import verdicts
from probes.checks.registry import Tag, register
from probes.evidence import Evidence
from probes.model import Finding, Severity, Transport

MIN_SERVERS_UP = 2  # Spec 10 / RSM DNS.AVAIL.MINNS


def spec10_available(up: int, unmeasured: int) -> bool | None:
    """ICANN Spec 10 over what this vantage point measured, the one statement of the rule
    (AVAIL01, the report's `available`, the SLA history): True with MIN_SERVERS_UP name
    servers up; False when even the name servers of which nothing was measured could not
    make up the number; None (no verdict) when the answer hangs on those."""
    if up >= MIN_SERVERS_UP:
        return True
    return False if up + unmeasured < MIN_SERVERS_UP else None


def tally_servers(addresses: Iterable[tuple[str, bool | None]]) -> tuple[int, int, int]:
    """From (name server, up) per address, None for an unmeasured address: (name servers up
    on every measured address, name servers with a measured address, name servers with
    none measured)."""
    by_ns: dict[str, list[bool]] = {}
    for nameserver, up in addresses:
        ups = by_ns.setdefault(nameserver, [])
        if up is not None:
            ups.append(up)
    measured = [ups for ups in by_ns.values() if ups]
    return sum(all(ups) for ups in measured), len(measured), len(by_ns) - len(measured)


def answering_in_time(evidence: Evidence) -> set[tuple[str, str]]:
    """(NS, address) pairs that answered authoritatively over UDP within the RTT threshold."""
    udp = evidence.soa(Transport.UDP)
    threshold = evidence.settings.rtt_udp_threshold
    good = set()
    for nameserver, address, verdict, _reason in verdicts(evidence):
        obs = udp.get((nameserver, address))
        if verdict == "ok" and obs is not None and obs.rtt is not None and obs.rtt <= threshold:
            good.add((nameserver, address))
    return good


def servers_up(evidence: Evidence) -> list[str]:
    """NS names all of whose measured addresses answer authoritatively over UDP in time."""
    good = answering_in_time(evidence)
    measured = set(evidence.targets())
    out = []
    for ns in evidence.delegation.nameservers:
        keys = [(ns.name, a) for a in ns.addresses if (ns.name, a) in measured]
        if keys and all(k in good for k in keys):
            out.append(ns.name)
    return out


@register(
    "AVAIL01",
    "Zone available",
    "ICANN Spec 10: at least 2 name servers answer authoritatively over UDP, within the RTT01 "
    "threshold, on every one of their addresses. One such server is a degraded service "
    "(ERROR), none is down (CRITICAL). When no address responds at all, one finding lists "
    "every address tried. Judged over the measured addresses only (VANTAGE01): a name server "
    "none of whose addresses could be measured counts neither as up nor as down, so the zone "
    "is degraded or down only when the measured addresses prove it; args.unmeasured_families "
    "then names the families left out.",
    tags=(
        Tag("NO_ADDRESSES", Severity.CRITICAL),
        Tag("ZONE_UNREACHABLE", Severity.CRITICAL),
        Tag("ZONE_DEGRADED", Severity.ERROR),
        Tag("ZONE_DOWN", Severity.CRITICAL),
    ),
    reasons=("down", "degraded"),
)
def judge_availability(evidence: Evidence) -> Iterator[Finding]:
    """AVAIL01: whether enough measured servers are up; unmeasured servers count as neither."""
    targets = evidence.targets()
    results = list(verdicts(evidence))
    unknown = evidence.unmeasured_servers()
    left_out = evidence.unmeasured_families()
    extra = {"unmeasured_families": left_out} if left_out else {}
    if not targets:
        if not evidence.unmeasured:
            yield judge_availability.finding(
                "NO_ADDRESSES",
                "no name server address to probe", reason="down")
        return  # every address unmeasured: VANTAGE01 says why, nothing to judge
    if not unknown and all(v == "unreachable" for _n, _a, v, _r in results):
        tried = ", ".join(f"{n} {a} ({r})" for n, a, _v, r in results)
        yield judge_availability.finding(
            "ZONE_UNREACHABLE",
            f"no server of the zone responded; tried {tried}", reason="down",
            args={"tried": [f"{n} {a}" for n, a, _v, _r in results], **extra})
        return
    up = servers_up(evidence)
    if spec10_available(len(up), len(unknown)) is not False:
        return  # available, or the unmeasured servers might all be fine
    at_best = len(up) + len(unknown)
    state = "degraded" if at_best else "down"
    names = ", ".join(up) or "none"
    words = f"; {len(unknown)} not measured" if unknown else ""
    yield judge_availability.finding(
        "ZONE_DEGRADED" if at_best else "ZONE_DOWN",
        f"zone {state}: {len(up)} name server(s) answer on all addresses ({names})"
        f"{words}; {MIN_SERVERS_UP} needed", reason=state,
        args={"servers_up": len(up), **extra})
