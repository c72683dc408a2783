"""The report as JSON, CSV (same numbers, units in the column names) and HTML with plots."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
import sqlite3
from collections.abc import Mapping
from html import escape
from typing import Any

from monitor.history.schema import TCP_BUCKETS, UDP_BUCKETS
from monitor.sla import svg
from monitor.sla.definitions import DEFINITIONS, anchor
from monitor.sla.figures import (
    Period,
    SlaReport,
    ZoneFigures,
    histogram_quantile,
    strip_classes,
    timeline,
    use_hourly,
    worst_lagging,
)
from probes.names import unicode_zone

SCHEMA = "ccmon-sla-report/1"


def _iso(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _period(period: Period) -> dict[str, Any]:
    return {"from": _iso(period.start), "to": _iso(period.end), "minutes": period.minutes}


def to_document(report: SlaReport) -> dict[str, Any]:
    """The report as the JSON document's plain values (SCHEMA versioned)."""
    return {
        "schema": SCHEMA,
        "period": _period(report.period),
        "store": report.store,
        "rollup": report.source,
        "vantage_unmeasured_zone_minutes": report.unmeasured_minutes(),
        "vantage_unmeasured_address_minutes": report.unmeasured_address_minutes(),
        "zones": [{**z.figures, "servers": z.servers} for z in report.zones],
    }


def render_json(report: SlaReport) -> str:
    """The JSON document as indented text."""
    return json.dumps(to_document(report), indent=2, ensure_ascii=False) + "\n"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping):
        return ";".join(f"{k}={v}" for k, v in value.items())
    return str(value)


def csv_rows(report: SlaReport) -> tuple[list[str], list[dict[str, Any]]]:
    """One row per zone (level "zone") and per address (level "address"): the JSON's
    figures, flattened; lame reasons as reason=minutes;..."""
    rows: list[dict[str, Any]] = []
    for z in report.zones:
        rows.append({"level": "zone", "nameserver": "", "address": "", **z.figures})
        for s in z.servers:
            rows.append({"level": "address", "zone": z.zone, **s})
    columns: list[str] = ["level", "zone", "nameserver", "address"]
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    return columns, rows


def render_csv(report: SlaReport) -> str:
    """The report as CSV: a header, then one row per zone and per address."""
    columns, rows = csv_rows(report)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(c)) for c in columns])
    return out.getvalue()


# --- HTML -------------------------------------------------------------------------------

CSS = """
body{font-family:sans-serif;color:#000;background:#fff;margin:1.5em;max-width:1100px}
h1,h2,h3{color:#000} a{color:#0050a0}
table{border-collapse:collapse;margin:.5em 0 1em} th,td{border:1px solid #bbb;padding:2px 6px;
text-align:right;font-size:13px} th{background:#f2f2f2} td.l,th.l{text-align:left}
.bad{background:#fbe3d6} .legend .key{margin-right:1em;font-size:13px;white-space:nowrap}
.swatch{display:inline-block;width:12px;height:12px;border:1px solid #666;margin-right:4px;
vertical-align:middle} .note{color:#333;font-size:13px} dt{font-weight:bold;margin-top:.6em}
section.zone{border-top:2px solid #333;margin-top:2em} svg.plot{display:block;margin:.3em 0}
"""

