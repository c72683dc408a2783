"""Writes the Grafana dashboards of ccmon: ``python dashboards/generate.py``.

The JSON files beside this script are generated (and committed): edit the panels here,
run the script, commit both. ``tests/deploy/test_dashboards.py`` fails when the files and
this script disagree, and runs every panel's query against a real Prometheus.

Many vantage points: every ccmon instance is a vantage point named by the Prometheus
target label ``vantage``. Per-server and per-zone states are decided by ICANN's vote
(Registry Agreement Spec 10): a server or zone counts as failing when at least 51 % of
the vantage points that measure it see it fail. With a single instance the vote is that
instance's own view. The vote is written out in the queries (see ``fails_by_vote``) so
the dashboards work without any recording rule loaded.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SCHEMA_VERSION = 41  # Grafana 12 classic dashboard model (older Grafana reads it too)
DS = {"type": "prometheus", "uid": "${datasource}"}
TAGS = ["ccmon", "dns"]

#: ICANN Spec 10: unavailable when at least this share of vantage points fails the test.
VOTE = 0.51

SERVER = "dns_zone, nameserver, address"
UDP = 'transport="udp"'
TCP = 'transport="tcp"'
IPV6 = 'address=~".*:.*"'


def sel(*extra: str, server: bool = False, ns_filter: bool = True) -> str:
    """A label selector with the dashboard variables (and extra matchers)."""
    parts = ['dns_zone=~"$zone"', 'vantage=~"$vantage"']
    if server and ns_filter:
        parts.insert(1, 'nameserver=~"$nameserver"')
    return "{" + ", ".join([*parts, *extra]) + "}"


def fails_by_vote(failing_per_vantage: str, by: str) -> str:
    """1 where >= 51 % of vantage points see a failure, else 0 (failing_per_vantage is 0/1)."""
    return f"(avg by ({by}) ({failing_per_vantage}) >= bool {VOTE})"


def passes_by_vote(passing_per_vantage: str, by: str) -> str:
    """1 where fewer than 51 % of vantage points see a failure (passing is 0/1)."""
    return f"(avg by ({by}) ({passing_per_vantage}) > bool {1 - VOTE:.2f})"


# --- expressions shared by the dashboards ------------------------------------------------

def answered(s: str) -> str:
    """Per measured (address, transport): 1 if a usable reply came back, else 0. The RTT
    series is present exactly then (ccmon_nameserver_answered was dropped: CHANGELOG.md)."""
    return f"(ccmon_nameserver_response_time_seconds{s} * 0 + 1 or ccmon_nameserver_up{s} * 0)"


def server_state(transport: str = "udp", ns_filter: bool = True) -> str:
    """2 = answers authoritatively in time, 1 = answers but lame or slow, 0 = no answer."""
    s = sel(f'transport="{transport}"', server=True, ns_filter=ns_filter)
    return (
        passes_by_vote(f"ccmon_nameserver_up{s}", SERVER)
        + " + "
        + passes_by_vote(answered(s), SERVER)
    )


def zone_state() -> str:
    """2 = available (>= 2 name servers up), 1 = degraded (1 up), 0 = down; by vote."""
    s = sel()
    return (
        passes_by_vote(f"ccmon_zone_available{s}", "dns_zone")
        + " + "
        + passes_by_vote(f"ccmon_zone_nameservers_up{s} >= bool 1", "dns_zone")
    )


def servers_down(by: str = "", transport: str = "udp") -> str:
    s = sel(f'transport="{transport}"', server=True)
    down = fails_by_vote(f"1 - ccmon_nameserver_up{s}", SERVER)
    return f"sum {f'by ({by}) ' if by else ''}({down})"


def servers_lame(by: str = "", ns_filter: bool = True) -> str:
    s = sel(server=True, ns_filter=ns_filter)
    lame_here = f"max by ({SERVER}, vantage) (ccmon_nameserver_lame{s})"
    return f"sum {f'by ({by}) ' if by else ''}({fails_by_vote(lame_here, SERVER)})"


def servers_unreachable(by: str = "") -> str:
    s = sel(server=True)
    silent_here = f"1 - max by ({SERVER}, vantage) ({answered(s)})"
    return f"sum {f'by ({by}) ' if by else ''}({fails_by_vote(silent_here, SERVER)})"


def zones_inconsistent(by: str = "") -> str:
    inconsistent = fails_by_vote(f"ccmon_zone_soa_serials{sel()} > bool 1", "dns_zone")
    return f"sum {f'by ({by}) ' if by else ''}({inconsistent})"


def zone_available() -> str:
    return passes_by_vote(f"ccmon_zone_available{sel()}", "dns_zone")


def rtt_quantile(q: float, transport: str, window: str = "$__range", by: str = "dns_zone") -> str:
    matcher = f'transport="{transport}"'
    buckets = f"ccmon_query_duration_seconds_bucket{sel(matcher)}"
    # ">= 0" drops the NaN of a zone without any reply in the window (a blank cell, not "NaN")
    return (f"histogram_quantile({q}, sum by ({by}, le) (increase({buckets}[{window}]))) "
            f">= 0")


#: DNSSEC states as numbers for tables and stats (ccmon_zone_dnssec_status is a state set);
#: 0 is unknown (all states 0: not queried yet, or the parent gave no DS answer).
DNSSEC_CODES = {"secure": 4, "island": 3, "unsigned": 2, "bogus": 1}
DNSSEC_STATES = {4: ("secure", "green"), 3: ("island (no DS)", "blue"),
                 2: ("unsigned", "orange"), 1: ("bogus", "red"), 0: ("unknown", "text")}
DAY = 86400


def dnssec_state(by: str = "dns_zone") -> str:
    """The zone's DNSSEC state as a DNSSEC_CODES number, the worst over vantage points."""
    parts = " or ".join(
        f"{code} * ccmon_zone_dnssec_status" + sel(f'state="{state}"')
        for state, code in DNSSEC_CODES.items()
    )
    return f"min by ({by}) (sum without (state) ({parts}))"


