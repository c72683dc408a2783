"""Vantage health and the unmeasured state (issue 10): every rule on both sides of its edge."""

from __future__ import annotations

import asyncio
import dataclasses
import errno
import time

import pytest

from monitor.report import EXIT_CRITICAL, EXIT_OK, EXIT_UNKNOWN, summary_line, zone_exit_status
from probes.engine import QueryTally
from probes.limits import RESERVE_MIN, in_flight_cap, kept_socket_cap
from probes.model import (
    Delegation,
    FailureKind,
    FamilyHealth,
    NameServer,
    Severity,
    Source,
    Transport,
    VantageState,
    ZoneReport,
)
from probes.settings import ProbeSettings
from probes.sweep import Prober
from probes.transport import _failure_for_oserror
from probes.vantage import (
    ControlResult,
    Vantage,
    first_silent,
    needs_reassessment,
    parent_unmeasured,
    parent_zone,
    references_by_family,
    required,
    sweep_health,
    unmeasured_addresses,
    verdict,
)
from tests.unit.builders import ZONE, healthy, obs, soa_reply

V4 = ("192.0.2.1", "198.51.100.1")
V6 = ("2001:db8::1", "2001:db8::2")
ONLINE = {"ipv4": FamilyHealth("ipv4", VantageState.ONLINE, 13, 13),
          "ipv6": FamilyHealth("ipv6", VantageState.ONLINE, 13, 13)}
V6_ABSENT = {**ONLINE, "ipv6": FamilyHealth("ipv6", VantageState.ABSENT, 0, 13,
                                            "EADDRNOTAVAIL: Cannot assign requested address")}
V4_OFFLINE = {**ONLINE, "ipv4": FamilyHealth("ipv4", VantageState.OFFLINE, 0, 13)}


def answered(address: str) -> ControlResult:
    return ControlResult(address, True, False)


def silent(address: str) -> ControlResult:
    return ControlResult(address, False, False)


def local(address: str) -> ControlResult:
    return ControlResult(address, False, True, "ENETUNREACH: Network is unreachable")


# --- the verdict ---------------------------------------------------------------------------

@pytest.mark.parametrize(("min_answering", "references", "need"), [
    (4, 13, 4), (4, 4, 4), (4, 3, 3), (4, 1, 1), (3, 13, 3), (1, 13, 1),
])
def test_required_is_min_answering_or_all_when_fewer(min_answering, references, need):
    assert required(min_answering, references) == need


@pytest.mark.parametrize(("answering", "min_answering", "state"), [
    (4, 4, VantageState.ONLINE), (3, 4, VantageState.OFFLINE),
    (3, 3, VantageState.ONLINE), (2, 3, VantageState.OFFLINE),
    (0, 4, VantageState.OFFLINE),
])
def test_online_needs_min_answering_of_13(answering, min_answering, state):
    results = [answered(f"192.0.2.{i}") for i in range(answering)]
    results += [silent(f"198.51.100.{i}") for i in range(13 - answering)]
    found = verdict("ipv4", results, min_answering)
    assert (found.state, found.answering, found.references) == (state, answering, 13)


def test_fewer_references_than_min_answering_need_all_of_them():
    three = ["192.0.2.1", "192.0.2.2", "192.0.2.3"]
    assert verdict("ipv4", [answered(a) for a in three], 4).state is VantageState.ONLINE
    some = [answered(three[0]), answered(three[1]), silent(three[2])]
    assert verdict("ipv4", some, 4).state is VantageState.OFFLINE


def test_absent_only_when_every_reference_failed_on_our_host():
    assert verdict("ipv6", [local(a) for a in V6], 4).state is VantageState.ABSENT
    assert "ENETUNREACH" in verdict("ipv6", [local(a) for a in V6], 4).detail
    mixed = [local(V6[0]), silent(V6[1])]
    assert verdict("ipv6", mixed, 4).state is VantageState.OFFLINE


def test_references_default_to_the_parent_and_split_by_family():
    settings = ProbeSettings(parent_addresses=(*V4, *V6))
    assert references_by_family(settings) == {"ipv4": V4, "ipv6": V6}
    chosen = ProbeSettings(parent_addresses=V4, vantage_references=(V6[0],))
    assert references_by_family(chosen) == {"ipv6": (V6[0],)}
    assert references_by_family(ProbeSettings(parent_addresses=(*V4, *V6), ipv6=False)) == {
        "ipv4": V4}


