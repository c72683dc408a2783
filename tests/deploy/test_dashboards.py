"""The Grafana dashboards: structure, and every panel's query against a real Prometheus that
scraped `ccmon run` over the lab (two vantage points, see tests/deploy/world.py)."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from typing import Any

import pytest
import yaml

from monitor.metrics import METRICS_BY_NAME
from tests.deploy import dashboards as dash
from tests.deploy.dashboards import (
    BUILTINS,
    DASHBOARD_DIR,
    NO_QUERY_PANELS,
    SIGNED_ZONES_ONLY,
    Query,
    dashboard_files,
    load,
    panels,
    queries,
    references,
    substitute,
    variable_names,
    variable_query,
)
from tests.deploy.world import World

generate = dash.load_generator()

DASHBOARDS = {p.name: load(p) for p in dashboard_files()}
ALL_QUERIES: list[Query] = [q for d in DASHBOARDS.values() for q in queries(d)]
ALL_VALUES = {"zone": ".*", "nameserver": ".*", "vantage": ".*"}
DS = {"type": "prometheus", "uid": "${datasource}"}


# --- structure -----------------------------------------------------------------------------

def test_the_three_dashboards_exist() -> None:
    uids = {d["uid"] for d in DASHBOARDS.values()}
    assert uids == {"ccmon-overview", "ccmon-zone", "ccmon-comparison"}


def test_generated_files_are_up_to_date() -> None:
    assert generate.main(["--check"]) == 0, "run: python dashboards/generate.py"


def test_uids_and_titles_unique() -> None:
    uids = [d["uid"] for d in DASHBOARDS.values()]
    titles = [d["title"] for d in DASHBOARDS.values()]
    assert len(set(uids)) == len(uids)
    assert len(set(titles)) == len(titles)
    for uid in uids:
        assert re.fullmatch(r"[a-zA-Z0-9_-]{1,40}", uid)


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_dashboard_model(name: str) -> None:
    d = DASHBOARDS[name]
    assert d["schemaVersion"] >= 39  # Grafana 10.4+ classic model
    assert d["title"] and d["description"]
    assert "id" not in d or d["id"] is None  # provisioned: Grafana assigns ids
    ids = [p["id"] for p in panels(d)]
    assert len(set(ids)) == len(ids), "panel ids must be unique"


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_every_panel_has_title_and_datasource(name: str) -> None:
    for p in panels(DASHBOARDS[name]):
        assert p.get("title", "").strip(), f"panel {p.get('id')} has no title"
        if p["type"] in NO_QUERY_PANELS:
            assert not p.get("targets")
            continue
        assert p.get("datasource") == DS, f"{p['title']}: datasource must be ${{datasource}}"
        assert p.get("description"), f"{p['title']}: say what the panel shows"
        assert p["targets"], f"{p['title']}: no query"
        refs = [t["refId"] for t in p["targets"]]
        assert len(set(refs)) == len(refs), f"{p['title']}: duplicate refId"
        for t in p["targets"]:
            assert t.get("datasource") == DS, f"{p['title']} {t['refId']}: datasource"
            assert t["expr"].strip()


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_panels_fit_the_grid_without_overlap(name: str) -> None:
    cells: dict[tuple[int, int], str] = {}
    for p in panels(DASHBOARDS[name]):
        g = p["gridPos"]
        assert g["x"] >= 0 and g["w"] > 0 and g["x"] + g["w"] <= 24, p["title"]
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, f"{p['title']} overlaps {cells[(x, y)]}"
                cells[(x, y)] = p["title"]


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_variables(name: str) -> None:
    d = DASHBOARDS[name]
    variables = {v["name"]: v for v in d["templating"]["list"]}
    assert {"datasource", "zone", "vantage"} <= set(variables)
    if d["uid"] != "ccmon-comparison":  # the comparison compares zones, not servers
        assert "nameserver" in variables
        assert "nameserver)" in variable_query(variables["nameserver"])
    ds = variables["datasource"]
    assert ds["type"] == "datasource" and ds["query"] == "prometheus"
    assert "dns_zone)" in variable_query(variables["zone"])
    assert "vantage)" in variable_query(variables["vantage"])
    for v in variables.values():
        if v["type"] == "query":
            assert v["datasource"] == DS
            assert v.get("allValue") == ".*"  # All must also match series without the label


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_every_variable_is_used_and_every_reference_defined(name: str) -> None:
    d = DASHBOARDS[name]
    defined = set(variable_names(d))
    used: set[str] = set()
    for p in panels(d):
        used |= references(yaml.safe_dump(p))  # datasource uid, queries, titles, links
    for v in d["templating"]["list"]:
        used |= references(variable_query(v))
    assert defined <= used, f"unused variables: {defined - used}"
    assert used <= defined | set(BUILTINS), f"undefined: {used - defined - set(BUILTINS)}"


def test_queries_use_only_documented_metrics() -> None:
    known = set(METRICS_BY_NAME)
    for q in ALL_QUERIES:
        for metric in re.findall(r"\bccmon_[a-z0-9_]+", q.expr):
            base = re.sub(r"_(bucket|count|sum)$", "", metric)
            assert metric in known or base in known, f"{q.name}: unknown metric {metric}"


def test_no_ccmon_label_named_vantage_or_zone_is_assumed_wrongly() -> None:
    for q in ALL_QUERIES:
        assert not re.search(r"\bzone=", q.expr), f"{q.name}: the label is dns_zone"


def test_comparison_covers_what_registries_compare() -> None:
    d = DASHBOARDS["ccmon-comparison.json"]
    text = " ".join(q.expr for q in queries(d))
    for needle in ("ccmon_zone_available", "histogram_quantile(0.5", "histogram_quantile(0.95",
                   "ccmon_zone_soa_propagation_seconds", "ccmon_nameserver_lame",
                   "ccmon_zone_nameservers", 'address=~".*:.*"', 'transport="tcp"'):
        assert needle in text, needle
    # the further checks: real metrics, no placeholder text panels
    for needle in ("ccmon_zone_dnssec_status", "ccmon_nameserver_dnssec_valid",
                   "ccmon_nameserver_rrsig_expiry_timestamp_seconds", "ccmon_nameserver_axfr_open",
                   "ccmon_nameserver_recursion_open", "ccmon_nameserver_edns_compliant"):
        assert needle in text, needle
    assert not [p for p in panels(d) if p["type"] == "text"], "no placeholder panels"
    by_title = {p["title"]: p for p in panels(d)}
    assert by_title["Ranked: DNSSEC coverage"]["type"] == "bargauge"
    expiry = by_title["Ranked: signature expiry (time left)"]
    assert expiry["targets"][0]["expr"].startswith("sort(")  # soonest first
    assert "- time()" in expiry["targets"][0]["expr"]


def test_overview_has_grid_counts_and_worst_first() -> None:
    d = DASHBOARDS["ccmon-overview.json"]
    by_title = {p["title"]: p for p in panels(d)}
    assert by_title["Zones × servers (UDP)"]["type"] == "state-timeline"
    for title in ("Lame", "Inconsistent zones", "Unreachable", "Servers down (UDP)"):
        assert by_title[title]["type"] == "stat"
    worst = by_title["Worst offenders first"]
    assert worst["options"]["sortBy"] == [{"displayName": "Severity", "desc": True}]


def test_zone_detail_panels() -> None:
    d = DASHBOARDS["ccmon-zone.json"]
    exprs = " ".join(q.expr for q in queries(d))
    for needle in ('ccmon_nameserver_response_time_seconds{dns_zone=~"$zone", '
                   'nameserver=~"$nameserver", vantage=~"$vantage", transport="udp"}',
                   'transport="tcp"', "ccmon_nameserver_soa_serial{",
                   "ccmon_nameserver_lame{", "ccmon_check_findings{",
                   "ccmon_nameserver_rrsig_expiry_timestamp_seconds{", "ccmon_zone_dnssec_status{",
                   "ccmon_nameserver_nsid_info{", "ccmon_nameserver_edns_compliant{",
                   "ccmon_nameserver_axfr_open{", "ccmon_nameserver_recursion_open{"):
        assert needle in exprs, needle


def test_provisioning_files() -> None:
    for base in (DASHBOARD_DIR / "provisioning", DASHBOARD_DIR.parent / "deploy/grafana/"
                 "provisioning"):
        ds = yaml.safe_load((base / "datasources/ccmon.yaml").read_text())
        prom = [d for d in ds["datasources"] if d["type"] == "prometheus"]
        assert ds["apiVersion"] == 1 and len(prom) == 1 and prom[0]["isDefault"]
        provider = yaml.safe_load((base / "dashboards/ccmon.yaml").read_text())
        assert provider["apiVersion"] == 1
        (p,) = provider["providers"]
        assert p["type"] == "file" and p["options"]["path"].startswith("/")


# --- against Prometheus ----------------------------------------------------------------------

def run(api: Any, query: Query, values: dict[str, str], now: float) -> list[dict[str, Any]]:
    expr = substitute(query.expr, values)
    if query.instant:
        return api.query(expr, now)
    return api.query_range(expr, now - 120, now, 5)


SIGNED = 'ccmon_zone_dnssec_status{state=~"secure|island|bogus"} == 1'


@pytest.mark.integration
@pytest.mark.parametrize("query", ALL_QUERIES, ids=lambda q: q.name)
def test_panel_query_returns_data(world: World, query: Query) -> None:
    result = run(world.prometheus, query, ALL_VALUES, time.time())  # raises if it does not parse
    if query.panel in SIGNED_ZONES_ONLY:
        assert bool(result) == bool(world.prometheus.query(SIGNED)), (
            f"{query.name}: data exactly when the world has a signed zone")
        return
    assert result, f"no data for {substitute(query.expr, ALL_VALUES)}"


@pytest.mark.integration
def test_further_check_metrics_reach_prometheus(world: World) -> None:
    """The demo world's zones are unsigned, answer EDNS, refuse AXFR and recursion, and its
    NSD and Knot servers return an NSID: the dashboards' inputs have those values."""
    prom = world.prometheus
    states = prom.query("ccmon_zone_dnssec_status == 1")
    assert states and {s["metric"]["state"] for s in states} <= {"unsigned", "unknown"}
    assert {s["metric"]["dns_zone"] for s in states} == set(world.zones)
    assert prom.query("ccmon_nameserver_axfr_open == 0")
    assert not prom.query("ccmon_nameserver_axfr_open == 1")
    assert not prom.query("ccmon_nameserver_recursion_open == 1")
    assert prom.query('ccmon_nameserver_edns_compliant{dns_zone="fr"} == 1')
    assert not prom.query('ccmon_nameserver_edns_compliant{dns_zone="fr"} == 0')
    assert not prom.query('ccmon_nameserver_edns_failed_test_info{dns_zone="fr"}')
    assert prom.query('ccmon_nameserver_nsid_info{dns_zone="fr", nameserver="ns1.nic.fr."}')
    assert not prom.query("ccmon_nameserver_rrsig_expiry_timestamp_seconds")


