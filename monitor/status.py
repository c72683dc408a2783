"""What the monitor knows right now, and the per-zone figures every view shares.

The service swaps in a new immutable :class:`Snapshot` after each sweep (one writer: the
event loop). The metrics collector, the JSON API and the status page only read whichever
snapshot is current, so none of them ever sees half a sweep, and all three derive their
figures (serial lag, servers up, availability, RTT percentiles) from the same functions
below, so the page and the metrics never disagree.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import dns.exception
import dns.name
import dns.serial

from probes.checks.availability import MIN_SERVERS_UP
from probes.model import Finding, ServerStatus, Severity, Transport, ZoneReport
from probes.serial import highest_serial, serial_lag

#: Upper bounds (seconds) of the RTT histogram buckets. 0.5 and 1.5 are the ICANN UDP and
#: TCP service levels, 0.06 and 0.25 the DNSMON colour breakpoints, 2.5 and 7.5 the UDP and
#: TCP "unanswered" cut-offs.
BUCKETS: tuple[float, ...] = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.06, 0.1, 0.25, 0.5, 1.0, 1.5, 2.5, 5.0, 7.5,
)  # fmt: skip

#: Server states of the status grid, worst first.
STATES: tuple[str, ...] = ("down", "lame", "stale", "slow", "degraded", "ok", "unmeasured")


#: DNSSEC states of a zone (ZoneReport.dnssec, "" read as "unknown"), a closed set, and
#: their rank for sorting (higher is better; an unknown state has none).
DNSSEC_STATES: tuple[str, ...] = ("secure", "island", "unsigned", "bogus", "unknown")
DNSSEC_RANK = {"secure": 3, "island": 2, "unsigned": 1, "bogus": 0}


def unicode_zone(zone: str) -> str:
    """The zone as a reader writes it: U-labels for IDN, no trailing dot.

    Label by label; a label that is not a valid A-label (invalid punycode such as
    ``xn--a``, which Python's codec decodes to a different name) stays as sent."""
    try:
        labels = [raw for raw in dns.name.from_text(zone).labels if raw]
    except (dns.exception.DNSException, UnicodeError, ValueError):
        return zone
    return ".".join(readable_label(dns.name.Name([raw]).to_text()) for raw in labels) or "."


def readable_label(label: str) -> str:
    """One label as text: its U-label when it is an A-label that round-trips, else as is."""
    if not label.lower().startswith("xn--"):
        return label
    try:
        unicode = dns.name.from_text(label).to_unicode(omit_final_dot=True)
        back = dns.name.from_unicode(unicode).to_text(omit_final_dot=True)
    except (dns.exception.DNSException, UnicodeError, ValueError):
        return label
    return unicode if back.lower() == label.lower() else label


def normalise_zone(text: str) -> str | None:
    """A-label form without trailing dot ("fr", "xn--fiqs8s") of a zone typed any way."""
    try:
        name = dns.name.from_unicode(text.strip()) if text.strip() else None
    except (dns.exception.DNSException, UnicodeError, ValueError):
        return None
    if name is None:
        return None
    return name.to_text(omit_final_dot=True).lower()


def is_ipv6(address: str) -> bool:
    """The address is IPv6; text that does not parse counts as IPv6 when it holds a colon."""
    try:
        return ipaddress.ip_address(address).version == 6
    except ValueError:
        return ":" in address


# --- serials -------------------------------------------------------------------------


def serial_lags(serials: Mapping[Any, int]) -> dict[Any, int]:
    """Each key's lag behind the highest serial, RFC 1982: (highest - serial) mod 2**32."""
    top = highest_serial(serials.values())
    if top is None:
        return {}
    return {key: serial_lag(s, top) for key, s in serials.items()}


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
        newer = [seen for other, seen in self.serials_first_seen
                 if dns.serial.Serial(other) > dns.serial.Serial(serial)]
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
    """The alert outbox as /metrics shows it (see monitor.outbox.Courier)."""

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


# --- per server and per zone views ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class ServerView:
    """One (name server, address) with its UDP and TCP results side by side."""

    nameserver: str
    address: str
    udp: ServerStatus | None
    tcp: ServerStatus | None
    serial: int | None  # from an authoritative answer, UDP first
    lag: int | None  # RFC 1982 distance behind the zone's highest serial
    lame_reason: str
    state: str

    @property
    def ipv6(self) -> bool:
        """The address is an IPv6 address."""
        return is_ipv6(self.address)

    @property
    def rtt(self) -> float | None:
        """The UDP SOA round trip in seconds; None when UDP was not probed or had no answer."""
        return self.udp.rtt if self.udp is not None else None

    @property
    def statuses(self) -> tuple[ServerStatus, ...]:
        """The UDP and TCP rows that exist, UDP first."""
        return tuple(s for s in (self.udp, self.tcp) if s is not None)

    @property
    def measured(self) -> bool:
        """False when this vantage point could not measure the address: then it
        is neither up nor down, and counts for no availability figure."""
        return all(s.measured for s in self.statuses)

    @property
    def up(self) -> bool:
        """Counts for ICANN-style availability: UDP (TCP if UDP was not probed) in time."""
        first = self.udp if self.udp is not None else self.tcp
        return bool(first and first.within_threshold)

    # The further queries' facts live on the UDP row (one value per address).

    @property
    def rrsig_expires_at(self) -> float | None:
        """When this address's signatures expire (epoch seconds); None when unknown or unsigned."""
        return self.udp.rrsig_expires_at if self.udp is not None else None

    @property
    def dnssec_valid(self) -> bool | None:
        """Whether its DNSSEC signatures validated; None when not checked."""
        return self.udp.dnssec_valid if self.udp is not None else None

    @property
    def nsid(self) -> str:
        """The NSID the address returned; "" when none."""
        return self.udp.nsid if self.udp is not None else ""

    @property
    def axfr_open(self) -> bool:
        """The address granted a zone transfer to us."""
        return bool(self.udp is not None and self.udp.axfr_open)

    @property
    def recursion_open(self) -> bool:
        """The address answered a recursive query for a name outside the zone."""
        return bool(self.udp is not None and self.udp.recursion_open)

    @property
    def edns_problems(self) -> dict[str, str]:
        """EDNS01 test -> outcome word, for the tests the address failed."""
        if self.udp is None:
            return {}
        return {t: o for t, o in self.udp.edns.items() if o and o != "ok"}


def _serial_of(udp: ServerStatus | None, tcp: ServerStatus | None) -> int | None:
    for s in (udp, tcp):
        if s is not None and s.authoritative and s.serial is not None:
            return s.serial
    return None


def _state(rows: tuple[ServerStatus, ...], lag: int | None) -> tuple[str, str]:
    if not all(s.measured for s in rows):
        return "unmeasured", ""
    answered = [s for s in rows if s.answered]
    lame = [s for s in rows if s.lame_reason or (s.answered and not s.authoritative)]
    if lame:  # a reply that came only as garbage is lame ("malformed") though unanswered
        return "lame", lame[0].lame_reason or "unknown"
    if not answered:
        return "down", ""
    if lag:
        return "stale", ""
    if any(not s.within_threshold for s in answered):
        return "slow", ""
    if len(answered) < len(rows):
        return "degraded", ""
    return "ok", ""


def _address_key(address: str) -> tuple[int, str]:
    try:
        ip = ipaddress.ip_address(address)
        return ip.version, ip.exploded
    except ValueError:
        return 9, address


def server_views(report: ZoneReport) -> tuple[ServerView, ...]:
    """One view per (name server, address) with its serial, RFC 1982 lag and state, sorted."""
    grouped: dict[tuple[str, str], dict[Transport, ServerStatus]] = {}
    for status in report.servers:
        grouped.setdefault((status.nameserver, status.address), {})[status.transport] = status
    serials = {
        key: serial
        for key, by in grouped.items()
        if (serial := _serial_of(by.get(Transport.UDP), by.get(Transport.TCP))) is not None
    }
    lags = serial_lags(serials)
    views = []
    for (ns, address), by in grouped.items():
        udp, tcp = by.get(Transport.UDP), by.get(Transport.TCP)
        rows = tuple(s for s in (udp, tcp) if s is not None)
        lag = lags.get((ns, address))
        state, reason = _state(rows, lag)
        views.append(
            ServerView(ns, address, udp, tcp, serials.get((ns, address)), lag, reason, state)
        )
    views.sort(key=lambda v: (v.nameserver, _address_key(v.address)))
    return tuple(views)


def percentile(values: Iterable[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100) of the values, None when there are none."""
    ordered = sorted(v for v in values if v is not None)
    if not ordered:
        return None
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True, slots=True)
class ZoneSummary:
    """One row of the registry comparison table (and of /api/v1/zones)."""

    zone: str
    name: str  # U-label form
    severity: Severity
    started_at: float
    finished_at: float
    nameservers: int
    nameservers_up: int
    available: bool
    addresses: int
    lame: int
    ipv6_nameservers: int
    tcp_answering: int
    tcp_probed: int
    serials: int  # distinct serials among authoritative answers
    highest_serial: int | None
    rtt_median: float | None  # UDP, seconds
    rtt_p95: float | None
    availability: float | None  # share of stored sweeps with the zone available
    propagation: float | None
    dnssec: str = "unknown"  # one of DNSSEC_STATES (or a newer word)
    dnssec_valid: int = 0  # addresses whose SOA and DNSKEY signatures validate
    dnssec_checked: int = 0  # addresses with a validation verdict (signed zones only)
    rrsig_expires_at: float | None = None  # earliest signature expiry over all addresses
    axfr_open: int = 0  # addresses granting AXFR (SEC01)
    recursion_open: int = 0  # addresses answering recursively (SEC02)
    edns_failing: int = 0  # addresses failing at least one EDNS01 test

    @property
    def dnssec_coverage(self) -> float | None:
        """Share of the zone's addresses serving valid signatures: 0 when unsigned, None
        when unknown (the registry comparison's "DNSSEC coverage")."""
        if self.dnssec_checked:
            return self.dnssec_valid / self.dnssec_checked
        return 0.0 if self.dnssec == "unsigned" else None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values for /api/v1/zones; durations in seconds."""
        return {
            "zone": self.zone,
            "name": self.name,
            "severity": self.severity.name,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "nameservers": self.nameservers,
            "nameservers_up": self.nameservers_up,
            "available": self.available,
            "addresses": self.addresses,
            "lame": self.lame,
            "ipv6_nameservers": self.ipv6_nameservers,
            "tcp_answering": self.tcp_answering,
            "tcp_probed": self.tcp_probed,
            "serials": self.serials,
            "highest_serial": self.highest_serial,
            "rtt_median_seconds": self.rtt_median,
            "rtt_p95_seconds": self.rtt_p95,
            "availability": self.availability,
            "propagation_seconds": self.propagation,
            "dnssec": self.dnssec,
            "dnssec_valid_addresses": self.dnssec_valid,
            "dnssec_checked_addresses": self.dnssec_checked,
            "dnssec_coverage": self.dnssec_coverage,
            "rrsig_expires_at": self.rrsig_expires_at,
            "axfr_open_addresses": self.axfr_open,
            "recursion_open_addresses": self.recursion_open,
            "edns_failing_addresses": self.edns_failing,
        }


def nameservers_up(views: Iterable[ServerView]) -> tuple[int, int]:
    """(NS names with every measured address up, NS names with a measured address) — the
    ICANN Spec 10 reading over what this vantage point could measure."""
    by_ns: dict[str, list[bool]] = {}
    for view in views:
        if view.measured:
            by_ns.setdefault(view.nameserver, []).append(view.up)
    return sum(all(ups) for ups in by_ns.values()), len(by_ns)


def zone_available(report: ZoneReport, views: Iterable[ServerView]) -> bool | None:
    """ICANN Spec 10 over what this vantage point measured: True with MIN_SERVERS_UP name
    servers up on all their measured addresses; False when even the unmeasured name servers
    could not make up the number; None (no verdict) when the answer hangs on name servers of
    which nothing was measured, or nothing was measured at all. The one derivation of "zone
    available" (metrics, store, status page and API ask here)."""
    if report.unknown:
        return None
    views = tuple(views)
    up, _total = nameservers_up(views)
    if up >= MIN_SERVERS_UP:
        return True
    measured = {v.nameserver for v in views if v.measured}
    unmeasured = {s.nameserver for s in report.servers} - measured
    return False if up + len(unmeasured) < MIN_SERVERS_UP else None


def summarise(report: ZoneReport, history: ZoneHistory | None = None) -> ZoneSummary:
    """The registry-table row of one zone, from its report and (optional) stored history."""
    views = server_views(report)
    up, total = nameservers_up(views)
    udp_rtts = list(report.rtts.get("udp", ()))
    if not udp_rtts:
        udp_rtts = [v.udp.rtt for v in views if v.udp is not None and v.udp.rtt is not None]
    tcp_rows = [v.tcp for v in views if v.tcp is not None]
    serials = {v.serial for v in views if v.serial is not None}
    history = history or ZoneHistory()
    verdicts = [v.dnssec_valid for v in views if v.dnssec_valid is not None]
    expiries = [v.rrsig_expires_at for v in views if v.rrsig_expires_at is not None]
    return ZoneSummary(
        zone=report.zone,
        name=unicode_zone(report.zone),
        severity=report.severity,
        started_at=report.started_at,
        finished_at=report.started_at + report.duration,
        nameservers=total,
        nameservers_up=up,
        available=zone_available(report, views) is True,
        addresses=len(views),
        lame=sum(v.state == "lame" for v in views),
        ipv6_nameservers=len({v.nameserver for v in views if v.ipv6}),
        tcp_answering=sum(s.authoritative for s in tcp_rows),
        tcp_probed=len(tcp_rows),
        serials=len(serials),
        highest_serial=highest_serial(serials),
        rtt_median=percentile(udp_rtts, 50),
        rtt_p95=percentile(udp_rtts, 95),
        availability=history.availability,
        propagation=history.propagation,
        dnssec=report.dnssec or "unknown",
        dnssec_valid=sum(verdicts),
        dnssec_checked=len(verdicts),
        rrsig_expires_at=min(expiries, default=None),
        axfr_open=sum(v.axfr_open for v in views),
        recursion_open=sum(v.recursion_open for v in views),
        edns_failing=sum(bool(v.edns_problems) for v in views),
    )


def open_findings(report: ZoneReport, minimum: Severity = Severity.NOTICE) -> list[Finding]:
    """Findings worth a reader's attention, worst first."""
    found = [f for f in report.findings if f.severity >= minimum]
    found.sort(key=lambda f: (-f.severity, f.check, f.nameserver, _address_key(f.address)))
    return found
