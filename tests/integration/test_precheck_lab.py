"""`ccmon precheck` against real NSD, Knot, Unbound and the fault server.

The lab world `precheck-world` holds one zone per broken requirement (lab/scenarios/
precheck-world.yaml); each proposal below is exactly what the zone serves, so each run
must fail with exactly its own check, address and reason, and its verdict line must say
why. The open resolver is an Unbound of this test that serves the zone authoritatively
(auth-zone) and also recurses for anyone: the misconfiguration IANA refuses.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import dns.dnssec
import dns.exception
import dns.flags
import dns.message
import dns.query
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from lab import Lab, load_scenario
from probes.engine import QueryEngine
from probes.model import FailureKind, Transport
from probes.precheck.probe import unconnected_source
from probes.settings import ProbeSettings

pytestmark = pytest.mark.integration

PORT = int(os.environ.get("CCMON_LAB_PORT", "15454"))
UNBOUND_ADDRESS = "127.54.22.1"  # ns3.nic.om., `dead` in the lab world: this test's Unbound
VERDICT = "would pass IANA's technical checks:"
RW = [(c, f"127.54.{10 if i <= 7 else 11}.{i}", f"fd00:{i}::53")
      for i, c in enumerate("abcdefghijklm", 1)]


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    with Lab(load_scenario("precheck-world"), port=PORT) as started:
        if started.mode != "real":
            pytest.skip(f"the lab runs without real NSD/Knot: {started.mode_reason}")
        yield started


def precheck(lab: Lab, zone: str, *args: str, json_doc: bool = True) -> tuple[int, object]:
    argv = [sys.executable, "-m", "monitor", "precheck", zone, *args,
            "--port", str(lab.port), "--root", lab.root_address,
            "--resolver", lab.resolver_address, "--allow-private",
            "--udp-timeout", "1", "--tcp-timeout", "2"] + (["--json"] if json_doc else [])
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode in (0, 1, 2), result.stderr
    return result.returncode, json.loads(result.stdout) if json_doc else result.stdout


def findings(doc: dict) -> list[tuple[str, str, str, str]]:
    """(check, reason, address, transport) of every finding of the one zone."""
    (zone,) = doc["zones"]
    return sorted((f["check"], f["reason"], f["address"], f["args"].get("transport", ""))
                  for f in zone["findings"])


def ns_args(*pairs: tuple[str, str]) -> list[str]:
    return [a for name, addresses in pairs for a in ("--ns", f"{name}={addresses}")]


def ksk_ds(lab: Lab, zone: str) -> str:
    return dns.dnssec.make_ds(f"{zone}.", lab.keys[zone].ksk_dnskey, "SHA256").to_text()


PA = ns_args(("ns1.nic.pa", "127.54.1.1"), ("ns2.nic.pa", "127.54.2.1"))


def test_a_proposal_meeting_every_requirement_passes(lab, tmp_path):
    ds = ksk_ds(lab, "pa")
    code, doc = precheck(lab, "pa", *PA, "--ds", ds)
    assert findings(doc) == []
    assert (code, doc["precheck"]["verdict"]) == (0, "yes")
    assert doc["precheck"]["current_ds"] == [ds]  # asked of the lab root
    assert doc["precheck"]["allow_private"] is True
    # the same proposal from a file, as people read it
    path = tmp_path / "pa.yaml"
    path.write_text(f"zone: pa\nns:\n  - ns1.nic.pa: [127.54.1.1]\n  - ns2.nic.pa=127.54.2.1\n"
                    f"ds: ['{ds}']\n")
    code, text = precheck(lab, "pa", "--file", str(path), json_doc=False)
    assert code == 0
    lines = str(text).splitlines()
    assert lines[0].startswith("CCMON OK - 1 zone(s)")
    assert lines[-1] == f"{VERDICT} yes (0 blocking)"
    assert lines[-2] == ("note: --allow-private accepted 2 private or loopback address(es) "
                         "(127.54.1.1, 127.54.2.1); IANA refuses them (PRE10)")


def test_a_lame_address_fails_pre03_there(lab):
    code, doc = precheck(lab, "ls", *ns_args(("ns1.nic.ls", "127.54.3.1"),
                                             ("ns2.nic.ls", "127.54.4.1"),
                                             ("ns3.nic.ls", "127.54.5.1")))
    assert findings(doc) == [("PRE03", "refused", "127.54.5.1", "tcp"),
                             ("PRE03", "refused", "127.54.5.1", "udp")]
    assert code == 2
    assert doc["precheck"]["verdict_line"] == (
        f"{VERDICT} no (2 blocking: PRE03 ns3.nic.ls. 127.54.5.1 over UDP answers REFUSED; "
        "PRE03 ns3.nic.ls. 127.54.5.1 over TCP answers REFUSED)")


def test_a_referral_over_512_octets_names_the_glue_that_overflows(lab):
    args = [a for c, v4, v6 in RW for a in ("--ns", f"{c}.dns-anycast.rw={v4},{v6}")]
    code, doc = precheck(lab, "rw", *args, "--no-ipv6")
    assert findings(doc) == [("PRE08", "referral-too-large", "fd00:1::53", "")]
    assert code == 2
    assert doc["precheck"]["referral_octets"]["minimal_glue"] == 535
    assert doc["precheck"]["verdict_line"] == (
        f"{VERDICT} no (1 blocking: PRE08 the referral with the NS set and minimal glue is "
        "535 octets (limit 512); it passes the limit at AAAA glue a.dns-anycast.rw. "
        "fd00:1::53)")
    # --no-ipv6: the IPv6 glue was judged (size, ranges, prefixes) but never queried
    (zone,) = doc["zones"]
    assert {s["address"] for s in zone["servers"]} == {v4 for _c, v4, _v6 in RW}
    assert len(doc["precheck"]["unmeasured"]) == 13


@pytest.fixture(scope="module")
def open_resolver(lab: Lab) -> Iterator[str]:
    """Unbound on ns3.nic.om.'s address: authoritative for om. and recursing for anyone."""
    if not shutil.which("unbound"):
        if os.environ.get("CI") == "true":
            pytest.fail("unbound is not installed")
        pytest.skip("unbound is not installed")
    assert lab.workdir is not None
    directory = lab.workdir / "open-resolver"
    directory.mkdir()
    (directory / "unbound.conf").write_text(_unbound_conf(directory, lab), encoding="utf-8")
    process = subprocess.Popen(["unbound", "-d", "-c", str(directory / "unbound.conf")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    try:
        _wait_authoritative(UNBOUND_ADDRESS, lab.port, "om.", process, deadline=10.0)
        yield UNBOUND_ADDRESS
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def _unbound_conf(directory: Path, lab: Lab) -> str:
    assert lab.workdir is not None
    zone_file = lab.workdir / "zones" / "om.zone"
    return "\n".join([
        "server:", f"  interface: {UNBOUND_ADDRESS}", f"  port: {lab.port}", "  do-ip6: no",
        "  do-daemonize: no", '  username: ""', '  chroot: ""', f'  directory: "{directory}"',
        f'  pidfile: "{directory}/unbound.pid"', f'  logfile: "{directory}/unbound.log"',
        "  use-syslog: no", '  module-config: "iterator"', "  do-not-query-localhost: no",
        "  access-control: 127.0.0.0/8 allow", "  outgoing-interface: 127.0.0.1",
        "  num-threads: 1", "  so-reuseport: no", '  auto-trust-anchor-file: ""',
        "remote-control:", "  control-enable: no",
        "stub-zone:", '  name: "."', f"  stub-addr: {lab.root_address}@{lab.port}",
        "auth-zone:", '  name: "om."', f'  zonefile: "{zone_file}"', "  for-downstream: yes",
        "  for-upstream: yes", "  fallback-enabled: no", ""])


def _wait_authoritative(address: str, port: int, zone: str, process: subprocess.Popen,
                        deadline: float) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        assert process.poll() is None, "unbound exited"
        try:
            reply = dns.query.udp(dns.message.make_query(zone, "SOA"), address, port=port,
                                  timeout=0.5)
            if reply.flags & dns.flags.AA:
                return
        except (TimeoutError, OSError, dns.exception.DNSException):
            time.sleep(0.1)
    raise AssertionError(f"{address} did not answer {zone} SOA authoritatively in {deadline}s")


def test_an_open_resolver_fails_pre09_there(lab, open_resolver):
    code, doc = precheck(lab, "om", *ns_args(("ns1.nic.om", "127.54.20.1"),
                                             ("ns2.nic.om", "127.54.21.1"),
                                             ("ns3.nic.om", open_resolver)))
    assert findings(doc) == [("PRE09", "open-resolver", open_resolver, "")]
    assert code == 2
    assert doc["precheck"]["verdict_line"] == (
        f"{VERDICT} no (1 blocking: PRE09 ns3.nic.om. {open_resolver} answers recursive "
        "queries for names outside the zone (open resolver))")


def test_glue_unlike_the_authoritative_a_fails_pre07(lab):
    code, doc = precheck(lab, "gl", *ns_args(("ns1.nic.gl", "127.54.30.1"),
                                             ("ns2.nic.gl", "127.54.31.1")))
    assert findings(doc) == [("PRE07", "glue-differs", "127.54.31.2", "")]
    assert code == 2
    assert doc["precheck"]["verdict_line"].startswith(
        f"{VERDICT} no (1 blocking: PRE07 ns2.nic.gl. 127.54.31.2 is in the zone only")


def test_a_ds_matching_no_dnskey_fails_pre12(lab):
    other = ed25519.Ed25519PrivateKey.generate()
    stranger = dns.dnssec.make_dnskey(other.public_key(), "ED25519", flags=257)
    ds = dns.dnssec.make_ds("pa.", stranger, "SHA256")
    code, doc = precheck(lab, "pa", *PA, "--ds", ds.to_text())
    assert findings(doc) == [("PRE12", "no-matching-dnskey", "", "")]
    assert code == 2
    current = dns.dnssec.key_id(lab.keys["pa"].ksk_dnskey)
    line = doc["precheck"]["verdict_line"]
    assert line.startswith(f"{VERDICT} no (1 blocking: PRE12 DS {ds.key_tag} (algorithm 15, "
                           "digest type 2) matches no DNSKEY the servers serve")
    assert f"replacing the parent's DS set ({current}) with it breaks the chain" in line


def test_one_slash_24_fails_pre11(lab):
    code, doc = precheck(lab, "sg", *ns_args(("ns1.nic.sg", "127.54.50.1"),
                                             ("ns2.nic.sg", "127.54.50.2")))
    assert findings(doc) == [("PRE11", "one-ipv4-prefix", "", "")]
    assert code == 2
    assert doc["precheck"]["verdict_line"] == (
        f"{VERDICT} no (1 blocking: PRE11 all 2 IPv4 addresses are in 127.54.50.0/24: one "
        "routing failure takes them all)")


# --- PRE04: a server that answers from another address ----------------------------------------

def test_a_reply_from_another_address_is_seen_only_by_the_unconnected_socket():
    """A responder that receives on .1 and answers from .2 (a multi-homed server that
    does not bind its service address): the transport's connected socket never sees the
    reply, the unconnected one names where it came from."""
    port = PORT + 1
    inbound = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    outbound = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    inbound.bind(("127.54.60.1", port))
    outbound.bind(("127.54.60.2", port))
    inbound.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        for _ in range(200):  # bounded: 200 x 0.2 s at most
            if stop.is_set():
                return
            try:
                data, peer = inbound.recvfrom(4096)
            except TimeoutError:
                continue
            query = dns.message.from_wire(data)
            answer = dns.message.make_response(query)
            answer.flags |= dns.flags.AA
            outbound.sendto(answer.to_wire(), peer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        seen = asyncio.run(unconnected_source("127.54.60.1", port, "xx.", 2.0))
        assert (seen.source, seen.port) == ("127.54.60.2", port)

        async def connected() -> FailureKind | None:
            engine = QueryEngine(ProbeSettings(port=port, udp_timeout=0.5, udp_tries=1))
            return (await engine.ask("ns.xx.", "127.54.60.1", "xx.", "SOA",
                                     Transport.UDP)).failure

        assert asyncio.run(connected()) is FailureKind.TIMEOUT
    finally:
        stop.set()
        thread.join(timeout=5)
        inbound.close()
        outbound.close()


# --- DELEG06: the live delegation against the registry's pinned truth ------------------------

def check_with_expect(lab: Lab, tmp_path: Path, expect: str, *zones: str) -> dict:
    config = tmp_path / "config.yaml"
    config.write_text(
        f"zones: [{', '.join(zones)}]\nparent: [{lab.root_address}]\n"
        f"resolver: [{lab.resolver_address}]\nresolver_port: {lab.port}\nport: {lab.port}\n"
        f"probe: {{udp_timeout: 1s, tcp_timeout: 2s}}\nexpect:\n{expect}", encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "monitor", "check", "--config", str(config),
                             "--json"], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode in (0, 1, 2), result.stderr
    return {z["zone"]: sorted((f["severity"], f["reason"], f["address"]) for f in z["findings"]
                              if f["check"] == "DELEG06")
            for z in json.loads(result.stdout)["zones"]}


def test_the_live_delegation_against_pinned_ns_and_ds(lab, tmp_path):
    ds = ksk_ds(lab, "pa")
    found = check_with_expect(
        lab, tmp_path,
        f"  pa:\n    ns: [ns1.nic.pa=127.54.1.1, ns2.nic.pa=127.54.2.1]\n    ds: ['{ds}']\n"
        "  ls:\n    ns: [ns1.nic.ls, ns2.nic.ls, ns4.nic.ls]\n", "pa", "ls")
    assert found == {"pa": [], "ls": [("ERROR", "ns-differs", "")]}


def test_a_ds_at_the_parent_that_nobody_pinned_is_an_error_in_one_sweep(lab, tmp_path):
    other = ed25519.Ed25519PrivateKey.generate()
    pinned = dns.dnssec.make_ds(
        "pa.", dns.dnssec.make_dnskey(other.public_key(), "ED25519", flags=257), "SHA256")
    found = check_with_expect(lab, tmp_path, f"  pa:\n    ds: ['{pinned.to_text()}']\n", "pa")
    # the live DS (the lab's KSK) is not pinned; the pinned one is not at the parent
    assert found == {"pa": [("ERROR", "unexpected-ds", ""), ("WARNING", "missing-ds", "")]}
