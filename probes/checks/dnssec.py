"""DNSSEC01-04: the chain from the parent's DS, signatures per address, expiry, algorithms.

Every verdict that depends on time takes "now" from the observation it judges
(`Observation.sent_at`), so the judges stay pure and the tests deterministic.

The zone's DNSKEY set is the union of the DNSKEY sets its servers returned: a resolver
may take the keys from one server and the SOA from another, and a server whose answers
do not validate against any published key is the one to name.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import dns.dnssec
import dns.exception
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
from dns.rdtypes.ANY.DNSKEY import DNSKEY
from dns.rdtypes.ANY.DS import DS
from dns.rdtypes.ANY.RRSIG import RRSIG

from probes.checks.registry import Tag, register
from probes.evidence import Evidence, name_of, per_evidence, rcode_of, same_name
from probes.labels import DNSKEY_DO, SOA_DO, by_label, parent_ds
from probes.model import Finding, Observation, Severity
from probes.text import utc_text

DAY = 86400.0
EXPIRY_WARNING = 2.5 * DAY  # REFERENCE.md: warn below 2.5 days (TLDmon)
EXPIRY_CRITICAL = 1.0 * DAY  # critical below 1 day
MAX_VALIDITY = 180 * DAY  # a signature valid for longer than this is flagged (Zonemaster)
MIN_RSA_BITS = 2048

ZONE_KEY_FLAG = 0x0100  # RFC 4034 2.1.1
RSA_ALGORITHMS = frozenset({1, 5, 7, 8, 10})
SHA1_ALGORITHMS = frozenset({5, 7})  # RSASHA1, RSASHA1-NSEC3-SHA1: RFC 8624 NOT RECOMMENDED
DEPRECATED_ALGORITHMS = frozenset({1, 3, 6, 12})  # RSAMD5, DSA, DSA-NSEC3-SHA1, GOST: MUST NOT
SUPPORTED_DIGESTS = frozenset({1, 2, 4})  # SHA-1, SHA-256, SHA-384 (what make_ds computes)

#: The bounded reason vocabulary of each check (metric label values).
REASONS: dict[str, tuple[str, ...]] = {
    "DNSSEC01": ("ds-mismatch", "no-dnskey", "no-signature-by-ds-key", "no-ds",
                 "unsupported-digest", "no-parent-answer"),
    "DNSSEC02": ("expired", "not-yet-valid", "bad-signature", "unknown-key",
                 "unsupported-algorithm", "no-signature", "no-dnskey"),
    "DNSSEC03": ("expired", "expiring", "long-validity"),
    "DNSSEC04": ("deprecated-algorithm", "sha1-algorithm", "rsa-key-too-short",
                 "sha1-ds-digest"),
}  # fmt: skip

# When no signature validates, the reason shown is that of the signature that came closest.
_STATUS_RANK = ("valid", "expired", "not-yet-valid", "bad-signature", "unsupported-algorithm",
                "unknown-key", "no-signature")


# --- reading the observations -----------------------------------------------------------

def _answered(obs: Observation | None) -> dns.message.Message | None:
    """The reply when it is a NOERROR answer, else None (LAME01/REACH01 speak for the rest)."""
    if obs is None or obs.reply is None or rcode_of(obs.reply) != dns.rcode.NOERROR:
        return None
    return obs.reply


def answer_rrset(reply: dns.message.Message, zone: str, rdtype: int,
                 covers: int = dns.rdatatype.NONE) -> dns.rrset.RRset | None:
    """An RRset of the apex from the answer section (read only: replies are shared)."""
    name = name_of(zone)
    for rrset in reply.answer:
        if (rrset.rdtype == rdtype and rrset.covers == covers and same_name(rrset.name, name)
                and rrset.rdclass == dns.rdataclass.IN and len(rrset)):
            return rrset
    return None


@per_evidence
def ds_records(evidence: Evidence) -> list[DS] | None:
    """The parent's DS set: [] when the parent says there is none, None when unknown."""
    obs = parent_ds(evidence)
    if obs is None or obs.reply is None:
        return None
    if rcode_of(obs.reply) not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
        return None
    rrset = answer_rrset(obs.reply, evidence.zone, dns.rdatatype.DS)
    return [] if rrset is None else list(rrset)


