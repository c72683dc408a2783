"""A store written before the alert states became enums reads, continues and mails the same.

The store is ``data/alert_store_before_enums.sql``: the alert tables as the code of commit
f9bd613 left them after ``alert_store_script`` (see there). No SMTP here: the delivery of
its pending message is in tests/alerts/test_alert_store_compat_smtp.py.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from monitor.alerts import Alerter, EventKind, MessageStatus, Phase
from probes.model import Severity
from tests.alerts.helpers import T0, Clock, avail, lame, make_config, parse, report
from tests.monitor.alert_store_script import (
    DIGEST_BODY,
    DIGEST_SUBJECT,
    RATE_LIMIT,
    old_store,
    write_store,
)

NS2 = ("fr", "LAME01", "ns2.nic.fr.", "192.0.2.2", "refused")  # open, one good sweep
NS3 = ("fr", "LAME01", "ns3.nic.fr.", "192.0.2.3", "refused")  # pending, one failing sweep
AVAIL = ("fr", "AVAIL01", "", "", "degraded")  # open, its OPENED and CHANGED in the digest
V6 = ("(vantage)", "VANTAGE01", "", "", "ipv6")  # pending


def rows(db: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every alert row as stored, the outbox without its random Message-IDs (the schema's
    version is not alert state: the migration runner owns it)."""
    with sqlite3.connect(db) as con:
        out = {
            table: sorted(con.execute(f"SELECT * FROM {table}"))
            for table in ("alert_problems", "alert_zones")
        }
        out["alert_outbox"] = list(con.execute(
            "SELECT zone, subject, recipients, status, attempts, last_error, created_at, "
            "next_attempt_at, sent_at, sending_at FROM alert_outbox ORDER BY id"
        ))
    con.close()
    return out


@pytest.fixture
def alerter(tmp_path: Path):  # type: ignore[no-untyped-def]
    clock = Clock(T0 + 330)
    a = Alerter(make_config(old_store(tmp_path), rate_limit=RATE_LIMIT), clock=clock)
    yield a
    a.close()


def test_the_old_rows_read_as_enums_with_their_counters(alerter: Alerter):
    problems = alerter.db.problems()
    got = {key: (p.state, p.failing, p.good) for key, p in problems.items()}
    assert got == {
        NS2: (Phase.OPEN, 0, 1),
        NS3: (Phase.PENDING, 1, 0),
        AVAIL: (Phase.OPEN, 4, 0),
        V6: (Phase.PENDING, 1, 0),
    }
    assert all(type(p.state) is Phase for p in problems.values())
    assert sorted(p.key for p in alerter.open_problems()) == sorted([AVAIL, NS2])
    digest = alerter.db.zone_state("fr").digest
    assert [e["kind"] for e in digest] == [EventKind.OPENED, EventKind.CHANGED]


def test_the_old_outbox_reads_with_its_statuses(alerter: Alerter):
    assert alerter.outbox_counts() == {"pending": 1, "sent": 1, "failed": 1}
    statuses = [(m.subject, m.status) for m in alerter.db.messages()]
    assert statuses == [
        ("[ccmon] fr: LAME01 ERROR ns2.nic.fr 192.0.2.2 refused", MessageStatus.SENT),
        ("[ccmon] de: old pending", MessageStatus.PENDING),
        ("[ccmon] de: old failed", MessageStatus.FAILED),
    ]
    assert [m.subject for m in alerter.db.messages("pending")] == ["[ccmon] de: old pending"]
    assert alerter.db.next_due() == T0 + 310


def test_the_old_digest_goes_out_word_for_word_when_its_window_ends(alerter: Alerter):
    last_mail = T0 + 120
    assert alerter.next_digest_due() == last_mail + RATE_LIMIT
    assert alerter.flush_digests(now=last_mail + RATE_LIMIT - 1) == 0
    assert alerter.flush_digests(now=last_mail + RATE_LIMIT) == 1
    queued = alerter.db.messages()[-1]
    assert queued.subject == DIGEST_SUBJECT
    assert parse(queued.raw).get_content().replace("\r\n", "\n") == DIGEST_BODY


def test_the_hold_down_counts_on_from_the_old_counters(tmp_path: Path):
    """NS2 has one good sweep of three, NS3 one failing of three: each flips at the third,
    not the second."""
    alerter = Alerter(make_config(old_store(tmp_path)), clock=Clock(T0 + 330))
    critical = replace(avail(), severity=Severity.CRITICAL)
    ns3 = lame(ns="ns3.nic.fr.", address="192.0.2.3")
    alerter.process(report(T0 + 360, critical, ns3))
    problems = alerter.db.problems("fr")
    assert (problems[NS2].state, problems[NS2].good) == (Phase.OPEN, 2)
    assert (problems[NS3].state, problems[NS3].failing) == (Phase.PENDING, 2)
    alerter.process(report(T0 + 420, critical, ns3))
    problems = alerter.db.problems("fr")
    assert NS2 not in problems
    assert (problems[NS3].state, problems[NS3].failing) == (Phase.OPEN, 3)
    subjects = [m.subject for m in alerter.db.messages()][3:]
    assert subjects == [
        DIGEST_SUBJECT,  # the old digest, with the first sweep (no rate limit now)
        "[ccmon] fr: LAME01 ERROR ns3.nic.fr 192.0.2.3 refused and 1 more",
    ]
    body = parse(alerter.db.messages()[-1].raw).get_content()
    assert "OPENED    LAME01 ERROR ns3.nic.fr 192.0.2.3 refused" in body
    assert "RESOLVED  LAME01 ERROR ns2.nic.fr 192.0.2.2 refused (open since" in body
    alerter.close()


def test_todays_code_writes_the_rows_the_old_code_wrote(tmp_path: Path):
    """The same scripted run, stored by today's code: row for row what the old code stored
    (states, digest kinds and outbox statuses as the same plain strings)."""
    new = tmp_path / "today.sqlite"
    write_store(new)
    assert rows(new) == rows(old_store(tmp_path))
    with sqlite3.connect(new) as con:
        states = set(con.execute("SELECT state, typeof(state) FROM alert_problems"))
        kinds = {e["kind"] for (d,) in con.execute("SELECT digest FROM alert_zones")
                 for e in json.loads(d)}  # fmt: skip
        statuses = set(con.execute("SELECT status, typeof(status) FROM alert_outbox"))
    con.close()
    assert states == {("open", "text"), ("pending", "text")}
    assert kinds == {"opened", "changed"}
    assert statuses == {("pending", "text"), ("sent", "text"), ("failed", "text")}
