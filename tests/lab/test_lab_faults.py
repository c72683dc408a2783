"""Every fault declared in the demo world shows, seen with dnspython, exactly as declared;
in real mode (NSD/Knot/Unbound + fault server) and in the python fallback."""

from __future__ import annotations

import socket
import time

import dns.exception
import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import pytest

from lab import load_scenario
from tests.lab.helpers import is_aa, raw_udp, soa_query, soa_serial, tcp, timed, udp

DEMO = load_scenario("demo")
FAULTY = [s for s in DEMO.servers() if s.software == "dead"
          or (s.software == "fault" and s.fault != "none")]


@pytest.fixture(params=["real", "python"], scope="module")
def world(request):
    return request.getfixturevalue("demo_lab" if request.param == "real" else "python_lab")


def test_every_fault_name_is_in_the_demo():
    from lab.faults import FAULTS

    shown = {s.fault for s in FAULTY if s.software == "fault"}
    assert shown == set(FAULTS) - {"none"}
    assert any(s.software == "dead" for s in FAULTY)


def _check_refused(lab, s):
    r = udp(s.zone, s.address, lab.port)
    assert r.rcode() == dns.rcode.REFUSED and not is_aa(r)


def _check_servfail(lab, s):
    r = udp(s.zone, s.address, lab.port)
    assert r.rcode() == dns.rcode.SERVFAIL and not is_aa(r)


def _check_noaa(lab, s):
    r = udp(s.zone, s.address, lab.port)
    assert r.rcode() == dns.rcode.NOERROR and not is_aa(r)
    assert soa_serial(r) == lab.serial(s.zone)


def _check_referral(lab, s):
    r = udp(s.zone, s.address, lab.port)
    assert r.rcode() == dns.rcode.NOERROR and not is_aa(r) and not r.answer
    ns = [rr for rr in r.authority if rr.rdtype == dns.rdatatype.NS]
    assert ns and ns[0].name.to_text() == s.zone + "."


def _check_nxdomain(lab, s):
    r = udp(s.zone, s.address, lab.port)
    assert r.rcode() == dns.rcode.NXDOMAIN and is_aa(r)


def _check_wrong_owner(lab, s):
    r = udp(s.zone, s.address, lab.port)
    assert is_aa(r) and r.answer[0].rdtype == dns.rdatatype.SOA
    assert r.answer[0].name.to_text() != s.zone + "."


def _check_stale_serial(lab, s):
    r = udp(s.zone, s.address, lab.port)
    assert is_aa(r)
    assert soa_serial(r) == lab.serial(s.zone) - s.params["by"] == DEMO.serial - 5


def _check_delay(lab, s):
    r, seconds = timed(udp, s.zone, s.address, lab.port, timeout=3)
    assert is_aa(r) and soa_serial(r) == lab.serial(s.zone)
    ms = s.params["ms"]
    assert ms / 1000 <= seconds < ms / 1000 + 0.25


def _check_silent(lab, s):
    with pytest.raises(dns.exception.Timeout):
        udp(s.zone, s.address, lab.port, timeout=0.8)
    with pytest.raises(dns.exception.Timeout):
        tcp(s.zone, s.address, lab.port, timeout=0.8)


def _check_dead(lab, s):
    with pytest.raises(ConnectionRefusedError):
        raw_udp(soa_query(s.zone).to_wire(), s.address, lab.port, timeout=1)
    with pytest.raises(ConnectionRefusedError):
        tcp(s.zone, s.address, lab.port, timeout=1)


def _check_garbage(lab, s):
    q = soa_query(s.zone)
    wire = raw_udp(q.to_wire(), s.address, lab.port)
    assert wire[:2] == q.to_wire()[:2]  # it does answer the query...
    with pytest.raises(dns.exception.DNSException):
        dns.message.from_wire(wire)  # ...with bytes that are not DNS


def _check_wrong_id(lab, s):
    q = soa_query(s.zone)
    r = dns.message.from_wire(raw_udp(q.to_wire(), s.address, lab.port))
    assert r.id != q.id and r.flags & dns.flags.QR
    assert r.question[0].name == q.question[0].name


def _check_wrong_question(lab, s):
    q = soa_query(s.zone)
    r = dns.message.from_wire(raw_udp(q.to_wire(), s.address, lab.port))
    assert r.id == q.id and r.question[0].name != q.question[0].name
    assert not q.is_response(r)


