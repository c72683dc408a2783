"""Fixtures for the alert tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from lab import Lab
from tests.alerts.helpers import IN_CI, LAB_SCENARIO, Sink, free_port


@pytest.fixture(scope="session")
def alert_lab() -> Iterator[Lab]:
    """The alert tests' lab (real NSD + Knot + fault server), on a free port."""
    from lab import parse_scenario

    try:
        running = Lab(parse_scenario(LAB_SCENARIO, "alerts"), port=free_port()).start()
    except Exception as exc:  # the lab's own error says what is missing
        if IN_CI:
            raise
        pytest.skip(f"the lab cannot start here: {exc}")
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def sink() -> Iterator[Sink]:
    server = Sink().start()
    try:
        yield server
    finally:
        server.stop()
