"""The `alerts:` section of config.yaml: defaults, and errors that name the key and line."""

from __future__ import annotations

import pytest

from monitor.config import ConfigError, parse_config
from monitor.config.alerts import DEFAULT_RULES, AlertsConfig
from probes.model import Severity


def alerts(text: str) -> AlertsConfig:
    return parse_config("zones: [fr, de]\nalerts:\n" + text).alerts


def test_defaults_follow_icann_and_the_issue():
    config = parse_config("zones: [fr]\n").alerts
    assert (config.open_after, config.close_after, config.rate_limit) == (3, 3, 900.0)
    assert config.rules == DEFAULT_RULES
    assert config.alerting("LAME01", Severity.ERROR)
    assert config.alerting("SOA01", Severity.WARNING)
    assert not config.alerting("RTT01", Severity.WARNING)
    assert not config.alerting("LAME01", Severity.NOTICE)


def test_full_section():
    config = alerts("""
  open_after: 2
  close_after: 4
  rules:
    - checks: [rtt01, RTT02]
      min_severity: warning
  recipients: noc@example.net
  zone_recipients:
    FR.: [hostmaster@example.fr, noc@example.net]
    中国: [cn@example.cn]
  rate_limit: 5m
  retry: {initial: 10s, max: 10m, give_up_after: 1d}
  smtp:
    host: mail.example.net
    port: 587
    starttls: true
    username: ccmon
    password_env: CCMON_SMTP_PASSWORD
    from: ccmon@example.net
    timeout: 20s
""")
    assert (config.open_after, config.close_after, config.rate_limit) == (2, 4, 300.0)
    assert config.alerting("RTT02", Severity.WARNING) and not config.alerting("LAME01",
                                                                              Severity.ERROR)
    assert config.recipients_for("fr") == ("noc@example.net", "hostmaster@example.fr")
    assert config.recipients_for("xn--fiqs8s") == ("noc@example.net", "cn@example.cn")
    assert config.recipients_for("de") == ("noc@example.net",)
    assert (config.retry.initial, config.retry.max, config.retry.give_up_after) == (
        10.0, 600.0, 86400.0)
    smtp = config.smtp
    assert (smtp.host, smtp.port, smtp.starttls, smtp.ssl, smtp.sender, smtp.timeout) == (
        "mail.example.net", 587, True, False, "ccmon@example.net", 20.0)
    assert "CCMON_SMTP_PASSWORD" in repr(smtp) and "password=" not in repr(smtp)


