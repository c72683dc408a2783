"""Starting and stopping leaves nothing behind: no process, no bound socket, also after an
exception, SIGTERM or SIGKILL of the process that started the lab; bad scenarios start
nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from lab import Lab, LabError, ScenarioError, load_scenario, parse_scenario
from tests.lab.conftest import require_real

PORT = 5354  # not 53: other labs on a shared machine must not disturb the socket count
REPO = Path(__file__).resolve().parents[2]


def lab_pids(marker: str) -> list[int]:
    """Live (non-zombie) processes whose command line mentions `marker`."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker in cmdline and state != "Z":
            pids.append(int(entry.name))
    return pids


def bound_sockets(port: int) -> list[str]:
    """UDP sockets and listening TCP sockets on 127.53.0.0/16 at `port`."""
    found = []
    for table in ("udp", "tcp"):
        for line in Path(f"/proc/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            ip_hex, port_hex = fields[1].split(":")
            ip = ".".join(str(int(ip_hex[i:i + 2], 16)) for i in (6, 4, 2, 0))
            listening = table == "udp" or fields[3] == "0A"
            if int(port_hex, 16) == port and ip.startswith("127.53.") and listening:
                found.append(f"{table} {ip}:{port}")
    return found


def wait_gone(marker: str, port: int, timeout: float = 5.0) -> tuple[list[int], list[str]]:
    deadline = time.monotonic() + timeout
    while True:
        left = lab_pids(marker), bound_sockets(port)
        if not any(left) or time.monotonic() > deadline:
            return left
        time.sleep(0.05)


def test_start_stop_twenty_times_leaves_nothing(tmp_path):
    require_real()
    scenario = load_scenario("demo")
    seen_pids: set[int] = set()
    t0 = time.monotonic()
    for _ in range(20):
        with Lab(scenario, mode="real", port=PORT, workdir=tmp_path) as lab:
            assert lab.started_in < 5.0
            seen_pids |= {p["pid"] for p in lab.processes}
            assert len(lab_pids(str(tmp_path))) >= len(lab.procs)
        assert lab_pids(str(tmp_path)) == []
        assert bound_sockets(PORT) == []
    assert time.monotonic() - t0 < 60
    assert all(not Path(f"/proc/{pid}").exists() or
               Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
               for pid in seen_pids)
    assert list(tmp_path.iterdir()) == []  # work directories removed


def test_exception_inside_with_stops_everything(tmp_path):
    require_real()
    with pytest.raises(RuntimeError), Lab("demo", mode="real", port=PORT, workdir=tmp_path):
        raise RuntimeError("test failed")
    assert wait_gone(str(tmp_path), PORT) == ([], [])


def test_python_mode_start_stop_leaves_nothing(tmp_path):
    with Lab("demo", mode="python", port=PORT, workdir=tmp_path) as lab:
        assert lab.mode == "python" and lab.port == PORT
        assert {i.software for infos in lab.zones.values() for i in infos} == {"fault", "dead"}
    assert wait_gone(str(tmp_path), PORT) == ([], [])


RUNNER = textwrap.dedent("""
    import sys, time
    from lab import Lab
    lab = Lab("demo", mode=sys.argv[1], port=int(sys.argv[2]), workdir=sys.argv[3]).start()
    print("up", flush=True)
    time.sleep(60)
""")


def _sigint_default() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL])
def test_interrupted_owner_leaves_nothing(tmp_path, sig):
    require_real()
    # The owner gets SIGINT's default disposition, as from a terminal. A test run started in
    # the background (CI, `make test &`) has SIGINT ignored, and a child inherits that: the
    # owner then rightly keeps ignoring it, which is how this test once timed out.
    proc = subprocess.Popen([sys.executable, "-c", RUNNER, "real", str(PORT), str(tmp_path)],
                            cwd=REPO, stdout=subprocess.PIPE, text=True,
                            preexec_fn=_sigint_default)
    try:
        assert proc.stdout.readline().strip() == "up"
        assert len(lab_pids(str(tmp_path))) >= 5
        proc.send_signal(sig)
        proc.wait(timeout=15)
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()
    # SIGKILL: the kernel kills the children (PR_SET_PDEATHSIG); else our own cleanup ran.
    assert wait_gone(str(tmp_path), PORT, timeout=10) == ([], [])


BAD = [
    ({"zone": "mx", "servers": [{"ns": "ns3.nic.mx.", "address": "127.53.10.3",
                                 "software": "fault", "fault": "refusd"}]},
     r"zones\[0\] \(mx\) servers\[0\] \(ns3.nic.mx.\): unknown fault 'refusd'"),
    ({"zone": "fr", "servers": [{"ns": "a.nic.fr.", "address": "192.0.2.1"}]},
     r"\(a.nic.fr.\): address 192.0.2.1 is not a loopback address"),
    ({"zone": "f_r", "servers": [{"ns": "a.nic.fr.", "address": "127.53.1.1"}]},
     r"zones\[0\]: invalid zone name 'f_r'"),
    ({"zone": "-fr", "servers": [{"ns": "a.nic.fr.", "address": "127.53.1.1"}]},
     r"invalid zone name '-fr'"),
    ({"zone": "fr", "servers": [{"ns": "a.nic.fr.", "address": "127.53.0.1"}]},
     r"zone fr server a.nic.fr. address 127.53.0.1: duplicate address, already used by the root"),
    ({"zone": "fr", "servers": [{"ns": "a.nic.fr.", "address": "127.53.1.1",
                                 "software": "fault", "fault": "delay",
                                 "params": {"ms": -5}}]},
     r"\(a.nic.fr.\): fault 'delay' parameter 'ms'=-5 is outside"),
]


