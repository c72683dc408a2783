"""Acceptance of issue 10: a 60 s local outage during `ccmon run`, for real.

`ccmon run` and the lab share a network namespace made by this test (nothing else is
touched); its loopback goes down for 60 s mid-run, a real outage of the monitor's own
network. Mail goes to aiosmtpd and /metrics is scraped from a second namespace joined by a
veth pair, so both keep working through the outage (tests/alerts/netns_outage.py).

What a user checks: exactly one vantage-down and one vantage-back mail, no zone mail, the
problem open before the outage still open with its original "since", no RESOLVED and no
re-opened mail, ccmon_vantage_up{family="ipv4"} 0 during and 1 after, and no availability
sample of the zone during the outage (so the 30-day figure leaves it out).
"""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
OUTAGE = 60.0


@pytest.fixture(scope="module")
def outage(vantage_outage_run: dict) -> dict:  # type: ignore[type-arg]
    return vantage_outage_run


def test_one_vantage_down_one_back_no_zone_mail(outage: dict) -> None:  # type: ignore[type-arg]
    mails = outage["mails"]
    before = mails[: outage["mails_before"]]
    since_outage = mails[outage["mails_before"]:]
    assert [m["subject"] for m in before] == [
        "[ccmon] fr: LAME01 ERROR ns3.nic.fr 127.62.1.3 refused"]
    vantage = [m for m in since_outage if m["vantage"]]
    zone = [m for m in since_outage if m["zone"]]
    assert zone == []
    assert len(vantage) == 2 and len(since_outage) == 2
    down, back = (m["subject"] for m in vantage)
    assert "vantage point" in down and down.endswith(("IPv4 offline", "IPv4 absent"))
    assert down.split(": ", 1)[1].count("IPv") == 1  # the lab world is IPv4 only
    assert back.endswith(": back, IPv4 online again")
    assert not any("RESOLVED" in m["subject"] for m in mails)


def test_open_problems_keep_their_since(outage: dict) -> None:  # type: ignore[type-arg]
    assert any(p[1] == "LAME01" for p in outage["before"])
    assert outage["after"] == outage["before"]  # same problems, same first_seen


def test_vantage_up_zero_during_one_after(outage: dict) -> None:  # type: ignore[type-arg]
    during = outage["during"]
    interval = outage["interval"]
    # scraped every 2 s through the outage; a busy machine may stretch the rounds, so the
    # count only has to show scrapes spread over the whole outage (a quarter of the rounds)
    assert len(during) >= OUTAGE / 2 / 4
    # the vantage verdict is reassessed every round: within three rounds (margin 5 s) of
    # the loopback going down it reads 0, and stays 0 until the end of the outage
    settled = [(t, up) for t, up, _avail in during if t > 3 * interval + 5]
    assert settled and all(up == 0 for _t, up in settled), during
    assert outage["vantage_up_after"] == 1


def test_no_availability_sample_while_nothing_is_measured(outage: dict) -> None:  # type: ignore[type-arg]
    """ccmon_zone_available{dns_zone="de"} has no value once the sweeps read UNKNOWN (from
    the second sweep after the loopback went down: 2 intervals, margin 5 s)."""
    interval = outage["interval"]
    settled = [avail for t, _up, avail in outage["during"] if t > 2 * interval + 5]
    assert settled and all(a is None for a in settled), outage["during"]
