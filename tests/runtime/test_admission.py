"""The gateway's backlog estimate: what it admits between two reads of the ledger."""

from __future__ import annotations

import asyncio

import pytest

from smartcustoms.runtime.admission import Backlog
from smartcustoms.runtime.ledger import Admission, InFlightFigures


class Ledger:
    """The ledger's in-flight figures, and the admissions of one gateway recorded since its last read
    (taken by the read, as ``Ledger.in_flight_figures`` does in one transaction)."""

    def __init__(
        self,
        frames: int,
        by_source: dict[str, int] | None = None,
        bytes_by_source: dict[str, int] | None = None,
    ) -> None:
        self.frames = frames
        self.by_source = by_source or {}
        self.bytes_by_source = bytes_by_source or {}
        self.written: set[str] = set()

    def record(self, admission: Admission, source: str, size_bytes: int = 0) -> None:
        """A frame let in is written (``Ledger.accept``)."""
        self.frames += 1
        self.by_source[source] = self.by_source.get(source, 0) + 1
        self.bytes_by_source[source] = self.bytes_by_source.get(source, 0) + size_bytes
        self.written.add(admission.token)

    def decide(self, source: str, size_bytes: int = 0) -> None:
        self.frames -= 1
        self.by_source[source] -= 1
        self.bytes_by_source[source] -= size_bytes

    async def in_flight_figures(self, writer: str) -> InFlightFigures:
        written, self.written = frozenset(self.written), set()
        return InFlightFigures(self.frames, dict(self.by_source), dict(self.bytes_by_source), written)


def test_frames_accepted_between_two_reads_count_against_the_limit() -> None:
    ledger = Ledger(2)
    backlog = Backlog(ledger, limit=4)
    asyncio.run(backlog.refresh())
    assert backlog.admits()
    first = backlog.admitted("lane-1")
    assert backlog.admits() and backlog.estimate == 3
    second = backlog.admitted("lane-1")
    assert not backlog.admits()  # 4 of 4: the next frame waits
    for admission in (first, second):
        ledger.record(admission, "lane-1")
        backlog.settled(admission, written=True)
    assert backlog.estimate == 4  # recorded, but not yet read: counted once, as let in here
    ledger.frames = 1  # verdicts came in
    asyncio.run(backlog.refresh())
    assert backlog.admits() and backlog.estimate == 1


def test_a_frame_written_while_the_ledger_is_read_counts_once() -> None:
    class Racing(Ledger):
        """The frame's write reaches Redis just before the read does."""

        pending: tuple[Admission, str] | None = None

        async def in_flight_figures(self, writer: str) -> InFlightFigures:
            if self.pending is not None:
                self.record(*self.pending)
                self.pending = None
            return await super().in_flight_figures(writer)

    ledger = Racing(0)
    backlog = Backlog(ledger, limit=2, limit_per_source=1)
    admission = backlog.admitted("lane-1")
    ledger.pending = (admission, "lane-1")
    asyncio.run(backlog.refresh())
    backlog.settled(admission, written=True)  # its answer comes after the read's
    assert backlog.estimate == 1 and backlog.estimate_of("lane-1") == 1  # not 2: in the read only
    assert backlog.admits() and not backlog.admits_from("lane-1")
    asyncio.run(backlog.refresh())
    assert backlog.estimate == 1 and backlog.uncounted.total_frames == 0


def test_a_frame_not_yet_in_the_ledger_when_it_is_read_still_counts() -> None:
    ledger = Ledger(2)
    backlog = Backlog(ledger, limit=3)
    asyncio.run(backlog.refresh())
    admission = backlog.admitted("lane-1")  # its chunks are still arriving: the ledger does not hold it yet
    asyncio.run(backlog.refresh())
    assert backlog.estimate == 3 and not backlog.admits()
    ledger.record(admission, "lane-1")  # recorded: from the next read on the ledger counts it
    backlog.settled(admission, written=True)
    asyncio.run(backlog.refresh())
    assert backlog.estimate == 3 and not backlog.admits()
    ledger.decide("lane-1")
    asyncio.run(backlog.refresh())
    assert backlog.estimate == 2 and backlog.admits()
    assert backlog.uncounted.frames == {} and backlog.uncounted.total_frames == 0  # nothing left


