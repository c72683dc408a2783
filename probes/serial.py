"""SOA serials in RFC 1982 arithmetic: the one place that knows which serial is newest and
how far another lags behind it. SOA01, SOA03, the store's propagation tracking, the metrics
and the status page all ask here, so they can never name different servers as behind."""

from __future__ import annotations

from collections.abc import Iterable

import dns.serial

SERIAL_MODULUS = 2**32


def highest_serial(serials: Iterable[int]) -> int | None:
    """The newest serial in RFC 1982 arithmetic: the one no other serial is greater than.

    4294967295 → 1 is a step forward, so max() is wrong. When the arithmetic is undefined
    (two serials exactly 2^31 apart) the serial that beats the most others wins, and among
    equals the numerically smallest (a fixed rule, so every reader agrees).
    """
    distinct = sorted(set(serials))
    if len(distinct) < 2:  # none, or one: no arithmetic to do (most zones, most sweeps)
        return distinct[0] if distinct else None
    wrapped = {s: dns.serial.Serial(s) for s in distinct}

    def beaten_by(s: int) -> int:
        return sum(1 for o in distinct if wrapped[o] > wrapped[s])

    def beats(s: int) -> int:
        return sum(1 for o in distinct if wrapped[s] > wrapped[o])

    return min(distinct, key=lambda s: (beaten_by(s), -beats(s)))


def serial_lag(serial: int, highest: int) -> int:
    """How many serial steps `serial` is behind `highest`: (highest - serial) mod 2**32."""
    return (highest - serial) % SERIAL_MODULUS


def is_newer(serial: int, than: int) -> bool:
    """`serial` comes after `than` in RFC 1982 arithmetic (False when undefined or equal)."""
    return dns.serial.Serial(serial) > dns.serial.Serial(than)
