"""The Collector: values per server and zone, state sets, removal, cumulative counters."""

from __future__ import annotations

import gzip
import time
import zlib
from dataclasses import replace

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from monitor.metrics import CcmonCollector, Exporter, make_registry
from monitor.snapshot import MonitorState, Snapshot, ZoneHistory, ZoneTotals
from probes.evidence import LAME_REASONS
from tests.monitor import ccmon_fixtures as fx


def registry_for(state: MonitorState) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(CcmonCollector(state, build_version="1.2.3"))
    return registry


def populated_state() -> MonitorState:
    state = MonitorState(Snapshot(zones=("mx", "ke", "ec", "xn--fiqs8s"), interval=60))
    for r in fx.all_reports():
        state.publish(r, ZoneTotals().add_report(r), ZoneHistory())
    return state


def test_server_values() -> None:
    reg = registry_for(populated_state())
    get = reg.get_sample_value
    ns3 = {"dns_zone": "mx", "nameserver": "ns3.mx.", "address": "127.53.1.3"}
    assert get("ccmon_nameserver_lame", {**ns3, "reason": "refused"}) == 1
    assert get("ccmon_nameserver_lame", {**ns3, "reason": "servfail"}) is None  # one series
    # answered (lame): the RTT is there; ccmon_nameserver_answered was dropped (issue 16)
    assert get("ccmon_nameserver_response_time_seconds", {**ns3, "transport": "udp"}) == 0.003
    assert get("ccmon_nameserver_answered", {**ns3, "transport": "udp"}) is None
    assert get("ccmon_nameserver_up", {**ns3, "transport": "udp"}) == 0
    ns1 = {"dns_zone": "mx", "nameserver": "ns1.mx.", "address": "127.53.1.1"}
    assert get("ccmon_nameserver_lame", {**ns1, "reason": "none"}) == 0
    for reason in LAME_REASONS:
        assert get("ccmon_nameserver_lame", {**ns1, "reason": reason}) is None
    assert get("ccmon_nameserver_up", {**ns1, "transport": "tcp"}) == 1
    assert get("ccmon_nameserver_soa_serial", ns1) == 2024010101
    assert get("ccmon_nameserver_response_time_seconds", {**ns1, "transport": "udp"}) == 0.012
    assert get("ccmon_nameserver_soa_serial", ns3) is None  # lame: no serial to show
    ke2 = {"dns_zone": "ke", "nameserver": "ns2.ke.", "address": "127.53.2.2"}
    assert get("ccmon_nameserver_soa_serial_lag", ke2) == 5
    ke1 = {"dns_zone": "ke", "nameserver": "ns1.ke.", "address": "127.53.2.1"}
    assert get("ccmon_nameserver_soa_serial", ke1) is not None
    assert get("ccmon_nameserver_soa_serial_lag", ke1) is None  # current: no lag series
    ec2 = {"dns_zone": "ec", "nameserver": "ns2.ec.", "address": "127.53.3.2", "transport": "udp"}
    assert get("ccmon_nameserver_response_time_seconds", ec2) == 0.7
    assert get("ccmon_nameserver_up", ec2) == 0
    down = {"dns_zone": "xn--fiqs8s", "nameserver": "ns2.xn--fiqs8s.", "address": "127.53.4.2"}
    # not answered: up 0 and no RTT, while the address was measured
    assert get("ccmon_nameserver_up", {**down, "transport": "udp"}) == 0
    assert get("ccmon_nameserver_response_time_seconds", {**down, "transport": "udp"}) is None
    assert get("ccmon_nameserver_measured", down) == 1


