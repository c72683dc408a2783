"""What a container or a unit file sets without editing config.yaml: flags named as the
Prometheus exporters name theirs, and `CCMON_*` environment variables. A flag beats the
environment, which beats the config file.

| flag                     | environment                 | config key            |
| ------------------------ | --------------------------- | --------------------- |
| `--config`               | `CCMON_CONFIG`              | (the file itself)     |
| `--web.listen-address`   | `CCMON_WEB_LISTEN_ADDRESS`  | `web.listen`          |
| `--web.config.file`      | `CCMON_WEB_CONFIG_FILE`     | `web.web_config_file` |
| `--store.path`           | `CCMON_STORE_PATH`          | `store.path`          |
| `--log-level`            | `CCMON_LOG_LEVEL`           |                       |
| `--log-format`           | `CCMON_LOG_FORMAT`          |                       |
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from dataclasses import replace

from monitor import logs
from monitor.config import Config, ConfigError, listen_address

DEFAULT_CONFIG = "config.yaml"
ENV = {
    "config": "CCMON_CONFIG",
    "listen": "CCMON_WEB_LISTEN_ADDRESS",
    "web_config_file": "CCMON_WEB_CONFIG_FILE",
    "store_path": "CCMON_STORE_PATH",
    "log_level": "CCMON_LOG_LEVEL",
    "log_format": "CCMON_LOG_FORMAT",
}


def add_logging_flags(parser: argparse.ArgumentParser) -> None:
    """Add --log-level and --log-format to a command's parser."""
    parser.add_argument("--log-level", choices=logs.LEVELS, help="least severe level logged "
                        f"(default info; env {ENV['log_level']})")
    parser.add_argument("--log-format", choices=logs.FORMATS, help="one event per line as "
                        f"text, logfmt or JSON (default text; env {ENV['log_format']})")


def add_service_flags(parser: argparse.ArgumentParser) -> None:
    """The flags of `ccmon run` and `ccmon healthcheck`."""
    parser.add_argument("--config", "-c", help=f"config file (default ./{DEFAULT_CONFIG}; "
                        f"env {ENV['config']})")
    parser.add_argument("--web.listen-address", dest="listen", metavar="HOST:PORT",
                        help=f"where to serve HTTP, e.g. :9153 (env {ENV['listen']})")
    parser.add_argument("--web.config.file", dest="web_config_file", metavar="FILE",
                        help=f"exporter-toolkit web-config: TLS, basic auth "
                        f"(env {ENV['web_config_file']})")
    parser.add_argument("--store.path", dest="store_path", metavar="FILE",
                        help=f"the SQLite store (env {ENV['store_path']})")


def _pick(args: argparse.Namespace, name: str, environ: Mapping[str, str]) -> str | None:
    value = getattr(args, name, None)
    if value is None:
        value = environ.get(ENV[name]) or None
    return value


def config_path(args: argparse.Namespace, environ: Mapping[str, str] = os.environ) -> str:
    """The config file: --config, else CCMON_CONFIG, else DEFAULT_CONFIG."""
    return _pick(args, "config", environ) or DEFAULT_CONFIG


def apply_service_overrides(
    config: Config, args: argparse.Namespace, environ: Mapping[str, str] = os.environ
) -> Config:
    """The config with the flags' and environment's listen address, web config and store."""
    web, store = config.web, config.store
    if (address := _pick(args, "listen", environ)) is not None:
        try:
            listen_address(address)
        except ValueError as exc:
            raise ConfigError(f"--web.listen-address/{ENV['listen']}: {exc}") from None
        web = replace(web, listen=address.strip())
    if (path := _pick(args, "web_config_file", environ)) is not None:
        web = replace(web, web_config_file=path)
    if (path := _pick(args, "store_path", environ)) is not None:
        store = replace(store, path=path)
    return replace(config, web=web, store=store)


def configure_logging(args: argparse.Namespace, environ: Mapping[str, str] = os.environ) -> None:
    """Set up logging from the flags or the environment; ConfigError for a bad value."""
    level = _pick(args, "log_level", environ) or "info"
    fmt = _pick(args, "log_format", environ) or "text"
    try:
        logs.configure(level.lower(), fmt.lower())
    except ValueError as exc:
        raise ConfigError(f"{ENV['log_level']}/{ENV['log_format']}: {exc}") from None