def test_parent_zone_of_the_control_query():
    assert parent_zone("fr.") == "."
    assert parent_zone("co.uk.") == "uk."


def test_reassessment_when_the_sweep_contradicts_the_verdict():
    silent_v4 = [obs("ns1.nic.fr.", V4[0], failure=FailureKind.TIMEOUT)]
    refused_v4 = [obs("ns1.nic.fr.", V4[0], failure=FailureKind.UNREACHABLE)]  # ICMP: path works
    answer_v6 = healthy("ns2.nic.fr.", V6[0])
    assert needs_reassessment(ONLINE, silent_v4) == {"ipv4"}
    assert needs_reassessment(ONLINE, refused_v4) == set()
    assert needs_reassessment(ONLINE, healthy("ns1.nic.fr.", V4[0])) == set()
    assert needs_reassessment(V6_ABSENT, answer_v6) == {"ipv6"}  # it may be back
    assert needs_reassessment(V6_ABSENT, silent_v4 + healthy("ns1.nic.fr.", V4[1])) == {"ipv4"}


def test_family_without_references_is_absent_only_when_all_its_queries_failed_locally():
    v6_local = [obs("ns2.nic.fr.", V6[0], failure=FailureKind.LOCAL_ERROR)]
    health = sweep_health({"ipv4": ONLINE["ipv4"]}, v6_local + healthy("ns1.nic.fr.", V4[0]))
    assert health["ipv6"].state is VantageState.ABSENT
    one_works = v6_local + healthy("ns2.nic.fr.", V6[1])
    assert "ipv6" not in sweep_health({"ipv4": ONLINE["ipv4"]}, one_works)


def test_unmeasured_addresses():
    targets = [*V4, *V6]
    observations = healthy("ns1.nic.fr.", V4[0]) + healthy("ns1.nic.fr.", V6[0])
    assert unmeasured_addresses(targets, observations, ONLINE, ZONE) == set()
    assert unmeasured_addresses(targets, observations, V6_ABSENT, ZONE) == set(V6)
    assert unmeasured_addresses(targets, observations, V4_OFFLINE, ZONE) == set(V4)
    emfile = [obs("ns1.nic.fr.", V4[1], failure=FailureKind.LOCAL_ERROR)]
    assert unmeasured_addresses(targets, observations + emfile, ONLINE, ZONE) == {V4[1]}
    # Only the TCP query failed locally: the address is measured (that test is not).
    tcp = [obs("ns1.nic.fr.", V4[1], transport=Transport.TCP, failure=FailureKind.LOCAL_ERROR)]
    assert unmeasured_addresses(targets, observations + tcp, ONLINE, ZONE) == set()


def test_parent_unmeasured_only_when_every_failure_is_ours():
    assert parent_unmeasured(["192.0.2.1: local-error", "2001:db8::1: timeout"], V6_ABSENT)
    assert not parent_unmeasured(["192.0.2.1: timeout"], V6_ABSENT)
    assert parent_unmeasured(["192.0.2.1: timeout"], V4_OFFLINE)
    assert not parent_unmeasured([], V4_OFFLINE)


# --- local errors ------------------------------------------------------------------------

@pytest.mark.parametrize("code", [errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM,
                                  errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT, errno.ENETUNREACH])
def test_local_errnos_before_any_packet_are_ours(code):
    exc = OSError(code, "x")
    assert _failure_for_oserror(exc, before_packet=True) is FailureKind.LOCAL_ERROR
    # The same errno read later (an ICMP error from the path) is not ours.
    assert _failure_for_oserror(exc) is FailureKind.NETWORK_ERROR


def test_refused_is_the_servers_even_at_connect():
    exc = OSError(errno.ECONNREFUSED, "refused")
    assert _failure_for_oserror(exc, before_packet=True) is FailureKind.UNREACHABLE


@pytest.mark.parametrize(("limit", "open_now", "cap"), [
    (64, 10, 64 - 10 - RESERVE_MIN), (20000, 10, 20000 - 10 - 2000), (20, 10, 1),
])
def test_in_flight_cap_keeps_a_reserve(limit, open_now, cap):
    assert in_flight_cap(limit, open_now) == cap


