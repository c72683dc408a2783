"""Processes for the monitor's integration tests: ccmon run, Prometheus, Chromium.

Every process runs in its own temporary directory on free 127.0.0.1 ports, every wait is
bounded, and every process started here is stopped here by its own PID.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from tests.support import Proc, free_port, lab_started, missing, wait_for

REPO = Path(__file__).resolve().parents[2]

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip



def demo_lab(workdir: Path) -> Any:
    """The lab's demo world on a free port, started (skip/fail as `missing` when it cannot)."""
    try:
        import lab
    except ImportError:
        missing("the lab package is not available")
    return lab_started(lab.Lab(lab.load_scenario("demo"), port=free_port(), workdir=workdir))



def http_get(url: str, timeout: float = 5.0) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return resp.read().decode()



def start_ccmon(config_path: Path, workdir: Path, name: str = "ccmon") -> Proc:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    argv = [sys.executable, "-m", "monitor", "run", "--config", str(config_path)]
    return Proc(argv, workdir, name, cwd=REPO, env=env)


class Prometheus:
    """A real Prometheus (Debian package) with its own config and TSDB directory."""

    def __init__(self, workdir: Path, scrape_configs: list[dict[str, Any]]) -> None:
        binary = shutil.which("prometheus")
        if binary is None:
            missing("the prometheus binary is not installed (Debian: prometheus)")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = {
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s",
                       "evaluation_interval": "1s"},
            "scrape_configs": scrape_configs,
        }  # fmt: skip
        path = workdir / "prometheus.yml"
        path.write_text(json.dumps(config))  # JSON is YAML
        argv = [
            str(binary), f"--config.file={path}", f"--storage.tsdb.path={workdir / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn",
        ]  # fmt: skip
        self.proc = Proc(argv, workdir, "prometheus")
        wait_for(lambda: "Ready" in http_get(self.url + "/-/ready"), 30, "Prometheus ready")

    def query(self, promql: str) -> list[dict[str, Any]]:
        url = self.url + "/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        data = json.loads(http_get(url))
        if data.get("status") != "success":
            raise ValueError(f"query failed: {data}")
        return data["data"]["result"]

    def value(self, promql: str) -> float | None:
        result = self.query(promql)
        return float(result[0]["value"][1]) if result else None

    def targets(self) -> list[dict[str, Any]]:
        return json.loads(http_get(self.url + "/api/v1/targets"))["data"]["activeTargets"]

    def stop(self) -> None:
        self.proc.stop()


def chromium(url: str, workdir: Path, screenshot: Path) -> str:
    """Render the page headless: returns the DOM after scripts ran, saves a screenshot."""
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        missing("chromium is not installed (Debian: chromium)")
    base = [str(binary), *CHROMIUM_FLAGS, "--window-size=1400,1600"]
    dom = subprocess.run(
        [*base, f"--user-data-dir={workdir / 'chrome-dom'}", "--dump-dom", url],
        capture_output=True, timeout=60, check=True,
    ).stdout.decode()  # fmt: skip
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [*base, f"--user-data-dir={workdir / 'chrome-shot'}", f"--screenshot={screenshot}", url],
        capture_output=True, timeout=60, check=True,
    )  # fmt: skip
    return dom
