"""Built-in e-mail maintenance windows (alerts.maintenance): what is held, what goes out at
the end, what never goes out; the weekly windows' calendar; a real SMTP delivery at the end."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.alerts import Alerter
from monitor.config.maintenance import MaintenanceWindow
from tests.alerts.helpers import T0, Clock, Sink, lame, make_config, report

SUBJECT = "[ccmon] fr: LAME01 ERROR ns2.nic.fr 192.0.2.2 refused"
RESOLVED = "[ccmon] fr: RESOLVED LAME01 ERROR ns2.nic.fr 192.0.2.2 refused"
START, END = T0 + 600, T0 + 3600  # a one-off window for fr
WINDOW = MaintenanceWindow(frozenset({"fr"}), start=START, end=END)


def subjects(alerter: Alerter) -> list[str]:
    return [m.subject for m in alerter.db.messages()]


def sweep(alerter: Alerter, t: float, *findings, zone: str = "fr") -> int:  # type: ignore[no-untyped-def]
    return alerter.process(report(t, *findings, zone=zone), now=t)


@pytest.fixture
def alerter(tmp_path: Path) -> Alerter:
    a = Alerter(make_config(tmp_path / "ccmon.sqlite", maintenance=(WINDOW,)), clock=Clock())
    yield a
    a.close()


def test_opened_and_resolved_inside_a_window_is_never_mailed(alerter: Alerter):
    for i in range(3):
        sweep(alerter, START + 60 * i, lame())  # opens at the third sweep, inside
    for i in range(3, 6):
        sweep(alerter, START + 60 * i)  # closes inside
    assert subjects(alerter) == []
    assert alerter.flush_digests(now=END) == 0
    sweep(alerter, END + 60)
    assert subjects(alerter) == []
    assert alerter.open_problems("fr") == []


def test_still_open_at_the_end_is_mailed_then_with_its_real_since(alerter: Alerter):
    for i in range(3):
        sweep(alerter, START + 60 * i, lame())
    for t in range(int(START) + 180, int(END), 600):
        sweep(alerter, t, lame())
    assert subjects(alerter) == []
    alerter.clock.now = END - 60  # type: ignore[attr-defined]
    assert alerter.next_digest_due() == END  # the delivery loop wakes at the end
    assert alerter.flush_digests(now=END - 1) == 0  # last second inside
    assert alerter.flush_digests(now=END) == 1  # the end is exclusive
    [message] = alerter.db.messages()
    assert message.subject == SUBJECT
    body = message.raw.decode()
    assert "since 2023-11-14 22:23:20 UTC" in body  # START: the first failing sweep
    sweep(alerter, END + 60, lame())
    assert subjects(alerter) == [SUBJECT]  # once


def test_open_before_resolved_inside_is_mailed_at_the_end(alerter: Alerter):
    for i in range(3):
        sweep(alerter, START - 300 + 60 * i, lame())  # opens before the window
    assert subjects(alerter) == [SUBJECT]
    for i in range(3):
        sweep(alerter, START + 60 * i)  # resolved inside
    assert subjects(alerter) == [SUBJECT]
    sweep(alerter, END + 30)  # the first sweep after the end sends what was held
    assert subjects(alerter) == [SUBJECT, RESOLVED]


def test_other_zones_mail_as_usual_during_the_window(alerter: Alerter):
    for i in range(3):
        sweep(alerter, START + 60 * i, lame(), zone="de")
    assert subjects(alerter) == ["[ccmon] de: LAME01 ERROR ns2.nic.fr 192.0.2.2 refused"]


def test_a_mail_held_before_the_window_waits_for_its_end(tmp_path: Path):
    """A change digested under the rate limit just before the window is held with it."""
    config = make_config(tmp_path / "ccmon.sqlite", maintenance=(WINDOW,), rate_limit=900.0)
    alerter = Alerter(config, clock=Clock())
    for i in range(3):
        sweep(alerter, START - 400 + 60 * i, lame())  # mailed at START - 280
    for i in range(3):
        sweep(alerter, START - 100 + 60 * i)  # resolved at START + 20: digested
    assert alerter.flush_digests(now=START - 280 + 900) == 0  # rate limit over, window on
    assert alerter.flush_digests(now=END) == 1
    assert subjects(alerter) == [SUBJECT, RESOLVED]
    alerter.close()


def utc(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


@pytest.mark.parametrize("at, until", [
    ("2026-11-29T00:59:59", None),  # Sunday 01:59:59 in Paris: before
    ("2026-11-29T01:00:00", "2026-11-29T03:00:00"),  # 02:00 Paris: the start is inside
    ("2026-11-29T02:59:59", "2026-11-29T03:00:00"),
    ("2026-11-29T03:00:00", None),  # 04:00 Paris: the end is outside
    ("2026-11-30T01:30:00", None),  # a Monday
    ("2026-07-05T00:30:00", "2026-07-05T02:00:00"),  # summer time: 02:00 Paris = 00:00 UTC
])  # fmt: skip
def test_weekly_window_in_a_time_zone(at: str, until: str | None):
    window = MaintenanceWindow(frozenset({"fr"}), days=frozenset({6}), daily_from=120,
                               daily_until=240, timezone="Europe/Paris")  # fmt: skip
    assert window.until("fr", utc(at)) == (utc(until) if until else None)
    assert window.until("de", utc(at)) is None


@pytest.mark.parametrize("at, inside", [
    ("2026-11-28T22:59:59", False),  # Saturday, before 23:00
    ("2026-11-28T23:30:00", True),
    ("2026-11-29T00:59:59", True),  # Sunday morning: the window began on Saturday
    ("2026-11-29T01:00:00", False),
    ("2026-11-29T23:30:00", False),  # Sunday evening: not a window day
])  # fmt: skip
def test_weekly_window_across_midnight(at: str, inside: bool):
    window = MaintenanceWindow(None, days=frozenset({5}), daily_from=23 * 60, daily_until=60)
    assert (window.until("any", utc(at)) == utc("2026-11-29T01:00:00")) is inside
    assert (window.until("any", utc(at)) is None) is not inside


async def test_the_delivery_loop_sends_at_the_end_of_the_window(tmp_path: Path, sink: Sink):
    """Real clock, real SMTP: a problem opened in a window that ends 1.5 s later is held,
    then delivered by the loop without another sweep."""
    now = time.time()
    window = MaintenanceWindow(frozenset({"fr"}), start=now - 60, end=now + 1.5)
    alerter = Alerter(make_config(tmp_path / "ccmon.sqlite", smtp=sink.smtp(), open_after=1,
                                  maintenance=(window,)))  # fmt: skip
    task = asyncio.create_task(alerter.run_delivery())
    try:
        await alerter.on_report(report(now - 1, lame()))
        await asyncio.sleep(0.5)
        assert sink.received == [] and alerter.open_problems("fr")
        deadline = time.monotonic() + 10
        while not sink.received and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        arrived = time.time()
        assert [m["Subject"] for m in sink.messages()] == [SUBJECT]
        # not before the end; within the loop's wake-up plus an SMTP round (5 s margin)
        assert window.end <= arrived < window.end + 5
    finally:
        await alerter.aclose(timeout=10.0)
        await asyncio.wait_for(task, 10.0)
