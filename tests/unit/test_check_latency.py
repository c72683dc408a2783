"""RTT01 / RTT02 at their thresholds, TCP01, and AVAIL01's counting."""

import pytest

from probes.checks import judge
from probes.model import FailureKind, Severity, Transport
from probes.settings import ProbeSettings
from tests.unit.builders import evidence, healthy, obs, soa_reply


def checks(observations, check, **settings):
    found = judge(evidence(observations, settings=ProbeSettings(**settings)))
    return [f for f in found if f.check == check]


@pytest.mark.parametrize(("rtt", "slow"), [(0.5, False), (0.5001, True), (0.1, False)])
def test_udp_threshold_boundary(rtt, slow):
    observations = [obs(msg=soa_reply(), rtt=rtt)] + healthy("ns2.nic.fr.", "192.0.2.2")
    assert bool(checks(observations, "RTT01")) is slow


@pytest.mark.parametrize(("rtt", "slow"), [(1.5, False), (1.5001, True)])
def test_tcp_threshold_boundary(rtt, slow):
    observations = [obs(msg=soa_reply(), rtt=rtt, transport=Transport.TCP),
                    obs(msg=soa_reply())]
    assert bool(checks(observations, "RTT02")) is slow


def test_threshold_is_configurable():
    observations = [obs(msg=soa_reply(), rtt=0.3)]
    assert checks(observations, "RTT01", rtt_udp_threshold=0.25)
    assert not checks(observations, "RTT01", rtt_udp_threshold=0.35)


def test_tcp_silent_while_udp_answers_is_tcp01():
    observations = [obs(msg=soa_reply()),
                    obs(failure=FailureKind.TIMEOUT, transport=Transport.TCP)]
    found = checks(observations, "TCP01")
    assert [(f.address, f.reason, f.severity) for f in found] == [
        ("192.0.2.1", "timeout", Severity.ERROR)
    ]


def test_tcp_answering_is_clean():
    assert checks(healthy("ns1.nic.fr.", "192.0.2.1"), "TCP01") == []


def test_dead_server_is_not_also_blamed_for_tcp():
    observations = healthy("ns1.nic.fr.", "192.0.2.1") + [
        obs("ns2.nic.fr.", "192.0.2.2", failure=FailureKind.TIMEOUT),
        obs("ns2.nic.fr.", "192.0.2.2", failure=FailureKind.TIMEOUT, transport=Transport.TCP),
    ]
    assert checks(observations, "TCP01") == []


def avail(observations, servers=None):
    found = judge(evidence(observations, servers))
    return [(f.tag, f.severity) for f in found if f.check == "AVAIL01"]


def test_two_servers_up_is_available():
    observations = healthy("ns1.nic.fr.", "192.0.2.1") + healthy("ns2.nic.fr.", "192.0.2.2")
    assert avail(observations) == []


def test_one_server_up_is_degraded():
    observations = healthy("ns1.nic.fr.", "192.0.2.1") + [
        obs("ns2.nic.fr.", "192.0.2.2", msg=soa_reply(aa=False))]
    assert avail(observations) == [("ZONE_DEGRADED", Severity.ERROR)]


def test_a_server_counts_only_when_all_its_addresses_answer():
    observations = (healthy("ns1.nic.fr.", "192.0.2.1") + healthy("ns2.nic.fr.", "192.0.2.2")
                    + [obs("ns2.nic.fr.", "2001:db8::2", failure=FailureKind.TIMEOUT)])
    assert avail(observations) == [("ZONE_DEGRADED", Severity.ERROR)]


def test_slow_answers_do_not_count_as_up():
    observations = (healthy("ns1.nic.fr.", "192.0.2.1", rtt=0.6)
                    + healthy("ns2.nic.fr.", "192.0.2.2", rtt=0.6))
    assert avail(observations) == [("ZONE_DOWN", Severity.CRITICAL)]


def test_answers_exactly_at_threshold_count_as_up():
    observations = (healthy("ns1.nic.fr.", "192.0.2.1", rtt=0.5)
                    + healthy("ns2.nic.fr.", "192.0.2.2", rtt=0.5))
    assert avail(observations) == []


def test_lame_over_udp_is_not_also_blamed_for_tcp():
    observations = [obs(msg=soa_reply(aa=False)),
                    obs(failure=FailureKind.TIMEOUT, transport=Transport.TCP)]
    assert checks(observations, "TCP01") == []


def test_tcp_answer_without_authority_is_tcp01():
    observations = [obs(msg=soa_reply()), obs(msg=soa_reply(aa=False), transport=Transport.TCP)]
    assert [f.tag for f in checks(observations, "TCP01")] == ["TCP_NOT_AUTHORITATIVE"]
