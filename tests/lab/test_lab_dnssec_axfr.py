"""Signed zones, the signing faults and open AXFR, seen with dnspython, in real mode (NSD,
Knot, fault server) and in the python fallback (every server is the fault server).

The world is small and of its own (127.63.100.0 and up, its own ports), so it runs beside
the demo world and the extras world of tests/integration.
"""

from __future__ import annotations

import time

import dns.dnssec
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype
import dns.rrset
import dns.xfr
import pytest

from lab import Lab, LabError, ScenarioError
from lab.faults import FAULTS, SIGNING_FAULTS
from lab.scenario import parse_scenario
from tests.support import require_real

PORTS = {"real": 15367, "python": 15368}
EXPIRED_AGO = 7200

WORLD = {
    "name": "lab-dnssec-axfr",
    "root": {"ns": "a.root-servers.net.", "address": "127.63.100.1", "software": "nsd"},
    "resolver": {"address": "127.63.100.2"},
    "relay": "127.63.100.4",
    "zones": [
        {"zone": "tk", "dnssec": {"ds": "match"}, "servers": [
            {"ns": "ns1.nic.tk.", "address": "127.63.101.1", "software": "nsd"},
            {"ns": "ns2.nic.tk.", "address": "127.63.102.1", "software": "knot"},
            {"ns": "ns3.nic.tk.", "address": "127.63.103.1", "software": "fault"},
            {"ns": "ns4.nic.tk.", "address": "127.63.104.1", "software": "fault",
             "fault": {"name": "expired-signatures", "ago": EXPIRED_AGO}},
            {"ns": "ns5.nic.tk.", "address": "127.63.108.1", "software": "fault",
             "fault": "expiring-signatures"},
        ]},
        {"zone": "to", "dnssec": {"ds": "mismatch", "algorithm": "ECDSAP256SHA256"},
         "servers": [
             {"ns": "ns1.nic.to.", "address": "127.63.105.1", "software": "knot"},
             {"ns": "ns2.nic.to.", "address": "127.63.106.1", "software": "nsd"},
         ]},
        {"zone": "tm", "dnssec": {"ds": "none"}, "servers": [
            {"ns": "ns1.nic.tm.", "address": "127.63.107.1", "software": "nsd"},
        ]},
        {"zone": "ws", "servers": [
            {"ns": "ns1.nic.ws.", "address": "127.63.110.1", "software": "nsd", "axfr": "open"},
            {"ns": "ns2.nic.ws.", "address": "127.63.111.1", "software": "knot",
             "axfr": "open"},
            {"ns": "ns3.nic.ws.", "address": "127.63.112.1", "software": "nsd"},
            {"ns": "ns4.nic.ws.", "address": "127.63.113.1", "software": "fault",
             "axfr": "open"},
        ]},
        {"zone": "vu", "servers": [
            {"ns": "ns1.nic.vu.", "address": "127.63.114.1", "software": "knot",
             "axfr": "open"},
            {"ns": "ns2.nic.vu.", "address": "127.63.115.1", "software": "nsd", "axfr": "open"},
            {"ns": "ns3.nic.vu.", "address": "127.63.116.1", "software": "knot"},
            {"ns": "ns4.nic.vu.", "address": "127.63.117.1", "software": "fault"},
        ]},
    ],
}


@pytest.fixture(params=["real", "python"], scope="module")
def world(request):
    if request.param == "real":
        require_real()
    lab = Lab(parse_scenario(WORLD), mode=request.param, port=PORTS[request.param])
    lab.start()
    try:
        yield lab
    finally:
        lab.stop()


def ask(lab: Lab, address: str, zone: str, rdtype: str, name: str | None = None,
        tcp: bool = False) -> dns.message.Message:
    query = dns.message.make_query(name or zone + ".", rdtype, want_dnssec=True, payload=4096)
    query.flags &= ~dns.flags.RD
    send = dns.query.tcp if tcp else dns.query.udp
    return send(query, address, port=lab.port, timeout=2.0)


def signed_rrset(reply: dns.message.Message, zone: str, rdtype: int
                 ) -> tuple[dns.rrset.RRset, dns.rrset.RRset]:
    origin = dns.name.from_text(zone)
    rrset = reply.find_rrset(reply.answer, origin, dns.rdataclass.IN, rdtype)
    sigs = reply.find_rrset(reply.answer, origin, dns.rdataclass.IN, dns.rdatatype.RRSIG,
                            rdtype)
    return rrset, sigs


def key_rrset(lab: Lab, zone: str) -> dns.rrset.RRset:
    keys = lab.keys[zone]
    rrset = dns.rrset.RRset(dns.name.from_text(zone), dns.rdataclass.IN, dns.rdatatype.DNSKEY)
    rrset.add(keys.ksk_dnskey)
    rrset.add(keys.zsk_dnskey)
    return rrset


