"""The SLA figures of a period, computed from the store's hourly/daily rollups.

Every figure excludes the time our vantage point could not measure (``unmeasured``) and the
time no sweep ran at all (``not monitored``); both are stated per zone and per address.
Minutes are counted the way ICANN counts them: each sweep stands for one sweep interval
(the zone's shortest gap between two sweeps, median over the period), so a server down for
N minutes shows N minutes of downtime +/- one interval.
"""

from __future__ import annotations

import math
import sqlite3
import statistics
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from monitor.errors import InputError
from monitor.history.schema import ALL_COLUMNS, COUNTS, TCP_BUCKETS, UDP_BUCKETS
from monitor.history.writer import DAY, HOUR
from monitor.snapshot import BUCKETS
from probes.addresses import is_ipv6, network_prefix

#: ICANN Spec 10 service levels.
ZONE_AVAILABILITY_SLR = 100.0  # percent of the month
SERVER_DOWNTIME_SLR_MINUTES = 432.0  # per 30-day month (about 99 %)
UDP_SLR, TCP_SLR = 0.5, 1.5  # seconds; 95 % of the tests within


class ReportError(InputError):
    """The report cannot be made from this input; the message is one line for the user."""


@dataclass(frozen=True, slots=True)
class Period:
    """A report period in epoch seconds, start inclusive, end exclusive, with its label."""
    start: float  # unix seconds, inclusive
    end: float  # unix seconds, exclusive
    label: str

    @property
    def minutes(self) -> float:
        """The period's length in minutes."""
        return (self.end - self.start) / 60.0

    @property
    def day_aligned(self) -> bool:
        """The period starts and ends at UTC midnight, so daily rollups cover it exactly."""
        return self.start % DAY == 0 and self.end % DAY == 0


# --- reading the store ---------------------------------------------------------------


def open_store(path: str) -> sqlite3.Connection:
    """The store, read-only; a missing, foreign, old or empty store is a ReportError."""
    if not Path(path).is_file():
        raise ReportError(f"store {path!r} does not exist (no sweeps to report on)")
    uri = f"file:{urllib.parse.quote(str(Path(path).resolve()))}?mode=ro"
    try:
        db = sqlite3.connect(uri, uri=True)
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    except sqlite3.DatabaseError as exc:
        raise ReportError(f"store {path!r} is not a ccmon store: {exc}") from None
    if "history_series" not in tables:
        raise ReportError(
            f"store {path!r} has no SLA history (empty, or written by a ccmon before the "
            "report existed): run `ccmon run` with this store first"
        )
    if db.execute("SELECT count(*) FROM history_series").fetchone()[0] == 0:
        raise ReportError(f"store {path!r} holds no sweeps yet: nothing to report")
    return db


@dataclass(frozen=True, slots=True)
class Series:
    """One stored series: a (zone, name server, address) and its id in the store."""
    id: int
    zone: str
    nameserver: str
    address: str


def _series(db: sqlite3.Connection) -> list[Series]:
    return [
        Series(int(i), z, ns, a)
        for i, z, ns, a in db.execute(
            "SELECT id, zone, nameserver, address FROM history_series ORDER BY zone, nameserver"
        )
    ]


def _sum_sql(table: str, key: str) -> str:
    parts = [f"sum({c})" for c in COUNTS]
    parts += ["max(lag_max)", "min(rrsig_min)"]
    return (
        f"SELECT series, {', '.join(parts)} FROM {table} "
        f"WHERE {key} >= ? AND {key} < ? GROUP BY series"
    )


