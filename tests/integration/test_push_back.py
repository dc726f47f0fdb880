"""Push-back: past the backlog limit the gateway answers RESOURCE_EXHAUSTED with a retry delay at once,
a stream may not hold more unfinished frames than its limit, and the vendor SDK sends refused frames
again after the delay, so every frame is accepted once the workers catch up."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import grpc
import numpy as np
import pytest

from smartcustoms.core.config import Config
from smartcustoms.core.frames import array_frame
from smartcustoms.core.types import Modality
from smartcustoms.hardware.sdk.client import OK, VendorClient, send_all
from smartcustoms.hardware.sdk.retry import RetryPolicy
from smartcustoms.hardware.sdk.stream import chunks_of
from smartcustoms.hardware.sim.rfid import to_frame as rfid_to_frame
from smartcustoms.runtime.process import wait_for
from smartcustoms.runtime.report import scrape, total
from smartcustoms.runtime.stack import Stack
from smartcustoms.runtime.testing import only_plugins
from smartcustoms.v1 import frame_pb2, ingest_pb2, ingest_pb2_grpc

pytestmark = pytest.mark.integration

EXHAUSTED = grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]


def _frame(number: int, reads: int = 0, source: str = "lane-1") -> frame_pb2.Frame:
    batch = frame_pb2.RfidReadBatch(reader_id=source)
    for tag in range(reads):
        batch.reads.add(epc_hex=f"{tag:024X}", rssi_dbm=-50)
    frame = rfid_to_frame(batch, source_id=source, sequence=number)
    frame.frame_id = f"push-{source}-{number}" if source != "lane-1" else f"push-{number}"
    return frame


async def _interleaved(target: str, frames: list[frame_pb2.Frame]) -> list[ingest_pb2.IngestAck]:
    """Every frame's first chunk, then the rest of each: a stream holding all of them unfinished."""
    chunked = [list(chunks_of(frame, frame.payload, chunk_bytes=16)) for frame in frames]
    assert all(len(chunks) > 1 for chunks in chunked)

    async def requests() -> AsyncIterator[ingest_pb2.FrameChunk]:
        for chunks in chunked:
            yield chunks[0]
        for chunks in chunked:
            for chunk in chunks[1:]:
                yield chunk

    async with grpc.aio.insecure_channel(target) as channel:
        call = ingest_pb2_grpc.IngestServiceStub(channel).StreamFrames(requests())
        return [ack async for ack in call]


def test_the_gateway_pushes_back_and_the_sdk_waits_it_out(
    runtime_config: Config, start_stack: Callable[..., Stack]
) -> None:
    config = runtime_config
    config.gateway.max_backlog_frames = 3
    config.gateway.max_open_frames_per_stream = 2
    config.gateway.retry_after_ms = 200
    only_plugins(config, "rfid_epc_check")
    stack = start_stack(config, worker=False)  # no worker: nothing is decided, the backlog only grows

    acks = asyncio.run(_interleaved(stack.gateway_target, [_frame(n, reads=4) for n in (1, 2, 3)]))
    by_id = {ack.frame_id: ack for ack in acks}
    assert [by_id[f"push-{n}"].code for n in (1, 2)] == [OK, OK]
    assert by_id["push-3"].code == EXHAUSTED and "begun and not finished (limit 2)" in by_id["push-3"].message
    backlog = scrape(stack.metrics_urls[0])
    assert total(backlog, "smartcustoms_ingest_backlog_frames") == 2  # each counted once, read or not
    assert total(backlog, "smartcustoms_ingest_backlog_bytes") == 2 * _frame(1, reads=4).payload_bytes

    acks = asyncio.run(send_all(stack.gateway_target, [_frame(n) for n in (4, 5, 6)]))
    assert acks[0].code == OK  # the third frame awaiting a verdict
    assert [(a.code, a.retry_after_ms) for a in acks[1:]] == [(EXHAUSTED, 200)] * 2
    assert "3 frames await verdicts (limit 3)" in acks[1].message
    rejected = scrape(stack.metrics_urls[0])["smartcustoms_ingest_frames_rejected_total"]
    counted = {labels["reason"]: value for labels, value in rejected}
    assert (counted["stream_limit"], counted["backlog"]) == (1, 2)

    async def with_the_sdk() -> list[ingest_pb2.IngestAck]:
        retry = RetryPolicy(initial_backoff_s=0.05, max_backoff_s=0.5)
        async with VendorClient(stack.gateway_target, retry=retry) as client:
            futures = [await client.send(_frame(n)) for n in (3, 5, 6, 7)]
            await asyncio.sleep(1.0)  # refused meanwhile, sent again every retry_after_ms
            assert not any(future.done() and future.result().code == OK for future in futures)
            await asyncio.to_thread(stack.start_worker)  # verdicts drain the backlog
            return [await asyncio.wait_for(future, 120) for future in futures]

    assert [ack.code for ack in asyncio.run(with_the_sdk())] == [OK] * 4