@per_evidence
def served_keys(evidence: Evidence) -> dict[tuple[str, str], list[DNSKEY]]:
    """Per address that answered the DNSKEY query with NOERROR: the keys it serves."""
    out: dict[tuple[str, str], list[DNSKEY]] = {}
    for key, obs in by_label(evidence, DNSKEY_DO).items():
        reply = _answered(obs)
        if reply is not None:
            rrset = answer_rrset(reply, evidence.zone, dns.rdatatype.DNSKEY)
            out[key] = [] if rrset is None else list(rrset)
    return out


@per_evidence
def zone_keys(evidence: Evidence) -> list[DNSKEY]:
    """The union of the DNSKEY sets the zone's servers returned, without repeats."""
    seen: dict[bytes, DNSKEY] = {}
    for keys in served_keys(evidence).values():
        for key in keys:
            seen.setdefault(key.to_digestable(), key)
    return list(seen.values())


def is_signed(evidence: Evidence) -> bool:
    """The parent has a DS for the zone, or one of its servers serves a DNSKEY."""
    return bool(ds_records(evidence)) or bool(zone_keys(evidence))


def rsa_bits(key: DNSKEY) -> int:
    """The modulus length of an RSA DNSKEY (RFC 3110 public key format)."""
    blob = key.key
    if not blob:
        return 0
    if blob[0] == 0:
        exponent_length, start = int.from_bytes(blob[1:3], "big"), 3
    else:
        exponent_length, start = blob[0], 1
    return int.from_bytes(blob[start + exponent_length:], "big").bit_length()


# --- DNSSEC01 -------------------------------------------------------------------------------

def ds_matches(zone: str, ds: DS, key: DNSKEY) -> bool | None:
    """Does the DS digest match this key (digest recomputed)? None: digest type unsupported."""
    if ds.digest_type not in SUPPORTED_DIGESTS:
        return None
    if ds.algorithm != key.algorithm or ds.key_tag != dns.dnssec.key_id(key):
        return False
    computed = dns.dnssec.make_ds(zone, key, dns.dnssec.DSDigest(ds.digest_type),
                                  policy=dns.dnssec.allow_all_policy, validating=True)
    return computed.digest == ds.digest


def _signs_dnskey(reply: dns.message.Message, zone: str, key: DNSKEY) -> bool:
    sigs = answer_rrset(reply, zone, dns.rdatatype.RRSIG, dns.rdatatype.DNSKEY)
    tag = dns.dnssec.key_id(key)
    return sigs is not None and any(
        s.key_tag == tag and s.algorithm == key.algorithm for s in sigs)


