"""A vantage outage over a real SMTP server (aiosmtpd on loopback): one vantage-down mail,
one vantage-back mail, no zone mail, open problems still open with their "since"."""

from __future__ import annotations

import asyncio
from pathlib import Path

from monitor.alerts import Alerter
from monitor.config.alerts import RetryConfig
from tests.alerts.helpers import T0, Sink, lame, make_config
from tests.alerts.test_alert_smtp import subjects, until
from tests.alerts.test_alert_vantage import ALL_OFF, measured, unknown


async def test_vantage_outage_mails_once_down_once_back_and_no_zone_mail(
    tmp_path: Path, sink: Sink
):
    alerter = Alerter(make_config(tmp_path / "ccmon.sqlite", smtp=sink.smtp(),
                                  retry=RetryConfig(initial=0.2, max=0.5)))
    task = asyncio.create_task(alerter.run_delivery())
    try:
        t = T0
        for _ in range(3):  # fr: LAME01 opens; de: healthy
            await alerter.on_report(measured(t, lame()))
            await alerter.on_report(measured(t + 5, zone="de"))
            t += 60
        assert await until(lambda: len(sink.received) == 1)
        [problem] = alerter.open_problems("fr")
        for _ in range(8):  # eight rounds with nothing measured: both families offline
            await alerter.on_report(unknown(t, vantage=ALL_OFF))
            await alerter.on_report(unknown(t + 5, zone="de", vantage=ALL_OFF))
            t += 60
        assert await until(lambda: len(sink.received) == 2)
        for _ in range(5):  # back: fr still lame, de healthy
            await alerter.on_report(measured(t, lame()))
            await alerter.on_report(measured(t + 5, zone="de"))
            t += 60
        assert await until(lambda: len(sink.received) == 3)
        await asyncio.sleep(1.0)  # anything else would have arrived by now
        got = subjects(sink)
        assert got[0] == "[ccmon] fr: LAME01 ERROR ns2.nic.fr 192.0.2.2 refused"
        assert got[1].endswith(": IPv4 offline, IPv6 offline") and "vantage point" in got[1]
        assert got[2].endswith(": back, IPv4, IPv6 online again")
        assert len(got) == 3
        vantage = [m for m in sink.messages() if m["X-Ccmon-Vantage"]]
        assert [m["X-Ccmon-Vantage"] for m in vantage] == ["ipv4,ipv6", "ipv4,ipv6"]
        assert not any(m["X-Ccmon-Zone"] for m in vantage)
        [after] = alerter.open_problems("fr")
        assert (after.key, after.first_seen) == (problem.key, problem.first_seen)
        assert alerter.outbox_counts() == {"pending": 0, "sent": 3, "failed": 0}
    finally:
        await alerter.aclose(timeout=10.0)
        await asyncio.wait_for(task, 10.0)
