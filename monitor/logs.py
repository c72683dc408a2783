"""Logging as operators collect it: `--log-level`, `--log-format text|logfmt|json`.

One event per line in every format. The structured forms carry the event's context as
fields (`zone`, `check`, `nameserver`, `address`, passed with `extra=`), so Loki, ELK and
journald can select by them. Secrets never reach a log call (the mailer and web config
log only key names and host names), so no scrubbing happens here.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from monitor.output import write_whole

LEVELS = ("debug", "info", "warning", "error")
FORMATS = ("text", "logfmt", "json")
#: Context fields a log call may pass with `extra=`; emitted when present.
CONTEXT_FIELDS = ("zone", "check", "nameserver", "address", "family")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def _timestamp(record: logging.LogRecord) -> str:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
    return f"{stamp}.{int(record.msecs):03d}Z"


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "ts": _timestamp(record),
        "level": record.levelname.lower(),
        "logger": record.name,
        "msg": record.getMessage(),
    }
    for name in CONTEXT_FIELDS:
        value = getattr(record, name, None)
        if value not in (None, ""):
            fields[name] = value
    if record.exc_info:
        fields["exc"] = logging.Formatter().formatException(record.exc_info)
    return fields


class JsonFormatter(logging.Formatter):
    """One JSON object per event (log.format: json)."""
    def format(self, record: logging.LogRecord) -> str:
        """The record's fields, context included, as one JSON line."""
        return json.dumps(_fields(record), ensure_ascii=False, default=str)


_LOGFMT_ESCAPES = str.maketrans({"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t"})


def _logfmt_value(value: Any) -> str:
    text = str(value)
    if text and not any(c in text for c in ' ="\\\n\t'):
        return text
    escaped = text.translate(_LOGFMT_ESCAPES)
    return f'"{escaped}"'


class LogfmtFormatter(logging.Formatter):
    """One logfmt line per event: key=value pairs (log.format: logfmt)."""
    def format(self, record: logging.LogRecord) -> str:
        """The record's fields, context included, as key=value pairs."""
        return " ".join(f"{k}={_logfmt_value(v)}" for k, v in _fields(record).items())


class TextFormatter(logging.Formatter):
    """The classic line, with any context fields appended as key=value."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        """The classic line; a traceback indented under it, the context fields appended."""
        line = super().format(record).replace("\n", "\n    ")  # tracebacks stay one event
        context = [
            f"{name}={_logfmt_value(getattr(record, name))}"
            for name in CONTEXT_FIELDS
            if getattr(record, name, None) not in (None, "")
        ]
        return f"{line} {' '.join(context)}" if context else line


class WholeEventHandler(logging.StreamHandler):
    """A StreamHandler whose events reach stderr whole: an event with a traceback can pass
    the pipe's atomic 4,096 bytes, and an unbuffered stderr drops what a short write leaves
    (monitor/output.py)."""

    def emit(self, record: logging.LogRecord) -> None:
        """Write the formatted event and its newline whole; a failure goes to handleError."""
        try:
            write_whole(self.format(record) + self.terminator, self.stream)
        except RecursionError:
            raise
        except Exception:
            self.handleError(record)


def configure(level: str = "info", fmt: str = "text") -> None:
    """Send every log event to stderr in `fmt` at `level` or above (replaces handlers)."""
    if level not in LEVELS:
        raise ValueError(f"log level {level!r}: one of {', '.join(LEVELS)}")
    if fmt not in FORMATS:
        raise ValueError(f"log format {fmt!r}: one of {', '.join(FORMATS)}")
    formatter: logging.Formatter = {
        "text": TextFormatter, "logfmt": LogfmtFormatter, "json": JsonFormatter
    }[fmt]()
    handler = WholeEventHandler()
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
