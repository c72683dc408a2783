"""The status page in headless Chromium, driven over the DevTools protocol.

What a keyboard user does: Tab to a sort header, press Enter, then Space, and see the
rows and ``aria-sort`` change; Tab to the refresh button and pause it. What a reader at
1280 px sees: no horizontal scrolling of the page (a screenshot is saved), every visible
text readable at WCAG AA contrast as the browser computes it. And without JavaScript the
page still comes sorted by the server. The pages are served by ccmon's own WebServer with
its own Content-Security-Policy (``monitor.web.PAGE_CSP``: script and style from 'self'
only, nothing inline), and the browser reports no violation of it.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import shutil
import struct
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from monitor.snapshot import MonitorState, Snapshot, ZoneHistory, ZoneTotals
from monitor.web import WebServer, make_app
from probes.model import Finding, Severity
from tests.monitor import ccmon_fixtures as fx
from tests.monitor.stack_helpers import CHROMIUM_FLAGS, missing

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
WIDTH = 1280
LONG_NS = "a-very-long-name-server-host-name.registry-operator-infrastructure.example."
LONG_V6 = "2001:db8:ffff:ffff:ffff:ffff:ffff:1234"
LONG_NSID = "pop-" + "x" * 90  # no break opportunity: must wrap inside its cell


def zones_state() -> MonitorState:
    now = time.time()
    wide = fx.report("museum-registry-long", [
        *fx.with_facts(fx.ok(LONG_NS, LONG_V6), nsid=LONG_NSID, rrsig_expires_at=now + 3600,
                       axfr_open=True, recursion_open=True,
                       edns={"plain": "ok", "edns1": "badvers-missing", "do": "no-do"}),
        *fx.down("ns2.museum-registry-long.", "127.53.8.2"),
        *[dataclasses.replace(row, address="2001:db8::53", measured=False)  # our host: no v6
          for row in fx.down("ns2.museum-registry-long.", "127.53.8.2")],
    ], [Finding("AVAIL01", Severity.CRITICAL, "UNAVAILABLE",
                "only 1 name server answers; " + "very-long-detail-" * 8, LONG_NS, LONG_V6)],
        started_at=now - 5, dnssec="bogus")  # fmt: skip
    reports = [*fx.all_reports(started_at=now - 5), wide]
    zones = tuple(r.zone for r in reports) + ("fr",)
    state = MonitorState(Snapshot(zones=zones, interval=15, started_at=now))
    for r in reports:
        state.publish(r, ZoneTotals().add_report(r), ZoneHistory(sweeps=4, available_sweeps=3))
    return state


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    server = WebServer(make_app(zones_state()), "127.0.0.1:0")
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


class DevTools:
    """A minimal DevTools protocol client over aiohttp's websocket."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.last_id = 0
        self.events: list[dict[str, Any]] = []

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.last_id += 1
        wanted = self.last_id
        await self.ws.send_json({"id": wanted, "method": method, "params": params})
        while True:
            message = json.loads(await asyncio.wait_for(self.ws.receive_str(), 20))
            if message.get("id") == wanted:
                if "error" in message:
                    raise AssertionError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    async def js(self, expression: str) -> Any:
        result = await self.call("Runtime.evaluate", expression=expression,
                                 returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise AssertionError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def wait(self, expression: str, timeout: float = 10.0) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = await self.js(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout} s waiting for {expression}")
            await asyncio.sleep(0.1)

    async def open(self, url: str) -> None:
        await self.call("Page.navigate", url=url)
        await self.wait(f"location.href === {json.dumps(url)} && "
                        "document.readyState === 'complete'")

    async def press(self, key: str, code: str, keycode: int, text: str = "") -> None:
        kind = "keyDown" if text else "rawKeyDown"
        common = {"key": key, "code": code, "windowsVirtualKeyCode": keycode,
                  "nativeVirtualKeyCode": keycode}
        await self.call("Input.dispatchKeyEvent", type=kind, text=text, **common)
        await self.call("Input.dispatchKeyEvent", type="keyUp", **common)

    async def tab_to(self, selector: str, limit: int = 80) -> int:
        """Press Tab until the element has the focus; returns how many presses it took."""
        is_focused = f"document.activeElement === document.querySelector({json.dumps(selector)})"
        for presses in range(1, limit + 1):
            await self.press("Tab", "Tab", 9)
            if await self.js(is_focused):
                return presses
        raise AssertionError(f"{selector} not reached with {limit} Tab presses")


@pytest.fixture
async def browser(tmp_path: Path) -> AsyncIterator[DevTools]:
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        missing("chromium is not installed (Debian: chromium)")
    profile = tmp_path / "chrome"
    proc = subprocess.Popen(
        [str(binary), *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
         "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
         f"--window-size={WIDTH},900", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not (port_file.exists() and port_file.read_text().count("\n") >= 1):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"chromium did not open its DevTools port ({proc.poll()})")
            await asyncio.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{port}/json/list") as resp:
                targets = await resp.json()
            page = next(t for t in targets if t["type"] == "page")
            async with session.ws_connect(page["webSocketDebuggerUrl"], max_msg_size=0) as ws:
                tools = DevTools(ws)
                for domain in ("Page", "Runtime", "Log"):
                    await tools.call(f"{domain}.enable")
                await tools.call("Emulation.setDeviceMetricsOverride", width=WIDTH,
                                 height=900, deviceScaleFactor=1, mobile=False)
                await tools.call("Emulation.setFocusEmulationEnabled", enabled=True)
                yield tools
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


ROWS = "Array.from(document.querySelectorAll('#comparison tbody tr'), r => r.cells[0].textContent)"


def aria_sort(col: int) -> str:
    return (f"document.querySelectorAll('#comparison thead th')[{col}]"
            ".getAttribute('aria-sort')")


def csp_violations(tools: DevTools) -> list[str]:
    texts = [json.dumps(e.get("params", {})) for e in tools.events
             if e.get("method") in ("Log.entryAdded", "Runtime.exceptionThrown",
                                    "Runtime.consoleAPICalled")]
    return [t for t in texts if "Content Security Policy" in t or "exception" in t.lower()]


async def test_sorting_with_the_keyboard(site: str, browser: DevTools) -> None:
    await browser.open(site)
    await browser.wait("!document.getElementById('refresh').hidden")  # status.js ran
    before = await browser.js(ROWS)
    assert before[0] == "museum-registry-long" and len(before) == 5  # worst first (server)
    assert await browser.js(aria_sort(12)) == "descending"
    assert await browser.js(aria_sort(0)) is None
    presses = await browser.tab_to("#comparison button[data-col='0']")
    assert presses > 1  # reached by walking the tab order, not by a script's focus()
    await browser.press("Enter", "Enter", 13, "\r")
    ascending = await browser.js(ROWS)
    assert ascending == sorted(before), ascending
    assert await browser.js(aria_sort(0)) == "ascending"
    assert await browser.js(aria_sort(12)) is None  # only the sorted column carries it
    await browser.press(" ", "Space", 32, " ")
    assert await browser.js(ROWS) == sorted(before, reverse=True)
    assert await browser.js(aria_sort(0)) == "descending"
    assert await browser.js("location.hash") == "#sort=0,descending"
    # a numeric column: p95 RTT ascending, empty values last
    await browser.tab_to("#comparison button[data-col='4']")
    await browser.press("Enter", "Enter", 13, "\r")
    values = await browser.js("Array.from(document.querySelectorAll('#comparison tbody tr'),"
                              " r => r.cells[4].getAttribute('data-v'))")
    numbers = [float(v) for v in values if v]
    assert numbers == sorted(numbers) and values[len(numbers):] == [""] * (5 - len(numbers))
    assert not csp_violations(browser), csp_violations(browser)


async def test_fits_1280_and_reads_at_aa_contrast(site: str, browser: DevTools) -> None:
    for url in (site, site + "zone/museum-registry-long", site + "zone/mx"):
        await browser.open(url)
        # window 1280 wide (the viewport less a vertical scroll bar); nothing wider
        widths = await browser.js("[innerWidth, document.documentElement.scrollWidth, "
                                  "document.documentElement.clientWidth]")
        assert widths[0] == WIDTH and widths[1] <= widths[2] <= WIDTH, (url, widths)
        # and no table needs its own scroll bar either: long names and NSIDs wrap
        boxes = await browser.js("Array.from(document.querySelectorAll('.scroll'), "
                                 "s => [s.querySelector('table').id, s.scrollWidth, "
                                 "s.clientWidth])")
        assert boxes and all(w <= c for _, w, c in boxes), (url, boxes)
        report = await browser.js(CONTRAST_JS)
        assert report["checked"] > 30 and not report["weak"], (url, report)
    await browser.open(site)
    # the stylesheet applied under the CSP: a down server's cell is dark red
    colour = await browser.js("getComputedStyle(document.querySelector('.cell.s-down'))"
                              ".backgroundColor")
    assert colour == "rgb(183, 28, 28)"
    unmeasured = await browser.js("document.querySelector('.cell.s-unmeasured').innerText")
    assert "2001:db8::53" in unmeasured and "unmeasured" in unmeasured  # checked for AA above
    nsid = await browser.js("(() => { const n = [...document.querySelectorAll('.nsid')]"
                            f".find(e => e.textContent.includes('{LONG_NSID}'));"
                            " const r = n.getBoundingClientRect(); return [r.right, r.height] })()")
    assert nsid[0] <= WIDTH and nsid[1] > 20  # the long NSID wraps inside its cell, visible
    shot = await browser.call("Page.captureScreenshot", format="png", captureBeyondViewport=False)
    png = base64.b64decode(shot["data"])
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "status-page-1280.png").write_bytes(png)
    width = struct.unpack(">I", png[16:20])[0]  # IHDR
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and width == WIDTH
    assert not csp_violations(browser), csp_violations(browser)


async def test_pause_stops_the_auto_refresh(site: str, browser: DevTools) -> None:
    await browser.open(site)
    await browser.wait("!document.getElementById('refresh').hidden")
    await browser.tab_to("#pause")
    await browser.press("Enter", "Enter", 13, "\r")
    assert await browser.js("document.getElementById('pause').getAttribute('aria-pressed')") \
        == "true"
    assert await browser.js("document.getElementById('refresh-state').textContent") \
        == "Auto-refresh paused."
    await browser.js("window.ccmonMarker = 1")
    await asyncio.sleep(16.5)  # past the 15 s refresh: a reload would drop the marker
    assert await browser.js("window.ccmonMarker") == 1
    await browser.press(" ", "Space", 32, " ")  # resume: the focus is still on the button
    assert await browser.js("document.getElementById('pause').getAttribute('aria-pressed')") \
        == "false"
    await browser.wait("window.ccmonMarker === undefined && document.readyState === 'complete'",
                       timeout=17)  # reloaded within the 15 s interval


async def test_readable_without_javascript(site: str, browser: DevTools) -> None:
    await browser.call("Emulation.setScriptExecutionDisabled", value=True)
    await browser.open(site)
    rows = await browser.js(ROWS)
    assert rows[0] == "museum-registry-long" and len(rows) == 5  # sorted by the server
    assert await browser.js(aria_sort(12)) == "descending"
    # the sort buttons cannot work without script: sent disabled, not in the tab order
    assert await browser.js("[...document.querySelectorAll('#comparison .sort')]"
                            ".every(b => b.disabled)")
    assert await browser.js("getComputedStyle(document.getElementById('refresh')).display") \
        == "none"  # no pause button that could not work
    assert await browser.js(
        "document.querySelector('meta[http-equiv=refresh]').getAttribute('content')") == "15"
    assert "NSID mx1-ams" in await browser.js("document.body.innerText")


CONTRAST_JS = """(() => {
  const rgba = c => { const p = c.match(/[\\d.]+/g).map(Number);
                      return {r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1}; };
  const lin = v => { v /= 255; return v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
  const lum = c => 0.2126 * lin(c.r) + 0.7152 * lin(c.g) + 0.0722 * lin(c.b);
  const under = el => { for (; el; el = el.parentElement) {
      const c = rgba(getComputedStyle(el).backgroundColor); if (c.a > 0) return c; }
    return {r: 255, g: 255, b: 255, a: 1}; };
  let checked = 0; const weak = [];
  for (const el of document.body.querySelectorAll('*')) {
    const own = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
    const s = getComputedStyle(el);
    if (!own || !el.getClientRects().length || s.visibility === 'hidden') continue;
    checked++;
    const a = lum(rgba(s.color)), b = lum(under(el));
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    if (ratio < 4.5) weak.push(`${el.tagName}.${el.className} ${s.color} ${ratio.toFixed(2)}`);
  }
  return {checked, weak: weak.slice(0, 20)};
})()"""


async def test_sort_buttons_are_named_by_their_column(site: str, browser: DevTools) -> None:
    """A screen reader hears "Zone, button" and the column's sort state, not the arrows."""
    await browser.open(site)
    await browser.wait("!document.getElementById('refresh').hidden")
    root = await browser.call("DOM.getDocument", depth=0)
    found = await browser.call("DOM.querySelector", nodeId=root["root"]["nodeId"],
                               selector="#comparison button[data-col='12']")
    tree = await browser.call("Accessibility.getPartialAXTree", nodeId=found["nodeId"],
                              fetchRelatives=False)
    node = tree["nodes"][0]
    assert node["role"]["value"] == "button" and node["name"]["value"] == "Severity", node
    arrow = await browser.js("getComputedStyle(document.querySelector("
                             "'#comparison button[data-col=\"12\"]'), '::after').content")
    assert "▼" in arrow  # still drawn for the eye
