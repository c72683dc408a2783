"""SOA01 (serials in RFC 1982 arithmetic) and SOA02 (fields)."""

import pytest

from probes.checks import judge
from probes.checks.soa import highest_serial, serial_lag
from probes.settings import ProbeSettings
from tests.unit.builders import evidence, healthy, obs, soa_reply


def soa01(serials, tolerance=0):
    observations = []
    for i, serial in enumerate(serials, 1):
        observations += healthy(f"ns{i}.nic.fr.", f"192.0.2.{i}", serial)
    found = judge(evidence(observations, settings=ProbeSettings(serial_tolerance=tolerance)))
    return [(f.address, f.args["lag"]) for f in found if f.check == "SOA01"]


def test_equal_serials_are_consistent():
    assert soa01([2026112701, 2026112701, 2026112701]) == []


def test_one_server_behind_is_named_with_its_lag():
    assert soa01([2026112701, 2026112701, 2026112696]) == [("192.0.2.3", 5)]


def test_lag_of_one_is_caught():
    assert soa01([100, 101]) == [("192.0.2.1", 1)]


@pytest.mark.parametrize(("tolerance", "expected"), [(4, [("192.0.2.2", 5)]), (5, [])])
def test_tolerance_boundary(tolerance, expected):
    assert soa01([1005, 1000], tolerance) == expected


def test_wraparound_newer_serial_is_one_not_the_max():
    # 4294967295 → 1 is a step forward: the server still on 4294967295 is the stale one.
    assert highest_serial([4294967295, 1]) == 1
    assert soa01([4294967295, 1]) == [("192.0.2.1", 2)]


def test_serial_lag_arithmetic():
    assert serial_lag(4294967290, 3) == 9
    assert serial_lag(7, 7) == 0


def test_undefined_comparison_still_picks_one_highest():
    # Exactly 2**31 apart: RFC 1982 leaves it undefined; we still report a lag, never crash.
    assert highest_serial([0, 2**31]) in (0, 2**31)


def test_non_authoritative_serial_is_not_compared():
    observations = healthy("ns1.nic.fr.", "192.0.2.1", 10) + [
        obs("ns2.nic.fr.", "192.0.2.2", msg=soa_reply(3, aa=False)),
    ]
    assert [f for f in judge(evidence(observations)) if f.check == "SOA01"] == []


def test_soa_fields_differ_names_the_odd_server():
    odd = "ns1.nic.fr. hostmaster.nic.fr. 5 14400 3600 1209600 3600"
    observations = healthy("ns1.nic.fr.", "192.0.2.1", 5) + healthy("ns2.nic.fr.", "192.0.2.2", 5)
    observations.append(obs("ns3.nic.fr.", "192.0.2.3", msg=soa_reply(soa=odd)))
    found = [f for f in judge(evidence(observations)) if f.check == "SOA02"]
    assert [f.address for f in found] == ["192.0.2.3"]
    assert "expire 1209600 (others 604800)" in found[0].message


def test_soa_fields_equal_give_nothing():
    observations = healthy("ns1.nic.fr.", "192.0.2.1", 5) + healthy("ns2.nic.fr.", "192.0.2.2", 6)
    assert [f for f in judge(evidence(observations)) if f.check == "SOA02"] == []
