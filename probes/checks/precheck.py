"""PRE01-PRE13: a proposed delegation judged against IANA's technical requirements.

`ccmon precheck` probes the proposed name servers as if the parent already delegated to
them (probes/precheck/probe.py) and these judges read what came back. They join the one
check registry for their IDs, docs and labels; their evidence judge there yields nothing,
so `ccmon check` never reports them (a live delegation is judged by LAME01, DELEG03, ...).
Severity ERROR or above is *blocking*: IANA would not make the change. WARNING and below
are advice. Sources and the mapping to IANA's page: docs/precheck.md.
"""

from __future__ import annotations

import ipaddress
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field

import dns.dnssec
import dns.rcode
import dns.rdatatype
import dns.rdtypes.ANY.SOA
from dns.rdtypes.ANY.DNSKEY import DNSKEY
from dns.rdtypes.ANY.DS import DS

from probes.addresses import Family, family_of, is_ipv6, network_prefix
from probes.checks import dnssec
from probes.checks.registry import Check, Kind, Tag, catalogue, register, relevel
from probes.checks.security import open_resolver_findings
from probes.evidence import (
    Evidence,
    aa_set,
    apex_ns_names,
    apex_soa,
    lame_reason,
    rrset_addresses,
)
from probes.labels import DNSKEY_DO, SOA_DO, by_label
from probes.model import FailureKind, Finding, Observation, Severity, Transport
from probes.precheck.proposal import Proposal
from probes.precheck.referral import LIMIT, QNAME_OCTETS, ReferralSize
from probes.serial import highest_serial

MIN_NAMESERVERS = 2
MAX_NAMESERVERS = 13
BLOCKING = Severity.ERROR  # this severity and above: IANA would refuse the change

#: The bounded reason vocabulary of each check (metric label values, JSON `reason`).
REASONS: dict[str, tuple[str, ...]] = {
    "PRE01": ("too-few", "too-many", "one-address"),
    "PRE02": ("invalid-hostname",),
    "PRE03": ("no-reply", "refused", "servfail", "not-authoritative", "referral", "nxdomain",
              "wrong-owner", "malformed", "other-rcode"),
    "PRE04": ("different-source",),
    "PRE05": ("ns-set-differs",),
    "PRE06": ("serial-differs", "soa-differs"),
    "PRE07": ("glue-differs", "missing-glue", "unresolvable"),
    "PRE08": ("referral-too-large", "glue-truncated"),
    "PRE09": ("open-resolver",),
    "PRE10": ("private", "loopback", "link-local", "multicast", "documentation", "shared",
              "unspecified", "reserved", "special-purpose"),
    "PRE11": ("one-ipv4-prefix", "one-ipv6-prefix", "one-asn"),
    "PRE12": ("no-matching-dnskey", "dnskey-missing", "algorithm-not-allowed",
              "sha1-digest"),
    "PRE13": ("breaks-chain",),
}  # fmt: skip

#: Failures that say nothing about the server: our own host could not send (EMFILE, no
#: route for the family, ...). "local-error" is the FailureKind the engine gives them.
_LOCAL_ERRNO_TEXTS = ("Network is unreachable", "Cannot assign requested address",
                      "Address family not supported", "Too many open files",
                      "No buffer space available")


def is_local_failure(obs: Observation) -> bool:
    """No reply because of our own host: the address is unmeasured, not failing."""
    if obs.failure is None:
        return False
    if str(obs.failure) == "local-error":
        return True
    return obs.failure is FailureKind.NETWORK_ERROR and any(
        t in obs.detail for t in _LOCAL_ERRNO_TEXTS)


@dataclass(frozen=True, slots=True)
class SourceReply:
    """PRE04's unconnected query to one address: where the reply came from (None: none)."""

    source: str | None
    port: int = 0


@dataclass(frozen=True, slots=True)
class PrecheckEvidence:
    """The proposal, what probing it saw, and the knobs of the judgement. No I/O."""

    proposal: Proposal
    evidence: Evidence  # delegation = the proposal; observations of every probed address
    resolved: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # out-of-zone names
    resolution_errors: Mapping[str, str] = field(default_factory=dict)
    sources: Mapping[tuple[str, str], SourceReply] = field(default_factory=dict)
    unmeasured: frozenset[tuple[str, str]] = frozenset()  # not probed from here
    referral_minimal: ReferralSize | None = None
    referral_full: ReferralSize | None = None
    allow_private: bool = False
    asn_table: Mapping[str, int] = field(default_factory=dict)  # prefix -> origin AS
    current_ds: tuple[DS, ...] | None = None  # at the parent now (None: not asked/unknown)

    @property
    def zone(self) -> str:
        """The proposed zone, absolute and lower case."""
        return self.proposal.zone

    def measured_targets(self) -> list[tuple[str, str]]:
        """The proposed (name, address) pairs probed from here, the unmeasured left out."""
        return [k for k in self.evidence.targets() if k not in self.unmeasured]


