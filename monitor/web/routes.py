"""The routes: /metrics, /healthz, /api/v1/zones[/<zone>] (JSON) and the HTML pages.

Why aiohttp: ccmon is asyncio throughout (the probe engine, APScheduler's asyncio
scheduler), and aiohttp serves HTTP on an asyncio loop with everything this server needs
in one dependency: TLS through a plain ``ssl.SSLContext`` (so the exporter-toolkit
web-config maps onto it directly), middleware for basic auth on every route, a strict
HTTP parser that answers malformed requests with 400 by itself, response compression for
large scrapes, and a test client for unit tests. prometheus_client's own server is a
thread-per-request ``http.server`` with no middleware; a WSGI/ASGI stack would add a
second framework and a server to choose.

Handlers only read the current immutable snapshot, so no locking is needed; the server
runs them on its own thread (:mod:`monitor.web.server`).
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
import logging
import sqlite3
import time
from typing import Any

from aiohttp import web
from markupsafe import Markup
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, choose_encoder

from monitor.config.webconfig import WebSecurity
from monitor.metrics import Exporter
from monitor.sla.embed import zone_plots_html
from monitor.snapshot import MonitorState
from monitor.web.auth import Guard
from monitor.web.pages.cache import PageCache
from monitor.web.pages.common import DAY
from monitor.web.pages.overview import render_status_page
from monitor.web.pages.serve import accepts_gzip, page_response, respond, static_file
from monitor.web.pages.zone import StoreReader, render_zone_page
from monitor.web.views import summarise
from probes.model import AddressSummary
from probes.names import normalised_or_none, unicode_zone

__all__ = ["PAGE_CACHE_KEY", "PAGE_CSP", "make_app"]

log = logging.getLogger("monitor.web")

STATE_KEY = web.AppKey("state", MonitorState)
PLOTS_TIMEOUT = 5.0  # s: a zone page never waits longer for its plots
PLOTS_FAILED = Markup('<p class="note">The history could not be plotted just now.</p>')
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


def _view_dict(view: AddressSummary) -> dict[str, Any]:
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
    zone = normalised_or_none(request.match_info["zone"])
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
            "servers": [_view_dict(v) for v in report.addresses],
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
    zone = normalised_or_none(request.match_info["zone"])
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
    plots = None
    if reader is not None:
        try:  # the SLA report's plots: read-only SQLite in a worker thread, bounded
            plots = Markup(await asyncio.wait_for(  # the SLA renderer's escaped HTML
                asyncio.to_thread(zone_plots_html, reader.store.path, zone), PLOTS_TIMEOUT))
        except (TimeoutError, sqlite3.Error, OSError) as exc:
            log.warning("zone page of %s: plotting the history failed: %r", zone, exc)
            plots = PLOTS_FAILED
    text = render_zone_page(snap, zone, record, now, no_history=note, plots=plots)
    body = text.encode("utf-8")
    etag = f'"{hashlib.blake2b(body, digest_size=12).hexdigest()}"'
    response = respond(request, body, gzip.compress(body, compresslevel=6), etag, "text/html")
    response.headers["Content-Security-Policy"] = PAGE_CSP
    return response
