"""EDNS01 and NSID01: EDNS compliance per address (in the spirit of ISC's EDNS compliance
tester, genreport) and the server identity NSID reports.

Each address gets five outcomes, one per test; "ok" or a word from a closed vocabulary:

| test    | query                              | expected                                    |
| plain   | SOA without EDNS                   | NOERROR, no OPT record                      |
| edns0   | SOA, EDNS 0 (the core SOA query)   | NOERROR, OPT version 0, fits our buffer     |
| edns1   | SOA, EDNS version 1                | BADVERS, OPT version 0                      |
| option  | SOA, EDNS 0, unassigned option 100 | NOERROR, OPT, the option not echoed         |
| do      | SOA, EDNS 0, DO=1                  | NOERROR, OPT with the DO bit copied back    |
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import dns.edns
import dns.flags
import dns.rcode

from probes.checks.registry import Tag, register
from probes.evidence import Evidence, is_authoritative, per_evidence, rcode_of
from probes.labels import (
    SOA_DO,
    SOA_EDNS0,
    SOA_EDNS1,
    SOA_NSID,
    SOA_OPTION,
    SOA_PLAIN,
    UNKNOWN_OPTION_CODE,
    by_label,
)
from probes.model import FailureKind, Finding, Observation, Severity, Transport

TESTS: tuple[str, ...] = ("plain", "edns0", "edns1", "option", "do")

#: Outcome words (besides "ok"): the failure kinds, the rcodes, and the EDNS-specific ones.
OUTCOMES: tuple[str, ...] = (
    "timeout", "unreachable", "malformed", "oversized", "truncated",
    "formerr", "servfail", "nxdomain", "notimp", "refused", "badvers", "noerror", "other-rcode",
    "opt-in-reply", "no-opt", "wrong-version", "option-echoed", "no-do",
)  # fmt: skip

REASONS: dict[str, tuple[str, ...]] = {
    "EDNS01": OUTCOMES,
    "NSID01": ("unreachable", "malformed", "oversized", "truncated", "formerr",
               "servfail", "nxdomain", "notimp", "refused", "badvers", "other-rcode"),
}

_FAILURE_WORDS = {
    FailureKind.TIMEOUT: "timeout",
    FailureKind.UNREACHABLE: "unreachable",
    FailureKind.NETWORK_ERROR: "unreachable",
    FailureKind.MALFORMED: "malformed",
    FailureKind.MISMATCH: "malformed",
    FailureKind.OVERSIZED: "oversized",
    FailureKind.TRUNCATED: "truncated",
}
_RCODE_WORDS: dict[int, str] = {
    dns.rcode.NOERROR: "noerror",
    dns.rcode.FORMERR: "formerr",
    dns.rcode.SERVFAIL: "servfail",
    dns.rcode.NXDOMAIN: "nxdomain",
    dns.rcode.NOTIMP: "notimp",
    dns.rcode.REFUSED: "refused",
    dns.rcode.BADVERS: "badvers",
}

_TEST_WORDS = {
    "plain": "query without EDNS",
    "edns0": "EDNS0 query",
    "edns1": "query with EDNS version 1 (expects BADVERS)",
    "option": "EDNS query with an unknown option (expects it ignored)",
    "do": "EDNS query with DO=1 (expects the DO bit back)",
}
_OUTCOME_WORDS = {
    "opt-in-reply": "answered with an OPT record to a query without one",
    "no-opt": "answered without an OPT record",
    "wrong-version": "answered with an EDNS version other than 0",
    "option-echoed": "echoed the unknown option",
    "no-do": "did not copy the DO bit",
    "noerror": "answered NOERROR instead of BADVERS",
    "oversized": "sent a UDP reply larger than our EDNS buffer without TC",
}
# EDNS0 and DO failures break today's resolvers (no fallback since DNS flag day 2019;
# validators need DO): ERROR; the other tests break future extensions: WARNING.
_BREAKS_RESOLVERS = frozenset({"edns0", "do"})
_TAGS = {"plain": "PLAIN_QUERY_FAILED", "edns0": "EDNS0_FAILED", "edns1": "EDNS_VERSION_FAILED",
         "option": "EDNS_OPTION_FAILED", "do": "EDNS_DO_FAILED"}


def _rcode_word(rcode: int) -> str:
    return _RCODE_WORDS.get(rcode, "other-rcode")


def outcome(test: str, obs: Observation | None) -> str:
    """"ok", a word of OUTCOMES, or "" when the query was not sent."""
    if obs is None:
        return ""
    reply = obs.reply
    if reply is None:
        return _FAILURE_WORDS.get(obs.failure, "timeout") if obs.failure else "timeout"
    rcode = rcode_of(reply)
    if test == "plain":
        if rcode != dns.rcode.NOERROR:
            return _rcode_word(rcode)
        return "opt-in-reply" if reply.edns >= 0 else "ok"
    if test == "edns1":
        if rcode != dns.rcode.BADVERS:
            return _rcode_word(rcode)
    elif rcode != dns.rcode.NOERROR:
        return _rcode_word(rcode)
    if reply.edns < 0:
        return "no-opt"
    if reply.edns != 0:
        return "wrong-version"
    if test == "option" and any(o.otype == UNKNOWN_OPTION_CODE for o in reply.options):
        return "option-echoed"
    if test == "do" and not reply.ednsflags & dns.flags.DO:
        return "no-do"
    return "ok"


def _observations(evidence: Evidence) -> dict[str, Mapping[tuple[str, str], Observation]]:
    return {
        "plain": by_label(evidence, SOA_PLAIN),
        # The EDNS0 answer of the further queries' own moment; the core one if none was kept.
        "edns0": by_label(evidence, SOA_EDNS0) or evidence.soa(Transport.UDP),
        "edns1": by_label(evidence, SOA_EDNS1),
        "option": by_label(evidence, SOA_OPTION),
        "do": by_label(evidence, SOA_DO),
    }


def _judged(evidence: Evidence, key: tuple[str, str],
            observed: Mapping[str, Mapping[tuple[str, str], Observation]]) -> bool:
    """Only addresses that serve the zone, with or without EDNS, are judged for EDNS."""
    candidates = [observed["plain"].get(key), observed["edns0"].get(key),
                  evidence.soa(Transport.TCP).get(key)]
    return any(o is not None and is_authoritative(o, evidence.zone) for o in candidates)


@per_evidence
def edns_outcomes(evidence: Evidence) -> dict[tuple[str, str], dict[str, str]]:
    """Per judged address: test -> outcome, for the tests whose query was sent."""
    observed = _observations(evidence)
    if not observed["plain"]:
        return {}  # the further queries were not sent (EDNS01 disabled or not registered)
    out: dict[tuple[str, str], dict[str, str]] = {}
    for key in evidence.targets():
        if not _judged(evidence, key, observed):
            continue
        results = {test: outcome(test, observed[test].get(key)) for test in TESTS}
        out[key] = {test: result for test, result in _unmeasured_timeouts(results).items()
                    if result}
    return out


NO_ANSWER = "no-answer"  # a test whose query got no answer this round: unmeasured, no finding
_EDNS_TESTS = ("edns0", "edns1", "option", "do")
MIN_EDNS_TIMEOUTS = 3


def _unmeasured_timeouts(results: dict[str, str]) -> dict[str, str]:
    """A timeout shows a fault only as a pattern: every query with EDNS timed out while the
    one without EDNS was answered (the server drops EDNS). A lone timeout is a lost datagram
    on a lossy path (each UDP query had its retries): that test is unmeasured this round."""
    sent = [t for t in _EDNS_TESTS if results.get(t)]
    plain = results.get("plain", "")
    # At least three EDNS queries, each with its UDP retries: a 30 % lossy path loses them
    # all with a chance of 0.09^3, a server that drops EDNS every time.
    drops_edns = (len(sent) >= MIN_EDNS_TIMEOUTS and all(results[t] == "timeout" for t in sent)
                  and plain not in ("", "timeout"))
    if drops_edns:
        return results
    return {t: (NO_ANSWER if r == "timeout" else r) for t, r in results.items()}


@register(
    "EDNS01",
    "EDNS compliance",
    "Each address that serves the zone is asked five SOA queries: without EDNS (NOERROR, no "
    "OPT), EDNS0 (NOERROR, OPT version 0, reply within our buffer), EDNS version 1 (BADVERS "
    "with OPT version 0), EDNS0 with the unassigned option 100 (ignored, not echoed), and DO=1 "
    "(the DO bit copied back). One finding per address and distinct failed outcome (the "
    "tests that share it in args.tests; the tag names the first of them), the reason being "
    "the outcome: timeout, unreachable, malformed, oversized, truncated, "
    "an rcode (formerr, servfail, nxdomain, notimp, refused, badvers, noerror, other-rcode), "
    "opt-in-reply, no-opt, wrong-version, option-echoed, no-do. ERROR for the EDNS0 and DO "
    "tests (today's resolvers and validators depend on them; no-do is a WARNING), WARNING "
    "for the others. A finding needs an answer that shows the fault: a query that got no "
    "answer after its UDP retries is no-answer in the report's data and unmeasured (a lossy "
    "path is not a broken server), unless every query with EDNS timed out while the one "
    "without EDNS was answered (timeout: the server drops EDNS).",
    tags=tuple(Tag(tag, Severity.WARNING, {"breaks-resolvers": Severity.ERROR},
                   "the EDNS0 or DO test failed, other than no-do")
               for tag in _TAGS.values()),
    reasons=REASONS["EDNS01"],
)
def judge_edns(evidence: Evidence) -> Iterator[Finding]:
    """EDNS01: per address, one finding per failed outcome, naming the EDNS tests that led to it."""
    for (nameserver, address), results in edns_outcomes(evidence).items():
        failed: dict[str, list[str]] = {}  # outcome -> tests, in test order
        for test, result in results.items():
            if result not in ("ok", NO_ANSWER):
                failed.setdefault(result, []).append(test)
        for result, tests in failed.items():
            breaks = result != "no-do" and any(t in _BREAKS_RESOLVERS for t in tests)
            words = _OUTCOME_WORDS.get(result, result)
            what = "; ".join(_TEST_WORDS[t] for t in tests)
            yield judge_edns.finding(_TAGS[tests[0]], f"{nameserver} {address} {what}: {words}",
                                     grade="breaks-resolvers" if breaks else "",
                                     nameserver=nameserver, address=address, reason=result,
                                     args={"tests": tests})


# --- NSID01 ---------------------------------------------------------------------------------

MAX_NSID_LENGTH = 128  # characters kept: an identity, not a payload


def nsid_text(obs: Observation | None) -> str | None:
    """The NSID a reply carried, as text (printable ASCII as is, else hex); None: none."""
    if obs is None or obs.reply is None:
        return None
    for option in obs.reply.options:
        if option.otype == dns.edns.OptionType.NSID:
            raw = option.to_wire() or b""
            text = raw.decode("ascii") if raw.isascii() and raw.decode().isprintable() else None
            return (text if text is not None else raw.hex())[:MAX_NSID_LENGTH]
    return None


@per_evidence
def nsids(evidence: Evidence) -> dict[tuple[str, str], str]:
    """Per address whose NSID query was answered with an NSID: the identity."""
    out = {}
    for key, obs in by_label(evidence, SOA_NSID).items():
        text = nsid_text(obs)
        if text is not None:
            out[key] = text
    return out


@register(
    "NSID01",
    "NSID query answered",
    "Each address that serves the zone is asked SOA with the NSID option (RFC 5001). The "
    "identity it returns (which anycast instance answered) is data, kept per address in the "
    "report and the info metric, never a finding or a label of other metrics; returning none "
    "is fine. A server that fails the query while it answers the same query without the "
    "option (the EDNS0 test of EDNS01) is NOTICE, the reason being the outcome: "
    "unreachable, malformed, oversized, truncated, or the rcode (formerr, servfail, nxdomain, "
    "notimp, refused, badvers, other-rcode). No answer at all (timeout) is unmeasured.",
    tags=(Tag("NSID_QUERY_FAILED", Severity.NOTICE),),
    reasons=REASONS["NSID01"],
)
def judge_nsid(evidence: Evidence) -> Iterator[Finding]:
    """NSID01: the query with the NSID option fails where plain EDNS works."""
    observed = _observations(evidence)
    for key, obs in by_label(evidence, SOA_NSID).items():
        if key not in evidence.targets() or not _judged(evidence, key, observed):
            continue
        result = outcome("edns0", obs)
        if result in ("ok", "no-opt", "wrong-version"):
            continue  # answered; NSID present or not, nothing to say
        if result == "timeout":
            continue  # no answer after the retries: unmeasured this round (a lossy path)
        if outcome("edns0", observed["edns0"].get(key)) != "ok":
            continue  # EDNS itself fails there: EDNS01 says it, not the NSID option
        nameserver, address = key
        yield judge_nsid.finding(
            "NSID_QUERY_FAILED",
            f"{nameserver} {address} query with the NSID option: {result}",
            nameserver=nameserver, address=address, reason=result)