def dnssec_coverage() -> str:
    """Per zone: share of its server addresses serving validating signatures in a secure zone
    (DS at the parent matches); 0 for unsigned, island, bogus and unknown zones."""
    server = sel(server=True, ns_filter=False)
    secure = sel('state="secure"')
    valid = (f"ccmon_nameserver_dnssec_valid{server} * on (dns_zone, instance, job, vantage) "
             f"group_left () ccmon_zone_dnssec_status{secure}")
    return f"(avg by (dns_zone) ({valid}) or 0 * max by (dns_zone) (ccmon_zone_nameservers{sel()}))"


def expiry_left(by: str, ns_filter: bool = True) -> str:
    """Seconds until the earliest RRSIG expiry (DNSSEC03), per `by` (earliest over vantages)."""
    selector = sel(server=True, ns_filter=ns_filter)
    expiry = f"ccmon_nameserver_rrsig_expiry_timestamp_seconds{selector}"
    return f"min by ({by}) ({expiry}) - time()"


def servers_flagged(metric: str, by: str = "", ns_filter: bool = True) -> str:
    """Addresses where `metric` (0/1) is 1, by the vantage-point vote."""
    here = f"max by ({SERVER}, vantage) ({metric}{sel(server=True, ns_filter=ns_filter)})"
    return f"sum {f'by ({by}) ' if by else ''}({fails_by_vote(here, SERVER)})"


def servers_edns_failing(by: str = "", ns_filter: bool = True) -> str:
    """Addresses failing at least one EDNS01 test, by the vantage-point vote."""
    compliant = f"ccmon_nameserver_edns_compliant{sel(server=True, ns_filter=ns_filter)}"
    here = f"1 - min by ({SERVER}, vantage) ({compliant})"
    return f"sum {f'by ({by}) ' if by else ''}({fails_by_vote(here, SERVER)})"


# --- panel builders ----------------------------------------------------------------------

class Layout:
    """Hands out gridPos rows of 24 columns and panel ids."""

    def __init__(self) -> None:
        self.y = 0
        self.next_id = 1

    def row(self, heights: int, widths: list[int]) -> list[dict[str, int]]:
        x = 0
        out = []
        for w in widths:
            out.append({"h": heights, "w": w, "x": x, "y": self.y})
            x += w
        self.y += heights
        return out

    def pid(self) -> int:
        self.next_id += 1
        return self.next_id - 1


def target(expr: str, ref: str = "A", legend: str = "", instant: bool = False,
           table: bool = False) -> dict[str, Any]:
    t: dict[str, Any] = {
        "datasource": DS,
        "expr": expr,
        "refId": ref,
        "range": not instant,
        "instant": instant,
        "legendFormat": legend or "__auto",
        "editorMode": "code",
    }
    if table:
        t["format"] = "table"
    return t


