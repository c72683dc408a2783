"""``ccmon demo``: start the lab's demo world, monitor it, show where to look.

Everything runs offline on loopback: the lab starts real NSD and Knot servers plus the
fault server (one faulty server per LAME01 reason, a stale serial, a slow server, ...),
this module writes an ordinary config.yaml for that world into a temporary directory
(so what the demo runs is what a user would write), and ``ccmon run`` watches it with a
short interval. Ctrl-C stops the monitor, then the lab.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from monitor.config import ConfigError, load_config
from monitor.errors import EXIT_FAILURE, EXIT_OK

DEMO_INTERVAL = "15s"
DEMO_JITTER = "5s"
DEMO_LISTEN = "127.0.0.1:9153"


def demo_config_text(
    world: Any,
    store_path: str,
    listen: str = DEMO_LISTEN,
    *,
    zones: list[str] | None = None,
    interval: str = DEMO_INTERVAL,
    jitter: str = DEMO_JITTER,
    web_config_file: str | None = None,
    disabled_checks: tuple[str, ...] = (),
) -> str:
    """config.yaml for a running lab world: its root as parent, its resolver, its port."""
    if zones is None:
        zones = [z.name for z in world.scenario.zones if not z.infra]
    lines = [
        "# Written by `ccmon demo` for the lab's demo world (offline, loopback only).",
        f"zones: {json.dumps(zones)}",
        f"parent: [{world.root_address}]",
        f"resolver: [{world.resolver_address}]",
        f"resolver_port: {world.port}",
        f"port: {world.port}",
        "probe:",
        "  udp_timeout: 1500ms       # short, so sweeps of the silent servers stay short",
        "  udp_tries: 2",
        "  tcp_timeout: 2s",
        *(["checks:", f"  disabled: {json.dumps(list(disabled_checks))}"]
          if disabled_checks else []),
        "schedule:",
        f"  interval: {interval}",
        f"  jitter: {jitter}",
        "  allow_fast_interval: true  # a lab world on loopback: sweeps faster than 10 s",
        "store:",
        f"  path: {json.dumps(store_path)}",
        "  retention: 1d",
        "web:",
        f"  listen: {json.dumps(listen)}",
    ]
    if web_config_file:
        lines.append(f"  web_config_file: {json.dumps(web_config_file)}")
    return "\n".join([*lines, ""])


def _say(text: str = "") -> None:
    print(text, flush=True)


def run_demo(port: int | None = None, listen: str = DEMO_LISTEN) -> int:
    """Run the demo until Ctrl-C; returns the exit status."""
    import lab
    from monitor import service

    workdir = Path(tempfile.mkdtemp(prefix="ccmon-demo-"))
    try:
        _say("ccmon demo: starting the lab's DNS world on loopback ...")
        with lab.Lab(lab.load_scenario("demo"), port=port) as world:
            config_path = workdir / "config.yaml"
            # Every lab address is on one loopback /24 and none is IPv6: DIV01 (network
            # diversity) would warn on every zone of the demo, so the demo leaves it out.
            text = demo_config_text(world, str(workdir / "ccmon.sqlite"), listen,
                                    disabled_checks=("DIV01",))
            config_path.write_text(text, encoding="utf-8")
            config = load_config(config_path)
            base = f"http://{listen}/"
            _say(f"lab: {len(config.zones)} zones, root {world.root_address} port {world.port} "
                 f"({world.mode} servers: {world.mode_reason})")  # fmt: skip
            _say(f"config: {config_path} (DIV01 off: loopback cannot be diverse)")
            _say()
            _say(f"  status page   {base}")
            _say(f"  metrics       {base}metrics")
            _say(f"  JSON API      {base}api/v1/zones")
            _say(f"  health        {base}healthz")
            _say()
            _say(f"First sweeps within {DEMO_JITTER}, then every {DEMO_INTERVAL}. Ctrl-C stops.")
            status = service.run(config)
            _say("ccmon demo: stopping the lab ...")
            return status
    except KeyboardInterrupt:
        _say("ccmon demo: interrupted")
        return EXIT_OK
    except (lab.LabError, ConfigError) as exc:
        print(f"ccmon demo: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
