"""SOA03 and DELEG05 end to end: the monitor's Service over a small lab world of its own.

The world (own addresses 127.64.x.y, a free port, so it never meets the demo world or
another lab): `nl` on a Knot primary with an NSD and a Knot secondary, for a propagation
with a known delay (the lab's NOTIFY relay holds the primary's NOTIFY D seconds); `is`,
whose zone lists one more apex NS than the root delegates (`records:`), a delegation drift
the root has not caught up with.

The Service runs in this event loop with a 1 s interval and `thresholds.propagation: 2s`
(config text through parse_config, as `ccmon run` reads it); the test reads what it
publishes (the snapshot the metrics and the status page read, and /metrics itself).
"""

from __future__ import annotations

import asyncio
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from lab import Lab, parse_scenario
from monitor.config import parse_config
from monitor.service import Service
from probes.model import Finding, Severity, ZoneReport
from tests.support import free_port, lab_started

pytestmark = pytest.mark.integration

INTERVAL = 1.0  # s between two sweeps of a zone
THRESHOLD = 2.0  # s, thresholds.propagation
DELAY = 6.0  # s the NOTIFY to the secondaries is held
NL_PRIMARY = "127.64.2.1"
NL_SECONDARIES = {"127.64.2.2", "127.64.2.3"}

SCENARIO = {
    "name": "history",
    "description": "SOA03 propagation with a known delay; DELEG05 child NS set ahead of the root",
    "serial": 2026120101,
    "root": {"ns": "a.root-servers.net.", "address": "127.64.0.1", "software": "nsd"},
    "resolver": {"address": "127.64.0.2"},
    "relay": "127.64.0.4",
    "zones": [
        {"zone": "nl", "servers": [
            {"ns": "ns1.dns.nl.", "address": NL_PRIMARY, "software": "knot", "role": "primary"},
            {"ns": "ns2.dns.nl.", "address": "127.64.2.2", "software": "nsd",
             "role": "secondary"},
            {"ns": "ns3.dns.nl.", "address": "127.64.2.3", "software": "knot",
             "role": "secondary"},
        ]},
        {"zone": "is",
         # the registry added ns9 (served by ns2's address); the root still lists two
         "records": ["@ 3600 IN NS ns9.isnic.is.", "ns9.isnic.is. 3600 IN A 127.64.3.2"],
         "servers": [
             {"ns": "ns1.isnic.is.", "address": "127.64.3.1", "software": "nsd",
              "role": "primary"},
             {"ns": "ns2.isnic.is.", "address": "127.64.3.2", "software": "knot",
              "role": "secondary"},
         ]},
    ],
}  # fmt: skip


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    lab = Lab(parse_scenario(SCENARIO), port=free_port(), workdir=tmp_path_factory.mktemp("lab"))
    lab_started(lab)
    try:
        yield lab
    finally:
        lab.stop()


def config_text(lab: Lab, store: Path) -> str:
    return "\n".join([
        "zones: [nl, is]",
        f"parent: [{lab.root_address}]",
        f"resolver: [{lab.resolver_address}]",
        f"resolver_port: {lab.port}",
        f"port: {lab.port}",
        "probe: {udp_timeout: 1s, udp_tries: 2, tcp_timeout: 2s}",
        f"thresholds: {{propagation: {THRESHOLD:g}s}}",
        f"schedule: {{interval: {INTERVAL:g}s, jitter: 0s, allow_fast_interval: true}}",
        f"store: {{path: {store}, retention: 1d}}",
        f"web: {{listen: '127.0.0.1:{free_port()}'}}",
        "",
    ])  # fmt: skip


def of(report: ZoneReport | None, check: str) -> list[Finding]:
    return [f for f in (report.findings if report else ()) if f.check == check]


def fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return resp.read().decode()


async def wait_until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.05)


