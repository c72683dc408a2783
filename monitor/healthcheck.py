"""`ccmon healthcheck`: the container's HEALTHCHECK, reading the same config as `ccmon run`.

It asks the running monitor's /healthz on the local host, over TLS when the web config says
so. Where the web config demands credentials the check has not got (basic auth, client
certificates), an answer of 401 or a handshake the server refused still proves the server
is up, and the freshness of the sweeps is read from the store instead: healthy while some
sweep finished within three intervals, the rule /healthz applies. Exit 0 healthy, 1 not.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import sqlite3
import ssl
import time
import urllib.error
import urllib.request
from pathlib import Path

from monitor.config import Config, local_target
from monitor.config.webconfig import load_web_config
from monitor.errors import EXIT_FAILURE, MonitorError

TIMEOUT = 4.0  # Docker's HEALTHCHECK default timeout is 30 s; ours stays well inside 5 s
USER_ENV, PASSWORD_FILE_ENV = "CCMON_HEALTHCHECK_USER", "CCMON_HEALTHCHECK_PASSWORD_FILE"


class Unhealthy(MonitorError):
    """The monitor is not healthy; the message says why."""

    exit_code = EXIT_FAILURE


def _tls_context() -> ssl.SSLContext:
    # A check of our own process on the local host: the certificate names the public host,
    # not 127.0.0.1, and the trust question is not this check's to answer.
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def _authorization() -> str | None:
    user, password_file = os.environ.get(USER_ENV), os.environ.get(PASSWORD_FILE_ENV)
    if not user or not password_file:
        return None
    password = Path(password_file).read_text(encoding="utf-8").strip()
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def store_freshness(config: Config, now: float | None = None) -> str:
    """Detail of a fresh store; raises Unhealthy when no sweep finished within 3 intervals."""
    now = time.time() if now is None else now
    limit = 3 * config.schedule.interval
    try:
        with sqlite3.connect(f"file:{config.store.path}?mode=ro", uri=True, timeout=2) as db:
            (last,) = db.execute("SELECT max(finished_at) FROM latest").fetchone()
    except sqlite3.Error as exc:
        raise Unhealthy(f"store {config.store.path}: {exc}") from None
    if last is None:
        raise Unhealthy(f"store {config.store.path}: no sweep recorded yet")
    if now - last > limit:
        raise Unhealthy(f"last sweep finished {now - last:.0f} s ago (limit {limit:.0f} s)")
    return f"last sweep finished {now - last:.1f} s ago (from the store)"


def check(config: Config) -> str:
    """What makes the monitor healthy, in words; raises Unhealthy otherwise."""
    security = load_web_config(config.web.web_config_file)
    host, port = local_target(config.web.listen)
    url = f"{security.scheme}://{'[' + host + ']' if ':' in host else host}:{port}/healthz"
    request = urllib.request.Request(url)
    if (authorization := _authorization()) is not None:
        request.add_header("Authorization", authorization)
    context = _tls_context() if security.scheme == "https" else None
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT, context=context) as response:
            return f"{url}: {json.load(response).get('detail', 'ok')}"
    except urllib.error.HTTPError as exc:
        if exc.code == 401:  # up, and guarding itself: freshness from the store
            return f"{url}: up (401 without credentials); {store_freshness(config)}"
        detail = exc.read(2000).decode("utf-8", "replace")
        with contextlib.suppress(ValueError, AttributeError):  # not our JSON: keep the text
            detail = json.loads(detail).get("detail", detail)
        raise Unhealthy(f"{url}: HTTP {exc.code}: {detail}") from None
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, ssl.SSLError) and security.ssl_context is not None:
            # A server that demands a client certificate ends the handshake: it is up.
            return f"{url}: up (TLS handshake refused: {reason.reason}); {store_freshness(config)}"
        raise Unhealthy(f"{url}: {reason}") from None
    except (OSError, ValueError) as exc:
        raise Unhealthy(f"{url}: {exc}") from None
