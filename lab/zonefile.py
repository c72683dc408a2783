"""Zone file text for the root and every zone of a scenario (RFC 1035 master format)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from lab.scenario import Scenario, ZoneSpec, enclosing_zone

SOA_TIMERS = "14400 3600 604800 3600"  # refresh retry expire minimum


@dataclass(frozen=True)
class RootDelegation:
    """What the lab root publishes for one child instead of the scenario's delegation
    (``Lab.set_delegation``): None keeps the scenario's NS set or DS set; ``glue`` adds
    A/AAAA records for NS names the change brings in (names already in the world keep
    theirs)."""

    ns: tuple[str, ...] | None = None  # absolute NS names
    ds: tuple[str, ...] | None = None  # DS rdata text ("KEYTAG ALG TYPE DIGEST"); () = none
    glue: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


def host_addresses(sc: Scenario) -> dict[str, list[str]]:
    """Every NS name of the world (root included) -> its addresses, in scenario order."""
    out: dict[str, list[str]] = {sc.root.ns: [sc.root.address]}
    for s in sc.servers():
        addrs = out.setdefault(s.ns, [])
        if s.address not in addrs:
            addrs.append(s.address)
    return out


def _glue_addresses(sc: Scenario) -> dict[str, list[str]]:
    """NS name -> addresses the root carries as glue (entries with ``glue: false`` left out)."""
    out: dict[str, list[str]] = {sc.root.ns: [sc.root.address]}
    for s in sc.servers():
        if s.glue:
            addrs = out.setdefault(s.ns, [])
            if s.address not in addrs:
                addrs.append(s.address)
    return out


def _type(address: str) -> str:
    """AAAA for ::1 (the one IPv6 loopback address a lab server may hold), A otherwise."""
    return "AAAA" if ":" in address else "A"


def address_records(sc: Scenario) -> dict[str, list[str]]:
    """Zone -> the A records of the NS names living in it (whichever zone they serve)."""
    names = [z.name for z in sc.zones]
    out: dict[str, list[str]] = {}
    for ns, addrs in host_addresses(sc).items():
        holder = enclosing_zone(ns, names)
        if holder is not None:
            out.setdefault(holder, []).extend(f"{ns} 3600 IN {_type(a)} {a}" for a in addrs)
    return out


def zone_text(sc: Scenario, zone: ZoneSpec, serial: int,
              records: dict[str, list[str]] | None = None) -> str:
    """The master file of `zone` at `serial`: SOA, apex NS, addresses of the NS names that
    live in this zone (`records`, from :func:`address_records`), the scenario's extras."""
    if records is None:
        records = address_records(sc)
    origin = zone.name + "."
    primary = zone.primary or zone.servers[0]
    lines = [
        f"$ORIGIN {origin}",
        "$TTL 3600",
        f"@ 3600 IN SOA {primary.ns} hostmaster.{origin} {serial} {SOA_TIMERS}",
    ]
    lines += [f"@ 3600 IN NS {ns}" for ns in zone.ns_names]
    lines += records.get(zone.name, [])
    lines.append(f'@ 3600 IN TXT "ccmon lab zone {zone.name}"')
    lines += [r for r in zone.records if apex_ds(zone.name, r) is None]
    return "\n".join(lines) + "\n"


def apex_ds(zone: str, record: str) -> str | None:
    """The DS rdata of a scenario record that is a DS at the zone's apex, else None.

    Such records belong to the parent: ``root_text`` publishes them in the root, and
    ``zone_text`` leaves them out of the child (a signed-zone scenario lists its DS this way).
    """
    tokens = record.split()
    if len(tokens) < 3 or tokens[0].lower() not in ("@", f"{zone}."):
        return None
    rest = tokens[1:]
    while rest and (rest[0].isdigit() or rest[0].upper() in ("IN", "CH", "HS")):
        rest = rest[1:]  # TTL and class, in either order
    if len(rest) < 2 or rest[0].upper() != "DS":
        return None
    return " ".join(rest[1:])


def root_text(sc: Scenario, serial: int,
              changes: Mapping[str, RootDelegation] | None = None) -> str:
    """The lab root: its own SOA/NS, one delegation per zone, and glue the way the real root
    keeps it (an A record for every NS name unless the scenario says ``glue: false``).
    ``changes``: per zone, the NS and/or DS set published instead (a live change)."""
    changes = changes or {}
    lines = [
        "$ORIGIN .",
        "$TTL 86400",
        f". 86400 IN SOA {sc.root.ns} hostmaster.root-servers.lab. {serial} 1800 900 604800 86400",
        f". 518400 IN NS {sc.root.ns}",
    ]
    glue = _glue_addresses(sc)
    for z in sc.zones:
        change = changes.get(z.name, RootDelegation())
        ns_names = change.ns if change.ns is not None else z.ns_names
        ds_set = change.ds if change.ds is not None else tuple(
            ds for r in z.records if (ds := apex_ds(z.name, r)) is not None)
        lines += [f"{z.name}. 172800 IN NS {ns}" for ns in ns_names]
        lines += [f"{z.name}. 86400 IN DS {ds}" for ds in ds_set]
        for ns, added in change.glue.items():
            known = glue.setdefault(ns, [])
            known += [a for a in added if a not in known]
    for ns, addrs in glue.items():
        lines += [f"{ns} 172800 IN {_type(a)} {a}" for a in addrs]
    return "\n".join(lines) + "\n"
