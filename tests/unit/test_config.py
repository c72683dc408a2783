"""config.yaml validation: every bad input gets an error naming its key and line."""

import time

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


# --- safe minimums and strict types (issue 17) -------------------------------------------

LAB = "zones: [fr]\nparent: [127.53.0.1]\n"


@pytest.mark.parametrize("value", ["1ms", "500ms", "9999ms", "5s", 1])
def test_interval_under_10_s_is_refused_with_file_line_and_key(value):
    message = error_of(f"zones: [fr]\nschedule:\n  interval: {value}\n")
    assert message.startswith("cfg.yaml:3: schedule.interval: at least 10s")
    assert "allow_fast_interval" in message  # says how a lab gets faster sweeps


@pytest.mark.parametrize(("value", "seconds"), [("10s", 10.0), ("1d", 86400.0), (10, 10.0)])
def test_interval_from_10_s_to_a_day_is_accepted(value, seconds):
    assert parse_config(f"zones: [fr]\nschedule: {{interval: {value}}}\n").schedule.interval \
        == seconds


def test_interval_over_a_day_is_refused():
    assert "schedule.interval: must be from 10s to 86400s" in error_of(
        "zones: [fr]\nschedule: {interval: 86401s}\n")
    assert "schedule.interval: must be from 100ms to 86400s" in error_of(
        LAB + "schedule: {interval: 2d, allow_fast_interval: true}\n")


def test_a_lab_may_sweep_faster_but_not_absurdly_fast():
    config = parse_config(LAB + "schedule: {interval: 100ms, allow_fast_interval: true}\n")
    assert config.schedule.interval == 0.1 and config.schedule.allow_fast_interval
    message = error_of(LAB + "schedule:\n  interval: 1ms\n  allow_fast_interval: true\n")
    assert message.startswith("cfg.yaml:4: schedule.interval: must be from 100ms to 86400s")
    assert "99ms" in error_of(LAB + "schedule: {interval: 99ms, allow_fast_interval: true}\n")


@pytest.mark.parametrize("parent", ["", "parent: root-hints\n",
                                    "parent: [127.0.0.1, 198.41.0.4]\n"])
def test_fast_interval_is_never_allowed_with_the_real_root_as_parent(parent):
    message = error_of(f"zones: [fr]\n{parent}schedule:\n  interval: 2s\n"
                       "  allow_fast_interval: true\n")  # fmt: skip
    line = 5 if parent else 4
    assert message.startswith(f"cfg.yaml:{line}: schedule.allow_fast_interval: only for a lab")
    assert "real root servers" in message


@pytest.mark.parametrize(("key", "value"), [
    ("schedule:\n  interval", ".inf"), ("schedule:\n  interval", ".nan"),
    ("probe:\n  udp_timeout", ".inf"), ("probe:\n  tcp_timeout", ".nan"),
    ("store:\n  retention", ".inf"), ("store:\n  retention", "99999999999999999999999d"),
    ("thresholds:\n  propagation", "1e400"), ("probe:\n  further_checks_interval", ".inf"),
    ("schedule:\n  jitter", "-.inf"), ("alerts:\n  rate_limit", ".inf"),
])  # fmt: skip
def test_infinite_nan_and_huge_durations_are_refused_with_line_and_key(key, value):
    message = error_of(f"zones: [fr]\n{key}: {value}\n")
    dotted = key.replace(":\n  ", ".")
    assert message.startswith(f"cfg.yaml:3: {dotted}: "), message
    assert "bad duration" in message or "must be from" in message


@pytest.mark.parametrize(("key", "high", "over"), [
    ("probe.udp_timeout", "60s", "61s"), ("probe.tcp_timeout", "60s", "2m"),
    ("thresholds.rtt_udp", "60s", "60001ms"), ("thresholds.propagation", "30d", "31d"),
    ("probe.further_checks_interval", "30d", "31d"), ("schedule.jitter", "1d", "25h"),
    ("store.retention", "3650d", "3651d"), ("web.read_header_timeout", "5m", "301s"),
    ("web.idle_timeout", "1h", "61m"),
])  # fmt: skip
def test_durations_have_upper_bounds_on_both_sides(key, high, over):
    section, name = key.split(".")
    parse_config(f"zones: [fr]\n{section}:\n  {name}: {high}\n")
    message = error_of(f"zones: [fr]\n{section}:\n  {name}: {over}\n")
    assert message.startswith(f"cfg.yaml:3: {key}:"), message


def test_parse_duration_refuses_non_finite_and_over_ten_years():
    for bad in (float("inf"), float("nan"), 10**400, "3651d", True, -1):
        with pytest.raises(ValueError):
            parse_duration(bad)
    assert parse_duration("3650d") == 3650 * 86400


