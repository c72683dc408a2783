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


RUNBOOK_BASE = "https://git.example.net/ccmon/blob/main/docs/"


def github_anchors(markdown: str) -> set[str]:
    """The anchors GitHub gives the headings of a Markdown page: lower case, punctuation
    dropped, spaces to hyphens, a repeated one suffixed -1, -2, ...; fenced code skipped."""
    anchors: set[str] = set()
    repeats: dict[str, int] = {}
    fenced = False
    for line in markdown.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        match = None if fenced else re.match(r"#{1,6} (.+)", line)
        if match:
            slug = re.sub(r"[^\w\- ]", "", match.group(1).strip().lower()).replace(" ", "-")
            count = repeats.get(slug, 0)
            repeats[slug] = count + 1
            anchors.add(slug if count == 0 else f"{slug}-{count}")
    return anchors


def test_github_anchors():
    page = "# Alerts\n## ccmon's own alerts (runbooks)\n```\n# not a heading\n```\n## A\n## A\n"
    assert github_anchors(page) == {"alerts", "ccmons-own-alerts-runbooks", "a", "a-1"}


def test_every_alert_has_a_runbook_url_whose_anchor_exists():
    groups = yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"]
    alerts = [rule for group in groups for rule in group["rules"] if "alert" in rule]
    assert len(alerts) >= 29
    anchors = {page: github_anchors((DOCS.parent / page).read_text(encoding="utf-8"))
               for page in ("checks.md", "alerts.md")}  # fmt: skip
    for rule in alerts:
        url = rule["annotations"].get("runbook_url", "")
        assert url.startswith(RUNBOOK_BASE), f"{rule['alert']}: runbook_url {url!r}"
        page, _, anchor = url.removeprefix(RUNBOOK_BASE).partition("#")
        assert page in anchors, f"{rule['alert']}: {page} is not checks.md or alerts.md"
        assert anchor in anchors[page], f"{rule['alert']}: no heading #{anchor} in docs/{page}"
        if page == "alerts.md":  # ccmon's own alerts: a section named after the alert
            assert anchor == rule["alert"].lower()


def seconds(duration: str) -> float:
    """A Prometheus duration (1h, 4m59s999ms, 30d) in seconds."""
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
    parts = re.findall(r"(\d+)(ms|s|m|h|d|w|y)", duration)
    assert "".join(n + u for n, u in parts) == duration, duration
    return sum(int(n) * units[u] for n, u in parts)


def test_ccmon_is_scraped_at_the_sweep_interval():
    from monitor.config import ScheduleConfig

    for name in ("prometheus.yml", "prometheus.example.yml"):
        conf = yaml.safe_load((DEPLOY / "prometheus" / name).read_text(encoding="utf-8"))
        [job] = [j for j in conf["scrape_configs"] if j["job_name"] == "ccmon"]
        interval = job.get("scrape_interval", conf["global"]["scrape_interval"])
        assert seconds(interval) == ScheduleConfig().interval, name


def test_long_windows_are_evaluated_rarely_and_read_rollups():
    """No recording rule of a 1-minute group reads a day or more; the 30-day figures read only the
    5-minute rollups, whose windows are 1 ms shorter than their group's interval (no sample
    in two windows); the long group runs within the 5-minute lookback."""
    groups = {g["name"]: g for g in yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"]}
    for group in groups.values():
        interval = seconds(group.get("interval", "1m"))
        for rule in group["rules"]:
            longest = max(map(seconds, re.findall(r"\[(\w+)\]", rule["expr"])), default=0)
            if interval <= 60 and "record" in rule:  # (an alert reads a day of one series
                assert longest < 86400, f"{rule['record']} every minute"  # per family)
    rollup = groups["ccmon-sla-rollup"]
    for rule in rollup["rules"]:
        [window] = re.findall(r"\[(\w+)\]", rule["expr"])
        assert seconds(window) == seconds(rollup["interval"]) - 0.001, rule["record"]
    long = groups["ccmon-sla-long"]
    assert seconds(long["interval"]) < 300
    for rule in long["rules"]:
        if "30d" in rule["expr"]:
            assert re.findall(r"\((\S+)\[30d\]\)", rule["expr"]) == [
                rule["record"].replace(":avg_30d", ":sum_5m").replace(":ratio_30d", ":sum_5m")
                .replace("unmeasured", "measured"),
                rule["record"].replace(":avg_30d", ":count_5m").replace(":ratio_30d", ":count_5m")
                .replace("unmeasured", "measured"),
            ], rule["record"]
