"""Real Prometheus + real Alertmanager + aiosmtpd: a ccmon alert arrives as an e-mail.

Prometheus scrapes a tiny endpoint serving ccmon_ metrics of a zone with a lame server,
evaluates deploy/prometheus/rules.yml (a copy with `for:` shortened to 1s), and
Alertmanager, configured from deploy/alertmanager/alertmanager.yml with the SMTP relay
pointed at the sink, e-mails it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
import yaml
from prometheus_client import CollectorRegistry, Gauge, start_http_server

from lab import Lab
from tests.alerts.helpers import LAME, Sink, free_port, need
from tests.support import wait_for

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
pytestmark = pytest.mark.integration


def metrics_endpoint() -> tuple[int, object]:
    registry = CollectorRegistry()
    Gauge("ccmon_build_info", "ccmon version", ["version"], registry=registry).labels(
        "0.1.0").set(1)
    lame = Gauge("ccmon_nameserver_lame", "lame state set",
                 ["dns_zone", "nameserver", "address", "reason"], registry=registry)
    lame.labels("fr", "ns2.nic.fr.", "192.0.2.2", "refused").set(1)
    lame.labels("fr", "ns2.nic.fr.", "192.0.2.2", "servfail").set(0)
    lame.labels("fr", "ns1.nic.fr.", "192.0.2.1", "refused").set(0)
    sweep = Gauge("ccmon_last_sweep_timestamp_seconds", "last sweep", ["dns_zone"],
                  registry=registry)
    sweep.labels("fr").set_function(time.time)
    port = free_port()
    server, _thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    return port, server


def fast_rules_copy(tmp_path: Path) -> Path:
    """The real rules file with every `for:` shortened, so the test takes seconds."""
    rules = yaml.safe_load((DEPLOY / "prometheus" / "rules.yml").read_text(encoding="utf-8"))
    for group in rules["groups"]:
        group["interval"] = "1s"
        for rule in group["rules"]:
            if "alert" in rule:
                rule["for"] = "1s"
    path = tmp_path / "rules.yml"
    path.write_text(yaml.safe_dump(rules, sort_keys=False), encoding="utf-8")
    return path


def alertmanager_config(tmp_path: Path, smtp_port: int) -> Path:
    config = yaml.safe_load((DEPLOY / "alertmanager" / "alertmanager.yml").read_text(
        encoding="utf-8"))
    config["global"].update(smtp_smarthost=f"127.0.0.1:{smtp_port}", smtp_require_tls=False)
    for key in ("smtp_auth_username", "smtp_auth_password_file"):
        config["global"].pop(key)
    def fast(route: dict) -> None:  # type: ignore[type-arg]
        route.update(group_wait="1s", group_interval="1s")
        for child in route.get("routes", []):
            fast(child)
    fast(config["route"])
    path = tmp_path / "alertmanager.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


class Processes:
    def __init__(self) -> None:
        self.procs: list[tuple[subprocess.Popen[bytes], Path]] = []

    def start(self, args: list[str], log: Path) -> subprocess.Popen[bytes]:
        handle = log.open("wb")
        proc = subprocess.Popen(args, stdout=handle, stderr=subprocess.STDOUT)
        handle.close()
        self.procs.append((proc, log))
        return proc

    def stop(self) -> None:
        for proc, _log in self.procs:
            proc.terminate()
        for proc, _log in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)

    def logs(self) -> str:
        return "\n".join(f"--- {log.name}\n{log.read_text(errors='replace')[-3000:]}"
                         for _p, log in self.procs)


@pytest.fixture
def processes() -> Iterator[Processes]:
    procs = Processes()
    try:
        yield procs
    finally:
        procs.stop()


def get_json(url: str) -> dict:  # type: ignore[type-arg]
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())  # type: ignore[no-any-return]


def firing(prometheus: str) -> list[str]:
    try:
        data = get_json(f"{prometheus}/api/v1/alerts")
    except OSError:
        return []
    return [a["labels"]["alertname"] for a in data["data"]["alerts"] if a["state"] == "firing"]


def start_stack(tmp_path: Path, processes: Processes, sink: Sink, target: str) -> str:
    """Alertmanager (mail to the sink) and Prometheus scraping `target`; Prometheus's URL."""
    prometheus_bin = need("prometheus")
    alertmanager_bin = need("prometheus-alertmanager")
    am_port, prom_port = free_port(), free_port()
    prom_config = tmp_path / "prometheus.yml"
    prom_config.write_text(yaml.safe_dump({
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(fast_rules_copy(tmp_path))],
        "alerting": {"alertmanagers": [{"static_configs": [
            {"targets": [f"127.0.0.1:{am_port}"]}]}]},
        "scrape_configs": [{"job_name": "ccmon", "static_configs": [
            {"targets": [target], "labels": {"vantage": "test"}}]}],
    }), encoding="utf-8")
    processes.start([
        alertmanager_bin, f"--config.file={alertmanager_config(tmp_path, sink.port)}",
        f"--storage.path={tmp_path / 'am'}", f"--web.listen-address=127.0.0.1:{am_port}",
        "--cluster.listen-address=",
    ], tmp_path / "alertmanager.log")
    processes.start([
        prometheus_bin, f"--config.file={prom_config}",
        f"--storage.tsdb.path={tmp_path / 'prom'}",
        f"--web.listen-address=127.0.0.1:{prom_port}",
    ], tmp_path / "prometheus.log")
    return f"http://127.0.0.1:{prom_port}"


