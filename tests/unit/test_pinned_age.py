"""DELEG06's age (first seen, counting up, kept across sweeps that cannot tell), its metric,
and its alert opening at the first failing sweep while other checks keep the hold-down."""

from __future__ import annotations

from pathlib import Path

from monitor.alerts import OPENED, RESOLVED, compose, step
from monitor.config.alerts import AlertsConfig
from monitor.metrics import zone_rows
from monitor.snapshot import ZoneHistory, ZoneTotals
from monitor.store import Store
from probes.checks.pinned import pinned_age
from probes.model import Finding, Severity, ZoneReport

T0 = 1_700_000_000.0
UNPINNED = Finding("DELEG06", Severity.ERROR, "DS_NOT_PINNED",
                   "the parent has DS 1 13 2 AB, which is not pinned", reason="unexpected-ds")
LAME = Finding("LAME01", Severity.ERROR, "LAME_DELEGATION", "ns2 is lame: refused",
               nameserver="ns2.nic.fr.", address="192.0.2.2", reason="refused")


def sweep(at: float, *findings: Finding, parent: tuple[str, ...] = ("ns1.nic.fr.",),
          unknown: bool = False) -> ZoneReport:
    return ZoneReport(zone="fr", started_at=at, duration=0.1, servers=(), findings=findings,
                      parent_ns=parent, unknown=unknown)


def ages(store: Store, *reports: ZoneReport) -> list[float | None]:
    out = []
    for report in reports:
        saved, _history = store.record_sweep(report, ZoneTotals())
        out.append(pinned_age(saved))
    return out


def test_the_age_counts_from_the_first_sweep_that_saw_the_difference(tmp_path: Path):
    store = Store(str(tmp_path / "s.db"), retention=86400)
    got = ages(store, sweep(T0), sweep(T0 + 5, UNPINNED), sweep(T0 + 10, UNPINNED),
               sweep(T0 + 15, UNPINNED))
    assert got == [None, 0.0, 5.0, 10.0]
    saved = store.latest_reports()["fr"]
    (finding,) = saved.findings
    assert finding.args["since"] == T0 + 5
    assert finding.message.endswith("; differing from the pins for 10 s")


def test_a_sweep_that_cannot_tell_keeps_the_age_one_that_agrees_clears_it(tmp_path: Path):
    store = Store(str(tmp_path / "s.db"), retention=86400)
    got = ages(store, sweep(T0, UNPINNED),
               sweep(T0 + 5, unknown=True),  # nothing measured: cannot tell
               sweep(T0 + 10, parent=()),  # no referral from the parent: cannot tell
               sweep(T0 + 15, UNPINNED),
               sweep(T0 + 20),  # the parent answered and agrees with the pins
               sweep(T0 + 25, UNPINNED))
    assert got == [0.0, None, None, 15.0, None, 0.0]


def test_the_age_survives_a_restart(tmp_path: Path):
    path = str(tmp_path / "s.db")
    ages(Store(path, retention=86400), sweep(T0, UNPINNED))
    assert ages(Store(path, retention=86400), sweep(T0 + 60, UNPINNED)) == [60.0]


def metric(report: ZoneReport) -> list[str]:
    text = "\n".join(str(row) for row in zone_rows("fr", report, ZoneHistory(), ZoneTotals()))
    return [line for line in text.splitlines() if "unpinned" in line]


def test_the_metric_is_the_age_and_absent_without_a_difference(tmp_path: Path):
    store = Store(str(tmp_path / "s.db"), retention=86400)
    store.record_sweep(sweep(T0, UNPINNED), ZoneTotals())
    saved, _ = store.record_sweep(sweep(T0 + 42, UNPINNED), ZoneTotals())
    assert len(metric(saved)) == 1 and "42" in metric(saved)[0]
    clean, _ = store.record_sweep(sweep(T0 + 47), ZoneTotals())
    assert metric(clean) == []


def run(settings: AlertsConfig, reports: list[ZoneReport]) -> list[tuple[str, str]]:
    problems: dict = {}
    events = []
    for report in reports:
        save, delete, new = step(settings, problems, report)
        for p in save:
            problems[(p.zone, p.check, p.nameserver, p.address, p.reason)] = p
        for key in delete:
            problems.pop(key, None)
        events += [(e.kind, e.check) for e in new]
    return events


def test_deleg06_opens_at_the_first_sweep_lame01_after_open_after():
    settings = AlertsConfig(open_after=3, close_after=2)
    assert run(settings, [sweep(T0, UNPINNED, LAME)]) == [(OPENED, "DELEG06")]
    assert run(settings, [sweep(T0 + 5 * i, UNPINNED, LAME) for i in range(3)]) == [
        (OPENED, "DELEG06"), (OPENED, "LAME01")]


def test_deleg06_closes_after_close_after_good_sweeps():
    settings = AlertsConfig(open_after=3, close_after=2)
    reports = [sweep(T0, UNPINNED), sweep(T0 + 5), sweep(T0 + 10)]
    assert run(settings, reports[:2]) == [(OPENED, "DELEG06")]  # one good sweep: still open
    assert run(settings, reports) == [(OPENED, "DELEG06"), (RESOLVED, "DELEG06")]


def test_the_mail_says_deleg06_opens_at_once():
    settings = AlertsConfig(open_after=3)
    problems: dict = {}
    save, _delete, events = step(settings, problems, sweep(T0, UNPINNED))
    body = compose("fr", events, save, settings=settings).body
    assert "DELEG06 (the parent differs from the pinned delegation) opens at the first" in body
    settings = AlertsConfig(open_after=1)
    save, _delete, events = step(settings, {}, sweep(T0, LAME))
    assert "DELEG06" not in compose("fr", events, save, settings=settings).body
