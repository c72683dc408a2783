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
Read with the config reader kit (:mod:`monitor.config.reader`): every error names the
file, the line and the key. The users guard the endpoints in :mod:`monitor.web.auth`.
"""

from __future__ import annotations

import logging
import os
import ssl
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import bcrypt
import yaml

from monitor.config.reader import MAX_CONFIG_BYTES, ConfigError, Section, compose, line_of, plain

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
#: Top-level exporter-toolkit keys accepted with a warning rather than refused.
_TOOLKIT_NOT_APPLIED = frozenset({"rate_limit"})
MAX_WEB_CONFIG_BYTES = MAX_CONFIG_BYTES  # 1 MiB, as config.yaml


class WebConfigError(ConfigError):
    """The web-config file cannot be used; the message names the file, line and key."""


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
        return _parse(_read(path), path)
    except WebConfigError:
        raise
    except ConfigError as exc:  # from the reader kit: the same message, the web-config's type
        raise WebConfigError(str(exc)) from None


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read(MAX_WEB_CONFIG_BYTES + 1)
    except OSError as exc:
        raise WebConfigError(f"{path}: cannot read web config: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise WebConfigError(f"{path}: not UTF-8 text") from None
    if len(text) > MAX_WEB_CONFIG_BYTES:
        raise WebConfigError(f"{path}: more than 1 MiB; a web config is a few lines")
    return text


def _parse(text: str, path: str) -> WebSecurity:
    """The web-config document → WebSecurity; ConfigError naming file, line and key."""
    root = Section(compose(text, path, "web config"), "", path)
    for key in sorted(_TOOLKIT_NOT_APPLIED & set(root.items)):
        log.warning("%s:%d: %s is an exporter-toolkit key ccmon does not apply "
                    "(web.max_connections and the failed-login limit guard the server "
                    "instead); ignored", path, line_of(root.items[key][0]), key)
    root.reject_unknown({"tls_server_config", "http_server_config", "basic_auth_users",
                         *_TOOLKIT_NOT_APPLIED})
    base = os.path.dirname(os.path.abspath(path))
    tls = root.section("tls_server_config")
    http = root.section("http_server_config")
    http.reject_unknown({"headers", "http2"})
    users = _users(root.section("basic_auth_users"))
    headers = _headers(http.section("headers"))
    if not tls.items:
        return WebSecurity(None, users, headers, (), path, None)
    context = _ssl_context(tls, base)
    certificates = None
    if "cert_file" in tls.items and "key_file" in tls.items:
        certificates = CertificateFiles(context, _file(base, tls.get("cert_file", str, "")),
                                        _file(base, tls.get("key_file", str, "")))
    none: tuple[str, ...] = ()
    sans = tls.get("client_allowed_sans", _text_list, none)
    return WebSecurity(context, users, headers, sans, path, certificates)


def _users(section: Section) -> dict[str, bytes]:
    users = {}
    for user, (_key_node, value_node) in section.items.items():
        encoded = str(plain(value_node) or "").encode()
        try:
            bcrypt.checkpw(b"", encoded)
        except ValueError:
            raise section.error(value_node, f"{section.name(user)}: not a bcrypt hash "
                                            "($2a$/$2b$/$2y$...)") from None
        users[user] = encoded
    return users


def _headers(section: Section) -> dict[str, str]:
    for name, (key_node, _value_node) in section.items.items():
        if name not in _HEADERS:
            raise section.error(key_node, f"{section.path}: {name!r} not allowed "
                                          f"(allowed: {', '.join(sorted(_HEADERS))})")
    return {name: str(plain(value)) for name, (_key, value) in section.items.items()}


def _text_list(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise ValueError(f"a list expected, got {value!r}")
    return tuple(str(v) for v in value)


def _file(base: str, name: str) -> str:
    return name if os.path.isabs(name) else os.path.join(base, name)


def _tls_version(value: Any) -> ssl.TLSVersion:
    try:
        return _TLS_VERSIONS[str(value)]
    except KeyError:
        raise ValueError(f"{value!r} (use TLS10..TLS13)") from None


def _ciphers(value: Any) -> str:
    names = value if isinstance(value, list) else [value]
    unknown = [str(n) for n in names if str(n) not in _CIPHERS]
    if unknown:
        raise ValueError(f"unknown {', '.join(map(repr, unknown))}")
    return ":".join(_CIPHERS[str(n)] for n in names)


def _curves(value: Any) -> tuple[str, ...]:
    for curve in _text_list(value):
        if curve not in _CURVES:
            raise ValueError(f"unknown curve {curve!r}")
    return _text_list(value)


def _key_node(tls: Section, *keys: str) -> yaml.Node:
    """The node an error about these keys points at: the first given, else the section."""
    for key in keys:
        if key in tls.items:
            return tls.items[key][0]
    assert tls.node is not None  # only called for a section that has items
    return tls.node


def _ssl_context(tls: Section, base: str) -> ssl.SSLContext:
    tls.reject_unknown(_TLS_KEYS)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    _load_chain(tls, base, ctx)
    ctx.minimum_version = tls.get("min_version", _tls_version, ssl.TLSVersion.TLSv1_2)
    if tls.raw("max_version"):
        ctx.maximum_version = tls.get("max_version", _tls_version, ctx.maximum_version)
    if tls.raw("cipher_suites"):
        try:
            ctx.set_ciphers(tls.get("cipher_suites", _ciphers, ""))
        except ssl.SSLError as exc:
            raise tls.error(_key_node(tls, "cipher_suites"),
                            f"{tls.name('cipher_suites')}: {exc.reason or exc}") from None
    if tls.raw("curve_preferences") and tls.get("curve_preferences", _curves, None):
        log.warning("%s: curve_preferences not applied; OpenSSL's defaults are used", tls.source)
    _client_auth(tls, base, ctx)
    return ctx


def _load_chain(tls: Section, base: str, ctx: ssl.SSLContext) -> None:
    at = _key_node(tls, "cert_file", "cert", "key_file", "key")
    try:
        if tls.raw("cert_file") and tls.raw("key_file"):
            files = {k: _file(base, str(tls.raw(k))) for k in ("cert_file", "key_file")}
            for name, file in files.items():
                if not os.path.isfile(file):
                    raise tls.error(tls.items[name][1], f"{tls.name(name)}: {file}: no such file")
            ctx.load_cert_chain(files["cert_file"], files["key_file"])
        elif tls.raw("cert") and tls.raw("key"):
            _load_inline_chain(str(tls.raw("cert")), str(tls.raw("key")), ctx)
        else:
            raise tls.error(at, f"{tls.path}: cert_file and key_file (or cert and key) needed")
    except ssl.SSLError as exc:
        raise tls.error(at, f"{tls.path}: {exc.reason or exc}") from None
    except OSError as exc:
        raise tls.error(at, f"{tls.path}: {exc.filename}: {exc.strerror}") from None


def _load_inline_chain(cert_text: str, key_text: str, ctx: ssl.SSLContext) -> None:
    with tempfile.TemporaryDirectory() as tmp:  # ssl loads PEM from files only
        cert, keyfile = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
        for name, text in ((cert, cert_text), (keyfile, key_text)):
            fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
        ctx.load_cert_chain(cert, keyfile)


def _client_auth(tls: Section, base: str, ctx: ssl.SSLContext) -> None:
    auth = str(tls.raw("client_auth_type") or "NoClientCert")
    if auth not in _CLIENT_AUTH:
        raise tls.error(tls.items["client_auth_type"][1],
                        f"{tls.name('client_auth_type')}: {auth!r} not supported "
                        f"(use {', '.join(sorted(_CLIENT_AUTH))})")
    try:
        if tls.raw("client_ca_file"):
            cafile = _file(base, str(tls.raw("client_ca_file")))
            if not os.path.isfile(cafile):
                raise tls.error(tls.items["client_ca_file"][1],
                                f"{tls.name('client_ca_file')}: {cafile}: no such file")
            ctx.load_verify_locations(cafile=cafile)
        elif tls.raw("client_ca"):
            ctx.load_verify_locations(cadata=str(tls.raw("client_ca")))
        elif auth != "NoClientCert":
            raise tls.error(tls.items["client_auth_type"][1],
                            f"{tls.name('client_auth_type')}: {auth} needs client_ca_file")
    except (ssl.SSLError, OSError) as exc:
        at = _key_node(tls, "client_ca_file", "client_ca")
        raise tls.error(at, f"{tls.path}: {getattr(exc, 'reason', None) or exc}") from None
    ctx.verify_mode = _CLIENT_AUTH[auth]
    if tls.raw("client_allowed_sans") and auth == "NoClientCert":
        raise tls.error(tls.items["client_allowed_sans"][0],
                        f"{tls.name('client_allowed_sans')}: needs a client_auth_type")
