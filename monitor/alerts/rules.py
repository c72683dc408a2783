"""Rule evaluation: a zone's problems advanced by one sweep (pure apart from the rows given).

A *problem* is (zone, check, name server, address, reason): never the message text, which
carries changing numbers (RTT, lag). After every sweep of a zone, each problem the rules
select counts a failing sweep; each known problem missing from the sweep counts a good
one. Hold-down as ICANN's SLA monitoring: a problem opens after ``open_after`` failing
sweeps in a row (DELEG06, the parent against the pinned delegation: at the first; see
``AlertsConfig.opens_after``) and closes after ``close_after`` good ones in a row; a failing sweep
while closing starts the good count again. An open problem whose severity changes is a
*changed* problem.

What could not be measured is neither good nor bad: in a sweep whose zone is
``unknown`` (nothing measured), every problem of the zone is *held* (counters and state
unchanged, no open, no close); otherwise a problem keyed to an address in
``report.unmeasured`` is held, and so are the zone-wide problems (no address) while some
address is unmeasured for a passing reason (its family offline, a local error), since they
were judged over part of the zone only.
"""

from __future__ import annotations

from collections.abc import Callable

from monitor.alerts.model import (
    CHANGED,
    OPENED,
    RESOLVED,
    VANTAGE_CHECK,
    Event,
    Phase,
    ProblemKey,
    ProblemState,
    problem_key,
)
from monitor.config.alerts import AlertsConfig
from probes.addresses import family_of
from probes.model import Finding, VantageState, ZoneReport


def failing_findings(settings: AlertsConfig, report: ZoneReport) -> dict[ProblemKey, Finding]:
    """The findings the rules select, one per problem (the worst if a key repeats).
    VANTAGE01 is about our host, not the zone: it never counts for the zone."""
    out: dict[ProblemKey, Finding] = {}
    for finding in report.findings:
        if finding.check == VANTAGE_CHECK:
            continue
        if not settings.alerting(finding.check, finding.severity):
            continue
        key = problem_key(report.zone, finding)
        if key not in out or finding.severity > out[key].severity:
            out[key] = finding
    return out


Hold = Callable[[ProblemKey], bool]


def held(report: ZoneReport, settled_absent: frozenset[str] | None = None) -> Hold:
    """Which problems this sweep says nothing about: neither failing nor good.

    ``settled_absent``: families absent here for good (a v4-only host), whose unmeasured
    addresses do not hold the zone-wide problems (else they could never close on such a
    host). Default: every family the report reads absent.
    """
    if report.unknown:
        return lambda _key: True
    unmeasured = frozenset(report.unmeasured)
    if settled_absent is None:
        settled_absent = frozenset(
            f for f, state in report.vantage.items() if state == VantageState.ABSENT
        )
    partial = any(family_of(a) not in settled_absent for a in unmeasured)

    def is_held(key: ProblemKey) -> bool:
        address = key[3]
        return address in unmeasured if address else partial

    return is_held


def step(
    settings: AlertsConfig,
    problems: dict[ProblemKey, ProblemState],
    report: ZoneReport,
    hold: Hold | None = None,
) -> tuple[list[ProblemState], list[ProblemKey], list[Event]]:
    """Advance the zone's problems by one sweep: (rows to save, rows to delete, events).
    A held problem (:func:`held`) keeps its counters, state and "since" untouched."""
    at = report.started_at
    hold = hold or held(report)
    failing = {k: f for k, f in failing_findings(settings, report).items() if not hold(k)}
    save: list[ProblemState] = []
    delete: list[ProblemKey] = []
    events: list[Event] = []
    for key, finding in failing.items():
        problem = problems.get(key)
        if problem is None:
            problem = ProblemState(
                *key, state=Phase.PENDING, severity=int(finding.severity), tag=finding.tag,
                message=finding.message, failing=0, good=0, first_seen=at, last_seen=at,
            )  # fmt: skip
        problem.failing += 1
        problem.good = 0
        problem.severity = int(finding.severity)
        problem.tag = finding.tag
        problem.message = finding.message
        problem.last_seen = at
        if problem.state == Phase.PENDING and problem.failing >= settings.opens_after(key[1]):
            problem.state = Phase.OPEN
            problem.opened_at = at
            problem.notified_severity = problem.severity
            events.append(Event.of(OPENED, at, problem))
        elif problem.state == Phase.OPEN and problem.severity != problem.notified_severity:
            previous = problem.notified_severity
            problem.notified_severity = problem.severity
            events.append(Event.of(CHANGED, at, problem, previous))
        save.append(problem)
    for key, problem in problems.items():
        if key in failing or hold(key):
            continue
        if problem.state == Phase.PENDING:
            delete.append(key)  # the failures were not consecutive enough: forget them
            continue
        problem.good += 1
        problem.failing = 0
        if problem.good >= settings.close_after:
            events.append(Event.of(RESOLVED, at, problem))
            delete.append(key)
        else:
            save.append(problem)
    return save, delete, events
