"""exporter-toolkit web-config: loading, basic auth on every endpoint, TLS."""

from __future__ import annotations

import base64
import re
import ssl
import time
import urllib.error
import urllib.request
from pathlib import Path

import bcrypt
import pytest
from aiohttp.test_utils import TestClient, TestServer

from monitor.config.webconfig import WebConfigError, WebSecurity, load_web_config
from monitor.snapshot import MonitorState, Snapshot
from monitor.web import WebServer, make_app
from tests.monitor import ccmon_fixtures as fx

HASH = bcrypt.hashpw(b"s3cret", bcrypt.gensalt(4)).decode()


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "web.yml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def test_no_file_means_open() -> None:
    sec = load_web_config(None)
    assert sec.ssl_context is None and not sec.users and sec.scheme == "http"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("bogus: 1\n", "web.yml:1: bogus: unknown key"),
        ("basic_auth_users:\n  a: plaintext\n", "web.yml:2: basic_auth_users.a: not a bcrypt hash"),
        ("tls_server_config:\n  cert_file: x.crt\n",
         "web.yml:2: tls_server_config: cert_file and key_file"),
        ("tls_server_config:\n  cert_file: x.crt\n  key_file: x.key\n",
         "web.yml:2: tls_server_config.cert_file: .*x.crt: no such file"),
        ("tls_server_config:\n  foo: 1\n", "web.yml:2: tls_server_config.foo: unknown key"),
        ("http_server_config:\n  headers:\n    Server: x\n",
         "web.yml:3: http_server_config.headers: 'Server' not allowed"),
        ("- a\n- b\n", "web.yml:1: the file must be a mapping"),
        ("tls_server_config: [a]\n", "web.yml:1: tls_server_config must be a mapping"),
        ("a: [\n", "web.yml: not valid YAML"),
        ("a: &a [x, x]\nb: &b [*a, *a]\nbasic_auth_users: *b\n",
         r"web.yml:2: YAML aliases \(\*a\)"),
    ],
)
def test_bad_files(tmp_path: Path, text: str, message: str) -> None:
    """Every error names the file, the line and the key, as config.yaml's do."""
    with pytest.raises(WebConfigError) as caught:
        load_web_config(write(tmp_path, text))
    assert re.match(f"{re.escape(str(tmp_path))}/{message}", str(caught.value)), caught.value


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(WebConfigError, match="cannot read"):
        load_web_config(str(tmp_path / "absent.yml"))


def test_tls_options(tmp_path: Path) -> None:
    fx.make_cert(str(tmp_path))
    sec = load_web_config(write(tmp_path, (
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
        "  min_version: TLS13\n"
        "  cipher_suites: [TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256]\n"
    )))  # fmt: skip
    assert sec.ssl_context is not None and sec.scheme == "https"
    assert sec.ssl_context.minimum_version == ssl.TLSVersion.TLSv1_3
    for bad, message in (("min_version: SSL3", "min_version: 'SSL3' .*TLS10..TLS13"),
                         ("cipher_suites: [NOPE]", "cipher_suites: unknown 'NOPE'"),
                         ("client_auth_type: RequireAndVerifyClientCert",
                          "client_auth_type: RequireAndVerifyClientCert needs client_ca_file"),
                         ("client_auth_type: RequestClientCert",
                          "client_auth_type: 'RequestClientCert' not supported")):  # fmt: skip
        text = f"tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  {bad}\n"
        with pytest.raises(WebConfigError, match=f"web.yml:4: tls_server_config.{message}"):
            load_web_config(write(tmp_path, text))


def test_inline_cert(tmp_path: Path) -> None:
    cert, key = fx.make_cert(str(tmp_path))
    indent = lambda p: "\n".join("    " + line for line in Path(p).read_text().splitlines())  # noqa: E731
    text = f"tls_server_config:\n  cert: |\n{indent(cert)}\n  key: |\n{indent(key)}\n"
    assert load_web_config(write(tmp_path, text)).ssl_context is not None


