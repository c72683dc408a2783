"""Unmeasured is not down (issue 10): the hold-down through our own outages, and the
vantage point's own mail. Hand-made reports, the real alert tables, no SMTP."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from monitor.alerts import VANTAGE_ZONE, Alerter
from monitor.config.alerts import AlertRule, AlertsConfig
from probes.checks.soa_timers import timer_problems
from probes.model import Finding, Severity, ZoneReport
from tests.alerts.helpers import T0, Clock, avail, lame, make_config, report

LAME_SUBJECT = "[ccmon] fr: LAME01 ERROR ns2.nic.fr 192.0.2.2 refused"
V6 = "2001:db8::2"
ONLINE = {"ipv4": "online", "ipv6": "online"}
V4_OFF = {"ipv4": "offline", "ipv6": "online"}
ALL_OFF = {"ipv4": "offline", "ipv6": "offline"}


def vantage_finding(family: str = "ipv4", state: str = "offline") -> Finding:
    return Finding("VANTAGE01", Severity.NOTICE, "FAMILY_OFFLINE",
                   f"{family} {state} at this vantage point (0 of 13 reference addresses "
                   "answer): 2 addresses not measured", reason=state,
                   args={"family": family, "unmeasured": 2, "answering": 0, "references": 13})


def measured(t: float, *findings: Finding, zone: str = "fr",
             vantage: dict[str, str] | None = None) -> ZoneReport:
    return replace(report(t, *findings, zone=zone), vantage=dict(vantage or ONLINE))


def unmeasured(t: float, *addresses: str, findings: tuple[Finding, ...] = (),
               vantage: dict[str, str] | None = None, zone: str = "fr") -> ZoneReport:
    return replace(report(t, *findings, zone=zone), vantage=dict(vantage or V4_OFF),
                   unmeasured=addresses)


def unknown(t: float, zone: str = "fr", vantage: dict[str, str] | None = None) -> ZoneReport:
    return replace(report(t, vantage_finding(), zone=zone), vantage=dict(vantage or ALL_OFF),
                   unmeasured=("192.0.2.1", "192.0.2.2", "192.0.2.3"), unknown=True)


def subjects(alerter: Alerter) -> list[str]:
    return [m.subject for m in alerter.db.messages()]


def zone_mails(alerter: Alerter) -> list[str]:
    return [m.subject for m in alerter.db.messages() if m.zone != VANTAGE_ZONE]


def vantage_mails(alerter: Alerter) -> list[str]:
    return [m.subject for m in alerter.db.messages() if m.zone == VANTAGE_ZONE]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "ccmon.sqlite"


@pytest.fixture
def alerter(db: Path) -> Alerter:
    a = Alerter(make_config(db), clock=Clock())
    yield a
    a.close()


def open_lame(alerter: Alerter, start: float = T0) -> None:
    for i in range(3):
        alerter.process(measured(start + 60 * i, lame()))
    assert zone_mails(alerter) == [LAME_SUBJECT]


# --- the hold-down ---------------------------------------------------------------------


def test_an_open_problem_on_an_unmeasured_address_stays_open_with_its_since(alerter: Alerter):
    open_lame(alerter)
    for i in range(3, 13):  # ten sweeps in which 192.0.2.2 could not be measured
        alerter.process(unmeasured(T0 + 60 * i, "192.0.2.2"))
    [problem] = alerter.open_problems("fr")
    assert (problem.first_seen, problem.failing, problem.good) == (T0, 3, 0)
    alerter.process(measured(T0 + 60 * 13, lame()))  # measured again, still lame
    assert zone_mails(alerter) == [LAME_SUBJECT]  # neither RESOLVED nor re-opened
    # the held sweeps were not good ones: closing still takes three measured good sweeps
    alerter.process(measured(T0 + 60 * 14))
    alerter.process(measured(T0 + 60 * 15))
    assert len(alerter.open_problems("fr")) == 1
    alerter.process(measured(T0 + 60 * 16))
    assert zone_mails(alerter)[-1].startswith("[ccmon] fr: RESOLVED LAME01")
    assert "open since 2023-11-14 22:13:20 UTC" in alerter.db.messages()[-1].raw.decode()


def test_the_same_absence_on_a_measured_address_counts_as_good(alerter: Alerter):
    """The other side of the boundary: 192.0.2.9 unmeasured does not hold 192.0.2.2."""
    open_lame(alerter)
    for i in range(3, 6):
        alerter.process(unmeasured(T0 + 60 * i, "192.0.2.9", vantage=ONLINE))
    assert subjects(alerter)[-1].startswith("[ccmon] fr: RESOLVED LAME01")


def test_a_pending_problem_keeps_its_failing_count_through_unmeasured_sweeps(alerter: Alerter):
    alerter.process(measured(T0, lame()))
    alerter.process(measured(T0 + 60, lame()))
    for i in range(2, 6):
        alerter.process(unmeasured(T0 + 60 * i, "192.0.2.2"))
    assert zone_mails(alerter) == []
    alerter.process(measured(T0 + 60 * 6, lame()))  # third failing sweep in a row: opens
    assert zone_mails(alerter) == [LAME_SUBJECT]
    [problem] = alerter.open_problems("fr")
    assert problem.first_seen == T0


def test_an_unknown_zone_neither_opens_nor_closes_anything(alerter: Alerter):
    for i in range(3):
        alerter.process(measured(T0 + 60 * i, lame(), avail("degraded")))
    before = {p.key: (p.first_seen, p.failing, p.good) for p in alerter.open_problems("fr")}
    assert len(before) == 2 and len(zone_mails(alerter)) == 1
    alerter.process(measured(T0 + 180, lame()))  # AVAIL01 gone once: good 1
    for i in range(4, 20):
        alerter.process(unknown(T0 + 60 * i))
    after = {p.key: (p.first_seen, p.failing, p.good) for p in alerter.open_problems("fr")}
    assert after == {k: (since, 0 if k[1] == "AVAIL01" else 4, 1 if k[1] == "AVAIL01" else 0)
                     for k, (since, _f, _g) in before.items()}
    alerter.process(measured(T0 + 60 * 20, lame(), avail("degraded")))
    assert len(zone_mails(alerter)) == 1  # no RESOLVED, no re-opened, no zone mail at all


def test_zone_wide_problems_are_held_while_a_family_is_offline(alerter: Alerter):
    for i in range(3):
        alerter.process(measured(T0 + 60 * i, avail("degraded")))
    for i in range(3, 9):  # IPv6 offline: AVAIL01 judged over IPv4 only says nothing
        alerter.process(unmeasured(T0 + 60 * i, V6, vantage={"ipv4": "online",
                                                             "ipv6": "offline"}))
    assert len(alerter.open_problems("fr")) == 1
    assert len(zone_mails(alerter)) == 1


def test_zone_wide_problems_close_on_a_host_without_ipv6(alerter: Alerter):
    """Absent from the start is the host's shape: the v4 verdicts stand, problems close."""
    absent = {"ipv4": "online", "ipv6": "absent"}
    for i in range(3):
        alerter.process(unmeasured(T0 + 60 * i, V6, findings=(avail("degraded"),),
                                   vantage=absent))
    for i in range(3, 6):
        alerter.process(unmeasured(T0 + 60 * i, V6, vantage=absent))
    assert [s.split(":", 1)[1].split()[0] for s in zone_mails(alerter)] == ["AVAIL01",
                                                                           "RESOLVED"]
    assert vantage_mails(alerter) == []


