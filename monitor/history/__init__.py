"""Per-server SLA history in the store: hourly and daily rollups written with each sweep.

The SLA report (``ccmon report``, :mod:`monitor.sla`) needs, per zone and per (name server,
address), how many sweeps saw each state, the RTTs, serial lag, DNSSEC and open-service
sightings, and how much of the time was not measured. Keeping one row per server per sweep
would cost ~190 million rows a month for the 309 ccTLDs; the figures only need counts and
RTT histograms, so the sweep adds itself to one hourly and one daily row per series
(``history_hourly``, ``history_daily``, see :mod:`monitor.history.schema`), in the same
transaction as the rest of the sweep. Hourly rows are pruned with ``store.retention``; daily
rows (and the lame reasons per day) live for ``store.rollup_retention``.

The zone's per-sweep summary (availability, severity, open findings) is kept as runs of
alike sweeps (:mod:`monitor.history.runs`, issue 17): changes, not copies.
"""

from monitor.history.schema import MIGRATION, SCHEMA_TABLES
from monitor.history.writer import prune_history, record_history

__all__ = ["MIGRATION", "SCHEMA_TABLES", "prune_history", "record_history"]
