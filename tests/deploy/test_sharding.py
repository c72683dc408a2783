"""monitor.sharding: `ccmon run --shard K/N` splits the zone list stably."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from monitor.config import Config, ConfigError, all_cctlds
from monitor.sharding import apply_shard, parse_shard, shard_of

ZONES = all_cctlds()


def split(zones: tuple[str, ...], n: int) -> list[tuple[str, ...]]:
    config = Config(zones=zones)
    return [apply_shard(config, f"{k}/{n}").zones for k in range(1, n + 1)]


@pytest.mark.parametrize("n", [1, 2, 3, 5, 16])
def test_shards_partition_the_zone_list(n: int) -> None:
    shards = split(ZONES, n)
    seen = [zone for shard in shards for zone in shard]
    assert sorted(seen) == sorted(ZONES)  # every zone exactly once
    assert len(set(seen)) == len(seen)
    for shard in shards:  # configured order kept inside each shard
        assert list(shard) == [z for z in ZONES if z in set(shard)]


@pytest.mark.parametrize("n", [2, 4, 8])
def test_shards_are_balanced(n: int) -> None:
    sizes = [len(s) for s in split(ZONES, n)]
    mean = len(ZONES) / n
    assert all(abs(size - mean) < 0.35 * mean for size in sizes), sizes


def test_split_does_not_depend_on_list_order() -> None:
    forward = split(ZONES, 3)
    backward = split(tuple(reversed(ZONES)), 3)
    assert [sorted(s) for s in forward] == [sorted(s) for s in backward]


def test_split_is_the_same_in_another_process_with_another_hash_seed() -> None:
    code = (
        "from monitor.sharding import shard_of; from monitor.config import all_cctlds;"
        "print(','.join(str(shard_of(z, 7)) for z in all_cctlds()))"
    )
    outputs = set()
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60,
            check=True,
        )
        outputs.add(done.stdout.strip())
    assert outputs == {",".join(str(shard_of(z, 7)) for z in ZONES)}


def test_known_assignments_are_pinned() -> None:
    # A fleet upgraded piecemeal must agree on the split: pin a few to catch a changed hash.
    assert [shard_of(z, 2) for z in ("fr", "de", "nl", "jp", "xn--fiqs8s")] == [1, 2, 1, 2, 2]
    zones = ("fr", "de", "nl", "jp", "au", "br", "za", "xn--fiqs8s")
    assert [shard_of(z, 3) for z in zones] == [1, 2, 1, 2, 1, 2, 1, 2]


def test_growing_the_fleet_moves_few_zones() -> None:
    for n in (2, 4, 9):
        before = {z: shard_of(z, n) for z in ZONES}
        after = {z: shard_of(z, n + 1) for z in ZONES}
        moved = [z for z in ZONES if before[z] != after[z]]
        assert all(after[z] == n + 1 for z in moved)  # only to the new shard
        assert len(moved) < 2 * len(ZONES) / (n + 1)


def test_zone_name_case_and_trailing_dot_do_not_matter() -> None:
    assert shard_of("FR.", 5) == shard_of("fr", 5)


def test_one_of_one_is_everything() -> None:
    config = Config(zones=("fr", "de"))
    assert apply_shard(config, "1/1") == config


@pytest.mark.parametrize(
    "spec, message",
    [
        ("", "bad value"),
        ("1", "bad value"),
        ("a/b", "bad value"),
        ("1/2/3", "bad value"),
        ("-1/2", "bad value"),
        ("0/2", "K must be from 1 to N"),
        ("3/2", "K must be from 1 to N"),
        ("1/0", "N must be from 1"),
        ("1/5000", "N must be from 1"),
    ],
)
def test_bad_specs_raise_config_error(spec: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        apply_shard(Config(zones=("fr",)), spec)


def test_spaces_are_tolerated() -> None:
    assert parse_shard(" 2 / 3 ") == (2, 3)


def test_an_empty_shard_is_an_error() -> None:
    config = Config(zones=("fr",), source="small.yaml")
    empty = next(k for k in (1, 2) if shard_of("fr", 2) != k)
    with pytest.raises(ConfigError, match=r"no zone of the 1 in small.yaml"):
        apply_shard(config, f"{empty}/2")


@pytest.mark.parametrize("spec", ["0/2", "x", "3/2"])
def test_ccmon_run_refuses_a_bad_shard(spec: str, tmp_path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("zones: [fr, de]\n", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "monitor", "run", "--config", str(config), "--shard", spec],
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 3, done.stderr  # the config error status, nothing started
    assert "--shard" in done.stderr
