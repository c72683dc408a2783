"""Command-line flag converters: the reader kit's rules, with argparse's error type, so a
flag and the config key it stands for accept and refuse the same values."""

from __future__ import annotations

import argparse
import math

from monitor.config.reader import listen_address, port

MAX_TIMEOUT_FLAG = 60.0  # s, as for probe.udp_timeout and probe.tcp_timeout in the config


def port_flag(text: str) -> int:
    """A port number flag (`--port`), 1 to 65535."""
    try:
        return port(int(text))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be a port number from 1 to 65535, got {text!r}") from None


def timeout_flag(text: str) -> float:
    """A timeout flag in seconds (`--udp-timeout`), above 0 and at most MAX_TIMEOUT_FLAG."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and 0 < value <= MAX_TIMEOUT_FLAG):
        raise argparse.ArgumentTypeError(
            f"must be a number of seconds above 0 and at most {MAX_TIMEOUT_FLAG:g}, got {text!r}"
        )
    return value


def listen_flag(text: str) -> str:
    """A listen address flag (`--listen`), as `web.listen` reads it."""
    try:
        return listen_address(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
