"""One derivation of "behind": the servers SOA01 names are exactly those whose
`ccmon_nameserver_soa_serial_lag` on /metrics is above 0 and whose state on the zone's status
page is stale — for ordinary serials, wrap-around, both sides of the 2^31 boundary, and the
RFC 1982 undefined case of serials exactly 2^31 apart (once judged differently by two copies).

The report is made as a sweep makes it (judge, then the summarise stage); the metric is read
from the collector's exposition text and the state from the rendered zone page."""

from __future__ import annotations

import random
import re

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from monitor.metrics import CcmonCollector
from monitor.report import render_text
from monitor.snapshot import MonitorState, Snapshot, ZoneHistory, ZoneTotals
from monitor.web.pages.zone import render_zone_page
from probes.checks import judge
from probes.model import ServerState, ZoneReport
from probes.serial import highest_serial
from probes.summarise import summarise
from tests.unit.builders import ZONE, evidence, healthy

TOP = 2**32 - 1

#: (serials of ns1, ns2, ... in order, the addresses behind by rule), on both sides of each
#: boundary: equal, wrap-around, just inside and just outside the 2^31 window, undefined.
PINNED: list[tuple[list[int], set[int]]] = [
    ([2026112701, 2026112701, 2026112696], {3}),
    ([7, 7], set()),
    ([TOP, 0], {1}),  # 0 follows 2^32 - 1
    ([TOP, 1], {1}),
    ([0, 2**31 - 1], {1}),  # 2^31 - 1 steps ahead: defined, newer
    ([0, 2**31 + 1], {2}),  # 2^31 + 1 steps ahead is 2^31 - 1 behind: 0 is newer
    ([0, 2**31], {2}),  # undefined: the fixed rule picks 0 (numerically smallest)
    ([2**31, 0], {1}),  # the same pair the other way round: the same verdict
    ([1, 2**31 + 1], {2}),
    ([0, 2**31, 2**30], {1, 3}),  # 2^31 beats 2^30 beats 0; 2^31 is beaten by none
    ([5, 5 + 2**31, 5 + 2**31, 7], {1, 4}),  # 5 + 2^31 beats 7 beats 5
]
RANDOM = [
    *[[random.Random(seed).randrange(2**32) for _ in range(4)] for seed in range(30)],
    *[[s, (s + 2**31) % 2**32] for s in random.Random(7).sample(range(2**32), 15)],
]


def _address(i: int) -> str:
    return f"192.0.2.{i}"


def _report(serials: list[int]) -> tuple[ZoneReport, set[str]]:
    """The zone's report as a sweep makes it, and the addresses SOA01 names."""
    observations = []
    for i, serial in enumerate(serials, 1):
        observations += healthy(f"ns{i}.nic.fr.", _address(i), serial)
    ev = evidence(observations)
    findings = judge(ev)
    statuses, dnssec = summarise(ev, ev, findings)
    report = ZoneReport(zone=ZONE.rstrip("."), started_at=1_800_000_000.0, duration=0.1,
                        servers=tuple(statuses), findings=tuple(findings), dnssec=dnssec)
    return report, {f.address for f in findings if f.check == "SOA01"}


def _state_of(report: ZoneReport) -> MonitorState:
    state = MonitorState(Snapshot(zones=(report.zone,)))
    state.publish(report, ZoneTotals(), ZoneHistory())
    return state


def _metric_lagging(state: MonitorState) -> dict[str, float]:
    registry = CollectorRegistry()
    registry.register(CcmonCollector(state))
    text = generate_latest(registry).decode()
    return {
        sample.labels["address"]: sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "ccmon_nameserver_soa_serial_lag"
        for sample in family.samples
        if sample.value > 0
    }


def _page_states(state: MonitorState, zone: str, addresses: list[str]) -> dict[str, str]:
    html = render_zone_page(state.snapshot, zone, None, now=1_800_000_100.0)
    found = {}
    for address in addresses:
        match = re.search(rf'<td class="id">{re.escape(address)}</td>'
                          r'<td><span class="tag s-([a-z]+)">', html)
        assert match, f"no row for {address} on the zone page"
        found[address] = match.group(1)
    return found


def _check(serials: list[int]) -> set[str]:
    report, named = _report(serials)
    state = _state_of(report)
    addresses = [_address(i) for i in range(1, len(serials) + 1)]
    page = _page_states(state, report.zone, addresses)
    stale = {a for a, s in page.items() if s == ServerState.STALE}
    lagging = _metric_lagging(state)
    assert named == stale == set(lagging), (named, stale, lagging)
    # the plugin's text (`ccmon check`): "stale (-N)" rows for exactly those addresses
    plugin = {row.split()[1] for row in render_text([report]).splitlines()
              if re.search(r"\bstale \(-\d+\)", row)}
    assert plugin == named, (plugin, named)
    assert {a.address for a in report.addresses if a.state is ServerState.STALE} == named
    return named


@pytest.mark.parametrize(("serials", "behind"), PINNED,
                         ids=[",".join(map(str, c)) for c, _ in PINNED])
def test_soa01_metric_lag_and_page_state_name_the_servers_behind(
        serials: list[int], behind: set[int]) -> None:
    assert _check(serials) == {_address(i) for i in behind}


@pytest.mark.parametrize("serials", RANDOM, ids=[",".join(map(str, c)) for c in RANDOM])
def test_soa01_metric_lag_and_page_state_agree_on_random_serials(serials: list[int]) -> None:
    named = _check(serials)
    assert len(named) < len(serials)  # the highest serial is never behind


def test_undefined_pair_has_one_fixed_answer() -> None:
    assert highest_serial([0, 2**31]) == highest_serial([2**31, 0]) == 0