PreJudge = Callable[[PrecheckEvidence], Iterable[Finding]]


def register_precheck(
    check_id: str, title: str, rule: str, *, tags: Iterable[Tag], reasons: Iterable[str] = ()
) -> Callable[[PreJudge], Check]:
    """Decorator: declare a precheck (kind precheck) around its judge."""
    return register(check_id, title, rule, tags=tags, reasons=reasons, kind=Kind.PRECHECK)


def judge_precheck(pre: PrecheckEvidence) -> list[Finding]:
    """Every enabled precheck, in registry order."""
    settings = pre.evidence.settings
    found = [f for check_id, check in PRECHECKS.items()
             if check_id not in settings.disabled_checks for f in check.run(pre)]
    return relevel(found, settings.severity_overrides)


def blocking(findings: Iterable[Finding]) -> list[Finding]:
    """The findings that would make IANA refuse the change (BLOCKING and above)."""
    return [f for f in findings if f.severity >= BLOCKING]


# --- PRE01 / PRE02: the NS set as written ------------------------------------------------------

@register_precheck(
    "PRE01",
    "Between 2 and 13 name servers, not all on one address",
    "The proposal lists at least 2 NS names (else ERROR too-few) and at most 13 (else ERROR "
    "too-many: 13 is what a referral can carry); 2 or more names that all have the one same "
    "address are ERROR one-address (IANA: the hosts must not resolve to the same address).",
    tags=(
        Tag("TOO_FEW_NAMESERVERS", Severity.ERROR),
        Tag("TOO_MANY_NAMESERVERS", Severity.ERROR),
        Tag("ONE_ADDRESS", Severity.ERROR),
    ),
    reasons=REASONS["PRE01"],
)
def judge_count(pre: PrecheckEvidence) -> Iterator[Finding]:
    """PRE01: the number of proposed name servers, and not all on one address."""
    count = len(pre.proposal.nameservers)
    if count < MIN_NAMESERVERS:
        yield judge_count.finding(
            "TOO_FEW_NAMESERVERS",
            f"{count} name server proposed; at least {MIN_NAMESERVERS} are required",
            reason="too-few", args={"count": count})
    elif count > MAX_NAMESERVERS:
        yield judge_count.finding(
            "TOO_MANY_NAMESERVERS",
            f"{count} name servers proposed; at most {MAX_NAMESERVERS} are accepted",
            reason="too-many", args={"count": count})
    addresses = {a for ns in pre.evidence.delegation.nameservers for a in ns.addresses}
    if count >= MIN_NAMESERVERS and len(addresses) == 1:
        address = next(iter(addresses))
        yield judge_count.finding(
            "ONE_ADDRESS",
            f"all {count} name servers have the one address {address}",
            address=address, reason="one-address")


_HOST_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


def hostname_problem(name: str) -> str | None:
    """Why `name` (absolute) is not a valid host name (RFC 1123 2.1, RFC 3696 2), or None."""
    labels = name.rstrip(".").split(".")
    if len(labels) < 2:
        return "a host name needs at least two labels"
    for label in labels:
        if not _HOST_LABEL.match(label):
            return (f"label {label!r} is not letters, digits and inner hyphens "
                    "(RFC 1123 2.1)")
    if labels[-1].isdigit():
        return f"the top-level label {labels[-1]!r} is all-numeric (RFC 3696 2)"
    return None


@register_precheck(
    "PRE02",
    "Name server names are valid host names",
    "Each NS name is a host name: labels of letters, digits and inner hyphens (RFC 1123 2.1, "
    "A-labels included), at least two labels, a top-level label that is not all-numeric "
    "(RFC 3696 2). Otherwise ERROR invalid-hostname. Names that are not DNS at all are refused "
    "before any query (exit 3).",
    tags=(Tag("INVALID_HOSTNAME", Severity.ERROR),),
    reasons=REASONS["PRE02"],
)
def judge_hostnames(pre: PrecheckEvidence) -> Iterator[Finding]:
    """PRE02: every proposed NS name is a valid host name."""
    for name in pre.proposal.names:
        problem = hostname_problem(name)
        if problem:
            yield judge_hostnames.finding(
                "INVALID_HOSTNAME",
                f"{name} is not a valid host name: {problem}", nameserver=name,
                reason="invalid-hostname")


