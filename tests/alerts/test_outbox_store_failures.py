"""The delivery guarantee of docs/alerts.md, exactly (issue 17), with a real SMTP server.

- never a repeat within one process: the store cannot record the "sent" mark (another
  connection holds the file's write lock, as a backup or a second ccmon would; a full disk
  is tests/alerts/test_full_disk.py): one message, delivery pauses with backoff never
  shorter than retry.initial, says so once, and records the mark when it can;
- nothing is sent while the "being sent" mark cannot be written;
- at-least-once across a crash: ccmon killed (SIGKILL) after the SMTP server accepted the
  message and before the mark is committed sends it again at the next start, with the same
  Message-ID, and only then.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from monitor.alerts import Alerter, OutboxWriteError
from monitor.config.alerts import RetryConfig
from tests.alerts.helpers import T0, Sink, lame, make_config, report

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
RETRY = RetryConfig(initial=0.2, max=0.8)
HOLD = 3.0  # seconds the store stays locked


class Locker:
    """Another connection to the store file that takes and holds its write lock."""

    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.locked = threading.Event()

    def lock(self) -> None:
        self.conn.execute("BEGIN IMMEDIATE")
        self.locked.set()

    def release(self) -> None:
        self.conn.execute("COMMIT")
        self.locked.clear()

    def close(self) -> None:
        self.conn.close()


class HookSink(Sink):
    """The SMTP sink; calls ``hook`` when its first message arrives, before the 250."""

    def __init__(self, hook: Callable[[], None]) -> None:
        super().__init__()
        self.hook: Callable[[], None] | None = hook

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        hook, self.hook = self.hook, None
        if hook is not None:
            hook()
        return await super().handle_DATA(server, session, envelope)


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not condition():
        await asyncio.sleep(0.02)
    return condition()


def quick_lock_timeout(alerter: Alerter) -> None:
    """A locked file fails a write after 50 ms instead of 10 s (the loop waits meanwhile)."""
    alerter.db._db.execute("PRAGMA busy_timeout = 50")


def statuses(db: Path) -> list[tuple[str, str, int, bool]]:
    conn = sqlite3.connect(db, timeout=5)
    try:
        rows = conn.execute(
            "SELECT message_id, status, attempts, sending_at IS NOT NULL FROM alert_outbox "
            "ORDER BY id"
        )
        return [(m, s, a, bool(x)) for m, s, a, x in rows]
    finally:
        conn.close()


async def test_sent_mark_not_recordable_no_repeat_backoff_one_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "ccmon.sqlite"
    locker = Locker(db)
    sink = HookSink(locker.lock).start()
    alerter = Alerter(make_config(db, smtp=sink.smtp(), retry=RETRY, open_after=1, close_after=1))
    quick_lock_timeout(alerter)
    alerter.courier.log_every = 0.0  # a line per try, to time them (the minute: test_full_disk)
    caplog.set_level(logging.INFO, logger="monitor.alerts")

    def pauses() -> list[float]:
        return [r.created for r in caplog.records if "delivery paused" in r.message]

    task = asyncio.create_task(alerter.run_delivery())
    try:
        await alerter.on_report(report(T0, lame()))
        assert await until(locker.locked.is_set)
        t_locked = time.monotonic()
        await asyncio.sleep(HOLD)
        assert len(sink.received) == 1  # accepted once, not sent again while locked
        assert alerter.courier.unrecorded and alerter.courier.sent == 1
        # backoff 0.2, 0.4, 0.8, 0.8 s ...: at most HOLD / retry.initial tries, none closer
        # than retry.initial to the one before (margin 10 ms: log stamps, 50 ms lock wait)
        tries = pauses()
        gaps = [b - a for a, b in itertools.pairwise(tries)]
        assert 3 <= len(tries) <= HOLD / RETRY.initial, tries
        assert min(gaps) >= RETRY.initial - 0.01, gaps
        assert gaps[-1] >= RETRY.max - 0.01, gaps  # it backed off to retry.max
        paused = [r for r in caplog.records if "delivery paused" in r.message]
        assert not any(r.exc_info for r in caplog.records)  # no traceback
        assert "1 accepted message(s) kept in memory" in paused[0].message
        print(f"{len(tries)} tries in {time.monotonic() - t_locked:.1f} s locked, gaps "
              f"{[round(g, 2) for g in gaps]}")
        locker.release()
        [(first_id, _s, _a, _x)] = statuses(db)
        assert await until(lambda: statuses(db) == [(first_id, "sent", 1, False)], 5)
        assert not alerter.courier.unrecorded and len(sink.received) == 1
        assert any("delivery resumed" in r.message for r in caplog.records)
        await alerter.on_report(report(T0 + 60))  # the problem closes: the next mail goes
        assert await until(lambda: len(sink.received) == 2)
        await asyncio.sleep(0.5)
        ids = [m["Message-ID"] for m in sink.messages()]
        assert len(ids) == 2 and ids[0] == first_id and ids[1] != first_id
    finally:
        await alerter.aclose(timeout=10.0)
        await asyncio.wait_for(task, 10.0)
        sink.stop()
        locker.close()


async def test_being_sent_mark_not_recordable_nothing_is_sent(tmp_path: Path) -> None:
    db = tmp_path / "ccmon.sqlite"
    sink = Sink().start()
    alerter = Alerter(make_config(db, smtp=sink.smtp(), retry=RETRY, open_after=1))
    quick_lock_timeout(alerter)
    assert alerter.process(report(T0, lame())) == 1  # queued
    locker = Locker(db)
    locker.lock()
    task = asyncio.create_task(alerter.run_delivery())
    try:
        await asyncio.sleep(1.5)
        assert sink.received == []  # no mark, no send
        assert alerter.courier.paused()
        [(message_id, status, attempts, sending)] = statuses(db)
        assert (status, attempts, sending) == ("pending", 0, False)
        with pytest.raises(OutboxWriteError):  # the sweeps' alert state cannot be written
            alerter.process(report(T0 + 60, lame()))
        locker.release()
        assert await until(lambda: len(sink.received) == 1, 5)
        assert await until(lambda: statuses(db) == [(message_id, "sent", 1, False)], 5)
        await asyncio.sleep(0.5)
        assert len(sink.received) == 1
    finally:
        await alerter.aclose(timeout=10.0)
        await asyncio.wait_for(task, 10.0)
        sink.stop()
        locker.close()


CHILD = """
import asyncio, logging, sys
from pathlib import Path
from monitor.alerts import Alerter
from monitor.config.alerts import RetryConfig, SmtpConfig
from tests.alerts.helpers import make_config

