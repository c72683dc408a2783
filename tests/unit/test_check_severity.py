"""The registry is the vocabulary: declared tags and severities, re-levelled by config.

A judge names a tag; its severity is the registry's default unless `checks.severity` in
config.yaml re-levels it. The finding carries the looked-up severity, so the re-levelled
value reaches the report, the metrics' severity label, the alert rules and the status page.
"""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from monitor.config import ConfigError, parse_config
from monitor.config.alerts import AlertsConfig
from monitor.metrics import CcmonCollector
from monitor.snapshot import MonitorState, Snapshot, ZoneHistory, ZoneTotals
from monitor.web.pages.zone import render_zone_page
from probes.checks import CHECKS, Kind, judge
from probes.checks.history import History, judge_history
from probes.model import Finding, Severity, ZoneReport
from tests.unit.builders import evidence, obs, soa_reply

#: REFRESH 3600 < 14400: SOA04 refresh-low, a NOTICE by default (advice, not a fault).
LOW_REFRESH = "ns1.nic.fr. hostmaster.nic.fr. 1 7200 3600 604800 3600"


def settings_from(yaml_checks: str):
    return parse_config(f"zones: [fr]\nchecks:\n{yaml_checks}", "cfg.yaml").probe


def soa04(settings) -> list[Finding]:
    observations = [obs(f"ns{i}.nic.fr.", f"192.0.2.{i}", msg=soa_reply(soa=LOW_REFRESH))
                    for i in (1, 2)]
    return [f for f in judge(evidence(observations, settings=settings)) if f.check == "SOA04"]


def error_of(yaml_checks: str) -> str:
    with pytest.raises(ConfigError) as caught:
        settings_from(yaml_checks)
    return str(caught.value)


# --- the declarations -------------------------------------------------------------------------


def test_every_check_declares_kind_tags_and_bounded_reasons():
    kinds = {check.kind for check in CHECKS.values()}
    assert kinds == {Kind.SWEEP, Kind.HISTORY, Kind.PRECHECK}
    for check in CHECKS.values():
        assert check.tags, check.id
        assert len(check.reasons) == len(set(check.reasons)) <= 20, check.id
        for tag in check.tags.values():
            assert tag.name.isupper() and Severity.INFO <= tag.severity <= Severity.CRITICAL
            assert bool(tag.grades) == bool(tag.meaning), (check.id, tag.name)  # grades explained


def test_the_registry_order_is_the_report_order_and_explicit():
    ids = list(CHECKS)
    assert ids[:3] == ["LAME01", "REACH01", "AVAIL01"]
    assert ids.index("SOA04") < ids.index("DELEG06") < ids.index("SOA03") < ids.index("PRE01")
    assert [c.kind for c in CHECKS.values()] == sorted(
        (c.kind for c in CHECKS.values()), key=[Kind.SWEEP, Kind.HISTORY, Kind.PRECHECK].index)


def test_an_undeclared_tag_or_grade_is_a_programming_error():
    check = CHECKS["SOA04"]
    with pytest.raises(ValueError, match="no tag"):
        check.finding("LOUD_TAG", "x")
    with pytest.raises(ValueError, match="no grade"):
        check.finding("SOA_TIMER_OUT_OF_RANGE", "x", grade="imminent")
    assert CHECKS["DNSSEC03"].severity("SIGNATURES_EXPIRING") is Severity.WARNING
    assert CHECKS["DNSSEC03"].severity("SIGNATURES_EXPIRING", "within-a-day") is Severity.CRITICAL


# --- config: the operator's shape, refused with file, line and key -----------------------------


def test_default_severity_is_the_declared_one():
    found = soa04(settings_from("  severity: {}\n"))
    assert [(f.severity, f.reason) for f in found] == [(Severity.NOTICE, "refresh-low")]


@pytest.mark.parametrize("value", ["ERROR", "error", "{SOA_TIMER_OUT_OF_RANGE: ERROR}"])
def test_a_check_or_one_tag_is_re_levelled(value):
    found = soa04(settings_from(f"  severity:\n    SOA04: {value}\n"))
    assert [(f.severity, f.tag) for f in found] == [(Severity.ERROR, "SOA_TIMER_OUT_OF_RANGE")]


