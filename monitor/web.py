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
import gzip
import hashlib
import json
import logging
import socket
import sqlite3
import ssl
import threading
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, choose_encoder

from monitor.config import WebConfig, parse_listen
from monitor.config.webconfig import WebSecurity
from monitor.metrics import Exporter
from monitor.pages.cache import PageCache
from monitor.pages.common import DAY, expiry_text
from monitor.pages.overview import render_status_page
from monitor.pages.serve import accepts_gzip, page_response, respond, static_file
from monitor.pages.zone import StoreReader, render_zone_page
from monitor.sla.embed import zone_plots_html
from monitor.status import (
    MonitorState,
    ServerView,
    normalise_zone,
    server_views,
    summarise,
    unicode_zone,
)
from monitor.webauth import Guard
from monitor.weblimits import (
    ConnectionLimiter,
    Limits,
    QuietServerLog,
    descriptor_limit,
    listening_sockets,
    quiet_loop_errors,
)

__all__ = ["WebServer", "expiry_text", "make_app", "parse_listen", "render_status_page"]

log = logging.getLogger(__name__)
_server_log = logging.getLogger("aiohttp.server")

STATE_KEY = web.AppKey("state", MonitorState)
PLOTS_TIMEOUT = 5.0  # s: a zone page never waits longer for its plots
EXPORTER_KEY = web.AppKey("exporter", Exporter)
PAGE_CACHE_KEY = web.AppKey("page_cache", PageCache)
STORE_READER_KEY = web.AppKey("store_reader", StoreReader)

#: The HTML pages' policy: their own stylesheet and script under /static/, nothing inline,
#: nothing from elsewhere, no frames (the other responses keep webconfig's default).
PAGE_CSP = ("default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; "
            "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")  # fmt: skip


# --- the application -----------------------------------------------------------------


def make_app(
    state: MonitorState,
    security: WebSecurity | None = None,
    exporter: Exporter | None = None,
    store: StoreReader | None = None,
) -> web.Application:
    """The aiohttp application; the same one serves tests and ``ccmon run``. Without a
    ``store`` the zone pages show no history."""
    security = security or WebSecurity()
    exporter = exporter or Exporter(state)
    guard = Guard(security, on_auth_failure=exporter.collector.count_web_auth_failure)
    app = web.Application(middlewares=[guard.middleware], client_max_size=64 * 1024)
    app[STATE_KEY] = state
    app[EXPORTER_KEY] = exporter
    cache = PageCache(render_status_page, lambda: state.snapshot)
    app[PAGE_CACHE_KEY] = cache
    app.on_cleanup.append(lambda _app: cache.close())
    if store is not None:
        app[STORE_READER_KEY] = store
    app.router.add_get("/", status_page)
    app.router.add_get("/zone/{zone}", zone_page)
    app.router.add_get("/static/{name}", static_file)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/api/v1/zones", zones)
    app.router.add_get("/api/v1/zones/{zone}", zone_detail)
    return app


async def metrics(request: web.Request) -> web.Response:
    accept = request.headers.get("Accept", "")
    exporter = request.app[EXPORTER_KEY]
    zipped = accepts_gzip(request.headers.get("Accept-Encoding", ""))
    headers = {"Vary": "Accept, Accept-Encoding"}
    if accepts_classic_text(accept):  # the fast path: bytes rendered once per change
        body = exporter.serve(zipped)
        headers["Content-Type"] = CONTENT_TYPE_PLAIN_0_0_4
    else:  # OpenMetrics or text 1.0.0 only: prometheus_client's own encoders, per request
        encoder, headers["Content-Type"] = choose_encoder(accept)
        body = encoder(exporter.registry)
        if zipped:
            body = gzip.compress(body, compresslevel=1)
    if zipped:
        headers["Content-Encoding"] = "gzip"
    return web.Response(body=body, headers=headers)


def accepts_classic_text(accept: str) -> bool:
    """Whether the client takes the classic text format 0.0.4: no Accept, */*, text/*, or
    text/plain without a version >= 1. Prometheus lists it after OpenMetrics (q=0.5) and
    parses either; serving it from the cached bytes is what keeps a scrape cheap."""
    if not accept.strip():
        return True
    for item in accept.split(","):
        kind, *params = (part.strip() for part in item.split(";"))
        values = {k.strip().lower(): v.strip() for k, _, v in (p.partition("=") for p in params)}
        try:
            if float(values.get("q", "1")) <= 0:
                continue
        except ValueError:
            continue
        major = values.get("version", "0.0.4").split(".")[0]
        if kind.lower() in ("*/*", "text/*") or (kind.lower() == "text/plain" and major == "0"):
            return True
    return False


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
    response = page_response(request, await request.app[PAGE_CACHE_KEY].get())
    response.headers["Content-Security-Policy"] = PAGE_CSP
    return response


async def zone_page(request: web.Request) -> web.Response:
    """/zone/<zone>: the zone's servers, the last day's states, open findings since when."""
    snap = request.app[STATE_KEY].snapshot
    zone = normalise_zone(request.match_info["zone"])
    if zone is None or (zone not in snap.zones and zone not in snap.reports):
        raise web.HTTPNotFound(text="unknown zone", content_type="text/plain")
    reader = request.app.get(STORE_READER_KEY)
    now = time.time()
    record, note = None, "No stored history on this server."
    if reader is not None:
        try:
            record = await reader.read(zone, now - DAY)
        except (TimeoutError, sqlite3.Error) as exc:  # the page still shows the servers
            log.warning("zone page of %s: reading the store failed: %r", zone, exc)
            note = "The stored history could not be read just now; reload to try again."
    plots = ""
    if reader is not None:
        try:  # the SLA report's plots: read-only SQLite in a worker thread, bounded
            plots = await asyncio.wait_for(
                asyncio.to_thread(zone_plots_html, reader.store.path, zone), PLOTS_TIMEOUT)
        except (TimeoutError, sqlite3.Error, OSError) as exc:
            log.warning("zone page of %s: plotting the history failed: %r", zone, exc)
            plots = '<p class="note">The history could not be plotted just now.</p>'
    text = render_zone_page(snap, zone, record, now, no_history=note, plots=plots)
    body = text.encode("utf-8")
    etag = f'"{hashlib.blake2b(body, digest_size=12).hexdigest()}"'
    response = respond(request, body, gzip.compress(body, compresslevel=6), etag, "text/html")
    response.headers["Content-Security-Policy"] = PAGE_CSP
    return response


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
        before_handshake: Callable[[], None] | None = None,
    ) -> None:
        self.app = app
        self.host, self.port = parse_listen(listen)
        self.ssl_context = ssl_context
        self.before_handshake = before_handshake
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
        """The URL the server answers at (first bound address), for logs and tests."""
        scheme = "https" if self.ssl_context else "http"
        host, port = self.addresses[0][:2] if self.addresses else (self.host, self.port)
        host = host or "127.0.0.1"
        return f"{scheme}://{f'[{host}]' if ':' in host else host}:{port}/"

    def start(self, timeout: float = 10.0) -> None:
        """Start serving in its thread; raises what failed, or TimeoutError after `timeout` s."""
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
        def protocol() -> Any:  # the runner's server, made below, before any connection
            assert runner.server is not None
            return runner.server()

        limiter = ConnectionLimiter(loop, protocol, self.limits, self.ssl_context,
                                    self.before_handshake)
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
        """Stop the event loop and wait up to `timeout` s for the thread; warn if it lingers."""
        if self._loop is not None and self._thread is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("web server thread did not stop within %.1f s", timeout)
