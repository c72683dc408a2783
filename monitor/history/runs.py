"""The per-sweep history as runs: changes, not copies.

What the zone page (its periods and "open since") and the stored availability
(:class:`monitor.snapshot.ZoneHistory`) need of every sweep is its summary: severity,
availability, name servers up out of how many, and the open findings. Consecutive sweeps
of a zone mostly agree on all of it, so a *run* row stands for a stretch of sweeps with
the same summary: the first and the last start (exact), the last duration, the count, and
the starts in between as millisecond offsets (one varint of the gap to the previous start
each, ~3 B at a 60 s interval). The finding sets are kept once each (``finding_sets``)
and referenced by id. A new row starts when the summary changes, when a run holds
:data:`RUN_MAX_SWEEPS` sweeps (so a row rewritten each sweep stays small) and when a
start is not after the run's last start (a clock set back).

Sweeps that could not tell (``ZoneReport.available`` is None: our vantage point offline, or
the verdict hanging on unmeasured servers) are not samples and are not recorded, as the
older one-row-per-sweep table did not record them either. RTTs and per-server states live
in the hourly/daily rollups (:mod:`monitor.history.writer`).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from probes.model import Severity

#: Sweeps per run row at most: the row is rewritten by every sweep it takes.
RUN_MAX_SWEEPS = 120

#: The tables (created by store migration 5, :func:`migrate_sweeps`).
DDL = (
    """CREATE TABLE finding_sets (
        id INTEGER PRIMARY KEY,
        findings TEXT NOT NULL UNIQUE
    )""",
    """CREATE TABLE sweep_runs (
        zone TEXT NOT NULL,
        first_at REAL NOT NULL,
        last_at REAL NOT NULL,
        last_duration REAL NOT NULL,
        sweeps INTEGER NOT NULL,
        severity INTEGER NOT NULL,
        available INTEGER NOT NULL,
        nameservers_up INTEGER NOT NULL,
        nameservers INTEGER NOT NULL,
        findings INTEGER NOT NULL,
        starts BLOB NOT NULL,
        PRIMARY KEY (zone, first_at)
    ) WITHOUT ROWID""",
    "CREATE INDEX sweep_runs_by_end ON sweep_runs (last_at)",
)

Finding = tuple[str, str, str, str, str, str]  # check, severity, tag, ns, address, reason


@dataclass(frozen=True, slots=True)
class SweepSummary:
    """What one sweep adds to the history."""

    zone: str
    started_at: float
    duration: float
    severity: int
    available: bool
    nameservers_up: int
    nameservers: int
    findings: str  # compact JSON list of Finding rows


@dataclass(frozen=True, slots=True)
class SweepRun:
    """Consecutive stored sweeps of a zone with the same summary (newest first in reads).

    ``first_at`` and ``sweeps`` count only the sweeps at or after the ``since`` of the
    read; ``starts`` are their start times, oldest first (millisecond resolution between
    the run's exact first and last start).
    """

    zone: str
    first_at: float
    last_at: float
    last_duration: float
    sweeps: int
    severity: Severity
    available: bool
    nameservers_up: int
    nameservers: int
    findings: tuple[Finding, ...]
    starts: tuple[float, ...]

    @property
    def ended_at(self) -> float:
        """When the run's newest sweep ended (epoch seconds)."""
        return self.last_at + self.last_duration


# --- encoding of the starts ------------------------------------------------------------


def _offset_ms(first_at: float, at: float) -> int:
    return round((at - first_at) * 1000.0)


def varint(n: int) -> bytes:
    """`n` (not negative) as a LEB128 unsigned varint: 7 bits a byte, low bits first."""
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _gaps(blob: bytes) -> Iterator[int]:
    n = shift = 0
    for byte in blob:
        n |= (byte & 0x7F) << shift
        if byte & 0x80:
            shift += 7
        else:
            yield n
            n = shift = 0


def decode_starts(first_at: float, last_at: float, blob: bytes) -> list[float]:
    """Every start of a run, oldest first: first_at, then the offsets; the last is exact."""
    starts, offset = [first_at], 0
    for gap in _gaps(blob):
        offset += gap
        starts.append(first_at + offset / 1000.0)
    if len(starts) > 1:
        starts[-1] = last_at
    return starts


def encode_starts(first_at: float, starts: list[float]) -> bytes:
    """The offsets of ``starts[1:]`` from ``first_at`` as varint gaps."""
    out, previous = bytearray(), 0
    for at in starts[1:]:
        offset = _offset_ms(first_at, at)
        out += varint(max(0, offset - previous))
        previous = max(previous, offset)
    return bytes(out)


# --- writes ----------------------------------------------------------------------------


def _finding_set(db: sqlite3.Connection, findings: str) -> int:
    row = db.execute("SELECT id FROM finding_sets WHERE findings = ?", (findings,)).fetchone()
    if row is not None:
        return int(row[0])
    cur = db.execute("INSERT INTO finding_sets (findings) VALUES (?)", (findings,))
    return int(cur.lastrowid or 0)


_NEWEST = (
    "SELECT first_at, last_at, sweeps, severity, available, nameservers_up, nameservers, "
    "findings FROM sweep_runs WHERE zone = ? ORDER BY first_at DESC LIMIT 1"
)


def record_run(db: sqlite3.Connection, sweep: SweepSummary) -> None:
    """Add the sweep to the zone's newest run, or start a run (inside the caller's
    transaction: the store's sweep transaction)."""
    fid = _finding_set(db, sweep.findings)
    key = (sweep.severity, int(sweep.available), sweep.nameservers_up, sweep.nameservers, fid)
    row = db.execute(_NEWEST, (sweep.zone,)).fetchone()
    if row is not None:
        first_at, last_at, count = row[0], row[1], row[2]
        if tuple(row[3:]) == key and sweep.started_at > last_at and count < RUN_MAX_SWEEPS:
            gap = _offset_ms(first_at, sweep.started_at) - _offset_ms(first_at, last_at)
            db.execute(
                "UPDATE sweep_runs SET last_at = ?, last_duration = ?, sweeps = sweeps + 1, "
                "starts = CAST(starts || ? AS BLOB) WHERE zone = ? AND first_at = ?",
                (sweep.started_at, sweep.duration, varint(max(0, gap)), sweep.zone, first_at),
            )
            return
    db.execute(
        "INSERT OR REPLACE INTO sweep_runs VALUES (?, ?, ?, ?, 1, ?, ?, ?, ?, ?, x'')",
        (sweep.zone, sweep.started_at, sweep.started_at, sweep.duration, *key),
    )


def prune_runs(db: sqlite3.Connection, cutoff: float) -> int:
    """Drop the sweeps started before ``cutoff``: whole runs, and the older part of a run
    that straddles it (rewritten from its first kept start). Returns the sweeps removed."""
    removed = 0
    old = db.execute(
        "SELECT coalesce(sum(sweeps), 0), count(*) FROM sweep_runs WHERE last_at < ?", (cutoff,)
    ).fetchone()
    removed += int(old[0])
    if old[1]:
        db.execute("DELETE FROM sweep_runs WHERE last_at < ?", (cutoff,))
    straddling = db.execute(
        "SELECT zone, first_at, last_at, last_duration, severity, available, nameservers_up, "
        "nameservers, findings, starts FROM sweep_runs WHERE first_at < ? AND last_at >= ?",
        (cutoff, cutoff),
    ).fetchall()
    for zone, first_at, last_at, duration, *key, fid, blob in straddling:
        starts = decode_starts(first_at, last_at, blob)
        kept = [s for s in starts if s >= cutoff]
        removed += len(starts) - len(kept)
        db.execute("DELETE FROM sweep_runs WHERE zone = ? AND first_at = ?", (zone, first_at))
        db.execute(
            "INSERT OR REPLACE INTO sweep_runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (zone, kept[0], last_at, duration, len(kept), *key, fid,
             encode_starts(kept[0], kept)),
        )  # fmt: skip
    db.execute("DELETE FROM finding_sets WHERE id NOT IN (SELECT findings FROM sweep_runs)")
    return removed


