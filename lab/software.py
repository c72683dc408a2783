"""Configuration of each server process the lab runs: NSD, Knot DNS, Unbound, fault server.

Every process gets its own directory with config, PID file, log and (for secondaries) the
zone data it transferred. Each runs in the foreground so the lab owns it and stops it by PID.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BINARIES = {"nsd": ("nsd", "nsd-control"), "knot": ("knotd", "knotc"), "unbound": ("unbound",)}


@dataclass
class Proc:
    """One server process of the lab and what it serves."""

    name: str
    software: str  # nsd | knot | unbound | fault
    wave: int  # 1 starts first (primaries, root, fault server); 2 after (secondaries, resolver)
    addresses: list[str] = field(default_factory=list)
    zones: dict[str, str] = field(default_factory=dict)  # zone -> primary | secondary
    ns_names: list[str] = field(default_factory=list)
    #: zones this process transfers to anyone (scenario ``axfr: open``)
    open_axfr: set[str] = field(default_factory=set)
    dir: Path = Path()
    popen: subprocess.Popen[Any] | None = None

    @property
    def source(self) -> str:
        """The address this process sends NOTIFY / transfer requests from."""
        return self.addresses[0]

    @property
    def conf(self) -> Path:
        return self.dir / {"nsd": "nsd.conf", "knot": "knot.conf", "unbound": "unbound.conf",
                           "fault": "faultserver.json"}[self.software]

    @property
    def control_path(self) -> Path:
        return self.dir / "control.sock"

    def argv(self) -> list[str]:
        if self.software == "nsd":
            return ["nsd", "-d", "-c", str(self.conf)]
        if self.software == "knot":
            return ["knotd", "-c", str(self.conf)]
        if self.software == "unbound":
            return ["unbound", "-d", "-c", str(self.conf)]
        return [sys.executable, "-m", "lab.faultserver", "--config", str(self.conf)]

    def reload_argv(self, zone: str) -> list[str]:
        if self.software == "nsd":
            return ["nsd-control", "-c", str(self.conf), "reload", zone]
        return ["knotc", "-c", str(self.conf), "zone-reload", zone]


@dataclass(frozen=True)
class XfrPlan:
    """Who transfers what from whom, for the config writers."""

    port: int
    relay: str
    zone_file: dict[str, Path]  # zone -> master file path (primaries load it)
    primary_of: dict[str, str]  # zone -> primary address
    secondary_sources: dict[str, list[str]]  # zone -> source addresses of its secondaries


def _q(zone: str) -> str:
    return '"."' if zone == "." else f'"{zone}"'


def nsd_conf(p: Proc, plan: XfrPlan) -> str:
    d = p.dir
    lines = [
        "server:",
        *[f"  ip-address: {a}" for a in p.addresses],
        f"  port: {plan.port}",
        '  username: ""',
        '  chroot: ""',
        f'  zonesdir: "{d}"',
        f'  pidfile: "{d}/nsd.pid"',
        f'  logfile: "{d}/nsd.log"',
        '  database: ""',
        f'  xfrdfile: "{d}/xfrd.state"',
        f'  xfrdir: "{d}"',
        f'  zonelistfile: "{d}/zone.list"',
        "  server-count: 1",
        "  tcp-count: 256",
        "  rrl-ratelimit: 0",
        f"  do-ip6: {'yes' if any(':' in a for a in p.addresses) else 'no'}",
        "  verbosity: 1",
        "  xfrd-reload-timeout: 0",
        f'  identity: "{p.name}"',
        f'  nsid: "ascii_{p.name}"',
        "remote-control:",
        "  control-enable: yes",
        f'  control-interface: "{p.control_path}"',
    ]
    for zone, role in p.zones.items():
        lines += ["zone:", f"  name: {_q(zone)}", f"  outgoing-interface: {p.source}"]
        if zone in p.open_axfr:
            lines.append("  provide-xfr: 0.0.0.0/0 NOKEY")  # anyone may transfer it
        if role == "primary":
            lines.append(f'  zonefile: "{plan.zone_file[zone]}"')
            if zone != ".":
                lines.append(f"  notify: {plan.relay}@{plan.port} NOKEY")
                for src in [*plan.secondary_sources.get(zone, []), plan.relay]:
                    lines.append(f"  provide-xfr: {src} NOKEY")
        else:
            lines += [
                f'  zonefile: "{d}/secondary/{zone}.zone"',
                f"  request-xfr: {plan.primary_of[zone]}@{plan.port} NOKEY",
                f"  allow-notify: {plan.relay} NOKEY",
            ]
    return "\n".join(lines) + "\n"


def _rid(addr: str) -> str:
    return "p-" + addr.replace(".", "-")


def knot_conf(p: Proc, plan: XfrPlan) -> str:
    d = p.dir
    listen = ", ".join(f"{a}@{plan.port}" for a in p.addresses)
    lines = [
        "server:",
        f'  rundir: "{d}"',
        f'  pidfile: "{d}/knot.pid"',
        f"  listen: [ {listen} ]",
        f'  identity: "{p.name}"',
        f'  nsid: "{p.name}"',
        "  udp-workers: 1",
        "  tcp-workers: 1",
        "  background-workers: 1",
        "log:",
        f'  - target: "{d}/knot.log"',
        "    any: info",
        "database:",
        f'  storage: "{d}/db"',
        "control:",
        f'  listen: "{p.control_path}"',
        "remote:",
        "  - id: relay",
        f"    address: {plan.relay}@{plan.port}",
        f"    via: {p.source}",
    ]
    primaries = sorted({plan.primary_of[z] for z, r in p.zones.items() if r == "secondary"})
    for addr in primaries:
        lines += [f"  - id: {_rid(addr)}", f"    address: {addr}@{plan.port}",
                  f"    via: {p.source}"]
    lines += ["acl:", "  - id: notify-from-relay", f"    address: {plan.relay}",
              "    action: notify"]
    if p.open_axfr:
        lines += ["  - id: xfr-anyone", "    address: 0.0.0.0/0", "    action: transfer"]
    for i, (zone, role) in enumerate(p.zones.items()):
        if role == "primary" and zone != ".":
            allowed = ", ".join([*plan.secondary_sources.get(zone, []), plan.relay])
            lines += [f"  - id: xfr-{i}", f"    address: [ {allowed} ]", "    action: transfer"]
    lines += [
        "template:",
        "  - id: default",
        f'    storage: "{d}/zones"',
        "    zonefile-sync: -1",
        "    zonefile-load: difference",
        "    journal-content: changes",
        "    semantic-checks: off",
        "zone:",
    ]
    for i, (zone, role) in enumerate(p.zones.items()):
        lines.append(f"  - domain: {_q(zone)}")
        if role == "primary":
            lines.append(f'    file: "{plan.zone_file[zone]}"')
            if zone != ".":
                acl = f"xfr-{i}, xfr-anyone" if zone in p.open_axfr else f"xfr-{i}"
                lines += ["    notify: relay", f"    acl: [ {acl} ]"]
        else:
            acl = "notify-from-relay, xfr-anyone" if zone in p.open_axfr else "notify-from-relay"
            lines += [f"    master: {_rid(plan.primary_of[zone])}", f"    acl: [ {acl} ]"]
    return "\n".join(lines) + "\n"


def unbound_conf(p: Proc, root_address: str, root_ns: str, stubs: dict[str, list[str]],
                 port: int) -> str:
    """Iterator-only Unbound. On port 53 it really iterates from root hints naming the lab
    root; on any other port (where it could not follow referrals, which always use port 53)
    it gets a stub for the root and for every lab zone, each with addr@port."""
    d = p.dir
    lines = [
        "server:",
        f"  interface: {p.addresses[0]}",
        f"  port: {port}",
        "  do-ip6: no",
        "  do-daemonize: no",
        '  username: ""',
        '  chroot: ""',
        f'  directory: "{d}"',
        f'  pidfile: "{d}/unbound.pid"',
        f'  logfile: "{d}/unbound.log"',
        "  use-syslog: no",
        "  verbosity: 1",
        '  module-config: "iterator"',
        "  do-not-query-localhost: no",
        "  access-control: 127.0.0.0/8 allow",
        "  outgoing-interface: 127.0.0.1",
        "  num-threads: 1",
        "  so-reuseport: no",
        "  outgoing-range: 256",
        "  cache-max-ttl: 60",
        "  cache-max-negative-ttl: 10",
        '  auto-trust-anchor-file: ""',
        "remote-control:",
        "  control-enable: no",
    ]
    if port == 53:
        hints = d / "root.hints"
        hints.write_text(f". 3600000 NS {root_ns}\n{root_ns} 3600000 A {root_address}\n")
        lines.insert(1, f'  root-hints: "{hints}"')
    else:
        stubs = {".": [root_address], **stubs}
        for zone, addrs in stubs.items():
            lines += ["stub-zone:", f"  name: {_q(zone)}",
                      *[f"  stub-addr: {a}@{port}" for a in addrs]]
    return "\n".join(lines) + "\n"


def fault_conf(p: Proc, port: int, zone_file: dict[str, Path], addresses: dict[str, dict],
               relay: dict | None, resolver: str | None, primaries: dict[str, list[str]],
               timing_log: Path | None, keys: dict[str, Path] | None = None) -> str:
    needed = {z for spec in addresses.values() for z in spec["zones"]}
    if resolver:
        needed = set(zone_file)
    config = {
        "port": port,
        "control": str(p.control_path),
        "timing_log": str(timing_log) if timing_log else None,
        "zone_files": {z: str(zone_file[z]) for z in sorted(needed)},
        "addresses": addresses,
        "relay": relay,
        "resolver": resolver,
        "primaries": primaries,
        # private keys of signed zones, for the signing faults (re-signed copies)
        "keys": {z: str(path) for z, path in (keys or {}).items() if z in needed},
    }
    return json.dumps(config, indent=1)
