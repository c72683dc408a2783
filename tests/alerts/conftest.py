"""Fixtures for the alert tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.alerts.helpers import Sink


@pytest.fixture
def sink() -> Iterator[Sink]:
    server = Sink().start()
    try:
        yield server
    finally:
        server.stop()
