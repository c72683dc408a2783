"""`ccmon precheck`: input refused before any query, and each PRE rule on both sides of its
boundary, judged over hand-made observations (no server: tests/integration has the lab)."""

from __future__ import annotations

import dns.flags
import dns.rcode
import pytest

import monitor.precheck
from monitor.cli import main
from monitor.precheck_report import Verdict, exit_code, judge
from probes import labels
from probes.checks import CHECKS
from probes.checks.precheck import (
    PRECHECKS,
    REASONS,
    PrecheckEvidence,
    SourceReply,
    address_range,
    hostname_problem,
    judge_precheck,
    origin_as,
)
from probes.evidence import Evidence
from probes.model import FailureKind, Observation, Transport
from probes.precheck.probe import PrecheckRun, delegation_of
from probes.precheck.proposal import Proposal, ProposalError, build, load_file, parse_ds
from probes.precheck.referral import LIMIT, all_glue, long_qname, measure, minimal_glue
from probes.settings import ProbeSettings
from tests.unit.builders import healthy, obs, reply
from tests.unit.builders_extra import answer, ds_for, signed_server

ZONE = "fr."
SHA256 = "ab" * 32


def proposal(*ns: str, ds: tuple[str, ...] = ()) -> Proposal:
    return build("fr", list(ns), list(ds))


def pre(prop: Proposal, observations: list[Observation] = (), **kw: object) -> PrecheckEvidence:
    resolved = kw.pop("resolved", {})
    settings = kw.pop("settings", ProbeSettings())
    delegation = delegation_of(prop, resolved)  # type: ignore[arg-type]
    evidence = Evidence(prop.zone, delegation, tuple(observations), settings)  # type: ignore[arg-type]
    minimal = measure(prop, minimal_glue(prop))
    full = measure(prop, all_glue(prop))
    return PrecheckEvidence(prop, evidence, resolved=resolved, referral_minimal=minimal,  # type: ignore[arg-type]
                            referral_full=full, **kw)  # type: ignore[arg-type]


def found(p: PrecheckEvidence, check: str | None = None) -> list[tuple[str, str, str, str]]:
    """(check, severity, reason, address) of every finding (of one check)."""
    return [(f.check, f.severity.name, f.reason, f.address) for f in judge_precheck(p)
            if check is None or f.check == check]


def two_healthy() -> tuple[Proposal, list[Observation]]:
    prop = proposal("ns1.nic.fr=193.0.14.1", "ns2.nic.fr=194.0.2.1")
    return prop, healthy("ns1.nic.fr.", "193.0.14.1") + healthy("ns2.nic.fr.", "194.0.2.1")


# --- the registry -----------------------------------------------------------------------------

def test_every_precheck_is_in_the_one_registry_and_silent_for_a_sweep():
    assert set(PRECHECKS) == {f"PRE{n:02d}" for n in range(1, 14)} == set(REASONS)
    prop, observations = two_healthy()
    evidence = pre(prop, observations).evidence
    for check_id in PRECHECKS:
        assert list(CHECKS[check_id].judge(evidence)) == []  # `ccmon check` never reports them


def test_a_healthy_proposal_has_no_finding():
    prop, observations = two_healthy()
    assert found(pre(prop, observations)) == []


# --- bad input: exit 3, the argument named, nothing sent --------------------------------------

@pytest.mark.parametrize(("argv", "named"), [
    (["--ns", "ns1..nic.fr=192.0.2.1"], "ns1..nic.fr"),
    (["--ns", "a" * 64 + ".nic.fr"], "a" * 64),
    (["--ns", "ns 1.nic.fr"], "ns 1.nic.fr"),
    (["--ns", "ns1.nic.fr=192.0.2.300"], "192.0.2.300"),
    (["--ns", "ns1.nic.fr=ns2.nic.fr"], "ns2.nic.fr"),
    (["--ns", "ns1.nic.fr="], "ns1.nic.fr="),
    (["--ns", "ns1.nic.fr", "--ds", f"1 13 3 {SHA256}"], "unknown digest type '3'"),
    (["--ns", "ns1.nic.fr", "--ds", f"1 13 9 {SHA256}"], "unknown digest type '9'"),
    (["--ns", "ns1.nic.fr", "--ds", "1 13 2 abcd"], "a SHA-256 digest has 32 octets, this one 2"),
    (["--ns", "ns1.nic.fr", "--ds", f"1 13 1 {SHA256}"], "a SHA-1 digest has 20 octets"),
    (["--ns", "ns1.nic.fr", "--ds", f"1 13 2 {'zz' * 32}"], "not hexadecimal"),
    (["--ns", "ns1.nic.fr", "--ds", "1 13 2"], "needs KEYTAG ALGORITHM DIGESTTYPE DIGEST"),
    (["--ns", "ns1.nic.fr", "--ds", f"70000 13 2 {SHA256}"], "key tag '70000'"),
    ([], "--ns: no name server proposed"),
])
def test_bad_input_is_refused_before_any_query(argv, named, monkeypatch, capsys):
    sent = []
    monkeypatch.setattr(monitor.precheck, "probe_proposal",
                        lambda *a, **k: sent.append(a))  # would send the queries
    assert main(["precheck", "fr", *argv]) == 3
    err = capsys.readouterr().err
    assert named in err, err
    assert err.startswith("ccmon precheck: ")
    assert sent == []


