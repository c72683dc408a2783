"""/metrics latency while ccmon sweeps the scale world (every ccTLD) or the whole root zone.

    python bench/metrics_latency.py [--port N] [--interval 30] [--rounds 3] [--every 0.2]
    python bench/metrics_latency.py --world root [--rounds 3] [--interval 20]

``--world cctld`` (default) starts the lab's scale world on loopback, runs ``ccmon run`` over
all its ccTLDs with no start jitter (every zone's sweep starts at the same moment: the worst
case for the event loop), and scrapes /metrics back to back for the given number of sweep
rounds. Prints p50/p99/max scrape latency over all scrapes and over the scrapes taken while a
sweep round was in progress (zones at different sweep counts), the exposition size (plain and
gzip) and series count, and the sweep durations. Exit status 1 if p99 during sweeps exceeds
--limit seconds. ``--trace`` adds, for the scrapes during sweep rounds, where their time went
inside ccmon (bench/scrape_trace/sitecustomize.py, loaded into the child): the web thread's
CPU, run-queue wait and blocked time per scrape, and the garbage collections.

``--world root`` needs no DNS: it builds one ZoneReport per TLD of ``root.zone`` (every TLD,
its real NS names and glue addresses, UDP and TCP rows, the further checks' facts) and
publishes them into the real MonitorState, Exporter and web app, served on loopback by the
real WebServer thread. A sweeper thread republishes every zone with new RTTs and serials each
round (as ``Service.sweep_zone`` does: publish, then ``warm(zone)``), so the scrapes meet the
same collector work as during real sweeps; the sweeper's own CPU stands in for the prober's.
The garbage collector is paced as ``ccmon run`` paces it (``probes.collector``; the
sweeper thread ticks it).
Every NS name of root.zone has glue there (7,568 NS pairs: 7,546 IPv4 and 7,043 IPv6 rows).
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
TRACER = Path(__file__).resolve().parent / "scrape_trace"  # its sitecustomize.py (--trace)
sys.path.insert(0, str(REPO))

from lab import Lab, load_scenario  # noqa: E402
from monitor.demo import demo_config_text  # noqa: E402
from monitor.metrics import Exporter  # noqa: E402
from monitor.snapshot import MonitorState, Snapshot, ZoneHistory, ZoneTotals  # noqa: E402
from monitor.web import WebServer, make_app  # noqa: E402
from probes.collector import CollectorPace  # noqa: E402
from probes.model import Finding, ServerStatus, Severity, Transport, ZoneReport  # noqa: E402

ROOT_ZONE = Path(os.environ.get("CCMON_ROOT_ZONE", "/work/shared/data/root.zone"))
EDNS_OK = {"plain": "ok", "edns0": "ok", "edns1": "ok", "option": "ok", "do": "ok"}

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


def scrape(url: str, zipped: bool = True) -> tuple[float, bytes, int]:
    """(latency, plain body, bytes on the wire); asks for gzip as Prometheus does."""
    request = urllib.request.Request(url, headers={"Accept-Encoding": "gzip"} if zipped else {})
    t = time.perf_counter()
    with urllib.request.urlopen(request, timeout=30) as resp:
        wire = resp.read()
        encoding = resp.headers.get("Content-Encoding", "")
    latency = time.perf_counter() - t
    body = gzip.decompress(wire) if encoding == "gzip" else wire
    return latency, body, len(wire)


class KeptScraper:
    """Scrapes over one kept-alive connection, as Prometheus does (urllib opens one per
    scrape); reconnects when the server closed it."""

    def __init__(self, url: str) -> None:
        parts = urllib.parse.urlsplit(url)
        self.host, self.port, self.path = parts.hostname or "", parts.port or 80, parts.path
        self.conn: http.client.HTTPConnection | None = None

    def __call__(self, url: str) -> tuple[float, bytes, int]:
        t = time.perf_counter()
        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            self.conn.request("GET", self.path, headers={"Accept-Encoding": "gzip"})
            resp = self.conn.getresponse()
            wire = resp.read()
        except (OSError, http.client.HTTPException):
            self.conn.close()
            self.conn = None
            raise
        latency = time.perf_counter() - t
        if resp.will_close:
            self.conn.close()
            self.conn = None
        zipped = resp.headers.get("Content-Encoding", "") == "gzip"
        return latency, gzip.decompress(wire) if zipped else wire, len(wire)


def load() -> str:
    """The machine's load average (shared by several sessions): print it beside latencies."""
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} cores"


