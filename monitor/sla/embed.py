"""The report's plots of one zone as an HTML fragment, for the status page's per-zone view
(the web side wires it in; this module only reads the store, read-only)."""

from __future__ import annotations

import time
from html import escape

from monitor.sla.figures import Period, ReportError, compute, open_store
from monitor.sla.render import zone_plots


def zone_plots_html(store_path: str, zone: str, days: int = 30,
                    now: float | None = None) -> str:  # fmt: skip
    """Calendar, heat strips, RTT and serial lag of the last ``days`` days (to the next
    full hour), or a one-line note when the store has nothing for the zone."""
    now = time.time() if now is None else now
    end = float(-(-now // 3600) * 3600)
    period = Period(end - days * 86400, end, f"the last {days} days")
    try:
        db = open_store(store_path)
    except ReportError as exc:
        return f'<p class="note">No history to plot: {escape(str(exc))}</p>'
    try:
        report = compute(db, period, [zone])
        return zone_plots(db, report, report.zones[0])
    except ReportError as exc:
        return f'<p class="note">No history to plot: {escape(str(exc))}</p>'
    finally:
        db.close()
