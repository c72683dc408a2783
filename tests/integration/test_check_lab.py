"""`ccmon check` against the lab's demo world: every fault named exactly, healthy servers clean.

Real NSD and Knot serve the healthy zones; the lab's fault server plays one broken server
in each faulty zone. The verdict table below is the contract: for each fault, the one
finding a registry operator must get (check, reason) about that server and address.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace

import pytest

from lab import Lab, load_scenario
from probes.model import ZoneReport
from probes.settings import ProbeSettings
from probes.sweep import Prober
from tests.support import require_real, start_lab

UDP_TIMEOUT, UDP_TRIES, TCP_TIMEOUT = 1.0, 2, 2.0
# The checks whose findings about an address must be exactly the scenario's `expect:`.
CORE_CHECKS = {"LAME01", "REACH01", "SOA01", "SOA02", "RTT01", "RTT02", "TCP01"}


def run_check(lab: Lab, *zones: str, json_output: bool = True) -> subprocess.CompletedProcess:
    argv = [sys.executable, "-m", "monitor", "check", *zones, "--root", lab.root_address,
            "--resolver", lab.resolver_address, "--port", str(lab.port),
            "--udp-timeout", str(UDP_TIMEOUT), "--tcp-timeout", str(TCP_TIMEOUT)]
    if json_output:
        argv.append("--json")
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    require_real()
    running = start_lab("real", (None, 5321, 5322, 5323))
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def world(lab: Lab) -> dict:
    zones = [z for z in lab.zones if not lab.scenario.zone(z).infra]
    started = time.monotonic()
    result = run_check(lab, *zones)
    elapsed = time.monotonic() - started
    assert result.returncode == 2, result.stderr
    document = json.loads(result.stdout)
    return {"doc": document, "elapsed": elapsed,
            "zones": {z["zone"]: z for z in document["zones"]}}


def core_findings(zone_doc: dict, address: str) -> list[tuple[str, str]]:
    return [(f["check"], f["reason"]) for f in zone_doc["findings"]
            if f["address"] == address and f["check"] in CORE_CHECKS]


def faulty_servers() -> list[tuple[str, str, str, dict]]:
    """Every faulty server of a zone that also has healthy ones, with its `expect:`."""
    scenario = load_scenario("demo")
    return [(s.zone, s.address, s.fault, dict(s.expect)) for z in scenario.zones
            if any(o.fault == "none" and o.software != "dead" for o in z.servers)
            for s in z.servers if s.expect.get("reason")]


@pytest.mark.parametrize(("zone", "address", "fault", "expect"), faulty_servers())
def test_each_fault_gets_exactly_its_finding(world, zone, address, fault, expect):
    """The scenario's expect: is the contract: that finding, and no other core finding."""
    zone_doc = world["zones"][zone]
    found = core_findings(zone_doc, address)
    wanted = (expect["check"], expect["reason"])
    if expect.get("sometimes"):  # lost queries: retries may hide them, but never "lame"
        assert not [c for c, _ in found if c == "LAME01"], found
        return
    named = [(f["check"], f["reason"]) for f in zone_doc["findings"] if f["address"] == address]
    assert wanted in named, zone_doc["findings"]
    assert found == ([wanted] if wanted[0] in CORE_CHECKS else []), zone_doc["findings"]
    if "failure" in expect:
        rows = [s for s in zone_doc["servers"] if s["address"] == address]
        assert expect["failure"] in {r["failure"] for r in rows}, rows
    for finding in zone_doc["findings"]:
        if finding["address"] == address:  # every finding names the server too
            assert finding["nameserver"].startswith("ns3.nic."), finding


def test_healthy_servers_are_clean_and_serve_the_primary_serial(lab, world):
    checked = 0
    for zone, servers in lab.zones.items():
        if lab.scenario.zone(zone).infra:
            continue
        zone_doc = world["zones"][zone]
        for server in servers:
            if server.fault != "none" or server.software == "dead":
                continue
            assert core_findings(zone_doc, server.address) == [], (zone, server.address)
            rows = [s for s in zone_doc["servers"] if s["address"] == server.address]
            assert {r["transport"] for r in rows} == {"udp", "tcp"}
            for row in rows:
                assert row["authoritative"] and not row["lame_reason"], row
                if zone != "ke":  # the stale copy lowers nothing but its own serial
                    assert row["serial"] == lab.serial(zone), row
            checked += 1
    assert checked >= 40  # every healthy real server of the demo world was looked at


