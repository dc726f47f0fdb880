"""The gateway's backlog estimate: what it admits between two reads of the ledger."""

from __future__ import annotations

import asyncio

import pytest

from smartcustoms.runtime.admission import Backlog


class Ledger:
    def __init__(self, frames: int, by_source: dict[str, int] | None = None) -> None:
        self.frames = frames
        self.by_source = by_source or {}

    async def in_flight_by_source(self) -> tuple[int, dict[str, int]]:
        return self.frames, dict(self.by_source)


def test_frames_accepted_between_two_reads_count_against_the_limit() -> None:
    ledger = Ledger(2)
    backlog = Backlog(ledger, limit=4)
    asyncio.run(backlog.refresh())
    assert backlog.admits()
    backlog.admitted("lane-1")
    assert backlog.admits() and backlog.estimate == 3
    backlog.admitted("lane-1")
    assert not backlog.admits()  # 4 of 4: the next frame waits
    backlog.settled("lane-1")
    backlog.settled("lane-1")  # both recorded in the ledger ...
    ledger.frames = 1  # ... and verdicts came in
    asyncio.run(backlog.refresh())
    assert backlog.admits() and backlog.estimate == 1


def test_a_frame_not_yet_in_the_ledger_when_it_is_read_still_counts() -> None:
    ledger = Ledger(2)
    backlog = Backlog(ledger, limit=3)
    asyncio.run(backlog.refresh())
    backlog.admitted("lane-1")  # its chunks are still arriving: the ledger does not hold it yet
    asyncio.run(backlog.refresh())
    assert backlog.estimate == 3 and not backlog.admits()
    backlog.settled("lane-1")  # recorded: from now on the ledger counts it
    ledger.frames = 3
    asyncio.run(backlog.refresh())
    assert backlog.estimate == 3 and not backlog.admits()
    ledger.frames = 2  # one decided
    asyncio.run(backlog.refresh())
    assert backlog.estimate == 2 and backlog.admits()
    assert backlog.unwritten == {}  # nothing left to remember


def test_a_frame_let_in_and_then_refused_stops_counting() -> None:
    backlog = Backlog(Ledger(0), limit=1)
    backlog.admitted("lane-1")
    assert not backlog.admits()
    backlog.settled("lane-1")  # refused by a later check: it never reaches the ledger
    asyncio.run(backlog.refresh())
    assert backlog.estimate == 0 and backlog.admits()


def test_one_source_past_its_own_limit_waits_while_the_others_come_in() -> None:
    ledger = Ledger(5, {"lane-1": 4, "lane-2": 1})
    backlog = Backlog(ledger, limit=10, limit_per_source=5)
    asyncio.run(backlog.refresh())
    assert backlog.admits_from("lane-1") and backlog.estimate_of("lane-1") == 4
    backlog.admitted("lane-1")
    assert not backlog.admits_from("lane-1")  # 5 of its 5
    assert backlog.admits_from("lane-2") and backlog.admits_from("lane-3") and backlog.admits()
    asyncio.run(backlog.refresh())  # the frame still on its way to the ledger counts for its source
    assert backlog.estimate_of("lane-1") == 5 and not backlog.admits_from("lane-1")
    backlog.settled("lane-1")
    ledger.frames, ledger.by_source = 3, {"lane-1": 2, "lane-2": 1}  # lane-1's verdicts came in
    asyncio.run(backlog.refresh())
    assert backlog.admits_from("lane-1") and backlog.estimate_of("lane-1") == 2


def test_a_failed_read_keeps_the_frames_let_in_since_the_last_one() -> None:
    class Failing(Ledger):
        async def in_flight_by_source(self) -> tuple[int, dict[str, int]]:
            raise OSError("redis away")

    backlog = Backlog(Failing(0), limit=2)
    backlog.admitted("lane-1")
    backlog.settled("lane-1")  # recorded in the ledger, which cannot be read now
    with pytest.raises(OSError):
        asyncio.run(backlog.refresh())
    backlog.admitted("lane-1")
    assert backlog.estimate == 2 and not backlog.admits()


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
