"""The service while its store file is full (issue 17), through its HTTP side.

The store is capped at its current size (``PRAGMA max_page_count`` on the service's own
connection: SQLite's "database or disk is full", no root needed; the real full disk on a
tmpfs is tests/alerts/test_full_disk.py). Sweeps go on and are served, marked as not
stored; /healthz names the cause; one log line, no traceback; lifting the cap is enough.

Alike sweeps only extend one row of the compact sweep history (issue 17), which a capped
file may keep holding; so the fake zone here finds something new every sweep, and each
sweep needs a new run row and finding set: the cap is reached within a few sweeps.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from monitor.config import Config, ScheduleConfig, StoreConfig, WebConfig
from monitor.service import Service
from probes.model import Finding, Severity, ZoneReport
from tests.monitor import ccmon_fixtures as fx

pytestmark = pytest.mark.integration

CAUSE = "store not writable: database or disk is full"


class ChangingProber(fx.FakeProber):
    """The fixtures' reports plus a finding that differs in every sweep."""

    async def sweep(self, zone: str) -> ZoneReport:
        report = await super().sweep(zone)
        n = len(self.calls)
        extra = Finding("SOA02", Severity.WARNING, "SERIAL_BEHIND", f"behind in sweep {n}",
                        nameserver=f"ns{n}.example.", address="127.0.0.9", reason="behind")
        return dataclasses.replace(report, findings=(*report.findings, extra))


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def sample(text: str, name: str) -> float:
    m = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
    assert m, name
    return float(m.group(1))


async def until(check, timeout: float = 10.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if await check():
            return True
        await asyncio.sleep(0.05)
    return bool(await check())


async def test_full_store_sweeps_still_served_cause_named_recovers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = Config(zones=("mx", "ke"), schedule=ScheduleConfig(interval=0.2, jitter=0.0),
                 store=StoreConfig(path=str(tmp_path / "ccmon.sqlite"), retention=3600),
                 web=WebConfig(listen="127.0.0.1:0"))  # fmt: skip
    service = Service(cfg, lambda settings: ChangingProber())
    task = asyncio.create_task(service.serve())
    caplog.set_level(logging.INFO)
    try:
        await asyncio.wait_for(service.ready.wait(), 5)
        assert service.web is not None and service.store is not None
        url = service.web.url

        async def fetch(path: str) -> tuple[int, str]:
            return await asyncio.to_thread(get, url + path)

        db = service.store._db  # the cap is per connection: the service's own
        db.execute(f"PRAGMA max_page_count = {db.execute('PRAGMA page_count').fetchone()[0]}")

        async def full() -> bool:
            return CAUSE in (await fetch("healthz"))[1]

        assert await until(full), "the cap was never reached"
        status, health = await fetch("healthz")
        assert status == 503 and CAUSE in health
        before = sample((await fetch("metrics"))[1], 'ccmon_sweeps_total{dns_zone="mx"}')
        await asyncio.sleep(1.5)  # about 7 sweeps of each zone, none stored
        metrics = (await fetch("metrics"))[1]
        assert sample(metrics, 'ccmon_sweeps_total{dns_zone="mx"}') >= before + 3  # served
        assert sample(metrics, "ccmon_store_persisting") == 0
        errors = sample(metrics, "ccmon_store_write_errors_total")
        assert errors >= 6
        assert CAUSE in (await fetch(""))[1]  # the status page says it too
        lines = [r for r in caplog.records if "not writable" in r.getMessage()]
        assert len(lines) == 1, [r.getMessage() for r in lines]  # once a minute
        assert not any(r.exc_info for r in caplog.records)  # no traceback per sweep

        t_free = time.time()
        db.execute("PRAGMA max_page_count = 1000000")  # space returns

        async def healthy() -> bool:
            return (await fetch("healthz"))[0] == 200

        assert await until(healthy)

        async def persisting_in_metrics() -> bool:  # /metrics: at most one render behind
            return sample((await fetch("metrics"))[1], "ccmon_store_persisting") == 1

        assert await until(persisting_in_metrics)
        metrics = (await fetch("metrics"))[1]
        assert sample(metrics, "ccmon_store_write_errors_total") >= errors
        assert any("writable again" in r.getMessage() for r in caplog.records)
        assert service.store.sweep_starts("mx", since=t_free)  # the next sweep is stored
    finally:
        service.stop()
        assert await asyncio.wait_for(task, 5) == 0
