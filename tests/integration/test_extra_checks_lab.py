"""`ccmon check` against real NSD/Knot for the further checks (issue 7).

Two worlds: the lab's `extras` scenario, signed here at run time (DS matching, DS not
matching, one name server, an EDNS-breaking server) and by the lab itself (a stale
secondary serving expired signatures, a zone for propagation with a known delay), with
open AXFR on an NSD secondary and on the fault server; and the `demo` world, whose healthy
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
                          "se", "no", "is", "fi", "dk", "ee", "lt", "lu")
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
    from probes import observe_further as queries  # the further queries
    from probes.checks import Evidence, judge
    from probes.engine import QueryEngine
    from probes.model import Delegation, NameServer, Source
    from probes.observe import observe
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


# --- a stale secondary with expired signatures (the lab signs dk) -----------------------------

def _per_address(found: list[dict], check: str) -> list[tuple]:
    return sorted((f["nameserver"], f["address"], f["reason"], f["severity"],
                   f["args"].get("rrset")) for f in found if f["check"] == check)


def test_server_with_expired_signatures_is_named_by_address(extras):
    lab, zones = extras
    dk = zones["dk"]
    stale = next(s for s in lab.zones["dk"] if s.fault == "expired-signatures")
    assert stale.params == {"ago": 86400}
    # DNSSEC02: both signed RRsets of that one address, nothing else
    assert _per_address(dk["findings"], "DNSSEC02") == [
        (stale.ns, stale.address, "expired", "ERROR", "DNSKEY"),
        (stale.ns, stale.address, "expired", "ERROR", "SOA")]
    # DNSSEC03: its earliest expiry is already past (a day before the lab started)
    expiry = [f for f in dk["findings"] if f["check"] == "DNSSEC03"]
    assert [(f["nameserver"], f["address"], f["severity"], f["reason"]) for f in expiry] == [
        (stale.ns, stale.address, "CRITICAL", "expired")]
    started = lab.started_at
    assert abs(expiry[0]["args"]["expires_at"] - (started - 86400)) < 120
    assert expiry[0]["args"]["remaining_seconds"] < -86000
    # the same keys sign both copies: the chain from the root's DS holds everywhere
    assert [f for f in dk["findings"] if f["check"] == "DNSSEC01"] == []
    for server in lab.zones["dk"]:
        if server.address != stale.address:
            assert further(dk, server.address) == [], server
    rows = {r["address"]: r for r in dk["servers"] if r["transport"] == "udp"}
    assert set(rows) == {s.address for s in lab.zones["dk"]}
    for address, row in rows.items():
        if address == stale.address:
            assert row["dnssec_valid"] is False, row
            assert row["rrsig_expires_at"] < time.time() - 86000, row
        else:
            assert row["dnssec_valid"] is True, row
            assert row["rrsig_expires_at"] > time.time() + 19 * 86400, row
            assert row["edns"]["do"] == "ok", row  # NSD, Knot and the fault server echo DO


def test_signature_expiry_thresholds_on_a_live_server(extras):
    """DNSSEC03 on both sides of its boundaries (1 day critical, 2.5 days warning), with
    signatures the fault server makes anew with the zone's keys, then healthy again."""
    lab, _zones = extras
    healthy = next(s for s in lab.zones["dk"] if s.software == "fault" and s.fault == "none")
    cases = [(0.5 * 86400, ("CRITICAL", "expiring")), (2.0 * 86400, ("WARNING", "expiring")),
             (3.0 * 86400, None)]
    try:
        for remaining, expected in cases:
            lab.set_fault(healthy.address, "expiring-signatures", remaining=int(remaining))
            dk = run_check(lab.root_address, lab.resolver_address, lab.port, "dk")["dk"]
            found = [(f["severity"], f["reason"]) for f in dk["findings"]
                     if f["check"] == "DNSSEC03" and f["address"] == healthy.address]
            assert found == ([expected] if expected else []), (remaining, found)
            assert not [f for f in dk["findings"] if f["check"] == "DNSSEC02"
                        and f["address"] == healthy.address]  # still valid now
    finally:
        lab.clear_fault(healthy.address)
    dk = run_check(lab.root_address, lab.resolver_address, lab.port, "dk")["dk"]
    assert further(dk, healthy.address) == []


# --- open AXFR ---------------------------------------------------------------------------------

@pytest.mark.parametrize("zone", ["ee", "lt"])
def test_open_axfr_is_named_with_server_and_address(extras, zone):
    lab, zones = extras
    doc = zones[zone]
    open_servers = [s for s in lab.zones[zone] if s.axfr == "open"]
    assert len(open_servers) == 1
    assert _per_address(doc["findings"], "SEC01") == [
        (s.ns, s.address, "open", "WARNING", None) for s in open_servers]
    rows = {r["address"]: r for r in doc["servers"] if r["transport"] == "udp"}
    assert {a: r["axfr_open"] for a, r in rows.items()} == {
        s.address: s.axfr == "open" for s in lab.zones[zone]}
    for server in lab.zones[zone]:
        if server.axfr != "open":
            assert further(doc, server.address) == [], server


# --- propagation with a known delay ------------------------------------------------------------

def test_propagation_with_a_known_delay(extras):
    """bump_serial with the NOTIFY held `delay` s: every sweep that ends before then sees
    the secondaries one serial behind (SOA01); they catch up within delay + a bounded margin,
    and the re-signed zone validates everywhere afterwards."""
    lab, zones = extras
    assert further(zones["lu"]) == []
    delay, margin = 4.0, 6.0
    secondaries = sorted(s.address for s in lab.zones["lu"] if s.role == "secondary")
    t0 = time.monotonic()
    new = lab.bump_serial("lu", secondary_delay=delay)
    sweeps: list[tuple[float, dict, dict]] = []
    while True:
        doc = run_check(lab.root_address, lab.resolver_address, lab.port, "lu")["lu"]
        ended = time.monotonic() - t0
        lag = {f["address"]: f["args"]["lag"] for f in doc["findings"]
               if f["check"] == "SOA01"}
        sweeps.append((ended, lag, doc))
        if not lag or ended > delay + margin:
            break
    print("lu sweeps (s after the bump, lagging addresses):",
          [(round(e, 2), sorted(lag)) for e, lag, _ in sweeps])
    assert sweeps[0][1] == dict.fromkeys(secondaries, 1), sweeps[0][:2]
    for ended, lag, _doc in sweeps:
        if ended < delay:  # the NOTIFY is still held: nobody but the primary has it
            assert lag == dict.fromkeys(secondaries, 1), (ended, lag)
    ended, lag, doc = sweeps[-1]
    assert lag == {}, f"secondaries still behind {ended:.1f} s after the bump: {lag}"
    assert delay <= ended <= delay + margin
    assert {r["serial"] for r in doc["servers"]} == {new}
    assert further(doc) == []  # bump_serial re-signed: the new SOA's RRSIG validates
    assert len(sweeps) >= 2
