"""The web server's own accept loop: what a party that reaches the port can hold.

asyncio's ``create_server`` accepts whatever arrives and, out of descriptors, logs an
ERROR per failed accept; aiohttp gives a connection that never sends a byte an hour
before it closes it. So 1,100 idle connections to the web port used to take every
descriptor of a process limited to 1,024 (systemd's default), and the prober's DNS
sockets then failed with EMFILE: false "down" alerts, and 29 MB of log.

Here the listening sockets are served by :class:`ConnectionLimiter` instead:

- **A cap** (``web.max_connections``, never more than a quarter of the process's
  descriptor limit: the rest is the prober's). A connection over the cap closes the
  connection that is idle the longest, one that never sent a request first; only when
  every connection is inside a request is the newcomer closed. So idle connections cannot
  lock out a scrape, and the web side holds at most cap + 1 descriptors per listener.
- **A header deadline** (``web.read_header_timeout``, as Go's ``ReadHeaderTimeout``): a
  new connection (TLS handshake included) has that long to deliver a request header.
  Between requests aiohttp's keep-alive timeout (``web.idle_timeout``) applies.
- **Quiet failures**: accept errors (EMFILE and the like) pause accepting briefly and are
  logged at most once a minute with a count; connections closed over the cap or at the
  deadline are summed up in one line a minute; malformed requests log at DEBUG without a
  traceback (a handler's own bug still logs its traceback at ERROR).
"""

from __future__ import annotations

import asyncio
import errno
import logging
import resource
import socket
import ssl
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

log = logging.getLogger("monitor.web")

LOG_EVERY = 60.0  # s: at most one line per kind of trouble in this interval
ACCEPT_PAUSE = 0.5  # s: accepting pauses this long after an accept error (EMFILE)
# A burst of connections waits in the kernel (no descriptor spent) while the loop below
# drains it; a short backlog would drop SYNs, and a scrape's retried SYN costs it 1 s.
BACKLOG = socket.SOMAXCONN
ACCEPT_BATCH = 256  # accepts per readiness event, so other callbacks run in between
# At the cap every accept evicts a connection, and asyncio frees the evicted descriptor only
# on a later loop iteration (the transport closes via call_soon, an opening one once its
# task has run): accepting few per event there keeps the overshoot at a few descriptors
# (measured 71 sockets at a cap of 64 with whole batches on a loaded machine).
OVER_CAP_BATCH = 4
WEB_SHARE = 4  # the web side gets at most 1/WEB_SHARE of the descriptor limit


def descriptor_limit() -> int:
    """The soft descriptor limit of this process; 2**20 when unlimited."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft if soft != resource.RLIM_INFINITY else 1 << 20


def connection_cap(configured: int, limit: int | None = None) -> int:
    """``web.max_connections``, but never more than a quarter of the descriptor limit."""
    limit = descriptor_limit() if limit is None else limit
    return max(1, min(configured, limit // WEB_SHARE))


@dataclass(frozen=True, slots=True)
class Limits:
    """The web server's connection limits: cap and timeouts in seconds."""
    max_connections: int = 64
    read_header_timeout: float = 10.0
    idle_timeout: float = 120.0


class _Quiet:
    """Counts of one kind of trouble, written as one line at most every LOG_EVERY s."""

    def __init__(self, text: str, level: int = logging.WARNING) -> None:
        self.text = text  # with %d for the count and %s for the last detail
        self.level = level
        self.count = 0
        self.total = 0
        self.detail = ""
        self._logged_at = -LOG_EVERY

    def add(self, detail: str = "") -> None:
        self.count += 1
        self.total += 1
        self.detail = detail or self.detail
        now = time.monotonic()
        if now - self._logged_at >= LOG_EVERY:
            log.log(self.level, self.text, self.count, self.detail)
            self._logged_at = now
            self.count = 0


@dataclass(eq=False, slots=True)
class _Conn:
    sock: socket.socket
    accepted: float
    last_active: float
    transport: asyncio.BaseTransport | None = None
    task: asyncio.Task[Any] | None = None
    deadline: asyncio.TimerHandle | None = None
    requests: int = 0
    busy: int = 0
    done: bool = False
    opening: bool = False  # the socket belongs to an asyncio transport being made
    peer: str = field(default="")

    def close(self) -> None:
        if self.transport is not None:
            # frees the descriptor now, not after a flush (a stream server's transport)
            cast(asyncio.WriteTransport, self.transport).abort()
            return
        if self.task is not None:
            self.task.cancel()  # in the TLS handshake: asyncio closes the socket
        if not self.opening:  # the task never ran: nobody else will close it
            self.sock.close()


