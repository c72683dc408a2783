"""One derivation of "behind": the servers SOA01 names are exactly those whose metric lag is
above 0 and whose status-page state is stale, for ordinary serials, wrap-around, and the
RFC 1982 undefined case of serials 2^31 apart (once judged differently by two copies)."""

from __future__ import annotations

import random

import pytest

from monitor.metrics import zone_rows
from monitor.status import ZoneHistory, ZoneTotals, server_views
from probes.checks import judge
from probes.model import ZoneReport
from probes.serial import highest_serial
from probes.summarise import server_statuses
from tests.unit.builders import ZONE, evidence, healthy

CASES = [
    [2026112701, 2026112701, 2026112696],
    [4294967295, 1],
    [0, 2**31],
    [2**31, 0],
    [0, 2**31, 2**30],
    [5, 5 + 2**31, 5 + 2**31, 7],
    *[[random.Random(seed).randrange(2**32) for _ in range(4)] for seed in range(40)],
    *[[s, (s + 2**31) % 2**32] for s in random.Random(7).sample(range(2**32), 20)],
]


def _zone(serials: list[int]) -> tuple[ZoneReport, set[str]]:
    observations = []
    for i, serial in enumerate(serials, 1):
        observations += healthy(f"ns{i}.nic.fr.", f"192.0.2.{i}", serial)
    ev = evidence(observations)
    findings = judge(ev)
    named = {f.address for f in findings if f.check == "SOA01"}
    report = ZoneReport(zone=ZONE.rstrip("."), started_at=0.0, duration=0.1,
                        servers=tuple(server_statuses(ev)), findings=tuple(findings))
    return report, named


@pytest.mark.parametrize("serials", CASES, ids=[",".join(map(str, c)) for c in CASES])
def test_soa01_metric_lag_and_stale_state_name_the_same_servers(serials: list[int]) -> None:
    report, named = _zone(serials)
    views = server_views(report)
    stale = {v.address for v in views if v.state == "stale"}
    lagging = {v.address for v in views if v.lag}
    assert named == stale == lagging
    # And the metric carries the same lags.
    rows = zone_rows(report.zone, report, ZoneHistory(), ZoneTotals())
    metric_lagging = {
        dict(row.labels)["address"]
        for row in rows
        if row.family == "ccmon_nameserver_soa_serial_lag" and row.value
    }
    assert metric_lagging == named


def test_undefined_pair_has_one_fixed_answer() -> None:
    assert highest_serial([0, 2**31]) == highest_serial([2**31, 0]) == 0
