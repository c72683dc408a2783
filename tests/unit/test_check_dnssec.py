"""DNSSEC01-04 over hand-made signed answers (keys made in the test) and the real root zone."""

import dataclasses
from pathlib import Path

import dns.dnssec
import dns.name
import dns.rdataclass
import dns.rdatatype
import dns.zone
import pytest
from dns.rdtypes.ANY.DNSKEY import DNSKEY
from dns.rdtypes.ANY.DS import DS

from probes import labels
from probes.checks import judge
from probes.checks.dnssec import (
    DAY,
    expiries,
    rsa_bits,
    signature_status,
)
from probes.model import DnssecState, FailureKind, Severity
from probes.summarise import dnssec_state as summarised_state
from tests.unit.builders import evidence, healthy
from tests.unit.builders_extra import (
    NOW,
    answer,
    dnskey_rrset,
    ds_for,
    ds_reply,
    extra,
    fake_rrsig,
    key_pair,
    parent,
    rrsig_rrset,
    sign,
    signed_server,
    soa_rrset,
)

NS1 = ("ns1.nic.fr.", "192.0.2.1")
NS2 = ("ns2.nic.fr.", "192.0.2.2")
SERVERS = {NS1[0]: [NS1[1]], NS2[0]: [NS2[1]]}


def world(*observations, ds=None, ds_missing=False):
    """Two healthy servers plus the given further observations and the parent's DS answer."""
    obs = healthy(*NS1) + healthy(*NS2) + list(observations)
    if not ds_missing:
        obs.append(parent(ds_reply(*(ds if ds is not None else [ds_for("ksk")]))))
    return evidence(obs, SERVERS)


def findings(ev, check):
    return [(f.severity, f.tag, f.reason, f.address) for f in judge(ev) if f.check == check]


def dnssec_findings(ev):
    return [f for f in judge(ev) if f.check.startswith("DNSSEC")]


def dnssec_state(ev) -> DnssecState:
    """The zone's state as the summarise stage takes it from the judged findings."""
    return summarised_state(ev, judge(ev))


def test_healthy_signed_zone_is_clean_and_secure():
    ev = world(*signed_server(*NS1), *signed_server(*NS2))
    assert dnssec_findings(ev) == []
    assert dnssec_state(ev) == "secure"


def test_unsigned_zone_gives_no_dnssec_findings():
    unsigned = [extra(labels.DNSKEY_DO, *NS1, msg=answer("fr.", "DNSKEY", do=True)),
                extra(labels.SOA_DO, *NS1, msg=answer("fr.", "SOA", soa_rrset(), do=True))]
    ev = world(*unsigned, ds=[])
    assert dnssec_findings(ev) == []
    assert dnssec_state(ev) == "unsigned"


# --- DNSSEC01 ------------------------------------------------------------------------------

def test_ds_matching_no_key_anywhere_is_critical_for_the_zone():
    ev = world(*signed_server(*NS1), *signed_server(*NS2), ds=[ds_for("other-ksk")])
    assert findings(ev, "DNSSEC01") == [(Severity.CRITICAL, "DS_MISMATCH", "ds-mismatch", "")]
    assert dnssec_state(ev) == "bogus"


def test_one_address_with_other_keys_is_named():
    odd = signed_server(*NS2, keys=("ksk-b", "zsk"), dnskey_signers=("ksk-b",))
    ev = world(*signed_server(*NS1), *odd)
    assert findings(ev, "DNSSEC01") == [
        (Severity.ERROR, "DS_MISMATCH", "ds-mismatch", "192.0.2.2")]


def test_digest_is_recomputed_not_just_key_tag_compared():
    good = ds_for("ksk")
    forged = DS(dns.rdataclass.IN, dns.rdatatype.DS, good.key_tag, good.algorithm,
                good.digest_type, bytes(32))
    ev = world(*signed_server(*NS1), *signed_server(*NS2), ds=[forged])
    assert [r[2] for r in findings(ev, "DNSSEC01")] == ["ds-mismatch"]


