"""ccmon report end to end (issue 15): a real lab run with a known outage, then a month.

Real part: a lab zone `ee` (NSD/Knot primary ns1, fault-server ns2 healthy, fault-server ns3
refusing: lame all along) swept by the monitor's Service every 2 s; ns2 goes silent for
OUTAGE seconds (start and end stamped here). The report, made by the real command
(`python -m monitor report`) from the store the Service wrote, shows ns2's downtime as the
outage +/- one interval, the zone's likewise (only ns1 answers then), ns3 lame throughout.

Synthetic part (said so): the real reports the Service produced (captured as the prober
returned them), time-shifted onto five days of 1-minute sweeps in a second store: healthy
reports, with the outage reports for exactly MONTH_OUTAGE minutes and, for VANTAGE_OFF
minutes, the healthy reports turned into "nothing measured" (our vantage point offline).
The report shows the outage minutes +/- one interval and the vantage minutes excluded and
stated; its HTML renders in headless Chromium with JavaScript off, plots present.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import shutil
import struct
import subprocess
import sys
import time
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from lab import Lab, parse_scenario
from monitor.config import parse_config
from monitor.service import Service
from probes.model import ZoneReport
from probes.sweep import Prober
from tests.monitor.sla_fixtures import build_store
from tests.monitor.stack_helpers import CHROMIUM_FLAGS, missing
from tests.support import free_port, lab_started

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
INTERVAL = 2.0  # s between two sweeps
OUTAGE = 20.0  # s ns2 is silent in the real run
MARGIN = 0.5  # s: switching the fault and the sweep's own duration around the edges
NS1, NS2, NS3 = "127.65.1.1", "127.65.1.2", "127.65.1.3"
MONTH_OUTAGE = 45  # minutes of outage reports in the synthetic days
VANTAGE_OFF = range(3000, 3060)  # minutes (one whole hour) the vantage point measured nothing
DAYS = 5
DAY0 = int(dt.datetime(2026, 10, 1, tzinfo=dt.UTC).timestamp())

SCENARIO = {
    "name": "sla",
    "description": "one zone, one server with a known outage, one lame server",
    "serial": 2026110101,
    "root": {"ns": "a.root-servers.net.", "address": "127.65.0.1", "software": "nsd"},
    "resolver": {"address": "127.65.0.2"},
    "relay": "127.65.0.4",
    "zones": [
        {"zone": "ee", "servers": [
            {"ns": "ns1.eenet.ee.", "address": NS1, "software": "knot", "role": "primary"},
            {"ns": "ns2.eenet.ee.", "address": NS2, "software": "fault", "fault": "none"},
            {"ns": "ns3.eenet.ee.", "address": NS3, "software": "fault", "fault": "refused"},
        ]},
    ],
}  # fmt: skip


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    port = int(os.environ.get("CCMON_LAB_PORT") or free_port())
    lab = Lab(parse_scenario(SCENARIO), port=port, workdir=tmp_path_factory.mktemp("lab"))
    lab_started(lab)
    try:
        yield lab
    finally:
        lab.stop()


class RecordingProber:
    """The real prober; keeps every report it returned (the synthetic month replays them)."""

    def __init__(self, settings) -> None:
        self.inner = Prober(settings)
        self.reports: list[ZoneReport] = []

    async def __aenter__(self) -> RecordingProber:
        await self.inner.__aenter__()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.inner.__aexit__(*exc)

    async def sweep(self, zone: str) -> ZoneReport:
        report = await self.inner.sweep(zone)
        self.reports.append(report)
        return report


def config_text(lab: Lab, store: Path) -> str:
    return "\n".join([
        "zones: [ee]",
        f"parent: [{lab.root_address}]",
        f"resolver: [{lab.resolver_address}]",
        f"resolver_port: {lab.port}",
        f"port: {lab.port}",
        "probe: {udp_timeout: 400ms, udp_tries: 1, tcp_timeout: 800ms}",
        f"schedule: {{interval: {INTERVAL:g}s, jitter: 0s, allow_fast_interval: true}}",
        f"store: {{path: {store}}}",
        f"web: {{listen: '127.0.0.1:{free_port()}'}}",
        "",
    ])  # fmt: skip


def ccmon_report(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "monitor", "report", *argv],
        capture_output=True, text=True, timeout=60, cwd=REPO,
    )  # fmt: skip


def hour(t: float, up: bool = False) -> str:
    t = (t // 3600 + (1 if up else 0)) * 3600
    return dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%dT%H:%M")


@pytest.fixture(scope="module")
def run(world: Lab, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The real run: healthy, OUTAGE seconds of ns2 silent, healthy again."""
    tmp = tmp_path_factory.mktemp("run")
    store = tmp / "ccmon.sqlite"
    config = parse_config(config_text(world, store), "sla.yaml")
    probers: list[RecordingProber] = []

    def factory(settings):
        probers.append(RecordingProber(settings))
        return probers[-1]

    async def main() -> dict:
        service = Service(config, factory)
        task = asyncio.create_task(service.serve())
        await asyncio.wait_for(service.ready.wait(), 15)
        await asyncio.sleep(5 * INTERVAL)
        world.set_fault(NS2, "silent")
        off = time.time()
        await asyncio.sleep(OUTAGE)
        world.clear_fault(NS2)
        on = time.time()
        await asyncio.sleep(4 * INTERVAL)
        service.stop()
        assert await asyncio.wait_for(task, 10) == 0
        return {"off": off, "on": on}

    stamps = asyncio.run(main())
    (prober,) = probers
    return {**stamps, "store": store, "reports": prober.reports, "tmp": tmp}


