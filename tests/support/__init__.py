"""Helpers shared by every test package: the lab, free ports, the one bounded wait, the one
process wrapper, and the missing-component rule (skip, except under CI=true: fail)."""

from tests.support.components import IN_CI, missing
from tests.support.lab import (
    FALLBACK_PORTS,
    REAL_BINARIES,
    free_port,
    lab_started,
    require_real,
    start_lab,
)
from tests.support.processes import Proc, ProcessExited
from tests.support.waiting import WaitTimeout, wait_for

__all__ = [
    "FALLBACK_PORTS",
    "IN_CI",
    "REAL_BINARIES",
    "Proc",
    "ProcessExited",
    "WaitTimeout",
    "free_port",
    "lab_started",
    "missing",
    "require_real",
    "start_lab",
    "wait_for",
]
