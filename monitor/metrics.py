"""Every ccmon_ metric, defined once, and the Collector that renders them.

The collector builds fresh metric families on each scrape from the current
:class:`monitor.snapshot.Snapshot` (swapped whole after each sweep), so a scrape never sees
half a sweep and a server that left the delegation leaves the metrics with its report.
Values are as of the zone's last sweep, not measured at scrape time; the HELP texts say so.
Counters and the RTT histogram are cumulative across sweeps and restarts (the store keeps
them), so ``rate()`` and ``histogram_quantile()`` work as Prometheus users expect.

What was not measured is not exposed as good or bad: a server row of a sweep
that could not measure it has no reachability, RTT, lameness or serial series (only
``ccmon_nameserver_measured 0``), and a zone with nothing measured (UNKNOWN: our vantage
point was offline) has no availability series for that sweep (``ccmon_zone_measured 0``),
so ``avg_over_time(ccmon_zone_available[30d])`` leaves the outage out by itself. The
vantage point's own state (``ccmon_vantage_*``) is an instance-level series per family.

``docs/metrics.md`` lists the same metrics; ``tests/monitor`` keeps the two equal.
"""

from __future__ import annotations

import importlib.metadata
import logging
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from prometheus_client import generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import CollectorRegistry
from prometheus_client.samples import Sample
from prometheus_client.utils import floatToGoString

from monitor.alerts import FAILURE_REASONS, OUTBOX_STATES
from monitor.process_metrics import ProcessMetrics
from monitor.snapshot import Histogram, MonitorState, Snapshot, ZoneHistory, ZoneTotals
from probes.addresses import Family, family_of
from probes.checks import CHECKS, Kind, edns
from probes.checks.pinned import pinned_age
from probes.model import (
    AddressSummary,
    DnssecState,
    FailureKind,
    ServerState,
    Severity,
    VantageState,
    ZoneReport,
)

log = logging.getLogger(__name__)

PREFIX = "ccmon_"

ZONE = ("dns_zone",)
FAMILY = ("family",)
FAMILIES: tuple[str, ...] = tuple(str(f) for f in Family)
VANTAGE_STATES: tuple[str, ...] = tuple(str(s) for s in VantageState)
SERVER = ("dns_zone", "nameserver", "address")
SERVER_T = (*SERVER, "transport")


@dataclass(frozen=True, slots=True)
class MetricSpec:
    """One metric family as exposed and documented in docs/metrics.md."""
    name: str  # as exposed (counters with _total, histograms without _bucket)
    type: str  # gauge | counter | histogram
    labels: tuple[str, ...]
    help: str


_LAST = " (as of the zone's last sweep)"
_FURTHER = (
    " (as of the zone's last further queries, repeated every further_checks_interval, "
    "default 1 h)"
)

