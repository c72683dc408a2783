"""The `alerts:` section of config.yaml: defaults, and errors that name the key and line."""

from __future__ import annotations

import pytest

from monitor.alerts_config import DEFAULT_RULES, AlertsConfig
from monitor.config import ConfigError, parse_config
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
     "config.yaml:4: alerts.rules[0].checks: unknown check ID XX01"),
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