def panel(layout: Layout, pos: dict[str, int], kind: str, title: str, description: str,
          targets: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    p: dict[str, Any] = {
        "id": layout.pid(),
        "type": kind,
        "title": title,
        "description": description,
        "datasource": DS,
        "gridPos": pos,
        "targets": targets,
        "fieldConfig": {"defaults": {}, "overrides": []},
        "options": {},
    }
    for key, value in extra.items():
        if key in ("fieldConfig", "options") and isinstance(value, dict):
            p[key].update(value)
        else:
            p[key] = value
    return p


def row_panel(layout: Layout, title: str) -> dict[str, Any]:
    pos = {"h": 1, "w": 24, "x": 0, "y": layout.y}
    layout.y += 1
    return {"id": layout.pid(), "type": "row", "title": title, "collapsed": False,
            "gridPos": pos, "panels": []}


def text_panel(layout: Layout, pos: dict[str, int], title: str, content: str) -> dict[str, Any]:
    return {"id": layout.pid(), "type": "text", "title": title, "gridPos": pos,
            "options": {"mode": "markdown", "content": content}}


def thresholds(*steps: tuple[float | None, str]) -> dict[str, Any]:
    return {"mode": "absolute",
            "steps": [{"color": color, "value": value} for value, color in steps]}


def value_map(states: dict[int, tuple[str, str]]) -> list[dict[str, Any]]:
    options = {
        str(value): {"text": text, "color": color, "index": i}
        for i, (value, (text, color)) in enumerate(sorted(states.items(), reverse=True))
    }
    return [{"type": "value", "options": options}]


SERVER_STATES = {2: ("up", "green"), 1: ("lame or slow", "orange"), 0: ("no answer", "red")}
ZONE_STATES = {2: ("available", "green"), 1: ("degraded: 1 NS up", "orange"),
               0: ("down", "red")}

GREEN_RED = thresholds((None, "green"), (1, "red"))
EXPIRY_STEPS = thresholds((None, "red"), (DAY, "orange"), (2.5 * DAY, "green"))


def stat(layout: Layout, pos: dict[str, int], title: str, description: str, expr: str,
         steps: dict[str, Any] | None = None, unit: str = "none") -> dict[str, Any]:
    return panel(
        layout, pos, "stat", title, description, [target(expr, instant=True)],
        fieldConfig={"defaults": {"unit": unit, "thresholds": steps or GREEN_RED,
                                  "color": {"mode": "thresholds"}, "decimals": 0}},
        options={"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                 "colorMode": "background", "graphMode": "none", "textMode": "value"},
    )


def timeseries(layout: Layout, pos: dict[str, int], title: str, description: str,
               targets: list[dict[str, Any]], unit: str, step_lines: bool = False,
               limits: dict[str, Any] | None = None, decimals: int | None = None
               ) -> dict[str, Any]:
    defaults: dict[str, Any] = {
        "unit": unit,
        "custom": {"lineInterpolation": "stepAfter" if step_lines else "linear",
                   "showPoints": "never", "spanNulls": False, "fillOpacity": 0},
    }
    if limits:
        defaults["thresholds"] = limits
        defaults["custom"]["thresholdsStyle"] = {"mode": "dashed"}
    if decimals is not None:
        defaults["decimals"] = decimals
    return panel(layout, pos, "timeseries", title, description, targets,
                 fieldConfig={"defaults": defaults},
                 options={"legend": {"displayMode": "table", "placement": "right",
                                     "calcs": ["lastNotNull", "max"]},
                          "tooltip": {"mode": "multi", "sort": "desc"}})


def state_timeline(layout: Layout, pos: dict[str, int], title: str, description: str,
                   expr: str, legend: str, states: dict[int, tuple[str, str]]
                   ) -> dict[str, Any]:
    return panel(
        layout, pos, "state-timeline", title, description, [target(expr, legend=legend)],
        fieldConfig={"defaults": {"mappings": value_map(states), "color": {"mode": "thresholds"},
                                  "thresholds": thresholds((None, "red"), (1, "orange"),
                                                           (2, "green")),
                                  "custom": {"fillOpacity": 85, "lineWidth": 0}}},
        options={"showValue": "never", "mergeValues": True, "rowHeight": 0.85,
                 "alignValue": "center", "legend": {"showLegend": True,
                                                    "displayMode": "list",
                                                    "placement": "bottom"}},
        maxDataPoints=200,
    )


def column(ref: str, name: str, unit: str = "none", decimals: int | None = None,
           steps: dict[str, Any] | None = None, cell: str = "auto") -> dict[str, Any]:
    props: list[dict[str, Any]] = [
        {"id": "displayName", "value": name},
        {"id": "unit", "value": unit},
    ]
    if decimals is not None:
        props.append({"id": "decimals", "value": decimals})
    if steps is not None:
        props.append({"id": "thresholds", "value": steps})
        props.append({"id": "custom.cellOptions", "value": {"type": "color-background"}})
    elif cell != "auto":
        props.append({"id": "custom.cellOptions", "value": {"type": cell}})
    return {"matcher": {"id": "byName", "options": f"Value #{ref}"}, "properties": props}


def merged_table(layout: Layout, pos: dict[str, int], title: str, description: str,
                 columns: list[tuple[str, dict[str, Any]]], sort_by: str, desc: bool,
                 hide: tuple[str, ...] = ("Time",)) -> dict[str, Any]:
    """One row per label set, one column per query (instant queries joined by labels)."""
    targets = []
    overrides = []
    for i, (expr, col) in enumerate(columns):
        ref = chr(ord("A") + i)
        targets.append(target(expr, ref=ref, instant=True, table=True))
        overrides.append({**col, "matcher": {"id": "byName", "options": f"Value #{ref}"}})
    return panel(
        layout, pos, "table", title, description, targets,
        fieldConfig={"defaults": {"custom": {"align": "auto", "filterable": True}},
                     "overrides": overrides},
        options={"showHeader": True, "cellHeight": "sm",
                 "sortBy": [{"displayName": sort_by, "desc": desc}]},
        transformations=[
            {"id": "merge", "options": {}},
            {"id": "organize", "options": {"excludeByName": dict.fromkeys(hide, True),
                                           "renameByName": {"dns_zone": "Zone",
                                                            "nameserver": "Name server",
                                                            "address": "Address"}}},
        ],
    )


def label_table(layout: Layout, pos: dict[str, int], title: str, description: str, expr: str,
                keep: dict[str, str], no_value: str) -> dict[str, Any]:
    """A table of the label sets an instant query returns (e.g. lame servers with reason)."""
    excluded = {"Time": True, "__name__": True, "job": True, "instance": True}
    order = {name: i for i, name in enumerate(keep)}
    return panel(
        layout, pos, "table", title, description,
        [target(expr, instant=True, table=True)],
        fieldConfig={"defaults": {"noValue": no_value,
                                  "custom": {"align": "auto", "filterable": True}}},
        options={"showHeader": True, "cellHeight": "sm"},
        transformations=[{"id": "organize", "options": {"excludeByName": excluded,
                                                         "indexByName": order,
                                                         "renameByName": keep}}],
    )


def bar_ranking(layout: Layout, pos: dict[str, int], title: str, description: str, expr: str,
                unit: str, steps: dict[str, Any], decimals: int = 2) -> dict[str, Any]:
    return panel(
        layout, pos, "bargauge", title, description,
        [target(expr, legend="{{dns_zone}}", instant=True)],
        fieldConfig={"defaults": {"unit": unit, "thresholds": steps, "decimals": decimals,
                                  "color": {"mode": "thresholds"}, "min": 0}},
        options={"orientation": "horizontal", "displayMode": "gradient", "showUnfilled": True,
                 "valueMode": "color", "namePlacement": "left",
                 "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}},
    )


# --- variables ---------------------------------------------------------------------------

def datasource_variable() -> dict[str, Any]:
    return {"name": "datasource", "label": "Data source", "type": "datasource",
            "query": "prometheus", "current": {}, "hide": 0, "refresh": 1, "regex": "",
            "includeAll": False, "multi": False, "options": []}


def query_variable(name: str, label: str, metric: str, label_name: str, multi: bool = True,
                   include_all: bool = True) -> dict[str, Any]:
    query = f"label_values({metric}, {label_name})"
    return {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": DS,
        "definition": query,
        "query": query,  # the classic string form: every Grafana version reads it
        "refresh": 2,
        "sort": 1,
        "includeAll": include_all,
        "multi": multi,
        "allValue": ".*",
        "current": {},
        "options": [],
        "hide": 0,
        "regex": "",
    }


def variables(zone_multi: bool = True, nameserver: bool = True) -> list[dict[str, Any]]:
    zone = query_variable("zone", "Zone", 'ccmon_zone_nameservers{vantage=~"$vantage"}',
                          "dns_zone", multi=zone_multi, include_all=True)
    out = [
        datasource_variable(),
        query_variable("vantage", "Vantage point", "ccmon_build_info", "vantage"),
        zone,
    ]
    if nameserver:  # the registry comparison compares zones, not single servers
        out.append(query_variable(
            "nameserver", "Name server",
            'ccmon_nameserver_up{dns_zone=~"$zone", vantage=~"$vantage"}', "nameserver"))
    return out


def dashboard(uid: str, title: str, description: str, panels: list[dict[str, Any]],
              time_from: str = "now-6h", links: bool = True) -> dict[str, Any]:
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": TAGS,
        "timezone": "utc",
        "editable": True,
        "graphTooltip": 1,
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "refresh": "1m",
        "time": {"from": time_from, "to": "now"},
        "timepicker": {},
        "fiscalYearStartMonth": 0,
        "liveNow": False,
        "weekStart": "",
        "annotations": {"list": [{
            "builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"},
            "enable": True, "hide": True, "iconColor": "rgba(0, 211, 255, 1)",
            "name": "Annotations & Alerts", "type": "dashboard"}]},
        "links": [{"type": "dashboards", "tags": ["ccmon"], "asDropdown": False,
                   "includeVars": True, "keepTime": True, "title": "ccmon"}] if links else [],
        "templating": {"list": variables(zone_multi=uid != "ccmon-zone",
                                         nameserver=uid != "ccmon-comparison")},
        "panels": panels,
    }


# --- the three dashboards ----------------------------------------------------------------

VOTE_NOTE = (
    " With several vantage points (Prometheus target label `vantage`) a server or zone "
    "counts as failing when at least 51 % of them see it fail (ICANN Spec 10)."
)


def overview() -> dict[str, Any]:
    lay = Layout()
    panels: list[dict[str, Any]] = []
    stats = lay.row(4, [4, 4, 4, 4, 4, 4])
    up_steps = thresholds((None, "blue"))
    panels += [
        stat(lay, stats[0], "Zones", "Zones watched (as of their last sweep).",
             f"count(count by (dns_zone) (ccmon_zone_nameservers{sel()}))", up_steps),
        stat(lay, stats[1], "Zones down",
             "Zones with fewer than 2 name servers answering authoritatively on all their "
             "addresses (ICANN Spec 10 service availability)." + VOTE_NOTE,
             f"sum(1 - {zone_available()})"),
        stat(lay, stats[2], "Servers down (UDP)",
             "Server addresses not answering SOA authoritatively within 500 ms over UDP."
             + VOTE_NOTE, servers_down()),
        stat(lay, stats[3], "Lame", "Server addresses with a lame delegation (LAME01): they "
             "answer, but not authoritatively for the zone." + VOTE_NOTE, servers_lame()),
        stat(lay, stats[4], "Inconsistent zones",
             "Zones whose servers serve more than one SOA serial (SOA01)." + VOTE_NOTE,
             zones_inconsistent()),
        stat(lay, stats[5], "Unreachable", "Server addresses that gave no DNS reply at all, "
             "over UDP or TCP." + VOTE_NOTE, servers_unreachable()),
    ]
    top = lay.row(10, [24])
    worst = merged_table(
        lay, top[0], "Worst offenders first",
        "One row per zone, worst first: the worst finding severity seen (from any vantage "
        "point), servers down, lame and unreachable, distinct serials, available now.",
        [
            (f"max by (dns_zone) (ccmon_zone_severity{sel()})",
             column("A", "Severity", steps=thresholds((None, "green"), (2, "blue"),
                                                       (3, "yellow"), (4, "orange"),
                                                       (5, "red")))),
            (servers_down("dns_zone"), column("B", "Servers down", steps=GREEN_RED)),
            (servers_lame("dns_zone"), column("C", "Lame", steps=GREEN_RED)),
            (servers_unreachable("dns_zone"), column("D", "Unreachable", steps=GREEN_RED)),
            (f"max by (dns_zone) (ccmon_zone_soa_serials{sel()})",
             column("E", "Serials", steps=thresholds((None, "red"), (1, "green"),
                                                      (2, "orange")))),
            (f"max by (dns_zone) (ccmon_zone_nameservers{sel()})", column("F", "NS")),
            (zone_available(), column("G", "Available", steps=thresholds((None, "red"),
                                                                          (1, "green")))),
        ],
        sort_by="Severity", desc=True,
    )
    worst["fieldConfig"]["defaults"]["mappings"] = value_map(
        {5: ("critical", "red"), 4: ("error", "orange"), 3: ("warning", "yellow"),
         2: ("notice", "blue"), 1: ("info", "green"), 0: ("ok", "green")})
    worst["fieldConfig"]["overrides"][-1]["properties"].append(
        {"id": "mappings", "value": value_map({1: ("yes", "green"), 0: ("no", "red")})})
    # The severity mapping belongs to the severity column only.
    worst["fieldConfig"]["overrides"][0]["properties"].append(
        {"id": "mappings", "value": worst["fieldConfig"]["defaults"].pop("mappings")})
    panels.append(worst)
    grid = lay.row(9, [24])
    panels.append(state_timeline(
        lay, grid[0], "Zones over time",
        "Zone state per sweep: available (>= 2 name servers up on all addresses), degraded "
        "(1 up), down (none)." + VOTE_NOTE, zone_state(), "{{dns_zone}}", ZONE_STATES))
    grid = lay.row(16, [24])
    panels.append(state_timeline(
        lay, grid[0], "Zones × servers (UDP)",
        "DNSMON-style grid: one row per zone, name server and address; green answers SOA "
        "authoritatively within 500 ms, orange answers but lame or slow, red no answer."
        + VOTE_NOTE, server_state("udp"), "{{dns_zone}} {{nameserver}} {{address}}",
        SERVER_STATES))
    bottom = lay.row(9, [12, 12])
    panels.append(merged_table(
        lay, bottom[0], "Least available servers",
        "Share of sweeps in the time range in which each server address answered SOA "
        "authoritatively within 500 ms over UDP, averaged over vantage points; worst first.",
        [(f"bottomk(15, avg by ({SERVER}) (avg_over_time(ccmon_nameserver_up"
          f"{sel(UDP, server=True)}[$__range])))",
          column("A", "Availability", unit="percentunit", decimals=1,
                 steps=thresholds((None, "red"), (0.95, "orange"), (0.99, "green"))))],
        sort_by="Availability", desc=False))
    panels.append(merged_table(
        lay, bottom[1], "Slowest servers (UDP, now)",
        "SOA round-trip time over UDP in the last sweep, slowest first; 500 ms is the ICANN "
        "service level, 60 / 250 ms the DNSMON colour breakpoints.",
        [(f"topk(15, max by ({SERVER}) (ccmon_nameserver_response_time_seconds"
          f"{sel(UDP, server=True)}))",
          column("A", "RTT", unit="s", decimals=3,
                 steps=thresholds((None, "green"), (0.06, "yellow"), (0.25, "orange"),
                                  (0.5, "red"))))],
        sort_by="RTT", desc=True))
    return dashboard("ccmon-overview", "ccmon / Overview",
                     "All zones at a glance: state grid, counts and worst offenders.", panels)


def zone_detail() -> dict[str, Any]:
    lay = Layout()
    panels: list[dict[str, Any]] = []
    stats = lay.row(4, [4, 4, 4, 4, 4, 4])
    panels += [
        stat(lay, stats[0], "Available", "ICANN Spec 10: >= 2 name servers up on all their "
             "addresses." + VOTE_NOTE, f"min({zone_available()})",
             thresholds((None, "red"), (1, "green"))),
        stat(lay, stats[1], "Name servers up", "Name servers answering authoritatively within "
             "500 ms on every address, out of those listed (lowest over vantage points).",
             f"min(ccmon_zone_nameservers_up{sel()})", thresholds((None, "red"), (1, "orange"),
                                                                   (2, "green"))),
        stat(lay, stats[2], "Name servers", "Name servers (NS names) probed.",
             f"max(ccmon_zone_nameservers{sel()})", thresholds((None, "red"), (2, "green"))),
        stat(lay, stats[3], "Distinct serials", "SOA serials served at once: 1 is consistent "
             "(SOA01).", f"max(ccmon_zone_soa_serials{sel()})",
             thresholds((None, "red"), (1, "green"), (2, "orange"))),
        stat(lay, stats[4], "Worst severity", "Worst finding of the last sweep, from any "
             "vantage point: 0 ok, 2 notice, 3 warning, 4 error, 5 critical.",
             f"max(ccmon_zone_severity{sel()})",
             thresholds((None, "green"), (2, "blue"), (3, "yellow"), (4, "orange"),
                        (5, "red"))),
        stat(lay, stats[5], "Last sweep age", "Seconds since the zone's last completed sweep "
             "(oldest over vantage points).",
             f"time() - min(ccmon_last_sweep_timestamp_seconds{sel()})",
             thresholds((None, "green"), (180, "orange"), (600, "red")), unit="s"),
    ]
    rtt = lay.row(9, [12, 12])
    rtt_s = sel('transport="udp"', server=True)
    rtt_t = sel('transport="tcp"', server=True)
    legend = "{{nameserver}} {{address}} {{vantage}}"
    panels.append(timeseries(
        lay, rtt[0], "SOA round trip, UDP, per server",
        "Kernel-timestamped round trip of the SOA query over UDP; the dashed line is the "
        "500 ms ICANN service level (RTT01).",
        [target(f"ccmon_nameserver_response_time_seconds{rtt_s}", legend=legend)], "s",
        limits=thresholds((None, "transparent"), (0.5, "red"))))
    panels.append(timeseries(
        lay, rtt[1], "SOA round trip, TCP, per server",
        "Round trip of the SOA query over TCP including the handshake; the dashed line is "
        "the 1500 ms ICANN service level (RTT02).",
        [target(f"ccmon_nameserver_response_time_seconds{rtt_t}", legend=legend)], "s",
        limits=thresholds((None, "transparent"), (1.5, "red"))))
    serial = lay.row(9, [12, 12])
    panels.append(timeseries(
        lay, serial[0], "SOA serial per server",
        "The serial each server serves; a new zone version shows as a step that every "
        "server should take soon after the first.",
        [target(f"ccmon_nameserver_soa_serial{sel(server=True)}", legend=legend)], "none",
        step_lines=True, decimals=0))
    panels.append(timeseries(
        lay, serial[1], "Behind the newest serial",
        "For each server still behind, seconds since the oldest serial it lacks was first "
        "seen on any server: how long it has been missing an update (no line while every "
        "server is current); the bars are the serial lag in RFC 1982 steps (no bar for "
        "servers that have the newest serial).",
        [target(f"ccmon_nameserver_soa_serial_behind_seconds{sel(server=True)}",
                legend=legend),
         target(f"ccmon_nameserver_soa_serial_lag{sel(server=True)}", ref="B",
                legend="lag " + legend)], "s", step_lines=True))
    panels[-1]["fieldConfig"]["overrides"] = [{
        "matcher": {"id": "byFrameRefID", "options": "B"},
        "properties": [{"id": "unit", "value": "none"},
                       {"id": "custom.drawStyle", "value": "bars"},
                       {"id": "custom.axisPlacement", "value": "right"}]}]
    grid = lay.row(8, [24])
    panels.append(state_timeline(
        lay, grid[0], "Servers over time (UDP)",
        "Green answers SOA authoritatively within 500 ms, orange answers but lame or slow, "
        "red no answer." + VOTE_NOTE, server_state("udp"),
        "{{nameserver}} {{address}}", SERVER_STATES))
    tables = lay.row(8, [12, 12])
    panels.append(label_table(
        lay, tables[0], "Lame servers and why",
        "Servers with a lame delegation (LAME01) in the last sweep and the reason: refused, "
        "servfail, not-authoritative (AA=0), referral, nxdomain, wrong-owner, malformed.",
        f"ccmon_nameserver_lame{sel(server=True)} == 1",
        {"dns_zone": "Zone", "nameserver": "Name server", "address": "Address",
         "reason": "Reason", "vantage": "Vantage point", "Value": "Lame"},
        no_value="no lame server"))
    panels.append(label_table(
        lay, tables[1], "Open findings",
        "Findings of the last sweep (notice and worse) per check and severity.",
        f"ccmon_check_findings{sel()} > 0",
        {"dns_zone": "Zone", "check": "Check", "severity": "Severity",
         "vantage": "Vantage point", "Value": "Findings"},
        no_value="no open finding"))
    more = lay.row(8, [12, 12])
    panels.append(timeseries(
        lay, more[0], "Query round trip percentiles",
        "Median and 95th percentile over all DNS queries of the zone with a reply (histogram "
        "ccmon_query_duration_seconds).",
        [target(rtt_quantile(0.5, "udp", "$__rate_interval", "transport"), legend="p50 udp"),
         target(rtt_quantile(0.95, "udp", "$__rate_interval", "transport"), ref="B",
                legend="p95 udp"),
         target(rtt_quantile(0.5, "tcp", "$__rate_interval", "transport"), ref="C",
                legend="p50 tcp"),
         target(rtt_quantile(0.95, "tcp", "$__rate_interval", "transport"), ref="D",
                legend="p95 tcp")], "s"))
    panels.append(timeseries(
        lay, more[1], "Failed queries by kind",
        "DNS queries per second without a usable reply: timeout, unreachable (refused "
        "connection or ICMP), network-error, malformed, mismatch, oversized, truncated.",
        [target(f"sum by (reason) (rate(ccmon_probe_failures_total{sel()}[$__rate_interval]))",
                legend="{{reason}}")], "reqps"))
    panels += zone_further_checks(lay, legend)
    return dashboard("ccmon-zone", "ccmon / Zone detail",
                     "One zone: per-server round trips over UDP and TCP, serials in time, "
                     "lame reasons and open findings, DNSSEC signatures, open AXFR and "
                     "recursion, EDNS compliance and NSID per server.", panels)


def zone_further_checks(lay: Layout, legend: str) -> list[dict[str, Any]]:
    """The zone detail's panels for the further checks: DNSSEC, SEC01/02, EDNS01, NSID01."""
    panels: list[dict[str, Any]] = []
    stats = lay.row(4, [6, 6, 6, 6])
    state = stat(lay, stats[0], "DNSSEC", "The zone's DNSSEC state (worst over vantage points): "
                 "secure (the parent's DS matches a key and every address serves valid "
                 "signatures), island (signed, no DS at the parent), unsigned, bogus "
                 "(DNSSEC01/DNSSEC02 findings say why), unknown (not queried yet).",
                 dnssec_state(), thresholds((None, "text"), (1, "red"), (2, "orange"),
                                            (3, "blue"), (4, "green")))
    state["fieldConfig"]["defaults"]["mappings"] = value_map(DNSSEC_STATES)
    state["options"]["textMode"] = "value"
    panels += [
        state,
        stat(lay, stats[1], "Open AXFR", "Server addresses that granted ccmon a full zone "
             "transfer (SEC01)." + VOTE_NOTE, servers_flagged("ccmon_nameserver_axfr_open")),
        stat(lay, stats[2], "Open resolvers", "Server addresses that answered a recursive "
             "query for a name outside the zone (SEC02)." + VOTE_NOTE,
             servers_flagged("ccmon_nameserver_recursion_open")),
        stat(lay, stats[3], "EDNS non-compliant", "Server addresses failing at least one "
             "EDNS01 test (plain, edns0, edns1, option, do)." + VOTE_NOTE,
             servers_edns_failing()),
    ]
    row = lay.row(8, [8, 8, 8])
    panels.append(timeseries(
        lay, row[0], "Signature expiry per server (time left)",
        "DNSSEC03: time until the earliest RRSIG over SOA and DNSKEY served by each address "
        "expires (earliest over vantage points). Dashed lines: 2.5 days (warning) and 1 day "
        "(critical). Signed zones only: no line for an unsigned zone.",
        [target(expiry_left(f"{SERVER}"), legend="{{nameserver}} {{address}}")], "s",
        limits=thresholds((None, "red"), (DAY, "orange"), (2.5 * DAY, "transparent"))))
    s = sel(server=True)
    panels.append(merged_table(
        lay, row[1], "EDNS and open services per server",
        "Per address: EDNS01 compliant, 1 if it passed every test sent (plain, edns0, "
        "edns1, option, do; the lowest over vantage points; the failing tests are "
        "ccmon_nameserver_edns_failed_test_info, why in the EDNS01 finding), "
        "open AXFR (SEC01) and open recursion (SEC02), 1 = open.",
        [(f"min by ({SERVER}) (ccmon_nameserver_edns_compliant{s})",
          column("A", "EDNS compliant", steps=thresholds((None, "red"), (1, "green")))),
         (f"max by ({SERVER}) (ccmon_nameserver_axfr_open{s})",
          column("B", "AXFR open", steps=GREEN_RED)),
         (f"max by ({SERVER}) (ccmon_nameserver_recursion_open{s})",
          column("C", "Recursion open", steps=GREEN_RED))],
        sort_by="EDNS compliant", desc=False))
    panels.append(label_table(
        lay, row[2], "Server identity (NSID)",
        "The NSID (RFC 5001) each address returned: which anycast instance or server "
        "answered, per vantage point. Addresses that return no NSID are not listed.",
        f"ccmon_nameserver_nsid_info{s}",
        {"nameserver": "Name server", "address": "Address", "nsid": "NSID",
         "vantage": "Vantage point", "dns_zone": "Zone", "Value": "Info"},
        no_value="no NSID returned"))
    return panels


def comparison() -> dict[str, Any]:
    lay = Layout()
    panels: list[dict[str, Any]] = []
    s = sel()
    ns_count = f"max by (dns_zone) (ccmon_zone_nameservers{s})"
    ipv6_ns = (f"count by (dns_zone) (count by (dns_zone, nameserver) (ccmon_nameserver_up"
               f"{sel(IPV6, server=True, ns_filter=False)}))")
    ipv6_share = f"(({ipv6_ns}) or ({ns_count} * 0)) / {ns_count}"
    tcp_share = ("avg by (dns_zone) " + passes_by_vote(
        f"ccmon_nameserver_up{sel(TCP, server=True, ns_filter=False)}",
        SERVER))
    # An explicit subquery step: the default differs between Prometheus (evaluation interval)
    # and VictoriaMetrics (the query's step), and both must give the same answer.
    availability = f"avg_over_time({zone_available()}[$__range:$__interval])"
    avail_steps = thresholds((None, "red"), (0.99, "orange"), (0.999, "green"))
    rtt_steps = thresholds((None, "green"), (0.06, "yellow"), (0.25, "orange"), (0.5, "red"))
    table = lay.row(12, [24])
    panels.append(merged_table(
        lay, table[0], "Registries side by side",
        "One row per zone over the dashboard's time range, ranked by availability. "
        "Availability: share of time the zone had >= 2 name servers answering "
        "authoritatively on all their addresses (ICANN Spec 10 service availability, "
        "target 100 %)." + VOTE_NOTE + " RTT percentiles over every query with a reply. "
        "Propagation: SOA03, the longest time a new serial took to reach every server "
        "(empty until a serial change was seen complete). Coverage: share of NS names with "
        "an IPv6 address; share of server addresses answering SOA over TCP. DNSSEC: the "
        "zone's state (secure, island: no DS, unsigned, bogus, unknown), the worst over "
        "vantage points.",
        [
            (availability, column("A", "Availability", "percentunit", 3, avail_steps)),
            (rtt_quantile(0.5, "udp"), column("B", "UDP median", "s", 3, rtt_steps)),
            (rtt_quantile(0.95, "udp"), column("C", "UDP p95", "s", 3, rtt_steps)),
            (rtt_quantile(0.5, "tcp"), column("D", "TCP median", "s", 3)),
            (rtt_quantile(0.95, "tcp"), column("E", "TCP p95", "s", 3)),
            (f"max by (dns_zone) (max_over_time(ccmon_zone_soa_propagation_seconds{s}"
             f"[$__range]))",
             column("F", "Propagation", "s", 0,
                    thresholds((None, "green"), (2100, "orange"), (3600, "red")))),
            (servers_lame("dns_zone", ns_filter=False), column("G", "Lame", steps=GREEN_RED)),
            (ns_count, column("H", "NS", steps=thresholds((None, "red"), (2, "green")))),
            (ipv6_share, column("I", "IPv6 NS", "percentunit", 0,
                                thresholds((None, "orange"), (0.5, "green")))),
            (tcp_share, column("J", "TCP", "percentunit", 0,
                               thresholds((None, "red"), (1, "green")))),
            (dnssec_state(), column("K", "DNSSEC", steps=thresholds(
                (None, "text"), (1, "red"), (2, "orange"), (3, "blue"), (4, "green")))),
        ],
        sort_by="Availability", desc=True,
    ))
    panels[-1]["fieldConfig"]["overrides"][-1]["properties"].append(  # K: DNSSEC state
        {"id": "mappings", "value": value_map(DNSSEC_STATES)})
    bars = lay.row(10, [8, 8, 8])
    panels.append(bar_ranking(
        lay, bars[0], "Ranked: availability", "Zone availability over the time range (ICANN "
        "Spec 10 rule, vantage-point vote), best first.",
        f"sort_desc({availability})", "percentunit", avail_steps, decimals=3))
    panels.append(bar_ranking(
        lay, bars[1], "Ranked: UDP p95 round trip", "95th percentile of UDP round trips over "
        "the time range, fastest first.", f"sort({rtt_quantile(0.95, 'udp')})", "s",
        rtt_steps, decimals=3))
    panels.append(bar_ranking(
        lay, bars[2], "Ranked: serial propagation", "SOA03: longest time in the range for a "
        "new serial to reach every server, fastest first (ICANN: <= 60 min for 95 %).",
        f"sort(max by (dns_zone) (max_over_time(ccmon_zone_soa_propagation_seconds{s}"
        f"[$__range])))", "s", thresholds((None, "green"), (2100, "orange"), (3600, "red")),
        decimals=0))
    bars = lay.row(8, [8, 8, 8])
    panels.append(bar_ranking(
        lay, bars[0], "Ranked: server availability (UDP)",
        "Share of (server address, sweep) pairs in the range that answered authoritatively "
        "within 500 ms, averaged per zone; best first.",
        f"sort_desc(avg by (dns_zone) (avg_over_time(ccmon_nameserver_up"
        f"{sel(UDP, server=True, ns_filter=False)}[$__range])))",
        "percentunit", avail_steps, decimals=3))
    panels.append(bar_ranking(
        lay, bars[1], "Ranked: IPv6 coverage", "Share of NS names with at least one IPv6 "
        "address, most first.", f"sort_desc({ipv6_share})", "percentunit",
        thresholds((None, "orange"), (0.5, "green")), decimals=0))
    panels.append(bar_ranking(
        lay, bars[2], "Ranked: DNSSEC coverage", "Share of each zone's server addresses "
        "serving valid signatures (DNSSEC02) in a secure zone (the parent's DS matches, "
        "DNSSEC01), most first; unsigned, island, bogus and unknown zones count 0.",
        f"sort_desc({dnssec_coverage()})", "percentunit",
        thresholds((None, "red"), (0.5, "orange"), (1, "green")), decimals=0))
    bars = lay.row(10, [12, 12])
    panels.append(bar_ranking(
        lay, bars[0], "Ranked: signature expiry (time left)",
        "DNSSEC03: time until the earliest RRSIG over SOA and DNSKEY on any of the zone's "
        "addresses expires, soonest first; orange below 2.5 days, red below 1 day. Signed "
        "zones only: unsigned zones are not listed.",
        f"sort({expiry_left('dns_zone', ns_filter=False)})", "s", EXPIRY_STEPS, decimals=1))
    panels.append(merged_table(
        lay, bars[1], "Open AXFR, open resolvers, EDNS failures",
        "Per zone, server addresses that grant a zone transfer (SEC01), answer recursive "
        "queries for other names (SEC02), or fail at least one EDNS01 test; worst first."
        + VOTE_NOTE,
        [(servers_flagged("ccmon_nameserver_axfr_open", "dns_zone", ns_filter=False),
          column("A", "Open AXFR", steps=GREEN_RED)),
         (servers_flagged("ccmon_nameserver_recursion_open", "dns_zone", ns_filter=False),
          column("B", "Open resolvers", steps=GREEN_RED)),
         (servers_edns_failing("dns_zone", ns_filter=False),
          column("C", "EDNS failing", steps=GREEN_RED))],
        sort_by="Open resolvers", desc=True))
    return dashboard("ccmon-comparison", "ccmon / Registry comparison",
                     "Zones side by side and ranked: ICANN-style availability, round-trip "
                     "percentiles, serial propagation, lame servers, name servers, IPv6, TCP "
                     "and DNSSEC coverage, signature expiry, open AXFR and resolvers, EDNS.",
                     panels, time_from="now-24h")


DASHBOARDS = {
    "ccmon-overview.json": overview,
    "ccmon-zone.json": zone_detail,
    "ccmon-comparison.json": comparison,
}


def render(build: Any) -> str:
    return json.dumps(build(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    for name, build in DASHBOARDS.items():
        path = HERE / name
        text = render(build)
        if check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(name)
        else:
            path.write_text(text, encoding="utf-8")
    if stale:
        print("out of date, run python dashboards/generate.py:", ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
