"""config.yaml → a frozen, validated Config. Errors name the key and its line.

The file is composed into YAML nodes first (not loaded straight to dicts) so that every
value keeps its line number; each section is then read by a small typed reader that
rejects unknown keys and bad values with a ConfigError such as
``config.yaml:14: probe.udp_timeout: bad duration 'fast' (examples: 500ms, 2s, 5m, 1h, 30d)``.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import yaml

from monitor import listen
from monitor.alerts_config import AlertsConfig, parse_alerts
from probes.names import InvalidZoneName, normalise_zone
from probes.settings import ROOT_HINTS, ProbeSettings

T = TypeVar("T")

ALL_CCTLDS = "all-cctlds"
DEFAULT_LISTEN = "127.0.0.1:9153"


class ConfigError(Exception):
    """The configuration cannot be used; the message names the file, line and key."""


@dataclass(frozen=True, slots=True)
class ScheduleConfig:
    interval: float = 60.0  # seconds between two sweeps of one zone
    jitter: float = 60.0  # random start offset, spread over [0, jitter) (RSSAC047 style)


@dataclass(frozen=True, slots=True)
class StoreConfig:
    path: str = "ccmon.sqlite"
    retention: float = 35 * 86400.0  # seconds of history kept (a month and a few days)
    rollup_retention: float = 400 * 86400.0  # seconds the daily SLA rollups are kept


@dataclass(frozen=True, slots=True)
class WebConfig:
    listen: str = DEFAULT_LISTEN
    web_config_file: str | None = None  # exporter-toolkit web-config (TLS, basic auth)
    external_url: str = ""  # how people reach the status page (links in e-mails)


@dataclass(frozen=True, slots=True)
class Config:
    zones: tuple[str, ...]
    probe: ProbeSettings = field(default_factory=ProbeSettings)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    web: WebConfig = field(default_factory=WebConfig)
    alerts: AlertsConfig = field(default_factory=AlertsConfig)  # monitor.alerts_config
    source: str = "<defaults>"


_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


def parse_duration(text: str | int | float) -> float:
    """'500ms' → 0.5, '2s' → 2.0, '5m' → 300.0, 3 → 3.0 (bare numbers are seconds)."""
    if isinstance(text, bool):
        raise ValueError(f"bad duration {text!r}")
    if isinstance(text, int | float):
        if text < 0:
            raise ValueError(f"bad duration {text!r}: negative")
        return float(text)
    match = _DURATION.match(str(text).strip())
    if not match:
        raise ValueError(f"bad duration {text!r} (examples: 500ms, 2s, 5m, 1h, 30d)")
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse_address(text: Any) -> str:
    """An IPv4 or IPv6 address, normalised; anything else is refused."""
    try:
        return str(ipaddress.ip_address(str(text).strip().strip("[]")))
    except ValueError:
        raise ValueError(f"bad address {text!r} (an IPv4 or IPv6 address)") from None


def parse_listen(text: Any) -> str:
    """'127.0.0.1:9153', '[::1]:9153' or ':9153' (every address); see monitor.listen."""
    if listen.parse_listen(str(text))[1] == 0:
        raise ValueError(f"bad listen address {text!r} (port 0: no fixed port to scrape)")
    return str(text).strip()


def all_cctlds() -> tuple[str, ...]:
    """Every ccTLD delegated in the root zone (IANA root zone snapshot 2026082201)."""
    text = resources.files("monitor").joinpath("data/cctlds.txt").read_text(encoding="utf-8")
    return tuple(line.strip() for line in text.splitlines() if line.strip())


class _Section:
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
                raise self.error(key_node, f"{self._name(key)}: key given twice")
            self.items[key] = (key_node, value_node)

    def error(self, node: yaml.Node, message: str) -> ConfigError:
        return ConfigError(f"{self.source}:{node.start_mark.line + 1}: {message}")

    def _name(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def reject_unknown(self, known: set[str]) -> None:
        for key, (key_node, _) in self.items.items():
            if key not in known:
                choices = ", ".join(sorted(known))
                raise self.error(key_node, f"{self._name(key)}: unknown key (known: {choices})")

    def get(self, key: str, convert: Callable[[Any], T], default: T) -> T:
        if key not in self.items:
            return default
        _, value_node = self.items[key]
        try:
            return convert(_plain(value_node))
        except (ValueError, TypeError) as exc:
            raise self.error(value_node, f"{self._name(key)}: {exc}") from None

    def section(self, key: str) -> _Section:
        node = self.items.get(key, (None, None))[1]
        if node is not None and isinstance(node, yaml.ScalarNode) and node.value in ("", "~"):
            node = None
        return _Section(node, self._name(key), self.source)

    def raw(self, key: str) -> Any:
        return _plain(self.items[key][1]) if key in self.items else None

    def items_with_nodes(self, key: str) -> Iterator[tuple[Any, yaml.Node]]:
        """Elements of a sequence value with their nodes (for per-element errors)."""
        node = self.items.get(key, (None, None))[1]
        if isinstance(node, yaml.SequenceNode):
            for element in node.value:
                yield _plain(element), element


def _plain(node: yaml.Node) -> Any:
    """A node as plain Python values, with YAML's ordinary scalar typing."""
    return yaml.safe_load(yaml.serialize(node))


