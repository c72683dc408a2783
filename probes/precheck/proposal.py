"""The proposed delegation as typed input: NS names with their glue, and DS records.

Everything here is checked before any query is sent. Input that is not DNS at all (a name
with an empty or 64-octet label, an address that is not an IP address, a DS whose digest
type is unknown or whose digest has the wrong length) is refused with a ProposalError that
names the offending argument: the command exits 3 (UNKNOWN, as a plugin's usage error).
Input that is DNS but breaks a rule IANA checks (a name with an underscore, 1 or 14 name
servers, a private address) is accepted here and judged by the PRE checks.
"""

from __future__ import annotations

import binascii
import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dns.exception
import dns.name
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.DS
import yaml

from probes.names import InvalidZoneName, absolute, normalise_zone

#: DS digest types ccmon can recompute, with their digest length in octets (RFC 4509, 6605).
DIGEST_LENGTHS: dict[int, tuple[str, int]] = {1: ("SHA-1", 20), 2: ("SHA-256", 32),
                                              4: ("SHA-384", 48)}
FILE_KEYS = frozenset({"zone", "ns", "ds"})


class ProposalError(ValueError):
    """The proposal cannot be probed; the message names the offending argument."""


@dataclass(frozen=True, slots=True)
class ProposedServer:
    """One proposed NS name and the glue addresses proposed for it (may be none)."""

    name: str  # absolute, lower case A-labels: "ns1.nic.fr."
    glue: tuple[str, ...] = ()  # normalised IP addresses, as the parent would publish them


