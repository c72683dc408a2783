"""Real Prometheus + real Alertmanager + aiosmtpd: while a vantage point is down, the
example config (deploy/alertmanager/alertmanager.yml) mutes that vantage point's zone
alerts and mails only the vantage alert (issue 10)."""

from __future__ import annotations

import time
from pathlib import Path

from prometheus_client import CollectorRegistry, Gauge, start_http_server

from tests.alerts.helpers import Sink, free_port
from tests.alerts.test_alertmanager_e2e import (  # noqa: F401  (processes: a fixture)
    Processes,
    alertmanager_mails,
    firing,
    get_json,
    processes,
    start_stack,
)
from tests.support import wait_for


def am_alerts(prometheus: str) -> dict[str, str]:
    """alertname -> Alertmanager state (active / suppressed) of the alerts it holds; {}
    while Prometheus or Alertmanager is not up yet."""
    try:
        config = get_json(f"{prometheus}/api/v1/alertmanagers")
        [manager] = config["data"]["activeAlertmanagers"]
        base = manager["url"].rsplit("/api/", 1)[0]
        alerts = get_json(f"{base}/api/v2/alerts")
    except (OSError, ValueError, KeyError):
        return {}
    return {a["labels"]["alertname"]: a["status"]["state"]
            for a in alerts}  # type: ignore[union-attr]


def test_a_down_vantage_point_mutes_its_zone_alerts(
    tmp_path: Path, processes: Processes, sink: Sink  # noqa: F811
):
    registry = CollectorRegistry()
    Gauge("ccmon_build_info", "ccmon version", ["version"], registry=registry).labels(
        "0.1.0").set(1)
    Gauge("ccmon_vantage_up", "vantage", ["family"], registry=registry).labels("ipv4").set(0)
    state = Gauge("ccmon_vantage_state", "vantage state", ["family", "state"], registry=registry)
    for name, value in (("online", 0), ("offline", 1), ("absent", 0)):
        state.labels("ipv4", name).set(value)
    lame = Gauge("ccmon_nameserver_lame", "lame state set",
                 ["dns_zone", "nameserver", "address", "reason"], registry=registry)
    sweep = Gauge("ccmon_last_sweep_timestamp_seconds", "last sweep", ["dns_zone"],
                  registry=registry)
    sweep.labels("fr").set_function(time.time)
    port = free_port()
    server, _thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    try:
        prometheus = start_stack(tmp_path, processes, sink, f"127.0.0.1:{port}")
        wait_for(lambda: am_alerts(prometheus).get("CcmonVantageDown") == "active", 60,
                 "CcmonVantageDown active in Alertmanager", 0.5, processes.logs)
        # the vantage alert is active in Alertmanager: now the zone's server turns lame
        lame.labels("fr", "ns2.nic.fr.", "192.0.2.2", "refused").set(1)
        wait_for(lambda: "CcmonNameserverLame" in firing(prometheus), 60,
                 "CcmonNameserverLame firing", 0.5, processes.logs)
        wait_for(lambda: am_alerts(prometheus).get("CcmonNameserverLame") == "suppressed", 30,
                 "CcmonNameserverLame suppressed", 0.5, processes.logs)
        wait_for(lambda: alertmanager_mails(sink), 90, "Alertmanager's mail", 0.5)
        time.sleep(5)  # group_wait and group_interval are 1 s: a lame mail would be here
        subjects = [str(m["Subject"]) for m in alertmanager_mails(sink)]
        assert subjects == ["[ccmon] FIRING:1 CcmonVantageDown "], subjects
    finally:
        server.shutdown()
        server.server_close()