@pytest.mark.parametrize("zone, message", BAD, ids=["fault", "loopback", "name", "hyphen",
                                                     "reserved", "param"])
def test_bad_scenarios_are_refused_naming_the_entry(tmp_path, zone, message):
    raw = {"name": "bad", "zones": [zone]}
    with pytest.raises(ScenarioError, match=message):
        Lab(parse_scenario(raw), port=PORT, workdir=tmp_path).start()
    assert list(tmp_path.iterdir()) == [] and lab_pids(str(tmp_path)) == []


def test_duplicate_address_between_zones_is_refused(tmp_path):
    raw = {"name": "bad", "zones": [
        {"zone": "fr", "servers": [{"ns": "ns1.nic.fr.", "address": "127.53.1.1"}]},
        {"zone": "nl", "servers": [{"ns": "ns1.dns.nl.", "address": "127.53.1.1"}]},
    ]}
    with pytest.raises(ScenarioError, match=r"zone nl server ns1.dns.nl. address 127.53.1.1: "
                                            r"duplicate address, already used by zone fr"):
        parse_scenario(raw)
    path = tmp_path / "bad.yaml"
    path.write_text("name: bad\nzones:\n  - zone: fr\n    servers:\n"
                    "      - {ns: ns1.nic.fr., address: 127.53.1.1}\n"
                    "      - {ns: ns2.nic.fr., address: 127.53.1.1}\n")
    with pytest.raises(ScenarioError, match="duplicate address"):
        load_scenario(path)


def test_more_bad_inputs():
    def zone(**server):
        return {"name": "bad", "zones": [{"zone": "fr", "servers": [
            {"ns": "ns1.nic.fr.", "address": "127.53.1.1", **server}]}]}

    for server, message in [
        ({"software": "bind9"}, "unknown software"),
        ({"software": "nsd", "fault": "refused"}, "needs software 'fault'"),
        ({"glue": False}, "no glue and no other lab zone"),
        ({"role": "boss"}, "unknown role"),
        ({"colour": "red"}, "unknown key"),
    ]:
        with pytest.raises(ScenarioError, match=message):
            parse_scenario(zone(**server))
    with pytest.raises(ScenarioError, match="duplicate zone"):
        parse_scenario({"zones": [zone()["zones"][0], zone()["zones"][0]]})
    with pytest.raises(ScenarioError, match="no scenario 'nope'"):
        load_scenario("nope")


def test_port_in_use_is_reported_and_nothing_is_left(tmp_path):
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.53.1.1", PORT))
        with pytest.raises(LabError, match=f"port {PORT} already in use on 127.53.1.1"):
            Lab("demo", mode="python", port=PORT, workdir=tmp_path).start()
    assert lab_pids(str(tmp_path)) == [] and list(tmp_path.iterdir()) == []


def test_scale_scenario_has_every_real_cctld():
    import json

    from lab.scale import data_path

    data = json.loads(data_path().read_text())
    sc = load_scenario("scale")
    cctlds = [z for z in sc.zones if not z.infra]
    assert len(cctlds) == len(data) == 309
    fr = next(d for d in data if d["tld"] == "fr")
    zone = sc.zone("fr")
    assert zone.ns_names == [ns["name"] for ns in fr["ns"]]
    assert len(zone.servers) == sum(len(ns["ipv4"]) + len(ns["ipv6"]) for ns in fr["ns"])
    assert all(s.address.startswith(("127.100.", "127.101.")) for s in zone.servers)
    assert {s.family for s in zone.servers} == {4, 6}
    # a name shared by many ccTLDs is one server (same addresses everywhere)
    shared = {s.address for z in cctlds for s in z.servers if s.ns == "a.lactld.org."}
    assert 0 < len(shared) <= 2


def test_cli_up_status_down(tmp_path):
    env = {**os.environ, "CCMON_LAB_STATE": str(tmp_path / "state.json")}
    up = subprocess.Popen([sys.executable, "-m", "lab", "up", "--mode", "python",
                           "--port", str(PORT)], cwd=REPO, env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 15
        while not (tmp_path / "state.json").exists():
            assert up.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
        status = subprocess.run([sys.executable, "-m", "lab", "status"], cwd=REPO, env=env,
                                capture_output=True, text=True, timeout=30)
        assert status.returncode == 0, status.stderr
        assert "ns1.nic.fr." in status.stdout and "serial 2026112701" in status.stdout
        down = subprocess.run([sys.executable, "-m", "lab", "down"], cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=30)
        assert down.returncode == 0, down.stderr
        assert up.wait(timeout=15) == 0
    finally:
        up.kill()
        up.wait()
    assert not (tmp_path / "state.json").exists()
    assert wait_gone("lab.faultserver", PORT, timeout=5)[1] == []
