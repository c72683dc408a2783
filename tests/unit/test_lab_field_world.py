"""The lab's ::1 support and the field world (issue 10), read without starting anything."""

from __future__ import annotations

import pytest

from lab import ScenarioError, load_scenario, parse_scenario
from lab.zonefile import address_records, root_text


def test_field_world_has_aaaa_glue_on_the_one_ipv6_loopback():
    world = load_scenario("field")
    ns6 = [s for s in world.servers() if s.ns == "ns6.lab-anycast.net."]
    assert {(s.zone, s.address) for s in ns6} == {
        ("se", "127.73.6.1"), ("se", "::1"), ("mx", "127.73.6.1"), ("mx", "::1")}
    root = root_text(world, 1)
    assert "ns6.lab-anycast.net. 172800 IN AAAA ::1" in root
    assert "ns6.lab-anycast.net. 172800 IN A 127.73.6.1" in root
    assert "ns6.lab-anycast.net. 3600 IN AAAA ::1" in address_records(world)["net"]
    lossy = next(s for s in world.servers() if s.address == "127.73.3.3")
    assert (lossy.fault, lossy.params["share"]) == ("drop", 0.3)


def server(**fields):
    return {"name": "v6", "zones": [{"zone": "fr", "servers": [
        {"ns": "ns1.nic.fr.", "address": "127.53.1.1"}, {"ns": "ns2.nic.fr.", **fields}]}]}


def test_nsd_and_knot_may_hold_ipv6_loopback():
    for software in ("nsd", "knot"):
        parsed = parse_scenario(server(addresses=["127.53.1.2", "::1"], software=software))
        assert "::1" in [s.address for s in parsed.servers()]


@pytest.mark.parametrize(("fields", "message"), [
    ({"address": "::1", "software": "fault"}, r"only an NSD or Knot name server may also hold"),
    ({"address": "2001:db8::1", "software": "nsd"}, r"is not a loopback address"),
])
def test_other_ipv6_is_refused(fields, message):
    with pytest.raises(ScenarioError, match=message):
        parse_scenario(server(**fields))
