"""Alert state and the mail outbox, persisted in the store's SQLite file.

The tables live in the same file as :mod:`monitor.store` (``store.path``) but belong to
the alerter: its own connection and its own ``alert_*`` tables, created and versioned
with the rest of the file by :mod:`monitor.schema`. WAL mode lets the store and the
alerter write the file from separate connections.

Everything a restart needs is here, written in one transaction per sweep:

- ``alert_problems``: one row per problem being counted (pending: failing, not yet open;
  open: mailed, counting good sweeps towards closing), with its hold-down counters;
- ``alert_zones``: per zone, the last sweep processed (a report seen twice is ignored),
  when the last mail was queued (rate limit) and the events waiting for the next mail;
- ``alert_outbox``: every message as the exact bytes to send, with its state (``pending``,
  ``sent``, ``failed``), tries, next try and last error.

States are stored as the values of their enums (:class:`~monitor.alerts.model.Phase`,
:class:`MessageStatus`). Delivery is the courier's (:mod:`monitor.alerts.courier`).
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from monitor import schema
from monitor.alerts.model import Phase, ProblemKey, ProblemState, ZoneState
from monitor.errors import MonitorError
from monitor.schema import SchemaError

if TYPE_CHECKING:  # pragma: no cover
    from monitor.store import StoreHealth


class OutboxError(MonitorError):
    """The alert state cannot be read or written."""


class OutboxWriteError(OutboxError):
    """A write to the alert tables failed and was rolled back (disk full, read-only, locked)."""


class MessageStatus(StrEnum):
    """Where an outbox message is; its value is what ``alert_outbox.status`` holds."""

    PENDING = "pending"  # queued, or waiting for its next try
    SENT = "sent"  # the SMTP server accepted it
    FAILED = "failed"  # given up: refused for good, or expired


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
    status: MessageStatus
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
            schema.migrate(self._db, path)  # the file's one schema (the store's tables too)
        except sqlite3.DatabaseError as exc:
            raise OutboxError(f"cannot use alert state in {path!r}: {exc}") from exc
        except SchemaError as exc:
            raise OutboxError(f"alert state in {exc}") from exc
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
            state.state = Phase(state.state)  # stored as its value
            out[state.key] = state
        return out

    def save_problem(self, problem: ProblemState) -> None:
        """Insert or replace one problem's row."""
        values = (
            problem.zone, problem.check, problem.nameserver, problem.address, problem.reason,
            str(problem.state), problem.severity, problem.tag, problem.message, problem.failing,
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
            OutboxMessage(
                i, z, mid, s, tuple(json.loads(r)), bytes(raw), c, MessageStatus(st), a, n, e,
                sa, sg,
            )
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

    def messages(self, status: MessageStatus | str | None = None) -> list[OutboxMessage]:
        """The messages with this status (pending, sent, failed), or all; oldest first."""
        if status is None:
            return self._messages("ORDER BY id", ())
        return self._messages("WHERE status = ? ORDER BY id", (str(MessageStatus(status)),))

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
        out = {str(status): 0 for status in MessageStatus}
        for status, count in self._db.execute(
            "SELECT status, count(*) FROM alert_outbox GROUP BY status"
        ):
            out[status] = count
        return out
