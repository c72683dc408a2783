"""Acceptance (issue 13): a real SMTP outage shows in ccmon_alert_email_failures_total and
fires CcmonAlertEmailFailing in `promtool test rules`.

A real Alerter delivers to a real aiosmtpd server, which is stopped (connection refused)
and started again. The /metrics text is read at fixed steps; each reading becomes one
scrape a minute apart in a promtool test over deploy/prometheus/rules.yml, so the alert
is judged on the figures ccmon really exported.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import yaml

from monitor.alerts import Alerter
from monitor.config.alerts import RetryConfig
from monitor.metrics import Exporter
from monitor.snapshot import MonitorState, OutboxStatus, Snapshot
from tests.alerts.helpers import T0, Sink, lame, make_config, need, report

RULES = Path(__file__).resolve().parents[2] / "deploy" / "prometheus" / "rules.yml"
SAMPLE = re.compile(r"^(ccmon_alert_[a-z_]+)(\{[^}]*\})? (\S+)$")
TARGET = 'instance="ccmon-fra:9153",job="ccmon"'
STEP = 0.3  # seconds of real time per "scrape"; retries back off 0.2 s doubling to 1 s


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not condition():
        await asyncio.sleep(0.05)
    return condition()


def alert_samples(text: str) -> dict[str, float]:
    """The ccmon_alert_* samples of a /metrics text, keyed by series with the target's labels."""
    out = {}
    for line in text.splitlines():
        match = SAMPLE.match(line)
        if match:
            name, labels, value = match.groups()
            inner = labels[1:-1] + "," if labels else ""
            out[f"{name}{{{inner}{TARGET}}}"] = float(value)
    return out


def counter(scrapes: list[dict[str, float]], series: str) -> list[float]:
    return [s[series] for s in scrapes]


def firing_at(scrapes: list[dict[str, float]], minutes: list[int], tmp: Path) -> str:
    """Run promtool over the scrapes; expect CcmonAlertEmailFailing firing exactly at `minutes`
    among the checked ones (the others: not firing). Returns promtool's output."""
    series = sorted(scrapes[0])
    checked = range(len(scrapes))
    tests = [{
        "interval": "1m",
        "input_series": [
            {"series": name, "values": " ".join(f"{s[name]:g}" for s in scrapes)}
            for name in series
        ],
        "promql_expr_test": [
            {
                "expr": 'ALERTS{alertname="CcmonAlertEmailFailing",alertstate="firing"}',
                "eval_time": f"{m}m",
                "exp_samples": [{
                    "labels": 'ALERTS{alertname="CcmonAlertEmailFailing",alertstate="firing",'
                              'severity="critical",instance="ccmon-fra:9153",job="ccmon"}',
                    "value": 1,
                }] if m in minutes else [],
            }
            for m in checked
        ],
    }]  # fmt: skip
    path = tmp / "outage_test.yml"
    doc = {"rule_files": [str(RULES)], "evaluation_interval": "1m", "tests": tests}
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    result = subprocess.run([need("promtool"), "test", "rules", str(path)],
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


async def test_smtp_outage_fires_the_mail_alert(tmp_path: Path) -> None:
    sink = Sink().start()
    retry = RetryConfig(initial=0.2, max=1.0)
    alerter = Alerter(make_config(tmp_path / "ccmon.sqlite", smtp=sink.smtp(), retry=retry,
                                  open_after=1))  # fmt: skip
    state = MonitorState(Snapshot())
    exporter = Exporter(state, "test")
    statuses: list[OutboxStatus] = []

    def published(status: OutboxStatus) -> None:
        statuses.append(status)
        state.publish_outbox(status)

    alerter.courier.on_status = published
    task = asyncio.create_task(alerter.run_delivery())
    scrapes: list[dict[str, float]] = []

    def scrape() -> dict[str, float]:
        scrapes.append(alert_samples(exporter.collector.text()))
        return scrapes[-1]

    sent = f"ccmon_alert_emails_sent_total{{{TARGET}}}"
    refused = f'ccmon_alert_email_failures_total{{reason="connect",{TARGET}}}'
    try:
        # mail flows: one message accepted; then an hour without news (the state does not
        # change while nothing is delivered, so 61 readings in a row are 61 quiet minutes)
        await alerter.on_report(report(T0, lame()))
        assert await until(lambda: bool(statuses) and statuses[-1].sent == 1)
        for _ in range(61):
            scrape()
        # the SMTP server goes away; a new problem is mailed
        sink.stop()
        await alerter.on_report(report(T0 + 60, lame(), lame("ns3.nic.fr.", "192.0.2.3")))
        while scrape()[refused] == 0 or len(scrapes) < first_failure(scrapes, refused) + 20:
            assert len(scrapes) < 61 + 60, "no connection failure counted"
            await asyncio.sleep(STEP)
        # it comes back: the queued message goes out
        sink.start()
        while scrape()[sent] < 2:
            assert len(scrapes) < 61 + 60 + 60, "the queued message was not delivered"
            await asyncio.sleep(STEP)
        scrape()
    finally:
        await alerter.aclose(timeout=10.0)
        await asyncio.wait_for(task, 10.0)
        sink.stop()

    failures = counter(scrapes, refused)
    first = first_failure(scrapes, refused)
    back = counter(scrapes, sent).index(2.0)
    assert failures[back - 1] >= 3  # the outage shows in the counter: several refused tries
    assert counter(scrapes, sent)[:back] == [1.0] * back  # nothing accepted meanwhile
    # the alert: pending from the first failed try, firing 10 scrapes (minutes) later,
    # until the first accepted message
    firing = [m for m in range(len(scrapes)) if first + 10 <= m < back]
    assert firing and firing[0] == first + 10 and first + 9 not in firing
    firing_at(scrapes, firing, tmp_path)


def first_failure(scrapes: list[dict[str, float]], series: str) -> int:
    return next((i for i, s in enumerate(scrapes) if s[series] > 0), len(scrapes))
