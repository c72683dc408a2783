"""ccmon report over a store of hand-made sweeps with known faults (issue 15), pure.

Two days of 1-minute sweeps of zone xx (fixtures: tests/monitor/sla_fixtures.py):
ns2 (both addresses) silent for 37 minutes; ns3 lame (refused) for 30 minutes, 17 of them
inside ns2's outage, so the zone is down 17 minutes; ns2's IPv6 address unmeasured for
90 minutes (our IPv6 absent); our vantage point offline for 60 minutes (nothing measured);
ccmon not running for 60 minutes (no sweeps).
"""

from __future__ import annotations

import csv
import io
import json
import re
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from monitor import cli
from monitor.history.writer import address_state, zone_row
from monitor.sla import svg
from monitor.sla.definitions import DEFINITIONS
from monitor.sla.figures import STATE_CLASS_SQL, histogram_quantile
from monitor.store import MIGRATIONS, Store
from tests.monitor.sla_fixtures import MONTH_START, SERVERS, build_store, status, sweep

OUTAGE = range(600, 637)  # minutes: ns2 silent, both addresses
LAME = range(620, 650)  # minutes: ns3 refuses
V6_ABSENT = range(1000, 1090)  # minutes: our IPv6 absent, ns2's IPv6 address unmeasured
OFFLINE = range(1980, 2040)  # minutes: our vantage point offline (one whole hour)
STOPPED = range(2500, 2560)  # minutes: ccmon not running, no sweep stored
DAYS = 2


def scripted() -> list:
    out = []
    for m in range(DAYS * 1440):
        if m in STOPPED:
            continue
        out.append(sweep(
            m,
            down={"192.0.2.2", "2001:db8::2"} if m in OUTAGE else set(),
            lame={"198.51.100.3"} if m in LAME else set(),
            unmeasured={"2001:db8::2"} if m in V6_ABSENT else set(),
            unknown=m in OFFLINE,
        ))  # fmt: skip
    return out


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_store(tmp_path_factory.mktemp("sla") / "ccmon.sqlite", scripted())


