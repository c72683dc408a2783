"""Every ccmon_ metric, defined once, and the Collector that renders them.

The collector builds fresh metric families on each scrape from the current
:class:`monitor.status.Snapshot` (swapped whole after each sweep), so a scrape never sees
half a sweep and a server that left the delegation leaves the metrics with its report.
Values are as of the zone's last sweep, not measured at scrape time; the HELP texts say so.
Counters and the RTT histogram are cumulative across sweeps and restarts (the store keeps
them), so ``rate()`` and ``histogram_quantile()`` work as Prometheus users expect.

``docs/metrics.md`` lists the same metrics; ``tests/monitor`` keeps the two equal.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Iterator
from dataclasses import dataclass

from prometheus_client import ProcessCollector
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import CollectorRegistry

import probes.checks
from monitor.status import (
    Histogram,
    MonitorState,
    ServerView,
    Snapshot,
    ZoneHistory,
    ZoneTotals,
    nameservers_up,
    server_views,
)
from probes.model import FailureKind, Severity, ZoneReport

PREFIX = "ccmon_"

#: LAME01 reasons, pre-created at 0 for every server (a state set: at most one is 1).
LAME_REASONS: tuple[str, ...] = (
    "refused", "servfail", "not-authoritative", "referral", "nxdomain", "wrong-owner",
    "malformed", "other-rcode",
)  # fmt: skip

#: Check IDs whose findings gauge is pre-created at 0 for every zone: the engine's registry.
CHECKS: tuple[str, ...] = tuple(probes.checks.CHECKS)

#: Finding severities exposed (OK and INFO are not problems and are not counted).
SEVERITIES: tuple[Severity, ...] = (
    Severity.NOTICE, Severity.WARNING, Severity.ERROR, Severity.CRITICAL,
)  # fmt: skip

ZONE = ("dns_zone",)
SERVER = ("dns_zone", "nameserver", "address")
SERVER_T = (*SERVER, "transport")


@dataclass(frozen=True, slots=True)
class MetricSpec:
    name: str  # as exposed (counters with _total, histograms without _bucket)
    type: str  # gauge | counter | histogram
    labels: tuple[str, ...]
    help: str


_LAST = " (as of the zone's last sweep)"

METRICS: tuple[MetricSpec, ...] = (
    MetricSpec("ccmon_build_info", "gauge", ("version",), "Always 1; the ccmon version."),
    MetricSpec(
        "ccmon_nameserver_answered", "gauge", SERVER_T,
        "1 if the SOA query got a usable DNS reply (any rcode), 0 if not" + _LAST,
    ),
    MetricSpec(
        "ccmon_nameserver_up", "gauge", SERVER_T,
        "1 if the server answered SOA authoritatively within the RTT threshold (RTT01/RTT02)"
        + _LAST,
    ),
    MetricSpec(
        "ccmon_nameserver_response_time_seconds", "gauge", SERVER_T,
        "Round-trip time of the SOA query; absent when nothing came back" + _LAST,
    ),
    MetricSpec(
        "ccmon_nameserver_lame", "gauge", (*SERVER, "reason"),
        "1 for the LAME01 reason this server is lame with, 0 for the other reasons" + _LAST,
    ),
    MetricSpec(
        "ccmon_nameserver_soa_serial", "gauge", SERVER,
        "SOA serial from the server's authoritative answer" + _LAST,
    ),
    MetricSpec(
        "ccmon_nameserver_soa_serial_lag", "gauge", SERVER,
        "How far the server's serial is behind the zone's highest, RFC 1982 arithmetic" + _LAST,
    ),
    MetricSpec(
        "ccmon_nameserver_soa_serial_behind_seconds", "gauge", SERVER,
        "Seconds since the zone's highest serial was first seen, for servers still behind "
        "it; 0 for servers that have it" + _LAST,
    ),
    MetricSpec(
        "ccmon_zone_soa_serials", "gauge", ZONE,
        "Distinct SOA serials among authoritative answers; 1 means consistent" + _LAST,
    ),
    MetricSpec(
        "ccmon_zone_soa_propagation_seconds", "gauge", ZONE,
        "Seconds from the first sight of the newest fully propagated serial on any server to "
        "its sight on all (SOA03), resolution one sweep interval",
    ),
    MetricSpec(
        "ccmon_zone_nameservers", "gauge", ZONE, "Name servers (NS names) probed" + _LAST,
    ),
    MetricSpec(
        "ccmon_zone_nameservers_up", "gauge", ZONE,
        "Name servers answering authoritatively within the UDP threshold on all their "
        "addresses" + _LAST,
    ),
    MetricSpec(
        "ccmon_zone_available", "gauge", ZONE,
        "1 if at least 2 name servers are up on all their addresses (ICANN Spec 10)" + _LAST,
    ),
    MetricSpec(
        "ccmon_zone_severity", "gauge", ZONE,
        "Worst finding severity: 0 ok, 1 info, 2 notice, 3 warning, 4 error, 5 critical"
        + _LAST,
    ),
    MetricSpec(
        "ccmon_check_findings", "gauge", (*ZONE, "check", "severity"),
        "Findings per check and severity (notice and worse)" + _LAST,
    ),
    MetricSpec(
        "ccmon_last_sweep_timestamp_seconds", "gauge", ZONE,
        "Unix time the zone's last completed sweep ended",
    ),
    MetricSpec(
        "ccmon_sweep_duration_seconds", "gauge", ZONE,
        "Duration of the zone's last completed sweep",
    ),
    MetricSpec("ccmon_sweeps_total", "counter", ZONE, "Sweeps completed"),
    MetricSpec(
        "ccmon_sweeps_skipped_total", "counter", ZONE,
        "Scheduled sweeps skipped because the previous sweep of the zone was still running",
    ),
    MetricSpec(
        "ccmon_sweep_errors_total", "counter", ZONE, "Sweeps that failed without a report",
    ),
    MetricSpec("ccmon_probes_total", "counter", ZONE, "DNS queries sent"),
    MetricSpec(
        "ccmon_probe_failures_total", "counter", (*ZONE, "reason"),
        "DNS queries without a usable reply, by failure reason",
    ),
    MetricSpec(
        "ccmon_query_duration_seconds", "histogram", (*ZONE, "transport"),
        "Round-trip times of all DNS queries with a reply",
    ),
)  # fmt: skip

METRICS_BY_NAME = {spec.name: spec for spec in METRICS}


def version() -> str:
    try:
        return importlib.metadata.version("ccmon")
    except importlib.metadata.PackageNotFoundError:
        return "0+unknown"


def _new_family(spec: MetricSpec) -> Metric:
    labels = list(spec.labels)
    if spec.type == "counter":
        return CounterMetricFamily(spec.name, spec.help, labels=labels)
    if spec.type == "histogram":
        return HistogramMetricFamily(spec.name, spec.help, labels=labels)
    return GaugeMetricFamily(spec.name, spec.help, labels=labels)


class _Families:
    """One fresh family per metric for one collect()."""

    def __init__(self) -> None:
        self.by_name = {spec.name: _new_family(spec) for spec in METRICS}

    def add(self, name: str, labels: list[str], value: float) -> None:
        self.by_name[name].add_metric(labels, value)


class CcmonCollector:
    """Renders the current snapshot; holds no metric state of its own."""

    def __init__(self, state: MonitorState, build_version: str | None = None) -> None:
        self._state = state
        self._version = build_version or version()

    def describe(self) -> Iterator[Metric]:
        for spec in METRICS:
            yield _new_family(spec)

    def collect(self) -> Iterator[Metric]:
        snap: Snapshot = self._state.snapshot  # read once: one consistent view
        out = _Families()
        out.add("ccmon_build_info", [self._version], 1)
        zones = list(snap.zones) + sorted(set(snap.reports) - set(snap.zones))
        for zone in zones:
            report = snap.reports.get(zone)
            if report is not None:
                _zone_gauges(out, report, snap.history.get(zone) or ZoneHistory())
            _zone_counters(out, zone, snap.totals.get(zone) or ZoneTotals())
        yield from out.by_name.values()


def _zone_gauges(out: _Families, report: ZoneReport, history: ZoneHistory) -> None:
    zone = report.zone
    views = server_views(report)
    for view in views:
        _server_gauges(out, zone, view, report, history)
    up, total = nameservers_up(views)
    out.add("ccmon_zone_nameservers", [zone], total)
    out.add("ccmon_zone_nameservers_up", [zone], up)
    out.add("ccmon_zone_available", [zone], 1 if up >= 2 else 0)
    serials = {v.serial for v in views if v.serial is not None}
    out.add("ccmon_zone_soa_serials", [zone], len(serials))
    out.add("ccmon_zone_severity", [zone], int(report.severity))
    if history.propagation is not None:
        out.add("ccmon_zone_soa_propagation_seconds", [zone], history.propagation)
    counts: dict[tuple[str, str], int] = {
        (check, sev.name.lower()): 0 for check in CHECKS for sev in SEVERITIES
    }
    for finding in report.findings:
        if finding.severity >= Severity.NOTICE:
            key = (finding.check, finding.severity.name.lower())
            counts[key] = counts.get(key, 0) + 1
    for (check, severity), n in sorted(counts.items()):
        out.add("ccmon_check_findings", [zone, check, severity], n)
    out.add("ccmon_last_sweep_timestamp_seconds", [zone], report.started_at + report.duration)
    out.add("ccmon_sweep_duration_seconds", [zone], report.duration)


def _server_gauges(
    out: _Families, zone: str, view: ServerView, report: ZoneReport, history: ZoneHistory
) -> None:
    key = [zone, view.nameserver, view.address]
    for status in view.statuses:
        labels = [*key, str(status.transport)]
        out.add("ccmon_nameserver_answered", labels, 1 if status.answered else 0)
        out.add("ccmon_nameserver_up", labels, 1 if status.within_threshold else 0)
        if status.rtt is not None:
            out.add("ccmon_nameserver_response_time_seconds", labels, status.rtt)
    reasons = LAME_REASONS
    if view.lame_reason and view.lame_reason not in reasons:
        reasons = (*reasons, view.lame_reason)
    for reason in reasons:
        out.add("ccmon_nameserver_lame", [*key, reason], 1 if reason == view.lame_reason else 0)
    if view.serial is not None:
        out.add("ccmon_nameserver_soa_serial", key, view.serial)
    if view.lag is not None:
        out.add("ccmon_nameserver_soa_serial_lag", key, view.lag)
        if view.lag == 0:
            out.add("ccmon_nameserver_soa_serial_behind_seconds", key, 0)
        elif history.serial_first_seen is not None:
            behind = max(0.0, report.started_at - history.serial_first_seen)
            out.add("ccmon_nameserver_soa_serial_behind_seconds", key, behind)


def _zone_counters(out: _Families, zone: str, totals: ZoneTotals) -> None:
    out.add("ccmon_sweeps_total", [zone], totals.sweeps)
    out.add("ccmon_sweeps_skipped_total", [zone], totals.skipped)
    out.add("ccmon_sweep_errors_total", [zone], totals.errors)
    out.add("ccmon_probes_total", [zone], totals.queries)
    reasons = [str(k) for k in FailureKind]
    reasons += sorted(set(totals.failures) - set(reasons))
    for reason in reasons:
        out.add("ccmon_probe_failures_total", [zone, reason], totals.failures.get(reason, 0))
    histograms = out.by_name["ccmon_query_duration_seconds"]
    for transport in sorted(set(totals.rtt) | {"udp", "tcp"}):
        hist = totals.rtt.get(transport) or Histogram()
        histograms.add_metric([zone, transport], hist.cumulative(), hist.total)


def make_registry(state: MonitorState, build_version: str | None = None) -> CollectorRegistry:
    """A registry with the ccmon collector and the standard process metrics."""
    registry = CollectorRegistry()
    registry.register(CcmonCollector(state, build_version))
    ProcessCollector(registry=registry)
    return registry
