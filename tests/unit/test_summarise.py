"""The summarise stage and the one-of-each helpers in probes/: address family, duration and UTC
text, the Spec 10 rule, and a report's summary surviving the store's JSON round trip."""

from __future__ import annotations

import dataclasses

import pytest

from probes.addresses import Family, address_key, family_of, is_ipv6
from probes.checks.availability import spec10_available, tally_servers
from probes.model import DnssecState, ServerState, ServerStatus, Transport, ZoneReport
from probes.text import duration_text, utc_text


@pytest.mark.parametrize(("address", "family"), [
    ("192.0.2.1", Family.IPV4), ("2001:db8::1", Family.IPV6), ("::1", Family.IPV6),
    ("::ffff:192.0.2.1", Family.IPV6), ("fe80::1%eth0", Family.IPV6), ("not-an-ip", Family.IPV4),
])
def test_one_family_rule(address: str, family: Family) -> None:
    assert family_of(address) == family == str(family)
    assert is_ipv6(address) is (family is Family.IPV6)


def test_addresses_sort_v4_first_and_numerically() -> None:
    shown = sorted(["2001:db8::2", "192.0.2.10", "bogus", "192.0.2.9"], key=address_key)
    assert shown == ["192.0.2.9", "192.0.2.10", "2001:db8::2", "bogus"]


@pytest.mark.parametrize(("seconds", "text"), [
    (-3, "0.0 s"), (0, "0.0 s"), (4.54, "4.5 s"), (9.94, "9.9 s"), (9.96, "10 s"), (59, "59 s"),
    (60, "1 min"), (61, "1 min 1 s"), (750, "12 min 30 s"), (3599, "59 min 59 s"),
    (3600, "1 h"), (3660, "1 h 1 min"), (86399, "23 h 59 min"), (86400, "1 d"),
    (3 * 86400 + 4 * 3600 + 59, "3 d 4 h"),
])
def test_duration_text(seconds: float, text: str) -> None:
    assert duration_text(seconds) == text


def test_utc_text() -> None:
    assert utc_text(1_800_000_000) == "2027-01-15 08:00:00 UTC"


@pytest.mark.parametrize(("up", "unmeasured", "verdict"), [
    (2, 0, True), (3, 5, True), (1, 0, False), (0, 1, False), (1, 1, None), (0, 2, None),
    (0, 0, False),
])
def test_spec10_rule_on_both_sides_of_two(up: int, unmeasured: int, verdict: bool | None) -> None:
    assert spec10_available(up, unmeasured) is verdict


def test_tally_counts_name_servers_by_their_measured_addresses() -> None:
    rows = [("a.", True), ("a.", None), ("b.", True), ("b.", False), ("c.", None), ("d.", True)]
    assert tally_servers(rows) == (2, 3, 1)  # a and d up; b half down; c not measured


def _row(ns: str, address: str, transport: Transport, serial: int | None = 7,
         **kw: object) -> ServerStatus:
    base: dict[str, object] = dict(answered=True, authoritative=serial is not None, rtt=0.01,
                                   serial=serial, within_threshold=serial is not None)
    return ServerStatus(ns, address, transport, **{**base, **kw})  # type: ignore[arg-type]


def _report(*rows: ServerStatus, **kw: object) -> ZoneReport:
    return ZoneReport("fr", 1_800_000_000.0, 0.1, rows, (), **kw)  # type: ignore[arg-type]


def test_report_summary_states_lag_and_availability() -> None:
    report = _report(
        _row("ns1.fr.", "192.0.2.1", Transport.UDP), _row("ns1.fr.", "192.0.2.1", Transport.TCP),
        _row("ns2.fr.", "192.0.2.2", Transport.UDP, serial=6),
        _row("ns3.fr.", "192.0.2.3", Transport.UDP, serial=None, lame_reason="refused"),
        _row("ns4.fr.", "2001:db8::4", Transport.UDP, serial=None, measured=False,
             answered=False),
        dnssec="island")
    by = {a.nameserver: a for a in report.addresses}
    assert [by[n].state for n in ("ns1.fr.", "ns2.fr.", "ns3.fr.", "ns4.fr.")] == [
        ServerState.OK, ServerState.STALE, ServerState.LAME, ServerState.UNMEASURED]
    assert (by["ns2.fr."].lag, by["ns1.fr."].lag, by["ns3.fr."].lag) == (1, 0, None)
    assert by["ns3.fr."].lame_reason == "refused" and by["ns4.fr."].ipv6
    assert report.serial == 7 and report.dnssec is DnssecState.ISLAND
    # ns1 and ns2 up (stale still answers in time), ns3 lame, ns4 not measured: available
    assert report.nameservers_up == (2, 3) and report.available is True
    one_up = dataclasses.replace(report, servers=report.servers[:2] + report.servers[3:])
    assert one_up.nameservers_up == (1, 2) and one_up.available is None  # ns4 might be up
    assert dataclasses.replace(one_up, unknown=True).available is None


