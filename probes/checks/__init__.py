"""Judge: pure functions from a sweep's evidence to findings. No I/O in here."""

from __future__ import annotations

from probes.checks import (
    availability,
    delegation,
    diversity,
    dnssec,
    edns,
    history,
    lame,
    latency,
    pinned,
    precheck,
    security,
    size,
    soa,
    soa_timers,
    vantage,
)
from probes.checks.registry import Check, Kind, Tag, catalogue, relevel
from probes.evidence import Evidence
from probes.model import Finding

#: The one registry, in report order: an explicit list, not import order. Per-sweep checks
#: first, then the history checks (run by the monitor over its stored history) and the
#: prechecks (`ccmon precheck`); judge() runs the per-sweep ones only.
CHECKS: dict[str, Check] = catalogue(
    lame.judge_lame,
    lame.judge_reach,
    availability.judge_availability,
    delegation.judge_parent,
    delegation.judge_addresses,
    delegation.judge_ns_sets,
    delegation.judge_glue,
    delegation.judge_caps,
    latency.judge_udp_rtt,
    latency.judge_tcp_rtt,
    latency.judge_tcp,
    soa.judge_serials,
    soa.judge_fields,
    vantage.judge_vantage,
    diversity.judge_diversity,
    dnssec.judge_ds,
    dnssec.judge_signatures,
    dnssec.judge_expiry,
    dnssec.judge_algorithms,
    edns.judge_edns,
    edns.judge_nsid,
    security.judge_axfr,
    security.judge_recursion,
    soa_timers.judge_timers,
    pinned.judge_pinned,
    size.judge_sizes,
    *history.HISTORY_CHECKS.values(),
    *precheck.PRECHECKS.values(),
)


def judge(evidence: Evidence) -> list[Finding]:
    """Run every enabled per-sweep check over the evidence, in registry order; the
    severities are the registry's, re-levelled where `checks.severity` says so."""
    settings = evidence.settings
    findings: list[Finding] = []
    for check in CHECKS.values():
        if check.kind is Kind.SWEEP and check.id not in settings.disabled_checks:
            findings.extend(check.run(evidence))
    return relevel(findings, settings.severity_overrides)


__all__ = ["CHECKS", "Check", "Evidence", "Kind", "Tag", "judge"]
