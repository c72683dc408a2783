"""EDNS01 (five EDNS outcomes per address) and NSID01."""

import dns.edns
import dns.rcode
import pytest

from probes import labels
from probes.checks import judge
from probes.checks.edns import edns_outcomes, nsid_text, nsids, outcome
from probes.model import FailureKind, Severity, Transport
from tests.unit.builders import evidence, healthy, obs, soa_reply
from tests.unit.builders_extra import answer, extra, soa_rrset

NS = ("ns1.nic.fr.", "192.0.2.1")
LABELS = {"plain": labels.SOA_PLAIN, "edns1": labels.SOA_EDNS1, "option": labels.SOA_OPTION,
          "do": labels.SOA_DO}
GOOD = {
    "plain": dict(edns=-1),
    "edns1": dict(rcode=dns.rcode.BADVERS),
    "option": dict(),
    "do": dict(do=True),
}


def soa(**kw):
    rcode = kw.pop("rcode", dns.rcode.NOERROR)
    records = [] if rcode != dns.rcode.NOERROR else [soa_rrset()]
    return answer("fr.", "SOA", *records, rcode=rcode, **kw)


def compliant(nameserver=NS[0], address=NS[1], **overrides):
    """Core SOA answers (EDNS0) plus the four EDNS variants, as a compliant server answers."""
    observations = [obs(nameserver, address, msg=soa()),
                    obs(nameserver, address, msg=soa(), transport=Transport.TCP)]
    for test, label in LABELS.items():
        if test in overrides:
            made = overrides[test]
        else:
            made = extra(label, nameserver, address, msg=soa(**GOOD[test]))
        observations.append(made)
    return observations


def edns_findings(observations):
    return [(f.severity, f.tag, f.reason, f.args["tests"])
            for f in judge(evidence(observations)) if f.check == "EDNS01"]


def test_compliant_server_is_clean():
    ev = evidence(compliant())
    assert edns_outcomes(ev) == {NS: dict.fromkeys(("plain", "edns0", "edns1", "option", "do"),
                                                   "ok")}
    assert edns_findings(compliant()) == []


@pytest.mark.parametrize(("test", "msg_kw", "expected"), [
    ("plain", dict(edns=-1), "ok"),
    ("plain", dict(edns=0), "opt-in-reply"),
    ("plain", dict(rcode=dns.rcode.FORMERR, edns=-1), "formerr"),
    ("edns0", dict(), "ok"),
    ("edns0", dict(edns=-1), "no-opt"),
    ("edns0", dict(edns=1), "wrong-version"),
    ("edns0", dict(rcode=dns.rcode.FORMERR), "formerr"),
    ("edns0", dict(rcode=dns.rcode.NOTIMP), "notimp"),
    ("edns0", dict(rcode=dns.rcode.YXDOMAIN), "other-rcode"),
    ("edns1", dict(rcode=dns.rcode.BADVERS), "ok"),
    ("edns1", dict(), "noerror"),
    ("edns1", dict(rcode=dns.rcode.FORMERR), "formerr"),
    ("edns1", dict(rcode=dns.rcode.BADVERS, edns=1), "wrong-version"),
    ("option", dict(), "ok"),
    ("option", dict(options=[dns.edns.GenericOption(labels.UNKNOWN_OPTION_CODE, b"")]),
     "option-echoed"),
    ("option", dict(options=[dns.edns.GenericOption(10, b"12345678")]), "ok"),
    ("option", dict(edns=-1), "no-opt"),
    ("do", dict(do=True), "ok"),
    ("do", dict(), "no-do"),
    ("do", dict(rcode=dns.rcode.SERVFAIL, do=True), "servfail"),
])
def test_outcome_table(test, msg_kw, expected):
    assert outcome(test, extra("x", msg=soa(**msg_kw))) == expected


@pytest.mark.parametrize(("failure", "expected"), [
    (FailureKind.TIMEOUT, "timeout"), (FailureKind.UNREACHABLE, "unreachable"),
    (FailureKind.NETWORK_ERROR, "unreachable"), (FailureKind.MALFORMED, "malformed"),
    (FailureKind.MISMATCH, "malformed"), (FailureKind.OVERSIZED, "oversized"),
    (FailureKind.TRUNCATED, "truncated"),
])
def test_failure_outcomes(failure, expected):
    assert outcome("edns1", extra("x", failure=failure)) == expected


