"""Status page cost at scale: a 309-zone snapshot, served by the real aiohttp server.

    python bench/status_page.py [--requests 400] [--limit 0.020]

Builds a snapshot of every ccTLD of the scale world (the same zones, NS names and address
counts as ``load_scenario("scale")``, which bench/metrics_latency.py sweeps) with hand-made
results instead of a sweep, so no lab is needed: most addresses fine, a few percent slow,
stale, lame or down, signed zones with signature expiries and NSIDs, some open AXFR,
open resolvers and EDNS failures, and their findings. Then it serves the snapshot with
``WebServer(make_app(...))`` on a free loopback port and times GET / over HTTP/1.1
keep-alive: the first (uncached) GET, then ``--requests`` cached GETs with and without
``Accept-Encoding: gzip``, then ``--churn`` seconds of GETs while the snapshot is replaced
every 0.2 s (as during a sweep round; the page re-renders behind the scenes). Prints
p50/p99/max, the body size raw and gzip, and the render time of one uncached page beside
them. Exit status 1 if the cached gzip p99 exceeds ``--limit`` seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import aiohttp  # noqa: E402

from lab import load_scenario  # noqa: E402
from monitor.snapshot import MonitorState, Snapshot, ZoneHistory, ZoneTotals  # noqa: E402
from monitor.web import PAGE_CACHE_KEY, WebServer, make_app, render_status_page  # noqa: E402
from probes.model import Finding, ServerStatus, Severity, Transport, ZoneReport  # noqa: E402

SERIAL = 2026113001
EDNS_OK = {"plain": "ok", "edns0": "ok", "edns1": "ok", "option": "ok", "do": "ok"}


def _statuses(ns: str, address: str, rng: random.Random, signed: bool, now: float,
              index: int) -> tuple[list[ServerStatus], list[Finding]]:
    """UDP and TCP rows of one address, with a few percent of each kind of trouble."""
    roll = rng.random()
    rtt = rng.uniform(0.002, 0.25)
    serial = SERIAL - 3 if 0.04 <= roll < 0.06 else SERIAL
    facts = {
        "nsid": f"{ns.split('.')[0]}-{index}.pop{rng.randint(1, 40)}" if rng.random() < 0.6
        else "",
        "edns": {**EDNS_OK, "do": "no-do"} if rng.random() < 0.03 else EDNS_OK,
        "axfr_open": rng.random() < 0.02,
        "recursion_open": rng.random() < 0.01,
        "rrsig_expires_at": now + rng.uniform(0.5, 20) * 86400 if signed else None,
        "dnssec_valid": (rng.random() > 0.02) if signed else None,
    }
    findings = []
    if roll < 0.02:  # down
        rows = [ServerStatus(ns, address, t, False, False, None, None, failure="timeout")
                for t in (Transport.UDP, Transport.TCP)]
        findings.append(Finding("AVAIL02", Severity.ERROR, "SERVER_DOWN",
                                f"{ns} {address} does not answer", ns, address, "timeout"))
        return rows, findings
    if roll < 0.04:  # lame
        rows = [ServerStatus(ns, address, t, True, False, 0.01, None, lame_reason="refused")
                for t in (Transport.UDP, Transport.TCP)]
        findings.append(Finding("LAME01", Severity.ERROR, "LAME_DELEGATION",
                                f"{ns} ({address}) answers REFUSED", ns, address, "refused"))
        return rows, findings
    slow = 0.06 <= roll < 0.09
    if slow:
        rtt = rng.uniform(0.6, 1.2)
        findings.append(Finding("RTT01", Severity.WARNING, "SLOW_UDP",
                                f"{ns} answers in {rtt * 1000:.0f} ms", ns, address))
    if serial != SERIAL:
        findings.append(Finding("SOA01", Severity.WARNING, "SERIAL_LAG",
                                f"{ns} is 3 serials behind", ns, address, "", {"lag": 3}))
    if facts["axfr_open"]:
        findings.append(Finding("SEC01", Severity.WARNING, "OPEN_AXFR",
                                f"{ns} {address} grants a zone transfer", ns, address, "open"))
    udp = ServerStatus(ns, address, Transport.UDP, True, True, rtt, serial,
                       within_threshold=not slow, **facts)
    tcp = ServerStatus(ns, address, Transport.TCP, True, True, rtt * 2, serial,
                       within_threshold=True)
    return [udp, tcp], findings


def scale_snapshot(now: float | None = None, seed: int = 13) -> Snapshot:
    """Every ccTLD of the scale world with made-up but plausible sweep results."""
    now = time.time() if now is None else now
    rng = random.Random(seed)
    scenario = load_scenario("scale")
    zones = [z for z in scenario.zones if not z.infra]
    state = MonitorState(Snapshot(zones=tuple(z.name for z in zones), interval=60,
                                  started_at=now - 3600))
    for zone in zones:
        signed = rng.random() < 0.7
        servers: list[ServerStatus] = []
        findings: list[Finding] = []
        for index, spec in enumerate(zone.servers):
            rows, found = _statuses(spec.ns, spec.address, rng, signed, now, index)
            servers += rows
            findings += found
        rtts: dict[str, tuple[float, ...]] = {}
        for s in servers:
            if s.rtt is not None:
                rtts[str(s.transport)] = (*rtts.get(str(s.transport), ()), s.rtt)
        names = tuple(sorted({s.nameserver for s in servers}))
        report = ZoneReport(
            zone=zone.name, started_at=now - rng.uniform(1, 60), duration=rng.uniform(0.1, 2),
            servers=tuple(servers), findings=tuple(findings), parent_ns=names, child_ns=names,
            queries=len(servers), query_failures={}, rtts=rtts,
            dnssec=("secure" if rng.random() < 0.95 else "bogus") if signed else "unsigned",
        )
        history = ZoneHistory(window=86400, sweeps=1440,
                              available_sweeps=1440 - rng.randint(0, 5))
        state.publish(report, ZoneTotals().add_report(report), history)
    return state.snapshot


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def line(name: str, values: list[float]) -> str:
    return (f"{name}: n={len(values)} p50 {pct(values, 50) * 1000:.2f} ms, "
            f"p99 {pct(values, 99) * 1000:.2f} ms, max {max(values) * 1000:.2f} ms")


async def timed_gets(url: str, n: int, gzip: bool) -> tuple[list[float], int]:
    headers = {"Accept-Encoding": "gzip" if gzip else "identity"}
    times = []
    size = 0
    async with aiohttp.ClientSession(auto_decompress=False) as session:
        for _ in range(n):
            t = time.perf_counter()
            async with session.get(url, headers=headers) as resp:
                body = await resp.read()
            times.append(time.perf_counter() - t)
            assert resp.status == 200, resp.status
            size = len(body)
    return times, size


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--requests", type=int, default=400, help="cached GETs per encoding")
    parser.add_argument("--limit", type=float, default=0.020, help="max cached p99, s")
    parser.add_argument("--churn", type=float, default=12.0,
                        help="seconds of GETs while the snapshot changes (0: skip)")
    args = parser.parse_args(argv)

    snap = scale_snapshot()
    servers = sum(len({(s.nameserver, s.address) for s in r.servers})
                  for r in snap.reports.values())
    print(f"snapshot: {len(snap.zones)} zones, {servers} (name server, address) pairs")
    renders = []
    for _ in range(3):
        t = time.perf_counter()
        render_status_page(snap)
        renders.append(time.perf_counter() - t)
    print(f"uncached render (render_status_page): best {min(renders) * 1000:.0f} ms, "
          f"worst {max(renders) * 1000:.0f} ms of 3")
    state = MonitorState(snap)
    app = make_app(state)
    server = WebServer(app, "127.0.0.1:0")
    server.start()
    try:
        first, _ = asyncio.run(timed_gets(server.url, 1, True))
        print(f"first GET (no page yet: render + gzip + send): {first[0] * 1000:.0f} ms")
        raw_times, raw_size = asyncio.run(timed_gets(server.url, args.requests, False))
        gz_times, gz_size = asyncio.run(timed_gets(server.url, args.requests, True))
        renders = app[PAGE_CACHE_KEY].renders
        churn = churn_gets(server.url, state, args.churn) if args.churn > 0 else []
        churn_renders = app[PAGE_CACHE_KEY].renders - renders
    finally:
        server.stop()
    print(f"body: {raw_size / 1024:.0f} KiB raw, {gz_size / 1024:.0f} KiB gzip")
    print(line("cached GET, identity", raw_times))
    print(line("cached GET, gzip", gz_times))
    print(f"renders during the {2 * args.requests} cached GETs: {renders - 1}")
    if churn:
        print(line(f"GET, gzip, snapshot replaced every 0.2 s for {args.churn:.0f} s "
                   f"({churn_renders} background renders)", churn))
    return 0 if pct(gz_times, 99) <= args.limit else 1


def churn_gets(url: str, state: MonitorState, seconds: float) -> list[float]:
    """GETs every 20 ms while a thread replaces the snapshot every 0.2 s, as a sweep round
    does: the cache re-renders behind the scenes at most every min_interval."""
    stop = threading.Event()

    def publish() -> None:
        while not stop.wait(0.2):
            state.snapshot = replace(state.snapshot)  # same data, a new snapshot object

    async def paced() -> list[float]:
        times: list[float] = []
        end = time.monotonic() + seconds
        async with aiohttp.ClientSession(auto_decompress=False) as session:
            while time.monotonic() < end:
                t = time.perf_counter()
                async with session.get(url, headers={"Accept-Encoding": "gzip"}) as resp:
                    await resp.read()
                times.append(time.perf_counter() - t)
                await asyncio.sleep(0.02)
        return times

    writer = threading.Thread(target=publish, daemon=True)
    writer.start()
    try:
        return asyncio.run(paced())
    finally:
        stop.set()
        writer.join()


if __name__ == "__main__":
    sys.exit(main())
