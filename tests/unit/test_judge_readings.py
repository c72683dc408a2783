"""Cheaper readings the judges share: the reply's rcode as an int, a name's text once per
name. Each must read exactly what dnspython's own reading says."""

from __future__ import annotations

import dns.message
import dns.name
import dns.rcode
import pytest

from probes import names
from probes.evidence import rcode_of
from probes.names import name_text


def _reply(rcode: int, edns: bool) -> dns.message.Message:
    query = dns.message.make_query("fr.", "SOA", use_edns=0 if edns else False)
    reply = dns.message.make_response(query)
    reply.set_rcode(rcode)
    return dns.message.from_wire(reply.to_wire())


# An extended rcode (over 15) needs an OPT record: without EDNS only the 4-bit ones exist.
_PLAIN_RCODES = [0, 1, 2, 3, 4, 5, 9, 15]
_CASES = [(r, True) for r in [*_PLAIN_RCODES, 16, 23, 4095]] + [(r, False) for r in _PLAIN_RCODES]


@pytest.mark.parametrize(("rcode", "edns"), _CASES)
def test_rcode_is_dnspythons(rcode: int, edns: bool) -> None:
    reply = _reply(rcode, edns)
    assert rcode_of(reply) == reply.rcode() == rcode
    assert isinstance(rcode_of(reply), int)


def test_badvers_is_told_apart_from_noerror() -> None:
    reply = _reply(dns.rcode.BADVERS, edns=True)
    assert rcode_of(reply) == dns.rcode.BADVERS != dns.rcode.NOERROR
    assert reply.flags & 0xF == 0  # the low bits alone would say NOERROR


@pytest.mark.parametrize("text", ["fr.", "NS1.Nic.FR.", "xn--fiqs8s.", ".", "a\\.b.fr.",
                                  "sp ace.fr.", "\\000.fr."])
def test_name_text_is_to_text(text: str) -> None:
    name = dns.name.from_text(text)
    assert name_text(name) == name.to_text() == name_text(name)


def test_name_text_memo_is_bounded_and_never_mixes_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(names, "NAME_TEXTS_MAX", 8)
    monkeypatch.setattr(names, "_name_texts", {})
    kept = [dns.name.from_text(f"ns{i}.example.") for i in range(50)]
    for name in kept:
        assert name_text(name) == name.to_text()
        assert len(names._name_texts) <= 8
    for _ in range(3):  # new names, maybe at the addresses of names gone: their own text
        fresh = dns.name.from_text("other.example.")
        assert name_text(fresh) == "other.example."
        del fresh


def test_the_aa_bit_is_read_as_dnspython_reads_it() -> None:
    import dns.flags

    from probes.evidence import aa_set

    for flags in (dns.flags.QR, dns.flags.QR | dns.flags.AA, dns.flags.AA | dns.flags.TC,
                  dns.flags.QR | dns.flags.RD | dns.flags.RA):
        reply = _reply(dns.rcode.NOERROR, edns=False)
        reply.flags = flags
        assert aa_set(reply) is bool(reply.flags & dns.flags.AA)


def test_evidence_selections_file_each_observation_by_its_question() -> None:
    """select: core queries of one type (and transport) in probe order, never a further
    query of the same type; variant: one further query; soa: the apex SOA per address."""
    from probes.model import Question, Transport
    from tests.unit.builders import ZONE, evidence, obs

    core_udp = obs("ns1.nic.fr.", "192.0.2.1")
    core_tcp = obs("ns1.nic.fr.", "192.0.2.1", transport=Transport.TCP)
    other_udp = obs("ns2.nic.fr.", "192.0.2.2")
    glue_a = obs("ns1.nic.fr.", "192.0.2.1", rdtype="A", qname="ns1.nic.fr.")
    not_apex = obs("ns2.nic.fr.", "192.0.2.2", qname="www.fr.")
    do = obs("ns1.nic.fr.", "192.0.2.1", variant="SOA/do")
    nsid = obs("ns2.nic.fr.", "192.0.2.2", variant="SOA/nsid")
    ev = evidence([do, core_udp, glue_a, core_tcp, nsid, other_udp, not_apex])
    assert list(ev.select("SOA")) == [core_udp, core_tcp, other_udp, not_apex]
    assert list(ev.select("SOA", Transport.UDP)) == [core_udp, other_udp, not_apex]
    assert list(ev.select("SOA", Transport.TCP)) == [core_tcp]
    assert list(ev.select("A", Transport.UDP)) == [glue_a]
    assert list(ev.select("AAAA")) == [] and list(ev.select("NS", Transport.TCP)) == []
    assert list(ev.variant("SOA/do")) == [do] and list(ev.variant("SOA/nsid")) == [nsid]
    assert list(ev.variant("DNSKEY/do")) == []
    assert list(ev.variant("")) == [core_udp, glue_a, core_tcp, other_udp, not_apex]
    assert dict(ev.soa(Transport.UDP)) == {("ns1.nic.fr.", "192.0.2.1"): core_udp,
                                           ("ns2.nic.fr.", "192.0.2.2"): other_udp}
    assert ev.soa(Transport.UDP) is ev.soa(Transport.UDP)  # made once, read only
    assert not_apex.question == Question("www.fr.", "SOA") and ZONE == "fr."
