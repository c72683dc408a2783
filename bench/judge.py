"""Judge and summarise the observations of one warm sweep of a scale world, again and again,
without the lab: the CPU of `Prober._report` (judge → summarise → ZoneReport) alone.

    python bench/judge.py capture --world root --port P --out /tmp/root.pickle [--all-checks]
        [--warm N]
    python bench/judge.py time /tmp/root.pickle [--rounds 5] [--tree DIR] [--dump out.json]

`capture` sweeps the world cold, then `--warm` times, prints the CPU each warm sweep spent in
`_report` (judging in situ), and pickles what the last one handed to `_report`, zone by
zone (replies shared between observations stay shared). `time`
judges those inputs `--rounds` times, each round as a sweep does (one reading scope per
zone), and prints the process CPU per round; `--tree` runs another checkout's code on the
same inputs, and `--dump` writes every report (its duration left out) so two trees can be
compared verdict for verdict.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import pickle
import sys
import time
from pathlib import Path
from typing import Any


def capture(world: str, port: int | None, out: str, all_checks: bool, warm: int) -> None:
    """Sweep the world cold, then `warm` times; print each warm sweep's CPU and the part of
    it spent in `_report`; pickle the last warm sweep's `_report` inputs."""
    from _world import lab_settings, world_lab, world_zones

    from probes import observe
    from probes.loop import run as run_loop
    from probes.sweep import Prober

    if not all_checks:
        observe.EXTRA_PROBES = ()
    inputs: list[tuple[Any, ...]] = []
    original = Prober._report
    spent = [0.0]

    def recording(self: Prober, *args: Any) -> Any:
        inputs.append(args)  # the last sweep's only: emptied before each
        cpu0 = time.process_time()
        try:
            return original(self, *args)
        finally:
            spent[0] += time.process_time() - cpu0

    with world_lab(world, port=port) as lab:
        zones = world_zones(lab)
        settings = lab_settings(lab, udp_timeout=2.0, tcp_timeout=4.0)

        async def run() -> None:
            async with Prober(settings) as prober:
                await asyncio.gather(*(prober.sweep(z) for z in zones))
                Prober._report = recording  # type: ignore[method-assign]
                for n in range(1, warm + 1):
                    inputs.clear()
                    spent[0] = 0.0
                    cpu0 = time.process_time()
                    await asyncio.gather(*(prober.sweep(z) for z in zones))
                    print(f"warm sweep {n}: {time.process_time() - cpu0:.2f} CPU-s, of which "
                          f"{spent[0]:.3f} in Prober._report (judge, summarise, report)")

        run_loop(run(), prefer_uvloop=True)
    with open(out, "wb") as file:
        pickle.dump((settings, inputs), file, protocol=pickle.HIGHEST_PROTOCOL)
    pairs = sum(len(ns.addresses) for args in inputs for ns in args[4].nameservers)
    print(f"captured {len(inputs)} zones, {pairs} (zone, address) pairs, "
          f"{sum(len(args[5]) for args in inputs)} observations → {out}")


def judge_rounds(path: str, rounds: int, dump: str | None) -> None:
    """Judge the captured inputs `rounds` times; print the CPU of each round."""
    from probes.collector import CollectorPace
    from probes.evidence import sweep_readings
    from probes.sweep import Prober

    collector = CollectorPace()  # as `ccmon run` paces it
    collector.take_over()
    with open(path, "rb") as file:
        settings, inputs = pickle.load(file)
    prober = Prober(settings)  # _report reads only the settings: no engine needed
    reports: list[Any] = []
    for n in range(1, rounds + 1):
        cpu0 = time.process_time()
        reports = []
        for args in inputs:
            with sweep_readings():
                reports.append(prober._report(*args))
            collector.collect_due()
        cpu = time.process_time() - cpu0
        findings = sum(len(r.findings) for r in reports)
        print(f"round {n}: {len(inputs)} zones judged in {cpu:.3f} CPU-s "
              f"({cpu / len(inputs) * 1e6:.0f} µs/zone); {findings} findings")
    if dump:
        documents = [{k: v for k, v in r.to_dict().items() if k != "duration"}
                     for r in reports]
        Path(dump).write_text(json.dumps(documents, indent=1, sort_keys=True, default=str))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", default=str(Path(__file__).resolve().parent.parent),
                        help="the checkout whose probes package judges (default: this one)")
    commands = parser.add_subparsers(dest="command", required=True)
    cap = commands.add_parser("capture")
    cap.add_argument("--world", default="root")
    cap.add_argument("--port", type=int, default=None)
    cap.add_argument("--out", required=True)
    cap.add_argument("--all-checks", action="store_true")
    cap.add_argument("--warm", type=int, default=1, help="warm sweeps (the last is kept)")
    tim = commands.add_parser("time")
    tim.add_argument("path")
    tim.add_argument("--rounds", type=int, default=5)
    tim.add_argument("--dump", default=None)
    args = parser.parse_args()
    sys.path.insert(0, args.tree)
    if args.command == "capture":
        capture(args.world, args.port, args.out, args.all_checks, args.warm)
    else:
        judge_rounds(args.path, args.rounds, args.dump)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
