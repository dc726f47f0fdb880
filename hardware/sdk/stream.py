"""One ingest stream: frames split into chunks, one ack per frame, no retry.

async with IngestStream("127.0.0.1:50051") as stream:
    ack = await (await stream.send(frame, payload))   # send() waits while the window is full

The building blocks of the SDK (``chunks_of``, ``channel_options``) and the plain stream the runtime's
demo, tests and benchmarks use. A device should use ``client.VendorClient``, which adds reconnects
and resends on top of the same contract.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import Iterator
from types import TracebackType

import grpc

from smartcustoms.v1 import frame_pb2, ingest_pb2, ingest_pb2_grpc

DEFAULT_CHUNK_BYTES = 2 * 1024 * 1024
OK = grpc.StatusCode.OK.value[0]


def channel_options(chunk_bytes: int, keepalive_s: float | None = None) -> list[tuple[str, int]]:
    """gRPC channel options for chunks of ``chunk_bytes``; ``keepalive_s`` pings an idle connection."""
    message_bytes = chunk_bytes + 64 * 1024
    options = [
        ("grpc.max_send_message_length", message_bytes),
        ("grpc.max_receive_message_length", message_bytes),
    ]
    if keepalive_s is not None:
        options += [
            ("grpc.keepalive_time_ms", int(keepalive_s * 1000)),
            ("grpc.keepalive_timeout_ms", int(min(keepalive_s, 20.0) * 1000)),
        ]
    return options


def open_channel(
    target: str,
    credentials: grpc.ChannelCredentials | None = None,
    options: list[tuple[str, int]] | None = None,
) -> grpc.aio.Channel:
    """An asyncio channel to the gateway: plaintext, or TLS (mutual with a client certificate) when
    ``credentials`` are given (``smartcustoms.runtime.tls.client_credentials``)."""
    if credentials is None:
        return grpc.aio.insecure_channel(target, options=options)
    return grpc.aio.secure_channel(target, credentials, options=options)


class IngestError(RuntimeError):
    """The stream itself failed (not one frame: those come back as acks with a code)."""


def chunks_of(
    frame: frame_pb2.Frame,
    payload: bytes | memoryview,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    sha256: bool = False,
) -> Iterator[ingest_pb2.FrameChunk]:
    """Split a frame into FrameChunks: header and total size on chunk 0, ``last`` on the final one."""
    view = memoryview(payload).cast("B")
    header = frame_pb2.Frame()
    header.CopyFrom(frame)
    header.ClearField("payload")
    header.payload_bytes = len(view)
    first = ingest_pb2.FrameChunk(frame_id=frame.frame_id, index=0, header=header, total_bytes=len(view))
    if sha256:
        first.payload_sha256 = hashlib.sha256(view).hexdigest()
    count = max(1, -(-len(view) // chunk_bytes))
    for index in range(count):
        chunk = first if index == 0 else ingest_pb2.FrameChunk(frame_id=frame.frame_id, index=index)
        chunk.data = bytes(view[index * chunk_bytes : (index + 1) * chunk_bytes])
        chunk.last = index == count - 1
        yield chunk


class IngestStream:
    """One bidirectional ingest stream with at most ``window_frames`` frames awaiting their ack."""

    def __init__(
        self,
        target: str,
        *,
        chunk_bytes: int = DEFAULT_CHUNK_BYTES,
        window_frames: int = 32,
        sha256: bool = False,
        credentials: grpc.ChannelCredentials | None = None,
    ) -> None:
        self.target = target
        self.credentials = credentials
        self.chunk_bytes = chunk_bytes
        self.sha256 = sha256
        self._window = asyncio.Semaphore(window_frames)
        self._pending: dict[str, asyncio.Future[ingest_pb2.IngestAck]] = {}
        self._channel: grpc.aio.Channel | None = None
        self._call: grpc.aio.StreamStreamCall | None = None
        self._reader: asyncio.Task[None] | None = None
        self._write_lock = asyncio.Lock()
        self._failed: Exception | None = None  # why the stream ended: later sends raise it

    async def __aenter__(self) -> IngestStream:
        self._failed = None  # a stream object may be entered again after it closed
        self._channel = open_channel(self.target, self.credentials, channel_options(self.chunk_bytes))
        stub = ingest_pb2_grpc.IngestServiceStub(self._channel)  # type: ignore[no-untyped-call]  # generated, untyped
        self._call = stub.StreamFrames()
        self._reader = asyncio.create_task(self._read_acks())
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def send(
        self, frame: frame_pb2.Frame, payload: bytes | memoryview | None = None
    ) -> asyncio.Future[ingest_pb2.IngestAck]:
        """Send one frame (payload defaults to ``frame.payload``); the future resolves to its ack."""
        assert self._call is not None, "use IngestStream as an async context manager"
        if not frame.frame_id:
            frame.frame_id = uuid.uuid4().hex
        if frame.frame_id in self._pending:
            raise ValueError(f"frame {frame.frame_id} is already awaiting its ack")
        if self._failed is not None:
            raise IngestError(str(self._failed)) from self._failed
        await self._window.acquire()
        if self._failed is not None:  # the stream ended while this frame waited for room
            self._window.release()
            raise IngestError(str(self._failed)) from self._failed
        future: asyncio.Future[ingest_pb2.IngestAck] = asyncio.get_running_loop().create_future()
        self._pending[frame.frame_id] = future
        data = frame.payload if payload is None else payload
        try:
            async with self._write_lock:
                for chunk in chunks_of(frame, data, self.chunk_bytes, self.sha256):
                    await self._call.write(chunk)
        except BaseException:  # the frame never went out: no ack will come, nobody will await this one
            if self._pending.pop(frame.frame_id, None) is not None:
                self._window.release()
            future.cancel()
            raise
        return future

    async def close(self) -> None:
        """Finish sending, wait for every outstanding ack, close the channel."""
        if self._call is None:
            return
        try:
            await self._call.done_writing()
            if self._reader is not None:
                await self._reader
        finally:
            assert self._channel is not None
            await self._channel.close()
            self._call = None

    async def _read_acks(self) -> None:
        assert self._call is not None
        try:
            async for ack in self._call:
                future = self._pending.pop(ack.frame_id, None)
                if future is None:  # an answer to a message that named no frame (malformed)
                    continue
                self._window.release()
                if not future.done():
                    future.set_result(ack)
        except grpc.aio.AioRpcError as error:
            self._fail_pending(IngestError(f"ingest stream failed: {error.code().name} {error.details()}"))
            raise
        except BaseException:  # cancelled (a close given up at its deadline): no ack will be read
            self._fail_pending(
                IngestError("ingest stream reader stopped before these frames were acknowledged")
            )
            raise
        self._fail_pending(
            IngestError(
                "stream closed before these frames were acknowledged" if self._pending else "stream closed"
            )
        )

    def _fail_pending(self, error: Exception) -> None:
        """Fail every frame awaiting its ack, and every later send: a send waiting for room in the window
        is woken to raise, instead of waiting for acks that will not come."""
        self._failed = error
        for future in self._pending.values():
            if not future.done():
                future.set_exception(error)
            self._window.release()
        self._pending.clear()


async def send_all(target: str, frames: list[frame_pb2.Frame], **options: int) -> list[ingest_pb2.IngestAck]:
    """Send frames on one stream and return their acks in the same order."""
    async with IngestStream(target, **options) as stream:  # type: ignore[arg-type]
        futures: list[asyncio.Future[ingest_pb2.IngestAck]] = []
        try:
            for frame in frames:
                futures.append(await stream.send(frame))
            return [await future for future in futures]
        finally:  # on failure the caller gets the first error; the others are read so asyncio stays quiet
            for future in futures:
                if future.done() and not future.cancelled():
                    future.exception()
