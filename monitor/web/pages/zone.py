"""One zone's page at /zone/<zone>: its servers in full, the last day's states from the
store's sweep history, and the open findings with the sweep since which each is open.

The store belongs to the service's event loop (one SQLite connection, one thread), and
the web server runs on its own loop in another thread: :class:`StoreReader` runs the two
reads on the store's loop and hands the result back, so the store keeps its one thread.
The markup is templates/zone.html; this module hands it plain text per row.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from dataclasses import dataclass
from typing import NamedTuple

from markupsafe import Markup

from monitor.snapshot import Snapshot
from monitor.store import Store, SweepRun
from monitor.web.pages.common import (
    DAY,
    STATE_WORDS,
    ago,
    display_ns,
    expiry_text,
    ms,
    template,
)
from monitor.web.views import ZoneSummary, open_findings, summarise
from probes.checks.history import History
from probes.model import AddressSummary, Finding
from probes.names import unicode_zone
from probes.text import duration_text, utc_text

READ_TIMEOUT = 5.0  # s: a sweep holding the store's loop longer than this is a fault
MAX_PERIODS = 200  # a flapping zone: the newest periods only


@dataclass(frozen=True, slots=True)
class ZoneRecord:
    """The stored history a zone page shows."""

    sweeps: tuple[SweepRun, ...]  # the last day's runs of alike sweeps, newest first
    history: History


class StoreReader:
    """Reads the store on the event loop that owns it, from any other loop."""

    def __init__(self, store: Store, loop: asyncio.AbstractEventLoop,
                 timeout: float = READ_TIMEOUT) -> None:
        self.store = store
        self.loop = loop
        self.timeout = timeout

    def _read(self, zone: str, since: float) -> ZoneRecord:
        # runs of alike sweeps; a day at the shortest interval (10 s) is 8,640 sweeps
        sweeps = tuple(self.store.runs(zone, since, limit=20_000))
        return ZoneRecord(sweeps, self.store.check_history(zone))

    async def read(self, zone: str, since: float) -> ZoneRecord:
        """The zone's stored history since `since`, read on the store's loop; may time out."""
        done: concurrent.futures.Future[ZoneRecord] = concurrent.futures.Future()

        def run() -> None:
            if done.set_running_or_notify_cancel():
                try:
                    done.set_result(self._read(zone, since))
                except Exception as exc:  # handed to the waiting request
                    done.set_exception(exc)

        self.loop.call_soon_threadsafe(run)
        return await asyncio.wait_for(asyncio.wrap_future(done), self.timeout)


# --- the page --------------------------------------------------------------------------


class ServerRow(NamedTuple):
    """One (name server, address) in the servers table, as text."""

    nameserver: str
    address: str
    state: str
    detail: str  # the state, or the lame reason
    rtt: str
    tcp_rtt: str
    serial: str
    serving: str  # since when it serves this serial (from the store)
    nsid: str
    signatures: tuple[str, str] | None  # (words, level) of the signature expiry
    signatures_at: str
    dnssec_valid: bool | None
    axfr_open: bool | None
    recursion_open: bool | None
    edns_problems: str  # "test: outcome, ..." of the failing EDNS tests
    edns: str  # without problems: "all ok", or "–" when not tested


class SummaryLine(NamedTuple):
    """The line under the zone's name."""

    summary: ZoneSummary
    severity: str
    when: str
    ago: str
    availability: str
    expiry: tuple[str, str] | None


class FindingRow(NamedTuple):
    """An open finding and since when it is open."""

    severity: str
    check: str
    nameserver: str
    address: str
    message: str
    since: str


class PeriodRow(NamedTuple):
    """Consecutive stored sweeps with the same outcome."""

    since: str
    until: str
    sweeps: int
    severity: str
    available: bool
    nameservers_up: int
    nameservers: int
    findings: str


def _server_row(view: AddressSummary, since: dict[tuple[str, str], tuple[int, float]],
                now: float) -> ServerRow:
    serial = "–" if view.serial is None else str(view.serial)
    if view.lag:
        serial += f" ({view.lag} behind)"
    held = since.get((view.nameserver, view.address))
    expires = view.rrsig_expires_at
    problems = view.edns_problems
    return ServerRow(
        nameserver=display_ns(view.nameserver), address=view.address, state=view.state,
        detail=view.state if not view.lame_reason else f"lame: {view.lame_reason}",
        rtt=ms(view.rtt), tcp_rtt=ms(view.tcp.rtt if view.tcp is not None else None),
        serial=serial,
        serving=(f"{utc_text(held[1])} ({ago(held[1], now)})"
                 if held and held[0] == view.serial else "–"),
        nsid=view.nsid or "–",
        signatures=None if expires is None else expiry_text(expires, now),
        signatures_at="" if expires is None else utc_text(expires),
        dnssec_valid=view.dnssec_valid,
        axfr_open=view.axfr_open if view.udp else None,
        recursion_open=view.recursion_open if view.udp else None,
        edns_problems=", ".join(f"{t}: {o}" for t, o in problems.items()) if problems else "",
        edns="all ok" if view.udp is not None and view.udp.edns else "–",
    )  # fmt: skip


def _finding_key(check: str, nameserver: str, address: str) -> tuple[str, str, str]:
    return check, nameserver, address


