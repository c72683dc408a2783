"""SOA03 and DELEG05: checks over a zone's history, not over one sweep's evidence.

A sweep alone cannot say how long a serial has been on its way to every server, or how
long the parent's NS set has differed from the child's: that needs what earlier sweeps
saw. The monitor keeps that history (``monitor/store.py``) and, after each sweep, calls
:func:`judge_history` with the sweep's report and the history *including* that sweep.
The judges stay pure: plain values in, findings out, no clock (``now`` is the sweep's
start, the same instant the store records the sweep under).

The checks are in the one registry (:data:`probes.checks.CHECKS`, kind history) with
stable IDs, so docs, metric labels and alert rules know them; a sweep's judge() skips
them, so ``ccmon check`` (one sweep, no history) never reports them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from probes.checks.registry import Check, Kind, Tag, catalogue, register, relevel
from probes.model import Finding, Severity, ZoneReport
from probes.serial import is_newer
from probes.settings import ProbeSettings
from probes.text import duration_text

#: DELEG05: a parent/child NS difference younger than this is a NOTICE, older a WARNING.
DRIFT_WARNING_AGE = 86400.0  # one day

#: Reasons (the bounded ``reason`` vocabulary) per check.
REASONS: dict[str, tuple[str, ...]] = {
    "SOA03": ("not-propagated", "slow-propagation"),
    "DELEG05": ("drift",),
}


# --- the history, as plain values ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SerialSighting:
    """A serial that was once the zone's highest: when first seen on any server, when on all.

    ``complete_at`` is the start of the first sweep in which every server that answered
    authoritatively served this serial or a newer one (None: not yet). ``baseline`` marks
    the serial the monitor found when it started watching the zone: its first sight is
    the start of the monitoring, so ages measured from it are lower bounds.
    """

    serial: int
    first_seen: float
    complete_at: float | None = None
    baseline: bool = False


@dataclass(frozen=True, slots=True)
class ServerSerial:
    """The serial one (name server, address) served last, and since which sweep."""

    nameserver: str
    address: str
    serial: int
    since: float


@dataclass(frozen=True, slots=True)
class DelegationDrift:
    """The parent's and the child's NS sets while they differ, and since which sweep."""

    parent: tuple[str, ...]
    child: tuple[str, ...]
    first_seen: float


@dataclass(frozen=True, slots=True)
class History:
    """What the monitor remembers of a zone, for the history checks.

    ``serials`` holds at least every serial whose propagation is not complete and the
    ones completed most recently; ``servers`` the last serial of each server address;
    ``drift`` the current NS set difference (None when the sets agree or were never seen
    to differ).
    """

    serials: tuple[SerialSighting, ...] = ()
    servers: tuple[ServerSerial, ...] = ()
    drift: DelegationDrift | None = None


HistoryJudge = Callable[[ZoneReport, History, ProbeSettings], Iterable[Finding]]


def register_history(
    check_id: str, title: str, rule: str, *, tags: Iterable[Tag], reasons: Iterable[str] = ()
) -> Callable[[HistoryJudge], Check]:
    """Decorator: declare a history check (kind history) around its judge."""
    return register(check_id, title, rule, tags=tags, reasons=reasons, kind=Kind.HISTORY)


def judge_history(report: ZoneReport, history: History, settings: ProbeSettings) -> list[Finding]:
    """Every enabled history check over the zone's history, in registry order."""
    findings: list[Finding] = []
    for check_id, check in HISTORY_CHECKS.items():
        if check_id not in settings.disabled_checks:
            findings.extend(check.run(report, history, settings))
    return relevel(findings, settings.severity_overrides)


# --- helpers ---------------------------------------------------------------------------


def served_serials(report: ZoneReport) -> dict[tuple[str, str], int]:
    """Per (NS, address), the serial of its authoritative answer, as the report summarised it."""
    return {(a.nameserver, a.address): a.serial for a in report.addresses if a.serial is not None}


# --- SOA03 -----------------------------------------------------------------------------