@pytest.mark.parametrize(("limit", "open_now", "in_flight", "kept"), [
    # ccmon at `ulimit -n 64`: the budget lowered in flight to 38, nothing is left to keep
    (64, 10, in_flight_cap(64, 10), 0),
    # one descriptor of room beside the queries, the open ones and the reserve: one kept
    (64, 10, in_flight_cap(64, 10) - 1, 1),
    # the Prober at 1,024 with 2,000 in flight (no budget applied): nothing kept
    (1024, 10, 2000, 0),
    # a normal service limit: the engine's own maximum, then what the budget leaves
    # (20,000 - 30 open - 2,000 reserve - 2,000 in flight: every root-zone address keeps one)
    (1 << 20, 30, 2000, 16_384), (20_000, 30, 2000, 15_970),
    # the boundary of the engine's maximum: room for 16,384 at 18,238, one short at 18,237
    (18_238, 30, 1, 16_384), (18_237, 30, 1, 16_383), (18_239, 30, 1, 16_384),
])
def test_kept_sockets_fit_beside_every_query_in_flight(limit, open_now, in_flight, kept):
    assert kept_socket_cap(limit, open_now, in_flight, 16_384) == kept
    # whatever is kept, open + reserve + in flight + kept never passes the limit
    reserve = max(RESERVE_MIN, int(limit * 0.1))
    assert open_now + reserve + min(in_flight, limit) + kept <= limit or kept == 0


def test_udp_loss_counts_timeouts_among_tries():
    tally = QueryTally()
    assert tally.udp_loss("192.0.2.1") is None
    tally.udp_tries["192.0.2.1"] = 10
    tally.udp_lost["192.0.2.1"] = 3
    assert tally.udp_loss("192.0.2.1") == pytest.approx(0.3)


# --- the whole judgement ------------------------------------------------------------------

def delegation_of(servers: dict[str, list[str]], parent_failures: tuple[str, ...] = ()):
    return Delegation(
        zone=ZONE, parent_ns=tuple(sorted(servers)), glue={},
        nameservers=tuple(NameServer(n, tuple(a), frozenset({Source.PARENT, Source.GLUE}))
                          for n, a in servers.items()),
        parent_addresses=("198.51.100.53",) if servers else (),
        parent_failures=parent_failures,
    )


def report(servers, observations, health, tally=None) -> ZoneReport:
    prober = Prober(ProbeSettings(disabled_checks=frozenset({"DIV01"})))
    delegation = servers if isinstance(servers, Delegation) else delegation_of(servers)
    return prober._report("fr", 0.0, 0.0, tally or QueryTally(), delegation,
                          list(observations), health)


def checks(found: ZoneReport) -> list[tuple[str, str, str]]:
    return [(f.check, f.reason, f.address) for f in found.findings]


DUAL = {"ns1.nic.fr.": [V4[0], V6[0]], "ns2.nic.fr.": [V4[1], V6[1]]}


def v6_lost():
    return [obs(ns, a, failure=FailureKind.LOCAL_ERROR, transport=t)
            for ns, a in (("ns1.nic.fr.", V6[0]), ("ns2.nic.fr.", V6[1]))
            for t in Transport]


def test_no_ipv6_here_leaves_v4_verdicts_and_one_vantage_finding():
    observations = healthy("ns1.nic.fr.", V4[0]) + healthy("ns2.nic.fr.", V4[1]) + v6_lost()
    found = report(DUAL, observations, V6_ABSENT)
    assert checks(found) == [("VANTAGE01", "absent", "")]
    finding = found.findings[0]
    assert finding.severity is Severity.NOTICE and finding.tag == "FAMILY_ABSENT"
    assert finding.message == ("IPv6 absent at this vantage point: 2 IPv6 addresses not "
                               "measured")
    assert finding.args["unmeasured"] == 2
    assert found.unmeasured == V6 and found.vantage == {"ipv4": "online", "ipv6": "absent"}
    assert not found.unknown and zone_exit_status(found) == EXIT_OK
    rows = {(s.address, s.transport): s for s in found.servers}
    assert not rows[(V6[0], Transport.UDP)].measured
    assert rows[(V4[0], Transport.UDP)].measured and rows[(V4[0], Transport.UDP)].authoritative


def test_the_same_sweep_with_ipv6_online_blames_the_v6_servers():
    # The other side of the boundary: over a family that IS online, silence is the zone's.
    observations = healthy("ns1.nic.fr.", V4[0]) + healthy("ns2.nic.fr.", V4[1])
    observations += [obs(ns, a, failure=FailureKind.TIMEOUT, transport=t)
                     for ns, a in (("ns1.nic.fr.", V6[0]), ("ns2.nic.fr.", V6[1]))
                     for t in Transport]
    found = report(DUAL, observations, ONLINE)
    assert sorted(c for c, _r, _a in checks(found)) == ["AVAIL01", "REACH01", "REACH01"]


