"""config.yaml validation: every bad input gets an error naming its key and line."""

import pytest

from monitor.cli import main
from monitor.config import ConfigError, load_config, parse_config, parse_duration
from probes.settings import ROOT_HINTS


def error_of(text):
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "cfg.yaml")
    return str(caught.value)


def test_minimal_config_gets_the_documented_defaults():
    config = parse_config("zones: [fr, NL., 中国]\n")
    assert config.zones == ("fr", "nl", "xn--fiqs8s")
    assert config.probe.parent_addresses == ROOT_HINTS
    assert config.probe.resolver == ()
    assert config.probe.rtt_udp_threshold == 0.5
    assert config.probe.rtt_tcp_threshold == 1.5
    assert config.schedule.interval == 60.0
    assert config.web.listen == "127.0.0.1:9153"


def test_full_config_is_read():
    config = parse_config(
        "zones: [fr]\nparent: [127.53.0.1]\nresolver: 127.53.0.2\nport: 5300\n"
        "probe:\n  udp_timeout: 800ms\n  udp_tries: 3\nthresholds:\n  rtt_udp: 250ms\n"
        "schedule:\n  interval: 2m\n  jitter: 10s\nstore:\n  retention: 7d\n"
    )
    assert config.probe.parent_addresses == ("127.53.0.1",)
    assert config.probe.resolver == ("127.53.0.2",)
    assert config.probe.port == 5300
    assert config.probe.udp_timeout == 0.8
    assert config.probe.udp_tries == 3
    assert config.probe.rtt_udp_threshold == 0.25
    assert config.schedule.interval == 120.0
    assert config.schedule.jitter == 10.0
    assert config.store.retention == 7 * 86400


def test_all_cctlds_expands_to_every_delegated_cctld():
    zones = parse_config("zones: all-cctlds\n").zones
    assert len(zones) == 309
    assert {"fr", "de", "xn--fiqs8s", "ke"} <= set(zones)


def test_unknown_key_names_key_and_line():
    message = error_of("zones: [fr]\nprobe:\n  udp_timout: 2s\n")
    assert message.startswith("cfg.yaml:3: probe.udp_timout: unknown key")


def test_unknown_top_level_key():
    assert error_of("zones: [fr]\nzone: [de]\n").startswith("cfg.yaml:2: zone: unknown key")


def test_bad_duration_names_key_and_line():
    message = error_of("zones: [fr]\n\nschedule:\n  interval: often\n")
    assert message.startswith("cfg.yaml:4: schedule.interval: bad duration 'often'")


@pytest.mark.parametrize("value", ["0s", "-1", "0"])
def test_non_positive_timeout_is_refused(value):
    assert "probe.udp_timeout" in error_of(f"zones: [fr]\nprobe:\n  udp_timeout: {value}\n")


def test_bad_address_names_key_and_line():
    message = error_of("zones: [fr]\nparent:\n  - 127.53.0.1\n  - 300.1.1.1\n")
    assert message.startswith("cfg.yaml:3: parent: bad address '300.1.1.1'")


def test_bad_zone_name_and_duplicate_zone():
    assert error_of("zones: [fr, 'a b']\n").startswith("cfg.yaml:1: zones: invalid zone name")
    assert "fr listed twice" in error_of("zones:\n  - fr\n  - FR.\n")


def test_missing_zones_and_empty_file_and_broken_yaml():
    assert "zones: missing" in error_of("port: 53\n")
    assert "empty file" in error_of("")
    assert "not valid YAML" in error_of("zones: [fr\n")
    assert "must be a mapping" in error_of("- fr\n")


def test_wrong_types():
    assert "probe.ipv6: must be true or false" in error_of("zones: [fr]\nprobe:\n  ipv6: maybe\n")
    assert "port: must be a whole number" in error_of("zones: [fr]\nport: 70000\n")


@pytest.mark.parametrize(("text", "seconds"), [("500ms", 0.5), ("2s", 2), ("5m", 300),
                                               ("1h", 3600), ("30d", 2592000), (3, 3.0)])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


def test_cli_exits_3_on_bad_config_and_runs_nothing(tmp_path, capsys):
    path = tmp_path / "config.yaml"
    path.write_text("zones: [fr]\nprobe:\n  udp_timeout: soon\n")
    assert main(["check", "--config", str(path)]) == 3
    assert "config.yaml:3: probe.udp_timeout: bad duration" in capsys.readouterr().err
    assert main(["run", "--config", str(path)]) == 3


def test_cli_exits_3_on_unreadable_config(tmp_path, capsys):
    assert main(["check", "--config", str(tmp_path / "missing.yaml")]) == 3
    assert "cannot read" in capsys.readouterr().err


def test_cli_exits_3_on_bad_flag_values(capsys):
    assert main(["check", "fr", "--root", "not-an-address"]) == 3
    assert "bad address" in capsys.readouterr().err


def test_repository_config_is_valid():
    config = load_config("config.yaml")
    assert "fr" in config.zones and "xn--fiqs8s" in config.zones


def test_cli_internal_error_is_unknown_not_a_crash(monkeypatch, capsys):
    import monitor.cli

    async def broken(config):
        raise RuntimeError("a bug")

    monkeypatch.setattr(monitor.cli, "check_zones", broken)
    assert main(["check", "fr", "--root", "127.0.0.1"]) == 3
    err = capsys.readouterr().err
    assert "RuntimeError: a bug" in err and "internal error" in err


def test_vantage_defaults_follow_the_parent_and_the_round():
    config = parse_config("zones: [fr]\nschedule:\n  interval: 30s\n")
    assert config.probe.vantage_references == ()  # = the parent's own servers
    assert config.probe.vantage_min_answering == 4
    assert config.probe.vantage_interval == 30.0


def test_vantage_section_is_read():
    config = parse_config("zones: [fr]\nvantage:\n  references: [127.53.0.1, '::1']\n"
                          "  min_answering: 1\n")
    assert config.probe.vantage_references == ("127.53.0.1", "::1")
    assert config.probe.vantage_min_answering == 1
    assert parse_config("zones: [fr]\nvantage:\n  references: parent\n"
                        ).probe.vantage_references == ()


@pytest.mark.parametrize(("text", "start"), [
    ("vantage:\n  refrences: parent\n", "cfg.yaml:3: vantage.refrences: unknown key"),
    ("vantage:\n  min_answering: 0\n", "cfg.yaml:3: vantage.min_answering:"),
    ("vantage:\n  min_answering: many\n", "cfg.yaml:3: vantage.min_answering:"),
    ("vantage:\n  references: [127.53.0.1, 'x.y']\n", "cfg.yaml:3: vantage.references: bad"),
])
def test_bad_vantage_keys_name_key_and_line(text, start):
    assert error_of("zones: [fr]\n" + text).startswith(start)