@pytest.mark.parametrize("digest", ["SHA1", "SHA256", "SHA384"])
def test_every_supported_digest_type_matches(digest):
    ev = world(*signed_server(*NS1), *signed_server(*NS2), ds=[ds_for("ksk", digest)])
    assert findings(ev, "DNSSEC01") == []


def test_ds_without_any_dnskey_is_critical():
    no_keys = [extra(labels.DNSKEY_DO, *ns, msg=answer("fr.", "DNSKEY", do=True))
               for ns in (NS1, NS2)]
    ev = world(*no_keys)
    assert findings(ev, "DNSSEC01") == [(Severity.CRITICAL, "DS_WITHOUT_DNSKEY", "no-dnskey", "")]


def test_ds_key_that_does_not_sign_the_dnskey_set():
    zsk_only = signed_server(*NS2, dnskey_signers=("zsk",))
    ev = world(*signed_server(*NS1), *zsk_only)
    assert findings(ev, "DNSSEC01") == [
        (Severity.ERROR, "DS_KEY_NOT_SIGNING", "no-signature-by-ds-key", "192.0.2.2")]


def test_signed_zone_without_ds_is_an_island():
    ev = world(*signed_server(*NS1), *signed_server(*NS2), ds=[])
    assert findings(ev, "DNSSEC01") == [(Severity.NOTICE, "SIGNED_WITHOUT_DS", "no-ds", "")]
    assert dnssec_state(ev) == "island"


def test_silent_parent_leaves_the_chain_unchecked():
    ev = world(*signed_server(*NS1), *signed_server(*NS2), ds_missing=True)
    ev = evidence([*ev.observations, parent(None)], SERVERS)
    assert findings(ev, "DNSSEC01") == [
        (Severity.NOTICE, "PARENT_DS_UNKNOWN", "no-parent-answer", "")]
    assert dnssec_state(ev) == "unknown"


def test_second_parent_answer_is_used_when_the_first_timed_out():
    ev = world(*signed_server(*NS1), *signed_server(*NS2), ds_missing=True)
    ev = evidence([*ev.observations, parent(None),
                   parent(ds_reply(ds_for("ksk")), address="198.51.100.2")], SERVERS)
    assert findings(ev, "DNSSEC01") == []


def test_unsupported_digest_type_is_a_notice():
    good = ds_for("ksk")
    gost = DS(dns.rdataclass.IN, dns.rdatatype.DS, good.key_tag, good.algorithm, 3, bytes(32))
    ev = world(*signed_server(*NS1), *signed_server(*NS2), ds=[gost])
    assert findings(ev, "DNSSEC01") == [
        (Severity.NOTICE, "DS_DIGEST_UNSUPPORTED", "unsupported-digest", "")]


# --- DNSSEC02 ------------------------------------------------------------------------------

def test_stale_server_with_expired_signatures_is_named_by_address():
    stale = signed_server(*NS2, inception=NOW - 30 * DAY, expiration=NOW - 60)
    ev = world(*signed_server(*NS1), *stale)
    found = [f for f in judge(ev) if f.check == "DNSSEC02"]
    assert [(f.address, f.reason, f.args["rrset"]) for f in found] == [
        ("192.0.2.2", "expired", "DNSKEY"), ("192.0.2.2", "expired", "SOA")]
    assert all(f.nameserver == "ns2.nic.fr." and f.severity is Severity.ERROR for f in found)
    assert "expired" in found[0].message and "UTC" in found[0].message
    assert dnssec_state(ev) == "bogus"


def test_state_comes_from_the_findings_at_their_default_severity():
    """The summarise stage reads DNSSEC02's findings: a re-levelled tag changes the mail's
    severity, not the zone's state; a disabled DNSSEC02 leaves a zone with DS unknown."""
    stale = signed_server(*NS2, inception=NOW - 30 * DAY, expiration=NOW - 60)
    ev = world(*signed_server(*NS1), *stale)
    quiet = dataclasses.replace(ev.settings, severity_overrides=(
        ("DNSSEC02", "RRSIG_INVALID", Severity.NOTICE),))
    ev = dataclasses.replace(ev, settings=quiet)
    assert {f.severity for f in judge(ev) if f.check == "DNSSEC02"} == {Severity.NOTICE}
    assert dnssec_state(ev) == "bogus"
    off = dataclasses.replace(ev.settings, disabled_checks=frozenset({"DNSSEC02"}))
    assert dnssec_state(dataclasses.replace(ev, settings=off)) == "unknown"
    healthy_zone = world(*signed_server(*NS1), *signed_server(*NS2))
    assert dnssec_state(healthy_zone) == "secure"  # the other side: nothing broken


