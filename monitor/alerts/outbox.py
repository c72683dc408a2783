"""Alert state and the mail outbox, persisted in the store's SQLite file.

The tables live in the same file as :mod:`monitor.store` (``store.path``) but belong to
the alerter: its own connection, its own ``alert_*`` tables and its own schema version
(in ``alert_meta``, not ``PRAGMA user_version``, which is the store's). WAL mode lets the
store and the alerter write the file from separate connections.

Everything a restart needs is here, written in one transaction per sweep:

- ``alert_problems``: one row per problem being counted (pending: failing, not yet open;
  open: mailed, counting good sweeps towards closing), with its hold-down counters;
- ``alert_zones``: per zone, the last sweep processed (a report seen twice is ignored),
  when the last mail was queued (rate limit) and the events waiting for the next mail;
- ``alert_outbox``: every message as the exact bytes to send, with its state (``pending``,
  ``sent``, ``failed``), tries, next try and last error.

Delivery (:class:`Courier`): a message is marked as being sent (``sending_at``, one more
try, the next try already pushed back by the backoff) in a committed transaction before
the SMTP transaction, and marked sent (or failed, or to retry) after it. When the store
cannot record either mark, delivery pauses with exponential backoff, never shorter than
``retry.initial``; messages the server accepted are kept in memory until their mark is
committed, so nothing is sent twice while the process lives. Only a crash between the
server's acceptance and the commit of the mark can repeat a message, at the next start and
with the same Message-ID (at-least-once delivery; see docs/alerts.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from monitor.alerts import mailer
from monitor.alerts_config import RetryConfig, SmtpConfig
from monitor.status import OutboxStatus

if TYPE_CHECKING:  # pragma: no cover
    from monitor.store import StoreHealth

log = logging.getLogger(__name__)

SCHEMA_VERSION = 2  # 2: alert_outbox.sending_at

_SCHEMA = """
CREATE TABLE IF NOT EXISTS alert_meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS alert_problems (
    zone TEXT NOT NULL,
    check_id TEXT NOT NULL,
    nameserver TEXT NOT NULL,
    address TEXT NOT NULL,
    reason TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'open')),
    severity INTEGER NOT NULL,
    tag TEXT NOT NULL,
    message TEXT NOT NULL,
    failing INTEGER NOT NULL,
    good INTEGER NOT NULL,
    first_seen REAL NOT NULL,
    last_seen REAL NOT NULL,
    opened_at REAL,
    notified_severity INTEGER,
    PRIMARY KEY (zone, check_id, nameserver, address, reason)
);
CREATE TABLE IF NOT EXISTS alert_zones (
    zone TEXT PRIMARY KEY,
    last_report_at REAL,
    last_mail_at REAL,
    digest TEXT NOT NULL DEFAULT '[]'
);
CREATE TABLE IF NOT EXISTS alert_outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    zone TEXT NOT NULL,
    message_id TEXT NOT NULL UNIQUE,
    subject TEXT NOT NULL,
    recipients TEXT NOT NULL,
    raw BLOB NOT NULL,
    created_at REAL NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    last_error TEXT NOT NULL DEFAULT '',
    sent_at REAL,
    sending_at REAL
);
CREATE INDEX IF NOT EXISTS alert_outbox_due ON alert_outbox (status, next_attempt_at);
"""

ProblemKey = tuple[str, str, str, str, str]  # zone, check, nameserver, address, reason


class OutboxError(Exception):
    """The alert state cannot be read or written."""


class OutboxWriteError(OutboxError):
    """A write to the alert tables failed and was rolled back (disk full, read-only, locked)."""


@dataclass(slots=True)
class ProblemState:
    """Hold-down bookkeeping of one problem (zone, check, nameserver, address, reason)."""

    zone: str
    check: str
    nameserver: str
    address: str
    reason: str
    state: str  # "pending" (failing, not yet mailed) or "open"
    severity: int
    tag: str
    message: str
    failing: int  # failing sweeps in a row
    good: int  # good sweeps in a row (open problems only)
    first_seen: float  # start of the first failing sweep of this run of failures
    last_seen: float  # start of the latest failing sweep
    opened_at: float | None = None  # when the hold-down was reached
    notified_severity: int | None = None  # severity the last mail told

    @property
    def key(self) -> ProblemKey:
        """The problem's identity: (zone, check, nameserver, address, reason)."""
        return (self.zone, self.check, self.nameserver, self.address, self.reason)


