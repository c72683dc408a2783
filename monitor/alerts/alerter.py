"""Rules over findings → problem state changes → one e-mail per zone per change.

A *problem* is (zone, check, name server, address, reason): never the message text, which
carries changing numbers (RTT, lag). After every sweep of a zone, each problem the rules
select counts a failing sweep; each known problem missing from the sweep counts a good
one. Hold-down as ICANN's SLA monitoring: a problem opens after ``open_after`` failing
sweeps in a row (DELEG06, the parent against the pinned delegation: at the first; see
``AlertsConfig.opens_after``) and closes after ``close_after`` good ones in a row; a failing sweep
while closing starts the good count again. An open problem whose severity changes is a
*changed* problem.

The changes of one sweep make one message. A zone gets at most one message per
``rate_limit``; changes in between wait in the zone's digest and go out together with
the next message, as soon as the window allows (the delivery loop sends a due digest even
if no further sweep comes). All of it is persisted (:mod:`monitor.outbox`) in the same
transaction, so a restart neither repeats nor forgets a message.

What could not be measured is neither good nor bad: in a sweep whose zone is
``unknown`` (nothing measured), every problem of the zone is *held* (counters and state
unchanged, no open, no close); otherwise a problem keyed to an address in
``report.unmeasured`` is held, and so are the zone-wide problems (no address) while some
address is unmeasured for a passing reason (its family offline, a local error), since they
were judged over part of the zone only. The vantage point itself gets its own mail
(:func:`vantage_step`): one when an address family goes offline, one when it is back;
VANTAGE01 findings never enter a zone's mail.

Service wiring::

    alerter = Alerter(config)                      # opens config.store.path
    task = asyncio.create_task(alerter.run_delivery())
    ... after every sweep: await alerter.on_report(report)
    ... on shutdown: await alerter.aclose()        # ends run_delivery, closes the DB
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from monitor.alerts import mailer
from monitor.alerts.outbox import AlertDB, Courier, ProblemKey, ProblemState, ZoneState
from monitor.alerts_config import OPEN_AT_ONCE, AlertsConfig
from probes.model import Finding, Severity, VantageState, ZoneReport

if TYPE_CHECKING:  # pragma: no cover
    from monitor.config import Config

log = logging.getLogger(__name__)

OPENED = "opened"
CHANGED = "changed"
RESOLVED = "resolved"
STATUS_PAGE_PATH = "/zone/{zone}"  # the zone's own page: servers, last day, open findings
MAX_POLL = 60.0  # the delivery loop looks at the outbox at least this often
PRUNE_EVERY = 3600.0  # seconds between two prunes of delivered messages

VANTAGE_CHECK = "VANTAGE01"
#: The alert state of the vantage point itself is kept under this name, in the same tables
#: as the zones'. Never a zone: a zone name has no parentheses.
VANTAGE_ZONE = "(vantage)"
FAMILY_NAMES = {"ipv4": "IPv4", "ipv6": "IPv6"}


def problem_key(zone: str, finding: Finding) -> ProblemKey:
    """The identity a finding's problem is tracked under across sweeps."""
    return (zone, finding.check, finding.nameserver, finding.address, finding.reason)


def label(check: str, severity: int, nameserver: str, address: str, reason: str) -> str:
    """``LAME01 ERROR ns2.nic.fr 192.0.2.2 refused``: the words of a subject line."""
    parts = [check, Severity(severity).name, nameserver.rstrip("."), address, reason]
    return " ".join(p for p in parts if p)


def utc(timestamp: float) -> str:
    """An epoch time as "YYYY-MM-DD HH:MM:SS UTC", for mail text."""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    if seconds < 172800:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min"
    return f"{seconds // 86400} d {seconds % 86400 // 3600} h"


