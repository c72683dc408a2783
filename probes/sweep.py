"""One sweep of one zone: discover → observe → judge → summarise → ZoneReport."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from types import TracebackType

from probes.checks import Evidence, judge
from probes.discover import AddressResolver, discover
from probes.engine import QueryEngine, QueryTally, current_tally
from probes.evidence import apex_ns_names, sweep_readings
from probes.model import (
    Delegation,
    DnssecState,
    FamilyHealth,
    Finding,
    Observation,
    Transport,
    ZoneReport,
)
from probes.names import absolute, normalise_zone
from probes.observe import observe_core, observe_further
from probes.observe_further import parent_ds_queries
from probes.settings import ProbeSettings
from probes.summarise import Measurement, summarise
from probes.vantage import (
    Vantage,
    first_silent,
    measured,
    needs_reassessment,
    parent_unmeasured,
    parent_zone,
    sweep_health,
    unmeasured_addresses,
)


class Prober:
    """Sweeps zones with one shared engine (so per-address limits hold across zones)."""

    def __init__(self, settings: ProbeSettings) -> None:
        self.settings = settings
        self.engine: QueryEngine | None = None
        self.vantage: Vantage | None = None
        self._resolver: AddressResolver | None = None
        # zone -> (monotonic time, observations) of its last further queries
        self._further: dict[str, tuple[float, list[Observation]]] = {}

    async def __aenter__(self) -> Prober:
        """Open the shared query engine, vantage checker and address resolver."""
        self.engine = QueryEngine(self.settings)
        self.vantage = Vantage(self.engine, self.settings)
        self._resolver = AddressResolver(self.settings)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close the resolver and the engine's sockets."""
        if self._resolver is not None:
            await self._resolver.close()
        if self.engine is not None:
            self.engine.close()

    async def sweep(self, zone: str) -> ZoneReport:
        """Probe and judge one zone ("fr", "FR.", "中国" all work)."""
        if self.engine is None or self._resolver is None or self.vantage is None:
            raise RuntimeError("use Prober as an async context manager")
        name = normalise_zone(zone)
        started_at = time.time()
        started = time.monotonic()
        tally = QueryTally()
        current_tally.set(tally)  # this task's context: every query below counts here
        control = parent_zone(absolute(name))
        assessed = await self.vantage.health(control)  # once per round, shared by all zones
        delegation = await discover(name, self.engine, self._resolver, self.settings)
        for address in delegation.parent_addresses:
            self.vantage.note_answer(address)
        core, glue = await observe_core(delegation, self.engine)
        observations = core + glue + await self._further_observations(name, delegation, core)
        # Failures over a family we believed online (or answers over one we did not): ask
        # again before judging, so that an outage that began mid-round is not the zone's.
        again = needs_reassessment(assessed, core)
        if not delegation.parent_addresses and delegation.parent_failures:
            again |= {f for f, h in assessed.items() if h.state == "online"}
        if again:
            # The verdict must be younger than the first query that went unanswered: one
            # taken before it may predate the outage.
            since = max(started, _monotonic_of(first_silent(core, default=started_at)))
            assessed = await self.vantage.health(control, since=since, families=again)
        health = sweep_health(assessed, core)
        with sweep_readings():  # readings of replies shared by the judges, for this sweep only
            return self._report(name, started_at, started, tally, delegation, observations,
                                health)

    def _report(
        self, name: str, started_at: float, started: float, tally: QueryTally,
        delegation: Delegation, observations: list[Observation],
        health: Mapping[str, FamilyHealth],
    ) -> ZoneReport:
        """Judge the measured observations; the unmeasured ones only get their rows."""
        zone = absolute(name)
        targets = [a for ns in delegation.nameservers for a in ns.addresses]
        unmeasured = unmeasured_addresses(targets, observations, health, zone)
        nothing = (bool(targets) and unmeasured >= set(targets)) or (
            not delegation.parent_addresses and parent_unmeasured(delegation.parent_failures,
                                                                  health))
        kept = measured(observations, unmeasured)
        settings = self.settings.for_zone(zone)  # the zone's own thresholds, if any
        evidence = Evidence(zone, delegation, tuple(kept), settings, health,
                            frozenset(unmeasured), nothing)
        # The rows read every probed address: with none unmeasured and nothing dropped they
        # read what the judges read, and its selections are made once, not twice.
        same = not unmeasured and len(kept) == len(observations)
        full = evidence if same else Evidence(zone, delegation, tuple(observations), settings)
        findings: list[Finding]
        if nothing:
            findings = [f for f in judge(evidence) if f.check == "VANTAGE01"]
        else:
            findings = judge(evidence)
        statuses, dnssec = summarise(full, evidence, findings,
                                     Measurement(unmeasured, tally.udp_loss))
        return ZoneReport(
            zone=name,
            started_at=started_at,
            duration=time.monotonic() - started,
            servers=tuple(statuses),
            findings=tuple(findings),
            parent_ns=delegation.parent_ns,
            child_ns=tuple(sorted(child_ns(evidence.select("NS"), zone))),
            queries=tally.sent,
            query_failures=dict(tally.failures),
            rtts={t.value: _rtts(evidence, t) for t in Transport},
            dnssec=DnssecState.UNKNOWN if nothing else dnssec,
            vantage={f: str(h.state) for f, h in sorted(health.items())},
            unmeasured=tuple(a for a in dict.fromkeys(targets) if a in unmeasured),
            unknown=nothing,
        )

    async def _further_observations(
        self, zone: str, delegation: Delegation, core: list[Observation]
    ) -> list[Observation]:
        """The further queries when due; in between, their last answers for current servers."""
        assert self.engine is not None
        last = self._further.get(zone)
        now = time.monotonic()
        if last is None or now - last[0] >= self.settings.further_checks_interval:
            fresh = await observe_further(delegation, core, self.engine)
            self._further[zone] = (now, fresh)
            return fresh
        current = {(ns.name, a) for ns in delegation.nameservers for a in ns.addresses}
        kept = [o for o in last[1]
                if (o.nameserver, o.address) in current or o.nameserver == "parent"]
        if any(e.zone == absolute(zone) and e.ds for e in self.settings.expectations):
            # DELEG06 compares the parent's DS set with the pinned one every sweep
            kept = [o for o in kept if o.nameserver != "parent"]
            kept += await parent_ds_queries(delegation, self.engine)
        return kept


def _monotonic_of(unix_time: float) -> float:
    """A wall-clock stamp (Observation.sent_at) on the monotonic clock the vantage uses."""
    return time.monotonic() - (time.time() - unix_time)


def child_ns(observations: Iterable[Observation], zone: str) -> set[str]:
    """The union of the apex NS sets the zone's servers returned."""
    names: set[str] = set()
    for obs in observations:
        question = obs.question
        if question.rdtype == "NS" and not question.variant and question.name == zone \
                and obs.reply is not None:
            names |= apex_ns_names(obs.reply, zone)
    return names


def _rtts(evidence: Evidence, transport: Transport) -> tuple[float, ...]:
    """The round trips of the core SOA queries over `transport` that were answered."""
    return tuple(o.rtt for o in evidence.select("SOA", transport)
                 if o.rtt is not None and o.reply is not None)
