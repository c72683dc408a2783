"""Store size for a synthetic month of the 309 ccTLDs at the default 60 s interval.

    python bench/store_size.py [--days 30] [--keep DIR] [--before]

The zones and their name servers and addresses are the real ones (the ccTLD delegations
derived from the IANA root zone, /work/shared/data: 309 zones, their real NS names and
addresses), every zone swept every 60 s. What goes through the real store code:

1. a few minutes of every zone through ``Store.record_sweep`` (all tables: latest report,
   totals, serials, runs, rollups), then dropped: it creates the rollup series and the
   latest/totals rows a running monitor has;
2. the per-sweep history of the month: every one of the ``days x 1440 x 309`` sweeps
   through :func:`monitor.history.runs.record_run`, the function ``record_sweep`` calls,
   one transaction per minute of sweeps, in time order (zones interleaved, as a service
   writes them). The churn: each zone's serial changes 1-6 times a day, and for 1-3
   sweeps after each change 1-2 of its addresses serve the old one (an SOA02 finding);
   per zone and day a 15 % chance of one address down for 5-90 min (an ERROR finding,
   one name server fewer up); per zone a 2 % chance of one full outage of 10-60 min in the
   month (not available); 30 % of zones carry one NOTICE finding all month; 3 % of zones
   have an address whose latency flaps around the threshold (a WARNING in 10 % of
   sweeps); every SOA serial change goes through ``Store._track_serial`` too;
3. the hourly and daily SLA rollups of the month: the rows ``bench/report.py`` builds
   (the same rows the writer makes, inserted directly; see its docstring).

Prints the size of each table and of the file, in MB per 30 days, before and after
VACUUM. ``--before`` also writes the same month's sweeps as the store did before issue 17
(one ``sweeps`` row per sweep) into a second file and prints that table's size.
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

from report import MONTH, load_world, month_phase, writer_phase  # noqa: E402

from monitor.history.runs import SweepSummary, record_run  # noqa: E402
from monitor.store import MIGRATIONS, Store  # noqa: E402

MB = 1024 * 1024
#: Tables (and their indexes) whose size does not grow with the days stored.
FIXED = frozenset({"latest", "sqlite_autoindex_latest_1", "totals", "sqlite_autoindex_totals_1",
                   "server_serials", "sqlite_autoindex_server_serials_1", "history_series",
                   "sqlite_autoindex_history_series_1", "delegation_drift",
                   "sqlite_autoindex_delegation_drift_1", "sqlite_schema", "sqlite_master"})
Key = tuple[int, bool, int, int, str]


def _finding(check: str, sev: str, tag: str, ns: str, address: str, reason: str) -> list[str]:
    return [check, sev, tag, ns, address, reason]


class ZoneModel:
    """One zone's summary per minute of a day, with the churn of the module docstring."""

    def __init__(self, zone: str, servers: list[tuple[str, str]], rng: random.Random,
                 days: int) -> None:  # fmt: skip
        self.zone, self.servers, self.rng = zone, servers, rng
        self.total = len({ns for ns, _ in servers})
        self.offset = rng.uniform(0, 60)  # the zone's second within each minute
        self.base: list[list[str]] = []
        if rng.random() < 0.30:
            self.base.append(_finding("DIV03", "NOTICE", "ONE_ASN", "", "", "one-asn"))
        self.flapper = rng.choice(servers) if rng.random() < 0.03 else None
        self.full_outage = None
        if rng.random() < 0.02:
            self.full_outage = (rng.randrange(days * 1440 - 60), rng.randint(10, 60))
        self.serial_changes = 0

    def day(self, d: int) -> tuple[list[Key], list[int]]:
        """Each minute's key, and the minutes at which the serial changed."""
        rng = self.rng
        extra: list[list[list[str]]] = [[] for _ in range(1440)]
        up = [self.total] * 1440
        avail = [True] * 1440
        changes = sorted(rng.sample(range(1440), rng.randint(1, 6)))
        for m in changes:
            laggards = rng.sample(self.servers, min(len(self.servers), rng.randint(1, 2)))
            for k in range(m, min(1440, m + rng.randint(1, 3))):
                extra[k] += [_finding("SOA02", "WARNING", "SERIAL_BEHIND", ns, a, "behind")
                             for ns, a in laggards]  # fmt: skip
        if rng.random() < 0.15:
            ns, address = rng.choice(self.servers)
            start = rng.randrange(1440)
            for k in range(start, min(1440, start + rng.randint(5, 90))):
                extra[k].append(_finding("AVAIL02", "ERROR", "SERVER_DOWN", ns, address,
                                         "timeout"))  # fmt: skip
                up[k] = self.total - 1
                avail[k] = up[k] >= 2
        if self.full_outage is not None:
            start, length = self.full_outage
            for k in range(max(0, start - d * 1440), min(1440, start + length - d * 1440)):
                extra[k] = [_finding("AVAIL01", "CRITICAL", "ZONE_DOWN", "", "", "down")]
                up[k], avail[k] = 0, False
        if self.flapper is not None:
            ns, address = self.flapper
            for k in range(1440):
                if rng.random() < 0.10:
                    extra[k].append(_finding("LAT01", "WARNING", "SLOW", ns, address, "slow"))
        keys: list[Key] = []
        sev_of = {"NOTICE": 2, "WARNING": 3, "ERROR": 4, "CRITICAL": 5}
        for k in range(1440):
            found = self.base + extra[k] if extra[k] or self.base else []
            sev = max((sev_of[f[1]] for f in found), default=0)
            keys.append((sev, avail[k], up[k], self.total,
                         json.dumps(found, separators=(",", ":"))))  # fmt: skip
        self.serial_changes += len(changes)
        return keys, changes


