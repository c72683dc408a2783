"""`ccmon run --shard K/N`: split the zone list stably across N instances.

Each zone goes to exactly one of the N shards, chosen by rendezvous hashing
(highest random weight): every shard index ``k`` gets a score ``sha256("zone/k")`` and
the zone belongs to the shard with the highest score. That makes the split

* **stable**: it depends only on the zone name and N, not on the order of the zone list,
  the Python version or ``PYTHONHASHSEED`` (``hash()`` is salted per process; SHA-256
  is not), so every instance of a fleet computes the same split from the same config;
* **minimal on resize**: going from N to N+1 shards moves only the zones whose new
  shard N+1 scores highest (about 1/(N+1) of them); the rest stay where they were, so
  their time series keep their instance.

Shards are numbered from 1: ``1/3``, ``2/3``, ``3/3``. ``1/1`` is the whole list.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import replace

from monitor.config import Config, ConfigError

MAX_SHARDS = 1024

_SPEC = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


def parse_shard(spec: str) -> tuple[int, int]:
    """'2/3' → (2, 3); raises ConfigError for anything but K/N with 1 ≤ K ≤ N."""
    match = _SPEC.match(str(spec))
    if not match:
        raise ConfigError(f"--shard: bad value {spec!r} (K/N, e.g. 1/2: shard 1 of 2)")
    k, n = int(match.group(1)), int(match.group(2))
    if not 1 <= n <= MAX_SHARDS:
        raise ConfigError(f"--shard: N must be from 1 to {MAX_SHARDS}, got {spec!r}")
    if not 1 <= k <= n:
        raise ConfigError(f"--shard: K must be from 1 to N (shards count from 1), got {spec!r}")
    return k, n


def _score(zone: str, shard: int) -> int:
    digest = hashlib.sha256(f"{zone.lower().rstrip('.')}/{shard}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def shard_of(zone: str, shards: int) -> int:
    """The shard (1..shards) that watches ``zone``."""
    if shards < 1:
        raise ValueError("shards must be at least 1")
    return max(range(1, shards + 1), key=lambda k: (_score(zone, k), -k))


def apply_shard(config: Config, spec: str) -> Config:
    """The config with only the zones of shard K of N, in their configured order."""
    k, n = parse_shard(spec)
    zones = tuple(zone for zone in config.zones if shard_of(zone, n) == k)
    if not zones:
        raise ConfigError(
            f"--shard {k}/{n}: no zone of the {len(config.zones)} in {config.source} falls "
            f"in this shard; use fewer shards"
        )
    return replace(config, zones=zones)
