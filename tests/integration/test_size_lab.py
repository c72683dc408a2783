"""SIZE01 against the hostile-size world (real NSD and the huge-tcp fault server): the
servers that pad every TCP answer to ~58 KB get the finding, the healthy ones do not."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator

import pytest

from lab import Lab, load_scenario
from probes.model import ZoneReport
from probes.settings import ProbeSettings
from probes.sweep import Prober

pytestmark = pytest.mark.integration

PORT = int(os.environ.get("CCMON_LAB_PORT", "15487"))


@pytest.fixture(scope="module")
def hostile() -> Iterator[Lab]:
    with Lab(load_scenario("hostile"), port=PORT) as lab:
        yield lab


def sweep(lab: Lab, zone: str) -> ZoneReport:
    settings = ProbeSettings(parent_addresses=(lab.root_address,),
                             resolver=(lab.resolver_address,), resolver_port=lab.port,
                             port=lab.port, udp_timeout=1.0, tcp_timeout=3.0)  # fmt: skip

    async def run() -> ZoneReport:
        async with Prober(settings) as prober:
            return await prober.sweep(zone)

    return asyncio.run(run())


def test_padded_tcp_answers_are_a_finding_per_address(hostile: Lab) -> None:
    report = sweep(hostile, "tv")
    found = {f.address: f for f in report.findings if f.check == "SIZE01"}
    assert set(found) == {"127.83.1.2", "127.83.1.3"}  # the huge-tcp servers, not ns1
    for f in found.values():
        assert f.reason == "oversized-reply" and f.severity.name == "WARNING"
        assert 57_000 <= f.args["bytes"] <= 58_000, f.args
        assert "tv. SOA over TCP" in f.message
    assert not [f for f in sweep(hostile, "to").findings if f.check == "SIZE01"]
