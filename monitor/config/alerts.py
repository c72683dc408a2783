"""The ``alerts:`` section of config.yaml → a frozen, validated :class:`AlertsConfig`.

Defaults follow ICANN's SLA monitoring: a problem opens after 3 failing sweeps and closes
after 3 good ones (RSM ``INCIDENT.DNS.FAIL`` / ``RECOVER``); every check alerts at ERROR
and above, SOA01 (serials behind) already at WARNING. A zone gets at most one mail per
15 minutes; what happens in between is digested into the next one.

The SMTP password is never part of the config object: only where to read it (a file or
an environment variable), read at the moment of sending.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from monitor.config.maintenance import MaintenanceWindow, parse_maintenance
from monitor.config.reader import (
    ConfigError,
    Section,
    boolean,
    check_ids,
    int_at_least,
    optional_text,
    parse_duration,
    port,
    positive_duration,
    severity,
)
from monitor.errors import InputError
from probes.model import Severity

ALL_CHECKS = "all"

KNOWN_KEYS = {
    "enabled",
    "rules",
    "open_after",
    "close_after",
    "recipients",
    "zone_recipients",
    "vantage_recipients",
    "rate_limit",
    "retry",
    "smtp",
    "maintenance",
}
SMTP_KEYS = {
    "host",
    "port",
    "starttls",
    "ssl",
    "username",
    "password_file",
    "password_env",
    "from",
    "timeout",
    "ca_file",
}
RETRY_KEYS = {"initial", "max", "give_up_after"}
RULE_KEYS = {"checks", "min_severity"}

#: Checks whose problems open after their first failing sweep (see AlertsConfig.opens_after).
OPEN_AT_ONCE = frozenset({"DELEG06"})

_ADDRESS = re.compile(r"^[^@\s<>,;]+@[^@\s<>,;]+$")


@dataclass(frozen=True, slots=True)
class AlertRule:
    """Findings of these checks at this severity or worse alert. ``checks`` None = all."""

    checks: frozenset[str] | None
    min_severity: Severity

    def matches(self, check: str, severity: Severity) -> bool:
        """The rule covers this check (all checks when none are listed) at this severity."""
        return (self.checks is None or check in self.checks) and severity >= self.min_severity


DEFAULT_RULES: tuple[AlertRule, ...] = (
    AlertRule(None, Severity.ERROR),
    AlertRule(frozenset({"SOA01", "SOA03"}), Severity.WARNING),  # serials: stale, not propagated
)


class PasswordError(InputError):
    """The configured SMTP password source cannot be read."""


@dataclass(frozen=True, slots=True)
class SmtpConfig:
    """How to reach the SMTP server: host, port, TLS mode, login, sender, timeout in seconds."""
    host: str = "localhost"
    port: int = 25
    starttls: bool = False  # upgrade a plain connection with STARTTLS (port 587)
    ssl: bool = False  # implicit TLS from the first byte (port 465)
    username: str | None = None
    password_file: str | None = None
    password_env: str | None = None
    sender: str = "ccmon@localhost"  # `from:` in YAML
    timeout: float = 30.0
    ca_file: str | None = None  # extra CA bundle to verify the server (private CAs)

    def password(self) -> str | None:
        """The password, read now from the file or the environment; never stored."""
        if self.password_file:
            try:
                with open(self.password_file, encoding="utf-8") as handle:
                    return handle.read().rstrip("\r\n")
            except OSError as exc:
                raise PasswordError(
                    f"cannot read smtp.password_file {self.password_file}: {exc.strerror}"
                ) from None
        if self.password_env:
            value = os.environ.get(self.password_env)
            if value is None:
                raise PasswordError(
                    f"environment variable {self.password_env} (smtp.password_env) is not set"
                )
            return value
        return None


@dataclass(frozen=True, slots=True)
class RetryConfig:
    """How failed deliveries are retried: backoff bounds and when to give up, in seconds."""
    initial: float = 30.0  # first retry after this long; doubles each time
    max: float = 1800.0  # at most this long between two tries
    give_up_after: float = 3 * 86400.0  # a message still undelivered after this is dropped


@dataclass(frozen=True, slots=True)
class AlertsConfig:
    """The `alerts:` section: rules, hold-down counts, recipients, rate limit, SMTP, maintenance."""
    enabled: bool = True
    rules: tuple[AlertRule, ...] = DEFAULT_RULES
    open_after: int = 3  # failing sweeps in a row before a problem opens
    close_after: int = 3  # good sweeps in a row before an open problem closes
    recipients: tuple[str, ...] = ()  # every zone's mail goes here
    zone_recipients: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # mail about this vantage point itself (an address family offline here); () = recipients
    vantage_recipients: tuple[str, ...] = ()
    rate_limit: float = 900.0  # at most one mail per zone per this many seconds
    retry: RetryConfig = field(default_factory=RetryConfig)
    smtp: SmtpConfig = field(default_factory=SmtpConfig)
    maintenance: tuple[MaintenanceWindow, ...] = ()

    def maintenance_until(self, zone: str, at: float) -> float | None:
        """While `zone` is inside a maintenance window at `at`: when the last one that
        holds it ends; else None."""
        ends = [end for w in self.maintenance if (end := w.until(zone, at)) is not None]
        return max(ends, default=None)

    def opens_after(self, check: str) -> int:
        """Failing sweeps in a row before a problem of `check` opens. DELEG06 (the parent
        differs from the registry's pinned delegation) at the first: the parent answered
        with a definite NS/DS set, no passing fault of the path, and a DS nobody pinned is
        how a hijack or a botched rollover looks."""
        return 1 if check in OPEN_AT_ONCE else self.open_after

    def alerting(self, check: str, severity: Severity) -> bool:
        """Does a finding of this check at this severity count as a failing sweep?"""
        return any(rule.matches(check, severity) for rule in self.rules)

    def recipients_for(self, zone: str) -> tuple[str, ...]:
        """The default list plus the zone's own, without duplicates, in order."""
        seen: dict[str, None] = {}
        for address in (*self.recipients, *self.zone_recipients.get(zone, ())):
            seen.setdefault(address, None)
        return tuple(seen)

    def vantage_recipients_or_default(self) -> tuple[str, ...]:
        """Who hears that this vantage point lost (or regained) an address family."""
        return self.vantage_recipients or self.recipients

    def all_recipients(self) -> tuple[str, ...]:
        """Every configured recipient once, in first-mention order."""
        seen: dict[str, None] = dict.fromkeys((*self.recipients, *self.vantage_recipients))
        for addresses in self.zone_recipients.values():
            for address in addresses:
                seen.setdefault(address, None)
        return tuple(seen)


# --- validation -----------------------------------------------------------------------


def email_list(value: Any) -> tuple[str, ...]:
    """One address or a list of addresses (``user@host``)."""
    if value is None:
        return ()
    values = value if isinstance(value, list) else [value]
    out: list[str] = []
    for element in values:
        if not isinstance(element, str) or not _ADDRESS.match(element.strip()):
            raise ValueError(f"bad e-mail address {element!r} (like noc@example.net)")
        if element.strip() not in out:
            out.append(element.strip())
    return tuple(out)


def _email(value: Any) -> str:
    addresses = email_list(value)
    if len(addresses) != 1:
        raise ValueError(f"give one e-mail address, got {value!r}")
    return addresses[0]


_min_severity = severity(tuple(s.name for s in Severity))


def _rule_checks(value: Any) -> frozenset[str] | None:
    """A rule's `checks:`: a list of the registry's check IDs, or `all` (None)."""
    return check_ids(value, all_keyword=ALL_CHECKS)


def _rules(section: Section) -> tuple[AlertRule, ...]:
    if "rules" not in section.items:
        return DEFAULT_RULES
    node = section.items["rules"][1]
    elements = list(section.items_with_nodes("rules"))
    if not elements:
        if section.raw("rules") in (None, []):
            return ()
        raise section.error(node, f"{section.path}.rules: give a list of rules")
    rules: list[AlertRule] = []
    for index, (_value, element_node) in enumerate(elements):
        rule = Section(element_node, f"{section.path}.rules[{index}]", section.source)
        rule.reject_unknown(RULE_KEYS)
        if "min_severity" not in rule.items:
            raise ConfigError(
                f"{section.source}:{element_node.start_mark.line + 1}: "
                f"{rule.path}.min_severity: missing (e.g. ERROR)"
            )
        rules.append(
            AlertRule(
                checks=rule.get("checks", _rule_checks, None),
                min_severity=rule.get("min_severity", _min_severity, Severity.ERROR),
            )
        )
    return tuple(rules)


def _zone_recipients(section: Section) -> dict[str, tuple[str, ...]]:
    from probes.names import InvalidZoneName, normalise_zone

    zones = section.section("zone_recipients")
    out: dict[str, tuple[str, ...]] = {}
    for key, (key_node, _value_node) in zones.items.items():
        try:
            zone = normalise_zone(key)
        except InvalidZoneName as exc:
            raise zones.error(key_node, f"{zones.path}.{key}: {exc}") from None
        out[zone] = zones.get(key, email_list, ())
    return out


def _smtp_config(smtp: Section, d_smtp: SmtpConfig) -> SmtpConfig:
    """``alerts.smtp``: the relay, TLS mode, credentials source; exclusive keys refused."""
    smtp.reject_unknown(SMTP_KEYS)
    smtp_config = SmtpConfig(
        host=smtp.get("host", optional_text, None) or d_smtp.host,
        port=smtp.get("port", port, d_smtp.port),
        starttls=smtp.get("starttls", boolean, d_smtp.starttls),
        ssl=smtp.get("ssl", boolean, d_smtp.ssl),
        username=smtp.get("username", optional_text, None),
        password_file=smtp.get("password_file", optional_text, None),
        password_env=smtp.get("password_env", optional_text, None),
        sender=smtp.get("from", _email, d_smtp.sender),
        timeout=smtp.get("timeout", positive_duration, d_smtp.timeout),
        ca_file=smtp.get("ca_file", optional_text, None),
    )
    if smtp_config.ssl and smtp_config.starttls:
        key_node = smtp.items["ssl"][0]
        raise smtp.error(
            key_node,
            f"{smtp.path}.ssl: ssl and starttls exclude each other "
            "(ssl: implicit TLS, port 465; starttls: port 587)",
        )
    if smtp_config.password_file and smtp_config.password_env:
        key_node = smtp.items["password_env"][0]
        raise smtp.error(
            key_node, f"{smtp.path}.password_env: give password_file or password_env, not both"
        )
    return smtp_config


def parse_alerts(section: Section) -> AlertsConfig:
    """Read the ``alerts:`` section; ConfigError naming the key and line on bad input."""
    defaults = AlertsConfig()
    section.reject_unknown(KNOWN_KEYS)
    smtp_config = _smtp_config(section.section("smtp"), defaults.smtp)
    retry = section.section("retry")
    retry.reject_unknown(RETRY_KEYS)
    d_retry = defaults.retry
    retry_config = RetryConfig(
        initial=retry.get("initial", positive_duration, d_retry.initial),
        max=retry.get("max", positive_duration, d_retry.max),
        give_up_after=retry.get("give_up_after", positive_duration, d_retry.give_up_after),
    )
    return AlertsConfig(
        enabled=section.get("enabled", boolean, defaults.enabled),
        rules=_rules(section),
        open_after=section.get("open_after", int_at_least(1), defaults.open_after),
        close_after=section.get("close_after", int_at_least(1), defaults.close_after),
        recipients=section.get("recipients", email_list, ()),
        zone_recipients=_zone_recipients(section),
        vantage_recipients=section.get("vantage_recipients", email_list, ()),
        rate_limit=section.get("rate_limit", parse_duration, defaults.rate_limit),
        retry=retry_config,
        smtp=smtp_config,
        maintenance=parse_maintenance(section),
    )
