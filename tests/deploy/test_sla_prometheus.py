"""ccmon report and Prometheus agree (issue 15): the same sweeps, two computations.

One `ccmon run` over a small lab zone (ns1 Knot, ns2 a fault server silent for OUTAGE
seconds mid-run, ns3 a fault server that refuses: lame, down all along), scraped every
second by a real Prometheus loaded with the shipped deploy/prometheus/rules.yml (groups
evaluated every second). At the end, the recording rules' values are read at the moment
ccmon stopped, and `ccmon report` is run on the store that ccmon wrote.

Tolerances, stated: availability is a share of sweeps in the report and a share of 1 s
scrape samples of the last sweep's state in Prometheus, so the two differ by the edges:
at most 2 sweep intervals of the run (one at each end) in percentage points. RTT
percentiles come from the same bucket counts (`ccmon_query_duration_seconds` and the
store's zone histogram both count every query of every sweep), but Prometheus' rate()
misses the sweep before the series' first scrape (the first, with the coldest caches), and
an interpolation inside a wide bucket moves with a handful of answers (seen: p95 4.04 vs
2.87 ms, both in (2.5, 5] ms): the two must fall in the same histogram bucket or in
neighbouring ones (seen under a CPU hog: p95 2.486 vs 2.625 ms, either side of 2.5 ms).
"""

from __future__ import annotations

import bisect
import datetime as dt
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lab import Lab, parse_scenario
from monitor.snapshot import BUCKETS
from tests.deploy.stack import Ccmon, Prometheus, ScrapeTarget, ccmon_config
from tests.deploy.world import fast_rules, require_binaries
from tests.support import free_port, lab_started, wait_for

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
INTERVAL = 3.0  # s between sweeps (a silent server costs the sweep ~1.6 s)
OUTAGE = 30.0  # s ns2 is silent
BEFORE = AFTER = 30.0  # s of healthy run around the outage
NS1, NS2, NS3 = "127.66.1.1", "127.66.1.2", "127.66.1.3"

SCENARIO = {
    "name": "sla-prometheus",
    "description": "one zone: a real server, one with an outage, one lame",
    "serial": 2026110101,
    "root": {"ns": "a.root-servers.net.", "address": "127.66.0.1", "software": "nsd"},
    "resolver": {"address": "127.66.0.2"},
    "relay": "127.66.0.4",
    "zones": [
        {"zone": "lv", "servers": [
            {"ns": "ns1.nic.lv.", "address": NS1, "software": "knot", "role": "primary"},
            {"ns": "ns2.nic.lv.", "address": NS2, "software": "fault", "fault": "none"},
            {"ns": "ns3.nic.lv.", "address": NS3, "software": "fault", "fault": "refused"},
        ]},
    ],
}  # fmt: skip


