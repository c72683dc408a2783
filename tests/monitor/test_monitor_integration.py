"""`ccmon run` over the lab's demo world, scraped by a real Prometheus, shown in Chromium.

One lab (on a free port, so it never clashes with another lab on port 53), two ccmon
processes (plain HTTP; TLS with basic auth) and one Prometheus scraping three targets
(plain; TLS with the right password; TLS with a wrong one) serve the whole module.
"""

from __future__ import annotations

import html
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import bcrypt
import pytest

from monitor.demo import demo_config_text
from tests.monitor import ccmon_fixtures as fx
from tests.monitor.stack_helpers import (
    REPO,
    Proc,
    Prometheus,
    chromium,
    demo_lab,
    free_port,
    http_get,
    start_ccmon,
    wait_for,
)

pytestmark = pytest.mark.integration

INTERVAL = 4.0  # seconds between two sweeps of a zone
ZONES = ["fr", "nl", "mx", "ke", "ec", "xn--fiqs8s"]
PASSWORD = "correct horse"
ARTIFACTS = REPO / "tests" / "artifacts"


@dataclass
class Stack:
    lab: object
    prometheus: Prometheus
    ccmon: Proc
    ccmon_url: str
    tls: Proc
    workdir: Path


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    world = demo_lab(tmp_path_factory.mktemp("lab"))
    try:
        yield world
    finally:
        world.stop()