def test_real_software_served_the_healthy_zones(lab):
    for software in ("nsd", "knot"):
        procs = lab.procs_by_software(software)
        assert procs, f"no {software} process in the lab"
        for proc in procs:
            comm = open(f"/proc/{proc.popen.pid}/comm").read().strip()  # noqa: SIM115
            assert comm.startswith(software[:4]), comm


def test_dead_address_is_unreachable_at_once(world):
    zone_doc = world["zones"]["py"]
    address = next(s["address"] for s in zone_doc["servers"] if s["nameserver"] == "ns3.nic.py.")
    assert core_findings(zone_doc, address) == [("REACH01", "unreachable")]
    rows = [s for s in zone_doc["servers"] if s["address"] == address]
    assert {r["failure"] for r in rows} == {"unreachable"}


def test_zone_with_every_server_silent_is_one_clear_finding(world):
    zone_doc = world["zones"]["ly"]
    avail = [f for f in zone_doc["findings"] if f["check"] == "AVAIL01"]
    assert [f["tag"] for f in avail] == ["ZONE_UNREACHABLE"]
    for server in zone_doc["servers"]:
        assert server["address"] in avail[0]["message"]
    assert not [f for f in zone_doc["findings"] if f["check"] in ("REACH01", "LAME01")]


def test_single_nameserver_zone(world):
    tags = {(f["check"], f["tag"]) for f in world["zones"]["tv"]["findings"]}
    assert ("DELEG01", "TOO_FEW_NS") in tags
    assert ("AVAIL01", "ZONE_DEGRADED") in tags


def test_slow_server_rtt_is_the_servers_own(lab, world):
    zone_doc = world["zones"]["ec"]
    slow = next(s for s in zone_doc["servers"] if s["nameserver"] == "ns3.nic.ec."
            and s["transport"] == "udp")
    # The server's hold from the kernel's receive stamp: time its datagram waited for the
    # server's own event loop counts, as it does in our RTT.
    held = [(t.get("kernel_held_ns") or t["held_ns"]) / 1e9 for t in lab.timings(slow["address"])
            if t["transport"] == "udp" and t["qtype"] == "SOA"]
    assert held, "the fault server recorded no hold time"
    # The server stamps its hold from the kernel's receive stamp to just before its send
    # call, and our RTT runs from just before our send call to our kernel's receive stamp:
    # so our RTT can never be below the hold of its own query (hence of the shortest hold;
    # 50 µs for the clock reads). Above, a busy machine may add milliseconds between the
    # server's stamp and its datagram leaving (bench/rtt_accuracy.py matches by query ID).
    assert min(held) - 0.000_05 <= slow["rtt"] <= max(held) + 0.020


def test_glue_less_name_server_is_found_through_the_resolver(world):
    de = world["zones"]["de"]
    assert "ns.lab-anycast.net." in {s["nameserver"] for s in de["servers"]}
    assert de["status"] == "OK" or not core_findings(de, "127.53.3.3")


def test_oversized_reply_is_recorded_as_such(world):
    assert world["zones"]["sv"]["query_failures"].get("oversized", 0) >= 1


def test_whole_world_finishes_within_the_timeout_policy(world):
    # parent + UDP tries + the TCP timeout, with room for a busy machine: no hang anywhere.
    bound = 2 * (UDP_TRIES * UDP_TIMEOUT + UDP_TRIES * UDP_TIMEOUT + TCP_TIMEOUT) + 10
    assert world["elapsed"] < bound


def test_text_report_names_server_and_address(lab):
    result = run_check(lab, "mx", json_output=False)
    assert result.returncode == 2
    assert result.stdout.startswith("CCMON CRITICAL")
    assert "LAME01   ns3.nic.mx. 127.53.10.3 is lame: answered REFUSED" in result.stdout


def test_idn_zone_shown_as_u_label(lab):
    result = run_check(lab, "中国", json_output=False)
    # OK or WARNING: loopback cannot give the network diversity DIV01 asks for.
    assert result.returncode in (0, 1), result.stdout
    assert "== 中国 (xn--fiqs8s): " in result.stdout
    assert "LAME01" not in result.stdout and "REACH01" not in result.stdout


def test_live_fault_flip_and_serial_bump(lab):
    healthy = subprocess_json(run_check(lab, "cr"))
    fault_address = next(s.address for s in lab.zones["cr"] if s.software == "fault")
    assert core_findings(healthy, fault_address) == []
    lab.set_fault(fault_address, "refused")
    try:
        broken = subprocess_json(run_check(lab, "cr"))
        assert core_findings(broken, fault_address) == [("LAME01", "refused")]
    finally:
        lab.set_fault(fault_address, "delay", ms=150)
    again = subprocess_json(run_check(lab, "cr"))
    assert core_findings(again, fault_address) == []


