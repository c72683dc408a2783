"""The alert state machine: hold-down, changes, recovery, rate limit, restart (no SMTP)."""

from __future__ import annotations

from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest

from monitor.alerts import Alerter
from monitor.config.alerts import AlertRule
from probes.model import Severity
from tests.alerts.helpers import T0, Clock, avail, behind, lame, make_config, parse, report, slow

SUBJECT = "[ccmon] fr: LAME01 ERROR ns2.nic.fr 192.0.2.2 refused"
RESOLVED = "[ccmon] fr: RESOLVED LAME01 ERROR ns2.nic.fr 192.0.2.2 refused"


def subjects(alerter: Alerter) -> list[str]:
    return [m.subject for m in alerter.db.messages()]


def sweep(alerter: Alerter, t: float, *findings, zone: str = "fr") -> int:  # type: ignore[no-untyped-def]
    return alerter.process(report(t, *findings, zone=zone))


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "ccmon.sqlite"


@pytest.fixture
def alerter(db: Path) -> Alerter:
    a = Alerter(make_config(db), clock=Clock())
    yield a
    a.close()


@pytest.mark.parametrize("failing, mails", [(1, 0), (2, 0), (3, 1), (4, 1), (10, 1)])
def test_opens_after_three_failing_sweeps_exactly_once(alerter: Alerter, failing, mails):
    for i in range(failing):
        sweep(alerter, T0 + 60 * i, lame())
    assert subjects(alerter) == [SUBJECT] * mails


def test_failures_must_be_consecutive(alerter: Alerter):
    for i, failing in enumerate([True, True, False, True, True, False, True, True]):
        sweep(alerter, T0 + 60 * i, *([lame()] if failing else []))
    assert subjects(alerter) == []
    sweep(alerter, T0 + 60 * 8, lame())
    assert subjects(alerter) == [SUBJECT]


@pytest.mark.parametrize("good, mails", [(1, 1), (2, 1), (3, 2), (5, 2)])
def test_closes_after_three_good_sweeps(alerter: Alerter, good, mails):
    for i in range(3):
        sweep(alerter, T0 + 60 * i, lame())
    for i in range(good):
        sweep(alerter, T0 + 600 + 60 * i)
    assert subjects(alerter) == [SUBJECT, RESOLVED][:mails]
    assert len(alerter.open_problems("fr")) == (1 if good < 3 else 0)


def test_a_failing_sweep_while_closing_restarts_the_good_count(alerter: Alerter):
    pattern = [True] * 3 + [False, False, True, False, False] + [False]
    for i, failing in enumerate(pattern[:-1]):
        sweep(alerter, T0 + 60 * i, *([lame()] if failing else []))
    assert subjects(alerter) == [SUBJECT]
    sweep(alerter, T0 + 60 * len(pattern), )
    assert subjects(alerter) == [SUBJECT, RESOLVED]


def test_hold_down_is_configurable(db: Path):
    alerter = Alerter(make_config(db, open_after=1, close_after=2), clock=Clock())
    sweep(alerter, T0, lame())
    assert subjects(alerter) == [SUBJECT]
    sweep(alerter, T0 + 60)
    sweep(alerter, T0 + 120)
    assert subjects(alerter) == [SUBJECT, RESOLVED]
    alerter.close()


def test_changing_numbers_in_the_message_are_the_same_problem(alerter: Alerter):
    for i, lag in enumerate([1, 2, 3, 7, 9, 12]):
        sweep(alerter, T0 + 60 * i, behind(lag))
    assert subjects(alerter) == ["[ccmon] fr: SOA01 WARNING ns3.nic.fr 192.0.2.3 behind"]
    body = parse(alerter.db.messages()[0].raw).get_content()
    assert "9 behind" not in body and "3 behind 100" in body


def test_default_rules_error_and_up_plus_soa01_warning(alerter: Alerter):
    for i in range(5):
        sweep(alerter, T0 + 60 * i, slow(700 + i))
    assert subjects(alerter) == []  # RTT01 is a WARNING: not alerting by default
    for i in range(5, 8):
        sweep(alerter, T0 + 60 * i, behind(1))
    assert subjects(alerter) == ["[ccmon] fr: SOA01 WARNING ns3.nic.fr 192.0.2.3 behind"]


def test_custom_rules_select_checks_and_severity(db: Path):
    rules = (AlertRule(frozenset({"RTT01"}), Severity.WARNING),)
    alerter = Alerter(make_config(db, rules=rules), clock=Clock())
    for i in range(3):
        sweep(alerter, T0 + 60 * i, slow(800), lame())
    assert subjects(alerter) == ["[ccmon] fr: RTT01 WARNING ns1.nic.fr 192.0.2.1 slow"]
    alerter.close()


