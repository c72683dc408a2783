"""`ccmon check -t SECONDS`: an overall deadline that ends in UNKNOWN naming what was pending,
against a parent that really hangs (a bound UDP socket that reads nothing)."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_deadline_against_a_silent_world_is_unknown_naming_the_pending_zones() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        port = silent.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "monitor", "check", "fr", "nl", "--root", "127.0.0.1",
             "--port", str(port), "-t", "1"],
            cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 3, result.stdout + result.stderr
    first = result.stdout.splitlines()[0]
    match = re.fullmatch(r"CCMON UNKNOWN - deadline reached after (\d+\.\d+) s; "
                         r"still pending: 2 zone\(s\): fr, nl", first)
    assert match, first
    # ccmon's own stamp: the deadline held to within 0.5 s (the 1.5 s for -t 1);
    # without it, the silent parent alone costs udp_tries x udp_timeout (5 s by default).
    assert 1.0 <= float(match[1]) <= 1.5
