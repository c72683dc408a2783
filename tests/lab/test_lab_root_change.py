"""Lab.set_delegation / restore_delegation with a Knot root and in python mode (the NSD
root is exercised by tests/integration/test_pinned_live.py): the root's referral and DS
answer change live at a new root serial, and come back."""

from __future__ import annotations

import dns.message
import dns.query
import dns.rdatatype
import pytest

from lab import Lab, parse_scenario
from tests.support import free_port, lab_started

pytestmark = pytest.mark.integration

DS = "12345 13 2 " + "ab" * 32


def scenario(root_software: str) -> dict:
    return {
        "name": "rootchange",
        "description": "one zone, its delegation changed live",
        "serial": 2026113001,
        "root": {"ns": "a.root-servers.net.", "address": "127.67.20.1",
                 "software": root_software},
        "resolver": {"address": "127.67.20.2"},
        "relay": "127.67.20.4",
        "zones": [{"zone": "lv", "servers": [
            {"ns": "ns1.nic.lv.", "address": "127.67.21.1", "software": "knot",
             "role": "primary"},
            {"ns": "ns2.nic.lv.", "address": "127.67.21.2", "software": "fault",
             "fault": "none"},
        ]}],
    }  # fmt: skip


def ask(lab: Lab, qtype: str) -> dns.message.Message:
    return dns.query.udp(dns.message.make_query("lv.", qtype), lab.root_address,
                         port=lab.port, timeout=2)


def names(reply: dns.message.Message) -> list[str]:
    return sorted(rd.target.to_text() for rrset in reply.authority
                  if rrset.rdtype == dns.rdatatype.NS for rd in rrset)


@pytest.mark.parametrize(("mode", "root"), [("real", "knot"), ("python", "nsd")])
def test_set_and_restore_delegation(mode: str, root: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    lab = Lab(parse_scenario(scenario(root)), port=free_port(), mode=mode, workdir=tmp_path)
    lab_started(lab, f"the {mode} lab")
    try:
        assert names(ask(lab, "NS")) == ["ns1.nic.lv.", "ns2.nic.lv."]
        assert not ask(lab, "DS").answer
        serial = lab.serial(".")
        assert lab.set_delegation("lv", ns=["ns1.nic.lv", "ns.other.example"], ds=[DS],
                                  glue={"ns.other.example": ["127.67.22.1"]}) == serial + 1
        assert names(ask(lab, "NS")) == ["ns.other.example.", "ns1.nic.lv."]
        assert "ns.other.example. 172800 IN A 127.67.22.1" in ask(lab, "NS").to_text()
        assert [rd.to_text() for rrset in ask(lab, "DS").answer for rd in rrset] == [DS]
        with pytest.raises(KeyError):
            lab.set_delegation("nowhere", ds=[])
        assert lab.restore_delegation("lv") == serial + 2
        assert names(ask(lab, "NS")) == ["ns1.nic.lv.", "ns2.nic.lv."]
        assert not ask(lab, "DS").answer
    finally:
        lab.stop()
