"""One schema for the whole SQLite file (``store.path``), versioned in ``PRAGMA user_version``.

The store (:mod:`monitor.store`) and the alerter (:mod:`monitor.alerts.outbox`) keep their tables
in the same file, each with its own connection (WAL lets both write). Whichever opens the
file first brings all of it to :data:`SCHEMA_VERSION` with :func:`migrate`; the other then
finds it current. Each step runs in one ``BEGIN IMMEDIATE`` transaction with its version
bump, and re-reads the version inside it, so two connections never run a step twice.

Until version 6 the alert tables had a version of their own (``alert_meta``
``schema_version``, 1 or 2); step 6 takes them over as they are, adds what version 1
lacked and drops ``alert_meta``. A file from a newer ccmon is refused, not touched.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Iterator

from monitor.errors import MonitorError
from monitor.history import MIGRATION as HISTORY_MIGRATION
from monitor.history.runs import migrate_sweeps

log = logging.getLogger(__name__)


class SchemaError(MonitorError):
    """The file's schema is not one this ccmon can use (written by a newer ccmon)."""


#: The alerter's tables (monitor/alerts/outbox.py): problems being counted, per-zone mail state,
#: the outbox with every message's exact bytes.
ALERT_TABLES = (
    """CREATE TABLE IF NOT EXISTS alert_problems (
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
    )""",
    """CREATE TABLE IF NOT EXISTS alert_zones (
        zone TEXT PRIMARY KEY,
        last_report_at REAL,
        last_mail_at REAL,
        digest TEXT NOT NULL DEFAULT '[]'
    )""",
    """CREATE TABLE IF NOT EXISTS alert_outbox (
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
    )""",
    "CREATE INDEX IF NOT EXISTS alert_outbox_due ON alert_outbox (status, next_attempt_at)",
)
#: The last version of the alert tables' own scheme (alert_meta) that step 6 takes over.
LAST_ALERT_META_VERSION = 2


def _has_table(db: sqlite3.Connection, name: str) -> bool:
    row = db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                     (name,)).fetchone()
    return row is not None


def _alert_tables(db: sqlite3.Connection) -> None:
    """Step 6: the alert tables join the one schema, from alert_meta version 0 to 2."""
    old = 0
    if _has_table(db, "alert_meta"):
        row = db.execute("SELECT value FROM alert_meta WHERE key = 'schema_version'").fetchone()
        old = int(row[0]) if row is not None else 0
    if old > LAST_ALERT_META_VERSION:
        raise SchemaError(f"alert tables have schema version {old}, newer than this ccmon "
                          f"knows ({LAST_ALERT_META_VERSION})")
    if _has_table(db, "alert_outbox"):
        columns = {r[1] for r in db.execute("PRAGMA table_info(alert_outbox)")}
        if "sending_at" not in columns:  # alert_meta version 1
            db.execute("ALTER TABLE alert_outbox ADD COLUMN sending_at REAL")
    for statement in ALERT_TABLES:
        db.execute(statement)
    db.execute("DROP TABLE IF EXISTS alert_meta")


#: A schema step: an SQL script, or a function that converts rows (run on the connection
#: inside the migration's transaction).
Migration = str | Callable[[sqlite3.Connection], None]

MIGRATIONS: tuple[Migration, ...] = (
    # 1: reports, sweep history, serial propagation, counters.
    """
    CREATE TABLE latest (
        zone TEXT PRIMARY KEY,
        finished_at REAL NOT NULL,
        report TEXT NOT NULL
    );
    CREATE TABLE sweeps (
        zone TEXT NOT NULL,
        started_at REAL NOT NULL,
        duration REAL NOT NULL,
        severity INTEGER NOT NULL,
        available INTEGER NOT NULL,
        nameservers_up INTEGER NOT NULL,
        nameservers INTEGER NOT NULL,
        findings TEXT NOT NULL,
        PRIMARY KEY (zone, started_at)
    );
    CREATE INDEX sweeps_by_time ON sweeps (started_at);
    CREATE TABLE zone_serials (
        zone TEXT NOT NULL,
        serial INTEGER NOT NULL,
        first_seen REAL NOT NULL,
        complete_at REAL,
        baseline INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (zone, serial)
    );
    CREATE TABLE totals (
        zone TEXT PRIMARY KEY,
        data TEXT NOT NULL
    );
    """,
    # 2: per-server serials (SOA03) and parent/child NS drift (DELEG05).
    """
    CREATE TABLE server_serials (
        zone TEXT NOT NULL,
        nameserver TEXT NOT NULL,
        address TEXT NOT NULL,
        serial INTEGER NOT NULL,
        since REAL NOT NULL,
        PRIMARY KEY (zone, nameserver, address)
    );
    CREATE TABLE delegation_drift (
        zone TEXT PRIMARY KEY,
        parent_set TEXT NOT NULL,
        child_set TEXT NOT NULL,
        first_seen REAL NOT NULL
    );
    """,
    # 3: per-zone and per-address hourly/daily SLA rollups (monitor/history).
    HISTORY_MIGRATION,
    # 4: since when the parent's delegation differs from the pinned one (DELEG06).
    """
    CREATE TABLE pinned_difference (
        zone TEXT PRIMARY KEY,
        first_seen REAL NOT NULL
    );
    """,
    # 5: the one-row-per-sweep `sweeps` table becomes runs (changes, not copies).
    migrate_sweeps,
    # 6: the alerter's tables (monitor/alerts/outbox.py) join the file's one schema.
    _alert_tables,
)

SCHEMA_VERSION = len(MIGRATIONS)


def version(db: sqlite3.Connection) -> int:
    """The schema version stored in the file (PRAGMA user_version; 0: a new file)."""
    return int(db.execute("PRAGMA user_version").fetchone()[0])


def _statements(script: str) -> Iterator[str]:
    """The statements of an SQL script, one at a time (a CREATE TRIGGER's body whole)."""
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            yield pending.strip()
            pending = ""
    if pending.strip():
        yield pending.strip()


def _apply(db: sqlite3.Connection, path: str, target: int, step: Migration) -> bool:
    """Run one step and bump the version, in one transaction; False if already done."""
    db.execute("BEGIN IMMEDIATE")
    try:
        if version(db) >= target:  # another connection to the file got there first
            db.execute("COMMIT")
            return False
        if isinstance(step, str):
            for statement in _statements(step):
                db.execute(statement)
        else:
            what = (step.__doc__ or "").strip().split("\n")[0]
            log.info("%s: migrating to schema version %d: %s (rows are converted: up to 1-2 "
                     "minutes per month of 309 zones)", path, target, what)
            step(db)
        db.execute(f"PRAGMA user_version = {target}")
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    return True


def migrate(db: sqlite3.Connection, path: str) -> None:
    """Bring the file to :data:`SCHEMA_VERSION`, step by step; SchemaError when it is newer.

    `db` is in autocommit mode (``isolation_level=None``), as both users open it."""
    current = version(db)
    if current > SCHEMA_VERSION:
        raise SchemaError(f"{path!r} has schema version {current}, newer than this ccmon "
                          f"knows ({SCHEMA_VERSION})")
    for target, step in enumerate(MIGRATIONS[current:], start=current + 1):
        if _apply(db, path, target, step):
            log.info("%s migrated to schema version %d", path, target)
