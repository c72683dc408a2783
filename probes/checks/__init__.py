"""Judge: pure functions from a sweep's evidence to findings. No I/O in here."""

from __future__ import annotations

from probes.checks import availability, delegation, lame, latency, soa, vantage
from probes.checks.evidence import Evidence
from probes.checks.registry import CHECKS, Check
from probes.model import Finding

_MODULES = (vantage, delegation, lame, soa, latency, availability)  # registration = report order

# Further checks (issue 7); imported after the core ones so the core keeps its report order.
from probes.checks import diversity, dnssec, edns, security, soa_timers  # noqa: E402

_EXTRA_MODULES = (soa_timers, diversity, dnssec, security, edns)

# DELEG06 (issue 14): the parent's delegation against the registry's pinned `expect:`.
from probes.checks import pinned  # noqa: E402

_PINNED_MODULES = (pinned,)

# SIZE01 (issue 17): replies over the prober's body limit, kept slim, shown as a finding.
from probes.checks import size  # noqa: E402

_SIZE_MODULES = (size,)

# History checks (SOA03, DELEG05): in the registry for their IDs and docs; the monitor runs
# them over the stored history (probes.checks.history.judge_history), judge() does not.
from probes.checks import history  # noqa: E402

_HISTORY_MODULES = (history,)

# Prechecks (PRE01-PRE13, issue 14): judge a proposed delegation (`ccmon precheck`), in the
# registry for their IDs and docs; judge() does not run them (probes.checks.precheck).
from probes.checks import precheck  # noqa: E402

_PRECHECK_MODULES = (precheck,)


def judge(evidence: Evidence) -> list[Finding]:
    """Run every enabled check over the evidence, in registry order."""
    findings: list[Finding] = []
    for check in CHECKS.values():
        if check.id not in evidence.settings.disabled_checks:
            findings.extend(check.judge(evidence))
    return findings


__all__ = ["CHECKS", "Check", "Evidence", "judge"]
