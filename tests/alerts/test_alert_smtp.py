"""End to end with a real SMTP server (aiosmtpd on loopback): mail once, retry, restart."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

from monitor.alerts import Alerter
from monitor.config.alerts import RetryConfig
from tests.alerts.helpers import T0, Sink, lame, make_config, report

SUBJECT = "[ccmon] fr: LAME01 ERROR ns2.nic.fr 192.0.2.2 refused"
RESOLVED = "[ccmon] fr: RESOLVED LAME01 ERROR ns2.nic.fr 192.0.2.2 refused"
RETRY = RetryConfig(initial=0.2, max=0.5)


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        await asyncio.sleep(0.05)
    return condition()


def subjects(sink: Sink) -> list[str]:
    return [str(m["Subject"]) for m in sink.messages()]


class Running:
    """An Alerter with its delivery loop, as the service runs it."""

    def __init__(self, db: Path, sink: Sink) -> None:
        self.alerter = Alerter(make_config(db, smtp=sink.smtp(), retry=RETRY))
        self.task = asyncio.create_task(self.alerter.run_delivery())

    async def sweep(self, t: float, *findings) -> None:  # type: ignore[no-untyped-def]
        await self.alerter.on_report(report(t, *findings))

    async def stop(self) -> None:
        await self.alerter.aclose(timeout=10.0)
        await asyncio.wait_for(self.task, 10.0)


async def test_fault_then_recovery_one_mail_each(tmp_path: Path, sink: Sink):
    run = Running(tmp_path / "ccmon.sqlite", sink)
    try:
        await run.sweep(T0, lame())
        await run.sweep(T0 + 60, lame())
        await asyncio.sleep(0.5)
        assert subjects(sink) == []  # inside the hold-down
        await run.sweep(T0 + 120, lame())
        assert await until(lambda: len(sink.received) == 1)
        mail_from, rcpt, message = sink.received[0]
        assert (mail_from, rcpt, message["Subject"]) == (
            "ccmon@example.net", ["noc@example.net"], SUBJECT)
        body = message.get_content()
        assert "OPENED    LAME01 ERROR ns2.nic.fr 192.0.2.2 refused" in body
        assert "since 2023-11-14 22:13:20 UTC" in body
        assert "https://ccmon.example.net/zone/fr" in body
        for i in range(3, 6):
            await run.sweep(T0 + 60 * i, lame())  # still broken: nothing new
        await asyncio.sleep(0.5)
        assert subjects(sink) == [SUBJECT]
        for i in range(6, 9):
            await run.sweep(T0 + 60 * i)
        assert await until(lambda: len(sink.received) == 2)
        await asyncio.sleep(0.5)
        assert subjects(sink) == [SUBJECT, RESOLVED]
        assert "Open problems: none" in sink.messages()[1].get_content()
        assert run.alerter.outbox_counts() == {"pending": 0, "sent": 2, "failed": 0}
    finally:
        await run.stop()


async def test_smtp_down_while_the_fault_appears_then_back(tmp_path: Path):
    sink = Sink()  # not started: the port is closed
    run = Running(tmp_path / "ccmon.sqlite", sink)
    try:
        for i in range(3):
            await run.sweep(T0 + 60 * i, lame())
        assert await until(lambda: run.alerter.db.messages()[0].attempts >= 2
                           if run.alerter.db.messages() else False)
        [pending] = run.alerter.db.messages("pending")
        assert "connection refused" in pending.last_error
        sink.start()
        assert await until(lambda: len(sink.received) == 1)
        await asyncio.sleep(1.0)
        assert subjects(sink) == [SUBJECT]
        assert run.alerter.outbox_counts() == {"pending": 0, "sent": 1, "failed": 0}
    finally:
        await run.stop()
        sink.stop()


async def test_restart_in_between_no_duplicate_nothing_missing(tmp_path: Path):
    db = tmp_path / "ccmon.sqlite"
    sink = Sink()
    # 1: two failing sweeps, then ccmon stops (hold-down counters must survive)
    run = Running(db, sink)
    await run.sweep(T0, lame())
    await run.sweep(T0 + 60, lame())
    await run.stop()
    # 2: third failing sweep while SMTP is down; ccmon stops with the mail still queued
    run = Running(db, sink)
    await run.sweep(T0 + 120, lame())
    assert await until(lambda: run.alerter.db.messages()[0].attempts >= 1
                       if run.alerter.db.messages() else False)
    await run.stop()
    assert sink.received == []
    # 3: SMTP is back, ccmon starts again: the queued mail goes, once
    sink.start()
    try:
        run = Running(db, sink)
        assert await until(lambda: len(sink.received) == 1)
        await run.sweep(T0 + 180, lame())  # still failing: no new mail
        await run.sweep(T0 + 180, lame())  # the same sweep fed twice
        await asyncio.sleep(0.5)
        await run.stop()
        # 4: another restart: nothing is sent again; recovery goes once
        run = Running(db, sink)
        await asyncio.sleep(0.5)
        assert subjects(sink) == [SUBJECT]
        for i in range(4, 7):
            await run.sweep(T0 + 60 * i)
        assert await until(lambda: len(sink.received) == 2)
        await asyncio.sleep(0.5)
        await run.stop()
        assert subjects(sink) == [SUBJECT, RESOLVED]
        # the Message-ID queued before the restarts is the one delivered
        assert len({m["Message-ID"] for m in sink.messages()}) == 2
    finally:
        sink.stop()


async def test_a_refused_recipient_is_not_retried_forever(tmp_path: Path):
    class Refusing(Sink):
        async def handle_RCPT(self, server, session, envelope, address, options):
            return "550 5.1.1 no such user"

    sink = Refusing().start()
    run = Running(tmp_path / "ccmon.sqlite", sink)
    try:
        for i in range(3):
            await run.sweep(T0 + 60 * i, lame())
        assert await until(lambda: run.alerter.outbox_counts()["failed"] == 1)
        [failed] = run.alerter.db.messages("failed")
        assert "550 5.1.1 no such user" in failed.last_error
    finally:
        await run.stop()
        sink.stop()


async def test_a_mail_longer_than_one_smtp_line_arrives(tmp_path: Path, sink: Sink):
    """Many open problems make a body far over 1000 bytes: it must reach the server as CRLF
    lines (a bare-LF message reads as one over-long line and is refused with 500)."""
    run = Running(tmp_path / "ccmon.sqlite", sink)
    problems = [lame(f"ns{i}.nic.fr.", f"192.0.2.{i}") for i in range(1, 31)]
    try:
        for minute in range(3):
            await run.sweep(T0 + 60 * minute, *problems)
        assert await until(lambda: len(sink.received) == 1)
        body = sink.messages()[0].get_content()
        assert len(body) > 1000
        for i in range(1, 31):
            assert f"ns{i}.nic.fr 192.0.2.{i} refused" in body
        assert run.alerter.outbox_counts()["failed"] == 0
    finally:
        await run.stop()
