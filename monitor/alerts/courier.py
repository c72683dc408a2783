"""Delivery of the outbox: at-least-once, and never twice while the process lives.

A message is marked as being sent (``sending_at``, one more try, the next try already
pushed back by the backoff) in a committed transaction before the SMTP transaction, and
marked sent (or failed, or to retry) after it. When the store cannot record either mark,
delivery pauses with exponential backoff, never shorter than ``retry.initial``; messages
the server accepted are kept in memory until their mark is committed, so nothing is sent
twice while the process lives. Only a crash between the server's acceptance and the commit
of the mark can repeat a message, at the next start and with the same Message-ID
(at-least-once delivery; see docs/alerts.md).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from monitor.alerts import mailer
from monitor.alerts.outbox import AlertDB, MessageStatus, OutboxMessage, OutboxWriteError
from monitor.config.alerts import RetryConfig, SmtpConfig
from monitor.snapshot import OutboxStatus

log = logging.getLogger("monitor.alerts")


#: The ``state`` label of ``ccmon_alert_outbox_messages``. ``unrecorded``: the outcome is
#: known (the SMTP server accepted the message, or refused it for good) but the store could
#: not record it yet; it is kept in memory and written as soon as the store takes writes.
OUTBOX_STATES: tuple[str, ...] = (*(str(s) for s in MessageStatus), "unrecorded")
BATCH = 50  # messages per SMTP connection
LOG_EVERY = 60.0  # while delivery stays paused, at most one log line per this many seconds


@dataclass(frozen=True, slots=True)
class _Outcome:
    """A delivery outcome the store has not recorded yet."""

    outcome: mailer.Delivery  # SENT or FAILED
    at: float
    detail: str


class Courier:
    """Delivers the outbox so that a store it cannot write never makes it send again.

    One round (:meth:`deliver`): record the outcomes kept in memory, mark the due messages
    as being sent, commit; only then hand them to the SMTP server (in a worker thread); keep
    the outcomes in memory; record them, commit. A failed commit pauses delivery for
    :meth:`backoff` of the failures in a row (``retry.initial`` doubling up to
    ``retry.max``), says so once per :data:`LOG_EVERY`, and keeps the accepted messages in
    :attr:`unrecorded`, so they are not sent again while the process lives.
    """

    def __init__(
        self,
        db: AlertDB,
        retry: RetryConfig,
        *,
        clock: Callable[[], float] = time.time,
        log_every: float = LOG_EVERY,
    ) -> None:
        self.db = db
        self.retry = retry
        self.clock = clock
        self.log_every = log_every
        self.unrecorded: dict[int, _Outcome] = {}  # outbox row id -> outcome
        self.paused_until = 0.0
        self.sent = 0  # accepted by the SMTP server since the start
        self.failures = dict.fromkeys(mailer.FAILURE_REASONS, 0)
        self.on_status: Callable[[OutboxStatus], None] | None = None
        self._store_failures = 0  # failed commits in a row
        self._logged_at: float | None = None
        self._pause_logged = False

    def backoff(self, failures: int) -> float:
        """The wait after ``failures`` failures in a row; never shorter than retry.initial."""
        retry = self.retry
        wait = min(retry.max, retry.initial * 2 ** max(0, failures - 1))
        return float(max(retry.initial, wait))

    def paused(self, now: float | None = None) -> bool:
        """Paused at `now` (default: the clock) because the store could not record an outcome."""
        return (self.clock() if now is None else now) < self.paused_until

    def next_wake(self, due: float) -> float:
        """When the loop should look again: not before the pause ends."""
        return max(due, self.paused_until)

    @contextmanager
    def guard(self) -> Iterator[None]:
        """Other writes of the delivery loop (digests, pruning): a failure pauses delivery."""
        try:
            yield
        except OutboxWriteError as exc:
            self._pause(str(exc))

    async def deliver(self, smtp: SmtpConfig, now: float | None = None) -> int:
        """One round: every due message tried once over one connection; returns how many
        the server accepted."""
        now = self.clock() if now is None else now
        if now < self.paused_until:
            return 0
        expired: list[OutboxMessage] = []
        try:
            with self.db.transaction():
                self._record_outcomes()
                batch = self._due(now, expired)
                for message in batch:
                    self.db.mark_sending(message.id, now, now + self.backoff(message.attempts + 1))
        except OutboxWriteError as exc:
            self._pause(str(exc))
            return 0
        self.unrecorded.clear()
        self._resume()
        self._said_expired(expired, now)
        if not batch:
            self.publish()
            return 0
        for message in batch:
            if message.sending_at is not None:
                log.warning(
                    "alerts: %r (%s) was being sent when its outcome could not be recorded "
                    "(ccmon stopped): it may have arrived; sending it again, same Message-ID",
                    message.subject, message.message_id,
                )  # fmt: skip
        outgoing = [mailer.Outgoing(m.id, m.recipients, m.raw) for m in batch]
        results = await asyncio.to_thread(mailer.deliver_batch, smtp, outgoing)
        return self._settle(batch, results)

    def _due(self, now: float, expired: list[OutboxMessage]) -> list[OutboxMessage]:
        """Due messages, a zone's in order (none overtakes an older one); expired ones are
        marked failed and put in ``expired``."""
        ordered: list[OutboxMessage] = []
        held_zones: set[str] = set()
        for message in self.db.pending(BATCH):
            if message.id in self.unrecorded:
                continue
            if now - message.created_at > self.retry.give_up_after:
                self.db.mark_failed(message.id, f"expired: {message.last_error}")
                expired.append(message)
                continue
            if message.zone in held_zones or message.next_attempt_at > now:
                held_zones.add(message.zone)
                continue
            ordered.append(message)
        return ordered

    def _said_expired(self, expired: list[OutboxMessage], now: float) -> None:
        for message in expired:
            self.failures["expired"] += 1
            log.error(
                "alerts: dropping %r, undelivered for %.0f s: %s",
                message.subject, now - message.created_at, message.last_error,
            )  # fmt: skip

    def _record_outcomes(self) -> None:
        """Write the outcomes kept in memory (inside the caller's transaction)."""
        for row_id, kept in self.unrecorded.items():
            if kept.outcome == mailer.Delivery.SENT:
                self.db.mark_sent(row_id, kept.at, kept.detail)
            else:
                self.db.mark_failed(row_id, kept.detail)

    def _settle(self, batch: Sequence[OutboxMessage], results: list[mailer.Result]) -> int:
        finished = self.clock()
        by_id = {m.id: m for m in batch}
        retries: list[tuple[OutboxMessage, mailer.Result]] = []
        sent = 0
        for result in results:
            message = by_id[result.key]
            if result.outcome == mailer.Delivery.SENT:
                # in memory first: never sent again in this process
                self.unrecorded[message.id] = _Outcome(result.outcome, finished, result.detail)
                self.sent += 1
                sent += 1
                log.info("alerts: sent %r (%s)", message.subject, message.message_id)
                if result.detail:
                    log.warning("alerts: %s", result.detail)
                continue
            reason = result.reason if result.reason in self.failures else "connect"
            self.failures[reason] += 1
            if result.outcome == mailer.Delivery.FAILED:
                self.unrecorded[message.id] = _Outcome(result.outcome, finished, result.detail)
                log.error("alerts: giving up on %r: %s", message.subject, result.detail)
            else:
                retries.append((message, result))
                log.warning(
                    "alerts: %r not sent, retry in %.0f s: %s",
                    message.subject, self.backoff(message.attempts + 1), result.detail,
                )  # fmt: skip
        try:
            with self.db.transaction():
                self._record_outcomes()
                for message, result in retries:
                    next_at = finished + self.backoff(message.attempts + 1)
                    self.db.mark_retry(message.id, next_at, result.detail)
        except OutboxWriteError as exc:
            self._pause(str(exc))
        else:
            self.unrecorded.clear()
        self.publish()
        return sent

    def _pause(self, cause: str) -> None:
        now = self.clock()
        self._store_failures += 1
        wait = self.backoff(self._store_failures)
        self.paused_until = now + wait
        if self._logged_at is None or now - self._logged_at >= self.log_every:
            kept = sum(1 for o in self.unrecorded.values() if o.outcome == mailer.Delivery.SENT)
            log.error(
                "alerts: mail delivery paused, the store cannot record it: %s; next try in "
                "%.0f s (backing off up to %.0f s); %d accepted message(s) kept in memory "
                "so they are not sent again",
                cause, wait, max(self.retry.max, self.retry.initial), kept,
            )  # fmt: skip
            self._logged_at = now
            self._pause_logged = True
        self.publish()

    def _resume(self) -> None:
        if not self._store_failures:
            return
        if self._pause_logged:
            log.warning(
                "alerts: mail delivery resumed, the store records it again (%d failed "
                "commit(s))", self._store_failures,
            )  # fmt: skip
        self._store_failures = 0
        self._pause_logged = False
        self.paused_until = 0.0

    def status(self) -> OutboxStatus:
        """The outbox as /metrics shows it; outcomes not yet recorded count as unrecorded."""
        counts = self.db.counts()
        pending = str(MessageStatus.PENDING)
        counts[pending] = max(0, counts[pending] - len(self.unrecorded))
        counts["unrecorded"] = len(self.unrecorded)
        return OutboxStatus(
            messages={state: counts.get(state, 0) for state in OUTBOX_STATES},
            sent=self.sent,
            failures=dict(self.failures),
        )

    def publish(self) -> None:
        """Hand the current status to on_status; a failing read keeps the last figures."""
        if self.on_status is None:
            return
        try:
            status = self.status()
        except sqlite3.Error as exc:  # a read failing: keep the last figures
            log.debug("alerts: outbox counts unavailable: %s", exc)
            return
        self.on_status(status)