@pytest.mark.parametrize(("expiration", "status"), [(NOW, "valid"), (NOW - 1, "expired")])
def test_expiration_boundary(expiration, status):
    soa = soa_rrset()
    sigs = sign(soa, "zsk", expiration=expiration)
    assert signature_status(soa, sigs, [key_pair("zsk")[1]], NOW) == status


@pytest.mark.parametrize(("inception", "status"), [(NOW, "valid"), (NOW + 1, "not-yet-valid")])
def test_inception_boundary(inception, status):
    soa = soa_rrset()
    sigs = sign(soa, "zsk", inception=inception)
    assert signature_status(soa, sigs, [key_pair("zsk")[1]], NOW) == status


def test_signature_over_other_data_does_not_verify():
    sigs = sign(soa_rrset(1), "zsk")
    assert signature_status(soa_rrset(2), sigs, [key_pair("zsk")[1]], NOW) == "bad-signature"


def test_signature_by_a_key_outside_the_set():
    soa = soa_rrset()
    assert signature_status(soa, sign(soa, "zsk-x"), [key_pair("zsk")[1]], NOW) == "unknown-key"


def test_one_good_signature_among_bad_ones_is_enough():
    soa = soa_rrset()
    sigs = sign(soa, "zsk", expiration=NOW - 5)
    for sig in sign(soa, "zsk-2"):
        sigs.add(sig)
    keys = [key_pair("zsk")[1], key_pair("zsk-2")[1]]
    assert signature_status(soa, sigs, keys, NOW) == "valid"


def test_ecdsa_and_rsa_signatures_validate():
    for name, algorithm in (("zsk-ec", "ECDSAP256SHA256"), ("zsk-rsa", "RSASHA256")):
        private, dnskey = key_pair(name, algorithm)
        soa = soa_rrset()
        sig = dns.dnssec.sign(soa, private, dns.name.from_text("fr."), dnskey,
                              inception=int(NOW - DAY), expiration=int(NOW + DAY))
        assert signature_status(soa, rrsig_rrset("SOA", sig), [dnskey], NOW) == "valid"


def test_unsigned_soa_on_a_signed_zone():
    bare = [signed_server(*NS2)[0],
            extra(labels.SOA_DO, *NS2, msg=answer("fr.", "SOA", soa_rrset(), do=True))]
    ev = world(*signed_server(*NS1), *bare)
    assert findings(ev, "DNSSEC02") == [
        (Severity.ERROR, "RRSIG_INVALID", "no-signature", "192.0.2.2")]


def test_address_without_dnskey_on_a_signed_zone():
    missing = [extra(labels.DNSKEY_DO, *NS2, msg=answer("fr.", "DNSKEY", do=True)),
               signed_server(*NS2)[1]]
    ev = world(*signed_server(*NS1), *missing)
    assert findings(ev, "DNSSEC02") == [
        (Severity.ERROR, "DNSKEY_MISSING", "no-dnskey", "192.0.2.2")]


def test_refused_and_silent_addresses_are_left_to_lame_and_reach():
    refused = [extra(labels.DNSKEY_DO, *NS2, msg=answer("fr.", "DNSKEY", rcode=5, do=True)),
               extra(labels.SOA_DO, *NS2, failure=FailureKind.TIMEOUT)]
    ev = world(*signed_server(*NS1), *refused)
    assert dnssec_findings(ev) == []


# --- DNSSEC03 ------------------------------------------------------------------------------