@dataclass(frozen=True, slots=True)
class Event:
    """One change of state of one problem, as kept in a zone's digest."""

    kind: str  # OPENED, CHANGED, RESOLVED
    at: float  # start of the sweep that made the change
    check: str
    severity: int
    nameserver: str
    address: str
    reason: str
    tag: str
    message: str
    since: float  # first failing sweep of the problem
    previous_severity: int | None = None  # CHANGED: what the last mail said

    @property
    def label(self) -> str:
        """The problem in subject-line words: "LAME01 ERROR ns2.nic.fr 192.0.2.2 refused"."""
        return label(self.check, self.severity, self.nameserver, self.address, self.reason)

    @property
    def key_in_zone(self) -> tuple[str, str, str, str]:
        """The problem's key without the zone, for telling a zone's events apart."""
        return (self.check, self.nameserver, self.address, self.reason)

    @classmethod
    def of(cls, kind: str, at: float, problem: ProblemState, previous: int | None = None) -> Event:
        """An event of this kind (OPENED, CHANGED, RESOLVED) at `at`, from the problem's state."""
        return cls(
            kind,
            at,
            problem.check,
            problem.severity,
            problem.nameserver,
            problem.address,
            problem.reason,
            problem.tag,
            problem.message,
            problem.first_seen,
            previous,
        )

    def to_dict(self) -> dict[str, Any]:
        """Every field as a plain value, for the stored digest."""
        return {name: getattr(self, name) for name in self.__slots__}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Event:
        """The inverse of to_dict()."""
        return cls(**data)


# --- the state machine (pure apart from the rows it is given) -------------------------


def family_of(address: str) -> str:
    """"ipv6" when the address holds a colon, else "ipv4"."""
    return "ipv6" if ":" in address else "ipv4"


def family_name(family: str) -> str:
    """The family as mail text shows it (FAMILY_NAMES); unknown families as given."""
    return FAMILY_NAMES.get(family, family)


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
                *key, state="pending", severity=int(finding.severity), tag=finding.tag,
                message=finding.message, failing=0, good=0, first_seen=at, last_seen=at,
            )  # fmt: skip
        problem.failing += 1
        problem.good = 0
        problem.severity = int(finding.severity)
        problem.tag = finding.tag
        problem.message = finding.message
        problem.last_seen = at
        if problem.state == "pending" and problem.failing >= settings.opens_after(key[1]):
            problem.state = "open"
            problem.opened_at = at
            problem.notified_severity = problem.severity
            events.append(Event.of(OPENED, at, problem))
        elif problem.state == "open" and problem.severity != problem.notified_severity:
            previous = problem.notified_severity
            problem.notified_severity = problem.severity
            events.append(Event.of(CHANGED, at, problem, previous))
        save.append(problem)
    for key, problem in problems.items():
        if key in failing or hold(key):
            continue
        if problem.state == "pending":
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


# --- the vantage point ---------------------------------------------------------------
#
# One row per address family under VANTAGE_ZONE, with the zones' hold-down in sweep
# intervals: every zone report carries the family's verdict for its round, so counting
# reports would count zones, not rounds. A family is *down* while the reports read it
# offline, or absent after it was online in this process (the host lost its route or
# address). Absent from the start is the host's shape (a v4-only container), not an
# outage: never mailed, logged once.


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
            if row.state == "pending":
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
                VANTAGE_ZONE, VANTAGE_CHECK, "", "", family, state="pending",
                severity=int(Severity.CRITICAL), tag=str(state), message="", failing=0,
                good=0, first_seen=at, last_seen=at,
            )  # fmt: skip
        row.failing += 1
        row.good = 0
        row.tag = str(state)
        row.message = _vantage_words(report, family, str(state))
        row.last_seen = max(row.last_seen, at)
        if row.state == "pending" and (
            row.last_seen - row.first_seen >= (settings.open_after - 1) * interval
        ):
            row.state = "open"
            row.opened_at = at
            row.notified_severity = row.severity
            events.append(Event.of(OPENED, at, row))
        save.append(row)
    return save, delete, events


