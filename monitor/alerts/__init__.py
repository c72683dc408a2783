"""Built-in e-mail alerts: rules over findings, a persistent outbox, SMTP delivery.

One module per job:

- :mod:`~monitor.alerts.model`: problems and their phase, state-change events, a zone's
  mail state (the enums are stored by value);
- :mod:`~monitor.alerts.rules`: rule evaluation and the hold-down of a zone's problems;
- :mod:`~monitor.alerts.vantage`: the hold-down of the vantage point's own address families;
- :mod:`~monitor.alerts.text`: the wording of every mail;
- :mod:`~monitor.alerts.grouping`: rate limit, maintenance windows, recipients;
- :mod:`~monitor.alerts.outbox`: alert state and the outbox in the store's SQLite file;
- :mod:`~monitor.alerts.courier`: at-least-once delivery of the outbox;
- :mod:`~monitor.alerts.mailer`: SMTP, and ``ccmon test-email``;
- :mod:`~monitor.alerts.alerter`: the service's alerter, which ties them together.

Other modules import from here, not from the modules inside.
"""

from monitor.alerts.alerter import Alerter
from monitor.alerts.courier import OUTBOX_STATES, Courier
from monitor.alerts.mailer import FAILURE_REASONS, Delivery
from monitor.alerts.model import (
    CHANGED,
    OPENED,
    RESOLVED,
    VANTAGE_ZONE,
    Event,
    EventKind,
    Phase,
    ProblemKey,
    ProblemState,
    ZoneState,
)
from monitor.alerts.outbox import AlertDB, MessageStatus, OutboxError, OutboxWriteError
from monitor.alerts.rules import held, step
from monitor.alerts.text import compose, compose_vantage, utc
from monitor.alerts.vantage import vantage_step

__all__ = [
    "CHANGED",
    "FAILURE_REASONS",
    "OPENED",
    "OUTBOX_STATES",
    "RESOLVED",
    "VANTAGE_ZONE",
    "AlertDB",
    "Alerter",
    "Courier",
    "Delivery",
    "Event",
    "EventKind",
    "MessageStatus",
    "OutboxError",
    "OutboxWriteError",
    "Phase",
    "ProblemKey",
    "ProblemState",
    "ZoneState",
    "compose",
    "compose_vantage",
    "held",
    "step",
    "utc",
    "vantage_step",
]
