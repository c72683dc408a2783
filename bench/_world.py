"""Shared by the benchmarks: the scale world, optionally with extra zones, and settings."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lab import Lab
from lab.scale import data_path, scale_raw
from lab.scenario import parse_scenario
from probes.settings import ProbeSettings


def scale_lab(extra_zones: list[dict[str, Any]] | None = None, port: int | None = None) -> Lab:
    """A Lab (not started) of every real ccTLD, plus `extra_zones` in scenario form."""
    import json

    raw = scale_raw(json.loads(data_path().read_text(encoding="utf-8")))
    raw["zones"].extend(extra_zones or [])
    return Lab(parse_scenario(raw, "scale-bench"), port=port)


def lab_settings(lab: Lab, **changes: Any) -> ProbeSettings:
    return ProbeSettings(parent_addresses=(lab.root_address,), resolver=(lab.resolver_address,),
                         resolver_port=lab.port, port=lab.port, **changes)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")
