"""The deploy tests' world: the lab's demo DNS world, three `ccmon run` processes as two
vantage points, one Prometheus scraping them (target label ``vantage``) and remote-writing
to VictoriaMetrics.

* vantage ``a``: one instance watching every zone, UDP threshold 500 ms (ICANN);
* vantage ``b``: two instances, ``--shard 1/2`` and ``--shard 2/2`` of the same zone list,
  UDP threshold 1 s. The lab's ec has a server answering after 700 ms, so ``a`` counts it
  down and ``b`` does not: with 2 vantage points that is 50 % failing, under ICANN's
  51 %, so the vote keeps it up. Servers that fail everywhere (dead, silent) are down.

While the world runs, fr's serial is raised with the secondaries 3 s behind the primary,
so SOA propagation (SOA03) has a value.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.deploy.stack import (
    Ccmon,
    Prometheus,
    ScrapeTarget,
    StackError,
    VictoriaMetrics,
    ccmon_config,
    wait_for,
)
from tests.support import WaitTimeout

#: Lab zones whose third server fails from everywhere, and how (scenario "demo").
DOWN_EVERYWHERE = {("py", "ns3.nic.py.", "127.53.19.3"), ("bo", "ns3.nic.bo.", "127.53.18.3"),
                   ("ly", "ns1.nic.ly.", "127.53.27.1"), ("ly", "ns2.nic.ly.", "127.53.27.2")}
SLOW_SERVER = ("ec", "ns3.nic.ec.", "127.53.17.3")  # 700 ms: down at a, up at b
PROPAGATION_ZONE = "fr"
SECONDARY_DELAY = 3.0
INTERVAL = 3.0


NEEDED = {"prometheus": "Debian package prometheus",
          "victoria-metrics": "Debian package victoria-metrics"}


def require_binaries(*names: str) -> None:
    missing = [f"{n} ({NEEDED.get(n, n)})" for n in names if shutil.which(n) is None]
    if not missing:
        return
    message = "not installed: " + ", ".join(missing)
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail("CI=true needs " + message)
    pytest.skip(message)


@dataclass
class World:
    lab: object
    zones: tuple[str, ...]
    prometheus: Prometheus
    vm: VictoriaMetrics | None  # None when victoria-metrics is not installed
    instances: dict[str, Ccmon]  # a, b1, b2
    started: float
    workdir: Path

    def logs(self) -> str:
        parts = []
        for proc in [i.process for i in self.instances.values()] + [
                self.prometheus.process, self.vm.process if self.vm else None]:
            if proc is not None:
                parts.append(f"--- {proc.name}\n{proc.tail(15)}")
        return "\n".join(parts)


def _lab_port() -> int:
    """A port for the lab's servers that other labs on this machine are unlikely to use."""
    return random.Random(os.getpid()).randrange(20000, 30000)


def start_lab():
    from lab import Lab, LabError, load_scenario

    last: Exception | None = None
    for attempt in range(5):
        port = _lab_port() + attempt * 7
        lab = Lab(load_scenario("demo"), port=port)
        try:
            return lab.start()
        except LabError as exc:  # port taken by another lab: try the next
            last = exc
            if "in use" not in str(exc):
                raise
    raise StackError(f"no free port for the lab: {last}")


RULES = Path(__file__).resolve().parents[2] / "deploy" / "prometheus" / "rules.yml"


def fast_rules(workdir: Path) -> Path | None:
    """deploy/prometheus/rules.yml with every group evaluated each second (not each minute),
    so the recording rules have values within the test's seconds."""
    if not RULES.exists():
        return None
    document = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    for group in document["groups"]:
        group["interval"] = "1s"
    path = workdir / "rules.yml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


@contextlib.contextmanager
def running_world(keep: bool = False) -> Iterator[World]:
    workdir = Path(tempfile.mkdtemp(prefix="ccmon-deploy-"))
    stack: list = []
    lab = start_lab()
    stack.append(lab)
    try:
        zones = tuple(z.name for z in lab.scenario.zones if not z.infra)

        def config_for(rtt_udp: str):
            def make(listen: str, store: Path) -> str:
                return ccmon_config(zones=zones, root=lab.root_address,
                                    resolver=lab.resolver_address, port=lab.port,
                                    listen=listen, store=store, interval=f"{INTERVAL:g}s",
                                    rtt_udp=rtt_udp)
            return make

        instances = {
            "a": Ccmon("a", workdir, config_for("500ms")),
            "b1": Ccmon("b1", workdir, config_for("1s"), shard="1/2"),
            "b2": Ccmon("b2", workdir, config_for("1s"), shard="2/2"),
        }
        rules = fast_rules(workdir)
        vm = VictoriaMetrics(workdir) if shutil.which("victoria-metrics") else None
        if vm is not None:
            stack.append(vm)
            vm.start()
        prometheus = Prometheus(workdir, [
            ScrapeTarget(instances["a"].listen, {"vantage": "a"}),
            ScrapeTarget(instances["b1"].listen, {"vantage": "b"}),
            ScrapeTarget(instances["b2"].listen, {"vantage": "b"}),
        ], remote_write=vm.write_url if vm else None,
            rule_files=[rules] if rules else [])
        for instance in instances.values():
            stack.append(instance)
            instance.start()
        stack.append(prometheus)
        prometheus.start()
        started = time.time()
        world = World(lab, zones, prometheus, vm, instances, started, workdir)
        try:
            for instance in instances.values():
                wait_for(instance.healthy, 30, f"ccmon {instance.name} /healthz")
            # every zone swept at least once by a and by one of b's shards
            wait_for(lambda: instances["a"].swept_zones() >= set(zones), 40,
                     "vantage a to sweep every zone")
            wait_for(lambda: (instances["b1"].swept_zones() | instances["b2"].swept_zones())
                     >= set(zones), 40, "vantage b to sweep every zone")
            # a serial change that reaches the secondaries 3 s after the primary
            lab.bump_serial(PROPAGATION_ZONE, secondary_delay=SECONDARY_DELAY)
            wait_for(lambda: lab.wait_serial(PROPAGATION_ZONE, timeout=1), 20,
                     f"{PROPAGATION_ZONE} secondaries to take the new serial")
            wait_for(lambda: prometheus.query(
                f'ccmon_zone_soa_propagation_seconds{{dns_zone="{PROPAGATION_ZONE}"}}'), 30,
                "a propagation time in Prometheus")
            # enough samples for rate() and the time-range panels
            wait_for(lambda: time.time() - started > 20, 25, "20 s of samples")
        except (StackError, WaitTimeout) as exc:
            raise StackError(f"{exc}\n{world.logs()}") from None
        yield world
    finally:
        for item in reversed(stack):
            with contextlib.suppress(Exception):
                item.stop()
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)