def test_the_file_and_the_command_line_make_one_proposal(tmp_path):
    path = tmp_path / "proposal.yaml"
    path.write_text("zone: FR\nns:\n  - ns1.nic.fr=192.0.2.1\n  - ns2.nic.fr: [2001:db8::2]\n"
                    f"ds: ['1 13 2 {SHA256}']\n")
    prop = build(None, ["ns3.example.net", "ns1.nic.fr=192.0.2.9"], [], load_file(str(path)))
    assert prop.zone == ZONE
    assert [(s.name, s.glue) for s in prop.nameservers] == [
        ("ns1.nic.fr.", ("192.0.2.1", "192.0.2.9")), ("ns2.nic.fr.", ("2001:db8::2",)),
        ("ns3.example.net.", ())]
    assert [d.key_tag for d in prop.ds] == [1]
    path.write_text("zone: fr\nnameservers: []\n")
    with pytest.raises(ProposalError, match="unknown key"):
        load_file(str(path))


def test_ds_is_parsed_as_typed():
    ds = parse_ds(f"47769 15 2 {SHA256.upper()}")
    assert (ds.key_tag, ds.algorithm, ds.digest_type, ds.digest) == (47769, 15, 2,
                                                                    bytes.fromhex(SHA256))


# --- PRE01 / PRE02 ----------------------------------------------------------------------------

@pytest.mark.parametrize(("count", "expected"), [
    (1, [("PRE01", "ERROR", "too-few", "")]), (2, []), (13, []),
    (14, [("PRE01", "ERROR", "too-many", "")])])
def test_two_to_thirteen_name_servers(count, expected):
    prop = proposal(*(f"ns{i}.nic.fr=193.0.{i}.1" for i in range(1, count + 1)))
    assert found(pre(prop), "PRE01") == expected


def test_two_names_on_one_address_are_one_server():
    prop = proposal("ns1.nic.fr=193.0.14.1", "ns2.nic.fr=193.0.14.1")
    assert found(pre(prop), "PRE01") == [("PRE01", "ERROR", "one-address", "193.0.14.1")]


@pytest.mark.parametrize(("name", "valid"), [
    ("ns1.nic.fr.", True), ("1.nic.fr.", True), ("xn--80ak6aa92e.fr.", True),
    ("ns_1.nic.fr.", False), ("-ns.nic.fr.", False), ("ns-.nic.fr.", False),
    ("ns1.nic.123.", False), ("localhost.", False)])
def test_host_name_syntax(name, valid):
    assert (hostname_problem(name) is None) is valid


# --- PRE03 / PRE04 ----------------------------------------------------------------------------

def test_refused_and_silent_addresses_fail_per_transport():
    prop = proposal("ns1.nic.fr=193.0.14.1", "ns2.nic.fr=194.0.2.1")
    refused = reply(rcode=dns.rcode.REFUSED, aa=False)
    observations = healthy("ns1.nic.fr.", "193.0.14.1") + [
        obs("ns2.nic.fr.", "194.0.2.1", msg=refused),
        obs("ns2.nic.fr.", "194.0.2.1", transport=Transport.TCP, failure=FailureKind.TIMEOUT)]
    assert found(pre(prop, observations), "PRE03") == [
        ("PRE03", "ERROR", "refused", "194.0.2.1"), ("PRE03", "ERROR", "no-reply", "194.0.2.1")]


def test_a_local_error_is_unmeasured_not_failing():
    prop = proposal("ns1.nic.fr=193.0.14.1", "ns2.nic.fr=2001:678:c::1")
    local = Observation("ns2.nic.fr.", "2001:678:c::1", Transport.UDP,
                        obs().question, 0.0, failure=FailureKind.NETWORK_ERROR,
                        detail="Network is unreachable")
    observations = healthy("ns1.nic.fr.", "193.0.14.1") + [local]
    assert found(pre(prop, observations), "PRE03") == []


