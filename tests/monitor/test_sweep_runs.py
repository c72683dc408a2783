"""The per-sweep history as runs (monitor.history.runs): lossless against one row per sweep.

Every reader of the history (the zone page's periods and "open since", the stored
availability) is a function of each stored sweep's start and summary, and of the duration
of a run's newest sweep. The tests record a seeded sequence of sweeps (summary changes,
jittered starts, unknown sweeps, a clock set back, more sweeps than one run row holds)
and check that the runs give back exactly that per-sweep list, the window counts the old
``SELECT count(*) ... FROM sweeps`` gave, and the same after pruning and after migrating a
store that still has the old table.
"""

from __future__ import annotations

import json
import random
import sqlite3
from pathlib import Path

import pytest

from monitor.history.runs import (
    RUN_MAX_SWEEPS,
    SweepSummary,
    decode_starts,
    encode_starts,
    prune_runs,
    read_runs,
    record_run,
    window_counts,
)
from monitor.snapshot import ZoneTotals
from monitor.store import MIGRATIONS, Store
from tests.monitor import ccmon_fixtures as fx

T0 = 1_790_000_000.0
FINDINGS = (
    "[]",
    json.dumps([["LAME01", "ERROR", "LAME", "ns3.mx.", "127.53.1.3", "refused"]]),
    json.dumps([["SOA02", "WARNING", "SERIAL_BEHIND", "ns2.mx.", "127.53.1.2", "behind"]]),
)


def sequence(n: int = 1500, seed: int = 17) -> list[SweepSummary]:
    """Sweeps of one zone: mostly alike, sometimes changing, jittered, one clock step back."""
    rng = random.Random(seed)
    out, t, key = [], T0, (0, True, 3, 3, "[]")
    for i in range(n):
        t += 60 + rng.uniform(-2.5, 2.5)
        if i == 700:
            t -= 300  # the clock set back by 5 min
        if rng.random() < 0.04:
            fid = rng.choice(FINDINGS)
            key = (2 if fid != "[]" else 0, rng.random() < 0.9, rng.randint(1, 3), 3, fid)
        out.append(SweepSummary("mx", t, rng.uniform(0.1, 3.0), *key))
    return out


def tables() -> sqlite3.Connection:
    db = sqlite3.connect(":memory:", isolation_level=None)
    store = Store(":memory:", retention=0)  # the schema as migrations make it
    for (sql,) in store._db.execute(
        "SELECT sql FROM sqlite_master WHERE name IN ('finding_sets', 'sweep_runs', "
        "'sweep_runs_by_end')"
    ):
        db.execute(sql)
    store.close()
    return db


def expanded(db: sqlite3.Connection, since: float) -> list[tuple[object, ...]]:
    """(start, summary) of every stored sweep since `since`, oldest first."""
    rows = []
    for run in reversed(read_runs(db, "mx", since)):
        fj = json.dumps([list(f) for f in run.findings])
        key = (int(run.severity), run.available, run.nameservers_up, run.nameservers, fj)
        rows += [(s, key) for s in run.starts]
        assert run.sweeps == len(run.starts) and run.first_at == run.starts[0]
    return sorted(rows, key=lambda r: r[0])


def reference(sweeps: list[SweepSummary], since: float) -> list[tuple[object, ...]]:
    return sorted(
        ((s.started_at, (s.severity, s.available, s.nameservers_up, s.nameservers,
                                   json.dumps(json.loads(s.findings))))
         for s in sweeps if s.started_at >= since),
        key=lambda r: r[0],
    )  # fmt: skip


def same(got: list[tuple[object, ...]], want: list[tuple[object, ...]]) -> bool:
    """The same sweeps and summaries; starts within half a millisecond (the resolution)."""
    return len(got) == len(want) and all(
        g[1] == w[1] and abs(float(g[0]) - float(w[0])) <= 0.0005  # type: ignore[arg-type]
        for g, w in zip(got, want, strict=True))  # fmt: skip


def ref_window(sweeps: list[SweepSummary], since: float) -> tuple[int, int, float | None]:
    kept = [s for s in sweeps if s.started_at >= since]
    return len(kept), sum(s.available for s in kept), min((s.started_at for s in kept),
                                                         default=None)  # fmt: skip


def test_starts_round_trip_at_millisecond_resolution() -> None:
    starts = [T0, T0 + 59.9994, T0 + 120.0006, T0 + 180.25, T0 + 7200.123456]
    back = decode_starts(starts[0], starts[-1], encode_starts(starts[0], starts))
    assert back[0] == starts[0] and back[-1] == starts[-1]  # first and last exact
    assert all(abs(a - b) <= 0.0005 for a, b in zip(back, starts, strict=True))
    assert decode_starts(T0, T0, b"") == [T0]