def test_zone_values() -> None:
    reg = registry_for(populated_state())
    get = reg.get_sample_value
    assert get("ccmon_build_info", {"version": "1.2.3"}) == 1
    assert get("ccmon_zone_soa_serials", {"dns_zone": "ke"}) == 2
    assert get("ccmon_zone_soa_serials", {"dns_zone": "mx"}) == 1
    assert get("ccmon_zone_nameservers_up", {"dns_zone": "mx"}) == 2
    assert get("ccmon_zone_available", {"dns_zone": "mx"}) == 1
    assert get("ccmon_zone_available", {"dns_zone": "xn--fiqs8s"}) == 0
    assert get("ccmon_zone_severity", {"dns_zone": "mx"}) == 4
    lame = {"dns_zone": "mx", "check": "LAME01"}
    assert get("ccmon_check_findings", {**lame, "severity": "error"}) == 1
    assert get("ccmon_check_findings", {**lame, "severity": "critical"}) is None
    assert get("ccmon_check_findings", {"dns_zone": "xn--fiqs8s", "check": "TCP01",
                                        "severity": "ok"}) is None  # fmt: skip
    assert get("ccmon_last_sweep_timestamp_seconds", {"dns_zone": "mx"}) == fx.T0 + 0.25
    assert get("ccmon_sweep_duration_seconds", {"dns_zone": "mx"}) == 0.25


def test_counters_and_histogram_accumulate() -> None:
    state = populated_state()
    reg = registry_for(state)
    get = reg.get_sample_value
    zone = {"dns_zone": "xn--fiqs8s"}
    assert get("ccmon_sweeps_total", zone) == 1
    assert get("ccmon_probe_failures_total", {**zone, "reason": "timeout"}) == 2
    assert get("ccmon_probe_failures_total", {**zone, "reason": "malformed"}) == 0
    totals = state.snapshot.totals["xn--fiqs8s"].add_report(fx.idn_report(fx.T0 + 60))
    state.publish(fx.idn_report(fx.T0 + 60), totals, ZoneHistory())
    assert get("ccmon_sweeps_total", zone) == 2
    assert get("ccmon_probes_total", zone) == 8
    udp = {**zone, "transport": "udp"}
    assert get("ccmon_query_duration_seconds_count", udp) == 2
    assert get("ccmon_query_duration_seconds_bucket", {**udp, "le": "0.5"}) == 2
    assert get("ccmon_query_duration_seconds_bucket", {**udp, "le": "1.5"}) == 2
    ec = {"dns_zone": "ec", "transport": "udp"}
    assert get("ccmon_query_duration_seconds_bucket", {**ec, "le": "0.5"}) == 1
    assert get("ccmon_query_duration_seconds_bucket", {**ec, "le": "1.0"}) == 2


def test_removed_server_vanishes() -> None:
    state = populated_state()
    reg = registry_for(state)
    ns3 = {"dns_zone": "mx", "nameserver": "ns3.mx.", "address": "127.53.1.3", "reason": "refused"}
    assert reg.get_sample_value("ccmon_nameserver_lame", ns3) == 1
    smaller = fx.report("mx", fx.ok("ns1.mx.", "127.53.1.1") + fx.ok("ns2.mx.", "127.53.1.2"))
    state.publish(smaller, ZoneTotals(), ZoneHistory())
    assert reg.get_sample_value("ccmon_nameserver_lame", ns3) is None
    text = generate_latest(reg).decode()
    assert "ns3.mx." not in text
    assert "ns3.mx." not in Exporter(state).text().decode()


def test_fast_text_equals_client_exposition() -> None:
    state = populated_state()
    state.publish(fx.ke_report(), ZoneTotals(), ZoneHistory(serial_first_seen=fx.T0 - 5))
    exporter = Exporter(state, build_version='1.0 "quoted" \\ back')
    plain = CollectorRegistry()
    plain.register(exporter.collector)
    for _ in range(2):  # cold cache, then warm
        assert exporter.collector.text().encode() == generate_latest(plain)
    # a swap re-renders only that zone, and the result still equals the client's
    state.publish(fx.mx_report(fx.T0 + 60), ZoneTotals(sweeps=9), ZoneHistory())
    assert exporter.collector.text().encode() == generate_latest(plain)
    assert b'ccmon_sweeps_total{dns_zone="mx"} 9.0' in exporter.text()
    assert b"process_cpu_seconds_total" in exporter.text()


def test_serial_behind_seconds_and_propagation() -> None:
    state = MonitorState(Snapshot(zones=("ke",)))
    history = ZoneHistory(serial_first_seen=fx.T0 - 90, propagation=42.0)
    state.publish(fx.ke_report(), ZoneTotals(), history)
    reg = registry_for(state)
    get = reg.get_sample_value
    ke = {"dns_zone": "ke", "address": "127.53.2.2", "nameserver": "ns2.ke."}
    assert get("ccmon_nameserver_soa_serial_behind_seconds", ke) == 90
    ke1 = {"dns_zone": "ke", "address": "127.53.2.1", "nameserver": "ns1.ke."}
    assert get("ccmon_nameserver_soa_serial_behind_seconds", ke1) is None  # not behind
    assert get("ccmon_zone_soa_propagation_seconds", {"dns_zone": "ke"}) == 42


