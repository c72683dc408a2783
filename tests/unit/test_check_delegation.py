"""DELEG01-04 on hand-made delegations and replies."""

from probes.checks import judge
from probes.model import Severity
from tests.unit.builders import evidence, healthy, obs, reply


def deleg(observations, check, servers=None, **kw):
    return [f for f in judge(evidence(observations, servers, **kw)) if f.check == check]


def two_healthy():
    return healthy("ns1.nic.fr.", "192.0.2.1") + healthy("ns2.nic.fr.", "192.0.2.2")


def test_two_ns_at_parent_is_enough():
    assert deleg(two_healthy(), "DELEG01") == []


def test_one_ns_at_parent_is_a_warning():
    found = deleg(healthy("ns1.nic.fr.", "192.0.2.1"), "DELEG01")
    assert [(f.tag, f.severity) for f in found] == [("TOO_FEW_NS", Severity.WARNING)]


def test_no_ns_at_parent_is_an_error():
    found = deleg([], "DELEG01", servers={}, parent_ns=[])
    assert [(f.tag, f.severity) for f in found] == [("NOT_DELEGATED", Severity.ERROR)]


def test_ns_name_without_address_is_named():
    found = deleg(healthy("ns1.nic.fr.", "192.0.2.1"), "DELEG02",
                  servers={"ns1.nic.fr.": ["192.0.2.1"], "ns.example.net.": []})
    assert [(f.nameserver, f.severity) for f in found] == [("ns.example.net.", Severity.ERROR)]


def ns_reply(*names):
    return reply(rdtype="NS", answer=[f"fr. 3600 IN NS {n}" for n in names])


def test_child_ns_set_equal_modulo_case_and_dot():
    observations = two_healthy() + [
        obs("ns1.nic.fr.", "192.0.2.1", rdtype="NS", msg=ns_reply("NS1.nic.FR.", "ns2.nic.fr.")),
    ]
    assert deleg(observations, "DELEG03") == []


def test_child_ns_set_differs():
    observations = two_healthy() + [
        obs("ns1.nic.fr.", "192.0.2.1", rdtype="NS",
            msg=ns_reply("ns1.nic.fr.", "ns2.nic.fr.", "ns3.nic.fr.")),
    ]
    found = deleg(observations, "DELEG03")
    assert len(found) == 1
    assert found[0].args["only_child"] == ["ns3.nic.fr."]
    assert found[0].args["only_parent"] == []
    assert "192.0.2.1" in found[0].message


def a_reply(name, *addresses):
    return reply(name, "A", answer=[f"{name} 3600 IN A {a}" for a in addresses])


def test_glue_equal_to_child():
    observations = two_healthy() + [
        obs(qname="ns1.nic.fr.", rdtype="A", msg=a_reply("ns1.nic.fr.", "192.0.2.1")),
    ]
    assert deleg(observations, "DELEG04", glue={"ns1.nic.fr.": ["192.0.2.1"]}) == []


def test_glue_pointing_elsewhere_is_an_error():
    observations = two_healthy() + [
        obs(qname="ns1.nic.fr.", rdtype="A", msg=a_reply("ns1.nic.fr.", "192.0.2.9")),
    ]
    found = deleg(observations, "DELEG04", glue={"ns1.nic.fr.": ["192.0.2.1"]})
    assert [(f.tag, f.severity) for f in found] == [
        ("GLUE_NOT_IN_CHILD", Severity.ERROR), ("GLUE_MISSING_ADDRESS", Severity.WARNING)]
