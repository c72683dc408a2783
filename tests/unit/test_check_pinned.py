"""DELEG06 and `expect:`: the parent's NS, glue and DS against what the registry pinned."""

from __future__ import annotations

import pytest

from monitor.config import ConfigError, parse_config
from probes.checks import Evidence, judge
from probes.expectations import ZoneExpectation
from probes.settings import ProbeSettings
from tests.unit.builders import ZONE, delegation, healthy
from tests.unit.builders_extra import ds_for, ds_reply, parent

NS = ("ns1.nic.fr.", "ns2.nic.fr.")


def deleg06(*, parent_ns=NS, glue=None, ds_at_parent=None, pinned: ZoneExpectation):
    observations = healthy("ns1.nic.fr.", "192.0.2.1") + healthy("ns2.nic.fr.", "192.0.2.2")
    if ds_at_parent is not None:
        observations.append(parent(ds_reply(*ds_at_parent)))
    servers = {"ns1.nic.fr.": ["192.0.2.1"], "ns2.nic.fr.": ["192.0.2.2"]}
    evidence = Evidence(ZONE, delegation(servers, glue=glue or {}, parent_ns=list(parent_ns)),
                        tuple(observations), ProbeSettings(expectations=(pinned,)))
    return [(f.severity.name, f.reason, f.address) for f in judge(evidence)
            if f.check == "DELEG06"]


def test_a_zone_without_expectation_is_not_compared():
    other = ZoneExpectation("nl.", ns=("ns9.nic.nl.",))
    assert deleg06(pinned=other) == []


def test_ns_set_equal_or_not():
    assert deleg06(pinned=ZoneExpectation(ZONE, ns=NS)) == []
    assert deleg06(parent_ns=(*NS, "ns.evil.example."),
                   pinned=ZoneExpectation(ZONE, ns=NS)) == [("ERROR", "ns-differs", "")]


def test_pinned_glue():
    pinned = ZoneExpectation(ZONE, ns=NS, glue=(("ns1.nic.fr.", ("192.0.2.1",)),))
    assert deleg06(glue={"ns1.nic.fr.": ["192.0.2.1"]}, pinned=pinned) == []
    assert deleg06(glue={"ns1.nic.fr.": ["203.0.113.66"]}, pinned=pinned) == [
        ("ERROR", "glue-differs", "192.0.2.1"), ("ERROR", "glue-differs", "203.0.113.66")]


def test_a_ds_nobody_pinned_is_an_error_at_once():
    pinned = ZoneExpectation(ZONE, ds=(ds_for("ksk").to_text(),))
    assert deleg06(ds_at_parent=[ds_for("ksk")], pinned=pinned) == []
    assert deleg06(ds_at_parent=[ds_for("ksk"), ds_for("intruder")], pinned=pinned) == [
        ("ERROR", "unexpected-ds", "")]
    assert deleg06(ds_at_parent=[ds_for("intruder")], pinned=pinned) == [
        ("ERROR", "unexpected-ds", ""), ("WARNING", "missing-ds", "")]
    assert deleg06(ds_at_parent=[], pinned=pinned) == [("ERROR", "no-ds", "")]
    assert deleg06(pinned=pinned) == []  # the parent did not answer: nothing measured


CONFIG = """
zones: [fr, nl]
expect:
  fr:
    ns: [ns1.nic.fr=192.0.2.1, {{ns2.nic.fr: ['2001:db8::2']}}, ns3.example.net]
    ds: ['{ds}']
"""


def test_expect_in_the_config():
    ds = ds_for("ksk").to_text()
    (pinned,) = parse_config(CONFIG.format(ds=ds)).probe.expectations
    assert pinned == ZoneExpectation(
        "fr.", ns=("ns1.nic.fr.", "ns2.nic.fr.", "ns3.example.net."),
        glue=(("ns1.nic.fr.", ("192.0.2.1",)), ("ns2.nic.fr.", ("2001:db8::2",))), ds=(ds,))


@pytest.mark.parametrize(("text", "message"), [
    (CONFIG.format(ds="1 13 2 abcd"), "config.yaml:5: expect.fr: ds: '1 13 2 abcd': a SHA-256"),
    (CONFIG.replace("fr:", "de:").format(ds=f"1 13 2 {'ab' * 32}"),
     "config.yaml:4: expect.de: de is not in `zones:`"),
    ("zones: [fr]\nexpect:\n  fr:\n    nameservers: [a.b]\n", "expect.fr.nameservers: unknown"),
    ("zones: [fr]\nexpect:\n  fr: {}\n", "expect.fr: give `ns:` and/or `ds:`"),
])
def test_bad_expectations_name_key_and_line(text, message):
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    assert message in str(caught.value)
