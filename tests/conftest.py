"""The suite's shape: which tests need real components.

Every test under an integration directory or module below gets the `integration` marker, so
`pytest -m "not integration"` is the pure, fast run (no lab, no server, no subprocess). That
claim is enforced, not hoped for: in a test without the marker, starting a process, a lab or
a listening socket fails the test at once."""

from __future__ import annotations

import asyncio
import logging
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent

# Directories whose every test meets a real component (lab servers, Prometheus, SMTP,
# browser, sockets), and single modules of otherwise pure directories that do.
INTEGRATION_DIRS = ("lab", "integration", "deploy", "alerts")
INTEGRATION_MODULES = (
    "monitor/test_monitor_integration.py",
    "monitor/test_monitor_service.py",
    "monitor/test_monitor_web.py",
    "monitor/test_monitor_webconfig.py",
    "monitor/test_monitor_demo.py",
    "monitor/test_monitor_web_limits.py",
    "monitor/test_monitor_web_starve.py",
)


def _is_integration(path: Path) -> bool:
    rel = path.resolve().relative_to(TESTS).as_posix()
    return rel.split("/", 1)[0] in INTEGRATION_DIRS or rel in INTEGRATION_MODULES


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _is_integration(item.path):
            item.add_marker(pytest.mark.integration)


class RealComponentInPureTest(AssertionError):
    """A test without the integration marker tried to start a process or a server."""


def _refuse(what: str):
    def refuse(*_args: object, **_kwargs: object):
        raise RealComponentInPureTest(
            f"{what} in a test not marked integration (list it in tests/conftest.py)"
        )

    return refuse


@pytest.fixture(autouse=True)
def _root_logger_restored() -> Iterator[None]:
    """`ccmon run` in-process sets up logging to the stderr of that moment (pytest's capture):
    put the root logger back, or a later test logs into a closed stream and fails for it."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture(autouse=True)
def _pure_tests_start_nothing(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch):
    if request.node.get_closest_marker("integration"):
        yield
        return
    from lab import Lab

    monkeypatch.setattr(subprocess.Popen, "__init__", _refuse("a subprocess"))
    monkeypatch.setattr(asyncio, "create_subprocess_exec", _refuse("a subprocess"))
    monkeypatch.setattr(socket.socket, "listen", _refuse("a listening socket"))
    monkeypatch.setattr(Lab, "start", _refuse("a lab"))
    yield
