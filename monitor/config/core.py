"""config.yaml → a frozen, validated Config: the core sections (zones, probe, thresholds,
checks, schedule, store, web, vantage); `zones:` and `expect:` are
:mod:`monitor.config.zones`, `alerts:` is :mod:`monitor.config.alerts`.

Read with the kit of :mod:`monitor.config.reader`, so every error names the file, the line
and the key, e.g. ``config.yaml:14: probe.udp_timeout: bad duration 'fast' (examples: 500ms,
2s, 5m, 1h30m, 30d)``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from monitor.config.alerts import AlertsConfig, parse_alerts
from monitor.config.reader import (
    ConfigError,
    Section,
    address_list,
    boolean,
    check_ids,
    compose,
    duration_in,
    int_in,
    listen_address,
    nonempty_text,
    optional_text,
    parse_duration,
    positive_duration,
    seconds_text,
    severity,
)
from monitor.config.zones import (
    parse_expectations,
    with_zone_recipients,
    zone_names,
    zone_overrides,
)
from probes.model import Severity
from probes.settings import ROOT_HINTS, ProbeSettings

DEFAULT_LISTEN = "127.0.0.1:9153"


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
    alerts: AlertsConfig = field(default_factory=AlertsConfig)  # monitor.config.alerts
    source: str = "<defaults>"


MIN_INTERVAL = 10.0  # s: schedule.interval below this only in a lab (allow_fast_interval)
MIN_FAST_INTERVAL = 0.1  # s: even a lab is not swept faster than this
MAX_INTERVAL = 86400.0
#: Severities a tag can be re-levelled to; OK is not one: `checks.disabled` silences a check.
RELEVEL_SEVERITIES = ("INFO", "NOTICE", "WARNING", "ERROR", "CRITICAL")


_severity_name = severity(RELEVEL_SEVERITIES, "; to silence a check, list it in checks.disabled")


def _disabled_checks(value: Any) -> frozenset[str]:
    """`checks.disabled`: a list of the registry's check IDs."""
    return check_ids(value) or frozenset()


def _severity_overrides(section: Section) -> tuple[tuple[str, str, Severity], ...]:
    """`checks.severity`: CHECK: SEVERITY re-levels every tag of the check, CHECK: {TAG:
    SEVERITY} one tag (Zonemaster-profile style); IDs, tags and severities are checked
    against the registry, errors name file, line and key."""
    from probes.checks import CHECKS  # the registry

    out: dict[tuple[str, str], Severity] = {}
    for key, (key_node, value_node) in section.items.items():
        check = CHECKS.get(key.upper())
        if check is None:
            raise section.error(key_node, f"{section.name(key)}: unknown check ID "
                                          "(known: docs/checks.md)")
        if not check.relevel:
            raise section.error(key_node, f"{section.name(key)}: {check.id} is about this "
                                          "vantage point, not the zone: its severity is fixed")
        if isinstance(value_node, yaml.MappingNode):
            per_tag = Section(value_node, section.name(key), section.source)
            for tag, (tag_node, _) in per_tag.items.items():
                if tag.upper() not in check.tags:
                    raise per_tag.error(tag_node, f"{per_tag.name(tag)}: {check.id} has no "
                                        f"tag {tag} (known: {', '.join(check.tags)})")
                out[check.id, tag.upper()] = per_tag.get(tag, _severity_name, Severity.OK)
            continue
        severity = section.get(key, _severity_name, Severity.OK)
        for tag in check.tags:
            out[check.id, tag] = severity
    return tuple((check_id, tag, sev) for (check_id, tag), sev in out.items())


def _probe_settings(root: Section) -> ProbeSettings:
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
    disabled: frozenset[str] = checks.get("disabled", _disabled_checks, frozenset[str]())
    overrides = _severity_overrides(checks.section("severity"))
    caps: dict[str, Any] = {**_probe_caps(probe)}  # typed for ProbeSettings(**caps)
    duration = duration_in(0, 60)  # timeouts and RTT thresholds: at most a minute
    long_duration = duration_in(0, 30 * 86400.0)
    return ProbeSettings(
        expectations=parse_expectations(root),
        zone_overrides=zone_overrides(root),
        parent_addresses=root.get("parent", address_list("root-hints", ROOT_HINTS), ROOT_HINTS),
        resolver=root.get("resolver", address_list("system", ()), ()),
        resolver_port=root.get("resolver_port", int_in(1, 65535), root_defaults.resolver_port),
        port=root.get("port", int_in(1, 65535), root_defaults.port),
        udp_timeout=probe.get("udp_timeout", duration, root_defaults.udp_timeout),
        udp_tries=probe.get("udp_tries", int_in(1, 5), root_defaults.udp_tries),
        tcp_timeout=probe.get("tcp_timeout", duration, root_defaults.tcp_timeout),
        per_address_in_flight=probe.get(
            "per_address_in_flight", int_in(1, 64), root_defaults.per_address_in_flight
        ),
        max_in_flight=probe.get("max_in_flight", int_in(1, 20000), root_defaults.max_in_flight),
        edns_buffer=probe.get("edns_buffer", int_in(512, 4096), root_defaults.edns_buffer),
        ipv6=probe.get("ipv6", boolean, root_defaults.ipv6),
        further_checks_interval=probe.get("further_checks_interval",
                                          duration_in(0, 30 * 86400.0, zero=True),
                                          root_defaults.further_checks_interval),
        rtt_udp_threshold=thresholds.get("rtt_udp", duration, root_defaults.rtt_udp_threshold),
        rtt_tcp_threshold=thresholds.get("rtt_tcp", duration, root_defaults.rtt_tcp_threshold),
        serial_tolerance=thresholds.get("serial_tolerance", int_in(0, 2**31 - 1), 0),
        propagation_threshold=thresholds.get(
            "propagation", long_duration, root_defaults.propagation_threshold
        ),
        disabled_checks=disabled,
        severity_overrides=overrides,
        **caps,
        **_vantage_settings(root),
    )


