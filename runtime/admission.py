"""Push-back at the gateway: refuse new frames while too many await their verdicts.

A gateway that accepts whatever arrives turns an overload into a backlog (frames in flight, bytes in
the blob store, acks that take seconds) and lets the reconciler redeliver frames the workers simply had
not reached. Instead, once the frames accepted and not yet decided (the ledger's in-flight count, for
every gateway and source) reach ``gateway.max_backlog_frames``, or those of the frame's own source reach
``gateway.max_backlog_frames_per_source`` (so one lane in a flood cannot take the others' room), each new
frame is answered at once with
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
from collections import Counter
from typing import Protocol

from redis.exceptions import RedisError

__all__ = ["Backlog"]

log = logging.getLogger(__name__)

REFRESH_S = 0.1


class InFlight(Protocol):
    async def in_flight_by_source(self) -> tuple[int, dict[str, int]]: ...


class Backlog:
    """This gateway's estimate of the frames awaiting verdicts, in total and per source, and whether one
    more may come in."""

    def __init__(
        self, ledger: InFlight, limit: int, limit_per_source: int = 0, refresh_s: float = REFRESH_S
    ) -> None:
        self.ledger, self.limit, self.refresh_s = ledger, limit, refresh_s
        self.limit_per_source = limit_per_source
        self.frames = 0  # as last read from the ledger
        self.by_source: dict[str, int] = {}  # the same per source
        self.unwritten: Counter[str] = Counter()  # let in here, not yet recorded in the ledger nor refused
        self._unseen: Counter[str] = Counter()  # unwritten when the last read began
        self._unseen_total = 0
        self._since_read: Counter[str] = Counter()  # let in since the last read began
        self._since_read_total = 0

    @property
    def estimate(self) -> int:
        return self.frames + self._unseen_total + self._since_read_total

    def estimate_of(self, source: str) -> int:
        return self.by_source.get(source, 0) + self._unseen[source] + self._since_read[source]

    def admits(self) -> bool:
        return self.limit <= 0 or self.estimate < self.limit

    def admits_from(self, source: str) -> bool:
        return self.limit_per_source <= 0 or self.estimate_of(source) < self.limit_per_source

    def admitted(self, source: str) -> None:
        """One more frame let in; ``settled`` once it is recorded in the ledger or refused."""
        self._since_read[source] += 1
        self._since_read_total += 1
        self.unwritten[source] += 1

    def settled(self, source: str) -> None:
        """A frame let in was recorded in the ledger (the next read counts it) or refused after all."""
        if self.unwritten[source] <= 1:
            self.unwritten.pop(source, None)
        else:
            self.unwritten[source] -= 1

    async def refresh(self) -> None:
        unseen = +self.unwritten  # a copy, without zero counts
        before, self._since_read = self._since_read, Counter()
        try:
            frames, by_source = await self.ledger.in_flight_by_source()
        except BaseException:
            self._since_read = before + self._since_read  # the last read's figures stand
            raise
        self.frames, self.by_source = frames, by_source
        self._unseen, self._unseen_total = unseen, sum(unseen.values())
        self._since_read_total = sum(self._since_read.values())

    async def run(self) -> None:
        """Refresh until cancelled; while Redis is away the last figure stands (accepts fail anyway)."""
        while True:
            try:
                await self.refresh()
            except (RedisError, OSError) as error:
                log.debug("backlog: cannot read the ledger: %s", error)
            await asyncio.sleep(self.refresh_s)