def test_not_sent_is_empty():
    assert outcome("do", None) == ""


def test_server_ignoring_the_edns_version_and_the_do_bit():
    observations = compliant(edns1=extra(labels.SOA_EDNS1, *NS, msg=soa()),
                             do=extra(labels.SOA_DO, *NS, msg=soa()))
    assert edns_findings(observations) == [
        (Severity.WARNING, "EDNS_VERSION_FAILED", "noerror", ["edns1"]),
        (Severity.WARNING, "EDNS_DO_FAILED", "no-do", ["do"]),
    ]


def test_server_dropping_every_edns_query_is_one_error():
    # Answers only without EDNS: the core SOA queries (EDNS0) time out, the plain one answers.
    silent = [obs(*NS, failure=FailureKind.TIMEOUT),
              obs(*NS, failure=FailureKind.TIMEOUT, transport=Transport.TCP),
              extra(labels.SOA_PLAIN, *NS, msg=soa(edns=-1))]
    observations = silent + [extra(label, *NS, failure=FailureKind.TIMEOUT)
                             for test, label in LABELS.items() if test != "plain"]
    assert edns_findings(observations) == [
        (Severity.ERROR, "EDNS0_FAILED", "timeout", ["edns0", "edns1", "option", "do"])]


@pytest.mark.parametrize("lost", ["edns1", "option", "do"])
def test_one_lost_further_query_is_unmeasured_not_a_fault(lost):
    # A lossy path: one EDNS variant got no answer after its retries, the others answered.
    observations = compliant(**{lost: extra(LABELS[lost], *NS, failure=FailureKind.TIMEOUT)})
    assert edns_findings(observations) == []
    assert edns_outcomes(evidence(observations))[NS][lost] == "no-answer"


def test_every_edns_query_lost_but_plain_lost_too_is_unmeasured():
    # Nothing answered at all over UDP: no answer shows an EDNS fault (REACH01's business).
    observations = [obs(*NS, failure=FailureKind.TIMEOUT),
                    obs(*NS, msg=soa_reply(), transport=Transport.TCP)]
    observations += [extra(label, *NS, failure=FailureKind.TIMEOUT) for label in LABELS.values()]
    assert edns_findings(observations) == []


def test_core_lost_and_only_plain_sent_is_no_edns_finding():
    # The core EDNS0 queries lost over UDP and TCP on a lossy path, the plain query answered,
    # no variant sent: one EDNS query timing out proves nothing (MIN_EDNS_TIMEOUTS is 3).
    observations = [obs(*NS, failure=FailureKind.TIMEOUT),
                    obs(*NS, failure=FailureKind.TIMEOUT, transport=Transport.TCP),
                    extra(labels.SOA_PLAIN, *NS, msg=soa(edns=-1))]
    assert edns_findings(observations) == []
    two = observations + [extra(labels.SOA_EDNS1, *NS, failure=FailureKind.TIMEOUT)]
    assert edns_findings(two) == []
    three = two + [extra(labels.SOA_OPTION, *NS, failure=FailureKind.TIMEOUT)]
    assert edns_findings(three) == [
        (Severity.ERROR, "EDNS0_FAILED", "timeout", ["edns0", "edns1", "option"])]


def test_edns0_lost_once_while_the_variants_answer_is_unmeasured():
    observations = compliant()
    observations[0] = obs(*NS, failure=FailureKind.TIMEOUT)  # the core EDNS0 query, lost
    assert edns_findings(observations) == []


def test_oversized_replies_are_named():
    core = [obs(*NS, failure=FailureKind.OVERSIZED),
            obs(*NS, msg=soa_reply(), transport=Transport.TCP)]
    rest = [extra(label, *NS, msg=soa(**GOOD[test])) for test, label in LABELS.items()]
    found = [f for f in judge(evidence(core + rest)) if f.check == "EDNS01"]
    assert [(f.severity, f.reason, f.address, f.nameserver) for f in found] == [
        (Severity.ERROR, "oversized", NS[1], NS[0])]