def test_one_source_past_its_own_backlog_is_pushed_back_while_another_gets_in(
    runtime_config: Config, start_stack: Callable[..., Stack]
) -> None:
    config = runtime_config
    config.gateway.max_backlog_frames = 10
    config.gateway.max_backlog_frames_per_source = 2
    big = [_frame(n, reads=300, source="lane-3") for n in (1, 2)]  # one source's bytes, not its frames
    config.gateway.max_backlog_bytes_per_source = big[0].payload_bytes + big[1].payload_bytes - 1
    config.gateway.retry_after_ms = 200
    stack = start_stack(config, worker=False)  # nothing is decided: each source's backlog only grows

    flood = asyncio.run(send_all(stack.gateway_target, [_frame(n) for n in (1, 2, 3)]))
    other = asyncio.run(send_all(stack.gateway_target, [_frame(1, source="lane-2")]))
    assert [(a.code, a.retry_after_ms) for a in flood] == [(OK, 0), (OK, 0), (EXHAUSTED, 200)]
    assert "2 frames of lane-1 await verdicts (limit 2 a source)" in flood[2].message
    assert [a.code for a in other] == [OK]
    heavy = asyncio.run(send_all(stack.gateway_target, big))
    assert [(a.code, a.retry_after_ms) for a in heavy] == [(OK, 0), (EXHAUSTED, 200)]
    assert f"{big[0].payload_bytes:,} bytes of lane-3's frames await verdicts" in heavy[1].message
    assert [a.code for a in asyncio.run(send_all(stack.gateway_target, [_frame(2, source="lane-2")]))] == [OK]
    rejected = scrape(stack.metrics_urls[0])["smartcustoms_ingest_frames_rejected_total"]
    assert {labels["reason"]: value for labels, value in rejected}["source_backlog"] == 2


MiB = 1024 * 1024


