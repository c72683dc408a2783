"""Real servers really serve; serials propagate by NOTIFY + IXFR/AXFR; faults flip live."""

from __future__ import annotations

import time
from pathlib import Path

import dns.rcode
import pytest

from lab import LabError
from tests.lab.helpers import is_aa, soa_serial, udp


def _comm(pid: int) -> str:
    return Path(f"/proc/{pid}/comm").read_text().strip()


def test_real_nsd_knot_unbound_processes_serve(demo_lab):
    assert demo_lab.mode == "real"
    kinds = {}
    for proc in demo_lab.procs:
        kinds.setdefault(proc.software, []).append(proc)
        comm = _comm(proc.popen.pid)
        expected = {"nsd": "nsd", "knot": "knotd", "unbound": "unbound", "fault": "python"}
        assert comm.startswith(expected[proc.software]), (proc.name, comm)
        if proc.software in ("nsd", "knot"):
            zone = next(iter(proc.zones))
            r = udp(zone, proc.source, demo_lab.port)
            assert is_aa(r) and r.rcode() == dns.rcode.NOERROR, proc.name
    assert {"nsd", "knot", "unbound", "fault"} <= set(kinds)
    by_address = {info.address: info for infos in demo_lab.zones.values() for info in infos}
    assert by_address["127.53.1.1"].software == "nsd"
    assert by_address["127.53.1.2"].software == "knot"
    assert by_address["127.53.1.2"].role == "secondary"


@pytest.mark.parametrize("zone, secondary, software", [
    ("fr", "127.53.1.2", "knot"),  # NSD primary -> Knot secondary
    ("nl", "127.53.2.2", "nsd"),  # Knot primary -> NSD secondary (IXFR)
])
def test_bump_serial_propagates_by_notify_and_transfer(demo_lab, zone, secondary, software):
    old = demo_lab.serial(zone)
    new = demo_lab.bump_serial(zone)
    assert new == old + 1 == demo_lab.serial(zone)
    assert demo_lab.wait_serial(zone, new, timeout=5, addresses=[secondary])
    assert soa_serial(udp(zone, secondary, demo_lab.port)) == new


def test_knot_primary_serves_ixfr(demo_lab):
    knot = next(p for p in demo_lab.procs if p.zones.get("nl") == "primary")
    demo_lab.bump_serial("nl")
    assert demo_lab.wait_serial("nl", timeout=5)
    deadline = time.monotonic() + 3
    while "[nl.] IXFR, outgoing" not in (knot.dir / "knot.log").read_text():
        assert time.monotonic() < deadline, "no IXFR in the Knot primary's log"
        time.sleep(0.05)


def test_secondary_delay_holds_the_notify(demo_lab):
    zone, secondary = "de", "127.53.3.2"
    old = demo_lab.serial(zone)
    t0 = time.monotonic()
    new = demo_lab.bump_serial(zone, secondary_delay=1.5)
    serials = demo_lab.serials(zone)
    assert serials["127.53.3.1"] == new
    if time.monotonic() - t0 < 1.2:
        assert serials[secondary] == old
    assert demo_lab.wait_serial(zone, new, timeout=5)
    assert time.monotonic() - t0 >= 1.5


def test_fault_copies_follow_except_stale(demo_lab):
    new = demo_lab.bump_serial("ke")
    assert demo_lab.wait_serial("ke", new, timeout=5)
    assert demo_lab.serials("ke")["127.53.16.3"] == demo_lab.scenario.serial - 5
    new = demo_lab.bump_serial("ar")  # ns3.nic.ar is noaa: a copy that follows by AXFR
    deadline = time.monotonic() + 5
    while soa_serial(udp("ar", "127.53.12.3", demo_lab.port)) != new:
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_set_fault_and_clear_fault_flip_live(demo_lab):
    address = "127.53.10.3"  # ns3.nic.mx, refused in the scenario
    assert udp("mx", address, demo_lab.port).rcode() == dns.rcode.REFUSED
    demo_lab.clear_fault(address)
    r = udp("mx", address, demo_lab.port)
    assert is_aa(r) and soa_serial(r) == demo_lab.serial("mx")
    demo_lab.set_fault(address, "servfail")
    assert udp("mx", address, demo_lab.port).rcode() == dns.rcode.SERVFAIL
    assert demo_lab.zones["mx"][2].fault == "servfail"
    demo_lab.set_fault(address, "delay", ms=300)
    t0 = time.perf_counter()
    assert is_aa(udp("mx", address, demo_lab.port))
    assert 0.3 <= time.perf_counter() - t0 < 0.6
    demo_lab.set_fault(address, "refused")
    assert udp("mx", address, demo_lab.port).rcode() == dns.rcode.REFUSED


def test_set_fault_refuses_real_servers_and_bad_faults(demo_lab):
    with pytest.raises(LabError, match="served by nsd"):
        demo_lab.set_fault("127.53.1.1", "refused")
    with pytest.raises(LabError, match="unknown fault"):
        demo_lab.set_fault("127.53.10.3", "sometimes")


def test_timings_give_the_time_each_query_was_held(demo_lab):
    address = "127.53.29.3"  # ns3.nic.cr: delay 150 ms
    demo_lab.timings(address, clear=True)
    for _ in range(3):
        udp("cr", address, demo_lab.port)
    records = [r for r in demo_lab.timings(address) if r["address"] == address]
    assert len(records) == 3
    for rec in records:
        assert rec["qname"] == "cr." and rec["qtype"] == "SOA" and rec["transport"] == "udp"
        assert 150e6 <= rec["held_ns"] < 200e6
        assert rec["kernel_held_ns"] >= rec["held_ns"]
    # The kernel's send stamp of each reply, read from the socket's error queue soon after:
    # after the server's own stamp before its send call, and by less than the 50 ms a
    # descheduled server could add on a busy machine.
    deadline = time.monotonic() + 5  # bounded
    while any("kernel_sent_held_ns" not in r for r in records) and time.monotonic() < deadline:
        time.sleep(0.05)
        records = [r for r in demo_lab.timings(address) if r["address"] == address]
    for rec in records:
        assert rec["kernel_held_ns"] <= rec["kernel_sent_held_ns"] < rec["kernel_held_ns"] + 50e6
    deadline = time.monotonic() + 2
    while address not in demo_lab.timing_log.read_text():
        assert time.monotonic() < deadline
        time.sleep(0.05)
