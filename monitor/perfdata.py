"""Nagios/Icinga performance data for `ccmon check` (monitoring-plugins guidelines).

One item per zone and figure, after the `|` of the plugin's first line:
``'LABEL'=VALUE[UOM];[WARN];[CRIT];[MIN];[MAX]``. Labels are the zone's A-label plus the
figure (`fr_ns_up`), so they are ASCII and stable; thresholds use the guidelines' range
syntax (`2:` alerts below 2, `1` alerts above 1) and are the same figures the checks apply.

| label                  | value                                          | warn | crit |
| ---------------------- | ---------------------------------------------- | ---- | ---- |
| `<zone>_ns_up`         | name servers up on every address (ICANN Spec 10) |    | `2:` |
| `<zone>_serials`       | distinct SOA serials served                    | `1`  |      |
| `<zone>_udp_rtt_max`   | slowest UDP answer, seconds (`s`)              | RTT01 threshold | |
| `<zone>_tcp_rtt_max`   | slowest TCP answer, seconds (`s`)              | RTT02 threshold | |
"""

from __future__ import annotations

from collections.abc import Sequence

from probes.checks.availability import MIN_SERVERS_UP
from probes.model import Transport, ZoneReport
from probes.settings import ProbeSettings


def _label(text: str) -> str:
    # Quoted always; a single quote inside doubles (the guidelines' escape).
    return "'" + text.replace("'", "''") + "'"


def _number(value: float) -> str:
    return f"{value:.6f}".rstrip("0").rstrip(".") if isinstance(value, float) else str(value)


def _item(label: str, value: float, uom: str = "", warn: str = "", crit: str = "",
          low: float | None = None, high: float | None = None) -> str:
    parts = [f"{_label(label)}={_number(value)}{uom}", warn, crit,
             "" if low is None else _number(low), "" if high is None else _number(high)]
    return ";".join(parts).rstrip(";")


def zone_perfdata(report: ZoneReport, settings: ProbeSettings) -> list[str]:
    """The zone's Nagios perfdata items: servers up, distinct serials, max RTT per transport."""
    up, total = report.nameservers_up
    prefix = report.zone.replace(".", "_")
    items = [_item(f"{prefix}_ns_up", up, crit=f"{MIN_SERVERS_UP}:", low=0, high=total)]
    if report.distinct_serials:
        items.append(_item(f"{prefix}_serials", report.distinct_serials, warn="1", low=1))
    thresholds = {Transport.UDP: settings.rtt_udp_threshold,
                  Transport.TCP: settings.rtt_tcp_threshold}
    for transport, threshold in thresholds.items():
        rtts = [s.rtt for s in report.servers if s.transport == transport and s.rtt is not None]
        if rtts:
            items.append(_item(f"{prefix}_{transport}_rtt_max", round(max(rtts), 6), "s",
                               warn=_number(threshold), low=0))
    return items


def perfdata(reports: Sequence[ZoneReport], settings: ProbeSettings | None = None) -> str:
    """Every zone's items, space separated (empty when there is nothing to measure)."""
    settings = settings or ProbeSettings()
    return " ".join(item for report in reports
                    for item in zone_perfdata(report, settings.for_zone(report.zone)))
