"""config.yaml → a frozen, validated Config. Errors name the key and its line.

The file is composed into YAML nodes first (not loaded straight to dicts) so that every
value keeps its line number; each section is then read by a small typed reader that
rejects unknown keys and bad values with a ConfigError such as
``config.yaml:14: probe.udp_timeout: bad duration 'fast' (examples: 500ms, 2s, 5m, 1h, 30d)``.
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import yaml

from monitor import listen
from monitor.alerts_config import AlertsConfig, parse_alerts
from monitor.status import readable_label
from probes.model import Severity
from probes.names import normalise_zone
from probes.settings import ROOT_HINTS, ProbeSettings

if TYPE_CHECKING:
    from probes.expectations import ZoneExpectation, ZoneOverride

T = TypeVar("T")

ALL_CCTLDS = "all-cctlds"
DEFAULT_LISTEN = "127.0.0.1:9153"


class ConfigError(Exception):
    """The configuration cannot be used; the message names the file, line and key."""


@dataclass(frozen=True, slots=True)
class ScheduleConfig:
    """The `schedule:` section: sweep interval and start jitter, in seconds."""
    interval: float = 60.0  # seconds between two sweeps of one zone
    jitter: float = 60.0  # random start offset, spread over [0, jitter) (RSSAC047 style)
    allow_fast_interval: bool = False  # a lab only: intervals under MIN_INTERVAL


@dataclass(frozen=True, slots=True)
class StoreConfig:
    """The `store:` section: the SQLite file and how long history and rollups are kept."""
    path: str = "ccmon.sqlite"
    retention: float = 35 * 86400.0  # seconds of history kept (a month and a few days)
    rollup_retention: float = 400 * 86400.0  # seconds the daily SLA rollups are kept


@dataclass(frozen=True, slots=True)
class WebConfig:
    """The `web:` section: listen address, web-config file, external URL, connection limits."""
    listen: str = DEFAULT_LISTEN
    web_config_file: str | None = None  # exporter-toolkit web-config (TLS, basic auth)
    external_url: str = ""  # how people reach the status page (links in e-mails)
    # What a party that reaches the port can hold: connections (the rest of the process's
    # descriptors stay with the prober), seconds to send a request's header, idle seconds.
    max_connections: int = 64
    read_header_timeout: float = 10.0
    idle_timeout: float = 120.0


@dataclass(frozen=True, slots=True)
class Config:
    """The whole config.yaml, every section with its defaults; `source` names the file."""
    zones: tuple[str, ...]
    probe: ProbeSettings = field(default_factory=ProbeSettings)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    web: WebConfig = field(default_factory=WebConfig)
    alerts: AlertsConfig = field(default_factory=AlertsConfig)  # monitor.alerts_config
    source: str = "<defaults>"


# Prometheus's duration grammar (`1h30m`, `2d12h`, units in descending order, each once),
# plus decimals and bare numbers as seconds (`1.5s`, `2.5`).
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
MAX_DURATION = 3650 * 86400.0  # no ccmon setting means more than ten years
MIN_INTERVAL = 10.0  # s: schedule.interval below this only in a lab (allow_fast_interval)
MIN_FAST_INTERVAL = 0.1  # s: even a lab is not swept faster than this
MAX_INTERVAL = 86400.0
MAX_CONFIG_BYTES = 1024 * 1024  # a config is a page of YAML; more is a mistake or an attack


def parse_duration(text: str | int | float) -> float:
    """'500ms' → 0.5, '2s' → 2.0, '5m' → 300.0, 3 → 3.0 (bare numbers are seconds).

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


def _check_ids(value: Any) -> frozenset[str]:
    """A list of check IDs of the registry (`[LAME01, SOA04]`); a bare string, a typo or an
    unknown ID is refused, not silently ignored."""
    from probes.checks import CHECKS  # the registry, complete once probes.checks is imported

    if value is None:
        return frozenset()
    if not isinstance(value, list):
        raise ValueError(f"must be a list of check IDs, e.g. [{value}], got {value!r}")
    unknown = [str(v) for v in value if str(v).upper() not in CHECKS]
    if unknown:
        raise ValueError(f"unknown check ID(s) {', '.join(unknown)} (known: docs/checks.md)")
    return frozenset(str(v).upper() for v in value)


#: Severities a tag can be re-levelled to; OK is not one: `checks.disabled` silences a check.
RELEVEL_SEVERITIES = ("INFO", "NOTICE", "WARNING", "ERROR", "CRITICAL")


