"""process_* metrics: the client library's families and values, without listing /proc/self/fd."""

from __future__ import annotations

import os
import resource
import socket
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from monitor.metrics import Exporter
from monitor.process_metrics import FD_DIR, ProcessMetrics, open_descriptors
from monitor.snapshot import MonitorState, Snapshot

# /proc/self/fdinfo lists the same descriptors as /proc/self/fd, and its stat() size is 0
# on every kernel: the listing that kernels before 6.2 need, on this one.
LISTED = "/proc/self/fdinfo"


@pytest.fixture
def sockets() -> Iterator[list[socket.socket]]:
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    opened = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(min(2000, soft // 4))]
    try:
        yield opened
    finally:
        for sock in opened:
            sock.close()


def families(registry: CollectorRegistry) -> dict[str, tuple[str, str, float]]:
    text = generate_latest(registry).decode()
    return {f.name: (f.type, f.documentation, f.samples[0].value)
            for f in text_string_to_metric_families(text)}  # fmt: skip


def test_same_families_and_values_as_the_client_library() -> None:
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    ProcessMetrics(ours)
    ProcessCollector(registry=theirs)
    mine, library = families(ours), families(theirs)
    assert {n: v[:2] for n, v in mine.items()} == {n: v[:2] for n, v in library.items()}
    assert len(mine) == 6
    assert mine["process_start_time_seconds"][2] == library["process_start_time_seconds"][2]
    assert mine["process_max_fds"][2] == library["process_max_fds"][2]
    # the library's count includes the descriptor its listing holds open; ours does not
    assert mine["process_open_fds"][2] == library["process_open_fds"][2] - 1
    assert abs(mine["process_cpu_seconds"][2] - library["process_cpu_seconds"][2]) < 0.5
    rss, library_rss = mine["process_resident_memory_bytes"][2], library[
        "process_resident_memory_bytes"][2]  # fmt: skip
    assert abs(rss - library_rss) < 0.1 * library_rss


def test_open_descriptors_counts_what_is_opened_and_closed(
    sockets: list[socket.socket],
) -> None:
    count = open_descriptors()
    assert count == open_descriptors(LISTED)  # the stat() size and the listing agree
    if os.stat(FD_DIR).st_size:  # Linux >= 6.2 reports the count as the directory's size
        assert os.stat(FD_DIR).st_size == count
    extra = socket.socket()
    assert open_descriptors() == count + 1 == open_descriptors(LISTED)
    extra.close()
    assert open_descriptors() == count
    assert count >= len(sockets)


def test_a_scrape_lists_no_descriptor_directory(monkeypatch: pytest.MonkeyPatch) -> None:
    """The library's collector lists /proc/self/fd on every scrape (GIL released around each
    entry: measured 2.1 ms of CPU at 5,000 sockets against 0.05 ms, bench/metrics_latency.py
    --trace); ours reads its size. A kernel before 6.2 reports no count there (size 0), and
    the listing is then the only way."""
    expected = [] if os.stat(FD_DIR).st_size else [FD_DIR]
    listed: list[str] = []
    real_listdir, real_scandir = os.listdir, os.scandir

    def listdir(path: str = ".") -> list[str]:
        listed.append(str(path))
        return real_listdir(path)

    def scandir(path: str = ".") -> Iterator[os.DirEntry[str]]:
        listed.append(str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "listdir", listdir)
    monkeypatch.setattr(os, "scandir", scandir)
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    ProcessMetrics(ours)
    ProcessCollector(registry=theirs)
    generate_latest(theirs)
    assert any(path.endswith("/fd") for path in listed)  # the probe sees the library's listing
    listed.clear()
    generate_latest(ours)
    assert listed == expected


def test_the_exporter_serves_the_count_without_a_listing() -> None:
    """/metrics' tail: the client library's count would be one more (its listing's own
    descriptor); ccmon's is the kernel's."""
    exporter = Exporter(MonitorState(Snapshot(zones=("mx",))), build_version="1")
    for body in (exporter.serve(False), exporter.text()):
        served = {f.name: f.samples[0].value
                  for f in text_string_to_metric_families(body.decode())
                  if f.name.startswith("process_")}  # fmt: skip
        assert served["process_open_fds"] == open_descriptors()
        assert len(served) == 6


def test_out_of_descriptors_the_scrape_still_works() -> None:
    """At the descriptor limit (EMFILE) /proc/self/stat cannot be opened: the families read
    from it are left out, as the client library does, and the count is still there (stat()
    needs no descriptor). The soft limit is lowered for the test, so filling it is cheap."""
    registry = CollectorRegistry()
    ProcessMetrics(registry)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    low = open_descriptors() + 16
    held: list[int] = []
    resource.setrlimit(resource.RLIMIT_NOFILE, (low, hard))
    try:
        with pytest.raises(OSError):
            for _ in range(64):  # about 16 succeed (descriptors are numbered below the limit)
                held.append(os.open("/dev/null", os.O_RDONLY))
        served = families(registry)
        limit = families(registry)["process_max_fds"][2]
    finally:
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert "process_cpu_seconds" not in served
    assert served["process_open_fds"][2] == open_descriptors() + len(held)
    assert len(held) >= 1
    assert limit == low
    assert "process_cpu_seconds" in families(registry)  # with a descriptor free again