def test_a_frame_let_in_and_then_refused_stops_counting() -> None:
    backlog = Backlog(Ledger(0), limit=1)
    admission = backlog.admitted("lane-1")
    assert not backlog.admits()
    backlog.settled(admission, written=False)  # refused by a later check: it never reaches the ledger
    assert backlog.estimate == 0 and backlog.admits()


def test_an_answered_write_the_ledger_does_not_hold_stops_counting_at_the_next_read() -> None:
    ledger = Ledger(0)
    backlog = Backlog(ledger, limit=1)
    duplicate = backlog.admitted("lane-1")
    backlog.settled(duplicate, written=True)  # answered, but not recorded (a duplicate, or Redis lost it)
    assert not backlog.admits()
    asyncio.run(backlog.refresh())
    assert backlog.estimate == 0 and backlog.admits()


def test_one_source_past_its_own_limit_waits_while_the_others_come_in() -> None:
    ledger = Ledger(5, {"lane-1": 4, "lane-2": 1})
    backlog = Backlog(ledger, limit=10, limit_per_source=5)
    asyncio.run(backlog.refresh())
    assert backlog.admits_from("lane-1") and backlog.estimate_of("lane-1") == 4
    admission = backlog.admitted("lane-1")
    assert not backlog.admits_from("lane-1")  # 5 of its 5
    assert backlog.admits_from("lane-2") and backlog.admits_from("lane-3") and backlog.admits()
    asyncio.run(backlog.refresh())  # the frame still on its way to the ledger counts for its source
    assert backlog.estimate_of("lane-1") == 5 and not backlog.admits_from("lane-1")
    ledger.record(admission, "lane-1")
    backlog.settled(admission, written=True)
    for _ in range(3):
        ledger.decide("lane-1")  # lane-1's verdicts came in
    asyncio.run(backlog.refresh())
    assert backlog.admits_from("lane-1") and backlog.estimate_of("lane-1") == 2


def test_while_a_read_runs_the_frames_let_in_before_it_still_count() -> None:
    class Slow(Ledger):
        """A read that answers only when told to, with what the ledger held when it ran."""

        def __init__(self) -> None:
            super().__init__(0)
            self.answer = asyncio.Event()
            self.reading = asyncio.Event()

        async def in_flight_figures(self, writer: str) -> InFlightFigures:
            held = await super().in_flight_figures(writer)
            self.reading.set()
            await self.answer.wait()
            return held

    async def main() -> None:
        ledger = Slow()
        backlog = Backlog(ledger, limit=10, limit_per_source=2)
        for _ in range(2):
            admission = backlog.admitted("lane-1")
            ledger.record(admission, "lane-1")
            backlog.settled(admission, written=True)
        read = asyncio.create_task(backlog.refresh())
        await ledger.reading.wait()
        # the figures in hand are from before both frames: they still count while the read runs
        assert backlog.estimate_of("lane-1") == 2 and not backlog.admits_from("lane-1")
        ledger.answer.set()
        await read
        assert backlog.estimate_of("lane-1") == 2 and not backlog.admits_from("lane-1")
        assert backlog.uncounted.total_frames == 0

    asyncio.run(main())


def test_a_failed_read_keeps_the_frames_let_in_since_the_last_one() -> None:
    class Failing(Ledger):
        async def in_flight_figures(self, writer: str) -> InFlightFigures:
            raise OSError("redis away")

    ledger = Failing(0)
    backlog = Backlog(ledger, limit=2)
    admission = backlog.admitted("lane-1")
    ledger.record(admission, "lane-1")
    backlog.settled(admission, written=True)  # recorded in the ledger, which cannot be read now
    with pytest.raises(OSError):
        asyncio.run(backlog.refresh())
    backlog.admitted("lane-1")
    assert backlog.estimate == 2 and not backlog.admits()