@pytest.mark.parametrize("text, error", [
    ("  open_after: 0\n", "config.yaml:3: alerts.open_after: must be a whole number of at least 1"),
    ("  close_after: two\n", "config.yaml:3: alerts.close_after: must be a whole number"),
    ("  bogus: 1\n", "config.yaml:3: alerts.bogus: unknown key"),
    ("  rules:\n    - checks: [XX01]\n      min_severity: ERROR\n",
     "config.yaml:4: alerts.rules[0].checks: unknown check ID(s) XX01"),
    ("  rules:\n    - checks: all\n", "config.yaml:4: alerts.rules[0].min_severity: missing"),
    ("  rules:\n    - checks: all\n      min_severity: LOUD\n",
     "config.yaml:5: alerts.rules[0].min_severity: unknown severity 'LOUD'"),
    ("  rules:\n    - check: all\n", "config.yaml:4: alerts.rules[0].check: unknown key"),
    ("  recipients: [noc]\n", "config.yaml:3: alerts.recipients: bad e-mail address 'noc'"),
    ("  vantage_recipients: ops\n",
     "config.yaml:3: alerts.vantage_recipients: bad e-mail address 'ops'"),
    ("  zone_recipients:\n    'a..b': [x@y.z]\n", "config.yaml:4: alerts.zone_recipients.a..b"),
    ("  rate_limit: soon\n", "config.yaml:3: alerts.rate_limit: bad duration 'soon'"),
    ("  smtp:\n    port: 70000\n", "config.yaml:4: alerts.smtp.port: must be a port number"),
    ("  smtp:\n    ssl: true\n    starttls: true\n",
     "config.yaml:4: alerts.smtp.ssl: ssl and starttls exclude each other"),
    ("  smtp:\n    password_file: /x\n    password_env: X\n",
     "config.yaml:5: alerts.smtp.password_env: give password_file or password_env, not both"),
    ("  smtp:\n    from: not-an-address\n", "config.yaml:4: alerts.smtp.from: bad e-mail"),
    ("  smtp:\n    password: hunter2\n", "config.yaml:4: alerts.smtp.password: unknown key"),
    ("  retry:\n    initial: 0s\n", "config.yaml:4: alerts.retry.initial: must be greater than 0"),
    ("  maintenance:\n    - zones: [fr]\n      weekly: {day: sun, from: '25:00', until: '04:00'}\n",
     "config.yaml:5: alerts.maintenance[0].weekly.from: give a time of day like \"02:00\""),
    ("  maintenance:\n    - zones: [fr]\n      weekly: {day: funday, from: 2:00, until: 4:00}\n",
     "config.yaml:5: alerts.maintenance[0].weekly.day: unknown day 'funday'"),
    ("  maintenance:\n    - zones: [fr]\n      weekly: {from: '02:00', until: '04:00'}\n",
     "config.yaml:5: alerts.maintenance[0].weekly: give day (or days)"),
    ("  maintenance:\n    - zones: [fr]\n      from: 2027-03-06T22:00:00Z\n",
     "config.yaml:4: alerts.maintenance[0].until: missing"),
    ("  maintenance:\n    - zones: [fr]\n      from: 2027-03-06T22:00Z\n"
     "      until: 2027-03-06T21:00Z\n",
     "config.yaml:6: alerts.maintenance[0].until: must be after"),
    ("  maintenance:\n    - zones: [fr]\n      from: tonight\n      until: 2027-03-06T21:00Z\n",
     "config.yaml:5: alerts.maintenance[0].from: give a date and time like"),
    ("  maintenance:\n    - weekly: {day: sun, from: '02:00', until: '04:00'}\n",
     "config.yaml:4: alerts.maintenance[0].zones: missing"),
    ("  maintenance:\n    - zones: [fr]\n      weekly: {day: sun, from: '02:00', until: '04:00'}\n"
     "      timezone: Mars/Olympus\n",
     "config.yaml:6: alerts.maintenance[0].timezone: unknown time"),
    ("  maintenance:\n    - zones: [fr]\n      weekly: {day: sun, from: '02:00', until: '04:00'}\n"
     "      from: 2027-03-06T22:00Z\n", "config.yaml:4: alerts.maintenance[0]: give either"),
    ("  maintenance:\n    - zones: [fr]\n      every: week\n",
     "config.yaml:5: alerts.maintenance[0].every: unknown key"),
])
def test_errors_name_key_and_line(text: str, error: str):
    with pytest.raises(ConfigError) as caught:
        alerts(text)
    assert str(caught.value).startswith(error), str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_password_is_read_when_needed(tmp_path, monkeypatch):
    secret = tmp_path / "pw"
    secret.write_text("from-file\n", encoding="utf-8")
    assert alerts(f"  smtp:\n    password_file: {secret}\n").smtp.password() == "from-file"
    monkeypatch.setenv("CCMON_TEST_PW", "from-env")
    assert alerts("  smtp:\n    password_env: CCMON_TEST_PW\n").smtp.password() == "from-env"
    assert alerts("  smtp: {}\n").smtp.password() is None


def test_vantage_recipients_default_to_recipients():
    plain = alerts("  recipients: [noc@example.net]\n")
    assert plain.vantage_recipients_or_default() == ("noc@example.net",)
    own = alerts("  recipients: [noc@example.net]\n  vantage_recipients: ops@example.net\n")
    assert own.vantage_recipients_or_default() == ("ops@example.net",)
    assert own.recipients_for("fr") == ("noc@example.net",)  # zone mail unchanged
    assert own.all_recipients() == ("noc@example.net", "ops@example.net")  # test-email


def test_maintenance_windows():
    from datetime import UTC, datetime

    config = alerts("""
  maintenance:
    - zones: [FR., 中国]
      weekly: {days: [sat, Sunday], from: 23:00, until: "01:00"}
      timezone: Europe/Paris
    - zones: all
      from: 2027-03-06 22:00
      until: 2027-03-07T02:00:00+01:00
      timezone: Europe/Paris
""")
    weekly, once = config.maintenance
    assert weekly.zones == {"fr", "xn--fiqs8s"} and weekly.days == {5, 6}
    assert (weekly.daily_from, weekly.daily_until, weekly.timezone) == (1380, 60, "Europe/Paris")
    assert once.zones is None  # every zone
    assert once.start == datetime(2027, 3, 6, 21, 0, tzinfo=UTC).timestamp()  # Paris = UTC+1
    assert once.end == datetime(2027, 3, 7, 1, 0, tzinfo=UTC).timestamp()
    assert config.maintenance_until("de", once.start) == once.end
    assert config.maintenance_until("de", once.end) is None
    assert parse_config("zones: [fr]\n").alerts.maintenance == ()