def sizes(path: Path) -> dict[str, int]:
    db = sqlite3.connect(path)
    out = dict(db.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name").fetchall())
    db.close()
    return out


def runs_phase(world: list[tuple[str, list[tuple[str, str]]]], store: Store, days: int,
               before: sqlite3.Connection | None) -> dict[str, Any]:  # fmt: skip
    rng = random.Random(17)
    models = [ZoneModel(zone, servers, rng, days) for zone, servers in world]
    db = store._db  # the store's own connection: record_run runs inside its transactions
    t0 = MONTH.timestamp()
    sweeps = 0
    spent = 0.0
    serial = {m.zone: 2026100100 for m in models}
    for d in range(days):
        plan = [m.day(d) for m in models]
        for minute in range(1440):
            start = time.perf_counter()
            with store._transaction():
                for m, (keys, changes) in zip(models, plan, strict=True):
                    at = t0 + (d * 1440 + minute) * 60 + m.offset + rng.uniform(0, 0.3)
                    if changes and changes[0] == minute:
                        changes.pop(0)
                        serial[m.zone] += 1
                        store._track_serial(m.zone, serial[m.zone], [serial[m.zone]], at)
                    record_run(db, SweepSummary(m.zone, at, rng.uniform(0.2, 3.0), *keys[minute]))
            spent += time.perf_counter() - start
            sweeps += len(models)
            if before is not None:
                before.executemany(
                    "INSERT INTO sweeps VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [(m.zone, t0 + (d * 1440 + minute) * 60 + m.offset, 1.0, k[0], int(k[1]),
                      k[2], k[3], k[4]) for m, (keys, _) in zip(models, plan, strict=True)
                     for k in (keys[minute],)],
                )  # fmt: skip
        print(f"  day {d + 1}/{days}: {sweeps:,} sweeps, {1e6 * spent / sweeps:.0f} us each",
              flush=True)  # fmt: skip
        if before is not None:
            before.commit()
    runs = db.execute("SELECT count(*) FROM sweep_runs").fetchone()[0]
    sets = db.execute("SELECT count(*) FROM finding_sets").fetchone()[0]
    return {"sweeps": sweeps, "runs": runs, "finding_sets": sets, "us": 1e6 * spent / sweeps,
            "serial_changes": sum(m.serial_changes for m in models)}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--keep", help="build the store in this directory and keep it")
    parser.add_argument("--before", action="store_true",
                        help="also build the month's old one-row-per-sweep table")
    args = parser.parse_args()
    world = load_world()
    scale = 30 / args.days
    print(f"world: {len(world)} zones, {sum(len(s) for _, s in world)} addresses, "
          f"sweeps every 60 s, {args.days} days; figures in MB per 30 days")
    workdir = Path(args.keep or tempfile.mkdtemp(prefix="ccmon-bench-store-"))
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / "month.sqlite"
    for p in workdir.glob("*.sqlite*"):
        p.unlink()
    w = writer_phase(world, path)  # the real record_sweep: series, latest, totals
    print(f"writer: {w['sweeps']} zone sweeps through Store.record_sweep, "
          f"{w['ms_per_zone_sweep']:.2f} ms each (all tables)")
    db = sqlite3.connect(path)  # the writer's minutes are the day before the month
    for table in ("history_hourly", "history_daily", "sweep_runs", "finding_sets"):
        db.execute(f"DELETE FROM {table}")
    db.commit()
    db.close()
    t = time.perf_counter()
    m = month_phase(world, path, args.days)
    print(f"rollups: {m['hourly_rows']:,} hourly + {m['daily_rows']:,} daily rows in "
          f"{time.perf_counter() - t:.0f} s")
    before = None
    if args.before:
        before = sqlite3.connect(workdir / "before.sqlite")
        before.executescript(str(MIGRATIONS[0]))
    store = Store(str(path), retention=35 * 86400)
    t = time.perf_counter()
    r = runs_phase(world, store, args.days, before)
    store.close()
    print(f"sweep history: {r['sweeps']:,} sweeps -> {r['runs']:,} runs, "
          f"{r['finding_sets']:,} finding sets, {r['serial_changes']:,} serial changes, "
          f"{r['us']:.0f} us per sweep, {time.perf_counter() - t:.0f} s")
    for label in ("before VACUUM", "after VACUUM"):
        if label == "after VACUUM":
            db = sqlite3.connect(path)
            db.execute("VACUUM")
            db.close()
        tables = sizes(path)
        total = path.stat().st_size
        fixed = sum(v for k, v in tables.items() if k in FIXED)
        month = fixed + (total - fixed) * scale  # only what grows with time is scaled
        print(f"store {label}: {total / MB:.1f} MB for {args.days} days, "
              f"{month / MB:.1f} MB per 30 days; by table (MB per 30 days): "
              + ", ".join(f"{k} {v * (1 if k in FIXED else scale) / MB:.1f}" for k, v in
                          sorted(tables.items(), key=lambda kv: -kv[1]) if v >= MB / 10))
    if before is not None:
        before.execute("VACUUM")
        before.close()
        old = sizes(workdir / "before.sqlite")
        per = (old.get("sweeps", 0) + old.get("sqlite_autoindex_sweeps_1", 0)
               + old.get("sweeps_by_time", 0))  # fmt: skip
        print(f"before issue 17, the same month's `sweeps` table with its indexes (VACUUMed): "
              f"{per * scale / MB:.1f} MB per 30 days "
              f"({per / r['sweeps']:.1f} B per sweep)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
