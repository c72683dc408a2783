"""The status pages over HTTP (aiohttp's test server): the overview's cache, its content
negotiation and validators, the static files, and the per-zone page over a real store."""

from __future__ import annotations

import asyncio
import gzip
import re
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from monitor.snapshot import MonitorState, Snapshot, ZoneHistory, ZoneTotals
from monitor.store import Store
from monitor.web import PAGE_CACHE_KEY, make_app
from monitor.web.pages.cache import PageCache
from monitor.web.pages.serve import accepts_gzip
from monitor.web.pages.zone import StoreReader
from probes.model import Severity, ZoneReport
from tests.monitor import ccmon_fixtures as fx

ZONES = ("mx", "ke", "ec", "xn--fiqs8s", "fr")


def state_now() -> MonitorState:
    now = time.time()
    state = MonitorState(Snapshot(zones=ZONES, interval=60, started_at=now))
    for r in fx.all_reports(started_at=now - 5):
        state.publish(r, ZoneTotals().add_report(r), ZoneHistory(sweeps=4, available_sweeps=3))
    return state


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


Served = tuple[TestClient, MonitorState, PageCache, Clock]


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    state = state_now()
    app = make_app(state)
    cache, clock = app[PAGE_CACHE_KEY], Clock()
    cache.clock = clock
    cache.refresh_ahead = False  # these tests step the clock themselves
    # no automatic inflation: the tests look at the bytes on the wire
    async with TestClient(TestServer(app), auto_decompress=False,
                          headers={"Accept-Encoding": "identity"}) as client:
        yield client, state, cache, clock


def generated(body: bytes) -> str:
    found = re.search(rb"Generated ([0-9: -]+ UTC)", body)
    assert found, body[:300]
    return found.group(1).decode()


async def test_same_page_twice_without_rendering_again(served: Served) -> None:
    client, _state, cache, clock = served
    first = await client.get("/")
    body = await first.read()
    assert first.status == 200 and first.headers["Content-Type"] == "text/html; charset=utf-8"
    assert cache.renders == 1
    clock.now += cache.max_age - 1  # unchanged snapshot, still young enough
    second = await client.get("/")
    assert await second.read() == body and cache.renders == 1
    assert second.headers["ETag"] == first.headers["ETag"]
    assert first.headers["Cache-Control"] == "no-cache"
    assert "Accept-Encoding" in first.headers["Vary"]
    assert "Last-Modified" in first.headers


async def test_gzip_only_when_asked(served: Served) -> None:
    client, *_ = served
    plain = await client.get("/", headers={"Accept-Encoding": "identity"})
    raw = await plain.read()
    assert "Content-Encoding" not in plain.headers and raw.startswith(b"<!DOCTYPE html>")
    zipped = await client.get("/", headers={"Accept-Encoding": "br, gzip;q=0.8"})
    wire = await zipped.read()
    assert zipped.headers["Content-Encoding"] == "gzip" and wire[:2] == b"\x1f\x8b"
    assert gzip.decompress(wire) == raw and len(wire) < len(raw) / 3
    assert zipped.headers["ETag"] != plain.headers["ETag"]  # one validator per encoding
    refused = await client.get("/", headers={"Accept-Encoding": "gzip;q=0, *"})
    assert "Content-Encoding" not in refused.headers and await refused.read() == raw


def test_accept_encoding_rules() -> None:
    assert accepts_gzip("gzip") and accepts_gzip("deflate, gzip;q=0.5") and accepts_gzip("*")
    assert accepts_gzip("GZIP") and accepts_gzip("x-gzip")
    for refused in ("", "identity", "br", "gzip;q=0", "gzip; q=0.0", "*;q=0", "gzip;q=x"):
        assert not accepts_gzip(refused), refused


