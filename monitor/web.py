"""HTTP: /metrics, /healthz, /api/v1/zones[/<zone>] and the status page at /.

Why aiohttp: ccmon is asyncio throughout (the probe engine, APScheduler's asyncio
scheduler), and aiohttp serves HTTP on an asyncio loop with everything this server needs
in one dependency: TLS through a plain ``ssl.SSLContext`` (so the exporter-toolkit
web-config maps onto it directly), middleware for basic auth on every route, a strict
HTTP parser that answers malformed requests with 400 by itself, response compression for
large scrapes, and a test client for unit tests. prometheus_client's own server is a
thread-per-request ``http.server`` with no middleware; a WSGI/ASGI stack would add a
second framework and a server to choose.

The server runs on its own event loop in its own thread (:class:`WebServer`): a sweep of
hundreds of zones keeps the engine's loop busy, and a scrape must not queue behind it.
Handlers only read the current immutable snapshot, so no locking is needed.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import gzip
import hashlib
import html
import json
import logging
import re
import socket
import ssl
import threading
import time
from importlib import resources
from string import Template
from typing import Any

from aiohttp import web
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, choose_encoder, generate_latest

from monitor.config import WebConfig
from monitor.listen import parse_listen
from monitor.metrics import Exporter
from monitor.status import (
    DNSSEC_RANK,
    STATES,
    MonitorState,
    ServerView,
    Snapshot,
    ZoneSummary,
    normalise_zone,
    open_findings,
    server_views,
    summarise,
    unicode_zone,
)
from monitor.webconfig import Guard, WebSecurity
from monitor.weblimits import (
    ConnectionLimiter,
    Limits,
    QuietServerLog,
    descriptor_limit,
    listening_sockets,
    quiet_loop_errors,
)

log = logging.getLogger(__name__)
_server_log = logging.getLogger("aiohttp.server")

STATE_KEY = web.AppKey("state", MonitorState)
EXPORTER_KEY = web.AppKey("exporter", Exporter)


# --- the application -----------------------------------------------------------------


def make_app(
    state: MonitorState,
    security: WebSecurity | None = None,
    exporter: Exporter | None = None,
) -> web.Application:
    """The aiohttp application; the same one serves tests and ``ccmon run``."""
    security = security or WebSecurity()
    exporter = exporter or Exporter(state)
    guard = Guard(security, on_auth_failure=exporter.collector.count_web_auth_failure)
    app = web.Application(middlewares=[guard.middleware], client_max_size=64 * 1024)
    app[STATE_KEY] = state
    app[EXPORTER_KEY] = exporter
    app.router.add_get("/", status_page)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/api/v1/zones", zones)
    app.router.add_get("/api/v1/zones/{zone}", zone_detail)
    return app


async def metrics(request: web.Request) -> web.Response:
    encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
    exporter = request.app[EXPORTER_KEY]
    if encoder is generate_latest:  # the classic text format: the cached fast path
        body, content_type = exporter.text(), CONTENT_TYPE_PLAIN_0_0_4
    else:  # OpenMetrics and text 1.0.0 through prometheus_client's own encoders
        body = encoder(exporter.registry)
    headers = {"Content-Type": content_type}
    if "gzip" in request.headers.get("Accept-Encoding", "") and len(body) > 4096:
        body = gzip.compress(body, compresslevel=1)
        headers["Content-Encoding"] = "gzip"
    return web.Response(body=body, headers=headers)


async def healthz(request: web.Request) -> web.Response:
    healthy, detail = request.app[STATE_KEY].snapshot.health()
    return web.json_response(
        {"status": "ok" if healthy else "unhealthy", "detail": detail},
        status=200 if healthy else 503,
    )


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=lambda d: json.dumps(d, indent=1))


def _view_dict(view: ServerView) -> dict[str, Any]:
    return {
        "nameserver": view.nameserver,
        "address": view.address,
        "state": view.state,
        "lame_reason": view.lame_reason,
        "serial": view.serial,
        "serial_lag": view.lag,
        "udp_rtt_seconds": view.udp.rtt if view.udp else None,
        "tcp_rtt_seconds": view.tcp.rtt if view.tcp else None,
        "rrsig_expires_at": view.rrsig_expires_at,
        "dnssec_valid": view.dnssec_valid,
        "nsid": view.nsid,
        "axfr_open": view.udp.axfr_open if view.udp else None,
        "recursion_open": view.udp.recursion_open if view.udp else None,
        "edns": dict(view.udp.edns) if view.udp else {},
    }


async def zones(request: web.Request) -> web.Response:
    snap = request.app[STATE_KEY].snapshot
    out = []
    for zone in snap.zones:
        report = snap.reports.get(zone)
        if report is None:
            out.append({"zone": zone, "name": unicode_zone(zone), "status": "pending"})
        else:
            out.append({**summarise(report, snap.history.get(zone)).to_dict(), "status": "swept"})
    return _json({"zones": out, "generated_at": time.time()})


async def zone_detail(request: web.Request) -> web.Response:
    snap = request.app[STATE_KEY].snapshot
    zone = normalise_zone(request.match_info["zone"])
    if zone is None or (zone not in snap.zones and zone not in snap.reports):
        return _json({"error": "unknown zone"}, status=404)
    report = snap.reports.get(zone)
    if report is None:
        return _json({"zone": zone, "name": unicode_zone(zone), "status": "pending"})
    return _json(
        {
            "zone": zone,
            "name": unicode_zone(zone),
            "status": "swept",
            "summary": summarise(report, snap.history.get(zone)).to_dict(),
            "servers": [_view_dict(v) for v in server_views(report)],
            "report": report.to_dict(),
        }
    )


async def status_page(request: web.Request) -> web.Response:
    page = render_status_page(request.app[STATE_KEY].snapshot)
    response = web.Response(text=page, content_type="text/html", charset="utf-8")
    response.headers["Content-Security-Policy"] = page_csp()
    return response


# --- the status page -----------------------------------------------------------------

_TEMPLATE: Template | None = None
_STATE_WORDS = {
    "ok": "answers authoritatively, in time, current serial",
    "degraded": "one transport (UDP or TCP) fails",
    "slow": "answers slower than the RTT threshold",
    "stale": "serves an older serial",
    "lame": "answers, but not authoritatively",
    "down": "no answer",
    "unmeasured": "not measured: this vantage point could not reach it (not the server's fault)",
}


def _template() -> Template:
    global _TEMPLATE
    if _TEMPLATE is None:
        path = resources.files("monitor").joinpath("templates/status.html")
        _TEMPLATE = Template(path.read_text(encoding="utf-8"))
    return _TEMPLATE


def _inline_hashes(tag: str) -> str:
    """CSP source expressions for the template's inline <style> or <script> blocks."""
    blocks = re.findall(rf"<{tag}>(.*?)</{tag}>", _template().template, flags=re.S)
    return " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(b.encode()).digest()).decode() + "'"
        for b in blocks
    )