def test_v4_real_fault_still_found_while_v6_is_absent():
    observations = healthy("ns1.nic.fr.", V4[0]) + v6_lost()
    observations += [obs("ns2.nic.fr.", V4[1], failure=FailureKind.TIMEOUT, transport=t)
                     for t in Transport]
    found = report(DUAL, observations, V6_ABSENT)
    assert ("REACH01", "timeout", V4[1]) in checks(found)
    assert not [c for c in checks(found) if c[2] in V6]
    # ns2's only measured address is down, so one server up out of two: degraded, and AVAIL01
    # says which family it could not look at.
    avail = [f for f in found.findings if f.check == "AVAIL01"]
    assert [(f.severity, f.reason) for f in avail] == [(Severity.ERROR, "degraded")]
    assert avail[0].args["unmeasured_families"] == ["ipv6"]


def test_avail01_counts_unmeasured_servers_as_neither_up_nor_down():
    # ns1 v4-only and up, ns2 v6-only and unmeasured: at best two servers: no AVAIL01.
    servers = {"ns1.nic.fr.": [V4[0]], "ns2.nic.fr.": [V6[0]]}
    observations = healthy("ns1.nic.fr.", V4[0]) + v6_lost()[:2]
    assert checks(report(servers, observations, V6_ABSENT)) == [("VANTAGE01", "absent", "")]
    # ns1 down as measured, ns2 unmeasured: at best one server: degraded (ERROR), not down.
    down = [obs("ns1.nic.fr.", V4[0], failure=FailureKind.TIMEOUT, transport=t)
            for t in Transport] + v6_lost()[:2]
    found = report(servers, down, V6_ABSENT)
    assert ("REACH01", "timeout", V4[0]) in checks(found)
    assert [(f.severity, f.reason) for f in found.findings if f.check == "AVAIL01"] == [
        (Severity.ERROR, "degraded")]
    # With IPv6 online and ns2 silent too, the zone is down (CRITICAL): the other side.
    silent_v6 = [obs("ns2.nic.fr.", V6[0], failure=FailureKind.TIMEOUT, transport=t)
                 for t in Transport]
    both = report(servers, down[:2] + silent_v6, ONLINE)
    assert [(f.severity, f.reason) for f in both.findings if f.check == "AVAIL01"] == [
        (Severity.CRITICAL, "down")]


def test_local_errors_are_never_a_servers_finding():
    observations = healthy("ns1.nic.fr.", V4[0])
    observations += [obs("ns2.nic.fr.", V4[1], failure=FailureKind.LOCAL_ERROR, transport=t)
                     for t in Transport]
    servers = {"ns1.nic.fr.": [V4[0]], "ns2.nic.fr.": [V4[1]]}
    found = report(servers, observations, ONLINE)
    assert not [c for c in checks(found) if c[2] == V4[1]]
    assert found.unmeasured == (V4[1],)
    # TCP alone failing locally: no TCP01 for it; TCP failing on the wire: TCP01.
    tcp_local = healthy("ns1.nic.fr.", V4[0]) + [
        obs("ns2.nic.fr.", V4[1], msg=healthy("x", "y")[0].reply),
        obs("ns2.nic.fr.", V4[1], transport=Transport.TCP, failure=FailureKind.LOCAL_ERROR)]
    assert checks(report(servers, tcp_local, ONLINE)) == []
    tcp_wire = tcp_local[:-1] + [
        obs("ns2.nic.fr.", V4[1], transport=Transport.TCP, failure=FailureKind.TIMEOUT)]
    assert checks(report(servers, tcp_wire, ONLINE)) == [("TCP01", "timeout", V4[1])]


def test_vantage_offline_makes_the_zone_unknown_with_only_the_vantage_finding():
    observations = [obs(ns, a, failure=FailureKind.TIMEOUT, transport=t)
                    for ns, addresses in DUAL.items() for a in addresses for t in Transport]
    offline = {"ipv4": FamilyHealth("ipv4", VantageState.OFFLINE, 0, 13),
               "ipv6": FamilyHealth("ipv6", VantageState.OFFLINE, 0, 13)}
    found = report(DUAL, observations, offline)
    assert found.unknown and checks(found) == [("VANTAGE01", "offline", "")]
    assert found.findings[0].tag == "VANTAGE_OFFLINE"
    assert "IPv4 offline (0 of 13 reference addresses answer over IPv4)" in (
        found.findings[0].message)
    assert zone_exit_status(found) == EXIT_UNKNOWN
    assert "vantage point offline" in summary_line([found])
    # The same silence with the vantage online is the zone's: CRITICAL.
    assert zone_exit_status(report(DUAL, observations, ONLINE)) == EXIT_CRITICAL


