"""One schema for the whole SQLite file: a file written by the previous ccmon (store tables
at PRAGMA user_version 5, alert tables versioned apart in alert_meta) opens, keeps every
row and ends under the one version, whichever of the store and the alerter opens it first.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from monitor.alerts import AlertDB, OutboxError
from monitor.schema import MIGRATIONS, SCHEMA_VERSION
from monitor.store import Store, StoreError

# The alert tables exactly as monitor/outbox.py created them before the one schema
# (alert_meta schema_version 2; version 1 had no alert_outbox.sending_at).
OLD_ALERT_SCHEMA = """
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
    sent_at REAL{sending_at}
);
CREATE INDEX IF NOT EXISTS alert_outbox_due ON alert_outbox (status, next_attempt_at);
"""
T0 = 1_790_000_000.0


def build_old_file(path: Path, alert_version: int | None) -> None:
    """A file as the previous ccmon left it: the store's steps 1-5 at user_version 5, then
    the alerter's tables at `alert_version` (None: the alerter never ran), with rows."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    for version, step in enumerate(MIGRATIONS[:5], start=1):
        db.execute("BEGIN")
        if isinstance(step, str):
            for statement in step.split(";"):
                db.execute(statement)
        else:
            step(db)
        db.execute(f"PRAGMA user_version = {version}")
        db.execute("COMMIT")
    db.execute("INSERT INTO zone_serials VALUES ('fr', 2026113001, ?, ?, 0)", (T0, T0 + 60))
    db.execute("INSERT INTO totals VALUES ('fr', '{\"sweeps\": 7}')")
    if alert_version is not None:
        sending_at = ",\n    sending_at REAL" if alert_version >= 2 else ""
        db.executescript(OLD_ALERT_SCHEMA.format(sending_at=sending_at))
        db.execute("INSERT INTO alert_meta VALUES ('schema_version', ?)", (str(alert_version),))
        db.execute(
            "INSERT INTO alert_problems VALUES ('fr', 'LAME01', 'ns1.fr.', '192.0.2.1', "
            "'refused', 'open', 4, 'LAME', 'lame', 3, 0, ?, ?, ?, 4)", (T0, T0 + 120, T0 + 120))
        db.execute("INSERT INTO alert_zones VALUES ('fr', ?, ?, '[]')", (T0 + 120, T0 + 120))
        db.execute(
            "INSERT INTO alert_outbox (zone, message_id, subject, recipients, raw, created_at,"
            " status, next_attempt_at) VALUES ('fr', '<m1@ccmon>', '[ccmon] fr: LAME01', "
            "'[\"noc@example.net\"]', x'41', ?, 'pending', ?)", (T0 + 120, T0 + 120))
    db.close()


def open_store(path: Path) -> Store:
    return Store(str(path), retention=400 * 86400.0)


def open_alerts(path: Path) -> AlertDB:
    return AlertDB(str(path))


def user_version(path: Path) -> int:
    db = sqlite3.connect(path)
    try:
        return int(db.execute("PRAGMA user_version").fetchone()[0])
    finally:
        db.close()


