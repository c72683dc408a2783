"""The status overview at /: zones × servers grid, open findings, registry comparison.

Every detail of a server is visible text in its cell (NSID, signature expiry, the further
checks' marks); the legend above the grid says what states and marks mean. The comparison
table comes sorted worst first from the server (readable without JavaScript); the script
at /static/status.js sorts it by any column from its header buttons.

The markup is templates/status.html; this module hands it plain text per row and cell.
"""

from __future__ import annotations

import time
from typing import NamedTuple

from monitor.snapshot import Snapshot
from monitor.web.pages.common import (
    MARK_WORDS,
    STATE_WORDS,
    ago,
    display_ns,
    expiry_text,
    flags,
    ms,
    template,
)
from monitor.web.views import (
    DNSSEC_RANK,
    STATES,
    ZoneSummary,
    open_findings,
    summarise,
)
from probes.model import AddressSummary
from probes.names import unicode_zone
from probes.text import utc_text

#: (header, explanation) of the comparison columns, in order.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("Zone", "the zone's name"),
    ("Available", "now: at least 2 name servers answer on all addresses (ICANN Spec 10)"),
    ("Availability", "share of stored sweeps with the zone available"),
    ("Median RTT", "median UDP round trip, all servers"),
    ("p95 RTT", "95th percentile UDP round trip, all servers"),
    ("Lame", "lame (name server, address) pairs"),
    ("IPv6", "name servers with an IPv6 address"),
    ("TCP", "addresses answering authoritatively over TCP"),
    ("Serials", "distinct SOA serials (1 = consistent)"),
    ("DNSSEC", "DNSSEC state (secure: DS at the parent matches, every address validates) and "
               "the addresses serving valid signatures; sorted secure, island, unsigned, bogus"),
    ("Sig. expiry", "earliest RRSIG expiry over all addresses (DNSSEC03: warning below "
                    "2.5 days, critical below 1 day)"),
    ("Exposure", "addresses granting AXFR (SEC01), answering recursively (SEC02), failing an "
                 "EDNS test (EDNS01)"),
    ("Severity", "worst finding"),
)  # fmt: skip
DEFAULT_SORT = len(COLUMNS) - 1  # the server sends the table worst first


class Cell(NamedTuple):
    """One (name server, address) in the grid, as the text its cell shows."""

    state: str
    nameserver: str
    address: str
    rtt: str
    serial: str
    detail: str  # the state, the lame reason, how far behind
    transports: tuple[tuple[str, bool], ...]  # (UDP|TCP, answered authoritatively)
    nsid: str
    signatures: tuple[str, str] | None  # (words, level) of the signature expiry
    marks: tuple[str, ...]  # the further checks' marks (MARK_WORDS)


class GridRow(NamedTuple):
    """A zone's row in the grid; ``cells`` is None while it waits for its first sweep."""

    zone: str
    name: str
    cells: tuple[Cell, ...] | None = None
    ago: str = ""
    severity: str = ""
    dnssec: str = ""
    expiry: tuple[str, str] | None = None  # (words, level) of the earliest expiry


class FindingRow(NamedTuple):
    """An open finding of a zone, as the findings table shows it."""

    zone: str
    name: str
    severity: str
    check: str
    nameserver: str
    address: str
    message: str


class ComparisonRow(NamedTuple):
    """A zone in the registry comparison: its summary, each column's sort value, and the
    figures that need formatting."""

    summary: ZoneSummary
    values: tuple[str, ...]  # data-v of each column in COLUMNS, in order
    availability: str
    rtt_median: str
    rtt_p95: str
    bar: tuple[str, str] | None  # widths of the p95 and median bars
    dnssec_class: str
    expiry: tuple[str, str] | None
    exposure: str


def _cell(view: AddressSummary, now: float) -> Cell:
    detail = view.state if not view.lame_reason else f"lame: {view.lame_reason}"
    if view.lag:
        detail = f"{detail}, {view.lag} behind"
    signatures = None
    if view.rrsig_expires_at is not None:
        text, level = expiry_text(view.rrsig_expires_at, now)
        signatures = (text if text.startswith("expired") else f"expire {text}", level)
    return Cell(
        state=view.state, nameserver=display_ns(view.nameserver), address=view.address,
        rtt=ms(view.rtt), serial="–" if view.serial is None else str(view.serial),
        detail=detail,
        transports=tuple((label, status.authoritative)
                         for label, status in (("UDP", view.udp), ("TCP", view.tcp))
                         if status is not None),
        nsid=view.nsid or "", signatures=signatures,
        marks=tuple(mark for mark, _ in flags(view)),
    )  # fmt: skip