@register_history(
    "SOA03",
    "SOA propagation time",
    "Seconds from the first sight of a new serial on any server to its sight on all "
    "(ICANN \"DNS update time\"), measured over the monitor's sweeps, so to within one "
    "interval. A server that answers authoritatively with an older serial while a newer "
    "one was first seen more than `thresholds.propagation` ago (default 60 min, ICANN "
    "Spec 10) is a WARNING (`not-propagated`), one per lagging server, naming its serial "
    "and the seconds since the oldest serial it lacks was first seen; it clears once the "
    "server has caught up. A propagation that completes (every authoritative server at the "
    "serial or newer) after more than the threshold is a NOTICE (`slow-propagation`), "
    "reported once, in the sweep that saw it complete, with the time it took and the "
    "servers that were last. Servers that do not answer authoritatively are left to "
    "REACH01 and LAME01. For the serial the monitor found when it started, ages count from "
    "that start (lower bounds, said so in the message). The WARNING is the one to alert "
    "on (an alert rule with `checks: [SOA03]`, `min_severity: WARNING`; the default rules "
    "mail ERROR and worse); the NOTICE is a record and, said once, passes no hold-down. "
    "Run by `ccmon run` only: `ccmon check` has no history.",
    tags=(
        Tag("SERIAL_NOT_PROPAGATED", Severity.WARNING),
        Tag("SLOW_PROPAGATION", Severity.NOTICE),
    ),
    reasons=REASONS["SOA03"],
)
def judge_propagation(
    report: ZoneReport, history: History, settings: ProbeSettings
) -> Iterator[Finding]:
    """SOA03: servers still behind a newer serial for longer than the propagation threshold."""
    now = report.started_at
    threshold = settings.propagation_threshold
    top = report.serial
    behind = {(a.nameserver, a.address): a.serial for a in report.addresses
              if a.lag and a.serial is not None}  # the summary's RFC 1982 lag: SOA01's "behind"
    for (nameserver, address), serial in sorted(behind.items()):
        lacking = [s for s in history.serials if is_newer(s.serial, serial)]
        if not lacking:
            continue  # nothing newer recorded (no history yet): nothing to measure
        oldest = min(lacking, key=lambda s: s.first_seen)
        age = now - oldest.first_seen
        if age <= threshold:
            continue
        at_least = "at least " if oldest.baseline else ""
        yield judge_propagation.finding(
            "SERIAL_NOT_PROPAGATED",
            f"{nameserver} {address} still serves serial {serial}: serial {oldest.serial} "
            f"was first seen {at_least}{duration_text(age)} ago (threshold "
            f"{duration_text(threshold)}), the highest now is {top}",
            nameserver=nameserver, address=address, reason="not-propagated",
            args={"serial": serial, "missing": oldest.serial, "highest": top,
                  "first_seen": oldest.first_seen, "seconds": age,
                  "threshold": threshold, "lower_bound": oldest.baseline},
        )  # fmt: skip
    yield from _slow_completion(report, history, threshold)


def _slow_completion(report: ZoneReport, history: History, threshold: float) -> Iterator[Finding]:
    now = report.started_at
    done = [s for s in history.serials
            if s.complete_at == now and not s.baseline and now - s.first_seen > threshold]
    if not done:
        return
    newest = max(done, key=lambda s: s.first_seen)
    took = now - newest.first_seen
    delays = {(s.nameserver, s.address): max(0.0, s.since - newest.first_seen)
              for s in history.servers if s.serial == newest.serial}
    worst = max(delays.values(), default=None)
    last = sorted(key for key, d in delays.items() if d == worst) if worst else []
    named = ", ".join(f"{ns} {address}" for ns, address in last)
    yield judge_propagation.finding(
        "SLOW_PROPAGATION",
        f"serial {newest.serial} took {duration_text(took)} to reach every server "
        f"(threshold {duration_text(threshold)})" + (f"; last: {named}" if named else ""),
        reason="slow-propagation",
        args={"serial": newest.serial, "first_seen": newest.first_seen, "complete_at": now,
              "seconds": took, "threshold": threshold,
              "last": [f"{ns} {address}" for ns, address in last]},
    )  # fmt: skip


# --- DELEG05 ---------------------------------------------------------------------------


def normal_ns_set(names: Iterable[str]) -> tuple[str, ...]:
    """Sorted, lower case, one trailing dot: how NS sets are compared and stored."""
    return tuple(sorted({n.strip().lower().rstrip(".") + "." for n in names if n.strip(" .")}))


@register_history(
    "DELEG05",
    "Parent delegation keeps up with the child",
    "The parent's NS set (the root's referral, for a ccTLD) equals the union of the apex "
    "NS sets the zone's servers return; when they differ (`drift`), the finding names the "
    "NS names only at the parent and only at the child and the age of the difference: the "
    "time since the first sweep that saw this exact pair of sets. A difference younger than "
    "a day is a NOTICE (a registry's NS change waiting for the root zone update is normal "
    "for a while), a day or older a WARNING. A sweep that cannot see one of the two sets "
    "keeps the age running. DELEG03 reports the same difference per server without the "
    "age. Run by `ccmon run` only: `ccmon check` has no history.",
    tags=(Tag("DELEGATION_DRIFT", Severity.NOTICE, {"a-day-old": Severity.WARNING},
            "the difference is a day old or older"),),
    reasons=REASONS["DELEG05"],
)
def judge_drift(report: ZoneReport, history: History, settings: ProbeSettings) -> Iterator[Finding]:
    """DELEG05: the parent's and the zone's NS sets differ, with how long they have (history)."""
    parent, child = normal_ns_set(report.parent_ns), normal_ns_set(report.child_ns)
    if not parent or not child or parent == child:
        return
    drift = history.drift
    if drift is not None and (drift.parent, drift.child) == (parent, child):
        since = drift.first_seen
    else:  # not recorded (yet): this sweep is the first to see it
        since = report.started_at
    age = max(0.0, report.started_at - since)
    only_parent = sorted(set(parent) - set(child))
    only_child = sorted(set(child) - set(parent))
    yield judge_drift.finding(
        "DELEGATION_DRIFT",
        f"the parent's NS set differs from the zone's for {duration_text(age)}: "
        f"only at the parent {', '.join(only_parent) or '-'}; "
        f"only at the child {', '.join(only_child) or '-'}",
        grade="a-day-old" if age >= DRIFT_WARNING_AGE else "", reason="drift",
        args={"only_parent": only_parent, "only_child": only_child, "since": since,
              "seconds": age},
    )  # fmt: skip


#: The history checks in report order: an explicit list, not import order.
HISTORY_CHECKS: dict[str, Check] = catalogue(judge_propagation, judge_drift)