@register(
    "DNSSEC01",
    "The parent's DS matches a DNSKEY of the zone",
    "The parent's DS set (asked with DO=1) must match, by recomputed digest, a DNSKEY that "
    "every server serves and that signs the DNSKEY RRset. No server's keys match: CRITICAL "
    "ds-mismatch (the zone is bogus for validating resolvers); DS present but no server "
    "serves a DNSKEY: CRITICAL no-dnskey; one address's keys do not match: ERROR ds-mismatch "
    "for that address; the matching key does not sign the DNSKEY RRset there: ERROR "
    "no-signature-by-ds-key. A signed zone without DS: NOTICE no-ds (insecure island); DS "
    "with only digest types other than SHA-1/256/384: NOTICE unsupported-digest; no answer "
    "from the parent for a signed zone: NOTICE no-parent-answer.",
    tags=(
        Tag("PARENT_DS_UNKNOWN", Severity.NOTICE),
        Tag("SIGNED_WITHOUT_DS", Severity.NOTICE),
        Tag("DS_DIGEST_UNSUPPORTED", Severity.NOTICE),
        Tag("DS_WITHOUT_DNSKEY", Severity.CRITICAL),
        Tag("DS_MISMATCH", Severity.ERROR, {"every-server": Severity.CRITICAL},
            "no server serves a matching key"),
        Tag("DS_KEY_NOT_SIGNING", Severity.ERROR),
    ),
    reasons=REASONS["DNSSEC01"],
)
def judge_ds(evidence: Evidence) -> Iterator[Finding]:
    """DNSSEC01: the parent's DS set matches a DNSKEY the zone's servers serve."""
    ds_set = ds_records(evidence)
    keys = served_keys(evidence)
    has_keys = any(keys.values())
    if ds_set is None:
        if has_keys:
            yield judge_ds.finding(
                "PARENT_DS_UNKNOWN",
                "the parent did not answer the DS query; the chain was not checked",
                reason="no-parent-answer")
        return
    if not ds_set:
        if has_keys:
            yield judge_ds.finding(
                "SIGNED_WITHOUT_DS",
                "the zone serves DNSKEYs but the parent has no DS: validating "
                "resolvers treat it as unsigned", reason="no-ds")
        return
    usable = [ds for ds in ds_set if ds.digest_type in SUPPORTED_DIGESTS]
    if not usable:
        yield judge_ds.finding(
            "DS_DIGEST_UNSUPPORTED",
            "no DS record uses a digest type ccmon can recompute",
            reason="unsupported-digest",
            args={"digest_types": sorted({ds.digest_type for ds in ds_set})})
        return
    yield from _judge_ds_per_address(evidence, usable, keys)


def _judge_ds_per_address(evidence: Evidence, ds_set: Sequence[DS],
                          keys: dict[tuple[str, str], list[DNSKEY]]) -> Iterator[Finding]:
    zone = evidence.zone
    tags = sorted({ds.key_tag for ds in ds_set})
    if not any(keys.values()):
        if keys:  # some server answered, none serves a key
            yield judge_ds.finding(
                "DS_WITHOUT_DNSKEY",
                f"the parent has DS for key tag(s) {tags} but no server serves a "
                "DNSKEY: validating resolvers cannot resolve the zone",
                reason="no-dnskey", args={"ds_key_tags": tags})
        return
    mismatched: list[tuple[str, str]] = []
    unsigned: list[tuple[str, str]] = []
    dnskey_obs = by_label(evidence, DNSKEY_DO)
    for key in evidence.targets():
        served = keys.get(key)
        if not served:
            continue  # no answer or no keys: REACH01 / LAME01 / DNSSEC02 say so
        matching = [k for k in served if any(ds_matches(zone, ds, k) for ds in ds_set)]
        reply = dnskey_obs[key].reply
        if not matching:
            mismatched.append(key)
        elif reply is not None and not any(_signs_dnskey(reply, zone, k) for k in matching):
            unsigned.append(key)
    with_keys = [k for k in evidence.targets() if keys.get(k)]
    if mismatched and len(mismatched) == len(with_keys):
        yield judge_ds.finding(
            "DS_MISMATCH",
            f"no DNSKEY served by any server matches the parent's DS (key tag(s) "
            f"{tags}): the zone is bogus for validating resolvers",
            grade="every-server", reason="ds-mismatch", args={"ds_key_tags": tags})
    else:
        for nameserver, address in mismatched:
            yield judge_ds.finding(
                "DS_MISMATCH",
                f"{nameserver} {address} serves no DNSKEY matching the parent's DS "
                f"(key tag(s) {tags})", nameserver=nameserver, address=address,
                reason="ds-mismatch", args={"ds_key_tags": tags})
    for nameserver, address in unsigned:
        yield judge_ds.finding(
            "DS_KEY_NOT_SIGNING",
            f"{nameserver} {address}: the key the DS points to does not sign the "
            "DNSKEY RRset", nameserver=nameserver, address=address,
            reason="no-signature-by-ds-key", args={"ds_key_tags": tags})


# --- DNSSEC02 -------------------------------------------------------------------------------