# --- PRE03 / PRE04: every address answers, from the address asked ------------------------------

_ANSWER_WORDS = {
    "refused": "answers REFUSED", "servfail": "answers SERVFAIL",
    "nxdomain": "answers NXDOMAIN for the apex",
    "not-authoritative": "answers without the AA flag",
    "referral": "answers with a referral instead of the zone's SOA",
    "wrong-owner": "answers an SOA of another owner name",
    "malformed": "sends a malformed reply", "other-rcode": "answers an unexpected rcode",
}


@register_precheck(
    "PRE03",
    "Every address answers authoritatively over UDP and TCP",
    "Each address of each proposed name server answers the zone's SOA query over UDP and over "
    "TCP with NOERROR, AA=1 and the zone's SOA; one finding per address and transport: ERROR "
    "no-reply (the failure is named), or the reason of the non-authoritative answer: refused, "
    "servfail, not-authoritative, referral, nxdomain, wrong-owner, malformed, other-rcode. An "
    "address this host cannot reach for reasons of its own (no IPv6, a local error) is not "
    "measured, and named as such, never as failing.",
    tags=(
        Tag("NO_REPLY", Severity.ERROR),
        Tag("NOT_AUTHORITATIVE", Severity.ERROR),
    ),
    reasons=REASONS["PRE03"],
)
def judge_answers(pre: PrecheckEvidence) -> Iterator[Finding]:
    """PRE03: every measured address answers authoritatively over UDP and TCP."""
    zone = pre.zone
    for transport in (Transport.UDP, Transport.TCP):
        observed = pre.evidence.soa(transport)
        for key in pre.measured_targets():
            obs = observed.get(key)
            if obs is None or is_local_failure(obs):
                continue
            nameserver, address = key
            where = f"{nameserver} {address} over {transport.upper()}"
            if obs.reply is None and obs.failure not in (FailureKind.MALFORMED,):
                if transport is Transport.UDP and _answers_elsewhere(pre, key):
                    continue  # PRE04 names the source the replies came from
                yield judge_answers.finding(
                    "NO_REPLY",
                    f"{where}: no reply ({obs.failure}{_detail(obs)})",
                    nameserver=nameserver, address=address, reason="no-reply",
                    args={"transport": str(transport), "failure": str(obs.failure)})
                continue
            reason = lame_reason(obs, zone)
            if reason:
                yield judge_answers.finding(
                    "NOT_AUTHORITATIVE",
                    f"{where} {_ANSWER_WORDS[reason]}", nameserver=nameserver,
                    address=address, reason=reason,
                    args={"transport": str(transport)})


def _detail(obs: Observation) -> str:
    return f": {obs.detail}" if obs.detail else ""


def _answers_elsewhere(pre: PrecheckEvidence, key: tuple[str, str]) -> bool:
    seen = pre.sources.get(key)
    return seen is not None and seen.source is not None and seen.source != key[1]


@register_precheck(
    "PRE04",
    "Replies come from the address queried",
    "A query sent from an unconnected UDP socket (which accepts a reply from any source) to "
    "each address gets its reply from that same address; a reply from another address is "
    "ERROR different-source (resolvers drop it, as a connected socket does: the address then "
    "seems silent over UDP, so PRE03 leaves it to this check).",
    tags=(Tag("DIFFERENT_SOURCE", Severity.ERROR),),
    reasons=REASONS["PRE04"],
)
def judge_source(pre: PrecheckEvidence) -> Iterator[Finding]:
    """PRE04: replies come from the address that was queried."""
    for key in pre.measured_targets():
        seen = pre.sources.get(key)
        if seen is not None and seen.source is not None and seen.source != key[1]:
            nameserver, address = key
            yield judge_source.finding(
                "DIFFERENT_SOURCE",
                f"{nameserver} {address}: the reply came from {seen.source} "
                f"port {seen.port}, not from the address queried",
                nameserver=nameserver, address=address, reason="different-source",
                args={"source": seen.source, "port": seen.port})


# --- PRE05 / PRE06 / PRE07: the zone agrees with the proposal ----------------------------------

def _authoritative(obs: Observation | None) -> bool:
    return (obs is not None and obs.reply is not None
            and obs.reply.rcode() == dns.rcode.NOERROR and aa_set(obs.reply))


