"""HTTP endpoints through aiohttp's test client, the status page, malformed requests."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer

from monitor.status import MonitorState, Snapshot, ZoneHistory, ZoneTotals
from monitor.web import WebServer, make_app, parse_listen, render_status_page
from tests.monitor import ccmon_fixtures as fx

ZONES = ("mx", "ke", "ec", "xn--fiqs8s", "fr")


def state_now() -> MonitorState:
    now = time.time()
    state = MonitorState(Snapshot(zones=ZONES, interval=60, started_at=now))
    for r in fx.all_reports(started_at=now - 5):
        state.publish(r, ZoneTotals().add_report(r), ZoneHistory(sweeps=4, available_sweeps=3))
    return state


@pytest.fixture
async def client() -> AsyncIterator[TestClient]:
    async with TestClient(TestServer(make_app(state_now()))) as c:
        yield c


async def test_metrics(client: TestClient) -> None:
    resp = await client.get("/metrics")
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("text/plain")
    text = await resp.text()
    assert 'ccmon_nameserver_lame{address="127.53.1.3",dns_zone="mx",nameserver="ns3.mx.",' \
           'reason="refused"} 1.0' in text  # fmt: skip
    assert "process_resident_memory_bytes" in text
    resp = await client.get("/metrics", headers={"Accept": "application/openmetrics-text"})
    assert resp.headers["Content-Type"].startswith("application/openmetrics-text")
    assert (await resp.text()).rstrip().endswith("# EOF")
    resp = await client.get("/metrics", headers={"Accept-Encoding": "gzip"})
    assert resp.headers.get("Content-Encoding") == "gzip"
    assert "ccmon_build_info" in await resp.text()  # the client inflates


async def test_healthz() -> None:
    state = state_now()
    async with TestClient(TestServer(make_app(state))) as c:
        resp = await c.get("/healthz")
        assert resp.status == 200 and (await resp.json())["status"] == "ok"
        old = time.time() - 1000
        state.snapshot = Snapshot(zones=ZONES, interval=60, started_at=old,
                                  reports={"mx": fx.mx_report(started_at=old)})  # fmt: skip
        resp = await c.get("/healthz")
        assert resp.status == 503 and (await resp.json())["status"] == "unhealthy"


async def test_api_zones(client: TestClient) -> None:
    data = await (await client.get("/api/v1/zones")).json()
    by_zone = {z["zone"]: z for z in data["zones"]}
    assert list(by_zone) == list(ZONES)
    assert by_zone["fr"]["status"] == "pending"
    assert by_zone["mx"]["lame"] == 1 and by_zone["mx"]["available"] is True
    assert by_zone["xn--fiqs8s"]["name"] == "中国"
    assert by_zone["mx"]["availability"] == 0.75


async def test_api_zone_detail(client: TestClient) -> None:
    for path in ("/api/v1/zones/mx", "/api/v1/zones/MX.", "/api/v1/zones/mx."):
        resp = await client.get(path)
        assert resp.status == 200, path
        data = await resp.json()
        assert data["report"]["zone"] == "mx"
    servers = {(s["nameserver"], s["address"]): s for s in data["servers"]}
    assert servers[("ns3.mx.", "127.53.1.3")]["lame_reason"] == "refused"
    resp = await client.get("/api/v1/zones/中国")
    assert resp.status == 200 and (await resp.json())["zone"] == "xn--fiqs8s"
    resp = await client.get("/api/v1/zones/fr")
    assert (await resp.json())["status"] == "pending"
    for unknown in ("nosuch", "%ff%fe", "a" * 300, "-", "a..b"):
        resp = await client.get(f"/api/v1/zones/{unknown}")
        assert resp.status == 404, unknown
        assert json.loads(await resp.text()) == {"error": "unknown zone"}


async def test_status_page(client: TestClient) -> None:
    resp = await client.get("/")
    assert resp.status == 200 and resp.content_type == "text/html"
    page = await resp.text()
    for text in ("ns3.mx.", "127.53.1.3", "lame: refused", "中国", "Registry comparison",
                 "700 ms", "2024010100", "waiting for the first sweep", "<svg"):  # fmt: skip
        assert text in page, text
    assert "xn--fiqs8s</a>" not in page  # U-labels shown, not A-labels
    assert "http://" not in page and "https://" not in page  # no external assets


def test_status_page_escapes() -> None:
    evil = fx.report("mx", fx.lame("<script>x</script>.", "127.0.0.1"))
    state = MonitorState(Snapshot(zones=("mx",)))
    state.publish(evil, ZoneTotals(), ZoneHistory())
    page = render_status_page(state.snapshot)
    assert "<script>x</script>" not in page and "&lt;script&gt;" in page


async def test_other_methods_and_paths(client: TestClient) -> None:
    assert (await client.post("/metrics", data=b"x")).status == 405
    assert (await client.get("/nope")).status == 404
    assert (await client.head("/metrics")).status == 200


async def raw_exchange(port: int, data: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    await writer.drain()
    try:
        return await asyncio.wait_for(reader.read(4096), 5)
    finally:
        writer.close()


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GARBAGE\r\n\r\n",
        b"GET / HTTP/9.9\r\n\r\n",
        b"GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
        b"GET /\x00 HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET / HTTP/1.1\r\n" + b"X-Long: " + b"a" * 100_000 + b"\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64,  # TLS to a plain port
    ],
)
def test_malformed_requests_get_4xx(request_bytes: bytes) -> None:
    server = WebServer(make_app(state_now()), "127.0.0.1:0")
    server.start()
    try:
        port = server.addresses[0][1]
        answer = asyncio.run(raw_exchange(port, request_bytes))
        assert answer.startswith(b"HTTP/1.") and answer.split(b" ")[1][:1] == b"4", answer[:80]
        ok = asyncio.run(raw_exchange(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"))
        assert b" 200 " in ok.split(b"\r\n")[0]  # still serving
    finally:
        server.stop()


def test_parse_listen() -> None:
    assert parse_listen("127.0.0.1:9153") == ("127.0.0.1", 9153)
    assert parse_listen("[::1]:9153") == ("::1", 9153)
    assert parse_listen(":9153") == (None, 9153)
    for bad in ("9153", "host", "1.2.3.4:99999"):
        with pytest.raises(ValueError):
            parse_listen(bad)


def test_webserver_reports_bind_error() -> None:
    first = WebServer(make_app(state_now()), "127.0.0.1:0")
    first.start()
    try:
        port = first.addresses[0][1]
        second = WebServer(make_app(state_now()), f"127.0.0.1:{port}")
        with pytest.raises(OSError):
            second.start()
    finally:
        first.stop()
