"""The status overview at /: zones × servers grid, open findings, registry comparison.

Every detail of a server is visible text in its cell (NSID, signature expiry, the further
checks' marks); the legend above the grid says what states and marks mean. The comparison
table comes sorted worst first from the server (readable without JavaScript); the script
at /static/status.js sorts it by any column from its header buttons.
"""

from __future__ import annotations

import time

from monitor.status import (
    DNSSEC_RANK,
    STATES,
    ServerView,
    Snapshot,
    ZoneSummary,
    open_findings,
    server_views,
    summarise,
    unicode_zone,
)
from monitor.web.pages.common import (
    MARK_WORDS,
    STATE_WORDS,
    ago,
    badge,
    display_ns,
    e,
    expiry_text,
    flags,
    ms,
    template,
    utc,
)

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


def _cell(view: ServerView, now: float) -> str:
    marks = []
    for label, status in (("UDP", view.udp), ("TCP", view.tcp)):
        if status is not None:
            marks.append(f" {label}" if status.authoritative
                         else f' <span class="t-bad">{label}</span>')
    detail = view.state if not view.lame_reason else f"lame: {view.lame_reason}"
    if view.lag:
        detail = f"{detail}, {view.lag} behind"
    serial = "–" if view.serial is None else str(view.serial)
    out = [
        f'<div class="cell s-{e(view.state)}" data-state="{e(view.state)}">'
        f'<div class="ns">{e(display_ns(view.nameserver))}</div>'
        f'<div class="addr">{e(view.address)}</div>'
        f'<div class="fig"><span class="rtt">{e(ms(view.rtt))}</span> '
        f'<span class="serial">{e(serial)}</span></div>'
        f'<div class="fig"><span class="state">{e(detail)}</span> '
        f'<span class="tx">{"".join(marks).strip()}</span></div>'
    ]
    if view.nsid:
        out.append(f'<div class="nsid">NSID {e(view.nsid)}</div>')
    if view.rrsig_expires_at is not None:
        text, level = expiry_text(view.rrsig_expires_at, now)
        words = text if text.startswith("expired") else f"expire {text}"
        out.append(f'<div class="sig lvl-{level}">sigs {e(words)}</div>')
    marked = flags(view)
    if marked:
        out.append('<div class="flags">' + "".join(
            f'<span class="flag">{e(mark)}</span>' for mark, _ in marked) + "</div>")
    out.append("</div>")
    return "".join(out)


def _dnssec_line(summary: ZoneSummary, now: float) -> str:
    """Under the zone name: its DNSSEC state and the earliest signature expiry."""
    state = summary.dnssec
    out = f'<div class="dnssec d-{e(state)}">DNSSEC {e(state)}'
    if summary.rrsig_expires_at is not None:
        text, level = expiry_text(summary.rrsig_expires_at, now)
        out += (f'<br><span class="exp {level}">signatures '
                f'{"" if text.startswith("expired") else "expire "}{e(text)}</span>')
    return out + "</div>"


def _grid(snap: Snapshot, summaries: dict[str, ZoneSummary],
          views: dict[str, tuple[ServerView, ...]], now: float) -> str:
    rows = []
    for zone in snap.zones:
        name = unicode_zone(zone)
        report = snap.reports.get(zone)
        if report is None:
            rows.append(
                f'<tr><th scope="row">{e(name)}</th><td class="sev">–</td>'
                f'<td><div class="pending">waiting for the first sweep</div></td></tr>'
            )
            continue
        cells = "".join(_cell(v, now) for v in views[zone])
        when = report.started_at + report.duration
        rows.append(
            f'<tr id="zone-{e(zone)}"><th scope="row"><a href="zone/{e(zone)}">'
            f'{e(name)}</a><div class="when">{e(ago(when, now))}'
            f"</div>{_dnssec_line(summaries[zone], now)}</th>"
            f'<td class="sev">{badge(report.severity.name)}</td>'
            f'<td><div class="cells">{cells or "no servers found"}</div></td></tr>'
        )
    return "\n".join(rows)


def _findings(snap: Snapshot) -> str:
    rows = []
    for zone in snap.zones:
        report = snap.reports.get(zone)
        for f in open_findings(report) if report else ():
            rows.append(
                (
                    -int(f.severity),
                    f'<tr><td><a href="zone/{e(zone)}">{e(unicode_zone(zone))}</a></td>'
                    f"<td>{badge(f.severity.name)}</td><td>{e(f.check)}</td>"
                    f'<td class="id">{e(display_ns(f.nameserver) if f.nameserver else "")}</td>'
                    f'<td class="id">{e(f.address)}</td><td>{e(f.message)}</td></tr>',
                )
            )
    if not rows:
        return '<tr><td colspan="6">No open findings.</td></tr>'
    rows.sort(key=lambda r: r[0])
    return "\n".join(r[1] for r in rows)


def rtt_bar(median: float | None, p95: float | None) -> str:
    """A 60 px inline SVG bar: p95 light, median dark, 500 ms (the UDP SLR) at the end."""
    if median is None or p95 is None:
        return ""
    full = 0.5
    w95 = min(60.0, 60 * p95 / full)
    w50 = min(60.0, 60 * median / full)
    return (
        f'<svg class="bar" width="60" height="8" viewBox="0 0 60 8" aria-hidden="true">'
        f'<rect width="60" height="8" fill="#eee"/><rect width="{w95:.1f}" height="8" '
        f'fill="#9ecae1"/><rect width="{w50:.1f}" height="8" fill="#3182bd"/></svg>'
    )


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:.6g}"


