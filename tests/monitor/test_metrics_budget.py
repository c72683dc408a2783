"""The series budget of docs/metrics.md, pinned: what one address and one zone cost.

The metric list is a public API and its size is what every Prometheus pays (issue 16). A
synthetic zone is rendered with one and with two addresses; the difference is the cost of
one address, the rest is the zone's (and the instance's). The figures must equal the ones
the documentation states, so a new per-address series fails here until the budget, the
docs and the CHANGELOG say so.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from monitor.metrics import RUN_CHECKS, SELF_METRICS, Exporter
from monitor.snapshot import MonitorState, Snapshot, ZoneHistory, ZoneTotals
from probes.model import ServerStatus
from tests.monitor import ccmon_fixtures as fx

DOC = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"

FURTHER = ("ccmon_nameserver_rrsig_expiry_timestamp_seconds", "ccmon_nameserver_dnssec_valid",
           "ccmon_nameserver_axfr_open", "ccmon_nameserver_recursion_open",
           "ccmon_nameserver_edns_compliant", "ccmon_nameserver_nsid_info")  # fmt: skip


def healthy(count: int, lag_on: int | None = None) -> list[ServerStatus]:
    """`count` addresses of a signed zone with every fact the sweeps and further checks give."""
    rows: list[ServerStatus] = []
    for i in range(count):
        serial = 2024010100 if i == lag_on else 2024010101
        rows += fx.with_facts(
            fx.ok(f"ns{i}.pe.", f"127.53.6.{i + 1}", serial=serial),
            rrsig_expires_at=fx.T0 + 5 * fx.DAY, dnssec_valid=True, nsid=f"pe-{i}",
            edns=fx.EDNS_OK, axfr_open=False, recursion_open=False, udp_loss=0.0,
        )  # fmt: skip
    return rows


def series(servers: list[ServerStatus]) -> Counter[str]:
    """Series per family of one zone's exposition (the instance's included)."""
    report = fx.report("pe", servers, dnssec="secure")
    state = MonitorState(Snapshot(zones=("pe",)))
    state.publish(report, ZoneTotals().add_report(report), ZoneHistory())
    counts: Counter[str] = Counter()
    family = ""
    for line in Exporter(state).collector.text().splitlines():
        if line.startswith("# TYPE "):
            family = line.split()[2]
        elif line and not line.startswith("#"):
            counts[family] += 1
    return counts


def per_address() -> Counter[str]:
    return series(healthy(2)) - series(healthy(1))


def documented_budget() -> dict[str, str]:
    """The bold figures of the series-budget table, by the start of their scope."""
    text = DOC.read_text(encoding="utf-8").split("## Series budget", 1)[1].split("\n## ", 1)[0]
    out = {}
    for scope, figure in re.findall(r"^\| ([^|]+?) \| \*\*([^*]+)\*\*", text, re.M):
        out[scope.strip()] = figure.replace("≤", "").strip()
    return out


def test_one_address_costs_eight_series_per_sweep_and_six_further() -> None:
    cost = per_address()
    further = sum(cost[name] for name in FURTHER)
    every_sweep = sum(cost.values()) - further
    budget = documented_budget()
    assert every_sweep == int(budget["per (zone, name server, address), every sweep"]) == 8
    assert further == int(budget["per (zone, name server, address), further checks (hourly)"])
    assert further == 6
    assert all(n == 1 for name, n in cost.items() if name in FURTHER), cost


def test_one_zone_costs_what_the_docs_say() -> None:
    one = series(healthy(1))
    instance = sum(one[spec.name] for spec in SELF_METRICS) + sum(
        one[name] for name in ("ccmon_build_info", "ccmon_web_auth_failures_total",
                               "ccmon_config_last_reload_successful",
                               "ccmon_config_last_reload_success_timestamp_seconds",
                               "ccmon_check_info"))  # fmt: skip
    zone = sum(one.values()) - sum(per_address().values()) - instance
    assert zone == int(documented_budget()["per zone"]) == 59
    assert instance == 17 + len(RUN_CHECKS)  # one ccmon_check_info per check ccmon run judges
    assert documented_budget()["per instance"] == f"17 + {len(RUN_CHECKS)}"
    assert {"LAME01", "SOA01", "SOA03"} <= {c.id for c in RUN_CHECKS}  # sweep and history


def test_problems_add_series_only_while_they_last() -> None:
    """A server behind gets its lag (and how long) only then; failed EDNS tests one each."""
    in_sync = series(healthy(2))
    assert in_sync["ccmon_nameserver_soa_serial_lag"] == 0
    assert series(healthy(2, lag_on=1))["ccmon_nameserver_soa_serial_lag"] == 1
    broken = healthy(2)
    broken[0] = fx.with_facts([broken[0]], edns={**fx.EDNS_OK, "do": "no-do", "edns1": "x"})[0]
    counts = series(broken)
    assert counts["ccmon_nameserver_edns_failed_test_info"] == 2
    assert counts["ccmon_nameserver_edns_compliant"] == in_sync["ccmon_nameserver_edns_compliant"]


def test_an_unmeasured_address_costs_one_series() -> None:
    """ns0's IPv6 address left out (no IPv6 here): only ccmon_nameserver_measured 0."""
    measured = series(healthy(2))
    unmeasured = [
        ServerStatus(s.nameserver, "fd53::6:1", s.transport, False, False, None, None,
                     measured=False)
        for s in fx.ok("ns0.pe.", "fd53::6:1")
    ]  # fmt: skip
    both = series(healthy(2) + unmeasured)
    assert both - measured == Counter({"ccmon_nameserver_measured": 1})
    assert measured - both == Counter()
