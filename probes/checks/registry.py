"""The check registry: every check with a stable ID, a one-line meaning and its rule.

Like Zonemaster's test cases, IDs never change once published: they appear in metric
labels, alert e-mails, the status page and the docs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from probes.checks.evidence import Evidence
from probes.model import Finding

Judge = Callable[[Evidence], Iterable[Finding]]


@dataclass(frozen=True, slots=True)
class Check:
    id: str  # "LAME01"
    title: str  # one line: what a pass means
    rule: str  # the documented rule, as in DESIGN.md
    judge: Judge


CHECKS: dict[str, Check] = {}


def register(check_id: str, title: str, rule: str) -> Callable[[Judge], Judge]:
    """Decorator: add a judge to the registry under a stable ID."""

    def add(judge: Judge) -> Judge:
        if check_id in CHECKS:
            raise ValueError(f"check {check_id} registered twice")
        CHECKS[check_id] = Check(check_id, title, rule, judge)
        return judge

    return add