def test_reply_from_another_address_is_pre04_not_pre03():
    prop, observations = two_healthy()
    observations = [o for o in observations
                    if not (o.address == "194.0.2.1" and o.transport is Transport.UDP)]
    observations.append(obs("ns2.nic.fr.", "194.0.2.1", failure=FailureKind.TIMEOUT))
    sources = {("ns1.nic.fr.", "193.0.14.1"): SourceReply("193.0.14.1", 53),
               ("ns2.nic.fr.", "194.0.2.1"): SourceReply("194.0.2.99", 53)}
    assert found(pre(prop, observations, sources=sources)) == [
        ("PRE04", "ERROR", "different-source", "194.0.2.1")]
    # without the unconnected socket's evidence the silence is PRE03's
    assert found(pre(prop, observations)) == [("PRE03", "ERROR", "no-reply", "194.0.2.1")]


# --- PRE05 / PRE06 / PRE07 --------------------------------------------------------------------

def ns_obs(nameserver: str, address: str, *names: str) -> Observation:
    msg = reply(ZONE, "NS", answer=[f"{ZONE} 3600 IN NS {n}" for n in names])
    return obs(nameserver, address, rdtype="NS", msg=msg)


def test_apex_ns_set_must_equal_the_proposal():
    prop, observations = two_healthy()
    observations += [ns_obs("ns1.nic.fr.", "193.0.14.1", "ns1.nic.fr.", "ns2.nic.fr."),
                     ns_obs("ns2.nic.fr.", "194.0.2.1", "ns1.nic.fr.", "ns3.nic.fr.")]
    findings = [f for f in judge_precheck(pre(prop, observations)) if f.check == "PRE05"]
    assert [(f.address, f.args["only_zone"], f.args["only_proposal"]) for f in findings] == [
        ("194.0.2.1", ["ns3.nic.fr."], ["ns2.nic.fr."])]


def test_serials_must_agree():
    prop = proposal("ns1.nic.fr=193.0.14.1", "ns2.nic.fr=194.0.2.1")
    observations = healthy("ns1.nic.fr.", "193.0.14.1", 2026113002) + healthy(
        "ns2.nic.fr.", "194.0.2.1", 2026113001)
    assert found(pre(prop, observations), "PRE06") == [
        ("PRE06", "ERROR", "serial-differs", "194.0.2.1")]


def glue_obs(address: str, name: str, rdtype: str, *values: str) -> Observation:
    msg = reply(name, rdtype, answer=[f"{name} 3600 IN {rdtype} {v}" for v in values])
    return obs("ns1.nic.fr.", address, rdtype=rdtype, qname=name, msg=msg)


def test_glue_equals_the_authoritative_addresses():
    prop, observations = two_healthy()
    same = observations + [glue_obs("193.0.14.1", "ns1.nic.fr.", "A", "193.0.14.1"),
                           glue_obs("193.0.14.1", "ns2.nic.fr.", "A", "194.0.2.1")]
    assert found(pre(prop, same), "PRE07") == []
    other = observations + [glue_obs("193.0.14.1", "ns1.nic.fr.", "A", "193.0.14.1"),
                            glue_obs("193.0.14.1", "ns2.nic.fr.", "A", "194.0.2.1",
                                     "194.0.2.2")]
    assert found(pre(prop, other), "PRE07") == [("PRE07", "ERROR", "glue-differs", "194.0.2.2")]


def test_names_without_glue_or_address():
    prop = proposal("ns1.nic.fr=193.0.14.1", "ns2.nic.fr", "ns.example.net")
    findings = [(f.reason, f.nameserver) for f in judge_precheck(
        pre(prop, healthy("ns1.nic.fr.", "193.0.14.1"))) if f.check == "PRE07"]
    assert findings == [("missing-glue", "ns2.nic.fr."), ("unresolvable", "ns.example.net.")]
    resolved = pre(prop, healthy("ns1.nic.fr.", "193.0.14.1"),
                   resolved={"ns.example.net.": ("195.0.2.1",)})
    assert [f.reason for f in judge_precheck(resolved) if f.check == "PRE07"] == ["missing-glue"]


# --- PRE08: 512 octets ------------------------------------------------------------------------

def test_referral_size_is_the_wire_size_of_the_message():
    ns = [f"{c}.gtld-servers.net=192.5.6.{i},2001:503::{i}" for i, c in enumerate("abcdefghijklm")]
    size = measure(build("com", ns, []), minimal_glue(build("com", ns, []))).size
    # header 12, question 255 + 4, first NS 2+10+20, 12 NS 2+10+4 (pointers), A 2+10+4,
    # AAAA 2+10+16
    assert size == 12 + 259 + 32 + 12 * 16 + 16 + 28 == 539
    assert len(long_qname("com.").to_wire()) == 255


