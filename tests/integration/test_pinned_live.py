"""DELEG06 live (issue 14): the lab root's delegation is changed and restored while the real
`ccmon run` watches it, and the alert mail reaches a real SMTP server (aiosmtpd).

The world (own addresses 127.67.x.y, a free port, so it never meets another lab): a real
NSD root, `se` signed on an NSD primary and a Knot secondary, `is` unsigned with one server
answering after 60 ms. The config pins se's NS and DS set in a `zones:` mapping entry that
also gives the zone its own recipient; is's entry gives it its own UDP threshold (30 ms).
`Lab.set_delegation` rewrites the root zone with one more DS for se (the SHA-384 digest of
se's real key: the chain still validates, so the only finding is that nobody pinned it),
bumps the root serial and reloads NSD; `restore_delegation` puts the scenario's back.
"""

from __future__ import annotations

import email.utils
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dns.dnssec
import dns.message
import dns.query
import dns.rdatatype
import pytest

from lab import Lab, parse_scenario
from lab.zonefile import apex_ds
from monitor.alerts import utc
from tests.alerts.helpers import Sink
from tests.support import free_port, lab_started, wait_for

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
INTERVAL = 1.0  # s between two sweeps of a zone (schedule.allow_fast_interval)
CLOSE_AFTER = 3  # good sweeps before the problem is resolved
NOC, HOSTMASTER = "noc@example.net", "hostmaster@nic.se.example"
SUBJECT = "[ccmon] se: DELEG06 ERROR unexpected-ds"
RESOLVED = "[ccmon] se: RESOLVED DELEG06 ERROR unexpected-ds"
SLOW = "127.67.2.3"

SCENARIO = {
    "name": "pinned",
    "description": "DELEG06 live: a signed se and an unsigned is, the root changed live",
    "serial": 2026113001,
    "root": {"ns": "a.root-servers.net.", "address": "127.67.0.1", "software": "nsd"},
    "resolver": {"address": "127.67.0.2"},
    "relay": "127.67.0.4",
    "zones": [
        {"zone": "se", "dnssec": {"ds": "match"}, "servers": [
            {"ns": "ns1.nic.se.", "address": "127.67.1.1", "software": "nsd",
             "role": "primary"},
            {"ns": "ns2.nic.se.", "address": "127.67.1.2", "software": "knot",
             "role": "secondary"},
        ]},
        {"zone": "is", "servers": [
            {"ns": "ns1.isnic.is.", "address": "127.67.2.1", "software": "knot",
             "role": "primary"},
            {"ns": "ns2.isnic.is.", "address": "127.67.2.2", "software": "nsd",
             "role": "secondary"},
            # answers after 60 ms: slow only by is's own threshold (30 ms; global 500 ms)
            {"ns": "ns3.isnic.is.", "address": SLOW, "software": "fault", "fault": "delay",
             "params": {"ms": 60}},
        ]},
    ],
}  # fmt: skip


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    lab = Lab(parse_scenario(SCENARIO), port=free_port(), mode="real",
              workdir=tmp_path_factory.mktemp("lab"))
    lab_started(lab, "the real lab")
    try:
        yield lab
    finally:
        lab.stop()


def se_ds(lab: Lab) -> str:
    """The DS rdata the scenario's root publishes for se (its real KSK, SHA-256)."""
    record = lab.keys["se"].ds_record("match")
    assert record is not None
    found = apex_ds("se", record)
    assert found is not None
    return found


def stranger_ds(lab: Lab) -> str:
    """A DS nobody pinned: se's own KSK with SHA-384, so validation keeps working."""
    return dns.dnssec.make_ds("se.", lab.keys["se"].ksk_dnskey, "SHA384").to_text()


def referral(lab: Lab, zone: str) -> tuple[list[str], list[str]]:
    """What the lab root says now: the NS names of the referral and the DS set of `zone`."""
    ns = dns.query.udp(dns.message.make_query(f"{zone}.", "NS"), lab.root_address,
                       port=lab.port, timeout=2)
    names = sorted(rd.target.to_text() for rrset in ns.authority
                   if rrset.rdtype == dns.rdatatype.NS for rd in rrset)
    ds = dns.query.udp(dns.message.make_query(f"{zone}.", "DS"), lab.root_address,
                       port=lab.port, timeout=2)
    records = sorted(rd.to_text() for rrset in ds.answer for rd in rrset
                     if rrset.rdtype == dns.rdatatype.DS)
    return names, records