def _severity_name(value: Any) -> Severity:
    if not isinstance(value, str) or value.upper() not in RELEVEL_SEVERITIES:
        raise ValueError(f"unknown severity {value!r} (known: {', '.join(RELEVEL_SEVERITIES)};"
                         " to silence a check, list it in checks.disabled)")
    return Severity[value.upper()]


def _severity_overrides(section: _Section) -> tuple[tuple[str, str, Severity], ...]:
    """`checks.severity`: CHECK: SEVERITY re-levels every tag of the check, CHECK: {TAG:
    SEVERITY} one tag (Zonemaster-profile style); IDs, tags and severities are checked
    against the registry, errors name file, line and key."""
    from probes.checks import CHECKS  # the registry

    out: dict[tuple[str, str], Severity] = {}
    for key, (key_node, value_node) in section.items.items():
        check = CHECKS.get(key.upper())
        if check is None:
            raise section.error(key_node, f"{section._name(key)}: unknown check ID "
                                          "(known: docs/checks.md)")
        if not check.relevel:
            raise section.error(key_node, f"{section._name(key)}: {check.id} is about this "
                                          "vantage point, not the zone: its severity is fixed")
        if isinstance(value_node, yaml.MappingNode):
            per_tag = _Section(value_node, section._name(key), section.source)
            for tag, (tag_node, _) in per_tag.items.items():
                if tag.upper() not in check.tags:
                    raise per_tag.error(tag_node, f"{per_tag._name(tag)}: {check.id} has no "
                                        f"tag {tag} (known: {', '.join(check.tags)})")
                out[check.id, tag.upper()] = per_tag.get(tag, _severity_name, Severity.OK)
            continue
        severity = section.get(key, _severity_name, Severity.OK)
        for tag in check.tags:
            out[check.id, tag] = severity
    return tuple((check_id, tag, sev) for (check_id, tag), sev in out.items())


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


def _zone_entry(root: _Section, index: int, node: yaml.Node) -> tuple[str, _Section]:
    """A `zones:` mapping entry: its zone name and the entry, unknown keys refused."""
    entry = _Section(node, f"zones[{index}]", root.source)
    entry.reject_unknown(ZONE_KEYS)
    if "name" not in entry.items:
        raise entry.error(node, f"{entry.path}.name: missing (the zone, e.g. name: fr)")
    return entry.get("name", parse_zone_name, ""), entry


def _zone_entries(root: _Section) -> list[tuple[str, _Section]]:
    """The `zones:` entries given as mappings, with their zone names."""
    if root.raw("zones") == ALL_CCTLDS:
        return []
    return [_zone_entry(root, index, node)
            for index, (_value, node) in enumerate(root.items_with_nodes("zones"))
            if isinstance(node, yaml.MappingNode)]


def _zone_overrides(root: _Section) -> tuple[ZoneOverride, ...]:
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
            serial_tolerance=entry.get("serial_tolerance", _int_in(0, 2**31 - 1), None),
            rtt_udp_threshold=thresholds.get("rtt_udp", _duration_in(0, 60), None),
            rtt_tcp_threshold=thresholds.get("rtt_tcp", _duration_in(0, 60), None),
            propagation_threshold=thresholds.get("propagation", _duration_in(0, 30 * 86400.0),
                                                 None),
        )
        if override.changes():
            found.append(override)
    return tuple(found)


def _with_zone_recipients(root: _Section, alerts: AlertsConfig) -> AlertsConfig:
    """`recipients:` of a zone entry: that zone's mail goes to them as well as to
    `alerts.recipients` (the same as `alerts.zone_recipients`, merged with it)."""
    from monitor.alerts_config import email_list

    merged = {zone: tuple(addresses) for zone, addresses in alerts.zone_recipients.items()}
    for zone, entry in _zone_entries(root):
        none: tuple[str, ...] = ()
        own = entry.get("recipients", email_list, none)
        if own:
            merged[zone] = tuple(dict.fromkeys((*merged.get(zone, ()), *own)))
    if merged == dict(alerts.zone_recipients):
        return alerts
    return replace(alerts, zone_recipients=merged)


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
            *PROBE_CAP_KEYS,
        }
    )
    thresholds = root.section("thresholds")
    thresholds.reject_unknown({"rtt_udp", "rtt_tcp", "serial_tolerance", "propagation"})
    checks = root.section("checks")
    checks.reject_unknown({"disabled", "severity"})
    disabled: frozenset[str] = checks.get("disabled", _check_ids, frozenset())
    overrides = _severity_overrides(checks.section("severity"))
    caps: dict[str, Any] = {**_probe_caps(probe)}  # typed for ProbeSettings(**caps)
    duration = _duration_in(0, 60)  # timeouts and RTT thresholds: at most a minute
    long_duration = _duration_in(0, 30 * 86400.0)
    return ProbeSettings(
        expectations=parse_expectations(root),
        zone_overrides=_zone_overrides(root),
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
        further_checks_interval=probe.get("further_checks_interval",
                                          _duration_in(0, 30 * 86400.0, zero=True),
                                          root_defaults.further_checks_interval),
        rtt_udp_threshold=thresholds.get("rtt_udp", duration, root_defaults.rtt_udp_threshold),
        rtt_tcp_threshold=thresholds.get("rtt_tcp", duration, root_defaults.rtt_tcp_threshold),
        serial_tolerance=thresholds.get("serial_tolerance", _int_in(0, 2**31 - 1), 0),
        propagation_threshold=thresholds.get(
            "propagation", long_duration, root_defaults.propagation_threshold
        ),
        disabled_checks=disabled,
        severity_overrides=overrides,
        **caps,
        **_vantage_settings(root),
    )