def signature_status(rrset: dns.rrset.RRset, sigs: dns.rrset.RRset | None,
                     keys: Sequence[DNSKEY], now: float) -> str:
    """"valid" when one RRSIG validates at `now` with one of `keys`, else why not."""
    if sigs is None or not len(sigs):
        return "no-signature"
    key_set = dns.rrset.RRset(rrset.name, dns.rdataclass.IN, dns.rdatatype.DNSKEY)
    for key in keys:
        key_set.add(key)
    statuses = [_one_signature(rrset, sig, key_set, now) for sig in sigs]
    return min(statuses, key=_STATUS_RANK.index)


def _one_signature(rrset: dns.rrset.RRset, sig: RRSIG, keys: dns.rrset.RRset,
                   now: float) -> str:
    if sig.signer != rrset.name or not any(
            k.algorithm == sig.algorithm and dns.dnssec.key_id(k) == sig.key_tag
            and k.flags & ZONE_KEY_FLAG for k in keys):
        return "unknown-key"
    if sig.expiration < now:
        return "expired"
    if sig.inception > now:
        return "not-yet-valid"
    try:
        dns.dnssec.validate_rrsig(rrset, sig, {rrset.name: keys}, now=now,
                                  policy=dns.dnssec.allow_all_policy)
    except dns.dnssec.UnsupportedAlgorithm:
        return "unsupported-algorithm"
    except dns.dnssec.ValidationFailure:
        return "bad-signature"
    except ImportError:
        # dnspython's DNSSEC needs `cryptography` (>= 50 for dnspython 2.9). Without it the
        # key and the times are still checked; the signature bytes cannot be.
        return "valid"
    return "valid"


@dataclass(frozen=True, slots=True)
class RRsetVerdict:
    """The RRSIG verdict on one signed RRset (SOA or DNSKEY) from one address."""
    rdtype: str  # "SOA" or "DNSKEY"
    status: str  # "valid" or a DNSSEC02 reason
    latest_expiry: float | None  # the last expiration among its RRSIGs, if any
    observation: Observation


@per_evidence
def signature_verdicts(evidence: Evidence) -> dict[tuple[str, str], list[RRsetVerdict]]:
    """Per address, the validation of its DNSKEY and SOA RRsets against the zone's keys."""
    keys = zone_keys(evidence)
    out: dict[tuple[str, str], list[RRsetVerdict]] = {}
    for label, rdtype in ((DNSKEY_DO, dns.rdatatype.DNSKEY), (SOA_DO, dns.rdatatype.SOA)):
        for key, obs in by_label(evidence, label).items():
            reply = _answered(obs)
            if reply is None:
                continue
            rrset = answer_rrset(reply, evidence.zone, rdtype)
            name = dns.rdatatype.to_text(rdtype)
            if rrset is None:
                if rdtype == dns.rdatatype.DNSKEY:
                    out.setdefault(key, []).append(RRsetVerdict(name, "no-dnskey", None, obs))
                continue
            sigs = answer_rrset(reply, evidence.zone, dns.rdatatype.RRSIG, rdtype)
            latest = max((float(s.expiration) for s in sigs), default=None) if sigs else None
            status = signature_status(rrset, sigs, keys, obs.sent_at)
            out.setdefault(key, []).append(RRsetVerdict(name, status, latest, obs))
    return out


_STATUS_WORDS = {
    "expired": "signatures expired",
    "not-yet-valid": "signatures not valid yet (inception in the future)",
    "bad-signature": "signatures do not verify",
    "unknown-key": "signatures made by a key not in the zone's DNSKEY set",
    "unsupported-algorithm": "signatures use an algorithm ccmon cannot verify",
    "no-signature": "no RRSIG in a DO=1 answer",
    "no-dnskey": "no DNSKEY RRset although the zone is signed",
}