def expiring(remaining, *, validity=None, sent_at=NOW):
    expiration = sent_at + remaining
    inception = expiration - (validity if validity is not None else 14 * DAY)
    sig = fake_rrsig("SOA", inception=inception, expiration=expiration)
    msg = answer("fr.", "SOA", soa_rrset(), rrsig_rrset("SOA", sig), do=True)
    return evidence(healthy(*NS1) + [extra(labels.SOA_DO, *NS1, msg=msg, sent_at=sent_at)])


@pytest.mark.parametrize(("remaining", "expected"), [
    (2.5 * DAY, []),
    (2.5 * DAY - 1, [(Severity.WARNING, "SIGNATURES_EXPIRING", "expiring", "192.0.2.1")]),
    (1 * DAY, [(Severity.WARNING, "SIGNATURES_EXPIRING", "expiring", "192.0.2.1")]),
    (1 * DAY - 1, [(Severity.CRITICAL, "SIGNATURES_EXPIRING", "expiring", "192.0.2.1")]),
    (0, [(Severity.CRITICAL, "SIGNATURES_EXPIRING", "expiring", "192.0.2.1")]),
    (-1, [(Severity.CRITICAL, "SIGNATURES_EXPIRED", "expired", "192.0.2.1")]),
])
def test_expiry_thresholds(remaining, expected):
    assert findings(expiring(remaining), "DNSSEC03") == expected


@pytest.mark.parametrize(("validity", "expected"), [
    (180 * DAY, []),
    (180 * DAY + 1, [(Severity.WARNING, "SIGNATURE_VALIDITY_TOO_LONG", "long-validity",
                      "192.0.2.1")]),
])
def test_validity_window_threshold(validity, expected):
    assert findings(expiring(30 * DAY, validity=validity), "DNSSEC03") == expected


def test_now_is_the_time_of_the_query():
    # The same signature, seen by a query sent a day later, is a day closer to expiry.
    later = expiring(3 * DAY, sent_at=NOW)
    assert findings(later, "DNSSEC03") == []
    sig_expiry = NOW + 3 * DAY
    found = expiries(later)[NS1]
    assert (found.expires_at, found.remaining) == (sig_expiry, 3 * DAY)


def test_latest_signature_per_rrset_earliest_across_rrsets():
    soa_sigs = rrsig_rrset("SOA",
                           fake_rrsig("SOA", inception=NOW - DAY, expiration=NOW + 3600),
                           fake_rrsig("SOA", inception=NOW - DAY, expiration=NOW + 10 * DAY))
    key_sigs = rrsig_rrset("DNSKEY",
                           fake_rrsig("DNSKEY", inception=NOW - DAY, expiration=NOW + 2 * DAY))
    observations = healthy(*NS1) + [
        extra(labels.SOA_DO, *NS1, msg=answer("fr.", "SOA", soa_rrset(), soa_sigs, do=True)),
        extra(labels.DNSKEY_DO, *NS1, msg=answer(
            "fr.", "DNSKEY", dnskey_rrset(key_pair("ksk")[1]), key_sigs, do=True)),
    ]
    ev = evidence(observations)
    assert expiries(ev)[NS1].expires_at == NOW + 2 * DAY
    found = [f for f in judge(ev) if f.check == "DNSSEC03"]
    assert [(f.severity, f.reason, f.args["remaining_seconds"]) for f in found] == [
        (Severity.WARNING, "expiring", 2 * DAY)]


# --- DNSSEC04 ------------------------------------------------------------------------------