def test_runs_give_back_every_sweep_and_the_window_counts() -> None:
    db = tables()
    sweeps = sequence()
    for s in sweeps:
        record_run(db, s)
    runs = db.execute("SELECT count(*), max(sweeps) FROM sweep_runs").fetchone()
    assert runs[1] == RUN_MAX_SWEEPS  # a long alike stretch is split, not one growing row
    assert runs[0] < len(sweeps) / 10, runs  # changes, not copies
    for since in (0.0, T0 + 3600.0, sweeps[700].started_at, sweeps[-1].started_at,
                  sweeps[-1].started_at + 1):  # fmt: skip
        assert same(expanded(db, since), reference(sweeps, since)), since
        count, available, oldest = window_counts(db, "mx", since)
        ref = ref_window(sweeps, since)
        assert (count, available) == ref[:2]
        assert (oldest is None) == (ref[2] is None)
        if oldest is not None:
            assert abs(oldest - ref[2]) <= 0.0005
    # the duration of each run's newest sweep, which the page shows as the period's end
    newest = read_runs(db, "mx")[0]
    assert (newest.last_at, newest.last_duration) == (sweeps[-1].started_at, sweeps[-1].duration)


# starts are kept to the millisecond: a cutoff 1 ms either side of a start
@pytest.mark.parametrize("offset", [-0.001, 0.001, 0.4, 29.9, 61.0])
def test_prune_cuts_a_straddling_run_at_the_cutoff(offset: float) -> None:
    db = tables()
    sweeps = sequence(400, seed=3)
    for s in sweeps:
        record_run(db, s)
    cutoff = sweeps[200].started_at + offset
    removed = prune_runs(db, cutoff)
    assert removed == sum(s.started_at < cutoff for s in sweeps)
    assert same(expanded(db, 0.0), reference(sweeps, cutoff))
    assert window_counts(db, "mx", 0.0)[:2] == ref_window(sweeps, cutoff)[:2]
    used = {r[0] for r in db.execute("SELECT DISTINCT findings FROM sweep_runs")}
    assert {r[0] for r in db.execute("SELECT id FROM finding_sets")} == used  # no orphans


def test_a_version_4_store_is_migrated_without_losing_a_sweep(tmp_path: Path) -> None:
    path = tmp_path / "v4.sqlite"
    db = sqlite3.connect(path)
    db.executescript("".join(str(m) for m in MIGRATIONS[:4]) + "\nPRAGMA user_version = 4;")
    sweeps = sequence(900, seed=5)
    db.executemany(
        "INSERT OR REPLACE INTO sweeps VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [(s.zone, s.started_at, s.duration, s.severity, int(s.available), s.nameservers_up,
          s.nameservers, s.findings) for s in sweeps],
    )  # fmt: skip
    db.commit()
    old_window = db.execute(  # what Store.zone_history read before
        "SELECT count(*), coalesce(sum(available), 0), min(started_at) FROM sweeps "
        "WHERE zone = 'mx' AND started_at >= ?", (T0 + 7200,)).fetchone()  # fmt: skip
    db.close()
    store = Store(str(path), retention=86400)
    assert store.schema_version == len(MIGRATIONS) == 6
    assert "sweeps" not in store.table_counts()
    assert same(expanded(store._db, 0.0), reference(sweeps, 0.0))
    count, available, oldest = window_counts(store._db, "mx", T0 + 7200)
    assert (count, available) == tuple(old_window[:2])
    assert oldest is not None and abs(oldest - old_window[2]) <= 0.0005
    assert store.table_counts()["sweep_runs"] < len(sweeps) / 10
    # and the store keeps working on the converted runs
    report = fx.mx_report(sweeps[-1].started_at + 60)
    store.save_sweep(report, ZoneTotals())
    assert store.sweep_starts("mx")[0] == report.started_at
    assert store.integrity_check() == "ok"
    store.close()


def test_a_failing_migration_leaves_the_old_store_untouched(tmp_path: Path) -> None:
    path = tmp_path / "v4.sqlite"
    db = sqlite3.connect(path)
    db.executescript("".join(str(m) for m in MIGRATIONS[:4]) + "\nPRAGMA user_version = 4;")
    db.execute("CREATE TABLE sweep_runs (x)")  # in the way: migration 5 fails
    db.execute("INSERT INTO sweeps VALUES ('mx', 1.0, 1.0, 0, 1, 2, 2, '[]')")
    db.commit()
    db.close()
    with pytest.raises(Exception, match="already exists"):
        Store(str(path), retention=0)
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == 4
    assert db.execute("SELECT count(*) FROM sweeps").fetchone()[0] == 1  # rolled back whole
    assert db.execute("SELECT count(*) FROM sqlite_master WHERE name = 'finding_sets'"
                      ).fetchone()[0] == 0  # fmt: skip
