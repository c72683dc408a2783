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
