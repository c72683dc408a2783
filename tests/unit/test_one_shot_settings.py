"""`ccmon check` keeps a smaller parse cache than the service, unless the config sets one."""

from __future__ import annotations

from probes.limits import ONE_SHOT_PARSE_CACHE_BYTES, for_one_shot
from probes.settings import DEFAULT_PARSE_CACHE_BYTES, ProbeSettings


def test_the_default_budget_shrinks_and_a_configured_one_stays() -> None:
    assert ONE_SHOT_PARSE_CACHE_BYTES < DEFAULT_PARSE_CACHE_BYTES
    assert for_one_shot(ProbeSettings()).parse_cache_bytes == ONE_SHOT_PARSE_CACHE_BYTES
    # a configured budget, the default's own size included, is the operator's: kept
    for configured in (0, 2**20, DEFAULT_PARSE_CACHE_BYTES, 64 * 2**20):
        settings = ProbeSettings(parse_cache_bytes=configured)
        assert for_one_shot(settings) == settings


def test_the_default_budget_follows_the_addresses_met_within_its_floor_and_ceiling() -> None:
    from probes.limits import PARSE_CACHE_MOST, PARSE_CACHE_PER_ADDRESS, parse_cache_budget

    floor_addresses = DEFAULT_PARSE_CACHE_BYTES // PARSE_CACHE_PER_ADDRESS  # 2,730
    ceiling_addresses = PARSE_CACHE_MOST // PARSE_CACHE_PER_ADDRESS  # 21,845
    default = DEFAULT_PARSE_CACHE_BYTES
    unset = None  # no budget in the config
    assert parse_cache_budget(unset, 0) == default
    assert parse_cache_budget(unset, floor_addresses) == default  # the floor
    assert parse_cache_budget(unset, floor_addresses + 1) == 2_731 * 6 * 1024 > default
    assert parse_cache_budget(unset, 11_561) == 11_561 * 6 * 1024  # the whole root: 68 MiB
    assert parse_cache_budget(unset, ceiling_addresses) == ceiling_addresses * 6 * 1024
    assert parse_cache_budget(unset, ceiling_addresses + 1) == PARSE_CACHE_MOST
    assert parse_cache_budget(unset, 10**6) == PARSE_CACHE_MOST == 128 * 2**20
    for configured in (0, 2**20, default, 64 * 2**20, ONE_SHOT_PARSE_CACHE_BYTES):  # kept as set
        assert parse_cache_budget(configured, 11_561) == configured
