"""What a registry intends its delegation at the parent to be: pinned NS (with glue) and DS.

Configured per zone (`expect:` in config.yaml, monitor/config.py) and carried in
ProbeSettings, so that DELEG06 (probes/checks/pinned.py) can compare the parent's NS set,
glue and DS set with it every sweep. Plain, hashable values only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class ZoneExpectation:
    """What config.yaml pins for one zone's delegation (NS set, glue, DS); empty = not pinned."""
    zone: str  # absolute, lower case: "fr."
    ns: tuple[str, ...] = ()  # absolute NS names, sorted; () = NS set not pinned
    glue: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (name, addresses) where pinned
    ds: tuple[str, ...] = ()  # DS records as canonical text; () = DS set not pinned

    def glue_of(self, name: str) -> tuple[str, ...] | None:
        """The pinned glue addresses of a name, None when its glue is not pinned."""
        return next((addresses for n, addresses in self.glue if n == name), None)


def expectation_for(expectations: tuple[ZoneExpectation, ...],
                    zone: str) -> ZoneExpectation | None:
    """The pinned expectation for a zone, or None when nothing is pinned for it."""
    return next((e for e in expectations if e.zone == zone), None)


@dataclass(frozen=True, slots=True)
class ZoneOverride:
    """A zone's own thresholds (a `zones:` entry given as a mapping); None = the global one.

    Registries legitimately differ: one publishes a new serial every few minutes and lets
    its secondaries lag a step, another runs servers far from this vantage point."""

    zone: str  # absolute, lower case: "fr."
    serial_tolerance: int | None = None
    rtt_udp_threshold: float | None = None
    rtt_tcp_threshold: float | None = None
    propagation_threshold: float | None = None

    def changes(self) -> dict[str, Any]:
        """The ProbeSettings fields this override sets."""
        fields = ("serial_tolerance", "rtt_udp_threshold", "rtt_tcp_threshold",
                  "propagation_threshold")
        return {f: v for f in fields if (v := getattr(self, f)) is not None}
