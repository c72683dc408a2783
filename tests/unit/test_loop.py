"""The event loop runner: uvloop when installed, the standard loop on request."""

from __future__ import annotations

import asyncio
import gc

from probes import loop


async def _loop_type() -> str:
    return type(asyncio.get_running_loop()).__module__


def test_run_uses_uvloop_when_installed(monkeypatch):
    import uvloop  # noqa: F401  (in the test extras: installed by `make deps`)
    monkeypatch.delenv("CCMON_EVENT_LOOP", raising=False)
    assert loop.loop_name() == "uvloop"
    assert loop.run(_loop_type()).startswith("uvloop")


def test_standard_loop_on_request(monkeypatch):
    monkeypatch.setenv("CCMON_EVENT_LOOP", "asyncio")
    assert loop.loop_name() == "asyncio"
    assert loop.run(_loop_type()).startswith("asyncio")


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
