"""The scale worlds the lab generates from the shared root-zone data (no process started)."""

from __future__ import annotations

import pytest

from lab.scale import root_delegations, root_zone_path, world_scenario
from lab.scenario import enclosing_zone

ROOT_SNIPPET = """\
.\t86400 IN SOA a.root-servers.net. nstld.verisign-grs.com. 1 1800 900 604800 86400
.\t518400 IN NS a.root-servers.net.
aaa.\t172800 IN NS a.nic.aaa.
aaa.\t172800 IN NS ns1.shared.net.
aaa.\t86400 IN DS 31852 8 2 89F7
net.\t172800 IN NS ns1.shared.net.
a.nic.aaa.\t172800 IN A 192.0.2.1
a.nic.aaa.\t172800 IN AAAA 2001:db8::1
ns1.shared.net.\t172800 IN A 192.0.2.9
a.root-servers.net.\t518400 IN A 198.41.0.4
"""


def test_root_delegations_read_ns_and_glue_and_skip_the_apex():
    got = {d["tld"]: d["ns"] for d in root_delegations(ROOT_SNIPPET)}
    assert set(got) == {"aaa", "net"}  # the root's own NS set is no delegation
    assert got["aaa"] == [
        {"name": "a.nic.aaa.", "ipv4": ["192.0.2.1"], "ipv6": ["2001:db8::1"]},
        {"name": "ns1.shared.net.", "ipv4": ["192.0.2.9"], "ipv6": []},
    ]


def test_root_world_has_every_tld_with_real_ns_counts_and_shared_servers():
    delegations = root_delegations(root_zone_path().read_text(encoding="utf-8"))
    sc = world_scenario("root")
    assert len(sc.zones) == len(delegations) == 1438
    assert not [z for z in sc.zones if z.infra]  # every NS name lives in a TLD of the world
    com = next(d for d in delegations if d["tld"] == "com")
    assert sc.zone("com").ns_names == [ns["name"] for ns in com["ns"]]
    assert len(sc.zone("com").servers) == sum(len(n["ipv4"]) + len(n["ipv6"])
                                              for n in com["ns"])
    pairs = sum(len(z.servers) for z in sc.zones)
    assert pairs == sum(len(n["ipv4"]) + len(n["ipv6"]) for d in delegations for n in d["ns"])
    # a name that serves 76 TLDs is one server: the same addresses in every zone
    shared = [z for z in sc.zones if "ns01.trs-dns.com." in z.ns_names]
    assert len(shared) == 76
    assert len({s.address for z in shared for s in z.servers if s.ns == "ns01.trs-dns.com."}) \
        == sum(len(n["ipv4"]) + len(n["ipv6"]) for n in next(
            d for d in delegations if d["tld"] == shared[0].name)["ns"]
            if n["name"] == "ns01.trs-dns.com.")
    assert all(s.address.startswith(("127.100.", "127.101.")) for z in sc.zones
               for s in z.servers)


def test_cctld_world_is_unchanged_by_the_root_world():
    sc = world_scenario("cctld")
    assert len([z for z in sc.zones if not z.infra]) == 309
    assert "net" in {z.name for z in sc.zones if z.infra}


@pytest.mark.parametrize(("name", "zones", "expected"), [
    ("ns1.nic.fr.", {"fr"}, "fr"),
    ("ns1.nic.fr.", {"fr", "nic.fr"}, "nic.fr"),  # the deepest wins
    ("nic.fr.", {"nic.fr"}, "nic.fr"),  # a name at a zone's apex is in it
    ("ns1.notfr.", {"fr"}, None),  # a suffix of a label is not a parent
    ("ns1.nic.fr.", [".", "de"], None),  # the root never counts
])
def test_enclosing_zone(name, zones, expected):
    assert enclosing_zone(name, zones) == expected
