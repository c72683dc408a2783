"""SQLite store: the latest report per zone, compact sweep history, serial propagation.

One file, WAL mode, one writer (the service's event loop; every call is a few small
statements, quick enough to run on the loop). What is kept:

- ``latest``: the newest ``ZoneReport`` per zone as JSON, so a restart shows the last
  known state at once;
- ``sweep_runs``: the sweep history as changes, not copies: one row per run of
  consecutive sweeps with the same availability, severity, name servers up and open
  findings (``finding_sets``, each set kept once), with the sweeps' start times packed in
  the row (:mod:`monitor.history.runs`); the zone page's periods and "open since" and the
  stored availability read it; pruned after the configured retention;
- ``zone_serials``: when each new highest SOA serial was first seen on any server and
  when on all, i.e. every authoritative server at it or newer (SOA03 propagation time,
  "seconds behind" per server);
- ``server_serials``: the serial each (name server, address) served last and since which
  sweep (SOA03 names the servers that were last);
- ``delegation_drift``: the parent's and the child's NS sets while they differ, and since
  which sweep (DELEG05's age of the difference);
- ``pinned_difference``: since which sweep the parent's delegation has differed from the
  one pinned in `expect:` (DELEG06's age, stamped on its findings before they are stored);
- ``totals``: the cumulative counters and RTT histograms, written in the same
  transaction as the report, so counters survive restarts and match the reports.

A write that fails (disk full, file read-only or locked) rolls back whole and raises
:class:`StoreWriteError`; :class:`StoreHealth` counts such failures, logs them at most once
a minute and tells /healthz and /metrics, and the next write that works clears it: the store
recovers by itself when space returns.

The schema of the whole file, the alert tables of ``monitor/alerts/outbox.py`` included, is
versioned with ``PRAGMA user_version`` by one runner (:mod:`monitor.schema`,
:data:`MIGRATIONS`: SQL scripts, or a function for a migration that converts rows, each
run in one transaction with its version bump).

The history checks (SOA03, DELEG05: :mod:`probes.checks.history`) run inside the sweep's
transaction, over the history including that sweep, so the stored report carries their
findings too: the service opens :meth:`Store.transaction` and calls :meth:`Store.track`,
the history judges and :meth:`Store.save` (:meth:`Store.record_sweep` does the same).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import dns.serial

from monitor import schema
from monitor.errors import MonitorError
from monitor.history import prune_history, record_history
from monitor.history.runs import (
    SweepRun,
    SweepSummary,
    prune_runs,
    read_runs,
    record_run,
    window_counts,
)
from monitor.schema import MIGRATIONS, SchemaError
from monitor.snapshot import StoreStatus, ZoneHistory, ZoneTotals
from probes.checks.history import (
    DelegationDrift,
    History,
    SerialSighting,
    ServerSerial,
    normal_ns_set,
    served_serials,
)
from probes.checks.pinned import pinned_difference_seen, with_pinned_age
from probes.model import Finding, Severity, ZoneReport

__all__ = ["MIGRATIONS", "Store", "StoreError", "StoreHealth", "StoreWriteError", "SweepRun"]

log = logging.getLogger(__name__)

#: For :meth:`Store.record_sweep` (tests, bench): the history checks, called inside the
#: sweep's transaction with the report and the zone's history including that sweep.
Amend = Callable[[ZoneReport, History], Sequence[Finding]]

class StoreError(MonitorError):
    """The store file cannot be used (newer schema, not a database, unwritable)."""


class StoreWriteError(StoreError):
    """A write failed and was rolled back (disk full, read-only, locked): nothing was kept.

    ``report`` is, for :meth:`Store.record_sweep`, the report with the history checks'
    findings as far as they were judged, so it can still be published.
    """

    def __init__(self, cause: str, report: ZoneReport | None = None) -> None:
        super().__init__(f"store not writable: {cause}")
        self.cause = cause
        self.report = report


#: While writes keep failing, at most one log line per this many seconds.
LOG_EVERY = 60.0


class StoreHealth:
    """The outcome of the writes to the store file, shared by its writers.

    The store's writes (:class:`Store`: sweep results, counters, pruning) report each
    transaction here: a failure is counted at once and logged at most once per
    :data:`LOG_EVERY` (one line, no traceback: a full disk fails every sweep); the first
    write that works again clears the error and logs the recovery once. The alert tables
    (:mod:`monitor.alerts.outbox`) only add their failures to the count (:meth:`count_failure`):
    a small alert write that still fits a nearly full disk must not read as "persisting"
    while the sweep results are lost.
    """

    def __init__(self, path: str, *, clock: Callable[[], float] = time.time,
                 log_every: float = LOG_EVERY) -> None:  # fmt: skip
        self.path = path
        self.clock = clock
        self.log_every = log_every
        self.status = StoreStatus()
        self.on_change: Callable[[StoreStatus], None] | None = None  # the service publishes
        self._logged_at: float | None = None
        self._unlogged = 0  # failures since the last line
        self._episode_logged = False  # the current run of failures was logged

    def failed(self, cause: str) -> None:
        """Record a failed write: publish it, and log it at most once per log_every seconds."""
        now = self.clock()
        old = self.status
        since = old.failing_since if old.failing_since is not None else now
        self.status = StoreStatus(old.write_errors + 1, cause, since)
        self._unlogged += 1
        if self._logged_at is None or now - self._logged_at >= self.log_every:
            log.error(
                "store %s not writable: %s (%d failed write(s) since the last such line; "
                "failing since %s UTC): results are published but not stored, alert mail "
                "waits; next line in %.0f s at the earliest",
                self.path, cause, self._unlogged,
                time.strftime("%H:%M:%S", time.gmtime(since)), self.log_every,
            )  # fmt: skip
            self._logged_at, self._unlogged, self._episode_logged = now, 0, True
        self._publish()

    def count_failure(self) -> None:
        """A failed write of another writer of the file (the alert tables): counted only."""
        old = self.status
        self.status = StoreStatus(old.write_errors + 1, old.error, old.failing_since)
        self._publish()

    def succeeded(self) -> None:
        """Record a successful write; ends a run of failures and logs how long it lasted."""
        old = self.status
        if not old.error:
            return
        if self._episode_logged:
            duration = self.clock() - (old.failing_since or self.clock())
            log.warning(
                "store %s writable again after %.0f s; %d write(s) failed since the start",
                self.path, duration, old.write_errors,
            )  # fmt: skip
        self._episode_logged = False
        self.status = StoreStatus(old.write_errors)
        self._publish()

    def _publish(self) -> None:
        if self.on_change is not None:
            self.on_change(self.status)


def rollback_quietly(db: sqlite3.Connection) -> None:
    """End a failed transaction; SQLite may have rolled it back itself (SQLITE_FULL)."""
    if db.in_transaction:
        with contextlib.suppress(sqlite3.Error):
            db.execute("ROLLBACK")


def _compact_findings(report: ZoneReport) -> list[list[str]]:
    return [
        [f.check, f.severity.name, f.tag, f.nameserver, f.address, f.reason]
        for f in report.findings
        if f.severity >= Severity.NOTICE
    ]


class Store:
    """The monitor's SQLite file. Not thread-safe: use it from one thread."""

    def __init__(
        self,
        path: str,
        retention: float,
        health: StoreHealth | None = None,
        rollup_retention: float = 400 * 86400.0,
    ) -> None:
        self.path = path
        self.retention = retention
        self.health = health or StoreHealth(path)
        self.rollup_retention = rollup_retention  # daily SLA rollups (monitor/history)
        if path != ":memory:":
            parent = os.path.dirname(os.path.abspath(path))
            os.makedirs(parent, exist_ok=True)
        try:
            self._db = sqlite3.connect(path, timeout=5.0, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            schema.migrate(self._db, path)  # the whole file: the alert tables too
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot use store {path!r}: {exc}") from exc
        except SchemaError as exc:
            raise StoreError(f"store {exc}") from exc

    # --- plumbing --------------------------------------------------------------------

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """All or nothing; an operational failure (full, read-only, locked) is counted in
        :attr:`health` and raised as :class:`StoreWriteError`. A failed COMMIT is rolled
        back too, so the connection is usable again when the cause goes away."""
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
                self._db.execute("COMMIT")
            except BaseException:
                rollback_quietly(self._db)
                raise
        except sqlite3.OperationalError as exc:
            self.health.failed(str(exc))
            raise StoreWriteError(str(exc)) from exc
        self.health.succeeded()

    def close(self) -> None:
        """Checkpoint the WAL into the main file (best effort) and close the connection."""
        try:
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error as exc:  # pragma: no cover - best effort
            log.warning("store checkpoint failed: %s", exc)
        self._db.close()

    def integrity_check(self) -> str:
        """SQLite's integrity_check result: "ok", or the problems it found."""
        return str(self._db.execute("PRAGMA integrity_check").fetchone()[0])

    @property
    def schema_version(self) -> int:
        """The schema version stored in the file (PRAGMA user_version)."""
        return schema.version(self._db)

    # --- writes ----------------------------------------------------------------------

    def save_sweep(
        self, report: ZoneReport, totals: ZoneTotals, amend: Amend | None = None
    ) -> ZoneHistory:
        """Record one finished sweep atomically; returns the zone's updated history."""
        return self.record_sweep(report, totals, amend)[1]

    def record_sweep(
        self, report: ZoneReport, totals: ZoneTotals, amend: Amend | None = None
    ) -> tuple[ZoneReport, ZoneHistory]:
        """Record one finished sweep atomically, with the history checks' findings.

        The steps the service takes itself (monitor.service): :meth:`track`, then ``amend``
        (the history checks) over the history including this sweep, then :meth:`save`, in
        one :meth:`transaction`. Returns the report as stored and the zone's updated history.
        """
        try:
            with self.transaction():
                report, history = self.track(report)
                if amend is not None:
                    extra = tuple(amend(report, history))
                    if extra:
                        report = replace(report, findings=report.findings + extra)
                self.save(report, totals)
        except StoreWriteError as exc:
            exc.report = report  # with the history findings if they were judged: publishable
            raise
        return report, self.history_after(report)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One sweep's writes, all or nothing, around :meth:`track` and :meth:`save`; a
        failure is counted and raised as :class:`StoreWriteError`."""
        with self._transaction() as db:
            yield db

    def track(self, report: ZoneReport) -> tuple[ZoneReport, History]:
        """Inside :meth:`transaction`: update the serial, NS-set and pinned-difference
        history with the sweep; returns the report with its DELEG06 findings aged, and what
        the history checks read, this sweep included."""
        serials = [v.serial for v in report.addresses if v.serial is not None]
        if report.serial is not None:
            self._track_serial(report.zone, report.serial, serials, report.started_at)
        self._track_servers(report)
        self._track_drift(report)
        report = with_pinned_age(report, self._track_pinned(report))
        return report, self.check_history(report.zone)

    def save(self, report: ZoneReport, totals: ZoneTotals) -> None:
        """Inside :meth:`transaction`: the report as published (history findings included),
        the sweep in the zone's runs, the zone's counters and its hourly and daily history."""
        db = self._db
        up, total = report.nameservers_up
        finished = report.started_at + report.duration
        db.execute(
            "INSERT OR REPLACE INTO latest (zone, finished_at, report) VALUES (?, ?, ?)",
            (report.zone, finished, json.dumps(report.to_dict(), separators=(",", ":"))),
        )
        available = report.available
        # A sweep that could not tell (our vantage point offline, or the verdict
        # hanging on unmeasured name servers) is no sample of the zone's availability.
        if available is not None:
            record_run(db, SweepSummary(
                report.zone, report.started_at, report.duration, int(report.severity),
                available, up, total,
                json.dumps(_compact_findings(report), separators=(",", ":"))))
        self._write_totals(report.zone, totals)
        record_history(db, report)

    def history_after(self, report: ZoneReport) -> ZoneHistory:
        """The zone's history as of the end of this (saved) sweep."""
        return self.zone_history(report.zone, report.serial,
                                 now=report.started_at + report.duration)

    def _track_serial(self, zone: str, top: int, serials: list[int], seen_at: float) -> None:
        db = self._db
        known = db.execute(
            "SELECT 1 FROM zone_serials WHERE zone = ? AND serial = ?", (zone, top)
        ).fetchone()
        if known is None:
            first = db.execute("SELECT 1 FROM zone_serials WHERE zone = ?", (zone,)).fetchone()
            db.execute(
                "INSERT INTO zone_serials (zone, serial, first_seen, baseline) VALUES (?, ?, ?, ?)",
                (zone, top, seen_at, int(first is None)),
            )
        # A serial has reached every server once each authoritative answer carries it or a
        # newer one (a zone that changes faster than it propagates still completes).
        lowest = [dns.serial.Serial(s) for s in set(serials)]
        pending = db.execute(
            "SELECT serial FROM zone_serials WHERE zone = ? AND complete_at IS NULL", (zone,)
        ).fetchall()
        for (serial,) in pending:
            if all(s >= dns.serial.Serial(serial) for s in lowest):
                db.execute(
                    "UPDATE zone_serials SET complete_at = ? WHERE zone = ? AND serial = ?",
                    (seen_at, zone, serial),
                )

    def _track_servers(self, report: ZoneReport) -> None:
        """Each server's last authoritative serial and since when; servers gone are dropped."""
        db = self._db
        known = {
            (ns, address): serial
            for ns, address, serial in db.execute(
                "SELECT nameserver, address, serial FROM server_serials WHERE zone = ?",
                (report.zone,),
            )
        }
        for (ns, address), serial in served_serials(report).items():
            if known.get((ns, address)) != serial:
                db.execute(
                    "INSERT OR REPLACE INTO server_serials VALUES (?, ?, ?, ?, ?)",
                    (report.zone, ns, address, serial, report.started_at),
                )
        listed = {(s.nameserver, s.address) for s in report.servers}
        for ns, address in set(known) - listed:
            db.execute(
                "DELETE FROM server_serials WHERE zone = ? AND nameserver = ? AND address = ?",
                (report.zone, ns, address),
            )

    def _track_drift(self, report: ZoneReport) -> None:
        """The parent/child NS difference and since when; a sweep missing a side changes
        nothing (the age keeps running), agreeing sets clear it."""
        parent, child = normal_ns_set(report.parent_ns), normal_ns_set(report.child_ns)
        if not parent or not child:
            return
        db = self._db
        if parent == child:
            db.execute("DELETE FROM delegation_drift WHERE zone = ?", (report.zone,))
            return
        sets = (" ".join(parent), " ".join(child))
        row = db.execute(
            "SELECT parent_set, child_set FROM delegation_drift WHERE zone = ?", (report.zone,)
        ).fetchone()
        if row is None or tuple(row) != sets:
            db.execute(
                "INSERT OR REPLACE INTO delegation_drift VALUES (?, ?, ?, ?)",
                (report.zone, *sets, report.started_at),
            )

    def _track_pinned(self, report: ZoneReport) -> float | None:
        """Since when the parent has differed from the pins (DELEG06), or None; a sweep
        that cannot tell keeps the age running, one that sees them agree clears it."""
        db = self._db
        seen = pinned_difference_seen(report)
        if seen is False:
            db.execute("DELETE FROM pinned_difference WHERE zone = ?", (report.zone,))
            return None
        row = db.execute("SELECT first_seen FROM pinned_difference WHERE zone = ?",
                         (report.zone,)).fetchone()  # fmt: skip
        if row is not None:
            return float(row[0])
        if seen:
            db.execute("INSERT INTO pinned_difference VALUES (?, ?)",
                       (report.zone, report.started_at))  # fmt: skip
            return report.started_at
        return None

    def _write_totals(self, zone: str, totals: ZoneTotals) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO totals (zone, data) VALUES (?, ?)",
            (zone, json.dumps(totals.to_dict(), separators=(",", ":"))),
        )

    def save_totals(self, zone: str, totals: ZoneTotals) -> None:
        """Store the zone's totals in a transaction of their own."""
        with self._transaction():
            self._write_totals(zone, totals)

    def prune(self, now: float | None = None) -> int:
        """Drop history older than the retention; returns the rows removed."""
        if self.retention <= 0:
            return 0
        cutoff = (time.time() if now is None else now) - self.retention
        with self._transaction() as db:
            removed = prune_runs(db, cutoff)  # sweeps (as members of runs) before the cutoff
            removed += db.execute(
                "DELETE FROM zone_serials WHERE first_seen < ? AND first_seen < "
                "(SELECT max(first_seen) FROM zone_serials AS z WHERE z.zone = zone_serials.zone)",
                (cutoff,),
            ).rowcount
            removed += db.execute("DELETE FROM latest WHERE finished_at < ?", (cutoff,)).rowcount
            removed += db.execute(
                "DELETE FROM zone_serials WHERE zone NOT IN (SELECT zone FROM latest)"
            ).rowcount
            for table in ("server_serials", "delegation_drift", "pinned_difference"):
                removed += db.execute(
                    f"DELETE FROM {table} WHERE zone NOT IN (SELECT zone FROM latest)"
                ).rowcount
            removed += prune_history(
                db, cutoff + self.retention, self.retention, self.rollup_retention
            )
        return removed

    # --- reads -----------------------------------------------------------------------

    def latest_reports(self) -> dict[str, ZoneReport]:
        """The latest stored report per zone; unreadable ones are logged and dropped."""
        reports = {}
        for zone, text in self._db.execute("SELECT zone, report FROM latest ORDER BY zone"):
            try:
                reports[zone] = ZoneReport.from_dict(json.loads(text))
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                log.warning("store: unreadable latest report of %s dropped: %s", zone, exc)
        return reports

    def totals(self) -> dict[str, ZoneTotals]:
        """The stored totals per zone; unreadable ones are logged and reset."""
        out = {}
        for zone, text in self._db.execute("SELECT zone, data FROM totals"):
            try:
                out[zone] = ZoneTotals.from_dict(json.loads(text))
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                log.warning("store: unreadable totals of %s reset: %s", zone, exc)
        return out

    def zone_history(self, zone: str, top: int | None, now: float | None = None) -> ZoneHistory:
        """The zone's history over the retention window to `now`; `top`: its highest serial."""
        now = time.time() if now is None else now
        since = now - self.retention if self.retention > 0 else float("-inf")
        count, available, oldest = window_counts(self._db, zone, since)
        first_seen = None
        if top is not None:
            row = self._db.execute(
                "SELECT first_seen FROM zone_serials WHERE zone = ? AND serial = ?", (zone, top)
            ).fetchone()
            first_seen = row[0] if row else None
        row = self._db.execute(
            "SELECT complete_at - first_seen FROM zone_serials "
            "WHERE zone = ? AND complete_at IS NOT NULL AND baseline = 0 "
            "ORDER BY complete_at DESC, first_seen DESC LIMIT 1",
            (zone,),
        ).fetchone()
        serials = self._db.execute(
            "SELECT serial, first_seen FROM zone_serials WHERE zone = ? ORDER BY first_seen",
            (zone,),
        ).fetchall()
        return ZoneHistory(
            window=now - oldest if oldest is not None else 0.0,
            sweeps=count,
            available_sweeps=available,
            serial_first_seen=first_seen,
            propagation=row[0] if row else None,
            serials_first_seen=tuple((int(s), float(f)) for s, f in serials),
        )

    def check_history(self, zone: str) -> History:
        """What the history checks read: serials not yet everywhere and the ones completed
        last, each server's last serial, the current NS set difference."""
        db = self._db
        serials = tuple(
            SerialSighting(serial, first_seen, complete_at, bool(baseline))
            for serial, first_seen, complete_at, baseline in db.execute(
                "SELECT serial, first_seen, complete_at, baseline FROM zone_serials "
                "WHERE zone = ? AND (complete_at IS NULL OR complete_at = "
                "(SELECT max(complete_at) FROM zone_serials WHERE zone = ?)) "
                "ORDER BY first_seen",
                (zone, zone),
            )
        )
        servers = tuple(
            ServerSerial(ns, address, serial, since)
            for ns, address, serial, since in db.execute(
                "SELECT nameserver, address, serial, since FROM server_serials WHERE zone = ? "
                "ORDER BY nameserver, address",
                (zone,),
            )
        )
        row = db.execute(
            "SELECT parent_set, child_set, first_seen FROM delegation_drift WHERE zone = ?",
            (zone,),
        ).fetchone()
        drift = None
        if row is not None:
            drift = DelegationDrift(tuple(row[0].split()), tuple(row[1].split()), row[2])
        return History(serials, servers, drift)

    def histories(self, reports: Mapping[str, ZoneReport]) -> dict[str, ZoneHistory]:
        """The history of each zone of these reports, keyed by zone."""
        out = {}
        for zone, report in reports.items():
            out[zone] = self.zone_history(zone, report.serial)
        return out

    def runs(self, zone: str, since: float = 0.0, limit: int = 20_000) -> list[SweepRun]:
        """The zone's sweep history as runs of alike sweeps, newest first, each cut to the
        sweeps started at or after ``since``."""
        return read_runs(self._db, zone, since, limit)

    def sweep_starts(self, zone: str, since: float = 0.0) -> list[float]:
        """The start of every stored sweep of the zone at or after ``since``, newest first."""
        return [s for run in self.runs(zone, since) for s in reversed(run.starts)]

    def table_counts(self) -> dict[str, Any]:
        """Row counts per table, for diagnostics."""
        names = [
            r[0] for r in self._db.execute("SELECT name FROM sqlite_master WHERE type='table'")
        ]
        return {n: self._db.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0] for n in names}
