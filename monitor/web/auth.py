"""Basic auth for every endpoint, by the users of the web-config file.

Any failure (no header, malformed header, unknown user, wrong password) gets the same bare
401: the client learns nothing about which. bcrypt runs in a worker thread, and for unknown
users against a dummy hash of the same cost, so the response time does not tell users
apart; successful checks are cached (bounded) so that a scrape every few seconds does not
cost a bcrypt each. The users, the TLS context and the headers come from
:func:`monitor.config.webconfig.load_web_config`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import logging
import os
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

import bcrypt
from aiohttp import web

from monitor.config.webconfig import WebSecurity

log = logging.getLogger(__name__)

_CACHE_SIZE = 256
BCRYPT_MAX_BYTES = 72  # bcrypt ignores (bcrypt >= 5: refuses) longer passwords
FAILURES_ALLOWED = 10  # failed logins per client address per window before 429s
FAILURE_WINDOW = 60.0  # s
FAILURE_TABLE_SIZE = 4096  # client addresses remembered (oldest forgotten first)
LOG_FAILURES_EVERY = 60.0  # s

# Sent with every response unless the web-config's http_server_config.headers says
# otherwise. The status page narrows the CSP to its own inline style and script.
DEFAULT_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; "
                               "form-action 'none'",
}  # fmt: skip

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _unauthorized() -> web.Response:
    return web.Response(
        status=401,
        text="Unauthorized\n",
        headers={"WWW-Authenticate": 'Basic realm="ccmon", charset="UTF-8"'},
    )


def _too_many(retry_after: float) -> web.Response:
    return web.Response(status=429, text="Too many failed logins; try again later\n",
                        headers={"Retry-After": str(max(1, int(retry_after + 0.999)))})


class FailedLogins:
    """Guesses per client address: FAILURES_ALLOWED per FAILURE_WINDOW, then 429.

    A guess is a failing credential not seen failing before (the Guard remembers recent
    failures): a misconfigured scraper repeating one wrong password gets its 401 each time
    and locks nobody out. A limited address gets 429 for every request that carries
    credentials, right or wrong (else a cached right password would be an oracle), so
    guessing runs at 10 tries a minute per address, not at bcrypt speed; a request without
    credentials still gets its 401. Bounded: the least recently failing addresses are
    forgotten first."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._table: OrderedDict[str, tuple[float, int]] = OrderedDict()  # start, count
        self.total = 0
        self._since_log = 0
        self._logged_at = -LOG_FAILURES_EVERY

    def retry_after(self, address: str) -> float | None:
        """Seconds until the address may try again, or None when it may now."""
        entry = self._table.get(address)
        if entry is None:
            return None
        start, count = entry
        left = start + FAILURE_WINDOW - self.clock()
        if left <= 0:
            del self._table[address]
            return None
        return left if count >= FAILURES_ALLOWED else None

    def fail(self, address: str) -> None:
        """Count a failed login from this address; logs a summary at most once a minute."""
        now = self.clock()
        start, count = self._table.pop(address, (now, 0))
        if now - start >= FAILURE_WINDOW:
            start, count = now, 0
        self._table[address] = (start, count + 1)
        while len(self._table) > FAILURE_TABLE_SIZE:
            self._table.popitem(last=False)
        self.total += 1
        self._since_log += 1
        if now - self._logged_at >= LOG_FAILURES_EVERY:
            log.warning("web: %d failed login(s) since the last such line; last from %s "
                        "(%d a minute per address allowed, then 429)",
                        self._since_log, address, FAILURES_ALLOWED)  # fmt: skip
            self._logged_at = now
            self._since_log = 0


def _credentials(header: str | None) -> tuple[str, str] | None:
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "basic" or not token:
        return None
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None


def _client_sans(request: web.Request) -> set[str]:
    cert = request.transport.get_extra_info("peercert") if request.transport else None
    return {str(value) for _kind, value in (cert or {}).get("subjectAltName", ())}


class Guard:
    """The aiohttp middleware: basic auth, allowed client SANs, failed-login limits, headers."""

    def __init__(
        self, security: WebSecurity, on_auth_failure: Callable[[], None] | None = None
    ) -> None:
        self.security = security
        self.failed = FailedLogins()
        self.on_auth_failure = on_auth_failure or (lambda: None)
        self._ok: dict[bytes, bool] = {}
        self._bad: OrderedDict[bytes, None] = OrderedDict()  # recently failed Authorization
        first = next(iter(security.users.values()), b"")
        cost = first[4:6] if first[:1] == b"$" else b"10"
        rounds = int(cost) if cost.isdigit() else 10
        self._dummy = bcrypt.hashpw(os.urandom(16), bcrypt.gensalt(rounds)) if first else b""

    async def check(self, header: str | None) -> bool:
        """The basic-auth header names a configured user and the right password."""
        creds = _credentials(header)
        if creds is None:
            return False
        user, password = creds
        if len(password.encode()) > BCRYPT_MAX_BYTES:  # no user has such a password: 401
            return False
        hashed = self.security.users.get(user)
        key = hashlib.sha256(f"{user}\0{password}".encode() + b"\0" + (hashed or b"")).digest()
        if hashed is not None and key in self._ok:
            return True
        loop = asyncio.get_running_loop()
        target = hashed if hashed is not None else self._dummy
        good = await loop.run_in_executor(None, bcrypt.checkpw, password.encode(), target)
        if good and hashed is not None:
            if len(self._ok) >= _CACHE_SIZE:
                self._ok.clear()
            self._ok[key] = True
            return True
        return False

    async def _authenticate(self, request: web.Request) -> web.Response | None:
        """None when the request may pass; else the 401 or 429 to answer."""
        sec = self.security
        if sec.allowed_sans and not (_client_sans(request) & set(sec.allowed_sans)):
            return _unauthorized()
        if not sec.users:
            return None
        address = request.remote or ""
        header = request.headers.get("Authorization")
        if not header:  # a browser's first request, a health probe: not a failed login
            return _unauthorized()
        wait = self.failed.retry_after(address)
        if wait is not None:
            self.on_auth_failure()
            return _too_many(wait)
        seen = hashlib.sha256(header.encode("utf-8", "surrogateescape")).digest()
        if seen in self._bad:  # the same wrong credentials again: no bcrypt, not a guess
            self._bad.move_to_end(seen)
            self.on_auth_failure()
            return _unauthorized()
        if await self.check(header):
            return None
        self._bad[seen] = None
        while len(self._bad) > _CACHE_SIZE:
            self._bad.popitem(last=False)
        self.failed.fail(address)
        self.on_auth_failure()
        return _unauthorized()

    def _headers(self, headers: Any) -> None:
        for name, value in DEFAULT_HEADERS.items():
            headers.setdefault(name, value)
        for name, value in self.security.headers.items():
            headers[name] = value

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """aiohttp middleware: refuse unauthenticated requests, add the configured headers."""
        refused = await self._authenticate(request)
        if refused is not None:
            self._headers(refused.headers)
            return refused
        try:
            response = await handler(request)
        except web.HTTPException as exc:  # 404, 405: the same headers
            self._headers(exc.headers)
            raise
        self._headers(response.headers)
        return response
