"""Hand-made sweeps for the SLA report's tests: a zone of three name servers (one with an
IPv6 address too), each sweep one minute apart, faults switched on per minute."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from monitor.snapshot import ZoneTotals
from monitor.store import Store
from probes.model import ServerStatus, Transport, ZoneReport

#: 2026-10-01 00:00 UTC, a Thursday; the fixtures' month is October 2026.
MONTH_START = int(dt.datetime(2026, 10, 1, tzinfo=dt.UTC).timestamp())
SERVERS = (
    ("ns1.nic.xx.", "192.0.2.1"),
    ("ns2.nic.xx.", "192.0.2.2"),
    ("ns2.nic.xx.", "2001:db8::2"),
    ("ns3.nic.xx.", "198.51.100.3"),
)


def status(ns: str, address: str, transport: Transport, *, answered: bool = True,
           authoritative: bool = True, rtt: float | None = 0.02, lame: str = "",
           measured: bool = True, serial: int = 7) -> ServerStatus:  # fmt: skip
    return ServerStatus(
        ns, address, transport, answered=answered, authoritative=authoritative,
        rtt=rtt if answered else None, serial=serial if authoritative else None,
        lame_reason=lame, within_threshold=authoritative and rtt is not None and rtt <= 0.5,
        measured=measured,
    )  # fmt: skip


def sweep(minute: int, zone: str = "xx", *, down: Iterable[str] = (),
          lame: Iterable[str] = (), unmeasured: Iterable[str] = (), unknown: bool = False,
          rtt: float = 0.02, start: int = MONTH_START, step: float = 60.0,
          serials: Mapping[str, int] | None = None, dnssec: str = "",
          udp_extra: Mapping[str, Mapping[str, Any]] | None = None) -> ZoneReport:  # fmt: skip
    """The zone's report of one sweep: `down` addresses do not answer, `lame` ones refuse,
    `unmeasured` ones could not be measured from here (our family offline)."""
    down, lame, unmeasured = set(down), set(lame), set(unmeasured)
    rows = []
    for ns, address in SERVERS:
        for transport in (Transport.UDP, Transport.TCP):
            if unknown or address in unmeasured:
                rows.append(status(ns, address, transport, answered=False,
                                   authoritative=False, measured=False))  # fmt: skip
            elif address in down:
                rows.append(status(ns, address, transport, answered=False, authoritative=False))
            elif address in lame:
                rows.append(status(ns, address, transport, authoritative=False, lame="refused"))
            else:
                row = status(ns, address, transport, rtt=rtt,
                             serial=(serials or {}).get(address, 7))  # fmt: skip
                if transport is Transport.UDP and udp_extra and address in udp_extra:
                    row = replace(row, **udp_extra[address])
                rows.append(row)
    rtts = {} if unknown else {"udp": (rtt, rtt), "tcp": (rtt * 2,)}
    return ZoneReport(
        zone, start + minute * step, 0.3, tuple(rows), (), rtts=rtts,
        unmeasured=tuple(sorted(unmeasured)) if not unknown else tuple(a for _, a in SERVERS),
        unknown=unknown, dnssec=dnssec,
    )  # fmt: skip


def build_store(path: Path, reports: Iterable[ZoneReport]) -> Path:
    store = Store(str(path), retention=400 * 86400.0)
    try:
        for report in reports:
            store.record_sweep(report, ZoneTotals())
    finally:
        store.close()
    return path