def compose_vantage(
    events: list[Event],
    down: Iterable[ProblemState],
    now_states: dict[str, str],
    *,
    settings: AlertsConfig,
    host: str,
) -> Composed:
    """The vantage point's own message: what went down or came back, and what is down now."""
    still_down = sorted(down, key=lambda p: p.reason)
    down_families = {p.reason for p in still_down}
    news = [e for e in events if e.kind == OPENED and e.reason in down_families]
    where = f"vantage point {host}" if host else "vantage point"
    if news:
        what = ", ".join(f"{family_name(p.reason)} {p.tag}" for p in still_down)
        subject = f"[ccmon] {where}: {what}"
    else:
        back = sorted({e.reason for e in events if e.kind == RESOLVED} - down_families)
        what = ", ".join(family_name(f) for f in back) or "every family"
        subject = f"[ccmon] {where}: back, {what} online again"
        if still_down:
            subject += f" ({', '.join(family_name(p.reason) for p in still_down)} still down)"
    lines: list[str] = []
    if still_down:
        lines.append(
            f"This ccmon instance ({host or 'this host'}) cannot see the DNS over "
            f"{' and '.join(family_name(p.reason) for p in still_down)}."
        )
    else:
        lines.append(f"This ccmon instance ({host or 'this host'}) sees the DNS again.")
    lines += [
        "",
        "While an address family is down here, ccmon measures none of its addresses: no",
        "zone problem opens or closes and no zone mail goes out; problems open before stay",
        "open with their original \"since\".",
        "",
        "Changes since the last message:",
    ]
    for event in sorted(events, key=lambda e: e.at):
        name = family_name(event.reason)
        if event.kind == RESOLVED:
            lines.append(f"  {utc(event.at)}  BACK  {name} online again "
                         f"(down since {utc(event.since)}, {_duration(event.at - event.since)})")
        else:
            lines.append(f"  {utc(event.at)}  DOWN  {name} {event.tag} since {utc(event.since)}")
            lines.append(f"      {event.message}")
    if now_states:
        state_words = ", ".join(f"{family_name(f)} {s}" for f, s in sorted(now_states.items()))
        lines += ["", f"Address families now: {state_words}."]
    lines += [
        "",
        "--",
        f"ccmon reports the vantage point down after {settings.open_after} sweep intervals "
        f"in a row without enough reference servers answering, and back after "
        f"{settings.close_after} with them. A family absent from the start (no IPv6 on "
        "the host) is not mailed.",
    ]
    return Composed(subject, "\n".join(lines) + "\n")


# --- composing a message --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Composed:
    """One e-mail's subject line and plain-text body."""
    subject: str
    body: str


def compose(
    zone: str,
    events: list[Event],
    open_problems: Iterable[ProblemState],
    *,
    settings: AlertsConfig,
    external_url: str = "",
) -> Composed:
    """Subject and plain-text body for the zone's pending events and its open problems."""
    still_open = sorted(
        open_problems, key=lambda p: (-p.severity, p.check, p.nameserver, p.address, p.reason)
    )
    open_keys = {(p.check, p.nameserver, p.address, p.reason) for p in still_open}
    news = [e for e in events if e.kind in (OPENED, CHANGED) and e.key_in_zone in open_keys]
    resolved = [e for e in events if e.kind == RESOLVED and e.key_in_zone not in open_keys]
    if news:
        worst = min(news, key=lambda e: (-e.severity, e.key_in_zone))
        current = next(
            p
            for p in still_open
            if (p.check, p.nameserver, p.address, p.reason) == worst.key_in_zone
        )
        head = label(
            current.check, current.severity, current.nameserver, current.address, current.reason
        )
        more = len(still_open) - 1
        subject = f"[ccmon] {zone}: {head}" + (f" and {more} more" if more else "")
    else:
        gone = resolved or [e for e in events if e.kind == RESOLVED] or events
        worst = min(gone, key=lambda e: (-e.severity, e.key_in_zone))
        more = len({e.key_in_zone for e in gone}) - 1
        subject = f"[ccmon] {zone}: RESOLVED {worst.label}" + (f" and {more} more" if more else "")
        if still_open:
            subject += f" ({len(still_open)} still open)"
    return Composed(subject, _body(zone, events, still_open, settings, external_url))