@register_precheck(
    "PRE05",
    "The apex NS set equals the proposed set",
    "Each address that answers the zone's NS query authoritatively serves exactly the "
    "proposed NS names; otherwise ERROR ns-set-differs with the names only in the zone and "
    "only in the proposal.",
    tags=(Tag("NS_SET_DIFFERS", Severity.ERROR),),
    reasons=REASONS["PRE05"],
)
def judge_ns_set(pre: PrecheckEvidence) -> Iterator[Finding]:
    """PRE05: each server's apex NS set equals the proposed one."""
    proposed = set(pre.proposal.names)
    for obs in pre.evidence.select("NS", Transport.UDP):
        key = (obs.nameserver, obs.address)
        if obs.question.name != pre.zone or key in pre.unmeasured or not _authoritative(obs):
            continue
        assert obs.reply is not None
        served = set(apex_ns_names(obs.reply, pre.zone))
        if served != proposed:
            extra, missing = sorted(served - proposed), sorted(proposed - served)
            words = "; ".join(part for part in (
                f"only in the zone: {', '.join(extra)}" if extra else "",
                f"only in the proposal: {', '.join(missing)}" if missing else "") if part)
            yield judge_ns_set.finding(
                "NS_SET_DIFFERS",
                f"{obs.nameserver} {obs.address} serves another NS set ({words})",
                nameserver=obs.nameserver, address=obs.address,
                reason="ns-set-differs", args={"only_zone": extra,
                                               "only_proposal": missing})


@register_precheck(
    "PRE06",
    "Every address serves the same SOA",
    "The authoritative SOA answers (UDP) of all addresses carry the same serial (else ERROR "
    "serial-differs for each address behind the newest serial, RFC 1982) and the same MNAME, "
    "RNAME and timers (else ERROR soa-differs for each address that differs from most).",
    tags=(
        Tag("SERIAL_DIFFERS", Severity.ERROR),
        Tag("SOA_DIFFERS", Severity.ERROR),
    ),
    reasons=REASONS["PRE06"],
)
def judge_soa(pre: PrecheckEvidence) -> Iterator[Finding]:
    """PRE06: all servers serve the same serial and the same other SOA fields."""
    soas = {}
    for key, obs in pre.evidence.soa(Transport.UDP).items():
        if key in pre.unmeasured or obs.reply is None or lame_reason(obs, pre.zone):
            continue
        soa = apex_soa(obs.reply, pre.zone)
        if soa is not None:
            soas[key] = soa
    newest = highest_serial(int(s.serial) for s in soas.values())
    fields = Counter(_soa_fields(s) for s in soas.values())
    usual = fields.most_common(1)[0][0] if fields else None
    for (nameserver, address), soa in soas.items():
        if int(soa.serial) != newest:
            yield judge_soa.finding(
                "SERIAL_DIFFERS",
                f"{nameserver} {address} serves serial {soa.serial}, others "
                f"{newest}", nameserver=nameserver, address=address,
                reason="serial-differs", args={"serial": int(soa.serial),
                                               "newest": newest})
        if len(fields) > 1 and _soa_fields(soa) != usual:
            yield judge_soa.finding(
                "SOA_DIFFERS",
                f"{nameserver} {address} serves other SOA fields than most servers",
                nameserver=nameserver, address=address, reason="soa-differs")


def _soa_fields(soa: dns.rdtypes.ANY.SOA.SOA) -> tuple[object, ...]:
    return (soa.mname, soa.rname, soa.refresh, soa.retry, soa.expire, soa.minimum)


def authoritative_addresses(pre: PrecheckEvidence, name: str) -> dict[str, set[str]]:
    """Per address that answered authoritatively: the A and AAAA of `name` it serves."""
    out: dict[str, set[str]] = {}
    for rdtype in ("A", "AAAA"):
        for obs in pre.evidence.select(rdtype, Transport.UDP):
            if obs.question.name == name and _authoritative(obs):
                assert obs.reply is not None
                out.setdefault(obs.address, set()).update(rrset_addresses(obs.reply, name))
    return out