RANKING = (
    ("availability_percent", "Availability %"),
    ("downtime_minutes", "Downtime min"),
    ("meets_spec10", "Spec 10"),
    ("servers_meeting_spec10", "Servers meeting"),
    ("worst_server_downtime_minutes", "Worst server downtime min"),
    ("udp_rtt_median_ms", "UDP RTT p50 ms"),
    ("udp_rtt_p95_ms", "UDP RTT p95 ms"),
    ("udp_within_500ms_percent", "UDP within 500 ms %"),
    ("tcp_rtt_p95_ms", "TCP RTT p95 ms"),
    ("lame_minutes", "Lame min"),
    ("serial_lag_minutes_worst_server", "Serial lag min"),
    ("soa_propagation_median_seconds", "SOA prop. p50 s"),
    ("soa_propagation_max_seconds", "SOA prop. max s"),
    ("dnssec_bogus_minutes", "DNSSEC bogus min"),
    ("nameservers", "NS"),
    ("ipv6_address_percent", "IPv6 %"),
    ("tcp_address_percent", "TCP %"),
    ("address_prefixes", "Prefixes"),
    ("unmeasured_minutes", "Unmeasured min"),
)
SERVER_COLUMNS = (
    ("availability_percent", "Avail. %"),
    ("downtime_minutes", "Down min"),
    ("meets_spec10", "Spec 10"),
    ("unanswered_udp_percent", "Unans. UDP %"),
    ("unanswered_tcp_percent", "Unans. TCP %"),
    ("udp_rtt_median_ms", "UDP p50 ms"),
    ("udp_rtt_p95_ms", "UDP p95 ms"),
    ("tcp_rtt_median_ms", "TCP p50 ms"),
    ("tcp_rtt_p95_ms", "TCP p95 ms"),
    ("lame_minutes", "Lame min"),
    ("lame_reasons", "Lame reasons"),
    ("serial_lag_minutes", "Lag min"),
    ("dnssec_invalid_minutes", "DNSSEC invalid min"),
    ("axfr_open_seen", "AXFR open"),
    ("recursion_open_seen", "Recursion open"),
    ("unmeasured_minutes", "Unmeasured min"),
)


def rank_key(figures: Mapping[str, Any]) -> tuple[float, float, float, float, str]:
    """Best first: availability, then downtime, then the worst server's downtime, then UDP
    p95; unknowns last."""
    inf = float("inf")

    def low(key: str) -> float:
        value = figures[key]
        return inf if value is None else float(value)

    avail = figures["availability_percent"]
    return (
        -(avail if avail is not None else -1.0),
        low("downtime_minutes"),
        low("worst_server_downtime_minutes"),
        low("udp_rtt_p95_ms"),
        figures["zone"],
    )


def _minutes_text(value: float) -> str:
    return f"{value:,.2f}".rstrip("0").rstrip(".")


