"""The one bounded poll every test waits with."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

# What a check may raise while the thing it polls is still coming up: a refused connection,
# a half-written file, a reply without the key yet, a store locked by its writer. Anything
# else is a bug and propagates.
TRANSIENT = (OSError, ValueError, LookupError, RuntimeError, sqlite3.Error)


class WaitTimeout(AssertionError):
    """`wait_for` gave up: what it waited for, how long, the last transient error."""


def wait_for(
    check: Callable[[], T | None],
    timeout: float,
    what: str,
    every: float = 0.2,
    context: Callable[[], str] | None = None,
) -> T:
    """Poll `check` until it returns something truthy and return that, at most `timeout` s.

    On timeout raise WaitTimeout naming `what`, the last transient error and, when given,
    `context()` (e.g. the logs of the processes under test)."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while True:
        try:
            value = check()
            if value:
                return value
        except TRANSIENT as exc:
            last = exc
        if time.monotonic() >= deadline:
            detail = f" (last error: {last})" if last else ""
            extra = f"\n{context()}" if context else ""
            raise WaitTimeout(f"timed out after {timeout:g} s waiting for {what}{detail}{extra}")
        time.sleep(every)
