"""One scripted run of the alerter that leaves every kind of stored alert state behind.

``python -m tests.monitor.alert_store_script DB`` runs it and prints the alert tables as
SQL. ``data/alert_store_before_enums.sql`` is that output from the code before the
problem, event and outbox states became enums (commit f9bd613): the compatibility tests
read it with today's code, and compare today's run of the same script with it.
"""

from __future__ import annotations

import sqlite3
import sys
from dataclasses import replace
from pathlib import Path

from monitor.alerts import Alerter
from probes.model import Finding, Severity, VantageState
from tests.alerts.helpers import T0, Clock, avail, lame, make_config, report

BEFORE = Path(__file__).parent / "data" / "alert_store_before_enums.sql"
RATE_LIMIT = 900.0
OFFLINE6 = {"ipv4": VantageState.ONLINE, "ipv6": VantageState.OFFLINE}
PENDING_RAW = (
    b"Subject: [ccmon] de: old pending\r\nMessage-ID: <old-pending@example.net>\r\n"
    b"From: ccmon@example.net\r\nTo: noc@example.net\r\n\r\nqueued before the change\r\n"
)

# The digest mail the code before the change queued from this store at T0 + 1020.
DIGEST_SUBJECT = "[ccmon] fr: AVAIL01 CRITICAL degraded and 1 more"
DIGEST_BODY = """\
Zone fr: 2 problems open.

Changes since the last message:
  2023-11-14 22:17:20 UTC  OPENED    AVAIL01 ERROR degraded
      zone degraded
  2023-11-14 22:18:20 UTC  CHANGED   AVAIL01 CRITICAL degraded (was ERROR)
      zone degraded

Open problems:
  AVAIL01 CRITICAL  (the zone)  reason degraded
      since 2023-11-14 22:15:20 UTC: zone degraded
  LAME01 ERROR  ns2.nic.fr. 192.0.2.2  reason refused
      since 2023-11-14 22:13:20 UTC: ns2.nic.fr. 192.0.2.2 is lame: refused

Status page: https://ccmon.example.net/zone/fr

--
ccmon opens a problem after 3 failing sweeps in a row and closes it after 3 good ones.
At most one message per zone every 15 min; changes in between are collected into the next one.
"""


def write_store(db: Path) -> None:
    """Leave behind: open problems (one closing), a pending one, a pending vantage row, a
    digest with an OPENED and a CHANGED event, and outbox rows pending, sent and failed."""
    clock = Clock(T0)
    alerter = Alerter(make_config(db, rate_limit=RATE_LIMIT), clock=clock)

    def sweep(t: float, *findings: Finding, zone: str = "fr", **fields: object) -> None:
        clock.now = t
        alerter.process(replace(report(t, *findings, zone=zone), **fields))  # type: ignore[arg-type]

    sweep(T0, lame())
    sweep(T0 + 60, lame())
    sweep(T0 + 120, lame(), avail())  # LAME01 opens: mailed at once
    sweep(T0 + 180, lame(), avail())
    sweep(T0 + 240, lame(), avail())  # AVAIL01 opens: waits in the digest (rate limit)
    sweep(T0 + 300, replace(avail(), severity=Severity.CRITICAL),  # AVAIL01 changed
          lame(ns="ns3.nic.fr.", address="192.0.2.3"),  # a pending problem
          vantage=OFFLINE6)  # LAME01 one good sweep; a pending vantage row  # fmt: skip
    sweep(T0 + 300, zone="de")
    alerter.db.mark_sent(alerter.db.messages()[0].id, T0 + 130)
    alerter.db.enqueue("de", "<old-pending@example.net>", "[ccmon] de: old pending",
                       ("noc@example.net",), PENDING_RAW, T0 + 310)  # fmt: skip
    failed = alerter.db.enqueue("de", "<old-failed@example.net>", "[ccmon] de: old failed",
                                ("noc@example.net",), b"Subject: x\r\n\r\ny\r\n", T0 + 20)
    alerter.db.mark_sending(failed, T0 + 21, T0 + 22)
    alerter.db.mark_failed(failed, "550 no such user")
    alerter.close()


def old_store(tmp_path: Path) -> Path:
    """The frozen store, loaded into ``tmp_path/before.sqlite``."""
    db = tmp_path / "before.sqlite"
    with sqlite3.connect(db) as con:
        con.executescript(BEFORE.read_text())
    con.close()
    return db


if __name__ == "__main__":
    path = Path(sys.argv[1])
    write_store(path)
    for line in sqlite3.connect(path).iterdump():
        print(line)
