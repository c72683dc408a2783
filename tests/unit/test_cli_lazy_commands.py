"""The command line of a command other than `report` or `precheck` is built without their
flags (their modules import much); it must parse that command exactly as the full one."""

from __future__ import annotations

import pytest

from monitor.cli import _parser, main

LINES = [
    ["check", "fr", "de", "--root", "127.0.0.1", "--port", "5300", "--json", "-t", "9"],
    ["check", "report"],  # a zone named like a command
    ["check-config", "x.yaml"],
    ["run", "--shard", "1/2"],
    ["healthcheck"],
    ["demo", "--port", "5300"],
    ["test-email", "--to", "a@example.org"],
]


@pytest.mark.parametrize("line", LINES, ids=" ".join)
def test_lazy_command_line_parses_as_the_full_one(line: list[str]) -> None:
    assert vars(_parser(full=False).parse_args(line)) == vars(_parser().parse_args(line))


def test_report_and_precheck_get_their_flags(capsys: pytest.CaptureFixture[str]) -> None:
    for command, flag in (("report", "--month"), ("precheck", "--ns")):
        with pytest.raises(SystemExit) as exit_info:
            main([command, "--help"])
        assert exit_info.value.code == 0
        assert flag in capsys.readouterr().out


def test_version_is_looked_up_when_asked(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out.startswith("ccmon ")
