"""DELEG07 and the per-zone probe caps (issue 17): probe.max_nameservers / max_addresses.

Pure: the address cap on hand-made name servers, and the finding from a delegation that
discovery capped. tests/integration/test_caps_lab.py runs discovery against real servers.
"""

from __future__ import annotations

import dataclasses

from probes.checks import judge
from probes.discover import cap_addresses
from probes.model import NameServer, Severity, Source
from probes.settings import ProbeSettings
from tests.unit.builders import delegation, evidence, healthy


def ns(name: str, *addresses: str) -> NameServer:
    return NameServer(name, addresses, frozenset({Source.PARENT, Source.GLUE}),
                      {a: Source.GLUE for a in addresses})  # fmt: skip


SERVERS = [ns("a.nic.fr.", "192.0.2.1", "2001:db8::1", "192.0.2.11"),
           ns("b.nic.fr.", "192.0.2.2", "2001:db8::2"),
           ns("c.nic.fr.", "192.0.2.3")]  # fmt: skip


def test_addresses_within_the_cap_are_all_kept() -> None:
    kept, found = cap_addresses(SERVERS, 6)  # exactly at the cap
    assert found == 6 and kept == tuple(SERVERS)


def test_one_address_over_the_cap_drops_the_deepest_one() -> None:
    kept, found = cap_addresses(SERVERS, 5)
    assert found == 6
    assert [k.addresses for k in kept] == [("192.0.2.1", "2001:db8::1"),
                                           ("192.0.2.2", "2001:db8::2"), ("192.0.2.3",)]
    assert set(kept[0].address_sources) == {"192.0.2.1", "2001:db8::1"}


def test_round_robin_gives_every_name_its_first_address_first() -> None:
    kept, _ = cap_addresses(SERVERS, 3)
    assert [k.addresses for k in kept] == [("192.0.2.1",), ("192.0.2.2",), ("192.0.2.3",)]
    kept, _ = cap_addresses(SERVERS, 2)  # fewer than names: the third is not probed at all
    assert [(k.name, k.addresses) for k in kept] == [("a.nic.fr.", ("192.0.2.1",)),
                                                     ("b.nic.fr.", ("192.0.2.2",))]


def test_a_name_without_address_stays_for_deleg02() -> None:
    kept, found = cap_addresses([ns("x.nic.fr."), *SERVERS], 1)
    assert found == 6 and [(k.name, k.addresses) for k in kept] == [
        ("x.nic.fr.", ()), ("a.nic.fr.", ("192.0.2.1",))]


def deleg07(capped: dict[str, tuple[int, int]]) -> list:
    obs = healthy("ns1.nic.fr.", "192.0.2.1") + healthy("ns2.nic.fr.", "192.0.2.2")
    ev = evidence(obs, settings=ProbeSettings(max_nameservers=2, max_addresses=2))
    ev = dataclasses.replace(ev, delegation=dataclasses.replace(ev.delegation, capped=capped))
    return [f for f in judge(ev) if f.check == "DELEG07"]


def test_no_finding_within_the_caps() -> None:
    assert deleg07({}) == []


def test_capped_nameservers_and_addresses_are_named_with_their_counts() -> None:
    found = deleg07({"nameservers": (300, 2), "addresses": (5, 2)})
    assert [(f.severity, f.reason, f.args) for f in found] == [
        (Severity.WARNING, "too-many-nameservers", {"found": 300, "probed": 2, "limit": 2}),
        (Severity.WARNING, "too-many-addresses", {"found": 5, "probed": 2, "limit": 2}),
    ]
    assert "300 name servers; 2 probed" in found[0].message
    assert "298 not probed" in found[0].message
    assert "5 addresses; 2 probed" in found[1].message


def test_builders_delegation_is_uncapped() -> None:
    assert delegation({"ns1.nic.fr.": ["192.0.2.1"]}).capped == {}