def test_vantage01_never_goes_into_zone_mail(db: Path):
    everything = (AlertRule(None, Severity.NOTICE),)
    alerter = Alerter(make_config(db, rules=everything), clock=Clock())
    for i in range(6):
        alerter.process(unmeasured(T0 + 60 * i, "192.0.2.1", findings=(vantage_finding(),),
                                   vantage=ONLINE))
    assert zone_mails(alerter) == []
    assert alerter.open_problems() == []
    alerter.close()


def test_soa04_timer_advice_is_notice_and_never_mailed_by_default():
    config = AlertsConfig()
    found = timer_problems((3600, 7200, 86400, 172800))  # every timer rule broken
    assert {severity for severity, _r, _w in found} == {Severity.NOTICE}
    assert not any(config.alerting("SOA04", severity) for severity, _r, _w in found)
    assert config.alerting("SOA04", Severity.ERROR)  # the rules still see SOA04 if it were


# --- the vantage point's own mail ------------------------------------------------------


def rounds(alerter: Alerter, start: int, count: int, vantage: dict[str, str],
           findings: tuple[Finding, ...] = ()) -> int:
    """`count` sweep rounds (60 s) of both zones; returns the next round number."""
    for r in range(start, start + count):
        for offset, zone in ((0, "fr"), (7, "de")):
            t = T0 + 60 * r + offset
            if vantage == ONLINE:
                alerter.process(measured(t, *findings, zone=zone))
            else:
                alerter.process(unknown(t, zone=zone, vantage=vantage))
    return start + count


