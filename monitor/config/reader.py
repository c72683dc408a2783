"""The reader kit every config file of ccmon is read with: YAML nodes with their lines, and
each converter once.

A file is composed into YAML nodes (:func:`compose`), not loaded straight to dicts, so that
every value keeps its line. A :class:`Section` wraps one mapping node: it refuses unknown
keys and hands out values through a converter; a converter raises ``ValueError`` and the
section turns it into a :class:`ConfigError` such as
``config.yaml:14: probe.udp_timeout: bad duration 'fast' (examples: 500ms, 2s, 5m, 1h30m, 30d)``.
config.yaml (:mod:`monitor.config.core`, :mod:`monitor.config.alerts`) and the web-config
file (:mod:`monitor.config.webconfig`) are read with the same kit.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import yaml

from monitor.errors import InputError
from probes.model import Severity

T = TypeVar("T")

MAX_DURATION = 3650 * 86400.0  # no ccmon setting means more than ten years
MAX_CONFIG_BYTES = 1024 * 1024  # a config is a page of YAML; more is a mistake or an attack


class ConfigError(InputError):
    """The configuration cannot be used; the message names the file, line and key."""


# --- the file and its sections ----------------------------------------------------------


def compose(text: str, source: str, what: str = "config") -> yaml.Node | None:
    """The YAML document as nodes (None when empty); too big, aliases or bad YAML refused.

    Aliases are refused on the event stream, before any node is built: a few lines of
    ``*a`` nesting expand to gigabytes (an alias bomb)."""
    if len(text) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{source}: {len(text)} characters; a {what} is at most 1 MiB")
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.AliasEvent):
                line = event.start_mark.line + 1 if event.start_mark is not None else "?"
                raise ConfigError(f"{source}:{line}: YAML aliases (*{event.anchor}) are not "
                                  f"allowed in the {what}; write the value out")
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {exc}") from None


def plain(node: yaml.Node) -> Any:
    """A node as plain Python values, with YAML's ordinary scalar typing."""
    return yaml.safe_load(yaml.serialize(node))


def line_of(node: yaml.Node) -> int:
    """The 1-based line a node starts on."""
    return int(node.start_mark.line) + 1


class Section:
    """A mapping node of the YAML with its path; hands out typed values, errors with lines."""

    def __init__(self, node: yaml.Node | None, path: str, source: str) -> None:
        self.path = path
        self.source = source
        self.node = node
        self.items: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        if node is None:
            return
        if not isinstance(node, yaml.MappingNode):
            raise self.error(node, f"{path or 'the file'} must be a mapping of keys to values")
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key in self.items:
                raise self.error(key_node, f"{self.name(key)}: key given twice")
            self.items[key] = (key_node, value_node)

    def error(self, node: yaml.Node, message: str) -> ConfigError:
        """A ConfigError at the node's line: ``file:line: message``."""
        return ConfigError(f"{self.source}:{line_of(node)}: {message}")

    def name(self, key: str) -> str:
        """The dotted key path of `key` in this section (``probe.udp_timeout``)."""
        return f"{self.path}.{key}" if self.path else key

    def reject_unknown(self, known: set[str] | frozenset[str]) -> None:
        """A ConfigError for the first key not in `known`, listing the known ones."""
        for key, (key_node, _) in self.items.items():
            if key not in known:
                choices = ", ".join(sorted(known))
                raise self.error(key_node, f"{self.name(key)}: unknown key (known: {choices})")

    def get(self, key: str, convert: Callable[[Any], T], default: T) -> T:
        """The value of `key` through `convert`, or `default` when the key is absent."""
        if key not in self.items:
            return default
        _, value_node = self.items[key]
        try:
            return convert(plain(value_node))
        except (ValueError, TypeError) as exc:
            raise self.error(value_node, f"{self.name(key)}: {exc}") from None

    def section(self, key: str) -> Section:
        """The mapping under `key` (empty when absent or null)."""
        node = self.items.get(key, (None, None))[1]
        if node is not None and isinstance(node, yaml.ScalarNode) and node.value in ("", "~"):
            node = None
        return Section(node, self.name(key), self.source)

    def raw(self, key: str) -> Any:
        """The plain value of `key`, unconverted (None when absent)."""
        return plain(self.items[key][1]) if key in self.items else None

    def items_with_nodes(self, key: str) -> Iterator[tuple[Any, yaml.Node]]:
        """Elements of a sequence value with their nodes (for per-element errors)."""
        node = self.items.get(key, (None, None))[1]
        if isinstance(node, yaml.SequenceNode):
            for element in node.value:
                yield plain(element), element


