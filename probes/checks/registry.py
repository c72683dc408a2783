"""The check registry: every check with a stable ID, its kind, its tags and its reasons.

Like Zonemaster's test cases, IDs never change once published: they appear in metric
labels, alert e-mails, the status page and the docs. Each check declares the tags (outcomes)
it can emit with their default severity, so a judge only names the tag and the severity is
looked up here; `config.yaml` can re-level a tag (`checks: {severity: {SOA04: NOTICE}}`),
Zonemaster-profile style, and the finding carries the looked-up severity everywhere
downstream (reports, metrics, alerts, status page).

The report order is an explicit list (`probes.checks.CHECKS`), not import order.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from probes.model import Finding, Severity

#: A judge: per-sweep checks take the sweep's Evidence, history checks (report, history,
#: settings), prechecks a PrecheckEvidence. Each yields findings.
AnyJudge = Callable[..., Iterable[Finding]]


class Kind(enum.StrEnum):
    """When a check is judged."""

    SWEEP = "sweep"  # every sweep, over that sweep's evidence (`ccmon check` and `ccmon run`)
    HISTORY = "history"  # by the monitor, over the stored history including the sweep
    PRECHECK = "precheck"  # over a proposed delegation (`ccmon precheck`)


@dataclass(frozen=True, slots=True)
class Tag:
    """One outcome a check can report, with its default severity.

    ``grades`` are the data-dependent levels of a tag (a DS mismatch on every server is
    worse than on one): word -> severity; the judge names the grade, the severity is still
    looked up. A re-levelled tag has the configured severity whatever its grade.
    """

    name: str
    severity: Severity
    grades: Mapping[str, Severity] = field(default_factory=dict)
    meaning: str = ""  # when a grade applies, in words, for docs/checks.md

    def level(self, grade: str = "") -> Severity:
        """The default severity of this tag at a grade ("" = the tag's own)."""
        if not grade:
            return self.severity
        if grade not in self.grades:
            raise ValueError(f"tag {self.name} has no grade {grade!r}")
        return self.grades[grade]


def _no_verdict(*_args: Any) -> Iterator[Finding]:
    """A history check or precheck has nothing to say about one sweep's evidence."""
    return iter(())


@dataclass(frozen=True, slots=True)
class Check:
    """One check: stable ID, meaning, rule, kind, its tags and reasons, and its judge."""

    id: str  # "LAME01"
    title: str  # one line: what a pass means
    rule: str  # the documented rule, as in DESIGN.md
    kind: Kind
    tags: Mapping[str, Tag]
    reasons: tuple[str, ...]  # the closed vocabulary of the `reason` label; () = not bounded
    run: AnyJudge  # the judge, with the arguments of its kind
    # False: `checks.severity` may not re-level it (VANTAGE01 is about our host, not the
    # zone: unmeasured is not down, whatever a config says).
    relevel: bool = True

    def __call__(self, *args: Any) -> Iterable[Finding]:
        """Run the judge with the arguments of the check's kind."""
        return self.run(*args)

    @property
    def judge(self) -> AnyJudge:
        """The per-sweep judge: history checks and prechecks are silent on a sweep."""
        return self.run if self.kind is Kind.SWEEP else _no_verdict

    def severity(self, tag: str, grade: str = "") -> Severity:
        """The default severity of a tag of this check (a grade of it, when given)."""
        if tag not in self.tags:
            raise ValueError(f"check {self.id} declares no tag {tag}")
        return self.tags[tag].level(grade)

    def finding(
        self, tag: str, message: str, *, grade: str = "", nameserver: str = "",
        address: str = "", reason: str = "", args: Mapping[str, Any] | None = None,
    ) -> Finding:
        """A finding of this check: the judge names the tag, the severity is looked up."""
        return Finding(self.id, self.severity(tag, grade), tag, message, nameserver=nameserver,
                       address=address, reason=reason, args=args or {})


def tags(*declared: Tag) -> dict[str, Tag]:
    """Tags by name, in declaration order."""
    return {t.name: t for t in declared}


def register(
    check_id: str, title: str, rule: str, *, tags: Iterable[Tag], reasons: Iterable[str] = (),
    kind: Kind = Kind.SWEEP, relevel: bool = True,
) -> Callable[[AnyJudge], Check]:
    """Decorator: declare a check around its judge. The decorated name is the Check; it
    joins the registry only through the explicit list (probes.checks.CHECKS)."""
    declared = {t.name: t for t in tags}

    def declare(judge: AnyJudge) -> Check:
        return Check(check_id, title, rule, kind, declared, tuple(reasons), judge, relevel)

    return declare


def catalogue(*checks: Check) -> dict[str, Check]:
    """The registry from an explicit, ordered list; the order is the report order."""
    out: dict[str, Check] = {}
    for check in checks:
        if check.id in out:
            raise ValueError(f"check {check.id} listed twice")
        out[check.id] = check
    return out


#: Re-levelled severities, (check ID, tag) -> severity: built by monitor/config.py from
#: `checks.severity`, carried in ProbeSettings.severity_overrides as triples.
Overrides = Iterable[tuple[str, str, Severity]]


def relevel(findings: Iterable[Finding], overrides: Overrides) -> list[Finding]:
    """The findings with the configured severity of their (check, tag), where one is set."""
    table = {(check, tag): severity for check, tag, severity in overrides}
    if not table:
        return list(findings)
    out = []
    for found in findings:
        severity = table.get((found.check, found.tag))
        if severity is not None and severity != found.severity:
            found = Finding(found.check, severity, found.tag, found.message, found.nameserver,
                            found.address, found.reason, found.args)
        out.append(found)
    return out