def _fmt(key: str, value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if key.endswith("unix_seconds"):
        return _iso(float(value))[:10]
    if isinstance(value, Mapping):
        return ", ".join(f"{k} {v:g} min" for k, v in value.items()) or "-"
    if isinstance(value, float):
        return f"{value:.3f}" if key.endswith("percent") else f"{value:g}"
    return escape(str(value))


def _th(key: str, words: str, sort: bool = False) -> str:
    button = f'<button type="button" class="sort" data-key="{key}">{escape(words)}</button>'
    label = button if sort else escape(words)
    return f'<th>{label} <a href="#{anchor(key)}" title="definition">?</a></th>'


def _ranking(report: SlaReport) -> str:
    zones = sorted(report.zones, key=lambda z: rank_key(z.figures))
    head = "".join(_th(k, w, sort=True) for k, w in RANKING)
    rows = []
    for i, z in enumerate(zones, 1):
        f = z.figures
        cells = "".join(
            f'<td data-v="{"" if f[k] is None else escape(str(f[k]))}"'
            f'{" class=bad" if k == "meets_spec10" and f[k] is False else ""}>'
            f"{_fmt(k, f[k])}</td>"
            for k, _ in RANKING
        )
        rows.append(f'<tr><td>{i}</td><td class="l"><a href="#zone-{escape(z.zone)}">'
                    f"{escape(unicode_zone(z.zone))}</a></td>{cells}</tr>")  # fmt: skip
    return (
        '<table id="ranking"><thead><tr><th>Rank</th><th class="l">Zone</th>'
        f"{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


SORT_JS = """<script>
// Optional: click a header to sort the ranking (the table is already ranked without it).
document.querySelectorAll('#ranking button.sort').forEach(function (b, i) {
  b.addEventListener('click', function () {
    var body = document.querySelector('#ranking tbody');
    var rows = Array.from(body.rows), col = i + 2, dir = b.dataset.dir === 'a' ? -1 : 1;
    rows.sort(function (x, y) {
      var a = x.cells[col].dataset.v, c = y.cells[col].dataset.v;
      if (a === '') return 1; if (c === '') return -1;
      var n = parseFloat(a) - parseFloat(c);
      return dir * (isNaN(n) ? a.localeCompare(c) : n);
    });
    b.dataset.dir = dir === 1 ? 'a' : 'd';
    rows.forEach(function (r) { body.appendChild(r); });
  });
});
</script>"""


def _figure_table(figures: Mapping[str, Any]) -> str:
    rows = "".join(
        f'<tr><th class="l"><a href="#{anchor(k)}">{escape(k)}</a></th>'
        f'<td class="l">{_fmt(k, v)}</td></tr>'
        for k, v in figures.items()
        if k != "zone"
    )
    return f'<table class="figures">{rows}</table>'


def _server_table(servers: list[dict[str, Any]]) -> str:
    head = "".join(_th(k, w) for k, w in SERVER_COLUMNS)
    rows = []
    for s in servers:
        cells = "".join(
            f'<td{" class=bad" if k == "meets_spec10" and s[k] is False else ""}>'
            f"{_fmt(k, s[k])}</td>"
            for k, _ in SERVER_COLUMNS
        )
        rows.append(f'<tr><td class="l">{escape(s["nameserver"])}</td>'
                    f'<td class="l">{escape(s["address"])}</td>{cells}</tr>')  # fmt: skip
    return (
        '<table class="servers"><tr><th class="l">Name server</th><th class="l">Address</th>'
        f"{head}</tr>{''.join(rows)}</table>"
    )


STATE_COLUMNS = ("sweeps", "up", "unanswered", "lame", "unmeasured")


def plot_bin(period: Period, hourly: bool) -> int:
    """Seconds per point of the RTT and lag plots: at most ~240 points (a month: 3 h)."""
    step = 3600 if hourly else 86400
    return step * max(1, math.ceil((period.end - period.start) / step / 240))


def zone_plots(db: sqlite3.Connection, report: SlaReport, z: ZoneFigures) -> str:
    """The zone's plots as inline SVG: availability calendar, state strip, RTTs over time."""
    period = report.period
    hourly = use_hourly(db, period)
    step = 3600 if hourly else 86400
    name = unicode_zone(z.zone)
    # Availability calendar: the zone's daily rows.
    days = {}
    for t, (sweeps, up, unans, _lame, unmeas) in timeline(
        db, period, z.zone_series, STATE_COLUMNS, hourly=False
    ).items():
        measured = sweeps - unmeas
        pct = round(100.0 * up / measured, 3) if measured else None
        days[t] = (svg.state_class(sweeps, up, unans, 0, unmeas), pct)
    cal = svg.calendar(days, period.start, period.end, f"{name}: availability per day")
    # Heat strip: one row per address.
    ordered = sorted(z.series.items())
    runs = strip_classes(db, period, z.zone_series, [sid for _, sid in ordered], hourly)
    strip = svg.heat_strip(
        [(key, runs[sid]) for key, sid in ordered], period.start, period.end, step,
        f"{name}: state per server address over time",
    )
    # RTT percentiles of the zone's answers over time.
    every = plot_bin(period, hourly)
    buckets = timeline(db, period, z.zone_series, (*UDP_BUCKETS, *TCP_BUCKETS), hourly, every)
    n = len(UDP_BUCKETS)

    def q(values: tuple[int, ...], p: float) -> float | None:
        v = histogram_quantile(p, values)
        return None if v is None else round(v * 1000, 3)

    rtt = svg.line_plot(
        [
            ("UDP p50", svg.LINE_UDP50, "", {t: q(v[:n], 0.5) for t, v in buckets.items()}),
            ("UDP p95", svg.LINE_UDP95, "5 3", {t: q(v[:n], 0.95) for t, v in buckets.items()}),
            ("TCP p95", svg.LINE_TCP95, "1 2", {t: q(v[n:], 0.95) for t, v in buckets.items()}),
        ],
        period.start, period.end, every, "ms", f"{name}: RTT percentiles over time",
        reference=(500.0, "UDP SLR 500 ms"),
    )  # fmt: skip
    # Serial lag: minutes per bin in which the worst address served an old serial.
    lag = {
        t: round(n * z.interval / 60, 2)
        for t, n in worst_lagging(db, period, [sid for _, sid in ordered], hourly, every).items()
    }
    lag_plot = svg.bar_plot(lag, period.start, period.end, every, "minutes behind",
                            f"{name}: serial lag over time (worst address)")  # fmt: skip
    per = "hour" if hourly else "day"
    points = f"{every // 3600} h" if every < 86400 else f"{every // 86400} day(s)"
    return (
        f"<h3>Availability calendar</h3>{cal}{svg.legend(('ok', 'minor', 'major', 'down'))}"
        f"<h3>State per server address (one cell per {per})</h3>{strip}"
        f"{svg.legend(tuple(svg.CLASSES))}"
        f"<h3>RTT percentiles (one point per {points})</h3>{rtt}"
        f"<h3>Serial lag (minutes per {points}, worst address)</h3>{lag_plot}"
    )


def render_html(report: SlaReport, db: sqlite3.Connection) -> str:
    """The report as one self-contained HTML page (plots from the store's rollups)."""
    period = report.period
    parts = [
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">",
        f"<title>ccmon SLA report {escape(period.label)}</title><style>{CSS}</style></head>",
        f"<body><h1>DNS service levels, {escape(period.label)}</h1>",
        f'<p class="note">Period {_iso(period.start)} to {_iso(period.end)} '
        f"({period.minutes:g} minutes), {len(report.zones)} zone(s), computed by ccmon from "
        f"its store ({escape(report.store)}, {report.source} rollups), one vantage point. "
        f"Thresholds: ICANN Registry Agreement Specification 10.</p>",
        f'<p class="note" id="vantage">Our vantage point could not measure '
        f"<strong>{_minutes_text(report.unmeasured_minutes())} zone-minutes</strong> and "
        f"<strong>{_minutes_text(report.unmeasured_address_minutes())} address-minutes"
        "</strong> in this "
        "period; that time is excluded from every figure "
        f'(<a href="#{anchor("unmeasured_minutes")}">'
        f"unmeasured</a>), as is time with no sweep at all "
        f'(<a href="#{anchor("not_monitored_minutes")}">not monitored</a>).</p>',
        "<h2>Ranking</h2>",
        '<p class="note">Ranked by availability, then downtime, then the worst server\'s '
        "downtime, then UDP RTT p95; the buttons sort by any column (optional script).</p>",
        _ranking(report),
    ]  # fmt: skip
    for z in report.zones:
        name = escape(unicode_zone(z.zone))
        parts.append(f'<section class="zone" id="zone-{escape(z.zone)}"><h2>{name}</h2>')
        parts.append(_figure_table(z.figures))
        parts.append(zone_plots(db, report, z))
        parts.append("<h3>Per server address</h3>" + _server_table(z.servers) + "</section>")
    parts.append("<h2>Definitions</h2><dl>")
    for key, (title, text) in DEFINITIONS.items():
        parts.append(f'<dt id="def-{key}">{escape(title)} ({escape(key)})</dt>'
                     f"<dd>{escape(text)}</dd>")  # fmt: skip
    parts.append(f"</dl>{SORT_JS}</body></html>\n")
    return "".join(parts)