@pytest.mark.parametrize(("line", "shown"), [(2, "null"), (3, "true"), (4, "42")])
def test_zone_entries_must_be_text_null_bool_int_refused(line, shown):
    text = "zones:\n" + "".join(f"  - {v}\n" for v in ["null", "yes", "42"][line - 2:])
    message = error_of(text)
    assert message.startswith(f"cfg.yaml:2: zones: {shown} is not a zone name"), message


def test_zones_null_yes_42_inline_is_refused_at_the_first_bad_entry():
    assert error_of("zones: [null, yes, 42]\n").startswith("cfg.yaml:1: zones: null is not")


def test_unquoted_norway_gets_a_hint():
    message = error_of("zones: [fr, no]\n")
    assert "false is not a zone name" in message and "quote it" in message
    assert parse_config("zones: [fr, 'no']\n").zones == ("fr", "no")


@pytest.mark.parametrize("name", ["'*'", "'*.fr'", "1.2.3.4", "'::1'", "'[2001:db8::1]'",
                                  "'-fr'", "'fr-'", "'f_r'", "'fr..'", "'123'", "'a.1'"])
def test_wildcards_addresses_and_non_host_names_are_refused(name):
    message = error_of(f"zones:\n  - fr\n  - {name}\n")
    assert message.startswith("cfg.yaml:3: zones: "), message


@pytest.mark.parametrize(("name", "zone"), [("fr", "fr"), ("中国", "xn--fiqs8s"),
                                            ("XN--FIQS8S.", "xn--fiqs8s"), ("co.uk", "co.uk"),
                                            ("1x.example", "1x.example")])
def test_host_names_stay_accepted(name, zone):
    assert parse_config(f"zones: ['{name}']\n").zones == (zone,)


def test_yaml_alias_bomb_is_refused_fast_naming_the_line():
    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 12):
        prev = chr(ord("a") + i - 1)
        lines.append(f"{chr(ord('a') + i)}: &{chr(ord('a') + i)} [{', '.join(['*' + prev] * 10)}]")
    lines.append("zones: [fr]")
    start = time.monotonic()
    message = error_of("\n".join(lines) + "\n")
    took = time.monotonic() - start
    assert message.startswith("cfg.yaml:2: YAML aliases (*a) are not allowed"), message
    assert took < 1.0, f"refusing the alias bomb took {took:.2f} s"  # 10**12 nodes if expanded


def test_an_oversized_config_is_refused():
    assert "at most 1 MiB" in error_of("zones: [fr]\n" + "#" * (1024 * 1024) + "\n")


def test_web_limits_are_read_and_checked():
    config = parse_config("zones: [fr]\nweb:\n  max_connections: 10\n  read_header_timeout: 2s\n"
                          "  idle_timeout: 30s\n")  # fmt: skip
    assert (config.web.max_connections, config.web.read_header_timeout,
            config.web.idle_timeout) == (10, 2.0, 30.0)
    assert parse_config("zones: [fr]\n").web.max_connections == 64
    assert error_of("zones: [fr]\nweb:\n  max_connections: 0\n").startswith(
        "cfg.yaml:3: web.max_connections: must be a whole number from 1 to 4096")
    assert "web.max_connections" in error_of("zones: [fr]\nweb: {max_connections: 4097}\n")


# --- the command line: every number range-checked, exit 3, the flag named ---------------


@pytest.mark.parametrize(("argv", "flag"), [
    (["check", "fr", "--port", "70000"], "--port"), (["check", "fr", "--port", "0"], "--port"),
    (["check", "fr", "--port", "x"], "--port"), (["check", "fr", "--udp-timeout", "nan"],
    "--udp-timeout"), (["check", "fr", "--udp-timeout", "inf"], "--udp-timeout"),
    (["check", "fr", "--tcp-timeout", "0"], "--tcp-timeout"),
    (["check", "fr", "--tcp-timeout", "61"], "--tcp-timeout"),
    (["demo", "--port", "65536"], "--port"), (["demo", "--listen", "nowhere"], "--listen"),
])  # fmt: skip
def test_cli_numbers_out_of_range_exit_3_naming_the_flag(argv, flag, capsys):
    with pytest.raises(SystemExit) as caught:
        main(argv)
    assert caught.value.code == 3
    err = capsys.readouterr().err
    assert f"error: argument {flag}: " in err and "Traceback" not in err


def test_cli_numbers_at_the_edges_of_their_range_are_accepted():
    from monitor.cli import _parser

    args = _parser().parse_args(["check", "fr", "--port", "65535", "--udp-timeout", "60",
                                 "--tcp-timeout", "0.001"])  # fmt: skip
    assert (args.port, args.udp_timeout, args.tcp_timeout) == (65535, 60.0, 0.001)
    assert _parser().parse_args(["check", "fr", "--port", "1"]).port == 1


@pytest.mark.parametrize("zone", ["*", "192.0.2.1", "a_b"])
def test_cli_zone_names_are_checked_like_the_config(zone, capsys):
    assert main(["check", zone, "--root", "127.0.0.1"]) == 3
    assert "zone on the command line: " in capsys.readouterr().err