# --- the whole-root world, synthetic: every TLD of root.zone, no DNS ------------------------


def root_delegations(path: Path = ROOT_ZONE) -> dict[str, dict[str, list[str]]]:
    """TLD -> NS name -> glue addresses (A and AAAA) as root.zone lists them."""
    ns: dict[str, list[str]] = {}
    glue: dict[str, list[str]] = {}
    for line in path.read_text(encoding="ascii").splitlines():
        parts = line.split()
        if len(parts) < 5 or parts[0].startswith(";") or parts[2] != "IN":
            continue
        owner, rtype, data = parts[0].lower(), parts[3], parts[4].lower()
        if rtype == "NS" and owner != ".":
            ns.setdefault(owner.rstrip("."), []).append(data)
        elif rtype in ("A", "AAAA"):
            glue.setdefault(owner, []).append(data)
    return {tld: {name: glue.get(name, []) for name in names} for tld, names in sorted(ns.items())}


def root_report(zone: str, servers: dict[str, list[str]], started_at: float,
                rng: random.Random, serial: int) -> ZoneReport:
    """One sweep's report as the engine writes it for a healthy, signed TLD."""
    rows: list[ServerStatus] = []
    for name, addresses in servers.items():
        for address in addresses:
            rtt = rng.uniform(0.002, 0.12)
            rows.append(ServerStatus(
                name, address, Transport.UDP, True, True, rtt, serial, within_threshold=True,
                udp_loss=0.0, rrsig_expires_at=started_at + 10 * 86400, dnssec_valid=True,
                nsid=f"{name.split('.')[0]}-{address[-2:]}", edns=EDNS_OK, axfr_open=False,
                recursion_open=False,
            ))  # fmt: skip
            rows.append(ServerStatus(name, address, Transport.TCP, True, True, 2 * rtt, serial,
                                     within_threshold=True))  # fmt: skip
    rtts: dict[str, tuple[float, ...]] = {}
    for row in rows:
        rtts[str(row.transport)] = (*rtts.get(str(row.transport), ()), row.rtt or 0.0)
    findings = (Finding("TCP01", Severity.OK, zone, "ok"),)
    return ZoneReport(
        zone=zone, started_at=started_at, duration=rng.uniform(0.2, 1.5), servers=tuple(rows),
        findings=findings, parent_ns=tuple(servers), child_ns=tuple(servers),
        queries=len(rows) * 3, query_failures={}, rtts=rtts, dnssec="secure",
        vantage={"ipv4": "online", "ipv6": "online"},
    )  # fmt: skip


