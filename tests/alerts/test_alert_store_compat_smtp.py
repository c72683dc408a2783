"""The outbox of a store written before the alert states became enums, delivered to a real
SMTP server (aiosmtpd on loopback): its pending message and its waiting digest arrive once
each, as queued then; what was sent or failed stays so."""

from __future__ import annotations

from pathlib import Path

from monitor.alerts import Alerter, MessageStatus
from tests.alerts.helpers import T0, Clock, Sink, make_config
from tests.monitor.alert_store_script import (
    DIGEST_BODY,
    DIGEST_SUBJECT,
    PENDING_RAW,
    RATE_LIMIT,
    old_store,
)


async def test_the_old_outbox_is_delivered_once_in_order(tmp_path: Path, sink: Sink):
    now = T0 + 120 + RATE_LIMIT  # the old digest's window has ended
    alerter = Alerter(make_config(old_store(tmp_path), rate_limit=RATE_LIMIT, smtp=sink.smtp()),
                      clock=Clock(now))  # fmt: skip
    try:
        assert alerter.flush_digests() == 1
        assert await alerter.deliver_pending() == 2
        assert await alerter.deliver_pending() == 0  # nothing twice
    finally:
        alerter.close()
    received = sink.messages()
    assert [str(m["Subject"]) for m in received] == ["[ccmon] de: old pending", DIGEST_SUBJECT]
    assert received[0]["Message-ID"] == "<old-pending@example.net>"
    assert received[0].get_content().replace("\r\n", "\n") == "queued before the change\n"
    assert received[1].get_content().replace("\r\n", "\n") == DIGEST_BODY
    assert [rcpt for _f, rcpt, _m in sink.received] == [["noc@example.net"]] * 2
    reopened = Alerter(make_config(tmp_path / "before.sqlite"), clock=Clock(now))
    try:
        assert reopened.outbox_counts() == {"pending": 0, "sent": 3, "failed": 1}
        sent = reopened.db.messages(MessageStatus.SENT)
        assert sent[1].raw == PENDING_RAW and sent[1].attempts == 1
        assert reopened.db.messages(MessageStatus.FAILED)[0].last_error == "550 no such user"
    finally:
        reopened.close()