NONE: tuple[str, ...] = ()  # an empty list of addresses, typed


def _vantage_settings(root: _Section) -> dict[str, Any]:
    """The `vantage:` section: whom the control queries go to, how many must answer."""
    vantage = root.section("vantage")
    vantage.reject_unknown({"references", "min_answering"})
    defaults = ProbeSettings()
    return {
        "vantage_references": vantage.get("references", _address_list("parent", ()), NONE),
        "vantage_min_answering": vantage.get("min_answering", _int_in(1, 100),
                                             defaults.vantage_min_answering),
    }


TOP_LEVEL_KEYS = {
    "zones",
    "expect",
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
    "vantage",
}


# --- safe minimums and strict types ----------------------------------------


def _duration_in(low: float, high: float, *, zero: bool = False) -> Callable[[Any], float]:
    """A duration from ``low`` to ``high`` seconds (0 allowed only with ``zero``)."""

    def checked(value: Any) -> float:
        seconds = parse_duration(value)
        if (seconds == 0 and not zero) or not low <= seconds <= high:
            floor = "0" if zero else f"{_seconds(low)}" if low else "more than 0"
            raise ValueError(f"must be from {floor} to {_seconds(high)}, got {value!r}")
        return seconds

    return checked


def _seconds(value: float) -> str:
    return f"{value * 1000:g}ms" if value < 1 else f"{value:g}s"


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


PROBE_CAP_KEYS = ("max_nameservers", "max_addresses", "parse_cache_bytes")


def _probe_caps(probe: _Section) -> dict[str, int]:
    """probe.max_nameservers and probe.max_addresses: what one delegation may make us probe;
    probe.parse_cache_bytes: what the parse cache may hold."""
    d = ProbeSettings()
    return {
        "max_nameservers": probe.get("max_nameservers", _int_in(1, 1000), d.max_nameservers),
        "max_addresses": probe.get("max_addresses", _int_in(1, 2000), d.max_addresses),
        # Memory bounded in bytes; 0 turns the parse cache off, 1 GiB at most
        "parse_cache_bytes": probe.get("parse_cache_bytes", _int_in(0, 2**30),
                                       d.parse_cache_bytes),
    }


def _schedule(root: _Section, probe: ProbeSettings) -> ScheduleConfig:
    """interval >= 10 s; faster only with allow_fast_interval, which needs a lab parent."""
    schedule = root.section("schedule")
    schedule.reject_unknown({"interval", "jitter", "allow_fast_interval"})
    fast = schedule.get("allow_fast_interval", _boolean, False)
    if fast and set(probe.parent_addresses) & set(ROOT_HINTS):
        key_node = schedule.items["allow_fast_interval"][0]
        raise schedule.error(
            key_node,
            "schedule.allow_fast_interval: only for a lab world: needs `parent:` addresses "
            "of the lab, never the real root servers",
        )
    low = MIN_FAST_INTERVAL if fast else MIN_INTERVAL
    check = _duration_in(low, MAX_INTERVAL)

    def interval(value: Any) -> float:
        seconds = parse_duration(value)
        if seconds < MIN_INTERVAL and not fast:
            raise ValueError(
                f"at least {_seconds(MIN_INTERVAL)}, got {value!r} (faster sweeps are for a "
                "lab: schedule.allow_fast_interval: true with the lab as parent)"
            )
        return check(value)

    every = schedule.get("interval", interval, ScheduleConfig().interval)
    jitter = schedule.get("jitter", _duration_in(0, MAX_INTERVAL, zero=True), every)
    return ScheduleConfig(interval=every, jitter=jitter, allow_fast_interval=fast)


