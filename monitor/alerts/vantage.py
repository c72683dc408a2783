"""The vantage point's own hold-down: an address family down here, and back.

One row per address family under VANTAGE_ZONE, with the zones' hold-down in sweep
intervals: every zone report carries the family's verdict for its round, so counting
reports would count zones, not rounds. A family is *down* while the reports read it
offline, or absent after it was online in this process (the host lost its route or
address). Absent from the start is the host's shape (a v4-only container), not an
outage: never mailed, logged once. VANTAGE01 findings never enter a zone's mail.
"""

from __future__ import annotations

from monitor.alerts.model import (
    OPENED,
    RESOLVED,
    VANTAGE_CHECK,
    VANTAGE_ZONE,
    Event,
    Phase,
    ProblemKey,
    ProblemState,
)
from monitor.alerts.text import family_name
from monitor.config.alerts import AlertsConfig
from probes.model import Severity, VantageState, ZoneReport


def _vantage_words(report: ZoneReport, family: str, state: str) -> str:
    """The VANTAGE01 message about this family if the report has one, else plain words."""
    for finding in report.findings:
        if finding.check == VANTAGE_CHECK and finding.args.get("family") == family:
            return finding.message
    return f"{family_name(family)} {state} at this vantage point"


def vantage_step(
    settings: AlertsConfig,
    interval: float,
    rows: dict[str, ProblemState],
    report: ZoneReport,
    seen_online: set[str],
) -> tuple[list[ProblemState], list[ProblemKey], list[Event]]:
    """Advance the vantage rows (family -> row) by one zone report.

    Opens (mail "down") once a family has been down in every report over
    ``(open_after - 1) * interval`` seconds, i.e. ``open_after`` sweeps in a row; closes
    (mail "back") once it has been online for ``close_after * interval`` seconds after the
    last report that read it down. A report older than what a row has seen says nothing.
    """
    at = report.started_at
    save: list[ProblemState] = []
    delete: list[ProblemKey] = []
    events: list[Event] = []
    for family, state in sorted(report.vantage.items()):
        row = rows.get(family)
        if state == VantageState.ONLINE:
            seen_online.add(family)
            if row is None or at <= row.last_seen:
                continue
            if row.state == Phase.PENDING:
                delete.append(row.key)  # down for less than the hold-down: forget it
                continue
            row.good += 1
            row.failing = 0
            if at - row.last_seen >= settings.close_after * interval:
                events.append(Event.of(RESOLVED, at, row))
                delete.append(row.key)
            else:
                save.append(row)
            continue
        if state not in (VantageState.OFFLINE, VantageState.ABSENT):
            continue
        if row is None and state == VantageState.ABSENT and family not in seen_online:
            continue
        if row is None:
            row = ProblemState(
                VANTAGE_ZONE, VANTAGE_CHECK, "", "", family, state=Phase.PENDING,
                severity=int(Severity.CRITICAL), tag=str(state), message="", failing=0,
                good=0, first_seen=at, last_seen=at,
            )  # fmt: skip
        row.failing += 1
        row.good = 0
        row.tag = str(state)
        row.message = _vantage_words(report, family, str(state))
        row.last_seen = max(row.last_seen, at)
        if row.state == Phase.PENDING and (
            row.last_seen - row.first_seen >= (settings.open_after - 1) * interval
        ):
            row.state = Phase.OPEN
            row.opened_at = at
            row.notified_severity = row.severity
            events.append(Event.of(OPENED, at, row))
        save.append(row)
    return save, delete, events
