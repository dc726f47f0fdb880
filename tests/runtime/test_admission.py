"""The gateway's backlog estimate: what it admits between two reads of the ledger."""

from __future__ import annotations

import asyncio

from smartcustoms.runtime.admission import Backlog


class Ledger:
    def __init__(self, frames: int) -> None:
        self.frames = frames

    async def in_flight(self) -> int:
        return self.frames


def test_frames_accepted_between_two_reads_count_against_the_limit() -> None:
    ledger = Ledger(2)
    backlog = Backlog(ledger, limit=4)
    asyncio.run(backlog.refresh())
    assert backlog.admits()
    backlog.admitted()
    assert backlog.admits() and backlog.estimate == 3
    backlog.admitted()
    assert not backlog.admits()  # 4 of 4: the next frame waits
    ledger.frames = 1  # verdicts came in
    asyncio.run(backlog.refresh())
    assert backlog.admits() and backlog.estimate == 1


def test_a_limit_of_zero_admits_everything() -> None:
    backlog = Backlog(Ledger(10_000), limit=0)
    asyncio.run(backlog.refresh())
    assert backlog.admits()
