"""The event loop runner: uvloop for the service when installed, the standard loop for
the one-shot commands, CCMON_EVENT_LOOP over both."""

from __future__ import annotations

import asyncio

from probes import loop


async def _loop_type() -> str:
    return type(asyncio.get_running_loop()).__module__


def test_service_prefers_uvloop_when_installed(monkeypatch):
    import uvloop  # noqa: F401  (in the test extras: installed by `make deps`)
    monkeypatch.delenv("CCMON_EVENT_LOOP", raising=False)
    assert loop.loop_name(prefer_uvloop=True) == "uvloop"
    assert loop.run(_loop_type(), prefer_uvloop=True).startswith("uvloop")


def test_one_shot_commands_use_the_standard_loop(monkeypatch):
    import uvloop  # noqa: F401
    monkeypatch.delenv("CCMON_EVENT_LOOP", raising=False)
    assert loop.loop_name() == "asyncio"
    assert loop.run(_loop_type()).startswith("asyncio")


def test_environment_decides_over_both(monkeypatch):
    monkeypatch.setenv("CCMON_EVENT_LOOP", "asyncio")
    assert loop.loop_name(prefer_uvloop=True) == "asyncio"
    assert loop.run(_loop_type(), prefer_uvloop=True).startswith("asyncio")
    monkeypatch.setenv("CCMON_EVENT_LOOP", "uvloop")
    assert loop.loop_name() == "uvloop"
    assert loop.run(_loop_type()).startswith("uvloop")
