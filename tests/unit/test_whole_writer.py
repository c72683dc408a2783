"""`ccmon check` writes its report whole into a pipe however slowly it is read, even when
stdout is a raw file (PYTHONUNBUFFERED) that takes only part of a write."""

from __future__ import annotations

import contextlib
import io
import os
import threading
import time

from monitor.cli import WholeWriter

TEXT = "".join(f"zone {i}: ಭಾರತ ok\n" for i in range(20_000))  # ~500 KB, multi-byte


def _slow_reader(fd: int, got: list[bytes]) -> None:
    """Reads in small bites with pauses, as a pager or a loaded machine does."""
    while True:
        time.sleep(0.0005)
        chunk = os.read(fd, 16_384)
        if not chunk:
            return
        got.append(chunk)


def _raw_text_stream(fd: int) -> io.TextIOWrapper:
    """stdout as Python makes it under PYTHONUNBUFFERED: text over a raw, unbuffered file."""
    return io.TextIOWrapper(io.FileIO(fd, "w", closefd=False), encoding="utf-8",
                            write_through=True)


def test_everything_reaches_a_slow_reader_of_a_non_blocking_pipe() -> None:
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)  # every full pipe is a short write or EAGAIN
    got: list[bytes] = []
    reader = threading.Thread(target=_slow_reader, args=(read_end, got))
    reader.start()
    try:
        out = WholeWriter(_raw_text_stream(write_end))
        for start in range(0, len(TEXT), 65_536):  # batches, as the JSON document goes
            assert out.write(TEXT[start:start + 65_536]) == len(TEXT[start:start + 65_536])
    finally:
        os.close(write_end)
        reader.join(30)
        os.close(read_end)
    assert b"".join(got).decode() == TEXT


def test_the_raw_text_stream_alone_loses_text_there() -> None:
    """The failure WholeWriter exists for (so the test above can fail)."""
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)
    try:
        stream = _raw_text_stream(write_end)
        with contextlib.suppress(BlockingIOError):  # some Pythons say so, some do not
            stream.write(TEXT)
        os.close(write_end)
        received = b""
        while chunk := os.read(read_end, 65_536):
            received += chunk
    finally:
        os.close(read_end)
    assert len(received) < len(TEXT.encode())


def test_a_stream_without_a_file_gets_the_text_as_it_is() -> None:
    buffer = io.StringIO()
    WholeWriter(buffer).write(TEXT)
    assert buffer.getvalue() == TEXT
