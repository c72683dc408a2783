"""Per-zone overrides (issue 14): `zones:` entries as a name or a mapping
{name, serial_tolerance, thresholds, expect, recipients}; the values reach the checks and the
alert routing, and bad entries are refused with file, line and key."""

from __future__ import annotations

import logging

import pytest

from monitor.config import ConfigError, parse_config
from monitor.perfdata import perfdata
from probes.checks import judge
from probes.model import ServerStatus, Transport, ZoneReport
from tests.unit.builders import evidence, healthy, obs, soa_reply

CONFIG = """\
zones:
  - de
  - name: fr
    serial_tolerance: 5
    thresholds: {rtt_udp: 800ms, rtt_tcp: 3s, propagation: 2h}
    recipients: [hostmaster@nic.fr]
    expect:
      ns: [ns1.nic.fr, ns2.nic.fr]
  - nl
alerts:
  recipients: [noc@example.net]
  zone_recipients: {nl: ops@sidn.example}
"""


def test_the_plain_list_keeps_working():
    config = parse_config("zones: [fr, de]\n")
    assert config.zones == ("fr", "de")
    assert config.probe.zone_overrides == ()
    assert config.probe.for_zone("fr") is config.probe


def test_a_mapping_entry_sets_the_zones_own_values_and_only_its_own():
    config = parse_config(CONFIG)
    assert config.zones == ("de", "fr", "nl")
    fr, de = config.probe.for_zone("fr."), config.probe.for_zone("de")
    assert (fr.serial_tolerance, fr.rtt_udp_threshold, fr.rtt_tcp_threshold,
            fr.propagation_threshold) == (5, 0.8, 3.0, 7200.0)
    assert (de.serial_tolerance, de.rtt_udp_threshold, de.rtt_tcp_threshold,
            de.propagation_threshold) == (0, 0.5, 1.5, 3600.0)
    assert [e.zone for e in config.probe.expectations] == ["fr."]
    assert config.probe.expectations[0].ns == ("ns1.nic.fr.", "ns2.nic.fr.")


def test_an_entry_without_overrides_changes_nothing():
    config = parse_config("zones: [{name: fr}, de]\n")
    assert config.zones == ("fr", "de")
    assert config.probe.for_zone("fr") is config.probe


def test_recipients_add_to_the_global_ones():
    alerts = parse_config(CONFIG).alerts
    assert alerts.recipients_for("fr") == ("noc@example.net", "hostmaster@nic.fr")
    assert alerts.recipients_for("de") == ("noc@example.net",)
    assert alerts.recipients_for("nl") == ("noc@example.net", "ops@sidn.example")
    both = parse_config("zones: [{name: fr, recipients: b@nic.fr}]\nalerts:\n"
                        "  zone_recipients: {fr: [a@nic.fr, b@nic.fr]}\n").alerts
    assert both.recipients_for("fr") == ("a@nic.fr", "b@nic.fr")  # merged, once each


def _soa01(tolerance_zone: str, lag: int) -> list[str]:
    settings = parse_config("zones: [{name: fr, serial_tolerance: 3}, de]\n").probe
    observations = (healthy("ns1.nic.fr.", "192.0.2.1", 2026112710)
                    + healthy("ns2.nic.fr.", "192.0.2.2", 2026112710 - lag))
    found = judge(evidence(observations, settings=settings.for_zone(tolerance_zone)))
    return [f.address for f in found if f.check == "SOA01"]


@pytest.mark.parametrize(("lag", "flagged"), [(3, False), (4, True)])
def test_the_zones_serial_tolerance_is_what_soa01_uses(lag, flagged):
    assert bool(_soa01("fr", lag)) is flagged  # 3 steps tolerated for fr, 4 not
    assert bool(_soa01("de", lag)) is True  # de keeps the global tolerance 0


@pytest.mark.parametrize(("rtt", "slow"), [(0.8, False), (0.8001, True)])
def test_the_zones_rtt_threshold_is_what_rtt01_uses(rtt, slow):
    settings = parse_config(CONFIG).probe
    observations = [obs(msg=soa_reply(), rtt=rtt)] + healthy("ns2.nic.fr.", "192.0.2.2")
    for zone, expected in (("fr", slow), ("de", True)):
        found = judge(evidence(observations, settings=settings.for_zone(zone)))
        assert any(f.check == "RTT01" for f in found) is expected, zone