def validate(lab: Lab, zone: str, rrset, sigs, now: float | None = None) -> None:
    keys = key_rrset(lab, zone)
    dns.dnssec.validate(rrset, sigs, {keys.name: keys}, now=now,
                        policy=dns.dnssec.allow_all_policy)


def servers(lab: Lab, zone: str, fault: str | None = "none"):
    return [s for s in lab.zones[zone] if fault is None or s.fault == fault]


# --- scenario ----------------------------------------------------------------------------------

def test_the_signing_faults_are_shown_here_and_apart_from_the_demo_faults():
    shown = {s.fault for s in parse_scenario(WORLD).servers()}
    assert set(SIGNING_FAULTS) <= shown
    assert not set(SIGNING_FAULTS) & set(FAULTS)  # the demo world (unsigned) shows FAULTS


@pytest.mark.parametrize("change, words", [
    (lambda w: w["zones"][0].pop("dnssec"), "needs a signed zone"),
    (lambda w: w["zones"][0].update(dnssec={"ds": "maybe"}), "ds must be one of"),
    (lambda w: w["zones"][0].update(dnssec={"algorithm": "RSASHA1"}), "algorithm"),
    (lambda w: w["zones"][0].update(dnssec={"lifetime": 3}), "unknown key"),
    (lambda w: w["zones"][0].update(dnssec={"validity": 0}), "validity"),
    (lambda w: w["zones"][0].update(dnssec="yes"), "dnssec must be"),
    (lambda w: w["zones"][3]["servers"][0].update(axfr="anyone"), "axfr must be one of"),
    (lambda w: w["zones"][3]["servers"][2].update(software="dead", axfr="open"),
     "dead server cannot grant AXFR"),
    (lambda w: w["zones"][0]["servers"][3].update(fault={"name": "expired-signatures",
                                                        "ago": 0}), "outside"),
])
def test_bad_dnssec_and_axfr_entries_are_refused(change, words):
    import copy

    raw = copy.deepcopy(WORLD)
    change(raw)
    with pytest.raises(ScenarioError, match=words):
        parse_scenario(raw)


def test_defaults_and_expectations():
    sc = parse_scenario(WORLD)
    tk = sc.zone("tk")
    assert tk.dnssec["algorithm"] == "ED25519" and tk.dnssec["validity"] == 20 * 86400
    expired = next(s for s in tk.servers if s.fault == "expired-signatures")
    assert dict(expired.expect) == {"check": "DNSSEC02", "reason": "expired"}
    opened = [s for s in sc.zone("ws").servers if s.axfr == "open"]
    assert [dict(s.expect) for s in opened] == [{"check": "SEC01", "reason": "open"}] * 3
    assert sc.zone("ws").dnssec is None


# --- signed zones ------------------------------------------------------------------------------

def test_healthy_servers_serve_signatures_that_validate(world):
    for zone in ("tk", "to", "tm"):
        for s in servers(world, zone):
            for rdtype in (dns.rdatatype.SOA, dns.rdatatype.DNSKEY):
                reply = ask(world, s.address, zone, dns.rdatatype.to_text(rdtype))
                assert reply.ednsflags & dns.flags.DO, (s, "DO bit not echoed")
                rrset, sigs = signed_rrset(reply, zone + ".", rdtype)
                validate(world, zone, rrset, sigs)
                inception, expiration = world.signature_times[zone]
                assert {(sig.inception, sig.expiration) for sig in sigs} == {
                    (inception, expiration)}, s
            dnskeys = signed_rrset(ask(world, s.address, zone, "DNSKEY"), zone + ".",
                                   dns.rdatatype.DNSKEY)[0]
            assert set(dnskeys) == set(key_rrset(world, zone)), s


def test_the_root_carries_the_ds_the_scenario_asks_for(world):
    def root_ds(zone):
        reply = ask(world, world.root_address, zone, "DS")
        return [rr for rrset in reply.answer if rrset.rdtype == dns.rdatatype.DS
                for rr in rrset]

    ksk = world.keys["tk"].ksk_dnskey
    assert root_ds("tk") == [dns.dnssec.make_ds("tk.", ksk, "SHA256")]
    [other] = root_ds("to")  # ds: mismatch: a DS of a key the zone does not have
    assert other.algorithm == dns.dnssec.Algorithm.ECDSAP256SHA256
    assert other.key_tag not in {dns.dnssec.key_id(k) for k in key_rrset(world, "to")}
    assert root_ds("tm") == []  # ds: none: an island


