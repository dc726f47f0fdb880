"""Gateway ingest checkpoint: one client against the real gateway or the bare ack server.

Both servers get the same frames from the same client, each server in a process of its own, so the
only difference is what happens between a frame's last chunk and its ack. Two clients:

- ``send_lean``: the ingest protocol written directly on the gRPC stub (2 MiB chunks, a window of
  unacknowledged frames), with the payload cut into chunks once and reused for every frame, so the
  client costs as little as possible and the servers are what is measured;
- ``send_sdk``: the vendor SDK's ``IngestStream``, which copies every chunk out of the payload for
  each frame (``chunks_of``); what a device using the SDK from one Python process gets.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

import grpc
import numpy as np

from smartcustoms.hardware.sdk.client import DEFAULT_CHUNK_BYTES, OK, IngestStream
from smartcustoms.hardware.sdk.stream import channel_options
from smartcustoms.runtime.process import ManagedProcess, free_port
from smartcustoms.runtime.stack import gateway_serving
from smartcustoms.v1 import frame_pb2, ingest_pb2, ingest_pb2_grpc

BENCH_DIR = Path(__file__).parent.parent
READY_S = 30.0


@dataclass(frozen=True)
class IngestRun:
    """Per frame, in send order: when it was admitted to the window and when its ack came."""

    sent_s: np.ndarray
    acked_s: np.ndarray

    @property
    def elapsed_s(self) -> float:
        return float(self.acked_s.max() - self.sent_s.min())

    @property
    def latency_s(self) -> np.ndarray:
        return self.acked_s - self.sent_s


async def send_sdk(
    target: str, frames: Sequence[frame_pb2.Frame], payload: bytes, window_frames: int
) -> IngestRun:
    """Send every frame on one stream, at most ``window_frames`` unacknowledged; every ack must be OK."""
    sent: dict[str, float] = {}
    acked: dict[str, float] = {}
    window = asyncio.Semaphore(window_frames)
    futures = []
    view = memoryview(payload)

    def on_ack(frame_id: str) -> object:
        def done(_: object) -> None:
            acked[frame_id] = time.perf_counter()
            window.release()

        return done

    async with IngestStream(target, window_frames=window_frames) as stream:
        for frame in frames:
            await window.acquire()
            sent[frame.frame_id] = time.perf_counter()
            future = await stream.send(frame, view)
            future.add_done_callback(on_ack(frame.frame_id))  # type: ignore[arg-type]
            futures.append(future)
        check_acks(await asyncio.gather(*futures), len(frames))
    ids = [frame.frame_id for frame in frames]
    return IngestRun(np.array([sent[i] for i in ids]), np.array([acked[i] for i in ids]))


async def send_lean(
    target: str,
    frames: Sequence[frame_pb2.Frame],
    payload: bytes,
    window_frames: int,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
) -> IngestRun:
    """Send every frame on one stream, chunks cut once; at most ``window_frames`` unacknowledged."""
    pieces = cut(payload, chunk_bytes)
    sent: dict[str, float] = {}
    acked: dict[str, float] = {}
    acks: list[ingest_pb2.IngestAck] = []
    window = asyncio.Semaphore(window_frames)
    async with grpc.aio.insecure_channel(target, options=channel_options(chunk_bytes)) as channel:
        call = ingest_pb2_grpc.IngestServiceStub(channel).StreamFrames()  # type: ignore[no-untyped-call]  # generated, untyped

        async def read_acks() -> None:
            async for ack in call:
                acked[ack.frame_id] = time.perf_counter()
                acks.append(ack)
                window.release()

        reader = asyncio.create_task(read_acks())
        for frame in frames:
            await window.acquire()
            sent[frame.frame_id] = time.perf_counter()
            for chunk in chunks_from(frame, pieces, len(payload)):
                await call.write(chunk)
        await call.done_writing()
        await reader
    check_acks(acks, len(frames))
    ids = [frame.frame_id for frame in frames]
    return IngestRun(np.array([sent[i] for i in ids]), np.array([acked[i] for i in ids]))


def cut(payload: bytes, chunk_bytes: int) -> list[bytes]:
    view = memoryview(payload).cast("B")
    return [bytes(view[i : i + chunk_bytes]) for i in range(0, len(view), chunk_bytes)] or [b""]


def chunks_from(
    frame: frame_pb2.Frame, pieces: Sequence[bytes], total_bytes: int
) -> Iterator[ingest_pb2.FrameChunk]:
    """The frame's FrameChunks over ready-made pieces of its payload (as ``chunks_of`` lays them out)."""
    header = frame_pb2.Frame()
    header.CopyFrom(frame)
    header.ClearField("payload")
    header.payload_bytes = total_bytes
    last = len(pieces) - 1
    yield ingest_pb2.FrameChunk(
        frame_id=frame.frame_id,
        index=0,
        header=header,
        total_bytes=total_bytes,
        data=pieces[0],
        last=last == 0,
    )
    for index in range(1, len(pieces)):
        yield ingest_pb2.FrameChunk(
            frame_id=frame.frame_id, index=index, data=pieces[index], last=index == last
        )


def check_acks(acks: Sequence[ingest_pb2.IngestAck], expected: int) -> None:
    refused = [ack for ack in acks if ack.code != OK or ack.duplicate]
    assert len(acks) == expected, f"{len(acks)} acks for {expected} frames"
    assert not refused, f"{len(refused)} frames refused, first: {refused[0]}"


def xray_frames(
    name: str, shape: tuple[int, ...], run_id: str, count: int, sources: int = 4
) -> list[frame_pb2.Frame]:
    """X-ray headers of ``uint8`` images of ``shape`` over ``sources`` lanes, sequences from 1."""
    frames = []
    for index in range(count):
        frame = frame_pb2.Frame(
            frame_id=f"{name}-{run_id}-{index:06d}",
            source_id=f"bench-{name}-{run_id}-lane{index % sources}",
            sequence=index // sources + 1,
            modality=frame_pb2.MODALITY_XRAY,
            shape=list(shape),
            dtype=frame_pb2.DTYPE_UINT8,
            encoding="raw",
        )
        frame.capture_time.GetCurrentTime()
        frames.append(frame)
    return frames


class BareIngestServer:
    """``benchkit.bare_ingest_server`` in a process of its own, stopped with a deadline.

    With ``publish_to`` (bootstrap servers, topic) it publishes every frame before its ack."""

    def __init__(
        self, work_dir: Path, max_chunk_bytes: int, publish_to: tuple[str, str] | None = None
    ) -> None:
        self.port = free_port()
        argv = [sys.executable, "-m", "benchkit.bare_ingest_server", "--port", str(self.port),
                "--max-chunk-bytes", str(max_chunk_bytes)]  # fmt: skip
        name = "bare-ingest"
        if publish_to is not None:
            argv += ["--bootstrap", publish_to[0], "--topic", publish_to[1]]
            name = "bare-ingest-publishing"
        self.process = ManagedProcess(
            name, argv, cwd=str(BENCH_DIR), log_path=work_dir / f"{name}.log", stop_timeout_s=5.0
        )

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def __enter__(self) -> Self:
        self.process.start()
        try:
            self.process.wait_ready(lambda: gateway_serving(self.target), READY_S)
        except BaseException:
            self.process.stop()
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.process.stop()