def _open_since(finding: Finding, sweeps: tuple[SweepRun, ...],
                truncated: bool) -> tuple[float | None, bool]:
    """(start of the oldest sweep of the unbroken run that holds the finding, whether the
    run may reach back further: it spans every sweep read and older ones are stored)."""
    key = _finding_key(finding.check, finding.nameserver, finding.address)
    since = None
    for sweep in sweeps:  # runs, newest first
        if key not in {_finding_key(f[0], f[3], f[4]) for f in sweep.findings}:
            return since, False
        since = sweep.first_at
    return since, since is not None and truncated


def _findings(snap: Snapshot, zone: str, record: ZoneRecord | None,
              now: float) -> list[FindingRow]:
    report = snap.reports.get(zone)
    history = snap.history.get(zone)
    truncated = False
    if report is not None and history is not None and record is not None and record.sweeps:
        # the store's oldest sweep (ZoneHistory.window ends at the latest sweep's end)
        oldest_stored = report.started_at + report.duration - history.window
        truncated = oldest_stored < record.sweeps[-1].first_at - 1.0
    rows = []
    for f in open_findings(report) if report else ():
        since, older = _open_since(f, record.sweeps, truncated) if record else (None, False)
        if since is None:
            when = "–"
        else:
            when = f"{'before ' if older else ''}{utc_text(since)} ({duration_text(now - since)}"
            when += " or more)" if older else ")"
        rows.append(FindingRow(f.severity.name, f.check,
                               display_ns(f.nameserver) if f.nameserver else "", f.address,
                               f.message, when))  # fmt: skip
    return rows


def _sweep_findings(sweep: SweepRun) -> tuple[tuple[str, str, str, str], ...]:
    """(check, name server, address, reason) of a stored sweep's findings, sorted."""
    return tuple(sorted({(f[0], f[3], f[4], f[5]) for f in sweep.findings}))


def _period_key(sweep: SweepRun) -> tuple[object, ...]:
    return (sweep.severity, sweep.available, sweep.nameservers_up, sweep.nameservers,
            _sweep_findings(sweep))


def _periods(record: ZoneRecord) -> tuple[list[PeriodRow], int]:
    """The newest MAX_PERIODS periods, and how many older ones are left out."""
    runs: list[list[SweepRun]] = []  # periods: stored runs alike on the page merge
    for sweep in record.sweeps:  # newest first: a period grows backwards in time
        if runs and _period_key(runs[-1][-1]) == _period_key(sweep):
            runs[-1].append(sweep)
        else:
            runs.append([sweep])
    rows = []
    for run in runs[:MAX_PERIODS]:
        newest, oldest = run[0], run[-1]
        found = "; ".join(
            " ".join(p for p in (check, display_ns(ns) if ns else "", address,
                                 f"({why})" if why else "") if p)
            for check, ns, address, why in _sweep_findings(newest)
        )
        rows.append(PeriodRow(utc_text(oldest.first_at), utc_text(newest.ended_at),
                              sum(r.sweeps for r in run), newest.severity.name,
                              newest.available, newest.nameservers_up, newest.nameservers,
                              found or "none"))  # fmt: skip
    return rows, max(0, len(runs) - MAX_PERIODS)


def _serial_lines(history: History | None, now: float) -> list[str]:
    if history is None:
        return []
    items = []
    for s in history.serials:
        text = f"serial {s.serial}: first seen {utc_text(s.first_seen)}"
        if s.complete_at is not None:
            text += (f", on every server {utc_text(s.complete_at)} "
                     f"(after {duration_text(s.complete_at - s.first_seen)})")
        else:
            text += f", not yet on every server ({duration_text(now - s.first_seen)} so far)"
        if s.baseline:
            text += " — already served when monitoring began"
        items.append(text)
    if history.drift is not None:
        d = history.drift
        items.append(f"Parent and child NS sets differ since {utc_text(d.first_seen)}: parent "
                     f"{' '.join(d.parent)}; child {' '.join(d.child)}")
    return items


def _summary_line(snap: Snapshot, zone: str, now: float) -> SummaryLine | None:
    report = snap.reports.get(zone)
    if report is None:
        return None
    s = summarise(report, snap.history.get(zone))
    when = report.started_at + report.duration
    return SummaryLine(
        s, report.severity.name, utc_text(when), ago(when, now),
        "–" if s.availability is None else f"{s.availability * 100:.1f} %",
        None if s.rrsig_expires_at is None else expiry_text(s.rrsig_expires_at, now),
    )


def render_zone_page(snap: Snapshot, zone: str, record: ZoneRecord | None,
                     now: float | None = None,
                     no_history: str = "No stored history on this server.",
                     plots: Markup | None = None) -> str:
    """The zone's page; `plots` is the SLA report's SVG fragment of the last 30 days
    (monitor.sla.embed) as Markup, or None when there is no store to read."""
    now = time.time() if now is None else now
    report = snap.reports.get(zone)
    since = {(x.nameserver, x.address): (x.serial, x.since)
             for x in (record.history.servers if record else ())}
    periods, periods_left = _periods(record) if record is not None else (None, 0)
    return template("zone.html").render(
        name=unicode_zone(zone),
        zone=zone,
        generated=utc_text(now),
        summary=_summary_line(snap, zone, now),
        servers=[_server_row(v, since, now) for v in report.addresses] if report else [],
        states=STATE_WORDS.items(),
        serials=_serial_lines(record.history if record else None, now),
        findings=_findings(snap, zone, record, now),
        periods=periods,
        periods_left=periods_left,
        no_history=no_history,
        day_start=utc_text(now - DAY),
        plots=plots,
    )
