"""SEC01 (AXFR refused) and SEC02 (no recursion)."""

import dns.rcode
import dns.rrset
import pytest

from probes import labels
from probes.checks import judge
from probes.checks.security import axfr_granted, recursion_offered
from probes.model import FailureKind, Severity, Transport
from tests.unit.builders import evidence, healthy
from tests.unit.builders_extra import answer, extra, soa_rrset

NS1 = ("ns1.nic.fr.", "192.0.2.1")
NS2 = ("ns2.nic.fr.", "192.0.2.2")


def axfr(msg=None, failure=None, ns=NS1):
    return extra(labels.AXFR, *ns, msg=msg, failure=failure, transport=Transport.TCP)


def first_transfer_message():
    ns = dns.rrset.from_text("fr.", 3600, "IN", "NS", "ns1.nic.fr.")
    return answer("fr.", "AXFR", soa_rrset(), ns, edns=-1)


@pytest.mark.parametrize(("made", "expected"), [
    (lambda: axfr(first_transfer_message()), True),
    (lambda: axfr(answer("fr.", "AXFR", rcode=dns.rcode.REFUSED, edns=-1)), False),
    (lambda: axfr(answer("fr.", "AXFR", rcode=dns.rcode.NOTAUTH, edns=-1)), False),
    (lambda: axfr(answer("fr.", "AXFR", edns=-1)), False),  # NOERROR, nothing in it
    (lambda: axfr(answer("fr.", "AXFR", soa_rrset(zone="other."), edns=-1)), False),
    (lambda: axfr(failure=FailureKind.NETWORK_ERROR), False),  # closed without a reply
    (lambda: axfr(failure=FailureKind.UNREACHABLE), False),  # no TCP at all
    (lambda: axfr(failure=FailureKind.TIMEOUT), None),
    (lambda: None, None),
])
def test_axfr_granted(made, expected):
    assert axfr_granted(made(), "fr.") is expected


def test_open_axfr_is_named_by_address():
    observations = healthy(*NS1) + healthy(*NS2) + [
        axfr(answer("fr.", "AXFR", rcode=dns.rcode.REFUSED, edns=-1)),
        axfr(first_transfer_message(), ns=NS2),
    ]
    found = [f for f in judge(evidence(observations)) if f.check == "SEC01"]
    assert [(f.severity, f.tag, f.reason, f.nameserver, f.address) for f in found] == [
        (Severity.WARNING, "OPEN_AXFR", "open", *NS2)]


def recursion(**kw):
    rcode = kw.pop("rcode", dns.rcode.NOERROR)
    records = [soa_rrset(zone=".", soa="a.root-servers.net. nstld.verisign-grs.com. 1 1800 "
                         "900 604800 86400")] if kw.pop("with_answer", True) else []
    return extra(labels.RECURSION, *kw.pop("ns", NS1), qname=".",
                 msg=answer(".", "SOA", *records, rcode=rcode, **kw))


@pytest.mark.parametrize(("made", "expected"), [
    (lambda: recursion(ra=True, aa=False), True),
    (lambda: recursion(ra=False, aa=False), False),  # an answer from cache, no recursion
    (lambda: recursion(ra=True, aa=True), False),  # authoritative for "." itself
    (lambda: recursion(ra=True, aa=False, rcode=dns.rcode.REFUSED), False),
    (lambda: recursion(ra=True, aa=False, with_answer=False), False),  # upward referral
    (lambda: extra(labels.RECURSION, *NS1, failure=FailureKind.TIMEOUT), None),
])
def test_recursion_offered(made, expected):
    assert recursion_offered(made()) is expected


def test_open_resolver_is_an_error_named_by_address():
    observations = healthy(*NS1) + healthy(*NS2) + [
        recursion(ra=False, aa=False, rcode=dns.rcode.REFUSED, with_answer=False),
        recursion(ra=True, aa=False, ns=NS2),
    ]
    found = [f for f in judge(evidence(observations)) if f.check == "SEC02"]
    assert [(f.severity, f.tag, f.reason, f.nameserver, f.address) for f in found] == [
        (Severity.ERROR, "OPEN_RECURSION", "open-resolver", *NS2)]


def test_probe_observations_do_not_disturb_the_core_checks():
    # The recursion probe is an SOA query for "." and must not count as the zone's SOA.
    observations = healthy(*NS1) + healthy(*NS2) + [recursion(ra=True, aa=False)]
    assert [f.check for f in judge(evidence(observations))
            if f.check in ("LAME01", "SOA01", "SOA02", "RTT01")] == []
