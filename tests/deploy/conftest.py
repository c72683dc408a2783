"""Fixtures of the deploy tests. The world (lab + three ccmon + Prometheus + VictoriaMetrics)
starts once per session, only when a test asks for it. A missing binary skips those tests,
except under CI=true, where it fails them."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest

from tests.deploy.world import World, running_world

NEEDED = {"prometheus": "Debian package prometheus",
          "victoria-metrics": "Debian package victoria-metrics"}


def require_binaries(*names: str) -> None:
    missing = [f"{n} ({NEEDED.get(n, n)})" for n in names if shutil.which(n) is None]
    if not missing:
        return
    message = "not installed: " + ", ".join(missing)
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail("CI=true needs " + message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def world() -> Iterator[World]:
    require_binaries("prometheus", "victoria-metrics")
    with running_world() as w:
        yield w