def _positive(convert: Callable[[Any], float]) -> Callable[[Any], float]:
    def checked(value: Any) -> float:
        number = convert(value)
        if number <= 0:
            raise ValueError(f"must be greater than 0, got {value!r}")
        return number

    return checked


def _int_in(low: int, high: int) -> Callable[[Any], int]:
    def checked(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValueError(f"must be a whole number from {low} to {high}, got {value!r}")
        return value

    return checked


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"must be true or false, got {value!r}")
    return value


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"must be a non-empty string, got {value!r}")
    return value


def _optional_text(value: Any) -> str | None:
    return None if value is None else _text(value)


def _address_list(keyword: str, keyword_value: tuple[str, ...]) -> Callable[[Any], tuple[str, ...]]:
    """A list of addresses, one address, or a keyword standing for a default list."""

    def convert(value: Any) -> tuple[str, ...]:
        if value == keyword:
            return keyword_value
        values = value if isinstance(value, list) else [value]
        if not values:
            raise ValueError(f"give at least one address, or {keyword!r}")
        return tuple(parse_address(v) for v in values)

    return convert


def _zones(root: _Section) -> tuple[str, ...]:
    if "zones" not in root.items:
        raise ConfigError(f"{root.source}: zones: missing (a list of zones, or {ALL_CCTLDS})")
    value = root.raw("zones")
    if value == ALL_CCTLDS:
        return all_cctlds()
    node = root.items["zones"][1]
    if not isinstance(value, list) or not value:
        raise root.error(node, f"zones: give a list of zone names or {ALL_CCTLDS!r}")
    zones: list[str] = []
    for element, element_node in root.items_with_nodes("zones"):
        try:
            zone = normalise_zone(str(element))
        except InvalidZoneName as exc:
            raise root.error(element_node, f"zones: {exc}") from None
        if zone in zones:
            raise root.error(element_node, f"zones: {zone} listed twice")
        zones.append(zone)
    return tuple(zones)