@functools.cache
def page_csp() -> str:
    """The status page's policy: its own inline style and script, nothing else, no frames."""
    return (f"default-src 'none'; style-src {_inline_hashes('style')}; "
            f"script-src {_inline_hashes('script')}; img-src data:; base-uri 'none'; "
            "form-action 'none'; frame-ancestors 'none'")  # fmt: skip


def e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _ms(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    ms = seconds * 1000
    return f"{ms:.2f} ms" if ms < 1 else f"{ms:.1f} ms" if ms < 10 else f"{ms:.0f} ms"


def _utc(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(ts))


def _ago(ts: float, now: float) -> str:
    delta = max(0.0, now - ts)
    if delta < 120:
        return f"{delta:.0f} s ago"
    if delta < 7200:
        return f"{delta / 60:.0f} min ago"
    return f"{delta / 3600:.1f} h ago"


def _display_ns(name: str) -> str:
    return unicode_zone(name.rstrip(".")) + "."


DAY = 86400.0
EXPIRY_WARNING = 2.5 * DAY  # DNSSEC03: warning below 2.5 days
EXPIRY_CRITICAL = 1.0 * DAY  # critical below 1 day


def _span(seconds: float) -> str:
    """A duration as a reader says it: "3 d 4 h", "5 h 12 min", "40 min", "12 s"."""
    seconds = max(0, int(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min" if minutes else f"{seconds} s"


def expiry_text(expires_at: float, now: float) -> tuple[str, str]:
    """("in 3 d 4 h" | "expired 5 h 2 min ago", CSS class: ok, warn below 2.5 d, bad below 1 d)."""
    left = expires_at - now
    if left <= 0:
        return f"expired {_span(-left)} ago", "bad"
    level = "bad" if left < EXPIRY_CRITICAL else "warn" if left < EXPIRY_WARNING else "ok"
    return f"in {_span(left)}", level


def _flags(view: ServerView) -> list[tuple[str, str]]:
    """(short mark, explanation) for the address's problems found by the further checks."""
    flags = []
    if view.axfr_open:
        flags.append(("AXFR open", "SEC01: grants a zone transfer (AXFR) to anyone"))
    if view.recursion_open:
        flags.append(("open resolver", "SEC02: answers recursive queries for other names"))
    problems = view.edns_problems
    if problems:
        words = ", ".join(f"{test}: {outcome}" for test, outcome in problems.items())
        flags.append(("EDNS " + " ".join(problems), f"EDNS01 failed: {words}"))
    if view.dnssec_valid is False:
        flags.append(("DNSSEC invalid", "DNSSEC02: signatures over SOA/DNSKEY do not validate"))
    return flags


def _cell(view: ServerView, now: float) -> str:
    marks = []
    for label, status in (("UDP", view.udp), ("TCP", view.tcp)):
        if status is not None:
            ok = status.authoritative
            marks.append(f'<span class="{"t-ok" if ok else "t-bad"}">{label}</span>')
    detail = view.state if not view.lame_reason else f"lame: {view.lame_reason}"
    if view.lag:
        detail = f"{detail}, {view.lag} behind"
    serial = "–" if view.serial is None else str(view.serial)
    title = f"{view.nameserver} {view.address}: {detail} — {_STATE_WORDS.get(view.state, '')}"
    if view.nsid:
        title += f"\nNSID: {view.nsid}"
    if view.rrsig_expires_at is not None:
        title += f"\nsignatures expire {expiry_text(view.rrsig_expires_at, now)[0]}"
    flags = _flags(view)
    title += "".join(f"\n{why}" for _, why in flags)
    nsid = (f'<div class="nsid" title="NSID (RFC 5001): {e(view.nsid)}">{e(view.nsid)}</div>'
            if view.nsid else "")
    marks_html = "".join(f'<span class="flag" title="{e(why)}">{e(mark)}</span>'
                         for mark, why in flags)
    return (
        f'<div class="cell s-{e(view.state)}" title="{e(title)}" data-state="{e(view.state)}">'
        f'<div class="ns">{e(_display_ns(view.nameserver))}</div>'
        f'<div class="addr">{e(view.address)}</div>{nsid}'
        f'<div class="fig"><span class="rtt">{e(_ms(view.rtt))}</span> '
        f'<span class="serial">{e(serial)}</span></div>'
        f'<div class="fig"><span class="state">{e(detail)}</span> {"".join(marks)}</div>'
        + (f'<div class="flags">{marks_html}</div>' if flags else "")
        + "</div>"
    )


def _dnssec_line(summary: ZoneSummary, now: float) -> str:
    """Under the zone name: its DNSSEC state and the earliest signature expiry."""
    state = summary.dnssec
    out = f'<div class="dnssec d-{e(state)}" title="DNSSEC state of the zone">DNSSEC {e(state)}'
    if summary.rrsig_expires_at is not None:
        text, level = expiry_text(summary.rrsig_expires_at, now)
        out += (f'<br><span class="exp {level}" title="earliest RRSIG expiry: '
                f'{e(_utc(summary.rrsig_expires_at))}">signatures '
                f'{"" if text.startswith("expired") else "expire "}{e(text)}</span>')
    return out + "</div>"


def _grid(snap: Snapshot, now: float) -> str:
    rows = []
    for zone in snap.zones:
        name = unicode_zone(zone)
        report = snap.reports.get(zone)
        if report is None:
            rows.append(
                f'<tr><th scope="row">{e(name)}</th><td class="sev">–</td>'
                f'<td><div class="pending">waiting for the first sweep</div></td></tr>'
            )
            continue
        cells = "".join(_cell(v, now) for v in server_views(report))
        sev = report.severity.name.lower()
        when = report.started_at + report.duration
        rows.append(
            f'<tr id="zone-{e(zone)}"><th scope="row"><a href="api/v1/zones/{e(zone)}">'
            f'{e(name)}</a><div class="when" title="{e(_utc(when))}">{e(_ago(when, now))}'
            f"</div>{_dnssec_line(summarise(report), now)}</th>"
            f'<td class="sev"><span class="badge b-{e(sev)}">{e(sev)}</span></td>'
            f'<td><div class="cells">{cells or "no servers found"}</div></td></tr>'
        )
    return "\n".join(rows)


def _findings(snap: Snapshot) -> str:
    rows = []
    for zone in snap.zones:
        report = snap.reports.get(zone)
        for f in open_findings(report) if report else ():
            sev = f.severity.name.lower()
            rows.append(
                (
                    -int(f.severity),
                    f'<tr><td>{e(unicode_zone(zone))}</td><td><span class="badge b-{e(sev)}">'
                    f"{e(sev)}</span></td><td>{e(f.check)}</td>"
                    f"<td>{e(_display_ns(f.nameserver) if f.nameserver else '')}</td>"
                    f"<td>{e(f.address)}</td><td>{e(f.message)}</td></tr>",
                )
            )
    if not rows:
        return '<tr><td colspan="6">No open findings.</td></tr>'
    rows.sort(key=lambda r: r[0])
    return "\n".join(r[1] for r in rows)


def _rtt_bar(median: float | None, p95: float | None) -> str:
    """A 60 px inline SVG bar: p95 light, median dark, 500 ms (the UDP SLR) at the end."""
    if median is None or p95 is None:
        return ""
    full = 0.5
    w95 = min(60.0, 60 * p95 / full)
    w50 = min(60.0, 60 * median / full)
    return (
        f'<svg class="bar" width="60" height="8" viewBox="0 0 60 8" aria-hidden="true">'
        f'<rect width="60" height="8" fill="#eee"/><rect width="{w95:.1f}" height="8" '
        f'fill="#9ecae1"/><rect width="{w50:.1f}" height="8" fill="#3182bd"/></svg>'
    )


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:.6g}"


def _dnssec_cell(s: ZoneSummary) -> tuple[str, str]:
    """(sort value, HTML): the state, and for signed zones the addresses that validate."""
    cov = s.dnssec_coverage
    rank = DNSSEC_RANK.get(s.dnssec)
    value = "" if rank is None else _num(rank + 0.99 * (cov or 0.0))
    css = {"secure": "ok", "bogus": "bad"}.get(s.dnssec, "")
    text = f'<span class="{css}">{e(s.dnssec)}</span>' if css else e(s.dnssec)
    if s.dnssec_checked:
        text += (f' <span title="addresses serving valid signatures">'
                 f"{s.dnssec_valid}/{s.dnssec_checked}</span>")
    return value, text


def _expiry_cell(s: ZoneSummary, now: float) -> tuple[str, str]:
    if s.rrsig_expires_at is None:
        return "", "–"
    text, level = expiry_text(s.rrsig_expires_at, now)
    return _num(s.rrsig_expires_at - now), f'<span class="exp {level}">{e(text)}</span>'


def _exposure_cell(s: ZoneSummary) -> tuple[int, str]:
    parts = [(s.axfr_open, "AXFR"), (s.recursion_open, "recursive"), (s.edns_failing, "EDNS")]
    found = [f"{n} {what}" for n, what in parts if n]
    text = f'<span class="bad">{e(", ".join(found))}</span>' if found else "none"
    return s.axfr_open + s.recursion_open + s.edns_failing, text


def _comparison_row(s: ZoneSummary, now: float) -> str:
    avail_now = "yes" if s.available else "NO"
    hist = "–" if s.availability is None else f"{s.availability * 100:.1f} %"
    ipv6 = f"{s.ipv6_nameservers}/{s.nameservers}"
    tcp = f"{s.tcp_answering}/{s.tcp_probed}"
    cols = [
        (s.name, e(s.name)),
        (int(s.available) * 1000 + s.nameservers_up,
         f'<span class="{"ok" if s.available else "bad"}">{avail_now}</span> '
         f"({s.nameservers_up}/{s.nameservers} NS up)"),
        (_num(s.availability), hist),
        (_num(s.rtt_median), f"{_ms(s.rtt_median)} {_rtt_bar(s.rtt_median, s.rtt_p95)}"),
        (_num(s.rtt_p95), _ms(s.rtt_p95)),
        (s.lame, str(s.lame)),
        (s.ipv6_nameservers / s.nameservers if s.nameservers else 0, ipv6),
        (s.tcp_answering / s.tcp_probed if s.tcp_probed else 0, tcp),
        (s.serials, str(s.serials)),
        _dnssec_cell(s),
        _expiry_cell(s, now),
        _exposure_cell(s),
        (int(s.severity), f'<span class="badge b-{s.severity.name.lower()}">'
                          f"{s.severity.name.lower()}</span>"),
    ]  # fmt: skip
    cells = "".join(f'<td data-v="{e(v)}">{text}</td>' for v, text in cols)
    return f"<tr>{cells}</tr>"


def _comparison(snap: Snapshot, now: float) -> str:
    rows = [
        _comparison_row(summarise(report, snap.history.get(zone)), now)
        for zone in snap.zones
        if (report := snap.reports.get(zone)) is not None
    ]
    return "\n".join(rows) or '<tr><td colspan="13">No sweep completed yet.</td></tr>'


def _legend() -> str:
    items = []
    for state in STATES:
        items.append(
            f'<span class="leg"><svg width="12" height="12" aria-hidden="true">'
            f'<rect class="sw s-{state}" width="12" height="12" rx="2"/></svg> '
            f"<b>{state}</b>: {e(_STATE_WORDS[state])}</span>"
        )
    return " ".join(items)


def _counts(snap: Snapshot) -> str:
    counts = dict.fromkeys(STATES, 0)
    for report in snap.reports.values():
        for view in server_views(report):
            counts[view.state] = counts.get(view.state, 0) + 1
    parts = [f"{n} {state}" for state, n in counts.items() if n]
    return ", ".join(parts) or "no servers swept yet"


def render_status_page(snap: Snapshot, now: float | None = None) -> str:
    now = time.time() if now is None else now
    healthy, detail = snap.health(now)
    refresh = max(15, int(snap.interval))
    return _template().substitute(
        refresh=refresh,
        generated=e(_utc(now)),
        health=e(("healthy: " if healthy else "UNHEALTHY: ") + detail),
        health_class="ok" if healthy else "bad",
        zone_count=len(snap.zones),
        server_counts=e(_counts(snap)),
        legend=_legend(),
        grid=_grid(snap, now),
        findings=_findings(snap),
        comparison=_comparison(snap, now),
    )


# --- running the server in its own thread --------------------------------------------


class WebServer:
    """Serves an aiohttp app from a dedicated thread and event loop.

    Connections are accepted by :class:`monitor.weblimits.ConnectionLimiter` (a cap, a
    header deadline, quiet errors), so whoever reaches the port cannot take the prober's
    descriptors."""

    def __init__(
        self,
        app: web.Application,
        listen: str,
        ssl_context: ssl.SSLContext | None = None,
        limits: WebConfig | Limits | None = None,
    ) -> None:
        self.app = app
        self.host, self.port = parse_listen(listen)
        self.ssl_context = ssl_context
        limits = limits or Limits()
        self.limits = Limits(limits.max_connections, limits.read_header_timeout,
                             limits.idle_timeout)  # fmt: skip
        self.limiter: ConnectionLimiter | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self.addresses: list[Any] = []

    @property
    def url(self) -> str:
        scheme = "https" if self.ssl_context else "http"
        host, port = self.addresses[0][:2] if self.addresses else (self.host, self.port)
        host = host or "127.0.0.1"
        return f"{scheme}://{f'[{host}]' if ':' in host else host}:{port}/"

    def start(self, timeout: float = 10.0) -> None:
        self._thread = threading.Thread(target=self._serve, name="ccmon-web", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError("web server did not start")
        if self._error is not None:
            raise self._error

    def _serve(self) -> None:
        loop = asyncio.new_event_loop()
        loop.set_exception_handler(quiet_loop_errors)
        self._loop = loop
        limiter = ConnectionLimiter(loop, lambda: runner.server(), self.limits, self.ssl_context)
        self.limiter = limiter
        self.app.middlewares.insert(0, limiter.middleware)  # outermost: busy while sending
        runner = web.AppRunner(
            self.app, access_log=None, shutdown_timeout=1.0,
            keepalive_timeout=self.limits.idle_timeout, logger=QuietServerLog(_server_log),
        )  # fmt: skip
        listeners: list[socket.socket] = []
        try:
            loop.run_until_complete(runner.setup())
            listeners = listening_sockets(self.host, self.port)
            limiter.serve(listeners)
            self.addresses = [s.getsockname() for s in listeners]
        except BaseException as exc:  # handed to start() in the caller thread
            self._error = exc
            for sock in listeners:
                sock.close()
            loop.run_until_complete(runner.cleanup())
            loop.close()
            self._ready.set()
            return
        log.info("web: at most %d connections (descriptor limit %d; the rest is the prober's), "
                 "request header within %g s, idle connections closed after %g s",
                 limiter.cap, descriptor_limit(), self.limits.read_header_timeout,
                 self.limits.idle_timeout)  # fmt: skip
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(limiter.close())
            for sock in listeners:
                sock.close()
            loop.run_until_complete(runner.cleanup())
            loop.close()

    def stop(self, timeout: float = 3.0) -> None:
        if self._loop is not None and self._thread is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("web server thread did not stop within %.1f s", timeout)
