"""A monitoring stack on loopback for the deploy tests: real Prometheus, VictoriaMetrics and
``ccmon run`` processes over the lab, each in its own temporary directory, on free
127.0.0.1 ports. Every wait is bounded; every process started here is stopped here (by
its own PID: terminate, then kill)."""

from __future__ import annotations

import json
import os
import shutil
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.support import Proc, free_port, wait_for

LOOPBACK = "127.0.0.1"
REPO = Path(__file__).resolve().parents[2]


class StackError(RuntimeError):
    pass



def http_get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()



class PromAPI:
    """The Prometheus HTTP query API (Prometheus itself or a compatible store)."""

    def __init__(self, base: str) -> None:
        self.base = base.rstrip("/")

    def _get(self, path: str, params: Iterable[tuple[str, str]]) -> Any:
        url = f"{self.base}{path}?{urllib.parse.urlencode(list(params))}"
        status, body = http_get(url, timeout=10)
        try:
            doc = json.loads(body)
        except ValueError:
            raise StackError(f"{url}: HTTP {status}, not JSON: {body[:200]!r}") from None
        if doc.get("status") != "success":
            raise StackError(f"{url}: {doc.get('errorType')}: {doc.get('error')}")
        return doc["data"]

    def query(self, expr: str, at: float | None = None) -> list[dict[str, Any]]:
        params = [("query", expr)] + ([("time", f"{at:.3f}")] if at is not None else [])
        data = self._get("/api/v1/query", params)
        if data["resultType"] != "vector":
            raise StackError(f"{expr}: expected a vector, got {data['resultType']}")
        return data["result"]

    def query_range(self, expr: str, start: float, end: float, step: float
                    ) -> list[dict[str, Any]]:
        data = self._get("/api/v1/query_range", [
            ("query", expr), ("start", f"{start:.3f}"), ("end", f"{end:.3f}"),
            ("step", f"{step:g}")])
        return data["result"]

    def label_values(self, label: str, match: str) -> list[str]:
        return self._get(f"/api/v1/label/{label}/values", [("match[]", match)])

    def values(self, expr: str, at: float | None = None, key: Sequence[str] = ()
               ) -> dict[tuple[str, ...], float]:
        """An instant query as {label values in `key` order: value}."""
        out: dict[tuple[str, ...], float] = {}
        for sample in self.query(expr, at):
            labels = tuple(sample["metric"].get(k, "") for k in key)
            if labels in out:
                raise StackError(f"{expr}: two samples for {labels}")
            out[labels] = float(sample["value"][1])
        return out


@dataclass
class ScrapeTarget:
    address: str  # host:port
    labels: dict[str, str] = field(default_factory=dict)


class Prometheus(PromAPI):
    """Debian's prometheus binary with a generated config."""

    def __init__(self, workdir: Path, targets: list[ScrapeTarget], *,
                 scrape_interval: str = "1s", remote_write: str | None = None,
                 rule_files: Sequence[Path] = ()) -> None:
        self.workdir = workdir / "prometheus"
        self.workdir.mkdir(parents=True)
        self.port = free_port()
        super().__init__(f"http://{LOOPBACK}:{self.port}")
        config: dict[str, Any] = {
            "global": {"scrape_interval": scrape_interval, "scrape_timeout": scrape_interval,
                       "evaluation_interval": scrape_interval},
            "scrape_configs": [{
                "job_name": "ccmon",
                "static_configs": [{"targets": [t.address], "labels": t.labels}
                                   for t in targets],
            }],
        }
        if rule_files:
            config["rule_files"] = [str(p) for p in rule_files]
        if remote_write:
            config["remote_write"] = [{
                "url": remote_write,
                "queue_config": {"batch_send_deadline": "500ms", "min_backoff": "100ms",
                                 "max_backoff": "1s"},
            }]
        self.config_path = self.workdir / "prometheus.yml"
        self.config_path.write_text(yaml.safe_dump(config), encoding="utf-8")
        self.process: Proc | None = None

    def start(self, timeout: float = 30.0) -> Prometheus:
        self.process = Proc([
            shutil.which("prometheus") or "prometheus",
            f"--config.file={self.config_path}",
            f"--storage.tsdb.path={self.workdir / 'data'}",
            f"--web.listen-address={LOOPBACK}:{self.port}",
            "--storage.tsdb.retention.time=1d",
            "--log.level=warn",
        ], self.workdir, "prometheus")

        def ready() -> bool:
            self.process.check_alive()
            return http_get(f"{self.base}/-/ready", timeout=2)[0] == 200

        wait_for(ready, timeout, "Prometheus to be ready")
        return self

    def targets_up(self) -> dict[str, str]:
        data = self._get("/api/v1/targets", [("state", "active")])
        return {t["scrapeUrl"]: t["health"] for t in data["activeTargets"]}

    def stop(self) -> None:
        if self.process:
            self.process.stop()


