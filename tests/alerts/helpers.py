"""Helpers for the alert tests: hand-made reports, configs, and a real SMTP sink."""

from __future__ import annotations

import os
import shutil
import threading
from dataclasses import replace
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from monitor.config import Config, StoreConfig, WebConfig
from monitor.config.alerts import AlertsConfig, RetryConfig, SmtpConfig
from probes.model import Finding, Severity, ZoneReport
from tests.support import free_port

T0 = 1_700_000_000.0
IN_CI = os.environ.get("CI") == "true"

# The alert tests' own small lab world: its own addresses, so it never meets other labs.
LAB_PREFIX = os.environ.get("CCMON_LAB_PREFIX", "127.61")
LAME = f"{LAB_PREFIX}.1.3"  # ns3.nic.fr: a fault-server address, healthy until told
LAB_SCENARIO = {
    "name": "alerts",
    "description": "fr on NSD and Knot with one switchable fault server, for the alert tests",
    "serial": 2026112701,
    "root": {"ns": "a.root-servers.net.", "address": f"{LAB_PREFIX}.0.1", "software": "nsd"},
    "resolver": {"address": f"{LAB_PREFIX}.0.2"},
    "relay": f"{LAB_PREFIX}.0.4",
    "zones": [{"zone": "fr", "servers": [
        {"ns": "ns1.nic.fr.", "address": f"{LAB_PREFIX}.1.1", "software": "nsd",
         "role": "primary"},
        {"ns": "ns2.nic.fr.", "address": f"{LAB_PREFIX}.1.2", "software": "knot",
         "role": "secondary"},
        {"ns": "ns3.nic.fr.", "address": LAME, "software": "fault", "fault": "none"},
    ]}],
}


def need(tool: str) -> str:
    """The path of an external program; skip (fail in CI) when it is missing."""
    path = shutil.which(tool)
    if path is None:
        if IN_CI:
            pytest.fail(f"{tool} is not installed")
        pytest.skip(f"{tool} is not installed")
    return path


def lame(ns: str = "ns2.nic.fr.", address: str = "192.0.2.2", reason: str = "refused",
         severity: Severity = Severity.ERROR) -> Finding:
    return Finding("LAME01", severity, "LAME_DELEGATION", f"{ns} {address} is lame: {reason}",
                   nameserver=ns, address=address, reason=reason)


def slow(ms: int, ns: str = "ns1.nic.fr.", address: str = "192.0.2.1") -> Finding:
    return Finding("RTT01", Severity.WARNING, "SLOW_RESPONSE",
                   f"{ns} {address} answered over UDP in {ms} ms (threshold 500 ms)",
                   nameserver=ns, address=address, reason="slow", args={"rtt": ms / 1000})


def behind(lag: int, ns: str = "ns3.nic.fr.", address: str = "192.0.2.3") -> Finding:
    return Finding("SOA01", Severity.WARNING, "SERIAL_BEHIND",
                   f"{ns} {address} serves serial {100 - lag}, {lag} behind 100",
                   nameserver=ns, address=address, reason="behind", args={"lag": lag})


def avail(state: str = "degraded") -> Finding:
    severity = Severity.ERROR if state == "degraded" else Severity.CRITICAL
    return Finding("AVAIL01", severity, "ZONE_DEGRADED", f"zone {state}", reason=state)


def report(t: float, *findings: Finding, zone: str = "fr") -> ZoneReport:
    return ZoneReport(zone=zone, started_at=t, duration=0.5, servers=(), findings=findings)


def make_config(db: Path, **alerts: Any) -> Config:
    smtp = alerts.pop("smtp", SmtpConfig(host="127.0.0.1", port=9, sender="ccmon@example.net",
                                         timeout=5.0))
    settings = AlertsConfig(
        recipients=alerts.pop("recipients", ("noc@example.net",)),
        rate_limit=alerts.pop("rate_limit", 0.0),
        retry=alerts.pop("retry", RetryConfig(initial=0.2, max=1.0)),
        smtp=smtp,
        **alerts,
    )
    return Config(zones=("fr", "de"), store=StoreConfig(path=str(db)),
                  web=WebConfig(external_url="https://ccmon.example.net/"), alerts=settings)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = T0 + 10_000) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def parse(raw: bytes) -> EmailMessage:
    message = message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


class Sink:
    """aiosmtpd on 127.0.0.1 that keeps what it receives; can be stopped and restarted."""

    def __init__(self, port: int | None = None, host: str = "127.0.0.1", **controller: Any) -> None:
        self.host = host
        self.port = port or free_port()
        self.received: list[tuple[str, list[str], EmailMessage]] = []
        self._lock = threading.Lock()
        self._controller: Any = None
        self._options = controller

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self._lock:
            self.received.append((envelope.mail_from, list(envelope.rcpt_tos),
                                  parse(envelope.original_content)))
        return "250 OK"

    def start(self) -> Sink:
        from aiosmtpd.controller import Controller

        self._controller = Controller(self, hostname=self.host, port=self.port,
                                      ready_timeout=10.0, **self._options)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def messages(self) -> list[EmailMessage]:
        with self._lock:
            return [m for _f, _t, m in self.received]

    def smtp(self, **fields: Any) -> SmtpConfig:
        return SmtpConfig(host="127.0.0.1", port=self.port, sender="ccmon@example.net",
                          timeout=5.0, **fields)



__all__ = [
    "LAB_SCENARIO", "LAME", "T0", "Clock", "Sink", "avail", "behind", "lame", "make_config",
    "need", "parse", "replace", "report", "slow",
]