METRICS: tuple[MetricSpec, ...] = (
    MetricSpec("ccmon_build_info", "gauge", ("version",), "Always 1; the ccmon version."),
    MetricSpec(
        "ccmon_vantage_up", "gauge", FAMILY,
        "1 if enough reference servers answered over the address family in this vantage "
        "point's latest sweep round (online), 0 if not (offline or absent)",
    ),
    MetricSpec(
        "ccmon_vantage_state", "gauge", (*FAMILY, "state"),
        "Vantage state set per address family: 1 for the current state (online, offline, "
        "absent), 0 for the others",
    ),
    MetricSpec(
        "ccmon_vantage_references", "gauge", FAMILY,
        "Reference addresses asked for the parent's SOA in the latest vantage check",
    ),
    MetricSpec(
        "ccmon_vantage_references_answering", "gauge", FAMILY,
        "Reference addresses that answered in the latest vantage check",
    ),
    MetricSpec(
        "ccmon_vantage_unmeasured_addresses", "gauge", FAMILY,
        "Distinct server addresses left unmeasured in the zones' last sweeps (their family "
        "offline or absent here, or a local error)",
    ),
    MetricSpec(
        "ccmon_nameserver_measured", "gauge", SERVER,
        "1 if the address was measured (over UDP or TCP), 0 if not (our family offline or "
        "absent, a local error): its other series are then absent" + _LAST,
    ),
    MetricSpec(
        "ccmon_nameserver_up", "gauge", SERVER_T,
        "1 if the server answered SOA authoritatively within the RTT threshold (RTT01/RTT02)"
        + _LAST,
    ),
    MetricSpec(
        "ccmon_nameserver_response_time_seconds", "gauge", SERVER_T,
        "Round-trip time of the SOA query; present exactly when a usable reply came back "
        "(any rcode)" + _LAST,
    ),
    MetricSpec(
        "ccmon_nameserver_udp_loss_ratio", "gauge", SERVER,
        "Share of UDP tries to the address that got no answer" + _LAST,
    ),
    MetricSpec(
        "ccmon_nameserver_lame", "gauge", (*SERVER, "reason"),
        "1 if the server is lame (LAME01), with the reason as label; 0 with reason none"
        + _LAST,
    ),
    MetricSpec(
        "ccmon_nameserver_soa_serial", "gauge", SERVER,
        "SOA serial from the server's authoritative answer" + _LAST,
    ),
    MetricSpec(
        "ccmon_nameserver_soa_serial_lag", "gauge", SERVER,
        "How far the server's serial is behind the zone's highest, RFC 1982 arithmetic; "
        "only for servers behind" + _LAST,
    ),
    MetricSpec(
        "ccmon_nameserver_soa_serial_behind_seconds", "gauge", SERVER,
        "Seconds since the oldest serial this server lacks was first seen on any server; "
        "only for servers behind"
        + _LAST,
    ),
    MetricSpec(
        "ccmon_nameserver_rrsig_expiry_timestamp_seconds", "gauge", SERVER,
        "Unix time at which the earliest RRSIG over the apex SOA and DNSKEY served by the "
        "address expires (DNSSEC03); absent for unsigned zones and unknown expiry" + _FURTHER,
    ),
    MetricSpec(
        "ccmon_nameserver_dnssec_valid", "gauge", SERVER,
        "1 if the address's RRSIGs over SOA and DNSKEY validate with the zone's keys "
        "(DNSSEC02), 0 if not; absent for unsigned zones" + _FURTHER,
    ),
    MetricSpec(
        "ccmon_nameserver_axfr_open", "gauge", SERVER,
        "1 if the address granted ccmon a zone transfer (AXFR, SEC01), 0 if it refused; "
        "absent without a reply" + _FURTHER,
    ),
    MetricSpec(
        "ccmon_nameserver_recursion_open", "gauge", SERVER,
        "1 if the address answered a recursive query for a name outside the zone (open "
        "resolver, SEC02), 0 if not; absent without a reply" + _FURTHER,
    ),
    MetricSpec(
        "ccmon_nameserver_edns_compliant", "gauge", SERVER,
        "1 if the address passed every EDNS01 test sent (plain, edns0, edns1, option, do), "
        "0 if it failed any" + _FURTHER,
    ),
    MetricSpec(
        "ccmon_nameserver_edns_failed_test_info", "gauge", (*SERVER, "test"),
        "Always 1, one series per EDNS01 test the address failed; absent for tests passed "
        "or not sent (why it failed is in the findings)" + _FURTHER,
    ),
    MetricSpec(
        "ccmon_nameserver_nsid_info", "gauge", (*SERVER, "nsid"),
        "Always 1; the NSID (RFC 5001) the address returned, at most "
        f"{edns.MAX_NSID_LENGTH} characters. Cardinality is bounded by the anycast instances "
        "answering at the address; absent when it returned none" + _FURTHER,
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
        "ccmon_zone_delegation_unpinned_seconds", "gauge", ZONE,
        "DELEG06: seconds since the parent's delegation (NS, glue or DS) was first seen "
        "differing from the one pinned in `expect:`, resolution one sweep interval; absent "
        "while it matches and for zones with nothing pinned",
    ),
    MetricSpec(
        "ccmon_zone_measured", "gauge", ZONE,
        "1 if the zone's last sweep measured it, 0 if nothing could be measured (UNKNOWN: "
        "this vantage point was offline); then its availability series are absent",
    ),
    MetricSpec(
        "ccmon_zone_nameservers", "gauge", ZONE,
        "Name servers (NS names) with at least one measured address" + _LAST,
    ),
    MetricSpec(
        "ccmon_zone_nameservers_up", "gauge", ZONE,
        "Name servers answering authoritatively within the UDP threshold on all their "
        "measured addresses" + _LAST,
    ),
    MetricSpec(
        "ccmon_zone_available", "gauge", ZONE,
        "1 if at least 2 name servers are up on all their addresses (ICANN Spec 10); absent "
        "when too little was measured to tell" + _LAST,
    ),
    MetricSpec(
        "ccmon_zone_severity", "gauge", ZONE,
        "Worst finding severity: 0 ok, 1 info, 2 notice, 3 warning, 4 error, 5 critical"
        + _LAST,
    ),
    MetricSpec(
        "ccmon_zone_dnssec_status", "gauge", (*ZONE, "state"),
        "DNSSEC state set: 1 for the zone's state (secure, island, unsigned, bogus, unknown), "
        "0 for the others" + _FURTHER,
    ),
    MetricSpec(
        "ccmon_check_findings", "gauge", (*ZONE, "check", "severity"),
        "Findings per check and severity (notice and worse; absent means none)" + _LAST,
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
    MetricSpec(
        "ccmon_web_auth_failures_total", "counter", (),
        "Requests to the web server refused for wrong credentials or too many failed logins",
    ),
)  # fmt: skip

# --- self-metrics of the store and the alert outbox ------------------------
# Not per zone: rendered from Snapshot.store and Snapshot.outbox (see self_rows).

SELF_METRICS: tuple[MetricSpec, ...] = (
    MetricSpec(
        "ccmon_store_persisting", "gauge", (),
        "1 if the latest write to the store file worked; 0 while results are published "
        "but not stored (disk full, read-only; /healthz names the cause)",
    ),
    MetricSpec(
        "ccmon_store_write_errors_total", "counter", (),
        "Failed write transactions to the store file (sweep results, counters, alert "
        "state, outbox) since the process started",
    ),
    MetricSpec(
        "ccmon_alert_outbox_messages", "gauge", ("state",),
        "Alert e-mails in the outbox by state: pending, sent and failed (kept for the "
        "store retention), unrecorded (outcome known, kept in memory until the store can "
        "record it)",
    ),
    MetricSpec(
        "ccmon_alert_emails_sent_total", "counter", (),
        "Alert e-mails the SMTP server accepted since the process started",
    ),
    MetricSpec(
        "ccmon_alert_email_failures_total", "counter", ("reason",),
        "Tries that did not deliver an alert e-mail since the process started, by reason: "
        + ", ".join(FAILURE_REASONS),
    ),
)  # fmt: skip

# --- the config file: named as Prometheus names its own --------------------
# ccmon reads its config once, at start, and does not start without a valid one, so the
# last load is always a success; a reload would set these again.

CONFIG_METRICS: tuple[MetricSpec, ...] = (
    MetricSpec(
        "ccmon_config_last_reload_successful", "gauge", (),
        "1 if the last load of the config file succeeded (ccmon loads it at start)",
    ),
    MetricSpec(
        "ccmon_config_last_reload_success_timestamp_seconds", "gauge", (),
        "Unix time of the last successful load of the config file",
    ),
    MetricSpec(
        "ccmon_check_info", "gauge", ("check", "kind"),
        "Always 1, one series per check `ccmon run` judges (the check registry; kind sweep "
        "or history): the values of `check` exist before any finding",
    ),
)  # fmt: skip

#: The checks `ccmon run` judges, in the registry's order (precheck checks judge proposals).
RUN_CHECKS = tuple(check for check in CHECKS.values() if check.kind is not Kind.PRECHECK)
METRICS = METRICS + SELF_METRICS + CONFIG_METRICS


def config_rows(loaded_at: float) -> list[Row]:
    """The samples of CONFIG_METRICS: the config in use was loaded at `loaded_at`."""
    out = _Rows()
    out.add("ccmon_config_last_reload_successful", [], 1)
    out.add("ccmon_config_last_reload_success_timestamp_seconds", [], loaded_at)
    for check in RUN_CHECKS:
        out.add("ccmon_check_info", [check.id, str(check.kind)], 1)
    return out.rows


def self_rows(snap: Snapshot) -> list[Row]:
    """The samples of SELF_METRICS, every label value pre-created."""
    out = _Rows()
    store, outbox = snap.store, snap.outbox
    out.add("ccmon_store_persisting", [], int(store.persisting))
    out.add("ccmon_store_write_errors_total", [], store.write_errors)
    for state in OUTBOX_STATES:
        out.add("ccmon_alert_outbox_messages", [state], outbox.messages.get(state, 0))
    out.add("ccmon_alert_emails_sent_total", [], outbox.sent)
    for reason in FAILURE_REASONS:
        out.add("ccmon_alert_email_failures_total", [reason], outbox.failures.get(reason, 0))
    return out.rows


METRICS_BY_NAME = {spec.name: spec for spec in METRICS}


def version() -> str:
    """The installed ccmon version, for ccmon_build_info; "0+unknown" when not installed."""
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


Labels = tuple[tuple[str, str], ...]  # sorted by label name, as the exposition wants them


@dataclass(frozen=True, slots=True)
class Row:
    """One sample of one family, with its labels."""
    family: str  # MetricSpec.name
    sample: str  # sample name (``_bucket``, ``_count``, ``_sum`` for the histogram)
    labels: Labels
    value: float


class _Rows:
    """Collects the rows of one zone, labels paired with the spec's label names."""

    def __init__(self) -> None:
        self.rows: list[Row] = []

    def add(self, name: str, values: list[str], value: float, sample: str = "") -> None:
        names = METRICS_BY_NAME[name].labels
        if sample.endswith("_bucket"):
            names = (*names, "le")
        labels = tuple(sorted(zip(names, values, strict=True)))
        self.rows.append(Row(name, sample or name, labels, float(value)))


def zone_rows(
    zone: str, report: ZoneReport | None, history: ZoneHistory, totals: ZoneTotals
) -> list[Row]:
    """Every sample one zone contributes, in family order within the zone."""
    out = _Rows()
    if report is not None:
        _zone_gauges(out, report, history)
    _zone_counters(out, zone, totals)
    return out.rows


def _zone_gauges(out: _Rows, report: ZoneReport, history: ZoneHistory) -> None:
    zone = report.zone
    for view in report.addresses:
        if view.measured:
            _server_gauges(out, zone, view, report, history)
        else:
            out.add("ccmon_nameserver_measured", [zone, view.nameserver, view.address], 0)
    out.add("ccmon_zone_measured", [zone], 0 if report.unknown else 1)
    if not report.unknown:
        up, total = report.nameservers_up
        out.add("ccmon_zone_soa_serials", [zone], report.distinct_serials)
        out.add("ccmon_zone_nameservers", [zone], total)
        if report.available is not None:
            out.add("ccmon_zone_nameservers_up", [zone], up)
            out.add("ccmon_zone_available", [zone], int(report.available))
    if history.propagation is not None:
        out.add("ccmon_zone_soa_propagation_seconds", [zone], history.propagation)
    unpinned = pinned_age(report)
    if unpinned is not None:
        out.add("ccmon_zone_delegation_unpinned_seconds", [zone], unpinned)
    out.add("ccmon_zone_severity", [zone], int(report.severity))
    if not report.unknown:  # "unknown" DNSSEC because we saw nothing is not the zone's state
        for state in DnssecState:
            out.add("ccmon_zone_dnssec_status", [zone, str(state)], int(state == report.dnssec))
    counts: dict[tuple[str, str], int] = {}
    for finding in report.findings:
        if finding.severity >= Severity.NOTICE:
            key = (finding.check, finding.severity.name.lower())
            counts[key] = counts.get(key, 0) + 1
    for (check, severity), n in sorted(counts.items()):
        out.add("ccmon_check_findings", [zone, check, severity], n)
    out.add("ccmon_last_sweep_timestamp_seconds", [zone], report.started_at + report.duration)
    out.add("ccmon_sweep_duration_seconds", [zone], report.duration)


def _server_gauges(
    out: _Rows, zone: str, view: AddressSummary, report: ZoneReport, history: ZoneHistory
) -> None:
    key = [zone, view.nameserver, view.address]
    out.add("ccmon_nameserver_measured", key, 1)
    for status in view.statuses:
        labels = [*key, str(status.transport)]
        out.add("ccmon_nameserver_up", labels, 1 if status.within_threshold else 0)
        if status.answered and status.rtt is not None:  # absent: no usable reply
            out.add("ccmon_nameserver_response_time_seconds", labels, status.rtt)
    if view.udp is not None and view.udp.udp_loss is not None:
        out.add("ccmon_nameserver_udp_loss_ratio", key, view.udp.udp_loss)
    lame = view.state is ServerState.LAME
    out.add("ccmon_nameserver_lame", [*key, view.lame_reason if lame else "none"], int(lame))
    if view.serial is not None:
        out.add("ccmon_nameserver_soa_serial", key, view.serial)
    if view.lag:  # servers behind only: 0 for every current server would cost a series each
        out.add("ccmon_nameserver_soa_serial_lag", key, view.lag)
        since = history.behind_since(view.serial) if view.lag and view.serial is not None \
            else None
        if since is not None:
            behind = max(0.0, report.started_at - since)
            out.add("ccmon_nameserver_soa_serial_behind_seconds", key, behind)
    _further_gauges(out, key, view)


def _further_gauges(out: _Rows, key: list[str], view: AddressSummary) -> None:
    """The facts of the further queries, kept on the address's UDP row."""
    facts = view.udp
    if facts is None:
        return
    if facts.rrsig_expires_at is not None:
        out.add("ccmon_nameserver_rrsig_expiry_timestamp_seconds", key, facts.rrsig_expires_at)
    for name, flag in (("ccmon_nameserver_dnssec_valid", facts.dnssec_valid),
                       ("ccmon_nameserver_axfr_open", facts.axfr_open),
                       ("ccmon_nameserver_recursion_open", facts.recursion_open)):
        if flag is not None:
            out.add(name, key, int(flag))
    sent = [test for test in edns.TESTS if facts.edns.get(test)]  # the closed set only
    failed = [test for test in sent if facts.edns[test] != "ok"]  # outcome words: findings
    if sent:
        out.add("ccmon_nameserver_edns_compliant", key, int(not failed))
    for test in failed:
        out.add("ccmon_nameserver_edns_failed_test_info", [*key, test], 1)
    if facts.nsid:
        out.add("ccmon_nameserver_nsid_info", [*key, facts.nsid[:edns.MAX_NSID_LENGTH]], 1)


def _references(report: ZoneReport, family: str) -> tuple[int, int] | None:
    """(answering, asked) reference addresses of the report's vantage check, if it says."""
    counts = getattr(report, "vantage_references", {}).get(family)
    if counts is not None:
        return int(counts[0]), int(counts[1])
    for finding in report.findings:
        args = finding.args
        if finding.check == "VANTAGE01" and args.get("family") == family and "references" in args:
            return int(args.get("answering", 0)), int(args["references"])
    return None


def vantage_rows(reports: Iterable[ZoneReport]) -> list[Row]:
    """The vantage point's series: per family, the verdict of the latest sweep round that
    assessed it (any zone's report carries it), and the addresses left unmeasured."""
    latest: dict[str, ZoneReport] = {}
    unmeasured: dict[str, set[str]] = {}
    for report in reports:
        for family in report.vantage:
            seen = latest.get(family)
            if seen is None or report.started_at > seen.started_at:
                latest[family] = report
        for address in report.unmeasured:
            unmeasured.setdefault(family_of(address), set()).add(address)
    families = [f for f in FAMILIES if f in latest or f in unmeasured]
    families += sorted((set(latest) | set(unmeasured)) - set(FAMILIES))
    out = _Rows()
    for family in families:
        newest = latest.get(family)
        if newest is None:
            continue
        report = newest
        state = str(report.vantage[family])
        out.add("ccmon_vantage_up", [family], int(state == VantageState.ONLINE))
        for name in (*VANTAGE_STATES, *([] if state in VANTAGE_STATES else [state])):
            out.add("ccmon_vantage_state", [family, name], int(name == state))
        counts = _references(report, family)
        if counts is not None:
            out.add("ccmon_vantage_references", [family], counts[1])
            out.add("ccmon_vantage_references_answering", [family], counts[0])
    for family in families:
        out.add("ccmon_vantage_unmeasured_addresses", [family], len(unmeasured.get(family, ())))
    return out.rows


def _zone_counters(out: _Rows, zone: str, totals: ZoneTotals) -> None:
    out.add("ccmon_sweeps_total", [zone], totals.sweeps)
    out.add("ccmon_sweeps_skipped_total", [zone], totals.skipped)
    out.add("ccmon_sweep_errors_total", [zone], totals.errors)
    out.add("ccmon_probes_total", [zone], totals.queries)
    reasons = [str(k) for k in FailureKind]
    reasons += sorted(set(totals.failures) - set(reasons))
    for reason in reasons:
        out.add("ccmon_probe_failures_total", [zone, reason], totals.failures.get(reason, 0))
    name = "ccmon_query_duration_seconds"
    for transport in sorted(set(totals.rtt) | {"udp", "tcp"}):
        hist = totals.rtt.get(transport) or Histogram()
        for le, count in hist.cumulative():
            out.add(name, [zone, transport, le], count, sample=name + "_bucket")
        out.add(name, [zone, transport], hist.count, sample=name + "_count")
        out.add(name, [zone, transport], hist.total, sample=name + "_sum")


# --- rendering, cached per zone ------------------------------------------------------


def _escape(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def _line(row: Row) -> str:
    if not row.labels:  # as prometheus_client writes it: no braces
        return f"{row.sample} {floatToGoString(row.value)}\n"
    labels = ",".join(f'{k}="{_escape(v)}"' for k, v in row.labels)
    return f"{row.sample}{{{labels}}} {floatToGoString(row.value)}\n"


@dataclass(slots=True)
class _ZoneEntry:
    report: ZoneReport | None
    history: ZoneHistory
    totals: ZoneTotals
    zone: str
    # Only the text is kept, not the rows: ~20 Row objects and label tuples per address
    # would be most of the process's objects, and every full garbage collection walks
    # them while holding the GIL (385 ms at 309 zones, a scrape's whole p99 budget gone).
    text: dict[str, bytes]  # family -> its lines for this zone, text format 0.0.4

    def rows(self) -> list[Row]:
        """The zone's rows, rebuilt (for the client library's encoders: OpenMetrics)."""
        return zone_rows(self.zone, self.report, self.history, self.totals)


def _headers() -> dict[str, bytes]:
    out = {}
    for spec in METRICS:
        doc = spec.help.replace("\\", r"\\").replace("\n", r"\n")
        kind = spec.type
        out[spec.name] = f"# HELP {spec.name} {doc}\n# TYPE {spec.name} {kind}\n".encode()
    return out


def _texts(rows: list[Row]) -> dict[str, bytes]:
    """The rows' lines joined per family, as bytes."""
    lines: dict[str, list[str]] = {}
    for row in rows:
        lines.setdefault(row.family, []).append(_line(row))
    return {family: "".join(each).encode() for family, each in lines.items()}


_HEADERS = _headers()


class CcmonCollector:
    """Renders the current snapshot; its only state is a cache of rendered zones.

    A zone's rows and text are rebuilt only when one of its (immutable) report, history
    or totals objects was swapped, so a scrape of 300 zones formats only what changed.
    """

    def __init__(
        self, state: MonitorState, build_version: str | None = None,
        config_loaded_at: float | None = None,
    ) -> None:  # fmt: skip
        self._state = state
        self._version = build_version or version()
        # without a time from the caller: the snapshot's start, right after the config load
        self._config_loaded_at = config_loaded_at
        self._cache: dict[str, _ZoneEntry] = {}
        self._vantage: tuple[Mapping[str, ZoneReport] | None, list[Row], dict[str, bytes]] = (
            None, [], {},
        )  # fmt: skip
        self._lock = threading.Lock()
        self.web_auth_failures = 0  # counted by monitor.web.auth.Guard (the web thread)
        self.on_change: Callable[[], None] | None = None  # called after warm()

    def count_web_auth_failure(self) -> None:
        """Count one refused web login (ccmon_web_auth_failures_total)."""
        self.web_auth_failures += 1

    def _config_rows(self, snap: Snapshot) -> list[Row]:
        loaded = self._config_loaded_at
        return config_rows(snap.started_at if loaded is None else loaded)

    def describe(self) -> Iterator[Metric]:
        """The families, empty, so the registry knows their names without a render."""
        for spec in METRICS:
            yield _new_family(spec)

    def _vantage_entry(self, snap: Snapshot) -> tuple[list[Row], dict[str, bytes]]:
        """The vantage rows, rebuilt when the reports were swapped."""
        with self._lock:
            reports, rows, text = self._vantage
            if reports is not snap.reports:
                rows = vantage_rows(snap.reports.values())
                text = _texts(rows)
                self._vantage = (snap.reports, rows, text)
            return rows, text

    def _entries(self, snap: Snapshot | None = None) -> list[_ZoneEntry]:
        if snap is None:
            snap = self._state.snapshot  # read once: one consistent view
        zones = list(snap.zones) + sorted(set(snap.reports) - set(snap.zones))
        entries = []
        with self._lock:
            for zone in zones:
                report = snap.reports.get(zone)
                history = snap.history.get(zone) or _NO_HISTORY
                totals = snap.totals.get(zone) or _NO_TOTALS
                entries.append(self._entry(zone, report, history, totals))
            if len(self._cache) > len(zones):
                for gone in set(self._cache) - set(zones):
                    del self._cache[gone]
        return entries

    def _entry(
        self, zone: str, report: ZoneReport | None, history: ZoneHistory, totals: ZoneTotals
    ) -> _ZoneEntry:
        """The zone's cached entry, rebuilt if one of its objects was swapped (lock held)."""
        entry = self._cache.get(zone)
        if entry is None or not (
            entry.report is report and entry.history is history and entry.totals is totals
        ):
            text = _texts(zone_rows(zone, report, history, totals))
            entry = _ZoneEntry(report, history, totals, zone, text)
            self._cache[zone] = entry
        return entry

    def warm(self, zone: str | None = None) -> None:
        """Render what changed now (the service calls this after a zone's sweep, so the
        rendering cost lands on the sweeping side, not on the next scrape): that zone only
        when named, else every zone. Then tell the listener (the Exporter's renderer)."""
        if zone is None:
            self._entries()
        else:
            snap = self._state.snapshot
            with self._lock:
                self._entry(zone, snap.reports.get(zone), snap.history.get(zone) or _NO_HISTORY,
                            snap.totals.get(zone) or _NO_TOTALS)  # fmt: skip
        if self.on_change is not None:
            self.on_change()

    def collect(self) -> Iterator[Metric]:
        """Every family with the current snapshot's samples, for prometheus_client registries."""
        families = {spec.name: _new_family(spec) for spec in METRICS}
        build = families["ccmon_build_info"]
        assert isinstance(build, GaugeMetricFamily)
        build.add_metric([self._version], 1)
        snap = self._state.snapshot
        for row in self_rows(snap) + self._config_rows(snap):
            families[row.family].samples.append(Sample(row.sample, dict(row.labels), row.value))
        failures = families["ccmon_web_auth_failures_total"]
        assert isinstance(failures, CounterMetricFamily)
        failures.add_metric([], self.web_auth_failures)
        for row in self._vantage_entry(snap)[0]:
            families[row.family].samples.append(Sample(row.sample, dict(row.labels), row.value))
        for entry in self._entries(snap):
            for row in entry.rows():
                families[row.family].samples.append(Sample(row.sample, dict(row.labels), row.value))
        yield from families.values()

    def text(self) -> str:
        """The ccmon families in text format 0.0.4, as generate_latest() would write them."""
        return b"".join(self.chunks()).decode()

    def chunks(self, snap: Snapshot | None = None, *, skip: tuple[str, ...] = ()) -> list[bytes]:
        """The exposition of `snap` (default: the current snapshot), one bytes chunk per
        family in METRICS order, leaving out the families named in `skip`."""
        if snap is None:
            snap = self._state.snapshot
        entries = self._entries(snap)
        vantage = self._vantage_entry(snap)[1]
        own = _texts(self_rows(snap) + self._config_rows(snap))
        out = []
        for spec in METRICS:
            name = spec.name
            if name in skip:
                continue
            parts = [_HEADERS[name]]
            if name == "ccmon_build_info":
                parts.append(f'ccmon_build_info{{version="{_escape(self._version)}"}} 1.0\n'
                             .encode())  # fmt: skip
            parts.append(own.get(name, b""))
            if name == "ccmon_web_auth_failures_total":
                parts.append(self.auth_failures_line())
            parts.append(vantage.get(name, b""))
            parts.extend(e.text.get(name, b"") for e in entries)
            out.append(b"".join(parts))
        return out

    def auth_failures_line(self) -> bytes:
        """The sample of ccmon_web_auth_failures_total (counted at request time)."""
        value = floatToGoString(self.web_auth_failures)
        return f"ccmon_web_auth_failures_total {value}\n".encode()


_NO_HISTORY = ZoneHistory()
_NO_TOTALS = ZoneTotals()


# --- the served exposition: rendered once per change, served from bytes ----------------

#: Families rendered per request (they change between sweeps): the rest comes from the cache.
_PER_REQUEST = ("ccmon_web_auth_failures_total",)
#: A render waits at least this long after the previous one, and at least RENDER_SPACING
#: times the previous render's duration, so rendering takes at most ~1/RENDER_SPACING of a
#: core however often zones finish their sweeps.
RENDER_MIN_GAP = 0.1
RENDER_SPACING = 10.0
#: The renderer thread ends after this long without a change (a new change starts it again).
RENDER_IDLE_EXIT = 30.0


@dataclass(frozen=True, slots=True)
class Rendered:
    """One render of the exposition: its chunks (one per family), and the same bytes as an
    open gzip stream (sync-flushed, not finished) with the compressor that continues it.
    The plain form is joined per request: scrapers ask for gzip, so the steady memory is
    the chunks and the much smaller gzip stream, not a second plain copy."""

    snapshot: Snapshot
    chunks: tuple[bytes, ...]
    zipped: bytes
    compressor: Any  # zlib.Compress: copy() it, compress the tail, flush()
    seconds: float  # how long the render took

    def plain(self, tail: bytes) -> bytes:
        """The uncompressed exposition: the cached chunks and this request's tail."""
        return b"".join((*self.chunks, tail))

    def gzip(self, tail: bytes) -> bytes:
        """A complete gzip member of plain + tail; compresses only the tail."""
        compressor = self.compressor.copy()
        return self.zipped + compressor.compress(tail) + compressor.flush()


def render(
    chunks: list[bytes], snapshot: Snapshot, level: int = 1, started: float | None = None
) -> Rendered:
    """Gzip the chunks once (zlib releases the GIL while it deflates a chunk); `started`:
    when the work began (the chunks' assembly), for Rendered.seconds."""
    started = time.perf_counter() if started is None else started
    compressor = zlib.compressobj(level, zlib.DEFLATED, 31)  # 31: gzip header and trailer
    zipped = [compressor.compress(chunk) for chunk in chunks]
    zipped.append(compressor.flush(zlib.Z_SYNC_FLUSH))
    return Rendered(snapshot, tuple(chunks), b"".join(zipped), compressor,
                    time.perf_counter() - started)  # fmt: skip


class Exporter:
    """What /metrics serves: the ccmon collector plus the process collector.

    :meth:`serve` is the fast path of the classic text format: the ccmon families are
    rendered (plain and gzip) by a background thread after each change the collector is told
    of (``warm``) and served from those bytes; only the process metrics and the web-auth
    counter are rendered per request and appended (to the gzip stream, too, as one member).
    A scrape during a render gets the previous render: at most one render behind.
    """

    def __init__(
        self, state: MonitorState, build_version: str | None = None,
        config_loaded_at: float | None = None,
    ) -> None:  # fmt: skip
        self.state = state
        self.collector = CcmonCollector(state, build_version, config_loaded_at)
        self.process = CollectorRegistry()
        ProcessMetrics(self.process)
        self.registry = CollectorRegistry()
        self.registry.register(self.collector)
        ProcessMetrics(self.registry)
        self._rendered: Rendered | None = None
        self._wake = threading.Condition()
        self._wanted = False
        self._thread: threading.Thread | None = None
        self._render_lock = threading.Lock()  # one render at a time
        self.renders = 0
        self.collector.on_change = self.changed

    def text(self) -> bytes:
        """The classic text format of the current snapshot, rendered now (no cache)."""
        return self.collector.text().encode() + generate_latest(self.process)

    def _tail(self) -> bytes:
        families = _HEADERS["ccmon_web_auth_failures_total"]
        return families + self.collector.auth_failures_line() + generate_latest(self.process)

    def serve(self, zipped: bool) -> bytes:
        """The exposition from the latest render (gzip or plain), plus the per-request tail.
        Without any render yet it renders now; a stale render asks for a new one."""
        rendered = self._rendered
        if rendered is None:
            rendered = self.render_now()
        elif rendered.snapshot is not self.state.snapshot:
            self.changed()
        tail = self._tail()
        return rendered.gzip(tail) if zipped else rendered.plain(tail)

    def render_now(self) -> Rendered:
        """The render of the current snapshot, rendering it now unless already cached."""
        with self._render_lock:
            snap = self.state.snapshot
            rendered = self._rendered
            if rendered is None or rendered.snapshot is not snap:
                started = time.perf_counter()
                chunks = self.collector.chunks(snap, skip=_PER_REQUEST)
                rendered = render(chunks, snap, started=started)
                self._rendered = rendered
                self.renders += 1
            return rendered

    def changed(self) -> None:
        """Ask the renderer thread for a render (coalesced; never blocks the caller)."""
        with self._wake:
            self._wanted = True
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="ccmon-metrics-render",
                                                daemon=True)  # fmt: skip
                self._thread.start()
            else:
                self._wake.notify()

    def _run(self) -> None:
        not_before = 0.0
        while True:
            with self._wake:
                if not self._wanted:
                    self._wake.wait(RENDER_IDLE_EXIT)
                if not self._wanted:
                    self._thread = None
                    return
            time.sleep(max(0.0, not_before - time.monotonic()))  # coalesce a burst of sweeps
            with self._wake:
                self._wanted = False
            try:
                rendered = self.render_now()
            except Exception:  # a broken render must not end the thread: scrapes still work
                log.exception("rendering /metrics failed")
                rendered = None
            spacing = RENDER_SPACING * (rendered.seconds if rendered else 1.0)
            not_before = time.monotonic() + max(RENDER_MIN_GAP, spacing)


def make_registry(state: MonitorState, build_version: str | None = None) -> CollectorRegistry:
    """A registry with the ccmon collector and the standard process metrics."""
    return Exporter(state, build_version).registry
