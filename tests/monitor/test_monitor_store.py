"""SQLite store: restart, totals, history, serial propagation, pruning, schema."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from monitor.snapshot import ZoneTotals
from monitor.store import MIGRATIONS, Store, StoreError
from tests.monitor import ccmon_fixtures as fx


def test_survives_restart(tmp_path: Path) -> None:
    path = str(tmp_path / "sub" / "ccmon.sqlite")
    store = Store(path, retention=86400)
    totals = ZoneTotals().add_report(fx.mx_report())
    store.save_sweep(fx.mx_report(), totals)
    store.save_sweep(fx.idn_report(), ZoneTotals().add_report(fx.idn_report()))
    store.close()
    store = Store(path, retention=86400)
    latest = store.latest_reports()
    assert set(latest) == {"mx", "xn--fiqs8s"}
    assert latest["mx"] == fx.mx_report()
    assert store.totals()["mx"] == totals
    assert store.integrity_check() == "ok"
    assert store.schema_version == len(MIGRATIONS)
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    store.close()


def test_history_and_availability(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "s.db"), retention=3600)
    for i in range(3):
        history = store.save_sweep(fx.mx_report(fx.T0 + 60 * i), ZoneTotals())
    assert history.sweeps == 3 and history.availability == 1.0
    history = store.save_sweep(fx.idn_report(fx.T0), ZoneTotals())
    assert history.availability == 0.0
    assert store.sweep_starts("mx") == [fx.T0 + 120, fx.T0 + 60, fx.T0]
    (run,) = store.runs("mx")  # three alike sweeps: one run, not three copies
    assert (run.first_at, run.last_at, run.sweeps) == (fx.T0, fx.T0 + 120, 3)
    assert run.findings[0][:2] == ("LAME01", "ERROR")
    assert run.available and run.nameservers == 3


def test_serial_propagation(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "s.db"), retention=86400)
    t = fx.T0
    h = store.save_sweep(
        fx.report("ke", fx.ok("a.", "1.1.1.1", 7) + fx.ok("b.", "1.1.1.2", 7), started_at=t),
        ZoneTotals(),
    )
    assert h.propagation is None  # the first serial ever seen is a baseline
    # serial 8 shows up on one server, then on both one sweep later
    h = store.save_sweep(
        fx.report("ke", fx.ok("a.", "1.1.1.1", 8) + fx.ok("b.", "1.1.1.2", 7), started_at=t + 60),
        ZoneTotals(),
    )
    assert h.serial_first_seen == t + 60 and h.propagation is None
    h = store.save_sweep(
        fx.report("ke", fx.ok("a.", "1.1.1.1", 8) + fx.ok("b.", "1.1.1.2", 8), started_at=t + 120),
        ZoneTotals(),
    )
    assert h.propagation == 60.0


def test_prune(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "s.db"), retention=3600)
    store.save_sweep(fx.mx_report(fx.T0), ZoneTotals())
    store.save_sweep(fx.mx_report(fx.T0 + 7200), ZoneTotals())
    store.save_sweep(fx.ec_report(fx.T0), ZoneTotals())
    removed = store.prune(now=fx.T0 + 7300)
    assert removed >= 3  # two old sweeps and ec's stale latest report
    assert store.sweep_starts("mx") == [fx.T0 + 7200]
    assert set(store.latest_reports()) == {"mx"}
    assert store.table_counts()["zone_serials"] == 1  # the current serial is kept
    assert Store(":memory:", retention=0).prune() == 0


def test_newer_schema_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    db.close()
    with pytest.raises(StoreError, match="newer"):
        Store(str(path), retention=60)


def test_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError):
        Store(str(path), retention=60)


def test_bad_rows_are_dropped(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "s.db"), retention=60)
    store._db.execute("INSERT INTO latest VALUES ('zz', 1, '{bad json')")
    store._db.execute("INSERT INTO totals VALUES ('zz', '[]')")
    assert store.latest_reports() == {}
    assert store.totals() == {}