def _config(world: object, workdir: Path, name: str, port: int, web_config: str | None) -> Path:
    text = demo_config_text(
        world, str(workdir / f"{name}.sqlite"), f"127.0.0.1:{port}", zones=ZONES,
        interval=f"{INTERVAL}s", jitter="1s", web_config_file=web_config,
    )  # fmt: skip
    path = workdir / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def stack(world: object, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp("stack")
    cert, _key = fx.make_cert(str(workdir))
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(6)).decode()
    web_yml = workdir / "web.yml"
    web_yml.write_text(
        f"tls_server_config:\n  cert_file: {cert}\n  key_file: {_key}\n"
        f"basic_auth_users:\n  prometheus: '{hashed}'\n"
    )
    port, tls_port = free_port(), free_port()
    procs: list[Proc] = []
    prometheus = None
    try:
        ccmon = start_ccmon(_config(world, workdir, "plain", port, None), workdir, "ccmon")
        procs.append(ccmon)
        tls = start_ccmon(_config(world, workdir, "tls", tls_port, str(web_yml)), workdir, "tls")
        procs.append(tls)
        url = f"http://127.0.0.1:{port}/"
        wait_for(lambda: http_get(url + "healthz"), 20, "ccmon to listen")
        tls_target = {"targets": [f"127.0.0.1:{tls_port}"]}
        secure = {"scheme": "https", "tls_config": {"ca_file": cert}}
        prometheus = Prometheus(workdir, [
            {"job_name": "ccmon", "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]},
            {"job_name": "ccmon_tls", **secure, "static_configs": [tls_target],
             "basic_auth": {"username": "prometheus", "password": PASSWORD}},
            {"job_name": "ccmon_tls_wrong", **secure, "static_configs": [tls_target],
             "basic_auth": {"username": "prometheus", "password": "wrong"}},
        ])  # fmt: skip
        yield Stack(world, prometheus, ccmon, url, tls, workdir)
    finally:
        if prometheus is not None:
            prometheus.stop()
        for proc in procs:
            proc.stop()


def server(zone: str, ns: str) -> str:
    return f'dns_zone="{zone}",nameserver="{ns}"'


def test_promql_sees_faulty_and_healthy_servers(stack: Stack) -> None:
    prom = stack.prometheus
    # job="ccmon": the TLS job scrapes a second ccmon watching the same zones, which may
    # have swept mx earlier or later than this one
    refused = f'ccmon_nameserver_lame{{{server("mx", "ns3.nic.mx.")},reason="refused",job="ccmon"}}'
    try:
        wait_for(lambda: prom.value(refused) == 1, 40, "mx ns3 lame: refused in Prometheus")
    except AssertionError:
        raise AssertionError(stack.ccmon.tail()) from None
    lame_sum = f"sum(ccmon_nameserver_lame{{{server('mx', 'ns3.nic.mx.')},job=\"ccmon\"}})"
    assert prom.value(lame_sum) == 1
    assert prom.value('sum(ccmon_nameserver_lame{dns_zone="fr"})') == 0
    assert prom.value('min(ccmon_nameserver_up{dns_zone="fr"})') == 1
    assert prom.value('ccmon_zone_available{dns_zone="fr"}') == 1
    assert prom.value('ccmon_zone_soa_serials{dns_zone="fr"}') == 1

    wait_for(lambda: prom.value('ccmon_zone_soa_serials{dns_zone="ke"}') == 2, 20, "ke serials")
    lag = prom.value(f"ccmon_nameserver_soa_serial_lag{{{server('ke', 'ns3.nic.ke.')}}}")
    assert lag is not None and lag > 0, lag
    # a current server has its serial and no lag series (issue 16: only servers behind)
    assert prom.value(f"ccmon_nameserver_soa_serial{{{server('ke', 'ns1.nic.ke.')}}}")
    assert prom.value(f"ccmon_nameserver_soa_serial_lag{{{server('ke', 'ns1.nic.ke.')}}}") is None

    slow = (
        f'ccmon_nameserver_response_time_seconds{{{server("ec", "ns3.nic.ec.")},transport="udp"}}'
    )
    rtt = wait_for(lambda: prom.value(slow), 20, "ec ns3 RTT")
    assert 0.65 <= rtt <= 0.85, rtt
    fast = (
        f'ccmon_nameserver_response_time_seconds{{{server("ec", "ns1.nic.ec.")},transport="udp"}}'
    )
    assert prom.value(fast) < 0.1
    assert prom.value(f'ccmon_nameserver_up{{{server("ec", "ns3.nic.ec.")},transport="udp"}}') == 0
    # the histogram: the slow server's answers land between the 0.5 and 1.0 buckets
    le05 = prom.value('ccmon_query_duration_seconds_bucket{dns_zone="ec",transport="udp",le="0.5"}')
    le1 = prom.value('ccmon_query_duration_seconds_bucket{dns_zone="ec",transport="udp",le="1.0"}')
    assert le1 > le05
    build = 'ccmon_build_info{job="ccmon"}'
    wait_for(lambda: prom.value(build) == 1, 10, f"{build} ({prom.targets()})")


def test_serial_bump_reaches_prometheus_within_two_intervals(stack: Stack) -> None:
    prom = stack.prometheus
    query = 'min(ccmon_nameserver_soa_serial{dns_zone="nl"})'
    before = wait_for(lambda: prom.value(query), 30, "nl serials in Prometheus")
    new = stack.lab.bump_serial("nl")
    assert new != before
    t0 = time.monotonic()
    wait_for(lambda: prom.value(query) == new, 2 * INTERVAL + 6, f"nl serial {new} everywhere")
    elapsed = time.monotonic() - t0
    # two intervals, plus one scrape and the secondary's NOTIFY/IXFR round
    assert elapsed <= 2 * INTERVAL + 2, elapsed


def test_status_page_in_chromium(stack: Stack) -> None:
    wait_for(lambda: "ns3.nic.ec." in http_get(stack.ccmon_url), 20, "ec on the status page")
    shot = ARTIFACTS / "status-page.png"
    dom = chromium(stack.ccmon_url, stack.workdir, shot)
    for text in (
        "ns3.nic.mx.", "127.53.10.3", "lame: refused",  # the refusing server
        "ns3.nic.ke.", "stale",  # the stale serial
        "ns3.nic.ec.", "127.53.17.3", "slow",  # the slow server
        "Registry comparison", "Median RTT", "p95 RTT", "IPv6", "TCP",
        "中国",  # the IDN zone as U-label
    ):  # fmt: skip
        assert text in dom, text
    assert 'id="comparison"' in dom and dom.count('class="cell ') >= 14
    # the further checks: DNSSEC state per zone (the demo's zones are unsigned), the new
    # comparison columns, and each address's NSID as the servers return it
    for text in ("DNSSEC unsigned", "DNSSEC</button></th>", "Sig. expiry</button></th>",
                 "Exposure</button></th>"):
        assert text in dom, text
    fr = json.loads(http_get(stack.ccmon_url + "api/v1/zones/fr"))
    nsids = {s["nsid"] for s in fr["servers"] if s["nsid"]}
    assert nsids, fr["servers"]  # NSD and Knot of the lab both return one
    for nsid in nsids:
        assert f'<div class="nsid">NSID {html.escape(nsid)}</div>' in dom, nsid
    assert shot.exists() and shot.stat().st_size > 10_000


def test_prometheus_over_tls_with_basic_auth(stack: Stack) -> None:
    prom = stack.prometheus

    def health() -> dict[str, dict[str, str]] | None:
        out = {t["labels"]["job"]: t for t in prom.targets()}
        if {"ccmon_tls", "ccmon_tls_wrong"} <= out.keys() and all(
            out[j]["health"] != "unknown" for j in ("ccmon_tls", "ccmon_tls_wrong")
        ):
            return out
        return None

    targets = wait_for(health, 20, "TLS targets scraped")
    assert targets["ccmon_tls"]["health"] == "up", targets["ccmon_tls"]
    assert targets["ccmon_tls_wrong"]["health"] == "down"
    assert "401" in targets["ccmon_tls_wrong"]["lastError"]
    wait_for(lambda: prom.value('ccmon_build_info{job="ccmon_tls"}') == 1, 20, "TLS samples")
    assert prom.value('up{job="ccmon_tls_wrong"}') == 0


def test_sigterm_mid_sweep(world: object, tmp_path: Path) -> None:
    # bo and ly have silent servers: their sweeps wait out timeouts, so one is always running
    port = free_port()
    text = demo_config_text(world, str(tmp_path / "s.sqlite"), f"127.0.0.1:{port}",
                            zones=["bo", "ly", "fr"], interval="2s", jitter="0s")  # fmt: skip
    (tmp_path / "c.yaml").write_text(text)
    proc = start_ccmon(tmp_path / "c.yaml", tmp_path, "sigterm")
    try:
        url = f"http://127.0.0.1:{port}/metrics"
        wait_for(lambda: 'ccmon_sweeps_total{dns_zone="fr"} 1.0' in http_get(url), 30, "a sweep")
        # bo's and ly's first sweeps wait out the silent servers' timeouts (about 5 s),
        # started with fr's first (no jitter) and have not finished: they are mid-flight
        text = http_get(url)
        assert 'ccmon_sweeps_total{dns_zone="bo"} 0.0' in text
        assert 'ccmon_sweeps_total{dns_zone="ly"} 0.0' in text
        t0 = time.monotonic()
        proc.signal(signal.SIGTERM)
        assert proc.popen.wait(timeout=5) == 0, proc.tail()
        assert time.monotonic() - t0 < 5
    finally:
        proc.stop()
    db = sqlite3.connect(tmp_path / "s.sqlite")
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert db.execute("SELECT count(*) FROM latest").fetchone()[0] >= 1
    db.close()
    log = proc.log_path.read_text()
    assert "Traceback" not in log and "did not stop" not in log, log


def _ccmon_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "monitor", *args], cwd=REPO, text=True,
                          capture_output=True, timeout=30,
                          env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})})