def _probe_settings(root: _Section) -> ProbeSettings:
    root_defaults = ProbeSettings()
    probe = root.section("probe")
    probe.reject_unknown(
        {
            "udp_timeout",
            "udp_tries",
            "tcp_timeout",
            "per_address_in_flight",
            "max_in_flight",
            "edns_buffer",
            "ipv6",
            "further_checks_interval",
        }
    )
    thresholds = root.section("thresholds")
    thresholds.reject_unknown({"rtt_udp", "rtt_tcp", "serial_tolerance", "propagation"})
    checks = root.section("checks")
    checks.reject_unknown({"disabled"})
    disabled = checks.get("disabled", lambda v: frozenset(map(str, v or [])), frozenset())
    duration = _positive(parse_duration)
    return ProbeSettings(
        parent_addresses=root.get("parent", _address_list("root-hints", ROOT_HINTS), ROOT_HINTS),
        resolver=root.get("resolver", _address_list("system", ()), ()),
        resolver_port=root.get("resolver_port", _int_in(1, 65535), root_defaults.resolver_port),
        port=root.get("port", _int_in(1, 65535), root_defaults.port),
        udp_timeout=probe.get("udp_timeout", duration, root_defaults.udp_timeout),
        udp_tries=probe.get("udp_tries", _int_in(1, 5), root_defaults.udp_tries),
        tcp_timeout=probe.get("tcp_timeout", duration, root_defaults.tcp_timeout),
        per_address_in_flight=probe.get(
            "per_address_in_flight", _int_in(1, 64), root_defaults.per_address_in_flight
        ),
        max_in_flight=probe.get("max_in_flight", _int_in(1, 20000), root_defaults.max_in_flight),
        edns_buffer=probe.get("edns_buffer", _int_in(512, 4096), root_defaults.edns_buffer),
        ipv6=probe.get("ipv6", _boolean, root_defaults.ipv6),
        further_checks_interval=probe.get("further_checks_interval", parse_duration,
                                          root_defaults.further_checks_interval),
        rtt_udp_threshold=thresholds.get("rtt_udp", duration, root_defaults.rtt_udp_threshold),
        rtt_tcp_threshold=thresholds.get("rtt_tcp", duration, root_defaults.rtt_tcp_threshold),
        serial_tolerance=thresholds.get("serial_tolerance", _int_in(0, 2**31 - 1), 0),
        propagation_threshold=thresholds.get(
            "propagation", duration, root_defaults.propagation_threshold
        ),
        disabled_checks=disabled,
    )


TOP_LEVEL_KEYS = {
    "zones",
    "parent",
    "resolver",
    "resolver_port",
    "port",
    "probe",
    "thresholds",
    "checks",
    "schedule",
    "store",
    "web",
    "alerts",
}


def parse_config(text: str, source: str = "config.yaml") -> Config:
    """Validate a config document; raises ConfigError naming the key and line."""
    try:
        document = yaml.compose(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {exc}") from None
    root = _Section(document, "", source)
    if document is None:
        raise ConfigError(f"{source}: empty file; at least `zones:` is needed")
    root.reject_unknown(TOP_LEVEL_KEYS)
    schedule = root.section("schedule")
    schedule.reject_unknown({"interval", "jitter"})
    store = root.section("store")
    store.reject_unknown({"path", "retention", "rollup_retention"})
    web = root.section("web")
    web.reject_unknown({"listen", "web_config_file", "external_url"})
    defaults = Config(zones=())
    interval = schedule.get("interval", _positive(parse_duration), defaults.schedule.interval)
    return Config(
        zones=_zones(root),
        probe=_probe_settings(root),
        schedule=ScheduleConfig(
            interval=interval,
            jitter=schedule.get("jitter", parse_duration, interval),
        ),
        store=StoreConfig(
            path=store.get("path", _text, defaults.store.path),
            retention=store.get("retention", _positive(parse_duration), defaults.store.retention),
            rollup_retention=store.get(
                "rollup_retention", _positive(parse_duration), defaults.store.rollup_retention
            ),
        ),
        web=WebConfig(
            listen=web.get("listen", parse_listen, DEFAULT_LISTEN),
            web_config_file=web.get("web_config_file", _optional_text, None),
            external_url=web.get("external_url", lambda v: str(v or ""), ""),
        ),
        alerts=parse_alerts(root.section("alerts")),
        source=source,
    )


def load_config(path: str | Path) -> Config:
    """Read and validate a config file."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    return parse_config(text, str(path))


def with_overrides(config: Config, **probe_fields: Any) -> Config:
    """The config with some probe settings replaced (command-line flags win)."""
    changes = {k: v for k, v in probe_fields.items() if v is not None}
    return replace(config, probe=replace(config.probe, **changes)) if changes else config