def test_serial_bump_shows_lag_then_consistency(lab):
    secondaries = [s.address for s in lab.zones["nl"] if s.role == "secondary"]
    new = lab.bump_serial("nl", secondary_delay=3.0)
    during = subprocess_json(run_check(lab, "nl"))
    lagging = {f["address"]: f["args"]["lag"] for f in during["findings"] if f["check"] == "SOA01"}
    assert lagging == dict.fromkeys(secondaries, 1)
    assert lab.wait_serial("nl", new, timeout=20)
    after = subprocess_json(run_check(lab, "nl"))
    assert not [f for f in after["findings"] if f["check"] == "SOA01"]
    assert {s["serial"] for s in after["servers"]} == {new}


def subprocess_json(result: subprocess.CompletedProcess) -> dict:
    assert result.returncode in (0, 1, 2), result.stderr
    return json.loads(result.stdout)["zones"][0]


def test_further_queries_are_sent_at_their_own_cadence(lab):
    """`ccmon run` asks the further checks' queries at most once per interval per zone and
    judges their last answers in between; the core queries go out every sweep."""
    base = ProbeSettings(parent_addresses=(lab.root_address,), resolver=(lab.resolver_address,),
                         resolver_port=lab.port, port=lab.port, udp_timeout=UDP_TIMEOUT,
                         tcp_timeout=TCP_TIMEOUT)

    async def two_sweeps(interval: float) -> tuple[ZoneReport, ZoneReport]:
        async with Prober(replace(base, further_checks_interval=interval)) as prober:
            return await prober.sweep("sv"), await prober.sweep("sv")

    first, second = asyncio.run(two_sweeps(3600))
    assert second.queries < first.queries
    for report in (first, second):  # the oversized-reply finding stays between the runs
        assert ("EDNS01", "127.53.25.3") in {(f.check, f.address) for f in report.findings} \
            or lab.port != 53
    every, again = asyncio.run(two_sweeps(0))
    assert again.queries == every.queries == first.queries


F_SETPIPE_SZ = 1031  # fcntl.h (Linux): set a pipe's capacity


@pytest.mark.parametrize("event_loop", ["uvloop", "asyncio"])
def test_json_reaches_a_slow_reader_whole(lab, event_loop):
    """A reader that is slower than ccmon (a loaded machine, a pager) still gets the whole
    document. Where stdout is unbuffered (PYTHONUNBUFFERED) a write() into the full pipe
    that returned short (seen under uvloop: 4,096 of 65,538 bytes) lost everything past the
    pipe's capacity about half the time, with exit status 2 and no error; ccmon now writes
    its output whole (monitor/output.py), on whatever loop it runs.

    The pipe is shrunk to one page and nothing is read until ccmon has either exited or is
    blocked writing into the full pipe (/proc/PID/wchan: [anon_]pipe_write): then the
    output must parse."""
    import fcntl
    import os

    zones = [z for z in lab.zones if not lab.scenario.zone(z).infra]
    read_end, write_end = os.pipe()
    fcntl.fcntl(write_end, F_SETPIPE_SZ, 4096)
    argv = [sys.executable, "-m", "monitor", "check", *zones, "--root", lab.root_address,
            "--resolver", lab.resolver_address, "--port", str(lab.port),
            "--udp-timeout", str(UDP_TIMEOUT), "--tcp-timeout", str(TCP_TIMEOUT), "--json"]
    env = dict(os.environ, CCMON_EVENT_LOOP=event_loop)  # uvloop: `make deps` installs it
    proc = subprocess.Popen(argv, stdout=write_end, stderr=subprocess.DEVNULL, env=env)
    os.close(write_end)
    deadline = time.monotonic() + 90  # bounded: a full check of the demo world takes ~10 s
    blocked = False
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            with open(f"/proc/{proc.pid}/wchan") as f:
                blocked = f.read().strip().endswith("pipe_write")  # or anon_pipe_write
        except OSError:
            pass
        if blocked:
            break
        time.sleep(0.1)
    with os.fdopen(read_end, "rb") as reader:
        out = reader.read()  # drains the pipe; a blocked ccmon goes on writing
    assert proc.wait(30) == 2
    document = json.loads(out)  # the whole document, not the first page
    assert sorted(z["zone"] for z in document["zones"]) == sorted(zones)
    assert len(out) > 4096  # the document did not fit the pipe: the reader was slow
