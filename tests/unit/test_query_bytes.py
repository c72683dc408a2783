"""The engine's own queries written straight to bytes are the bytes dnspython writes."""

from __future__ import annotations

import dns.name
import pytest

from probes.transport import WireQuery, make_query

NAMES = ["fr.", "xn--fiqs8s.", "nic.fr.", ".", "a" * 63 + ".b.", "ns1.example.co.uk.",
         "Mixed.Case.", "with\\.dot.fr.", "x" * 64 + ".fr.", ("abcdefg." * 31) + "ab.",
         "é.fr.", "a..b.", "no-trailing-dot"]


@pytest.mark.parametrize("qname", NAMES)
@pytest.mark.parametrize("rdtype", ["SOA", "NS", "A", "AAAA"])
@pytest.mark.parametrize("edns_buffer", [1232, 4096, None])
def test_standard_query_bytes_equal_dnspythons(qname: str, rdtype: str,
                                               edns_buffer: int | None) -> None:
    try:
        reference = WireQuery.from_message(make_query(qname, rdtype, edns_buffer=edns_buffer))
    except (dns.name.NameTooLong, dns.name.LabelTooLong, dns.name.EmptyLabel) as exc:
        with pytest.raises(type(exc)):
            WireQuery.standard(qname, rdtype, edns_buffer)
        return
    ours = WireQuery.standard(qname, rdtype, edns_buffer)
    assert ours.wire[2:] == reference.wire[2:]  # the ID is set per try
    assert (ours.question, ours.payload) == (reference.question, reference.payload)
