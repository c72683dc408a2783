"""Sweep a scale world of the lab (every real ccTLD, or with ``--world root`` every TLD of
the root zone; every address, the core checks) and print queries/s, CPU µs per query, wall
time of one full sweep and peak RSS; then dnsperf's rate against one lab server in the same
run, as this machine's reference.

    python bench/sweep.py [--world cctld|root] [--sweeps 3] [--dnsperf-seconds 5]

The first sweep parses every reply (cold); later sweeps meet replies already parsed once,
as a monitor does from its second minute on.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import resource
import shutil
import subprocess
import tempfile
import time

import dns.message
from _world import WORLDS, lab_settings, world_lab, world_zones

from probes import observe, transport
from probes.collector import CollectorPace
from probes.loop import loop_name
from probes.loop import run as run_loop
from probes.sweep import Prober


def _counts(prober: Prober) -> tuple[int, int, int]:
    """UDP sockets opened, parse cache hits and misses so far."""
    cache = transport.PARSE_CACHE
    return prober.engine.udp_sockets.opened, cache.hits, cache.misses


async def sweep_all(prober: Prober, zones: list[str]) -> tuple[int, float, float, dict]:
    wall0, cpu0 = time.perf_counter(), time.process_time()
    usage0 = resource.getrusage(resource.RUSAGE_SELF)
    before = _counts(prober)
    reports = await asyncio.gather(*(prober.sweep(z) for z in zones))
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    usage = resource.getrusage(resource.RUSAGE_SELF)
    opened, hits, misses = (b - a for a, b in zip(before, _counts(prober), strict=True))
    print(f"  this sweep: user {usage.ru_utime - usage0.ru_utime:.2f} s, system "
          f"{usage.ru_stime - usage0.ru_stime:.2f} s; {opened} UDP sockets opened, "
          f"{len(prober.engine.udp_sockets)} kept; parse cache {hits} hits, {misses} misses")
    queries = sum(r.queries for r in reports)
    failures: dict[str, int] = {}
    for report in reports:
        for kind, count in report.query_failures.items():
            failures[kind] = failures.get(kind, 0) + count
    return queries, wall, cpu, failures


def dnsperf_rate(address: str, port: int, zones: list[str], seconds: int) -> str:
    if not shutil.which("dnsperf"):
        return "dnsperf not installed (Debian package dnsperf)"
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as queries:
        queries.writelines(f"{zone}. SOA\n" for zone in zones)
    out = subprocess.run(
        ["dnsperf", "-s", address, "-p", str(port), "-d", queries.name, "-l", str(seconds),
         "-c", "1", "-T", "1", "-q", "500"],
        capture_output=True, text=True, timeout=seconds + 30, check=False).stdout
    match = re.search(r"Queries per second:\s+([\d.]+)", out)
    lost = re.search(r"Queries lost:\s+(\d+)", out)
    return (f"{float(match.group(1)):,.0f} q/s (lost {lost.group(1) if lost else '?'})"
            if match else "dnsperf gave no rate:\n" + out[-500:])


_PRODUCT_PARSER = transport.parse_reply
_CACHES: dict[str, transport.ParseCache] = {}


def _dnspython_parse(wire: bytes) -> dns.message.Message:
    return dns.message.from_wire(wire, ignore_trailing=True)


def use_parser(choice: str, sweep: int) -> str:
    """Set the parser of this sweep. Alternating, each parser has its own parse cache (same
    budget), so sweeps 1 and 2 are both cold and each later sweep meets only its own
    parser's cached replies."""
    name = choice if choice != "alternate" else ("wire", "dnspython")[(sweep - 1) % 2]
    transport.parse_reply = _PRODUCT_PARSER if name == "wire" else _dnspython_parse
    if choice == "alternate":
        if name not in _CACHES:
            _CACHES[name] = transport.ParseCache(transport.PARSE_CACHE.budget)
        transport.PARSE_CACHE = _CACHES[name]
    return name


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--world", choices=WORLDS, default="cctld")
    parser.add_argument("--sweeps", type=int, default=3)
    parser.add_argument("--dnsperf-seconds", type=int, default=5)
    parser.add_argument("--all-checks", action="store_true",
                        help="also send the further checks' queries (DNSSEC, EDNS, AXFR, ...)")
    parser.add_argument("--parse-cache-mib", type=float, default=None,
                        help="parse cache budget (default: the probe default, 16 MiB); the "
                        "root world's replies need more for warm sweeps to be warm")
    parser.add_argument("--parser", choices=("wire", "dnspython", "alternate"), default="wire",
                        help="how replies are parsed: probes.wire with dnspython for the rest "
                        "(the product), dnspython alone (the reference), or alternating "
                        "between the two from sweep to sweep (parse cache emptied at each switch)")
    parser.add_argument("--port", type=int, default=None,
                        help="lab port (default: 53 as root; another lab may hold it)")
    args = parser.parse_args()
    if not args.all_checks:
        observe.EXTRA_PROBES = ()  # the core checks: SOA over UDP and TCP, NS, glue
    up0 = time.monotonic()
    with world_lab(args.world, port=args.port) as lab:
        servers = lab.zones  # computed afresh at every access: take it once
        zones = world_zones(lab)
        addresses = {s.address for z in zones for s in servers[z]}
        print(f"scale world {args.world}: {len(zones)} TLDs, {len(addresses)} server "
              f"addresses, mode {lab.mode}, port {lab.port}, up in "
              f"{time.monotonic() - up0:.1f} s; event loop {loop_name(prefer_uvloop=True)}")

        async def run() -> None:
            cache = ({} if args.parse_cache_mib is None
                     else {"parse_cache_bytes": int(args.parse_cache_mib * 2**20)})
            settings = lab_settings(lab, udp_timeout=2.0, tcp_timeout=4.0, **cache)
            collector = CollectorPace()  # as `ccmon run` paces it
            collector.start(asyncio.get_running_loop())
            async with Prober(settings) as prober:
                for n in range(1, args.sweeps + 1):
                    parser_name = use_parser(args.parser, n)
                    queries, wall, cpu, failures = await sweep_all(prober, zones)
                    label = "cold" if n == 1 else "warm"
                    if args.parser == "alternate":
                        label = f"{'cold' if n <= 2 else 'warm'}, {parser_name}"
                    print(f"sweep {n} ({label}): {queries} queries in {wall:.2f} s wall = "
                          f"{queries / wall:,.0f} q/s; CPU {cpu:.2f} s = "
                          f"{cpu / queries * 1e6:.0f} µs/query; failures {failures or 'none'}")
            collector.stop()
            print(f"garbage collector: {collector.collections} timed collections "
                  f"({collector.whole_collections} of everything), {collector.seconds:.2f} "
                  f"CPU-s in all")

        run_loop(run(), prefer_uvloop=True)
        for name, cache in (_CACHES or {args.parser: transport.PARSE_CACHE}).items():
            print(f"parse cache ({name}): {len(cache)} replies, {cache.used / 2**20:.1f} MiB "
                  f"estimated of {cache.budget / 2**20:.0f} MiB; {cache.hits} hits, "
                  f"{cache.misses} misses in all")
        peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        both = " (both parsers' caches)" if _CACHES else ""
        print(f"peak RSS of the sweeping process{both}: {peak_mib:.0f} MiB")
        busiest = max(servers[zones[0]], key=lambda s: s.address).address
        served = [z for z in zones if any(s.address == busiest for s in servers[z])]
        print(f"dnsperf (1 client thread, 500 in flight) against {busiest}: "
              f"{dnsperf_rate(busiest, lab.port, served, args.dnsperf_seconds)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