def _body(
    zone: str,
    events: list[Event],
    still_open: list[ProblemState],
    settings: AlertsConfig,
    external_url: str,
) -> str:
    lines: list[str] = []
    count = len(still_open)
    if count:
        lines.append(f"Zone {zone}: {count} problem{'s' if count != 1 else ''} open.")
    else:
        lines.append(f"Zone {zone}: no problem open any more.")
    lines += ["", "Changes since the last message:"]
    for event in sorted(events, key=lambda e: e.at):
        if event.kind == CHANGED and event.previous_severity is not None:
            what = f"CHANGED   {event.label} (was {Severity(event.previous_severity).name})"
        elif event.kind == RESOLVED:
            what = f"RESOLVED  {event.label} (open since {utc(event.since)})"
        else:
            what = f"OPENED    {event.label}"
        lines.append(f"  {utc(event.at)}  {what}")
        lines.append(f"      {event.message}")
    lines += ["", "Open problems:" if count else "Open problems: none"]
    for problem in still_open:
        where = " ".join(x for x in (problem.nameserver, problem.address) if x) or "(the zone)"
        lines.append(
            f"  {label(problem.check, problem.severity, '', '', '')}  {where}  "
            f"reason {problem.reason or '-'}"
        )
        lines.append(f"      since {utc(problem.first_seen)}: {problem.message}")
    if external_url:
        link = external_url.rstrip("/") + STATUS_PAGE_PATH.format(zone=zone)
        lines += ["", f"Status page: {link}"]
    lines += [
        "",
        "--",
        f"ccmon opens a problem after {settings.open_after} failing sweeps in a row and "
        f"closes it after {settings.close_after} good ones.",
    ]
    if any(check in OPEN_AT_ONCE for check in {e.check for e in events}
           | {p.check for p in still_open}):
        lines.append(f"{', '.join(sorted(OPEN_AT_ONCE))} (the parent differs from the "
                     "pinned delegation) opens at the first failing sweep.")
    if settings.rate_limit > 0:
        lines.append(
            f"At most one message per zone every {_duration(settings.rate_limit)}; "
            "changes in between are collected into the next one."
        )
    return "\n".join(lines) + "\n"


# --- the alerter ----------------------------------------------------------------------