def test_lame_server_is_left_to_lame01():
    observations = [obs(*NS, msg=answer("fr.", "SOA", rcode=dns.rcode.REFUSED)),
                    obs(*NS, msg=answer("fr.", "SOA", rcode=dns.rcode.REFUSED),
                        transport=Transport.TCP)]
    observations += [extra(label, *NS, msg=soa(rcode=dns.rcode.REFUSED))
                     for label in LABELS.values()]
    assert edns_findings(observations) == []


def test_without_further_queries_nothing_is_judged():
    assert edns_findings(healthy(*NS)) == []
    assert edns_outcomes(evidence(healthy(*NS))) == {}


# --- NSID01 -------------------------------------------------------------------------------

def nsid_obs(value=None, **kw):
    options = [dns.edns.NSIDOption(value)] if value is not None else []
    return extra(labels.SOA_NSID, *NS, msg=soa(options=options), **kw)


@pytest.mark.parametrize(("value", "text"), [
    (b"fra1.ns1", "fra1.ns1"),
    (b"\x01\xfe", "01fe"),  # not printable: hex
    (b"", ""),
    (b"x" * 500, "x" * 128),  # bounded
])
def test_nsid_text(value, text):
    assert nsid_text(nsid_obs(value)) == text


def test_no_nsid_is_none_and_no_finding():
    assert nsid_text(nsid_obs()) is None
    observations = compliant() + [nsid_obs()]
    assert [f for f in judge(evidence(observations)) if f.check == "NSID01"] == []
    assert nsids(evidence(observations)) == {}


def test_nsid_is_data_not_a_finding():
    observations = compliant() + [nsid_obs(b"ams-3")]
    assert nsids(evidence(observations)) == {NS: "ams-3"}
    assert [f for f in judge(evidence(observations)) if f.check in ("NSID01", "EDNS01")] == []


def test_server_breaking_on_the_nsid_option_is_a_notice():
    observations = compliant() + [extra(labels.SOA_NSID, *NS, failure=FailureKind.UNREACHABLE)]
    found = [f for f in judge(evidence(observations)) if f.check == "NSID01"]
    assert [(f.severity, f.reason, f.address) for f in found] == [
        (Severity.NOTICE, "unreachable", NS[1])]
    # No answer after the retries is a lost datagram as likely as a fault: unmeasured.
    lost = compliant() + [extra(labels.SOA_NSID, *NS, failure=FailureKind.TIMEOUT)]
    assert [f for f in judge(evidence(lost)) if f.check == "NSID01"] == []
    formerr = compliant() + [extra(labels.SOA_NSID, *NS, msg=soa(rcode=dns.rcode.FORMERR))]
    assert [f.reason for f in judge(evidence(formerr)) if f.check == "NSID01"] == ["formerr"]


def test_nsid_failure_when_edns_fails_anyway_is_left_to_edns01():
    core = [obs(*NS, failure=FailureKind.OVERSIZED),
            obs(*NS, msg=soa_reply(), transport=Transport.TCP)]
    observations = core + [extra(labels.SOA_NSID, *NS, failure=FailureKind.OVERSIZED)]
    assert [f for f in judge(evidence(observations)) if f.check == "NSID01"] == []


def test_reused_further_answers_are_compared_with_their_own_edns0_answer():
    """Between two runs of the further queries (further_checks_interval) their last answers
    are judged again; a fresh core answer (here: the server now refuses) must not be set
    against an old plain answer as if the server broke on EDNS."""
    batch = compliant()[2:] + [extra(labels.SOA_EDNS0, *NS, msg=soa())]
    fresh_core = [obs(*NS, msg=soa(rcode=dns.rcode.REFUSED)),
                  obs(*NS, msg=soa(rcode=dns.rcode.REFUSED), transport=Transport.TCP)]
    assert edns_findings(fresh_core + batch) == []
    # Without the batch's own EDNS0 answer the same data would read as an EDNS0 failure.
    assert edns_findings(fresh_core + batch[:-1]) != []