def test_unknown_lame_reason_still_shown() -> None:
    state = MonitorState(Snapshot(zones=("mx",)))
    r = fx.report("mx", fx.lame("ns9.mx.", "127.53.1.9", reason="new-reason"))
    state.publish(r, ZoneTotals(), ZoneHistory())
    labels = {"dns_zone": "mx", "nameserver": "ns9.mx.", "address": "127.53.1.9"}
    reg = registry_for(state)
    assert reg.get_sample_value("ccmon_nameserver_lame", {**labels, "reason": "new-reason"}) == 1


def test_exposition_parses_and_no_duplicates() -> None:
    text = generate_latest(make_registry(populated_state())).decode()
    families = list(text_string_to_metric_families(text))
    names = [f.name for f in families]
    assert len(names) == len(set(names))
    for family in families:
        keys = [(s.name, tuple(sorted(s.labels.items()))) for s in family.samples]
        assert len(keys) == len(set(keys)), family.name


def test_empty_snapshot_renders() -> None:
    reg = registry_for(MonitorState(Snapshot(zones=("fr",))))
    assert reg.get_sample_value("ccmon_sweeps_total", {"dns_zone": "fr"}) == 0
    assert reg.get_sample_value("ccmon_zone_available", {"dns_zone": "fr"}) is None


def test_further_check_values() -> None:
    reg = registry_for(populated_state())
    get = reg.get_sample_value
    v4 = {"dns_zone": "mx", "nameserver": "ns1.mx.", "address": "127.53.1.1"}
    ns2 = {"dns_zone": "mx", "nameserver": "ns2.mx.", "address": "127.53.1.2"}
    lame = {"dns_zone": "mx", "nameserver": "ns3.mx.", "address": "127.53.1.3"}
    expiry = "ccmon_nameserver_rrsig_expiry_timestamp_seconds"
    assert get(expiry, v4) == fx.T0 + 3 * fx.DAY + 4 * 3600 + 60
    assert get(expiry, lame) is None  # no answer, no signature: absent, not 0
    assert get("ccmon_nameserver_dnssec_valid", v4) == 1
    assert get("ccmon_nameserver_axfr_open", v4) == 0
    assert get("ccmon_nameserver_axfr_open", ns2) == 1
    assert get("ccmon_nameserver_recursion_open", ns2) == 1
    assert get("ccmon_nameserver_recursion_open", lame) is None
    assert get("ccmon_nameserver_edns_compliant", ns2) == 0  # failed "do"
    assert get("ccmon_nameserver_edns_failed_test_info", {**ns2, "test": "do"}) == 1
    for test in ("plain", "edns0", "edns1", "option"):  # passed: no series
        assert get("ccmon_nameserver_edns_failed_test_info", {**ns2, "test": test}) is None
    assert get("ccmon_nameserver_edns_compliant", v4) == 1
    assert get("ccmon_nameserver_edns_compliant", lame) is None  # no test sent
    assert get("ccmon_nameserver_nsid_info", {**v4, "nsid": "mx1-ams"}) == 1
    assert get("ccmon_nameserver_nsid_info", {**ns2, "nsid": ""}) is None  # none returned
    ke = {"dns_zone": "ke", "nameserver": "ns1.ke.", "address": "127.53.2.1"}
    assert get(expiry, ke) is None and get("ccmon_nameserver_dnssec_valid", ke) is None