def test_the_lab_changes_and_restores_the_roots_delegation_live(world: Lab) -> None:
    before = referral(world, "is")
    se_before = referral(world, "se")
    assert before[0] == ["ns1.isnic.is.", "ns2.isnic.is.", "ns3.isnic.is."]
    assert se_before[1] == [se_ds(world)]
    serial = world.serial(".")
    new = world.set_delegation("is", ns=["ns1.isnic.is.", "ns9.evil.example."],
                               glue={"ns9.evil.example.": ["127.67.9.9"]})
    assert new == serial + 1
    assert referral(world, "is")[0] == ["ns1.isnic.is.", "ns9.evil.example."]
    glue = dns.query.udp(dns.message.make_query("is.", "NS"), world.root_address,
                         port=world.port, timeout=2)
    assert "ns9.evil.example. 172800 IN A 127.67.9.9" in glue.to_text()
    world.set_delegation("se", ds=[])
    assert referral(world, "se")[1] == []
    assert referral(world, "is")[0] == ["ns1.isnic.is.", "ns9.evil.example."]  # kept
    world.restore_delegation()
    assert referral(world, "is") == before and referral(world, "se") == se_before
    assert world.serial(".") == serial + 3


def config_text(lab: Lab, store: Path, sink: Sink, listen: int) -> str:
    return "\n".join([
        "zones:",
        "  - name: is",
        "    thresholds: {rtt_udp: 30ms}",
        "  - name: se",
        f"    recipients: [{HOSTMASTER}]",
        "    expect:",
        "      ns: [ns1.nic.se, ns2.nic.se]",
        f"      ds: ['{se_ds(lab)}']",
        f"parent: [{lab.root_address}]",
        f"resolver: [{lab.resolver_address}]",
        f"resolver_port: {lab.port}",
        f"port: {lab.port}",
        "probe: {udp_timeout: 1s, udp_tries: 2, tcp_timeout: 2s, ipv6: false}",
        f"schedule: {{interval: {INTERVAL:g}s, jitter: 0s, allow_fast_interval: true}}",
        f"store: {{path: {store}, retention: 1d}}",
        f"web: {{listen: '127.0.0.1:{listen}'}}",
        "alerts:",
        f"  recipients: [{NOC}]",
        f"  close_after: {CLOSE_AFTER}",
        "  rate_limit: 0s",
        "  retry: {initial: 200ms, max: 1s}",
        f"  smtp: {{host: 127.0.0.1, port: {sink.port}, from: ccmon@example.net}}",
        "",
    ])  # fmt: skip


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.read().decode()


def unpinned_seconds(metrics: str) -> float | None:
    match = re.search(r'^ccmon_zone_delegation_unpinned_seconds\{dns_zone="se"\} (\S+)$',
                      metrics, re.M)
    return float(match.group(1)) if match else None