@register(
    "DNSSEC02",
    "Signatures over SOA and DNSKEY validate on every address",
    "On a signed zone (DS at the parent or a DNSKEY served), each address's answers to SOA and "
    "DNSKEY with DO=1 carry an RRSIG that validates at the time of the query with a key of the "
    "zone's DNSKEY set (the union of what its servers serve). Otherwise ERROR per address and "
    "RRset, reason expired, not-yet-valid, bad-signature, unknown-key, unsupported-algorithm, "
    "no-signature, or no-dnskey (the address serves no DNSKEY RRset).",
    tags=(
        Tag("RRSIG_INVALID", Severity.ERROR),
        Tag("DNSKEY_MISSING", Severity.ERROR),
    ),
    reasons=REASONS["DNSSEC02"],
)
def judge_signatures(evidence: Evidence) -> Iterator[Finding]:
    """DNSSEC02: per address, the SOA and DNSKEY RRsets carry valid signatures."""
    if not is_signed(evidence):
        return
    verdicts = signature_verdicts(evidence)
    for key in evidence.targets():
        nameserver, address = key
        for verdict in verdicts.get(key, ()):
            if verdict.status == "valid":
                continue
            detail = _STATUS_WORDS[verdict.status]
            if verdict.status == "expired" and verdict.latest_expiry is not None:
                detail += f" (last one at {utc_text(verdict.latest_expiry)})"
            tag = "DNSKEY_MISSING" if verdict.status == "no-dnskey" else "RRSIG_INVALID"
            yield judge_signatures.finding(
                tag,
                f"{nameserver} {address} {verdict.rdtype}: {detail}",
                nameserver=nameserver, address=address, reason=verdict.status,
                args={"rrset": verdict.rdtype})


# --- DNSSEC03 -------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Expiry:
    """When one address's signatures run out, and the longest validity period it uses."""
    expires_at: float  # when the first of the address's signed RRsets loses its last RRSIG
    remaining: float  # seconds from the query to then (negative: already expired)
    longest_validity: float  # the longest expiration - inception among its RRSIGs


@per_evidence
def expiries(evidence: Evidence) -> dict[tuple[str, str], Expiry]:
    """Per address that served RRSIGs over SOA or DNSKEY, when its signatures run out.

    Per RRset the latest expiration counts (one unexpired signature keeps it valid); per
    address the earliest of those, measured from the time of that RRset's query.
    """
    out: dict[tuple[str, str], Expiry] = {}
    for label, rdtype in ((DNSKEY_DO, dns.rdatatype.DNSKEY), (SOA_DO, dns.rdatatype.SOA)):
        for key, obs in by_label(evidence, label).items():
            reply = _answered(obs)
            sigs = reply and answer_rrset(reply, evidence.zone, dns.rdatatype.RRSIG, rdtype)
            if not sigs:
                continue
            latest = float(max(s.expiration for s in sigs))
            validity = float(max(s.expiration - s.inception for s in sigs))
            found = Expiry(latest, latest - obs.sent_at, validity)
            before = out.get(key)
            if before is None:
                out[key] = found
            else:
                first = found if found.remaining < before.remaining else before
                out[key] = Expiry(first.expires_at, first.remaining,
                                  max(found.longest_validity, before.longest_validity))
    return out


