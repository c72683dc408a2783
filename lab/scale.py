"""The scale worlds: every ccTLD of the real root zone (``cctld``, 309 zones), or every TLD
of it (``root``, 1,438 zones), with the real NS names and the real number of addresses,
mapped onto IPv4 loopback, served by real NSD and Knot processes.

Generated at load time (``load_scenario("scale")`` / ``load_scenario("scale-root")``, or
:func:`world_scenario`) from ``cctld-delegations.json`` or ``root.zone``, which live in
``shared/data/`` beside the repository (``../shared/data`` from the repository root);
``CCMON_CCTLD_DATA`` and ``CCMON_ROOT_ZONE`` may name the files instead.

Mapping:
* each (NS name, real address) pair gets its own 127.x.y.z address: IPv4 addresses from
  127.100.0.1 upward, IPv6 addresses (``family: 6``) from 127.101.0.1 upward, so a name
  with one IPv4 and one IPv6 address listens on two loopback addresses;
* NS names serving several ccTLDs (``a.lactld.org.`` serves 17) are one server holding all
  of them, as in the real world;
* software alternates NSD / Knot by NS name; each ccTLD's first NS name is its primary and
  the others transfer from it (NOTIFY through the relay, then AXFR/IXFR);
* NS names under TLDs that are not in the world (``com``, ``net``, ``org``, … in the ccTLD
  world) get their address records in an infrastructure zone of that TLD, served on
  127.53.0.3; the root keeps glue for every name, as the real root does. The root world
  has every TLD, so every NS name lives in a zone of the world and none is needed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from lab.errors import ScenarioError
from lab.scenario import Scenario, enclosing_zone, parse_scenario

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_NAME = "cctld-delegations.json"
ROOT_ZONE_NAME = "root.zone"
WORLDS = ("cctld", "root")
INFRA_NS = "a.lab-gtld-servers.net."
INFRA_ADDRESS = "127.53.0.3"


def _shared_file(file_name: str, env_name: str) -> Path:
    env = os.environ.get(env_name)
    candidates = [Path(env)] if env else []
    candidates += [REPO_ROOT.parent / "shared" / "data" / file_name,
                   REPO_ROOT / "shared" / "data" / file_name]
    for path in candidates:
        if path.is_file():
            return path
    raise ScenarioError(
        f"the scale scenario needs {file_name}; looked at "
        + ", ".join(str(p) for p in candidates)
        + f" (the shared/ directory belongs beside the repository; or set {env_name})")


def data_path() -> Path:
    return _shared_file(DATA_NAME, "CCMON_CCTLD_DATA")


def root_zone_path() -> Path:
    return _shared_file(ROOT_ZONE_NAME, "CCMON_ROOT_ZONE")


def root_delegations(text: str) -> list[dict]:
    """Every TLD delegation of a root zone master file, in the shape of the ccTLD data:
    ``{"tld", "ns": [{"name", "ipv4", "ipv6"}]}``, NS names in the zone's order, addresses
    from the root's glue. Only the simple one-record-per-line form the root zone uses."""
    ns_of: dict[str, list[str]] = {}
    addresses: dict[str, dict[str, list[str]]] = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 5 or fields[0].startswith(";"):
            continue
        owner, rdtype, rdata = fields[0].lower(), fields[3].upper(), fields[4]
        if rdtype == "NS" and owner != ".":
            ns_of.setdefault(owner.rstrip("."), []).append(rdata.lower())
        elif rdtype in ("A", "AAAA"):
            key = "ipv4" if rdtype == "A" else "ipv6"
            addresses.setdefault(owner, {"ipv4": [], "ipv6": []})[key].append(rdata)
    out = []
    for tld, names in ns_of.items():
        servers = []
        for name in dict.fromkeys(names):
            found = addresses.get(name, {"ipv4": [], "ipv6": []})
            servers.append({"name": name, "ipv4": found["ipv4"], "ipv6": found["ipv6"]})
        out.append({"tld": tld, "ns": servers})
    return out


def world_delegations(world: str = "cctld") -> list[dict]:
    """The delegations of a scale world: ``cctld`` (309 ccTLDs) or ``root`` (every TLD)."""
    if world == "cctld":
        path = data_path()
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ScenarioError(f"{path}: cannot read the ccTLD data: {exc}") from None
    if world == "root":
        path = root_zone_path()
        try:
            return root_delegations(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ScenarioError(f"{path}: cannot read the root zone: {exc}") from None
    raise ScenarioError(f"no scale world {world!r} (known: {', '.join(WORLDS)})")


def world_raw(world: str = "cctld") -> dict:
    """A scale world as plain scenario data (extend its ``zones`` before parsing)."""
    raw = scale_raw(world_delegations(world))
    if world == "root":
        raw["name"] = "scale-root"
        raw["description"] = "every TLD of the real root zone"
    return raw


def world_scenario(world: str = "cctld") -> Scenario:
    """A scale world, parsed: what ``Lab(world_scenario("root"))`` brings up."""
    return parse_scenario(world_raw(world), "scale" if world == "cctld" else f"scale-{world}")


def _loopback(base: int, index: int) -> str:
    if index >= 254 * 256:
        raise ScenarioError("scale: too many addresses for the 127.100/127.101 plan")
    return f"127.{base}.{index // 254}.{index % 254 + 1}"


def scale_raw(delegations: list[dict]) -> dict:
    """The scale scenario as plain data (what a YAML file would hold)."""
    ns_names = sorted({ns["name"] for d in delegations for ns in d["ns"]})
    software = {name: ("nsd", "knot")[i % 2] for i, name in enumerate(ns_names)}
    mapped: dict[tuple[str, str], tuple[str, int]] = {}
    counters = {4: 0, 6: 0}
    for d in delegations:
        for ns in d["ns"]:
            for family, key in ((4, "ipv4"), (6, "ipv6")):
                for real in ns[key]:
                    if (ns["name"], real) not in mapped:
                        mapped[(ns["name"], real)] = (
                            _loopback(100 if family == 4 else 101, counters[family]), family)
                        counters[family] += 1
    tlds = [d["tld"] for d in delegations]
    zones = []
    for d in delegations:
        servers = []
        for i, ns in enumerate(d["ns"]):
            for real in ns["ipv4"] + ns["ipv6"]:
                address, family = mapped[(ns["name"], real)]
                servers.append({"ns": ns["name"], "address": address,
                                "software": software[ns["name"]], "family": family,
                                "role": "primary" if i == 0 else "secondary"})
        zones.append({"zone": d["tld"], "servers": servers})
    known = set(tlds)
    outside = {name.rstrip(".").rsplit(".", 1)[-1] for name in ns_names
               if enclosing_zone(name, known) is None}
    if outside:
        outside.add("net")  # the infrastructure server's own name lives there
    for tld in sorted(outside):
        zones.append({"zone": tld, "infra": True, "servers": [
            {"ns": INFRA_NS, "address": INFRA_ADDRESS, "software": "nsd"}]})
    return {"name": "scale", "description": "every delegated ccTLD of the real root zone",
            "zones": zones}


def scale_scenario(path: Path | None = None) -> Scenario:
    if path is None:
        return world_scenario("cctld")
    try:
        delegations = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ScenarioError(f"{path}: cannot read the ccTLD data: {exc}") from None
    return parse_scenario(scale_raw(delegations), "scale")
