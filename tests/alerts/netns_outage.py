"""Driver of the vantage-outage acceptance test (issue 10); run as root under `unshare -n`.

Two network namespaces, both made here, nothing else touched:

- the *observer* namespace (this process, made by the test's `unshare -n`): the SMTP sink
  (aiosmtpd) on 10.53.0.1 and the metrics scraper;
- the *monitor* namespace (made by `unshare -n sleep`, entered with `nsenter`): the lab on
  its loopback (port 53) and `ccmon run`, whose web server listens on 10.53.0.2.

A veth pair joins the two, so mail and scrapes go on while the monitor namespace's
loopback is down: `ip link set lo down` there is a real local outage (ENETUNREACH for every
DNS query of ccmon), and nothing of the observer's path depends on that loopback.

    unshare -n python -m tests.alerts.netns_outage WORKDIR [OUTAGE_SECONDS]

prints one JSON document (what the sink got, the metrics over time, the open problems
before and after) on its last stdout line; the test asserts on it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from tests.support import wait_for

REPO = Path(__file__).resolve().parents[2]
OBSERVER, MONITOR = "10.53.0.1", "10.53.0.2"
SMTP_PORT, WEB_PORT = 2525, 9153
INTERVAL = 5.0  # ccmon's sweep interval here: a 60 s outage spans 12 rounds
PREFIX = "127.62"
LAME = f"{PREFIX}.1.3"
SCENARIO: dict[str, Any] = {
    "name": "outage",
    "description": "fr with a lame server and a healthy de, for the vantage-outage test",
    "serial": 2026113001,
    "root": {"ns": "a.root-servers.net.", "address": f"{PREFIX}.0.1", "software": "nsd"},
    "resolver": {"address": f"{PREFIX}.0.2"},
    "relay": f"{PREFIX}.0.4",
    "zones": [
        {"zone": "fr", "servers": [
            {"ns": "ns1.nic.fr.", "address": f"{PREFIX}.1.1", "software": "nsd",
             "role": "primary"},
            {"ns": "ns2.nic.fr.", "address": f"{PREFIX}.1.2", "software": "knot",
             "role": "secondary"},
            {"ns": "ns3.nic.fr.", "address": LAME, "software": "fault", "fault": "refused"},
        ]},
        {"zone": "de", "servers": [
            {"ns": "ns1.denic.de.", "address": f"{PREFIX}.2.1", "software": "nsd",
             "role": "primary"},
            {"ns": "ns2.denic.de.", "address": f"{PREFIX}.2.2", "software": "knot",
             "role": "secondary"},
        ]},
    ],
}  # fmt: skip


def log(text: str) -> None:
    print(f"[{time.time():.1f}] {text}", file=sys.stderr, flush=True)


def sh(*argv: str) -> None:
    subprocess.run(argv, check=True, timeout=30)


# --- inside the monitor namespace: the lab --------------------------------------------


def world_main(workdir: Path) -> int:
    from lab import Lab, parse_scenario

    stop = False

    def on_term(_sig: int, _frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    (workdir / "lab").mkdir(exist_ok=True)
    lab = Lab(parse_scenario(SCENARIO, "outage"), port=53, workdir=workdir / "lab").start()
    try:
        print("ready", flush=True)
        deadline = time.monotonic() + 600  # never outlive the test by much
        while not stop and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        lab.stop()
    return 0


# --- in the observer namespace: the scenario --------------------------------------------


def config_text(workdir: Path) -> str:
    return "\n".join([
        'zones: ["fr", "de"]',
        f"parent: [{PREFIX}.0.1]",
        f"resolver: [{PREFIX}.0.2]",
        "resolver_port: 53",
        "port: 53",
        "probe:",
        "  udp_timeout: 1s",
        "  udp_tries: 2",
        "  tcp_timeout: 2s",
        "schedule:",
        f"  interval: {INTERVAL:g}s",
        "  allow_fast_interval: true",
        "  jitter: 1s",
        "store:",
        f"  path: {json.dumps(str(workdir / 'ccmon.sqlite'))}",
        "  retention: 1d",
        "web:",
        f'  listen: "{MONITOR}:{WEB_PORT}"',
        "alerts:",
        "  recipients: [noc@example.net]",
        "  rate_limit: 0s",
        "  retry: {initial: 1s, max: 2s}",
        "  smtp:",
        f"    host: {OBSERVER}",
        f"    port: {SMTP_PORT}",
        "    from: ccmon@example.net",
        "    timeout: 5s",
        "",
    ])


def metric(name: str, labels: str) -> float | None:
    url = f"http://{MONITOR}:{WEB_PORT}/metrics"
    with urllib.request.urlopen(url, timeout=3) as response:
        text = response.read().decode()
    for line in text.splitlines():
        if line.startswith(f"{name}{{{labels}}} "):
            return float(line.rsplit(" ", 1)[1])
    return None


def open_problems(db: Path) -> list[list[Any]]:
    with contextlib.closing(sqlite3.connect(db, timeout=10)) as conn:
        rows = conn.execute(
            "SELECT zone, check_id, nameserver, address, reason, first_seen FROM alert_problems "
            "WHERE state = 'open' AND zone != '(vantage)' ORDER BY zone, check_id, address"
        ).fetchall()
    return [list(r) for r in rows]



def main(workdir: Path, outage: float) -> dict[str, Any]:
    from tests.alerts.helpers import Sink

    sh("ip", "link", "set", "lo", "up")
    holder = subprocess.Popen(["unshare", "-n", "sleep", "900"])
    pid = str(holder.pid)
    inside = ["nsenter", "-t", pid, "-n"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs: list[subprocess.Popen[bytes]] = []
    sink: Sink | None = None
    try:
        time.sleep(0.2)  # unshare has made the namespace and exec'd sleep
        sh("ip", "link", "add", "vobs", "type", "veth", "peer", "name", "vmon", "netns", pid)
        sh("ip", "addr", "add", f"{OBSERVER}/30", "dev", "vobs")
        sh("ip", "link", "set", "vobs", "up")
        for argv in (["ip", "link", "set", "lo", "up"],
                     ["ip", "addr", "add", f"{MONITOR}/30", "dev", "vmon"],
                     ["ip", "link", "set", "vmon", "up"]):
            sh(*inside, *argv)
        sink = Sink(port=SMTP_PORT, host=OBSERVER).start()
        lab_log = open(workdir / "lab.log", "wb")  # noqa: SIM115 - closed with the process
        world = subprocess.Popen(
            [*inside, sys.executable, "-m", "tests.alerts.netns_outage", "world", str(workdir)],
            stdout=subprocess.PIPE, stderr=lab_log, cwd=REPO, env=env)
        procs.append(world)
        assert world.stdout is not None
        line = world.stdout.readline().decode().strip()
        if line != "ready":
            raise AssertionError(f"the lab did not start: {line!r} (see {workdir}/lab.log)")
        log("lab up in the monitor namespace")
        config = workdir / "config.yaml"
        config.write_text(config_text(workdir), encoding="utf-8")
        ccmon_log = open(workdir / "ccmon.log", "wb")  # noqa: SIM115
        ccmon = subprocess.Popen(
            [*inside, sys.executable, "-m", "monitor", "run", "--config", str(config)],
            stdout=ccmon_log, stderr=subprocess.STDOUT, cwd=REPO, env=env)
        procs.append(ccmon)
        db = workdir / "ccmon.sqlite"
        # 1. a world with open problems: fr's lame server opens after 3 sweeps, and mails
        wait_for(lambda: any(r[1] == "LAME01" for r in open_problems(db)), 90, "LAME01 to open")
        wait_for(lambda: len(sink.received) >= 1, 30, "the LAME01 mail")
        wait_for(lambda: metric("ccmon_vantage_up", 'family="ipv4"') == 1, 30, "vantage up")
        time.sleep(2 * INTERVAL)  # let anything else that was going to open open
        before = open_problems(db)
        mails_before = len(sink.received)
        # 2. the outage: the monitor namespace's loopback down for `outage` seconds
        down_at = time.time()
        sh(*inside, "ip", "link", "set", "lo", "down")
        log("lo down in the monitor namespace")
        during: list[tuple[float, float | None, float | None]] = []
        while time.time() < down_at + outage:
            with contextlib.suppress(OSError):
                during.append((time.time() - down_at,
                               metric("ccmon_vantage_up", 'family="ipv4"'),
                               metric("ccmon_zone_available", 'dns_zone="de"')))
            time.sleep(2.0)
        sh(*inside, "ip", "link", "set", "lo", "up")
        up_at = time.time()
        log("lo up again")
        # 3. back: the back mail, then quiet for three more intervals
        wait_for(lambda: len(sink.received) >= mails_before + 2, 90, "the vantage mails")
        after_metric = wait_for(lambda: metric("ccmon_vantage_up", 'family="ipv4"') == 1, 30,
                            "vantage up again")
        wait_for(lambda: metric("ccmon_zone_available", 'dns_zone="de"') is not None, 30,
             "de measured again")
        time.sleep(3 * INTERVAL)
        after = open_problems(db)
        mails = [{"subject": str(m["Subject"]), "zone": str(m["X-Ccmon-Zone"] or ""),
                  "vantage": str(m["X-Ccmon-Vantage"] or "")} for m in sink.messages()]
        return {
            "down_at": down_at, "up_at": up_at, "outage": outage, "interval": INTERVAL,
            "mails_before": mails_before, "mails": mails, "during": during,
            "vantage_up_after": 1.0 if after_metric else None,
            "before": before, "after": after,
        }
    finally:
        for proc in reversed(procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)
        if sink is not None:
            sink.stop()
        holder.kill()
        holder.wait(5)


if __name__ == "__main__":
    if sys.argv[1] == "world":
        sys.exit(world_main(Path(sys.argv[2])))
    result = main(Path(sys.argv[1]), float(sys.argv[2]) if len(sys.argv) > 2 else 60.0)
    print(json.dumps(result), flush=True)
