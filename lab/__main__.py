"""``python -m lab up|down|status``: run the lab by hand.

``up`` stays in the foreground until Ctrl-C / SIGTERM / ``down``, and meanwhile keeps a state
file (``/tmp/ccmon-lab-state-<port>.json``, or ``$CCMON_LAB_STATE``) that ``down`` and
``status`` read.
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import json
import logging
import os
import signal
import sys
import time
from pathlib import Path

from lab.errors import LabError
from lab.procs import soa_probe


def state_path(port: int | None) -> Path:
    if os.environ.get("CCMON_LAB_STATE"):
        return Path(os.environ["CCMON_LAB_STATE"])
    if port is not None:
        return Path(f"/tmp/ccmon-lab-state-{port}.json")
    found = sorted(glob.glob("/tmp/ccmon-lab-state-*.json"))
    if len(found) == 1:
        return Path(found[0])
    if not found:
        raise LabError("no running lab found (no /tmp/ccmon-lab-state-*.json)")
    raise LabError(f"several labs are running ({', '.join(found)}); give --port")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] == "Z")


def cmd_up(args) -> int:
    from lab.scenario import load_scenario
    from lab.world import Lab

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    lab = Lab(load_scenario(args.scenario), port=args.port, mode=args.mode)
    if lab.mode == "python":
        print(f"lab: python mode ({lab.mode_reason}): every server is our own fault server")
    path = state_path(lab.port)
    with lab:
        rows = [(z, i.ns, i.address, i.software, i.role, i.fault)
                for z, infos in lab.zones.items() for i in infos]
        print(f"lab up: {lab.scenario.name}, {lab.mode} mode, port {lab.port}, "
              f"root {lab.root_address}, resolver {lab.resolver_address}, "
              f"{len(lab.zones)} zones, {len(rows)} servers, {len(lab.procs)} processes, "
              f"{lab.started_in:.2f} s")
        if len(rows) <= 200:
            for row in rows:
                print("  {:<12} {:<24} {:<14} {:<6} {:<9} {}".format(*row))
        state = {"pid": os.getpid(), "port": lab.port, "scenario": lab.scenario.name,
                 "mode": lab.mode, "workdir": str(lab.workdir),
                 "root": lab.root_address, "resolver": lab.resolver_address,
                 "processes": lab.processes,
                 "servers": [list(r) for r in rows]}
        path.write_text(json.dumps(state, indent=1))
        print(f"state in {path}; stop with Ctrl-C or `python -m lab down --port {lab.port}`")
        try:
            while True:
                time.sleep(3600)
        except (KeyboardInterrupt, SystemExit):
            pass
        finally:
            with contextlib.suppress(OSError):
                path.unlink()
    print("lab down")
    return 0


def cmd_down(args) -> int:
    path = state_path(args.port)
    state = json.loads(path.read_text())
    pid = state["pid"]
    if _alive(pid):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
    for proc in state.get("processes", []):  # the owner could not clean up: kill its groups
        with contextlib.suppress(ProcessLookupError, PermissionError, TypeError):
            os.killpg(proc["pid"], signal.SIGKILL)
    with contextlib.suppress(OSError):
        path.unlink()
    print(f"lab on port {state['port']} stopped")
    return 0


def cmd_status(args) -> int:
    path = state_path(args.port)
    state = json.loads(path.read_text())
    up = _alive(state["pid"])
    print(f"lab {state['scenario']} ({state['mode']}) on port {state['port']}: "
          f"owner pid {state['pid']} {'running' if up else 'GONE'}")
    targets = [(row[2], row[0]) for row in state["servers"]]
    got = soa_probe(targets, state["port"], wait=0.5)
    for zone, ns, address, software, role, fault in state["servers"]:
        rcode, aa, serial = got.get((address, zone), (None, False, None))
        answer = "no answer" if rcode is None else f"rcode {rcode} aa={int(aa)} serial {serial}"
        print(f"  {zone:<12} {ns:<24} {address:<14} {software:<6} {role:<9} {fault:<14} "
              f"{answer}")
    return 0 if up else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start the lab and stay in the foreground")
    up.add_argument("--scenario", default="demo",
                    help="demo, scale (every ccTLD), scale-root (every TLD), or a YAML path")
    up.add_argument("--port", type=int, default=None)
    up.add_argument("--mode", choices=("real", "python"), default=None)
    for name in ("down", "status"):
        p = sub.add_parser(name, help=f"{name} the lab started by `up`")
        p.add_argument("--port", type=int, default=None)
    args = parser.parse_args(argv)
    try:
        return {"up": cmd_up, "down": cmd_down, "status": cmd_status}[args.command](args)
    except LabError as exc:
        print(f"lab: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
