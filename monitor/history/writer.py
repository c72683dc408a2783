"""Add one sweep to the SLA history (inside the store's sweep transaction) and prune it."""

from __future__ import annotations

import bisect
import sqlite3
from collections.abc import Iterable, Mapping
from typing import Any

from monitor.history.schema import (
    ALL_COLUMNS,
    COUNTS,
    LAME,
    SLOW,
    UNANSWERED,
    UNMEASURED,
    UP,
)
from monitor.snapshot import BUCKETS
from probes.checks.availability import spec10_available, tally_servers
from probes.model import AddressSummary, ServerStatus, Transport, ZoneReport
from probes.settings import DEFAULT_RTT_TCP_THRESHOLD, DEFAULT_RTT_UDP_THRESHOLD

#: ICANN's "unanswered" cut-off: an answer later than 5 x the service level (Spec 10).
UNANSWERED_FACTOR = 5.0
SLR = {Transport.UDP: DEFAULT_RTT_UDP_THRESHOLD, Transport.TCP: DEFAULT_RTT_TCP_THRESHOLD}
HOUR, DAY = 3600, 86400


def _bucket(rtt: float) -> int:
    return bisect.bisect_left(BUCKETS, rtt)  # first bound >= rtt, len(BUCKETS) = +Inf


def address_state(view: AddressSummary, report: ZoneReport) -> str:
    """The address' state in this sweep, by ICANN's test on the UDP row (TCP if no UDP)."""
    primary = view.udp if view.udp is not None else view.tcp
    if primary is None or not view.measured or report.unknown:
        return UNMEASURED  # as the summary says it (any of its rows unmeasured)
    if primary.answered and (primary.lame_reason or not primary.authoritative):
        return LAME
    if primary.lame_reason and not primary.answered:  # garbage only: lame ("malformed")
        return LAME
    limit = SLR[primary.transport] * UNANSWERED_FACTOR
    if primary.authoritative and primary.rtt is not None and primary.rtt <= limit:
        return SLOW if primary.rtt > SLR[primary.transport] else UP
    return UNANSWERED


def _transport_counts(row: dict[str, Any], status: ServerStatus | None, prefix: str) -> None:
    if status is None:  # not probed over this transport (the address is measured)
        return
    name = "udp" if prefix == "u" else "tcp"
    row[f"{name}_tries"] = 1
    if not status.answered:
        row[f"{name}_unanswered"] = 1
    elif status.rtt is not None and status.rtt >= 0:
        row[f"{prefix}{_bucket(status.rtt)}"] = 1


def address_row(view: AddressSummary, report: ZoneReport) -> tuple[dict[str, Any], str]:
    """The columns this sweep adds for one address, and its lame reason ('' if none)."""
    state = address_state(view, report)
    row: dict[str, Any] = {"sweeps": 1}
    row["up" if state == SLOW else state] = 1
    if state == SLOW:
        row["slow"] = 1
    if state == UNMEASURED:
        return row, ""
    _transport_counts(row, view.udp, "u")
    _transport_counts(row, view.tcp, "t")
    if view.lag:
        row["lagging"] = 1
        row["lag_max"] = int(view.lag)
    elif view.lag is not None:
        row["lag_max"] = 0
    if view.dnssec_valid is False:
        row["dnssec_bad"] = 1
    row["axfr_open"] = int(view.axfr_open)
    row["recursion_open"] = int(view.recursion_open)
    if view.rrsig_expires_at is not None:
        row["rrsig_min"] = float(view.rrsig_expires_at)
    reason = ""
    if state == LAME:
        primary = view.udp if view.udp is not None else view.tcp
        reason = (primary.lame_reason if primary else "") or "not-authoritative"
    return row, reason


def zone_row(views: Iterable[tuple[AddressSummary, str]], report: ZoneReport,
             gap: float | None) -> dict[str, Any]:  # fmt: skip
    """The zone's columns: ICANN availability over the measured addresses, all RTTs."""
    row: dict[str, Any] = {"sweeps": 1, _availability_column(views, report): 1}
    if not report.unknown:
        for transport, prefix in (("udp", "u"), ("tcp", "t")):
            for rtt in report.rtts.get(transport, ()):
                if rtt is not None and rtt >= 0:
                    key = f"{prefix}{_bucket(rtt)}"
                    row[key] = row.get(key, 0) + 1
        if report.dnssec == "bogus":
            row["dnssec_bad"] = 1
    if gap is not None and gap > 0:
        row["gap_min"] = gap
    return row


def _availability_column(views: Iterable[tuple[AddressSummary, str]], report: ZoneReport) -> str:
    """"up", "unanswered" or "unmeasured" for one sweep of the zone: the Spec 10 rule of
    the report's `available`, with ICANN's "answered within 5 x the SLR" for up."""
    if report.unknown:
        return "unmeasured"
    up, _measured, nothing = tally_servers(
        (view.nameserver, None if state == UNMEASURED else state in (UP, SLOW))
        for view, state in views)
    verdict = spec10_available(up, nothing)
    return "unmeasured" if verdict is None else "up" if verdict else "unanswered"