def _check_tc_silent_tcp(lab, s):
    r = udp(s.zone, s.address, lab.port)
    assert r.flags & dns.flags.TC and not r.answer
    with pytest.raises(dns.exception.Timeout):
        tcp(s.zone, s.address, lab.port, timeout=0.8)


def _check_tcp_silent(lab, s):
    r = udp(s.zone, s.address, lab.port)
    assert is_aa(r) and soa_serial(r) == lab.serial(s.zone)
    with pytest.raises(dns.exception.Timeout):
        tcp(s.zone, s.address, lab.port, timeout=0.8)


def _check_oversized(lab, s):
    q = soa_query(s.zone, payload=1232)
    wire = raw_udp(q.to_wire(), s.address, lab.port)
    r = dns.message.from_wire(wire)
    assert len(wire) > 1232 and not r.flags & dns.flags.TC
    assert soa_serial(r) == lab.serial(s.zone)
    assert tcp(s.zone, s.address, lab.port).answer  # TCP is normal


def _check_drop(lab, s):
    n = 60
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.connect((s.address, lab.port))
        sock.settimeout(0.05)
        ids = set()
        for _ in range(n):
            q = soa_query(s.zone)
            ids.add(q.id)
            sock.send(q.to_wire())
        answered = set()
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            try:
                answered.add(dns.message.from_wire(sock.recv(65535)).id)
            except TimeoutError:
                continue
    share = 1 - len(answered & ids) / len(ids)
    assert 0.2 < share < 0.8, share  # configured 0.5


CHECKS = {
    "refused": _check_refused, "servfail": _check_servfail, "noaa": _check_noaa,
    "referral": _check_referral, "nxdomain": _check_nxdomain,
    "wrong-owner": _check_wrong_owner, "stale-serial": _check_stale_serial,
    "delay": _check_delay, "silent": _check_silent, "garbage": _check_garbage,
    "wrong-id": _check_wrong_id, "wrong-question": _check_wrong_question,
    "tc-silent-tcp": _check_tc_silent_tcp, "tcp-silent": _check_tcp_silent,
    "oversized": _check_oversized, "drop": _check_drop,
}


@pytest.mark.parametrize("server", FAULTY, ids=[f"{s.zone}-{s.ns}-{s.fault}" if s.software
                                                  == "fault" else f"{s.zone}-{s.ns}-dead"
                                                  for s in FAULTY])
def test_fault_shows(world, server):
    assert server.expect, "every faulty server carries an expect: entry"
    check = _check_dead if server.software == "dead" else CHECKS[server.fault]
    check(world, server)


def test_healthy_servers_answer_authoritatively(world):
    targets = [s for s in DEMO.servers() if s.real or (s.software == "fault"
                                                       and s.fault == "none")]
    assert len(targets) > 40
    for s in targets:
        r = udp(s.zone, s.address, world.port)
        assert r.rcode() == dns.rcode.NOERROR and is_aa(r), (s.zone, s.address)
        assert soa_serial(r) == world.serial(s.zone), (s.zone, s.address)
        assert r.answer[0].name.to_text() == s.zone + "."


def test_root_delegates_with_glue_like_the_real_root(world):
    q = dns.message.make_query("fr.", "NS", flags=0)
    r = dns.query.udp(q, world.root_address, port=world.port, timeout=1.5)
    assert not is_aa(r) and not r.answer
    assert {rd.target.to_text() for rd in r.authority[0]} == {"ns1.nic.fr.", "ns2.nic.fr."}
    glue = {rr.name.to_text(): rr[0].address for rr in r.additional
            if rr.rdtype == dns.rdatatype.A}
    assert glue == {"ns1.nic.fr.": "127.53.1.1", "ns2.nic.fr.": "127.53.1.2"}
    # de: one NS name has no glue in the root
    q = dns.message.make_query("de.", "NS", flags=0)
    r = dns.query.udp(q, world.root_address, port=world.port, timeout=1.5)
    names = {rd.target.to_text() for rd in r.authority[0]}
    glue = {rr.name.to_text() for rr in r.additional if rr.rdtype == dns.rdatatype.A}
    assert "ns.lab-anycast.net." in names and "ns.lab-anycast.net." not in glue


def test_resolver_resolves_names_without_glue(world):
    q = dns.message.make_query("ns.lab-anycast.net.", "A")
    r = dns.query.udp(q, world.resolver_address, port=world.port, timeout=3)
    assert r.flags & dns.flags.RA and r.rcode() == dns.rcode.NOERROR
    assert r.answer[0][0].address == "127.53.3.3"