def sized(chars: int) -> Proposal:
    """Three NS names; the last one's labels (50 characters each, the last one shorter)
    grow the referral by one octet per character, except where a new label begins."""
    labels = [("x" * 50)] * (chars // 50) + (["x" * (chars % 50)] if chars % 50 else [])
    return proposal("a.nic.fr=193.0.14.1,2001:678:c::1", "b.nic.fr=194.0.2.1",
                    f"{'.'.join(labels)}.nic.fr=195.0.2.1")


def size_of(chars: int) -> int:
    prop = sized(chars)
    return measure(prop, minimal_glue(prop)).size


def test_512_octets_fit_513_do_not():
    chars = next(n for n in range(1, 240) if size_of(n) == LIMIT and size_of(n + 1) == LIMIT + 1)
    at_limit, over = sized(chars), sized(chars + 1)
    assert found(pre(at_limit), "PRE08") == [
        ("PRE08", "WARNING", "glue-truncated", "195.0.2.1")]  # 468 + 3 A: 516
    findings = [f for f in judge_precheck(pre(over)) if f.check == "PRE08"]
    assert [(f.severity.name, f.reason, f.nameserver, f.address, f.args["size"])
            for f in findings] == [
        ("ERROR", "referral-too-large", "a.nic.fr.", "2001:678:c::1", 513)]


def test_small_referral_with_all_glue_is_clean():
    prop, _ = two_healthy()
    assert found(pre(prop), "PRE08") == []


# --- PRE09 / PRE10 / PRE11 --------------------------------------------------------------------

def test_open_recursion():
    prop, observations = two_healthy()
    recursive = answer(".", "SOA", aa=False, ra=True)
    recursive.answer.append(reply(".", "SOA", answer=[
        ". 3600 IN SOA a.root-servers.net. nstld.verisign-grs.com. 1 1800 900 604800 86400"
    ]).answer[0])
    refused = answer(".", "SOA", aa=False, rcode=dns.rcode.REFUSED)
    observations += [
        obs("ns1.nic.fr.", "193.0.14.1", variant=labels.RECURSION, qname=".", msg=refused),
        obs("ns2.nic.fr.", "194.0.2.1", variant=labels.RECURSION, qname=".", msg=recursive)]
    assert recursive.flags & dns.flags.RA
    assert found(pre(prop, observations), "PRE09") == [
        ("PRE09", "ERROR", "open-resolver", "194.0.2.1")]


@pytest.mark.parametrize(("address", "kind"), [
    ("193.0.14.129", None), ("2001:7fd::1", None), ("10.1.2.3", "private"),
    ("127.0.0.1", "loopback"), ("::1", "loopback"), ("fd00::53", "private"),
    ("192.0.2.1", "documentation"), ("2001:db8::1", "documentation"),
    ("224.0.0.53", "multicast"), ("ff02::1", "multicast"), ("169.254.1.1", "link-local"),
    ("100.64.0.1", "shared"), ("0.0.0.0", "unspecified"), ("240.0.0.1", "reserved")])
def test_prohibited_ranges(address, kind):
    assert address_range(address) == kind


def test_allow_private_accepts_only_private_and_loopback():
    prop = proposal("ns1.nic.fr=127.0.0.53", "ns2.nic.fr=10.0.0.53", "ns3.nic.fr=192.0.2.53")
    assert [r for _c, _s, r, _a in found(pre(prop), "PRE10")] == [
        "loopback", "private", "documentation"]
    assert found(pre(prop, allow_private=True), "PRE10") == [
        ("PRE10", "ERROR", "documentation", "192.0.2.53")]


@pytest.mark.parametrize(("addresses", "reason"), [
    (("193.0.14.1", "193.0.14.254"), "one-ipv4-prefix"),
    (("193.0.14.255", "193.0.15.0"), None),
    (("2001:678:c::1", "2001:678:c:ffff::1"), "one-ipv6-prefix"),
    (("2001:678:c::1", "2001:678:d::1"), None)])
def test_one_prefix_boundary(addresses, reason):
    prop = proposal(*(f"ns{i}.nic.fr={a}" for i, a in enumerate(addresses, 1)))
    assert [r for _c, _s, r, _a in found(pre(prop), "PRE11")] == ([reason] if reason else [])


def test_asn_table():
    table = {"193.0.0.0/16": 25152, "193.0.14.0/24": 64500, "194.0.0.0/16": 25152}
    assert origin_as("193.0.14.9", table) == 64500  # the longest prefix wins
    prop = proposal("ns1.nic.fr=193.0.1.1", "ns2.nic.fr=194.0.2.1")
    assert found(pre(prop, asn_table=table), "PRE11") == [("PRE11", "ERROR", "one-asn", "")]
    apart = proposal("ns1.nic.fr=193.0.14.1", "ns2.nic.fr=194.0.2.1")
    assert found(pre(apart, asn_table=table), "PRE11") == []


# --- PRE12 / PRE13 ----------------------------------------------------------------------------

def signed(ds: str, **server: object) -> list[tuple[str, str, str, str]]:
    prop = proposal("ns1.nic.fr=193.0.14.1", "ns2.nic.fr=194.0.2.1", ds=(ds,))
    observations = (healthy("ns1.nic.fr.", "193.0.14.1") + healthy("ns2.nic.fr.", "194.0.2.1")
                    + signed_server("ns1.nic.fr.", "193.0.14.1", **server)  # type: ignore[arg-type]
                    + signed_server("ns2.nic.fr.", "194.0.2.1", **server))  # type: ignore[arg-type]
    return [x for x in found(pre(prop, observations, current_ds=(ds_for("ksk"),)))
            if x[0] in ("PRE12", "PRE13")]


def test_ds_matching_the_signing_ksk_passes():
    assert signed(ds_for("ksk").to_text()) == []


def test_ds_matching_no_key_is_blocking():
    assert signed(ds_for("other-ksk").to_text()) == [
        ("PRE12", "ERROR", "no-matching-dnskey", "")]


def test_ds_of_a_published_key_that_does_not_sign_breaks_the_chain():
    # a standby KSK: published, but the DNSKEY RRset is signed by the current KSK only
    found_ = signed(ds_for("standby-ksk").to_text(), keys=("ksk", "standby-ksk", "zsk"))
    assert found_ == [("PRE13", "ERROR", "breaks-chain", "193.0.14.1"),
                      ("PRE13", "ERROR", "breaks-chain", "194.0.2.1")]


def test_sha1_digest_and_forbidden_algorithm():
    sha1 = ds_for("ksk", digest="SHA1").to_text()
    assert signed(sha1) == [("PRE12", "WARNING", "sha1-digest", "")]
    rsamd5 = f"1 1 2 {SHA256}"
    assert ("PRE12", "ERROR", "algorithm-not-allowed", "") in signed(rsamd5)


# --- the verdict ------------------------------------------------------------------------------

def run_of(p: PrecheckEvidence) -> PrecheckRun:
    return PrecheckRun(p, queries=0, failures={}, duration=0.1)


def test_verdict_yes_no_unknown():
    prop, observations = two_healthy()
    report, verdict = judge(run_of(pre(prop, observations)))
    assert verdict.line() == "would pass IANA's technical checks: yes (0 blocking)"
    assert exit_code(report, verdict) == 0
    lone = proposal("ns1.nic.fr=193.0.14.1")
    report, verdict = judge(run_of(pre(lone, healthy("ns1.nic.fr.", "193.0.14.1"))))
    assert verdict.line() == ("would pass IANA's technical checks: no (1 blocking: PRE01 1 "
                              "name server proposed; at least 2 are required)")
    assert exit_code(report, verdict) == 2
    unmeasured = pre(prop, observations, unmeasured=frozenset({("ns2.nic.fr.", "194.0.2.1")}))
    report, verdict = judge(run_of(unmeasured))
    assert verdict.passes is None and exit_code(report, verdict) == 3
    assert "unknown (0 blocking; not measured from this host: ns2.nic.fr. 194.0.2.1)" in (
        verdict.line())


def test_allow_private_is_said_next_to_the_verdict():
    prop = proposal("ns1.nic.fr=127.0.0.53", "ns2.nic.fr=10.0.0.53")
    _report, verdict = judge(run_of(pre(prop, allow_private=True)))
    assert isinstance(verdict, Verdict)
    assert verdict.notes() == ["note: --allow-private accepted 2 private or loopback "
                               "address(es) (127.0.0.53, 10.0.0.53); IANA refuses them (PRE10)"]



def test_reason_vocabularies_are_bounded_and_named_in_the_rules():
    from probes.checks import pinned

    for check_id, words in {**REASONS, **pinned.REASONS}.items():
        assert len(words) == len(set(words)) <= 20
        for word in words:
            assert word in CHECKS[check_id].rule, (check_id, word)
