"""SOA03 and DELEG05: the history checks, over hand-made history, both sides of each bound.

Also the store's side of them (serial completion, per-server serials, NS drift, the schema
migration), the service wiring (findings in the published and stored report), and the
`thresholds.propagation` key of config.yaml.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from monitor.config import Config, ConfigError, ScheduleConfig, StoreConfig, parse_config
from monitor.service import Service
from monitor.snapshot import ZoneTotals
from monitor.store import MIGRATIONS, Store
from probes.checks import CHECKS
from probes.checks.history import (
    DRIFT_WARNING_AGE,
    HISTORY_CHECKS,
    DelegationDrift,
    History,
    SerialSighting,
    ServerSerial,
    judge_history,
)
from probes.model import ServerStatus, Severity, Transport, ZoneReport
from probes.settings import DEFAULT_PROPAGATION_THRESHOLD, ProbeSettings

T0 = 1_800_000_000.0
HOUR = 3600.0
SETTINGS = ProbeSettings()  # propagation threshold 60 min
NS = ("ns1.nic.nl.", "ns2.nic.nl.", "ns3.nic.nl.")
ADDR = ("127.64.1.1", "127.64.1.2", "127.64.1.3")


def statuses(ns: str, address: str, serial: int | None, authoritative: bool = True):
    return [
        ServerStatus(ns, address, t, True, authoritative, 0.01,
                     serial if authoritative else None, within_threshold=authoritative)
        for t in (Transport.UDP, Transport.TCP)
    ]  # fmt: skip


def report(serials, at: float, *, parent=NS, child=NS, lame=()) -> ZoneReport:
    servers = []
    for ns, address, serial in zip(NS, ADDR, serials, strict=True):
        servers += statuses(ns, address, serial, authoritative=address not in lame)
    return ZoneReport("nl", at, 0.05, tuple(servers), (), parent_ns=tuple(parent),
                      child_ns=tuple(child))  # fmt: skip


def soa03(findings):
    return [f for f in findings if f.check == "SOA03"]


def deleg05(findings):
    return [f for f in findings if f.check == "DELEG05"]


# --- SOA03: a server still lacking a new serial ---------------------------------------------


def lagging_case(age: float):
    """Serial 11 first seen `age` seconds before the sweep; ns3 still serves 10."""
    history = History(serials=(SerialSighting(10, T0 - 10 * HOUR, T0 - 10 * HOUR, True),
                               SerialSighting(11, T0 - age)))  # fmt: skip
    return judge_history(report((11, 11, 10), T0), history, SETTINGS)


def test_lagging_server_below_and_at_the_threshold_is_no_finding():
    assert soa03(lagging_case(DEFAULT_PROPAGATION_THRESHOLD - 1)) == []
    assert soa03(lagging_case(DEFAULT_PROPAGATION_THRESHOLD)) == []


def test_lagging_server_beyond_the_threshold_is_a_warning_naming_it():
    (finding,) = soa03(lagging_case(DEFAULT_PROPAGATION_THRESHOLD + 1))
    assert finding.severity is Severity.WARNING
    assert (finding.tag, finding.reason) == ("SERIAL_NOT_PROPAGATED", "not-propagated")
    assert (finding.nameserver, finding.address) == ("ns3.nic.nl.", "127.64.1.3")
    assert finding.args["serial"] == 10 and finding.args["missing"] == 11
    assert finding.args["seconds"] == DEFAULT_PROPAGATION_THRESHOLD + 1
    assert "ns3.nic.nl. 127.64.1.3 still serves serial 10" in finding.message
    assert "serial 11 was first seen 1 h ago" in finding.message
    assert "at least" not in finding.message


def test_threshold_comes_from_the_settings():
    history = History(serials=(SerialSighting(11, T0 - 3),))
    fast = ProbeSettings(propagation_threshold=2.0)
    assert [f.address for f in soa03(judge_history(report((11, 11, 10), T0), history, fast))] \
        == ["127.64.1.3"]  # fmt: skip
    assert soa03(judge_history(report((11, 11, 10), T0), history, SETTINGS)) == []


def test_lag_counts_from_the_oldest_serial_the_server_lacks():
    """A zone that changes every few minutes must not hide a server stuck for hours."""
    history = History(serials=tuple(SerialSighting(100 + i, T0 - 2 * HOUR + 300 * i)
                                    for i in range(24)))  # fmt: skip
    findings = soa03(judge_history(report((123, 123, 100), T0), history, SETTINGS))
    (finding,) = findings
    assert finding.args["missing"] == 101 and finding.args["highest"] == 123
    assert finding.args["seconds"] == 2 * HOUR - 300


def test_every_lagging_server_is_named_and_the_current_ones_are_not():
    history = History(serials=(SerialSighting(11, T0 - 2 * HOUR),))
    found = soa03(judge_history(report((11, 10, 9), T0), history, SETTINGS))
    assert [(f.address, f.args["serial"]) for f in found] == [("127.64.1.2", 10),
                                                              ("127.64.1.3", 9)]


def test_serial_arithmetic_wraps():
    history = History(serials=(SerialSighting(3, T0 - 2 * HOUR),))
    (finding,) = soa03(judge_history(report((3, 3, 2**32 - 2), T0), history, SETTINGS))
    assert finding.args["serial"] == 2**32 - 2 and finding.args["missing"] == 3


def test_baseline_serial_ages_are_lower_bounds():
    history = History(serials=(SerialSighting(11, T0 - 2 * HOUR, None, baseline=True),))
    (finding,) = soa03(judge_history(report((11, 11, 6), T0), history, SETTINGS))
    assert "first seen at least 2 h ago" in finding.message
    assert finding.args["lower_bound"] is True


def test_servers_without_an_authoritative_answer_are_left_to_lame_and_reach():
    history = History(serials=(SerialSighting(11, T0 - 2 * HOUR),))
    sweep = report((11, 11, 10), T0, lame=("127.64.1.3",))
    assert soa03(judge_history(sweep, history, SETTINGS)) == []


def test_no_history_no_finding():
    assert soa03(judge_history(report((11, 11, 10), T0), History(), SETTINGS)) == []


# --- SOA03: a propagation that completed slowly -----------------------------------------------


def completed_case(took: float, *, complete_at: float = T0, baseline: bool = False):
    first = complete_at - took
    history = History(
        serials=(SerialSighting(11, first, complete_at, baseline),),
        servers=(ServerSerial(NS[0], ADDR[0], 11, first),
                 ServerSerial(NS[1], ADDR[1], 11, first + 60),
                 ServerSerial(NS[2], ADDR[2], 11, complete_at)),
    )  # fmt: skip
    return soa03(judge_history(report((11, 11, 11), T0), history, SETTINGS))


def test_completion_within_the_threshold_is_no_finding():
    assert completed_case(DEFAULT_PROPAGATION_THRESHOLD - 1) == []
    assert completed_case(DEFAULT_PROPAGATION_THRESHOLD) == []


def test_slow_completion_is_a_notice_once_naming_the_last_server():
    (finding,) = completed_case(DEFAULT_PROPAGATION_THRESHOLD + 1)
    assert finding.severity is Severity.NOTICE
    assert (finding.tag, finding.reason) == ("SLOW_PROPAGATION", "slow-propagation")
    assert finding.nameserver == "" and finding.args["seconds"] == DEFAULT_PROPAGATION_THRESHOLD + 1
    assert finding.args["last"] == ["ns3.nic.nl. 127.64.1.3"]
    assert finding.message.startswith("serial 11 took 1 h to reach every server")
    # the sweep after: the same history, completed one sweep earlier: said once only
    assert completed_case(DEFAULT_PROPAGATION_THRESHOLD + 1, complete_at=T0 - 60) == []


def test_baseline_completion_is_not_measured():
    assert completed_case(2 * HOUR, baseline=True) == []


# --- DELEG05 ----------------------------------------------------------------------------------


PARENT = ("ns1.nic.nl.", "ns2.nic.nl.")
CHILD = ("NS1.nic.nl", "ns2.nic.nl.", "ns9.nic.nl.")


def drift_case(age: float | None, parent=PARENT, child=CHILD):
    drift = None
    if age is not None:
        drift = DelegationDrift(("ns1.nic.nl.", "ns2.nic.nl."),
                                ("ns1.nic.nl.", "ns2.nic.nl.", "ns9.nic.nl."), T0 - age)
    sweep = report((11, 11, 11), T0, parent=parent, child=child)
    return deleg05(judge_history(sweep, History(drift=drift), SETTINGS))


def test_equal_sets_are_no_finding_case_and_dot_normalised():
    assert drift_case(None, child=("NS1.NIC.NL", "ns2.nic.nl.")) == []


def test_new_drift_is_a_notice_of_age_zero_naming_both_sides():
    (finding,) = drift_case(None, parent=("ns1.nic.nl.", "ns2.nic.nl.", "old.nic.nl."))
    assert finding.severity is Severity.NOTICE
    assert (finding.tag, finding.reason) == ("DELEGATION_DRIFT", "drift")
    assert finding.args["only_parent"] == ["old.nic.nl."]
    assert finding.args["only_child"] == ["ns9.nic.nl."]
    assert finding.args["seconds"] == 0
    assert "only at the parent old.nic.nl.; only at the child ns9.nic.nl." in finding.message


def test_drift_under_a_day_is_a_notice_and_a_day_or_more_a_warning():
    (young,) = drift_case(DRIFT_WARNING_AGE - 1)
    assert young.severity is Severity.NOTICE and young.args["seconds"] == DRIFT_WARNING_AGE - 1
    assert "for 23 h 59 min" in young.message
    (old,) = drift_case(DRIFT_WARNING_AGE)
    assert old.severity is Severity.WARNING
    assert "for 1 d" in old.message and "only at the parent -" in old.message


def test_a_different_difference_starts_its_own_age():
    (finding,) = drift_case(2 * DRIFT_WARNING_AGE, child=("ns1.nic.nl.", "ns7.nic.nl."))
    assert finding.severity is Severity.NOTICE and finding.args["seconds"] == 0


def test_a_sweep_missing_one_side_says_nothing():
    assert drift_case(2 * DRIFT_WARNING_AGE, child=()) == []
    assert drift_case(2 * DRIFT_WARNING_AGE, parent=()) == []


# --- the registry -----------------------------------------------------------------------------


def test_history_checks_are_in_the_one_registry_and_silent_on_evidence():
    assert set(HISTORY_CHECKS) == {"SOA03", "DELEG05"}
    for check_id in HISTORY_CHECKS:
        assert list(CHECKS[check_id].judge(None)) == []  # type: ignore[arg-type]


def test_disabled_history_checks_do_not_run():
    history = History(serials=(SerialSighting(11, T0 - 2 * HOUR),))
    sweep = report((11, 11, 10), T0, child=CHILD)
    assert {f.check for f in judge_history(sweep, history, SETTINGS)} == {"SOA03", "DELEG05"}
    off = ProbeSettings(disabled_checks=frozenset({"SOA03", "DELEG05"}))
    assert judge_history(sweep, history, off) == []


# --- the store keeps the history --------------------------------------------------------------


def amend(r, h):
    return judge_history(r, h, ProbeSettings(propagation_threshold=90.0))


def test_store_measures_propagation_and_feeds_the_checks(tmp_path: Path):
    store = Store(str(tmp_path / "s.db"), retention=86400)
    saved, _ = store.record_sweep(report((10, 10, 10), T0), ZoneTotals(), amend)
    assert soa03(saved.findings) == []
    # serial 11 appears on ns1 at T0+60; ns3 lags until T0+240
    for i, serials in enumerate([(11, 10, 10), (11, 11, 10), (11, 11, 10), (11, 11, 11)]):
        at = T0 + 60 * (i + 1)
        saved, history = store.record_sweep(report(serials, at), ZoneTotals(), amend)
        found = soa03(saved.findings)
        if at - (T0 + 60) <= 90:
            assert found == [], (i, found)
        elif serials[2] == 10:
            assert [(f.address, f.args["seconds"]) for f in found] == [("127.64.1.3", 120.0)]
    (notice,) = found
    assert notice.severity is Severity.NOTICE and notice.args["seconds"] == 180.0
    assert notice.args["last"] == ["ns3.nic.nl. 127.64.1.3"]
    assert history.propagation == 180.0
    # stored with the report: a restart shows it; the next sweep does not repeat it
    assert soa03(store.latest_reports()["nl"].findings) == [notice]
    again, _ = store.record_sweep(report((11, 11, 11), T0 + 300), ZoneTotals(), amend)
    assert soa03(again.findings) == []
    runs = store.runs("nl")  # newest first: the sweep without SOA03, the one with it
    assert runs[1].findings[0][:3] == ("SOA03", "NOTICE", "SLOW_PROPAGATION")
    assert runs[0].sweeps == 1 and runs[0].last_at == T0 + 300


def test_store_completes_a_serial_overtaken_by_a_newer_one(tmp_path: Path):
    store = Store(str(tmp_path / "s.db"), retention=86400)
    store.save_sweep(report((10, 10, 10), T0), ZoneTotals())
    store.save_sweep(report((11, 10, 10), T0 + 60), ZoneTotals())
    store.save_sweep(report((12, 11, 11), T0 + 120), ZoneTotals())  # 11 everywhere, 12 not
    history = store.check_history("nl")
    by_serial = {s.serial: s for s in history.serials}
    assert by_serial[11].complete_at == T0 + 120 and by_serial[12].complete_at is None
    assert store.zone_history("nl", 12, now=T0 + 121).propagation == 60.0
    since = {(s.address, s.serial): s.since for s in history.servers}
    assert since == {("127.64.1.1", 12): T0 + 120, ("127.64.1.2", 11): T0 + 120,
                     ("127.64.1.3", 11): T0 + 120}  # fmt: skip


def test_store_keeps_the_age_of_one_drift(tmp_path: Path):
    store = Store(str(tmp_path / "s.db"), retention=86400)
    r = report((1, 1, 1), T0, parent=PARENT, child=CHILD)
    store.save_sweep(r, ZoneTotals())
    store.save_sweep(report((1, 1, 1), T0 + 60, parent=PARENT, child=CHILD), ZoneTotals())
    store.save_sweep(report((1, 1, 1), T0 + 120, parent=PARENT, child=()), ZoneTotals())
    drift = store.check_history("nl").drift
    assert drift == DelegationDrift(("ns1.nic.nl.", "ns2.nic.nl."),
                                    ("ns1.nic.nl.", "ns2.nic.nl.", "ns9.nic.nl."), T0)
    store.save_sweep(report((1, 1, 1), T0 + 180, parent=PARENT, child=NS), ZoneTotals())
    assert store.check_history("nl").drift.first_seen == T0 + 180  # another difference
    store.save_sweep(report((1, 1, 1), T0 + 240, parent=PARENT, child=PARENT), ZoneTotals())
    assert store.check_history("nl").drift is None
    saved, _ = store.record_sweep(report((1, 1, 1), T0 + 300, parent=PARENT, child=CHILD),
                                  ZoneTotals(), amend)  # fmt: skip
    (finding,) = deleg05(saved.findings)
    assert finding.args["since"] == T0 + 300


def test_store_prunes_history_of_zones_no_longer_reported(tmp_path: Path):
    store = Store(str(tmp_path / "s.db"), retention=3600)
    store.save_sweep(report((1, 1, 1), T0, parent=PARENT, child=CHILD), ZoneTotals())
    assert store.table_counts()["delegation_drift"] == 1
    store.prune(now=T0 + 7200)
    counts = store.table_counts()
    assert counts["delegation_drift"] == counts["server_serials"] == 0


def test_schema_1_store_is_migrated(tmp_path: Path):
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.executescript(MIGRATIONS[0] + "\nPRAGMA user_version = 1;")
    db.close()
    store = Store(str(path), retention=3600)
    assert store.schema_version == len(MIGRATIONS) == 6
    store.save_sweep(report((1, 1, 1), T0), ZoneTotals())
    assert store.table_counts()["server_serials"] == 3
    assert store.integrity_check() == "ok"


# --- the service adds them to what it publishes -----------------------------------------------


class ScriptedProber:
    """Returns the next hand-made report per sweep, stamped with the current time."""

    def __init__(self, script):
        self.script = list(script)

    async def sweep(self, zone: str) -> ZoneReport:
        serials, at = self.script.pop(0)
        return report(serials, at, child=CHILD)


async def test_service_publishes_history_findings(tmp_path: Path):
    config = Config(
        zones=("nl",),
        probe=ProbeSettings(propagation_threshold=30.0),
        schedule=ScheduleConfig(interval=60.0, jitter=0.0),
        store=StoreConfig(path=str(tmp_path / "ccmon.sqlite"), retention=86400),
    )
    service = Service(config)
    service._open()
    service.prober = ScriptedProber([((10, 10, 10), T0), ((11, 10, 10), T0 + 10),
                                     ((11, 11, 10), T0 + 50), ((11, 11, 11), T0 + 60)])
    seen = []
    for _ in range(4):
        await asyncio.wait_for(service.sweep_zone("nl"), 5)
        published = service.state.snapshot.reports["nl"]
        seen.append(sorted((f.check, f.severity.name, f.address) for f in published.findings))
    assert seen[0] == seen[1] == [("DELEG05", "NOTICE", "")]
    assert seen[2] == [("DELEG05", "NOTICE", ""), ("SOA03", "WARNING", "127.64.1.3")]
    assert seen[3] == [("DELEG05", "NOTICE", ""), ("SOA03", "NOTICE", "")]
    assert service.state.snapshot.history["nl"].propagation == 50.0
    await service.alerter.aclose(timeout=1.0)
    service.store.close()


# --- config.yaml: thresholds.propagation ------------------------------------------------------


def test_propagation_threshold_defaults_to_the_icann_update_time():
    assert parse_config("zones: [nl]\n").probe.propagation_threshold == 3600.0


def test_propagation_threshold_is_read():
    config = parse_config("zones: [nl]\nthresholds:\n  propagation: 2s\n")
    assert config.probe.propagation_threshold == 2.0
    assert parse_config("zones: [nl]\nthresholds:\n  propagation: 90m\n").probe \
        .propagation_threshold == 5400.0  # fmt: skip


@pytest.mark.parametrize("value", ["0s", "soon", "-5"])
def test_bad_propagation_threshold_names_key_and_line(value):
    with pytest.raises(ConfigError) as caught:
        parse_config(f"zones: [nl]\nthresholds:\n  rtt_udp: 1s\n  propagation: {value}\n",
                     "cfg.yaml")  # fmt: skip
    assert "cfg.yaml:4" in str(caught.value)
    assert "thresholds.propagation" in str(caught.value)


def test_reasons_are_bounded_and_named_in_the_rules():
    from probes.checks.history import REASONS

    assert set(REASONS) == set(HISTORY_CHECKS)
    for check_id, words in REASONS.items():
        for word in words:
            assert f"`{word}`" in CHECKS[check_id].rule, (check_id, word)