def _hog_first_chunk(number: int) -> ingest_pb2.FrameChunk:
    """Chunk 0 of a frame declaring 3 MiB that carries only 256 KiB."""
    header = frame_pb2.Frame(
        source_id=f"hog-{number}",
        sequence=1,
        modality=frame_pb2.MODALITY_XRAY,
        shape=[3, 512, 1024],
        dtype=frame_pb2.DTYPE_UINT16,
        encoding="raw",
    )
    return ingest_pb2.FrameChunk(
        frame_id=f"hog-{number}", index=0, header=header, total_bytes=3 * MiB, data=bytes(MiB // 4)
    )


def _blob_files(config: Config) -> dict[str, int]:
    directory = Path(config.blobstore.shm_root) / f"smartcustoms-{config.namespace}"
    return {path.name: path.stat().st_size for path in directory.iterdir()}


def test_declared_sizes_reserve_nothing_and_a_frame_without_room_midway_gives_its_bytes_back(
    runtime_config: Config, start_stack: Callable[..., Stack]
) -> None:
    """Four streams declare 3 MiB frames in a 4 MiB store and send 256 KiB each: another vendor's 1 MiB
    frame is still accepted at once. The first hog's next 2.75 MiB do not fit: its frame is refused with
    RESOURCE_EXHAUSTED and a retry delay, and what it held is released; the streams that go away
    release theirs."""
    config = runtime_config
    config.blobstore.capacity_bytes = 4 * MiB
    config.gateway.capacity_wait_s = 60  # were declared sizes reserved, the 1 MiB frame would wait this
    config.gateway.retry_after_ms = 300
    stack = start_stack(config, worker=False)  # nothing is decided: committed blobs stay in the store
    image = np.full((2, 512, 512), 60_000, np.uint16)
    normal_frame = array_frame(image, modality=Modality.XRAY, source_id="lane-9", sequence=1, frame_id="n1")

    async def scenario() -> tuple[ingest_pb2.IngestAck, ingest_pb2.IngestAck]:
        async with grpc.aio.insecure_channel(stack.gateway_target) as channel:
            stub = ingest_pb2_grpc.IngestServiceStub(channel)
            rest, never = asyncio.Event(), asyncio.Event()

            async def hog(number: int) -> AsyncIterator[ingest_pb2.FrameChunk]:
                yield _hog_first_chunk(number)
                if number != 1:  # hogs 2-4 never get further (ending, their streams would free the bytes
                    await never.wait()  # hog 1 needs): cancelled with their calls
                await rest.wait()
                yield ingest_pb2.FrameChunk(frame_id="hog-1", index=1, data=bytes(11 * MiB // 4), last=True)

            first, *idle = [stub.StreamFrames(hog(n)) for n in (1, 2, 3, 4)]
            held = lambda: sum(_blob_files(config).values()) == MiB  # noqa: E731  (four first chunks)
            await asyncio.to_thread(wait_for, held, 10, what="the hogs' first chunks")
            [normal] = await asyncio.wait_for(send_all(stack.gateway_target, [normal_frame]), 30)
            rest.set()
            refused = await first.read()
            for call in idle:
                call.cancel()
            return normal, refused

    normal, refused = asyncio.run(scenario())
    assert normal.code == OK
    assert (refused.frame_id, refused.code, refused.retry_after_ms) == ("hog-1", EXHAUSTED, 300)
    assert "blob store full at chunk 1" in refused.message
    wait_for(lambda: list(_blob_files(config).values()) == [MiB], 10, what="only the 1 MiB frame left")


def test_a_frame_that_trickles_past_its_deadline_is_refused_and_the_stream_goes_on(
    runtime_config: Config, start_stack: Callable[..., Stack]
) -> None:
    """A stream sends a frame's first chunk and then nothing: after ``frame_deadline_s`` the frame is
    refused DEADLINE_EXCEEDED and its blob store bytes are released; its late last chunk gets no second
    answer, and the next frame on the same stream is accepted."""
    config = runtime_config
    config.gateway.frame_deadline_s = 1.0
    stack = start_stack(config, worker=False)
    image = np.full((2, 512, 512), 60_000, np.uint16)
    after = array_frame(image, modality=Modality.XRAY, source_id="lane-7", sequence=2, frame_id="after")

    async def scenario() -> list[ingest_pb2.IngestAck]:
        refused = asyncio.Event()

        async def requests() -> AsyncIterator[ingest_pb2.FrameChunk]:
            yield _hog_first_chunk(1)
            await refused.wait()
            yield ingest_pb2.FrameChunk(frame_id="hog-1", index=1, data=bytes(11 * MiB // 4), last=True)
            for chunk in chunks_of(after, after.payload, chunk_bytes=MiB):
                yield chunk

        async with grpc.aio.insecure_channel(stack.gateway_target) as channel:
            call = ingest_pb2_grpc.IngestServiceStub(channel).StreamFrames(requests())
            first = await asyncio.wait_for(call.read(), 30)
            assert _blob_files(config) == {}  # released with the refusal
            refused.set()
            rest = []
            while (ack := await asyncio.wait_for(call.read(), 30)) != grpc.aio.EOF:
                rest.append(ack)
            return [first, *rest]

    acks = asyncio.run(scenario())
    assert [(a.frame_id, a.code) for a in acks] == [
        ("hog-1", grpc.StatusCode.DEADLINE_EXCEEDED.value[0]),
        ("after", OK),
    ]
    assert "did not all arrive within 1 s" in acks[0].message
