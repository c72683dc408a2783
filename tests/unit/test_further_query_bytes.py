"""The further queries written straight to bytes are the bytes dnspython writes for them."""

from __future__ import annotations

import dns.edns
import dns.name
import pytest

from probes import labels
from probes.model import Transport
from probes.observe_further import build_query
from probes.transport import WireQuery, make_query

ZONES = ["fr.", "xn--fiqs8s.", "co.uk.", ".", "a" * 63 + ".", "Mixed.Case.", "with\\.dot.fr.",
         "é.fr.", "x" * 64 + ".fr.", ("abcdefg." * 31) + "ab."]


def dnspython_query(label: str, zone: str, edns_buffer: int) -> tuple[str, str, WireQuery]:
    """What each further query must be, said with dnspython's own query builder."""
    unknown = dns.edns.GenericOption(labels.UNKNOWN_OPTION_CODE, b"")
    wanted = {
        labels.SOA_PLAIN: (zone, "SOA", {"edns_buffer": None}),
        labels.SOA_EDNS1: (zone, "SOA", {"edns_version": 1}),
        labels.SOA_OPTION: (zone, "SOA", {"options": [unknown]}),
        labels.SOA_DO: (zone, "SOA", {"dnssec_ok": True}),
        labels.SOA_NSID: (zone, "SOA", {"options": [dns.edns.NSIDOption(b"")]}),
        labels.RECURSION: (".", "SOA", {"recursion_desired": True}),
        labels.DNSKEY_DO: (zone, "DNSKEY", {"dnssec_ok": True}),
        labels.DS_DO: (zone, "DS", {"dnssec_ok": True}),
        labels.AXFR: (zone, "AXFR", {"edns_buffer": None}),
    }
    qname, rdtype, options = wanted[label]
    options.setdefault("edns_buffer", edns_buffer)
    return qname, rdtype, WireQuery.from_message(make_query(qname, rdtype, **options))


LABELS = [labels.SOA_PLAIN, labels.SOA_EDNS1, labels.SOA_OPTION, labels.SOA_DO,
          labels.SOA_NSID, labels.RECURSION, labels.DNSKEY_DO, labels.DS_DO, labels.AXFR]


@pytest.mark.parametrize("label", LABELS)
@pytest.mark.parametrize("zone", ZONES)
@pytest.mark.parametrize("edns_buffer", [1232, 512, 4096])
def test_further_query_bytes_equal_dnspythons(label: str, zone: str, edns_buffer: int) -> None:
    try:
        qname, rdtype, reference = dnspython_query(label, zone, edns_buffer)
    except (dns.name.NameTooLong, dns.name.LabelTooLong) as exc:
        with pytest.raises(type(exc)):
            build_query(label, zone, edns_buffer)
        return
    ours = build_query(label, zone, edns_buffer)
    assert ours[:3] == (qname, rdtype, Transport.TCP if label == labels.AXFR else Transport.UDP)
    assert ours[3].wire[2:] == reference.wire[2:]  # the ID is set per try
    assert (ours[3].question, ours[3].payload) == (reference.question, reference.payload)


def test_each_further_query_is_built_once_per_zone() -> None:
    assert build_query(labels.SOA_DO, "fr.", 1232)[3] is build_query(labels.SOA_DO, "fr.", 1232)[3]
    assert build_query(labels.SOA_DO, "fr.", 1232) != build_query(labels.SOA_DO, "de.", 1232)