def _source(period: Period) -> tuple[str, str, int, int, int]:
    """Table, key column, bounds and step of the rollup that covers the period exactly:
    daily rows for whole days, hourly rows otherwise (kept for ``store.retention``)."""
    if period.day_aligned:
        return "history_daily", "day", int(period.start // DAY), int(period.end // DAY), DAY
    return (
        "history_hourly", "hour",
        int(period.start // HOUR), math.ceil(period.end / HOUR), HOUR,
    )  # fmt: skip


def _sums(db: sqlite3.Connection, period: Period,
          only: Sequence[int] | None = None) -> dict[int, dict[str, Any]]:  # fmt: skip
    """Series id -> the period's sums; ``only``: these series (else every series)."""
    table, key, lo, hi, _ = _source(period)
    names = [*COUNTS, "lag_max", "rrsig_min"]
    sql, args = _sum_sql(table, key), [lo, hi]
    if only is not None:
        sql = sql.replace(" GROUP BY", f" AND series IN ({','.join('?' * len(only))}) GROUP BY")
        args += list(only)
    return {int(row[0]): dict(zip(names, row[1:], strict=True)) for row in db.execute(sql, args)}


def _intervals(db: sqlite3.Connection, period: Period,
               zones: Sequence[int]) -> dict[int, float]:  # fmt: skip
    """Each zone series' sweep interval: the median of its shortest gap per hour (per day
    once the hourly rows are pruned). A range of the primary key per zone."""
    lo, hi = int(period.start // HOUR) - 24, math.ceil(period.end / HOUR) + 24
    days = (int(period.start // DAY), math.ceil(period.end / DAY))
    out: dict[int, float] = {}
    for sid in zones:
        gaps = [g for (g,) in db.execute(
            "SELECT gap_min FROM history_hourly WHERE series = ? AND hour >= ? AND hour < ? "
            "AND gap_min IS NOT NULL", (sid, lo, hi))] or [g for (g,) in db.execute(
            "SELECT gap_min FROM history_daily WHERE series = ? AND day >= ? AND day < ? "
            "AND gap_min IS NOT NULL", (sid, *days))]  # fmt: skip
        if gaps:
            out[int(sid)] = statistics.median(gaps)
    return out


def _lame_reasons(db: sqlite3.Connection, period: Period) -> dict[int, dict[str, int]]:
    out: dict[int, dict[str, int]] = {}
    for sid, reason, n in db.execute(
        "SELECT series, reason, sum(sweeps) FROM history_lame WHERE day >= ? AND day < ? "
        "GROUP BY series, reason",
        (int(period.start // DAY), math.ceil(period.end / DAY)),
    ):
        out.setdefault(int(sid), {})[reason] = int(n)
    return out


def _propagation(db: sqlite3.Connection, zone: str, period: Period) -> list[float]:
    return [
        float(d)
        for (d,) in db.execute(
            "SELECT complete_at - first_seen FROM zone_serials WHERE zone = ? AND baseline = 0 "
            "AND complete_at IS NOT NULL AND first_seen >= ? AND first_seen < ?",
            (zone, period.start, period.end),
        )
    ]


def _pending_serials(db: sqlite3.Connection, zone: str, period: Period) -> int:
    return int(
        db.execute(
            "SELECT count(*) FROM zone_serials WHERE zone = ? AND baseline = 0 "
            "AND complete_at IS NULL AND first_seen >= ? AND first_seen < ?",
            (zone, period.start, period.end),
        ).fetchone()[0]
    )


# --- arithmetic ----------------------------------------------------------------------


def histogram_quantile(q: float, counts: Sequence[int]) -> float | None:
    """Prometheus' histogram_quantile over non-cumulative counts of BUCKETS plus +Inf:
    linear interpolation inside the bucket holding rank q x total; the +Inf bucket gives
    the highest finite bound. None without observations."""
    total = sum(counts)
    if total == 0:
        return None
    rank = q * total
    running = 0
    for i, n in enumerate(counts):
        if running + n >= rank and n > 0:
            if i >= len(BUCKETS):
                return BUCKETS[-1]
            lower = BUCKETS[i - 1] if i > 0 else 0.0
            return lower + (BUCKETS[i] - lower) * (rank - running) / n
        running += n
    return BUCKETS[-1]


def nearest_rank(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0-100) by the nearest-rank method; None for no values."""
    ordered = sorted(values)
    if not ordered:
        return None
    return ordered[max(1, math.ceil(q / 100 * len(ordered))) - 1]


def _r(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def _pct(part: float, whole: float) -> float | None:
    return round(100.0 * part / whole, 4) if whole else None


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000.0, 3)


def _within(counts: Sequence[int], bound: float) -> float | None:
    index = BUCKETS.index(bound)
    return _pct(sum(counts[: index + 1]), sum(counts))


def _rtt_figures(row: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    names = UDP_BUCKETS if prefix == "udp" else TCP_BUCKETS
    counts = [int(row.get(c) or 0) for c in names]
    slr = UDP_SLR if prefix == "udp" else TCP_SLR
    slr_ms = int(slr * 1000)
    return {
        f"{prefix}_rtt_answers": sum(counts),
        f"{prefix}_rtt_median_ms": _ms(histogram_quantile(0.5, counts)),
        f"{prefix}_rtt_p95_ms": _ms(histogram_quantile(0.95, counts)),
        f"{prefix}_within_{slr_ms}ms_percent": _within(counts, slr),
    }


# --- figures -------------------------------------------------------------------------


@dataclass(slots=True)
class ZoneFigures:
    """One zone's SLA figures and its servers', with the store series ids behind them."""
    zone: str
    figures: dict[str, Any]
    servers: list[dict[str, Any]] = field(default_factory=list)
    series: dict[str, int] = field(default_factory=dict)  # "ns address" -> series id
    zone_series: int = 0
    interval: float = 60.0


def _minutes(sweeps: float, interval: float) -> float:
    return round(sweeps * interval / 60.0, 2)


def server_figures(s: Series, row: Mapping[str, Any], interval: float, period: Period,
                   reasons: Mapping[str, int]) -> dict[str, Any]:  # fmt: skip
    """One address's SLA figures over the period (minutes, percent, seconds) from its rollup row."""
    sweeps, unmeasured = int(row["sweeps"]), int(row["unmeasured"])
    measured = sweeps - unmeasured
    down = int(row["unanswered"]) + int(row["lame"])
    limit = round(SERVER_DOWNTIME_SLR_MINUTES * period.minutes / (30 * 1440), 2)
    downtime = _minutes(down, interval)
    out: dict[str, Any] = {
        "nameserver": s.nameserver,
        "address": s.address,
        "ip_version": 6 if is_ipv6(s.address) else 4,
        "sweeps": sweeps,
        "measured_minutes": _minutes(measured, interval),
        "unmeasured_minutes": _minutes(unmeasured, interval),
        "not_monitored_minutes": round(max(0.0, period.minutes - sweeps * interval / 60), 2),
        "availability_percent": _pct(int(row["up"]), measured),
        "downtime_minutes": downtime if measured else None,
        "downtime_limit_minutes": limit,
        "meets_spec10": (downtime <= limit) if measured else None,
        "unanswered_udp_percent": _pct(int(row["udp_unanswered"]), int(row["udp_tries"])),
        "unanswered_tcp_percent": _pct(int(row["tcp_unanswered"]), int(row["tcp_tries"])),
        **_rtt_figures(row, "udp"),
        **_rtt_figures(row, "tcp"),
        "slow_minutes": _minutes(int(row["slow"]), interval),
        "lame_minutes": _minutes(int(row["lame"]), interval),
        "lame_reasons": {k: _minutes(v, interval) for k, v in sorted(reasons.items())},
        "serial_lag_minutes": _minutes(int(row["lagging"]), interval),
        "serial_lag_max_serials": row["lag_max"],
        "dnssec_invalid_minutes": _minutes(int(row["dnssec_bad"]), interval),
        "rrsig_nearest_expiry_unix_seconds": _r(row["rrsig_min"], 0),
        "axfr_open_seen": int(row["axfr_open"]) > 0,
        "recursion_open_seen": int(row["recursion_open"]) > 0,
        "tcp_answering": int(row["tcp_tries"]) > int(row["tcp_unanswered"]),
    }
    return out


def zone_figures(zone: str, row: Mapping[str, Any], interval: float, period: Period,
                 servers: list[dict[str, Any]], propagation: list[float],
                 pending: int) -> dict[str, Any]:  # fmt: skip
    """The zone's SLA figures over the period from its rollup row and its servers' figures."""
    sweeps, unmeasured = int(row["sweeps"]), int(row["unmeasured"])
    measured = sweeps - unmeasured
    downtime = _minutes(int(row["unanswered"]), interval)
    addresses = [s for s in servers if s["sweeps"] > 0]
    v6 = [s for s in addresses if s["ip_version"] == 6]
    tcp = [s for s in addresses if s["tcp_answering"]]
    ns_names = {s["nameserver"] for s in addresses}
    expiries = [s["rrsig_nearest_expiry_unix_seconds"] for s in addresses
                if s["rrsig_nearest_expiry_unix_seconds"] is not None]  # fmt: skip
    return {
        "zone": zone,
        "sweep_interval_seconds": round(interval, 3),
        "sweeps": sweeps,
        "measured_minutes": _minutes(measured, interval),
        "unmeasured_minutes": _minutes(unmeasured, interval),
        "not_monitored_minutes": round(max(0.0, period.minutes - sweeps * interval / 60), 2),
        "availability_percent": _pct(int(row["up"]), measured),
        "downtime_minutes": downtime if measured else None,
        "meets_spec10": (downtime == 0) if measured else None,
        "servers_meeting_spec10": sum(bool(s["meets_spec10"]) for s in addresses),
        "server_addresses": len(addresses),
        "worst_server_downtime_minutes": max(
            (s["downtime_minutes"] for s in addresses if s["downtime_minutes"] is not None),
            default=None,
        ),
        **_rtt_figures(row, "udp"),
        **_rtt_figures(row, "tcp"),
        "lame_minutes": round(sum(s["lame_minutes"] for s in addresses), 2),
        "serial_lag_minutes_worst_server": max(
            (s["serial_lag_minutes"] for s in addresses), default=0.0
        ),
        "soa_changes": len(propagation),
        "soa_changes_pending": pending,
        "soa_propagation_median_seconds": _r(nearest_rank(propagation, 50)),
        "soa_propagation_p95_seconds": _r(nearest_rank(propagation, 95)),
        "soa_propagation_max_seconds": _r(max(propagation, default=None)),
        "dnssec_bogus_minutes": _minutes(int(row["dnssec_bad"]), interval),
        "rrsig_nearest_expiry_unix_seconds": min(expiries, default=None),
        "axfr_open_addresses": sum(s["axfr_open_seen"] for s in addresses),
        "recursion_open_addresses": sum(s["recursion_open_seen"] for s in addresses),
        "nameservers": len(ns_names),
        "ipv6_address_percent": _pct(len(v6), len(addresses)),
        "tcp_address_percent": _pct(len(tcp), len(addresses)),
        "ipv6_nameservers": len({s["nameserver"] for s in v6}),
        "address_prefixes": len({network_prefix(s["address"]) for s in addresses}),
    }


@dataclass(slots=True)
class SlaReport:
    """The whole SLA report: the period, each zone's figures, the store and rollup used."""
    period: Period
    zones: list[ZoneFigures]
    store: str
    source: str  # "daily" or "hourly"

    def unmeasured_minutes(self) -> float:
        """Zone-minutes our vantage point could not judge (fewer than 2 NS measurable)."""
        return round(sum(z.figures["unmeasured_minutes"] for z in self.zones), 2)

    def unmeasured_address_minutes(self) -> float:
        """Address-minutes left unmeasured (e.g. IPv6 absent here), over all addresses."""
        return round(sum(s["unmeasured_minutes"] for z in self.zones for s in z.servers), 2)


def compute(db: sqlite3.Connection, period: Period, zones: Iterable[str] | None = None,
            default_interval: float = 60.0, store: str = "") -> SlaReport:  # fmt: skip
    """The figures of every zone (or the named ones) with sweeps in the period."""
    all_series = _series(db)
    seen = {s.zone for s in all_series}
    wanted = list(dict.fromkeys(zones)) if zones else sorted(seen)
    unknown = [z for z in wanted if z not in seen]
    if unknown:
        raise ReportError(f"the store never saw zone(s): {', '.join(unknown)}")
    chosen = [s for s in all_series if s.zone in set(wanted)]
    sums = _sums(db, period, [s.id for s in chosen] if zones else None)
    intervals = _intervals(db, period, [s.id for s in chosen if not s.address])
    reasons = _lame_reasons(db, period)
    out = []
    for zone in wanted:
        members = [s for s in all_series if s.zone == zone]
        zs = next((s for s in members if not s.nameserver and not s.address), None)
        if zs is None or zs.id not in sums or not sums[zs.id]["sweeps"]:
            if zones:
                raise ReportError(f"zone {zone}: no sweeps in {period.label}")
            continue
        interval = intervals.get(zs.id, default_interval)
        servers = [
            server_figures(s, sums[s.id], interval, period, reasons.get(s.id, {}))
            for s in members
            if s is not zs and s.id in sums and sums[s.id]["sweeps"]
        ]
        figs = zone_figures(
            zone, sums[zs.id], interval, period, servers,
            _propagation(db, zone, period), _pending_serials(db, zone, period),
        )  # fmt: skip
        out.append(ZoneFigures(
            zone, figs, servers,
            {f"{s.nameserver} {s.address}": s.id for s in members if s is not zs},
            zs.id, interval,
        ))  # fmt: skip
    if not out:
        if not period.day_aligned and db.execute(
            "SELECT 1 FROM history_daily WHERE day >= ? AND day < ? LIMIT 1",
            (int(period.start // DAY), math.ceil(period.end / DAY)),
        ).fetchone():
            raise ReportError(
                f"no hourly detail for {period.label} any more (kept for store.retention);"
                " the daily rollups still hold it: give whole days (--from/--to YYYY-MM-DD)"
            )
        raise ReportError(f"no sweeps in {period.label}: nothing to report")
    table, *_ = _source(period)
    return SlaReport(period, out, store, "daily" if table == "history_daily" else "hourly")


# --- time series for the plots -------------------------------------------------------


def use_hourly(db: sqlite3.Connection, period: Period) -> bool:
    """Plots use hourly rows for periods up to 45 days while they are kept, else daily."""
    if period.end - period.start > 45 * DAY:
        return False
    row = db.execute(
        "SELECT 1 FROM history_hourly WHERE hour >= ? AND hour < ? LIMIT 1",
        (int(period.start // HOUR), math.ceil(period.end / HOUR)),
    ).fetchone()
    return row is not None


def _table(hourly: bool) -> tuple[str, str, int]:
    return ("history_hourly", "hour", HOUR) if hourly else ("history_daily", "day", DAY)


def timeline(db: sqlite3.Connection, period: Period, series: int, columns: Sequence[str],
             hourly: bool, bin_seconds: int = 0) -> dict[int, tuple[Any, ...]]:  # fmt: skip
    """Bucket start (unix s) -> the columns' sums, for one series: one bucket per row
    (hourly or daily), or per ``bin_seconds`` (a multiple of the row's step)."""
    bad = [c for c in columns if c not in ALL_COLUMNS]
    if bad:
        raise ValueError(f"unknown columns {bad}")
    table, key, step = _table(hourly)
    per = max(1, bin_seconds // step)
    lo, hi = int(period.start // step), math.ceil(period.end / step)
    sums = ", ".join(f"sum({c})" for c in columns)
    return {
        int(row[0]) * per * step: tuple(row[1:])
        for row in db.execute(
            f"SELECT {key} / ? AS b, {sums} FROM {table} "
            f"WHERE series = ? AND {key} >= ? AND {key} < ? GROUP BY b",
            (per, series, lo, hi),
        )
    }


#: The heat-strip class of a rollup row, in SQL (the same rule as monitor.sla.svg's
#: state_class, which a test holds it to).
STATE_CLASS_SQL = """CASE
    WHEN sweeps = 0 THEN 'nodata'
    WHEN sweeps - unmeasured <= 0 THEN 'unmeasured'
    WHEN lame > 0 AND lame >= unanswered THEN 'lame'
    WHEN unanswered + lame = 0 THEN 'ok'
    WHEN (unanswered + lame) * 20 <= sweeps - unmeasured THEN 'minor'
    WHEN (unanswered + lame) * 2 <= sweeps - unmeasured THEN 'major'
    ELSE 'down' END"""


def _runs_of(buckets: Sequence[int]) -> list[tuple[int, int]]:
    """Sorted bucket numbers -> [first, last] runs of consecutive ones."""
    runs: list[tuple[int, int]] = []
    for b in buckets:
        if runs and runs[-1][1] == b - 1:
            runs[-1] = (runs[-1][0], b)
        else:
            runs.append((b, b))
    return runs


def strip_classes(
    db: sqlite3.Connection, period: Period, zone_series: int, series: Sequence[int],
    hourly: bool,
) -> dict[int, list[tuple[int, int, str]]]:
    """Per address series, runs (start, end, class) of equal consecutive buckets; time
    without a run had no sweeps. Most buckets are "ok": only the others are read row by
    row; the rest follows from the buckets the zone was swept in, within the first and last
    bucket of the address."""
    table, key, step = _table(hourly)
    lo, hi = int(period.start // step), math.ceil(period.end / step)
    swept = _runs_of([b for (b,) in db.execute(
        f"SELECT {key} FROM {table} WHERE series = ? AND {key} >= ? AND {key} < ? ORDER BY {key}",
        (zone_series, lo, hi))])  # fmt: skip
    marks = ",".join("?" * len(series))
    odd: dict[int, dict[int, str]] = {int(s): {} for s in series}
    for sid, b, cls in db.execute(
        f"SELECT series, {key}, {STATE_CLASS_SQL} FROM {table} WHERE series IN ({marks}) "
        f"AND {key} >= ? AND {key} < ? AND unanswered + lame + unmeasured > 0",
        (*series, lo, hi),
    ):
        odd[sid][b] = cls
    out: dict[int, list[tuple[int, int, str]]] = {}
    for sid in odd:
        first, last = db.execute(
            f"SELECT min({key}), max({key}) FROM {table} WHERE series = ? AND {key} >= ? "
            f"AND {key} < ?",
            (sid, lo, hi),
        ).fetchone()
        runs: list[tuple[int, int, str]] = []
        if first is not None:
            exceptions = sorted(odd[sid].items())
            for a, b in swept:
                a, b = max(a, first), min(b, last)
                cursor = a
                for e, cls in exceptions:
                    if e < a or e > b:
                        continue
                    if e > cursor:
                        _extend(runs, cursor, e - 1, "ok")
                    _extend(runs, e, e, cls)
                    cursor = e + 1
                if cursor <= b:
                    _extend(runs, cursor, b, "ok")
        out[sid] = [(a * step, (b + 1) * step, cls) for a, b, cls in runs]
    return out


def _extend(runs: list[tuple[int, int, str]], a: int, b: int, cls: str) -> None:
    if runs and runs[-1][2] == cls and runs[-1][1] == a - 1:
        runs[-1] = (runs[-1][0], b, cls)
    else:
        runs.append((a, b, cls))


def worst_lagging(db: sqlite3.Connection, period: Period, series: Sequence[int],
                  hourly: bool, bin_seconds: int) -> dict[int, int]:  # fmt: skip
    """Bin start -> the largest count of lagging sweeps of any one of the series."""
    table, key, step = _table(hourly)
    per = max(1, bin_seconds // step)
    lo, hi = int(period.start // step), math.ceil(period.end / step)
    marks = ",".join("?" * len(series))
    return {
        int(b) * per * step: int(n)
        for b, n in db.execute(
            f"SELECT b, max(n) FROM (SELECT {key} / ? AS b, sum(lagging) AS n FROM {table} "
            f"WHERE series IN ({marks}) AND {key} >= ? AND {key} < ? AND lagging > 0 "
            "GROUP BY series, b) GROUP BY b",
            (per, *series, lo, hi),
        )
    }
