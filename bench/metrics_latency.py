"""/metrics latency while `ccmon run` sweeps the scale world (every ccTLD of the root zone).

    python bench/metrics_latency.py [--port N] [--interval 30] [--rounds 3] [--every 0.2]

Starts the lab's scale world on loopback, runs ``ccmon run`` over all its ccTLDs with no
start jitter (every zone's sweep starts at the same moment: the worst case for the event
loop), and scrapes /metrics back to back for the given number of sweep rounds. Prints
p50/p99/max scrape latency over all scrapes and over the scrapes taken while a sweep round
was in progress (zones at different sweep counts), the exposition size and series count,
and the sweep durations. Exit status 1 if p99 during sweeps exceeds --limit seconds.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from lab import Lab, load_scenario  # noqa: E402
from monitor.demo import demo_config_text  # noqa: E402

SWEEPS = re.compile(r'^ccmon_sweeps_total\{dns_zone="[^"]+"\} (\S+)$', re.M)
DURATIONS = re.compile(r'^ccmon_sweep_duration_seconds\{dns_zone="[^"]+"\} (\S+)$', re.M)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def scrape(url: str) -> tuple[float, bytes]:
    t = time.perf_counter()
    with urllib.request.urlopen(url, timeout=30) as resp:
        body = resp.read()
    return time.perf_counter() - t, body


def summary(name: str, values: list[float]) -> str:
    if not values:
        return f"{name}: no scrapes"
    return (f"{name}: n={len(values)} p50 {pct(values, 50) * 1000:.1f} ms, "
            f"p99 {pct(values, 99) * 1000:.1f} ms, max {max(values) * 1000:.1f} ms")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=None, help="lab port")
    parser.add_argument("--interval", type=float, default=30.0, help="sweep interval, s")
    parser.add_argument("--rounds", type=int, default=3, help="sweep rounds to measure")
    parser.add_argument("--every", type=float, default=0.2, help="pause between scrapes, s")
    parser.add_argument("--limit", type=float, default=1.0, help="max p99 during sweeps, s")
    args = parser.parse_args(argv)

    scenario = load_scenario("scale")
    zones = [z.name for z in scenario.zones if not z.infra]
    with Lab(scenario, port=args.port) as lab, tempfile.TemporaryDirectory() as tmp:
        listen = f"127.0.0.1:{free_port()}"
        config = Path(tmp) / "config.yaml"
        config.write_text(demo_config_text(
            lab, str(Path(tmp) / "ccmon.sqlite"), listen, zones=zones,
            interval=f"{args.interval}s", jitter="0s",
        ))  # fmt: skip
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        log = open(Path(tmp) / "ccmon.log", "wb")  # noqa: SIM115
        argv = [sys.executable, "-m", "monitor", "run", "--config", str(config)]
        proc = subprocess.Popen(argv, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
        url = f"http://{listen}/metrics"
        try:
            return measure(url, zones, args, lab)
        finally:
            proc.terminate()
            proc.wait(10)
            log.close()


def measure(url: str, zones: list[str], args: argparse.Namespace, lab: Lab) -> int:
    deadline = time.monotonic() + 30
    while True:
        try:
            scrape(url)
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    print(f"scale world: {len(zones)} zones, lab {lab.mode} on port {lab.port}; "
          f"ccmon interval {args.interval:.0f} s, no jitter")  # fmt: skip
    all_lat: list[float] = []
    during: list[float] = []
    body = b""
    end = time.monotonic() + args.rounds * args.interval
    while time.monotonic() < end:
        latency, body = scrape(url)
        all_lat.append(latency)
        counts = [float(v) for v in SWEEPS.findall(body.decode())]
        if counts and min(counts) != max(counts):
            during.append(latency)
        time.sleep(args.every)
    text = body.decode()
    series = sum(1 for line in text.splitlines() if line and not line.startswith("#"))
    durations = [float(v) for v in DURATIONS.findall(text)]
    print(f"exposition: {len(body) / 1024:.0f} KiB, {series} series")
    if durations:
        print(f"sweep durations: median {statistics.median(durations):.2f} s, "
              f"max {max(durations):.2f} s over {len(durations)} zones")  # fmt: skip
    print(summary("all scrapes", all_lat))
    print(summary("scrapes during a sweep round", during))
    ok = not during or pct(during, 99) <= args.limit
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