async def test_conditional_get_answers_304(served: Served) -> None:
    client, _state, cache, _clock = served
    first = await client.get("/", headers={"Accept-Encoding": "gzip"})
    await first.read()
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    again = await client.get("/", headers={"Accept-Encoding": "gzip", "If-None-Match": etag})
    assert again.status == 304 and await again.read() == b""
    assert again.headers["ETag"] == etag
    stale = await client.get("/", headers={"Accept-Encoding": "gzip", "If-None-Match": '"x"'})
    assert stale.status == 200
    by_date = await client.get("/", headers={"If-Modified-Since": modified})
    assert by_date.status == 304
    assert cache.renders == 1


async def test_new_snapshot_renders_again(served: Served) -> None:
    client, state, cache, clock = served
    before = await (await client.get("/")).read()
    assert b"ns9.ec." not in before
    newer = fx.report("ec", fx.ok("ns1.ec.", "127.53.3.1") + fx.ok("ns9.ec.", "127.53.3.9"),
                      started_at=time.time() - 1)
    state.publish(newer, ZoneTotals(), ZoneHistory())
    # within min_interval of the last render: the page is not re-rendered yet
    clock.now += cache.min_interval / 2
    assert await (await client.get("/")).read() == before and cache.renders == 1
    # past min_interval: the old page is served while the new one renders behind it
    clock.now += cache.min_interval
    assert await (await client.get("/")).read() == before
    await cache.settled()
    after = await (await client.get("/")).read()
    assert b"ns9.ec." in after and cache.renders == 2
    # unchanged snapshot, but older than max_age: rendered again before it is served
    clock.now += cache.max_age + 1
    state.snapshot = replace(state.snapshot)  # same content, new object: changed
    newest = await (await client.get("/")).read()
    assert cache.renders == 3 and b"ns9.ec." in newest


async def test_renders_ahead_while_viewed_and_not_when_idle() -> None:
    state = state_now()
    app = make_app(state)
    cache = app[PAGE_CACHE_KEY]
    cache.min_interval, cache.max_age, cache.idle_after = 0.1, 5.0, 0.6
    async with TestClient(TestServer(app), headers={"Accept-Encoding": "identity"}) as client:
        await (await client.get("/")).read()
        assert cache.renders == 1
        newer = fx.report("ec", fx.ok("ns9.ec.", "127.53.3.9"), started_at=time.time() - 1)
        state.publish(newer, ZoneTotals(), ZoneHistory())
        deadline = time.monotonic() + 3
        while cache.renders < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert cache.renders == 2  # rendered with no request waiting for it
        body = await (await client.get("/")).read()
        assert b"ns9.ec." in body and cache.renders == 2  # served as rendered ahead
        await asyncio.sleep(cache.idle_after + 3 * cache.min_interval)  # nobody looks
        idle = cache.renders
        state.publish(fx.ec_report(time.time()), ZoneTotals(), ZoneHistory())
        await asyncio.sleep(5 * cache.min_interval)
        assert cache.renders == idle  # no rendering for nobody
    assert cache._refresher is None or cache._refresher.done()  # stopped at cleanup


async def test_renders_are_shared_by_concurrent_requests(served: Served) -> None:
    client, _state, cache, _clock = served
    answers = await asyncio.gather(*(client.get("/") for _ in range(8)))
    bodies = {await a.read() for a in answers}
    assert len(bodies) == 1 and cache.renders == 1


async def test_static_files(served: Served) -> None:
    client, *_ = served
    page = await (await client.get("/")).read()
    assert b'<link rel="stylesheet" href="static/ccmon.css">' in page
    assert b'<script src="static/status.js" defer></script>' in page
    assert b"<style" not in page and b" onclick=" not in page and b"<script>" not in page
    css = await client.get("/static/ccmon.css")
    assert css.status == 200 and css.headers["Content-Type"].startswith("text/css")
    assert b".s-down" in await css.read()
    js = await client.get("/static/status.js", headers={"Accept-Encoding": "gzip"})
    assert js.headers["Content-Type"].startswith("text/javascript")
    assert b"aria-sort" in gzip.decompress(await js.read())
    for missing in ("/static/nope.js", "/static/..%2Fweb.py", "/static/"):
        assert (await client.get(missing)).status == 404, missing


