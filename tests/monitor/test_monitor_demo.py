"""`ccmon demo` writes an ordinary config for the lab world; the loader accepts it."""

from __future__ import annotations

import types

from monitor.config import parse_config
from monitor.demo import demo_config_text


def test_demo_config_is_a_valid_config() -> None:
    world = types.SimpleNamespace(
        scenario=types.SimpleNamespace(zones=[
            types.SimpleNamespace(name="net", infra=True),
            types.SimpleNamespace(name="fr", infra=False),
            types.SimpleNamespace(name="xn--fiqs8s", infra=False),
        ]),
        root_address="127.53.0.1", resolver_address="127.53.0.2", port=5353,
    )  # fmt: skip
    config = parse_config(demo_config_text(world, "/tmp/x y.sqlite", "127.0.0.1:9999"))
    assert config.zones == ("fr", "xn--fiqs8s")
    assert config.probe.parent_addresses == ("127.53.0.1",)
    assert config.probe.resolver == ("127.53.0.2",) and config.probe.port == 5353
    assert config.schedule.interval == 15 and config.store.path == "/tmp/x y.sqlite"
    assert config.web.listen == "127.0.0.1:9999" and config.web.web_config_file is None
    text = demo_config_text(world, "s.db", zones=["fr"], interval="4s", web_config_file="w.yml")
    config = parse_config(text)
    assert config.zones == ("fr",) and config.schedule.interval == 4
    assert config.web.web_config_file == "w.yml"
