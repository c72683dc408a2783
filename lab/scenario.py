"""Scenarios: a DNS world described as data (YAML), validated before anything starts.

A scenario names the root server, the resolver, and the zones the root delegates, each
with its name servers: name, loopback address, software (``nsd``, ``knot``, ``fault``
for our fault server, ``dead`` for an address where nothing listens), role, fault and
what a monitor is expected to find there. See ``lab/README.md`` for the format.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from lab.errors import ScenarioError
from lab.faults import EXPECTED, SIGNING_FAULTS, fault_params
from lab.signing import dnssec_spec

SCENARIO_DIR = Path(__file__).resolve().parent / "scenarios"
SOFTWARE = ("nsd", "knot", "fault", "dead")
REAL_SOFTWARE = ("nsd", "knot")
ROLES = ("primary", "secondary")
DEFAULT_SERIAL = 2026112701
DEAD_EXPECT = {"check": "REACH01", "reason": "unreachable", "failure": "unreachable"}

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_SERVER_KEYS = {"ns", "address", "addresses", "software", "role", "fault", "params", "glue",
                "expect", "family", "axfr"}
_ZONE_KEYS = {"zone", "servers", "records", "expect", "infra", "dnssec"}
AXFR_POLICIES = ("closed", "open")
OPEN_AXFR_EXPECT = {"check": "SEC01", "reason": "open"}
_TOP_KEYS = {"name", "description", "serial", "root", "resolver", "relay", "zones"}


@dataclass(frozen=True)
class ServerSpec:
    """One (zone, name server, address) of the world."""

    zone: str
    ns: str
    address: str
    software: str
    role: str = "secondary"
    fault: str = "none"
    params: Mapping[str, Any] = field(default_factory=dict)
    glue: bool = True
    expect: Mapping[str, Any] = field(default_factory=dict)
    #: 6 when the address stands for a real IPv6 address mapped onto IPv4 loopback.
    family: int = 4
    #: "open": this server grants AXFR of the zone to anyone (SEC01); "closed" (default):
    #: only to the zone's secondaries and the NOTIFY relay.
    axfr: str = "closed"

    @property
    def real(self) -> bool:
        return self.software in REAL_SOFTWARE


@dataclass(frozen=True)
class ZoneSpec:
    """A zone delegated from the lab root."""

    name: str
    servers: tuple[ServerSpec, ...]
    records: tuple[str, ...] = ()
    expect: tuple[Mapping[str, Any], ...] = ()
    #: infrastructure (e.g. ``net`` holding addresses of out-of-bailiwick NS names), not a ccTLD
    infra: bool = False
    #: signed by the lab (``lab/signing.py``): algorithm, ds (match | mismatch | none),
    #: validity, inception_offset; None: unsigned
    dnssec: Mapping[str, Any] | None = None

    @property
    def ns_names(self) -> list[str]:
        return list(dict.fromkeys(s.ns for s in self.servers))

    @property
    def primary(self) -> ServerSpec | None:
        return next((s for s in self.servers if s.role == "primary"), None)


@dataclass(frozen=True)
class Scenario:
    """A validated DNS world."""

    name: str
    zones: tuple[ZoneSpec, ...]
    serial: int = DEFAULT_SERIAL
    root: ServerSpec = field(
        default_factory=lambda: ServerSpec(".", "a.root-servers.net.", "127.53.0.1", "nsd",
                                           "primary")
    )
    resolver: str = "127.53.0.2"
    relay: str = "127.53.0.4"
    description: str = ""

    def zone(self, name: str) -> ZoneSpec:
        key = normalise_zone(name)
        for z in self.zones:
            if z.name == key:
                return z
        raise KeyError(name)

    def servers(self) -> Iterable[ServerSpec]:
        for z in self.zones:
            yield from z.servers

    def with_software(self, mapping: Mapping[str, str]) -> Scenario:
        """A copy where every server whose software is a key of `mapping` gets the value."""
        zones = tuple(
            replace(z, servers=tuple(
                replace(s, software=mapping.get(s.software, s.software)) for s in z.servers))
            for z in self.zones
        )
        root = replace(self.root, software=mapping.get(self.root.software, self.root.software))
        return replace(self, zones=zones, root=root)


def normalise_zone(name: str) -> str:
    """``"FR."`` -> ``"fr"``; the root stays ``"."``."""
    name = name.strip().lower()
    return "." if name in (".", "") else name.rstrip(".")


def check_zone_name(name: Any, where: str) -> str:
    if not isinstance(name, str) or not name.strip() or name.strip() == ".":
        raise ScenarioError(f"{where}: invalid zone name {name!r}")
    key = normalise_zone(name)
    labels = key.split(".")
    if len(key) > 253 or not all(_LABEL.match(label) for label in labels):
        raise ScenarioError(f"{where}: invalid zone name {name!r}")
    return key


def check_host_name(name: Any, where: str) -> str:
    if not isinstance(name, str):
        raise ScenarioError(f"{where}: invalid name server name {name!r}")
    key = name.strip().lower().rstrip(".")
    labels = key.split(".")
    if not key or len(key) > 253 or not all(_LABEL.match(label) for label in labels):
        raise ScenarioError(f"{where}: invalid name server name {name!r}")
    return key + "."


def check_address(value: Any, where: str, *, allow_ipv6: bool = False) -> str:
    try:
        addr = ipaddress.ip_address(str(value).strip())
    except ValueError:
        raise ScenarioError(f"{where}: invalid address {value!r}") from None
    if not addr.is_loopback:
        raise ScenarioError(f"{where}: address {addr} is not a loopback address; "
                            "the lab only ever uses 127.0.0.0/8 or ::1")
    if addr.version == 6 and not allow_ipv6:
        raise ScenarioError(f"{where}: address {addr}: lab servers use IPv4 loopback "
                            "addresses (map IPv6 onto 127.x.y.z); only an NSD or Knot name "
                            "server may also hold ::1")
    return str(addr)


def in_zone(name: str, zone: str) -> bool:
    """Whether absolute host `name` is at or below `zone` (``"fr"`` or ``"."``)."""
    if zone == ".":
        return True
    bare = name.rstrip(".")
    return bare == zone or bare.endswith("." + zone)


# --------------------------------------------------------------------------- parsing


def _fault_of(raw: Mapping[str, Any], where: str) -> tuple[str, dict]:
    fault = raw.get("fault", "none")
    params = raw.get("params") or {}
    if isinstance(fault, Mapping):
        params = {k: v for k, v in fault.items() if k != "name"}
        fault = fault.get("name")
    if not isinstance(fault, str):
        raise ScenarioError(f"{where}: fault must be a name or a mapping with 'name'")
    if not isinstance(params, Mapping):
        raise ScenarioError(f"{where}: params must be a mapping")
    return fault, fault_params(fault, params, where)


def _parse_server(raw: Any, zone: str, where: str) -> list[ServerSpec]:
    if not isinstance(raw, Mapping):
        raise ScenarioError(f"{where}: a server must be a mapping")
    unknown = set(raw) - _SERVER_KEYS
    if unknown:
        raise ScenarioError(f"{where}: unknown key(s) {sorted(unknown)}")
    ns = check_host_name(raw.get("ns"), where)
    where = f"{where} ({ns})"
    if "address" in raw and "addresses" in raw:
        raise ScenarioError(f"{where}: give either address or addresses")
    addresses = raw.get("addresses", [raw.get("address")])
    if not isinstance(addresses, list) or not addresses:
        raise ScenarioError(f"{where}: addresses must be a non-empty list")
    software = raw.get("software", "nsd")
    if software == "bind":
        raise ScenarioError(f"{where}: software 'bind' is not supported by this lab yet")
    if software not in SOFTWARE:
        raise ScenarioError(f"{where}: unknown software {software!r} (known: {SOFTWARE})")
    fault, params = _fault_of(raw, where)
    if software != "fault" and fault != "none":
        raise ScenarioError(f"{where}: fault {fault!r} needs software 'fault', not {software!r}")
    role = raw.get("role")
    if role is not None and role not in ROLES:
        raise ScenarioError(f"{where}: unknown role {role!r} (known: {ROLES})")
    if software == "dead" and role == "primary":
        raise ScenarioError(f"{where}: a dead server cannot be the primary")
    glue = raw.get("glue", True)
    if not isinstance(glue, bool):
        raise ScenarioError(f"{where}: glue must be true or false")
    axfr = raw.get("axfr", "closed")
    if axfr not in AXFR_POLICIES:
        raise ScenarioError(f"{where}: axfr must be one of {AXFR_POLICIES}")
    if software == "dead" and axfr == "open":
        raise ScenarioError(f"{where}: a dead server cannot grant AXFR")
    expect = raw.get("expect")
    if expect is None:
        expect = DEAD_EXPECT if software == "dead" else EXPECTED[fault]
        if axfr == "open" and fault == "none":
            expect = OPEN_AXFR_EXPECT
    if not isinstance(expect, Mapping):
        raise ScenarioError(f"{where}: expect must be a mapping")
    family = raw.get("family", 4)
    if family not in (4, 6):
        raise ScenarioError(f"{where}: family must be 4 or 6")
    return [
        ServerSpec(zone=zone, ns=ns, address=check_address(a, where, allow_ipv6=software
                                                           in REAL_SOFTWARE),
                   software=software,
                   role=role or "", fault=fault, params=params, glue=glue,
                   expect=dict(expect), family=family, axfr=axfr)
        for a in addresses
    ]


def _assign_roles(zone: str, servers: list[ServerSpec], where: str) -> list[ServerSpec]:
    primaries = [s for s in servers if s.role == "primary"]
    if len({s.ns for s in primaries}) > 1:
        names = ", ".join(s.ns for s in primaries)
        raise ScenarioError(f"{where}: more than one primary ({names})")
    if not primaries:
        first = next((s for s in servers if s.real), None) or next(
            (s for s in servers if s.software == "fault"), None)
        primary_ns = first.ns if first else None
    else:
        primary_ns = primaries[0].ns
    primary = next((s for s in servers if s.ns == primary_ns), None)
    out = []
    for s in servers:
        role = "primary" if s.ns == primary_ns else "secondary"
        if s.real and role == "secondary" and (primary is None or not primary.real):
            raise ScenarioError(f"{where}: {s.ns} is a {s.software} secondary but the zone has "
                                "no nsd/knot primary to transfer from")
        out.append(replace(s, role=role))
    return out


def _parse_zone(raw: Any, where: str) -> ZoneSpec:
    if not isinstance(raw, Mapping):
        raise ScenarioError(f"{where}: a zone must be a mapping")
    name = check_zone_name(raw.get("zone"), where)
    where = f"{where} ({name})"
    unknown = set(raw) - _ZONE_KEYS
    if unknown:
        raise ScenarioError(f"{where}: unknown key(s) {sorted(unknown)}")
    raw_servers = raw.get("servers")
    if not isinstance(raw_servers, list) or not raw_servers:
        raise ScenarioError(f"{where}: servers must be a non-empty list")
    servers: list[ServerSpec] = []
    for i, rs in enumerate(raw_servers):
        servers.extend(_parse_server(rs, name, f"{where} servers[{i}]"))
    servers = _assign_roles(name, servers, where)
    records = raw.get("records") or []
    if not isinstance(records, list) or not all(isinstance(r, str) for r in records):
        raise ScenarioError(f"{where}: records must be a list of strings")
    expect = raw.get("expect") or []
    if isinstance(expect, Mapping):
        expect = [expect]
    if not isinstance(expect, list) or not all(isinstance(e, Mapping) for e in expect):
        raise ScenarioError(f"{where}: expect must be a mapping or a list of mappings")
    dnssec = dnssec_spec(raw.get("dnssec"), where)
    for s in servers:
        if s.fault in SIGNING_FAULTS and dnssec is None:
            raise ScenarioError(f"{where}: {s.ns} {s.address}: fault {s.fault!r} needs a signed "
                                "zone (dnssec: true)")
    return ZoneSpec(name=name, servers=tuple(servers), records=tuple(records),
                    expect=tuple(dict(e) for e in expect), infra=bool(raw.get("infra", False)),
                    dnssec=dnssec)


def _check_addresses(sc: Scenario) -> None:
    """Refuse an address used twice, unless it is the same name server serving several zones."""
    reserved = {sc.root.address: "the root", sc.resolver: "the resolver",
                sc.relay: "the NOTIFY relay"}
    if len(reserved) != 3:
        raise ScenarioError(f"duplicate address among root {sc.root.address}, resolver "
                            f"{sc.resolver} and relay {sc.relay}")
    seen: dict[str, ServerSpec] = {}
    for s in sc.servers():
        where = f"zone {s.zone} server {s.ns} address {s.address}"
        if s.address in reserved:
            raise ScenarioError(f"{where}: duplicate address, already used by "
                                f"{reserved[s.address]}")
        other = seen.get(s.address)
        if other is None:
            seen[s.address] = s
            continue
        same_host = (other.ns, other.software, other.fault, dict(other.params)) == (
            s.ns, s.software, s.fault, dict(s.params))  # axfr may differ per zone
        if other.zone == s.zone or not same_host:
            raise ScenarioError(f"{where}: duplicate address, already used by zone "
                                f"{other.zone} server {other.ns}")


def _check_resolvable(sc: Scenario) -> None:
    """Every NS name needs glue in the root or an A record in a lab zone other than its own."""
    names = {z.name for z in sc.zones}
    for z in sc.zones:
        for s in z.servers:
            if s.glue:
                continue
            holder = enclosing_zone(s.ns, names)
            if holder is None or holder == z.name:
                raise ScenarioError(
                    f"zone {z.name} server {s.ns}: no glue and no other lab zone holds an "
                    "address for this name, so nothing could resolve it")


def enclosing_zone(name: str, zones: Iterable[str]) -> str | None:
    """The deepest of `zones` that contains host `name` (the root excluded), or None.

    Walks the name's own suffixes, so a set of zones costs one lookup per label (the
    whole-root world asks this for 5,914 names against 1,438 zones)."""
    known = zones if isinstance(zones, set | frozenset) else set(zones)
    bare = name.rstrip(".")
    while bare:
        if bare in known:
            return bare
        _, _, bare = bare.partition(".")
    return None


def parse_scenario(raw: Any, name: str = "scenario") -> Scenario:
    """Validate a scenario given as plain data (what YAML gives) and return it."""
    if not isinstance(raw, Mapping):
        raise ScenarioError(f"{name}: a scenario must be a mapping")
    unknown = set(raw) - _TOP_KEYS
    if unknown:
        raise ScenarioError(f"{name}: unknown key(s) {sorted(unknown)}")
    name = str(raw.get("name", name))
    serial = raw.get("serial", DEFAULT_SERIAL)
    if isinstance(serial, bool) or not isinstance(serial, int) or not 0 < serial < 2**32:
        raise ScenarioError(f"{name}: serial must be an integer in 1..4294967295")
    root_raw = dict(raw.get("root") or {})
    root_raw.setdefault("ns", "a.root-servers.net.")
    root_raw.setdefault("address", "127.53.0.1")
    root_raw.setdefault("software", "nsd")
    root_raw["role"] = "primary"
    if root_raw["software"] not in REAL_SOFTWARE:
        raise ScenarioError(f"{name}: root: software must be nsd or knot")
    root = _parse_server(root_raw, ".", f"{name}: root")[0]
    resolver = check_address((raw.get("resolver") or {}).get("address", "127.53.0.2"),
                             f"{name}: resolver")
    relay = check_address(raw.get("relay", "127.53.0.4"), f"{name}: relay")
    raw_zones = raw.get("zones")
    if not isinstance(raw_zones, list) or not raw_zones:
        raise ScenarioError(f"{name}: zones must be a non-empty list")
    zones = [_parse_zone(rz, f"{name}: zones[{i}]") for i, rz in enumerate(raw_zones)]
    seen: set[str] = set()
    for i, z in enumerate(zones):
        if z.name in seen:
            raise ScenarioError(f"{name}: zones[{i}] ({z.name}): duplicate zone")
        seen.add(z.name)
    sc = Scenario(name=name, zones=tuple(zones), serial=serial, root=root, resolver=resolver,
                  relay=relay, description=str(raw.get("description", "")))
    _check_addresses(sc)
    _check_resolvable(sc)
    return sc


def load_scenario(name: str | Path = "demo") -> Scenario:
    """Load a scenario: ``"demo"`` (``lab/scenarios/demo.yaml``), another file of
    ``lab/scenarios`` by name (``"extras"``, ``"hostile"``, ...), ``"scale"`` (every real
    ccTLD, generated from the shared root-zone data), ``"scale-root"`` (every TLD of the
    root zone) or a path to a YAML file."""
    if str(name) == "scale":
        from lab.scale import scale_scenario

        return scale_scenario()
    if str(name) == "scale-root":
        from lab.scale import world_scenario

        return world_scenario("root")
    path = Path(name)
    if not path.suffix:
        path = SCENARIO_DIR / f"{name}.yaml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in SCENARIO_DIR.glob("*.yaml")))
        raise ScenarioError(f"no scenario {str(name)!r} (known: {known}, scale, or a path)")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{path}: not valid YAML: {exc}") from None
    return parse_scenario(raw, path.stem)
