"""The event loop runner: uvloop for the service when installed, the standard loop for
the one-shot commands, CCMON_EVENT_LOOP over both."""

from __future__ import annotations

import asyncio
import gc

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


def test_collector_paced_but_never_faster_than_default():
    before = gc.get_threshold()
    try:
        gc.set_threshold(700, 10, 10)
        loop.pace_collector()
        assert gc.get_threshold() == (loop.YOUNG_COLLECTION_EVERY, 10, 10)
        gc.set_threshold(50_000, 10, 10)  # already slower: left alone
        loop.pace_collector()
        assert gc.get_threshold() == (50_000, 10, 10)
        gc.set_threshold(0, 10, 10)  # collection switched off: left off
        loop.pace_collector()
        assert gc.get_threshold()[0] == 0
    finally:
        gc.set_threshold(*before)
