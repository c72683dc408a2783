"""An installed ccmon carries the pages' templates and static files: every file under
monitor/web/templates and monitor/web/static is matched by pyproject's package-data for
the package that reads it (``monitor.web``), and nothing is left at the old places."""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "monitor" / "web"


def package_data() -> dict[str, list[str]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    data: dict[str, list[str]] = config["tool"]["setuptools"]["package-data"]
    return data


def test_every_template_and_static_file_is_package_data_of_monitor_web() -> None:
    globs = package_data()["monitor.web"]
    files = [p.relative_to(WEB).as_posix()
             for folder in ("templates", "static") for p in (WEB / folder).rglob("*")
             if p.is_file()]
    assert {"templates/status.html", "templates/zone.html", "static/ccmon.css",
            "static/status.js"} <= set(files)
    unshipped = [f for f in files if not any(fnmatch.fnmatchcase(f, g) for g in globs)]
    assert unshipped == []


def test_the_pages_assets_are_not_left_at_the_old_places() -> None:
    for old in ("templates", "static", "pages"):  # a stale __pycache__ may stay behind
        left = [p for p in (ROOT / "monitor" / old).rglob("*")
                if p.is_file() and "__pycache__" not in p.parts]
        assert left == [], old
    assert not any(g.startswith(("templates", "static")) for g in package_data()["monitor"])