async def test_basic_auth_on_every_endpoint(tmp_path: Path) -> None:
    sec = load_web_config(write(tmp_path, (
        f"basic_auth_users:\n  prometheus: '{HASH}'\n"
        "http_server_config:\n  headers:\n    X-Frame-Options: deny\n"
    )))  # fmt: skip
    nocolon = "Basic " + base64.b64encode(b"nocolon").decode()
    bad_headers = [
        {},
        basic("prometheus", "wrong"),
        basic("nobody", "s3cret"),
        {"Authorization": "Basic !!!"},
        {"Authorization": "Bearer x"},
        {"Authorization": nocolon},
    ]
    for path in ("/", "/metrics", "/healthz", "/api/v1/zones", "/api/v1/zones/mx", "/x"):
        # A fresh server per path: 5 failed logins each, under the limit of 10 a minute.
        app = make_app(MonitorState(Snapshot(zones=("mx",), started_at=time.time())), sec)
        async with TestClient(TestServer(app)) as client:
            for headers in bad_headers:
                resp = await client.get(path, headers=headers)
                assert resp.status == 401, (path, headers)
                assert await resp.text() == "Unauthorized\n"
                assert resp.headers["WWW-Authenticate"].startswith("Basic")
            resp = await client.get(path, headers=basic("prometheus", "s3cret"))
            assert resp.status == (404 if path == "/x" else 200), path
    assert resp.headers["X-Frame-Options"] == "deny"  # a 404 too; the configured value wins
    assert resp.headers["X-Content-Type-Options"] == "nosniff"


def test_tls_server_with_auth(tmp_path: Path) -> None:
    cert, _key = fx.make_cert(str(tmp_path))
    sec = load_web_config(write(tmp_path, (
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
        f"basic_auth_users:\n  prometheus: '{HASH}'\n"
    )))  # fmt: skip
    server = WebServer(make_app(MonitorState(Snapshot(zones=("mx",))), sec), "127.0.0.1:0",
                       sec.ssl_context)  # fmt: skip
    server.start()
    try:
        assert server.url.startswith("https://127.0.0.1:")
        ctx = ssl.create_default_context(cafile=cert)
        req = urllib.request.Request(server.url + "metrics", headers=basic("prometheus", "s3cret"))
        with urllib.request.urlopen(req, context=ctx, timeout=5) as resp:
            assert resp.status == 200 and b"ccmon_build_info" in resp.read()
        req = urllib.request.Request(server.url + "metrics", headers=basic("prometheus", "x"))
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(req, context=ctx, timeout=5)
        assert err.value.code == 401
        err.value.close()
        plain = server.url.replace("https://", "http://") + "metrics"
        with pytest.raises((urllib.error.URLError, ConnectionError, OSError)):
            urllib.request.urlopen(plain, timeout=5)
    finally:
        server.stop()


def test_security_default() -> None:
    assert WebSecurity().scheme == "http"


def _served_certificate(port: int) -> bytes:
    """The DER certificate the server presents on a fresh TLS handshake."""
    import socket

    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, \
            ctx.wrap_socket(raw) as tls:
        return tls.getpeercert(binary_form=True) or b""


def test_rotated_certificate_is_served_without_a_restart(tmp_path: Path) -> None:
    """As the exporter-toolkit re-reads its files: a renewed certificate (cert-manager,
    certbot) is picked up by the next handshake, and a broken pair keeps the old one."""
    import shutil

    fx.make_cert(str(tmp_path), "server")
    sec = load_web_config(write(tmp_path, "tls_server_config:\n  cert_file: server.crt\n"
                                          "  key_file: server.key\n"))
    server = WebServer(make_app(MonitorState(Snapshot(zones=("mx",))), sec), "127.0.0.1:0",
                       sec.ssl_context, before_handshake=sec.refresh_certificates)
    server.start()
    port = int(server.url.rsplit(":", 1)[1].strip("/"))
    try:
        first = _served_certificate(port)
        renewed = tmp_path / "renewed"
        renewed.mkdir()
        fx.make_cert(str(renewed), "server")
        time.sleep(1.1)  # the files are looked at at most once a second
        for name in ("server.crt", "server.key"):
            shutil.copy(renewed / name, tmp_path / f"{name}.new")
            (tmp_path / f"{name}.new").replace(tmp_path / name)  # atomic, as renewers do
        second = _served_certificate(port)
        assert second != first
        assert second == ssl.PEM_cert_to_DER_cert((renewed / "server.crt").read_text())
        time.sleep(1.1)
        (tmp_path / "server.crt").write_text("not a certificate")  # a half-written renewal
        assert _served_certificate(port) == second
    finally:
        server.stop()


def test_toolkit_rate_limit_is_accepted_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sec = load_web_config(write(tmp_path, "rate_limit:\n  interval: 1s\n  burst: 10\n"))
    assert sec.scheme == "http"
    assert "rate_limit is an exporter-toolkit key ccmon does not apply" in caplog.text
    with pytest.raises(WebConfigError, match=r"web\.yml:1: rate_limits: unknown key"):
        load_web_config(write(tmp_path, "rate_limits: {}\n"))