def alertmanager_mails(sink: Sink) -> list[EmailMessage]:
    return [m for _f, rcpt, m in list(sink.received) if rcpt == ["dns-noc@example.net"]]


def test_prometheus_alertmanager_email(tmp_path: Path, processes: Processes, sink: Sink):
    metrics_port, metrics_server = metrics_endpoint()
    try:
        prometheus = start_stack(tmp_path, processes, sink, f"127.0.0.1:{metrics_port}")
        wait_for(lambda: "CcmonNameserverLame" in firing(prometheus), 60,
                 "CcmonNameserverLame firing", 0.5, processes.logs)
        wait_for(lambda: len(sink.received) >= 1, 90, "Alertmanager's mail", 0.5, processes.logs)
        mail_from, rcpt, message = sink.received[0]
        assert mail_from == "ccmon-alerts@example.net"
        assert rcpt == ["dns-noc@example.net"]
        assert message["Subject"] == "[ccmon] FIRING:1 CcmonNameserverLame fr"
        text = message.get_body(("plain", "html")).get_content()
        assert "ns2.nic.fr." in text and "192.0.2.2" in text and "refused" in text
    finally:
        metrics_server.shutdown()
        metrics_server.server_close()


def test_prometheus_alertmanager_email_from_ccmon_over_the_lab(
    tmp_path: Path, processes: Processes, sink: Sink, alert_lab: Lab
):
    """`ccmon run` sweeps the lab, where ns3.nic.fr is lame; Prometheus → Alertmanager → mail."""
    lab = alert_lab
    web_port = free_port()
    config = tmp_path / "ccmon.yaml"
    config.write_text(f"""
zones: [fr]
parent: [{lab.root_address}]
resolver: [{lab.resolver_address}]
resolver_port: {lab.port}
port: {lab.port}
probe: {{udp_timeout: 1s, udp_tries: 1, tcp_timeout: 2s, ipv6: false}}
schedule: {{interval: 2s, jitter: 0s, allow_fast_interval: true}}
store: {{path: {tmp_path / "ccmon.sqlite"}}}
web: {{listen: "127.0.0.1:{web_port}"}}
alerts:
  recipients: [ccmon-noc@example.net]
  smtp: {{host: 127.0.0.1, port: {sink.port}, from: ccmon@example.net}}
""", encoding="utf-8")
    lab.set_fault(LAME, "refused")
    try:
        processes.start([sys.executable, "-m", "monitor", "run", "-c", str(config)],
                        tmp_path / "ccmon.log")
        prometheus = start_stack(tmp_path, processes, sink, f"127.0.0.1:{web_port}")
        wait_for(lambda: "CcmonNameserverLame" in firing(prometheus), 60,
                 "CcmonNameserverLame firing", 0.5, processes.logs)
        # A lame server is also down by the vantage vote (CcmonNameserverDownMajority), which
        # may be grouped and mailed first: the lame alert's own mail is the one to read.
        subject = "[ccmon] FIRING:1 CcmonNameserverLame fr"

        def lame_mails() -> list[EmailMessage]:
            return [m for m in alertmanager_mails(sink) if m["Subject"] == subject]

        wait_for(lame_mails, 90, f"the mail {subject!r}", 0.5,
                 lambda: f"{[m['Subject'] for m in alertmanager_mails(sink)]}\n{processes.logs()}")
        message = lame_mails()[0]
        text = message.get_body(("plain", "html")).get_content()
        assert "ns3.nic.fr." in text and LAME in text and "refused" in text
    finally:
        lab.clear_fault(LAME)
