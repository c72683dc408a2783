"""`ccmon check` as a Nagios/Icinga plugin: perfdata after `|` in the guidelines' grammar,
usage errors exit 3 (UNKNOWN, never 2), `--version` answers."""

from __future__ import annotations

import io
import json
import re

import pytest

from monitor.cli import main
from monitor.report import JSON_WRITE_BATCH, render_text, to_json_document, write_json_document
from probes.checks import judge
from probes.model import ZoneReport
from probes.settings import ProbeSettings
from probes.summarise import server_statuses
from tests.monitor import ccmon_fixtures as fx
from tests.unit.builders import ZONE, evidence, healthy

# monitoring-plugins development guidelines, "Performance data":
# 'label'=value[UOM];[warn];[crit];[min];[max]
NUMBER = r"-?\d+(?:\.\d+)?"
RANGE = rf"@?(?:{NUMBER}|~)?:?(?:{NUMBER})?"
ITEM = re.compile(
    rf"^(?:'(?P<qlabel>(?:[^']|'')+)'|(?P<label>[^' =]+))=(?P<value>{NUMBER})"
    rf"(?P<uom>us|ms|s|%|B|KB|MB|TB|c)?"
    rf"(?:;(?P<warn>{RANGE})?(?:;(?P<crit>{RANGE})?(?:;(?P<min>{NUMBER})?(?:;(?P<max>{NUMBER})?)?)?)?)?$"
)


def _report(serials: list[int], rtt: float = 0.02) -> ZoneReport:
    observations = []
    for i, serial in enumerate(serials, 1):
        observations += healthy(f"ns{i}.nic.fr.", f"192.0.2.{i}", serial, rtt=rtt)
    ev = evidence(observations)
    return ZoneReport(zone=ZONE.rstrip("."), started_at=0.0, duration=0.1,
                      servers=tuple(server_statuses(ev)), findings=tuple(judge(ev)))


def _perfdata(text: str) -> dict[str, dict[str, str | None]]:
    first = text.splitlines()[0]
    assert first.count("|") == 1, first
    items = {}
    for raw in first.split("|", 1)[1].split():
        match = ITEM.match(raw)
        assert match, f"not in the guidelines' grammar: {raw!r}"
        items[match["qlabel"] or match["label"]] = match.groupdict()
    return items


def test_perfdata_parses_and_carries_the_zone_figures() -> None:
    text = render_text([_report([7, 7, 5], rtt=0.034)], ProbeSettings(rtt_udp_threshold=0.5))
    assert text.startswith("CCMON WARNING - 1 zone(s)")
    items = _perfdata(text)
    assert items["fr_ns_up"]["value"] == "3" and items["fr_ns_up"]["crit"] == "2:"
    assert items["fr_ns_up"]["max"] == "3" and items["fr_ns_up"]["min"] == "0"
    assert items["fr_serials"]["value"] == "2" and items["fr_serials"]["warn"] == "1"
    udp = items["fr_udp_rtt_max"]
    assert (udp["value"], udp["uom"], udp["warn"]) == ("0.034", "s", "0.5")
    assert items["fr_tcp_rtt_max"]["value"] == "0.068"


def test_perfdata_of_several_zones_is_one_line() -> None:
    reports = [_report([1, 1]), _report([2, 2])]
    reports[1] = ZoneReport(**{**{f: getattr(reports[1], f) for f in (
        "started_at", "duration", "servers", "findings")}, "zone": "xn--fiqs8s"})
    items = _perfdata(render_text(reports))
    assert {"fr_ns_up", "xn--fiqs8s_ns_up"} <= set(items)


def test_usage_error_is_unknown_not_critical(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["check", "--bogus"])
    assert exc.value.code == 3
    assert "unrecognized arguments: --bogus" in capsys.readouterr().err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert re.fullmatch(r"ccmon \S+\n", capsys.readouterr().out)


@pytest.mark.parametrize("value", ["0", "-1", "nan", "1e9"])
def test_timeout_out_of_range_is_unknown(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "fr", "--root", "127.0.0.1", "-t", value]) == 3
    assert "-t/--timeout" in capsys.readouterr().err


def test_unmeasured_addresses_are_neither_up_nor_down_in_page_and_perfdata() -> None:
    """An IPv6 address our host cannot reach (issue 10): the status page's state is
    `unmeasured`, and the name server counts by its measured addresses only."""
    import dataclasses

    from monitor.perfdata import zone_perfdata

    report = _report([7, 7])
    v6 = [dataclasses.replace(s, address="2001:db8::2", measured=False, answered=False,
                              authoritative=False, rtt=None, within_threshold=False, serial=None)
          for s in report.servers if s.address == "192.0.2.2"]
    report = dataclasses.replace(report, servers=(*report.servers, *v6),
                                 unmeasured=("2001:db8::2",))
    views = report.addresses
    assert {v.address: v.state for v in views}["2001:db8::2"] == "unmeasured"
    assert report.nameservers_up == (2, 2)  # ns2 is up on its one measured address
    items = {i.split("=")[0]: i for i in zone_perfdata(report, ProbeSettings())}
    assert items["'fr_ns_up'"] == "'fr_ns_up'=2;;2:;0;2"


class _CountingStream(io.StringIO):
    """A stream that counts the writes it was given (each one a system call when unbuffered)."""

    writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)


def test_json_document_is_written_whole_in_few_batches() -> None:
    reports = fx.all_reports() * 40  # a document of several batches
    out = _CountingStream()
    write_json_document(reports, out)
    whole = json.dumps(to_json_document(reports), indent=2, ensure_ascii=False) + "\n"
    assert out.getvalue() == whole  # the same text as one dumps, newline-terminated
    assert len(whole) > 3 * JSON_WRITE_BATCH
    # one write per batch, not per encoder chunk (there are tens of thousands of those)
    assert out.writes <= len(whole) // JSON_WRITE_BATCH + 2
