"""Zone reports for people (a table per zone, then findings) and for programs (JSON).

The exit status follows the Nagios plugin convention so `ccmon check` works as a plugin
as it is: 0 OK, 1 WARNING, 2 CRITICAL (our ERROR and CRITICAL), 3 UNKNOWN (could not run);
the numbers are the one table of :mod:`monitor.errors`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from json.encoder import encode_basestring
from typing import Any, TextIO

from monitor.errors import EXIT_CRITICAL, EXIT_OK, EXIT_UNKNOWN, EXIT_WARNING
from monitor.output import write_whole
from monitor.perfdata import perfdata
from probes.model import Finding, ServerStatus, Severity, ZoneReport
from probes.names import display_name
from probes.settings import ProbeSettings

STATUS_WORDS = {
    EXIT_OK: "OK",
    EXIT_WARNING: "WARNING",
    EXIT_CRITICAL: "CRITICAL",
    EXIT_UNKNOWN: "UNKNOWN",
}
JSON_FORMAT_VERSION = 1

# A report built without its parent's referral tells nothing about the zone: UNKNOWN.
_CANNOT_JUDGE_TAGS = {"PARENT_NO_RESPONSE"}


def zone_exit_status(report: ZoneReport) -> int:
    """The Nagios exit status of one zone: UNKNOWN when nothing could be judged from here."""
    # Nothing measured (our vantage point is offline): UNKNOWN, never the zone's fault.
    if report.unknown or any(f.tag in _CANNOT_JUDGE_TAGS for f in report.findings):
        return EXIT_UNKNOWN
    severity = report.severity
    if severity >= Severity.ERROR:
        return EXIT_CRITICAL
    if severity == Severity.WARNING:
        return EXIT_WARNING
    return EXIT_OK


def exit_status(reports: Sequence[ZoneReport]) -> int:
    """CRITICAL beats UNKNOWN beats WARNING beats OK, as Nagios aggregates."""
    statuses = {zone_exit_status(r) for r in reports}
    for status in (EXIT_CRITICAL, EXIT_UNKNOWN, EXIT_WARNING):
        if status in statuses:
            return status
    return EXIT_OK


def summary_line(reports: Sequence[ZoneReport], settings: ProbeSettings | None = None) -> str:
    """The plugin's first line: overall status, the worst zones, then `|` and perfdata."""
    status = exit_status(reports)
    bad = [
        f"{display_name(r.zone)} {STATUS_WORDS[zone_exit_status(r)]}"
        for r in reports
        if zone_exit_status(r) != EXIT_OK
    ]
    detail = "; ".join(bad) if bad else "all zones served well"
    vantage = vantage_reason(reports)
    if vantage:
        detail += f" ({vantage})"
    # A "|" in the text would start the perfdata early.
    line = f"CCMON {STATUS_WORDS[status]} - {len(reports)} zone(s): {detail}".replace("|", "/")
    data = perfdata(reports, settings)
    return f"{line} | {data}" if data else line


def vantage_reason(reports: Sequence[ZoneReport]) -> str:
    """Why zones could not be measured, once: the first VANTAGE01 message of an UNKNOWN
    zone ("vantage point offline, nothing measured: IPv4 offline (...)"), else ""."""
    for report in reports:
        if report.unknown:
            for finding in report.findings:
                if finding.check == "VANTAGE01":
                    return finding.message
            return "vantage point offline, nothing measured"
    return ""


def server_verdict_text(status: ServerStatus, report: ZoneReport) -> str:
    """One address's state in words: ok, slow, stale (-lag), lame, no reply, not measured,
    not authoritative."""
    if not status.measured:
        return "not measured"
    if status.lame_reason:
        return f"lame ({status.lame_reason})"
    if not status.answered:
        return f"no reply ({status.failure or 'timeout'})"
    if status.authoritative and not status.within_threshold:
        return "slow"
    if status.authoritative:
        lag = next((a.lag for a in report.addresses if a.address == status.address
                    and a.nameserver == status.nameserver), None)  # the summarise stage's
        return f"stale (-{lag})" if lag else "ok"
    return "not authoritative"