class _Tracked(asyncio.Protocol):
    """aiohttp's protocol, seen by the limiter when the connection opens and closes."""

    def __init__(self, inner: asyncio.Protocol, conn: _Conn, limiter: ConnectionLimiter) -> None:
        self.inner = inner
        self.conn = conn
        self.limiter = limiter

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.conn.transport = transport
        if not self.conn.done:  # not closed over the cap while the transport was made
            self.limiter.by_transport[transport] = self.conn
        self.inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received()

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        self.limiter.forget(self.conn)
        if self.conn.transport is not None:
            self.limiter.by_transport.pop(self.conn.transport, None)
        self.inner.connection_lost(exc)


class ConnectionLimiter:
    """Accepts on the listening sockets; see the module docstring for the rules."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        protocol_factory: Callable[[], asyncio.Protocol],
        limits: Limits,
        ssl_context: ssl.SSLContext | None = None,
        before_handshake: Callable[[], None] | None = None,
    ) -> None:
        self.loop = loop
        self.factory = protocol_factory
        self.limits = limits
        self.ssl_context = ssl_context
        self.before_handshake = before_handshake  # e.g. pick up a rotated certificate
        self.cap = connection_cap(limits.max_connections)
        self.conns: dict[_Conn, None] = {}  # insertion ordered: oldest first
        self.by_transport: dict[asyncio.BaseTransport, _Conn] = {}
        self.accept_errors = _Quiet("web: %d accept error(s) (accepting pauses "
                                    f"{ACCEPT_PAUSE:g} s each time); last: %s")
        self.over_cap = _Quiet(f"web: %d connection(s) closed over the cap of {self.cap} "
                               "(idle longest first); last from %s")
        self.timed_out = _Quiet("web: %d connection(s) closed for sending no request header "
                                f"within {limits.read_header_timeout:g} s; last from %s",
                                logging.INFO)
        self.listeners: list[socket.socket] = []
        self.paused: dict[int, asyncio.TimerHandle] = {}  # listener fd -> its resumption

    # --- accepting -----------------------------------------------------------------------

    def serve(self, listeners: list[socket.socket]) -> None:
        """Start accepting on these listening sockets."""
        self.listeners = listeners
        for listener in listeners:
            self.loop.add_reader(listener.fileno(), self._accept, listener)

    def _accept(self, listener: socket.socket) -> None:
        over_cap = 0
        for _ in range(ACCEPT_BATCH):
            if len(self.conns) >= self.cap:
                over_cap += 1
                if over_cap > OVER_CAP_BATCH:  # the rest waits in the kernel's backlog
                    return
            try:
                sock, peer = listener.accept()
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                return
            except OSError as exc:  # EMFILE, ENFILE, ENOBUFS, ENOMEM: pause, retry, say so
                name = errno.errorcode.get(exc.errno or 0, "")
                self.accept_errors.add(f"{name} {exc.strerror or exc}".strip())
                self.loop.remove_reader(listener.fileno())
                self.paused[listener.fileno()] = self.loop.call_later(
                    ACCEPT_PAUSE, self.loop.add_reader, listener.fileno(), self._accept, listener
                )
                return
            sock.setblocking(False)
            self._admit(sock, str(peer[0]) if isinstance(peer, tuple) else str(peer))

    def _admit(self, sock: socket.socket, peer: str) -> None:
        if len(self.conns) >= self.cap:
            victim = self._victim()
            self.over_cap.add(victim.peer if victim else peer)
            if victim is None:  # every connection is inside a request: refuse the newcomer
                sock.close()
                return
            victim.close()
            self.forget(victim)
        now = self.loop.time()
        conn = _Conn(sock, now, now, peer=peer)
        self.conns[conn] = None
        conn.deadline = self.loop.call_later(self.limits.read_header_timeout, self._expire, conn)
        conn.task = self.loop.create_task(self._open(conn))

    def _victim(self) -> _Conn | None:
        """The connection idle the longest; one that never sent a request before any."""
        idle = [c for c in self.conns if c.busy == 0]
        if not idle:
            return None
        return min(idle, key=lambda c: (c.requests > 0, c.last_active))

    async def _open(self, conn: _Conn) -> None:
        ssl_args: dict[str, Any] = {}
        if self.ssl_context is not None:
            if self.before_handshake is not None:
                self.before_handshake()
            ssl_args = {"ssl": self.ssl_context,
                        "ssl_handshake_timeout": self.limits.read_header_timeout}
        conn.opening = True
        try:
            await self.loop.connect_accepted_socket(
                lambda: _Tracked(self.factory(), conn, self), conn.sock, **ssl_args
            )
        except asyncio.CancelledError:
            self.forget(conn)
            conn.sock.close()
        except (OSError, ssl.SSLError, TimeoutError) as exc:  # a failed handshake, a reset
            log.debug("web: connection from %s failed to open: %r", conn.peer, exc)
            self.forget(conn)
            conn.sock.close()
        finally:
            conn.task = None

    def _expire(self, conn: _Conn) -> None:
        conn.deadline = None
        if conn.requests == 0 and not conn.done:
            self.timed_out.add(conn.peer)
            conn.close()
            self.forget(conn)

    def forget(self, conn: _Conn) -> None:
        """Drop a connection from the books and cancel its deadline; a second call does nothing."""
        if conn.done:
            return
        conn.done = True
        self.conns.pop(conn, None)
        if conn.transport is not None:
            self.by_transport.pop(conn.transport, None)
        if conn.deadline is not None:
            conn.deadline.cancel()
            conn.deadline = None

    # --- requests (from the middleware) --------------------------------------------------

    @web.middleware
    async def middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        """aiohttp middleware: marks the connection busy until the response is written."""
        conn = self.by_transport.get(request.transport) if request.transport else None
        if conn is None:
            return await handler(request)
        conn.requests += 1
        conn.busy += 1
        if conn.deadline is not None:
            conn.deadline.cancel()
            conn.deadline = None
        try:
            response = await handler(request)
            # Sent here, so the connection counts as busy until the body is written.
            await response.prepare(request)
            await response.write_eof()
            return response
        finally:
            conn.busy -= 1
            conn.last_active = self.loop.time()

    async def close(self) -> None:
        """Stop accepting and close the connections not yet handed to aiohttp (TLS handshake)."""
        for handle in self.paused.values():
            handle.cancel()
        for listener in self.listeners:
            self.loop.remove_reader(listener.fileno())
        for conn in list(self.conns):
            if conn.transport is None:
                conn.close()


def listening_sockets(host: str | None, port: int) -> list[socket.socket]:
    """Bound, listening, non-blocking sockets for host:port (None: every address)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    sockets: list[socket.socket] = []
    seen: set[Any] = set()
    try:
        for family, kind, proto, _name, address in infos:
            if (family, address) in seen:
                continue
            seen.add((family, address))
            try:
                sock = socket.socket(family, kind, proto)
            except OSError:  # a family this host lacks (no IPv6): as asyncio does, skip it
                continue
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
            sock.listen(BACKLOG)
            sock.setblocking(False)
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    if not sockets:
        raise OSError(f"no socket could be made for {host or '*'}:{port}")
    return sockets


