"""The alerter: sweeps in, one queued e-mail per zone per change out, delivered from the outbox.

After every sweep of a zone the rules (:mod:`~monitor.alerts.rules`) advance the zone's
problems and the vantage point's rows (:mod:`~monitor.alerts.vantage`); the changes go
into the zone's digest, which goes out as one message (:mod:`~monitor.alerts.text`) when
the grouping allows (:mod:`~monitor.alerts.grouping`). All of it is persisted
(:mod:`~monitor.alerts.outbox`) in the same transaction, so a restart neither repeats nor
forgets a message; the courier (:mod:`~monitor.alerts.courier`) delivers the outbox.

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
from collections.abc import Callable
from typing import TYPE_CHECKING

from monitor.alerts import grouping, mailer
from monitor.alerts.courier import Courier
from monitor.alerts.model import VANTAGE_ZONE, Event, Phase, ProblemState, ZoneState
from monitor.alerts.outbox import AlertDB
from monitor.alerts.rules import held, step
from monitor.alerts.text import compose, compose_vantage, family_name
from monitor.alerts.vantage import vantage_step
from monitor.config.alerts import AlertsConfig
from probes.model import VantageState, ZoneReport

if TYPE_CHECKING:  # pragma: no cover
    from monitor.config import Config

log = logging.getLogger("monitor.alerts")

MAX_POLL = 60.0  # the delivery loop looks at the outbox at least this often
PRUNE_EVERY = 3600.0  # seconds between two prunes of delivered messages


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
        """Queue the zone's digest as one message if there is one and the grouping allows."""
        if not state.digest or not grouping.may_send(self.settings, state, now):
            return 0
        events = grouping.after_maintenance(
            self.settings, state.zone, [Event.from_dict(e) for e in state.digest]
        )
        state.digest = []
        if not events:
            return 0
        recipients = grouping.recipients(self.settings, state.zone)
        if not recipients:
            if state.zone not in self._warned_no_recipients:
                log.warning(
                    "alerts: %s changed state but no recipient is configured "
                    "(alerts.recipients / alerts.zone_recipients)",
                    state.zone,
                )
                self._warned_no_recipients.add(state.zone)
            return 0
        self._queue(state, events, recipients, now)
        return 1

    def _queue(
        self, state: ZoneState, events: list[Event], recipients: tuple[str, ...], now: float
    ) -> None:
        """Word the events as one message and put it in the outbox."""
        open_problems = [
            p for p in self.db.problems(state.zone).values() if p.state == Phase.OPEN
        ]
        if state.zone == VANTAGE_ZONE:
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
        due = [grouping.due_at(self.settings, s, now) for s in self.db.zones_with_digest()]
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
            if p.state == Phase.OPEN and (zone is not None or p.zone != VANTAGE_ZONE)
        ]  # fmt: skip

    def vantage_down(self) -> list[ProblemState]:
        """The address families reported down (mailed) at this vantage point."""
        return [p for p in self.db.problems(VANTAGE_ZONE).values() if p.state == Phase.OPEN]

    def outbox_counts(self) -> dict[str, int]:
        """The outbox's message count per status."""
        return self.db.counts()
