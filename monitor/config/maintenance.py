"""Maintenance windows (``alerts.maintenance``): times in which a zone's mail is held,
one-off or weekly in a time zone (docs/alerts.md, "Maintenance windows").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from datetime import time as clock_time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from monitor.config.reader import Section

ALL_ZONES = "all"

MAINTENANCE_KEYS = {"zones", "from", "until", "weekly", "timezone"}
WEEKLY_KEYS = {"day", "days", "from", "until"}
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True, slots=True)
class MaintenanceWindow:
    """A time in which a zone's mail is held (docs/alerts.md, "Maintenance windows").

    One-off: ``start`` to ``end`` (Unix time). Weekly: on ``days`` (0 = Monday) from
    ``daily_from`` to ``daily_until`` (minutes after local midnight in ``timezone``; an end
    at or before the start is on the next day). The end is exclusive.
    """

    zones: frozenset[str] | None  # A-labels; None = every zone
    start: float | None = None
    end: float | None = None
    days: frozenset[int] = frozenset()
    daily_from: int = 0
    daily_until: int = 0
    timezone: str = "UTC"

    def until(self, zone: str, at: float) -> float | None:
        """The end of this window if `zone` is inside it at `at`, else None."""
        if self.zones is not None and zone not in self.zones:
            return None
        if self.start is not None and self.end is not None:
            return self.end if self.start <= at < self.end else None
        tz = _zone(self.timezone)
        local = datetime.fromtimestamp(at, tz)
        length = (self.daily_until - self.daily_from) % 1440 or 1440
        for back in (0, 1):  # a window that began yesterday may cross midnight
            day = local.date() - timedelta(days=back)
            if day.weekday() not in self.days:
                continue
            begin = _local(day, self.daily_from, tz)
            end = _local(day, self.daily_from + length, tz)
            if begin <= local < end:
                return end.timestamp()
        return None


def _zone(name: str) -> tzinfo:
    """The time zone; UTC without the system's time zone database (a slim container)."""
    return UTC if name == "UTC" else ZoneInfo(name)


def _local(day: date, minutes: int, tz: tzinfo) -> datetime:
    """`minutes` after the local midnight of `day` (1440 and more: the days after)."""
    return datetime.combine(
        day + timedelta(days=minutes // 1440),
        clock_time(minutes % 1440 // 60, minutes % 60),
        tzinfo=tz,
    )


def _scalar_text(section: Section, key: str) -> tuple[str, Any]:
    """The value of `key` as written (so 02:00 is not YAML 1.1's number 120), with its node."""
    node = section.items[key][1]
    if not isinstance(node, yaml.ScalarNode) or not str(node.value).strip():
        raise section.error(node, f"{section.path}.{key}: give a single value")
    return str(node.value).strip(), node


def _minutes(section: Section, key: str) -> int:
    """ "HH:MM" (00:00 to 24:00) as minutes after midnight."""
    text, node = _scalar_text(section, key)
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", text)
    minutes = int(match.group(1)) * 60 + int(match.group(2)) if match else -1
    if not match or int(match.group(2)) > 59 or not 0 <= minutes <= 1440:
        raise section.error(node, f"{section.path}.{key}: give a time of day like \"02:00\", "
                                  f"got {text!r}")  # fmt: skip
    return minutes


def _instant(section: Section, key: str, tz: tzinfo) -> float:
    """An ISO 8601 date and time; without an offset it is read in `tz`."""
    text, node = _scalar_text(section, key)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise section.error(node, f"{section.path}.{key}: give a date and time like "
                                  f"2027-03-06T22:00:00+01:00, got {text!r}") from None  # fmt: skip
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return moment.timestamp()


def _weekdays(value: Any) -> frozenset[int]:
    """mon … sun, or the full names (any case); one day or a list."""
    full = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
    days = set()
    for element in value if isinstance(value, list) else [value]:
        name = element.strip().lower() if isinstance(element, str) else ""
        found = [i for i, day in enumerate(full) if len(name) >= 3 and day.startswith(name)]
        if not found:
            raise ValueError(f"unknown day {element!r} (one of {', '.join(WEEKDAYS)})")
        days.add(found[0])
    if not days:
        raise ValueError(f"give a day ({', '.join(WEEKDAYS)}) or a list of days")
    return frozenset(days)


def _window_zones(value: Any) -> frozenset[str] | None:
    from probes.names import InvalidZoneName, normalise_zone

    if value == ALL_ZONES:
        return None
    values = value if isinstance(value, list) else [value]
    if not values or not all(isinstance(v, str) for v in values):
        raise ValueError(f"give a list of zones or {ALL_ZONES!r}, got {value!r}")
    try:
        return frozenset(normalise_zone(v) for v in values)
    except InvalidZoneName as exc:
        raise ValueError(str(exc)) from None


def parse_maintenance(section: Section) -> tuple[MaintenanceWindow, ...]:
    """`maintenance:` of the `alerts:` section: a list of windows, errors with file and line."""
    if "maintenance" not in section.items or section.raw("maintenance") in (None, []):
        return ()
    node = section.items["maintenance"][1]
    elements = list(section.items_with_nodes("maintenance"))
    if not elements:
        raise section.error(node, f"{section.path}.maintenance: give a list of windows")
    windows = []
    for index, (_value, element_node) in enumerate(elements):
        entry = Section(element_node, f"{section.path}.maintenance[{index}]", section.source)
        windows.append(_window(entry, element_node))
    return tuple(windows)


def _window(entry: Section, node: Any) -> MaintenanceWindow:
    entry.reject_unknown(MAINTENANCE_KEYS)
    if "zones" not in entry.items:
        raise entry.error(node, f"{entry.path}.zones: missing (a list of zones, or all)")
    zones = entry.get("zones", _window_zones, None)
    tz_name = "UTC"
    if "timezone" in entry.items:
        tz_name, tz_node = _scalar_text(entry, "timezone")
        try:
            _zone(tz_name)
        except (ZoneInfoNotFoundError, ValueError):
            raise entry.error(tz_node, f"{entry.path}.timezone: unknown time zone {tz_name!r} "
                                       "(an IANA name like Europe/Paris; needs the system's "
                                       "time zone database, Debian: tzdata)") from None  # fmt: skip
    tz = _zone(tz_name)
    one_off = {"from", "until"} & set(entry.items)
    if ("weekly" in entry.items) == bool(one_off):
        raise entry.error(node, f"{entry.path}: give either from and until (one-off) or "
                                "weekly (recurring)")  # fmt: skip
    if one_off:
        for key in ("from", "until"):
            if key not in entry.items:
                raise entry.error(node, f"{entry.path}.{key}: missing")
        start, end = _instant(entry, "from", tz), _instant(entry, "until", tz)
        if end <= start:
            raise entry.error(entry.items["until"][1],
                              f"{entry.path}.until: must be after from")  # fmt: skip
        return MaintenanceWindow(zones, start=start, end=end, timezone=tz_name)
    weekly = entry.section("weekly")
    weekly.reject_unknown(WEEKLY_KEYS)
    given = [k for k in ("day", "days") if k in weekly.items]
    if len(given) != 1:
        raise entry.error(entry.items["weekly"][0], f"{weekly.path}: give day (or days)")
    for key in ("from", "until"):
        if key not in weekly.items:
            raise entry.error(entry.items["weekly"][0], f"{weekly.path}.{key}: missing")
    return MaintenanceWindow(
        zones,
        days=weekly.get(given[0], _weekdays, frozenset()),
        daily_from=_minutes(weekly, "from"),
        daily_until=_minutes(weekly, "until"),
        timezone=tz_name,
    )
