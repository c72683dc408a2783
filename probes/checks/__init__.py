"""Judge: pure functions from a sweep's evidence to findings. No I/O in here."""

from __future__ import annotations

from probes.checks import availability, delegation, lame, latency, soa
from probes.checks.evidence import Evidence
from probes.checks.registry import CHECKS, Check
from probes.model import Finding

_MODULES = (delegation, lame, soa, latency, availability)  # registration order = report order


def judge(evidence: Evidence) -> list[Finding]:
    """Run every enabled check over the evidence, in registry order."""
    findings: list[Finding] = []
    for check in CHECKS.values():
        if check.id not in evidence.settings.disabled_checks:
            findings.extend(check.judge(evidence))
    return findings


__all__ = ["CHECKS", "Check", "Evidence", "judge"]