def test_re_levelling_one_tag_leaves_the_others_of_the_check():
    settings = settings_from("  severity:\n    DNSSEC03:\n      SIGNATURES_EXPIRING: ERROR\n")
    assert settings.severity_overrides == (("DNSSEC03", "SIGNATURES_EXPIRING", Severity.ERROR),)


@pytest.mark.parametrize(("text", "line", "words"), [
    ("  severity:\n    SOA04: LOUD\n", 4, "checks.severity.SOA04: unknown severity 'LOUD'"),
    ("  severity:\n    NOPE99: ERROR\n", 4, "checks.severity.NOPE99: unknown check ID"),
    ("  severity:\n    SOA04:\n      LOUD_TAG: ERROR\n", 5,
     "checks.severity.SOA04.LOUD_TAG: SOA04 has no tag LOUD_TAG"),
    ("  severity:\n    SOA04:\n      SOA_TIMER_OUT_OF_RANGE: LOUD\n", 5,
     "checks.severity.SOA04.SOA_TIMER_OUT_OF_RANGE: unknown severity 'LOUD'"),
    ("  severity:\n    SOA04: OK\n", 4, "list it in checks.disabled"),
    ("  severity:\n    VANTAGE01: ERROR\n", 4,
     "checks.severity.VANTAGE01: VANTAGE01 is about this vantage point, not the zone"),
    ("  severity:\n    SOA04: 3\n", 4, "unknown severity 3"),
    ("  severity: [SOA04]\n", 3, "checks.severity must be a mapping"),
    ("  loudness: {}\n", 3, "checks.loudness: unknown key"),
])  # fmt: skip
def test_bad_severity_config_is_refused_with_file_line_and_key(text, line, words):
    message = error_of(text)
    assert message.startswith(f"cfg.yaml:{line}: "), message
    assert words in message


# --- downstream: the finding carries the re-levelled severity ----------------------------------


def test_re_levelled_severity_reaches_report_metrics_alerts_and_status_page():
    found = soa04(settings_from("  severity:\n    SOA04: ERROR\n"))
    report = ZoneReport(zone="fr", started_at=1_800_000_000.0, duration=0.1, servers=(),
                        findings=tuple(found))
    assert report.severity is Severity.ERROR
    assert ZoneReport.from_dict(report.to_dict()).findings[0].severity is Severity.ERROR
    state = MonitorState(Snapshot(zones=("fr",), interval=60))
    state.publish(report, ZoneTotals().add_report(report), ZoneHistory())
    registry = CollectorRegistry()
    registry.register(CcmonCollector(state, build_version="1.2.3"))
    metrics = generate_latest(registry).decode()
    assert 'ccmon_check_findings{check="SOA04",dns_zone="fr",severity="error"} 1.0' in metrics
    assert AlertsConfig().alerting("SOA04", found[0].severity)  # default rules: ERROR and up
    assert not AlertsConfig().alerting("SOA04", Severity.NOTICE)  # the default would not
    page = render_zone_page(state.snapshot, "fr", None, now=1_800_000_060.0)
    assert '<tr><td><span class="badge b-error">error</span></td><td>SOA04</td>' in page


def test_history_checks_are_re_levelled_whatever_their_grade():
    report = ZoneReport(zone="nl", started_at=1_800_000_000.0, duration=0.1, servers=(),
                        findings=(), parent_ns=("ns1.nic.nl.",), child_ns=("ns2.nic.nl.",))
    default = judge_history(report, History(), settings_from("  severity: {}\n"))
    assert [(f.check, f.severity) for f in default] == [("DELEG05", Severity.NOTICE)]
    raised = judge_history(report, History(), settings_from("  severity:\n    DELEG05: ERROR\n"))
    assert [(f.check, f.severity) for f in raised] == [("DELEG05", Severity.ERROR)]


def test_every_declared_check_is_in_the_explicit_list():
    import importlib
    import pkgutil

    import probes.checks
    from probes.checks.registry import Check

    declared = set()
    for info in pkgutil.iter_modules(probes.checks.__path__):
        module = importlib.import_module(f"probes.checks.{info.name}")
        declared |= {v.id for v in vars(module).values() if isinstance(v, Check)}
    assert declared == set(CHECKS)