def report(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(["report", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def json_report(capsys, store: Path, *argv: str) -> dict:
    code, out, err = report(capsys, "--store.path", str(store), "--format", "json", *argv)
    assert code == 0, err
    return json.loads(out)


PERIOD = ("--from", "2026-10-01", "--to", "2026-10-02")


def by_address(doc: dict) -> dict[str, dict]:
    (zone,) = doc["zones"]
    return {s["address"]: s for s in zone["servers"]}


def test_outage_lame_and_unmeasured_minutes(capsys, store: Path):
    doc = json_report(capsys, store, *PERIOD)
    (zone,) = doc["zones"]
    servers = by_address(doc)
    sweeps = DAYS * 1440 - len(STOPPED)
    assert zone["sweep_interval_seconds"] == 60.0
    assert zone["sweeps"] == sweeps
    # ns2 down 37 minutes (the outage), over the minutes we measured it
    v4 = servers["192.0.2.2"]
    assert v4["downtime_minutes"] == len(OUTAGE)
    assert v4["measured_minutes"] == sweeps - len(OFFLINE)
    assert v4["availability_percent"] == pytest.approx(
        100 * (sweeps - len(OFFLINE) - len(OUTAGE)) / (sweeps - len(OFFLINE)), abs=1e-4)
    assert v4["unanswered_udp_percent"] == pytest.approx(
        100 * len(OUTAGE) / (sweeps - len(OFFLINE)), abs=1e-4)
    # 432 min per 30 days is 28.8 min for 2 days: 37 minutes down misses it
    assert v4["downtime_limit_minutes"] == 28.8 and v4["meets_spec10"] is False
    # its IPv6 address: the same outage; the 90 minutes without IPv6 here are not downtime
    v6 = servers["2001:db8::2"]
    assert v6["downtime_minutes"] == len(OUTAGE)
    assert v6["unmeasured_minutes"] == len(OFFLINE) + len(V6_ABSENT)
    # ns3: lame 30 minutes, reason refused
    ns3 = servers["198.51.100.3"]
    assert ns3["lame_minutes"] == ns3["downtime_minutes"] == len(LAME)
    assert ns3["lame_reasons"] == {"refused": float(len(LAME))}
    assert servers["192.0.2.1"]["downtime_minutes"] == 0
    assert servers["192.0.2.1"]["availability_percent"] == 100.0
    # the zone: down while only ns1 answered (ns2 silent and ns3 lame at once)
    both = len(set(OUTAGE) & set(LAME))
    assert both == 17
    assert zone["downtime_minutes"] == both
    assert zone["meets_spec10"] is False
    assert zone["unmeasured_minutes"] == len(OFFLINE)
    assert zone["measured_minutes"] == sweeps - len(OFFLINE)
    assert zone["availability_percent"] == pytest.approx(
        100 * (sweeps - len(OFFLINE) - both) / (sweeps - len(OFFLINE)), abs=1e-4)
    assert zone["not_monitored_minutes"] == len(STOPPED)
    assert zone["worst_server_downtime_minutes"] == len(OUTAGE)
    assert zone["servers_meeting_spec10"] == 1  # ns1 only: ns2 37 min, ns3 30 min > 28.8
    assert doc["vantage_unmeasured_zone_minutes"] == len(OFFLINE)
    assert doc["vantage_unmeasured_address_minutes"] == 4 * len(OFFLINE) + len(V6_ABSENT)
    # coverage
    assert zone["nameservers"] == 3 and zone["server_addresses"] == 4
    assert zone["ipv6_address_percent"] == 25.0 and zone["tcp_address_percent"] == 100.0
    assert zone["address_prefixes"] == 3  # 192.0.2.1 and .2 share a /24


def test_nothing_measured_not_even_the_delegation(capsys, tmp_path: Path):
    """Our vantage point offline: the sweep has no servers at all (the parent did not
    answer). The addresses seen before count that time as unmeasured, not as not swept."""
    reports = [sweep(m) for m in range(0, 120)]
    reports += [replace(sweep(m, unknown=True), servers=(), unmeasured=())
                for m in range(120, 150)]  # fmt: skip
    reports += [sweep(m) for m in range(150, 240)]
    path = build_store(tmp_path / "s.sqlite", reports)
    doc = json_report(capsys, path, "--from", "2026-10-01T00:00", "--to", "2026-10-01T04:00")
    (zone,) = doc["zones"]
    assert zone["unmeasured_minutes"] == 30 and zone["downtime_minutes"] == 0
    for server in zone["servers"]:
        assert server["unmeasured_minutes"] == 30, server["address"]
        assert server["sweeps"] == 240 and server["downtime_minutes"] == 0


def test_rtt_figures_are_prometheus_histogram_quantiles(capsys, store: Path):
    doc = json_report(capsys, store, *PERIOD)
    (zone,) = doc["zones"]
    # every UDP answer took 20 ms: bucket (10, 25] ms; histogram_quantile interpolates
    assert zone["udp_rtt_median_ms"] == pytest.approx(10 + 15 * 0.5, abs=1e-3)
    assert zone["udp_rtt_p95_ms"] == pytest.approx(10 + 15 * 0.95, abs=1e-3)
    assert zone["udp_within_500ms_percent"] == 100.0
    assert zone["tcp_rtt_median_ms"] == pytest.approx(25 + 35 * 0.5, abs=1e-3)  # 40 ms


def test_histogram_quantile_matches_promql_rules():
    counts = [0] * 15
    counts[4] = 10  # ten answers in (0.01, 0.025]
    assert histogram_quantile(0.5, counts) == pytest.approx(0.0175)
    counts[14] = 90  # ninety beyond the last bound: +Inf bucket gives the highest bound
    assert histogram_quantile(0.95, counts) == 7.5
    assert histogram_quantile(0.5, [0] * 15) is None


@pytest.mark.parametrize(
    ("rtt", "state"),
    [(0.5, "up"), (0.5001, "slow"), (2.5, "slow"), (2.5001, "unanswered")],
)
def test_address_state_pins_the_slr_and_five_times_the_slr(rtt: float, state: str):
    report = sweep(0, rtt=rtt)
    views = report.addresses
    assert {address_state(v, report) for v in views} == {state}


def test_zone_state_two_name_servers_up_is_available_one_is_not():
    def zone_state(**kw) -> str:
        report = sweep(0, **kw)
        views = report.addresses
        row = zone_row([(v, address_state(v, report)) for v in views], report, None)
        return next(k for k in ("up", "unanswered", "unmeasured") if row.get(k))

    assert zone_state(down={"198.51.100.3"}) == "up"  # ns1 and ns2: 2 up
    assert zone_state(down={"198.51.100.3", "192.0.2.1"}) == "unanswered"  # ns2 only
    assert zone_state(down={"2001:db8::2"}) == "up"  # ns2 partly down: ns1, ns3 up
    # ns2 has one address down: not up on all its addresses, ns1+ns3 still make two
    assert zone_state(down={"2001:db8::2", "192.0.2.1"}) == "unanswered"
    # only ns1 measurable: whether 2 name servers were up is for what we could not see
    assert zone_state(unmeasured={"192.0.2.2", "2001:db8::2", "198.51.100.3"}) == "unmeasured"
    # ns2's IPv6 unmeasured, its IPv4 up, ns3 down: ns1 and ns2 up on what was measured
    assert zone_state(unmeasured={"2001:db8::2"}, down={"198.51.100.3"}) == "up"
    # ns2 and ns3 not measured at all, ns1 down: they could have made it 2 - no verdict
    assert zone_state(unmeasured={"192.0.2.2", "2001:db8::2", "198.51.100.3"},
                      down={"192.0.2.1"}) == "unmeasured"  # fmt: skip
    # ns2's IPv6 unmeasured but its IPv4 down, ns3 down: unavailable whatever IPv6 did
    assert zone_state(unmeasured={"2001:db8::2"},
                      down={"198.51.100.3", "192.0.2.2"}) == "unanswered"  # fmt: skip
    assert zone_state(unknown=True) == "unmeasured"
    # no server at all (nothing resolvable), our vantage point fine: unavailable
    empty = replace(sweep(0), servers=())
    assert zone_row([], empty, None).get("unanswered") == 1


@pytest.mark.parametrize("down", [set(), {"192.0.2.1"}, {"198.51.100.3", "192.0.2.1"},
                                  {"2001:db8::2", "192.0.2.1"}, {"192.0.2.2"}])  # fmt: skip
@pytest.mark.parametrize("unmeasured", [set(), {"2001:db8::2"}, {"192.0.2.2", "2001:db8::2"},
                                        {"192.0.2.2", "2001:db8::2", "198.51.100.3"}])  # fmt: skip
@pytest.mark.parametrize("unknown", [False, True])
def test_zone_state_is_the_status_pages_zone_available(down, unmeasured, unknown):
    """One rule: with every answer within the SLR, the history's zone state is the report's
    `available` (metrics, status page, API)."""
    report = sweep(0, down=down - unmeasured, unmeasured=unmeasured, unknown=unknown)
    views = report.addresses
    row = zone_row([(v, address_state(v, report)) for v in views], report, None)
    state = next(k for k in ("up", "unanswered", "unmeasured") if row.get(k))
    assert state == {True: "up", False: "unanswered", None: "unmeasured"}[report.available]


def test_csv_parses_with_the_stdlib_and_carries_the_json_numbers(capsys, store: Path):
    doc = json_report(capsys, store, *PERIOD)
    code, out, err = report(capsys, "--store.path", str(store), "--format", "csv", *PERIOD)
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 1 + len(SERVERS)
    zone_row_, *address_rows = rows
    expected = [(zone_row_, {k: v for k, v in doc["zones"][0].items() if k != "servers"})]
    expected += [(r, by_address(doc)[r["address"]]) for r in address_rows]
    compared = 0
    for row, figures in expected:
        for key, value in figures.items():
            if isinstance(value, bool) or value is None:
                assert row[key] == ("" if value is None else str(value).lower()), key
            elif isinstance(value, int | float):
                assert float(row[key]) == value, key
                compared += 1
    assert compared > 100
    # units in the column names
    header = out.splitlines()[0].split(",")
    for name in ("downtime_minutes", "availability_percent", "udp_rtt_p95_ms",
                 "soa_propagation_max_seconds", "rrsig_nearest_expiry_unix_seconds"):  # fmt: skip
        assert name in header


def test_html_has_plots_ranking_and_every_definition_link_resolves(capsys, store: Path):
    code, html, err = report(capsys, "--store.path", str(store), *PERIOD)
    assert code == 0, err
    assert html.count('class="plot"') == 4  # calendar, heat strip, RTT, serial lag
    ids = set(re.findall(r'id="([^"]+)"', html))
    links = set(re.findall(r'href="#([^"]+)"', html))
    assert links <= ids, links - ids
    assert {f"def-{k}" for k in DEFINITIONS} <= ids
    assert 'id="ranking"' in html and 'href="#zone-xx"' in html
    # ns2's strip has the outage hour (37 of 60 sweeps unanswered: over 50 %)
    strip = html.split('aria-label="xx: state per server address')[1].split("</svg>")[0]
    row = strip.split(">ns2.nic.xx. 192.0.2.2</text>")[1].split("<text")[0]
    assert 'data-state="down"' in row
    assert 'data-state="unmeasured"' in row  # the hour our vantage point was offline
    assert 'data-state="nodata"' in row  # the hour ccmon was not running
    assert "60 zone-minutes" in html


def test_sql_state_class_is_the_python_rule():
    """The heat strip classes rows in SQL, the calendar in Python: the same rule, pinned on
    both sides of every boundary (5 % and 50 % unanswered, lame vs unanswered)."""
    db = sqlite3.connect(":memory:")
    cases = [
        (60, 60, 0, 0, 0), (60, 57, 3, 0, 0), (60, 56, 4, 0, 0), (60, 30, 30, 0, 0),
        (60, 29, 31, 0, 0), (60, 0, 0, 0, 60), (60, 0, 0, 1, 59), (60, 50, 5, 5, 0),
        (60, 50, 6, 4, 0), (0, 0, 0, 0, 0), (40, 38, 2, 0, 20), (40, 37, 3, 0, 20),
    ]  # fmt: skip
    seen = set()
    for sweeps, up, unanswered, lame, unmeasured in cases:
        (sql,) = db.execute(
            f"SELECT {STATE_CLASS_SQL} FROM (SELECT ? AS sweeps, ? AS up, ? AS unanswered, "
            "? AS lame, ? AS unmeasured)",
            (sweeps, up, unanswered, lame, unmeasured),
        ).fetchone()
        assert sql == svg.state_class(sweeps, up, unanswered, lame, unmeasured)
        seen.add(sql)
    assert seen == set(svg.CLASSES)


def test_palette_text_contrast_is_at_least_4_5():
    for colour, _ in svg.CLASSES.values():  # calendar day numbers: black on the cell
        assert svg.contrast(svg.TEXT, colour) >= 4.5, colour
    assert svg.contrast(svg.MUTED, "#FFFFFF") >= 4.5
    assert svg.contrast("#0050A0", "#FFFFFF") >= 4.5  # links
    assert svg.contrast("#000000", "#F2F2F2") >= 4.5  # table headers


# --- bad input: one line, exit 3, nothing that could pass for a report ------------------


def one_line_refusal(capsys, *argv: str) -> str:
    code, out, err = report(capsys, *argv)
    assert code == 3
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("ccmon report: "), err
    return err


def test_missing_store(capsys, tmp_path: Path):
    err = one_line_refusal(capsys, "--store.path", str(tmp_path / "none.sqlite"))
    assert "does not exist" in err
    assert not (tmp_path / "none.sqlite").exists()


def test_empty_store(capsys, tmp_path: Path):
    Store(str(tmp_path / "empty.sqlite"), retention=86400).close()
    assert "holds no sweeps" in one_line_refusal(
        capsys, "--store.path", str(tmp_path / "empty.sqlite"))
    (tmp_path / "zero.sqlite").write_bytes(b"")
    assert "no SLA history" in one_line_refusal(
        capsys, "--store.path", str(tmp_path / "zero.sqlite"))
    (tmp_path / "junk.sqlite").write_bytes(b"not a database at all" * 100)
    assert "not a ccmon store" in one_line_refusal(
        capsys, "--store.path", str(tmp_path / "junk.sqlite"))


def test_zone_never_seen(capsys, store: Path):
    err = one_line_refusal(capsys, "--store.path", str(store), "--zones", "xx", "yy", *PERIOD)
    assert "never saw zone(s): yy" in err


def test_period_without_sweeps(capsys, store: Path):
    assert "no sweeps in 2026-09" in one_line_refusal(
        capsys, "--store.path", str(store), "--month", "2026-09")
    assert "zone xx: no sweeps" in one_line_refusal(
        capsys, "--store.path", str(store), "--month", "2026-09", "--zones", "xx")


def test_unwritable_output_path(capsys, store: Path, tmp_path: Path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    err = one_line_refusal(capsys, "--store.path", str(store), *PERIOD,
                           "--out", str(blocker / "report.html"))  # fmt: skip
    assert "cannot write there" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]


@pytest.mark.parametrize("argv", [
    ("--month", "2026-13"), ("--from", "yesterday"), ("--to", "2026-10-03"),
    ("--month", "2026-10", "--from", "2026-10-01"), ("--from", "2026-10-03", "--to", "2026-10-01"),
])  # fmt: skip
def test_bad_period_flags(capsys, store: Path, argv: tuple[str, ...]):
    one_line_refusal(capsys, "--store.path", str(store), *argv)


def test_out_writes_the_file(capsys, store: Path, tmp_path: Path):
    code, out, err = report(capsys, "--store.path", str(store), *PERIOD, "--format", "json",
                            "--out", str(tmp_path / "r.json"))  # fmt: skip
    assert code == 0 and out == "" and err == ""
    assert json.loads((tmp_path / "r.json").read_text())["zones"][0]["zone"] == "xx"


# --- the store side ---------------------------------------------------------------------


def test_rollups_pruned_by_their_own_retention(tmp_path: Path):
    path = build_store(tmp_path / "s.sqlite", [sweep(m) for m in range(0, 3 * 1440, 60)])
    store = Store(str(path), retention=86400.0, rollup_retention=2 * 86400.0)
    counts = store.table_counts()
    assert counts["history_hourly"] == 72 * 5 and counts["history_daily"] == 3 * 5
    store.prune(now=MONTH_START + 3 * 86400)  # the end of day 3
    counts = store.table_counts()
    assert counts["history_hourly"] == 24 * 5  # the last day's hours
    assert counts["history_daily"] == 2 * 5  # the last two days
    store.close()


def test_schema_2_store_gains_the_history(tmp_path: Path):
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.executescript(MIGRATIONS[0] + MIGRATIONS[1] + "\nPRAGMA user_version = 2;")
    db.execute("INSERT INTO totals VALUES ('xx', '{}')")
    db.commit()
    db.close()
    store = Store(str(path), retention=86400.0)
    assert store.schema_version == len(MIGRATIONS)
    store.record_sweep(sweep(0), __import__("monitor.snapshot").snapshot.ZoneTotals())
    counts = store.table_counts()
    assert counts["history_series"] == 1 + len(SERVERS)
    assert store.integrity_check() == "ok"
    store.close()


def test_status_fixture_defaults_are_measured():
    assert status("a.", "192.0.2.9", __import__("probes.model").model.Transport.UDP).measured


@pytest.mark.parametrize(("down", "meets"), [(432, True), (433, False)])
def test_server_spec10_limit_is_432_minutes_per_30_days(down: int, meets: bool):
    from monitor.history.schema import COUNTS
    from monitor.sla.figures import Period, Series, server_figures

    month = Period(MONTH_START, MONTH_START + 30 * 86400, "30 days")
    row = {c: 0 for c in COUNTS} | {"lag_max": None, "rrsig_min": None}
    row.update(sweeps=30 * 1440, up=30 * 1440 - down, unanswered=down)
    figures = server_figures(Series(1, "xx", "ns1.nic.xx.", "192.0.2.1"), row, 60.0, month, {})
    assert figures["downtime_minutes"] == down
    assert figures["downtime_limit_minutes"] == 432.0
    assert figures["meets_spec10"] is meets


def test_zone_plots_fragment_for_the_status_page(store: Path, tmp_path: Path):
    from monitor.sla.embed import zone_plots_html

    html = zone_plots_html(str(store), "xx", days=2, now=MONTH_START + 2 * 86400)
    assert html.count('class="plot"') == 4 and 'data-state="down"' in html
    assert "style=" not in html and "<script" not in html  # fits the page's strict CSP
    missing_store = zone_plots_html(str(tmp_path / "none.sqlite"), "xx")
    assert missing_store.startswith('<p class="note">No history') and "<svg" not in missing_store
    assert "never saw" in zone_plots_html(str(store), "yy")


def test_daily_rollups_answer_after_the_hourly_ones_are_pruned(capsys, tmp_path: Path):
    path = build_store(tmp_path / "s.sqlite", [  # a sweep every 5 minutes
        sweep(m, down={"192.0.2.1"} if 100 <= m < 130 else ()) for m in range(0, 2 * 1440, 5)
    ])  # fmt: skip
    before = json_report(capsys, path, "--from", "2026-10-01", "--to", "2026-10-02")
    store = Store(str(path), retention=86400.0, rollup_retention=400 * 86400.0)
    store.prune(now=MONTH_START + 40 * 86400)  # 40 days later: hourly rows gone, daily kept
    assert store.table_counts()["history_hourly"] == 0
    store.close()
    after = json_report(capsys, path, "--from", "2026-10-01", "--to", "2026-10-02")
    assert after["zones"] == before["zones"]
    assert by_address(after)["192.0.2.1"]["downtime_minutes"] == 30
    code, html, _ = report(capsys, "--store.path", str(path), "--month", "2026-10")
    assert code == 0 and html.count('class="plot"') == 4  # plots from the daily rows
    err = one_line_refusal(capsys, "--store.path", str(path),
                           "--from", "2026-10-01T06:00", "--to", "2026-10-01T12:00")  # fmt: skip
    assert "give whole days" in err


def test_serials_dnssec_and_open_services(capsys, tmp_path: Path):
    """Serial 8 reaches ns1 at minute 100, ns2 (both addresses) at 103, ns3 at 105: 5
    minutes of propagation; serial 9 reaches all at once at minute 200: 0 s. The zone is
    bogus for 12 minutes; one address grants AXFR once; signatures expire at T+10 days."""
    expiry = MONTH_START + 10 * 86400

    def serials(m: int) -> dict[str, int]:
        if m >= 200:
            return dict.fromkeys(("192.0.2.1", "192.0.2.2", "2001:db8::2", "198.51.100.3"), 9)
        return {"192.0.2.1": 8 if m >= 100 else 7,
                "192.0.2.2": 8 if m >= 103 else 7, "2001:db8::2": 8 if m >= 103 else 7,
                "198.51.100.3": 8 if m >= 105 else 7}  # fmt: skip

    def extra(m: int) -> dict[str, dict]:
        out: dict[str, dict] = {a: {"rrsig_expires_at": expiry + (a == "192.0.2.2") * 3600.0}
                                for _, a in SERVERS}  # fmt: skip
        if m == 300:
            out["198.51.100.3"] = {**out["198.51.100.3"], "axfr_open": True}
        if 400 <= m < 412:
            out["192.0.2.1"] = {**out["192.0.2.1"], "dnssec_valid": False}
        return out

    path = build_store(tmp_path / "s.sqlite", [
        sweep(m, serials=serials(m), udp_extra=extra(m),
              dnssec="bogus" if 400 <= m < 412 else "secure")
        for m in range(0, 480)
    ])  # fmt: skip
    doc = json_report(capsys, path, "--from", "2026-10-01T00:00", "--to", "2026-10-01T08:00")
    (zone,) = doc["zones"]
    servers = by_address(doc)
    assert zone["soa_changes"] == 2 and zone["soa_changes_pending"] == 0
    assert zone["soa_propagation_max_seconds"] == 300.0
    assert zone["soa_propagation_p95_seconds"] == 300.0
    assert zone["soa_propagation_median_seconds"] == 0.0  # nearest rank of (0, 300)
    assert servers["192.0.2.1"]["serial_lag_minutes"] == 0
    assert servers["192.0.2.2"]["serial_lag_minutes"] == 3
    assert servers["198.51.100.3"]["serial_lag_minutes"] == 5
    assert servers["198.51.100.3"]["serial_lag_max_serials"] == 1
    assert zone["serial_lag_minutes_worst_server"] == 5
    assert zone["dnssec_bogus_minutes"] == 12
    assert servers["192.0.2.1"]["dnssec_invalid_minutes"] == 12
    assert servers["192.0.2.2"]["dnssec_invalid_minutes"] == 0
    assert zone["rrsig_nearest_expiry_unix_seconds"] == expiry
    assert servers["192.0.2.2"]["rrsig_nearest_expiry_unix_seconds"] == expiry + 3600
    assert zone["axfr_open_addresses"] == 1 and servers["198.51.100.3"]["axfr_open_seen"]
    assert zone["recursion_open_addresses"] == 0


def test_store_retention_keys():
    from monitor.config import Config, ConfigError, parse_config

    defaults = Config(zones=()).store
    assert defaults.retention == 35 * 86400  # a month and a few days
    assert defaults.rollup_retention == 400 * 86400
    config = parse_config("zones: [xx]\nstore:\n  retention: 40d\n  rollup_retention: 730d\n")
    assert config.store.retention == 40 * 86400 and config.store.rollup_retention == 730 * 86400
    with pytest.raises(ConfigError, match=r"config.yaml:3: store.rollup_retention"):
        parse_config("zones: [xx]\nstore:\n  rollup_retention: soon\n")


def test_ranking_order():
    from monitor.sla.render import rank_key

    def zone(name: str, avail, down, worst, p95) -> dict:
        return {"zone": name, "availability_percent": avail, "downtime_minutes": down,
                "worst_server_downtime_minutes": worst, "udp_rtt_p95_ms": p95}  # fmt: skip

    zones = [
        zone("unknown", None, None, None, None),
        zone("slow", 100.0, 0.0, 0.0, 90.0),
        zone("lame-server", 100.0, 0.0, 43200.0, 10.0),
        zone("down", 99.0, 432.0, 432.0, 10.0),
        zone("fast", 100.0, 0.0, 0.0, 10.0),
    ]
    assert [z["zone"] for z in sorted(zones, key=rank_key)] == [
        "fast", "slow", "lame-server", "down", "unknown"]