def test_a_changed_problem_gets_a_message(alerter: Alerter):
    for i in range(3):
        sweep(alerter, T0 + 60 * i, lame())
    sweep(alerter, T0 + 180, lame(severity=Severity.CRITICAL))
    sweep(alerter, T0 + 240, lame(severity=Severity.CRITICAL))
    critical = "[ccmon] fr: LAME01 CRITICAL ns2.nic.fr 192.0.2.2 refused"
    assert subjects(alerter) == [SUBJECT, critical]
    body = parse(alerter.db.messages()[1].raw).get_content()
    assert "CHANGED" in body and "(was ERROR)" in body


def test_a_new_reason_is_a_new_problem_and_the_old_one_resolves(alerter: Alerter):
    for i in range(3):
        sweep(alerter, T0 + 60 * i, lame(reason="refused"))
    for i in range(3, 6):
        sweep(alerter, T0 + 60 * i, lame(reason="servfail"))
    assert subjects(alerter) == [SUBJECT, "[ccmon] fr: LAME01 ERROR ns2.nic.fr 192.0.2.2 servfail"]
    body = parse(alerter.db.messages()[1].raw).get_content()
    assert "OPENED    LAME01 ERROR ns2.nic.fr 192.0.2.2 servfail" in body
    assert "RESOLVED  LAME01 ERROR ns2.nic.fr 192.0.2.2 refused" in body


def test_several_problems_worst_first_and_n_more(alerter: Alerter):
    findings = [lame(), lame("ns3.nic.fr.", "192.0.2.3", "not-authoritative"), avail("down"),
                behind(2)]
    for i in range(3):
        sweep(alerter, T0 + 60 * i, *findings)
    assert subjects(alerter) == ["[ccmon] fr: AVAIL01 CRITICAL down and 3 more"]
    for i in range(3, 6):
        sweep(alerter, T0 + 60 * i, *findings[:2])
    assert subjects(alerter)[1] == (
        "[ccmon] fr: RESOLVED AVAIL01 CRITICAL down and 1 more (2 still open)")
    for i in range(6, 9):
        sweep(alerter, T0 + 60 * i)
    assert subjects(alerter)[2] == (
        "[ccmon] fr: RESOLVED LAME01 ERROR ns2.nic.fr 192.0.2.2 refused and 1 more")


def test_message_headers_and_body(alerter: Alerter):
    for i in range(3):
        sweep(alerter, T0 + 60 * i, lame(), behind(3))
    [queued] = alerter.db.messages()
    message = parse(queued.raw)
    assert message["Subject"] == "[ccmon] fr: LAME01 ERROR ns2.nic.fr 192.0.2.2 refused and 1 more"
    assert message["To"] == "noc@example.net"
    assert message["From"] == "ccmon@example.net"
    assert message["Message-ID"].startswith("<") and message["Message-ID"].endswith("@example.net>")
    assert parsedate_to_datetime(message["Date"]).timestamp() == T0 + 10_000
    assert message["Auto-Submitted"] == "auto-generated"
    assert message.get_content_type() == "text/plain"
    body = message.get_content()
    assert "Zone fr: 2 problems open." in body
    assert "LAME01 ERROR  ns2.nic.fr. 192.0.2.2  reason refused" in body
    assert "since 2023-11-14 22:13:20 UTC: ns2.nic.fr. 192.0.2.2 is lame: refused" in body
    assert "SOA01 WARNING  ns3.nic.fr. 192.0.2.3  reason behind" in body
    assert "Status page: https://ccmon.example.net/zone/fr" in body


def test_recipients_default_plus_zone(db: Path):
    alerter = Alerter(make_config(db, zone_recipients={"fr": ("hostmaster@nic.fr",)}),
                      clock=Clock())
    for i in range(3):
        sweep(alerter, T0 + 60 * i, lame())
        sweep(alerter, T0 + 60 * i, lame("ns1.nic.de.", "192.0.2.9"), zone="de")
    fr, de = alerter.db.messages()
    assert fr.recipients == ("noc@example.net", "hostmaster@nic.fr")
    assert de.recipients == ("noc@example.net",)
    alerter.close()


def test_zones_are_independent(alerter: Alerter):
    for i in range(3):
        sweep(alerter, T0 + 60 * i, lame())
        sweep(alerter, T0 + 60 * i, zone="de")
    assert subjects(alerter) == [SUBJECT]