@pytest.mark.integration
def test_panel_queries_parse_with_single_values(world: World) -> None:
    values = {"zone": "fr", "nameserver": "ns1.nic.fr.", "vantage": "a"}
    now = time.time()
    empty = []
    for query in ALL_QUERIES:
        if not run(world.prometheus, query, values, now):  # raises when it does not parse
            empty.append(query.name)
    # For a healthy zone only the problem lists may be empty (and series that exist only
    # for servers behind the newest serial).
    allowed = {"Lame servers and why", "Open findings", "Least available servers",
               "Behind the newest serial", *SIGNED_ZONES_ONLY}
    assert {name.split(" / ")[1] for name in empty} <= allowed, empty


@pytest.mark.integration
def test_variable_queries_return_values(world: World) -> None:
    seen: dict[str, set[str]] = {}
    for d in DASHBOARDS.values():
        for v in d["templating"]["list"]:
            if v["type"] != "query":
                continue
            match, label = dash.parse_label_values(variable_query(v))
            got = world.prometheus.label_values(label, substitute(match, ALL_VALUES))
            assert got, f"{d['uid']}: variable {v['name']} has no values"
            seen.setdefault(v["name"], set()).update(got)
    assert seen["vantage"] == {"a", "b"}
    assert seen["zone"] == set(world.zones)
    assert "ns1.nic.fr." in seen["nameserver"]