# --- reads -----------------------------------------------------------------------------


def read_runs(db: sqlite3.Connection, zone: str, since: float = 0.0,
              limit: int = 20_000) -> list[SweepRun]:  # fmt: skip
    """The zone's runs with a sweep started at or after ``since``, newest first, each cut
    to those sweeps."""
    rows = db.execute(
        "SELECT r.first_at, r.last_at, r.last_duration, r.severity, r.available, "
        "r.nameservers_up, r.nameservers, f.findings, r.starts FROM sweep_runs AS r "
        "JOIN finding_sets AS f ON f.id = r.findings "
        "WHERE r.zone = ? AND r.last_at >= ? ORDER BY r.first_at DESC LIMIT ?",
        (zone, since, limit),
    )
    parsed: dict[str, tuple[Finding, ...]] = {}
    out = []
    for first_at, last_at, duration, sev, available, up, total, text, blob in rows:
        starts = decode_starts(first_at, last_at, blob)
        if first_at < since:
            starts = [s for s in starts if s >= since]
        if text not in parsed:
            parsed[text] = tuple(tuple(f) for f in json.loads(text))
        out.append(SweepRun(zone, starts[0], last_at, duration, len(starts), Severity(sev),
                            bool(available), up, total, parsed[text], tuple(starts)))  # fmt: skip
    return out