def test_rate_limit_digests_a_flapping_server(db: Path):
    clock = Clock()
    alerter = Alerter(make_config(db, rate_limit=900.0, open_after=1, close_after=1), clock=clock)
    t = T0
    for minute in range(12):  # flaps every minute for 12 minutes
        clock.now = t + 60 * minute
        sweep(alerter, clock.now, *([lame()] if minute % 2 == 0 else []))
    assert subjects(alerter) == [SUBJECT]  # the first change goes at once, the rest wait
    clock.now = t + 899
    assert alerter.flush_digests() == 0
    clock.now = t + 900
    assert alerter.flush_digests() == 1
    assert alerter.flush_digests() == 0
    assert subjects(alerter) == [SUBJECT, RESOLVED]
    digest = parse(alerter.db.messages()[1].raw).get_content()
    assert digest.count("RESOLVED  LAME01") == 6 and digest.count("OPENED    LAME01") == 5
    assert "At most one message per zone every 15 min" in digest
    alerter.close()


def test_rate_limit_digest_also_goes_with_the_next_sweep(db: Path):
    clock = Clock()
    alerter = Alerter(make_config(db, rate_limit=900.0, open_after=1, close_after=1), clock=clock)
    clock.now = T0
    sweep(alerter, T0, lame())
    clock.now = T0 + 60
    sweep(alerter, T0 + 60)
    assert alerter.next_digest_due() == T0 + 900
    clock.now = T0 + 960
    sweep(alerter, T0 + 960, lame(), avail())
    assert subjects(alerter) == [SUBJECT, "[ccmon] fr: AVAIL01 ERROR degraded and 1 more"]
    alerter.close()


def test_restart_keeps_hold_down_counters(db: Path):
    first = Alerter(make_config(db), clock=Clock())
    sweep(first, T0, lame())
    sweep(first, T0 + 60, lame())
    first.close()
    second = Alerter(make_config(db), clock=Clock())
    assert subjects(second) == []
    sweep(second, T0 + 120, lame())
    assert subjects(second) == [SUBJECT]
    second.close()
    third = Alerter(make_config(db), clock=Clock())
    sweep(third, T0 + 180, lame())  # still open: nothing new
    for i in range(3):
        sweep(third, T0 + 240 + 60 * i)
    assert subjects(third) == [SUBJECT, RESOLVED]
    third.close()


def test_a_report_seen_twice_counts_once(alerter: Alerter):
    sweep(alerter, T0, lame())
    sweep(alerter, T0, lame())
    sweep(alerter, T0 + 60, lame())
    sweep(alerter, T0 + 30, lame())  # older than the last one counted
    assert subjects(alerter) == []
    sweep(alerter, T0 + 120, lame())
    assert subjects(alerter) == [SUBJECT]


def test_restart_keeps_the_digest(db: Path):
    clock = Clock(T0)
    first = Alerter(make_config(db, rate_limit=900.0, open_after=1, close_after=1), clock=clock)
    sweep(first, T0, lame())
    clock.now = T0 + 60
    sweep(first, T0 + 60)
    first.close()
    clock.now = T0 + 1000
    second = Alerter(make_config(db, rate_limit=900.0, open_after=1, close_after=1), clock=clock)
    assert second.flush_digests() == 1
    assert subjects(second) == [SUBJECT, RESOLVED]
    second.close()


def test_zones_no_longer_watched_are_forgotten(db: Path):
    first = Alerter(make_config(db), clock=Clock())
    for i in range(3):
        sweep(first, T0 + 60 * i, lame(), zone="se")
    assert first.open_problems("se")
    first.close()
    second = Alerter(make_config(db), clock=Clock())  # watches fr and de only
    assert second.open_problems("se") == []
    second.close()


def test_no_recipient_no_mail_but_state_is_kept(db: Path):
    alerter = Alerter(make_config(db, recipients=()), clock=Clock())
    for i in range(3):
        sweep(alerter, T0 + 60 * i, lame())
    assert subjects(alerter) == []
    assert len(alerter.open_problems("fr")) == 1
    alerter.close()


def test_disabled_alerts_do_nothing(db: Path):
    alerter = Alerter(make_config(db, enabled=False), clock=Clock())
    for i in range(3):
        sweep(alerter, T0 + 60 * i, lame())
    assert subjects(alerter) == [] and alerter.open_problems() == []
    alerter.close()


def test_alert_tables_share_the_store_file(db: Path):
    from monitor.store import MIGRATIONS, Store

    store = Store(str(db), 86400.0)
    alerter = Alerter(make_config(db), clock=Clock())
    for i in range(3):
        sweep(alerter, T0 + 60 * i, lame())
    counts = store.table_counts()
    assert counts["alert_outbox"] == 1 and counts["alert_problems"] == 1
    assert store.schema_version == len(MIGRATIONS)  # one version for the whole file
    alerter.close()
    store.close()
