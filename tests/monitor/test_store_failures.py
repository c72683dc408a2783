"""Store write failures (issue 17): raised whole, counted, logged once a minute, shown.

"Database or disk is full" is SQLite's own: ``PRAGMA max_page_count`` caps the file at its
current size, the way a full disk does (root and a tmpfs: tests/alerts/test_full_disk.py).
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from prometheus_client import generate_latest

from monitor.metrics import Exporter
from monitor.snapshot import (
    MonitorState,
    OutboxStatus,
    Snapshot,
    StoreStatus,
    ZoneHistory,
    ZoneTotals,
)
from monitor.store import Store, StoreHealth, StoreWriteError
from tests.monitor import ccmon_fixtures as fx

FULL = "database or disk is full"


def cap(store: Store, pages: int | None = None) -> None:
    """Let the file grow by no page (``pages`` None) or up to ``pages`` pages."""
    db = store._db  # the test reaches into the store's own connection: the cap is per connection
    current = db.execute("PRAGMA page_count").fetchone()[0]
    db.execute(f"PRAGMA max_page_count = {pages or current}")


def fill_until_full(store: Store) -> tuple[StoreWriteError, int]:
    """Record sweeps until the capped file refuses one; returns it and the sweeps kept."""
    first = fx.mx_report(fx.T0)  # one sweep stored before the cap, whatever a report's size
    store.record_sweep(first, ZoneTotals().add_report(first))
    cap(store)
    # bounded; alike sweeps only extend one run row, so the sweeps are an hour apart: each
    # adds hourly rollup rows (four series) and a page fills within a few sweeps
    for i in range(1, 500):
        report = fx.mx_report(fx.T0 + 3600 * i)
        try:
            store.record_sweep(report, ZoneTotals().add_report(report))
        except StoreWriteError as exc:
            return exc, len(store.sweep_starts("mx"))
    raise AssertionError("the capped store never refused a write")


def test_a_full_store_refuses_whole_and_recovers_without_reopening(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "s.db"), retention=0)
    changes: list[StoreStatus] = []
    store.health.on_change = changes.append
    exc, kept = fill_until_full(store)
    assert str(exc) == f"store not writable: {FULL}" and exc.cause == FULL
    assert exc.report is not None and exc.report.zone == "mx"  # still publishable
    failed_at = exc.report.started_at
    assert failed_at not in store.sweep_starts("mx")  # nothing half-written
    assert store.latest_reports()["mx"].started_at < failed_at
    status = store.health.status
    assert (status.error, status.persisting, status.write_errors) == (FULL, False, 1)
    assert changes[-1] == status
    with pytest.raises(StoreWriteError):  # still full: refused again, counted again
        store.record_sweep(fx.mx_report(failed_at + 60), ZoneTotals())
    assert store.health.status.write_errors == 2
    cap(store, 100_000)  # space returns: the same connection writes again
    report = fx.mx_report(failed_at)
    stored, _history = store.record_sweep(report, ZoneTotals().add_report(report))
    assert stored.started_at == failed_at
    assert len(store.sweep_starts("mx")) == kept + 1
    status = store.health.status
    assert (status.error, status.persisting, status.write_errors) == ("", True, 2)
    assert store.integrity_check() == "ok"


def test_one_log_line_a_minute_and_one_for_the_recovery(caplog: pytest.LogCaptureFixture) -> None:
    now = [1000.0]
    health = StoreHealth("s.db", clock=lambda: now[0])
    caplog.set_level(logging.INFO, logger="monitor.store")
    for second in range(60):  # one failure a second for 60 s: one line
        now[0] = 1000.0 + second
        health.failed(FULL)
    assert len(caplog.records) == 1
    now[0] = 1059.99
    health.failed(FULL)
    assert len(caplog.records) == 1  # just inside the minute
    now[0] = 1060.0
    health.failed(FULL)
    assert len(caplog.records) == 2  # a minute after the first line: the next one
    assert "62 write" not in caplog.records[1].message  # counts since the last line
    assert "(61 failed write(s) since the last such line" in caplog.records[1].message
    assert all(r.levelno == logging.ERROR and not r.exc_info for r in caplog.records)
    now[0] = 1070.0
    health.succeeded()
    health.succeeded()
    assert len(caplog.records) == 3 and "writable again after 70 s" in caplog.records[2].message
    assert health.status == StoreStatus(62, "", None)


def test_a_failure_of_the_alert_tables_counts_but_does_not_decide_persisting() -> None:
    health = StoreHealth("s.db")
    health.count_failure()
    assert health.status == StoreStatus(1, "", None)  # counted, the results are stored
    health.failed(FULL)
    health.count_failure()  # a small alert write cannot clear (or set) the sweep's state
    assert (health.status.write_errors, health.status.error) == (3, FULL)


def test_healthz_names_the_cause_and_only_while_writes_fail() -> None:
    now = fx.T0 + 10
    fresh = {"mx": fx.mx_report(fx.T0)}
    failing = Snapshot(zones=("mx",), reports=fresh, interval=60, started_at=fx.T0,
                       store=StoreStatus(3, FULL, fx.T0))  # fmt: skip
    assert failing.health(now) == (False, f"store not writable: {FULL} (results not stored)")
    recovered = Snapshot(zones=("mx",), reports=fresh, interval=60, started_at=fx.T0,
                         store=StoreStatus(3, "", None))  # fmt: skip
    assert recovered.health(now)[0] is True


def test_self_metrics_show_the_store_and_the_outbox() -> None:
    state = MonitorState(Snapshot(zones=("mx",)))
    state.publish(fx.mx_report(), ZoneTotals().add_report(fx.mx_report()), ZoneHistory())
    state.publish_store(StoreStatus(7, FULL, fx.T0))
    state.publish_outbox(OutboxStatus({"pending": 2, "sent": 5, "failed": 0, "unrecorded": 1},
                                      sent=6, failures={"connect": 3, "expired": 1}))  # fmt: skip
    exporter = Exporter(state, build_version="test")
    text = exporter.text().decode()
    for line in (
        "ccmon_store_persisting 0.0",
        "ccmon_store_write_errors_total 7.0",
        'ccmon_alert_outbox_messages{state="pending"} 2.0',
        'ccmon_alert_outbox_messages{state="unrecorded"} 1.0',
        "ccmon_alert_emails_sent_total 6.0",
        'ccmon_alert_email_failures_total{reason="connect"} 3.0',
        'ccmon_alert_email_failures_total{reason="expired"} 1.0',
        'ccmon_alert_email_failures_total{reason="auth"} 0.0',  # pre-created at 0
    ):
        assert line + "\n" in text, line
    assert exporter.collector.text().encode() == generate_latest(exporter.registry).split(
        b"# HELP process_"
    )[0]
    state.publish_store(StoreStatus(7, "", None))
    assert "ccmon_store_persisting 1.0\n" in exporter.text().decode()