@dataclass(frozen=True, slots=True)
class Proposal:
    """A proposed delegation as parsed from the input: zone, name servers with glue, DS set."""
    zone: str  # absolute, lower case: "fr."
    nameservers: tuple[ProposedServer, ...]
    ds: tuple[dns.rdtypes.ANY.DS.DS, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        """The proposed NS names, in input order."""
        return tuple(s.name for s in self.nameservers)

    def glue_of(self, name: str) -> tuple[str, ...]:
        """The proposed glue of a name; () when none was given."""
        return next((s.glue for s in self.nameservers if s.name == name), ())

    def in_zone(self, name: str) -> bool:
        """The NS name lies inside the zone: the parent must publish glue for it."""
        return dns.name.from_text(name).is_subdomain(dns.name.from_text(self.zone))


def parse_zone(text: str) -> str:
    """The zone as an absolute, normalised name; ProposalError when it is not a valid name."""
    try:
        return absolute(normalise_zone(text))
    except InvalidZoneName as exc:
        raise ProposalError(f"ZONE {text!r}: {exc}") from None


def parse_ns_name(text: str, where: str) -> str:
    """A name server name in DNS syntax (A-labels or U-labels), absolute, lower case."""
    raw = text.strip()
    if not raw or raw == "." or any(c.isspace() or ord(c) < 32 for c in raw) or "\\" in raw:
        raise ProposalError(f"{where}: {text!r} is not a domain name")
    try:
        name = dns.name.from_text(raw) if raw.isascii() else dns.name.from_unicode(raw)
    except (dns.exception.DNSException, UnicodeError) as exc:
        raise ProposalError(f"{where}: {text!r} is not a domain name: {exc}") from None
    if any(not label for label in name.labels[:-1]):
        raise ProposalError(f"{where}: {text!r} has an empty label")
    return name.to_text().lower()


def parse_ip(text: str, where: str) -> str:
    """The address in canonical form ([] allowed); ProposalError naming `where` otherwise."""
    try:
        return str(ipaddress.ip_address(text.strip().strip("[]")))
    except ValueError:
        raise ProposalError(f"{where}: {text.strip()!r} is not an IPv4 or IPv6 address") from None


def parse_ns(text: str, flag: str = "--ns") -> ProposedServer:
    """`--ns NAME[=ADDR,ADDR...]`."""
    where = f"{flag} {text!r}"
    name_text, sep, addresses = text.partition("=")
    name = parse_ns_name(name_text, where)
    if sep and not addresses.strip():
        raise ProposalError(f"{where}: '=' without an address")
    glue = [parse_ip(a, where) for a in addresses.split(",")] if sep else []
    return ProposedServer(name, tuple(dict.fromkeys(glue)))


def parse_ds(text: str, flag: str = "--ds") -> dns.rdtypes.ANY.DS.DS:
    """`--ds "KEYTAG ALG DIGESTTYPE DIGEST"`: all four fields, digest type and length known."""
    where = f"{flag} {text!r}"
    fields = text.split()
    if len(fields) < 4:
        raise ProposalError(f"{where}: needs KEYTAG ALGORITHM DIGESTTYPE DIGEST")
    tag, algorithm, digest_type = fields[:3]
    digest_hex = "".join(fields[3:])
    if not tag.isdigit() or int(tag) > 65535:
        raise ProposalError(f"{where}: key tag {tag!r} is not a number 0-65535")
    if not algorithm.isdigit() or int(algorithm) > 255:
        raise ProposalError(f"{where}: algorithm {algorithm!r} is not a number 0-255")
    if not digest_type.isdigit() or int(digest_type) not in DIGEST_LENGTHS:
        known = ", ".join(f"{n} ({word})" for n, (word, _) in DIGEST_LENGTHS.items())
        raise ProposalError(f"{where}: unknown digest type {digest_type!r} (known: {known})")
    try:
        digest = binascii.unhexlify(digest_hex)
    except (binascii.Error, ValueError):
        raise ProposalError(f"{where}: the digest is not hexadecimal") from None
    word, length = DIGEST_LENGTHS[int(digest_type)]
    if len(digest) != length:
        raise ProposalError(f"{where}: a {word} digest has {length} octets, this one "
                            f"{len(digest)}")
    return dns.rdtypes.ANY.DS.DS(dns.rdataclass.IN, dns.rdatatype.DS, int(tag), int(algorithm),
                                 int(digest_type), digest)


def merge(servers: Iterable[ProposedServer]) -> tuple[ProposedServer, ...]:
    """One entry per NS name, in first-seen order; glue of repeated names joined."""
    merged: dict[str, list[str]] = {}
    for server in servers:
        merged.setdefault(server.name, []).extend(server.glue)
    return tuple(ProposedServer(n, tuple(dict.fromkeys(g))) for n, g in merged.items())


def build(zone: str | None, ns: Sequence[str], ds: Sequence[str],
          file: Mapping[str, Any] | None = None) -> Proposal:
    """The proposal from the command line, after the file's entries when a file is given."""
    file = file or {}
    zone_text = zone or file.get("zone")
    if not zone_text:
        raise ProposalError("ZONE: no zone named (argument or the file's `zone:`)")
    if zone and file.get("zone") and parse_zone(zone) != parse_zone(str(file["zone"])):
        raise ProposalError(f"ZONE {zone!r}: the file proposes for {file['zone']!r}")
    servers = [*parse_ns_entries(file.get("ns") or []), *(parse_ns(t) for t in ns)]
    if not servers:
        raise ProposalError("--ns: no name server proposed")
    records = [*(parse_ds(str(t), "ds:") for t in file.get("ds") or []),
               *(parse_ds(t) for t in ds)]
    unique = tuple({r.to_digestable(): r for r in records}.values())
    return Proposal(parse_zone(str(zone_text)), merge(servers), unique)


def load_file(path: str) -> dict[str, Any]:
    """A small YAML proposal: `zone:`, `ns:` (NAME, NAME=ADDR,... or {NAME: [ADDR...]}),
    `ds:` (strings "KEYTAG ALG DIGESTTYPE DIGEST")."""
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ProposalError(f"--file {path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise ProposalError(f"--file {path}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ProposalError(f"--file {path}: expected a mapping with zone, ns, ds")
    unknown = set(raw) - FILE_KEYS
    if unknown:
        raise ProposalError(f"--file {path}: unknown key(s) {sorted(unknown)} "
                            f"(known: {sorted(FILE_KEYS)})")
    for key in ("ns", "ds"):
        if raw.get(key) is not None and not isinstance(raw[key], list):
            raise ProposalError(f"--file {path}: {key}: expected a list")
    return raw


def parse_ns_entries(entries: list[Any]) -> Iterable[ProposedServer]:
    """The `ns:` list of a file: NAME, NAME=ADDR,... or {NAME: [ADDR, ...]} entries."""
    for entry in entries:
        if isinstance(entry, str):
            yield parse_ns(entry, "ns:")
        elif isinstance(entry, dict) and len(entry) == 1:
            (name, addresses), = entry.items()
            if isinstance(addresses, str):
                addresses = [addresses]
            if addresses is not None and not isinstance(addresses, list):
                raise ProposalError(f"ns: {name!r}: expected a list of addresses")
            where = f"ns: {name!r}"
            glue = [parse_ip(str(a), where) for a in addresses or []]
            yield ProposedServer(parse_ns_name(str(name), where), tuple(dict.fromkeys(glue)))
        else:
            raise ProposalError(f"ns: {entry!r}: expected NAME, NAME=ADDR,... or {{NAME: "
                                "[ADDR, ...]}")
