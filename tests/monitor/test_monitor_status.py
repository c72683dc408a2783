"""Pure aggregation: serial lag, server states, zone summaries, health."""

from __future__ import annotations

import pytest

from monitor.snapshot import Histogram, Snapshot, ZoneTotals
from monitor.web.views import percentile, summarise
from probes.names import normalised_or_none, unicode_zone
from probes.serial import highest_serial, serial_lag
from tests.monitor import ccmon_fixtures as fx


@pytest.mark.parametrize(
    ("serials", "top"),
    [
        ([], None),
        ([5], 5),
        ([1, 2, 3], 3),
        ([4294967295, 1], 1),  # wrapped: 1 is after 4294967295
        ([4294967290, 4294967295, 3], 3),
    ],
)
def test_highest_serial_rfc1982(serials: list[int], top: int | None) -> None:
    assert highest_serial(serials) == top


def test_serial_lag_wraps() -> None:
    assert [serial_lag(s, 1) for s in (4294967295, 1)] == [2, 0]


def test_server_states() -> None:
    views = {(v.nameserver, v.address): v for v in fx.mx_report().addresses}
    assert views[("ns3.mx.", "127.53.1.3")].state == "lame"
    assert views[("ns3.mx.", "127.53.1.3")].lame_reason == "refused"
    assert views[("ns1.mx.", "fd53::1:1")].ipv6
    assert views[("ns1.mx.", "127.53.1.1")].state == "ok"
    ke = {v.nameserver: v for v in fx.ke_report().addresses}
    assert ke["ns2.ke."].state == "stale" and ke["ns2.ke."].lag == 5
    assert ke["ns1.ke."].lag == 0
    ec = {v.nameserver: v for v in fx.ec_report().addresses}
    assert ec["ns2.ec."].state == "slow"
    idn = {v.nameserver: v for v in fx.idn_report().addresses}
    assert idn["ns2.xn--fiqs8s."].state == "down"


def test_summary_figures() -> None:
    mx = summarise(fx.mx_report())
    assert (mx.nameservers, mx.nameservers_up, mx.available) == (3, 2, True)
    assert mx.lame == 1 and mx.ipv6_nameservers == 1
    assert (mx.tcp_answering, mx.tcp_probed) == (3, 4)
    assert mx.serials == 1
    idn = summarise(fx.idn_report())
    assert idn.name == "中国" and not idn.available and idn.nameservers_up == 1
    ke = summarise(fx.ke_report())
    assert ke.serials == 2 and ke.highest_serial == 2024010105


def test_percentile_nearest_rank() -> None:
    assert percentile([], 50) is None
    assert percentile([3, 1, 2], 50) == 2
    assert percentile(range(1, 101), 95) == 95


def test_zone_names() -> None:
    assert unicode_zone("xn--fiqs8s") == "中国"
    assert unicode_zone("fr") == "fr"
    assert normalised_or_none("中国") == "xn--fiqs8s"
    assert normalised_or_none("FR.") == "fr"
    assert normalised_or_none("") is None
    assert normalised_or_none("a" * 70) is None


def test_histogram_cumulative_and_roundtrip() -> None:
    h = Histogram().observe([0.0005, 0.7, 0.7, 100.0])
    cum = dict(h.cumulative())
    assert cum["0.5"] == 1 and cum["1.0"] == 3 and cum["+Inf"] == 4
    assert h.count == 4
    assert Histogram.from_dict(h.to_dict()) == h
    assert Histogram.from_dict({"buckets": [1.0], "counts": [1, 2], "sum": 3}) == Histogram()


def test_totals_accumulate() -> None:
    t = ZoneTotals().add_report(fx.idn_report()).add_report(fx.idn_report())
    assert t.sweeps == 2 and t.failures == {"timeout": 4}
    assert t.rtt["udp"].count == 2
    assert ZoneTotals.from_dict(t.to_dict()) == t


def test_health() -> None:
    snap = Snapshot(interval=10, started_at=1000.0)
    assert snap.health(now=1020)[0]  # starting, within 3 intervals
    assert not snap.health(now=1031)[0]
    snap = Snapshot(interval=10, started_at=0.0, reports={"mx": fx.mx_report(started_at=1000)})
    assert snap.health(now=1020)[0]
    assert not snap.health(now=1040)[0]


def test_summary_further_checks() -> None:
    mx = summarise(fx.mx_report())
    assert (mx.dnssec, mx.dnssec_valid, mx.dnssec_checked) == ("secure", 3, 3)
    assert mx.dnssec_coverage == 1.0
    assert mx.rrsig_expires_at == fx.T0 + 3 * fx.DAY + 4 * 3600 + 60  # the earliest
    assert (mx.axfr_open, mx.recursion_open, mx.edns_failing) == (1, 1, 1)
    ke = summarise(fx.ke_report())
    assert ke.dnssec == "unsigned" and ke.dnssec_coverage == 0.0 and ke.rrsig_expires_at is None
    ec = summarise(fx.ec_report())
    assert ec.dnssec == "unknown" and ec.dnssec_coverage is None
    views = {(v.nameserver, v.address): v for v in fx.mx_report().addresses}
    ns2 = views[("ns2.mx.", "127.53.1.2")]
    assert ns2.axfr_open and ns2.recursion_open and ns2.edns_problems == {"do": "no-do"}
    lame = views[("ns3.mx.", "127.53.1.3")]
    assert not lame.axfr_open and lame.edns_problems == {} and lame.nsid == ""


@pytest.mark.parametrize(("name", "shown"), [
    ("xn--fiqs8s", "中国"), ("ns1.nic.xn--fiqs8s", "ns1.nic.中国"), ("XN--FIQS8S", "中国"),
    ("xn--a", "xn--a"),  # invalid punycode: Python's codec would show "\\128", another name
    ("ns.xn--a.xn--fiqs8s", "ns.xn--a.中国"), ("xn--abc.fr", "xn--abc.fr"),
    ("xn--zz.fr", "xn--zz.fr"), ("fr", "fr"),
])  # fmt: skip
def test_names_show_u_labels_only_for_valid_a_labels(name: str, shown: str) -> None:
    assert unicode_zone(name) == shown


def test_invalid_punycode_ns_label_is_shown_as_sent_on_the_page() -> None:
    from monitor.web import render_status_page

    report = fx.report("fr", [*fx.ok("ns1.xn--a.fr.", "127.0.0.1"),
                              *fx.ok("ns2.nic.fr.", "127.0.0.2")])  # fmt: skip
    page = render_status_page(Snapshot(zones=("fr",), reports={"fr": report}), now=fx.T0 + 10)
    assert "ns1.xn--a.fr." in page and "\\128" not in page and "\x80" not in page
