"""The engine's Gate: never more inside than its size, first come first served, and a
cancelled waiter neither holds nor loses a slot."""

from __future__ import annotations

import asyncio

from probes.engine import Gate


def test_bound_order_and_cancellation() -> None:
    async def main() -> tuple[int, list[int], int]:
        gate = Gate(3)
        inside = peak = 0
        order: list[int] = []

        async def query(n: int) -> None:
            nonlocal inside, peak
            if not gate.try_enter():
                await gate.enter()
            try:
                inside += 1
                peak = max(peak, inside)
                order.append(n)
                await asyncio.sleep(0)
            finally:
                inside -= 1
                gate.leave()

        tasks = [asyncio.ensure_future(query(n)) for n in range(20)]
        await asyncio.sleep(0)  # the first three are inside, the rest wait in line
        tasks[5].cancel()  # waiting: it must not take a slot nor keep one
        await asyncio.gather(*tasks, return_exceptions=True)
        return peak, order, gate.free

    peak, order, free = asyncio.run(main())
    assert peak == 3  # bound held (and reached)
    assert order == [n for n in range(20) if n != 5]  # in line, the cancelled one skipped
    assert free == 3  # every slot came back


def test_a_slot_handed_to_a_cancelled_waiter_is_passed_on() -> None:
    async def main() -> int:
        gate = Gate(1)
        assert gate.try_enter()
        waiter = asyncio.ensure_future(gate.enter())
        await asyncio.sleep(0)
        gate.leave()  # the slot goes to the waiter ...
        waiter.cancel()  # ... which is cancelled before it runs
        await asyncio.gather(waiter, return_exceptions=True)
        return gate.free

    assert asyncio.run(main()) == 1
