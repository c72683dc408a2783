"""The alert state machine's transitions, pinned on both sides of every boundary.

A script is one letter per sweep of one zone: F the problem's finding fails, G the sweep is
good (no finding), H the sweep is held (nothing measured). After it, the problem is pending,
open or forgotten (None), with the events it made. The vantage point's rows count seconds
of sweep intervals, not reports: pinned at the exact boundary and just below it.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from monitor.alerts import (
    OPENED,
    RESOLVED,
    Event,
    EventKind,
    Phase,
    ProblemKey,
    ProblemState,
    step,
    vantage_step,
)
from monitor.config.alerts import AlertsConfig
from probes.model import Finding, Severity, VantageState, ZoneReport

T0 = 1_700_000_000.0
LAME = Finding("LAME01", Severity.ERROR, "LAME_DELEGATION", "ns2 is lame: refused",
               nameserver="ns2.nic.fr.", address="192.0.2.2", reason="refused")
KEY = ("fr", "LAME01", "ns2.nic.fr.", "192.0.2.2", "refused")
CHANGED_SEVERITY = Severity.CRITICAL


def sweep(at: float, letter: str) -> ZoneReport:
    findings = (LAME,) if letter == "F" else ()
    return ZoneReport(zone="fr", started_at=at, duration=0.1, servers=(), findings=findings,
                      unknown=letter == "H")


def run(settings: AlertsConfig, script: str) -> tuple[ProblemState | None, list[EventKind]]:
    """The problem after the script, and the kinds of the events it made, in order."""
    problems: dict[ProblemKey, ProblemState] = {}
    kinds: list[EventKind] = []
    for i, letter in enumerate(script):
        save, delete, events = step(settings, problems, sweep(T0 + 60 * i, letter))
        for problem in save:
            problems[problem.key] = problem
        for key in delete:
            problems.pop(key, None)
        kinds += [e.kind for e in events]
    return problems.get(KEY), kinds


HOLD_DOWNS = [(1, 1), (2, 3), (3, 3), (5, 2)]


@pytest.mark.parametrize("open_after, close_after", HOLD_DOWNS)
def test_opens_at_open_after_failing_sweeps_not_one_before(open_after: int, close_after: int):
    settings = AlertsConfig(open_after=open_after, close_after=close_after)
    below, kinds_below = run(settings, "F" * (open_after - 1))
    at, kinds_at = run(settings, "F" * open_after)
    if open_after > 1:
        assert below is not None and (below.state, below.failing) == (
            Phase.PENDING, open_after - 1)
    assert kinds_below == []
    assert at is not None and (at.state, at.failing) == (Phase.OPEN, open_after)
    assert kinds_at == [OPENED]
    assert at.opened_at == T0 + 60 * (open_after - 1) and at.first_seen == T0


@pytest.mark.parametrize("open_after, close_after", HOLD_DOWNS)
def test_closes_at_close_after_good_sweeps_not_one_before(open_after: int, close_after: int):
    settings = AlertsConfig(open_after=open_after, close_after=close_after)
    opened = "F" * open_after
    below, kinds_below = run(settings, opened + "G" * (close_after - 1))
    at, kinds_at = run(settings, opened + "G" * close_after)
    assert below is not None and (below.state, below.good, below.failing) == (
        Phase.OPEN, close_after - 1, 0 if close_after > 1 else open_after)
    assert kinds_below == [OPENED]
    assert at is None and kinds_at == [OPENED, RESOLVED]


@pytest.mark.parametrize("script, expected, kinds", [
    # a good sweep forgets a pending problem: failures must be consecutive
    ("FFG", None, []),
    ("FFGFF", Phase.PENDING, []),
    ("FFGFFF", Phase.OPEN, [OPENED]),
    # a failing sweep while closing starts the good count again
    ("FFFGGF", Phase.OPEN, [OPENED]),
    ("FFFGGFGG", Phase.OPEN, [OPENED]),
    ("FFFGGFGGG", None, [OPENED, RESOLVED]),
    # a held sweep is neither: it breaks no run of failing or good sweeps
    ("FFHF", Phase.OPEN, [OPENED]),
    ("FHHHF", Phase.PENDING, []),
    ("FFFGGH", Phase.OPEN, [OPENED]),
    ("FFFGGHG", None, [OPENED, RESOLVED]),
    ("HHH", None, []),
])  # fmt: skip
def test_runs_of_sweeps(script: str, expected: Phase | None, kinds: list[EventKind]):
    problem, got = run(AlertsConfig(open_after=3, close_after=3), script)
    assert (None if problem is None else problem.state, got) == (expected, kinds)


def test_held_sweeps_keep_counters_and_since():
    settings = AlertsConfig(open_after=3, close_after=3)
    problem, _ = run(settings, "FFH")
    assert problem is not None and (problem.failing, problem.first_seen, problem.last_seen) == (
        2, T0, T0 + 60)


def test_a_severity_change_of_an_open_problem_is_one_changed_event():
    settings = AlertsConfig(open_after=1, close_after=1)
    problems: dict[ProblemKey, ProblemState] = {}
    events: list[Event] = []
    worse = replace(LAME, severity=CHANGED_SEVERITY)
    for i, finding in enumerate((LAME, worse, worse, LAME)):
        report = ZoneReport(zone="fr", started_at=T0 + 60 * i, duration=0.1, servers=(),
                            findings=(finding,))
        save, _delete, made = step(settings, problems, report)
        problems.update((p.key, p) for p in save)
        events += made
    assert [(e.kind, e.severity, e.previous_severity) for e in events] == [
        (EventKind.OPENED, Severity.ERROR, None),
        (EventKind.CHANGED, CHANGED_SEVERITY, Severity.ERROR),
        (EventKind.CHANGED, Severity.ERROR, CHANGED_SEVERITY),
    ]


# --- the vantage point: seconds of sweep intervals -------------------------------------

INTERVAL = 60.0
OFF = {"ipv4": VantageState.ONLINE, "ipv6": VantageState.OFFLINE}
ON = {"ipv4": VantageState.ONLINE, "ipv6": VantageState.ONLINE}


def vantage_run(settings: AlertsConfig, reports: list[tuple[float, dict[str, VantageState]]]
                ) -> tuple[ProblemState | None, list[EventKind]]:
    rows: dict[str, ProblemState] = {}
    seen_online: set[str] = set()
    kinds: list[EventKind] = []
    for at, vantage in reports:
        report = ZoneReport(zone="fr", started_at=T0 + at, duration=0.1, servers=(),
                            findings=(), unknown=True, vantage=vantage)
        save, delete, events = vantage_step(settings, INTERVAL, rows, report, seen_online)
        rows.update((r.reason, r) for r in save)
        for key in delete:
            rows.pop(key[4], None)
        kinds += [e.kind for e in events]
    return rows.get("ipv6"), kinds


@pytest.mark.parametrize("open_after", [2, 3])
@pytest.mark.parametrize("short, opens", [(0.5, False), (0.0, True)])
def test_vantage_opens_after_open_after_minus_one_intervals_down(
    open_after: int, short: float, opens: bool
):
    """Down in reports spanning (open_after - 1) intervals opens; half a second less does not."""
    settings = AlertsConfig(open_after=open_after, close_after=3)
    span = (open_after - 1) * INTERVAL - short
    row, kinds = vantage_run(settings, [(0.0, OFF), (span / 2, OFF), (span, OFF)])
    assert row is not None and row.state == (Phase.OPEN if opens else Phase.PENDING)
    assert kinds == ([OPENED] if opens else [])


def test_vantage_with_open_after_1_opens_at_the_first_report_down():
    row, kinds = vantage_run(AlertsConfig(open_after=1, close_after=3), [(0.0, OFF)])
    assert row is not None and row.state == Phase.OPEN and kinds == [OPENED]


def test_many_reports_of_one_round_count_once():
    """Every zone's report carries the family's verdict: 50 reports inside one interval are
    one round down, not 50."""
    settings = AlertsConfig(open_after=3, close_after=3)
    row, kinds = vantage_run(settings, [(i * 1.0, OFF) for i in range(50)])
    assert row is not None and row.state == Phase.PENDING and kinds == []


@pytest.mark.parametrize("back_after, closes", [(3 * INTERVAL - 0.5, False), (3 * INTERVAL, True)])
def test_vantage_closes_after_close_after_intervals_online(back_after: float, closes: bool):
    settings = AlertsConfig(open_after=3, close_after=3)
    down = [(0.0, OFF), (60.0, OFF), (120.0, OFF)]
    row, kinds = vantage_run(settings, [*down, (120.0 + 60.0, ON), (120.0 + back_after, ON)])
    if closes:
        assert row is None and kinds == [OPENED, RESOLVED]
    else:
        assert row is not None and row.state == Phase.OPEN and kinds == [OPENED]


def test_vantage_down_for_less_than_the_hold_down_is_forgotten():
    settings = AlertsConfig(open_after=3, close_after=3)
    row, kinds = vantage_run(settings, [(0.0, OFF), (60.0, OFF), (120.0, ON)])
    assert row is None and kinds == []