def test_parent_unreachable_because_we_are_offline_is_unknown():
    no_parent = delegation_of({}, ("198.51.100.53: timeout",))
    offline = {"ipv4": FamilyHealth("ipv4", VantageState.OFFLINE, 0, 1)}
    found = report(no_parent, [], offline)
    assert found.unknown and checks(found) == [("VANTAGE01", "offline", "")]
    assert "the parent could not be asked" in found.findings[0].message
    # The parent silent while the vantage is online: the parent's problem (DELEG01), UNKNOWN
    # as before because nothing about the zone could be judged.
    online = report(no_parent, [], {"ipv4": FamilyHealth("ipv4", VantageState.ONLINE, 1, 1)})
    assert not online.unknown and "DELEG01" in [c[0] for c in checks(online)]
    assert "VANTAGE01" not in [c[0] for c in checks(online)]
    assert zone_exit_status(online) == EXIT_UNKNOWN


def test_loss_rate_reaches_the_udp_row():
    tally = QueryTally()
    tally.udp_tries[V4[0]], tally.udp_lost[V4[0]] = 20, 6
    observations = healthy("ns1.nic.fr.", V4[0]) + healthy("ns2.nic.fr.", V4[1])
    servers = {"ns1.nic.fr.": [V4[0]], "ns2.nic.fr.": [V4[1]]}
    rows = {(s.address, s.transport): s for s in report(servers, observations, ONLINE,
                                                        tally).servers}
    assert rows[(V4[0], Transport.UDP)].udp_loss == pytest.approx(0.3)
    assert rows[(V4[0], Transport.TCP)].udp_loss is None
    assert rows[(V4[1], Transport.UDP)].udp_loss is None  # no try counted


def test_report_round_trips_and_old_dicts_load():
    observations = healthy("ns1.nic.fr.", V4[0]) + healthy("ns2.nic.fr.", V4[1]) + v6_lost()
    found = report(DUAL, observations, V6_ABSENT)
    assert ZoneReport.from_dict(found.to_dict()) == found
    old = found.to_dict()
    for key in ("vantage", "unmeasured", "unknown"):
        del old[key]
    for server in old["servers"]:
        del server["measured"], server["udp_loss"]
    loaded = ZoneReport.from_dict(old)
    assert loaded.vantage == {} and loaded.unmeasured == () and not loaded.unknown
    assert all(s.measured for s in loaded.servers)


# --- the assessment: once per round, shared, asked again on failures -------------------------

class CountingEngine:
    """Answers control queries from a set of addresses that 'answer'; counts the questions.
    The engine's sockets are the integration tests' business; this pins the bookkeeping."""

    def __init__(self, answering: set[str]) -> None:
        self.answering = answering
        self.asked: list[str] = []

    async def ask(self, nameserver, address, qname, rdtype, transport, **_kw):
        self.asked.append(address)
        await asyncio.sleep(0.01)
        if address in self.answering:
            return obs(nameserver, address, msg=soa_reply(), qname=qname)
        return obs(nameserver, address, failure=FailureKind.TIMEOUT, qname=qname)


ROOTS = tuple(f"192.0.2.{i}" for i in range(1, 14))


def vantage_with(answering: set[str], **settings) -> tuple[Vantage, CountingEngine]:
    engine = CountingEngine(answering)
    config = ProbeSettings(parent_addresses=ROOTS, **settings)
    return Vantage(engine, config), engine  # type: ignore[arg-type]


def test_all_well_costs_min_answering_queries_once_per_round():
    vantage, engine = vantage_with(set(ROOTS))

    async def main():
        first = await asyncio.gather(*(vantage.health(".") for _ in range(20)))  # 20 zones
        again = await vantage.health(".")
        return first, again

    first, again = asyncio.run(main())
    assert {h["ipv4"].state for h in first} == {VantageState.ONLINE} and again == first[0]
    assert len(engine.asked) == 4 and vantage.assessments == 1
    assert vantage.latest() == {"ipv4": FamilyHealth("ipv4", VantageState.ONLINE, 4, 13)}


