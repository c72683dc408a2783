"""exporter-toolkit web-config: loading, basic auth on every endpoint, TLS."""

from __future__ import annotations

import base64
import ssl
import time
import urllib.error
import urllib.request
from pathlib import Path

import bcrypt
import pytest
from aiohttp.test_utils import TestClient, TestServer

from monitor.status import MonitorState, Snapshot
from monitor.web import WebServer, make_app
from monitor.webconfig import WebConfigError, WebSecurity, load_web_config
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
        ("bogus: 1\n", "unknown key bogus"),
        ("basic_auth_users:\n  a: plaintext\n", "basic_auth_users.a: not a bcrypt hash"),
        ("tls_server_config:\n  cert_file: x.crt\n", "cert_file and key_file"),
        ("tls_server_config:\n  cert_file: x.crt\n  key_file: x.key\n", "x.crt"),
        ("tls_server_config:\n  foo: 1\n", "unknown key tls_server_config.foo"),
        ("http_server_config:\n  headers:\n    Server: x\n", "'Server' not allowed"),
        ("- a\n- b\n", "mapping"),
        ("a: [\n", "not valid YAML"),
        ("a: &a [x, x]\nb: &b [*a, *a]\nbasic_auth_users: *b\n",
         r"web.yml:2: YAML aliases \(\*a\)"),
    ],
)
def test_bad_files(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(WebConfigError, match=message):
        load_web_config(write(tmp_path, text))


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
    for bad, message in (("min_version: SSL3", "TLS10..TLS13"),
                         ("cipher_suites: [NOPE]", "unknown 'NOPE'"),
                         ("client_auth_type: RequireAndVerifyClientCert", "needs client_ca_file"),
                         ("client_auth_type: RequestClientCert", "not supported")):  # fmt: skip
        text = f"tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  {bad}\n"
        with pytest.raises(WebConfigError, match=message):
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
