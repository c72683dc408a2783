"""What the monitor knows right now: the snapshot the service swaps in after each sweep.

One writer (the event loop) swaps in a new immutable :class:`Snapshot` after each change.
The metrics collector, the JSON API and the status page only read whichever snapshot is
current, so none of them ever sees half a sweep; the per-zone facts they show come from the
reports' summaries (probes.summarise), so the page and the metrics never disagree.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from probes.model import ZoneReport
from probes.serial import is_newer

#: Upper bounds (seconds) of the RTT histogram buckets. 0.5 and 1.5 are the ICANN UDP and
#: TCP service levels, 0.06 and 0.25 the DNSMON colour breakpoints, 2.5 and 7.5 the UDP and
#: TCP "unanswered" cut-offs.
BUCKETS: tuple[float, ...] = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.06, 0.1, 0.25, 0.5, 1.0, 1.5, 2.5, 5.0, 7.5,
)  # fmt: skip


# --- cumulative counters (kept across sweeps and restarts) ---------------------------


@dataclass(frozen=True, slots=True)
class Histogram:
    """Non-cumulative bucket counts over :data:`BUCKETS` plus +Inf, and the sum."""

    counts: tuple[int, ...] = (0,) * (len(BUCKETS) + 1)
    total: float = 0.0

    @property
    def count(self) -> int:
        """The number of observations in all buckets."""
        return sum(self.counts)

    def observe(self, values: Iterable[float]) -> Histogram:
        """A new histogram with these values (seconds) added; None, NaN and negatives skipped."""
        counts = list(self.counts)
        total = self.total
        for value in values:
            if value is None or math.isnan(value) or value < 0:
                continue
            index = next((i for i, b in enumerate(BUCKETS) if value <= b), len(BUCKETS))
            counts[index] += 1
            total += value
        return Histogram(tuple(counts), total)

    def cumulative(self) -> list[tuple[str, float]]:
        """(le, cumulative count) pairs ending with +Inf, as Prometheus wants them."""
        out: list[tuple[str, float]] = []
        running = 0
        for bound, n in zip((*BUCKETS, math.inf), self.counts, strict=True):
            running += n
            out.append(("+Inf" if bound == math.inf else repr(bound), float(running)))
        return out

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values, with the bucket bounds so a changed layout is noticed."""
        return {"buckets": list(BUCKETS), "counts": list(self.counts), "sum": self.total}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Histogram:
        """The inverse of to_dict(); empty when the stored buckets differ from BUCKETS."""
        if tuple(data.get("buckets", ())) != BUCKETS:
            return cls()  # bucket layout changed between versions: start afresh
        return cls(tuple(int(n) for n in data["counts"]), float(data["sum"]))


