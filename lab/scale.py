"""The scale world: every ccTLD of the real root zone, with its real NS names and its real
number of addresses, mapped onto IPv4 loopback, served by real NSD and Knot processes.

Generated at load time (``load_scenario("scale")``) from ``cctld-delegations.json``, which
lives in ``shared/data/`` beside the repository (``../shared/data`` from the repository
root); ``CCMON_CCTLD_DATA`` may name the file instead.

Mapping:
* each (NS name, real address) pair gets its own 127.x.y.z address: IPv4 addresses from
  127.100.0.1 upward, IPv6 addresses (``family: 6``) from 127.101.0.1 upward, so a name
  with one IPv4 and one IPv6 address listens on two loopback addresses;
* NS names serving several ccTLDs (``a.lactld.org.`` serves 17) are one server holding all
  of them, as in the real world;
* software alternates NSD / Knot by NS name; each ccTLD's first NS name is its primary and
  the others transfer from it (NOTIFY through the relay, then AXFR/IXFR);
* NS names under TLDs that are not ccTLDs (``com``, ``net``, ``org``, …) get their address
  records in an infrastructure zone of that TLD, served on 127.53.0.3; the root keeps glue
  for every name, as the real root does.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from lab.errors import ScenarioError
from lab.scenario import Scenario, enclosing_zone, parse_scenario

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_NAME = "cctld-delegations.json"
INFRA_NS = "a.lab-gtld-servers.net."
INFRA_ADDRESS = "127.53.0.3"


def data_path() -> Path:
    env = os.environ.get("CCMON_CCTLD_DATA")
    candidates = [Path(env)] if env else []
    candidates += [REPO_ROOT.parent / "shared" / "data" / DATA_NAME,
                   REPO_ROOT / "shared" / "data" / DATA_NAME]
    for path in candidates:
        if path.is_file():
            return path
    raise ScenarioError(
        f"the scale scenario needs {DATA_NAME}; looked at "
        + ", ".join(str(p) for p in candidates)
        + " (the shared/ directory belongs beside the repository; or set CCMON_CCTLD_DATA)")


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
    outside = sorted({name.rstrip(".").rsplit(".", 1)[-1] for name in ns_names
                      if enclosing_zone(name, tlds) is None} | {"net"})
    for tld in outside:
        zones.append({"zone": tld, "infra": True, "servers": [
            {"ns": INFRA_NS, "address": INFRA_ADDRESS, "software": "nsd"}]})
    return {"name": "scale", "description": "every delegated ccTLD of the real root zone",
            "zones": zones}


def scale_scenario(path: Path | None = None) -> Scenario:
    path = path or data_path()
    try:
        delegations = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ScenarioError(f"{path}: cannot read the ccTLD data: {exc}") from None
    return parse_scenario(scale_raw(delegations), "scale")
