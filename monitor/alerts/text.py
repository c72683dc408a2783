"""Message text: the subject and plain-text body of a zone's mail and of the vantage point's.

Everything a recipient reads is worded here; the rules (:mod:`~monitor.alerts.rules`) decide
what changed and the alerter (:mod:`~monitor.alerts.alerter`) when it goes out.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from monitor.alerts.model import CHANGED, OPENED, RESOLVED, Event, ProblemState, label
from monitor.config.alerts import OPEN_AT_ONCE, AlertsConfig
from probes.model import Severity
from probes.text import duration_text as _duration
from probes.text import utc_text as utc

STATUS_PAGE_PATH = "/zone/{zone}"  # the zone's own page: servers, last day, open findings
FAMILY_NAMES = {"ipv4": "IPv4", "ipv6": "IPv6"}


def family_name(family: str) -> str:
    """The family as mail text shows it (FAMILY_NAMES); unknown families as given."""
    return FAMILY_NAMES.get(family, family)


@dataclass(frozen=True, slots=True)
class Composed:
    """One e-mail's subject line and plain-text body."""
    subject: str
    body: str


def compose_vantage(
    events: list[Event],
    down: Iterable[ProblemState],
    now_states: dict[str, str],
    *,
    settings: AlertsConfig,
    host: str,
) -> Composed:
    """The vantage point's own message: what went down or came back, and what is down now."""
    still_down = sorted(down, key=lambda p: p.reason)
    down_families = {p.reason for p in still_down}
    news = [e for e in events if e.kind == OPENED and e.reason in down_families]
    where = f"vantage point {host}" if host else "vantage point"
    if news:
        what = ", ".join(f"{family_name(p.reason)} {p.tag}" for p in still_down)
        subject = f"[ccmon] {where}: {what}"
    else:
        back = sorted({e.reason for e in events if e.kind == RESOLVED} - down_families)
        what = ", ".join(family_name(f) for f in back) or "every family"
        subject = f"[ccmon] {where}: back, {what} online again"
        if still_down:
            subject += f" ({', '.join(family_name(p.reason) for p in still_down)} still down)"
    lines: list[str] = []
    if still_down:
        lines.append(
            f"This ccmon instance ({host or 'this host'}) cannot see the DNS over "
            f"{' and '.join(family_name(p.reason) for p in still_down)}."
        )
    else:
        lines.append(f"This ccmon instance ({host or 'this host'}) sees the DNS again.")
    lines += [
        "",
        "While an address family is down here, ccmon measures none of its addresses: no",
        "zone problem opens or closes and no zone mail goes out; problems open before stay",
        "open with their original \"since\".",
        "",
        "Changes since the last message:",
    ]
    for event in sorted(events, key=lambda e: e.at):
        name = family_name(event.reason)
        if event.kind == RESOLVED:
            lines.append(f"  {utc(event.at)}  BACK  {name} online again "
                         f"(down since {utc(event.since)}, {_duration(event.at - event.since)})")
        else:
            lines.append(f"  {utc(event.at)}  DOWN  {name} {event.tag} since {utc(event.since)}")
            lines.append(f"      {event.message}")
    if now_states:
        state_words = ", ".join(f"{family_name(f)} {s}" for f, s in sorted(now_states.items()))
        lines += ["", f"Address families now: {state_words}."]
    lines += [
        "",
        "--",
        f"ccmon reports the vantage point down after {settings.open_after} sweep intervals "
        f"in a row without enough reference servers answering, and back after "
        f"{settings.close_after} with them. A family absent from the start (no IPv6 on "
        "the host) is not mailed.",
    ]
    return Composed(subject, "\n".join(lines) + "\n")



def compose(
    zone: str,
    events: list[Event],
    open_problems: Iterable[ProblemState],
    *,
    settings: AlertsConfig,
    external_url: str = "",
) -> Composed:
    """Subject and plain-text body for the zone's pending events and its open problems."""
    still_open = sorted(
        open_problems, key=lambda p: (-p.severity, p.check, p.nameserver, p.address, p.reason)
    )
    open_keys = {(p.check, p.nameserver, p.address, p.reason) for p in still_open}
    news = [e for e in events if e.kind in (OPENED, CHANGED) and e.key_in_zone in open_keys]
    resolved = [e for e in events if e.kind == RESOLVED and e.key_in_zone not in open_keys]
    if news:
        worst = min(news, key=lambda e: (-e.severity, e.key_in_zone))
        current = next(
            p
            for p in still_open
            if (p.check, p.nameserver, p.address, p.reason) == worst.key_in_zone
        )
        head = label(
            current.check, current.severity, current.nameserver, current.address, current.reason
        )
        more = len(still_open) - 1
        subject = f"[ccmon] {zone}: {head}" + (f" and {more} more" if more else "")
    else:
        gone = resolved or [e for e in events if e.kind == RESOLVED] or events
        worst = min(gone, key=lambda e: (-e.severity, e.key_in_zone))
        more = len({e.key_in_zone for e in gone}) - 1
        subject = f"[ccmon] {zone}: RESOLVED {worst.label}" + (f" and {more} more" if more else "")
        if still_open:
            subject += f" ({len(still_open)} still open)"
    return Composed(subject, _body(zone, events, still_open, settings, external_url))


def _body(
    zone: str,
    events: list[Event],
    still_open: list[ProblemState],
    settings: AlertsConfig,
    external_url: str,
) -> str:
    lines: list[str] = []
    count = len(still_open)
    if count:
        lines.append(f"Zone {zone}: {count} problem{'s' if count != 1 else ''} open.")
    else:
        lines.append(f"Zone {zone}: no problem open any more.")
    lines += ["", "Changes since the last message:"]
    for event in sorted(events, key=lambda e: e.at):
        if event.kind == CHANGED and event.previous_severity is not None:
            what = f"CHANGED   {event.label} (was {Severity(event.previous_severity).name})"
        elif event.kind == RESOLVED:
            what = f"RESOLVED  {event.label} (open since {utc(event.since)})"
        else:
            what = f"OPENED    {event.label}"
        lines.append(f"  {utc(event.at)}  {what}")
        lines.append(f"      {event.message}")
    lines += ["", "Open problems:" if count else "Open problems: none"]
    for problem in still_open:
        where = " ".join(x for x in (problem.nameserver, problem.address) if x) or "(the zone)"
        lines.append(
            f"  {label(problem.check, problem.severity, '', '', '')}  {where}  "
            f"reason {problem.reason or '-'}"
        )
        lines.append(f"      since {utc(problem.first_seen)}: {problem.message}")
    if external_url:
        link = external_url.rstrip("/") + STATUS_PAGE_PATH.format(zone=zone)
        lines += ["", f"Status page: {link}"]
    lines += [
        "",
        "--",
        f"ccmon opens a problem after {settings.open_after} failing sweeps in a row and "
        f"closes it after {settings.close_after} good ones.",
    ]
    if any(check in OPEN_AT_ONCE for check in {e.check for e in events}
           | {p.check for p in still_open}):
        lines.append(f"{', '.join(sorted(OPEN_AT_ONCE))} (the parent differs from the "
                     "pinned delegation) opens at the first failing sweep.")
    if settings.rate_limit > 0:
        lines.append(
            f"At most one message per zone every {_duration(settings.rate_limit)}; "
            "changes in between are collected into the next one."
        )
    return "\n".join(lines) + "\n"

