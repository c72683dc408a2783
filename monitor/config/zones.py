"""The `zones:` list of config.yaml and what hangs on a zone: names, per-zone overrides
(`zones:` entries given as mappings), recipients and the pinned delegation (`expect:`).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import replace
from importlib import resources
from typing import TYPE_CHECKING, Any

import yaml

from monitor.config.alerts import AlertsConfig, email_list
from monitor.config.reader import ConfigError, Section, duration_in, int_in
from probes.names import normalise_zone, readable_label

if TYPE_CHECKING:
    from probes.expectations import ZoneExpectation, ZoneOverride

ALL_CCTLDS = "all-cctlds"


def all_cctlds() -> tuple[str, ...]:
    """Every ccTLD delegated in the root zone (IANA root zone snapshot 2026082201)."""
    text = resources.files("monitor").joinpath("data/cctlds.txt").read_text(encoding="utf-8")
    return tuple(line.strip() for line in text.splitlines() if line.strip())


def zone_names(root: Section) -> tuple[str, ...]:
    """The zone names of `zones:`: each entry a name, or a mapping with `name:` (overrides)."""
    if "zones" not in root.items:
        raise ConfigError(f"{root.source}: zones: missing (a list of zones, or {ALL_CCTLDS})")
    value = root.raw("zones")
    if value == ALL_CCTLDS:
        return all_cctlds()
    node = root.items["zones"][1]
    if not isinstance(value, list) or not value:
        raise root.error(node, f"zones: give a list of zone names or {ALL_CCTLDS!r}")
    zones: list[str] = []
    for index, (element, element_node) in enumerate(root.items_with_nodes("zones")):
        if isinstance(element_node, yaml.MappingNode):
            zone = _zone_entry(root, index, element_node)[0]
        else:
            try:
                zone = parse_zone_name(element)
            except ValueError as exc:
                raise root.error(element_node, f"zones: {exc}") from None
        if zone in zones:
            raise root.error(element_node, f"zones: {zone} listed twice")
        zones.append(zone)
    return tuple(zones)


# --- per-zone overrides: `zones:` entries given as mappings --------------------

ZONE_KEYS = {"name", "serial_tolerance", "thresholds", "expect", "recipients"}
ZONE_THRESHOLD_KEYS = {"rtt_udp", "rtt_tcp", "propagation"}


def _zone_entry(root: Section, index: int, node: yaml.Node) -> tuple[str, Section]:
    """A `zones:` mapping entry: its zone name and the entry, unknown keys refused."""
    entry = Section(node, f"zones[{index}]", root.source)
    entry.reject_unknown(ZONE_KEYS)
    if "name" not in entry.items:
        raise entry.error(node, f"{entry.path}.name: missing (the zone, e.g. name: fr)")
    return entry.get("name", parse_zone_name, ""), entry


def _zone_entries(root: Section) -> list[tuple[str, Section]]:
    """The `zones:` entries given as mappings, with their zone names."""
    if root.raw("zones") == ALL_CCTLDS:
        return []
    return [_zone_entry(root, index, node)
            for index, (_value, node) in enumerate(root.items_with_nodes("zones"))
            if isinstance(node, yaml.MappingNode)]


def zone_overrides(root: Section) -> tuple[ZoneOverride, ...]:
    """Each mapping entry's own serial tolerance and thresholds (None: the global one)."""
    from probes.expectations import ZoneOverride

    found = []
    for zone, entry in _zone_entries(root):
        thresholds = entry.section("thresholds")
        if "serial_tolerance" in thresholds.items:  # global `thresholds:` has it; here: above
            raise thresholds.error(thresholds.items["serial_tolerance"][0],
                                   f"{thresholds.path}.serial_tolerance: give it on the zone "
                                   f"entry itself ({entry.path}.serial_tolerance)")
        thresholds.reject_unknown(ZONE_THRESHOLD_KEYS)
        override = ZoneOverride(
            zone=f"{zone}.",
            serial_tolerance=entry.get("serial_tolerance", int_in(0, 2**31 - 1), None),
            rtt_udp_threshold=thresholds.get("rtt_udp", duration_in(0, 60), None),
            rtt_tcp_threshold=thresholds.get("rtt_tcp", duration_in(0, 60), None),
            propagation_threshold=thresholds.get("propagation", duration_in(0, 30 * 86400.0),
                                                 None),
        )
        if override.changes():
            found.append(override)
    return tuple(found)