def test_summary_survives_the_stores_json_and_old_documents_get_one() -> None:
    report = _report(_row("ns1.fr.", "192.0.2.1", Transport.UDP),
                     _row("ns2.fr.", "192.0.2.2", Transport.UDP, serial=9), dnssec="bogus")
    data = report.to_dict()
    assert data["addresses"][0] == {"nameserver": "ns1.fr.", "address": "192.0.2.1",
                                    "state": "stale", "lame_reason": "", "serial": 7, "lag": 2}
    assert (data["available"], data["nameservers_up"], data["serial"]) == (True, [2, 2], 9)
    assert data["distinct_serials"] == report.distinct_serials == 2
    assert ZoneReport.from_dict(data) == report
    old = {k: v for k, v in data.items() if k not in (
        "addresses", "available", "nameservers_up", "serial", "distinct_serials")}
    assert ZoneReport.from_dict({**old, "dnssec": ""}).dnssec is DnssecState.UNKNOWN
    assert ZoneReport.from_dict(old).addresses == report.addresses


def test_dnssec_words_of_a_newer_version_read_as_unknown() -> None:
    assert [DnssecState.of(w) for w in ("secure", "", "half-baked")] == [
        DnssecState.SECURE, DnssecState.UNKNOWN, DnssecState.UNKNOWN]


def _state_row(transport: Transport, kind: str) -> ServerStatus:
    """A row of one kind: ok, slow, down, lame (reason refused), garbage (unanswered yet
    lame "malformed"), noaa (answered, not authoritative, no reason), unmeasured."""
    answered = kind in ("ok", "slow", "lame", "noaa")
    return ServerStatus(
        "ns1.fr.", "192.0.2.1", transport, answered=answered,
        authoritative=kind in ("ok", "slow"), rtt=0.01 if answered else None,
        serial=7 if kind in ("ok", "slow") else None,
        lame_reason={"lame": "refused", "garbage": "malformed"}.get(kind, ""),
        within_threshold=kind == "ok", measured=kind != "unmeasured")


@pytest.mark.parametrize(("udp", "tcp", "lag", "state", "reason"), [
    ("ok", "ok", 0, ServerState.OK, ""),
    ("ok", None, None, ServerState.OK, ""),
    ("ok", "ok", 1, ServerState.STALE, ""),  # one step behind is stale, 0 is not
    ("slow", "ok", 0, ServerState.SLOW, ""),
    ("ok", "slow", 0, ServerState.SLOW, ""),  # either transport slow
    ("slow", "ok", 3, ServerState.STALE, ""),  # stale before slow
    ("ok", "down", 0, ServerState.DEGRADED, ""),
    ("down", "ok", 0, ServerState.DEGRADED, ""),
    ("slow", "down", 0, ServerState.SLOW, ""),  # slow before degraded
    ("down", "down", None, ServerState.DOWN, ""),
    ("down", None, None, ServerState.DOWN, ""),
    ("lame", "ok", 0, ServerState.LAME, "refused"),
    ("ok", "lame", 0, ServerState.LAME, "refused"),  # lame over either transport
    ("garbage", "down", None, ServerState.LAME, "malformed"),  # unanswered, still lame
    ("noaa", "ok", 0, ServerState.LAME, "unknown"),
    ("noaa", "lame", None, ServerState.LAME, "unknown"),  # the first lame row's reason
    ("down", "lame", None, ServerState.LAME, "refused"),
    ("unmeasured", "lame", None, ServerState.UNMEASURED, ""),  # unmeasured before lame
    ("ok", "unmeasured", 0, ServerState.UNMEASURED, ""),
])
def test_server_state_of_each_pair_of_rows(udp: str, tcp: str | None, lag: int | None,
                                           state: ServerState, reason: str) -> None:
    from probes.summarise import server_state

    rows = tuple(_state_row(t, k) for t, k in ((Transport.UDP, udp), (Transport.TCP, tcp))
                 if k is not None)
    assert server_state(rows, lag) == (state, reason)


@pytest.mark.parametrize(("address", "prefix"), [
    ("192.0.2.0", "192.0.2.0/24"), ("192.0.2.255", "192.0.2.0/24"),
    ("192.0.3.0", "192.0.3.0/24"),  # one past the /24
    ("2001:db8:1:ffff:ffff:ffff:ffff:ffff", "2001:db8:1::/48"),
    ("2001:db8:2::", "2001:db8:2::/48"),  # one past the /48
    ("::ffff:192.0.2.1", "::/48"), ("fe80::1%eth0", "fe80::/48"),  # mapped, scoped
    ("not-an-ip", "not-an-ip"), ("192.0.2", "192.0.2"),
])
def test_network_prefix_is_the_networks_text(address: str, prefix: str) -> None:
    import ipaddress

    from probes.addresses import network_prefix

    assert network_prefix(address) == prefix
    if prefix != address:  # what ipaddress itself names as the network
        length = 48 if ":" in address else 24
        ip = ipaddress.ip_address(address)
        assert prefix == str(ipaddress.ip_network(f"{ip}/{length}", strict=False))
