"""The closed vocabulary of faults the fault server can inject, with their parameters.

Shared by the scenario validator (so a bad name is refused before anything starts) and
by the fault server itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lab.errors import ScenarioError

#: fault name -> {parameter: default}; a parameter without a default is None.
FAULTS: dict[str, dict[str, Any]] = {
    "none": {},
    "delay": {"ms": 500.0, "jitter_ms": 0.0},
    "drop": {"share": 0.5},
    "refused": {},
    "servfail": {},
    "nxdomain": {},
    "noaa": {},
    "referral": {},
    "wrong-owner": {"owner": "wrong-owner.invalid."},
    "stale-serial": {"by": 1},
    "garbage": {"size": 40},
    "wrong-id": {},
    "wrong-question": {"qname": "wrong-question.invalid."},
    "tc-silent-tcp": {},
    "tcp-silent": {},
    "silent": {},
    "oversized": {"extra": 1024},
}

#: Faults of signed zones only (scenario `dnssec:`), shown in the extras world (the demo
#: world's zones are unsigned): the address serves a copy of the zone signed anew by the
#: zone's own keys with other signature times, pinned like a stale secondary's copy.
SIGNING_FAULTS: dict[str, dict[str, Any]] = {
    "expired-signatures": {"ago": 86400},  # every RRSIG expired `ago` seconds before
    "expiring-signatures": {"remaining": 43200},  # every RRSIG expires `remaining` s after
}
#: Hostile sizes, shown in the hostile world (`lab/scenarios/hostile.yaml`), not
#: in the demo world whose soak must stay flat: over TCP the answer is correct but padded
#: to `size` bytes with random TXT records in the additional section, different every time.
HOSTILE_FAULTS: dict[str, dict[str, Any]] = {
    "huge-tcp": {"size": 58000},
}
ALL_FAULTS: dict[str, dict[str, Any]] = {**FAULTS, **SIGNING_FAULTS, **HOSTILE_FAULTS}

#: What a monitor should find for each fault (the DESIGN.md check and reason), used as the
#: default `expect:` of a faulty server when a scenario does not spell one out.
EXPECTED: dict[str, dict[str, Any]] = {
    "none": {},
    "delay": {"check": "RTT01", "reason": "slow"},  # when over the 500 ms threshold
    "drop": {"check": "REACH01", "reason": "timeout", "sometimes": True},  # retries may hide it
    "refused": {"check": "LAME01", "reason": "refused"},
    "servfail": {"check": "LAME01", "reason": "servfail"},
    "nxdomain": {"check": "LAME01", "reason": "nxdomain"},
    "noaa": {"check": "LAME01", "reason": "not-authoritative"},
    "referral": {"check": "LAME01", "reason": "referral"},
    "wrong-owner": {"check": "LAME01", "reason": "wrong-owner"},
    "stale-serial": {"check": "SOA01", "reason": "behind"},
    "garbage": {"check": "LAME01", "reason": "malformed", "failure": "malformed"},
    # Replies a resolver drops as spoofed: the server counts as not responding, not as lame.
    "wrong-id": {"check": "REACH01", "reason": "mismatch", "failure": "mismatch"},
    "wrong-question": {"check": "REACH01", "reason": "mismatch", "failure": "mismatch"},
    "tc-silent-tcp": {"check": "REACH01", "reason": "truncated", "failure": "truncated"},
    "tcp-silent": {"check": "TCP01", "reason": "timeout"},
    "silent": {"check": "REACH01", "reason": "timeout", "failure": "timeout"},
    "oversized": {"check": "EDNS01", "reason": "oversized", "failure": "oversized"},
    "expired-signatures": {"check": "DNSSEC02", "reason": "expired"},
    "expiring-signatures": {"check": "DNSSEC03", "reason": "expiring"},
    "huge-tcp": {},  # the answers are right; what must hold is the monitor's memory
}

_NUMBER_LIMITS: dict[tuple[str, str], tuple[float, float]] = {
    ("delay", "ms"): (0.0, 60_000.0),
    ("delay", "jitter_ms"): (0.0, 60_000.0),
    ("drop", "share"): (0.0, 1.0),
    ("stale-serial", "by"): (1, 2**31 - 1),
    ("garbage", "size"): (1, 400),
    ("oversized", "extra"): (1, 60_000),
    ("huge-tcp", "size"): (512, 60_000),
    ("expired-signatures", "ago"): (1, 10 * 365 * 86400),
    ("expiring-signatures", "remaining"): (60, 10 * 365 * 86400),
}


def fault_params(name: str, params: Mapping[str, Any] | None = None, where: str = "") -> dict:
    """Return the full parameter set of fault `name` (defaults filled in), or raise.

    :param where: names the scenario entry in the error message.
    """
    prefix = f"{where}: " if where else ""
    if name not in ALL_FAULTS:
        known = ", ".join(sorted(ALL_FAULTS))
        raise ScenarioError(f"{prefix}unknown fault {name!r} (known: {known})")
    out = dict(ALL_FAULTS[name])
    for key, value in (params or {}).items():
        if key not in out:
            allowed = ", ".join(sorted(out)) or "none"
            raise ScenarioError(
                f"{prefix}fault {name!r} has no parameter {key!r} (allowed: {allowed})"
            )
        limits = _NUMBER_LIMITS.get((name, key))
        if limits is not None:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ScenarioError(f"{prefix}fault {name!r} parameter {key!r} must be a number")
            if not limits[0] <= value <= limits[1]:
                raise ScenarioError(
                    f"{prefix}fault {name!r} parameter {key!r}={value} is outside "
                    f"{limits[0]}..{limits[1]}"
                )
        elif not isinstance(value, str):
            raise ScenarioError(f"{prefix}fault {name!r} parameter {key!r} must be a string")
        out[key] = value
    integers = {"stale-serial": "by", "garbage": "size", "oversized": "extra",
                "expired-signatures": "ago", "expiring-signatures": "remaining",
                "huge-tcp": "size"}
    if name in integers:
        out[integers[name]] = int(out[integers[name]])
    return out
