"""deploy/prometheus: `promtool check rules` and `promtool test rules`; the Alertmanager example."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import yaml

from tests.alerts.helpers import need

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
RULES = DEPLOY / "prometheus" / "rules.yml"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "alerts.md"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=120, cwd=DEPLOY)


def test_promtool_check_rules():
    result = run(need("promtool"), "check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_test_rules():
    tests = sorted((DEPLOY / "prometheus" / "tests").glob("*.yml"))
    assert tests
    result = run(need("promtool"), "test", "rules", *map(str, tests))
    assert result.returncode == 0, result.stdout + result.stderr


def test_example_prometheus_config():
    result = run(need("promtool"), "check", "config",
                 str(DEPLOY / "prometheus" / "prometheus.example.yml"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_example_alertmanager_config():
    result = run(need("amtool"), "check-config", str(DEPLOY / "alertmanager" / "alertmanager.yml"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_rules_use_only_documented_metrics_and_every_rule_is_documented():
    metrics_doc = (DOCS.parent / "metrics.md").read_text(encoding="utf-8")
    alerts_doc = DOCS.read_text(encoding="utf-8")
    groups = yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"]
    for group in groups:
        for rule in group["rules"]:
            name = rule.get("record") or rule["alert"]
            assert f"`{name}`" in alerts_doc, f"{name} is not documented in docs/alerts.md"
            for metric in re.findall(r"\bccmon_[a-z_]+", rule["expr"]):
                base = re.sub(r"_(bucket|count|sum)$", "", metric)
                if rule["expr"].find(":" + metric) >= 0:
                    continue  # part of a recorded name
                assert f"`{base}`" in metrics_doc, f"{name} uses {metric}, not in docs/metrics.md"
            if "alert" in rule:
                assert rule["labels"]["severity"] in {"warning", "critical"}
                assert rule["annotations"]["summary"]