def test_dnssec_state_set() -> None:
    reg = registry_for(populated_state())
    get = reg.get_sample_value
    expected = {"mx": "secure", "ke": "unsigned", "ec": "unknown", "xn--fiqs8s": "unknown"}
    for zone, current in expected.items():
        for state in ("secure", "island", "unsigned", "bogus", "unknown"):
            labels = {"dns_zone": zone, "state": state}
            assert get("ccmon_zone_dnssec_status", labels) == (state == current), labels
    # A word this version does not know (a stored report of a newer one) is "unknown": the
    # label's values stay the closed set.
    state = MonitorState(Snapshot(zones=("mx",)))
    odd = fx.report("mx", fx.ok("ns1.mx.", "127.53.1.1"), dnssec="half-baked")
    state.publish(odd, ZoneTotals(), ZoneHistory())
    get = registry_for(state).get_sample_value
    assert get("ccmon_zone_dnssec_status", {"dns_zone": "mx", "state": "half-baked"}) is None
    assert get("ccmon_zone_dnssec_status", {"dns_zone": "mx", "state": "unknown"}) == 1


def test_nsid_label_is_escaped_and_capped() -> None:
    state = MonitorState(Snapshot(zones=("mx",)))
    nsid = 'a"b\\c\n' + "x" * 300
    r = fx.report("mx", fx.with_facts(fx.ok("ns1.mx.", "127.53.1.1"), nsid=nsid))
    state.publish(r, ZoneTotals(), ZoneHistory())
    exporter = Exporter(state)
    plain = CollectorRegistry()
    plain.register(exporter.collector)
    assert exporter.collector.text().encode() == generate_latest(plain)
    (family,) = [f for f in text_string_to_metric_families(exporter.text().decode())
                 if f.name == "ccmon_nameserver_nsid_info"]
    (sample,) = family.samples
    assert sample.labels["nsid"] == nsid[:128]


def test_serial_behind_seconds_count_from_the_oldest_serial_the_server_lacks() -> None:
    """ke's ns2 serves 2024010100. The zone has since seen 2024010103 (900 s ago) and the
    top serial 2024010105 (90 s ago): ns2 has been behind for 900 s, not 90."""
    state = MonitorState(Snapshot(zones=("ke",)))
    history = ZoneHistory(
        serial_first_seen=fx.T0 - 90,
        serials_first_seen=((2024010099, fx.T0 - 5000), (2024010103, fx.T0 - 900),
                            (2024010105, fx.T0 - 90)),
    )
    state.publish(fx.ke_report(), ZoneTotals(), history)
    get = registry_for(state).get_sample_value
    ke2 = {"dns_zone": "ke", "address": "127.53.2.2", "nameserver": "ns2.ke."}
    assert get("ccmon_nameserver_soa_serial_behind_seconds", ke2) == 900
    # the older serial it already passed (2024010099) does not count
    assert history.behind_since(2024010100) == fx.T0 - 900
    assert history.behind_since(2024010105) == fx.T0 - 90  # not behind: falls back


# --- issue 10: the vantage point, unmeasured rows and rounds ----------------------------


def with_unknown() -> MonitorState:
    state = populated_state()
    r = fx.unknown_report()
    state.publish(r, ZoneTotals().add_report(r), ZoneHistory())
    return state


def test_an_unknown_zone_has_no_availability_series_only_the_flag() -> None:
    get = registry_for(with_unknown()).get_sample_value
    ug = {"dns_zone": "ug"}
    assert get("ccmon_zone_measured", ug) == 0
    for name in ("ccmon_zone_available", "ccmon_zone_nameservers_up", "ccmon_zone_nameservers",
                 "ccmon_zone_soa_serials"):
        assert get(name, ug) is None, name
    assert get("ccmon_zone_dnssec_status", {**ug, "state": "unknown"}) is None
    ns1 = {**ug, "nameserver": "ns1.ug.", "address": "127.53.5.1"}
    assert get("ccmon_nameserver_measured", ns1) == 0
    assert get("ccmon_nameserver_up", {**ns1, "transport": "udp"}) is None
    assert get("ccmon_nameserver_response_time_seconds", {**ns1, "transport": "udp"}) is None
    assert get("ccmon_nameserver_lame", {**ns1, "reason": "none"}) is None
    assert get("ccmon_zone_severity", ug) == 2  # the VANTAGE01 notice, not CRITICAL
    assert get("ccmon_probe_failures_total", {**ug, "reason": "local-error"}) == 4
    # a measured zone keeps its series and says it was measured
    assert get("ccmon_zone_measured", {"dns_zone": "mx"}) == 1
    mx1 = {"dns_zone": "mx", "nameserver": "ns1.mx.", "address": "127.53.1.1"}
    assert get("ccmon_nameserver_measured", mx1) == 1
    assert get("ccmon_zone_available", {"dns_zone": "mx"}) == 1