def render_text(reports: Sequence[ZoneReport], settings: ProbeSettings | None = None) -> str:
    """The plugin's text: the summary line, then a block per zone."""
    lines = [summary_line(reports, settings), ""]
    for report in reports:
        lines.extend(_zone_block(report))
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _zone_block(report: ZoneReport) -> list[str]:
    status = STATUS_WORDS[zone_exit_status(report)]
    addresses = len({s.address for s in report.servers})
    names = len({s.nameserver for s in report.servers})
    lines = [
        f"== {display_name(report.zone)}: {status} — {names} name server(s), "
        f"{addresses} address(es), {report.queries} queries in {report.duration:.2f} s"
    ]
    rows = [("NAME SERVER", "ADDRESS", "PROTO", "VERDICT", "RTT", "SERIAL")]
    for s in report.servers:
        rtt = f"{s.rtt * 1000:.1f} ms" if s.rtt is not None else "-"
        serial = str(s.serial) if s.serial is not None else "-"
        rows.append(
            (
                s.nameserver,
                s.address,
                s.transport.upper(),
                server_verdict_text(s, report),
                rtt,
                serial,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    if len(rows) == 1:
        rows = []  # nothing probed (no delegation): no empty table
    lines.extend(
        "  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )
    if report.findings:
        lines.append("  findings:")
        lines.extend(f"    {_finding_line(f)}" for f in report.findings)
    else:
        lines.append("  findings: none")
    return lines


def _finding_line(finding: Finding) -> str:
    return f"{finding.severity.name:<8} {finding.check:<8} {finding.message}"


def to_json_document(reports: Sequence[ZoneReport]) -> dict[str, Any]:
    """The `--json` document; its shape is documented in docs/check-json.md."""
    status = exit_status(reports)
    return {
        "format_version": JSON_FORMAT_VERSION,
        "status": STATUS_WORDS[status],
        "exit_status": status,
        "zones": [
            {
                **report.to_dict(),
                "display_name": display_name(report.zone),
                "status": STATUS_WORDS[zone_exit_status(report)],
            }
            for report in reports
        ],
    }


JSON_WRITE_BATCH = 65_536  # characters handed to the stream at once
_INDENT = "  "  # json.dumps(indent=2)


def write_json_document(reports: Sequence[ZoneReport], out: TextIO) -> None:
    """Write the `--json` document to `out` as it is encoded, zone by zone, in batches: the
    whole text of 309 zones as one string cost ~20 MB of peak memory, and one write per
    encoder chunk is one system call per chunk where stdout is unbuffered (PYTHONUNBUFFERED,
    containers). The text is `json.dumps(to_json_document(reports), indent=2,
    ensure_ascii=False)`, newline-terminated; json's own encoder writes indented text in
    Python, a chunk per value, at twice the cost of `json_text`."""
    document = to_json_document(reports)
    zones = document.pop("zones")
    head = json_text(document, 0)[:-2]  # without its closing "\n}"
    batch = [head + ",\n" + _INDENT + '"zones": ']
    size = 0
    if not zones:
        batch.append("[]")
    for index, zone in enumerate(zones):
        text = ("[" if index == 0 else ",") + "\n" + _INDENT * 2 + json_text(zone, 2)
        batch.append(text)
        size += len(text)
        if size >= JSON_WRITE_BATCH:
            write_whole("".join(batch), out)
            batch.clear()
            size = 0
    if zones:
        batch.append("\n" + _INDENT + "]")
    batch.append("\n}\n")
    write_whole("".join(batch), out)


def json_text(value: Any, level: int) -> str:
    """`json.dumps(value, indent=2, ensure_ascii=False)`, as nested `level` deep: the same
    text for the values json takes (dicts, lists, tuples, str, int, float, bool, None);
    TypeError for any other, as json says."""
    if isinstance(value, dict):
        if not value:
            return "{}"
        inner = "\n" + _INDENT * (level + 1)
        return "{" + inner + ("," + inner).join([
            encode_basestring(_json_key(k)) + ": " + (_json_scalar(v) or json_text(v, level + 1))
            for k, v in value.items()]) + "\n" + _INDENT * level + "}"
    if isinstance(value, (list, tuple)):
        if not value:
            return "[]"
        inner = "\n" + _INDENT * (level + 1)
        return "[" + inner + ("," + inner).join([
            _json_scalar(v) or json_text(v, level + 1) for v in value
        ]) + "\n" + _INDENT * level + "]"
    text = _json_scalar(value)
    if text is None:
        raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")
    return text


def _json_scalar(value: Any) -> str | None:
    """A scalar's JSON text as json writes it; None for a container (or an unknown type)."""
    if isinstance(value, str):
        return encode_basestring(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return int.__repr__(value)  # an IntEnum as its number, as json writes it
    if isinstance(value, float):
        return _json_float(value)
    return None


def _json_float(value: float) -> str:
    if value != value:
        return "NaN"
    if value in (math.inf, -math.inf):
        return "Infinity" if value > 0 else "-Infinity"
    return float.__repr__(value)


def _json_key(key: Any) -> str:
    """A dict key as json turns it into a string."""
    if isinstance(key, str):
        return key
    if isinstance(key, float):
        return _json_float(key)
    if isinstance(key, bool) or key is None:
        return {True: "true", False: "false", None: "null"}[key]
    if isinstance(key, int):
        return int.__repr__(key)
    raise TypeError(f"keys must be str, int, float, bool or None, not {type(key).__name__}")