def _web(root: _Section) -> WebConfig:
    web = root.section("web")
    web.reject_unknown({"listen", "web_config_file", "external_url", "max_connections",
                        "read_header_timeout", "idle_timeout"})  # fmt: skip
    d = WebConfig()
    return WebConfig(
        listen=web.get("listen", parse_listen, DEFAULT_LISTEN),
        web_config_file=web.get("web_config_file", _optional_text, None),
        external_url=web.get("external_url", lambda v: str(v or ""), ""),
        max_connections=web.get("max_connections", _int_in(1, 4096), d.max_connections),
        read_header_timeout=web.get("read_header_timeout", _duration_in(0, 300),
                                    d.read_header_timeout),
        idle_timeout=web.get("idle_timeout", _duration_in(0, 3600), d.idle_timeout),
    )


def _refuse_aliases(text: str, source: str) -> None:
    """No YAML aliases: a few lines of ``*a`` nesting expand to gigabytes (an alias bomb).

    Found on the event stream, before any node or value is built, so refusing is fast."""
    if len(text) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{source}: {len(text)} characters; a config is at most 1 MiB")
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.AliasEvent):
                line = event.start_mark.line + 1 if event.start_mark is not None else "?"
                raise ConfigError(
                    f"{source}:{line}: YAML aliases (*{event.anchor}) "
                    "are not allowed in the config; write the value out"
                )
    except yaml.YAMLError:
        return  # compose() reports it with its position


def check_store_folder(config: Config) -> None:
    """The store's folder exists and is writable, or can be made: checked, nothing made.

    So that `ccmon run` says so in one line (exit 3) instead of an OSError traceback."""
    path = config.store.path
    if path == ":memory:":
        return
    target = os.path.abspath(path)
    if os.path.isdir(target):
        raise ConfigError(f"{config.source}: store.path: {path} is a folder, not a file")
    folder = os.path.dirname(target)
    existing = folder
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise ConfigError(
            f"{config.source}: store.path: cannot create folder {folder}: "
            f"{existing} is not a folder"
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        what = "write to folder" if existing == folder else "create folder"
        raise ConfigError(
            f"{config.source}: store.path: cannot {what} {folder}: {existing} is not writable"
        )


def parse_config(text: str, source: str = "config.yaml") -> Config:
    """Validate a config document; raises ConfigError naming the key and line."""
    _refuse_aliases(text, source)
    try:
        document = yaml.compose(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {exc}") from None
    root = _Section(document, "", source)
    if document is None:
        raise ConfigError(f"{source}: empty file; at least `zones:` is needed")
    root.reject_unknown(TOP_LEVEL_KEYS)
    store = root.section("store")
    store.reject_unknown({"path", "retention", "rollup_retention"})
    defaults = Config(zones=())
    zones = _zones(root)
    probe = _probe_settings(root)
    schedule = _schedule(root, probe)
    return Config(
        zones=zones,
        # A sweep round is the schedule's interval: the vantage is assessed once per round.
        probe=replace(probe, vantage_interval=schedule.interval),
        schedule=schedule,
        store=StoreConfig(
            path=store.get("path", _text, defaults.store.path),
            retention=store.get("retention", _positive(parse_duration), defaults.store.retention),
            rollup_retention=store.get(
                "rollup_retention", _positive(parse_duration), defaults.store.rollup_retention
            ),
        ),
        web=_web(root),
        alerts=_with_zone_recipients(root, parse_alerts(root.section("alerts"))),
        source=source,
    )


def parse_expectations(root: _Section) -> tuple[ZoneExpectation, ...]:
    """`expect:` (DELEG06): per zone the NS set (NAME, NAME=ADDR,... or {NAME: [ADDR]}) and
    DS set ("KEYTAG ALG DIGESTTYPE DIGEST") the registry intends at the parent; given in
    the top-level `expect:` section or as `expect:` of a `zones:` mapping entry."""
    from probes.names import InvalidZoneName

    section = root.section("expect")
    found: dict[str, ZoneExpectation] = {}
    zones = set(_zones(root)) if section.items else set()
    for key, (key_node, value_node) in section.items.items():
        try:
            zone = normalise_zone(str(key))
        except InvalidZoneName as exc:
            raise root.error(value_node, f"expect.{key}: {exc}") from None
        if zone not in zones:
            raise root.error(key_node, f"expect.{key}: {zone} is not in `zones:`")
        entry = _Section(value_node, f"expect.{key}", root.source)
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


def _expectation(zone: str, entry: _Section, node: yaml.Node) -> ZoneExpectation:
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
