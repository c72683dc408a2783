"""One error root and one table of exit statuses, the same in the code and in the docs."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest

from monitor import errors, report, service
from monitor.alerts import OutboxError, OutboxWriteError, mailer
from monitor.cli import main
from monitor.config import ConfigError
from monitor.config.alerts import PasswordError
from monitor.config.webconfig import WebConfigError
from monitor.errors import EXIT_CONFIG, EXIT_FAILURE, MonitorError
from monitor.healthcheck import Unhealthy
from monitor.sla.figures import ReportError
from monitor.store import StoreError, StoreWriteError

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("kind", "status"), [
    (ConfigError, 3), (WebConfigError, 3), (PasswordError, 3), (ReportError, 3),
    (mailer.ServerError, 3), (mailer.MessageError, 3),
    (StoreError, 1), (StoreWriteError, 1), (OutboxError, 1), (OutboxWriteError, 1),
    (Unhealthy, 1),
])  # fmt: skip
def test_every_expected_error_is_a_monitor_error_with_its_status(kind: type, status: int):
    assert issubclass(kind, MonitorError)
    assert kind.exit_code == status


def test_the_exit_table_is_defined_once() -> None:
    """No module of monitor/ but errors.py gives an exit status a number of its own."""
    own = re.compile(r"^\s*EXIT_\w+(\s*,\s*EXIT_\w+)*\s*=\s*\d", re.M)
    found = [str(p.relative_to(ROOT)) for p in (ROOT / "monitor").rglob("*.py")
             if own.search(p.read_text(encoding="utf-8"))]
    assert found == ["monitor/errors.py"]
    assert (report.EXIT_OK, report.EXIT_WARNING, report.EXIT_CRITICAL, report.EXIT_UNKNOWN) \
        == (0, 1, 2, 3)
    assert service.EXIT_FAILURE is errors.EXIT_FAILURE


def test_docs_list_the_exit_table() -> None:
    text = (ROOT / "docs" / "config.md").read_text(encoding="utf-8")
    assert errors.exit_codes_markdown() in text
    assert [code for code, _name, _when in errors.EXIT_CODES] == [0, 1, 2, 3, 130]


def _config(tmp_path: Path, extra: str) -> str:
    path = tmp_path / "config.yaml"
    path.write_text("zones: [fr]\nparent: [127.0.0.1]\n"
                    f"store:\n  path: {tmp_path / 'ccmon.sqlite'}\n{extra}", encoding="utf-8")
    return str(path)


def test_a_bad_web_config_ends_run_with_3_naming_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    web = tmp_path / "web.yml"
    web.write_text("basic_auth_users:\n  prometheus: plaintext\n", encoding="utf-8")
    path = _config(tmp_path, f"web:\n  web_config_file: {web}\n  listen: 127.0.0.1:1\n")
    assert main(["run", "--config", path]) == EXIT_CONFIG
    said = capsys.readouterr().err + caplog.text
    assert f"{web}:2: basic_auth_users.prometheus: not a bcrypt hash" in said


def test_a_store_from_a_newer_ccmon_ends_run_with_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    db = sqlite3.connect(tmp_path / "ccmon.sqlite")
    db.execute("PRAGMA user_version = 99")
    db.close()
    path = _config(tmp_path, "web:\n  listen: 127.0.0.1:1\n")
    assert main(["run", "--config", path]) == EXIT_FAILURE
    said = capsys.readouterr().err + caplog.text
    assert "schema version 99, newer than this ccmon knows" in said


def test_check_config_checks_the_web_config_it_names(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    web = tmp_path / "web.yml"
    web.write_text("tls_server_config:\n  min_version: TLS12\n", encoding="utf-8")
    path = _config(tmp_path, f"web:\n  web_config_file: {web}\n")
    assert main(["check-config", path]) == EXIT_CONFIG
    err = capsys.readouterr().err
    assert err.startswith(f"ccmon: {web}:2: tls_server_config: cert_file and key_file"), err
    web.write_text("basic_auth_users: {}\n", encoding="utf-8")
    assert main(["check-config", path]) == 0
    assert f"web config {web} (http, 0 user(s))" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [
    ["check", "--port", "0", "fr"], ["check", "--port", "65536", "fr"],
    ["check", "--udp-timeout", "0", "fr"], ["precheck", "--port", "70000", "fr"],
    ["precheck", "--tcp-timeout", "nan", "fr"],
])  # fmt: skip
def test_flags_read_as_their_config_keys(argv: list[str], capsys: pytest.CaptureFixture[str]):
    """`ccmon check` and `ccmon precheck` refuse the same bad port and timeout, exit 3."""
    from monitor.cli import main

    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == EXIT_CONFIG
    assert "must be" in capsys.readouterr().err