@dataclass(frozen=True, slots=True)
class ZoneTotals:
    """Counters of one zone that only ever grow (a restart reloads them from the store)."""

    sweeps: int = 0
    skipped: int = 0
    errors: int = 0
    queries: int = 0
    failures: Mapping[str, int] = field(default_factory=dict)
    rtt: Mapping[str, Histogram] = field(default_factory=dict)  # transport -> histogram

    def add_report(self, report: ZoneReport) -> ZoneTotals:
        """New totals with one more sweep: its queries, failures by reason and RTTs by transport."""
        failures = dict(self.failures)
        for reason, n in report.query_failures.items():
            failures[str(reason)] = failures.get(str(reason), 0) + int(n)
        rtt = dict(self.rtt)
        for transport, values in report.rtts.items():
            rtt[str(transport)] = rtt.get(str(transport), Histogram()).observe(values)
        return replace(
            self,
            sweeps=self.sweeps + 1,
            queries=self.queries + report.queries,
            failures=failures,
            rtt=rtt,
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values, as the store keeps them."""
        return {
            "sweeps": self.sweeps,
            "skipped": self.skipped,
            "errors": self.errors,
            "queries": self.queries,
            "failures": dict(self.failures),
            "rtt": {t: h.to_dict() for t, h in self.rtt.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ZoneTotals:
        """The inverse of to_dict(); missing keys count as zero."""
        return cls(
            sweeps=int(data.get("sweeps", 0)),
            skipped=int(data.get("skipped", 0)),
            errors=int(data.get("errors", 0)),
            queries=int(data.get("queries", 0)),
            failures={k: int(v) for k, v in data.get("failures", {}).items()},
            rtt={t: Histogram.from_dict(h) for t, h in data.get("rtt", {}).items()},
        )


@dataclass(frozen=True, slots=True)
class ZoneHistory:
    """What the stored history says about a zone (computed by the store after a sweep)."""

    window: float = 0.0  # seconds of history the availability covers
    sweeps: int = 0
    available_sweeps: int = 0
    serial_first_seen: float | None = None  # when the current highest serial first showed
    propagation: float | None = None  # seconds the newest complete serial took to reach all
    # (serial, first seen on any server) of the zone's recorded serials, for "seconds behind"
    serials_first_seen: tuple[tuple[int, float], ...] = ()

    def behind_since(self, serial: int) -> float | None:
        """When the oldest serial newer than `serial` (RFC 1982) was first seen anywhere: the
        moment a server still on `serial` fell behind. Counting from the newest serial
        instead would make a server stuck for hours in a zone that changes every few
        minutes look only minutes behind."""
        newer = [seen for other, seen in self.serials_first_seen if is_newer(other, serial)]
        return min(newer) if newer else self.serial_first_seen

    @property
    def availability(self) -> float | None:
        """Share of the sweeps in the window that found the zone available; None without sweeps."""
        return self.available_sweeps / self.sweeps if self.sweeps else None


@dataclass(frozen=True, slots=True)
class StoreStatus:
    """Whether the results reach the store file: shown by /healthz and /metrics."""

    write_errors: int = 0  # failed write transactions since the process started
    error: str = ""  # why the latest write failed ("database or disk is full"); "" if it worked
    failing_since: float | None = None  # first failed write of the current run of failures

    @property
    def persisting(self) -> bool:
        """The latest write reached the store file."""
        return not self.error


@dataclass(frozen=True, slots=True)
class OutboxStatus:
    """The alert outbox as /metrics shows it (see monitor.alerts.courier.Courier)."""

    messages: Mapping[str, int] = field(default_factory=dict)  # state -> messages
    sent: int = 0  # messages the SMTP server accepted since the process started
    failures: Mapping[str, int] = field(default_factory=dict)  # reason -> failed tries


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything the read side shows, swapped as a whole after every change."""

    zones: tuple[str, ...] = ()  # configured, A-labels, in config order
    reports: Mapping[str, ZoneReport] = field(default_factory=dict)
    totals: Mapping[str, ZoneTotals] = field(default_factory=dict)
    history: Mapping[str, ZoneHistory] = field(default_factory=dict)
    interval: float = 60.0
    started_at: float = 0.0  # when this process started
    store: StoreStatus = field(default_factory=StoreStatus)
    outbox: OutboxStatus = field(default_factory=OutboxStatus)

    @property
    def last_completed(self) -> float | None:
        """When the latest sweep of any zone ended (epoch seconds); None before the first."""
        ends = [r.started_at + r.duration for r in self.reports.values()]
        return max(ends, default=None)

    def health(self, now: float | None = None) -> tuple[bool, str]:
        """Healthy while the store takes writes and some sweep completed within the last
        three intervals."""
        now = time.time() if now is None else now
        if self.store.error:  # results are shown but lost at a restart: say why
            return False, f"store not writable: {self.store.error} (results not stored)"
        limit = 3 * self.interval
        last = self.last_completed
        if last is not None and now - last <= limit:
            return True, f"last sweep completed {now - last:.1f} s ago"
        if last is None and now - self.started_at <= limit:
            return True, "starting: no sweep completed yet"
        if last is None:
            return False, f"no sweep completed in {now - self.started_at:.0f} s"
        return False, f"last sweep completed {now - last:.0f} s ago (limit {limit:.0f} s)"


class MonitorState:
    """Holder of the current snapshot. Only the event loop writes; any thread reads."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot

    def publish(self, report: ZoneReport, totals: ZoneTotals, history: ZoneHistory) -> None:
        """Swap in a snapshot with this zone's new report, totals and history."""
        snap = self.snapshot
        self.snapshot = replace(
            snap,
            reports={**snap.reports, report.zone: report},
            totals={**snap.totals, report.zone: totals},
            history={**snap.history, report.zone: history},
        )

    def publish_totals(self, zone: str, totals: ZoneTotals) -> None:
        """Swap in a snapshot with this zone's totals (a skipped or failed sweep)."""
        snap = self.snapshot
        self.snapshot = replace(snap, totals={**snap.totals, zone: totals})

    def publish_store(self, status: StoreStatus) -> None:
        """Swap in a snapshot with the store's write status."""
        self.snapshot = replace(self.snapshot, store=status)

    def publish_outbox(self, status: OutboxStatus) -> None:
        """Swap in a snapshot with the outbox's status."""
        self.snapshot = replace(self.snapshot, outbox=status)