def _grid(snap: Snapshot, summaries: dict[str, ZoneSummary],
          views: dict[str, tuple[AddressSummary, ...]], now: float) -> list[GridRow]:
    rows = []
    for zone in snap.zones:
        name = unicode_zone(zone)
        report = snap.reports.get(zone)
        if report is None:
            rows.append(GridRow(zone, name))
            continue
        summary = summaries[zone]
        expiry = None
        if summary.rrsig_expires_at is not None:
            text, level = expiry_text(summary.rrsig_expires_at, now)
            expiry = (f'signatures {"" if text.startswith("expired") else "expire "}{text}',
                      level)
        rows.append(GridRow(
            zone, name, tuple(_cell(v, now) for v in views[zone]),
            ago(report.started_at + report.duration, now), report.severity.name,
            summary.dnssec, expiry,
        ))  # fmt: skip
    return rows


def _findings(snap: Snapshot) -> list[FindingRow]:
    rows: list[tuple[int, FindingRow]] = []
    for zone in snap.zones:
        report = snap.reports.get(zone)
        for f in open_findings(report) if report else ():
            rows.append((-int(f.severity), FindingRow(
                zone, unicode_zone(zone), f.severity.name, f.check,
                display_ns(f.nameserver) if f.nameserver else "", f.address, f.message,
            )))  # fmt: skip
    rows.sort(key=lambda r: r[0])
    return [row for _, row in rows]


def rtt_bar(median: float | None, p95: float | None) -> tuple[str, str] | None:
    """Widths in px of a 60 px bar's p95 (light) and median (dark) parts, 500 ms (the UDP
    SLR) at the end; None without figures."""
    if median is None or p95 is None:
        return None
    full = 0.5
    return f"{min(60.0, 60 * p95 / full):.1f}", f"{min(60.0, 60 * median / full):.1f}"


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:.6g}"


def _comparison_row(s: ZoneSummary, now: float) -> ComparisonRow:
    rank = DNSSEC_RANK.get(s.dnssec)
    expiry = None if s.rrsig_expires_at is None else expiry_text(s.rrsig_expires_at, now)
    parts = [(s.axfr_open, "AXFR"), (s.recursion_open, "recursive"), (s.edns_failing, "EDNS")]
    values = (
        s.name,
        int(s.available) * 1000 + s.nameservers_up,
        _num(s.availability),
        _num(s.rtt_median),
        _num(s.rtt_p95),
        s.lame,
        s.ipv6_nameservers / s.nameservers if s.nameservers else 0,
        s.tcp_answering / s.tcp_probed if s.tcp_probed else 0,
        s.serials,
        "" if rank is None else _num(rank + 0.99 * (s.dnssec_coverage or 0.0)),
        "" if s.rrsig_expires_at is None else _num(s.rrsig_expires_at - now),
        s.axfr_open + s.recursion_open + s.edns_failing,
        int(s.severity),
    )
    return ComparisonRow(
        summary=s, values=tuple(str(v) for v in values),
        availability="–" if s.availability is None else f"{s.availability * 100:.1f} %",
        rtt_median=ms(s.rtt_median), rtt_p95=ms(s.rtt_p95), bar=rtt_bar(s.rtt_median, s.rtt_p95),
        dnssec_class={"secure": "ok", "bogus": "bad"}.get(s.dnssec, ""), expiry=expiry,
        exposure=", ".join(f"{n} {what}" for n, what in parts if n),
    )  # fmt: skip


def _counts(views: dict[str, tuple[AddressSummary, ...]]) -> str:
    counts = dict.fromkeys(STATES, 0)
    for zone_views in views.values():
        for view in zone_views:
            counts[view.state] = counts.get(view.state, 0) + 1
    parts = [f"{n} {state}" for state, n in counts.items() if n]
    return ", ".join(parts) or "no servers swept yet"


def render_status_page(snap: Snapshot, now: float | None = None) -> str:
    """The status page HTML for this snapshot, as of `now` (default: the clock)."""
    now = time.time() if now is None else now
    healthy, detail = snap.health(now)
    views = {zone: r.addresses for zone, r in snap.reports.items() if zone in snap.zones}
    summaries = {zone: summarise(snap.reports[zone], snap.history.get(zone)) for zone in views}
    ordered = sorted(summaries.values(), key=lambda s: (-int(s.severity), s.name))
    return template("status.html").render(
        refresh=max(15, int(snap.interval)),
        generated=utc_text(now),
        health=("healthy: " if healthy else "UNHEALTHY: ") + detail,
        healthy=healthy,
        zone_count=len(snap.zones),
        server_counts=_counts(views),
        states=[(state, STATE_WORDS[state]) for state in STATES],
        marks=MARK_WORDS,
        grid=_grid(snap, summaries, views, now),
        findings=_findings(snap),
        columns=COLUMNS,
        default_sort=DEFAULT_SORT,
        comparison=[_comparison_row(s, now) for s in ordered],
    )
