"""Acceptance of issue 17: the store on a full disk makes no mail storm and says so.

A real `ccmon run` (a child process) watches the alert lab's zone fr with one server made
lame, so a problem opens on the first sweep and its mail goes to a real aiosmtpd. The
store lives on an 8 MiB tmpfs mounted inside a private mount namespace the child gets
from `unshare -m` (the host's mounts are untouched; the test reaches the tmpfs through
/proc/PID/root). The SMTP sink fills that disk at the moment it accepts the mail, so the
"sent" mark is the first write that fails: the exact situation that mailed one alert 901
times in 60 s before. Then, for WINDOW seconds: the mail is delivered once, sweeps are
still published but counted as not stored, /healthz names the cause, the log says it at
most once a minute. After the filler file is deleted: the next sweep is stored, /healthz
is healthy again, the outbox records the delivered message as sent, and the recovery mail
arrives with no duplicate.

The window: the issue measured 60 s; the default here is 20 s (CCMON_FULL_DISK_WINDOW
sets it, e.g. 60). 20 s still proves "no storm": the storm repeated every ~50 ms (15 mails
a second), and with retry.initial 1 s the courier tries the store about ten times in the
window (1, 2, 4, 4, ... s), each a chance to resend that must not be taken.
Root only (mount); skipped elsewhere, a failure under CI=true.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from lab import Lab
from tests.alerts.helpers import IN_CI, LAME, Sink, free_port, need
from tests.monitor.stack_helpers import REPO
from tests.support import Proc, wait_for

pytestmark = pytest.mark.integration

WINDOW = float(os.environ.get("CCMON_FULL_DISK_WINDOW", "20"))  # seconds the disk stays full
# The tmpfs: filled to ENOSPC by the sink, so its size only sets how much space "returns".
# It must hold SQLite's WAL, which grows to ~4 MB (1,000 pages) before its checkpoint wraps
# it: with 600 KB the WAL alone took the whole disk again after the return (577 KB measured,
# 0 free), and the recovery mail came or not depending on when the checkpoint ran.
DISK = "8m"
SUBJECT = f"[ccmon] fr: LAME01 ERROR ns3.nic.fr {LAME} refused"
RESOLVED = f"[ccmon] fr: RESOLVED LAME01 ERROR ns3.nic.fr {LAME} refused"
CAUSE = "store not writable: database or disk is full"


class FillingSink(Sink):
    """The SMTP sink; accepting its first message fills the disk given in ``disk``."""

    def __init__(self) -> None:
        super().__init__()
        self.disk: Path | None = None
        self.filled_at: float | None = None  # time.time() when the disk was full

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.disk is not None and self.filled_at is None:
            fill(self.disk / "filler")
            self.filled_at = time.time()
        return await super().handle_DATA(server, session, envelope)


def fill(path: Path) -> int:
    """Write zeros until the disk is full (ENOSPC); returns the bytes written."""
    written = 0
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for _ in range(4096):  # bounded: 4096 x 4 KiB = 16 MiB, twice the 8 MiB disk
            try:
                written += os.write(fd, b"\0" * 4096)
            except OSError as exc:
                if exc.errno == errno.ENOSPC:
                    break
                raise
    finally:
        os.close(fd)
    return written


def config_text(lab: Lab, store: Path, listen: str, smtp_port: int) -> str:
    return "\n".join([
        "zones: [fr]",
        f"parent: [{lab.root_address}]",
        f"resolver: [{lab.resolver_address}]",
        f"resolver_port: {lab.port}",
        f"port: {lab.port}",
        "probe: {udp_timeout: 1s, udp_tries: 1, tcp_timeout: 2s, ipv6: false}",
        "schedule: {interval: 1s, jitter: 0s, allow_fast_interval: true}",
        f"store: {{path: {json.dumps(str(store))}, retention: 1d}}",
        f"web: {{listen: {json.dumps(listen)}}}",
        "alerts:",
        "  open_after: 1",
        "  close_after: 1",
        "  rate_limit: 0",
        "  rules: [{checks: [LAME01], min_severity: ERROR}]  # not the further checks' EDNS01",
        "  recipients: [noc@example.net]",
        "  retry: {initial: 1s, max: 4s}",
        f"  smtp: {{host: 127.0.0.1, port: {smtp_port}, from: ccmon@example.net, timeout: 5s}}",
        "",
    ])  # fmt: skip


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def sample(text: str, name: str) -> float | None:
    """The value of one sample line, ``name`` with its labels as served."""
    m = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
    return float(m.group(1)) if m else None


def query(pid: int, db: Path, sql: str, *args: object) -> list[list[Any]]:
    """Rows of ``sql`` on the child's store, read inside its mount namespace (nsenter).

    SQLite resolves symbolic links in userland, so /proc/PID/root/... would make it open a
    (new, empty) file on the host's side of the mount point instead."""
    script = (
        "import json, sqlite3, sys; c = sqlite3.connect(sys.argv[1], timeout=5); "
        "print(json.dumps(c.execute(sys.argv[2], json.loads(sys.argv[3])).fetchall()))"
    )
    out = subprocess.run(
        ["nsenter", "-t", str(pid), "-m", sys.executable, "-c", script, str(db), sql,
         json.dumps(list(args))],
        capture_output=True, text=True, timeout=10, check=True,
    )  # fmt: skip
    return list(json.loads(out.stdout))