def servers(doc: dict) -> dict[str, dict]:
    (zone,) = doc["zones"]
    return {s["address"]: s for s in zone["servers"]}


def test_real_run_outage_minutes_within_one_interval(run: dict):
    reports: list[ZoneReport] = run["reports"]
    assert len(reports) >= 15
    first, last = reports[0].started_at, reports[-1].started_at
    result = ccmon_report("--store.path", str(run["store"]), "--format", "json",
                          "--from", hour(first), "--to", hour(last, up=True))  # fmt: skip
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    (zone,) = doc["zones"]
    by = servers(doc)
    outage_min = (run["on"] - run["off"]) / 60
    tolerance = (INTERVAL + MARGIN) / 60
    during = [round(r.started_at - run["off"], 2) for r in reports
              if run["off"] - INTERVAL < r.started_at < run["on"] + INTERVAL]  # fmt: skip
    why = f"outage {outage_min:.3f} min, sweeps around it at {during}, doc {by[NS2]}"
    assert zone["sweep_interval_seconds"] == pytest.approx(INTERVAL, abs=0.05), why
    assert by[NS2]["downtime_minutes"] == pytest.approx(outage_min, abs=tolerance), why
    assert by[NS1]["downtime_minutes"] == 0
    # the zone: ns1 the only name server up during the outage (ns3 is lame): unavailable
    assert zone["downtime_minutes"] == pytest.approx(outage_min, abs=tolerance)
    assert zone["meets_spec10"] is False
    measured = zone["measured_minutes"]  # minutes are rounded to 0.01 in the document
    assert zone["availability_percent"] == pytest.approx(
        100 * (measured - zone["downtime_minutes"]) / measured, abs=100 * 0.01 / measured)
    # ns3 refused every sweep: lame (and so down) all its measured minutes
    assert by[NS3]["lame_minutes"] == by[NS3]["measured_minutes"] > 0
    assert set(by[NS3]["lame_reasons"]) == {"refused"}
    # no vantage trouble in the lab: nothing unmeasured, and the report says so
    assert doc["vantage_unmeasured_zone_minutes"] == 0
    assert zone["udp_rtt_answers"] > 0 and zone["udp_rtt_p95_ms"] is not None


def shifted(report: ZoneReport, minute: int) -> ZoneReport:
    return replace(report, started_at=DAY0 + 60.0 * minute)


def unmeasured(report: ZoneReport) -> ZoneReport:
    """The report as a sweep that measured nothing (our vantage point offline)."""
    rows = tuple(
        replace(s, measured=False, answered=False, authoritative=False, rtt=None, serial=None,
                within_threshold=False)
        for s in report.servers
    )  # fmt: skip
    return replace(report, servers=rows, unknown=True, rtts={},
                   unmeasured=tuple(sorted({s.address for s in rows})))  # fmt: skip


@pytest.fixture(scope="module")
def month(run: dict) -> Path:
    reports: list[ZoneReport] = run["reports"]
    healthy = [r for r in reports if r.started_at + r.duration < run["off"]
               or r.started_at > run["on"] + 0.5]  # fmt: skip
    outage = [r for r in reports if run["off"] + 0.5 < r.started_at < run["on"] - 1.0]
    assert healthy and outage
    start = 700

    def at(minute: int) -> ZoneReport:
        if start <= minute < start + MONTH_OUTAGE:
            return shifted(outage[minute % len(outage)], minute)
        report = shifted(healthy[minute % len(healthy)], minute)
        return unmeasured(report) if minute in VANTAGE_OFF else report

    return build_store(run["tmp"] / "month.sqlite", (at(m) for m in range(DAYS * 1440)))


PERIOD = ("--from", "2026-10-01", "--to", "2026-10-05")


