"""Fixtures of the deploy tests. The world (lab + three ccmon + Prometheus + VictoriaMetrics)
starts once per session, only when a test asks for it. A missing binary skips those tests,
except under CI=true, where it fails them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.deploy.world import World, require_binaries, running_world


@pytest.fixture(scope="session")
def world() -> Iterator[World]:
    require_binaries("prometheus")
    with running_world() as w:
        yield w