class Alerter:
    """Turns sweeps into queued e-mails and delivers the queue, surviving restarts."""

    def __init__(
        self,
        config: Config,
        outbox_path: str | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.settings: AlertsConfig = config.alerts
        self.external_url = config.web.external_url
        self.clock = clock
        self.db = AlertDB(outbox_path or config.store.path)
        self.courier = Courier(self.db, self.settings.retry, clock=clock)  # sends, never twice
        self._wake = asyncio.Event()
        self._closing = False
        self._delivering: asyncio.Task[int] | None = None
        self._loop_done: asyncio.Event | None = None
        self._warned_no_recipients: set[str] = set()
        self.host = socket.gethostname()
        self._seen_online: set[str] = set()  # families some report read online (this process)
        self._told_absent: set[str] = set()  # families logged as absent from the start
        self._vantage_now: dict[str, str] = {}  # family -> state of the latest report
        self._vantage_at = 0.0  # started_at of that report
        if config.zones:
            dropped = self.db.forget_zones_except(set(config.zones) | {VANTAGE_ZONE})
            if dropped:
                log.info("alerts: forgot the state of %d zone(s) no longer watched", dropped)

    # --- after each sweep ---

    async def on_report(self, report: ZoneReport) -> None:
        """Count this sweep for every problem of the zone; queue the mail a change needs."""
        if self._closing:
            return
        if self.process(report):
            self._wake.set()

    def process(self, report: ZoneReport, now: float | None = None) -> int:
        """The synchronous core of :meth:`on_report`; returns the messages queued (0/1)."""
        if not self.settings.enabled:
            return 0
        now = self.clock() if now is None else now
        zone = report.zone
        with self.db.transaction():
            state = self.db.zone_state(zone)
            if state.last_report_at is not None and report.started_at <= state.last_report_at:
                log.debug("alerts: %s sweep at %s already counted", zone, report.started_at)
                return 0
            queued, outage = self._vantage(report, now)
            problems = self.db.problems(zone)
            settled_absent = frozenset(
                f for f, s in report.vantage.items()
                if s == VantageState.ABSENT and f not in outage
            )  # fmt: skip
            save, delete, events = step(
                self.settings, problems, report, held(report, settled_absent)
            )
            for problem in save:
                self.db.save_problem(problem)
            for key in delete:
                self.db.delete_problem(key)
            state.last_report_at = report.started_at
            state.digest.extend(e.to_dict() for e in events)
            for event in events:
                log.info("alerts: %s %s %s", zone, event.kind, event.label)
            queued += self._flush_zone(state, now)
            self.db.save_zone_state(state)
        return queued

    def _vantage(self, report: ZoneReport, now: float) -> tuple[int, set[str]]:
        """Count the report's vantage verdicts; (messages queued, families down now)."""
        if report.started_at >= self._vantage_at and report.vantage:
            self._vantage_at = report.started_at
            self._vantage_now = dict(report.vantage)
        for family, state in report.vantage.items():
            if (state == VantageState.ABSENT and family not in self._seen_online
                    and family not in self._told_absent):  # fmt: skip
                self._told_absent.add(family)
                log.warning(
                    "alerts: %s absent at this vantage point: its addresses are not "
                    "measured; not an outage, no mail", family_name(family),
                )  # fmt: skip
        rows = {p.reason: p for p in self.db.problems(VANTAGE_ZONE).values()}
        if not report.vantage:
            return 0, set(rows)
        save, delete, events = vantage_step(
            self.settings, self.config.schedule.interval, rows, report, self._seen_online
        )
        for row in save:
            self.db.save_problem(row)
        for key in delete:
            self.db.delete_problem(key)
        outage = (set(rows) | {r.reason for r in save}) - {key[4] for key in delete}
        if not events:
            return 0, outage
        zone_state = self.db.zone_state(VANTAGE_ZONE)
        zone_state.digest.extend(e.to_dict() for e in events)
        for event in events:
            log.warning("alerts: vantage point %s %s %s", event.kind,
                        family_name(event.reason), event.tag)
        queued = self._flush_zone(zone_state, now)
        self.db.save_zone_state(zone_state)
        return queued, outage

    def _flush_zone(self, state: ZoneState, now: float) -> int:
        """Queue the zone's digest as one message if there is one and the rate limit allows."""
        if not state.digest:
            return 0
        if state.last_mail_at is not None and now < state.last_mail_at + self.settings.rate_limit:
            return 0
        vantage = state.zone == VANTAGE_ZONE
        if not vantage and self.settings.maintenance_until(state.zone, now) is not None:
            return 0  # held until the window ends
        events = self._after_maintenance(state.zone, [Event.from_dict(e) for e in state.digest])
        state.digest = []
        if not events:
            return 0
        recipients = (
            self.settings.vantage_recipients_or_default()
            if vantage
            else self.settings.recipients_for(state.zone)
        )
        if not recipients:
            if state.zone not in self._warned_no_recipients:
                log.warning(
                    "alerts: %s changed state but no recipient is configured "
                    "(alerts.recipients / alerts.zone_recipients)",
                    state.zone,
                )
                self._warned_no_recipients.add(state.zone)
            return 0
        open_problems = [p for p in self.db.problems(state.zone).values() if p.state == "open"]
        if vantage:
            composed = compose_vantage(
                events, open_problems, self._vantage_now, settings=self.settings,
                host=self.host,
            )  # fmt: skip
            headers = {"X-Ccmon-Vantage": ",".join(sorted({e.reason for e in events}))}
        else:
            composed = compose(
                state.zone,
                events,
                open_problems,
                settings=self.settings,
                external_url=self.external_url,
            )
            headers = {"X-Ccmon-Zone": state.zone}
        message = mailer.build_message(
            self.settings.smtp,
            recipients,
            composed.subject,
            composed.body,
            now,
            headers=headers,
        )
        self.db.enqueue(
            state.zone, message["Message-ID"], composed.subject, recipients,
            mailer.wire_bytes(message), now,
        )
        state.last_mail_at = now
        log.info("alerts: queued %r to %s", composed.subject, ", ".join(recipients))
        return 1

    def _after_maintenance(self, zone: str, events: list[Event]) -> list[Event]:
        """The digest without the problems that opened and closed inside a maintenance
        window: the work was announced, its passing faults are not news. Everything else
        held by the window (a problem still open at its end, a resolution, a change) stays
        and goes out now."""
        if not self.settings.maintenance:
            return events
        inside: dict[tuple[str, str, str, str], list[Event]] = {}
        for event in events:
            if self.settings.maintenance_until(zone, event.at) is not None:
                inside.setdefault(event.key_in_zone, []).append(event)
        quiet = {
            key for key, held in inside.items()
            if held[0].kind == OPENED and held[-1].kind == RESOLVED
        }  # fmt: skip
        for key in sorted(quiet):
            log.info("alerts: %s %s opened and resolved inside a maintenance window: not "
                     "mailed", zone, inside[key][0].label)  # fmt: skip
        return [e for e in events if not (e.key_in_zone in quiet and e in inside[e.key_in_zone])]

    def flush_digests(self, now: float | None = None) -> int:
        """Queue every digest whose rate-limit window has ended; returns messages queued."""
        now = self.clock() if now is None else now
        queued = 0
        with self.db.transaction():
            for state in self.db.zones_with_digest():
                before = len(state.digest)
                queued += self._flush_zone(state, now)
                if len(state.digest) != before:
                    self.db.save_zone_state(state)
        return queued

    def next_digest_due(self) -> float | None:
        """When the delivery loop should next flush a digest: the end of its zone's rate
        limit window, or of the maintenance window holding it."""
        now = self.clock()
        due = []
        for state in self.db.zones_with_digest():
            at = (state.last_mail_at or 0.0) + self.settings.rate_limit
            if state.zone != VANTAGE_ZONE:
                held = self.settings.maintenance_until(state.zone, max(at, now))
                at = max(at, held) if held is not None else at
            due.append(at)
        return min(due, default=None)

    # --- delivery ---

    async def deliver_pending(self, now: float | None = None) -> int:
        """Try every due message once (one SMTP connection); returns how many were sent."""
        return await self.courier.deliver(self.settings.smtp, now)

    async def run_delivery(self) -> None:
        """The outbox worker: deliver due messages and due digests until :meth:`aclose`."""
        self._loop_done = asyncio.Event()
        pruned_at = 0.0
        try:
            while not self._closing:
                self._wake.clear()
                try:
                    if not self.courier.paused():  # a store that fails to write pauses it
                        with self.courier.guard():
                            if self.clock() - pruned_at >= PRUNE_EVERY:
                                pruned_at = self.clock()
                                self.db.prune_sent(pruned_at - self.config.store.retention)
                            self.flush_digests()
                        await self.deliver_pending()
                except Exception:  # the worker must outlive one bad round
                    log.exception("alerts: delivery round failed")
                await self._sleep_until_due()
        finally:
            self._loop_done.set()

    async def _sleep_until_due(self) -> None:
        now = self.clock()
        wake_at = now + MAX_POLL
        for due in (self.db.next_due(), self.next_digest_due()):
            if due is not None:
                wake_at = min(wake_at, due)
        wake_at = self.courier.next_wake(wake_at)
        delay = min(MAX_POLL, max(0.05, wake_at - now))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), delay)

    async def aclose(self, timeout: float | None = None) -> None:
        """Stop the delivery loop after its current round, then close the database."""
        self._closing = True
        self._wake.set()
        if self._loop_done is not None:
            limit = timeout if timeout is not None else self.settings.smtp.timeout * 2 + 5
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._loop_done.wait(), limit)
        self.close()

    def close(self) -> None:
        """Stop at once and close the alert tables; errors while closing are ignored."""
        self._closing = True
        with contextlib.suppress(Exception):
            self.db.close()

    # --- views ---

    def open_problems(self, zone: str | None = None) -> list[ProblemState]:
        """Open zone problems (of one zone, or of all); the vantage point's are apart."""
        return [
            p for p in self.db.problems(zone).values()
            if p.state == "open" and (zone is not None or p.zone != VANTAGE_ZONE)
        ]  # fmt: skip

    def vantage_down(self) -> list[ProblemState]:
        """The address families reported down (mailed) at this vantage point."""
        return [p for p in self.db.problems(VANTAGE_ZONE).values() if p.state == "open"]

    def outbox_counts(self) -> dict[str, int]:
        """The outbox's message count per status."""
        return self.db.counts()
