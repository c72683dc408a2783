"""A command's output, written whole.

Where stdout is unbuffered (PYTHONUNBUFFERED, set in our container and on many CI hosts)
`sys.stdout.write` hands its bytes to one write() and ignores a short count: whatever the
kernel did not take is lost without an error. A blocking pipe write returns short when it
is interrupted while the reader is slower than we are; seen here under uvloop, where
`ccmon check --json` into a one-page pipe returned 4,096 of 65,538 bytes and the document
ended there, exit status 2 and nothing on stderr. So the reports go out through
`write_whole`, which writes until every byte is taken.
"""

from __future__ import annotations

import io
import os
import select
from typing import TextIO


def write_whole(text: str, stream: TextIO) -> None:
    """Write all of `text` to `stream`: on its descriptor, again after a short write, and
    waiting while a non-blocking descriptor is full. Streams without one (a test's StringIO)
    get a plain write."""
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, io.UnsupportedOperation):
        stream.write(text)
        return
    stream.flush()  # what was written through the stream before goes first
    data = memoryview(text.encode(stream.encoding or "utf-8", stream.errors or "strict"))
    while data:
        try:
            written = os.write(fd, data)  # retried by Python itself on EINTR with nothing sent
        except BlockingIOError:
            select.select([], [fd], [])  # a non-blocking descriptor is full: wait for room
            continue
        data = data[written:]
