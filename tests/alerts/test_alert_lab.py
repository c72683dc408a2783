"""Through real sweeps of the lab: a lame server appears and clears; mail arrives once each.

A small world of its own (addresses 127.61.x.y, a free port, so it does not meet other
labs): the root, and zone fr on NSD and Knot plus one fault-server address. The fault is
switched on and off live; every sweep goes through the real probe engine and into the
Alerter, whose mail goes to aiosmtpd.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from lab import Lab
from monitor.alerts import Alerter
from monitor.config.alerts import RetryConfig
from probes.settings import ProbeSettings
from probes.sweep import Prober
from tests.alerts.helpers import LAME, Sink, make_config

pytestmark = pytest.mark.integration

SUBJECT = f"[ccmon] fr: LAME01 ERROR ns3.nic.fr {LAME} refused"
RESOLVED = f"[ccmon] fr: RESOLVED LAME01 ERROR ns3.nic.fr {LAME} refused"


async def until(condition, timeout: float = 15.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not condition():
        await asyncio.sleep(0.05)
    return bool(condition())


async def test_lab_fault_mails_once_and_recovery_once(alert_lab: Lab, sink: Sink, tmp_path):  # type: ignore[no-untyped-def]
    lab = alert_lab
    settings = ProbeSettings(parent_addresses=(lab.root_address,), resolver=(lab.resolver_address,),
                             resolver_port=lab.port, port=lab.port, udp_timeout=1.0, udp_tries=1,
                             tcp_timeout=2.0, ipv6=False)
    alerter = Alerter(make_config(tmp_path / "ccmon.sqlite", smtp=sink.smtp(),
                                  retry=RetryConfig(initial=0.2, max=0.5)))
    delivery = asyncio.create_task(alerter.run_delivery())
    try:
        async with Prober(settings) as prober:
            async def sweep() -> None:
                report = await prober.sweep("fr")
                await alerter.on_report(report)

            await sweep()  # healthy
            lab.set_fault(LAME, "refused")
            for _ in range(2):
                await sweep()
            await asyncio.sleep(0.3)
            assert sink.received == []  # two failing sweeps: still inside the hold-down
            await sweep()
            assert await until(lambda: len(sink.received) == 1)
            message = sink.messages()[0]
            assert message["Subject"] == SUBJECT
            body = message.get_content()
            assert f"LAME01 ERROR  ns3.nic.fr. {LAME}  reason refused" in body
            assert "answered REFUSED" in body
            lab.clear_fault(LAME)
            for _ in range(2):
                await sweep()
            await asyncio.sleep(0.3)
            assert len(sink.received) == 1
            await sweep()
            assert await until(lambda: len(sink.received) == 2)
            await asyncio.sleep(0.3)
            assert [m["Subject"] for m in sink.messages()] == [SUBJECT, RESOLVED]
    finally:
        await alerter.aclose(timeout=10.0)
        await asyncio.wait_for(delivery, 10.0)