def with_zone_recipients(root: Section, alerts: AlertsConfig) -> AlertsConfig:
    """`recipients:` of a zone entry: that zone's mail goes to them as well as to
    `alerts.recipients` (the same as `alerts.zone_recipients`, merged with it)."""
    merged = {zone: tuple(addresses) for zone, addresses in alerts.zone_recipients.items()}
    for zone, entry in _zone_entries(root):
        none: tuple[str, ...] = ()
        own = entry.get("recipients", email_list, none)
        if own:
            merged[zone] = tuple(dict.fromkeys((*merged.get(zone, ()), *own)))
    if merged == dict(alerts.zone_recipients):
        return alerts
    return replace(alerts, zone_recipients=merged)


_LDH_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def parse_zone_name(value: Any) -> str:
    """A zone to watch: a host name as text ("fr", "中国", "xn--fiqs8s"), as its A-label.

    Strictly typed: YAML's null, booleans and numbers (``[null, yes, 42]``, or Norway's
    ``no`` unquoted) are refused instead of being watched as "none", "true", "42"; so are
    wildcards, IP addresses and labels that are not letters, digits and hyphens."""
    if not isinstance(value, str):
        shown = yaml.safe_dump(value, default_flow_style=True).split("\n")[0]
        hint = " (quote it, e.g. 'no' for Norway)" if isinstance(value, bool) else ""
        raise ValueError(
            f"{shown} is not a zone name ({type(value).__name__}): give names as text{hint}"
        )
    text = value.strip()
    try:
        ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        pass
    else:
        raise ValueError(f"{value!r} is an IP address, not a zone name")
    zone = normalise_zone(text)  # InvalidZoneName is a ValueError
    for label in zone.split("."):
        if not _LDH_LABEL.match(label):
            raise ValueError(
                f"invalid zone name {value!r}: {label!r} is not a host name label "
                "(letters, digits and hyphens, not at either end)"
            )
        if label.startswith("xn--") and readable_label(label) == label:
            raise ValueError(f"invalid zone name {value!r}: {label!r} is not a valid IDN A-label")
    if zone.rsplit(".", 1)[-1].isdigit():
        raise ValueError(f"invalid zone name {value!r}: a top-level label is never all digits")
    return zone


def parse_expectations(root: Section) -> tuple[ZoneExpectation, ...]:
    """`expect:` (DELEG06): per zone the NS set (NAME, NAME=ADDR,... or {NAME: [ADDR]}) and
    DS set ("KEYTAG ALG DIGESTTYPE DIGEST") the registry intends at the parent; given in
    the top-level `expect:` section or as `expect:` of a `zones:` mapping entry."""
    from probes.names import InvalidZoneName

    section = root.section("expect")
    found: dict[str, ZoneExpectation] = {}
    zones = set(zone_names(root)) if section.items else set()
    for key, (key_node, value_node) in section.items.items():
        try:
            zone = normalise_zone(str(key))
        except InvalidZoneName as exc:
            raise root.error(value_node, f"expect.{key}: {exc}") from None
        if zone not in zones:
            raise root.error(key_node, f"expect.{key}: {zone} is not in `zones:`")
        entry = Section(value_node, f"expect.{key}", root.source)
        found[zone] = _expectation(zone, entry, value_node)
    for zone, entry in _zone_entries(root):
        if "expect" not in entry.items:
            continue
        key_node, value_node = entry.items["expect"]
        if zone in found:
            raise entry.error(key_node, f"{entry.path}.expect: {zone} is pinned in the "
                                        f"top-level `expect:` already; give it once")
        found[zone] = _expectation(zone, entry.section("expect"), value_node)
    return tuple(found.values())


def _expectation(zone: str, entry: Section, node: yaml.Node) -> ZoneExpectation:
    """One zone's pinned NS/glue/DS (`ns:` and/or `ds:` lists), validated."""
    from probes.expectations import ZoneExpectation
    from probes.precheck.proposal import ProposalError, merge, parse_ds, parse_ns_entries

    entry.reject_unknown({"ns", "ds"})
    ns, ds = entry.raw("ns") or [], entry.raw("ds") or []
    if not isinstance(ns, list) or not isinstance(ds, list) or not (ns or ds):
        raise entry.error(node, f"{entry.path}: give `ns:` and/or `ds:` as lists")
    try:
        servers = merge(parse_ns_entries(ns))
        records = [parse_ds(str(d), "ds:") for d in ds]
    except ProposalError as exc:
        raise entry.error(node, f"{entry.path}: {exc}") from None
    return ZoneExpectation(
        zone=f"{zone}.",
        ns=tuple(sorted(s.name for s in servers)),
        glue=tuple((s.name, s.glue) for s in servers if s.glue),
        ds=tuple(d.to_text() for d in records),
    )
