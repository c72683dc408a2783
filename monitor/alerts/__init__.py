"""Built-in e-mail alerts: rules over findings, a persistent outbox, SMTP delivery.

- :mod:`~monitor.alerts.alerter`: the service's alerter (sweeps in, queued mail out);
- :mod:`~monitor.alerts.outbox`: alert state and the outbox in the store's SQLite file;
- :mod:`~monitor.alerts.mailer`: SMTP, and ``ccmon test-email``.

Other modules import from here, not from the modules inside.
"""

from monitor.alerts.alerter import (
    CHANGED,
    OPENED,
    RESOLVED,
    VANTAGE_ZONE,
    Alerter,
    compose,
    step,
    utc,
)
from monitor.alerts.mailer import FAILURE_REASONS
from monitor.alerts.outbox import OUTBOX_STATES, OutboxError, OutboxWriteError

__all__ = [
    "CHANGED",
    "FAILURE_REASONS",
    "OPENED",
    "OUTBOX_STATES",
    "RESOLVED",
    "VANTAGE_ZONE",
    "Alerter",
    "OutboxError",
    "OutboxWriteError",
    "compose",
    "step",
    "utc",
]