@pytest.mark.integration
def test_overview_counts_match_the_lab(world: World) -> None:
    """The stat panels give the numbers the demo world's faults imply."""
    stats = {p["title"]: p["targets"][0]["expr"] for p in
             panels(DASHBOARDS["ccmon-overview.json"]) if p["type"] == "stat"}

    def value(title: str) -> float:
        (sample,) = world.prometheus.query(substitute(stats[title], ALL_VALUES))
        return float(sample["value"][1])

    assert value("Zones") == len(world.zones)
    assert value("Zones down") >= 1  # ly: every server silent
    assert value("Inconsistent zones") >= 1  # ke: one server 5 serials behind
    assert value("Lame") >= 6  # refused, servfail, noaa, referral, nxdomain, wrong-owner
    assert value("Unreachable") >= 4  # bo and py ns3, ly's two servers


CORE_PANELS = {"stat", "table", "timeseries", "state-timeline", "bargauge", "text", "row"}


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_panel_types_are_core_grafana_and_overrides_match_queries(name: str) -> None:
    for p in panels(DASHBOARDS[name]):
        assert p["type"] in CORE_PANELS, f"{p['title']}: {p['type']} needs a plugin"
        refs = {t["refId"] for t in p.get("targets", [])}
        for override in p.get("fieldConfig", {}).get("overrides", []):
            matcher = override["matcher"]
            if matcher["id"] == "byName" and matcher["options"].startswith("Value #"):
                assert matcher["options"][len("Value #"):] in refs, (p["title"], matcher)
            if matcher["id"] == "byFrameRefID":
                assert matcher["options"] in refs, (p["title"], matcher)
        for sort in p.get("options", {}).get("sortBy", []):
            names = [prop["value"] for o in p["fieldConfig"]["overrides"]
                     for prop in o["properties"] if prop["id"] == "displayName"]
            assert sort["displayName"] in names, (p["title"], sort)


