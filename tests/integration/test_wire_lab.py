"""probes.wire against dnspython on every reply of the lab's demo and hostile worlds (real
NSD, Knot and the fault servers, all checks with their further queries): each reply this
reader reads gives the same message, and the same verdicts, as dnspython's."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterator

import dns.message
import pytest

from lab import Lab, load_scenario
from probes import transport
from probes.model import ZoneReport
from probes.settings import ProbeSettings
from probes.sweep import Prober
from probes.wire import read_reply
from tests.support.lab import lab_started, require_real
from tests.unit.test_wire import assert_same

pytestmark = pytest.mark.integration

PORT = int(os.environ.get("CCMON_LAB_PORT", "15488"))
Parser = Callable[[bytes], dns.message.Message]


def dnspython(wire: bytes) -> dns.message.Message:
    return dns.message.from_wire(wire, ignore_trailing=True)


@pytest.fixture
def parsers(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[list[bytes], list[Parser]]]:
    """Every reply's bytes that reach the parser (parsed anew each time: no cache), and the
    parser they go to (the product's unless the test puts another first)."""
    seen: list[bytes] = []
    chosen: list[Parser] = [transport.parse_reply]

    def recording(wire: bytes) -> dns.message.Message:
        seen.append(wire)
        return chosen[0](wire)

    monkeypatch.setattr(transport, "parse_reply", recording)
    monkeypatch.setattr(transport, "PARSE_CACHE", transport.ParseCache(0))
    yield seen, chosen


# Faults that act by chance (the drop fault loses half the queries): their servers' findings
# differ from run to run whatever parses the replies, so the comparison leaves them out.
BY_CHANCE = {"drop"}


def sweep_world(name: str) -> tuple[list[ZoneReport], set[str]]:
    require_real()
    lab = lab_started(Lab(load_scenario(name), port=PORT), f"the {name} world")
    try:
        settings = ProbeSettings(parent_addresses=(lab.root_address,),
                                 resolver=(lab.resolver_address,), resolver_port=lab.port,
                                 port=lab.port, udp_timeout=0.5, tcp_timeout=1.5)
        zones = [z.name for z in lab.scenario.zones if not z.infra]
        chance = {s.address for z in lab.scenario.zones for s in z.servers
                  if s.fault in BY_CHANCE}

        async def run() -> list[ZoneReport]:
            async with Prober(settings) as prober:
                return list(await asyncio.gather(*(prober.sweep(z) for z in zones)))

        return asyncio.run(run()), chance
    finally:
        lab.stop()


def verdicts(swept: tuple[list[ZoneReport], set[str]]) -> list[tuple[str, ...]]:
    reports, by_chance = swept
    chance_zones = {r.zone for r in reports for s in r.servers if s.address in by_chance}
    return sorted((r.zone, f.check, f.severity.name, f.tag, f.address, f.reason)
                  for r in reports for f in r.findings
                  if f.address not in by_chance
                  and not (r.zone in chance_zones and not f.address))


@pytest.mark.parametrize("world", ["demo", "hostile"])
def test_every_lab_reply_reads_the_same_and_judges_the_same(
        world: str, parsers: tuple[list[bytes], list[Parser]]) -> None:
    seen, chosen = parsers
    ours = sweep_world(world)
    replies = list(seen)
    read_here = 0
    for wire in replies:
        mine = read_reply(wire)
        try:
            theirs = dns.message.from_wire(wire, ignore_trailing=True)
        except Exception:
            assert mine is None, "read bytes dnspython refuses"
            continue
        if mine is not None:
            read_here += 1
            assert_same(mine, theirs)
    assert len(replies) > 50 and read_here > len(replies) // 3, (len(replies), read_here)
    # The same world swept with dnspython alone: the same findings.
    chosen[0] = dnspython
    reference = verdicts(sweep_world(world))
    assert reference == verdicts(ours), (set(reference) ^ set(verdicts(ours)))
