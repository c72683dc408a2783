"""Vantage health: can this host see the DNS over IPv4 and over IPv6 right now?

Like ICANN's RSM probes: per address family, a control query (SOA of the parent zone, RD=0)
to a reference set, by default the parent's own servers. A family is online when at least
`min_answering` references answer (4, or all of them when fewer are configured), absent
when every query failed on our own host before a packet left (no route, no address for the
family), offline otherwise. What was observed over a family that is not online is
unmeasured: neither up nor down.

The verdict is assessed at most once per sweep round (`vantage_interval`) and shared by all
the zones swept meanwhile; a sweep that saw failures asks again (once, shared) so that an
outage that began mid-round is caught before its observations are judged.
"""

from __future__ import annotations

import asyncio
import contextvars
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from probes.addresses import Family, family_of
from probes.engine import QueryEngine
from probes.evidence import responded
from probes.model import FailureKind, FamilyHealth, Observation, Transport, VantageState
from probes.settings import ProbeSettings

FAMILIES: tuple[str, ...] = tuple(str(f) for f in Family)
CONTROL = "vantage"  # Observation.nameserver of the control queries


@dataclass(frozen=True, slots=True)
class ControlResult:
    """What one reference did with one control query."""

    address: str
    answered: bool  # any DNS reply (whatever its rcode): packets flow both ways
    local: bool  # failed on our host before a packet left (no route / no address / ...)
    detail: str = ""


def required(min_answering: int, references: int) -> int:
    """How many references must answer: min_answering, or all when fewer are configured."""
    return max(1, min(min_answering, references))


def verdict(
    family: str, results: Sequence[ControlResult], min_answering: int,
    references: int | None = None,
) -> FamilyHealth:
    """The family's state from its references' control results (of `references` configured,
    default: as many as results; an assessment stops asking once enough answered). Pure."""
    answering = sum(1 for r in results if r.answered)
    total = len(results) if references is None else references
    if total and answering >= required(min_answering, total):
        return FamilyHealth(family, VantageState.ONLINE, answering, total)
    if total and all(r.local for r in results):
        details = sorted({r.detail for r in results if r.detail})
        return FamilyHealth(family, VantageState.ABSENT, 0, total, "; ".join(details))
    return FamilyHealth(family, VantageState.OFFLINE, answering, total)


def control_result(obs: Observation) -> ControlResult:
    """What one control query says about this vantage point: answered, or failed here locally."""
    return ControlResult(obs.address, responded(obs), obs.failure is FailureKind.LOCAL_ERROR,
                         obs.detail if obs.failure is FailureKind.LOCAL_ERROR else "")


def references_by_family(settings: ProbeSettings) -> dict[str, tuple[str, ...]]:
    """The reference set per family: `vantage_references`, else the parent's servers."""
    chosen = settings.vantage_references or settings.parent_addresses
    if not settings.ipv6:
        chosen = tuple(a for a in chosen if family_of(a) == "ipv4")
    out: dict[str, tuple[str, ...]] = {}
    for address in chosen:
        family = family_of(address)
        out[family] = (*out.get(family, ()), address)
    return out


def derived_health(family: str, observations: Iterable[Observation]) -> FamilyHealth | None:
    """For a family without references: absent when every query over it failed on our host
    before a packet left; otherwise not assessed (None). Needs no query of its own."""
    seen = [o for o in observations if family_of(o.address) == family]
    if seen and all(o.failure is FailureKind.LOCAL_ERROR for o in seen):
        details = sorted({o.detail for o in seen if o.detail})
        return FamilyHealth(family, VantageState.ABSENT, 0, 0, "; ".join(details[:3]))
    return None


class Vantage:
    """The assessments of one Prober: cached per round, shared by concurrent sweeps."""

    def __init__(self, engine: QueryEngine, settings: ProbeSettings) -> None:
        self.engine = engine
        self.settings = settings
        self.references = references_by_family(settings)
        # family -> (monotonic start, verdict) of its newest finished assessment
        self._health: dict[str, tuple[float, FamilyHealth]] = {}
        self._running: dict[str, tuple[float, asyncio.Task[FamilyHealth]]] = {}
        self._answers: dict[str, float] = {}  # reference -> monotonic time of a reply seen
        self.assessments = 0  # how many assessments ran (for tests and logs)

    def latest(self) -> dict[str, FamilyHealth]:
        """The newest verdict per family with references (for metrics: up, answering,
        references); {} before the first assessment."""
        return {family: found for family, (_started, found) in sorted(self._health.items())}

    def note_answer(self, address: str) -> None:
        """A reference answered some other query (discovery's referral): fresh evidence."""
        if any(address in refs for refs in self.references.values()):
            self._answers[address] = time.monotonic()

    async def health(
        self, qname: str, *, since: float | None = None, families: Iterable[str] | None = None,
    ) -> dict[str, FamilyHealth]:
        """The verdict per family with references, assessed at most once per round, or anew
        when the cached one started before `since` (monotonic)."""
        wanted = [f for f in (families or self.references) if f in self.references]
        now = time.monotonic()
        oldest = now - self.settings.vantage_interval if since is None else since
        waits = {}
        for family in wanted:
            known = self._health.get(family)
            if known is not None and known[0] >= oldest:
                continue
            waits[family] = self._assessment(family, qname, oldest, reuse=since is None)
        if waits:
            # Shielded: one sweep cancelled (the monitor stopping) must not cancel the
            # assessment the other sweeps share.
            await asyncio.gather(*(asyncio.shield(t) for t in waits.values()))
        return {f: self._health[f][1] for f in self.references if f in self._health}

    def _assessment(self, family: str, qname: str, oldest: float, *, reuse: bool,
                    ) -> asyncio.Task[FamilyHealth]:
        running = self._running.get(family)
        if running is not None and running[0] >= oldest and not running[1].done():
            return running[1]  # one started recently enough is under way: share it
        started = time.monotonic()
        # A fresh context: control queries count in the engine's totals, not in the tally of
        # whichever zone's sweep happened to ask first.
        task = asyncio.get_running_loop().create_task(
            self._assess(family, qname, started, reuse=reuse), context=contextvars.Context())
        self._running[family] = (started, task)
        return task

    async def _assess(self, family: str, qname: str, started: float, *, reuse: bool,
                      ) -> FamilyHealth:
        references = self.references[family]
        need = required(self.settings.vantage_min_answering, len(references))
        # A round's assessment counts references that answered a discovery query just now;
        # one asked because a sweep saw failures does not (those answers may predate them).
        reuse_after = (started - self.settings.udp_timeout * max(1, self.settings.udp_tries)
                       if reuse else float("inf"))
        results = [ControlResult(a, True, False) for a in references
                   if self._answers.get(a, float("-inf")) >= reuse_after]
        reused = {r.address for r in results}
        # Rotate the start so that repeated assessments spread over the reference set.
        shift = self.assessments % len(references)
        todo = [a for a in references[shift:] + references[:shift] if a not in reused]
        # Cheap when all is well: ask only as many as must answer, the rest if some did not.
        first, rest = todo[: max(0, need - len(results))], todo[max(0, need - len(results)):]
        for batch in (first, rest):
            observed = await asyncio.gather(*(
                self.engine.ask(CONTROL, a, qname, "SOA", Transport.UDP) for a in batch))
            results += [control_result(o) for o in observed]
            if sum(r.answered for r in results) >= need:
                break
        self.assessments += 1
        found = verdict(family, results, self.settings.vantage_min_answering, len(references))
        known = self._health.get(family)
        if known is None or known[0] <= started:  # an older assessment never overwrites
            self._health[family] = (started, found)
        return found


