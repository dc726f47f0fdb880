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
gateway let in (from their first chunk) that the read does not count. Each frame let in gets a token;
the ledger notes the token in the same script that records the frame, and the read takes the tokens
noted since the last read in the same transaction as the figures. So the estimate counts each of this
gateway's frames exactly once, whatever the order in which a read and a frame's write reach Redis: a
burst between two reads cannot overshoot a limit by more than what other gateways let in during that
interval, and no frame is counted twice. Frames decided since the last read still count until the
next one, which errs on the side of pushing back.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import uuid
from collections import Counter
from typing import Protocol

from redis.exceptions import RedisError

from smartcustoms.runtime.ledger import Admission, InFlightFigures

__all__ = ["Backlog"]

log = logging.getLogger(__name__)

REFRESH_S = 0.1


class InFlight(Protocol):
    async def in_flight_figures(self, writer: str) -> InFlightFigures: ...


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
        self.writer = uuid.uuid4().hex  # this gateway's name for the tokens of the frames it lets in
        self.read = InFlightFigures(0, {}, {})  # as last read from the ledger
        self.uncounted = _Tally()  # let in here, not refused, and not counted in ``read``
        self._uncounted: dict[str, tuple[str, int]] = {}  # the same by token: (source, bytes)
        self._answered: set[str] = set()  # tokens whose ledger write was answered: counted by the next read
        self._tokens = itertools.count(1)

    @property
    def estimate(self) -> int:
        return self.read.frames + self.uncounted.total_frames

    @property
    def estimate_bytes(self) -> int:
        return self.read.total_bytes + self.uncounted.total_bytes

    def estimate_of(self, source: str) -> int:
        return self.read.by_source.get(source, 0) + self.uncounted.frames[source]

    def estimate_bytes_of(self, source: str) -> int:
        return self.read.bytes_by_source.get(source, 0) + self.uncounted.bytes[source]

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

    def admitted(self, source: str, size_bytes: int = 0) -> Admission:
        """One more frame let in; its admission goes with its ledger write (``Ledger.accept``), and it is
        ``settled`` once that write is answered or the frame is refused before it."""
        token = str(next(self._tokens))
        self._uncounted[token] = (source, size_bytes)
        self.uncounted.add(source, 1, size_bytes)
        return Admission(self.writer, token)

    def settled(self, admission: Admission, *, written: bool) -> None:
        """The frame's ledger write was answered (``written``; whatever the answer, the next read counts
        the frame if the ledger holds it), or the frame was refused before any write."""
        if admission.token not in self._uncounted:
            return
        if written:
            self._answered.add(admission.token)
        else:
            self._counted(admission.token)

    def _counted(self, token: str) -> None:
        source, size_bytes = self._uncounted.pop(token)
        self.uncounted.add(source, -1, -size_bytes)
        self._answered.discard(token)

    async def refresh(self) -> None:
        answered = set(self._answered)  # written before the read is sent: it counts them if they are in
        read = await self.ledger.in_flight_figures(self.writer)
        for token in answered | read.written:
            if token in self._uncounted:
                self._counted(token)
        self.read = read

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