logging.basicConfig(level=logging.INFO, stream=sys.stderr)
smtp = SmtpConfig(host="127.0.0.1", port=int(sys.argv[2]), sender="ccmon@example.net",
                  timeout=5.0)
alerter = Alerter(make_config(Path(sys.argv[1]), smtp=smtp,
                              retry=RetryConfig(initial=0.2, max=0.8), open_after=1))
asyncio.run(alerter.run_delivery())
"""


def start_child(db: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with open(log, "wb") as out:
        return subprocess.Popen([sys.executable, "-c", CHILD, str(db), str(port)], cwd=REPO,
                                env=env, stdout=out, stderr=subprocess.STDOUT)  # fmt: skip


async def test_crash_between_acceptance_and_commit_resends_once_same_message_id(
    tmp_path: Path,
) -> None:
    db = tmp_path / "ccmon.sqlite"
    seed = Alerter(make_config(db, open_after=1))
    assert seed.process(report(T0, lame())) == 1  # one message queued, as a sweep would
    seed.close()
    locker = Locker(db)
    # the sink takes the write lock before it answers 250: the child then blocks on the
    # "sent" mark (10 s busy wait), i.e. it is between the acceptance and the commit
    sink = HookSink(locker.lock).start()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        first = start_child(db, sink.port, tmp_path / "first.log")
        procs.append(first)
        assert await until(locker.locked.is_set, 20)
        await asyncio.sleep(0.5)
        assert len(sink.received) == 1 and first.poll() is None
        first.send_signal(signal.SIGKILL)  # crash: accepted by the server, not recorded
        first.wait(5)
        locker.release()
        [(message_id, status, attempts, sending)] = statuses(db)
        assert (status, attempts, sending) == ("pending", 1, True)  # the "being sent" mark

        second = start_child(db, sink.port, tmp_path / "second.log")
        procs.append(second)
        assert await until(lambda: len(sink.received) == 2, 20)
        assert await until(lambda: statuses(db)[0][1] == "sent", 10)
        await asyncio.sleep(1.0)  # more rounds of the loop: no third copy
        assert len(sink.received) == 2
        ids = [m["Message-ID"] for m in sink.messages()]
        assert ids == [message_id, message_id]  # at-least-once, with the same Message-ID
        assert statuses(db) == [(message_id, "sent", 2, False)]
        log = (tmp_path / "second.log").read_text()
        assert "it may have arrived; sending it again, same Message-ID" in log
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.wait(5)
        sink.stop()
        locker.close()


async def test_failure_reasons_and_outbox_figures(tmp_path: Path) -> None:
    """What ccmon_alert_outbox_messages / _emails_sent_total / _email_failures_total show."""

    class Refusing(Sink):
        async def handle_RCPT(self, server, session, envelope, address, options):  # type: ignore[no-untyped-def]
            return "550 5.1.1 no such user"

    down = Sink()  # not started: its port is closed
    alerter = Alerter(make_config(tmp_path / "ccmon.sqlite", smtp=down.smtp(), retry=RETRY,
                                  open_after=1))  # fmt: skip
    shown: list[Any] = []
    alerter.courier.on_status = shown.append
    task = asyncio.create_task(alerter.run_delivery())
    refusing = Refusing(port=down.port)
    try:
        await alerter.on_report(report(T0, lame()))
        assert await until(lambda: alerter.courier.failures["connect"] >= 2)
        assert shown[-1].messages == {"pending": 1, "sent": 0, "failed": 0, "unrecorded": 0}
        assert shown[-1].sent == 0 and shown[-1].failures["permanent"] == 0
        refusing.start()
        assert await until(lambda: alerter.courier.failures["permanent"] == 1)
        assert shown[-1].messages == {"pending": 0, "sent": 0, "failed": 1, "unrecorded": 0}
        assert set(shown[-1].failures) == {"connect", "tls", "auth", "temporary", "permanent",
                                           "expired"}  # fmt: skip
    finally:
        await alerter.aclose(timeout=10.0)
        await asyncio.wait_for(task, 10.0)
        refusing.stop()
