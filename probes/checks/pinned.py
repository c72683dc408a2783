"""DELEG06: the parent's delegation equals what the registry pinned (config `expect:`).

DELEG03 and DELEG05 compare the parent with the child; neither notices when both agree on
something the registry never asked for (a hijacked registrar account, a botched root-zone
change), or when the parent lags behind a change the registry requested. DELEG06 compares
the parent's referral (NS set and glue) and its DS set with the registry's own truth, every
sweep.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import dns.rdata
import dns.rdataclass
import dns.rdatatype

from probes.addresses import is_ipv6
from probes.checks.dnssec import ds_records
from probes.checks.registry import Tag, register
from probes.evidence import Evidence
from probes.expectations import expectation_for
from probes.model import Finding, Severity, ZoneReport
from probes.text import duration_text

REASONS: dict[str, tuple[str, ...]] = {
    "DELEG06": ("ns-differs", "glue-differs", "unexpected-ds", "missing-ds", "no-ds"),
}


def ds_key(text: str) -> bytes:
    """A DS record's wire form, to compare records whatever their text case or spacing."""
    return dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.DS, text).to_digestable()


@register(
    "DELEG06",
    "The parent's delegation is the one the registry pinned",
    "For a zone with `expect:` in the config, every sweep: the parent's NS set equals the "
    "pinned `ns` names (else ERROR ns-differs, naming the names only at the parent and only "
    "pinned); for each pinned name given with addresses, the parent's glue equals them (else "
    "ERROR glue-differs per address); every DS record at the parent is one of the pinned "
    "`ds` (else ERROR unexpected-ds at once: it is how a hijack or a botched rollover looks); "
    "a pinned DS absent at the parent is WARNING missing-ds, and no DS at all at the parent "
    "while DS records are pinned is ERROR no-ds (the zone went insecure). The DS set is asked "
    "of the parent every sweep for zones with pinned DS. A parent that did not answer is left "
    "to DELEG01 and DNSSEC01. Under `ccmon run` each finding carries the age of the "
    "difference (since the first sweep of an unbroken run that saw the parent differ from "
    "the pins; a sweep that cannot tell keeps it running), also as the metric "
    "`ccmon_zone_delegation_unpinned_seconds`, and a DELEG06 problem is mailed after its "
    "first failing sweep, without the `alerts.open_after` hold-down.",
    tags=(
        Tag("DELEGATION_NOT_PINNED", Severity.ERROR),
        Tag("GLUE_NOT_PINNED", Severity.ERROR),
        Tag("DS_NOT_PINNED", Severity.ERROR),
        Tag("PINNED_DS_MISSING", Severity.WARNING),
    ),
    reasons=REASONS["DELEG06"],
)
def judge_pinned(evidence: Evidence) -> Iterator[Finding]:
    """DELEG06: the parent's NS set, glue and DS against what config.yaml pins for the zone."""
    expected = expectation_for(evidence.settings.expectations, evidence.zone)
    if expected is None:
        return
    delegation = evidence.delegation
    if expected.ns and delegation.parent_ns:
        parent, pinned = set(delegation.parent_ns), set(expected.ns)
        if parent != pinned:
            only_parent, only_pinned = sorted(parent - pinned), sorted(pinned - parent)
            yield judge_pinned.finding(
                "DELEGATION_NOT_PINNED",
                f"the parent's NS set is not the pinned one: only at the parent "
                f"{', '.join(only_parent) or '-'}; only pinned "
                f"{', '.join(only_pinned) or '-'}", reason="ns-differs",
                args={"only_parent": only_parent, "only_pinned": only_pinned})
        yield from _glue(evidence)
    yield from _ds(evidence)


def _glue(evidence: Evidence) -> Iterator[Finding]:
    expected = expectation_for(evidence.settings.expectations, evidence.zone)
    assert expected is not None
    for name in evidence.delegation.parent_ns:
        pinned = expected.glue_of(name)
        if pinned is None:
            continue
        at_parent = set(evidence.delegation.glue.get(name, ()))
        wanted = set(pinned)
        if not evidence.settings.ipv6:  # the parent's IPv6 glue is not kept then
            wanted = {a for a in wanted if not is_ipv6(a)}
        for address in sorted(at_parent ^ wanted):
            where = "at the parent only" if address in at_parent else "pinned only"
            yield judge_pinned.finding(
                "GLUE_NOT_PINNED",
                f"{name} {address}: glue {where} (parent {sorted(at_parent)}, "
                f"pinned {sorted(wanted)})", nameserver=name, address=address,
                reason="glue-differs")


def _ds(evidence: Evidence) -> Iterator[Finding]:
    expected = expectation_for(evidence.settings.expectations, evidence.zone)
    assert expected is not None
    if not expected.ds:
        return
    at_parent = ds_records(evidence)
    if at_parent is None:
        return  # the parent did not answer the DS query: nothing measured
    pinned = {ds_key(text): text for text in expected.ds}
    if not at_parent:
        yield judge_pinned.finding(
            "DS_NOT_PINNED",
            f"the parent has no DS record; pinned: {len(pinned)} (the zone is "
            "insecure for validating resolvers)", reason="no-ds")
        return
    present = {ds.to_digestable() for ds in at_parent}
    for ds in at_parent:
        if ds.to_digestable() not in pinned:
            yield judge_pinned.finding(
                "DS_NOT_PINNED",
                f"the parent has DS {ds.to_text()}, which is not pinned",
                reason="unexpected-ds", args={"key_tag": ds.key_tag})
    for key, text in pinned.items():
        if key not in present:
            yield judge_pinned.finding(
                "PINNED_DS_MISSING",
                f"the pinned DS {text} is not at the parent", reason="missing-ds",
                args={"key_tag": int(text.split()[0])})


# --- the age of a difference (set by the monitor, which keeps the history) -------------


def pinned_age(report: ZoneReport) -> float | None:
    """Seconds the parent's delegation has differed from the pins, as the monitor stamped
    the report's DELEG06 findings (:func:`with_pinned_age`); None when none differ."""
    ages = [f.args["seconds"] for f in report.findings
            if f.check == "DELEG06" and "seconds" in f.args]
    return max(ages) if ages else None


def pinned_difference_seen(report: ZoneReport) -> bool | None:
    """Does this sweep show a DELEG06 difference (True), show none (False), or could it not
    tell (None: nothing measured, or the parent gave no referral), so an age keeps running."""
    if any(f.check == "DELEG06" for f in report.findings):
        return True
    if report.unknown or not report.parent_ns:
        return None
    return False


def with_pinned_age(report: ZoneReport, since: float | None) -> ZoneReport:
    """The report with each DELEG06 finding carrying the age of the difference: ``since``
    (the start of the first sweep that saw the parent differ from the pins, in an unbroken
    run) and ``seconds``; the message says it, as DELEG05's does."""
    if since is None or not any(f.check == "DELEG06" for f in report.findings):
        return report
    age = max(0.0, report.started_at - since)
    findings = tuple(
        dataclasses.replace(f, message=f"{f.message}; differing from the pins for "
                                       f"{duration_text(age)}",
                            args={**f.args, "since": since, "seconds": age})
        if f.check == "DELEG06" else f
        for f in report.findings
    )
    return dataclasses.replace(report, findings=findings)
