"""The per-zone probe caps (issue 17) against real name servers: a delegation with more NS
names and addresses than probe.max_nameservers / probe.max_addresses is probed only up to
them and DELEG07 names the counts; at the caps exactly, everything is probed, no finding."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator

import pytest

from lab import Lab
from lab.scenario import parse_scenario
from probes.model import ZoneReport
from probes.settings import ProbeSettings
from probes.sweep import Prober

pytestmark = pytest.mark.integration

PORT = int(os.environ.get("CCMON_LAB_PORT", "15486"))
WORLD = {
    "name": "caps",
    "description": "One ccTLD with 4 NS names and 5 addresses.",
    "serial": 2026113001,
    "root": {"ns": "a.root-servers.net.", "address": "127.86.0.1", "software": "nsd"},
    "resolver": {"address": "127.86.0.2"},
    "relay": "127.86.0.4",
    "zones": [{"zone": "ws", "servers": [
        {"ns": "ns1.nic.ws.", "addresses": ["127.86.1.1", "127.86.1.11"], "software": "nsd",
         "role": "primary"},
        {"ns": "ns2.nic.ws.", "address": "127.86.1.2", "software": "nsd"},
        {"ns": "ns3.nic.ws.", "address": "127.86.1.3", "software": "nsd"},
        {"ns": "ns4.nic.ws.", "address": "127.86.1.4", "software": "nsd"},
    ]}],
}


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    with Lab(parse_scenario(WORLD, "caps"), port=PORT) as world:
        yield world


def sweep(lab: Lab, max_nameservers: int, max_addresses: int) -> ZoneReport:
    settings = ProbeSettings(
        parent_addresses=(lab.root_address,), resolver=(lab.resolver_address,),
        resolver_port=lab.port, port=lab.port, udp_timeout=1.0, tcp_timeout=2.0,
        max_nameservers=max_nameservers, max_addresses=max_addresses)

    async def run() -> ZoneReport:
        async with Prober(settings) as prober:
            return await prober.sweep("ws")

    return asyncio.run(run())


def probed(report: ZoneReport) -> set[tuple[str, str]]:
    return {(s.nameserver, s.address) for s in report.servers}


def test_at_the_caps_everything_is_probed(lab: Lab) -> None:
    report = sweep(lab, max_nameservers=4, max_addresses=5)
    assert probed(report) == {("ns1.nic.ws.", "127.86.1.1"), ("ns1.nic.ws.", "127.86.1.11"),
                              ("ns2.nic.ws.", "127.86.1.2"), ("ns3.nic.ws.", "127.86.1.3"),
                              ("ns4.nic.ws.", "127.86.1.4")}  # fmt: skip
    assert [f for f in report.findings if f.check == "DELEG07"] == []


def test_one_over_the_caps_the_excess_is_not_probed_and_named(lab: Lab) -> None:
    report = sweep(lab, max_nameservers=3, max_addresses=3)
    # the first 3 names (sorted), and round-robin their first addresses before ns1's second
    assert probed(report) == {("ns1.nic.ws.", "127.86.1.1"), ("ns2.nic.ws.", "127.86.1.2"),
                              ("ns3.nic.ws.", "127.86.1.3")}  # fmt: skip
    found = {f.reason: f for f in report.findings if f.check == "DELEG07"}
    assert set(found) == {"too-many-nameservers", "too-many-addresses"}
    assert found["too-many-nameservers"].args == {"found": 4, "probed": 3, "limit": 3}
    assert found["too-many-addresses"].args == {"found": 4, "probed": 3, "limit": 3}
    assert "the parent lists 4 name servers; 3 probed" in found["too-many-nameservers"].message
    # the parent still lists all four: the delegation checks see the real NS set
    assert len(report.parent_ns) == 4
    # a warning, not an outage: the probed servers answer, the zone is available
    assert found["too-many-nameservers"].severity.name == "WARNING"
    assert not [f for f in report.findings if f.severity.name in ("ERROR", "CRITICAL")]