# --- durations: Prometheus's grammar ------------------------------------------------------

# `1h30m`, `2d12h`: units in descending order, each once; plus decimals and bare numbers as
# seconds (`1.5s`, `2.5`).
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|y|w|d|h|m|s)")
_BARE_SECONDS = re.compile(r"^\d+(?:\.\d+)?$")
_UNITS = {"y": 365 * 86400.0, "w": 7 * 86400.0, "d": 86400.0, "h": 3600.0, "m": 60.0,
          "s": 1.0, "ms": 0.001}
_UNIT_ORDER = tuple(_UNITS)


def _duration_text_seconds(text: str) -> float | None:
    """Seconds of a duration written as text, or None when it is not one."""
    if _BARE_SECONDS.match(text):
        return float(text)
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        return None
    ranks = [_UNIT_ORDER.index(u) for _, u in parts]
    if ranks != sorted(set(ranks)):  # descending units, each once: 1h30m, not 30m1h or 1h1h
        return None
    return sum(float(n) * _UNITS[u] for n, u in parts)


def parse_duration(text: str | int | float) -> float:
    """'500ms' → 0.5, '2s' → 2.0, '1h30m' → 5400.0, 3 → 3.0 (bare numbers are seconds).

    Finite, not negative and at most ten years: ``.inf``, ``.nan`` and 10**400 are refused
    here, before any later arithmetic (timers, SQL) can trip over them."""
    if isinstance(text, bool):
        raise ValueError(f"bad duration {text!r}")
    if isinstance(text, int | float):
        try:
            seconds = float(text)
        except OverflowError:
            seconds = math.inf
    else:
        parsed = _duration_text_seconds(str(text).strip())
        if parsed is None:
            raise ValueError(f"bad duration {text!r} (examples: 500ms, 2s, 5m, 1h30m, 30d)")
        seconds = parsed
    if not math.isfinite(seconds):
        raise ValueError(f"bad duration {text!r}: must be a finite number of seconds")
    if seconds < 0:
        raise ValueError(f"bad duration {text!r}: negative")
    if seconds > MAX_DURATION:
        raise ValueError(f"bad duration {text!r}: more than ten years (3650d)")
    return seconds


def seconds_text(value: float) -> str:
    """A bound in error messages: 0.5 → '500ms', 60 → '60s'."""
    return f"{value * 1000:g}ms" if value < 1 else f"{value:g}s"


def duration_in(low: float, high: float, *, zero: bool = False) -> Callable[[Any], float]:
    """A duration from ``low`` to ``high`` seconds (0 allowed only with ``zero``)."""

    def checked(value: Any) -> float:
        seconds = parse_duration(value)
        if (seconds == 0 and not zero) or not low <= seconds <= high:
            floor = "0" if zero else f"{seconds_text(low)}" if low else "more than 0"
            raise ValueError(f"must be from {floor} to {seconds_text(high)}, got {value!r}")
        return seconds

    return checked


def positive_duration(value: Any) -> float:
    """A duration greater than 0 (at most ten years, as every duration)."""
    seconds = parse_duration(value)
    if seconds <= 0:
        raise ValueError(f"must be greater than 0, got {value!r}")
    return seconds


# --- numbers, flags, text -------------------------------------------------------------


