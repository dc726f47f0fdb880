"""Push-back at the gateway: refuse new frames while too many await their verdicts.

A gateway that accepts whatever arrives turns an overload into a backlog (frames in flight, bytes in
the blob store, acks that take seconds) and lets the reconciler redeliver frames the workers simply had
not reached. Instead, once the frames accepted and not yet decided (the ledger's in-flight count, for
every gateway and source) reach ``gateway.max_backlog_frames``, or those of the frame's own source reach
``gateway.max_backlog_frames_per_source`` (so one lane in a flood cannot take the others' room), or their
payload bytes would pass ``gateway.max_backlog_bytes`` (``max_backlog_bytes_per_source`` for a source),
each new frame is answered at once with
RESOURCE_EXHAUSTED and ``retry_after_ms``: the vendor SDK sends it again after that delay, so devices
slow to the rate the workers sustain while acks stay fast and the backlog stays bounded. A frame is
weighed by the size its first chunk declares; one larger than a byte limit still comes in when nothing
else is awaited there.

The figures are read from Redis every ``refresh_s`` (not per frame). Added to them are the frames this
gateway let in (from their first chunk) that the read cannot have seen: those let in since the read
began, and those that were still on their way to the ledger when it began (a large frame takes a while
to arrive). So a burst between two reads cannot overshoot a limit by more than what other gateways let
in during that interval; a frame written while the read runs may be counted twice until the next read,
which errs on the side of pushing back.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from typing import Protocol

from redis.exceptions import RedisError

from smartcustoms.runtime.ledger import InFlightFigures

__all__ = ["Backlog"]

log = logging.getLogger(__name__)

REFRESH_S = 0.1


class InFlight(Protocol):
    async def in_flight_figures(self) -> InFlightFigures: ...


class Backlog:
    """This gateway's estimate of the frames (and their bytes) awaiting verdicts, in total and per source,
    and whether one more may come in."""

    def __init__(
        self,
        ledger: InFlight,
        limit: int,
        limit_per_source: int = 0,
        refresh_s: float = REFRESH_S,
        *,
        limit_bytes: int = 0,
        limit_bytes_per_source: int = 0,
    ) -> None:
        self.ledger, self.limit, self.refresh_s = ledger, limit, refresh_s
        self.limit_per_source = limit_per_source
        self.limit_bytes, self.limit_bytes_per_source = limit_bytes, limit_bytes_per_source
        self.read = InFlightFigures(0, {}, {})  # as last read from the ledger
        self.unwritten = _Tally()  # let in here, not yet recorded in the ledger nor refused
        self._unseen = _Tally()  # unwritten when the last read began
        self._since_read = _Tally()  # let in since the last read began

    @property
    def estimate(self) -> int:
        return self.read.frames + self._unseen.total_frames + self._since_read.total_frames

    @property
    def estimate_bytes(self) -> int:
        return self.read.total_bytes + self._unseen.total_bytes + self._since_read.total_bytes

    def estimate_of(self, source: str) -> int:
        return (
            self.read.by_source.get(source, 0) + self._unseen.frames[source] + self._since_read.frames[source]
        )

    def estimate_bytes_of(self, source: str) -> int:
        return (
            self.read.bytes_by_source.get(source, 0)
            + self._unseen.bytes[source]
            + self._since_read.bytes[source]
        )

    def admits(self, size_bytes: int = 0) -> bool:
        """Room for one more frame of ``size_bytes`` in total. A frame larger than the byte limit still
        comes in once nothing else is awaited: the limit bounds the backlog, not the frame size."""
        if 0 < self.limit <= self.estimate:
            return False
        held = self.estimate_bytes
        return self.limit_bytes <= 0 or held == 0 or held + size_bytes <= self.limit_bytes

    def admits_from(self, source: str, size_bytes: int = 0) -> bool:
        """The same for the frame's own source."""
        if 0 < self.limit_per_source <= self.estimate_of(source):
            return False
        held = self.estimate_bytes_of(source)
        limit = self.limit_bytes_per_source
        return limit <= 0 or held == 0 or held + size_bytes <= limit

    def refusal(self, source: str, size_bytes: int) -> tuple[str, str] | None:
        """Why a frame of ``source`` declaring ``size_bytes`` must wait (metric reason, the limit it
        meets), or None when it may come in."""
        if 0 < self.limit_per_source <= self.estimate_of(source):
            return "source_backlog", (
                f"{self.estimate_of(source)} frames of {source} await verdicts "
                f"(limit {self.limit_per_source} a source)"
            )
        if not self.admits_from(source, size_bytes):
            return "source_backlog", (
                f"{self.estimate_bytes_of(source):,} bytes of {source}'s frames await verdicts; "
                f"{size_bytes:,} more would pass the limit of {self.limit_bytes_per_source:,} a source"
            )
        if 0 < self.limit <= self.estimate:
            return "backlog", f"{self.estimate} frames await verdicts (limit {self.limit})"
        if not self.admits(size_bytes):
            return "backlog", (
                f"{self.estimate_bytes:,} bytes of frames await verdicts; {size_bytes:,} more would "
                f"pass the limit of {self.limit_bytes:,}"
            )
        return None

    def admitted(self, source: str, size_bytes: int = 0) -> None:
        """One more frame let in; ``settled`` once it is recorded in the ledger or refused."""
        self._since_read.add(source, 1, size_bytes)
        self.unwritten.add(source, 1, size_bytes)

    def settled(self, source: str, size_bytes: int = 0) -> None:
        """A frame let in was recorded in the ledger (the next read counts it) or refused after all."""
        self.unwritten.add(source, -1, -size_bytes)

    async def refresh(self) -> None:
        unseen = self.unwritten.copy()
        before, self._since_read = self._since_read, _Tally()
        try:
            read = await self.ledger.in_flight_figures()
        except BaseException:
            self._since_read = before.merged(self._since_read)  # the last read's figures stand
            raise
        self.read, self._unseen = read, unseen

    async def run(self) -> None:
        """Refresh until cancelled; while Redis is away the last figure stands (accepts fail anyway)."""
        while True:
            try:
                await self.refresh()
            except (RedisError, OSError) as error:
                log.debug("backlog: cannot read the ledger: %s", error)
            await asyncio.sleep(self.refresh_s)


class _Tally:
    """Frames and bytes per source, with their totals."""

    def __init__(self) -> None:
        self.frames: Counter[str] = Counter()
        self.bytes: Counter[str] = Counter()
        self.total_frames = 0
        self.total_bytes = 0

    def add(self, source: str, frames: int, size_bytes: int) -> None:
        """Per frame let in or settled: the totals move with the source's count, not by a sum."""
        self.total_frames += _moved(self.frames, source, frames)
        self.total_bytes += _moved(self.bytes, source, size_bytes)

    def copy(self) -> _Tally:
        return _Tally().merged(self)

    def merged(self, other: _Tally) -> _Tally:
        out = _Tally()
        out.frames = self.frames + other.frames
        out.bytes = self.bytes + other.bytes
        out.total_frames, out.total_bytes = sum(out.frames.values()), sum(out.bytes.values())
        return out


def _moved(counter: Counter[str], source: str, step: int) -> int:
    """Add ``step`` to a source's count, never below zero (a source with none is forgotten); return how
    much the count moved."""
    before = counter[source]
    after = max(0, before + step)
    if after:
        counter[source] = after
    else:
        counter.pop(source, None)
    return after - before
