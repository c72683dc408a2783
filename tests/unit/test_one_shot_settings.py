"""`ccmon check` keeps a smaller parse cache than the service, unless the config sets one."""

from __future__ import annotations

from probes.limits import ONE_SHOT_PARSE_CACHE_BYTES, for_one_shot
from probes.settings import DEFAULT_PARSE_CACHE_BYTES, ProbeSettings


def test_the_default_budget_shrinks_and_a_configured_one_stays() -> None:
    assert ONE_SHOT_PARSE_CACHE_BYTES < DEFAULT_PARSE_CACHE_BYTES
    assert for_one_shot(ProbeSettings()).parse_cache_bytes == ONE_SHOT_PARSE_CACHE_BYTES
    for configured in (0, 2**20, 64 * 2**20):
        settings = ProbeSettings(parse_cache_bytes=configured)
        assert for_one_shot(settings) == settings