NONE: tuple[str, ...] = ()  # an empty list of addresses, typed


def _vantage_settings(root: Section) -> dict[str, Any]:
    """The `vantage:` section: whom the control queries go to, how many must answer."""
    vantage = root.section("vantage")
    vantage.reject_unknown({"references", "min_answering"})
    defaults = ProbeSettings()
    return {
        "vantage_references": vantage.get("references", address_list("parent", ()), NONE),
        "vantage_min_answering": vantage.get("min_answering", int_in(1, 100),
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


PROBE_CAP_KEYS = ("max_nameservers", "max_addresses", "parse_cache_bytes")


def _probe_caps(probe: Section) -> dict[str, int | None]:
    """probe.max_nameservers and probe.max_addresses: what one delegation may make us probe;
    probe.parse_cache_bytes: what the parse cache may hold."""
    d = ProbeSettings()
    return {
        "max_nameservers": probe.get("max_nameservers", int_in(1, 1000), d.max_nameservers),
        "max_addresses": probe.get("max_addresses", int_in(1, 2000), d.max_addresses),
        # Memory bounded in bytes; 0 turns the parse cache off, 1 GiB at most
        "parse_cache_bytes": probe.get("parse_cache_bytes", int_in(0, 2**30),
                                       d.parse_cache_bytes),
    }


def _schedule(root: Section, probe: ProbeSettings) -> ScheduleConfig:
    """interval >= 10 s; faster only with allow_fast_interval, which needs a lab parent."""
    schedule = root.section("schedule")
    schedule.reject_unknown({"interval", "jitter", "allow_fast_interval"})
    fast = schedule.get("allow_fast_interval", boolean, False)
    if fast and set(probe.parent_addresses) & set(ROOT_HINTS):
        key_node = schedule.items["allow_fast_interval"][0]
        raise schedule.error(
            key_node,
            "schedule.allow_fast_interval: only for a lab world: needs `parent:` addresses "
            "of the lab, never the real root servers",
        )
    low = MIN_FAST_INTERVAL if fast else MIN_INTERVAL
    check = duration_in(low, MAX_INTERVAL)

    def interval(value: Any) -> float:
        seconds = parse_duration(value)
        if seconds < MIN_INTERVAL and not fast:
            raise ValueError(
                f"at least {seconds_text(MIN_INTERVAL)}, got {value!r} (faster sweeps are for a "
                "lab: schedule.allow_fast_interval: true with the lab as parent)"
            )
        return check(value)

    every = schedule.get("interval", interval, ScheduleConfig().interval)
    jitter = schedule.get("jitter", duration_in(0, MAX_INTERVAL, zero=True), every)
    return ScheduleConfig(interval=every, jitter=jitter, allow_fast_interval=fast)


def _web(root: Section) -> WebConfig:
    web = root.section("web")
    web.reject_unknown({"listen", "web_config_file", "external_url", "max_connections",
                        "read_header_timeout", "idle_timeout"})  # fmt: skip
    d = WebConfig()
    return WebConfig(
        listen=web.get("listen", listen_address, DEFAULT_LISTEN),
        web_config_file=web.get("web_config_file", optional_text, None),
        external_url=web.get("external_url", lambda v: str(v or ""), ""),
        max_connections=web.get("max_connections", int_in(1, 4096), d.max_connections),
        read_header_timeout=web.get("read_header_timeout", duration_in(0, 300),
                                    d.read_header_timeout),
        idle_timeout=web.get("idle_timeout", duration_in(0, 3600), d.idle_timeout),
    )


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
    document = compose(text, source)
    root = Section(document, "", source)
    if document is None:
        raise ConfigError(f"{source}: empty file; at least `zones:` is needed")
    root.reject_unknown(TOP_LEVEL_KEYS)
    store = root.section("store")
    store.reject_unknown({"path", "retention", "rollup_retention"})
    defaults = Config(zones=())
    zones = zone_names(root)
    probe = _probe_settings(root)
    schedule = _schedule(root, probe)
    return Config(
        zones=zones,
        # A sweep round is the schedule's interval: the vantage is assessed once per round.
        probe=replace(probe, vantage_interval=schedule.interval),
        schedule=schedule,
        store=StoreConfig(
            path=store.get("path", nonempty_text, defaults.store.path),
            retention=store.get("retention", positive_duration, defaults.store.retention),
            rollup_retention=store.get(
                "rollup_retention", positive_duration, defaults.store.rollup_retention
            ),
        ),
        web=_web(root),
        alerts=with_zone_recipients(root, parse_alerts(root.section("alerts"))),
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
