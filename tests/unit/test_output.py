"""monitor.output.write_whole: a command's output arrives whole however the pipe behaves."""

from __future__ import annotations

import fcntl
import io
import logging
import os
import signal
import threading
import time
from collections.abc import Callable

from monitor.logs import TextFormatter, WholeEventHandler
from monitor.output import write_whole

F_SETPIPE_SZ = 1031  # Linux fcntl; Python's constant only since 3.10 on some builds
TEXT = "".join(f"zone {n}: ns{n}.nic.例え.jp. answered\n" for n in range(6000))  # ~240 KB


def _unbuffered_stream(fd: int) -> io.TextIOWrapper:
    """sys.stdout as PYTHONUNBUFFERED makes it: text written through to a raw FileIO."""
    return io.TextIOWrapper(io.FileIO(fd, "w"), encoding="utf-8", write_through=True)


def _read_all_later(fd: int, delay: float, received: list[bytes]) -> threading.Thread:
    """A reader slower than the writer: starts after `delay`, reads 1 KiB at a time."""
    def read() -> None:
        time.sleep(delay)
        with os.fdopen(fd, "rb", buffering=0) as reader:
            while chunk := reader.read(1024):
                received.append(chunk)
    thread = threading.Thread(target=read)
    thread.start()
    return thread


def test_a_full_non_blocking_pipe_is_waited_for_not_dropped() -> None:
    read_end, write_end = os.pipe()
    fcntl.fcntl(write_end, F_SETPIPE_SZ, 4096)
    os.set_blocking(write_end, False)  # a write into the full pipe raises EAGAIN
    received: list[bytes] = []
    reader = _read_all_later(read_end, 0.2, received)
    stream = _unbuffered_stream(write_end)
    write_whole(TEXT, stream)
    stream.close()
    reader.join(30)
    assert b"".join(received).decode() == TEXT


def _write_while_interrupted(write: Callable[[io.TextIOWrapper], None]) -> bytes:
    """What a slow reader gets of `write` into a one-page pipe, while SIGALRM interrupts
    the writer every 50 ms (a blocking write() into a full pipe then returns short)."""
    read_end, write_end = os.pipe()
    fcntl.fcntl(write_end, F_SETPIPE_SZ, 4096)
    interrupted: list[float] = []
    previous = signal.signal(signal.SIGALRM, lambda *_: interrupted.append(time.monotonic()))
    received: list[bytes] = []
    reader = _read_all_later(read_end, 0.5, received)
    signal.setitimer(signal.ITIMER_REAL, 0.05, 0.05)  # every 50 ms while the writer blocks
    try:
        stream = _unbuffered_stream(write_end)
        write(stream)
        stream.close()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    reader.join(30)
    assert interrupted  # the writer was interrupted while the pipe was full
    return b"".join(received)


def test_a_write_interrupted_by_a_signal_goes_on_where_it_stopped() -> None:
    """The rest is written, not dropped (the handler here does nothing)."""
    assert _write_while_interrupted(lambda stream: write_whole(TEXT, stream)).decode() == TEXT


def test_a_log_event_longer_than_a_pipe_page_arrives_whole() -> None:
    """A traceback's event passes the 4,096 bytes a pipe writes at once."""
    record = logging.LogRecord("monitor.service", logging.ERROR, __file__, 1, "sweep failed",
                               None, None)
    record.exc_text = TEXT[:20_000]  # a long traceback, already formatted

    def log(stream: io.TextIOWrapper) -> None:
        handler = WholeEventHandler(stream)
        handler.setFormatter(TextFormatter())
        handler.emit(record)

    lines = _write_while_interrupted(log).decode().splitlines()
    assert lines[0].endswith("sweep failed")
    assert "\n".join(line.strip() for line in lines[1:]) == TEXT[:20_000].strip()


def test_a_stream_without_a_descriptor_gets_the_text() -> None:
    out = io.StringIO()
    write_whole(TEXT, out)
    assert out.getvalue() == TEXT