class RootSweeper(threading.Thread):
    """Republishes every zone once per round, spread over `spread` seconds, as sweeps do."""

    def __init__(self, state: MonitorState, exporter: Exporter,
                 world: dict[str, dict[str, list[str]]], interval: float, spread: float) -> None:
        super().__init__(daemon=True)
        self.state, self.exporter, self.world = state, exporter, world
        self.interval, self.spread = interval, spread
        self.stop = threading.Event()
        self.sweeping = threading.Event()  # set while a round publishes
        self.rounds = 0
        self.rng = random.Random(16)
        self.collector = CollectorPace()  # as `ccmon run` paces it; ticked by this thread

    def publish_round(self, pause: float = 0.0) -> bool:
        """Publish every zone once; False if stopped midway."""
        serial = 2026113000 + self.rounds
        for zone, servers in self.world.items():
            if self.stop.is_set():
                return False
            report = root_report(zone, servers, time.time(), self.rng, serial)
            totals = self.state.snapshot.totals.get(zone, ZoneTotals()).add_report(report)
            self.state.publish(report, totals, ZoneHistory())
            self.exporter.collector.warm(zone)
            self.collector.collect_due()
            if pause:
                time.sleep(pause)
        return True

    def run(self) -> None:
        pause = self.spread / max(1, len(self.world))
        while not self.stop.is_set():
            start = time.monotonic()
            self.sweeping.set()
            done = self.publish_round(pause)
            self.sweeping.clear()
            if not done:
                return
            self.rounds += 1
            self.stop.wait(max(0.0, self.interval - (time.monotonic() - start)))


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
    parser.add_argument("--world", choices=("cctld", "root"), default="cctld",
                        help="cctld: the lab's 309 ccTLDs with real sweeps; root: every TLD "
                             "of root.zone, synthetic reports (no DNS)")  # fmt: skip
    parser.add_argument("--spread", type=float, default=10.0,
                        help="root world: seconds over which a round publishes every zone")
    parser.add_argument("--keep-alive", action="store_true",
                        help="cctld world: scrape over one kept-alive connection, as "
                             "Prometheus does (default: a new connection per scrape)")
    parser.add_argument("--trace", action="store_true",
                        help="cctld world: also print where the scrapes' time went inside "
                             "ccmon (bench/scrape_trace: web thread CPU, run queue, blocked; "
                             "garbage collections)")  # fmt: skip
    args = parser.parse_args(argv)
    if args.world == "root":
        return main_root(args)

    scenario = load_scenario("scale")
    zones = [z.name for z in scenario.zones if not z.infra]
    with Lab(scenario, port=args.port) as lab, tempfile.TemporaryDirectory() as tmp:
        listen = f"127.0.0.1:{free_port()}"
        config = Path(tmp) / "config.yaml"
        config.write_text(demo_config_text(
            lab, str(Path(tmp) / "ccmon.sqlite"), listen, zones=zones,
            interval=f"{args.interval}s", jitter="0s",
        ))  # fmt: skip
        # CCMON_BENCH_PYTHONPATH: e.g. a sitecustomize.py that traces the child (diagnostics)
        extra = os.environ.get("CCMON_BENCH_PYTHONPATH", "")
        trace = Path(tmp) / "trace.json"
        if args.trace:  # after the caller's (whose sitecustomize.py may run the tracer's)
            extra = os.pathsep.join(filter(None, (extra, str(TRACER))))
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, (str(REPO), extra))),
               "CCMON_SCRAPE_TRACE": str(trace) if args.trace else ""}  # fmt: skip
        log = open(Path(tmp) / "ccmon.log", "wb")  # noqa: SIM115
        argv = [sys.executable, "-m", "monitor", "run", "--config", str(config)]
        proc = subprocess.Popen(argv, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
        url = f"http://{listen}/metrics"
        try:
            status, scrapes = measure(url, zones, args, lab)
        finally:
            proc.terminate()
            proc.wait(10)
            log.close()
        if args.trace:
            report_trace(json.loads(trace.read_text()), scrapes)
        return status


def main_root(args: argparse.Namespace) -> int:
    world = root_delegations()
    addresses = sum(len(a) for servers in world.values() for a in servers.values())
    pairs = sum(len(servers) for servers in world.values())
    print(f"root world: {len(world)} TLDs, {pairs} NS pairs, {addresses} (NS, address) rows "
          f"from {ROOT_ZONE}")  # fmt: skip
    state = MonitorState(Snapshot(zones=tuple(world), interval=args.interval))
    exporter = Exporter(state, build_version="bench")
    sweeper = RootSweeper(state, exporter, world, args.interval, args.spread)
    t = time.perf_counter()
    sweeper.publish_round()
    print(f"first publication of all zones: {time.perf_counter() - t:.2f} s")
    sweeper.collector.take_over()  # as `ccmon run` does once its state is loaded
    server = WebServer(make_app(state, exporter=exporter), f"127.0.0.1:{free_port()}")
    server.start()
    try:
        url = f"{server.url.rstrip('/')}/metrics"
        sweeper.start()
        return measure_root(url, args, sweeper, addresses)
    finally:
        sweeper.stop.set()
        sweeper.join(30)
        server.stop()


def measure_root(url: str, args: argparse.Namespace, sweeper: RootSweeper,
                 addresses: int) -> int:
    all_lat: list[float] = []
    during: list[float] = []
    body, wire = b"", 0
    started = time.monotonic()
    end = started + args.rounds * args.interval
    while time.monotonic() < end:
        sweeping = sweeper.sweeping.is_set()
        latency, body, wire = scrape(url)
        all_lat.append(latency)
        if sweeping and sweeper.sweeping.is_set():
            during.append(latency)
        time.sleep(args.every)
    report_exposition(body, wire, addresses, len(sweeper.world))
    rendered = sweeper.exporter.render_now()
    print(f"renders: {sweeper.exporter.renders} in {time.monotonic() - started:.0f} s, the last "
          f"took {rendered.seconds * 1000:.0f} ms (assembly + gzip)")  # fmt: skip
    print(f"sweep rounds published: {sweeper.rounds} (each: every zone over {args.spread:.0f} s)")
    print(summary("all scrapes (gzip)", all_lat) + f"; {load()}")
    print(summary("scrapes during a sweep round (gzip)", during) + f"; {load()}")
    ok = not during or pct(during, 99) <= args.limit
    return 0 if ok else 1


def report_exposition(body: bytes, wire: int, addresses: int, zones: int) -> None:
    """Series count, bytes plain and gzip, and the biggest families."""
    text = body.decode()
    per_family: dict[str, int] = {}
    current = ""
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            current = line.split()[2]
        elif line and not line.startswith("#"):
            per_family[current] = per_family.get(current, 0) + 1
    series = sum(per_family.values())
    zipped = len(gzip.compress(body, compresslevel=1)) if wire == len(body) else wire
    print(f"exposition: {series} series, {len(body)} bytes plain ({len(body) / 2**20:.1f} MiB), "
          f"{zipped} bytes gzip ({zipped / 2**20:.2f} MiB)")  # fmt: skip
    if addresses:
        print(f"per (zone, NS, address) row: {series / addresses:.1f} series all told; "
              f"{zones} zones")  # fmt: skip
    top = sorted(per_family.items(), key=lambda kv: -kv[1])[:12]
    print("largest families: " + ", ".join(f"{name} {n}" for name, n in top))


Scrape = tuple[float, float, bool]  # (wall time at the start, latency, during a sweep round)


def measure(url: str, zones: list[str], args: argparse.Namespace,
            lab: Lab) -> tuple[int, list[Scrape]]:
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
          f"ccmon interval {args.interval:.0f} s, no jitter; "
          f"{'one kept-alive connection' if args.keep_alive else 'a connection per scrape'}")
    get = KeptScraper(url) if args.keep_alive else scrape
    all_lat: list[float] = []
    during: list[float] = []
    stamps: list[tuple[float, float]] = []  # (latency, wall time at the start)
    scrapes: list[Scrape] = []
    body, wire = b"", 0
    end = time.monotonic() + args.rounds * args.interval
    while time.monotonic() < end:
        start = time.time()
        latency, body, wire = get(url)
        stamps.append((latency, start))
        all_lat.append(latency)
        counts = [float(v) for v in SWEEPS.findall(body.decode())]
        sweeping = bool(counts) and min(counts) != max(counts)
        if sweeping:
            during.append(latency)
        scrapes.append((start, latency, sweeping))
        time.sleep(args.every)
    text = body.decode()
    durations = [float(v) for v in DURATIONS.findall(text)]
    report_exposition(body, wire, 0, len(zones))
    if durations:
        print(f"sweep durations: median {statistics.median(durations):.2f} s, "
              f"max {max(durations):.2f} s over {len(durations)} zones")  # fmt: skip
    print(summary("all scrapes (gzip)", all_lat) + f"; {load()}")
    print(summary("scrapes during a sweep round (gzip)", during) + f"; {load()}")
    slowest = sorted(stamps, reverse=True)[:3]
    print("slowest scrapes (ms @ unix time): "
          + ", ".join(f"{lat * 1000:.0f} @ {at:.3f}" for lat, at in slowest))  # fmt: skip
    ok = not during or pct(during, 99) <= args.limit
    return (0 if ok else 1), scrapes