def test_bytes_awaiting_verdicts_are_bounded_per_source_and_in_total() -> None:
    mib = 1024**2
    ledger = Ledger(2, {"ct-1": 1, "lane-1": 1}, {"ct-1": 300 * mib, "lane-1": 1 * mib})
    backlog = Backlog(ledger, limit=100, limit_bytes=1000 * mib, limit_bytes_per_source=400 * mib)
    asyncio.run(backlog.refresh())
    assert backlog.estimate_bytes_of("ct-1") == 300 * mib and backlog.estimate_bytes == 301 * mib
    assert backlog.admits_from("ct-1", 100 * mib)  # 400 of its 400 MiB
    assert not backlog.admits_from("ct-1", 101 * mib)
    assert backlog.admits_from("lane-1", 399 * mib)  # another source's room is its own
    admission = backlog.admitted("ct-1", 100 * mib)  # counted from its first chunk, before the ledger has it
    assert not backlog.admits_from("ct-1", 1) and backlog.estimate_bytes == 401 * mib
    assert backlog.admits(599 * mib) and not backlog.admits(600 * mib)  # 1000 MiB in all
    reason, why = backlog.refusal("ct-1", 1) or ("", "")
    assert reason == "source_backlog" and "419,430,400 bytes of ct-1's frames await verdicts" in why
    assert backlog.refusal("lane-1", 399 * mib) is None
    reason, why = backlog.refusal("lane-9", 600 * mib) or ("", "")
    assert reason == "backlog" and "420,478,976 bytes of frames await verdicts" in why  # 1000 MiB in all
    assert backlog.admits_from("ct-2", 2000 * mib), "a frame over the limit comes in on a source with none"
    assert not backlog.admits(2000 * mib), "... but not past the total while others await"
    ledger.record(admission, "ct-1", 100 * mib)  # recorded; the ledger now counts its bytes
    backlog.settled(admission, written=True)
    asyncio.run(backlog.refresh())
    assert backlog.estimate_bytes_of("ct-1") == 400 * mib and not backlog.admits_from("ct-1", 1)
    ledger.frames, ledger.by_source, ledger.bytes_by_source = 0, {}, {}  # every verdict came in
    asyncio.run(backlog.refresh())
    assert backlog.admits(2000 * mib), "an empty backlog takes a frame of any allowed size"
    assert backlog.uncounted.bytes == {} and backlog.estimate_bytes == 0


def test_a_limit_of_zero_admits_everything() -> None:
    backlog = Backlog(Ledger(10_000, {"lane-1": 10_000}), limit=0)
    asyncio.run(backlog.refresh())
    assert backlog.admits() and backlog.admits_from("lane-1")


def test_a_stream_may_not_open_more_than_its_pending_bytes() -> None:
    """A stream's unfinished frames may declare at most max_pending_bytes_per_stream in all (what they
    hold in the blob store plus what they may still send), while one frame of any allowed size always
    gets in on an otherwise finished stream."""
    from prometheus_client import CollectorRegistry

    from smartcustoms.core import config as config_module
    from smartcustoms.core.blobstore.memory import MemoryBlobStore
    from smartcustoms.core.metrics import Metrics
    from smartcustoms.core.sensors import Sensor
    from smartcustoms.runtime.gateway import GatewayCore
    from smartcustoms.v1 import ingest_pb2

    config = config_module.load(environ={})
    config.gateway.max_pending_bytes_per_stream = 1000
    sensor = Sensor(Metrics(CollectorRegistry()))
    core = GatewayCore(config, MemoryBlobStore(), None, None, sensor)  # type: ignore[arg-type]  # unused here
    big = ingest_pb2.FrameChunk(frame_id="big", index=0, total_bytes=5000)
    assert core.push_back(big, frames_open=0, bytes_open=0) is None  # alone on the stream: let in
    second = ingest_pb2.FrameChunk(frame_id="second", index=0, total_bytes=600)
    refused = core.push_back(second, frames_open=1, bytes_open=500)
    assert refused is not None and refused[0] == "stream_limit" and "limit of 1,000" in refused[1]
    assert core.push_back(second, frames_open=1, bytes_open=400) is None