@register_precheck(
    "PRE07",
    "Glue equals the authoritative A and AAAA records",
    "For each NS name with proposed glue, the glue addresses equal the A and AAAA records "
    "the name's zone serves: for names inside the zone, as each address of the proposed "
    "servers answers them; for names elsewhere, as the resolver finds them. Each address in "
    "one but not the other is ERROR glue-differs. A name inside the zone without glue is "
    "ERROR missing-glue (the parent could not refer to it); a name elsewhere that does not "
    "resolve is ERROR unresolvable.",
    tags=(
        Tag("MISSING_GLUE", Severity.ERROR),
        Tag("UNRESOLVABLE", Severity.ERROR),
        Tag("GLUE_DIFFERS", Severity.ERROR),
    ),
    reasons=REASONS["PRE07"],
)
def judge_glue(pre: PrecheckEvidence) -> Iterator[Finding]:
    """PRE07: in-zone names have glue, and the glue matches what the names resolve to."""
    for server in pre.proposal.nameservers:
        name = server.name
        if pre.proposal.in_zone(name):
            if not server.glue:
                yield judge_glue.finding(
                    "MISSING_GLUE",
                    f"{name} lies inside {pre.zone} but has no glue address",
                    nameserver=name, reason="missing-glue")
                continue
            views = authoritative_addresses(pre, name)
        else:
            if name not in pre.resolved:
                error = pre.resolution_errors.get(name, "no A/AAAA record")
                yield judge_glue.finding(
                    "UNRESOLVABLE",
                    f"{name} does not resolve ({error})", nameserver=name,
                    reason="unresolvable")
                continue
            if not server.glue:
                continue
            views = {"resolver": set(pre.resolved[name])}
        yield from _glue_differences(pre, name, set(server.glue), views)


def _glue_differences(pre: PrecheckEvidence, name: str, glue: set[str],
                      views: Mapping[str, set[str]]) -> Iterator[Finding]:
    reported: set[str] = set()
    for source, served in views.items():
        if not pre.evidence.settings.ipv6:  # v6 records cannot be compared with unprobed v6
            served = {a for a in served if not is_ipv6(a)} | {a for a in glue if is_ipv6(a)}
        for address in sorted(glue ^ served):
            if address in reported:
                continue
            reported.add(address)
            where = "in the glue only" if address in glue else "in the zone only"
            yield judge_glue.finding(
                "GLUE_DIFFERS",
                f"{name} {address} is {where} (glue {sorted(glue)}, "
                f"{source} serves {sorted(served)})", nameserver=name,
                address=address, reason="glue-differs",
                args={"glue": sorted(glue), "served": sorted(served),
                      "seen_at": source})


# --- PRE08: the referral fits 512 octets ------------------------------------------------------

@register_precheck(
    "PRE08",
    "The parent's referral fits 512 octets without EDNS",
    f"The referral the parent would send (a reply to a query for a {QNAME_OCTETS}-octet name "
    f"under the zone, no EDNS, RFC 1035 compression) with the whole NS set and the minimal "
    f"glue (one A, and one AAAA when any server has IPv6) is at most {LIMIT} octets; "
    "otherwise ERROR referral-too-large, naming the first record that does not fit. The "
    "referral with every proposed glue record over 512 octets is WARNING glue-truncated, "
    "naming the first glue record a resolver asking without EDNS would not get.",
    tags=(
        Tag("REFERRAL_TOO_LARGE", Severity.ERROR),
        Tag("GLUE_TRUNCATED", Severity.WARNING),
    ),
    reasons=REASONS["PRE08"],
)
def judge_referral(pre: PrecheckEvidence) -> Iterator[Finding]:
    """PRE08: the referral fits the size limit, with all glue if possible."""
    minimal, full = pre.referral_minimal, pre.referral_full
    if minimal is not None and not minimal.fits and minimal.overflow is not None:
        record = minimal.overflow
        yield judge_referral.finding(
            "REFERRAL_TOO_LARGE",
            f"the referral with the NS set and minimal glue is {minimal.size} octets "
            f"(limit {LIMIT}); it passes the limit at {record.text}",
            nameserver=record.nameserver, address=record.address,
            reason="referral-too-large",
            args={"size": minimal.size, "limit": LIMIT, "record": record.text})
    elif full is not None and not full.fits and full.overflow is not None:
        record = full.overflow
        yield judge_referral.finding(
            "GLUE_TRUNCATED",
            f"the referral with all glue is {full.size} octets; without EDNS it "
            f"stops before {record.text} (fits: {full.size_before_overflow} octets)",
            nameserver=record.nameserver, address=record.address,
            reason="glue-truncated",
            args={"size": full.size, "limit": LIMIT, "record": record.text})


# --- PRE09: no recursion ------------------------------------------------------------------------

@register_precheck(
    "PRE09",
    "No open recursion",
    "Each address, asked '. SOA' with RD=1, gives no recursive answer (RA=1, AA=0, NOERROR "
    "with an answer); otherwise ERROR open-resolver.",
    tags=(Tag("OPEN_RECURSION", Severity.ERROR),),
    reasons=REASONS["PRE09"],
)
def judge_recursion(pre: PrecheckEvidence) -> Iterator[Finding]:
    """PRE09: no proposed server is an open resolver."""
    return open_resolver_findings(judge_recursion, pre.evidence, pre.measured_targets())