@pytest.mark.parametrize("bad", ["schedule: {interval: 1ms}", "schedule: {interval: .inf}",
                                 "probe: {udp_timeout: .nan}", "alerts: {rate_limit: 1e999}"])
def test_run_refuses_bad_config_and_creates_nothing(tmp_path, capsys, bad):
    zones = "zones: [fr]\n"
    path = tmp_path / "config.yaml"
    path.write_text(f"{zones}{bad}\nstore: {{path: {tmp_path / 'data' / 'ccmon.sqlite'}}}\n")
    assert main(["run", "--config", str(path)]) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "config.yaml:2: " in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.yaml"]


def test_run_refuses_zones_null_yes_42_and_creates_nothing(tmp_path, capsys):
    path = tmp_path / "config.yaml"
    path.write_text(f"zones: [null, yes, 42]\nstore: {{path: {tmp_path / 'ccmon.sqlite'}}}\n")
    assert main(["run", "--config", str(path)]) == 3
    assert "config.yaml:1: zones: null is not a zone name" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.yaml"]


def test_uncreatable_store_folder_is_one_line_exit_3_nothing_created(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    path = tmp_path / "config.yaml"
    path.write_text(f"zones: [fr]\nstore: {{path: {blocker / 'sub' / 'ccmon.sqlite'}}}\n")
    assert main(["run", "--config", str(path)]) == 3
    err = capsys.readouterr().err
    assert err == (f"ccmon: {path}: store.path: cannot create folder {blocker / 'sub'}: "
                   f"{blocker} is not a folder\n")  # fmt: skip
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.yaml", "file"]
    path.write_text(f"zones: [fr]\nstore: {{path: {tmp_path}}}\n")
    assert main(["run", "--config", str(path)]) == 3
    assert "is a folder, not a file" in capsys.readouterr().err


def test_store_folder_check_passes_for_a_folder_to_be_made(tmp_path):
    from monitor.config import check_store_folder

    config = parse_config(f"zones: [fr]\nstore: {{path: {tmp_path / 'a' / 'b' / 'x.sqlite'}}}\n")
    check_store_folder(config)  # no error, and nothing made
    assert list(tmp_path.iterdir()) == []


def test_invalid_punycode_zone_is_refused():
    assert error_of("zones: [fr, xn--a]\n").startswith(
        "cfg.yaml:1: zones: invalid zone name 'xn--a': 'xn--a' is not a valid IDN A-label")
    assert parse_config("zones: [xn--fiqs8s]\n").zones == ("xn--fiqs8s",)


def test_caps_on_name_servers_and_addresses_per_zone():
    config = parse_config("zones: [fr]\nprobe:\n  max_nameservers: 13\n  max_addresses: 26\n")
    assert (config.probe.max_nameservers, config.probe.max_addresses) == (13, 26)
    defaults = parse_config("zones: [fr]\n").probe
    assert (defaults.max_nameservers, defaults.max_addresses) == (32, 64)
    assert error_of("zones: [fr]\nprobe:\n  max_nameservers: 0\n").startswith(
        "cfg.yaml:3: probe.max_nameservers: must be a whole number from 1 to 1000")
    assert "probe.max_addresses" in error_of("zones: [fr]\nprobe: {max_addresses: 2001}\n")
    assert "probe.max_addresses" in error_of("zones: [fr]\nprobe: {max_addresses: .inf}\n")


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


# --- the check registry is the vocabulary; durations in Prometheus's grammar ----------------


@pytest.mark.parametrize(("value", "expected"), [
    ("LAME01", "checks.disabled: must be a list of check IDs, e.g. [LAME01]"),
    ("[NOPE99]", "checks.disabled: unknown check ID(s) NOPE99"),
    ("[LAME01, SOA99]", "checks.disabled: unknown check ID(s) SOA99"),
])  # fmt: skip
def test_disabled_checks_are_ids_of_the_registry(value, expected):
    message = error_of(f"zones: [fr]\nchecks:\n  disabled: {value}\n")
    assert message.startswith(f"cfg.yaml:3: {expected}"), message


def test_disabled_checks_accepted_in_any_case():
    config = parse_config("zones: [fr]\nchecks:\n  disabled: [LAME01, soa04]\n")
    assert config.probe.disabled_checks == frozenset({"LAME01", "SOA04"})


@pytest.mark.parametrize(("text", "seconds"), [
    ("1h30m", 5400.0), ("2d12h", 216000.0), ("1m30s", 90.0), ("1s500ms", 1.5), ("1w", 604800.0),
    ("1.5s", 1.5), ("90", 90.0), (45, 45.0),
])  # fmt: skip
def test_durations_in_prometheus_grammar(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["30m1h", "1h1h", "1h 30m", "h", "1x", "-5s", ""])
def test_durations_out_of_grammar_refused(text):
    with pytest.raises(ValueError, match="bad duration"):
        parse_duration(text)
