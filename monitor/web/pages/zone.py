"""One zone's page at /zone/<zone>: its servers in full, the last day's states from the
store's sweep history, and the open findings with the sweep since which each is open.

The store belongs to the service's event loop (one SQLite connection, one thread), and
the web server runs on its own loop in another thread: :class:`StoreReader` runs the two
reads on the store's loop and hands the result back, so the store keeps its one thread.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from dataclasses import dataclass

from monitor.status import ServerView, Snapshot, open_findings, server_views, summarise
from monitor.status import unicode_zone as u_name
from monitor.store import Store, SweepRun
from monitor.web.pages.common import (
    DAY,
    STATE_WORDS,
    ago,
    badge,
    display_ns,
    e,
    expiry_text,
    ms,
    span,
    template,
    utc,
)
from probes.checks.history import History
from probes.model import Finding

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


def _yes(flag: bool | None, bad_word: str = "OPEN") -> str:
    if flag is None:
        return "–"
    return f'<span class="bad">{bad_word}</span>' if flag else "closed"


def _server_row(view: ServerView, since: dict[tuple[str, str], tuple[int, float]],
                now: float) -> str:
    state = view.state if not view.lame_reason else f"lame: {view.lame_reason}"
    serial = "–" if view.serial is None else str(view.serial)
    if view.lag:
        serial += f" ({view.lag} behind)"
    held = since.get((view.nameserver, view.address))
    serving = (f"{e(utc(held[1]))} ({e(ago(held[1], now))})"
               if held and held[0] == view.serial else "–")
    if view.rrsig_expires_at is None:
        sigs = "–"
    else:
        text, level = expiry_text(view.rrsig_expires_at, now)
        sigs = f'<span class="exp {level}">{e(text)}</span> ({e(utc(view.rrsig_expires_at))})'
    valid = {None: "–", True: "valid", False: '<span class="bad">invalid</span>'}[view.dnssec_valid]
    problems = view.edns_problems
    if problems:
        words = ", ".join(f"{t}: {o}" for t, o in problems.items())
        edns_html = f'<span class="bad">{e(words)}</span>'
    else:
        edns_html = "all ok" if view.udp is not None and view.udp.edns else "–"
    tcp = view.tcp.rtt if view.tcp is not None else None
    return (
        f'<tr><td class="id">{e(display_ns(view.nameserver))}</td>'
        f'<td class="id">{e(view.address)}</td>'
        f'<td><span class="tag s-{e(view.state)}">{e(state)}</span></td>'
        f"<td>{e(ms(view.rtt))} / {e(ms(tcp))}</td><td>{e(serial)}</td>"
        f'<td class="words">{serving}</td><td class="id">{e(view.nsid or "–")}</td>'
        f'<td class="words">{sigs}</td><td>{valid}</td>'
        f"<td>{_yes(view.axfr_open if view.udp else None)} / "
        f"{_yes(view.recursion_open if view.udp else None)}</td>"
        f'<td class="words">{edns_html}</td></tr>'
    )


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


def _findings(snap: Snapshot, zone: str, record: ZoneRecord | None, now: float) -> str:
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
            when = f"{'before ' if older else ''}{utc(since)} ({span(now - since)}"
            when += " or more)" if older else ")"
        rows.append(
            f"<tr><td>{badge(f.severity.name)}</td><td>{e(f.check)}</td>"
            f'<td class="id">{e(display_ns(f.nameserver) if f.nameserver else "")}</td>'
            f'<td class="id">{e(f.address)}</td><td>{e(f.message)}</td><td>{e(when)}</td></tr>'
        )
    return "\n".join(rows) or '<tr><td colspan="6">No open findings.</td></tr>'


def _sweep_findings(sweep: SweepRun) -> tuple[tuple[str, str, str, str], ...]:
    """(check, name server, address, reason) of a stored sweep's findings, sorted."""
    return tuple(sorted({(f[0], f[3], f[4], f[5]) for f in sweep.findings}))


def _period_key(sweep: SweepRun) -> tuple[object, ...]:
    return (sweep.severity, sweep.available, sweep.nameservers_up, sweep.nameservers,
            _sweep_findings(sweep))


