"""``ccmon run``: config → store → scheduler → prober → store → metrics and web.

One asyncio loop runs the scheduler and the probe engine; the HTTP server runs on its own
loop in a thread (see :mod:`monitor.web`). After each sweep the report, the history row
and the updated counters go to SQLite in one transaction the service owns (the store tracks
the history, the history checks SOA03 and DELEG05 judge it, the store saves), then a
new snapshot is swapped in for the readers. SIGTERM or SIGINT stops the scheduler,
cancels sweeps in progress (a cancelled sweep writes nothing, so the store stays
consistent), stops the web server and closes the store, all within a few seconds; the
exit status is then 0.

When the store cannot be written (disk full, read-only, locked), a sweep is still published
to /metrics and the status page, marked as not stored (``ccmon_store_persisting`` 0,
/healthz 503 naming the cause); the failure is counted and logged once a minute
(:class:`monitor.store.StoreHealth`), alert mail waits, and everything resumes by itself
with the first write that works.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import replace
from typing import Any, Protocol

from monitor.alerts import Alerter, OutboxError, OutboxWriteError
from monitor.config import Config
from monitor.config.webconfig import load_web_config
from monitor.errors import EXIT_FAILURE, EXIT_OK, MonitorError
from monitor.metrics import Exporter
from monitor.scheduler import SweepScheduler
from monitor.snapshot import MonitorState, Snapshot, ZoneHistory, ZoneTotals
from monitor.store import Store, StoreError, StoreWriteError
from monitor.web import WebServer, make_app
from monitor.web.pages.zone import StoreReader
from probes.checks.history import History, judge_history
from probes.collector import CollectorPace
from probes.loop import run as run_loop
from probes.model import ZoneReport
from probes.settings import ProbeSettings

log = logging.getLogger(__name__)

PRUNE_EVERY = 3600.0  # seconds between two prunes of the history
SWEEP_STOP_TIMEOUT = 2.0  # seconds cancelled sweeps get to unwind
PROBER_CLOSE_TIMEOUT = 1.0
ALERTS_CLOSE_TIMEOUT = 1.5  # a send in progress may finish; SIGTERM must exit within 5 s


class ZoneProber(Protocol):
    """What the service needs of a prober: one sweep of one zone."""

    async def sweep(self, zone: str) -> ZoneReport:
        """Sweep one zone and return its report."""


ProberFactory = Callable[[ProbeSettings], AbstractAsyncContextManager[Any]]


def _default_prober(settings: ProbeSettings) -> AbstractAsyncContextManager[Any]:
    from probes.sweep import Prober

    return Prober(settings)


class Service:
    """The running monitor; :func:`run` drives it, tests can drive it directly."""

    def __init__(self, config: Config, prober_factory: ProberFactory | None = None) -> None:
        self.config = config
        self.prober_factory = prober_factory or _default_prober
        self.stopping = asyncio.Event()
        self.store: Store | None = None
        self.state: MonitorState | None = None
        self.web: WebServer | None = None
        self.exporter: Exporter | None = None
        self.scheduler: SweepScheduler | None = None
        self.prober: ZoneProber | None = None
        self.alerter: Alerter | None = None
        self.ready = asyncio.Event()  # set once the web server listens and jobs are added
        self.pace_collector = False  # run() sets it: the process is ccmon's alone (not a test's)
        self.collector: CollectorPace | None = None

    # --- the sweep path ------------------------------------------------------------------

    async def sweep_zone(self, zone: str) -> None:
        """Sweep one zone, then store, publish, warm /metrics, alert; a failure counts an error."""
        assert self.prober is not None and self.store is not None and self.state is not None
        try:
            report = await self.prober.sweep(zone)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("sweep of %s failed", zone)
            self._bump(zone, errors=1)
            return
        totals = self.state.snapshot.totals.get(report.zone, ZoneTotals()).add_report(report)
        report, history = self._record(report, totals)
        self.state.publish(report, totals, history)
        if self.exporter is not None:
            self.exporter.collector.warm(report.zone)
        if self.alerter is not None:
            try:
                await self.alerter.on_report(report)
            except OutboxWriteError:  # the store is not writable: counted and logged there
                log.debug("alerts: the sweep of %s could not be recorded", zone)
            except Exception:  # a broken alert path must not stop the monitoring
                log.exception("alerts: processing the sweep of %s failed", zone)
        log.debug("swept %s in %.2f s: %s", zone, report.duration, report.severity.name)

    def _record(self, report: ZoneReport, totals: ZoneTotals) -> tuple[ZoneReport, ZoneHistory]:
        """Store the sweep in one transaction, no await inside: the history is updated with
        it, the history checks (SOA03, DELEG05) judge that history and add their findings
        to the report that is stored, published (metrics, status page) and alerted on."""
        assert self.store is not None and self.state is not None
        try:
            with self.store.transaction():
                report, history = self.store.track(report)
                report = self._with_history_findings(report, history)
                self.store.save(report, totals)
        except StoreWriteError:  # counted and logged (once a minute) by store.health
            return report, self.state.snapshot.history.get(report.zone) or ZoneHistory()
        return report, self.store.history_after(report)

    def _with_history_findings(self, report: ZoneReport, history: History) -> ZoneReport:
        try:
            extra = judge_history(report, history, self.config.probe.for_zone(report.zone))
        except Exception:  # a broken history check must not lose the sweep
            log.exception("history checks of %s failed", report.zone)
            return report
        return replace(report, findings=report.findings + tuple(extra)) if extra else report

    def _bump(self, zone: str, *, errors: int = 0, skipped: int = 0) -> None:
        assert self.store is not None and self.state is not None
        old = self.state.snapshot.totals.get(zone, ZoneTotals())
        totals = ZoneTotals.from_dict(
            {**old.to_dict(), "errors": old.errors + errors, "skipped": old.skipped + skipped}
        )
        with contextlib.suppress(StoreWriteError):  # counted by store.health; kept in memory
            self.store.save_totals(zone, totals)
        self.state.publish_totals(zone, totals)

    def skipped(self, zone: str) -> None:
        """Count a sweep that was skipped (the previous one still running)."""
        self._bump(zone, skipped=1)

    async def prune(self) -> None:
        """Delete history past the retention; a failed write waits for the next prune."""
        assert self.store is not None
        try:
            removed = self.store.prune()
        except StoreWriteError:  # counted by store.health; the next prune tries again
            return
        if removed:
            log.info("pruned %d history rows older than the retention", removed)

    # --- lifecycle -------------------------------------------------------------------

    def _open(self) -> None:
        cfg = self.config
        self.store = Store(
            cfg.store.path, cfg.store.retention, rollup_retention=cfg.store.rollup_retention
        )
        try:
            self.alerter = Alerter(cfg)  # its own tables and connection in the same file
        except OutboxError as exc:
            self.store.close()
            raise StoreError(str(exc)) from exc
        self.alerter.db.health = self.store.health  # one count of the file's failed writes
        reports = {z: r for z, r in self.store.latest_reports().items() if z in cfg.zones}
        self.state = MonitorState(
            Snapshot(
                zones=cfg.zones,
                reports=reports,
                totals={z: t for z, t in self.store.totals().items() if z in cfg.zones},
                history=self.store.histories(reports),
                interval=cfg.schedule.interval,
                started_at=time.time(),
            )
        )
        self.store.health.on_change = self.state.publish_store
        self.alerter.courier.on_status = self.state.publish_outbox
        self.alerter.courier.publish()

    async def serve(self) -> int:
        """Run until :attr:`stopping` is set. Returns the exit status."""
        cfg = self.config
        try:
            security = load_web_config(cfg.web.web_config_file)  # WebConfigError: exit 3
            self._open()  # StoreError: exit 1
        except MonitorError as exc:
            log.error("%s", exc)
            return exc.exit_code
        assert self.state is not None and self.store is not None
        if self.pace_collector:  # start-up's objects frozen, then the sweeps' paced
            self.collector = CollectorPace()
            self.collector.start(asyncio.get_running_loop())
        try:
            self.exporter = Exporter(self.state)
            reader = StoreReader(self.store, asyncio.get_running_loop())  # zone pages' history
            app = make_app(self.state, security, self.exporter, reader)
            self.web = WebServer(app, cfg.web.listen, security.ssl_context, cfg.web,
                                 security.refresh_certificates)
            self.web.start()
        except (OSError, ValueError) as exc:
            log.error("cannot listen on %s: %s", cfg.web.listen, exc)
            self.store.close()
            return EXIT_FAILURE
        try:
            await self._sweep_until_stopped()
        finally:
            self.web.stop()
            self.store.close()
            if self.collector is not None:
                self.collector.stop()
        log.info("stopped")
        return EXIT_OK

    async def _sweep_until_stopped(self) -> None:
        cfg = self.config
        prober_cm = self.prober_factory(cfg.probe)
        self.prober = await prober_cm.__aenter__()
        assert self.alerter is not None
        delivery = asyncio.create_task(self.alerter.run_delivery())
        try:
            self.scheduler = SweepScheduler(
                cfg.zones, cfg.schedule.interval, cfg.schedule.jitter,
                self.sweep_zone, self.skipped,
            )  # fmt: skip
            self.scheduler.add_periodic("prune", self.prune, PRUNE_EVERY)
            self.scheduler.start()
            assert self.web is not None
            log.info(
                "watching %d zones every %.0f s; serving %s",
                len(cfg.zones), cfg.schedule.interval, self.web.url,
            )  # fmt: skip
            self.ready.set()
            await self.stopping.wait()
            log.info("stopping")
            await self.scheduler.stop(SWEEP_STOP_TIMEOUT)
        finally:
            # A send in progress finishes and is recorded (no duplicate after a restart);
            # mail still queued stays in the outbox for the next start.
            await self.alerter.aclose(timeout=ALERTS_CLOSE_TIMEOUT)
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(delivery, 0.5)
            try:
                await asyncio.wait_for(prober_cm.__aexit__(None, None, None), PROBER_CLOSE_TIMEOUT)
            except Exception as exc:  # closing must not block the exit (TimeoutError too)
                log.warning("prober did not close cleanly: %r", exc)

    def stop(self) -> None:
        """Ask the service to stop."""
        self.stopping.set()


async def _main(config: Config, prober_factory: ProberFactory | None) -> int:
    service = Service(config, prober_factory)
    service.pace_collector = True
    loop = asyncio.get_running_loop()
    signals = (signal.SIGTERM, signal.SIGINT)
    for sig in signals:
        loop.add_signal_handler(sig, service.stop)
    try:
        return await service.serve()
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)


def run(config: Config, prober_factory: ProberFactory | None = None) -> int:
    """Run the monitor until SIGTERM/SIGINT; returns the process exit status."""
    if not logging.getLogger().handlers:  # the CLI did not configure logging: to stderr
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
    return run_loop(_main(config, prober_factory), prefer_uvloop=True)
