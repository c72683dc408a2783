"""The vantage point's own outage in `ccmon report` (issue 15), for real.

The vantage-outage driver of issue 10 (tests/alerts/netns_outage.py: a lab and `ccmon run`
in a network namespace of their own, its loopback taken down for OUTAGE seconds — a real
local outage, every query ENETUNREACH) writes its store; `ccmon report` over that store
must state the outage as our unmeasured time — not as the zones' downtime — within one
sweep interval plus the vantage re-assessment (up to udp_tries x udp_timeout), and keep
the lame server's downtime to the minutes that were measured.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
OUTAGE = 60.0  # s the monitor namespace's loopback is down


def hour(t: float, up: bool = False) -> str:
    t = (t // 3600 + (1 if up else 0)) * 3600
    return dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%dT%H:%M")


@pytest.fixture(scope="module")
def outage(vantage_outage_run: dict) -> dict:
    """The shared outage run (tests/alerts/conftest.py), read by `ccmon report`."""
    run, workdir = vantage_outage_run, Path(vantage_outage_run["workdir"])
    report = subprocess.run(
        [sys.executable, "-m", "monitor", "report", "--store.path",
         str(workdir / "ccmon.sqlite"), "--format", "json",
         "--from", hour(run["down_at"] - 600), "--to", hour(run["up_at"] + 600, up=True)],
        capture_output=True, text=True, timeout=60, cwd=REPO,
    )  # fmt: skip
    assert report.returncode == 0, report.stderr
    return {**run, "report": json.loads(report.stdout)}


def test_outage_is_unmeasured_not_downtime(outage: dict) -> None:
    zones = {z["zone"]: z for z in outage["report"]["zones"]}
    lost = (outage["up_at"] - outage["down_at"]) / 60
    # a sweep under way at either edge, and the vantage re-assessment (2 x 2.5 s at most)
    tolerance = (2 * outage["interval"] + 5.0) / 60
    de = zones["de"]
    print(f"de: unmeasured {de['unmeasured_minutes']} min of an outage of {lost:.2f} min; "
          f"not monitored {de['not_monitored_minutes']} min; downtime {de['downtime_minutes']}")
    # Known edge (issue 10's closing note): the one sweep that starts within a fraction of a
    # second of the loopback going down can still be judged as measured, and so as down. At
    # most that one sweep, i.e. one interval of downtime, is tolerated; nothing more.
    edge = outage["interval"] / 60 + 0.005
    assert de["downtime_minutes"] <= edge
    assert de["availability_percent"] >= 100.0 - 100.0 * edge / de["measured_minutes"]
    assert de["unmeasured_minutes"] == pytest.approx(lost, abs=tolerance)
    assert outage["report"]["vantage_unmeasured_zone_minutes"] == pytest.approx(
        2 * lost, abs=2 * tolerance)  # fr and de
    for server in de["servers"]:
        assert server["downtime_minutes"] <= edge
        assert server["unmeasured_minutes"] == pytest.approx(lost, abs=tolerance)
    # fr's lame server: down every measured minute, the outage not among them
    fr = zones["fr"]
    lame = next(s for s in fr["servers"] if s["address"].endswith(".1.3"))
    assert lame["downtime_minutes"] == lame["measured_minutes"]
    assert lame["unmeasured_minutes"] == pytest.approx(lost, abs=tolerance)
    assert fr["downtime_minutes"] <= edge  # ns1 and ns2 carry it whenever measured
