"""`ccmon precheck` output: the `ccmon check` forms (table, JSON, plugin exit) for the
proposed delegation, plus the verdict line.

The report is a ZoneReport like a sweep's, so monitor/report.py renders it unchanged; what
only a precheck has (the verdict, the proposal, the referral sizes, --allow-private) goes
after the table and under a `precheck` key of the JSON document.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from monitor.report import EXIT_CRITICAL, EXIT_UNKNOWN, exit_status, render_text, to_json_document
from probes.checks.precheck import (
    ALLOWED_BY_FLAG,
    PrecheckEvidence,
    address_range,
    blocking,
    judge_precheck,
    proposed_addresses,
)
from probes.evidence import apex_ns_names
from probes.model import Finding, Transport, ZoneReport
from probes.precheck.probe import PrecheckRun
from probes.settings import ProbeSettings
from probes.summarise import address_facts, server_statuses

VERDICT_PREFIX = "would pass IANA's technical checks:"


@dataclass(frozen=True, slots=True)
class Verdict:
    """The precheck's answer: does the change pass, what blocks it, what was not measured."""
    passes: bool | None  # None: nothing blocking, but some addresses were not measured
    blocking: tuple[Finding, ...]
    unmeasured: tuple[tuple[str, str], ...]
    allowed_private: tuple[tuple[str, str], ...]  # accepted only because of --allow-private

    @property
    def word(self) -> str:
        """"yes", "no" or "unknown" (nothing blocking, but not everything measured)."""
        return {True: "yes", False: "no", None: "unknown"}[self.passes]

    def line(self) -> str:
        """One plain line: yes/no, how many blocking findings, and which."""
        count = len(self.blocking)
        if count:
            why = "; ".join(f"{f.check} {f.message}" for f in self.blocking)
            return f"{VERDICT_PREFIX} no ({count} blocking: {why})"
        if self.passes is None:
            names = ", ".join(f"{n} {a}" for n, a in self.unmeasured)
            return (f"{VERDICT_PREFIX} unknown (0 blocking; not measured from this host: "
                    f"{names})")
        return f"{VERDICT_PREFIX} yes (0 blocking)"

    def notes(self) -> list[str]:
        """A note line when --allow-private let private or loopback addresses pass; else none."""
        if not self.allowed_private:
            return []
        return [f"note: --allow-private accepted {len(self.allowed_private)} private or "
                f"loopback address(es) ({', '.join(a for _n, a in self.allowed_private)}); "
                "IANA refuses them (PRE10)"]


def judge(run: PrecheckRun) -> tuple[ZoneReport, Verdict]:
    """The findings of every precheck, as a ZoneReport and a verdict."""
    pre = run.evidence
    findings = judge_precheck(pre)
    evidence = pre.evidence
    statuses = server_statuses(evidence, facts=address_facts(evidence))
    report = ZoneReport(
        zone=pre.zone.rstrip("."),
        started_at=time.time() - run.duration,
        duration=run.duration,
        servers=tuple(s for s in statuses if (s.nameserver, s.address) not in pre.unmeasured),
        findings=tuple(findings),
        parent_ns=tuple(sorted(pre.proposal.names)),
        child_ns=tuple(sorted(_child_ns(pre))),
        queries=run.queries,
        query_failures=run.failures,
        rtts={t.value: tuple(o.rtt for o in evidence.select("SOA", t)
                             if o.rtt is not None and o.reply is not None) for t in Transport},
    )
    block = tuple(blocking(findings))
    unmeasured = tuple(sorted(pre.unmeasured))
    passes = False if block else (None if unmeasured else True)
    allowed = tuple((n, a) for n, a in proposed_addresses(pre)
                    if pre.allow_private and address_range(a) in ALLOWED_BY_FLAG)
    return report, Verdict(passes, block, unmeasured, allowed)


def _child_ns(pre: PrecheckEvidence) -> set[str]:
    names: set[str] = set()
    for obs in pre.evidence.select("NS", Transport.UDP):
        if obs.reply is not None and obs.question.name == pre.zone:
            names |= apex_ns_names(obs.reply, pre.zone)
    return names


def render(report: ZoneReport, verdict: Verdict, settings: ProbeSettings) -> str:
    """The `ccmon check` text (plugin line, table, findings), then the notes and verdict."""
    lines = [render_text([report], settings).rstrip("\n"), "", *verdict.notes(), verdict.line()]
    return "\n".join(lines) + "\n"


def to_json(report: ZoneReport, verdict: Verdict, pre: PrecheckEvidence) -> dict[str, Any]:
    """The `ccmon check --json` document with a `precheck` section."""
    document = to_json_document([report])
    document["status"], document["exit_status"] = _status_words(exit_code(report, verdict))
    minimal, full = pre.referral_minimal, pre.referral_full
    document["precheck"] = {
        "verdict": verdict.word,
        "verdict_line": verdict.line(),
        "blocking": len(verdict.blocking),
        "allow_private": pre.allow_private,
        "allowed_private": [{"nameserver": n, "address": a} for n, a in verdict.allowed_private],
        "unmeasured": [{"nameserver": n, "address": a} for n, a in verdict.unmeasured],
        "proposal": {
            "zone": pre.zone,
            "ns": [{"name": s.name, "glue": list(s.glue)} for s in pre.proposal.nameservers],
            "ds": [ds.to_text() for ds in pre.proposal.ds],
        },
        "current_ds": None if pre.current_ds is None else [d.to_text() for d in pre.current_ds],
        "referral_octets": {"minimal_glue": minimal.size if minimal else None,
                            "all_glue": full.size if full else None},
    }
    return document


def exit_code(report: ZoneReport, verdict: Verdict) -> int:
    """2 when anything blocks, 3 when nothing does but not all was measured, else as
    `ccmon check` (0, or 1 for warnings)."""
    if verdict.blocking:
        return EXIT_CRITICAL
    if verdict.passes is None:
        return EXIT_UNKNOWN
    return exit_status([report])


def _status_words(code: int) -> tuple[str, int]:
    from monitor.report import STATUS_WORDS

    return STATUS_WORDS[code], code
