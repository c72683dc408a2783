"""Mail grouping: when a zone's digest may go out, to whom, and what a maintenance window drops.

The changes of one sweep make one message. A zone gets at most one message per
``rate_limit``; changes in between wait in the zone's digest and go out together with
the next message, as soon as the window allows (the delivery loop sends a due digest even
if no further sweep comes). A maintenance window holds a zone's digest until it ends; the
vantage point's own mail is never held by one.
"""

from __future__ import annotations

import logging

from monitor.alerts.model import OPENED, RESOLVED, VANTAGE_ZONE, Event, ZoneState
from monitor.config.alerts import AlertsConfig

log = logging.getLogger("monitor.alerts")


def may_send(settings: AlertsConfig, state: ZoneState, now: float) -> bool:
    """The zone's digest may go out at `now`: its rate-limit window has ended and no
    maintenance window holds it."""
    if state.last_mail_at is not None and now < state.last_mail_at + settings.rate_limit:
        return False
    return state.zone == VANTAGE_ZONE or settings.maintenance_until(state.zone, now) is None


def due_at(settings: AlertsConfig, state: ZoneState, now: float) -> float:
    """When the zone's digest may go out: the end of its rate-limit window, or of the
    maintenance window holding it."""
    at = (state.last_mail_at or 0.0) + settings.rate_limit
    if state.zone != VANTAGE_ZONE:
        held = settings.maintenance_until(state.zone, max(at, now))
        at = max(at, held) if held is not None else at
    return at


def recipients(settings: AlertsConfig, zone: str) -> tuple[str, ...]:
    """Who gets the zone's mail; the vantage point's goes to its own recipients."""
    if zone == VANTAGE_ZONE:
        return settings.vantage_recipients_or_default()
    return settings.recipients_for(zone)


def after_maintenance(settings: AlertsConfig, zone: str, events: list[Event]) -> list[Event]:
    """The digest without the problems that opened and closed inside a maintenance
    window: the work was announced, its passing faults are not news. Everything else
    held by the window (a problem still open at its end, a resolution, a change) stays
    and goes out now."""
    if not settings.maintenance:
        return events
    inside: dict[tuple[str, str, str, str], list[Event]] = {}
    for event in events:
        if settings.maintenance_until(zone, event.at) is not None:
            inside.setdefault(event.key_in_zone, []).append(event)
    quiet = {
        key for key, held in inside.items()
        if held[0].kind == OPENED and held[-1].kind == RESOLVED
    }  # fmt: skip
    for key in sorted(quiet):
        log.info("alerts: %s %s opened and resolved inside a maintenance window: not "
                 "mailed", zone, inside[key][0].label)  # fmt: skip
    return [e for e in events if not (e.key_in_zone in quiet and e in inside[e.key_in_zone])]