@register(
    "DNSSEC03",
    "Signatures are far from expiry",
    "Per address, the earliest moment one of its signed RRsets (SOA, DNSKEY) loses its last "
    "RRSIG, measured from the time of the query: already past is CRITICAL expired, less than "
    "1 day CRITICAL expiring, less than 2.5 days WARNING expiring. An RRSIG valid for more "
    "than 180 days (expiration - inception) is WARNING long-validity (replayable for long).",
    tags=(
        Tag("SIGNATURES_EXPIRED", Severity.CRITICAL),
        Tag("SIGNATURES_EXPIRING", Severity.WARNING, {"within-a-day": Severity.CRITICAL},
            "less than 1 day left"),
        Tag("SIGNATURE_VALIDITY_TOO_LONG", Severity.WARNING),
    ),
    reasons=REASONS["DNSSEC03"],
)
def judge_expiry(evidence: Evidence) -> Iterator[Finding]:
    """DNSSEC03: signatures expired or expiring within EXPIRY_WARNING, or valid too long."""
    found = expiries(evidence)
    for key in evidence.targets():
        expiry = found.get(key)
        if expiry is None:
            continue
        nameserver, address = key
        args = {"expires_at": expiry.expires_at, "remaining_seconds": round(expiry.remaining)}
        when = utc_text(expiry.expires_at)
        if expiry.remaining < 0:
            yield judge_expiry.finding(
                "SIGNATURES_EXPIRED",
                f"{nameserver} {address} serves signatures that expired at {when}",
                nameserver=nameserver, address=address, reason="expired", args=args)
        elif expiry.remaining < EXPIRY_WARNING:
            soon = expiry.remaining < EXPIRY_CRITICAL
            yield judge_expiry.finding(
                "SIGNATURES_EXPIRING",
                f"{nameserver} {address} serves signatures that expire at {when}, "
                f"in {expiry.remaining / 3600:.1f} h", nameserver=nameserver,
                address=address, reason="expiring", args=args,
                grade="within-a-day" if soon else "")
        if expiry.longest_validity > MAX_VALIDITY:
            days = expiry.longest_validity / DAY
            yield judge_expiry.finding(
                "SIGNATURE_VALIDITY_TOO_LONG",
                f"{nameserver} {address} serves a signature valid for {days:.0f} "
                "days (more than 180)", nameserver=nameserver, address=address,
                reason="long-validity", args={"validity_days": round(days, 1)})


# --- DNSSEC04 -------------------------------------------------------------------------------

def key_problems(key: DNSKEY) -> list[tuple[str, str]]:
    """(reason, words) for one key's algorithm and size."""
    problems = []
    algorithm = int(key.algorithm)
    name = dns.dnssec.algorithm_to_text(algorithm)
    if algorithm in DEPRECATED_ALGORITHMS:
        problems.append(("deprecated-algorithm",
                         f"algorithm {algorithm} ({name}) must not be used (RFC 8624)"))
    elif algorithm in SHA1_ALGORITHMS:
        problems.append(("sha1-algorithm",
                         f"algorithm {algorithm} ({name}) relies on SHA-1 (RFC 8624: not "
                         "recommended)"))
    if algorithm in RSA_ALGORITHMS and (bits := rsa_bits(key)) < MIN_RSA_BITS:
        problems.append(("rsa-key-too-short",
                         f"RSA modulus of {bits} bits, below {MIN_RSA_BITS}"))
    return problems


@register(
    "DNSSEC04",
    "DNSSEC algorithms and key sizes are current",
    "For every key of the zone's DNSKEY set: algorithms 1, 3, 6, 12 (RSAMD5, DSA, "
    "DSA-NSEC3-SHA1, GOST) are ERROR deprecated-algorithm; 5 and 7 (RSA/SHA-1) WARNING "
    "sha1-algorithm; an RSA modulus under 2048 bits WARNING rsa-key-too-short. A DS set of "
    "SHA-1 digests only is WARNING sha1-ds-digest.",
    tags=(
        Tag("WEAK_KEY", Severity.WARNING, {"deprecated-algorithm": Severity.ERROR},
            "RFC 8624 MUST NOT"),
        Tag("WEAK_DS_DIGEST", Severity.WARNING),
    ),
    reasons=REASONS["DNSSEC04"],
)
def judge_algorithms(evidence: Evidence) -> Iterator[Finding]:
    """DNSSEC04: weak or deprecated DNSKEY algorithms and SHA-1-only DS digests."""
    for key in sorted(zone_keys(evidence), key=dns.dnssec.key_id):
        tag = dns.dnssec.key_id(key)
        for reason, words in key_problems(key):
            grade = reason if reason == "deprecated-algorithm" else ""
            yield judge_algorithms.finding(
                "WEAK_KEY", f"DNSKEY {tag}: {words}", grade=grade, reason=reason,
                args={"key_tag": tag, "algorithm": int(key.algorithm)})
    ds_set = ds_records(evidence)
    if ds_set and all(ds.digest_type == 1 for ds in ds_set):
        yield judge_algorithms.finding(
            "WEAK_DS_DIGEST",
            "every DS record at the parent uses SHA-1 digests (RFC 8624: use "
            "SHA-256)", reason="sha1-ds-digest")