def test_synthetic_days_outage_and_vantage_minutes(month: Path):
    result = ccmon_report("--store.path", str(month), "--format", "json", *PERIOD)
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    (zone,) = doc["zones"]
    by = servers(doc)
    assert zone["sweep_interval_seconds"] == 60.0
    assert by[NS2]["downtime_minutes"] == pytest.approx(MONTH_OUTAGE, abs=1)
    assert zone["downtime_minutes"] == pytest.approx(MONTH_OUTAGE, abs=1)
    measured = DAYS * 1440 - len(VANTAGE_OFF)
    assert zone["measured_minutes"] == measured
    assert zone["unmeasured_minutes"] == len(VANTAGE_OFF)
    assert doc["vantage_unmeasured_zone_minutes"] == len(VANTAGE_OFF)
    assert zone["availability_percent"] == pytest.approx(
        100 * (measured - zone["downtime_minutes"]) / measured, abs=1e-4)
    assert by[NS2]["unmeasured_minutes"] == len(VANTAGE_OFF)
    assert by[NS2]["downtime_limit_minutes"] == 72.0  # 432 min / 30 days x 5 days
    assert by[NS2]["meets_spec10"] is True


def png_pixels(path: Path) -> Counter[tuple[int, int, int]]:
    """RGB colour -> pixels, of an 8-bit RGB/RGBA non-interlaced PNG (Chromium's)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width = 8, b"", 0
    channels = 4
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, _height, depth, ctype, _c, _f, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and ctype in (2, 6) and interlace == 0
            channels = 3 if ctype == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * channels
    prev = bytearray(stride)
    colours: Counter[tuple[int, int, int]] = Counter()
    for y in range(len(raw) // (stride + 1)):
        row = raw[y * (stride + 1) : (y + 1) * (stride + 1)]
        ftype, line = row[0], bytearray(row[1:])
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b, c = prev[i], prev[i - channels] if i >= channels else 0
            if ftype == 1:
                line[i] = (line[i] + a) & 255
            elif ftype == 2:
                line[i] = (line[i] + b) & 255
            elif ftype == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif ftype == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else b if pb <= pc else c
                line[i] = (line[i] + pred) & 255
        for x in range(0, stride, channels):
            colours[(line[x], line[x + 1], line[x + 2])] += 1
        prev = line
    return colours


def pixels(colours: Counter[tuple[int, int, int]], hex_colour: str, slack: int = 6) -> int:
    """Pixels of about this colour (the legend's swatches alone are 12 x 12 = 144 each)."""
    want = tuple(int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return sum(n for c, n in colours.items() if all(abs(c[k] - want[k]) <= slack
                                                     for k in range(3)))  # fmt: skip


def test_html_renders_without_javascript_plots_present(month: Path, run: dict):
    html = run["tmp"] / "report.html"
    result = ccmon_report("--store.path", str(month), *PERIOD, "--out", str(html))
    assert result.returncode == 0, result.stderr
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        missing("chromium is not installed (Debian: chromium)")
    shot = REPO / "tests" / "artifacts" / "sla-report.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    shot.unlink(missing_ok=True)
    # No JavaScript needed: the page's one optional script (sorting the ranking) removed,
    # the page is what the browser shows. (Chromium's --dump-dom and --screenshot do not
    # work with scripts disabled in its settings, so the script goes instead.)
    text = html.read_text(encoding="utf-8")
    assert text.count("<script>") == 1
    bare = run["tmp"] / "report-nojs.html"
    bare.write_text(text[: text.index("<script>")] + text[text.index("</script>") + 9 :])
    base = [str(binary), *CHROMIUM_FLAGS, "--window-size=1200,2400"]
    dom = subprocess.run(
        [*base, f"--user-data-dir={run['tmp'] / 'chrome-dom'}", "--dump-dom", bare.as_uri()],
        capture_output=True, timeout=60, check=True,
    ).stdout.decode()  # fmt: skip
    assert dom.count('class="plot"') == 4 and "Ranking" in dom and "<script" not in dom
    subprocess.run(
        [*base, f"--user-data-dir={run['tmp'] / 'chrome-shot'}", f"--screenshot={shot}",
         bare.as_uri()],
        capture_output=True, timeout=60, check=True,
    )  # fmt: skip
    colours = png_pixels(shot)
    # strips 720 px wide x 14 px: the answered servers and calendar days, ns3 lame all along
    assert pixels(colours, "#009E73") > 2 * 700 * 14
    assert pixels(colours, "#CC79A7") > 700 * 14
    # the hour our vantage point measured nothing: 6 px x 14 px on 3 strips, + the swatch
    assert pixels(colours, "#BBBBBB") > 144 + 200
    assert pixels(colours, "#D55E00") + pixels(colours, "#E69F00") > 144 * 2  # the outage
    strip = dom.split('aria-label="ee: state per server address')[1].split("</svg>")[0]
    assert strip.count('data-state="unmeasured"') == 3