async def test_head_and_the_json_api_stay(served: Served) -> None:
    client, *_ = served
    head = await client.head("/")
    assert head.status == 200 and await head.read() == b""
    api = await client.get("/api/v1/zones/mx")
    assert api.status == 200 and (await api.json())["zone"] == "mx"


# --- the per-zone page ------------------------------------------------------------------


def healthy_mx(started_at: float) -> ZoneReport:
    servers = fx.ok("ns1.mx.", "127.53.1.1") + fx.ok("ns2.mx.", "127.53.1.2")
    return fx.report("mx", servers, started_at=started_at, dnssec="secure")


ZoneClient = tuple[TestClient, float]


@pytest.fixture
async def zone_client(tmp_path: Path) -> AsyncIterator[ZoneClient]:
    now = time.time()
    store = Store(str(tmp_path / "ccmon.sqlite"), retention=7 * 86400)
    state = MonitorState(Snapshot(zones=ZONES, interval=60, started_at=now - 3 * 86400))
    reports = [
        healthy_mx(now - 2 * 86400),  # older than a day: not on the page
        healthy_mx(now - 7200),
        healthy_mx(now - 3600),
        fx.mx_report(now - 1800),  # ns3 turns lame, ns2 opens AXFR...
        fx.mx_report(now - 60),
    ]
    for r in reports:
        stored, history = store.record_sweep(r, ZoneTotals())
        state.publish(stored, ZoneTotals(), history)
    for ke in (fx.ke_report(now - 2 * 86400), fx.ke_report(now - 30)):  # stale all along
        stored, history = store.record_sweep(ke, ZoneTotals())
        state.publish(stored, ZoneTotals(), history)
    reader = StoreReader(store, asyncio.get_running_loop())
    try:
        async with TestClient(TestServer(make_app(state, store=reader))) as client:
            yield client, now
    finally:
        store.close()


def section(page: str, start: str, end: str | None = None) -> str:
    return page[page.index(start):page.index(end) if end else None]


async def test_zone_page_servers_findings_and_history(zone_client: ZoneClient) -> None:
    client, now = zone_client
    resp = await client.get("/zone/mx")
    assert resp.status == 200 and resp.content_type == "text/html"
    page = await resp.text()
    servers = section(page, 'id="servers"', 'id="h-findings"')
    for text in ("ns3.mx.", "lame: refused", "mx1-ams", "mx1-fra", "do: no-do",
                 "in 3 d ", "OPEN", "valid"):
        assert text in servers, text
    findings = section(page, 'id="findings"', 'id="h-history"')
    since = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(now - 1800))
    lame_row = next(r for r in findings.split("<tr>") if "LAME01" in r)
    assert since in lame_row and "30 min" in lame_row  # open since the first lame sweep
    history = section(page, 'id="history"')
    rows = [r for r in history.split("<tr>")[1:] if "<td>" in r]
    assert len(rows) == 2, rows  # two periods: lame since 30 min, healthy before
    assert "b-error" in rows[0] and "<td>2</td>" in rows[0] and "LAME01 ns3.mx." in rows[0]
    assert "b-ok" in rows[1] and "<td>2</td>" in rows[1] and "none" in rows[1]
    old = time.strftime("%Y-%m-%d %H:%M", time.gmtime(now - 2 * 86400))
    assert old not in history  # the sweep older than the day shown is not in the periods
    assert old in servers  # but ns1 serves its serial since then (the store's server_serials)
    assert 'href="../api/v1/zones/mx"' in page and 'href="../static/ccmon.css"' in page


