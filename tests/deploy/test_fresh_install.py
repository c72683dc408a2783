"""The README's set-up as a newcomer on a plain Debian server meets it: only Debian's own
interpreter on PATH (externally managed, PEP 668), a fresh copy of the repository, then
`make deps`, `ccmon --version` from the venv, and `ccmon demo` as an unprivileged user, whose
lab falls back to its Python servers and says so."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import free_port

REPO = Path(__file__).resolve().parents[2]
PLAIN_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
DEBIAN_PYTHON = Path("/usr/bin/python3")


def _require(condition: bool, why: str) -> None:
    if condition:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true needs {why}")
    pytest.skip(f"unavailable: {why}")


@pytest.fixture(scope="module")
def fresh_clone() -> Iterator[Path]:
    _require(DEBIAN_PYTHON.exists(), "Debian's /usr/bin/python3")
    _require(os.geteuid() == 0, "root (the install path as CI and an operator run it)")
    # World-readable, so the unprivileged demo below can read the venv.
    top = Path(tempfile.mkdtemp(prefix="ccmon-fresh-", dir="/tmp"))
    top.chmod(0o755)
    clone = top / "ccmon"
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO,
                           check=True, capture_output=True).stdout.decode().split("\0")
    for rel in filter(None, files):
        src = REPO / rel
        if src.is_file():
            (clone / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, clone / rel)
    try:
        yield clone
    finally:
        shutil.rmtree(top, ignore_errors=True)


def _plain_env(home: str) -> dict[str, str]:
    return {"PATH": PLAIN_PATH, "HOME": home, "LANG": "C.UTF-8"}


def _make_deps(clone: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["make", "deps"], cwd=clone, env=_plain_env(os.environ["HOME"]),
                          capture_output=True, text=True, timeout=600)


def test_make_deps_with_only_debians_python(fresh_clone: Path) -> None:
    first = _make_deps(fresh_clone)
    assert first.returncode == 0, first.stdout + first.stderr
    # It says what it did: which interpreter made the venv, what went into it.
    assert "creating .venv with Python" in first.stdout
    assert f"({DEBIAN_PYTHON})" in first.stdout
    assert "pinned by constraints.txt" in first.stdout
    venv = fresh_clone / ".venv"
    version = subprocess.run([venv / "bin" / "ccmon", "--version"], capture_output=True,
                             text=True, env=_plain_env("/tmp"), check=True)
    assert version.stdout.startswith("ccmon ")
    where = subprocess.run([venv / "bin" / "python", "-c",
                            "import monitor, probes, sys; print(monitor.__file__, sys.prefix)"],
                           capture_output=True, text=True, cwd="/", check=True).stdout.split()
    assert Path(where[0]).is_relative_to(fresh_clone) and Path(where[1]) == venv
    # Debian's interpreter itself stays untouched: nothing of ours is importable there.
    bare = subprocess.run([DEBIAN_PYTHON, "-c", "import probes"], cwd="/", capture_output=True)
    assert bare.returncode != 0
    again = _make_deps(fresh_clone)
    assert again.returncode == 0 and ".venv up to date" in again.stdout


def test_unprivileged_demo_comes_up_on_the_python_lab(fresh_clone: Path) -> None:
    _require(shutil.which("runuser") is not None, "runuser (util-linux)")
    ccmon = fresh_clone / ".venv" / "bin" / "ccmon"
    if not ccmon.exists():
        pytest.skip("the venv was not built (see test_make_deps_with_only_debians_python)")
    lab_port, web_port = free_port(), free_port()
    proc = subprocess.Popen(
        ["runuser", "-u", "nobody", "--", str(ccmon), "demo", "--port", str(lab_port),
         "--listen", f"127.0.0.1:{web_port}"],
        cwd="/tmp", env=_plain_env("/tmp"), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, start_new_session=True)
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "status page" in line:
                break
        said = "".join(lines)
        assert "python servers" in said, said
        page = ""
        while time.monotonic() < deadline and "<table" not in page:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{web_port}/", timeout=2) as r:
                    page = r.read().decode()
            except OSError:
                time.sleep(0.3)
        assert "<table" in page and "ccmon" in page
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