def test_vantage_series_follow_the_latest_assessment() -> None:
    state = with_unknown()
    get = registry_for(state).get_sample_value
    v4, v6 = {"family": "ipv4"}, {"family": "ipv6"}
    assert get("ccmon_vantage_up", v4) == 0
    assert get("ccmon_vantage_state", {**v4, "state": "offline"}) == 1
    assert get("ccmon_vantage_state", {**v4, "state": "online"}) == 0
    assert (get("ccmon_vantage_references_answering", v4),
            get("ccmon_vantage_references", v4)) == (0, 13)
    assert get("ccmon_vantage_up", v6) == 0
    assert get("ccmon_vantage_state", {**v6, "state": "absent"}) == 1
    assert get("ccmon_vantage_unmeasured_addresses", v4) == 1
    assert get("ccmon_vantage_unmeasured_addresses", v6) == 1
    # the next round is online again: the newest report decides
    back = replace(fx.ke_report(fx.T0 + 60), vantage={"ipv4": "online", "ipv6": "absent"})
    state.publish(back, ZoneTotals(), ZoneHistory())
    assert get("ccmon_vantage_up", v4) == 1
    assert get("ccmon_vantage_state", {**v4, "state": "offline"}) == 0
    assert get("ccmon_vantage_up", v6) == 0


def test_no_vantage_series_before_any_assessment() -> None:
    text = generate_latest(registry_for(populated_state())).decode()
    assert "ccmon_vantage_up{" not in text
    assert "ccmon_vantage_unmeasured_addresses{" not in text


def _unmeasured(statuses: list) -> list:
    return [replace(s, measured=False, answered=False, authoritative=False, rtt=None,
                    serial=None, within_threshold=False) for s in statuses]


@pytest.mark.parametrize("servers, available, up", [
    # both up on their measured addresses; ns1's IPv6 address unmeasured: available
    (fx.ok("ns1.pe.", "127.53.6.1") + _unmeasured(fx.ok("ns1.pe.", "fd53::6:1"))
     + fx.ok("ns2.pe.", "127.53.6.2"), 1, 2),
    # ns2 entirely unmeasured, ns1 up: cannot tell
    (fx.ok("ns1.pe.", "127.53.6.1") + _unmeasured(fx.ok("ns2.pe.", "fd53::6:2")), None, None),
    # ns2 entirely unmeasured, ns1 down: even ns2 up would not make 2
    (fx.down("ns1.pe.", "127.53.6.1") + _unmeasured(fx.ok("ns2.pe.", "fd53::6:2")), 0, 0),
    # everything measured, one down: the plain Spec 10 reading
    (fx.ok("ns1.pe.", "127.53.6.1") + fx.down("ns2.pe.", "127.53.6.2"), 0, 1),
])
def test_availability_is_judged_over_measured_addresses(servers, available, up) -> None:
    r = fx.report("pe", servers)
    r = replace(r, unmeasured=tuple(sorted({s.address for s in servers if not s.measured})))
    state = MonitorState(Snapshot(zones=("pe",)))
    state.publish(r, ZoneTotals(), ZoneHistory())
    get = registry_for(state).get_sample_value
    assert get("ccmon_zone_available", {"dns_zone": "pe"}) == available
    assert get("ccmon_zone_nameservers_up", {"dns_zone": "pe"}) == up
    assert get("ccmon_zone_measured", {"dns_zone": "pe"}) == 1


def test_udp_loss_ratio_per_address() -> None:
    get = registry_for(populated_state()).get_sample_value
    ns2 = {"dns_zone": "mx", "nameserver": "ns2.mx.", "address": "127.53.1.2"}
    assert get("ccmon_nameserver_udp_loss_ratio", ns2) == 0.25
    ns1 = {"dns_zone": "mx", "nameserver": "ns1.mx.", "address": "127.53.1.1"}
    assert get("ccmon_nameserver_udp_loss_ratio", ns1) is None  # not reported: no series


