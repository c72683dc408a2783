"""The web server's thread: an aiohttp application on its own event loop.

A sweep of hundreds of zones keeps the engine's loop busy, and a scrape must not queue
behind it, so :class:`WebServer` serves the app from a dedicated thread and loop.
Connections are accepted by :class:`monitor.web.limits.ConnectionLimiter`.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import threading
from collections.abc import Callable
from typing import Any

from aiohttp import web

from monitor.config import WebConfig, parse_listen
from monitor.web.limits import (
    ConnectionLimiter,
    Limits,
    QuietServerLog,
    descriptor_limit,
    listening_sockets,
    quiet_loop_errors,
)

log = logging.getLogger("monitor.web")
_server_log = logging.getLogger("aiohttp.server")


class WebServer:
    """Serves an aiohttp app from a dedicated thread and event loop.

    Connections are accepted by :class:`monitor.web.limits.ConnectionLimiter` (a cap, a
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
