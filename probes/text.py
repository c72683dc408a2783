"""Facts as a reader reads them: durations and UTC times in finding messages and mails.

One formatter each, so a finding and the mail that quotes it say "3 h 12 min" the same way.
Machine formats (ISO 8601 in JSON, axis labels) stay with their readers on purpose.
"""

from __future__ import annotations

import datetime

MINUTE, HOUR, DAY = 60, 3600, 86400


def duration_text(seconds: float) -> str:
    """"3 d 4 h", "5 h 12 min", "12 min 30 s", "45 s", "4.5 s", "1 h": two units at most
    (a second unit of 0 left out), a tenth of a second below ten seconds; negative
    durations read as 0."""
    seconds = max(0.0, seconds)
    if round(seconds, 1) < 10:  # 9.96 s is "10 s", not "10.0 s"
        return f"{seconds:.1f} s"
    whole = round(seconds)
    days, rest = divmod(whole, DAY)
    hours, rest = divmod(rest, HOUR)
    minutes, secs = divmod(rest, MINUTE)
    for big, unit, small, small_unit in ((days, "d", hours, "h"), (hours, "h", minutes, "min"),
                                         (minutes, "min", secs, "s")):
        if big:
            return f"{big} {unit} {small} {small_unit}" if small else f"{big} {unit}"
    return f"{secs} s"


def utc_text(timestamp: float) -> str:
    """An epoch time as "YYYY-MM-DD HH:MM:SS UTC"."""
    return datetime.datetime.fromtimestamp(timestamp, datetime.UTC).strftime(
        "%Y-%m-%d %H:%M:%S UTC")