class QuietServerLog(logging.LoggerAdapter):
    """aiohttp's server logger: a malformed request is the client's problem, at DEBUG."""

    def exception(self, msg: object, *args: object, exc_info: Any = True, **kw: Any) -> None:
        """A client's malformed request or dropped connection at DEBUG; anything else as ERROR."""
        exc = exc_info if isinstance(exc_info, BaseException) else sys.exc_info()[1]
        if isinstance(exc, HttpProcessingError | ConnectionError):
            self.logger.debug(f"{msg}: %r", *args, exc)
        else:
            self.logger.error(msg, *args, exc_info=exc_info, **kw)

    def debug(self, msg: object, *args: object, exc_info: Any = None, **kw: Any) -> None:
        """A DEBUG line; an exception given as exc_info is shown as one line, not a traceback."""
        if isinstance(exc_info, BaseException):  # the reason in one line, no traceback
            self.logger.debug(f"{msg}: %r", *args, exc_info, **kw)
        else:
            self.logger.debug(msg, *args, exc_info=exc_info, **kw)


def quiet_loop_errors(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """The web loop's exception handler: connection trouble at DEBUG, bugs as usual."""
    exc = context.get("exception")
    if isinstance(exc, OSError | ssl.SSLError | HttpProcessingError):
        log.debug("web: %s: %r", context.get("message", ""), exc)
        return
    loop.default_exception_handler(context)