def test_plugin_perfdata_warns_at_the_zones_threshold():
    settings = parse_config(CONFIG).probe
    row = ServerStatus(nameserver="ns1.", address="192.0.2.1", transport=Transport.UDP,
                       answered=True, authoritative=True, rtt=0.1, serial=1)
    reports = [ZoneReport(zone=z, started_at=0.0, duration=0.1, servers=(row,), findings=())
               for z in ("fr", "de")]
    text = perfdata(reports, settings)
    assert "'fr_udp_rtt_max'=0.1s;0.8;;0" in text
    assert "'de_udp_rtt_max'=0.1s;0.5;;0" in text


@pytest.mark.parametrize(("text", "error"), [
    ("zones:\n  - fr\n  - name: de\n    colour: red\n",
     "config.yaml:4: zones[1].colour: unknown key (known: expect, name, recipients, "
     "serial_tolerance, thresholds)"),
    ("zones:\n  - fr\n  - serial_tolerance: 2\n",
     "config.yaml:3: zones[1].name: missing"),
    ("zones:\n  - name: 42\n", "config.yaml:2: zones[0].name: 42 is not a zone name"),
    ("zones:\n  - name: no\n", "quote it"),
    ("zones:\n  - name: fr\n    serial_tolerance: two\n",
     "config.yaml:3: zones[0].serial_tolerance: must be a whole number"),
    ("zones:\n  - name: fr\n    serial_tolerance: -1\n",
     "config.yaml:3: zones[0].serial_tolerance: must be a whole number"),
    ("zones:\n  - name: fr\n    thresholds: 5\n",
     "config.yaml:3: zones[0].thresholds must be a mapping"),
    ("zones:\n  - name: fr\n    thresholds:\n      rtt_udp: 2m\n",
     "config.yaml:4: zones[0].thresholds.rtt_udp: must be from more than 0 to 60s"),
    ("zones:\n  - name: fr\n    thresholds:\n      colour: 1s\n",
     "config.yaml:4: zones[0].thresholds.colour: unknown key"),
    ("zones:\n  - name: fr\n    thresholds:\n      serial_tolerance: 3\n",
     "config.yaml:4: zones[0].thresholds.serial_tolerance: give it on the zone entry itself"),
    ("zones:\n  - name: fr\n    recipients: [nobody]\n",
     "config.yaml:3: zones[0].recipients: bad e-mail address 'nobody'"),
    ("zones:\n  - name: fr\n    expect: {ns: ns1.nic.fr}\n",
     "config.yaml:3: zones[0].expect: give `ns:` and/or `ds:` as lists"),
    ("zones:\n  - name: fr\n    expect:\n      ds: ['1 8 2 00']\n",
     "config.yaml:4: zones[0].expect:"),
    ("zones:\n  - name: fr\n    expect: {ns: [a.nic.fr], nx: []}\n",
     "config.yaml:3: zones[0].expect.nx: unknown key"),
    ("zones:\n  - fr\n  - {name: FR.}\n", "config.yaml:3: zones: fr listed twice"),
    ("zones:\n  - name: fr\n    expect: {ns: [a.nic.fr]}\nexpect:\n  fr: {ns: [b.nic.fr]}\n",
     "config.yaml:3: zones[0].expect: fr is pinned in the top-level `expect:` already"),
])
def test_bad_entries_are_refused_with_file_line_and_key(text, error):
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    assert error in str(caught.value)


def test_run_refuses_a_bad_entry_and_creates_nothing(tmp_path, capsys):
    from monitor.cli import main

    store = tmp_path / "store" / "ccmon.sqlite"
    path = tmp_path / "config.yaml"
    path.write_text(f"zones:\n  - name: fr\n    sla: 99\nstore: {{path: {store}}}\n")
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        assert main(["run", "--config", str(path)]) == 3
    finally:  # `run` points logging at this test's captured stderr: put it back
        root.handlers[:] = handlers
        root.setLevel(level)
    assert f"{path}:3: zones[0].sla: unknown key" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == [path]
