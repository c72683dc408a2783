"""The one wrapper for a child process under test: its own log file, stopped by its PID."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any


class ProcessExited(RuntimeError):
    """The process under test is gone; the message carries its log's tail."""


class Proc:
    """A child process writing to `workdir/NAME.log`, stdin closed.

    stop() terminates, waits, then kills — by PID, bounded — and returns the exit status."""

    def __init__(self, argv: list[str], workdir: Path, name: str, **popen: Any) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = workdir / f"{name}.log"
        self._log = self.log_path.open("wb")
        popen.setdefault("cwd", workdir)
        popen.setdefault("stdin", subprocess.DEVNULL)
        self.popen = subprocess.Popen(self.argv, stdout=self._log, stderr=subprocess.STDOUT,
                                      **popen)  # fmt: skip

    def alive(self) -> bool:
        return self.popen.poll() is None

    def check_alive(self) -> None:
        if not self.alive():
            raise ProcessExited(f"{self.name} exited with {self.popen.returncode}:\n"
                                f"{self.tail(30)}")

    def signal(self, sig: int) -> None:
        if self.alive():
            os.kill(self.popen.pid, sig)

    def stop(self, timeout: float = 8.0) -> int | None:
        if self.alive():
            self.popen.terminate()
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)
        self._log.close()
        return self.popen.returncode

    def tail(self, lines: int = 40) -> str:
        if not self._log.closed:
            self._log.flush()
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])