def int_in(low: int, high: int) -> Callable[[Any], int]:
    """A whole number from ``low`` to ``high`` (YAML's true/false are not numbers)."""

    def checked(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValueError(f"must be a whole number from {low} to {high}, got {value!r}")
        return value

    return checked


def int_at_least(low: int) -> Callable[[Any], int]:
    """A whole number of at least ``low``."""

    def checked(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"must be a whole number of at least {low}, got {value!r}")
        return value

    return checked


def port(value: Any) -> int:
    """A TCP/UDP port number, 1 to 65535."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 65536:
        raise ValueError(f"must be a port number from 1 to 65535, got {value!r}")
    return value


def boolean(value: Any) -> bool:
    """true or false, nothing else (no 0/1, no "yes" strings)."""
    if not isinstance(value, bool):
        raise ValueError(f"must be true or false, got {value!r}")
    return value


def nonempty_text(value: Any) -> str:
    """A non-empty string, stripped."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"must be a non-empty string, got {value!r}")
    return value.strip()


def optional_text(value: Any) -> str | None:
    """A non-empty string, or None for null."""
    return None if value is None else nonempty_text(value)


# --- addresses --------------------------------------------------------------------------


def parse_address(value: Any) -> str:
    """An IPv4 or IPv6 address, normalised; anything else is refused."""
    try:
        return str(ipaddress.ip_address(str(value).strip().strip("[]")))
    except ValueError:
        raise ValueError(f"bad address {value!r} (an IPv4 or IPv6 address)") from None


def address_list(keyword: str, keyword_value: tuple[str, ...]) -> Callable[[Any], tuple[str, ...]]:
    """A list of addresses, one address, or a keyword standing for a default list."""

    def convert(value: Any) -> tuple[str, ...]:
        if value == keyword:
            return keyword_value
        values = value if isinstance(value, list) else [value]
        if not values:
            raise ValueError(f"give at least one address, or {keyword!r}")
        return tuple(parse_address(v) for v in values)

    return convert


_LISTEN = re.compile(r"(\[[^\[\]]*\]|[^:\[\]]*):(\d{1,5})")
_HOST_NAME = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*\.?")


def _listen_host(host: str, shown: str) -> str | None:
    """The host part of a listen address: None for every address, else an IP or a name."""
    if not host:
        return None
    bare = host[1:-1] if host.startswith("[") else host
    try:
        address = ipaddress.ip_address(bare)
    except ValueError:
        if host.startswith("[") or not _HOST_NAME.fullmatch(host):
            raise ValueError(f"bad listen address {shown!r}: {host!r} is not an IP address "
                             "or a host name") from None
        return host
    if host.startswith("[") != (address.version == 6):
        raise ValueError(f"bad listen address {shown!r}: an IPv6 address goes in brackets "
                         "([::1]:9153), an IPv4 address does not")
    return str(address)


def parse_listen(value: Any) -> tuple[str | None, int]:
    """Where to listen, as the Prometheus exporters write it (Go's net.Listen):
    '127.0.0.1:9153' → ('127.0.0.1', 9153), '[::1]:9153' → ('::1', 9153), ':9153' → every
    address (None, 9153), 'localhost:9153' → a host name. Port 0 is any free port (the
    server in tests); a configured address is read with :func:`listen_address`."""
    shown = str(value)
    match = _LISTEN.fullmatch(shown.strip())
    if not match:
        raise ValueError(f"bad listen address {shown!r} (host:port, e.g. 127.0.0.1:9153, "
                         "[::1]:9153 or :9153)")
    number = int(match.group(2))
    if number > 65535:
        raise ValueError(f"bad listen address {shown!r}: the port must be from 1 to 65535")
    return _listen_host(match.group(1), shown), number


def listen_address(value: Any) -> str:
    """A configured listen address (:func:`parse_listen`, port 1 to 65535: a monitor needs
    a fixed port to be scraped), as the text given, stripped."""
    if parse_listen(value)[1] == 0:
        raise ValueError(f"bad listen address {value!r}: the port must be from 1 to 65535 "
                         "(0, any free port, leaves nothing fixed to scrape)")
    return str(value).strip()


def local_target(listen: str) -> tuple[str, int]:
    """Where a process on the same host reaches a server that listens on `listen`."""
    host, number = parse_listen(listen)
    if host in (None, "0.0.0.0"):
        return "127.0.0.1", number
    if host == "::":
        return "::1", number
    return host, number


# --- the check registry's vocabulary ---------------------------------------------------


def check_ids(value: Any, *, all_keyword: str | None = None) -> frozenset[str] | None:
    """A list of check IDs of the registry (`[LAME01, SOA04]`), upper-cased; with
    ``all_keyword``, that word (or null) for every check (None). A bare string, a typo or
    an unknown ID is refused, not silently ignored."""
    from probes.checks import CHECKS  # the registry, complete once probes.checks is imported

    if all_keyword is not None and value in (all_keyword, None):
        return None
    if value is None:
        return frozenset()
    if not isinstance(value, list):
        either = f" or {all_keyword!r}" if all_keyword else ""
        raise ValueError(f"must be a list of check IDs{either}, e.g. [{value}], got {value!r}")
    if not value and all_keyword is not None:
        raise ValueError(f"give a list of check IDs or {all_keyword!r}")
    unknown = [str(v) for v in value if str(v).upper() not in CHECKS]
    if unknown:
        raise ValueError(f"unknown check ID(s) {', '.join(unknown)} (known: docs/checks.md)")
    return frozenset(str(v).upper() for v in value)


def severity(allowed: tuple[str, ...], hint: str = "") -> Callable[[Any], Severity]:
    """A severity name (any case) among `allowed`."""

    def convert(value: Any) -> Severity:
        if not isinstance(value, str) or value.upper() not in allowed:
            raise ValueError(f"unknown severity {value!r} (known: {', '.join(allowed)}{hint})")
        return Severity[value.upper()]

    return convert
