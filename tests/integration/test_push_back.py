"""Push-back: past the backlog limit the gateway answers RESOURCE_EXHAUSTED with a retry delay at once,
a stream may not hold more unfinished frames than its limit, and the vendor SDK sends refused frames
again after the delay, so every frame is accepted once the workers catch up."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import grpc
import pytest

from smartcustoms.core.config import Config, PluginConfig
from smartcustoms.core.manager import discover_plugins
from smartcustoms.hardware.sdk.client import OK, VendorClient, send_all
from smartcustoms.hardware.sdk.retry import RetryPolicy
from smartcustoms.hardware.sdk.stream import chunks_of
from smartcustoms.hardware.sim.rfid import to_frame as rfid_to_frame
from smartcustoms.runtime.report import scrape
from smartcustoms.runtime.stack import Stack
from smartcustoms.v1 import frame_pb2, ingest_pb2, ingest_pb2_grpc

pytestmark = pytest.mark.integration

EXHAUSTED = grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]


def _frame(number: int, reads: int = 0) -> frame_pb2.Frame:
    batch = frame_pb2.RfidReadBatch(reader_id="lane-1")
    for tag in range(reads):
        batch.reads.add(epc_hex=f"{tag:024X}", rssi_dbm=-50)
    frame = rfid_to_frame(batch, source_id="lane-1", sequence=number)
    frame.frame_id = f"push-{number}"
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
    config.plugins = {
        info.spec.name: PluginConfig(enabled=info.spec.name == "rfid_epc_check")
        for info in discover_plugins()
    }
    stack = start_stack(config, worker=False)  # no worker: nothing is decided, the backlog only grows

    acks = asyncio.run(_interleaved(stack.gateway_target, [_frame(n, reads=4) for n in (1, 2, 3)]))
    by_id = {ack.frame_id: ack for ack in acks}
    assert [by_id[f"push-{n}"].code for n in (1, 2)] == [OK, OK]
    assert by_id["push-3"].code == EXHAUSTED and "begun and not finished (limit 2)" in by_id["push-3"].message

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
