"""Server addresses: their family and their reading order. The one place that tells IPv4 from
IPv6 (the vantage, the checks, the metrics, the mails and the SLA report all ask here)."""

from __future__ import annotations

import enum
import functools
import ipaddress


class Family(enum.StrEnum):
    """An address family; its value is the `family` label and the vantage's key."""

    IPV4 = "ipv4"
    IPV6 = "ipv6"


def family_of(address: str) -> Family:
    """IPV6 for an IPv6 address, IPV4 otherwise. Text that does not parse counts as IPv6
    when it holds a colon (an IPv6 address with a zone index, say), as IPv4 otherwise."""
    return Family.IPV6 if ":" in address else Family.IPV4


def is_ipv6(address: str) -> bool:
    """The address is an IPv6 address (the same rule as family_of)."""
    return ":" in address


@functools.lru_cache(maxsize=65536)  # the addresses of every ccTLD server: about 12,000
def address_key(address: str) -> tuple[int, int, str]:
    """A sort key: IPv4 before IPv6, numerically within each (192.0.2.9 before 192.0.2.10);
    unparseable text last, by its text."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return 9, 0, address
    return ip.version, int(ip), ""


#: The network a routing failure takes down at once, per family (DIV01, PRE11, SLA report).
PREFIX_LENGTH = {Family.IPV4: 24, Family.IPV6: 48}


@functools.lru_cache(maxsize=65536)  # the same addresses come back every sweep
def network_prefix(address: str) -> str:
    """"192.0.2.0/24", "2001:db8::/48": the address's /24 or /48; unparseable text as is."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    length = PREFIX_LENGTH[family_of(address)]
    host_bits = ip.max_prefixlen - length  # the network from the number: no second parse
    return f"{type(ip)(int(ip) >> host_bits << host_bits)}/{length}"
