"""Fixtures for the lab's acceptance tests: real NSD, Knot and Unbound on loopback.

A missing component skips these tests, except under CI=true, where it fails them.
The demo world wants port 53; if another lab holds it (a shared development machine), the
fixture waits a little, then falls back to an unprivileged port (still real servers)."""

from __future__ import annotations

import pytest

from tests.support import FALLBACK_PORTS, REAL_BINARIES, require_real, start_lab

__all__ = ["FALLBACK_PORTS", "REAL_BINARIES", "require_real", "start_lab"]


@pytest.fixture(scope="module")
def demo_lab():
    """The demo world with real servers, shared by the tests of one module."""
    require_real()
    lab = start_lab("real", (None, *FALLBACK_PORTS))
    try:
        yield lab
    finally:
        lab.stop()


@pytest.fixture(scope="module")
def python_lab():
    """The demo world in the python fallback (every server is our own), unprivileged port."""
    lab = start_lab("python", (5300, 5310, 5311))
    try:
        yield lab
    finally:
        lab.stop()
