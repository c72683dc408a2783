"""deploy/docker-compose.yml: no Docker engine runs here, so the test checks what a
`docker compose up` depends on: the services and their wiring, every file it mounts, the
inline ccmon config (validated by ccmon's own parser), the Prometheus config (promtool),
the Grafana provisioning, and that docs/deploy.md names every published port."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitor.config import parse_config

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
COMPOSE = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text(encoding="utf-8"))
SERVICES: dict[str, Any] = COMPOSE["services"]
PROMETHEUS_YML = DEPLOY / "prometheus" / "prometheus.yml"


def mounts(service: str) -> dict[str, str]:
    """Container path → host path (relative to deploy/) of the bind mounts."""
    out = {}
    for volume in SERVICES[service].get("volumes", []):
        source, target = volume.split(":")[:2]
        if source.startswith((".", "/")):
            out[target] = source
    return out


def test_services() -> None:
    assert set(SERVICES) == {"ccmon", "prometheus", "alertmanager", "grafana"}
    for name, service in SERVICES.items():
        image = service.get("image", "")
        assert image, f"{name}: no image"
        if name != "ccmon":
            tag = image.rsplit(":", 1)[-1]
            assert ":" in image and tag != "latest", f"{name}: pin the image version"
        assert service.get("restart") == "unless-stopped"


def test_ccmon_is_built_from_the_repository() -> None:
    build = SERVICES["ccmon"]["build"]
    assert (DEPLOY / build["context"] / build["dockerfile"]).resolve() == REPO / "Dockerfile"


def test_every_mounted_file_exists() -> None:
    for name in SERVICES:
        for target, source in mounts(name).items():
            path = (DEPLOY / source).resolve()
            if name == "alertmanager" and not path.exists():
                pytest.skip("deploy/alertmanager/ (helper-3's Alertmanager config) not there yet")
            assert path.exists(), f"{name}: {source} (mounted at {target}) is missing"


def test_ports_are_local_and_documented() -> None:
    docs = (REPO / "docs" / "deploy.md").read_text(encoding="utf-8")
    expected = {"ccmon": 9153, "prometheus": 9090, "alertmanager": 9093, "grafana": 3000}
    for name, port in expected.items():
        (published,) = SERVICES[name]["ports"]
        assert published == f"127.0.0.1:{port}:{port}", name
        assert re.search(rf"\b{port}\b", docs), f"docs/deploy.md does not name port {port}"


def ccmon_config_text() -> str:
    (config,) = SERVICES["ccmon"]["configs"]
    assert config["target"] == "/etc/ccmon/config.yaml"  # where the image's CMD looks
    return COMPOSE["configs"][config["source"]]["content"]


def test_inline_ccmon_config_is_valid_and_reachable() -> None:
    config = parse_config(ccmon_config_text(), "docker-compose.yml:configs.ccmon_config")
    assert config.web.listen == "0.0.0.0:9153", "Prometheus scrapes over the compose network"
    assert config.store.path.startswith("/var/lib/ccmon/")  # the volume, writable by ccmon
    assert "ccmon-data:/var/lib/ccmon" in SERVICES["ccmon"]["volumes"]
    assert config.zones


def test_prometheus_config_is_valid() -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not installed (Debian package prometheus)")
    done = subprocess.run([promtool, "check", "config", "--syntax-only", str(PROMETHEUS_YML)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_prometheus_scrapes_ccmon_with_a_vantage_label_and_alerts_via_alertmanager() -> None:
    config = yaml.safe_load(PROMETHEUS_YML.read_text(encoding="utf-8"))
    assert mounts("prometheus")["/etc/prometheus"] == "./prometheus"
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == "ccmon"]
    (static,) = job["static_configs"]
    assert static["targets"] == ["ccmon:9153"]
    assert static["labels"]["vantage"]
    (am,) = config["alerting"]["alertmanagers"]
    assert am["static_configs"][0]["targets"] == ["alertmanager:9093"]
    command = " ".join(SERVICES["prometheus"]["command"])
    assert "--config.file=/etc/prometheus/prometheus.yml" in command


def test_prometheus_rule_files_resolve_to_the_repository() -> None:
    """rule_files name /etc/prometheus/...: that is deploy/prometheus/ in the container."""
    config = yaml.safe_load(PROMETHEUS_YML.read_text(encoding="utf-8"))
    patterns = config.get("rule_files", [])
    assert patterns
    found = []
    for pattern in patterns:
        assert pattern.startswith("/etc/prometheus/")
        found += sorted(DEPLOY.joinpath("prometheus").glob(pattern[len("/etc/prometheus/"):]))
    if not found:
        pytest.skip("no rule files in deploy/prometheus/rules/ yet (helper-3's alerting rules)")
    promtool = shutil.which("promtool")
    if promtool:
        done = subprocess.run([promtool, "check", "rules", *map(str, found)],
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr


def test_alertmanager_config() -> None:
    path = DEPLOY / "alertmanager" / "alertmanager.yml"
    command = SERVICES["alertmanager"]["command"]
    assert "--config.file=/etc/alertmanager/alertmanager.yml" in command
    assert "--cluster.listen-address=" in command  # no gossip listener on 0.0.0.0:9094
    if not path.exists():
        pytest.skip("deploy/alertmanager/alertmanager.yml (helper-3) not there yet")
    amtool = shutil.which("amtool")
    if amtool:
        done = subprocess.run([amtool, "check-config", str(path)], capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr


def test_grafana_provisioning_matches_the_stack() -> None:
    grafana = mounts("grafana")
    provisioning = DEPLOY / grafana["/etc/grafana/provisioning"]
    datasources = yaml.safe_load((provisioning / "datasources/ccmon.yaml").read_text())
    urls = {d["type"]: d["url"] for d in datasources["datasources"]}
    assert urls["prometheus"] == "http://prometheus:9090"
    assert urls["alertmanager"] == "http://alertmanager:9093"
    providers = yaml.safe_load((provisioning / "dashboards/ccmon.yaml").read_text())
    (provider,) = providers["providers"]
    dashboards_path = provider["options"]["path"]
    assert (DEPLOY / grafana[dashboards_path]).resolve() == REPO / "dashboards"
    home = SERVICES["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home.startswith(dashboards_path + "/")
    assert (REPO / "dashboards" / home[len(dashboards_path) + 1:]).exists()
