"""The lab for tests: start it with real servers, or skip / fail.

A missing component skips, except under CI=true, where it fails. The demo world wants port
53; if another lab holds it (a shared development machine), start_lab waits a little, then
falls back to an unprivileged port (still real servers)."""

from __future__ import annotations

import os
import shutil
import socket
import time

import pytest

from lab import Lab, LabError, PortInUse, load_scenario

REAL_BINARIES = ("nsd", "nsd-control", "knotd", "knotc", "unbound")
FALLBACK_PORTS = (5301, 5302, 5303)


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


def start_lab(mode: str, ports: tuple[int | None, ...], **kwargs) -> Lab:
    """Start the demo world on the first free port of `ports` (bounded wait for the first)."""
    deadline = time.monotonic() + 5
    i = 0
    while True:
        lab = Lab(load_scenario("demo"), mode=mode, port=ports[i], **kwargs)
        try:
            return lab.start()
        except PortInUse:
            if i == 0 and time.monotonic() < deadline:
                time.sleep(1)
                continue
            i += 1
            if i == len(ports):
                raise


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def lab_started(lab: Lab, what: str = "the lab") -> Lab:
    """`lab.start()`, or the missing-component rule when it cannot start here (skip; under
    CI=true a failure)."""
    from tests.support.components import missing

    try:
        return lab.start()
    except LabError as exc:
        missing(f"{what} does not start here: {exc}")
