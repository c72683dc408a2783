"""TLS and basic auth from a Prometheus exporter-toolkit web-config file.

The file operators already write for node_exporter (``--web.config.file``) works
unchanged::

    tls_server_config:
      cert_file: server.crt        # relative paths: relative to this file
      key_file: server.key
      min_version: TLS12
    basic_auth_users:
      prometheus: $2y$10$...       # bcrypt hash (htpasswd -nBC 10 "" | tr -d ':')

Supported keys: ``tls_server_config`` (cert_file/key_file or inline cert/key,
client_auth_type with client_ca_file, client_allowed_sans, min_version, max_version,
cipher_suites, prefer_server_cipher_suites, curve_preferences), ``http_server_config``
(headers, http2) and ``basic_auth_users``. Unknown keys are errors, as in the toolkit.

Basic auth guards every endpoint. Any failure (no header, malformed header, unknown user,
wrong password) gets the same bare 401: the client learns nothing about which. bcrypt runs
in a worker thread, and for unknown users against a dummy hash of the same cost, so the
response time does not tell users apart; successful checks are cached (bounded) so that a
scrape every few seconds does not cost a bcrypt each.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import logging
import os
import ssl
import tempfile
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import bcrypt
import yaml
from aiohttp import web

log = logging.getLogger(__name__)

_TLS_VERSIONS = {
    "TLS10": ssl.TLSVersion.TLSv1,
    "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}

# Go crypto/tls names (what the toolkit accepts) → OpenSSL names. TLS 1.3 suites are not
# configurable in Go either.
_CIPHERS = {
    "TLS_RSA_WITH_AES_128_CBC_SHA": "AES128-SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA": "AES256-SHA",
    "TLS_RSA_WITH_AES_128_GCM_SHA256": "AES128-GCM-SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384": "AES256-GCM-SHA384",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA": "ECDHE-ECDSA-AES128-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA": "ECDHE-ECDSA-AES256-SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA": "ECDHE-RSA-AES128-SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA": "ECDHE-RSA-AES256-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256": "ECDHE-ECDSA-AES128-GCM-SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384": "ECDHE-ECDSA-AES256-GCM-SHA384",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256": "ECDHE-RSA-AES128-GCM-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384": "ECDHE-RSA-AES256-GCM-SHA384",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305": "ECDHE-ECDSA-CHACHA20-POLY1305",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-ECDSA-CHACHA20-POLY1305",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305": "ECDHE-RSA-CHACHA20-POLY1305",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-RSA-CHACHA20-POLY1305",
}
_CURVES = {"CurveP256", "CurveP384", "CurveP521", "X25519", "X25519MLKEM768"}
_CLIENT_AUTH = {
    "NoClientCert": ssl.CERT_NONE,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}
_HEADERS = {
    "Strict-Transport-Security", "X-Content-Type-Options", "X-Frame-Options",
    "X-XSS-Protection", "Content-Security-Policy",
}  # fmt: skip
_TLS_KEYS = {
    "cert_file", "key_file", "cert", "key", "client_auth_type", "client_ca_file",
    "client_ca", "client_allowed_sans", "min_version", "max_version", "cipher_suites",
    "prefer_server_cipher_suites", "curve_preferences",
}  # fmt: skip
_CACHE_SIZE = 256
#: Top-level exporter-toolkit keys accepted with a warning rather than refused.
_TOOLKIT_NOT_APPLIED = frozenset({"rate_limit"})
MAX_WEB_CONFIG_BYTES = 1024 * 1024
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


class WebConfigError(ValueError):
    """The web-config file cannot be used; the message names the file and key."""


class CertificateFiles:
    """The certificate and key files behind a TLS context, re-read when either changes, as
    the exporter-toolkit re-reads them per handshake: a rotated certificate is served without
    a restart. Checked at most once a second; a broken new pair keeps the old one (logged)."""

    def __init__(self, ctx: ssl.SSLContext, cert_file: str, key_file: str) -> None:
        self.ctx, self.cert_file, self.key_file = ctx, cert_file, key_file
        self._checked = time.monotonic()
        self._stamp = self._files_stamp()
        self._refused: tuple[int, ...] | None = None

    def _files_stamp(self) -> tuple[int, ...] | None:
        try:
            a, b = os.stat(self.cert_file), os.stat(self.key_file)
        except OSError:
            return None
        return (a.st_mtime_ns, a.st_size, a.st_ino, b.st_mtime_ns, b.st_size, b.st_ino)

    def refresh(self) -> None:
        """Reload the pair when the files changed, at most once a second; a bad pair is refused."""
        now = time.monotonic()
        if now - self._checked < 1.0:
            return
        self._checked = now
        stamp = self._files_stamp()
        if stamp is None or stamp == self._stamp or stamp == self._refused:
            return
        try:
            self.ctx.load_cert_chain(self.cert_file, self.key_file)
        except (OSError, ssl.SSLError) as exc:  # half-written or mismatched: keep the old pair
            self._refused = stamp
            log.warning("web: new certificate %s not loaded (%s); serving the previous one",
                        self.cert_file, exc)
            return
        self._stamp = stamp
        log.info("web: certificate %s reloaded", self.cert_file)


@dataclass(frozen=True)
class WebSecurity:
    """What the HTTP server applies: a TLS context, users, extra response headers."""

    ssl_context: ssl.SSLContext | None = None
    users: Mapping[str, bytes] = field(default_factory=dict)  # user -> bcrypt hash
    headers: Mapping[str, str] = field(default_factory=dict)
    allowed_sans: tuple[str, ...] = ()
    source: str = ""
    certificates: CertificateFiles | None = None  # set when the pair comes from files

    def refresh_certificates(self) -> None:
        """Before a TLS handshake: pick up a rotated certificate (cheap when unchanged)."""
        if self.certificates is not None:
            self.certificates.refresh()

    @property
    def scheme(self) -> str:
        """"https" with a TLS context, else "http"."""
        return "https" if self.ssl_context is not None else "http"


def load_web_config(path: str | None) -> WebSecurity:
    """Read and check a web-config file; None (no file) means plain HTTP, no auth."""
    if not path:
        return WebSecurity()
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read(MAX_WEB_CONFIG_BYTES + 1)
        if len(text) > MAX_WEB_CONFIG_BYTES:
            raise WebConfigError(f"{path}: more than 1 MiB; a web config is a few lines")
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.AliasEvent):  # an alias bomb expands to gigabytes
                line = event.start_mark.line + 1 if event.start_mark is not None else "?"
                raise WebConfigError(f"{path}:{line}: YAML aliases "
                                     f"(*{event.anchor}) are not allowed")  # fmt: skip
        data = yaml.safe_load(text) or {}
    except OSError as exc:
        raise WebConfigError(f"{path}: cannot read web config: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise WebConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise WebConfigError(f"{path}: a mapping of settings expected")
    for key in _TOOLKIT_NOT_APPLIED & set(data):
        log.warning("%s: %s is an exporter-toolkit key ccmon does not apply (web.max_connections"
                    " and the failed-login limit guard the server instead); ignored", path, key)
    _reject_unknown(path, "", data, {"tls_server_config", "http_server_config",
                                     "basic_auth_users", *_TOOLKIT_NOT_APPLIED})
    base = os.path.dirname(os.path.abspath(path))
    tls = _mapping(path, "tls_server_config", data.get("tls_server_config"))
    http = _mapping(path, "http_server_config", data.get("http_server_config"))
    users = _users(path, data.get("basic_auth_users"))
    _reject_unknown(path, "http_server_config.", http, {"headers", "http2"})
    headers = _mapping(path, "http_server_config.headers", http.get("headers"))
    for name in headers:
        if name not in _HEADERS:
            raise WebConfigError(f"{path}: http_server_config.headers: {name!r} not allowed")
    context = _ssl_context(path, base, tls) if tls else None
    certificates = None
    if context is not None and tls.get("cert_file") and tls.get("key_file"):
        certificates = CertificateFiles(context, _file(base, str(tls["cert_file"])),
                                        _file(base, str(tls["key_file"])))
    sans = tuple(str(s) for s in tls.get("client_allowed_sans") or ())
    return WebSecurity(context, users, {str(k): str(v) for k, v in headers.items()}, sans, path,
                       certificates)


def _reject_unknown(path: str, prefix: str, data: Mapping[str, Any], known: set[str]) -> None:
    for key in data:
        if key not in known:
            raise WebConfigError(f"{path}: unknown key {prefix}{key}")


def _mapping(path: str, key: str, value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise WebConfigError(f"{path}: {key}: a mapping expected")
    return value


def _users(path: str, value: Any) -> dict[str, bytes]:
    users = {}
    for user, hashed in _mapping(path, "basic_auth_users", value).items():
        encoded = str(hashed or "").encode()
        try:
            bcrypt.checkpw(b"", encoded)
        except ValueError:
            raise WebConfigError(
                f"{path}: basic_auth_users.{user}: not a bcrypt hash ($2a$/$2b$/$2y$...)"
            ) from None
        users[str(user)] = encoded
    return users


def _file(base: str, name: str) -> str:
    return name if os.path.isabs(name) else os.path.join(base, name)


def _ssl_context(path: str, base: str, tls: Mapping[str, Any]) -> ssl.SSLContext:
    _reject_unknown(path, "tls_server_config.", tls, _TLS_KEYS)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    key = "tls_server_config"
    try:
        _load_chain(path, base, tls, ctx)
        ctx.minimum_version = _version(path, f"{key}.min_version", tls.get("min_version", "TLS12"))
        if tls.get("max_version"):
            ctx.maximum_version = _version(path, f"{key}.max_version", tls["max_version"])
        if tls.get("cipher_suites"):
            ctx.set_ciphers(":".join(_cipher(path, c) for c in tls["cipher_suites"]))
        for curve in tls.get("curve_preferences") or ():
            if curve not in _CURVES:
                raise WebConfigError(f"{path}: {key}.curve_preferences: unknown curve {curve!r}")
        if tls.get("curve_preferences"):
            log.warning("%s: curve_preferences not applied; OpenSSL's defaults are used", path)
        _client_auth(path, base, tls, ctx)
    except ssl.SSLError as exc:
        raise WebConfigError(f"{path}: {key}: {exc.reason or exc}") from None
    except OSError as exc:
        raise WebConfigError(f"{path}: {key}: {exc.filename}: {exc.strerror}") from None
    return ctx


def _load_chain(path: str, base: str, tls: Mapping[str, Any], ctx: ssl.SSLContext) -> None:
    key = "tls_server_config"
    if tls.get("cert_file") and tls.get("key_file"):
        files = {k: _file(base, str(tls[k])) for k in ("cert_file", "key_file")}
        for name, file in files.items():
            if not os.path.isfile(file):
                raise WebConfigError(f"{path}: {key}.{name}: {file}: no such file")
        ctx.load_cert_chain(files["cert_file"], files["key_file"])
    elif tls.get("cert") and tls.get("key"):
        with tempfile.TemporaryDirectory() as tmp:  # ssl loads PEM from files only
            cert, keyfile = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
            for name, text in ((cert, tls["cert"]), (keyfile, tls["key"])):
                fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w", encoding="utf-8") as f:
                    f.write(str(text))
            ctx.load_cert_chain(cert, keyfile)
    else:
        raise WebConfigError(f"{path}: {key}: cert_file and key_file (or cert and key) needed")


def _client_auth(path: str, base: str, tls: Mapping[str, Any], ctx: ssl.SSLContext) -> None:
    key = "tls_server_config.client_auth_type"
    auth = str(tls.get("client_auth_type") or "NoClientCert")
    if auth not in _CLIENT_AUTH:
        raise WebConfigError(
            f"{path}: {key}: {auth!r} not supported (use {', '.join(sorted(_CLIENT_AUTH))})"
        )
    if tls.get("client_ca_file"):
        cafile = _file(base, str(tls["client_ca_file"]))
        if not os.path.isfile(cafile):
            raise WebConfigError(
                f"{path}: tls_server_config.client_ca_file: {cafile}: no such file"
            )
        ctx.load_verify_locations(cafile=cafile)
    elif tls.get("client_ca"):
        ctx.load_verify_locations(cadata=str(tls["client_ca"]))
    elif auth != "NoClientCert":
        raise WebConfigError(f"{path}: {key}: {auth} needs client_ca_file")
    ctx.verify_mode = _CLIENT_AUTH[auth]
    if tls.get("client_allowed_sans") and auth == "NoClientCert":
        raise WebConfigError(f"{path}: client_allowed_sans needs a client_auth_type")


def _version(path: str, key: str, value: Any) -> ssl.TLSVersion:
    try:
        return _TLS_VERSIONS[str(value)]
    except KeyError:
        raise WebConfigError(f"{path}: {key}: {value!r} (use TLS10..TLS13)") from None


def _cipher(path: str, name: Any) -> str:
    try:
        return _CIPHERS[str(name)]
    except KeyError:
        raise WebConfigError(f"{path}: tls_server_config.cipher_suites: unknown {name!r}") from None


# --- the middleware ------------------------------------------------------------------

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
