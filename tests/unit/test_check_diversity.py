"""DIV01: NS count, address families and prefixes."""

import pytest

from probes.checks import judge
from probes.settings import ProbeSettings
from tests.unit.builders import evidence


def div01(servers, ipv6=True):
    found = judge(evidence([], servers, settings=ProbeSettings(ipv6=ipv6)))
    return sorted(f.reason for f in found if f.check == "DIV01")


DIVERSE = {
    "ns1.nic.fr.": ["192.0.2.1", "2001:db8:1::1"],
    "ns2.nic.fr.": ["198.51.100.1", "2001:db8:2::1"],
}


def test_diverse_delegation_is_clean():
    assert div01(DIVERSE) == []


def test_one_name_server():
    assert div01({"ns1.nic.fr.": ["192.0.2.1", "2001:db8::1"]}) == [
        "too-few-ipv4", "too-few-ipv6", "too-few-nameservers"]


def test_two_addresses_of_one_name_count_once():
    assert div01({"ns1.nic.fr.": ["192.0.2.1", "198.51.100.1"]}, ipv6=False) == [
        "too-few-ipv4", "too-few-nameservers"]


def test_ipv6_is_only_judged_when_probed():
    v4_only = {"ns1.nic.fr.": ["192.0.2.1"], "ns2.nic.fr.": ["198.51.100.1"]}
    assert div01(v4_only, ipv6=False) == []
    assert div01(v4_only, ipv6=True) == ["too-few-ipv6"]


def test_one_ipv6_server_is_too_few():
    servers = {"ns1.nic.fr.": ["192.0.2.1", "2001:db8:1::1"], "ns2.nic.fr.": ["198.51.100.1"]}
    assert div01(servers) == ["too-few-ipv6"]


@pytest.mark.parametrize(("second", "expected"), [
    ("192.0.2.254", ["one-ipv4-prefix"]),  # same /24
    ("192.0.3.1", []),  # the next /24
])
def test_ipv4_prefix_boundary(second, expected):
    servers = {"ns1.nic.fr.": ["192.0.2.1"], "ns2.nic.fr.": [second]}
    assert div01(servers, ipv6=False) == expected


@pytest.mark.parametrize(("second", "expected"), [
    ("2001:db8:1:ffff::1", ["one-ipv6-prefix"]),  # same /48
    ("2001:db8:2::1", []),  # the next /48
])
def test_ipv6_prefix_boundary(second, expected):
    servers = {"ns1.nic.fr.": ["192.0.2.1", "2001:db8:1::1"],
               "ns2.nic.fr.": ["198.51.100.1", second]}
    assert div01(servers) == expected


def test_nothing_to_judge_without_addresses():
    assert div01({"ns1.nic.fr.": []}) == []


def test_findings_are_zone_level_warnings():
    found = [f for f in judge(evidence([], {"ns1.nic.fr.": ["192.0.2.1"]},
                                       settings=ProbeSettings(ipv6=False)))
             if f.check == "DIV01"]
    assert {(f.severity.name, f.nameserver, f.address) for f in found} == {("WARNING", "", "")}
