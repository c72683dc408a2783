"""The service end to end with a fake prober: sweeps, metrics, restart, signals."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from monitor.config import Config, ScheduleConfig, StoreConfig, WebConfig
from monitor.errors import EXIT_CONFIG, EXIT_FAILURE
from monitor.service import Service
from tests.monitor import ccmon_fixtures as fx

ROOT = Path(__file__).resolve().parents[2]


def config(tmp_path: Path, **web: str) -> Config:
    return Config(
        zones=("mx", "ke", "xn--fiqs8s"),
        schedule=ScheduleConfig(interval=0.3, jitter=0.0),
        store=StoreConfig(path=str(tmp_path / "ccmon.sqlite"), retention=3600),
        web=WebConfig(
            listen=web.get("listen", "127.0.0.1:0"), web_config_file=web.get("web_config_file")
        ),
    )


def fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return resp.read().decode()


async def fetch_async(url: str) -> str:
    return await asyncio.to_thread(fetch, url)


async def test_sweeps_reach_metrics_and_survive_restart(tmp_path: Path) -> None:
    prober = fx.FakeProber(fail=("xn--fiqs8s",))
    service = Service(config(tmp_path), lambda settings: prober)
    task = asyncio.create_task(service.serve())
    await asyncio.wait_for(service.ready.wait(), 5)
    assert service.web is not None
    url = service.web.url
    await asyncio.sleep(1.0)
    text = await fetch_async(url + "metrics")
    assert 'ccmon_nameserver_lame{address="127.53.1.3",dns_zone="mx",nameserver="ns3.mx.",' \
           'reason="refused"} 1.0' in text  # fmt: skip
    assert 'ccmon_sweep_errors_total{dns_zone="xn--fiqs8s"}' in text
    assert 'ccmon_sweep_errors_total{dns_zone="xn--fiqs8s"} 0.0' not in text
    health = await fetch_async(url + "healthz")
    assert '"ok"' in health
    service.stop()
    assert await asyncio.wait_for(task, 5) == 0
    sweeps_before = service.state.snapshot.totals["mx"].sweeps
    assert sweeps_before >= 2

    db = sqlite3.connect(tmp_path / "ccmon.sqlite")
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    db.close()

    again = Service(config(tmp_path), lambda settings: fx.FakeProber(delay=30))
    task = asyncio.create_task(again.serve())
    await asyncio.wait_for(again.ready.wait(), 5)
    assert again.state is not None
    snap = again.state.snapshot
    assert set(snap.reports) == {"mx", "ke"}  # the last state, shown at once after restart
    assert snap.totals["mx"].sweeps == sweeps_before
    text = await fetch_async(again.web.url + "metrics")
    assert f'ccmon_sweeps_total{{dns_zone="mx"}} {float(sweeps_before)}' in text
    t = time.monotonic()
    again.stop()  # mid-sweep: every sweep sleeps 30 s
    assert await asyncio.wait_for(task, 5) == 0
    assert time.monotonic() - t < 4


async def test_skips_are_counted(tmp_path: Path) -> None:
    service = Service(config(tmp_path), lambda settings: fx.FakeProber(delay=0.8))
    task = asyncio.create_task(service.serve())
    await asyncio.wait_for(service.ready.wait(), 5)
    await asyncio.sleep(1.5)
    service.stop()
    assert await asyncio.wait_for(task, 5) == 0
    assert service.state.snapshot.totals["mx"].skipped >= 2


async def test_bad_web_config_is_a_config_error(tmp_path: Path) -> None:
    bad = tmp_path / "web.yml"
    bad.write_text("nonsense: 1\n")
    service = Service(config(tmp_path, web_config_file=str(bad)), lambda s: fx.FakeProber())
    assert await service.serve() == EXIT_CONFIG


async def test_port_in_use_fails(tmp_path: Path) -> None:
    first = Service(config(tmp_path / "a"), lambda s: fx.FakeProber())
    task = asyncio.create_task(first.serve())
    await asyncio.wait_for(first.ready.wait(), 5)
    port = first.web.addresses[0][1]
    second = Service(config(tmp_path / "b", listen=f"127.0.0.1:{port}"), lambda s: fx.FakeProber())
    assert await second.serve() == EXIT_FAILURE
    first.stop()
    assert await asyncio.wait_for(task, 5) == 0


SCRIPT = """
import sys
from monitor.config import Config, ScheduleConfig, StoreConfig, WebConfig
from monitor.service import run
from tests.monitor.ccmon_fixtures import FakeProber
cfg = Config(zones=("mx", "ke"), schedule=ScheduleConfig(interval=0.5, jitter=0),
             store=StoreConfig(path=sys.argv[1], retention=3600),
             web=WebConfig(listen="127.0.0.1:" + sys.argv[2]))
sys.exit(run(cfg, lambda s: FakeProber(delay=float(sys.argv[3]))))
"""


def test_sigterm_mid_sweep_exits_0_fast(tmp_path: Path) -> None:
    for sig in (signal.SIGTERM, signal.SIGINT):
        db, port = tmp_path / f"{sig.name}.sqlite", fx.free_port()
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        proc = subprocess.Popen([sys.executable, "-c", SCRIPT, str(db), str(port), "0.2"],
                                cwd=ROOT, env=env)  # fmt: skip
        try:
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:  # until a sweep completed and the next runs
                try:
                    if 'ccmon_sweeps_total{dns_zone="mx"} 2.0' in fetch(
                        f"http://127.0.0.1:{port}/metrics"
                    ):
                        break
                except OSError:
                    pass
                time.sleep(0.05)
            else:
                raise AssertionError("service did not come up")
            t = time.monotonic()
            proc.send_signal(sig)
            assert proc.wait(timeout=5) == 0
            assert time.monotonic() - t < 5
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        conn = sqlite3.connect(db)
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("SELECT count(*) FROM latest").fetchone()[0] == 2
        conn.close()
