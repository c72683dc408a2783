"""`ccmon report` over a synthetic month of the 309 ccTLDs: store size, report time, RSS.

    python bench/report.py [--days 30] [--keep DIR]

The zones and their name servers and addresses are the real ones (the IANA root zone data
the lab's scale world uses: 309 ccTLDs, 1,543 NS names, 2,799 addresses, IPv4 and IPv6),
swept every 60 s with UDP and TCP per address. What is real and what is synthetic:

1. the real writer: `Store.record_sweep` (history rollups and everything else a sweep
   writes) for WRITER_MINUTES minutes of all 309 zones, from hand-made reports of that
   model: the writer's cost per zone sweep and its bytes per rollup row are measured here;
2. the month: the same model's hourly and daily rollup rows inserted directly (one
   executemany per table in one transaction; the writer would produce the same rows, one
   sweep at a time, in ~{days x 1440 x 309} calls): every address answers in two RTT
   buckets around its own base RTT; 1 % of addresses have one outage of 20-90 minutes; 0.5 %
   are lame (refused) all month; IPv6 addresses go unmeasured one hour a day (a flaky
   IPv6 uplink at the vantage point);
3. the report: the real command, `python -m monitor report --month` as a child process,
   in JSON and in HTML; wall time and the child's peak RSS (os.wait4).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from lab.scale import data_path  # noqa: E402
from monitor.history.schema import ALL_COLUMNS, COUNTS  # noqa: E402
from monitor.history.writer import UPSERT_DAILY, UPSERT_HOURLY, _bucket  # noqa: E402
from monitor.snapshot import ZoneTotals  # noqa: E402
from monitor.store import Store  # noqa: E402
from probes.model import ServerStatus, Transport, ZoneReport  # noqa: E402

MONTH = dt.datetime(2026, 10, 1, tzinfo=dt.UTC)
WRITER_MINUTES = 5
BASES = (0.004, 0.012, 0.03, 0.07, 0.15, 0.28)  # s: per-address base RTTs


def load_world() -> list[tuple[str, list[tuple[str, str]]]]:
    data = json.loads(data_path().read_text())
    return [
        (z["tld"], [(ns["name"], a) for ns in z["ns"]
                    for a in [*ns.get("ipv4", []), *ns.get("ipv6", [])]])
        for z in data
    ]


def report_of(zone: str, servers: list[tuple[str, str]], t: float,
              rng: random.Random) -> ZoneReport:  # fmt: skip
    rows, udp, tcp = [], [], []
    for i, (ns, address) in enumerate(servers):
        base = BASES[(hash(address) + i) % len(BASES)]
        for transport, scale, bag in ((Transport.UDP, 1.0, udp), (Transport.TCP, 2.0, tcp)):
            rtt = base * scale * rng.uniform(0.9, 1.3)
            bag.append(rtt)
            rows.append(ServerStatus(ns, address, transport, True, True, rtt, 2026100101,
                                     within_threshold=rtt <= 0.5))  # fmt: skip
    return ZoneReport(zone, t, 1.0, tuple(rows), (), queries=len(rows),
                      rtts={"udp": tuple(udp), "tcp": tuple(tcp)}, dnssec="unsigned")  # fmt: skip


def writer_phase(world, path: Path) -> dict[str, float]:
    """The real writer for a few minutes of every zone: time per zone sweep."""
    store = Store(str(path), retention=35 * 86400)
    rng = random.Random(1)
    t0 = MONTH.timestamp() - 86400  # the day before the month: not in the report
    spent = 0.0
    sweeps = 0
    for minute in range(WRITER_MINUTES):
        for zone, servers in world:
            report = report_of(zone, servers, t0 + 60 * minute, rng)
            start = time.perf_counter()
            store.record_sweep(report, ZoneTotals())
            spent += time.perf_counter() - start
            sweeps += 1
    store.close()
    return {"sweeps": sweeps, "ms_per_zone_sweep": 1000 * spent / sweeps}


def _vector(**counts: Any) -> list[Any]:
    return [counts.get(c, 0 if c in COUNTS else None) for c in ALL_COLUMNS]


def healthy_hour(base: float, n: int = 60) -> dict[str, Any]:
    lo, hi = _bucket(base * 0.9), _bucket(base * 1.3)
    tlo, thi = _bucket(base * 1.8), _bucket(base * 2.6)
    row: dict[str, Any] = {"sweeps": n, "up": n, "udp_tries": n, "tcp_tries": n, "lag_max": 0}
    row[f"u{lo}"] = row.get(f"u{lo}", 0) + n // 2
    row[f"u{hi}"] = row.get(f"u{hi}", 0) + n - n // 2
    row[f"t{tlo}"] = row.get(f"t{tlo}", 0) + n // 2
    row[f"t{thi}"] = row.get(f"t{thi}", 0) + n - n // 2
    return row


def month_phase(world, path: Path, days: int) -> dict[str, Any]:
    rng = random.Random(15)
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("BEGIN")
    hour0, day0 = int(MONTH.timestamp() // 3600), int(MONTH.timestamp() // 86400)
    hourly: list[tuple[Any, ...]] = []
    daily: list[tuple[Any, ...]] = []
    lame_rows: list[tuple[Any, ...]] = []
    events = {"outages": 0, "lame": 0, "v6": 0}
    for zone, servers in world:
        zid = db.execute("SELECT id FROM history_series WHERE zone = ? AND nameserver = ''",
                         (zone,)).fetchone()[0]  # fmt: skip
        zone_hour = healthy_hour(0.03, 60)
        for k in [c for c in zone_hour if c[0] in "ut" and c[1:].isdigit()]:
            zone_hour[k] *= len(servers)  # every query of the sweep
        zone_hour.update(udp_tries=0, tcp_tries=0, gap_min=60.0, lag_max=None)
        zvec = _vector(**zone_hour)
        for h in range(days * 24):
            hourly.append((zid, hour0 + h, *zvec))
        for d in range(days):
            daily.append((zid, day0 + d, *[v * 24 if c in COUNTS else v
                                           for c, v in zip(ALL_COLUMNS, zvec, strict=True)]))
        for i, (ns, address) in enumerate(servers):
            sid = db.execute(
                "SELECT id FROM history_series WHERE zone = ? AND nameserver = ? AND address = ?",
                (zone, ns, address)).fetchone()[0]  # fmt: skip
            base = BASES[(hash(address) + i) % len(BASES)]
            ok = healthy_hour(base)
            special: dict[int, dict[str, Any]] = {}
            if rng.random() < 0.005:  # lame all month
                ok = {**ok, "up": 0, "lame": 60, "udp_tries": 60, "tcp_tries": 60}
                ok = {k: v for k, v in ok.items() if not (k[0] in "ut" and k[1:].isdigit())}
                events["lame"] += 1
                lame_rows += [(sid, day0 + d, "refused", 1440) for d in range(days)]
            elif rng.random() < 0.01 / 0.995:  # one outage
                minutes = rng.randint(20, 90)
                at = rng.randrange(days * 24 - 2)
                first = min(minutes, 60)
                for h, down in ((at, first), (at + 1, minutes - first)):
                    if down:
                        row = healthy_hour(base, 60 - down)
                        row.update(sweeps=60, unanswered=down, udp_tries=60, tcp_tries=60,
                                   udp_unanswered=down, tcp_unanswered=down)  # fmt: skip
                        special[h] = row
                events["outages"] += 1
            if ":" in address:  # IPv6 absent here one hour a day
                for d in range(days):
                    special[d * 24 + 3] = {"sweeps": 60, "unmeasured": 60}
                events["v6"] += 1
            okvec = _vector(**ok)
            okday = [v * 24 if c in COUNTS else v for c, v in zip(ALL_COLUMNS, okvec, strict=True)]
            day_sum: dict[int, list[Any]] = {d: okday for d in range(days)}
            for h in range(days * 24):
                hourly.append((sid, hour0 + h, *(_vector(**special[h]) if h in special
                                                 else okvec)))  # fmt: skip
            for h, row in special.items():  # a special hour replaces a healthy one
                vec = _vector(**row)
                acc = list(day_sum[h // 24])
                for j, c in enumerate(ALL_COLUMNS):
                    if c in COUNTS:
                        acc[j] += vec[j] - okvec[j]
                day_sum[h // 24] = acc
            daily += [(sid, day0 + d, *acc) for d, acc in day_sum.items()]
    db.executemany(UPSERT_HOURLY, hourly)
    db.executemany(UPSERT_DAILY, daily)
    db.executemany("INSERT INTO history_lame VALUES (?, ?, ?, ?)", lame_rows)
    db.execute("COMMIT")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    sizes = dict(db.execute(
        "SELECT name, sum(pgsize) FROM dbstat WHERE name LIKE 'history%' GROUP BY name"
    ).fetchall())  # fmt: skip
    db.close()
    return {"hourly_rows": len(hourly), "daily_rows": len(daily), "bytes": sizes, **events}


#: Runs the report as its child and prints the child's rusage: measured from a small fresh
#: process, because a child forked from this big one would count this one's pages as its own.
WRAPPER = """
import json, os, subprocess, sys, time
start = time.perf_counter()
child = subprocess.Popen(sys.argv[1:])
_, status, usage = os.wait4(child.pid, 0)
print(json.dumps({"wall": time.perf_counter() - start, "rss_kb": usage.ru_maxrss,
                  "code": os.waitstatus_to_exitcode(status)}))