@dataclass(slots=True)
class ZoneState:
    """Per zone: when the last report and the last mail went out, and the digest not yet mailed."""
    zone: str
    last_report_at: float | None = None
    last_mail_at: float | None = None
    digest: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    """One row of the alert outbox: a rendered message and its delivery state."""
    id: int
    zone: str
    message_id: str
    subject: str
    recipients: tuple[str, ...]
    raw: bytes
    created_at: float
    status: str
    attempts: int
    next_attempt_at: float
    last_error: str
    sent_at: float | None
    sending_at: float | None = None  # marked as being sent, outcome not recorded


_PROBLEM_COLUMNS = (
    "zone, check_id, nameserver, address, reason, state, severity, tag, message, failing, "
    "good, first_seen, last_seen, opened_at, notified_severity"
)
_OUTBOX_COLUMNS = (
    "id, zone, message_id, subject, recipients, raw, created_at, status, attempts, "
    "next_attempt_at, last_error, sent_at, sending_at"
)


class AlertDB:
    """The alerter's tables. One connection, used from one thread (the event loop)."""

    def __init__(self, path: str) -> None:
        self.path = path
        if path != ":memory:":
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        try:
            self._db = sqlite3.connect(path, timeout=10.0, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
            row = self._db.execute(
                "SELECT value FROM alert_meta WHERE key = 'schema_version'"
            ).fetchone()
            if row is None:
                self._db.execute(
                    "INSERT INTO alert_meta (key, value) VALUES ('schema_version', ?)",
                    (str(SCHEMA_VERSION),),
                )
            elif int(row[0]) > SCHEMA_VERSION:
                raise OutboxError(
                    f"alert tables in {path!r} have schema version {row[0]}, newer than this "
                    f"ccmon knows ({SCHEMA_VERSION})"
                )
            elif int(row[0]) < 2:
                self._db.executescript(
                    "BEGIN; ALTER TABLE alert_outbox ADD COLUMN sending_at REAL; "
                    "UPDATE alert_meta SET value = '2' WHERE key = 'schema_version'; COMMIT;"
                )
        except sqlite3.DatabaseError as exc:
            raise OutboxError(f"cannot use alert state in {path!r}: {exc}") from exc
        self._in_transaction = False
        self.health: StoreHealth | None = None  # the service shares the store's

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All writes inside are committed together, or none is.

        An operational failure (disk full, read-only, locked), of a statement or of the
        COMMIT, rolls back, is counted in :attr:`health` and raised as
        :class:`OutboxWriteError`; the connection stays usable for when the cause is gone.
        """
        if self._in_transaction:
            yield
            return
        try:
            self._db.execute("BEGIN IMMEDIATE")
            self._in_transaction = True
            try:
                yield
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        self._db.execute("ROLLBACK")
                raise
            finally:
                self._in_transaction = False
        except sqlite3.OperationalError as exc:
            if self.health is not None:
                self.health.count_failure()
            raise OutboxWriteError(str(exc)) from exc

    def close(self) -> None:
        """Close the database connection."""
        self._db.close()

    # --- problems ---------------------------------------------------------------------

    def problems(self, zone: str | None = None) -> dict[ProblemKey, ProblemState]:
        """The stored problems by key, of one zone or (zone None) of all zones."""
        query = f"SELECT {_PROBLEM_COLUMNS} FROM alert_problems"
        rows = (
            self._db.execute(query + " WHERE zone = ?", (zone,))
            if zone is not None
            else self._db.execute(query)
        )
        out = {}
        for row in rows:
            state = ProblemState(*row)
            out[state.key] = state
        return out

    def save_problem(self, problem: ProblemState) -> None:
        """Insert or replace one problem's row."""
        values = (
            problem.zone, problem.check, problem.nameserver, problem.address, problem.reason,
            problem.state, problem.severity, problem.tag, problem.message, problem.failing,
            problem.good, problem.first_seen, problem.last_seen, problem.opened_at,
            problem.notified_severity,
        )  # fmt: skip
        self._db.execute(
            f"INSERT OR REPLACE INTO alert_problems ({_PROBLEM_COLUMNS}) "
            f"VALUES ({', '.join('?' * len(values))})",
            values,
        )

    def delete_problem(self, key: ProblemKey) -> None:
        """Forget one problem."""
        self._db.execute(
            "DELETE FROM alert_problems WHERE zone = ? AND check_id = ? AND nameserver = ? "
            "AND address = ? AND reason = ?",
            key,
        )

    def forget_zones_except(self, zones: set[str]) -> int:
        """Drop the state of zones no longer watched (no mail is sent for them)."""
        known = {r[0] for r in self._db.execute("SELECT DISTINCT zone FROM alert_problems")}
        known |= {r[0] for r in self._db.execute("SELECT zone FROM alert_zones")}
        gone = sorted(known - zones)
        with self.transaction():
            for zone in gone:
                self._db.execute("DELETE FROM alert_problems WHERE zone = ?", (zone,))
                self._db.execute("DELETE FROM alert_zones WHERE zone = ?", (zone,))
        return len(gone)

    # --- zones ------------------------------------------------------------------------

    def zone_state(self, zone: str) -> ZoneState:
        """The zone's stored mail state; a fresh ZoneState when none is stored."""
        row = self._db.execute(
            "SELECT last_report_at, last_mail_at, digest FROM alert_zones WHERE zone = ?",
            (zone,),
        ).fetchone()
        if row is None:
            return ZoneState(zone)
        return ZoneState(zone, row[0], row[1], json.loads(row[2]))

    def save_zone_state(self, state: ZoneState) -> None:
        """Insert or replace the zone's mail state."""
        self._db.execute(
            "INSERT OR REPLACE INTO alert_zones (zone, last_report_at, last_mail_at, digest) "
            "VALUES (?, ?, ?, ?)",
            (state.zone, state.last_report_at, state.last_mail_at, json.dumps(state.digest)),
        )

    def zones_with_digest(self) -> list[ZoneState]:
        """The zones with digest entries waiting to be mailed, by zone name."""
        rows = self._db.execute(
            "SELECT zone, last_report_at, last_mail_at, digest FROM alert_zones "
            "WHERE digest != '[]' ORDER BY zone"
        )
        return [ZoneState(z, r, m, json.loads(d)) for z, r, m, d in rows]

    # --- outbox -----------------------------------------------------------------------

    def enqueue(
        self,
        zone: str,
        message_id: str,
        subject: str,
        recipients: tuple[str, ...],
        raw: bytes,
        created_at: float,
    ) -> int:
        """Queue a rendered message as pending, due at once; returns its row id."""
        cursor = self._db.execute(
            "INSERT INTO alert_outbox (zone, message_id, subject, recipients, raw, created_at, "
            "status, next_attempt_at) VALUES (?, ?, ?, ?, ?, ?, 'pending', ?)",
            (zone, message_id, subject, json.dumps(list(recipients)), raw, created_at, created_at),
        )
        return int(cursor.lastrowid or 0)

    def _messages(self, where: str, params: tuple[Any, ...]) -> list[OutboxMessage]:
        rows = self._db.execute(f"SELECT {_OUTBOX_COLUMNS} FROM alert_outbox {where}", params)
        return [
            OutboxMessage(i, z, mid, s, tuple(json.loads(r)), bytes(raw), c, st, a, n, e, sa, sg)
            for i, z, mid, s, r, raw, c, st, a, n, e, sa, sg in rows
        ]

    def due(self, now: float, limit: int = 100) -> list[OutboxMessage]:
        """Pending messages whose next try is due, oldest first."""
        return self._messages(
            "WHERE status = 'pending' AND next_attempt_at <= ? ORDER BY id LIMIT ?",
            (now, limit),
        )

    def pending(self, limit: int = 100) -> list[OutboxMessage]:
        """Pending messages, due or not, oldest first."""
        return self._messages("WHERE status = 'pending' ORDER BY id LIMIT ?", (limit,))

    def messages(self, status: str | None = None) -> list[OutboxMessage]:
        """The messages with this status ("pending", "sent", "failed"), or all; oldest first."""
        if status is None:
            return self._messages("ORDER BY id", ())
        return self._messages("WHERE status = ? ORDER BY id", (status,))

    def next_due(self) -> float | None:
        """When the earliest pending message is due (epoch seconds); None when none is pending."""
        row = self._db.execute(
            "SELECT min(next_attempt_at) FROM alert_outbox WHERE status = 'pending'"
        ).fetchone()
        return None if row[0] is None else float(row[0])

    def mark_sending(self, message_id: int, now: float, next_attempt_at: float) -> None:
        """Before the SMTP transaction: one more try, and the next one already pushed back
        (a crash during the send must not make the next start retry at once)."""
        self._db.execute(
            "UPDATE alert_outbox SET attempts = attempts + 1, sending_at = ?, "
            "next_attempt_at = ? WHERE id = ?",
            (now, next_attempt_at, message_id),
        )

    def mark_sent(self, message_id: int, now: float, note: str = "") -> None:
        """Record that the SMTP server accepted the message, with an optional note."""
        self._db.execute(
            "UPDATE alert_outbox SET status = 'sent', sent_at = ?, sending_at = NULL, "
            "last_error = ? WHERE id = ?",
            (now, note, message_id),
        )

    def mark_retry(self, message_id: int, next_attempt_at: float, error: str) -> None:
        """Keep the message pending until next_attempt_at, with the error that delayed it."""
        self._db.execute(
            "UPDATE alert_outbox SET next_attempt_at = ?, sending_at = NULL, last_error = ? "
            "WHERE id = ?",
            (next_attempt_at, error, message_id),
        )

    def mark_failed(self, message_id: int, error: str) -> None:
        """Give the message up for good, with the error that ended it."""
        self._db.execute(
            "UPDATE alert_outbox SET status = 'failed', sending_at = NULL, last_error = ? "
            "WHERE id = ?",
            (error, message_id),
        )

    def prune_sent(self, before: float) -> int:
        """Forget delivered and failed messages older than ``before``."""
        with self.transaction():
            cursor = self._db.execute(
                "DELETE FROM alert_outbox WHERE status != 'pending' AND created_at < ?",
                (before,),
            )
        return cursor.rowcount

    def counts(self) -> dict[str, int]:
        """The number of messages per status; pending, sent and failed are always present."""
        out = {"pending": 0, "sent": 0, "failed": 0}
        for status, count in self._db.execute(
            "SELECT status, count(*) FROM alert_outbox GROUP BY status"
        ):
            out[status] = count
        return out


# --- delivery ---------------------------------------------------------------------------

#: The ``state`` label of ``ccmon_alert_outbox_messages``. ``unrecorded``: the outcome is
#: known (the SMTP server accepted the message, or refused it for good) but the store could
#: not record it yet; it is kept in memory and written as soon as the store takes writes.
OUTBOX_STATES: tuple[str, ...] = ("pending", "sent", "failed", "unrecorded")
BATCH = 50  # messages per SMTP connection
LOG_EVERY = 60.0  # while delivery stays paused, at most one log line per this many seconds


@dataclass(frozen=True, slots=True)
class _Outcome:
    """A delivery outcome the store has not recorded yet."""

    outcome: str  # "sent" | "failed"
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
            if kept.outcome == "sent":
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
            if result.outcome == "sent":  # in memory first: never sent again in this process
                self.unrecorded[message.id] = _Outcome("sent", finished, result.detail)
                self.sent += 1
                sent += 1
                log.info("alerts: sent %r (%s)", message.subject, message.message_id)
                if result.detail:
                    log.warning("alerts: %s", result.detail)
                continue
            reason = result.reason if result.reason in self.failures else "connect"
            self.failures[reason] += 1
            if result.outcome == "failed":
                self.unrecorded[message.id] = _Outcome("failed", finished, result.detail)
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
            kept = sum(1 for o in self.unrecorded.values() if o.outcome == "sent")
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
        counts["pending"] = max(0, counts["pending"] - len(self.unrecorded))
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
