"""Reading ccmon's Grafana dashboards the way Grafana does, for the tests: panels, queries,
variables, and Grafana's variable substitution."""

from __future__ import annotations

import importlib.util
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
DASHBOARD_DIR = REPO / "dashboards"

#: Panel types that hold no query (and so need no datasource).
NO_QUERY_PANELS = {"row", "text", "news", "dashlist"}

#: What Grafana puts for its built-in interval variables, for the test world's short life.
BUILTINS = {"__range": "2m", "__rate_interval": "20s", "__interval": "5s",
            "__range_s": "120", "__interval_ms": "5000"}

#: Panels with data only for signed zones (signature expiry exists only where there are
#: signatures). The lab's demo world has none, so on it these may be empty; the deploy
#: tests check that this is still so, and fail once a signed zone joins the world.
SIGNED_ZONES_ONLY = {"Ranked: signature expiry (time left)",
                     "Signature expiry per server (time left)"}

_VAR = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)(?::\w+)?\]\]")


@dataclass(frozen=True)
class Query:
    dashboard: str
    panel: str
    ref: str
    expr: str
    instant: bool

    @property
    def name(self) -> str:
        return f"{self.dashboard} / {self.panel} / {self.ref}"


def dashboard_files() -> list[Path]:
    return sorted(DASHBOARD_DIR.glob("*.json"))


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def panels(dashboard: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, including those nested in collapsed rows."""
    for p in dashboard.get("panels", []):
        yield p
        yield from p.get("panels", [])


def queries(dashboard: Mapping[str, Any]) -> Iterator[Query]:
    for p in panels(dashboard):
        for t in p.get("targets", []):
            if t.get("hide"):
                continue
            instant = bool(t.get("instant")) and not t.get("range", False)
            yield Query(dashboard["uid"], p["title"], t["refId"], t["expr"], instant)


def variable_names(dashboard: Mapping[str, Any]) -> list[str]:
    return [v["name"] for v in dashboard.get("templating", {}).get("list", [])]


def references(text: str) -> set[str]:
    """Variable names referenced in text: $name, ${name}, ${name:fmt}, [[name]]."""
    return {next(g for g in m.groups() if g) for m in _VAR.finditer(text)}


def variable_query(variable: Mapping[str, Any]) -> str:
    query = variable.get("query")
    if isinstance(query, dict):
        return str(query.get("query", ""))
    return str(query or variable.get("definition", ""))


def substitute(expr: str, values: Mapping[str, str]) -> str:
    """Grafana's interpolation of a Prometheus query: variables and built-ins."""
    table = {**BUILTINS, **values}

    def replace(match: re.Match[str]) -> str:
        name = next(g for g in match.groups() if g)
        if name not in table:
            raise KeyError(f"unknown variable ${name} in {expr!r}")
        return table[name]

    return _VAR.sub(replace, expr)


_LABEL_VALUES = re.compile(r"^label_values\((?:(.+),\s*)?(\w+)\)$")


def parse_label_values(query: str) -> tuple[str | None, str]:
    """'label_values(metric{sel}, label)' → ('metric{sel}', 'label')."""
    match = _LABEL_VALUES.match(query.strip())
    if not match:
        raise ValueError(f"not a label_values() query: {query!r}")
    return match.group(1), match.group(2)


def load_generator() -> Any:
    """dashboards/generate.py as a module (it is a script, not a package)."""
    spec = importlib.util.spec_from_file_location("ccmon_dashboards",
                                                  DASHBOARD_DIR / "generate.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