def test_a_vantage_outage_is_one_down_mail_and_one_back_mail(alerter: Alerter):
    r = rounds(alerter, 0, 3, ONLINE, (lame(),))  # fr and de: LAME01 open in both
    assert sorted(zone_mails(alerter)) == [LAME_SUBJECT.replace("fr:", "de:"), LAME_SUBJECT]
    since = {p.zone: p.first_seen for p in alerter.open_problems()}
    r = rounds(alerter, r, 6, ALL_OFF)
    r = rounds(alerter, r, 4, ONLINE, (lame(),))
    [down, back] = vantage_mails(alerter)
    assert down.startswith("[ccmon] vantage point ") and down.endswith(
        ": IPv4 offline, IPv6 offline")
    assert back.endswith(": back, IPv4, IPv6 online again")
    assert len(zone_mails(alerter)) == 2  # still the two of the start
    assert {p.zone: p.first_seen for p in alerter.open_problems()} == since
    body = alerter.db.messages()[2].raw.decode()
    assert "cannot see the DNS over IPv4 and IPv6" in body
    assert "0 of 13 reference addresses" in body
    assert alerter.vantage_down() == []


@pytest.mark.parametrize("down_rounds, mails", [(2, 0), (3, 2)])
def test_the_vantage_hold_down_counts_sweep_intervals(alerter: Alerter, down_rounds, mails):
    """Down in 2 rounds (60 s span) is below open_after=3; in 3 rounds (120 s) it opens."""
    r = rounds(alerter, 0, 1, ONLINE)
    r = rounds(alerter, r, down_rounds, V4_OFF)
    rounds(alerter, r, 4, ONLINE)
    assert len(vantage_mails(alerter)) == mails
    assert zone_mails(alerter) == []


def test_back_needs_close_after_intervals_online(alerter: Alerter):
    r = rounds(alerter, 0, 4, V4_OFF)
    assert len(vantage_mails(alerter)) == 1
    r = rounds(alerter, r, 2, ONLINE)
    assert len(vantage_mails(alerter)) == 1  # 120 s after the last offline report: not yet
    rounds(alerter, r, 1, ONLINE)
    assert len(vantage_mails(alerter)) == 2


def test_ipv6_absent_from_the_start_is_never_mailed(alerter: Alerter):
    absent = {"ipv4": "online", "ipv6": "absent"}
    for r in range(30):
        alerter.process(unmeasured(T0 + 60 * r, V6, vantage=absent))
    assert subjects(alerter) == []


def test_a_family_lost_after_it_was_online_is_an_outage(alerter: Alerter):
    rounds(alerter, 0, 1, ONLINE)
    lost = {"ipv4": "online", "ipv6": "absent"}
    for r in range(1, 5):
        alerter.process(unmeasured(T0 + 60 * r, V6, vantage=lost))
    assert [s.split(": ", 1)[1] for s in vantage_mails(alerter)] == ["IPv6 absent"]


def test_a_restart_during_the_outage_neither_repeats_nor_forgets(db: Path):
    alerter = Alerter(make_config(db), clock=Clock())
    r = rounds(alerter, 0, 4, ALL_OFF)
    assert len(vantage_mails(alerter)) == 1
    alerter.close()
    alerter = Alerter(make_config(db), clock=Clock())  # forget_zones_except keeps it
    r = rounds(alerter, r, 3, ALL_OFF)
    assert len(vantage_mails(alerter)) == 1
    rounds(alerter, r, 4, ONLINE)
    assert len(vantage_mails(alerter)) == 2
    alerter.close()


def test_vantage_mail_goes_to_vantage_recipients(db: Path):
    alerter = Alerter(make_config(db, vantage_recipients=("ops@example.net",)), clock=Clock())
    rounds(alerter, 0, 4, V4_OFF)
    [message] = alerter.db.messages()
    assert message.recipients == ("ops@example.net",)
    assert b"X-Ccmon-Vantage: ipv4" in message.raw
    alerter.close()


def test_a_flap_inside_the_rate_limit_window_is_one_digest(db: Path):
    """Down, back and down again within one rate-limit window: the first down goes at once,
    the rest waits and goes as one message that lists both changes."""
    clock = Clock()
    alerter = Alerter(make_config(db, rate_limit=900.0), clock=clock)
    r = rounds(alerter, 0, 4, V4_OFF)
    r = rounds(alerter, r, 4, ONLINE)
    rounds(alerter, r, 4, V4_OFF)
    assert len(vantage_mails(alerter)) == 1  # the rest waits for the window
    clock.now += 900
    assert alerter.flush_digests() == 1
    [_down, digest] = alerter.db.messages()
    assert digest.subject.endswith(": IPv4 offline")
    body = digest.raw.decode()
    assert "BACK  IPv4 online again" in body and "DOWN  IPv4 offline" in body
    assert b"X-Ccmon-Vantage: ipv4\r\n" in digest.raw  # one family, named once
    alerter.close()
