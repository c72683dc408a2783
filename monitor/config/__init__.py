"""Every configuration file ccmon reads, with one reader kit.

- :mod:`monitor.config.reader`: YAML nodes with their lines, :class:`ConfigError`, and every
  converter once (durations in Prometheus's grammar, ports, addresses, listen addresses,
  check IDs of the registry, severities);
- :mod:`monitor.config.core`: config.yaml and its core sections → :class:`Config`;
- :mod:`monitor.config.zones`: its ``zones:`` (names, per-zone overrides) and ``expect:``;
- :mod:`monitor.config.alerts`: its ``alerts:`` section → :class:`AlertsConfig` (maintenance
  windows: :mod:`monitor.config.maintenance`);
- :mod:`monitor.config.webconfig`: the exporter-toolkit web-config file (TLS, basic auth).

The names other modules use are re-exported here (``from monitor.config import Config``).
"""

from monitor.config.core import (
    DEFAULT_LISTEN,
    MAX_INTERVAL,
    MIN_FAST_INTERVAL,
    MIN_INTERVAL,
    RELEVEL_SEVERITIES,
    Config,
    ScheduleConfig,
    StoreConfig,
    WebConfig,
    check_store_folder,
    load_config,
    parse_config,
    with_overrides,
)
from monitor.config.reader import (
    MAX_CONFIG_BYTES,
    MAX_DURATION,
    ConfigError,
    listen_address,
    local_target,
    parse_address,
    parse_duration,
    parse_listen,
)
from monitor.config.zones import ALL_CCTLDS, all_cctlds, parse_zone_name

__all__ = [
    "ALL_CCTLDS",
    "DEFAULT_LISTEN",
    "MAX_CONFIG_BYTES",
    "MAX_DURATION",
    "MAX_INTERVAL",
    "MIN_FAST_INTERVAL",
    "MIN_INTERVAL",
    "RELEVEL_SEVERITIES",
    "Config",
    "ConfigError",
    "ScheduleConfig",
    "StoreConfig",
    "WebConfig",
    "all_cctlds",
    "check_store_folder",
    "listen_address",
    "load_config",
    "local_target",
    "parse_address",
    "parse_config",
    "parse_duration",
    "parse_listen",
    "parse_zone_name",
    "with_overrides",
]