def tables(path: Path) -> set[str]:
    db = sqlite3.connect(path)
    try:
        return {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    finally:
        db.close()


Opener = Callable[[Path], Store | AlertDB]


@pytest.mark.parametrize("alert_version", [2, 1])
@pytest.mark.parametrize("first", [open_store, open_alerts], ids=["store-first", "alerts-first"])
def test_an_old_file_opens_keeps_its_rows_and_ends_under_one_version(
    tmp_path: Path, alert_version: int, first: Opener
) -> None:
    path = tmp_path / "ccmon.sqlite"
    build_old_file(path, alert_version)
    assert user_version(path) == 5 and "alert_meta" in tables(path)

    one = first(path)
    assert user_version(path) == SCHEMA_VERSION == len(MIGRATIONS) == 6
    assert "alert_meta" not in tables(path)  # the alert tables' own version is gone
    store, alerts = open_store(path), open_alerts(path)  # both sides, the first still open
    assert store.schema_version == SCHEMA_VERSION

    counts = store.table_counts()
    assert counts["zone_serials"] == 1 and counts["alert_outbox"] == 1
    assert counts["alert_problems"] == 1
    (problem,) = alerts.problems("fr").values()
    assert (problem.check, problem.state, problem.failing) == ("LAME01", "open", 3)
    (message,) = alerts.pending()
    assert message.message_id == "<m1@ccmon>" and message.raw == b"A"
    # version 1's outbox got its column: a send can be marked (and is, in the same file)
    with alerts.transaction():
        alerts.mark_sending(message.id, T0 + 180, T0 + 210)
    assert alerts.messages("pending")[0].sending_at == T0 + 180
    for db in (one, store, alerts):
        db.close()
    assert user_version(path) == 6  # opening again changes nothing
    open_alerts(path).close()
    assert user_version(path) == 6


def test_a_store_whose_alerter_never_ran_gets_the_alert_tables(tmp_path: Path) -> None:
    path = tmp_path / "ccmon.sqlite"
    build_old_file(path, None)
    open_store(path).close()
    assert user_version(path) == 6
    assert {"alert_problems", "alert_zones", "alert_outbox", "zone_serials"} <= tables(path)


def test_a_new_file_is_made_whole_by_whichever_opens_it(tmp_path: Path) -> None:
    for name, opener in (("a.sqlite", open_alerts), ("b.sqlite", open_store)):
        opener(tmp_path / name).close()
    assert tables(tmp_path / "a.sqlite") == tables(tmp_path / "b.sqlite")
    assert user_version(tmp_path / "a.sqlite") == user_version(tmp_path / "b.sqlite") == 6


@pytest.mark.parametrize("opener", [open_store, open_alerts], ids=["store", "alerts"])
def test_alert_tables_from_a_newer_ccmon_are_refused_untouched(
    tmp_path: Path, opener: Opener
) -> None:
    path = tmp_path / "ccmon.sqlite"
    build_old_file(path, 3)
    with pytest.raises((StoreError, OutboxError), match="schema version 3, newer"):
        opener(path)
    assert user_version(path) == 5 and "alert_meta" in tables(path)  # rolled back whole


@pytest.mark.parametrize("opener", [open_store, open_alerts], ids=["store", "alerts"])
def test_a_file_from_a_newer_ccmon_is_refused(tmp_path: Path, opener: Opener) -> None:
    path = tmp_path / "ccmon.sqlite"
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version = 7")
    db.close()
    with pytest.raises((StoreError, OutboxError), match="schema version 7, newer than this "
                                                        "ccmon knows \\(6\\)"):
        opener(path)


DUMP = Path(__file__).parent / "data" / "store_v5_alerts_v2.sql"


def test_a_file_written_by_the_previous_code_runs_on(tmp_path: Path) -> None:
    """The dump was written by commit f9bd613's own Store and Alerter: the service's two
    connections open it in the service's order, the history and the open problem go on."""
    from monitor.alerts import Alerter
    from tests.alerts.helpers import T0, Clock, lame, make_config, report

    path = tmp_path / "ccmon.sqlite"
    db = sqlite3.connect(path)
    db.executescript(DUMP.read_text(encoding="utf-8"))
    db.close()
    assert user_version(path) == 5 and "alert_meta" in tables(path)

    store = open_store(path)
    alerter = Alerter(make_config(path), clock=Clock(T0 + 180))
    assert user_version(path) == 6 and "alert_meta" not in tables(path)
    assert list(store.latest_reports()) == ["fr"]
    assert sum(run.sweeps for run in store.runs("fr")) == 3  # the three sweeps, kept
    (problem,) = alerter.open_problems("fr")
    assert (problem.check, problem.nameserver, problem.failing) == ("LAME01", "ns2.nic.fr.", 3)
    assert alerter.outbox_counts()["pending"] == 1
    # the hold-down goes on from the stored counters: a 4th failing sweep mails nothing new
    assert alerter.process(report(T0 + 180, lame()), now=T0 + 180) == 0
    assert alerter.open_problems("fr")[0].failing == 4
    alerter.close()
    store.close()