def report_trace(trace: dict[str, list[dict[str, Any]]], scrapes: list[Scrape]) -> None:
    """The server side of the scrapes during sweep rounds (bench/scrape_trace), each matched
    to its client-side latency: scrapes go one at a time, so a scrape's request is the one
    recorded after it started and before the next one started."""
    served = sorted((r for r in trace["requests"] if r["path"] == "/metrics"),
                    key=lambda r: r["at"])  # fmt: skip
    rows: list[tuple[float, dict[str, Any]]] = []
    starts = [start for start, _, _ in scrapes] + [float("inf")]
    for (start, latency, sweeping), until in zip(scrapes, starts[1:], strict=True):
        match = next((r for r in served if start <= r["at"] < until), None)
        if sweeping and match is not None:
            rows.append((latency, {**match, "start": start}))
    if not rows:
        print("trace: no scrape during a sweep round matched a served request")
        return
    for latency, row in rows:  # one clock (time.time) on both sides: the same machine
        accepted = row["at"] - row["middleware"] - (row["queued"] or 0.0)
        row["before_accept"] = accepted - row["start"]
        row["after_written"] = row["start"] + latency - row["at"]
    columns = {
        "client latency": [lat for lat, _ in rows],
        "client start to server accept (kept alive: to the request's turn)": [
            r["before_accept"] for _, r in rows],
        "body written to client done (client reading, its scheduling)": [
            r["after_written"] for _, r in rows],
        "server: accept to middleware": [r["queued"] or 0.0 for _, r in rows],
        "server: middleware (handler + body written)": [r["middleware"] for _, r in rows],
        "server: handler": [r["handler"] for _, r in rows],
        "web thread CPU": [r["cpu"] for _, r in rows],
        "web thread run queue (machine load)": [r["runq"] for _, r in rows],
        "web thread run queue before the request (its wake-up)": [
            r.get("runq_before") or 0.0 for _, r in rows],
        "web thread blocked (GIL, client reading)": [
            max(0.0, r["middleware"] - r["cpu"] - r["runq"]) for _, r in rows],
    }  # fmt: skip
    print(f"trace of the {len(rows)} scrapes during sweep rounds (ms):")
    for name, values in columns.items():
        print(f"  {name}: p50 {pct(values, 50) * 1000:.1f}, p90 {pct(values, 90) * 1000:.1f}, "
              f"max {max(values) * 1000:.1f}")  # fmt: skip
    for latency, row in sorted(rows, key=lambda row: -row[0])[:3]:
        pauses = [f"gen{g['generation']} {g['seconds'] * 1000:.1f}" for g in trace["gc"]
                  if row["start"] <= g["at"] and g["at"] - g["seconds"] <= row["start"] + latency]
        print(f"  slow scrape, {latency * 1000:.1f} ms: "
              + ", ".join(f"{k} {v * 1000:.1f}" for k, v in row.items()
                          if k not in ("at", "path", "start") and v is not None)
              + f"; gc pauses within it: {', '.join(pauses) or 'none'}")  # fmt: skip
    first = scrapes[0][0]
    for generation in (0, 1, 2):
        pauses = [g for g in trace["gc"] if g["generation"] == generation]
        if not pauses:
            continue
        longest = sorted(pauses, key=lambda g: -g["seconds"])[:4]
        print(f"  gc generation {generation}: {len(pauses)} collections, total "
              f"{sum(g['seconds'] for g in pauses) * 1000:.0f} ms "
              f"({sum(g['cpu'] for g in pauses) * 1000:.0f} ms CPU); longest (ms, CPU ms @ s "
              "after the first scrape): "
              + ", ".join(f"{g['seconds'] * 1000:.1f}, {g['cpu'] * 1000:.1f} @ "
                          f"{g['at'] - first:.1f}" for g in longest))  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
