"""`ccmon report`: flags, period, store, output. Every refusal is one line and exit 3."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tempfile
import time
from pathlib import Path

from monitor.config import Config, ConfigError, load_config
from monitor.errors import EXIT_CONFIG as EXIT_INPUT
from monitor.errors import EXIT_OK
from monitor.output import write_whole
from monitor.sla.figures import Period, ReportError, compute, open_store
from monitor.sla.render import render_csv, render_html, render_json
from probes.names import InvalidZoneName, normalise_zone

DEFAULT_CONFIG = "config.yaml"


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Add the `ccmon report` subcommand and its options."""
    report = commands.add_parser(
        "report", help="SLA figures per zone and server from the store (HTML, CSV, JSON)"
    )
    report.add_argument("--month", metavar="YYYY-MM", help="a calendar month (UTC)")
    report.add_argument("--from", dest="start", metavar="DATE",
                        help="first day (YYYY-MM-DD) or instant (YYYY-MM-DDTHH:MM), UTC")
    report.add_argument("--to", dest="end", metavar="DATE",
                        help="last day, inclusive (YYYY-MM-DD), or instant, exclusive; "
                        "default now")  # fmt: skip
    report.add_argument("--zones", nargs="+", metavar="ZONE", help="default: every zone seen")
    report.add_argument("--format", choices=("html", "csv", "json"), default="html")
    report.add_argument("--out", metavar="PATH", help="write here (default: standard output)")
    report.add_argument("--config", "-c", help=f"config file (default ./{DEFAULT_CONFIG} if any)")
    report.add_argument("--store.path", dest="store_path", metavar="FILE",
                        help="the SQLite store (default: the config's store.path; env "
                        "CCMON_STORE_PATH)")  # fmt: skip


def _instant(text: str, flag: str) -> tuple[float, bool]:
    """(unix seconds, is a whole day) of a DATE or DATETIME, UTC."""
    try:
        if len(text.strip()) == 10:
            day = dt.date.fromisoformat(text.strip())
            return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp(), True
        moment = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ReportError(f"{flag} {text!r}: not a date (YYYY-MM-DD or YYYY-MM-DDTHH:MM)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.timestamp(), False


def parse_period(args: argparse.Namespace, now: float | None = None) -> Period:
    """The report period from --month or --from/--to (UTC); ReportError for a bad one."""
    now = time.time() if now is None else now
    if args.month and (args.start or args.end):
        raise ReportError("--month and --from/--to exclude each other")
    if args.month:
        try:
            first = dt.datetime.strptime(args.month.strip(), "%Y-%m").replace(tzinfo=dt.UTC)
        except ValueError:
            raise ReportError(f"--month {args.month!r}: not a month (YYYY-MM)") from None
        nxt = (first + dt.timedelta(days=32)).replace(day=1)
        return Period(first.timestamp(), nxt.timestamp(), first.strftime("%Y-%m"))
    if args.end and not args.start:
        raise ReportError("--to needs --from")
    if args.start:
        start, _ = _instant(args.start, "--from")
        if args.end:
            end, whole_day = _instant(args.end, "--to")
            end += 86400 if whole_day else 0
        else:
            end = float(-(-now // 3600) * 3600)  # now, up to the next full hour
        if end <= start:
            raise ReportError("--to: the period ends before it starts")
        label = f"{_day(start)} to {_day(end - 1)}"
        return Period(start, end, label)
    today = dt.datetime.fromtimestamp(now, dt.UTC)
    first = today.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = float(-(-now // 3600) * 3600)
    return Period(first.timestamp(), end, f"{first:%Y-%m} (month to date)")


def _day(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%d")


def _config(args: argparse.Namespace) -> Config:
    path = args.config or os.environ.get("CCMON_CONFIG") or (
        DEFAULT_CONFIG if Path(DEFAULT_CONFIG).exists() else None
    )
    return load_config(path) if path else Config(zones=())


def _write(text: str, out: str | None) -> None:
    """Write atomically (a temporary file renamed into place): a failed write leaves
    nothing behind that could pass for a report."""
    if out is None:
        write_whole(text, sys.stdout)
        return
    target = Path(out)
    try:
        fd, tmp = tempfile.mkstemp(prefix=".ccmon-report-", dir=target.parent or Path("."))
    except OSError as exc:
        raise ReportError(f"--out {out!r}: cannot write there: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise ReportError(f"--out {out!r}: cannot write there: {exc.strerror}") from None


def run(args: argparse.Namespace) -> int:
    """`ccmon report`: compute the SLA figures and write them; exit status 0, or EXIT_INPUT."""
    try:
        config = _config(args)
        period = parse_period(args)
        zones = [normalise_zone(z) for z in args.zones] if args.zones else None
        store = args.store_path or os.environ.get("CCMON_STORE_PATH") or config.store.path
        db = open_store(store)
        try:
            report = compute(db, period, zones, config.schedule.interval, store)
            if args.format == "json":
                text = render_json(report)
            elif args.format == "csv":
                text = render_csv(report)
            else:
                text = render_html(report, db)
        finally:
            db.close()
        _write(text, args.out)
    except (ReportError, ConfigError, InvalidZoneName) as exc:
        print(f"ccmon report: {exc}", file=sys.stderr)
        return EXIT_INPUT
    return EXIT_OK