async def test_zone_page_serial_since_and_names(zone_client: ZoneClient) -> None:
    client, now = zone_client
    page = await (await client.get("/zone/ke")).text()
    assert "2024010100 (5 behind)" in page
    assert "serial 2024010105: first seen" in page
    # SOA01 holds in every sweep of the day shown, and older sweeps are stored: "before"
    lag = next(r for r in section(page, 'id="findings"', 'id="h-history"').split("<tr>")
               if "SOA01" in r)
    since = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(now - 30))
    assert re.search(rf"before {since} \(3\d s or more\)", lag), lag
    assert (await client.get("/zone/KE.")).status == 200
    idn = await client.get("/zone/中国")
    assert idn.status == 200 and "waiting" in (await idn.text()).lower()  # pending
    for unknown in ("nosuch", "a..b", "-"):
        assert (await client.get(f"/zone/{unknown}")).status == 404, unknown
    overview = await (await client.get("/")).text()
    assert '<a href="zone/mx">mx</a>' in overview and "api/v1/zones/mx" not in overview


async def test_zone_page_without_a_store() -> None:
    async with TestClient(TestServer(make_app(state_now()))) as client:
        page = await (await client.get("/zone/mx")).text()
    assert "No stored history on this server." in page and "ns3.mx." in page


def test_severity_names_in_history_badges() -> None:
    assert {s.name.lower() for s in Severity} >= {"ok", "error", "critical"}


async def test_zone_page_in_the_running_service(tmp_path: Path) -> None:
    """`ccmon run`'s wiring: the page reads the service's store on the service's loop."""
    from monitor.config import Config, ScheduleConfig, StoreConfig, WebConfig
    from monitor.service import Service

    cfg = Config(zones=("mx", "ke"), schedule=ScheduleConfig(interval=0.3, jitter=0.0),
                 store=StoreConfig(path=str(tmp_path / "ccmon.sqlite"), retention=3600),
                 web=WebConfig(listen="127.0.0.1:0", web_config_file=None))
    service = Service(cfg, lambda settings: fx.FakeProber())
    task = asyncio.create_task(service.serve())
    try:
        await asyncio.wait_for(service.ready.wait(), 5)
        assert service.web is not None
        await asyncio.sleep(1.2)  # a few sweeps of 0.3 s
        async with (aiohttp.ClientSession() as session,
                    session.get(service.web.url + "zone/mx") as resp):
            page = await resp.text()
            assert resp.status == 200
        history = section(page, 'id="history"')
        runs = re.findall(r"</td><td>(\d+)</td><td><span class=\"badge", history)
        assert runs and sum(map(int, runs)) >= 2, history  # the stored sweeps, from the store
        lame = next(r for r in section(page, 'id="findings"', 'id="h-history"').split("<tr>")
                    if "LAME01" in r)
        # open since the service's first sweep: a time, not "before" (nothing older stored)
        opened = r"<td>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC \(\d+(\.\d)? s\)</td>"
        assert re.search(opened, lame), lame
        # the SLA report's plots of the zone, drawn from the same store (issue 15)
        plots = section(page, 'id="h-plots"')
        assert plots.count("<svg") >= 3 and "ns3.mx." in plots, plots[:2000]
    finally:
        service.stop()
        assert await asyncio.wait_for(task, 5) == 0


async def test_zone_page_when_the_store_loop_is_stuck(tmp_path: Path) -> None:
    """A sweep holding the store's loop must not turn the page into an error."""
    store = Store(str(tmp_path / "ccmon.sqlite"), retention=3600)
    stuck = asyncio.new_event_loop()  # never runs: the read is never served
    try:
        reader = StoreReader(store, stuck, timeout=0.3)
        async with TestClient(TestServer(make_app(state_now(), store=reader))) as client:
            t = time.monotonic()
            resp = await client.get("/zone/mx")
            page = await resp.text()
            elapsed = time.monotonic() - t
        assert resp.status == 200 and "ns3.mx." in page
        assert "could not be read just now" in page
        assert elapsed < 0.3 + 1.0  # the timeout, plus a generous second for the render
    finally:
        stuck.close()
        store.close()
