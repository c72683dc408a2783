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
  ``sent``, ``failed``), tries, next try and last error. A message is marked sent right
  after the SMTP server accepted it; a crash between the two can repeat that one
  message, with the same Message-ID, so mail clients can tell.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

SCHEMA_VERSION = 1

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
    sent_at REAL
);
CREATE INDEX IF NOT EXISTS alert_outbox_due ON alert_outbox (status, next_attempt_at);
"""

ProblemKey = tuple[str, str, str, str, str]  # zone, check, nameserver, address, reason


class OutboxError(Exception):
    """The alert state cannot be read or written."""


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
        return (self.zone, self.check, self.nameserver, self.address, self.reason)


@dataclass(slots=True)
class ZoneState:
    zone: str
    last_report_at: float | None = None
    last_mail_at: float | None = None
    digest: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class OutboxMessage:
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


_PROBLEM_COLUMNS = (
    "zone, check_id, nameserver, address, reason, state, severity, tag, message, failing, "
    "good, first_seen, last_seen, opened_at, notified_severity"
)
_OUTBOX_COLUMNS = (
    "id, zone, message_id, subject, recipients, raw, created_at, status, attempts, "
    "next_attempt_at, last_error, sent_at"
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
        except sqlite3.DatabaseError as exc:
            raise OutboxError(f"cannot use alert state in {path!r}: {exc}") from exc
        self._in_transaction = False

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All writes inside are committed together, or none is."""
        if self._in_transaction:
            yield
            return
        self._db.execute("BEGIN IMMEDIATE")
        self._in_transaction = True
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        finally:
            self._in_transaction = False
        self._db.execute("COMMIT")

    def close(self) -> None:
        self._db.close()

    # --- problems ---------------------------------------------------------------------

    def problems(self, zone: str | None = None) -> dict[ProblemKey, ProblemState]:
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
        row = self._db.execute(
            "SELECT last_report_at, last_mail_at, digest FROM alert_zones WHERE zone = ?",
            (zone,),
        ).fetchone()
        if row is None:
            return ZoneState(zone)
        return ZoneState(zone, row[0], row[1], json.loads(row[2]))

    def save_zone_state(self, state: ZoneState) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO alert_zones (zone, last_report_at, last_mail_at, digest) "
            "VALUES (?, ?, ?, ?)",
            (state.zone, state.last_report_at, state.last_mail_at, json.dumps(state.digest)),
        )

    def zones_with_digest(self) -> list[ZoneState]:
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
        cursor = self._db.execute(
            "INSERT INTO alert_outbox (zone, message_id, subject, recipients, raw, created_at, "
            "status, next_attempt_at) VALUES (?, ?, ?, ?, ?, ?, 'pending', ?)",
            (zone, message_id, subject, json.dumps(list(recipients)), raw, created_at, created_at),
        )
        return int(cursor.lastrowid or 0)

    def _messages(self, where: str, params: tuple[Any, ...]) -> list[OutboxMessage]:
        rows = self._db.execute(f"SELECT {_OUTBOX_COLUMNS} FROM alert_outbox {where}", params)
        return [
            OutboxMessage(i, z, mid, s, tuple(json.loads(r)), bytes(raw), c, st, a, n, e, sa)
            for i, z, mid, s, r, raw, c, st, a, n, e, sa in rows
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
        if status is None:
            return self._messages("ORDER BY id", ())
        return self._messages("WHERE status = ? ORDER BY id", (status,))

    def next_due(self) -> float | None:
        row = self._db.execute(
            "SELECT min(next_attempt_at) FROM alert_outbox WHERE status = 'pending'"
        ).fetchone()
        return None if row[0] is None else float(row[0])

    def mark_sent(self, message_id: int, now: float, note: str = "") -> None:
        self._db.execute(
            "UPDATE alert_outbox SET status = 'sent', sent_at = ?, attempts = attempts + 1, "
            "last_error = ? WHERE id = ?",
            (now, note, message_id),
        )

    def mark_retry(self, message_id: int, next_attempt_at: float, error: str) -> None:
        self._db.execute(
            "UPDATE alert_outbox SET attempts = attempts + 1, next_attempt_at = ?, "
            "last_error = ? WHERE id = ?",
            (next_attempt_at, error, message_id),
        )

    def mark_failed(self, message_id: int, error: str) -> None:
        self._db.execute(
            "UPDATE alert_outbox SET status = 'failed', attempts = attempts + 1, "
            "last_error = ? WHERE id = ?",
            (error, message_id),
        )

    def prune_sent(self, before: float) -> int:
        """Forget delivered and failed messages older than ``before``."""
        cursor = self._db.execute(
            "DELETE FROM alert_outbox WHERE status != 'pending' AND created_at < ?", (before,)
        )
        return cursor.rowcount

    def counts(self) -> dict[str, int]:
        out = {"pending": 0, "sent": 0, "failed": 0}
        for status, count in self._db.execute(
            "SELECT status, count(*) FROM alert_outbox GROUP BY status"
        ):
            out[status] = count
        return out
