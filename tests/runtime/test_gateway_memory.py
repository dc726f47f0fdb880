"""The gateway hands freed memory back on a timer, off the event loop, and stops when cancelled."""

from __future__ import annotations

import asyncio

from smartcustoms.runtime.gateway_process import trim_memory


def test_memory_is_trimmed_every_interval_until_cancelled() -> None:
    calls: list[int] = []

    async def run() -> None:
        trimming = asyncio.create_task(trim_memory(lambda: calls.append(1), interval_s=0.01))
        while len(calls) < 3:
            await asyncio.sleep(0.01)
        trimming.cancel()
        await asyncio.gather(trimming, return_exceptions=True)
        assert trimming.cancelled()

    asyncio.run(asyncio.wait_for(run(), 5))


def test_without_glibc_there_is_nothing_to_trim() -> None:
    asyncio.run(asyncio.wait_for(trim_memory(None), 1))  # returns at once