def hour(t: float, up: bool = False) -> str:
    t = (t // 3600 + (1 if up else 0)) * 3600
    return dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%dT%H:%M")


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory) -> dict:
    require_binaries("prometheus")
    workdir = tmp_path_factory.mktemp("sla-prom")
    lab = Lab(parse_scenario(SCENARIO), port=free_port(), workdir=workdir)
    lab_started(lab)
    ccmon = prometheus = None
    try:
        def config(listen: str, store: Path) -> str:
            return ccmon_config(zones=["lv"], root=lab.root_address, resolver=lab.resolver_address,
                                port=lab.port, listen=listen, store=store,
                                interval=f"{INTERVAL:g}s")  # fmt: skip

        ccmon = Ccmon("a", workdir, config)
        rules = fast_rules(workdir)
        assert rules is not None
        prometheus = Prometheus(workdir, [ScrapeTarget(ccmon.listen)], rule_files=[rules])
        prometheus.start()
        ccmon.start()
        wait_for(lambda: "lv" in ccmon.swept_zones(), 30, "ccmon's first sweep of lv")
        started = time.time()
        time.sleep(BEFORE)
        lab.set_fault(NS2, "silent")
        off = time.time()
        time.sleep(OUTAGE)
        lab.clear_fault(NS2)
        on = time.time()
        time.sleep(AFTER)
        time.sleep(2.0)  # the last sweep's samples scraped and the rules evaluated
        ccmon.stop()
        stopped = time.time()
        udp = '{transport="udp"}'
        prom = {
            "server": prometheus.values("address:ccmon_nameserver_up:avg_1d", stopped,
                                        ("address", "transport")),
            "zone": prometheus.values("dns_zone:ccmon_zone_available:avg_1d", stopped),
            "rtt": prometheus.values(
                f"dns_zone_transport:ccmon_query_duration_seconds:p50_1h{udp}", stopped),
            "rtt95": prometheus.values(
                f"dns_zone_transport:ccmon_query_duration_seconds:p95_1h{udp}", stopped),
        }
    finally:
        for part in (ccmon, prometheus, lab):
            if part is not None:
                part.stop()
    result = subprocess.run(
        [sys.executable, "-m", "monitor", "report", "--store.path",
         str(workdir / "a" / "ccmon.sqlite"), "--format", "json",
         "--from", hour(started - 60), "--to", hour(stopped, up=True)],
        capture_output=True, text=True, timeout=60, cwd=REPO,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return {"prom": prom, "report": json.loads(result.stdout), "run": stopped - started,
            "outage": on - off}  # fmt: skip


def test_availability_matches_the_recording_rules(both: dict):
    (zone,) = both["report"]["zones"]
    servers = {s["address"]: s for s in zone["servers"]}
    run = both["run"] + 2 * INTERVAL  # the report also holds the sweeps before `started`
    tolerance = 100 * 2 * INTERVAL / run  # percentage points: one interval at each end
    for address in (NS1, NS2, NS3):
        prom = 100 * both["prom"]["server"][(address, "udp")]  # the report judges UDP
        ours = servers[address]["availability_percent"]
        print(f"availability {address}: report {ours} %, Prometheus {prom:.4f} %, "
              f"tolerance {tolerance:.2f} pp")
        assert ours == pytest.approx(prom, abs=tolerance), (address, ours, prom, tolerance)
    # the outage is visible on both sides: ns2 clearly below 100 %, ns3 (lame) at 0
    assert servers[NS2]["availability_percent"] < 100 - tolerance
    assert servers[NS3]["availability_percent"] == 0.0
    prom_zone = 100 * both["prom"]["zone"][()]
    print(f"zone availability: report {zone['availability_percent']} %, "
          f"Prometheus {prom_zone:.4f} %")
    assert zone["availability_percent"] == pytest.approx(prom_zone, abs=tolerance), (
        zone["availability_percent"], prom_zone)
    assert zone["availability_percent"] < 100 - tolerance


def test_rtt_percentiles_match_the_recording_rules(both: dict):
    (zone,) = both["report"]["zones"]
    p50 = 1000 * both["prom"]["rtt"][()]
    p95 = 1000 * both["prom"]["rtt95"][()]
    ours50, ours95 = zone["udp_rtt_median_ms"], zone["udp_rtt_p95_ms"]
    print(f"UDP RTT p50 report {ours50} ms, Prometheus {p50:.3f} ms; "
          f"p95 report {ours95} ms, Prometheus {p95:.3f} ms")
    # the resolution both interpolate in: the same bucket, or its neighbour when the two
    # values sit either side of a bound
    assert abs(bucket(ours50 / 1000) - bucket(p50 / 1000)) <= 1, (ours50, p50)
    assert abs(bucket(ours95 / 1000) - bucket(p95 / 1000)) <= 1, (ours95, p95)


def bucket(seconds: float) -> int:
    """Index of the histogram bucket (BUCKETS, +Inf last) holding the value; a value on a
    bound belongs to the bucket it closes (histogram_quantile returns bounds that way)."""
    return bisect.bisect_left(BUCKETS, seconds - 1e-9)
