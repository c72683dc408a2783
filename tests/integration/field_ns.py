"""Inside a network namespace: a lab world, `ccmon check` against it, and a field condition
(no IPv6, few descriptors, a lossy path, lo down). Run by tests/integration/test_field_truth.py
as `unshare -n python -m tests.integration.field_ns CASE`; prints one line `RESULT <json>`.

Nothing here can reach any other network: the namespace has only its own loopback, brought
up here, and the lab inside it listens on port 53.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
CCMON = [sys.executable, "-m", "monitor.cli"]
FIELD = str(REPO / "lab" / "scenarios" / "field.yaml")
FIELD_ZONES = ("se", "mx", "fi")
DUAL_STACK = ("se", "mx")  # NS ns6.lab-anycast.net. with AAAA glue on ::1
LOSSY = "127.73.3.3"  # ns3.nic.fi., the fault server's drop 0.3
SWEEPS = 20


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, timeout=10)


def check(lab: Any, zones: Sequence[str], *flags: str, nofile: int | None = None,
          ) -> dict[str, Any]:
    """One `ccmon check --json` run against the lab; its exit status, document, stderr."""
    def limit() -> None:
        if nofile is not None:  # as `ulimit -n N` would, for the ccmon process only
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

    argv = [*CCMON, "check", *zones, "--root", lab.root_address, "--resolver",
            lab.resolver_address, "--port", str(lab.port), *flags]
    started = time.monotonic()
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=REPO,
                          preexec_fn=limit)
    document = json.loads(done.stdout) if "--json" in flags else None
    return {"rc": done.returncode, "doc": document, "stdout": done.stdout,
            "stderr": done.stderr[-4000:], "seconds": time.monotonic() - started}


def case_no_ipv6(lab: Any) -> dict[str, Any]:
    with_v6 = check(lab, DUAL_STACK, "--json")
    ip("-6", "addr", "del", "::1/128", "dev", "lo")  # the host now has no IPv6 at all
    without = check(lab, DUAL_STACK, "--json")
    text = check(lab, DUAL_STACK)
    return {"with_v6": with_v6, "without_v6": without, "text": text}


def case_ulimit(lab: Any) -> dict[str, Any]:
    zones = sorted(z for z in lab.zones if z != "net")
    flags = ("--json", "--udp-timeout", "1.5", "--tcp-timeout", "3")
    normal = check(lab, zones, *flags)
    low = check(lab, zones, *flags, nofile=64)
    raw = prober_without_budget(lab, zones, nofile=64)
    return {"normal": normal, "low": low, "raw": raw}


def prober_without_budget(lab: Any, zones: Sequence[str], nofile: int) -> dict[str, Any]:
    """The same zones swept by the Prober itself under `nofile` descriptors, WITHOUT the
    descriptor budget ccmon applies at start: the queries do run out (EMFILE)."""
    code = (
        "import asyncio, json, resource, sys\n"
        "from probes.settings import ProbeSettings\n"
        "from probes.sweep import Prober\n"
        f"resource.setrlimit(resource.RLIMIT_NOFILE, ({nofile}, {nofile}))\n"
        f"s = ProbeSettings(parent_addresses=({lab.root_address!r},), "
        f"resolver=({lab.resolver_address!r},), port={lab.port}, resolver_port={lab.port}, "
        "udp_timeout=1.5, tcp_timeout=3.0, max_in_flight=2000)\n"
        "async def main():\n"
        "    async with Prober(s) as p:\n"
        "        return await asyncio.gather(*(p.sweep(z) for z in sys.argv[1:]))\n"
        "print(json.dumps([r.to_dict() for r in asyncio.run(main())]))\n"
    )
    done = subprocess.run([sys.executable, "-c", code, *zones], capture_output=True, text=True,
                          timeout=120, cwd=REPO)
    return {"rc": done.returncode, "reports": json.loads(done.stdout or "[]"),
            "stderr": done.stderr[-4000:]}


def case_loss(lab: Any) -> dict[str, Any]:
    runs = [check(lab, ["fi"], "--json", "--udp-timeout", "0.5", "--tcp-timeout", "1")
            for _ in range(SWEEPS)]
    return {"runs": runs}


def case_lo_down(lab: Any) -> dict[str, Any]:
    before = check(lab, FIELD_ZONES, "--json", "--udp-timeout", "0.5", "--tcp-timeout", "1")
    ip("link", "set", "lo", "down")  # our own outage: nothing reaches anything any more
    try:
        down = check(lab, FIELD_ZONES, "--json", "--udp-timeout", "0.5", "--tcp-timeout", "1")
        text = check(lab, FIELD_ZONES, "--udp-timeout", "0.5", "--tcp-timeout", "1")
    finally:
        ip("link", "set", "lo", "up")
    return {"before": before, "down": down, "text": text}


CASES: dict[str, tuple[str, Callable[[Any], dict[str, Any]]]] = {
    "no-ipv6": (FIELD, case_no_ipv6),
    "ulimit": ("demo", case_ulimit),
    "loss": (FIELD, case_loss),
    "lo-down": (FIELD, case_lo_down),
}


def main(case: str) -> int:
    ip("link", "set", "lo", "up")
    sys.path.insert(0, str(REPO))
    os.environ.pop("CCMON_LAB_PORT", None)  # alone in this namespace: port 53
    from lab import Lab

    scenario, run = CASES[case]
    with Lab(scenario, port=53, mode="real") as lab:
        result = run(lab)
    print("RESULT " + json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