def rsa_key(bits, algorithm=8, flags=257):
    modulus = (1 << (bits - 1)) | 1
    blob = bytes([3]) + (65537).to_bytes(3, "big") + modulus.to_bytes((bits + 7) // 8, "big")
    return DNSKEY(dns.rdataclass.IN, dns.rdatatype.DNSKEY, flags, 3, algorithm, blob)


def with_keys(*keys, ds=None):
    msg = answer("fr.", "DNSKEY", dnskey_rrset(*keys), do=True)
    return evidence(healthy(*NS1) + [extra(labels.DNSKEY_DO, *NS1, msg=msg),
                                     parent(ds_reply(*(ds or [])))])


@pytest.mark.parametrize(("bits", "expected"), [(2048, []), (2047, ["rsa-key-too-short"])])
def test_rsa_size_boundary(bits, expected):
    assert rsa_bits(rsa_key(bits)) == bits
    assert [r[2] for r in findings(with_keys(rsa_key(bits)), "DNSSEC04")] == expected


def test_long_exponent_encoding_is_read():
    modulus = (1 << 4095) | 1
    blob = b"\x00\x00\x03" + (65537).to_bytes(3, "big") + modulus.to_bytes(512, "big")
    key = DNSKEY(dns.rdataclass.IN, dns.rdatatype.DNSKEY, 257, 3, 8, blob)
    assert rsa_bits(key) == 4096


@pytest.mark.parametrize(("algorithm", "expected"), [
    (5, [(Severity.WARNING, "sha1-algorithm")]),
    (7, [(Severity.WARNING, "sha1-algorithm")]),
    (1, [(Severity.ERROR, "deprecated-algorithm")]),
    (8, []),
    (10, []),
])
def test_rsa_algorithms(algorithm, expected):
    found = findings(with_keys(rsa_key(2048, algorithm)), "DNSSEC04")
    assert [(f[0], f[2]) for f in found] == expected


def test_modern_algorithms_are_fine():
    keys = [key_pair("ksk")[1], key_pair("zsk-ec", "ECDSAP256SHA256")[1]]
    assert findings(with_keys(*keys), "DNSSEC04") == []


def test_short_sha1_key_gives_both_reasons():
    found = findings(with_keys(rsa_key(1024, 5)), "DNSSEC04")
    assert sorted(f[2] for f in found) == ["rsa-key-too-short", "sha1-algorithm"]


def test_sha1_only_ds_set():
    only_sha1 = with_keys(key_pair("ksk")[1], ds=[ds_for("ksk", "SHA1")])
    both = with_keys(key_pair("ksk")[1], ds=[ds_for("ksk", "SHA1"), ds_for("ksk")])
    assert [f[2] for f in findings(only_sha1, "DNSSEC04")] == ["sha1-ds-digest"]
    assert findings(both, "DNSSEC04") == []


# --- the real signed root zone, with a clock inside its signatures' validity -----------------

ROOT_ZONE = Path(__file__).resolve().parents[3] / "shared" / "data" / "root.zone.2023051100.signed"
ROOT_ANCHOR_20326 = "e06d44b80b8f1d39a95c0b0d7c65d08458e880409bbc683457104237c7f8ec8d"
MAY_15_2023 = 1684108800.0


@pytest.fixture(scope="module")
def root():
    if not ROOT_ZONE.exists():
        pytest.skip(f"{ROOT_ZONE} not present")
    apex = [line for line in ROOT_ZONE.read_text().splitlines() if line.startswith(".\t")]
    return dns.zone.from_text("\n".join(apex), origin=".", relativize=False, check_origin=False)


def test_root_ksk_matches_the_published_trust_anchor(root):
    keys = root.find_rrset(".", "DNSKEY")
    ksk = next(k for k in keys if dns.dnssec.key_id(k) == 20326)
    assert dns.dnssec.make_ds(".", ksk, "SHA256").digest.hex() == ROOT_ANCHOR_20326


@pytest.mark.parametrize(("now", "status"), [
    (MAY_15_2023, "valid"),
    (MAY_15_2023 + 10 * DAY, "expired"),  # the SOA RRSIG ran until 2023-05-24 05:00
    (MAY_15_2023 - 10 * DAY, "not-yet-valid"),
])
def test_root_soa_signature(root, now, status):
    soa = root.find_rrset(".", "SOA")
    sigs = root.find_rrset(".", "RRSIG", "SOA")
    keys = list(root.find_rrset(".", "DNSKEY"))
    assert signature_status(soa, sigs, keys, now) == status


def test_root_dnskey_signature_validates(root):
    keys = root.find_rrset(".", "DNSKEY")
    sigs = root.find_rrset(".", "RRSIG", "DNSKEY")
    assert signature_status(keys, sigs, list(keys), MAY_15_2023) == "valid"