def test_offline_asks_every_reference_and_names_the_count():
    vantage, engine = vantage_with({ROOTS[0], ROOTS[1], ROOTS[2]})
    found = asyncio.run(vantage.health("."))["ipv4"]
    assert (found.state, found.answering, found.references) == (VantageState.OFFLINE, 3, 13)
    assert sorted(engine.asked) == sorted(ROOTS)


def test_min_answering_three_makes_the_same_answers_online():
    vantage, _engine = vantage_with({ROOTS[0], ROOTS[1], ROOTS[2]}, vantage_min_answering=3)
    assert asyncio.run(vantage.health("."))["ipv4"].state is VantageState.ONLINE


def test_a_sweep_that_saw_failures_gets_a_fresh_verdict_once():
    vantage, engine = vantage_with(set(ROOTS))

    async def main():
        before = await vantage.health(".")
        engine.answering = set()  # our uplink goes away mid-round
        since = time.monotonic()
        cached = await vantage.health(".")  # no failure seen: the round's verdict holds
        fresh = await asyncio.gather(*(vantage.health(".", since=since) for _ in range(5)))
        return before, cached, fresh

    before, cached, fresh = asyncio.run(main())
    assert before["ipv4"].state is cached["ipv4"].state is VantageState.ONLINE
    assert {h["ipv4"].state for h in fresh} == {VantageState.OFFLINE}
    assert vantage.assessments == 2  # five sweeps asking again share one assessment


def test_discovery_answers_are_reused():
    vantage, engine = vantage_with(set(ROOTS))
    for address in ROOTS[:4]:
        vantage.note_answer(address)
    assert asyncio.run(vantage.health("."))["ipv4"].state is VantageState.ONLINE
    assert engine.asked == []


def test_round_length_bounds_the_cache():
    vantage, _engine = vantage_with(set(ROOTS), vantage_interval=0.0)

    async def main():
        await vantage.health(".")
        await asyncio.sleep(0.02)
        await vantage.health(".")

    asyncio.run(main())
    assert vantage.assessments == 2


def test_a_fresh_verdict_after_failures_does_not_reuse_discovery_answers():
    vantage, engine = vantage_with(set())  # nothing answers control queries any more
    for address in ROOTS[:4]:
        vantage.note_answer(address)  # ... but discovery got answers a moment ago

    async def main():
        return await vantage.health(".", since=time.monotonic())

    assert asyncio.run(main())["ipv4"].state is VantageState.OFFLINE
    assert sorted(engine.asked) == sorted(ROOTS)


def test_a_cancelled_sweep_does_not_cancel_the_shared_assessment():
    vantage, _engine = vantage_with(set(ROOTS))

    async def main():
        first = asyncio.create_task(vantage.health("."))
        second = asyncio.create_task(vantage.health("."))
        await asyncio.sleep(0)
        first.cancel()
        return await second

    assert asyncio.run(main())["ipv4"].state is VantageState.ONLINE


def test_a_fresh_verdict_must_be_younger_than_the_first_unanswered_query():
    lost = [dataclasses.replace(obs("ns1.nic.fr.", V4[0], failure=FailureKind.TIMEOUT),
                                sent_at=105.0),
            dataclasses.replace(obs("ns1.nic.fr.", V4[1], failure=FailureKind.UNREACHABLE),
                                sent_at=101.0),  # ICMP: packets flow, not a sign of ours
            dataclasses.replace(healthy("ns2.nic.fr.", V4[1])[0], sent_at=100.0)]
    assert first_silent(lost, default=99.0) == 105.0
    assert first_silent(healthy("ns1.nic.fr.", V4[0]), default=99.0) == 99.0


def test_kept_sockets_leave_half_the_hosts_source_ports(tmp_path):
    from probes.limits import PORTS_ELSEWHERE, ephemeral_ports, kept_sockets_most

    linux = tmp_path / "range"
    linux.write_text("32768\t60999\n")
    assert ephemeral_ports(str(linux)) == 28_232
    assert kept_sockets_most(28_232, 16_384) == 14_116  # half the range
    assert kept_sockets_most(32_768, 16_384) == 16_384  # the engine's own maximum
    assert kept_sockets_most(32_770, 16_384) == 16_384
    assert kept_sockets_most(32_767, 16_384) == 16_383  # one port short of it
    assert kept_sockets_most(1, 16_384) == 0
    assert ephemeral_ports(str(tmp_path / "absent")) == PORTS_ELSEWHERE
    linux.write_text("garbage\n")
    assert ephemeral_ports(str(linux)) == PORTS_ELSEWHERE
