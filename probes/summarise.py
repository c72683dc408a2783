"""Summarise: the fourth stage of a sweep, after judge. From the observations and the findings
to the plain values of the report that every reader downstream takes as they are.

Per (name server, address, transport) a ServerStatus row; per address its ServerState,
serial and RFC 1982 lag; per zone the name servers up, ICANN Spec 10 availability and the
DNSSEC state. The monitor (metrics, status page, history, mails) reads these and never works
them out again, so no two of them can disagree.

Pure: no I/O. The per-address part runs whenever a ZoneReport is made (see its
__post_init__), so a report read back from the store carries the same summary.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from collections.abc import Set as AbstractSet
from typing import TYPE_CHECKING, Any, NamedTuple

from probes.addresses import address_key, is_ipv6
from probes.checks import CHECKS, dnssec, edns, security
from probes.checks.availability import spec10_available, tally_servers
from probes.checks.lame import own_verdicts
from probes.evidence import Evidence, serial_of
from probes.labels import AXFR, DNSKEY_DO, RECURSION, by_label
from probes.model import (
    AddressSummary,
    DnssecState,
    Finding,
    Observation,
    ServerState,
    ServerStatus,
    Severity,
    Transport,
)
from probes.serial import highest_serial, serial_lag

if TYPE_CHECKING:
    from probes.model import ZoneReport

#: The checks whose errors make a signed zone with DS "bogus".
DNSSEC_VALIDITY_CHECKS = ("DNSSEC01", "DNSSEC02")


def summarise(
    full: Evidence, evidence: Evidence, findings: Sequence[Finding],
    measurement: Measurement | None = None,
) -> tuple[list[ServerStatus], DnssecState]:
    """The stage as the sweep runs it: the rows of every probed address (`full`, measured or
    not) with the further queries' facts of the measured ones (`evidence`), and the zone's
    DNSSEC state from the judged findings. With `measurement`, the rows of unmeasured
    addresses say so and UDP rows carry their loss: each row is made once, whole."""
    statuses = server_statuses(full, facts=address_facts(evidence), measurement=measurement)
    return statuses, dnssec_state(evidence, findings)


# --- rows ----------------------------------------------------------------------------


class Measurement(NamedTuple):
    """What the sweep knows of its own measuring: the addresses it left unmeasured, and the
    UDP loss per address."""

    unmeasured: AbstractSet[str]
    udp_loss: Callable[[str], float | None]


#: The fields of an unmeasured address's rows: no verdict, nothing measured.
_UNMEASURED: dict[str, Any] = {
    "measured": False, "answered": False, "authoritative": False, "rtt": None,
    "serial": None, "lame_reason": "", "within_threshold": False}

Facts = Callable[[tuple[str, str]], dict[str, Any]]


def server_statuses(evidence: Evidence, *, facts: Facts | None = None,
                    measurement: Measurement | None = None) -> list[ServerStatus]:
    """The per (NS, address, transport) summary, in delegation order; UDP rows with the
    address's `facts` (see `address_facts`), and marked by `measurement` when given."""
    udp = evidence.soa(Transport.UDP)
    tcp = evidence.soa(Transport.TCP)
    own = own_verdicts(evidence)
    udp_verdicts, tcp_verdicts = own[Transport.UDP], own[Transport.TCP]
    zone = evidence.zone
    udp_threshold = evidence.settings.rtt_udp_threshold
    tcp_threshold = evidence.settings.rtt_tcp_threshold
    statuses = []
    for key in evidence.targets():
        obs = udp.get(key)
        if obs is not None:
            row = _row(obs, udp_verdicts[key], zone, udp_threshold)
            if facts is not None:
                row.update(facts(key))
            if measurement is not None:
                if key[1] in measurement.unmeasured:
                    row.update(_UNMEASURED)
                else:
                    row["udp_loss"] = measurement.udp_loss(key[1])
            statuses.append(ServerStatus(key[0], key[1], Transport.UDP, **row))
        obs = tcp.get(key)
        if obs is not None:
            row = _row(obs, tcp_verdicts[key], zone, tcp_threshold)
            if measurement is not None and key[1] in measurement.unmeasured:
                row.update(_UNMEASURED)
            statuses.append(ServerStatus(key[0], key[1], Transport.TCP, **row))
    return statuses


def _row(obs: Observation, own: tuple[str, str], zone: str, threshold: float) -> dict[str, Any]:
    """The fields of one observation's row that its own reply (and `own` verdict) tell."""
    verdict, reason = own
    authoritative = verdict == "ok"
    answered = obs.reply is not None
    return {
        "answered": answered,
        "authoritative": authoritative,
        "rtt": obs.rtt if answered else None,
        "serial": serial_of(obs, zone) if authoritative else None,
        "lame_reason": reason if verdict == "lame" else "",
        "failure": str(obs.failure) if obs.failure else "",
        "within_threshold": authoritative and obs.rtt is not None and obs.rtt <= threshold,
    }


