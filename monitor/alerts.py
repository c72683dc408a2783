"""Rules over findings → problem state changes → one e-mail per zone per change.

A *problem* is (zone, check, name server, address, reason): never the message text, which
carries changing numbers (RTT, lag). After every sweep of a zone, each problem the rules
select counts a failing sweep; each known problem missing from the sweep counts a good
one. Hold-down as ICANN's SLA monitoring: a problem opens after ``open_after`` failing
sweeps in a row and closes after ``close_after`` good ones in a row; a failing sweep
while closing starts the good count again. An open problem whose severity changes is a
*changed* problem.

The changes of one sweep make one message. A zone gets at most one message per
``rate_limit``; changes in between wait in the zone's digest and go out together with
the next message, as soon as the window allows (the delivery loop sends a due digest even
if no further sweep comes). All of it is persisted (:mod:`monitor.outbox`) in the same
transaction, so a restart neither repeats nor forgets a message.

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
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from monitor import mailer
from monitor.alerts_config import AlertsConfig
from monitor.outbox import AlertDB, Courier, ProblemKey, ProblemState, ZoneState
from probes.model import Finding, Severity, ZoneReport

if TYPE_CHECKING:  # pragma: no cover
    from monitor.config import Config

log = logging.getLogger(__name__)

OPENED = "opened"
CHANGED = "changed"
RESOLVED = "resolved"
STATUS_PAGE_PATH = "/#zone-{zone}"  # the zone's row on the status page (monitor.web)
MAX_POLL = 60.0  # the delivery loop looks at the outbox at least this often
PRUNE_EVERY = 3600.0  # seconds between two prunes of delivered messages


def problem_key(zone: str, finding: Finding) -> ProblemKey:
    return (zone, finding.check, finding.nameserver, finding.address, finding.reason)


def label(check: str, severity: int, nameserver: str, address: str, reason: str) -> str:
    """``LAME01 ERROR ns2.nic.fr 192.0.2.2 refused``: the words of a subject line."""
    parts = [check, Severity(severity).name, nameserver.rstrip("."), address, reason]
    return " ".join(p for p in parts if p)


def utc(timestamp: float) -> str:
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
        return label(self.check, self.severity, self.nameserver, self.address, self.reason)

    @property
    def key_in_zone(self) -> tuple[str, str, str, str]:
        return (self.check, self.nameserver, self.address, self.reason)

    @classmethod
    def of(cls, kind: str, at: float, problem: ProblemState, previous: int | None = None) -> Event:
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
        return {name: getattr(self, name) for name in self.__slots__}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Event:
        return cls(**data)


# --- the state machine (pure apart from the rows it is given) -------------------------


def failing_findings(settings: AlertsConfig, report: ZoneReport) -> dict[ProblemKey, Finding]:
    """The findings the rules select, one per problem (the worst if a key repeats)."""
    out: dict[ProblemKey, Finding] = {}
    for finding in report.findings:
        if not settings.alerting(finding.check, finding.severity):
            continue
        key = problem_key(report.zone, finding)
        if key not in out or finding.severity > out[key].severity:
            out[key] = finding
    return out


def step(
    settings: AlertsConfig,
    problems: dict[ProblemKey, ProblemState],
    report: ZoneReport,
) -> tuple[list[ProblemState], list[ProblemKey], list[Event]]:
    """Advance the zone's problems by one sweep: (rows to save, rows to delete, events)."""
    at = report.started_at
    failing = failing_findings(settings, report)
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
        if problem.state == "pending" and problem.failing >= settings.open_after:
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
        if key in failing:
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


# --- composing a message --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Composed:
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
        if config.zones:
            dropped = self.db.forget_zones_except(set(config.zones))
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
            problems = self.db.problems(zone)
            save, delete, events = step(self.settings, problems, report)
            for problem in save:
                self.db.save_problem(problem)
            for key in delete:
                self.db.delete_problem(key)
            state.last_report_at = report.started_at
            state.digest.extend(e.to_dict() for e in events)
            for event in events:
                log.info("alerts: %s %s %s", zone, event.kind, event.label)
            queued = self._flush_zone(state, now)
            self.db.save_zone_state(state)
        return queued

    def _flush_zone(self, state: ZoneState, now: float) -> int:
        """Queue the zone's digest as one message if there is one and the rate limit allows."""
        if not state.digest:
            return 0
        if state.last_mail_at is not None and now < state.last_mail_at + self.settings.rate_limit:
            return 0
        events = [Event.from_dict(e) for e in state.digest]
        state.digest = []
        recipients = self.settings.recipients_for(state.zone)
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
        composed = compose(
            state.zone,
            events,
            open_problems,
            settings=self.settings,
            external_url=self.external_url,
        )
        message = mailer.build_message(
            self.settings.smtp,
            recipients,
            composed.subject,
            composed.body,
            now,
            headers={"X-Ccmon-Zone": state.zone},
        )
        self.db.enqueue(
            state.zone, message["Message-ID"], composed.subject, recipients,
            mailer.wire_bytes(message), now,
        )
        state.last_mail_at = now
        log.info("alerts: queued %r to %s", composed.subject, ", ".join(recipients))
        return 1

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
        due = [
            (s.last_mail_at or 0.0) + self.settings.rate_limit for s in self.db.zones_with_digest()
        ]
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
        self._closing = True
        with contextlib.suppress(Exception):
            self.db.close()

    # --- views ---

    def open_problems(self, zone: str | None = None) -> list[ProblemState]:
        return [p for p in self.db.problems(zone).values() if p.state == "open"]

    def outbox_counts(self) -> dict[str, int]:
        return self.db.counts()