def test_negative_answers_carry_signed_nsec(world):
    for s in servers(world, "tk"):
        reply = ask(world, s.address, "tk", "A", name="nothing-here.tk.")
        assert reply.rcode() == dns.rcode.NXDOMAIN, s
        types = {(r.rdtype, r.covers) for r in reply.authority}
        assert (dns.rdatatype.NSEC, dns.rdatatype.NONE) in types, s
        assert (dns.rdatatype.RRSIG, dns.rdatatype.NSEC) in types, s
        assert (dns.rdatatype.RRSIG, dns.rdatatype.SOA) in types, s


def test_expired_copy_is_signed_by_the_zone_keys_but_expired(world):
    [stale] = servers(world, "tk", "expired-signatures")
    for rdtype in (dns.rdatatype.SOA, dns.rdatatype.DNSKEY):
        rrset, sigs = signed_rrset(ask(world, stale.address, "tk",
                                       dns.rdatatype.to_text(rdtype)), "tk.", rdtype)
        [expiration] = {sig.expiration for sig in sigs}
        assert abs(expiration - (world.started_at - EXPIRED_AGO)) < 60
        with pytest.raises(dns.dnssec.ValidationFailure):
            validate(world, "tk", rrset, sigs)
        validate(world, "tk", rrset, sigs, now=expiration - 60)  # genuine, only expired
    [soon] = servers(world, "tk", "expiring-signatures")
    rrset, sigs = signed_rrset(ask(world, soon.address, "tk", "SOA"), "tk.",
                               dns.rdatatype.SOA)
    validate(world, "tk", rrset, sigs)
    assert abs(sigs[0].expiration - (world.started_at + 43200)) < 60


def test_bump_resigns_and_the_stale_copy_stays_behind(world):
    [stale] = servers(world, "tk", "expired-signatures")
    before = world.serial("tk")
    new = world.bump_serial("tk")
    assert world.wait_serial("tk", new, timeout=10)
    for s in servers(world, "tk"):
        rrset, sigs = signed_rrset(ask(world, s.address, "tk", "SOA"), "tk.",
                                   dns.rdatatype.SOA)
        assert rrset[0].serial == new
        validate(world, "tk", rrset, sigs)
    assert world.serials("tk")[stale.address] == before


def test_signing_faults_switch_live(world):
    [copy] = [s for s in servers(world, "tk") if s.declared_software == "fault"]
    world.set_fault(copy.address, "expired-signatures", ago=600)
    try:
        rrset, sigs = signed_rrset(ask(world, copy.address, "tk", "SOA"), "tk.",
                                   dns.rdatatype.SOA)
        assert sigs[0].expiration < time.time() - 500
        with pytest.raises(dns.dnssec.ValidationFailure):
            validate(world, "tk", rrset, sigs)
    finally:
        world.clear_fault(copy.address)
    rrset, sigs = signed_rrset(ask(world, copy.address, "tk", "SOA"), "tk.", dns.rdatatype.SOA)
    validate(world, "tk", rrset, sigs)
    unsigned = next(s for s in world.zones["ws"] if s.declared_software == "fault")
    with pytest.raises(LabError, match="needs a signed zone"):
        world.set_fault(unsigned.address, "expired-signatures")


def test_unsigned_answers_stay_unsigned_and_edns_versions_are_refused(world):
    fault = next(s for s in world.zones["vu"] if s.declared_software == "fault")
    reply = ask(world, fault.address, "vu", "SOA")
    assert [r.rdtype for r in reply.answer] == [dns.rdatatype.SOA]
    query = dns.message.make_query("vu.", "SOA", use_edns=1)
    reply = dns.query.udp(query, fault.address, port=world.port, timeout=2.0)
    assert reply.rcode() == dns.rcode.BADVERS and reply.edns == 0


# --- AXFR ----------------------------------------------------------------------------------------

def transfer(lab: Lab, address: str, zone: str) -> int | str:
    """The number of records transferred, or why not."""
    try:
        messages = list(dns.query.xfr(address, zone + ".", port=lab.port, timeout=2.0,
                                      lifetime=5.0))
    except (dns.xfr.TransferError, dns.exception.FormError, ConnectionError, EOFError) as exc:
        return type(exc).__name__ + (f" {exc.rcode.name}" if hasattr(exc, "rcode") else "")
    return sum(len(rrset) for m in messages for rrset in m.answer)


def test_open_axfr_on_exactly_the_servers_that_say_so(world):
    for zone in ("ws", "vu", "tk"):
        for s in world.zones[zone]:
            got = transfer(world, s.address, zone)
            if s.axfr == "open":
                assert isinstance(got, int) and got >= 8, (s, got)  # 2 SOA, NS, A, TXT
            else:
                assert not isinstance(got, int), (s, got)