@pytest.fixture
def root() -> None:
    if os.geteuid() != 0:
        if IN_CI:
            pytest.fail("CI=true but the full-disk test needs root (mount in a namespace)")
        pytest.skip("needs root: mounts a tmpfs inside a private mount namespace")
    need("unshare")
    need("nsenter")


def test_full_disk_no_storm_visible_and_recovers(
    root: None, alert_lab: Lab, tmp_path: Path
) -> None:
    lab = alert_lab
    lab.set_fault(LAME, "refused")  # the open problem: ns3 lame from the first sweep
    sink = FillingSink().start()
    mount = tmp_path / "disk"
    mount.mkdir()
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    (tmp_path / "ccmon.yaml").write_text(
        config_text(lab, mount / "ccmon.sqlite", f"127.0.0.1:{port}", sink.port)
    )
    argv = [
        shutil.which("unshare") or "unshare", "-m", "--propagation", "private", "sh", "-c",
        f'mount -t tmpfs -o size={DISK} tmpfs "$0" && exec "$@"', str(mount),
        sys.executable, "-m", "monitor", "run", "--config", str(tmp_path / "ccmon.yaml"),
    ]  # fmt: skip
    proc = Proc(argv, tmp_path, "ccmon", cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        pid = proc.popen.pid
        disk = Path(f"/proc/{pid}/root") / mount.relative_to("/")
        db = mount / "ccmon.sqlite"  # as the child sees it

        def stored_since(t: float) -> int:
            # runs (of alike sweeps) holding a sweep started after t
            return int(query(pid, db, "SELECT count(*) FROM sweep_runs WHERE last_at > ?", t)[0][0])

        sink.disk = disk
        wait_for(lambda: sink.filled_at, 30, "the first mail (which fills the disk)")
        assert sink.filled_at is not None
        print(f"disk full at the first mail; {len(sink.received)} message(s)")

        # --- the disk stays full for WINDOW seconds --------------------------------------
        t_full = sink.filled_at
        sweeps_at_fill = sample(get(url + "metrics")[1], 'ccmon_sweeps_total{dns_zone="fr"}')
        deadline = time.monotonic() + WINDOW
        most, looks = 0, []
        while time.monotonic() < deadline:  # bounded by WINDOW; looks about twice a second
            most = max(most, len(sink.received))
            status, health = get(url + "healthz")
            looks.append(status == 503 and CAUSE in health)
            time.sleep(0.4)
        most = max(most, len(sink.received))
        assert most == 1, f"{most} messages in {WINDOW:.0f} s with the disk full"
        assert sink.messages()[0]["Subject"] == SUBJECT
        first_id = sink.messages()[0]["Message-ID"]

        metrics = get(url + "metrics")[1]
        errors = sample(metrics, "ccmon_store_write_errors_total")
        assert errors is not None and errors > 0
        assert sample(metrics, "ccmon_store_persisting") == 0
        assert sample(metrics, 'ccmon_alert_outbox_messages{state="unrecorded"}') == 1
        assert sample(metrics, "ccmon_alert_emails_sent_total") == 1
        sweeps_now = sample(metrics, 'ccmon_sweeps_total{dns_zone="fr"}')
        assert sweeps_at_fill is not None and sweeps_now is not None
        # results still published: about one sweep a second (margin: half of them)
        assert sweeps_now - sweeps_at_fill >= WINDOW / 2, (sweeps_at_fill, sweeps_now)
        status, health = get(url + "healthz")
        assert status == 503 and CAUSE in health, (status, health)
        # from the first failed sweep write on (the next sweep after the fill, within 1 s),
        # every look named the cause: a small alert write that still fits must not hide it
        assert True in looks and looks.index(True) <= 3, looks
        named = looks[looks.index(True):]
        assert all(named), f"/healthz named the cause in {sum(named)} of {len(named)} looks"
        status, page = get(url)
        assert status == 200 and CAUSE in page
        log = proc.log_path.read_text(errors="replace")
        per_minute = int(WINDOW // 60) + 1  # one line a minute for each writer, at most
        assert "Traceback" not in log
        assert len(re.findall(r"not writable: database or disk is full", log)) <= per_minute
        assert len(re.findall(r"mail delivery paused", log)) <= per_minute
        print(f"{WINDOW:.0f} s full: 1 message, {errors:.0f} failed writes, "
              f"{sweeps_now - sweeps_at_fill:.0f} sweeps published, /healthz named the cause "
              f"{sum(named)}/{len(looks)} looks, log {len(log)} bytes")

        # --- space returns -------------------------------------------------------------------
        (disk / "filler").unlink()
        t_free = time.time()
        wait_for(lambda: stored_since(t_free) > 0, 15, "a sweep stored after space returned")
        wait_for(lambda: get(url + "healthz")[0] == 200, 15, "/healthz healthy again")
        sql = "SELECT message_id, status FROM alert_outbox ORDER BY id"
        wait_for(lambda: query(pid, db, sql) == [[first_id, "sent"]], 15, "the sent mark recorded")
        # /metrics serves the latest background render, at most one render behind the state
        # (monitor.metrics.Exporter): the recorded mark shows there within a render or two
        def recorded_in_metrics() -> str | None:
            text = get(url + "metrics")[1]
            unrecorded = sample(text, 'ccmon_alert_outbox_messages{state="unrecorded"}')
            return text if unrecorded == 0 else None

        metrics = wait_for(recorded_in_metrics, 10, "/metrics to show the sent mark recorded",
                           context=proc.tail)
        assert sample(metrics, "ccmon_store_persisting") == 1
        lab.clear_fault(LAME)  # the problem closes: the recovery mail must come, once
        wait_for(lambda: len(sink.received) >= 2, 20, "the recovery mail", context=proc.tail)
        time.sleep(3.0)  # three more sweeps and a retry period: nothing else may come
        subjects = [m["Subject"] for m in sink.messages()]
        assert subjects == [SUBJECT, RESOLVED]
        ids = [m["Message-ID"] for m in sink.messages()]
        assert len(set(ids)) == 2
        print(f"recovered {time.time() - t_free:.1f} s after space returned; "
              f"full for {t_free - t_full:.1f} s")
        proc.signal(signal.SIGTERM)
        assert proc.popen.wait(10) == 0, proc.tail()
    finally:
        proc.stop()
        sink.stop()
        lab.clear_fault(LAME)
