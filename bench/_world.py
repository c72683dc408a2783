"""Shared by the benchmarks: a scale world, optionally with extra zones, and settings."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lab import Lab
from lab.scale import WORLDS, world_raw
from lab.scenario import parse_scenario
from probes.settings import ProbeSettings

__all__ = ["WORLDS", "lab_settings", "percentile", "scale_lab", "world_lab", "world_zones"]


def world_lab(world: str = "cctld", extra_zones: list[dict[str, Any]] | None = None,
              port: int | None = None) -> Lab:
    """A Lab (not started) of a scale world: ``cctld`` (every real ccTLD, 309 zones) or
    ``root`` (every TLD of the root zone, 1,438 zones), plus `extra_zones` in scenario
    form. Start it with ``with world_lab("root", port=...) as lab:``."""
    raw = world_raw(world)
    raw["zones"].extend(extra_zones or [])
    return Lab(parse_scenario(raw, f"{raw['name']}-bench"), port=port)


def scale_lab(extra_zones: list[dict[str, Any]] | None = None, port: int | None = None) -> Lab:
    """A Lab (not started) of every real ccTLD, plus `extra_zones` in scenario form."""
    return world_lab("cctld", extra_zones, port)


def world_zones(lab: Lab) -> list[str]:
    """The world's own zones, without the infrastructure zones that only hold NS addresses."""
    return [z.name for z in lab.scenario.zones if not z.infra]


def lab_settings(lab: Lab, **changes: Any) -> ProbeSettings:
    return ProbeSettings(parent_addresses=(lab.root_address,), resolver=(lab.resolver_address,),
                         resolver_port=lab.port, port=lab.port, **changes)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")
