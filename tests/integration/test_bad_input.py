"""Every kind of bad input gets its own precise status, and nothing else on the stream is lost."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

import grpc
import numpy as np
import pytest

from smartcustoms.core.blobstore import open_blob_store
from smartcustoms.core.config import Config
from smartcustoms.core.frames import array_frame
from smartcustoms.core.types import Modality
from smartcustoms.hardware.sdk.client import IngestStream, chunks_of, send_all
from smartcustoms.runtime.report import scrape, total
from smartcustoms.runtime.stack import Stack, gateway_serving
from smartcustoms.v1 import frame_pb2, ingest_pb2

pytestmark = pytest.mark.integration

METHOD = "/smartcustoms.v1.IngestService/StreamFrames"


def _good(sequence: int) -> frame_pb2.Frame:
    return array_frame(
        np.ones((1, 8, 8), np.uint16),
        modality=Modality.XRAY,
        source_id="lane-9",
        sequence=sequence,
        frame_id=f"good-{sequence}",
    )


async def _exchange(
    target: str, messages: Sequence[bytes | ingest_pb2.FrameChunk]
) -> list[ingest_pb2.IngestAck]:
    """Send raw messages (bytes go on the wire as they are) on one stream; collect every ack."""
    async with grpc.aio.insecure_channel(target) as channel:
        call = channel.stream_stream(
            METHOD,
            request_serializer=lambda m: m if isinstance(m, bytes) else m.SerializeToString(),
            response_deserializer=ingest_pb2.IngestAck.FromString,
        )(iter(messages))
        return [ack async for ack in call]


def _codes(acks: list[ingest_pb2.IngestAck]) -> dict[str, grpc.StatusCode]:
    by_number = {code.value[0]: code for code in grpc.StatusCode}
    return {ack.frame_id: by_number[ack.code] for ack in acks}


@pytest.fixture
def gateway(runtime_config: Config, start_stack: Callable[..., Stack]) -> Stack:
    runtime_config.gateway.max_frame_bytes = 1024 * 1024
    runtime_config.gateway.max_chunk_bytes = 256 * 1024
    runtime_config.gateway.inline_max_bytes = 1024
    return start_stack(runtime_config, worker=False)


def test_each_bad_frame_gets_its_status_and_good_frames_on_the_stream_are_accepted(gateway: Stack) -> None:
    shape_lie = _good(3)
    shape_lie.frame_id = "bad-shape"
    shape_lie.shape[:] = [1, 9, 9]
    unknown = _good(4)
    unknown.frame_id = "bad-modality"
    unknown.modality = 42
    large = frame_pb2.Frame(frame_id="too-large", source_id="cam", modality=frame_pb2.MODALITY_CAMERA)
    first, second, third = chunks_of(_good(5), b"x" * 300, chunk_bytes=100)
    first.frame_id = second.frame_id = third.frame_id = first.header.frame_id = "out-of-order"
    first.header.modality = frame_pb2.MODALITY_CAMERA
    first.header.ClearField("shape")
    first.header.dtype = frame_pb2.DTYPE_UNSPECIFIED
    short_first, short_last = chunks_of(_good(6), b"y" * 200, chunk_bytes=100)
    short_first.header.ClearField("shape")
    short_first.header.dtype = frame_pb2.DTYPE_UNSPECIFIED
    short_first.header.modality = frame_pb2.MODALITY_CAMERA
    short_first.total_bytes = 300  # declares more than it sends
    short_first.frame_id = short_last.frame_id = short_first.header.frame_id = "missing-chunks"
    checksum = next(chunks_of(_good(7), b"z" * 128, chunk_bytes=1024, sha256=True))
    checksum.header.modality = frame_pb2.MODALITY_CAMERA
    checksum.header.ClearField("shape")
    checksum.header.dtype = frame_pb2.DTYPE_UNSPECIFIED
    checksum.data = b"Z" * 128
    checksum.frame_id = checksum.header.frame_id = "bad-checksum"
    messages: list[bytes | ingest_pb2.FrameChunk] = [
        *chunks_of(_good(1), _good(1).payload),
        b"\xff\xff\xff\xff not a protobuf",
        *chunks_of(shape_lie, shape_lie.payload),
        *chunks_of(unknown, unknown.payload),
        ingest_pb2.FrameChunk(frame_id="too-large", index=0, header=large, total_bytes=2 * 1024 * 1024),
        ingest_pb2.FrameChunk(frame_id="orphan", index=3, data=b"abc", last=True),
        first,
        third,
        second,
        short_first,
        short_last,
        checksum,
        ingest_pb2.FrameChunk(frame_id="no-header", index=0, data=b"abc", last=True),
        *chunks_of(_good(2), _good(2).payload),
        ingest_pb2.FrameChunk(
            frame_id="never-finished",
            index=0,
            total_bytes=10,
            data=b"12345",
            header=frame_pb2.Frame(source_id="cam", modality=frame_pb2.MODALITY_CAMERA),
        ),
    ]
    acks = asyncio.run(_exchange(gateway.gateway_target, messages))
    codes = _codes(acks)
    assert codes == {
        "good-1": grpc.StatusCode.OK,
        "": grpc.StatusCode.INVALID_ARGUMENT,
        "bad-shape": grpc.StatusCode.INVALID_ARGUMENT,
        "bad-modality": grpc.StatusCode.INVALID_ARGUMENT,
        "too-large": grpc.StatusCode.RESOURCE_EXHAUSTED,
        "orphan": grpc.StatusCode.OUT_OF_RANGE,
        "out-of-order": grpc.StatusCode.OUT_OF_RANGE,
        "missing-chunks": grpc.StatusCode.DATA_LOSS,
        "bad-checksum": grpc.StatusCode.DATA_LOSS,
        "no-header": grpc.StatusCode.INVALID_ARGUMENT,
        "good-2": grpc.StatusCode.OK,
        "never-finished": grpc.StatusCode.DATA_LOSS,
    }
    assert len(acks) == len(codes), "exactly one answer per frame"
    messages_by_id = {ack.frame_id: ack.message for ack in acks}
    assert "malformed" in messages_by_id[""]
    assert "unknown modality 42" in messages_by_id["bad-modality"]
    assert "needs 162 bytes" in messages_by_id["bad-shape"]
    assert "expected 1" in messages_by_id["out-of-order"]

    metrics = scrape(gateway.metrics_urls[0])
    assert total(metrics, "smartcustoms_ingest_frames_accepted_total") == 2
    assert total(metrics, "smartcustoms_conservation_frames", state="accepted") == 2
    for reason, count in {
        "malformed": 1,
        "bad_shape": 1,
        "unknown_modality": 1,
        "too_large": 1,
        "out_of_order": 2,
        "missing_chunks": 1,
        "checksum": 1,
        "bad_header": 1,
        "stream_closed": 1,
    }.items():
        assert total(metrics, "smartcustoms_ingest_frames_rejected_total", reason=reason) == count, reason
    assert total(metrics, "smartcustoms_ingest_frames_in_progress") == 0


def test_a_message_over_the_grpc_limit_ends_that_stream_only(gateway: Stack) -> None:
    oversized = ingest_pb2.FrameChunk(frame_id="huge", index=0, data=b"x" * (2 * 1024 * 1024), last=True)
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        asyncio.run(_exchange(gateway.gateway_target, [oversized]))
    assert failure.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert gateway_serving(gateway.gateway_target)
    assert asyncio.run(send_all(gateway.gateway_target, [_good(11)]))[0].code == 0


def test_a_duplicate_frame_id_from_another_sequence_is_refused(gateway: Stack) -> None:
    reused = _good(21)
    reused.frame_id = "good-20"
    acks = asyncio.run(send_all(gateway.gateway_target, [_good(20)]))
    acks += asyncio.run(send_all(gateway.gateway_target, [reused]))
    assert [grpc.StatusCode.OK.value[0], grpc.StatusCode.ALREADY_EXISTS.value[0]] == [a.code for a in acks]


@pytest.mark.slow
def test_a_one_gibibyte_frame_arrives_whole(
    runtime_config: Config, start_stack: Callable[..., Stack]
) -> None:
    runtime_config.gateway.max_frame_bytes = 2 * 1024**3
    stack = start_stack(runtime_config, worker=False)
    payload = np.random.default_rng(1).integers(0, 255, size=1024**3, dtype=np.uint8)
    frame = frame_pb2.Frame(
        frame_id="ct-volume",
        source_id="ct-1",
        modality=frame_pb2.MODALITY_CT,
        shape=[1024, 1024, 1024],
        dtype=frame_pb2.DTYPE_UINT8,
        encoding="raw",
        sequence=1,
    )

    async def send() -> ingest_pb2.IngestAck:
        async with IngestStream(stack.gateway_target, chunk_bytes=4 * 1024 * 1024, sha256=True) as stream:
            return await (await stream.send(frame, memoryview(payload)))

    ack = asyncio.run(send())
    assert (ack.code, ack.message) == (0, "")
    store = open_blob_store(
        "shm", namespace=runtime_config.namespace, shm_root=runtime_config.blobstore.shm_root
    )
    stored = list((stack.run_dir.parent / "shm").rglob("*"))
    blobs = [p for p in stored if p.is_file()]
    assert len(blobs) == 1 and blobs[0].stat().st_size == 1024**3
    ref = frame_pb2.BlobRef(store="shm", key=blobs[0].name, size_bytes=1024**3)
    assert np.array_equal(np.frombuffer(store.read(ref), np.uint8)[-4096:], payload[-4096:])
    store.close()