class VictoriaMetrics(PromAPI):
    """Debian's victoria-metrics single-node binary: remote-write in, PromQL out."""

    def __init__(self, workdir: Path, latency_offset: str = "1s") -> None:
        self.workdir = workdir / "victoria-metrics"
        self.workdir.mkdir(parents=True)
        self.port = free_port()
        super().__init__(f"http://{LOOPBACK}:{self.port}")
        self.latency_offset = latency_offset
        self.process: Proc | None = None

    @property
    def write_url(self) -> str:
        return f"{self.base}/api/v1/write"

    def start(self, timeout: float = 30.0) -> VictoriaMetrics:
        self.process = Proc([
            shutil.which("victoria-metrics") or "victoria-metrics",
            f"-storageDataPath={self.workdir / 'data'}",
            f"-httpListenAddr={LOOPBACK}:{self.port}",
            f"-search.latencyOffset={self.latency_offset}",
            "-search.disableCache",
            "-retentionPeriod=1d",
            "-loggerLevel=WARN",
        ], self.workdir, "victoria-metrics")

        def ready() -> bool:
            self.process.check_alive()
            return http_get(f"{self.base}/health", timeout=2)[0] == 200

        wait_for(ready, timeout, "VictoriaMetrics to be ready")
        return self

    def stop(self) -> None:
        if self.process:
            self.process.stop()


def ccmon_config(*, zones: Sequence[str], root: str, resolver: str, port: int, listen: str,
                 store: Path, interval: str = "3s", rtt_udp: str = "500ms") -> str:
    """A config.yaml for `ccmon run` over the lab, with short timeouts and interval."""
    return yaml.safe_dump({
        "zones": list(zones),
        "parent": [root],
        "resolver": [resolver],
        "resolver_port": port,
        "port": port,
        "probe": {"udp_timeout": "1s", "udp_tries": 1, "tcp_timeout": "1600ms", "ipv6": False},
        "thresholds": {"rtt_udp": rtt_udp, "rtt_tcp": "1500ms"},
        "schedule": {"interval": interval, "jitter": "0s", "allow_fast_interval": True},
        "store": {"path": str(store), "retention": "1d"},
        "web": {"listen": listen},
    }, sort_keys=False, allow_unicode=True)


class Ccmon:
    """One `ccmon run --config F [--shard K/N]` process."""

    def __init__(self, name: str, workdir: Path, config_text_for: Callable[[str, Path], str],
                 shard: str | None = None) -> None:
        self.name = name
        self.workdir = workdir / name
        self.workdir.mkdir(parents=True)
        self.port = free_port()
        self.listen = f"{LOOPBACK}:{self.port}"
        self.config_path = self.workdir / "config.yaml"
        self.config_path.write_text(
            config_text_for(self.listen, self.workdir / "ccmon.sqlite"), encoding="utf-8")
        self.shard = shard
        self.process: Proc | None = None

    def start(self) -> Ccmon:
        argv = [sys.executable, "-m", "monitor", "run", "--config", str(self.config_path)]
        if self.shard:
            argv += ["--shard", self.shard]
        self.process = Proc(argv, self.workdir, f"ccmon-{self.name}",
                            env={**os.environ, "PYTHONPATH": str(REPO)})
        return self

    @property
    def base(self) -> str:
        return f"http://{self.listen}"

    def healthy(self) -> bool:
        assert self.process is not None
        self.process.check_alive()
        return http_get(f"{self.base}/healthz", timeout=2)[0] == 200

    def swept_zones(self) -> set[str]:
        """Zones that have a completed sweep, from /metrics."""
        status, body = http_get(f"{self.base}/metrics", timeout=5)
        if status != 200:
            return set()
        zones = set()
        for line in body.decode().splitlines():
            if line.startswith("ccmon_last_sweep_timestamp_seconds{"):
                zones.add(line.split('dns_zone="', 1)[1].split('"', 1)[0])
        return zones

    def stop(self) -> None:
        if self.process:
            self.process.stop()
