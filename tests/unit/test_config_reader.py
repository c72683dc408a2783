"""The one reader kit: every converter once, the same rule wherever a value is read.

A listen address is read by config.yaml's `web.listen`, the `--web.listen-address` flag, the
CCMON_WEB_LISTEN_ADDRESS variable and the web server itself; check IDs by `checks.disabled`,
`checks.severity` and the alert rules; durations in every section. Each pair of readers
must agree on both sides of every boundary.
"""

from __future__ import annotations

import argparse

import pytest

from monitor import runtime_options
from monitor.cli import main
from monitor.config import (
    Config,
    ConfigError,
    listen_address,
    local_target,
    parse_config,
    parse_listen,
)
from monitor.errors import EXIT_CONFIG, InputError, MonitorError

ACCEPTED = [
    (":9153", (None, 9153)),
    ("0.0.0.0:9153", ("0.0.0.0", 9153)),
    ("127.0.0.1:1", ("127.0.0.1", 1)),
    ("[::1]:65535", ("::1", 65535)),
    ("[::]:9153", ("::", 9153)),
    ("[fe80::1%eth0]:9153", ("fe80::1%eth0", 9153)),  # link-local with its zone, as Go
    ("localhost:9153", ("localhost", 9153)),
    ("monitor.example.net:9153", ("monitor.example.net", 9153)),
    (" 127.0.0.1:9153 ", ("127.0.0.1", 9153)),
]
REFUSED = [
    "9153",  # no host part at all
    ":65536",
    "1.2.3.4:99999",
    "::1:9153",  # IPv6 without brackets: ambiguous
    "[127.0.0.1]:9153",  # brackets are for IPv6
    "a b:9153",
    "-bad-:9153",
    "host",
    "",
]


@pytest.mark.parametrize(("text", "parsed"), ACCEPTED)
def test_listen_accepted_by_every_reader(text: str, parsed: tuple[str | None, int]) -> None:
    assert parse_listen(text) == parsed
    assert listen_address(text) == text.strip()
    config = parse_config(f"zones: [fr]\nweb:\n  listen: '{text}'\n")
    assert config.web.listen == text.strip()
    args = argparse.Namespace(listen=text, web_config_file=None, store_path=None)
    assert runtime_options.apply_service_overrides(Config(zones=("fr",)), args, {}) \
        .web.listen == text.strip()


@pytest.mark.parametrize("text", REFUSED)
def test_listen_refused_by_every_reader(text: str) -> None:
    with pytest.raises(ValueError, match="bad listen address"):
        parse_listen(text)
    with pytest.raises(ConfigError) as caught:
        parse_config(f"zones: [fr]\nweb:\n  listen: '{text}'\n", "cfg.yaml")
    assert str(caught.value).startswith("cfg.yaml:3: web.listen: bad listen address")
    args = argparse.Namespace(listen=text, web_config_file=None, store_path=None)
    with pytest.raises(ConfigError, match=r"--web\.listen-address"):
        runtime_options.apply_service_overrides(Config(zones=("fr",)), args, {})


@pytest.mark.parametrize("text", [":0", "127.0.0.1:0", "[::1]:00"])
def test_port_zero_only_for_the_server_itself(text: str) -> None:
    """The server binds port 0 (any free port) in tests; a configured monitor never does."""
    assert parse_listen(text)[1] == 0
    with pytest.raises(ValueError, match="bad listen address"):
        listen_address(text)
    with pytest.raises(ConfigError) as caught:
        parse_config(f"zones: [fr]\nweb:\n  listen: '{text}'\n", "cfg.yaml")
    assert str(caught.value).startswith("cfg.yaml:3: web.listen: bad listen address")
    assert listen_address(text.replace(":0", ":1")) == text.replace(":0", ":1")


def test_local_target_reaches_every_address_form() -> None:
    assert local_target(":9153") == ("127.0.0.1", 9153)
    assert local_target("0.0.0.0:9153") == ("127.0.0.1", 9153)
    assert local_target("[::]:9153") == ("::1", 9153)
    assert local_target("[::1]:9153") == ("::1", 9153)
    assert local_target("localhost:9153") == ("localhost", 9153)


def test_bad_listen_flag_is_a_usage_error_exit_3(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["demo", "--listen", "a b:9153"])
    assert caught.value.code == EXIT_CONFIG
    assert "bad listen address" in capsys.readouterr().err


def test_durations_in_prometheus_grammar_in_every_section() -> None:
    config = parse_config(
        "zones: [fr]\nschedule:\n  interval: 1h30m\nstore:\n  retention: 2w3d\n"
        "alerts:\n  rate_limit: 1h30m\n  retry: {initial: 1m30s}\n"
    )
    assert config.schedule.interval == 5400.0
    assert config.store.retention == 17 * 86400.0
    assert config.alerts.rate_limit == 5400.0
    assert config.alerts.retry.initial == 90.0


@pytest.mark.parametrize(("section", "line", "key"), [
    ("checks:\n  disabled: LAME01\n", 3, "checks.disabled"),
    ("alerts:\n  rules:\n    - checks: LAME01\n      min_severity: ERROR\n", 4,
     "alerts.rules[0].checks"),
])  # fmt: skip
def test_a_bare_check_id_is_refused_everywhere(section: str, line: int, key: str) -> None:
    """One rule for a list of check IDs: a bare string is not silently a list of letters."""
    with pytest.raises(ConfigError) as caught:
        parse_config("zones: [fr]\n" + section, "cfg.yaml")
    assert str(caught.value).startswith(
        f"cfg.yaml:{line}: {key}: must be a list of check IDs"), caught.value


@pytest.mark.parametrize(("section", "line", "key"), [
    ("checks:\n  disabled: [NOPE99]\n", 3, "checks.disabled"),
    ("alerts:\n  rules:\n    - checks: [NOPE99]\n      min_severity: ERROR\n", 4,
     "alerts.rules[0].checks"),
])  # fmt: skip
def test_an_unknown_check_id_is_refused_everywhere(section: str, line: int, key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config("zones: [fr]\n" + section, "cfg.yaml")
    assert str(caught.value) == (f"cfg.yaml:{line}: {key}: unknown check ID(s) NOPE99 "
                                 "(known: docs/checks.md)")


def test_severity_relevel_refuses_an_unknown_severity_with_file_line_key() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config("zones: [fr]\nchecks:\n  severity: {SOA04: LOUD}\n", "cfg.yaml")
    assert str(caught.value).startswith("cfg.yaml:3: checks.severity.SOA04: unknown severity "
                                        "'LOUD'"), caught.value


def test_config_errors_are_monitor_errors_with_the_config_exit_status() -> None:
    with pytest.raises(MonitorError) as caught:
        parse_config("zones: [fr]\nprobe:\n  udp_timeout: fast\n", "cfg.yaml")
    assert isinstance(caught.value, ConfigError) and isinstance(caught.value, InputError)
    assert caught.value.exit_code == EXIT_CONFIG == 3