# --- PRE10 / PRE11: where the addresses are ----------------------------------------------------

_RANGES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("unspecified", ("0.0.0.0/8", "::/128")),
    ("loopback", ("127.0.0.0/8", "::1/128")),
    ("private", ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")),
    ("shared", ("100.64.0.0/10",)),
    ("link-local", ("169.254.0.0/16", "fe80::/10")),
    ("documentation", ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32",
                       "3fff::/20")),
    ("multicast", ("224.0.0.0/4", "ff00::/8")),
    ("reserved", ("240.0.0.0/4", "255.255.255.255/32")),
    ("special-purpose", ("192.0.0.0/24", "198.18.0.0/15", "192.88.99.0/24", "::ffff:0:0/96",
                         "64:ff9b:1::/48", "100::/64", "2001::/23", "2002::/16")),
)  # RFC 6890 and the IANA special-purpose address registries; 2001::/23 holds Teredo etc.
_NETWORKS = [(kind, ipaddress.ip_network(n)) for kind, nets in _RANGES for n in nets]
ALLOWED_BY_FLAG = frozenset({"private", "loopback"})  # --allow-private (labs, tests)


def address_range(address: str) -> str | None:
    """The prohibited range kind an address falls in, or None for a public address."""
    ip = ipaddress.ip_address(address)
    for kind, network in _NETWORKS:
        if ip.version == network.version and ip in network:
            return kind
    return None


def proposed_addresses(pre: PrecheckEvidence) -> list[tuple[str, str]]:
    """(name, address) of every address the delegation would lead to: glue and resolved."""
    return [(ns.name, a) for ns in pre.evidence.delegation.nameservers for a in ns.addresses]


@register_precheck(
    "PRE10",
    "No address in a prohibited range",
    "No glue or resolved address is unspecified, loopback, private (RFC 1918, fc00::/7), "
    "shared (100.64.0.0/10), link-local, documentation, multicast, reserved or another "
    "special-purpose range (RFC 6890): ERROR with the range as reason (private, loopback, "
    "link-local, multicast, documentation, shared, unspecified, reserved, special-purpose). "
    "--allow-private accepts private and loopback addresses (labs, tests); the verdict line "
    "then says so, since IANA would not.",
    tags=(Tag("PROHIBITED_ADDRESS", Severity.ERROR),),
    reasons=REASONS["PRE10"],
)
def judge_ranges(pre: PrecheckEvidence) -> Iterator[Finding]:
    """PRE10: no proposed address lies in a private or reserved range (unless allowed)."""
    for name, address in proposed_addresses(pre):
        kind = address_range(address)
        if kind is None or (pre.allow_private and kind in ALLOWED_BY_FLAG):
            continue
        yield judge_ranges.finding(
            "PROHIBITED_ADDRESS",
            f"{name} {address} is in a {kind} range: not reachable from the "
            "Internet", nameserver=name, address=address, reason=kind)


def origin_as(address: str, table: Mapping[str, int]) -> int | None:
    """The origin AS of the longest prefix in `table` holding `address`, or None."""
    ip = ipaddress.ip_address(address)
    best: tuple[int, int] | None = None
    for prefix, asn in table.items():
        network = ipaddress.ip_network(prefix, strict=False)
        if network.version == ip.version and ip in network and (
                best is None or network.prefixlen > best[0]):
            best = (network.prefixlen, asn)
    return None if best is None else best[1]


@register_precheck(
    "PRE11",
    "Addresses in more than one network",
    "When 2 or more IPv4 addresses are proposed, they are not all in one /24 (else ERROR "
    "one-ipv4-prefix); likewise IPv6 and /48 (ERROR one-ipv6-prefix). With an ASN table "
    "(--asn-table: 'PREFIX ASN' lines, read locally, never fetched) the addresses it knows "
    "are not all announced by one origin AS (else ERROR one-asn; IANA's own test reads BGP).",
    tags=(
        Tag("ONE_IPV4_PREFIX", Severity.ERROR),
        Tag("ONE_IPV6_PREFIX", Severity.ERROR),
        Tag("ONE_ASN", Severity.ERROR),
    ),
    reasons=REASONS["PRE11"],
)
def judge_networks(pre: PrecheckEvidence) -> Iterator[Finding]:
    """PRE11: the addresses span more than one prefix per family and more than one AS."""
    addresses = sorted({a for _n, a in proposed_addresses(pre)})
    for kind, version in ((Family.IPV4, 4), (Family.IPV6, 6)):
        family = [a for a in addresses if family_of(a) is kind]
        prefixes = {network_prefix(a) for a in family}
        if len(family) >= 2 and len(prefixes) == 1:
            prefix = str(next(iter(prefixes)))
            yield judge_networks.finding(
                f"ONE_IPV{version}_PREFIX",
                f"all {len(family)} IPv{version} addresses are in {prefix}: one "
                "routing failure takes them all", reason=f"one-ipv{version}-prefix",
                args={"prefix": prefix, "addresses": family})
    if pre.asn_table and len(addresses) >= 2:
        origins = {a: origin_as(a, pre.asn_table) for a in addresses}
        known = {asn for asn in origins.values() if asn is not None}
        if len(known) == 1 and None not in origins.values():
            asn = known.pop()
            yield judge_networks.finding(
                "ONE_ASN",
                f"all {len(addresses)} addresses are announced by AS{asn}",
                reason="one-asn", args={"asn": asn})