def test_deleg06_live_raises_ages_mails_and_clears(world: Lab, tmp_path: Path) -> None:
    sink = Sink().start()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    config = tmp_path / "ccmon.yaml"
    config.write_text(config_text(world, tmp_path / "ccmon.sqlite", sink, port))
    log = (tmp_path / "ccmon.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "monitor", "run", "--config", str(config)],
                            stdout=log, stderr=subprocess.STDOUT, cwd=REPO,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    started = time.monotonic()

    def se_report() -> dict[str, Any] | None:
        try:
            data = json.loads(get(f"{base}/api/v1/zones/se"))
        except OSError:
            return None
        return data["report"] if data.get("status") == "swept" else None

    def deleg06(report: dict[str, Any]) -> list[dict[str, Any]]:
        return [f for f in report["findings"] if f["check"] == "DELEG06"]

    try:
        # Healthy: sweeps of se with the pins matched, no DELEG06, no metric, no mail.
        first = wait_for(se_report, 20, "the first sweep of se")
        wait_for(lambda: (r := se_report()) and r["started_at"]
                 >= first["started_at"] + 2 * INTERVAL, 10, "three sweeps of se")
        assert deleg06(se_report() or {}) == []
        assert unpinned_seconds(get(f"{base}/metrics")) is None
        assert sink.received == []
        # is's own RTT threshold is the one its sweep used: 60 ms is slow there
        is_report = json.loads(get(f"{base}/api/v1/zones/is"))["report"]
        slow = [(f["check"], f["address"]) for f in is_report["findings"]
                if f["check"] in ("RTT01", "RTT02")]
        assert slow == [("RTT01", SLOW)], is_report["findings"]
        assert "threshold 30 ms" in next(f["message"] for f in is_report["findings"]
                                         if f["check"] == "RTT01")

        # The root publishes a DS nobody pinned.
        asked = time.time()
        world.set_delegation("se", ds=[se_ds(world), stranger_ds(world)])
        changed = time.time()  # the root serves the new DS set from here on
        report = wait_for(lambda: (r := se_report()) and r["started_at"] > changed and r,
                      5 * INTERVAL, "a sweep started after the change")
        # the first sweep that started after the change already has it (within one sweep)
        found = deleg06(report)
        assert [(f["severity"], f["reason"]) for f in found] == [("ERROR", "unexpected-ds")], \
            report["findings"]
        assert f"DS {stranger_ds(world)}" in found[0]["message"]
        since = found[0]["args"]["since"]
        assert asked <= since <= report["started_at"]  # first seen after the change
        # the age counts up: two readings of the metric ~2 intervals apart
        age1 = wait_for(lambda: unpinned_seconds(get(f"{base}/metrics")), 3 * INTERVAL, "the age")
        time.sleep(2 * INTERVAL)
        age2 = unpinned_seconds(get(f"{base}/metrics"))
        assert age2 is not None and age2 >= age1 + INTERVAL, (age1, age2)  # margin: 1 sweep
        # one mail, to the global and the zone's own recipient, opened at the first sweep
        wait_for(lambda: sink.received, 5 * INTERVAL, "the DELEG06 mail")
        _sender, rcpts, message = sink.received[0]
        mailed = email.utils.parsedate_to_datetime(message["Date"]).timestamp()  # queued
        assert message["Subject"] == SUBJECT
        assert sorted(rcpts) == sorted([NOC, HOSTMASTER])
        body = message.get_content()
        assert "not pinned" in body and "differing from the pins for" in body
        # opened by the very sweep that first saw it (no open_after hold-down for DELEG06)
        assert f"{utc(since)}  OPENED    DELEG06 ERROR unexpected-ds" in body, body
        # queued by the first sweep after the change (Date has whole seconds: margin 1 s)
        assert mailed - changed < 2 * INTERVAL + 1.0, mailed - changed
        time.sleep(2 * INTERVAL)
        assert len(sink.received) == 1  # still open: no second mail

        # Restored: resolved after CLOSE_AFTER good sweeps, one recovery mail.
        world.restore_delegation("se")
        restored = time.time()
        wait_for(lambda: len(sink.received) >= 2, (CLOSE_AFTER + 4) * INTERVAL, "the recovery")
        recovered = time.time()
        assert [m["Subject"] for m in sink.messages()] == [SUBJECT, RESOLVED]
        # not before CLOSE_AFTER sweeps (the first may have started just after the change)
        assert recovered - restored >= (CLOSE_AFTER - 1) * INTERVAL, recovered - restored
        # /metrics serves the latest background render, at most one behind: bounded wait
        wait_for(lambda: unpinned_seconds(get(f"{base}/metrics")) is None, 3 * INTERVAL,
             "the age series to go")
        assert deleg06(se_report() or {}) == []
        time.sleep(INTERVAL)
        assert len(sink.received) == 2
        print(f"\nDELEG06 live: first seen {since - asked:.2f} s after the change was asked, "
              f"age {age1:g} s then {age2:g} s, mail queued {mailed - changed:.0f} s after "
              f"the change (Date header), recovery mail {recovered - restored:.2f} s after the "
              "restore")
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        log.close()
        sink.stop()
        world.restore_delegation()
    assert time.monotonic() - started < 40
    text = (tmp_path / "ccmon.log").read_text(errors="replace")
    assert "Traceback" not in text, text[-3000:]