def _periods(record: ZoneRecord | None, no_history: str) -> str:
    if record is None:
        return f'<tr><td colspan="6">{e(no_history)}</td></tr>'
    runs: list[list[SweepRun]] = []  # periods: stored runs alike on the page merge
    for sweep in record.sweeps:  # newest first: a period grows backwards in time
        if runs and _period_key(runs[-1][-1]) == _period_key(sweep):
            runs[-1].append(sweep)
        else:
            runs.append([sweep])
    rows = []
    for run in runs[:MAX_PERIODS]:
        newest, oldest = run[0], run[-1]
        severity = newest.severity.name
        found = "; ".join(
            " ".join(p for p in (check, display_ns(ns) if ns else "", address,
                                 f"({why})" if why else "") if p)
            for check, ns, address, why in _sweep_findings(newest)
        )
        available = ('<span class="ok">yes</span>' if newest.available
                     else '<span class="bad">NO</span>')
        rows.append(
            f"<tr><td>{e(utc(oldest.first_at))}</td>"
            f"<td>{e(utc(newest.ended_at))}</td><td>{sum(r.sweeps for r in run)}</td>"
            f"<td>{badge(severity)}</td><td>{available} ({newest.nameservers_up}/"
            f"{newest.nameservers} NS up)</td><td>{e(found or 'none')}</td></tr>"
        )
    if len(runs) > MAX_PERIODS:
        rows.append(f'<tr><td colspan="6">… {len(runs) - MAX_PERIODS} older periods not '
                    "shown.</td></tr>")
    return "\n".join(rows) or '<tr><td colspan="6">No sweep stored in the last day.</td></tr>'


def _serial_lines(history: History | None, now: float) -> str:
    if history is None:
        return ""
    items = []
    for s in history.serials:
        text = f"serial {s.serial}: first seen {utc(s.first_seen)}"
        if s.complete_at is not None:
            text += (f", on every server {utc(s.complete_at)} "
                     f"(after {span(s.complete_at - s.first_seen)})")
        else:
            text += f", not yet on every server ({span(now - s.first_seen)} so far)"
        if s.baseline:
            text += " — already served when monitoring began"
        items.append(f"<li>{e(text)}</li>")
    if history.drift is not None:
        d = history.drift
        items.append(
            f"<li>Parent and child NS sets differ since {e(utc(d.first_seen))}: parent "
            f"{e(' '.join(d.parent))}; child {e(' '.join(d.child))}</li>")
    return f"<ul>{''.join(items)}</ul>" if items else ""


def render_zone_page(snap: Snapshot, zone: str, record: ZoneRecord | None,
                     now: float | None = None,
                     no_history: str = "No stored history on this server.",
                     plots: str = "") -> str:
    """The zone's page; `plots` is the SLA report's SVG fragment of the last 30 days
    (monitor.sla.embed), already escaped, or "" when there is no store to read."""
    now = time.time() if now is None else now
    report = snap.reports.get(zone)
    name = u_name(zone)
    if report is None:
        summary_html = '<p class="pending">Waiting for the first sweep.</p>'
        servers = '<tr><td colspan="11">No sweep completed yet.</td></tr>'
    else:
        s = summarise(report, snap.history.get(zone))
        views = server_views(report)
        since = {(x.nameserver, x.address): (x.serial, x.since)
                 for x in (record.history.servers if record else ())}
        servers = "\n".join(_server_row(v, since, now) for v in views) or (
            '<tr><td colspan="11">No servers found.</td></tr>')
        when = report.started_at + report.duration
        avail = "–" if s.availability is None else f"{s.availability * 100:.1f} %"
        expiry = ""
        if s.rrsig_expires_at is not None:
            text, level = expiry_text(s.rrsig_expires_at, now)
            expiry = f', earliest signature expiry <span class="exp {level}">{e(text)}</span>'
        summary_html = (
            f'<p>{badge(report.severity.name)} Last sweep {e(utc(when))} ({e(ago(when, now))}). '
            f'Available now: <span class="{"ok" if s.available else "bad"}">'
            f'{"yes" if s.available else "NO"}</span> ({s.nameservers_up}/{s.nameservers} '
            f"name servers up); over the stored sweeps: {e(avail)}. DNSSEC {e(s.dnssec)}"
            f"{expiry}.</p>"
        )
    alias = f" ({e(zone)})" if name != zone else ""
    return template("zone.html").substitute(
        name=e(name),
        alias=alias,
        zone=e(zone),
        generated=e(utc(now)),
        summary=summary_html,
        servers=servers,
        states=" ".join(f"<b>{s}</b>: {e(w)}." for s, w in STATE_WORDS.items()),
        serials=_serial_lines(record.history if record else None, now),
        findings=_findings(snap, zone, record, now),
        periods=_periods(record, no_history),
        day_start=e(utc(now - DAY)),
        plots=plots or '<p class="note">No stored history to plot on this server.</p>',
    )
