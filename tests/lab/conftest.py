"""Fixtures for the lab's acceptance tests: real NSD, Knot and Unbound on loopback.

A missing component skips these tests, except under CI=true, where it fails them."""

from __future__ import annotations

import os
import shutil

import pytest

from lab import Lab, load_scenario

REAL_BINARIES = ("nsd", "nsd-control", "knotd", "knotc", "unbound")


def require_real() -> None:
    missing = [b for b in REAL_BINARIES if shutil.which(b) is None]
    problems = []
    if missing:
        problems.append(f"not installed: {', '.join(missing)}")
    if os.geteuid() != 0:
        problems.append("not root (port 53 on 127.53.0.0/16)")
    if not problems:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail("CI=true needs the real lab: " + "; ".join(problems))
    pytest.skip("real lab unavailable: " + "; ".join(problems))


@pytest.fixture(scope="module")
def demo_lab():
    """The demo world with real servers, shared by the tests of one module."""
    require_real()
    with Lab(load_scenario("demo"), mode="real") as lab:
        yield lab


@pytest.fixture(scope="module")
def python_lab():
    """The demo world in the python fallback (every server is our own), unprivileged port."""
    with Lab(load_scenario("demo"), mode="python", port=5300) as lab:
        yield lab
