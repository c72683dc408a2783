"""A real component that is missing: the test skips, except under CI=true, where it fails."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"


def missing(what: str) -> NoReturn:
    """Skip for a missing component, except under CI=true, where it fails."""
    if IN_CI:
        pytest.fail(f"CI=true but {what}")
    pytest.skip(what)