# --- PRE12 / PRE13: DNSSEC with the proposed DS set ------------------------------------------

def served_keys(pre: PrecheckEvidence) -> dict[tuple[str, str], list[DNSKEY]]:
    """The DNSKEYs each measured address serves; unmeasured addresses left out."""
    keys = dnssec.served_keys(pre.evidence)
    return {k: v for k, v in keys.items() if k not in pre.unmeasured}


def _tags(ds_set: Iterable[DS]) -> str:
    return ", ".join(str(ds.key_tag) for ds in ds_set) or "none"


@register_precheck(
    "PRE12",
    "Each proposed DS matches a DNSKEY served by every server",
    "With --ds: each DS record's digest, recomputed, matches a DNSKEY (zone key flag set) that "
    "the servers serve; a DS that matches no key anywhere is ERROR no-matching-dnskey, an "
    "address that serves no key matching a DS that others match is ERROR dnskey-missing. An "
    "algorithm that must not be used for DNSSEC signing (RFC 8624: 1, 3, 6, 12; 0, 2, 4, 9, "
    "11 and 252-255 are not signing algorithms) is ERROR algorithm-not-allowed; a SHA-1 "
    "digest (type 1) is WARNING sha1-digest (RFC 8624: must not be generated).",
    tags=(
        Tag("DS_ALGORITHM_NOT_ALLOWED", Severity.ERROR),
        Tag("DS_SHA1_DIGEST", Severity.WARNING),
        Tag("DS_MATCHES_NO_DNSKEY", Severity.ERROR),
        Tag("DNSKEY_MISSING", Severity.ERROR),
    ),
    reasons=REASONS["PRE12"],
)
def judge_ds(pre: PrecheckEvidence) -> Iterator[Finding]:
    """PRE12: the proposed DS records use allowed algorithms and match a served DNSKEY."""
    if not pre.proposal.ds:
        return
    zone = pre.zone
    keys = served_keys(pre)
    for ds in pre.proposal.ds:
        label = f"DS {ds.key_tag} (algorithm {ds.algorithm}, digest type {ds.digest_type})"
        args = {"key_tag": ds.key_tag, "algorithm": ds.algorithm,
                "digest_type": ds.digest_type}
        if ds.algorithm in NOT_ALLOWED_ALGORITHMS:
            yield judge_ds.finding(
                "DS_ALGORITHM_NOT_ALLOWED",
                f"{label}: algorithm {ds.algorithm} is not allowed for DNSSEC "
                "signing", reason="algorithm-not-allowed", args=args)
        if ds.digest_type == 1:
            yield judge_ds.finding(
                "DS_SHA1_DIGEST",
                f"{label}: SHA-1 digests must not be generated (RFC 8624); use "
                "SHA-256", reason="sha1-digest", args=args)
        matching = {key: [k for k in served if _zone_key_matches(zone, ds, k)]
                    for key, served in keys.items()}
        if not any(matching.values()):
            served_tags = sorted({dns.dnssec.key_id(k) for v in keys.values() for k in v})
            now = ("" if pre.current_ds is None else
                   f"; replacing the parent's DS set ({_tags(pre.current_ds)}) with it breaks "
                   "the chain of trust")
            yield judge_ds.finding(
                "DS_MATCHES_NO_DNSKEY",
                f"{label} matches no DNSKEY the servers serve (they serve key "
                f"tag(s) {served_tags or 'none'}){now}", reason="no-matching-dnskey",
                args={**args, "served_key_tags": served_tags})
            continue
        for (nameserver, address), found in matching.items():
            if not found:
                yield judge_ds.finding(
                    "DNSKEY_MISSING",
                    f"{nameserver} {address} serves no DNSKEY matching {label}",
                    nameserver=nameserver, address=address, reason="dnskey-missing",
                    args=args)


