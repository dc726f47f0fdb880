"""Push-back at the gateway: refuse new frames while too many await their verdicts.

A gateway that accepts whatever arrives turns an overload into a backlog (frames in flight, bytes in
the blob store, acks that take seconds) and lets the reconciler redeliver frames the workers simply had
not reached. Instead, once the frames accepted and not yet decided (the ledger's in-flight count, for
every gateway and source) reach ``gateway.max_backlog_frames``, each new frame is answered at once with
RESOURCE_EXHAUSTED and ``retry_after_ms``: the vendor SDK sends it again after that delay, so devices
slow to the rate the workers sustain while acks stay fast and the backlog stays bounded.

The count is read from Redis every ``refresh_s`` (not per frame) and the frames this gateway let in
since (from their first chunk) are added to it, so a burst between two reads cannot overshoot the limit
by more than what other gateways let in during that interval.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from redis.exceptions import RedisError

__all__ = ["Backlog"]

log = logging.getLogger(__name__)

REFRESH_S = 0.1


class InFlight(Protocol):
    async def in_flight(self) -> int: ...


class Backlog:
    """This gateway's estimate of the frames awaiting verdicts, and whether one more may come in."""

    def __init__(self, ledger: InFlight, limit: int, refresh_s: float = REFRESH_S) -> None:
        self.ledger, self.limit, self.refresh_s = ledger, limit, refresh_s
        self.frames = 0  # as last read from the ledger
        self.accepted_since = 0  # let in here since that read

    @property
    def estimate(self) -> int:
        return self.frames + self.accepted_since

    def admits(self) -> bool:
        return self.limit <= 0 or self.estimate < self.limit

    def admitted(self) -> None:
        """One more frame let in (it reaches the ledger's count by the next read, or was refused)."""
        self.accepted_since += 1

    async def refresh(self) -> None:
        frames = await self.ledger.in_flight()
        self.frames, self.accepted_since = frames, 0

    async def run(self) -> None:
        """Refresh until cancelled; while Redis is away the last figure stands (accepts fail anyway)."""
        while True:
            try:
                await self.refresh()
            except (RedisError, OSError) as error:
                log.debug("backlog: cannot read the ledger: %s", error)
            await asyncio.sleep(self.refresh_s)
