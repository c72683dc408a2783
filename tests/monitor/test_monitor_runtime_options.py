"""Flags and CCMON_* environment over the config file; log formats; the healthcheck's
reading of the store."""

from __future__ import annotations

import argparse
import json
import logging
import sqlite3
from pathlib import Path

import pytest

from monitor import logs, runtime_options
from monitor.config import Config, ConfigError, ScheduleConfig, StoreConfig, parse_config
from monitor.healthcheck import Unhealthy, store_freshness


def _args(**values: str | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    runtime_options.add_service_flags(parser)
    runtime_options.add_logging_flags(parser)
    argv = [f"--{k.replace('_', '-') if k.startswith('log') else k}={v}"
            for k, v in values.items() if v is not None]
    return parser.parse_args(argv)


def test_flag_beats_environment_beats_file() -> None:
    config = parse_config("zones: [fr]\nweb: {listen: '127.0.0.1:9153'}\nstore: {path: a.db}\n")
    env = {"CCMON_WEB_LISTEN_ADDRESS": ":9200", "CCMON_STORE_PATH": "/var/lib/ccmon/x.db"}
    from_env = runtime_options.apply_service_overrides(config, _args(), env)
    assert from_env.web.listen == ":9200" and from_env.store.path == "/var/lib/ccmon/x.db"
    from_flag = runtime_options.apply_service_overrides(
        config, _args(**{"web.listen-address": "0.0.0.0:9300"}), env)
    assert from_flag.web.listen == "0.0.0.0:9300"
    untouched = runtime_options.apply_service_overrides(config, _args(), {})
    assert untouched.web == config.web and untouched.store == config.store


def test_config_path_from_environment() -> None:
    assert runtime_options.config_path(_args(), {"CCMON_CONFIG": "/etc/ccmon/c.yaml"}) \
        == "/etc/ccmon/c.yaml"
    assert runtime_options.config_path(_args(), {}) == "config.yaml"


@pytest.mark.parametrize("bad", ["9153", "host", "1.2.3.4:70000", "[::1]"])
def test_bad_listen_from_environment_is_named(bad: str) -> None:
    with pytest.raises(ConfigError, match="CCMON_WEB_LISTEN_ADDRESS"):
        runtime_options.apply_service_overrides(Config(zones=("fr",)), _args(),
                                                {"CCMON_WEB_LISTEN_ADDRESS": bad})


def test_colon_port_listens_everywhere_in_the_config_too() -> None:
    assert parse_config("zones: [fr]\nweb: {listen: ':9153'}\n").web.listen == ":9153"


def _record(**extra: object) -> logging.LogRecord:
    record = logging.LogRecord("ccmon.alerts", logging.WARNING, __file__, 1,
                               "mail to %s failed", ("noc@example.org",), None)
    for key, value in extra.items():
        setattr(record, key, value)
    return record


def test_json_lines_carry_context_fields() -> None:
    line = logs.JsonFormatter().format(_record(zone="fr", check="LAME01", address="192.0.2.1"))
    event = json.loads(line)
    assert event["level"] == "warning" and event["msg"] == "mail to noc@example.org failed"
    assert (event["zone"], event["check"], event["address"]) == ("fr", "LAME01", "192.0.2.1")
    assert event["ts"].endswith("Z") and "\n" not in line


def test_logfmt_quotes_what_needs_it() -> None:
    line = logs.LogfmtFormatter().format(_record(zone="xn--fiqs8s", nameserver='a "b"'))
    assert 'msg="mail to noc@example.org failed"' in line and "zone=xn--fiqs8s" in line
    assert 'nameserver="a \\"b\\""' in line and "level=warning" in line


def test_traceback_stays_one_event() -> None:
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        import sys

        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    assert "\n" not in logs.JsonFormatter().format(record)
    assert "\n" not in logs.LogfmtFormatter().format(record)


@pytest.mark.parametrize(("level", "fmt"), [("loud", "text"), ("info", "xml")])
def test_unknown_level_or_format_refused(level: str, fmt: str) -> None:
    with pytest.raises(ValueError):
        logs.configure(level, fmt)


def _store(path: Path, finished_at: float | None) -> Config:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE latest (zone TEXT PRIMARY KEY, finished_at REAL, report TEXT)")
        if finished_at is not None:
            db.execute("INSERT INTO latest VALUES ('fr', ?, '{}')", (finished_at,))
    return Config(zones=("fr",), schedule=ScheduleConfig(interval=60, jitter=0),
                  store=StoreConfig(path=str(path)))


def test_store_freshness_boundary(tmp_path: Path) -> None:
    config = _store(tmp_path / "s.db", 1000.0)
    assert "180.0 s ago" in store_freshness(config, now=1180.0)  # 3 intervals: still fresh
    with pytest.raises(Unhealthy, match=r"181 s ago \(limit 180 s\)"):
        store_freshness(config, now=1181.0)


def test_store_without_sweeps_or_missing_is_unhealthy(tmp_path: Path) -> None:
    with pytest.raises(Unhealthy, match="no sweep recorded"):
        store_freshness(_store(tmp_path / "empty.db", None))
    missing = Config(zones=("fr",), store=StoreConfig(path=str(tmp_path / "none.db")))
    with pytest.raises(Unhealthy, match="unable to open"):
        store_freshness(missing)
