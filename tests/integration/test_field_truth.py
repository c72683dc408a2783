"""Field truth (issue 10): ccmon tells its own failures from the zones', for real.

Each case runs a lab world and `ccmon check` inside a network namespace this test makes
(`unshare -n`, lo brought up inside, the lab on port 53; tests/integration/field_ns.py), then
breaks the vantage point the way the field does: no IPv6, 64 descriptors, a lossy path, lo
down. Skipped only where namespaces cannot be made or the real servers are missing; under
CI=true that is a failure.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import dns.flags
import dns.message
import dns.rrset
import pytest

from probes import labels
from probes.checks.edns import outcome
from probes.engine import QueryEngine, QueryTally, current_tally
from probes.model import FailureKind, Observation, Transport
from probes.observe_further import ask_further
from probes.settings import ProbeSettings
from tests.support import require_real

REPO = Path(__file__).resolve().parents[2]
DUAL_STACK = ("se", "mx")
LOSSY = "127.73.3.3"  # ns3.nic.fi., drop share 0.3
RANDOM_DEMO_SERVER = "127.53.26.3"  # ns3.nic.do., drop share 0.5: its REACH01 comes and goes
JUDGED_BY_FURTHER_QUERIES = ("EDNS01", "NSID01", "DNSSEC01", "DNSSEC02", "DNSSEC03", "DNSSEC04",
                             "SEC01", "SEC02")


def _namespaces_work() -> str:
    """"" when `unshare -n` works here, else why not."""
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return "unshare or ip not installed"
    try:
        done = subprocess.run(["unshare", "-n", "ip", "link", "set", "lo", "up"],
                              capture_output=True, text=True, timeout=10)
    except OSError as exc:
        return str(exc)
    return "" if done.returncode == 0 else f"unshare -n failed: {done.stderr.strip()}"


def in_namespace(case: str) -> dict[str, Any]:
    why = _namespaces_work()
    if why:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true needs network namespaces: {why}")
        pytest.skip(f"cannot make a network namespace here: {why}")
    require_real()
    done = subprocess.run(["unshare", "-n", sys.executable, "-m", "tests.integration.field_ns",
                           case], capture_output=True, text=True, timeout=400, cwd=REPO)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and lines, f"field case {case} failed:\n{done.stderr[-3000:]}"
    return json.loads(lines[-1].removeprefix("RESULT "))


def zones(run: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {z["zone"]: z for z in run["doc"]["zones"]}


def finding_keys(zone_docs, *, without_address: str = "") -> set[tuple[str, ...]]:
    """What a user compares: which check found what where (messages and args carry RTTs)."""
    return {(z["zone"], f["check"], f["severity"], f["tag"], f["reason"], f["nameserver"],
             f["address"])
            for z in zone_docs for f in z["findings"] if f["address"] != without_address or
            not without_address}


# --- no IPv6 at the vantage point ------------------------------------------------------------

@pytest.fixture(scope="module")
def no_ipv6():
    return in_namespace("no-ipv6")


def test_without_ipv6_the_v4_verdicts_stay_and_v6_is_not_measured(no_ipv6):
    before, after = zones(no_ipv6["with_v6"]), zones(no_ipv6["without_v6"])
    for name in DUAL_STACK:
        # With IPv6 the ::1 address is measured and fine (the other side of the boundary).
        v6_rows = [s for s in before[name]["servers"] if s["address"] == "::1"]
        assert v6_rows and all(s["measured"] and s["authoritative"] for s in v6_rows)
        assert before[name]["unmeasured"] == []
        # Without: v4 verdicts unchanged, nothing about ::1, one vantage finding.
        keep = [f for f in after[name]["findings"] if f["check"] != "VANTAGE01"]
        assert finding_keys([{**after[name], "findings": keep}]) == finding_keys([before[name]])
        assert not [f for f in after[name]["findings"] if f["address"] == "::1"]
        vantage = [f for f in after[name]["findings"] if f["check"] == "VANTAGE01"]
        assert len(vantage) == 1
        assert vantage[0]["message"] == ("IPv6 absent at this vantage point: 1 IPv6 address "
                                         "not measured")
        assert (vantage[0]["severity"], vantage[0]["tag"]) == ("NOTICE", "FAMILY_ABSENT")
        assert vantage[0]["args"]["unmeasured"] == 1 and vantage[0]["args"]["family"] == "ipv6"
        assert after[name]["vantage"]["ipv6"] == "absent"
        assert after[name]["vantage"]["ipv4"] == "online"
        assert after[name]["unmeasured"] == ["::1"] and not after[name]["unknown"]
        rows = [s for s in after[name]["servers"] if s["address"] == "::1"]
        assert rows and not any(s["measured"] or s["answered"] for s in rows)
        # The queries to ::1 failed on our host (EADDRNOTAVAIL): counted as ours.
        assert {s["failure"] for s in rows} == {"local-error"}
        assert after[name]["query_failures"].get("local-error", 0) >= 2
        assert "local-error" not in before[name]["query_failures"]
        assert after[name]["status"] == before[name]["status"]
    # mx keeps its real IPv4 fault; the exit status does not move with the missing family.
    assert ("mx", "LAME01", "ERROR", "LAME_DELEGATION", "refused", "ns3.nic.mx.",
            "127.73.2.3") in finding_keys(after.values())
    assert no_ipv6["with_v6"]["rc"] == no_ipv6["without_v6"]["rc"] == 2
    assert "::1         UDP    not measured" in no_ipv6["text"]["stdout"]


# --- 64 descriptors ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def ulimit():
    return in_namespace("ulimit")


def test_ulimit_64_gives_the_same_findings_as_a_normal_limit(ulimit):
    normal, low = ulimit["normal"], ulimit["low"]
    assert normal["rc"] == low["rc"] == 2
    same = finding_keys(low["doc"]["zones"], without_address=RANDOM_DEMO_SERVER)
    assert same == finding_keys(normal["doc"]["zones"], without_address=RANDOM_DEMO_SERVER)
    assert len(same) > 20  # the demo world's faults really were found
    # ccmon fitted its queries to the 64 descriptors and said so.
    assert "soft limit 64 (hard 64)" in low["stderr"]
    assert "max_in_flight 2000 lowered to fit" in low["stderr"]


def test_descriptor_exhaustion_is_counted_as_ours_and_blames_no_server(ulimit):
    # Without the budget the sweep does run out of descriptors (EMFILE) ...
    reports = ulimit["raw"]["reports"]
    assert ulimit["raw"]["rc"] == 0 and reports
    local = sum(r["query_failures"].get("local-error", 0) for r in reports)
    assert local > 0, ulimit["raw"]["stderr"]
    # ... and not one finding comes of it: the same findings as with a normal limit.
    assert finding_keys(reports, without_address=RANDOM_DEMO_SERVER) == finding_keys(
        ulimit["normal"]["doc"]["zones"], without_address=RANDOM_DEMO_SERVER)
    assert not [f for r in reports for f in r["findings"] if "local-error" in f["reason"]]
    assert not [s for r in reports for s in r["servers"] if s["failure"] == "local-error"
                and s["measured"]]


# --- a lossy path --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def loss():
    return in_namespace("loss")


def test_thirty_percent_loss_is_a_loss_rate_not_a_broken_server(loss):
    runs = loss["runs"]
    assert len(runs) == 20
    found: Counter[str] = Counter()
    rates = []
    for run in runs:
        fi = zones(run)["fi"]
        found.update(f["check"] for f in fi["findings"] if f["address"] == LOSSY)
        row = next(s for s in fi["servers"] if s["address"] == LOSSY and s["transport"] == "udp")
        assert row["udp_loss"] is not None
        rates.append(row["udp_loss"])
    assert not [c for c in found if c in JUDGED_BY_FURTHER_QUERIES], found
    mean = sum(rates) / len(rates)
    assert 0.2 <= mean <= 0.4, rates  # 30 % +/- 10 points, over 20 sweeps
    # The healthy servers of the same zone lose nothing (the other side).
    healthy = [s["udp_loss"] for run in runs for s in zones(run)["fi"]["servers"]
               if s["transport"] == "udp" and s["address"] != LOSSY]
    assert healthy and max(healthy) == 0.0


# --- lo down: our own outage ---------------------------------------------------------------

@pytest.fixture(scope="module")
def lo_down():
    return in_namespace("lo-down")


def test_lo_down_is_unknown_with_the_vantage_reason_never_critical(lo_down):
    assert lo_down["before"]["rc"] == 2  # the same world, lo up: mx's lame server is CRITICAL
    down = lo_down["down"]
    assert down["rc"] == 3 and down["doc"]["status"] == "UNKNOWN"
    for zone in down["doc"]["zones"]:
        assert zone["status"] == "UNKNOWN" and zone["unknown"]
        assert [(f["check"], f["tag"], f["severity"]) for f in zone["findings"]] == [
            ("VANTAGE01", "VANTAGE_OFFLINE", "NOTICE")]
        assert zone["vantage"] == {"ipv4": "offline"}
    first = lo_down["text"]["stdout"].splitlines()[0]
    assert lo_down["text"]["rc"] == 3
    assert first.startswith("CCMON UNKNOWN - 3 zone(s)")
    assert "IPv4 offline (0 of 1 reference addresses answer over IPv4)" in first
    assert "CRITICAL" not in lo_down["text"]["stdout"]


# --- further queries get the SOA query's UDP retries (a real socket, no namespace needed) ---

class FirstTryLost(asyncio.DatagramProtocol):
    """Drops the first datagram of every question, answers the next: a lossy path."""

    def __init__(self) -> None:
        self.seen: Counter[bytes] = Counter()
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        query = dns.message.from_wire(data)
        key = query.question[0].to_text().encode() + bytes([query.ednsflags >> 15 & 1])
        self.seen[key] += 1
        if self.seen[key] == 1:
            return  # lost
        reply = dns.message.make_response(query)
        reply.flags |= dns.flags.AA
        reply.answer.append(dns.rrset.from_text(
            "fr.", 60, "IN", "SOA", "ns1.nic.fr. h.nic.fr. 1 14400 3600 604800 3600"))
        assert self.transport is not None
        self.transport.sendto(reply.to_wire(), addr)


async def _ask_through_loss(tries: int) -> tuple[Observation, Observation, QueryTally]:
    loop = asyncio.get_running_loop()
    transport, _server = await loop.create_datagram_endpoint(
        FirstTryLost, local_addr=("127.0.0.1", 0))
    try:
        port = transport.get_extra_info("sockname")[1]
        engine = QueryEngine(ProbeSettings(port=port, udp_timeout=0.3, udp_tries=tries))
        tally = QueryTally()
        current_tally.set(tally)
        core = await engine.ask("ns1.nic.fr.", "127.0.0.1", "fr.", "SOA", Transport.UDP)
        further = await ask_further(engine, "ns1.nic.fr.", "127.0.0.1", "fr.", labels.SOA_DO)
        return core, further, tally
    finally:
        transport.close()


def test_further_queries_get_the_same_udp_retries_as_soa():
    core, further, tally = asyncio.run(_ask_through_loss(tries=2))
    assert core.reply is not None and further.reply is not None  # both recovered on try 2
    assert tally.udp_loss("127.0.0.1") == 0.5  # 2 of 4 tries lost
    # One try only: both lost alike, and the further test is unmeasured, not a finding.
    core, further, tally = asyncio.run(_ask_through_loss(tries=1))
    assert core.failure is further.failure is FailureKind.TIMEOUT
    assert tally.udp_loss("127.0.0.1") == 1.0
    assert outcome("do", further) == "timeout"
