"""`ccmon check` against real NSD/Knot for the further checks (issue 7).

Two worlds: the lab's `extras` scenario, signed here at run time (DS matching, DS not
matching, one name server, an EDNS-breaking server), and the `demo` world, whose healthy
real servers must stay clean of every further check and whose resolver (Unbound) is the
open resolver SEC02 must name.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import subprocess
import sys
import time
from collections.abc import Iterator

import dns.dnssec
import dns.name
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import dns.zone
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from lab import Lab, load_scenario
from lab.scenario import Scenario
from lab.zonefile import zone_text

pytestmark = pytest.mark.integration

PORT_EXTRAS = 15365
UDP_TIMEOUT, TCP_TIMEOUT = 1.0, 2.0
FURTHER = {"DNSSEC01", "DNSSEC02", "DNSSEC03", "DNSSEC04", "EDNS01", "NSID01", "SEC01",
           "SEC02"}


def run_check(root: str, resolver: str, port: int, *zones: str) -> dict:
    argv = [sys.executable, "-m", "monitor", "check", *zones, "--root", root,
            "--resolver", resolver, "--port", str(port), "--udp-timeout", str(UDP_TIMEOUT),
            "--tcp-timeout", str(TCP_TIMEOUT), "--json"]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode in (0, 1, 2), result.stderr
    return {z["zone"]: z for z in json.loads(result.stdout)["zones"]}


# --- signing the extras world ------------------------------------------------------------

def _sign(zone: dns.zone.Zone, rdtype: int, key, dnskey, now: float) -> dns.rrset.RRset:
    rdataset = zone.find_rdataset(zone.origin, rdtype)
    rrset = dns.rrset.RRset(zone.origin, dns.rdataclass.IN, rdtype)
    rrset.update(rdataset)
    sig = dns.dnssec.sign(rrset, key, zone.origin, dnskey, inception=int(now - 3600),
                          expiration=int(now + 20 * 86400))
    sigs = dns.rrset.RRset(zone.origin, dns.rdataclass.IN, dns.rdatatype.RRSIG, rdtype)
    sigs.ttl = rrset.ttl
    sigs.add(sig)
    return sigs


def signed(sc: Scenario, name: str, *, ds_matches: bool, now: float) -> Scenario:
    """The scenario with zone `name` signed (KSK + ZSK, Ed25519) and its DS in the root."""
    ksk, zsk = ed25519.Ed25519PrivateKey.generate(), ed25519.Ed25519PrivateKey.generate()
    ksk_key = dns.dnssec.make_dnskey(ksk.public_key(), "ED25519", flags=257)
    zsk_key = dns.dnssec.make_dnskey(zsk.public_key(), "ED25519", flags=256)
    keys = [f"@ 3600 IN DNSKEY {k.to_text()}" for k in (ksk_key, zsk_key)]
    spec = sc.zone(name)
    with_keys = dataclasses.replace(spec, records=(*spec.records, *keys))
    zone = dns.zone.from_text(zone_text(sc, with_keys, sc.serial), origin=f"{name}.",
                              relativize=False)
    sigs = [_sign(zone, dns.rdatatype.DNSKEY, ksk, ksk_key, now),
            _sign(zone, dns.rdatatype.SOA, zsk, zsk_key, now),
            _sign(zone, dns.rdatatype.NS, zsk, zsk_key, now)]
    lines = [line for rrset in sigs for line in rrset.to_text().splitlines()]
    if ds_matches:
        ds = dns.dnssec.make_ds(f"{name}.", ksk_key, "SHA256")
    else:
        other = ed25519.Ed25519PrivateKey.generate()
        ds = dns.dnssec.make_ds(f"{name}.", dns.dnssec.make_dnskey(
            other.public_key(), "ED25519", flags=257), "SHA256")
    records = (*with_keys.records, *lines, f"@ 86400 IN DS {ds.to_text()}")
    zones = tuple(dataclasses.replace(z, records=records) if z.name == name else z
                  for z in sc.zones)
    return dataclasses.replace(sc, zones=zones)


@pytest.fixture(scope="module")
def extras() -> Iterator[tuple[Lab, dict]]:
    now = time.time()
    scenario = load_scenario("extras")
    scenario = signed(scenario, "se", ds_matches=True, now=now)
    scenario = signed(scenario, "no", ds_matches=False, now=now)
    with Lab(scenario, port=PORT_EXTRAS) as lab:
        if lab.mode != "real":
            pytest.skip(f"the lab runs without real NSD/Knot: {lab.mode}")
        zones = run_check(lab.root_address, lab.resolver_address, lab.port,
                          "se", "no", "is", "fi")
        yield lab, zones


def further(zone_doc: dict, address: str | None = None) -> list[tuple[str, str, str]]:
    return [(f["check"], f["reason"], f["address"]) for f in zone_doc["findings"]
            if f["check"] in FURTHER and (address is None or f["address"] == address)]


def test_signed_zone_with_matching_ds_is_secure_and_clean(extras):
    _lab, zones = extras
    se = zones["se"]
    assert se["dnssec"] == "secure"
    assert further(se) == []
    for row in se["servers"]:
        if row["transport"] == "udp":
            assert row["dnssec_valid"] is True, row
            assert row["rrsig_expires_at"] > time.time() + 19 * 86400, row


def test_ds_not_matching_is_named(extras):
    _lab, zones = extras
    no = zones["no"]
    assert no["dnssec"] == "bogus"
    assert [(f["check"], f["severity"], f["reason"]) for f in no["findings"]
            if f["check"] == "DNSSEC01"] == [("DNSSEC01", "CRITICAL", "ds-mismatch")]
    assert [f for f in no["findings"] if f["check"] == "DNSSEC02"] == []  # signatures fine


def test_one_name_server(extras):
    _lab, zones = extras
    reasons = {f["reason"] for f in zones["is"]["findings"] if f["check"] == "DIV01"}
    assert "too-few-nameservers" in reasons
    assert zones["is"]["dnssec"] == "unsigned"


def test_edns_breaking_server_is_named_with_server_and_address(extras):
    lab, zones = extras
    fi = zones["fi"]
    broken = next(s for s in lab.zones["fi"] if s.fault == "oversized")
    found = [f for f in fi["findings"] if f["check"] == "EDNS01"]
    assert [(f["nameserver"], f["address"], f["reason"], f["severity"]) for f in found] == [
        (broken.ns, broken.address, "oversized", "ERROR")]
    for server in lab.zones["fi"]:
        if server.fault == "none":
            assert further(fi, server.address) == [], server


def test_real_servers_give_their_nsid_and_refuse_axfr_and_recursion(extras):
    _lab, zones = extras
    for zone in ("se", "no", "is"):
        for row in zones[zone]["servers"]:
            if row["transport"] != "udp":
                continue
            assert row["nsid"], row
            assert row["edns"] == dict.fromkeys(("plain", "edns0", "edns1", "option", "do"),
                                                "ok"), row
            assert row["axfr_open"] is False and row["recursion_open"] is False, row


# --- the lab's resolver is an open resolver ---------------------------------------------------

def test_open_resolver_is_named_by_address(extras):
    """The lab's Unbound answers anyone recursively: probed as if it were a zone's server."""
    from probes.checks import Evidence, judge
    from probes.engine import QueryEngine
    from probes.model import Delegation, NameServer, Source
    from probes.observe import observe
    from probes.observe_extra import queries  # registers the further queries
    from probes.settings import ProbeSettings

    lab, _zones = extras
    settings = ProbeSettings(port=lab.port, udp_timeout=UDP_TIMEOUT, tcp_timeout=TCP_TIMEOUT)
    resolver = lab.resolver_address
    delegation = Delegation(
        zone="se.", parent_ns=("ns9.nic.se.",), glue={},
        nameservers=(NameServer("ns9.nic.se.", (resolver,), frozenset({Source.PARENT})),),
        parent_addresses=(lab.root_address,))

    async def sweep():
        engine = QueryEngine(settings)
        return await observe(delegation, engine)

    assert queries.further_queries
    observations = asyncio.run(asyncio.wait_for(sweep(), 30))
    evidence = Evidence("se.", delegation, tuple(observations), settings)
    found = [f for f in judge(evidence) if f.check == "SEC02"]
    assert [(f.severity.name, f.reason, f.nameserver, f.address) for f in found] == [
        ("ERROR", "open-resolver", "ns9.nic.se.", resolver)]