def window_counts(db: sqlite3.Connection, zone: str,
                  since: float) -> tuple[int, int, float | None]:  # fmt: skip
    """(sweeps, available sweeps, oldest start) of the zone's sweeps at or after ``since``."""
    count, available, oldest = db.execute(
        "SELECT coalesce(sum(sweeps), 0), coalesce(sum(sweeps * available), 0), min(first_at) "
        "FROM sweep_runs WHERE zone = ? AND first_at >= ?",
        (zone, since),
    ).fetchone()
    for first_at, last_at, avail, blob in db.execute(
        "SELECT first_at, last_at, available, starts FROM sweep_runs "
        "WHERE zone = ? AND first_at < ? AND last_at >= ?",
        (zone, since, since),
    ):
        kept = [s for s in decode_starts(first_at, last_at, blob) if s >= since]
        count += len(kept)
        available += len(kept) * avail
        oldest = kept[0] if oldest is None else min(oldest, kept[0])
    return int(count), int(available), oldest


# --- migration 5 -----------------------------------------------------------------------


def migrate_sweeps(db: sqlite3.Connection) -> None:
    """Store migration 5: the one-row-per-sweep ``sweeps`` table becomes runs.

    Runs inside the migration's transaction; every stored sweep is kept (as a member of a
    run, the same runs :func:`record_run` would have made, grouped here in memory: a month
    of 309 zones is ~13 million rows).
    """
    for statement in DDL:
        db.execute(statement)
    fids: dict[str, int] = {}
    run: list[Any] = []  # zone, key, starts, last duration

    def flush() -> None:
        if run:
            zone, key, starts, duration = run
            db.execute(
                "INSERT OR REPLACE INTO sweep_runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (zone, starts[0], starts[-1], duration, len(starts), *key,
                 encode_starts(starts[0], starts)),
            )  # fmt: skip

    rows = db.execute(
        "SELECT zone, started_at, duration, severity, available, nameservers_up, nameservers, "
        "findings FROM sweeps ORDER BY zone, started_at"
    )
    for zone, started_at, duration, sev, available, up, total, findings in rows:
        if findings not in fids:
            fids[findings] = _finding_set(db, findings)
        key = (sev, int(bool(available)), up, total, fids[findings])
        if (run and run[0] == zone and run[1] == key and started_at > run[2][-1]
                and len(run[2]) < RUN_MAX_SWEEPS):
            run[2].append(started_at)
            run[3] = duration
            continue
        flush()
        run = [zone, key, [started_at], duration]
    flush()
    db.execute("DROP TABLE sweeps")