#: RFC 8624 "MUST NOT" for signing, and numbers that are no signing algorithm at all.
NOT_ALLOWED_ALGORITHMS = frozenset({0, 1, 2, 3, 4, 6, 9, 11, 12, *range(123, 252), 252, 253,
                                    254, 255})


def _zone_key_matches(zone: str, ds: DS, key: DNSKEY) -> bool:
    return bool(key.flags & dnssec.ZONE_KEY_FLAG) and bool(dnssec.ds_matches(zone, ds, key))


@register_precheck(
    "PRE13",
    "The zone validates through the proposed DS set",
    "With --ds and a DS that matches a served key: at each address the DNSKEY RRset carries a "
    "valid signature by a key a proposed DS matches, and the SOA's signature validates with "
    "the DNSKEY set, at the time of the query. Otherwise ERROR breaks-chain for that address: "
    "once the proposed DS set replaces the current one (named when the parent was asked), "
    "validating resolvers would find the zone bogus there.",
    tags=(Tag("CHAIN_BROKEN", Severity.ERROR),),
    reasons=REASONS["PRE13"],
)
def judge_chain(pre: PrecheckEvidence) -> Iterator[Finding]:
    """PRE13: the chain of trust validates through the proposed DS set on every server."""
    ds_set = pre.proposal.ds
    if not ds_set:
        return
    zone = pre.zone
    keys = served_keys(pre)
    if not any(_zone_key_matches(zone, ds, k) for ds in ds_set for v in keys.values()
               for k in v):
        return  # PRE12 says no DS matches anything: nothing to validate through
    dnskey_obs = by_label(pre.evidence, DNSKEY_DO)
    soa_obs = by_label(pre.evidence, SOA_DO)
    change = (f"the DS set {_tags(pre.current_ds)} at the parent replaced by {_tags(ds_set)}"
              if pre.current_ds is not None else f"the DS set {_tags(ds_set)}")
    for key, served in keys.items():
        anchors = [k for k in served if any(_zone_key_matches(zone, ds, k) for ds in ds_set)]
        if not anchors:
            continue  # PRE12 dnskey-missing
        problem = _chain_problem(zone, dnskey_obs.get(key), soa_obs.get(key), anchors, served)
        if problem:
            nameserver, address = key
            yield judge_chain.finding(
                "CHAIN_BROKEN",
                f"{nameserver} {address}: {problem}; with {change}, validating "
                "resolvers would find the zone bogus", nameserver=nameserver,
                address=address, reason="breaks-chain",
                args={"proposed_key_tags": [d.key_tag for d in ds_set],
                      "current_key_tags": None if pre.current_ds is None
                      else [d.key_tag for d in pre.current_ds]})


def _chain_problem(zone: str, dnskey_obs: Observation | None, soa_obs: Observation | None,
                   anchors: list[DNSKEY], served: list[DNSKEY]) -> str | None:
    if dnskey_obs is None or dnskey_obs.reply is None:
        return "no DNSKEY answer with signatures (DO=1)"
    rrset = dnssec.answer_rrset(dnskey_obs.reply, zone, dns.rdatatype.DNSKEY)
    sigs = dnssec.answer_rrset(dnskey_obs.reply, zone, dns.rdatatype.RRSIG, dns.rdatatype.DNSKEY)
    if rrset is None:
        return "no DNSKEY RRset"
    status = dnssec.signature_status(rrset, sigs, anchors, dnskey_obs.sent_at)
    if status != "valid":
        return f"the DNSKEY RRset has no valid signature by the DS key(s) ({status})"
    if soa_obs is None or soa_obs.reply is None:
        return None  # nothing more to validate; PRE03 speaks for a silent address
    soa = dnssec.answer_rrset(soa_obs.reply, zone, dns.rdatatype.SOA)
    soa_sigs = dnssec.answer_rrset(soa_obs.reply, zone, dns.rdatatype.RRSIG, dns.rdatatype.SOA)
    if soa is None:
        return None
    status = dnssec.signature_status(soa, soa_sigs, served, soa_obs.sent_at)
    if status != "valid":
        return f"the SOA does not validate with the DNSKEY set ({status})"
    return None


#: The prechecks in report order: an explicit list, not import order.
PRECHECKS: dict[str, Check] = catalogue(
    judge_count, judge_hostnames, judge_answers, judge_source, judge_ns_set, judge_soa,
    judge_glue, judge_referral, judge_recursion, judge_ranges, judge_networks, judge_ds,
    judge_chain,
)