def _dnssec_cell(s: ZoneSummary) -> tuple[str, str]:
    """(sort value, HTML): the state, and for signed zones the addresses that validate."""
    cov = s.dnssec_coverage
    rank = DNSSEC_RANK.get(s.dnssec)
    value = "" if rank is None else _num(rank + 0.99 * (cov or 0.0))
    css = {"secure": "ok", "bogus": "bad"}.get(s.dnssec, "")
    text = f'<span class="{css}">{e(s.dnssec)}</span>' if css else e(s.dnssec)
    if s.dnssec_checked:
        text += f" {s.dnssec_valid}/{s.dnssec_checked} valid"
    return value, text


def _expiry_cell(s: ZoneSummary, now: float) -> tuple[str, str]:
    if s.rrsig_expires_at is None:
        return "", "–"
    text, level = expiry_text(s.rrsig_expires_at, now)
    return _num(s.rrsig_expires_at - now), f'<span class="exp {level}">{e(text)}</span>'


def _exposure_cell(s: ZoneSummary) -> tuple[int, str]:
    parts = [(s.axfr_open, "AXFR"), (s.recursion_open, "recursive"), (s.edns_failing, "EDNS")]
    found = [f"{n} {what}" for n, what in parts if n]
    text = f'<span class="bad">{e(", ".join(found))}</span>' if found else "none"
    return s.axfr_open + s.recursion_open + s.edns_failing, text


def _comparison_row(s: ZoneSummary, now: float) -> str:
    avail_now = "yes" if s.available else "NO"
    hist = "–" if s.availability is None else f"{s.availability * 100:.1f} %"
    ipv6 = f"{s.ipv6_nameservers}/{s.nameservers}"
    tcp = f"{s.tcp_answering}/{s.tcp_probed}"
    cols = [
        (s.name, f'<a href="zone/{e(s.zone)}">{e(s.name)}</a>'),
        (int(s.available) * 1000 + s.nameservers_up,
         f'<span class="{"ok" if s.available else "bad"}">{avail_now}</span> '
         f"({s.nameservers_up}/{s.nameservers} NS up)"),
        (_num(s.availability), hist),
        (_num(s.rtt_median), f"{ms(s.rtt_median)} {rtt_bar(s.rtt_median, s.rtt_p95)}"),
        (_num(s.rtt_p95), ms(s.rtt_p95)),
        (s.lame, str(s.lame)),
        (s.ipv6_nameservers / s.nameservers if s.nameservers else 0, ipv6),
        (s.tcp_answering / s.tcp_probed if s.tcp_probed else 0, tcp),
        (s.serials, str(s.serials)),
        _dnssec_cell(s),
        _expiry_cell(s, now),
        _exposure_cell(s),
        (int(s.severity), badge(s.severity.name)),
    ]  # fmt: skip
    cells = "".join(f'<td data-v="{e(v)}">{text}</td>' for v, text in cols)
    return f"<tr>{cells}</tr>"


def _comparison(snap: Snapshot, summaries: dict[str, ZoneSummary], now: float) -> str:
    ordered = sorted(summaries.values(), key=lambda s: (-int(s.severity), s.name))
    rows = [_comparison_row(s, now) for s in ordered]
    return "\n".join(rows) or f'<tr><td colspan="{len(COLUMNS)}">No sweep completed yet.</td></tr>'


def _comparison_head() -> str:
    cells = []
    for i, (name, _) in enumerate(COLUMNS):
        sort = ' aria-sort="descending"' if i == DEFAULT_SORT else ""
        # disabled until status.js takes them over: without JavaScript they could not sort
        cells.append(f'<th scope="col"{sort}><button type="button" class="sort" '
                     f'data-col="{i}" disabled>{e(name)}</button></th>')
    return "".join(cells)


def _column_notes() -> str:
    return "".join(f"<dt>{e(name)}</dt><dd>{e(why)}</dd>" for name, why in COLUMNS)


def _legend() -> str:
    items = []
    for state in STATES:
        items.append(
            f'<span class="leg"><svg width="12" height="12" aria-hidden="true">'
            f'<rect class="sw s-{state}" width="12" height="12" rx="2"/></svg> '
            f"<b>{state}</b>: {e(STATE_WORDS[state])}</span>"
        )
    return " ".join(items)


def _marks() -> str:
    return " ".join(f'<span class="leg"><span class="flag">{e(mark)}</span> {e(why)}</span>'
                    for mark, why in MARK_WORDS)


def _counts(views: dict[str, tuple[ServerView, ...]]) -> str:
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
    refresh = max(15, int(snap.interval))
    views = {zone: server_views(r) for zone, r in snap.reports.items() if zone in snap.zones}
    summaries = {zone: summarise(snap.reports[zone], snap.history.get(zone)) for zone in views}
    return template("status.html").substitute(
        refresh=refresh,
        generated=e(utc(now)),
        health=e(("healthy: " if healthy else "UNHEALTHY: ") + detail),
        health_class="ok" if healthy else "bad",
        zone_count=len(snap.zones),
        server_counts=e(_counts(views)),
        legend=_legend(),
        marks=_marks(),
        grid=_grid(snap, summaries, views, now),
        findings=_findings(snap),
        comparison_head=_comparison_head(),
        comparison=_comparison(snap, summaries, now),
        column_notes=_column_notes(),
    )