async def test_propagation_and_drift_reach_what_the_service_publishes(world: Lab, tmp_path):
    config = parse_config(config_text(world, tmp_path / "ccmon.sqlite"), "history.yaml")
    assert config.probe.propagation_threshold == THRESHOLD
    service = Service(config)
    task = asyncio.create_task(service.serve())
    try:
        await asyncio.wait_for(service.ready.wait(), 10)
        assert service.state is not None and service.web is not None

        def report(zone: str) -> ZoneReport | None:
            return service.state.snapshot.reports.get(zone)

        def sweeps(zone: str) -> int:
            totals = service.state.snapshot.totals.get(zone)
            return totals.sweeps if totals else 0

        # a settled start: every server of nl at the lab's serial, no SOA03
        base = world.serial("nl")
        await wait_until(lambda: sweeps("nl") >= 2 and sweeps("is") >= 2, 20, "two sweeps")
        assert of(report("nl"), "SOA03") == []
        assert {s.serial for s in report("nl").servers if s.authoritative} == {base}

        # DELEG05: the zone's NS set is ahead of the root's, a young difference: NOTICE
        (drift,) = of(report("is"), "DELEG05")
        assert drift.severity is Severity.NOTICE and drift.reason == "drift"
        assert drift.args["only_child"] == ["ns9.isnic.is."]
        assert drift.args["only_parent"] == []
        assert "only at the child ns9.isnic.is." in drift.message
        since = drift.args["since"]
        first_sweeps = sweeps("is")
        await wait_until(lambda: sweeps("is") >= first_sweeps + 2, 10, "two more sweeps of is")
        (later,) = of(report("is"), "DELEG05")
        assert later.args["since"] == since  # the age runs from the first sweep that saw it
        assert later.args["seconds"] >= 2 * INTERVAL * 0.9
        text = await asyncio.to_thread(fetch, service.web.url + "metrics")
        assert _findings_metric(text, "is", "DELEG05", "NOTICE") == 1

        # SOA03: a new serial held back from the secondaries for DELAY seconds
        bumped_at = time.time()
        new = await asyncio.to_thread(world.bump_serial, "nl", DELAY)
        assert new == base + 1
        warned: dict[str, float] = {}  # address -> time of the first SOA03 WARNING
        notices: list[Finding] = []
        metric_seen = False
        last_sweeps = sweeps("nl")
        deadline = time.monotonic() + DELAY + 10 * INTERVAL + 10
        while time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            if sweeps("nl") == last_sweeps:
                continue
            last_sweeps = sweeps("nl")
            current = report("nl")
            for f in of(current, "SOA03"):
                if f.severity is Severity.WARNING:
                    warned.setdefault(f.address, time.time())
                    assert f.args["serial"] == base and f.args["missing"] == new, f
                    assert f.args["seconds"] > THRESHOLD, f
                    assert f"{f.nameserver} {f.address} still serves serial {base}" in f.message
                    if not metric_seen:
                        text = await asyncio.to_thread(fetch, service.web.url + "metrics")
                        metric_seen = _findings_metric(text, "nl", "SOA03", "WARNING") >= 1
                else:
                    notices.append(f)
            served = {s.serial for s in current.servers if s.authoritative}
            if notices and served == {new} and not of(current, "SOA03"):
                break  # caught up, said once, and quiet again
        assert set(warned) == NL_SECONDARIES, warned  # the primary is never named
        assert min(warned.values()) - bumped_at >= THRESHOLD
        assert metric_seen, "ccmon_check_findings never showed the SOA03 warning"
        (notice,) = notices  # the slow completion is reported once
        assert notice.severity is Severity.NOTICE and notice.args["serial"] == new
        assert set(notice.args["last"]) <= {f"ns{i}.dns.nl. {a}" for i, a in
                                            ((2, "127.64.2.2"), (3, "127.64.2.3"))}
        assert of(report("nl"), "SOA03") == []  # cleared after the propagation
        propagation = service.state.snapshot.history["nl"].propagation
        assert propagation == notice.args["seconds"]
        # Both ends are sampled once per interval: first sight within an interval after the
        # primary has it, completion within an interval after the secondaries have it.
        assert DELAY - INTERVAL <= propagation <= DELAY + 2 * INTERVAL, propagation
        print(f"lab {world.mode}: SOA03 warnings {sorted(warned)} from "
              f"{min(warned.values()) - bumped_at:.1f} s after the bump; propagation "
              f"{propagation:.2f} s (D = {DELAY:g} s, interval {INTERVAL:g} s)")
        # what a restart shows: the stored report of that sweep held the findings
        assert service.store is not None
        assert any(r.findings for r in [service.store.latest_reports()["is"]])
    finally:
        service.stop()
        assert await asyncio.wait_for(task, 10) == 0


def _findings_metric(text: str, zone: str, check: str, severity: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if not line.startswith("ccmon_check_findings{"):
            continue
        labels, _, value = line.rpartition(" ")
        if (f'dns_zone="{zone}"' in labels and f'check="{check}"' in labels
                and f'severity="{severity.lower()}"' in labels):
            total += float(value)
    return total
