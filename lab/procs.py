"""Child processes of the lab: start in their own process group, stop by PID / group,
clean up at exit and on SIGTERM; plus the small clients the lab uses to talk to them
(control channel, bulk SOA prober)."""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import errno
import json
import os
import select
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import dns.exception
import dns.flags
import dns.message
import dns.rdatatype

from lab.errors import LabError

PR_SET_PDEATHSIG = 1
_cleanups: dict[int, Callable[[], None]] = {}
_handlers_installed = False


def _pdeathsig() -> None:  # runs in the child between fork and exec
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def spawn(argv: Sequence[str], log: Path, cwd: Path) -> subprocess.Popen:
    """Start `argv` in a new session (its own process group), output to `log`.

    When started from the main thread the child also gets PR_SET_PDEATHSIG=SIGKILL, so it
    dies with us even if we are SIGKILLed (the kernel ties it to the starting thread, which is
    why other threads don't set it)."""
    main = threading.current_thread() is threading.main_thread()
    with open(log, "ab") as out:
        try:
            return subprocess.Popen(
                list(argv), stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                cwd=cwd, start_new_session=True, preexec_fn=_pdeathsig if main else None,
                close_fds=True)
        except OSError as exc:
            raise LabError(f"cannot start {argv[0]}: {exc}") from exc


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # Zombies keep the group alive until reaped; count only processes not in state Z.
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def stop_all(procs: Iterable[subprocess.Popen], timeout: float = 5.0) -> None:
    """SIGTERM every process group, wait (bounded), SIGKILL what is left, reap."""
    procs = [p for p in procs if p is not None]
    for p in procs:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(p.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for p in procs:
        with contextlib.suppress(subprocess.TimeoutExpired):
            p.wait(timeout=max(0.05, deadline - time.monotonic()))
    for p in procs:
        while _group_alive(p.pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        if _group_alive(p.pid) or p.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(p.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            p.wait(timeout=2.0)
    kill_deadline = time.monotonic() + 2.0
    for p in procs:
        while _group_alive(p.pid) and time.monotonic() < kill_deadline:
            time.sleep(0.02)


def register_cleanup(key: int, fn: Callable[[], None]) -> None:
    """Run `fn` at interpreter exit and on SIGTERM/SIGHUP (unless unregistered first)."""
    global _handlers_installed
    _cleanups[key] = fn
    if _handlers_installed or threading.current_thread() is not threading.main_thread():
        return
    _handlers_installed = True
    atexit.register(run_cleanups)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(sig) in (signal.SIG_DFL, None):
            signal.signal(sig, _on_signal)


def unregister_cleanup(key: int) -> None:
    _cleanups.pop(key, None)


def run_cleanups() -> None:
    for key in list(_cleanups):
        fn = _cleanups.pop(key, None)
        if fn is not None:
            with contextlib.suppress(Exception):
                fn()


def _on_signal(signum: int, _frame: object) -> None:
    # Turn the signal into SystemExit so `with Lab(...)` blocks and finally clauses run.
    raise SystemExit(128 + signum)


# ---------------------------------------------------------------------------- clients


def control(path: str | Path, cmd: dict, timeout: float = 10.0) -> dict:
    """One request/reply on a fault server's control socket."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(str(path))
            sock.sendall(json.dumps(cmd).encode() + b"\n")
            buf = b""
            while not buf.endswith(b"\n"):
                chunk = sock.recv(1 << 20)
                if not chunk:
                    break
                buf += chunk
        except OSError as exc:
            raise LabError(f"fault server control {path}: {exc}") from exc
    if not buf:
        raise LabError(f"fault server control {path}: no reply to {cmd.get('cmd')}")
    reply = json.loads(buf)
    if not reply.get("ok"):
        raise LabError(f"fault server: {cmd.get('cmd')} failed: {reply.get('error')}")
    return reply


def soa_probe(targets: Iterable[tuple[str, str]], port: int, wait: float = 0.5,
              window: int = 256) -> dict[tuple[str, str], tuple[int, bool, int | None]]:
    """Ask every (address, zone) for the zone's SOA over UDP, at most `window` in flight.

    Returns {(address, zone): (rcode, aa, serial or None)} for those that answered within
    `wait` seconds of their query. Bounded: the whole call lasts about len/window * wait."""
    unique = list(dict.fromkeys(targets))
    out: dict[tuple[str, str], tuple[int, bool, int | None]] = {}
    v6 = [t for t in unique if ":" in t[0]]  # ::1, the one IPv6 loopback address
    if v6:
        out.update(_soa_probe_family(v6, port, wait, window, socket.AF_INET6, "::1"))
    v4 = [t for t in unique if ":" not in t[0]]
    out.update(_soa_probe_family(v4, port, wait, window, socket.AF_INET, "127.0.0.1"))
    return out


def _soa_probe_family(todo: list[tuple[str, str]], port: int, wait: float, window: int,
                      family: int, source: str,
                      ) -> dict[tuple[str, str], tuple[int, bool, int | None]]:
    out: dict[tuple[str, str], tuple[int, bool, int | None]] = {}
    inflight: dict[tuple[str, int], tuple[tuple[str, str], float]] = {}
    if not todo:
        return out
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        sock.bind((source, 0))
        sock.setblocking(False)
        while todo or inflight:
            now = time.monotonic()
            while todo and len(inflight) < window:
                addr, zone = todo.pop()
                q = dns.message.make_query(zone if zone.endswith(".") else zone + ".",
                                           dns.rdatatype.SOA, flags=0)
                try:
                    sock.sendto(q.to_wire(), (addr, port))
                except OSError as exc:
                    if exc.errno not in (errno.EAGAIN, errno.ECONNREFUSED):
                        raise
                    todo.append((addr, zone))
                    break
                inflight[(addr, q.id)] = ((addr, zone), now + wait)
            for key, (_t, deadline) in list(inflight.items()):
                if deadline < now:
                    del inflight[key]
            if not inflight:
                continue
            ready, _, _ = select.select([sock], [], [], 0.02)
            if not ready:
                continue
            while True:
                try:
                    data, (peer, *_rest) = sock.recvfrom(65535)
                except (BlockingIOError, ConnectionRefusedError):
                    break
                try:
                    msg = dns.message.from_wire(data)
                except dns.exception.DNSException:
                    continue
                entry = inflight.pop((peer, msg.id), None)
                if entry is None:
                    continue
                serial = None
                for rrset in msg.answer:
                    if rrset.rdtype == dns.rdatatype.SOA:
                        serial = rrset[0].serial
                out[entry[0]] = (msg.rcode(), bool(msg.flags & dns.flags.AA), serial)
    return out


def port_in_use(addresses: Iterable[str], port: int) -> list[str]:
    """The addresses where `port` is already bound (UDP) or listened on (TCP)."""
    busy = []
    for addr in addresses:
        for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
            family = socket.AF_INET6 if ":" in addr else socket.AF_INET
            with socket.socket(family, kind) as s:
                if kind == socket.SOCK_STREAM:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    s.bind((addr, port))
                except OSError as exc:
                    if exc.errno == errno.EADDRINUSE:
                        busy.append(addr)
                        break
                    raise LabError(f"cannot bind {addr}:{port}: {exc}") from exc
    return busy