def address_facts(evidence: Evidence) -> Facts | None:
    """The further queries' facts of one address, as ServerStatus fields (its UDP row's);
    None when the sweep holds none (the core checks alone): every row keeps its defaults."""
    expiries = dnssec.expiries(evidence)
    valid: dict[tuple[str, str], bool] = {}
    if dnssec.is_signed(evidence):
        valid = {key: all(v.status == "valid" for v in verdicts)
                 for key, verdicts in dnssec.signature_verdicts(evidence).items()}
    nsids = edns.nsids(evidence)
    outcomes = edns.edns_outcomes(evidence)
    axfr = by_label(evidence, AXFR)
    recursion = by_label(evidence, RECURSION)
    if not (expiries or valid or nsids or outcomes or axfr or recursion):
        return None

    def facts(key: tuple[str, str]) -> dict[str, Any]:
        expiry = expiries.get(key)
        return {
            "rrsig_expires_at": expiry.expires_at if expiry else None,
            "dnssec_valid": valid.get(key),
            "nsid": nsids.get(key, ""),
            "edns": outcomes.get(key, {}),
            "axfr_open": security.axfr_granted(axfr.get(key), evidence.zone),
            "recursion_open": security.recursion_offered(recursion.get(key)),
        }

    return facts


# --- DNSSEC --------------------------------------------------------------------------


def dnssec_state(evidence: Evidence, findings: Iterable[Finding]) -> DnssecState:
    """The zone's DNSSEC state: what the parent and the servers serve, and whether DNSSEC01 or
    DNSSEC02 found an error (their findings, at the registry's default severity of their tag,
    so a re-levelled tag changes the mail, not the state). With either check disabled a zone
    with DS stays UNKNOWN: nothing judged whether it validates."""
    if not by_label(evidence, DNSKEY_DO):
        return DnssecState.UNKNOWN
    ds_set = dnssec.ds_records(evidence)
    keys = dnssec.zone_keys(evidence)
    if ds_set is None:  # the parent did not answer: only "unsigned" can still be told
        signed = dnssec.served_keys(evidence) and not keys
        return DnssecState.UNSIGNED if signed else DnssecState.UNKNOWN
    if not ds_set:
        return DnssecState.ISLAND if keys else DnssecState.UNSIGNED
    if not keys:
        return DnssecState.BOGUS
    if set(DNSSEC_VALIDITY_CHECKS) & set(evidence.settings.disabled_checks):
        return DnssecState.UNKNOWN
    broken = any(f.check in DNSSEC_VALIDITY_CHECKS
                 and CHECKS[f.check].severity(f.tag) >= Severity.ERROR for f in findings)
    return DnssecState.BOGUS if broken else DnssecState.SECURE


# --- per address and per zone (run by ZoneReport itself) -----------------------------


class ReportFacts(NamedTuple):
    """What a report's rows come to: ZoneReport's fields of the same names."""

    addresses: tuple[AddressSummary, ...]  # sorted by name server, then address
    nameservers_up: tuple[int, int]  # (up on every measured address, with one measured)
    available: bool | None  # ICANN Spec 10 over what was measured; None: no verdict
    serial: int | None  # the highest served (RFC 1982)
    distinct_serials: int  # how many different serials the authoritative answers carry


def summarise_addresses(report: ZoneReport) -> ReportFacts:
    """The per-address and per-zone facts of the report's rows."""
    grouped: dict[tuple[str, str], list[ServerStatus | None]] = {}
    for status in report.servers:  # [UDP row, TCP row] per address
        rows = grouped.get((status.nameserver, status.address))
        if rows is None:
            rows = grouped[(status.nameserver, status.address)] = [None, None]
        rows[status.transport is Transport.TCP] = status
    serials = {key: s for key, (udp, tcp) in grouped.items()
               if (s := _serial_of(udp, tcp)) is not None}
    top = highest_serial(serials.values())
    out = []
    for (ns, address), (udp, tcp) in grouped.items():
        serial = serials.get((ns, address))
        lag = None if serial is None or top is None else serial_lag(serial, top)
        state, reason = server_state(tuple(s for s in (udp, tcp) if s is not None), lag)
        out.append(AddressSummary(ns, address, udp, tcp, serial, lag, reason, state,
                                  is_ipv6(address)))
    out.sort(key=_address_order)
    addresses = tuple(out)
    up, measured, unmeasured = tally_servers(
        (a.nameserver, a.up if a.measured else None) for a in addresses)
    available = None if report.unknown else spec10_available(up, unmeasured)
    return ReportFacts(addresses, (up, measured), available, top, len(set(serials.values())))


def _address_order(summary: AddressSummary) -> tuple[str, tuple[int, int, str]]:
    return summary.nameserver, address_key(summary.address)


def _serial_of(udp: ServerStatus | None, tcp: ServerStatus | None) -> int | None:
    for s in (udp, tcp):
        if s is not None and s.authoritative and s.serial is not None:
            return s.serial
    return None


def server_state(rows: tuple[ServerStatus, ...], lag: int | None) -> tuple[ServerState, str]:
    """(state, lame reason) of one address from its UDP and TCP rows and its serial lag."""
    answered = 0
    slow = False
    for s in rows:
        if not s.measured:
            return ServerState.UNMEASURED, ""
    for s in rows:  # a reply that came only as garbage is lame ("malformed") though unanswered
        if s.lame_reason or (s.answered and not s.authoritative):
            return ServerState.LAME, s.lame_reason or "unknown"
        if s.answered:
            answered += 1
            slow = slow or not s.within_threshold
    if not answered:
        return ServerState.DOWN, ""
    if lag:
        return ServerState.STALE, ""
    if slow:
        return ServerState.SLOW, ""
    if answered < len(rows):
        return ServerState.DEGRADED, ""
    return ServerState.OK, ""
