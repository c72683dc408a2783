"""What the alerter keeps: problems with their phase, state-change events, a zone's mail state.

The enums are stored by value (``alert_problems.state``, the ``kind`` of a digest entry), so
a store written before they were enums reads the same.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from probes.model import Finding, Severity

ProblemKey = tuple[str, str, str, str, str]  # zone, check, nameserver, address, reason

VANTAGE_CHECK = "VANTAGE01"
#: The alert state of the vantage point itself is kept under this name, in the same tables
#: as the zones'. Never a zone: a zone name has no parentheses.
VANTAGE_ZONE = "(vantage)"


class Phase(StrEnum):
    """Where a problem is in its hold-down; its value is what ``alert_problems.state`` holds."""

    PENDING = "pending"  # failing, not yet mailed
    OPEN = "open"  # mailed, counting good sweeps towards closing


class EventKind(StrEnum):
    """What one sweep did to a problem; its value is what a stored digest entry holds."""

    OPENED = "opened"
    CHANGED = "changed"  # an open problem's severity changed
    RESOLVED = "resolved"


OPENED = EventKind.OPENED
CHANGED = EventKind.CHANGED
RESOLVED = EventKind.RESOLVED


def problem_key(zone: str, finding: Finding) -> ProblemKey:
    """The identity a finding's problem is tracked under across sweeps."""
    return (zone, finding.check, finding.nameserver, finding.address, finding.reason)


def label(check: str, severity: int, nameserver: str, address: str, reason: str) -> str:
    """``LAME01 ERROR ns2.nic.fr 192.0.2.2 refused``: the words of a subject line."""
    parts = [check, Severity(severity).name, nameserver.rstrip("."), address, reason]
    return " ".join(p for p in parts if p)


@dataclass(slots=True)
class ProblemState:
    """Hold-down bookkeeping of one problem (zone, check, nameserver, address, reason)."""

    zone: str
    check: str
    nameserver: str
    address: str
    reason: str
    state: Phase
    severity: int
    tag: str
    message: str
    failing: int  # failing sweeps in a row
    good: int  # good sweeps in a row (open problems only)
    first_seen: float  # start of the first failing sweep of this run of failures
    last_seen: float  # start of the latest failing sweep
    opened_at: float | None = None  # when the hold-down was reached
    notified_severity: int | None = None  # severity the last mail told

    @property
    def key(self) -> ProblemKey:
        """The problem's identity: (zone, check, nameserver, address, reason)."""
        return (self.zone, self.check, self.nameserver, self.address, self.reason)


@dataclass(slots=True)
class ZoneState:
    """Per zone: when the last report and the last mail went out, and the digest not yet mailed."""
    zone: str
    last_report_at: float | None = None
    last_mail_at: float | None = None
    digest: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Event:
    """One change of state of one problem, as kept in a zone's digest."""

    kind: EventKind
    at: float  # start of the sweep that made the change
    check: str
    severity: int
    nameserver: str
    address: str
    reason: str
    tag: str
    message: str
    since: float  # first failing sweep of the problem
    previous_severity: int | None = None  # CHANGED: what the last mail said

    @property
    def label(self) -> str:
        """The problem in subject-line words: "LAME01 ERROR ns2.nic.fr 192.0.2.2 refused"."""
        return label(self.check, self.severity, self.nameserver, self.address, self.reason)

    @property
    def key_in_zone(self) -> tuple[str, str, str, str]:
        """The problem's key without the zone, for telling a zone's events apart."""
        return (self.check, self.nameserver, self.address, self.reason)

    @classmethod
    def of(
        cls, kind: EventKind, at: float, problem: ProblemState, previous: int | None = None
    ) -> Event:
        """An event of this kind at `at`, from the problem's state."""
        return cls(
            kind,
            at,
            problem.check,
            problem.severity,
            problem.nameserver,
            problem.address,
            problem.reason,
            problem.tag,
            problem.message,
            problem.first_seen,
            previous,
        )

    def to_dict(self) -> dict[str, Any]:
        """Every field as a plain value (the kind by its value), for the stored digest."""
        out = {name: getattr(self, name) for name in self.__slots__}
        out["kind"] = self.kind.value
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Event:
        """The inverse of to_dict()."""
        return cls(**{**data, "kind": EventKind(data["kind"])})
