"""Fixtures for the alert tests."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from lab import Lab
from tests.alerts.helpers import IN_CI, LAB_SCENARIO, Sink, free_port

REPO = Path(__file__).resolve().parents[2]
OUTAGE = 60.0  # s the monitor namespace's loopback is down in the shared outage run


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


def _namespaces_possible() -> str | None:
    if os.geteuid() != 0:
        return "network namespaces need root"
    for tool in ("unshare", "nsenter", "ip"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    probe = subprocess.run(["unshare", "-n", "true"], capture_output=True, timeout=10)
    if probe.returncode != 0:
        return f"unshare -n fails here: {probe.stderr.decode().strip()}"
    return None


@pytest.fixture(scope="session")
def vantage_outage_run(tmp_path_factory: pytest.TempPathFactory) -> dict:  # type: ignore[type-arg]
    """One real 60 s outage run, shared by every test that reads it (the alert tests here
    and `ccmon report` over its store in test_sla_vantage_netns.py): two minutes each."""
    why = _namespaces_possible()
    if why is not None:
        if IN_CI:
            pytest.fail(why)
        pytest.skip(why)
    workdir = tmp_path_factory.mktemp("outage")
    result = subprocess.run(
        ["unshare", "-n", sys.executable, "-m", "tests.alerts.netns_outage", str(workdir),
         str(OUTAGE)],
        capture_output=True, text=True, timeout=400, cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    logs = "".join(f"\n--- {p.name}\n" + p.read_text(errors="replace")[-3000:]
                   for p in sorted(workdir.glob("*.log")))
    assert result.returncode == 0, result.stderr[-3000:] + logs
    return {**json.loads(result.stdout.strip().splitlines()[-1]), "workdir": str(workdir)}
