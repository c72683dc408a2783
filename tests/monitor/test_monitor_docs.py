"""docs/metrics.md lists exactly what /metrics serves: names, types, labels."""

from __future__ import annotations

import re
from pathlib import Path

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from monitor.metrics import METRICS, make_registry
from monitor.snapshot import MonitorState, Snapshot, ZoneHistory, ZoneTotals
from tests.monitor import ccmon_fixtures as fx

DOC = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"


def documented() -> dict[str, tuple[str, frozenset[str]]]:
    text = DOC.read_text(encoding="utf-8").split("## Metric list", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in text.splitlines():
        m = re.match(r"\| `(ccmon_\w+)` \| (\w+) \| ([^|]*) \|", line)
        if m:
            assert m.group(1) not in rows, f"{m.group(1)} listed twice"
            labels = frozenset(re.findall(r"`(\w+)`", m.group(3)))
            rows[m.group(1)] = (m.group(2), labels)
    return rows


def served() -> dict[str, tuple[str, frozenset[str]]]:
    state = MonitorState(Snapshot(zones=("mx", "ke", "ec", "xn--fiqs8s", "tz")))
    for r in [*fx.all_reports(), fx.unknown_report(), fx.pinned_report()]:
        state.publish(
            r, ZoneTotals().add_report(r), ZoneHistory(serial_first_seen=fx.T0 - 60, propagation=30)
        )
    text = generate_latest(make_registry(state)).decode()
    out = {}
    for family in text_string_to_metric_families(text):
        if family.name.startswith("process_"):
            continue
        name = family.name + ("_total" if family.type == "counter" else "")
        labels = frozenset(k for s in family.samples for k in s.labels if k != "le")
        assert family.samples, f"{name} served without samples in a full snapshot"
        out[name] = (family.type, labels)
    return out


def test_docs_equal_served_metrics() -> None:
    assert documented() == served()


def test_docs_equal_definitions() -> None:
    assert documented() == {m.name: (m.type, frozenset(m.labels)) for m in METRICS}


def test_naming_rules() -> None:
    allowed = {"dns_zone", "nameserver", "address", "transport", "check", "severity", "reason"}
    # Labels of one metric each: a closed set (test, state) or an info metric's payload (nsid).
    own = {"ccmon_build_info": {"version"}, "ccmon_nameserver_edns_failed_test_info": {"test"},
           "ccmon_zone_dnssec_status": {"state"}, "ccmon_nameserver_nsid_info": {"nsid"},
           "ccmon_alert_outbox_messages": {"state"}, "ccmon_check_info": {"kind"},
           # the vantage point's own series, per address family (issue 10)
           "ccmon_vantage_up": {"family"}, "ccmon_vantage_state": {"family", "state"},
           "ccmon_vantage_references": {"family"},
           "ccmon_vantage_references_answering": {"family"},
           "ccmon_vantage_unmeasured_addresses": {"family"}}
    for m in METRICS:
        assert re.fullmatch(r"ccmon_[a-z0-9_]+", m.name)
        assert m.name.endswith("_total") == (m.type == "counter"), m.name
        assert set(m.labels) <= allowed | own.get(m.name, set()), m.name
        assert m.name.endswith("_info") == (
            "nsid" in m.labels or "test" in m.labels or m.name in ("ccmon_build_info",
                                                                   "ccmon_check_info"))
        if m.name.endswith("_timestamp_seconds"):
            assert "Unix time" in m.help, m.name
