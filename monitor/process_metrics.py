"""The standard ``process_*`` metrics, read in a handful of system calls per scrape.

prometheus_client's ``ProcessCollector`` counts open descriptors by listing
``/proc/self/fd``. During a sweep ccmon holds thousands of sockets (7,800 over the lab's 309
ccTLDs), and ``os.listdir`` releases and retakes the GIL around every entry it reads: with
the prober's thread running Python, a scrape then lost the GIL to it again and again, for
the switch interval each time (5 ms). That listing was 80 % of the web thread's busy
samples (py-spy) and most of a scrape's 23-56 ms during sweeps. Since Linux 6.2 the size
that ``stat()`` reports for ``/proc/self/fd`` is the number of open descriptors: one system
call. Older kernels report 0 there and get the listing, as before.

The families, names, help texts and values are the client library's, so dashboards and
alerts written for any Prometheus client keep working.
"""

from __future__ import annotations

import contextlib
import os
import resource

from prometheus_client import ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

FD_DIR = "/proc/self/fd"
STAT = "/proc/self/stat"


def open_descriptors(fd_dir: str = FD_DIR) -> int:
    """Descriptors open in this process: the directory's size where the kernel reports the
    count there (Linux >= 6.2), else its entries less the one the listing itself opens."""
    size = os.stat(fd_dir).st_size
    if size > 0:
        return size
    return len(os.listdir(fd_dir)) - 1


def _read(path: str) -> bytes:
    """A /proc file shorter than 4 KiB (/proc/self/stat): open, one read, close, no
    buffered-file layers (each system call is a point where the GIL may change hands)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        return os.read(fd, 4096)
    finally:
        os.close(fd)


def _stat_fields() -> list[bytes]:
    """/proc/self/stat after the command name (which may hold spaces and parentheses):
    index 0 is the state (field 3 of proc(5))."""
    return _read(STAT).rpartition(b")")[2].split()


def _boot_time() -> float:
    """The boot time (once, at start): /proc/stat runs to many kilobytes on big machines
    (a line per CPU, one count per interrupt) before its btime line, so it is read whole."""
    with open("/proc/stat", "rb") as f:
        text = f.read()
    for line in text.splitlines():
        if line.startswith(b"btime "):
            return float(line.split()[1])
    raise OSError("no btime in /proc/stat")


class ProcessMetrics(Collector):
    """``process_*`` as ``ProcessCollector`` exposes them; off Linux it is that collector."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._fallback: ProcessCollector | None = None
        self._ticks = self._page = self._start = 0.0
        try:
            self._ticks = float(os.sysconf("SC_CLK_TCK"))
            self._page = float(os.sysconf("SC_PAGE_SIZE"))
            self._start = float(_stat_fields()[19]) / self._ticks + _boot_time()
        except (OSError, IndexError, ValueError, AttributeError):  # no /proc: the library's
            self._fallback = ProcessCollector(registry=None)
        registry.register(self)

    def collect(self) -> list[Metric]:
        """The samples of now. What cannot be read is left out, as the library does: out of
        descriptors (EMFILE) /proc/self/stat cannot be opened, and /metrics must still work."""
        if self._fallback is not None:
            return list(self._fallback.collect())
        out: list[Metric] = []
        with contextlib.suppress(OSError):
            out += self._from_stat(_stat_fields())
        with contextlib.suppress(OSError):  # the listing of kernels before 6.2 needs one
            out.append(GaugeMetricFamily("process_open_fds", "Number of open file descriptors.",
                                         value=open_descriptors()))  # fmt: skip
        soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        limit = float("inf") if soft == resource.RLIM_INFINITY else float(soft)
        out.append(GaugeMetricFamily("process_max_fds", "Maximum number of open file descriptors.",
                                     value=limit))  # fmt: skip
        return out

    def _from_stat(self, fields: list[bytes]) -> list[Metric]:
        """Memory, start time and CPU from the fields of /proc/self/stat."""
        cpu = (float(fields[11]) + float(fields[12])) / self._ticks
        return [
            GaugeMetricFamily("process_virtual_memory_bytes", "Virtual memory size in bytes.",
                              value=float(fields[20])),
            GaugeMetricFamily("process_resident_memory_bytes", "Resident memory size in bytes.",
                              value=float(fields[21]) * self._page),
            GaugeMetricFamily("process_start_time_seconds",
                              "Start time of the process since unix epoch in seconds.",
                              value=self._start),
            CounterMetricFamily("process_cpu_seconds_total",
                                "Total user and system CPU time spent in seconds.", value=cpu),
        ]  # fmt: skip
