"""The per-zone figures the web views show, read from the reports' summaries.

Every fact here (server state, serial lag, name servers up, availability, DNSSEC state) was
concluded once by the summarise stage (probes.summarise) and is only read: the page, the
JSON API and the metrics never disagree. The snapshot they read lives in monitor.snapshot.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from monitor.snapshot import ZoneHistory
from probes.addresses import address_key
from probes.model import DnssecState, Finding, ServerState, Severity, ZoneReport
from probes.names import readable_label as readable_label
from probes.names import unicode_zone as unicode_zone

#: Server states of the status grid, worst first.
STATES: tuple[str, ...] = tuple(ServerState)

#: DNSSEC states of a zone, a closed set, and their rank for sorting (higher is better; an
#: unknown state has none).
DNSSEC_STATES: tuple[str, ...] = tuple(DnssecState)
DNSSEC_RANK = {"secure": 3, "island": 2, "unsigned": 1, "bogus": 0}

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


def summarise(report: ZoneReport, history: ZoneHistory | None = None) -> ZoneSummary:
    """The registry-table row of one zone, from its report and (optional) stored history."""
    views = report.addresses
    up, total = report.nameservers_up
    udp_rtts = list(report.rtts.get("udp", ()))
    if not udp_rtts:
        udp_rtts = [v.udp.rtt for v in views if v.udp is not None and v.udp.rtt is not None]
    tcp_rows = [v.tcp for v in views if v.tcp is not None]
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
        available=report.available is True,
        addresses=len(views),
        lame=sum(v.state == "lame" for v in views),
        ipv6_nameservers=len({v.nameserver for v in views if v.ipv6}),
        tcp_answering=sum(s.authoritative for s in tcp_rows),
        tcp_probed=len(tcp_rows),
        serials=report.distinct_serials,
        highest_serial=report.serial,
        rtt_median=percentile(udp_rtts, 50),
        rtt_p95=percentile(udp_rtts, 95),
        availability=history.availability,
        propagation=history.propagation,
        dnssec=str(report.dnssec),
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
    found.sort(key=lambda f: (-f.severity, f.check, f.nameserver, address_key(f.address)))
    return found
