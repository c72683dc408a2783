"""`Lab`: bring a scenario's DNS world up on loopback, change it while it runs, tear it down."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import dns.flags
import dns.message
import dns.query
import dns.rcode

from lab import procs as _procs
from lab.errors import LabError, PortInUse
from lab.faults import fault_params
from lab.scenario import Scenario, ServerSpec, ZoneSpec, load_scenario, normalise_zone
from lab.signing import ZoneKeys, signed_text
from lab.software import (
    BINARIES,
    Proc,
    XfrPlan,
    fault_conf,
    knot_conf,
    nsd_conf,
    unbound_conf,
)
from lab.zonefile import RootDelegation, address_records, root_text, zone_text

log = logging.getLogger("lab")

#: Each listening address costs two sockets; `ulimit -Hn` is 20,000 here.
MAX_ADDRESSES_PER_PROCESS = 9_000
UNPRIVILEGED_PORT = 5300
SERIAL_SETTLE = 0.25  # s a new serial must be served in a row before wait_serial says so


@dataclass(frozen=True)
class ServerInfo:
    """One (zone, name server, address) as the running lab serves it."""

    zone: str
    ns: str
    address: str
    software: str  # what serves it now: nsd | knot | fault | dead
    role: str  # primary | secondary
    fault: str
    params: Mapping[str, Any] = field(default_factory=dict)
    expect: Mapping[str, Any] = field(default_factory=dict)
    glue: bool = True
    family: int = 4
    declared_software: str = ""  # what the scenario asked for (differs in python mode)
    process: str | None = None
    axfr: str = "closed"  # "open": transfers the zone to anyone


def choose_mode(requested: str | None = None) -> tuple[str, str]:
    """("real" | "python", why). Under CI=true the real servers are required."""
    requested = requested or os.environ.get("CCMON_LAB_MODE") or "auto"
    if requested not in ("auto", "real", "python"):
        raise LabError(f"unknown lab mode {requested!r} (auto, real, python)")
    ci = os.environ.get("CI", "").lower() == "true"
    missing = [b for bins in BINARIES.values() for b in bins if shutil.which(b) is None]
    if requested == "python":
        return "python", "python mode requested"
    if requested == "real" or ci:
        if missing:
            why = "CI=true" if ci else "mode=real"
            raise LabError(f"{why} requires the real servers, but these are not installed: "
                           f"{', '.join(missing)} (Debian: apt-get install nsd knot unbound)")
        return "real", "real servers requested" if requested == "real" else "CI=true"
    if missing:
        return "python", f"not installed: {', '.join(missing)}"
    if os.geteuid() != 0:
        return "python", "not running as root"
    return "real", "root, and nsd, knot and unbound are installed"


def choose_port(port: int | None, mode: str) -> int:
    if port is None and os.environ.get("CCMON_LAB_PORT"):
        try:
            port = int(os.environ["CCMON_LAB_PORT"])
        except ValueError:
            value = os.environ["CCMON_LAB_PORT"]
            raise LabError(f"CCMON_LAB_PORT={value!r} is not a port") from None
    if port is None:
        port = 53 if (os.geteuid() == 0 and mode == "real") else UNPRIVILEGED_PORT
    if not 0 < port < 65536:
        raise LabError(f"invalid port {port}")
    return port


class Lab:
    """A running DNS world. Use as a context manager::

        with Lab(load_scenario("demo")) as lab:
            lab.root_address, lab.port, lab.zones["fr"], lab.serial("fr")
    """

    def __init__(self, scenario: Scenario | str | None = None, *, port: int | None = None,
                 mode: str | None = None, workdir: str | Path | None = None,
                 ready_timeout: float | None = None, keep_workdir: bool = False):
        if scenario is None or isinstance(scenario, str | Path):
            scenario = load_scenario(scenario or "demo")
        #: zone -> its keys, for zones the scenario wants signed (fresh for every lab)
        self.keys: dict[str, ZoneKeys] = {}
        #: zone -> (inception, expiration) of the signatures the lab's signer makes
        self.signature_times: dict[str, tuple[int, int]] = {}
        scenario = self._with_keys(scenario)
        self.scenario = scenario
        self.mode, self.mode_reason = choose_mode(mode)
        self.port = choose_port(port, self.mode)
        if self.mode == "python":
            log.warning("lab: python mode (%s): every server is ccmon's own fault server, "
                        "not NSD/Knot/Unbound; port %d", self.mode_reason, self.port)
        self.root_address = scenario.root.address
        self.resolver_address = scenario.resolver
        self.relay_address = scenario.relay if self.mode == "real" else None
        n_addr = len({s.address for s in scenario.servers()})
        self.ready_timeout = ready_timeout or (10.0 + 0.02 * n_addr)
        self._workdir_arg = Path(workdir) if workdir else None
        self.keep_workdir = keep_workdir
        self.workdir: Path | None = None
        self._serials = {z.name: scenario.serial for z in scenario.zones}
        self._serials["."] = scenario.serial
        self._faults = {s.address: (s.fault, dict(s.params)) for s in scenario.servers()
                        if s.software == "fault"}
        if self.mode == "python":
            for s in scenario.servers():
                if s.real:
                    self._faults[s.address] = ("none", {})
            self._faults[scenario.root.address] = ("none", {})
        self.procs: list[Proc] = []
        self._owner: dict[str, Proc] = {}  # address -> process serving it
        #: zone -> the delegation the root publishes instead of the scenario's (live changes)
        self._root_changes: dict[str, RootDelegation] = {}
        self.started_in: float | None = None
        self.started_at: float | None = None  # wall clock (time.time()) when start() began

    def _with_keys(self, sc: Scenario) -> Scenario:
        """Make keys for the signed zones; the scenario with their DNSKEY records (in the
        zone) and DS record (an apex DS: ``root_text`` puts it in the root)."""
        now = int(time.time())
        zones = []
        for z in sc.zones:
            if z.dnssec is None:
                zones.append(z)
                continue
            keys = ZoneKeys.generate(z.name, z.dnssec["algorithm"])
            self.keys[z.name] = keys
            inception = now - z.dnssec["inception_offset"]
            self.signature_times[z.name] = (inception, inception + z.dnssec["validity"])
            ds = keys.ds_record(z.dnssec["ds"])
            extra = [*keys.dnskey_records(), *([ds] if ds else [])]
            zones.append(replace(z, records=(*z.records, *extra)))
        return replace(sc, zones=tuple(zones)) if self.keys else sc

    def _zone_text(self, spec: ZoneSpec, serial: int) -> str:
        """The master file the lab writes for `spec` at `serial`, signed if it is signed."""
        text = zone_text(self.scenario, spec, serial, self._records)
        if spec.name in self.keys:
            inception, expiration = self.signature_times[spec.name]
            text = signed_text(text, spec.name, self.keys[spec.name], inception, expiration)
        return text

    # ------------------------------------------------------------------ public API

    @property
    def zones(self) -> dict[str, list[ServerInfo]]:
        """Zone -> its servers, as running now (faults reflect set_fault/clear_fault)."""
        out: dict[str, list[ServerInfo]] = {}
        for z in self.scenario.zones:
            out[z.name] = [self._info(s) for s in z.servers]
        return out

    def _info(self, s: ServerSpec) -> ServerInfo:
        software = s.software
        if self.mode == "python" and s.real:
            software = "fault"
        fault, params = self._faults.get(s.address, ("none", {}))
        owner = self._owner.get(s.address)
        return ServerInfo(zone=s.zone, ns=s.ns, address=s.address, software=software,
                          role=s.role, fault=fault, params=params, expect=s.expect,
                          glue=s.glue, family=s.family, declared_software=s.software,
                          process=owner.name if owner else None, axfr=s.axfr)

    def serial(self, zone: str) -> int:
        """The serial the zone's primary serves now (what the lab last gave it)."""
        return self._serials[normalise_zone(zone)]

    @property
    def processes(self) -> list[dict]:
        return [{"name": p.name, "software": p.software, "pid": p.popen.pid if p.popen else None,
                 "addresses": len(p.addresses), "zones": len(p.zones)} for p in self.procs]

    def set_fault(self, address: str, fault: str, **params: Any) -> None:
        """Change what a fault-server address does, live."""
        full = fault_params(fault, params, f"set_fault({address})")
        proc = self._fault_proc(address)
        _procs.control(proc.control_path, {"cmd": "set_fault", "address": address,
                                           "fault": fault, "params": full})
        self._faults[address] = (fault, full)

    def clear_fault(self, address: str) -> None:
        """Make a fault-server address a healthy authoritative server again (fault `none`)."""
        self.set_fault(address, "none")

    def bump_serial(self, zone: str, secondary_delay: float = 0.0, wait: float = 5.0) -> int:
        """Raise the zone's serial by one on its primary; secondaries follow.

        With a real primary the lab rewrites the zone file and reloads the primary
        (``nsd-control reload`` / ``knotc zone-reload``); the primary's NOTIFY goes to the
        lab's NOTIFY relay, which holds it `secondary_delay` seconds and then NOTIFYs every
        secondary, which queries the primary's SOA and transfers (IXFR, or AXFR where the
        primary offers only that); fault-server copies are refreshed by AXFR at the same
        moment. With a fault-server primary (or in python mode) the fault server switches
        the primary's copy at once and the others after `secondary_delay`. Copies under the
        ``stale-serial`` fault keep their pinned serial. Returns the new serial, once the
        primary serves it (bounded by `wait` seconds)."""
        key = normalise_zone(zone)
        spec = self.scenario.zone(key)
        self._require_started()
        new = (self._serials[key] + 1) % 2**32 or 1
        path = self._zone_path(key)
        path.write_text(self._zone_text(spec, new), encoding="utf-8")
        primary = spec.primary
        if self.mode == "real" and primary is not None and primary.real:
            _procs.control(self.procs_by_software("fault")[0].control_path,
                           {"cmd": "relay_delay", "zone": key, "seconds": secondary_delay})
            self._run(self._owner[primary.address].reload_argv(key))
        else:
            for p in self.procs_by_software("fault"):
                _procs.control(p.control_path, {"cmd": "load_zone", "zone": key,
                                                "file": str(path), "delay": secondary_delay})
        self._serials[key] = new
        if primary is not None and primary.software != "dead" and \
                self._faults.get(primary.address, ("none",))[0] == "none":
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                got = _procs.soa_probe([(primary.address, key)], self.port, wait=0.3)
                if got.get((primary.address, key), (0, False, None))[2] == new:
                    break
                time.sleep(0.05)
            else:
                raise LabError(f"{key}: primary {primary.address} does not serve serial {new} "
                               f"after {wait} s")
        return new

    def set_delegation(self, zone: str, *, ns: list[str] | None = None,
                       ds: list[str] | None = None,
                       glue: Mapping[str, list[str]] | None = None,
                       wait: float = 5.0) -> int:
        """Change what the root publishes for `zone`, live: its NS set (`ns`, absolute or
        not) and/or its DS set (`ds`: "KEYTAG ALG TYPE DIGEST" texts; [] = no DS), with
        `glue` addresses for NS names new to the world. The child zone is untouched (as
        when a root-zone change goes wrong). The lab rewrites the root zone file with the
        next root serial and reloads the server holding the root (``nsd-control reload`` /
        ``knotc zone-reload``; the fault server in python mode). Returns the new root
        serial once the root serves it (bounded by `wait` seconds)."""
        key = normalise_zone(zone)
        self.scenario.zone(key)  # an unknown zone raises here, before anything changes
        old = self._root_changes.get(key, RootDelegation())
        self._root_changes[key] = RootDelegation(
            ns=tuple(n if n.endswith(".") else n + "." for n in ns) if ns is not None
            else old.ns,
            ds=tuple(ds) if ds is not None else old.ds,
            glue={**old.glue, **{n if n.endswith(".") else n + ".": tuple(a)
                                 for n, a in (glue or {}).items()}},
        )
        return self._reload_root(wait)

    def restore_delegation(self, zone: str | None = None, wait: float = 5.0) -> int:
        """Publish the scenario's delegation for `zone` again (every zone when None)."""
        if zone is None:
            self._root_changes.clear()
        else:
            self._root_changes.pop(normalise_zone(zone), None)
        return self._reload_root(wait)

    def _reload_root(self, wait: float) -> int:
        """Write the root zone at the next serial, reload its server, wait until served."""
        self._require_started()
        new = (self._serials["."] + 1) % 2**32 or 1
        path = self._zone_path(".")
        path.write_text(root_text(self.scenario, new, self._root_changes), encoding="utf-8")
        if self.mode == "real":
            self._run(self._owner[self.root_address].reload_argv("."))
        else:
            for p in self.procs_by_software("fault"):
                _procs.control(p.control_path, {"cmd": "load_zone", "zone": ".",
                                                "file": str(path), "delay": 0.0})
        self._serials["."] = new
        if not self.wait_serial(".", new, timeout=wait, addresses=[self.root_address]):
            raise LabError(f"the root {self.root_address} does not serve serial {new} "
                           f"after {wait} s")
        return new

    def serials(self, zone: str, wait: float = 0.5) -> dict[str, int | None]:
        """Ask every server of `zone` for its SOA now: address -> serial (None: no answer)."""
        key = normalise_zone(zone)
        targets = [(s.address, key) for s in self.scenario.zone(key).servers]
        got = _procs.soa_probe(targets, self.port, wait=wait)
        return {a: got.get((a, key), (0, False, None))[2] for a, _ in targets}

    def wait_serial(self, zone: str, serial: int | None = None, timeout: float = 10.0,
                    addresses: list[str] | None = None) -> bool:
        """Wait (bounded) until every healthy server of `zone` (or `addresses`) serves
        `serial` (default: the primary's) for SERIAL_SETTLE in a row. True if they all did
        in time (at the deadline, serving it once is enough)."""
        key = normalise_zone(zone)
        serial = self._serials[key] if serial is None else serial
        if addresses is None:
            addresses = [i.address for i in self.zones[key]
                         if i.software != "dead" and i.fault == "none"]
        deadline = time.monotonic() + timeout
        served_since: float | None = None
        while True:
            got = _procs.soa_probe([(a, key) for a in addresses], self.port, wait=0.3)
            now = time.monotonic()
            if all(got.get((a, key), (0, False, None))[2] == serial for a in addresses):
                served_since = now if served_since is None else served_since
                # NSD's old server process keeps answering with the old zone for a moment
                # after a reload (a hog-run saw it right after the first new answer): done
                # once every address served the serial for SERIAL_SETTLE in a row.
                if now - served_since >= SERIAL_SETTLE or now >= deadline:
                    return True
            else:
                served_since = None
            if now >= deadline:
                return False
            time.sleep(0.05)

    def timings(self, address: str | None = None, clear: bool = False) -> list[dict]:
        """The fault server's per-query records: address, transport, qname, qtype, id,
        held_ns (receive to send, perf_counter_ns), kernel_held_ns (kernel receive timestamp
        to send), and over UDP kernel_sent_held_ns (kernel receive stamp to the kernel's send
        stamp of the reply; set once the stamp is read, so a record taken at once may lack
        it). Also appended as JSON lines to `timing_log` (without kernel_sent_held_ns)."""
        out: list[dict] = []
        for p in self.procs_by_software("fault"):
            cmd = {"cmd": "timings", "clear": clear}
            if address:
                cmd["address"] = address
            out += _procs.control(p.control_path, cmd)["records"]
        return out

    @property
    def timing_log(self) -> Path | None:
        return self.workdir / "timings.jsonl" if self.workdir else None

    def procs_by_software(self, software: str) -> list[Proc]:
        return [p for p in self.procs if p.software == software]

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> Lab:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> Lab:
        if self.procs:
            raise LabError("lab already started")
        t0 = time.monotonic()
        self.started_at = time.time()
        self._plan()
        busy = _procs.port_in_use(self._owner, self.port)
        if busy:
            self.procs, self._owner = [], {}
            raise PortInUse(f"port {self.port} already in use on {', '.join(busy[:5])}"
                           f"{' …' if len(busy) > 5 else ''} (another lab running? "
                           "`python -m lab down`)")
        self.workdir = Path(tempfile.mkdtemp(prefix="ccmon-lab-", dir=self._workdir_arg))
        _procs.register_cleanup(id(self), self.stop)
        try:
            self._write()
            self._spawn(1)
            self._wait_up([p for p in self.procs if p.wave == 1], t0 + self.ready_timeout)
            self._spawn(2)
            self._wait_ready(t0 + self.ready_timeout)
        except BaseException:
            self.stop()
            raise
        self.started_in = time.monotonic() - t0
        log.info("lab: %s world %r up in %.2f s on port %d (%d zones, %d processes)",
                 self.mode, self.scenario.name, self.started_in, self.port,
                 len(self.scenario.zones), len(self.procs))
        return self

    def stop(self) -> None:
        """Stop every process the lab started (SIGTERM, then SIGKILL), remove its files."""
        _procs.unregister_cleanup(id(self))
        popens = [p.popen for p in reversed(self.procs) if p.popen is not None]
        _procs.stop_all(popens)
        for p in self.procs:
            p.popen = None
        self.procs, self._owner = [], {}
        if self.workdir and not self.keep_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None

    # ------------------------------------------------------------------ planning

    def _plan(self) -> None:
        sc = self.scenario
        python = self.mode == "python"
        procs: list[Proc] = []

        def new(software: str, wave: int) -> Proc:
            n = sum(p.software == software and not p.name.endswith("-root") for p in procs) + 1
            proc = Proc(name=f"{software}-{n}", software=software, wave=wave)
            procs.append(proc)
            return proc

        if python and any(":" in s.address for s in sc.servers()):
            raise LabError("a server on ::1 needs real mode (NSD or Knot): the fault server "
                           "and python mode hold IPv4 loopback addresses only")
        fault_addresses: dict[str, dict] = {}
        if python:
            fault_addresses[sc.root.address] = {"fault": "none", "params": {}, "zones": ["."]}
        else:
            root = new(sc.root.software, 1)
            root.name = f"{sc.root.software}-root"
            root.addresses, root.zones, root.ns_names = [sc.root.address], {".": "primary"}, \
                [sc.root.ns]
        hosts: dict[tuple[str, str], dict] = {}
        for s in sc.servers():
            if s.software == "dead":
                continue
            if s.software == "fault" or python:
                fault, params = self._faults[s.address]
                entry = fault_addresses.setdefault(
                    s.address, {"fault": fault, "params": params, "zones": []})
                entry["zones"].append(s.zone)
                if s.axfr == "open":
                    entry.setdefault("axfr_open", []).append(s.zone)
                continue
            host = hosts.setdefault((s.software, s.ns),
                                    {"addresses": [], "zones": {}, "open": set()})
            if s.address not in host["addresses"]:
                host["addresses"].append(s.address)
            host["zones"][s.zone] = s.role
            if s.axfr == "open":
                host["open"].add(s.zone)
        for (software, ns), host in hosts.items():
            wave = 1 if "primary" in host["zones"].values() else 2
            target = next((p for p in procs if p.software == software and p.wave == wave
                           and p.zones.keys() != {"."}
                           and not (p.zones.keys() & host["zones"].keys())
                           and len(p.addresses) + len(host["addresses"])
                           <= MAX_ADDRESSES_PER_PROCESS), None) or new(software, wave)
            target.addresses += host["addresses"]
            target.zones.update(host["zones"])
            target.open_axfr |= host["open"]
            target.ns_names.append(ns)
        addrs = list(fault_addresses)
        chunks = [addrs[i:i + MAX_ADDRESSES_PER_PROCESS]
                  for i in range(0, len(addrs), MAX_ADDRESSES_PER_PROCESS)] or [[]]
        self._fault_specs: dict[str, dict[str, dict]] = {}
        for chunk in chunks:
            proc = new("fault", 1)
            proc.addresses = list(chunk)
            self._fault_specs[proc.name] = {a: fault_addresses[a] for a in chunk}
        first_fault = next(p for p in procs if p.software == "fault")
        if self.relay_address:
            first_fault.addresses.append(self.relay_address)
        if python:
            first_fault.addresses.append(self.resolver_address)
        else:
            resolver = new("unbound", 2)
            resolver.addresses = [self.resolver_address]
        self.procs = procs
        self._owner = {a: p for p in procs for a in p.addresses}

    def _zone_path(self, zone: str) -> Path:
        assert self.workdir is not None
        return self.workdir / "zones" / ("root.zone" if zone == "." else f"{zone}.zone")

    def _write(self) -> None:
        sc = self.scenario
        assert self.workdir is not None
        (self.workdir / "zones").mkdir()
        self._records = address_records(sc)
        zone_file = {".": self._zone_path(".")}
        zone_file["."].write_text(root_text(sc, self._serials["."], self._root_changes),
                                 encoding="utf-8")
        for z in sc.zones:
            zone_file[z.name] = self._zone_path(z.name)
            zone_file[z.name].write_text(self._zone_text(z, self._serials[z.name]),
                                         encoding="utf-8")
        key_files = {}
        for zone, keys in self.keys.items():
            key_files[zone] = self.workdir / "zones" / f"{zone}.keys.json"
            keys.write(key_files[zone])
        primary_of = {z.name: z.primary.address for z in sc.zones
                      if z.primary is not None and z.primary.real}
        secondary_sources: dict[str, list[str]] = {}
        relay_zones: dict[str, dict] = {}
        for p in self.procs:
            for zone, role in p.zones.items():
                if role == "secondary" and p.software in ("nsd", "knot"):
                    secondary_sources.setdefault(zone, []).append(p.source)
        for zone, primary in primary_of.items():
            relay_zones[zone] = {"primary": primary,
                                 "secondaries": secondary_sources.get(zone, [])}
        plan = XfrPlan(port=self.port, relay=self.relay_address or "", zone_file=zone_file,
                       primary_of=primary_of, secondary_sources=secondary_sources)
        fault_primaries = {z.name: [s.address for s in z.servers if s.ns == z.primary.ns]
                           for z in sc.zones if z.primary is not None}
        fault_primaries["."] = [sc.root.address]
        stubs = {z.name: [s.address for s in z.servers if s.software != "dead"]
                 for z in sc.zones}
        for p in self.procs:
            p.dir = self.workdir / p.name
            (p.dir / "secondary").mkdir(parents=True)
            if p.software == "nsd":
                text = nsd_conf(p, plan)
            elif p.software == "knot":
                (p.dir / "db").mkdir()
                (p.dir / "zones").mkdir()
                text = knot_conf(p, plan)
            elif p.software == "unbound":
                text = unbound_conf(p, sc.root.address, sc.root.ns, stubs, self.port)
            else:
                first = p is self.procs_by_software("fault")[0]
                text = fault_conf(
                    p, self.port, zone_file, self._fault_specs[p.name],
                    relay={"address": self.relay_address, "zones": relay_zones}
                    if first and self.relay_address else None,
                    resolver=self.resolver_address if first and self.mode == "python" else None,
                    primaries=fault_primaries, timing_log=self.timing_log, keys=key_files)
            p.conf.write_text(text, encoding="utf-8")

    # ------------------------------------------------------------------ starting

    def _spawn(self, wave: int) -> None:
        env_root = Path(__file__).resolve().parent.parent
        for p in self.procs:
            if p.wave == wave:
                p.popen = _procs.spawn(p.argv(), p.dir / "stdout.log",
                                       env_root if p.software == "fault" else p.dir)

    def _check_alive(self) -> None:
        for p in self.procs:
            if p.popen is not None and p.popen.poll() is not None:
                raise LabError(f"{p.name} ({' '.join(p.argv())}) exited with status "
                               f"{p.popen.returncode}:\n{self._tail(p)}")

    def _tail(self, p: Proc, lines: int = 15) -> str:
        out = []
        for name in ("stdout.log", "nsd.log", "knot.log", "unbound.log"):
            path = p.dir / name
            if path.exists():
                text = path.read_text(errors="replace").splitlines()[-lines:]
                out += [f"  {name}: {line}" for line in text]
        return "\n".join(out)

    def _wait_up(self, procs: list[Proc], deadline: float) -> None:
        pending = list(procs)
        while pending:
            self._check_alive()
            still = []
            dns_targets = {}
            for p in pending:
                if p.software == "fault":
                    try:
                        _procs.control(p.control_path, {"cmd": "ping"}, timeout=1.0)
                    except LabError:
                        still.append(p)
                else:
                    zone = next(iter(p.zones), ".")
                    dns_targets[(p.source, zone)] = p
            if dns_targets:
                got = _procs.soa_probe(dns_targets, self.port, wait=0.2)
                still += [p for key, p in dns_targets.items() if key not in got]
            pending = still
            if pending and time.monotonic() > deadline:
                raise LabError("not up in time: " + "; ".join(
                    f"{p.name}\n{self._tail(p)}" for p in pending))
            if pending:
                time.sleep(0.05)

    def _ready_targets(self) -> dict[tuple[str, str], str]:
        """(address, zone) -> zone for everything that must answer AA with the serial."""
        targets = {(self.root_address, "."): "."}
        for s in self.scenario.servers():
            if s.software == "dead":
                continue
            if s.real or self._faults.get(s.address, ("none",))[0] == "none":
                targets[(s.address, s.zone)] = s.zone
        return targets

    def _wait_ready(self, deadline: float) -> None:
        targets = self._ready_targets()
        pending = set(targets)
        last_nudge = time.monotonic()
        while True:
            self._check_alive()
            got = _procs.soa_probe(pending, self.port, wait=0.3)
            for key, (rcode, aa, serial) in got.items():
                if rcode == dns.rcode.NOERROR and aa and serial == self._serials[key[1]]:
                    pending.discard(key)
            if not pending:
                break
            now = time.monotonic()
            if now > deadline:
                sample = ", ".join(f"{z} @{a}" for a, z in sorted(pending)[:10])
                raise LabError(f"lab not ready after {self.ready_timeout:.0f} s: "
                               f"{len(pending)} servers do not serve their zone yet ({sample})")
            if self.relay_address and now - last_nudge > 1.0:
                # Secondaries that started before their primary answered: NOTIFY them again.
                relay = self.procs_by_software("fault")[0]
                for zone in sorted({z for _a, z in pending}):
                    with contextlib.suppress(LabError):
                        _procs.control(relay.control_path, {"cmd": "notify", "zone": zone})
                last_nudge = now
            time.sleep(0.05)
        self._wait_resolver(deadline)

    def _wait_resolver(self, deadline: float) -> None:
        zone = next((z.name for z in self.scenario.zones if not z.infra),
                    self.scenario.zones[0].name)
        query = dns.message.make_query(zone + ".", "SOA")
        while True:
            self._check_alive()
            with contextlib.suppress(Exception):
                r = dns.query.udp(query, self.resolver_address, port=self.port, timeout=0.5)
                if r.rcode() == dns.rcode.NOERROR and r.flags & dns.flags.RA:
                    return
            if time.monotonic() > deadline:
                raise LabError(f"resolver {self.resolver_address} does not resolve {zone}. "
                               "in time")
            time.sleep(0.05)

    # ------------------------------------------------------------------ helpers

    def _require_started(self) -> None:
        if not self.procs:
            raise LabError("the lab is not running")

    def _fault_proc(self, address: str) -> Proc:
        self._require_started()
        proc = self._owner.get(address)
        if proc is None or proc.software != "fault" or address in (self.relay_address,
                                                                    self.resolver_address):
            what = proc.software if proc else "nothing (dead or unknown address)"
            raise LabError(f"{address} is served by {what}, not by the fault server")
        return proc

    def _run(self, argv: list[str]) -> None:
        try:
            res = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise LabError(f"{' '.join(argv)}: {exc}") from exc
        if res.returncode != 0:
            raise LabError(f"{' '.join(argv)} failed: {res.stdout}{res.stderr}")
