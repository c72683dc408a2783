"""LAME01 and REACH01: every reason on its own, and what is NOT lame."""

import dns.rcode
import pytest

from probes.checks import judge
from probes.evidence import lame_reason
from probes.model import FailureKind, Transport
from tests.unit.builders import ZONE, evidence, healthy, obs, reply, soa_reply


def findings(observations, check):
    return [f for f in judge(evidence(observations)) if f.check == check]


@pytest.mark.parametrize(
    ("msg", "reason"),
    [
        (reply(rcode=dns.rcode.REFUSED, aa=False), "refused"),
        (reply(rcode=dns.rcode.SERVFAIL, aa=False), "servfail"),
        (reply(rcode=dns.rcode.NXDOMAIN), "nxdomain"),
        (soa_reply(aa=False), "not-authoritative"),
        (reply(aa=False, authority=["fr. 3600 IN NS ns1.nic.fr."]), "referral"),
        (soa_reply(owner="nic.fr."), "wrong-owner"),
        (reply(rcode=dns.rcode.NOTIMP), "other-rcode"),
        (reply(aa=True), "malformed"),  # AA=1, NOERROR, yet no apex SOA
        (reply(aa=True, authority=["example. 3600 IN SOA a. b. 1 2 3 4 5"]), "wrong-owner"),
    ],
)
def test_each_lame_reason_is_named(msg, reason):
    assert lame_reason(obs(msg=msg), ZONE) == reason
    found = findings([obs(msg=msg), obs(msg=msg, transport=Transport.TCP)], "LAME01")
    assert [(f.reason, f.address, f.nameserver) for f in found] == [
        (reason, "192.0.2.1", "ns1.nic.fr.")
    ]


def test_authoritative_answer_is_not_lame():
    assert lame_reason(obs(msg=soa_reply()), ZONE) is None
    assert findings(healthy("ns1.nic.fr.", "192.0.2.1"), "LAME01") == []


def test_owner_is_compared_case_insensitively():
    assert lame_reason(obs(msg=soa_reply(owner="FR.")), ZONE) is None


@pytest.mark.parametrize(("owner", "lame"), [
    ("fr.", False), ("FR.", False), ("Fr.", False),  # the same name, whatever its case
    ("fr.fr.", True), ("r.", True), ("f.", True), ("fr\\.", True),  # other names
])
def test_the_apex_owner_on_both_sides(owner, lame):
    """Equal labels, equal names of another case, and names of other labels that differ
    from the apex in one way each (a label more, a letter less, an escaped dot)."""
    for section in ("answer", "authority"):
        records = [f"{owner} 3600 IN SOA a. b. 1 2 3 4 5"]
        msg = reply(**{section: records})
        expected = "wrong-owner" if lame else (None if section == "answer" else "malformed")
        assert lame_reason(obs(msg=msg), ZONE) == expected, (owner, section)


def test_timeout_is_unreachable_never_lame():
    silent = [
        obs("ns2.nic.fr.", "192.0.2.2", failure=FailureKind.TIMEOUT),
        obs("ns2.nic.fr.", "192.0.2.2", failure=FailureKind.TIMEOUT, transport=Transport.TCP),
    ]
    observations = healthy("ns1.nic.fr.", "192.0.2.1") + silent
    assert findings(observations, "LAME01") == []
    reach = findings(observations, "REACH01")
    assert [(f.address, f.reason) for f in reach] == [("192.0.2.2", "timeout")]


def test_port_unreachable_is_reported_as_unreachable():
    observations = healthy("ns1.nic.fr.", "192.0.2.1") + [
        obs("ns2.nic.fr.", "192.0.2.2", failure=FailureKind.UNREACHABLE),
        obs("ns2.nic.fr.", "192.0.2.2", failure=FailureKind.UNREACHABLE, transport=Transport.TCP),
    ]
    assert [f.reason for f in findings(observations, "REACH01")] == ["unreachable"]
    assert findings(observations, "LAME01") == []


def test_garbage_is_lame_malformed_but_wrong_id_is_unreachable():
    garbage = [obs("ns2.nic.fr.", "192.0.2.2", failure=FailureKind.MALFORMED)]
    wrong_id = [obs("ns3.nic.fr.", "192.0.2.3", failure=FailureKind.MISMATCH)]
    observations = healthy("ns1.nic.fr.", "192.0.2.1") + garbage + wrong_id
    assert [(f.address, f.reason) for f in findings(observations, "LAME01")] == [
        ("192.0.2.2", "malformed")
    ]
    assert [(f.address, f.reason) for f in findings(observations, "REACH01")] == [
        ("192.0.2.3", "mismatch")
    ]


def test_udp_silent_but_tcp_authoritative_is_not_lame():
    observations = [
        obs(failure=FailureKind.TIMEOUT),
        obs(msg=soa_reply(), transport=Transport.TCP),
    ] + healthy("ns2.nic.fr.", "192.0.2.2")
    assert findings(observations, "LAME01") == []
    assert findings(observations, "REACH01") == []


def test_zone_fully_silent_is_one_finding_listing_every_address():
    observations = [
        obs(f"ns{i}.nic.fr.", f"192.0.2.{i}", failure=FailureKind.TIMEOUT) for i in (1, 2, 3)
    ]
    found = [f for f in judge(evidence(observations)) if f.check in ("AVAIL01", "REACH01",
                                                                      "LAME01", "TCP01")]
    assert [(f.check, f.tag) for f in found] == [("AVAIL01", "ZONE_UNREACHABLE")]
    for i in (1, 2, 3):
        assert f"ns{i}.nic.fr. 192.0.2.{i}" in found[0].message