# --- the further checks' panels over a signed world (the demo world has no signed zone) ---

def _series(metric: str, labels: dict[str, str], value: float) -> dict[str, str]:
    text = ",".join(f'{k}="{v}"' for k, v in labels.items())
    return {"series": f"{metric}{{{text}}}", "values": f"{value:g}x10"}


def _signed_world() -> list[dict[str, str]]:
    """Two vantage points. se: secure, b.ns.se invalid from a, earliest expiry 100000 (b.ns.se
    at a). ch: bogus at a, secure at b, valid everywhere. li: unsigned."""
    out = []
    for vantage in ("a", "b"):
        states = {"se": "secure", "ch": "bogus" if vantage == "a" else "secure", "li": "unsigned"}
        for zone, current in states.items():
            out.append(_series("ccmon_zone_nameservers", {"dns_zone": zone, "vantage": vantage}, 2))
            for state in ("secure", "island", "unsigned", "bogus", "unknown"):
                out.append(_series("ccmon_zone_dnssec_status",
                                   {"dns_zone": zone, "state": state, "vantage": vantage},
                                   int(state == current)))
        servers = {("se", "a.ns.se.", "192.0.2.40"): (1, 300000),
                   ("se", "b.ns.se.", "192.0.2.41"): (0 if vantage == "a" else 1,
                                                       100000 if vantage == "a" else 400000),
                   ("ch", "a.ns.ch.", "192.0.2.50"): (1, 900000)}
        for (zone, ns, address), (valid, expiry) in servers.items():
            labels = {"dns_zone": zone, "nameserver": ns, "address": address, "vantage": vantage}
            out.append(_series("ccmon_nameserver_dnssec_valid", labels, valid))
            out.append(_series("ccmon_nameserver_rrsig_expiry_timestamp_seconds", labels, expiry))
    return out


def _panel_expr(dashboard: str, title: str, ref: str = "A") -> str:
    (p,) = [p for p in panels(DASHBOARDS[dashboard]) if p["title"] == title]
    (t,) = [t for t in p["targets"] if t["refId"] == ref]
    return substitute(t["expr"], ALL_VALUES)


def test_dnssec_panels_over_signed_zones(tmp_path: Any) -> None:
    """promtool evaluates the DNSSEC panels' queries over a signed world; time() is 300."""
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not installed (Debian package prometheus)")
    z = "ccmon-zone.json"
    c = "ccmon-comparison.json"
    expected = [
        (_panel_expr(c, "Ranked: signature expiry (time left)"),
         {"se": 100000 - 300, "ch": 900000 - 300}),
        (_panel_expr(c, "Ranked: DNSSEC coverage"), {"se": 0.75, "ch": 0.5, "li": 0}),
        (_panel_expr(c, "Registries side by side", "K"), {"se": 4, "ch": 1, "li": 2}),
        (_panel_expr(z, "DNSSEC"), {"se": 4, "ch": 1, "li": 2}),
    ]
    tests = [{"expr": expr, "eval_time": "5m",
              "exp_samples": [{"labels": f'{{dns_zone="{zone}"}}', "value": value}
                              for zone, value in want.items()]}
             for expr, want in expected]
    per_server = _panel_expr(z, "Signature expiry per server (time left)")
    tests.append({"expr": per_server, "eval_time": "5m", "exp_samples": [
        {"labels": '{dns_zone="se", nameserver="a.ns.se.", address="192.0.2.40"}',
         "value": 300000 - 300},
        {"labels": '{dns_zone="se", nameserver="b.ns.se.", address="192.0.2.41"}',
         "value": 100000 - 300},
        {"labels": '{dns_zone="ch", nameserver="a.ns.ch.", address="192.0.2.50"}',
         "value": 900000 - 300}]})
    path = tmp_path / "dnssec_panels_test.yml"
    path.write_text(yaml.safe_dump({"rule_files": [], "evaluation_interval": "1m", "tests": [
        {"interval": "1m", "input_series": _signed_world(), "promql_expr_test": tests}]}))
    done = subprocess.run([promtool, "test", "rules", str(path)], capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
