"""Soak a real `ccmon run` against a lab world and print its RSS over time and the slope
after warm-up (memory bounded in bytes).

    python bench/soak.py [--world demo|hostile] [--interval 2] [--minutes 5] [--warm-up 2]
                         [--scrape-every 10] [--port N] [--max-slope MB/min]

What runs: the lab world (real NSD/Knot + fault server when root and installed, else the
python fallback), an ordinary config.yaml for it (every zone of the world, DIV01 off as in
`ccmon demo`, `further_checks_interval: 0` so the further checks' queries go out every
sweep, the given interval, no jitter), and `python -m monitor run` as a child process.
Every `--scrape-every` seconds this scrapes the child's /metrics (the way Prometheus does)
and reads `process_resident_memory_bytes` and the sum of `ccmon_sweeps_total` from it.

Printed: one line per scrape (minutes, RSS MB, sweeps, /metrics bytes and scrape time),
then the least-squares RSS slope over the scrapes after the warm-up, in MB/min. The run is
bounded by --minutes; `--max-slope` makes the exit status 1 when the slope is above it.
The targets: <= 0.2 MB/min over 30 min (demo world, 2 s) and <= 250 MB RSS after
700 sweeps of the hostile world.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lab import Lab, load_scenario
from monitor.demo import demo_config_text
from tests.support import free_port

_RSS = re.compile(r"^process_resident_memory_bytes ([0-9.e+]+)$", re.M)
_SWEEPS = re.compile(r"^ccmon_sweeps_total\{[^}]*\} ([0-9.e+]+)$", re.M)


def slope_mb_per_min(samples: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, MB) samples, in MB per minute."""
    if len(samples) < 2:
        return float("nan")
    n = len(samples)
    mean_t = sum(t for t, _ in samples) / n
    mean_m = sum(m for _, m in samples) / n
    var = sum((t - mean_t) ** 2 for t, _ in samples)
    cov = sum((t - mean_t) * (m - mean_m) for t, m in samples)
    return 60.0 * cov / var if var else float("nan")


def config_text(world: Lab, workdir: Path, listen: str, interval: float) -> str:
    text = demo_config_text(world, str(workdir / "ccmon.sqlite"), listen,
                            interval=f"{interval:g}s", jitter="0s", disabled_checks=("DIV01",))
    further = "  further_checks_interval: 0s  # the further checks every sweep\n"
    return text.replace("  tcp_timeout: 2s\n", "  tcp_timeout: 2s\n" + further)


def scrape(url: str) -> tuple[float, float, int, float]:
    """RSS in MB, sweeps so far, bytes of /metrics, seconds the scrape took."""
    started = time.monotonic()
    with urllib.request.urlopen(url, timeout=10) as response:
        body = response.read().decode()
    took = time.monotonic() - started
    rss = _RSS.search(body)
    sweeps = sum(float(v) for v in _SWEEPS.findall(body))
    return (float(rss.group(1)) / 2**20 if rss else float("nan")), sweeps, len(body), took


def wait_for_metrics(url: str, child: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise SystemExit(f"ccmon run exited with {child.returncode} before serving")
        try:
            scrape(url)
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"no /metrics at {url} within {timeout:g} s")


def stop(child: subprocess.Popen) -> None:
    if child.poll() is None:
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(timeout=20)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait(timeout=10)


def soak(args: argparse.Namespace) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="ccmon-soak-"))
    port = args.port or int(os.environ.get("CCMON_LAB_PORT", "15480"))
    with Lab(load_scenario(args.world), port=port) as world:
        listen = f"127.0.0.1:{free_port()}"
        config = workdir / "config.yaml"
        config.write_text(config_text(world, workdir, listen, args.interval), encoding="utf-8")
        zones = [z.name for z in world.scenario.zones if not z.infra]
        print(f"soak: world {args.world} ({world.mode}, {len(zones)} zones, port {world.port}), "
              f"`ccmon run` every {args.interval:g} s, further checks every sweep, "
              f"{args.minutes:g} min, warm-up {args.warm_up:g} min", flush=True)
        log = (workdir / "ccmon.log").open("w")
        child = subprocess.Popen([sys.executable, "-m", "monitor", "run", "--config", str(config)],
                                 stdout=log, stderr=subprocess.STDOUT)
        url = f"http://{listen}/metrics"
        samples: list[tuple[float, float]] = []
        sweeps = 0.0
        try:
            wait_for_metrics(url, child, 30)
            started = time.monotonic()
            end = started + args.minutes * 60
            print("   min   RSS MB   sweeps  metrics B  scrape s", flush=True)
            while time.monotonic() < end:
                if child.poll() is not None:
                    print(f"soak: ccmon run exited with {child.returncode}", file=sys.stderr)
                    return 2
                rss, sweeps, size, took = scrape(url)
                at = time.monotonic() - started
                samples.append((at, rss))
                print(f"{at / 60:6.1f} {rss:8.1f} {sweeps:8.0f} {size:10d} {took:9.3f}",
                      flush=True)
                time.sleep(max(0.0, min(args.scrape_every, end - time.monotonic())))
            rss, sweeps, _size, _took = scrape(url)
            samples.append((time.monotonic() - started, rss))
        finally:
            stop(child)
            log.close()
    after = [(t, m) for t, m in samples if t >= args.warm_up * 60]
    slope = slope_mb_per_min(after)
    duration = samples[-1][0] / 60 if samples else 0.0
    print(f"soak: {duration:.1f} min, {sweeps:.0f} sweeps ({sweeps / max(1, len(zones)):.0f} "
          f"per zone), RSS {samples[0][1]:.1f} -> {samples[-1][1]:.1f} MB "
          f"(max {max(m for _, m in samples):.1f})")
    print(f"soak: RSS slope after {args.warm_up:g} min warm-up: {slope:+.3f} MB/min "
          f"over {len(after)} scrapes")
    if args.max_slope is not None and not slope <= args.max_slope:
        print(f"soak: slope above {args.max_slope:g} MB/min", file=sys.stderr)
        return 1
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--world", choices=("demo", "hostile"), default="demo")
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between sweeps")
    parser.add_argument("--minutes", type=float, default=5.0, help="how long to soak")
    parser.add_argument("--warm-up", type=float, default=2.0,
                        help="minutes left out of the slope")
    parser.add_argument("--scrape-every", type=float, default=10.0, help="seconds")
    parser.add_argument("--port", type=int, default=None,
                        help="the lab's DNS port (default CCMON_LAB_PORT, else 15480)")
    parser.add_argument("--max-slope", type=float, default=None, help="MB/min; exit 1 above")
    args = parser.parse_args()
    if not (0.5 <= args.interval <= 600 and 0 < args.minutes <= 24 * 60
            and 0 <= args.warm_up < args.minutes and 1 <= args.scrape_every <= 600):
        parser.error("out of range: 0.5 <= interval <= 600, 0 < minutes <= 1440, "
                     "0 <= warm-up < minutes, 1 <= scrape-every <= 600")
    return soak(args)


if __name__ == "__main__":
    sys.exit(main())