def test_healthcheck_with_tls_and_basic_auth(stack: Stack) -> None:
    config = str(stack.workdir / "tls.yaml")
    wait_for(lambda: _ccmon_cli("healthcheck", "--config", config).returncode == 0, 20,
             "the first sweep of the TLS instance")
    # Without credentials: the 401 proves the server is up, the store that sweeps are fresh.
    anonymous = _ccmon_cli("healthcheck", "--config", config)
    assert anonymous.returncode == 0, anonymous.stderr
    assert "https://127.0.0.1:" in anonymous.stdout and "up (401" in anonymous.stdout
    assert "from the store" in anonymous.stdout
    # With credentials the answer is the monitor's own /healthz.
    secret = stack.workdir / "healthcheck.password"
    secret.write_text(PASSWORD)
    env = {"CCMON_HEALTHCHECK_USER": "prometheus", "CCMON_HEALTHCHECK_PASSWORD_FILE": str(secret)}
    authenticated = _ccmon_cli("healthcheck", "--config", config, env=env)
    assert authenticated.returncode == 0 and "last sweep completed" in authenticated.stdout
    # A hung monitor (SIGSTOP: the port still accepts, nothing answers) is unhealthy.
    stack.tls.signal(signal.SIGSTOP)
    try:
        hung = _ccmon_cli("healthcheck", "--config", config, env=env)
    finally:
        stack.tls.signal(signal.SIGCONT)
    assert hung.returncode == 1 and hung.stderr.startswith("unhealthy:"), hung.stderr


def test_run_from_flags_and_environment_only(world: object, tmp_path: Path) -> None:
    """A container's way: the config file is left as it is; the environment and flags say
    where to listen, where the store lives and how to log."""
    config = _config(world, tmp_path, "file", free_port(), None)
    port = free_port()
    store = tmp_path / "elsewhere" / "state.sqlite"
    store.parent.mkdir()
    env = {**os.environ, "PYTHONPATH": str(REPO), "CCMON_CONFIG": str(config),
           "CCMON_STORE_PATH": str(store), "CCMON_LOG_FORMAT": "json"}
    proc = Proc([sys.executable, "-m", "monitor", "run", "--web.listen-address",
                 f"127.0.0.1:{port}"], tmp_path, "envonly", cwd=REPO, env=env)
    try:
        wait_for(lambda: http_get(f"http://127.0.0.1:{port}/healthz"), 20, "the flag's port")
        wait_for(lambda: "ccmon_zone_available{" in http_get(f"http://127.0.0.1:{port}/metrics"),
                 30, "a sweep")
        assert store.exists()
    finally:
        proc.stop()
    events = [json.loads(line) for line in proc.log_path.read_text().splitlines() if line]
    assert events and all({"ts", "level", "logger", "msg"} <= set(e) for e in events)