"""


def run_report(store: Path, fmt: str, out: Path) -> tuple[float, float, int]:
    """Wall seconds, peak RSS (MB) and exit status of one `ccmon report` child."""
    argv = [sys.executable, "-m", "monitor", "report", "--store.path", str(store),
            "--month", MONTH.strftime("%Y-%m"), "--format", fmt, "--out", str(out)]  # fmt: skip
    done = subprocess.run([sys.executable, "-c", WRAPPER, *argv], cwd=REPO, check=True,
                          capture_output=True, text=True)  # fmt: skip
    result = json.loads(done.stdout.splitlines()[-1])
    return result["wall"], result["rss_kb"] / 1024, result["code"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--keep", help="build the store in this directory and keep it")
    args = parser.parse_args()
    world = load_world()
    addresses = sum(len(s) for _, s in world)
    print(f"world: {len(world)} zones, {len({(z, n) for z, s in world for n, _ in s})} NS "
          f"names, {addresses} addresses (UDP and TCP each), sweeps every 60 s, "
          f"{args.days} days")  # fmt: skip
    workdir = Path(args.keep or tempfile.mkdtemp(prefix="ccmon-bench-report-"))
    workdir.mkdir(parents=True, exist_ok=True)
    store = workdir / "month.sqlite"
    for p in workdir.glob("month.sqlite*"):
        p.unlink()
    w = writer_phase(world, store)
    print(f"writer: {w['sweeps']} zone sweeps through Store.record_sweep, "
          f"{w['ms_per_zone_sweep']:.2f} ms each (all tables, history included)")
    print("  the sweep history (runs of alike sweeps) is not part of the month "
          "built below: bench/store_size.py measures it")
    db = sqlite3.connect(store)  # the writer's minutes are the day before: drop their rows
    db.execute("DELETE FROM history_hourly")
    db.execute("DELETE FROM history_daily")
    db.execute("DELETE FROM sweep_runs")
    db.execute("DELETE FROM finding_sets")
    db.commit()
    db.close()
    t = time.perf_counter()
    m = month_phase(world, store, args.days)
    print(f"month: {m['hourly_rows']:,} hourly + {m['daily_rows']:,} daily rollup rows in "
          f"{time.perf_counter() - t:.1f} s; {m['outages']} outages, {m['lame']} lame "
          f"addresses, {m['v6']} IPv6 addresses unmeasured 1 h/day")
    db = sqlite3.connect(store)
    db.execute("VACUUM")
    db.close()
    size = store.stat().st_size
    hist = m["bytes"]
    mb = 1024 * 1024
    print(f"store file: {size / mb:.1f} MB for {args.days} days ({size / len(world) / 1024:.0f} "
          f"KB per zone); history tables {sum(hist.values()) / mb:.1f} MB: "
          + ", ".join(f"{k} {v / mb:.1f} MB" for k, v in sorted(hist.items())))  # fmt: skip
    daily = hist.get("history_daily", 0) + hist.get("history_lame", 0)
    year = daily * 365 / args.days + hist.get("history_hourly", 0) * 35 / args.days
    print(f"a year (35 days hourly + 365 days daily): {year / mb:.0f} MB, "
          f"{year / len(world) / 1024:.0f} KB per zone")
    for fmt in ("json", "html"):
        out = workdir / f"report.{fmt}"
        wall, rss, code = run_report(store, fmt, out)
        print(f"ccmon report --month --format {fmt}: {wall:.2f} s, peak RSS {rss:.0f} MB, "
              f"exit {code}, {out.stat().st_size / mb:.1f} MB written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