# No reply and no sign from the network either: what our own outage looks like. (ICMP port
# unreachable or a TCP RST prove that packets flow.)
_SILENT = (FailureKind.TIMEOUT, FailureKind.NETWORK_ERROR, FailureKind.LOCAL_ERROR)


def failing_families(observations: Iterable[Observation]) -> set[str]:
    """Families over which some query got nothing back (our outage would look so)."""
    return {family_of(o.address) for o in observations if o.failure in _SILENT}


def first_silent(observations: Iterable[Observation], default: float) -> float:
    """When (unix s) the first query that got nothing back was sent; `default` if none."""
    return min((o.sent_at for o in observations if o.failure in _SILENT), default=default)


def answering_families(observations: Iterable[Observation]) -> set[str]:
    """The address families ("ipv4", "ipv6") with at least one answering observation."""
    return {family_of(o.address) for o in observations if responded(o)}


def needs_reassessment(
    health: Mapping[str, FamilyHealth], observations: Sequence[Observation]
) -> set[str]:
    """Families whose cached verdict this sweep contradicts: failures over an online family
    (an outage may have begun), or answers over one that is not online (it may be back)."""
    failing = failing_families(observations)
    answering = answering_families(observations)
    out = set()
    for family, found in health.items():
        online = found.state is VantageState.ONLINE
        if (online and family in failing) or (not online and family in answering):
            out.add(family)
    return out


def parent_zone(zone: str) -> str:
    """The parent's name of an absolute zone name ("fr." -> ".", "co.uk." -> "uk.")."""
    labels = zone.rstrip(".").split(".")
    return ".".join(labels[1:]) + "." if len(labels) > 1 else "."


# --- what was measured ----------------------------------------------------------------------

def sweep_health(
    assessed: Mapping[str, FamilyHealth], observations: Sequence[Observation]
) -> dict[str, FamilyHealth]:
    """The verdict per family for one sweep: the assessed ones, and for a family without
    references, absent when all its queries failed on our host (else not assessed)."""
    out = dict(assessed)
    for family in FAMILIES:
        if family not in out:
            derived = derived_health(family, observations)
            if derived is not None:
                out[family] = derived
    return out


def unmeasured_addresses(
    targets: Iterable[str], observations: Sequence[Observation],
    health: Mapping[str, FamilyHealth], zone: str,
) -> set[str]:
    """Addresses of the zone this sweep could not measure: their family is not online here,
    or their core SOA query over UDP failed on our own host (a local error)."""
    down = {f for f, h in health.items() if h.state is not VantageState.ONLINE}
    local = {
        o.address for o in observations
        if o.question.rdtype == "SOA" and not o.question.variant and o.question.name == zone
        and o.transport is Transport.UDP and o.failure is FailureKind.LOCAL_ERROR
    }
    return {a for a in targets if family_of(a) in down or a in local}


def measured(observations: Iterable[Observation], unmeasured: set[str]) -> list[Observation]:
    """The observations checks may judge: none of an unmeasured address, none that failed on
    our own host (that test is unmeasured this round)."""
    return [o for o in observations
            if o.address not in unmeasured and o.failure is not FailureKind.LOCAL_ERROR]


def parent_unmeasured(parent_failures: Iterable[str], health: Mapping[str, FamilyHealth]) -> bool:
    """Discovery failed only for our reasons: every parent tried failed on our host or over a
    family that is not online here ("address: reason" strings of Delegation)."""
    failures = list(parent_failures)
    if not failures:
        return False
    down = {f for f, h in health.items() if h.state is not VantageState.ONLINE}
    for failure in failures:
        address, _, reason = failure.rpartition(": ")
        if reason != str(FailureKind.LOCAL_ERROR) and family_of(address) not in down:
            return False
    return True
