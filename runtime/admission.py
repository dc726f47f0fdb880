"""Push-back at the gateway: refuse new frames while too many await their verdicts.

A gateway that accepts whatever arrives turns an overload into a backlog (frames in flight, bytes in
the blob store, acks that take seconds) and lets the reconciler redeliver frames the workers simply had
not reached. Instead, once the frames accepted and not yet decided (the ledger's in-flight count, for
every gateway and source) reach ``gateway.max_backlog_frames``, each new frame is answered at once with
RESOURCE_EXHAUSTED and ``retry_after_ms``: the vendor SDK sends it again after that delay, so devices
slow to the rate the workers sustain while acks stay fast and the backlog stays bounded.

The count is read from Redis every ``refresh_s`` (not per frame). Added to it are the frames this
gateway let in (from their first chunk) that the read cannot have seen: those let in since the read
began, and those that were still on their way to the ledger when it began (a large frame takes a while
to arrive). So a burst between two reads cannot overshoot the limit by more than what other gateways let
in during that interval; a frame written while the read runs may be counted twice until the next read,
which errs on the side of pushing back.
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
        self.unwritten = 0  # let in here and not yet recorded in the ledger nor refused
        self._admitted_total = 0
        self._unseen_at_read = 0  # let in before the last read began and not recorded by then
        self._admitted_at_read = 0  # _admitted_total when the last read began

    @property
    def estimate(self) -> int:
        return self.frames + self._unseen_at_read + (self._admitted_total - self._admitted_at_read)

    def admits(self) -> bool:
        return self.limit <= 0 or self.estimate < self.limit

    def admitted(self) -> None:
        """One more frame let in; ``settled`` once it is recorded in the ledger or refused."""
        self._admitted_total += 1
        self.unwritten += 1

    def settled(self) -> None:
        """A frame let in was recorded in the ledger (the next read counts it) or refused after all."""
        self.unwritten = max(0, self.unwritten - 1)

    async def refresh(self) -> None:
        unseen, admitted_at_read = self.unwritten, self._admitted_total
        frames = await self.ledger.in_flight()
        self.frames, self._unseen_at_read, self._admitted_at_read = frames, unseen, admitted_at_read

    async def run(self) -> None:
        """Refresh until cancelled; while Redis is away the last figure stands (accepts fail anyway)."""
        while True:
            try:
                await self.refresh()
            except (RedisError, OSError) as error:
                log.debug("backlog: cannot read the ledger: %s", error)
            await asyncio.sleep(self.refresh_s)