def _upsert_sql(table: str, key: str) -> str:
    cols = ", ".join(ALL_COLUMNS)
    marks = ", ".join("?" * (len(ALL_COLUMNS) + 2))
    sets = [f"{c} = {c} + excluded.{c}" for c in COUNTS]
    sets.append("lag_max = coalesce(max(lag_max, excluded.lag_max), lag_max, excluded.lag_max)")
    for c in ("rrsig_min", "gap_min"):
        sets.append(f"{c} = coalesce(min({c}, excluded.{c}), {c}, excluded.{c})")
    return (
        f"INSERT INTO {table} (series, {key}, {cols}) VALUES ({marks}) "
        f"ON CONFLICT (series, {key}) DO UPDATE SET {', '.join(sets)}"
    )


UPSERT_HOURLY = _upsert_sql("history_hourly", "hour")
UPSERT_DAILY = _upsert_sql("history_daily", "day")
UPSERT_LAME = (
    "INSERT INTO history_lame (series, day, reason, sweeps) VALUES (?, ?, ?, 1) "
    "ON CONFLICT (series, day, reason) DO UPDATE SET sweeps = sweeps + 1"
)


def _series_ids(db: sqlite3.Connection, zone: str,
                keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], int]:  # fmt: skip
    known = {
        (ns, addr): sid
        for sid, ns, addr in db.execute(
            "SELECT id, nameserver, address FROM history_series WHERE zone = ?", (zone,)
        )
    }
    for key in keys:
        if key not in known:
            cur = db.execute(
                "INSERT INTO history_series (zone, nameserver, address) VALUES (?, ?, ?)",
                (zone, *key),
            )
            known[key] = int(cur.lastrowid or 0)
    return known


def _values(sid: int, bucket: int, row: Mapping[str, Any]) -> tuple[Any, ...]:
    return (sid, bucket, *(row.get(c, 0 if c in COUNTS else None) for c in ALL_COLUMNS))


def record_history(db: sqlite3.Connection, report: ZoneReport) -> None:
    """Add the sweep to the zone's and each address' hourly and daily rows (one transaction
    is the caller's: the store's sweep transaction)."""
    views = report.addresses
    rows = [(view, *address_row(view, report)) for view in views]
    ids = _series_ids(db, report.zone, [("", "")] + [(v.nameserver, v.address) for v in views])
    zone_id = ids[("", "")]
    last = db.execute("SELECT last_at FROM history_series WHERE id = ?", (zone_id,)).fetchone()
    gap = report.started_at - last[0] if last and last[0] is not None else None
    db.execute("UPDATE history_series SET last_at = ? WHERE id = ?", (report.started_at, zone_id))
    states = [(view, address_state(view, report)) for view in views]
    hour, day = int(report.started_at // HOUR), int(report.started_at // DAY)
    zrow = zone_row(states, report, gap)
    hourly = [_values(zone_id, hour, zrow)]
    daily = [_values(zone_id, day, zrow)]
    for view, row, reason in rows:
        sid = ids[(view.nameserver, view.address)]
        hourly.append(_values(sid, hour, row))
        daily.append(_values(sid, day, row))
        if reason:
            db.execute(UPSERT_LAME, (sid, day, reason))
    if report.unknown and not views:
        # Nothing measured, not even the delegation: the addresses seen in the last day
        # were not measured either (rather than silently not swept).
        for (sid,) in db.execute(
            "SELECT DISTINCT h.series FROM history_hourly AS h JOIN history_series AS s "
            "ON s.id = h.series WHERE s.zone = ? AND s.address != '' AND h.hour >= ?",
            (report.zone, hour - 24),
        ).fetchall():
            hourly.append(_values(sid, hour, {"sweeps": 1, "unmeasured": 1}))
            daily.append(_values(sid, day, {"sweeps": 1, "unmeasured": 1}))
    db.executemany(UPSERT_HOURLY, hourly)
    db.executemany(UPSERT_DAILY, daily)


def prune_history(db: sqlite3.Connection, now: float, retention: float,
                  rollup_retention: float) -> int:  # fmt: skip
    """Drop hourly rows older than ``retention`` and daily rows (and lame reasons) older
    than ``rollup_retention`` (seconds; 0 keeps forever). Returns the rows removed."""
    removed = 0
    if retention > 0:
        removed += db.execute(
            "DELETE FROM history_hourly WHERE hour < ?", (int((now - retention) // HOUR),)
        ).rowcount
    if rollup_retention > 0:
        cutoff = int((now - rollup_retention) // DAY)
        for table in ("history_daily", "history_lame"):
            removed += db.execute(f"DELETE FROM {table} WHERE day < ?", (cutoff,)).rowcount
        removed += db.execute(
            "DELETE FROM history_series WHERE id NOT IN (SELECT series FROM history_daily) "
            "AND id NOT IN (SELECT series FROM history_hourly)"
        ).rowcount
    return removed
