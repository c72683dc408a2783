"""Bring a scale world up (every delegated ccTLD of the real root zone, or with
``--world root`` every TLD of it; real NSD and Knot processes on loopback), print how long it
took and what runs, check every server answers, tear it down.

    python bench/lab_scale.py [--world cctld|root] [--port N] [--mode real|python]

Target: up in < 30 s (ccTLD world) or < 60 s (root world). Exit status 1 if it is not, or if
a server does not answer.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lab import Lab
from lab.procs import soa_probe
from lab.scale import WORLDS, world_scenario

TARGET_SECONDS = {"cctld": 30.0, "root": 60.0}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=None)
    parser.add_argument("--mode", choices=("real", "python"), default=None)
    parser.add_argument("--world", choices=WORLDS, default="cctld")
    args = parser.parse_args(argv)
    target = TARGET_SECONDS[args.world]

    t0 = time.monotonic()
    scenario = world_scenario(args.world)
    loaded = time.monotonic() - t0
    zones = [z for z in scenario.zones if not z.infra]
    servers = [s for z in zones for s in z.servers]
    addresses = {s.address for s in scenario.servers()}
    print(f"scenario {scenario.name}: {len(zones)} TLDs (+{len(scenario.zones) - len(zones)} "
          f"infrastructure zones), {len({s.ns for s in servers})} NS names, "
          f"{len(servers)} (zone, address) "
          f"pairs ({sum(s.family == 6 for s in servers)} of them IPv6 mapped onto IPv4 "
          f"loopback), {len(addresses)} distinct addresses; generated in {loaded:.2f} s")

    lab = Lab(scenario, port=args.port, mode=args.mode)
    t1 = time.monotonic()
    with lab:
        up = time.monotonic() - t1
        kinds = Counter(p["software"] for p in lab.processes)
        print(f"mode {lab.mode} ({lab.mode_reason}), port {lab.port}")
        print(f"up in {up:.2f} s (target < {target:.0f} s): {len(lab.procs)} processes "
              f"({', '.join(f'{n} {k}' for k, n in sorted(kinds.items()))}), every server "
              "answering its zone's SOA with AA and the serial")
        t2 = time.monotonic()
        targets = [(s.address, s.zone) for s in servers]
        got = soa_probe(targets, lab.port, wait=1.0)
        ok = sum(1 for key in targets if got.get(key, (1, False, None))[1])
        print(f"sweep: {ok}/{len(targets)} (zone, address) pairs answered authoritatively "
              f"in {time.monotonic() - t2:.2f} s")
        t3 = time.monotonic()
    print(f"down in {time.monotonic() - t3:.2f} s")
    return 0 if up < target and ok == len(targets) else 1


if __name__ == "__main__":
    sys.exit(main())
