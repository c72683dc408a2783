"""HTTP endpoints through aiohttp's test client, the status page, malformed requests."""

from __future__ import annotations

import asyncio
import gzip
import json
import time
from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer

from monitor.snapshot import MonitorState, Snapshot, ZoneHistory, ZoneTotals
from monitor.web import (
    WebServer,
    expiry_text,
    make_app,
    parse_listen,
    render_status_page,
)
from monitor.web.routes import accepts_classic_text
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


async def test_status_page_further_checks(client: TestClient) -> None:
    page = await (await client.get("/")).text()
    mx = page[page.index('id="zone-mx"'):page.index('id="zone-ke"')]
    assert "DNSSEC secure" in mx and "signatures expire in 3 d 4 h" in mx
    assert 'class="exp ok"' in mx
    # every detail is visible text in the cell, none only in a title= tooltip
    for text in ('<div class="nsid">NSID mx1-ams</div>', '<div class="nsid">NSID mx1-fra</div>',
                 '<div class="sig lvl-ok">sigs expire in 3 d 4 h</div>',
                 ">AXFR open<", ">open resolver<", ">EDNS do<"):
        assert text in mx, text
    assert "title=" not in mx
    assert "EDNS01: the named EDNS tests failed" in page  # the marks' legend
    ke = page[page.index('id="zone-ke"'):page.index('id="zone-ec"')]
    assert "DNSSEC unsigned" in ke and "signatures" not in ke and 'class="flag"' not in ke
    assert "DNSSEC unknown" in page  # ec: no further queries yet
    findings = page[page.index('id="findings"'):page.index('id="comparison"')]
    for check in ("SEC01", "SEC02", "EDNS01"):
        assert f"<td>{check}</td>" in findings, check
    comparison = page[page.index('id="comparison"'):]
    assert 'data-col="9" disabled>DNSSEC</button></th>' in comparison  # a sort button each
    assert 'secure</span> 3/3 valid' in comparison
    assert "1 AXFR, 1 recursive, 1 EDNS" in comparison
    rows = comparison.split("<tr>")[2:]
    assert all(row.count("<td ") == 13 for row in rows), rows  # every column, sortable
    mx_row = next(r for r in rows if ">mx<" in r)
    ke_row = next(r for r in rows if ">ke<" in r)
    assert 'data-v="3.99"' in mx_row and 'data-v="1"' in ke_row  # secure above unsigned


async def test_api_further_checks(client: TestClient) -> None:
    data = await (await client.get("/api/v1/zones/mx")).json()
    assert data["summary"]["dnssec"] == "secure"
    assert data["summary"]["dnssec_coverage"] == 1.0
    assert data["summary"]["axfr_open_addresses"] == 1
    servers = {(s["nameserver"], s["address"]): s for s in data["servers"]}
    assert servers[("ns1.mx.", "127.53.1.1")]["nsid"] == "mx1-ams"
    assert servers[("ns2.mx.", "127.53.1.2")]["edns"]["do"] == "no-do"
    zones = {z["zone"]: z for z in (await (await client.get("/api/v1/zones")).json())["zones"]}
    assert zones["ke"]["dnssec"] == "unsigned" and zones["ke"]["dnssec_coverage"] == 0.0
    assert zones["ec"]["dnssec"] == "unknown" and zones["ec"]["dnssec_coverage"] is None


@pytest.mark.parametrize(
    ("left", "text", "level"),
    [
        (3 * 86400 + 4 * 3600 + 30, "in 3 d 4 h", "ok"),
        (2.5 * 86400 + 60, "in 2 d 12 h", "ok"),
        (2.5 * 86400 - 60, "in 2 d 11 h", "warn"),
        (86400 + 60, "in 1 d", "warn"),
        (86400 - 60, "in 23 h 59 min", "bad"),
        (125, "in 2 min 5 s", "bad"),
        (-5 * 3600 - 120, "expired 5 h 2 min ago", "bad"),
    ],
)
def test_expiry_text(left: float, text: str, level: str) -> None:
    assert expiry_text(1000.0 + left, 1000.0) == (text, level)


def test_status_page_red_when_signatures_expire_within_a_day() -> None:
    now = time.time()
    r = fx.report("se", fx.with_facts(fx.ok("ns1.se.", "127.53.9.1"), dnssec_valid=False,
                                      rrsig_expires_at=now + 5 * 3600), dnssec="bogus")
    state = MonitorState(Snapshot(zones=("se",)))
    state.publish(r, ZoneTotals(), ZoneHistory())
    page = render_status_page(state.snapshot, now=now)
    assert '<span class="exp bad"' in page and "signatures expire in 5 h" in page
    assert ">DNSSEC invalid<" in page and 'class="dnssec d-bogus"' in page
    assert '<span class="bad">bogus</span> 0/1 valid' in page
    assert '<div class="sig lvl-bad">sigs expire in 5 h</div>' in page


def test_status_page_escapes() -> None:
    evil = fx.report("mx", fx.lame("<script>x</script>.", "127.0.0.1")
                     + fx.with_facts(fx.ok("ns1.mx.", "127.0.0.2"), nsid='<b>"x"</b>',
                                     edns={"do": "<i>"}), dnssec="<u>")
    state = MonitorState(Snapshot(zones=("mx",)))
    state.publish(evil, ZoneTotals(), ZoneHistory())
    page = render_status_page(state.snapshot)
    assert "<script>x</script>" not in page and "&lt;script&gt;" in page
    for raw in ('<b>"x"</b>', "<i>", "<u>"):
        assert raw not in page, raw
    # autoescape writes a quote as &#34; (the same character as html.escape's &quot;); the
    # DNSSEC state is a closed set: a stray word reads as "unknown", never as markup.
    assert "&lt;b&gt;&#34;x&#34;&lt;/b&gt;" in page and "d-unknown" in page


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


async def test_metrics_gzip_equals_identity_from_the_cached_path(client: TestClient) -> None:
    """What Prometheus sends (OpenMetrics first, the text format at q=0.5, gzip) gets the
    cached text format; gzip and identity carry the same exposition."""
    prometheus = ("application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
                  "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1")  # fmt: skip
    zipped = await client.get("/metrics", headers={"Accept": prometheus,
                                                   "Accept-Encoding": "gzip"},
                              auto_decompress=False)  # fmt: skip
    assert zipped.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert zipped.headers["Content-Encoding"] == "gzip"
    wire = await zipped.read()
    plain = await client.get("/metrics", headers={"Accept": prometheus,
                                                  "Accept-Encoding": "identity"})  # fmt: skip
    assert "Content-Encoding" not in plain.headers
    body = await plain.read()
    cut = body.index(b"# HELP process_")  # process metrics change between two requests
    assert gzip.decompress(wire)[:cut] == body[:cut] and len(wire) < len(body) / 3
    assert b'ccmon_nameserver_lame{address="127.53.1.3",dns_zone="mx"' in body


@pytest.mark.parametrize(("accept", "classic"), [
    ("", True), ("*/*", True), ("text/plain", True), ("text/plain;version=0.0.4", True),
    ("application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5", True),
    ("application/openmetrics-text", False), ("text/plain;version=1.0.0", False),
    ("application/openmetrics-text,text/plain;q=0", False), ("application/json", False),
])  # fmt: skip
def test_classic_text_negotiation(accept: str, classic: bool) -> None:
    assert accepts_classic_text(accept) is classic