def test_fast_text_equals_client_exposition_with_vantage_rows() -> None:
    state = with_unknown()
    exporter = Exporter(state, build_version="1.2.3")
    plain = CollectorRegistry()
    plain.register(exporter.collector)
    assert exporter.collector.text().encode() == generate_latest(plain)
    state.publish(replace(fx.ke_report(fx.T0 + 60), vantage={"ipv4": "online"}),
                  ZoneTotals(), ZoneHistory())
    assert exporter.collector.text().encode() == generate_latest(plain)
    assert b'ccmon_vantage_up{family="ipv4"} 1.0' in exporter.text()


def test_config_load_metrics_say_success_and_when() -> None:
    """ccmon loads its config once, at start: successful, at the start of the snapshot,
    or at the time the caller gives; the fast text path serves the same."""
    state = MonitorState(Snapshot(zones=("mx",), started_at=fx.T0))
    get = make_registry(state).get_sample_value
    assert get("ccmon_config_last_reload_successful") == 1
    assert get("ccmon_config_last_reload_success_timestamp_seconds") == fx.T0
    exporter = Exporter(state, config_loaded_at=fx.T0 - 5)
    assert exporter.registry.get_sample_value(
        "ccmon_config_last_reload_success_timestamp_seconds") == fx.T0 - 5  # fmt: skip
    fast = {
        s.name: s.value
        for family in text_string_to_metric_families(exporter.text().decode())
        for s in family.samples if s.name.startswith("ccmon_config_")
    }  # fmt: skip
    assert fast == {"ccmon_config_last_reload_successful": 1,
                    "ccmon_config_last_reload_success_timestamp_seconds": fx.T0 - 5}  # fmt: skip


# --- the served exposition: rendered once per change, plain and gzip the same bytes -------


def without_process(body: bytes) -> bytes:
    """The exposition without the process_* family lines (CPU, fds change per request)."""
    return b"".join(line for line in body.splitlines(keepends=True)
                    if not line.removeprefix(b"# HELP ").removeprefix(b"# TYPE ")
                    .startswith(b"process_"))  # fmt: skip


def test_served_gzip_and_identity_are_the_same_exposition() -> None:
    state = populated_state()
    exporter = Exporter(state, build_version="1.2.3")
    plain, zipped = exporter.serve(False), exporter.serve(True)
    assert zipped[:2] == b"\x1f\x8b" and plain[:2] != b"\x1f\x8b"
    # one member (any gzip reader gets it all), the same exposition
    assert without_process(gzip.decompress(zipped)) == without_process(plain)
    member = zlib.decompressobj(31)  # stops after one gzip member, as curl's zlib does
    assert without_process(member.decompress(zipped)) == without_process(plain)
    assert member.eof and member.unused_data == b""
    assert len(zipped) < len(plain) / 3
    # the cached part equals what prometheus_client renders; the tail follows it
    client = CollectorRegistry()
    client.register(exporter.collector)
    families = {f.name: f for f in text_string_to_metric_families(plain.decode())}
    expected = {f.name: f for f in text_string_to_metric_families(generate_latest(client).decode())}
    assert {n: f.samples for n, f in families.items() if n in expected} == {
        n: f.samples for n, f in expected.items()
    }
    assert "process_cpu_seconds" in families


def test_served_bytes_follow_a_change_and_the_per_request_counter() -> None:
    state = populated_state()
    exporter = Exporter(state, build_version="1.2.3")
    exporter.serve(False)
    assert exporter.renders == 1
    exporter.serve(True)
    assert exporter.renders == 1  # no change: the same render, gzip too
    exporter.collector.count_web_auth_failure()
    assert b"ccmon_web_auth_failures_total 1.0" in gzip.decompress(exporter.serve(True))
    assert exporter.renders == 1  # the counter is rendered per request, not cached
    state.publish(fx.mx_report(fx.T0 + 60), ZoneTotals(sweeps=9), ZoneHistory())
    exporter.collector.warm("mx")  # as the service does after a sweep: the renderer renders
    deadline = time.monotonic() + 5
    while b'ccmon_sweeps_total{dns_zone="mx"} 9.0' not in exporter.serve(False):
        assert time.monotonic() < deadline, "no render within 5 s of the change"
        time.sleep(0.01)
    assert exporter.renders == 2, exporter.renders
    assert without_process(gzip.decompress(exporter.serve(True))) == without_process(
        exporter.serve(False))
