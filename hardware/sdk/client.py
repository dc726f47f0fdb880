"""The Python vendor SDK: deliver every frame to the ingest gateway once, across restarts and resets.

async with VendorClient("gateway:50051") as client:
    future = await client.send(frame, payload)   # waits while the window of unacked frames is full
    ack = await future                           # OK (maybe ``duplicate``), or the frame's final code

``VendorClient`` keeps each frame until its ack, keyed by (source_id, sequence). When the stream fails
(gateway restart, connection reset, UNAVAILABLE) it reconnects with bounded exponential backoff and
jitter and resends every frame not yet acknowledged; the gateway's idempotency on (source_id, sequence)
acknowledges a resend of a frame it had accepted with ``duplicate`` set, so nothing is lost and nothing
is processed twice. ``SyncVendorClient`` is the same for code without an event loop. ``IngestStream``,
``send_all`` and ``chunks_of`` (one plain stream, no retry) are re-exported from ``stream``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import random
import threading
import time
import uuid
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypeVar

import grpc

from smartcustoms.hardware.sdk.retry import PUSH_BACK, RETRYABLE_ACK_CODES, RetryPolicy, retryable_stream_code
from smartcustoms.hardware.sdk.stream import (
    DEFAULT_CHUNK_BYTES,
    OK,
    IngestError,
    IngestStream,
    channel_options,
    chunks_of,
    open_channel,
    send_all,
)
from smartcustoms.v1 import frame_pb2, ingest_pb2, ingest_pb2_grpc

__all__ = [
    "DEFAULT_CHUNK_BYTES",
    "OK",
    "ClientStats",
    "IngestError",
    "IngestStream",
    "RetryPolicy",
    "SyncVendorClient",
    "VendorClient",
    "chunks_of",
    "send_all",
]

log = logging.getLogger(__name__)

DEFAULT_WINDOW_BYTES = 256 * 1024 * 1024
HALF_CLOSE_WAIT_S = 5.0  # after the last ack: how long the gateway gets to end the stream
T = TypeVar("T")
Key = tuple[str, int]


@dataclass
class ClientStats:
    """What a client did so far; ``resends`` and ``reconnects`` count the recoveries."""

    frames_sent: int = 0  # frames handed to send()
    frames_acked: int = 0  # final answer OK, duplicates included
    frames_rejected: int = 0  # final answer with another code
    duplicates: int = 0  # OK answers with ``duplicate`` set
    resends: int = 0  # writes of a frame after its first
    reconnects: int = 0  # streams opened after the first
    push_backs: int = 0  # RESOURCE_EXHAUSTED answers with retry_after_ms: the stream held for that delay


@dataclass(eq=False)
class _Outgoing:
    header: frame_pb2.Frame  # the frame without its payload
    payload: memoryview  # of bytes
    future: asyncio.Future[ingest_pb2.IngestAck]
    writes: int = 0
    unavailable_acks: int = 0  # consecutive answers to try again later (UNAVAILABLE, push-back)
    waiting_retry: bool = False

    @property
    def key(self) -> Key:
        return (self.header.source_id, self.header.sequence)

    @property
    def size_bytes(self) -> int:
        return self.payload.nbytes


class VendorClient:
    """A device's connection to the gateway: at most ``window_frames`` frames and ``window_bytes`` of
    payload unacknowledged (``send`` blocks beyond that), each frame retried until it has its answer.

    A frame needs a source id. Its ``sequence`` (per source, increasing) is what makes a resend safe: a
    frame without one gets the next of the client's sequence for that source, which starts from
    ``first_sequence`` (default: microseconds since the epoch, so it keeps rising across restarts).

    ``target`` may list several gateways of one site (``["gw-a:50051", "gw-b:50051"]``): the client
    streams to the first, and when a stream fails it reconnects to the next, resending what is
    unacknowledged. The gateways share the ledger, so a frame one of them took before failing is
    answered by the other as a duplicate, never processed twice.

    A push-back (``RESOURCE_EXHAUSTED`` with ``retry_after_ms``) holds the whole stream for that delay,
    not only the refused frame: the gateway is past its limit, and every frame written meanwhile would
    cross the network only to be refused. ``send`` then blocks as the window fills, which is how the
    device learns to slow down.
    """

    def __init__(
        self,
        target: str | Sequence[str],
        *,
        chunk_bytes: int = DEFAULT_CHUNK_BYTES,
        window_frames: int = 32,
        window_bytes: int = DEFAULT_WINDOW_BYTES,
        retry: RetryPolicy | None = None,
        sha256: bool = False,
        first_sequence: int | None = None,
        credentials: grpc.ChannelCredentials | None = None,
        keepalive_s: float | None = None,
        seed: int | None = None,
    ) -> None:
        if chunk_bytes <= 0 or window_frames <= 0 or window_bytes <= 0:
            raise ValueError("chunk_bytes, window_frames and window_bytes must be positive")
        self.targets = [target] if isinstance(target, str) else list(target)
        if not self.targets or not all(self.targets):
            raise ValueError("give the gateway's address, or a list of gateways' addresses")
        self._target_index = 0
        self.chunk_bytes = chunk_bytes
        self.window_frames = window_frames
        self.window_bytes = window_bytes
        self.retry = retry or RetryPolicy()
        self.sha256 = sha256
        self.credentials = credentials
        self.keepalive_s = keepalive_s
        self.stats = ClientStats()
        self._first_sequence = first_sequence or time.time_ns() // 1000
        self._next_sequence: dict[str, int] = {}
        self._rng = random.Random(seed)
        self._unacked: dict[Key, _Outgoing] = {}  # in send order: resent in that order
        self._by_frame_id: dict[str, _Outgoing] = {}
        self._unacked_bytes = 0
        self._changed = asyncio.Event()  # a frame was settled or the client failed
        self._queue: asyncio.Queue[_Outgoing | None] | None = None  # the open stream's, if any
        self._supervisor: asyncio.Task[None] | None = None
        self._closing = False
        self._fatal: IngestError | None = None
        self._hold_until = 0.0  # loop time before which the stream writes nothing (the gateway pushed back)

    # ------------------------------------------------------------------ public

    @property
    def target(self) -> str:
        """The gateway this client streams to now (the first of ``targets`` until one fails)."""
        return self.targets[self._target_index]

    @property
    def unacked_frames(self) -> int:
        return len(self._unacked)

    async def start(self) -> None:
        if self._supervisor is None:
            self._supervisor = asyncio.create_task(self._run(), name=f"vendor-client {self.target}")

    async def send(
        self, frame: frame_pb2.Frame, payload: bytes | memoryview | None = None
    ) -> asyncio.Future[ingest_pb2.IngestAck]:
        """Queue a frame (payload defaults to ``frame.payload``); the future resolves to its final ack.

        Waits while the window is full. Fills in ``frame.frame_id`` and ``frame.sequence`` when they are
        empty. Keep ``payload`` unchanged until the ack: a resend reads it again.
        """
        self._check_usable()
        data = memoryview(frame.payload if payload is None else payload).cast("B")  # bytes, any layout
        header = _header_of(frame)
        if not header.source_id:
            raise ValueError("a frame needs a source_id")
        header.frame_id = frame.frame_id = frame.frame_id or uuid.uuid4().hex
        header.sequence = frame.sequence = self._sequence_for(header.source_id, frame.sequence)
        future: asyncio.Future[ingest_pb2.IngestAck] = asyncio.get_running_loop().create_future()
        outgoing = _Outgoing(header, data, future)
        await self._wait_for_room(outgoing.size_bytes)
        self._check_usable()
        if outgoing.key in self._unacked or header.frame_id in self._by_frame_id:
            raise ValueError(f"frame {header.frame_id} (sequence {header.sequence}) is already on its way")
        self._unacked[outgoing.key] = outgoing
        self._by_frame_id[header.frame_id] = outgoing
        self._unacked_bytes += outgoing.size_bytes
        self.stats.frames_sent += 1
        if self._queue is not None:
            self._queue.put_nowait(outgoing)
        return future

    async def flush(self, timeout_s: float | None = None) -> None:
        """Wait until every frame sent so far has its final answer (TimeoutError after ``timeout_s``)."""
        async with asyncio.timeout(timeout_s):
            while self._unacked and self._fatal is None:
                self._changed.clear()
                await self._changed.wait()

    async def close(self, timeout_s: float = 30.0) -> None:
        """Wait up to ``timeout_s`` for every ack, then end the stream and stop.

        Raises IngestError if frames were left without an answer (the deadline passed, or the stream
        failed for good); their futures hold the same error.
        """
        if self._supervisor is None:
            return
        self._closing = True
        try:
            await self.flush(timeout_s)
        except TimeoutError:
            error = IngestError(f"{len(self._unacked)} frames were not acknowledged within {timeout_s:g} s")
            await self._stop(error)
            raise error from None
        if self._queue is not None:
            self._queue.put_nowait(None)  # half-close: the gateway ends the stream once it answered all
            await asyncio.wait({self._supervisor}, timeout=HALF_CLOSE_WAIT_S)
        await self._stop(IngestError("the client was closed"))
        if self._fatal is not None:
            raise self._fatal

    async def abort(self) -> None:
        """Stop at once; frames still unacknowledged fail with IngestError."""
        self._closing = True
        await self._stop(IngestError("the client was aborted before these frames were acknowledged"))

    async def __aenter__(self) -> VendorClient:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            await self.close()
        else:
            await self.abort()

    # ------------------------------------------------------------------ frames

    def _check_usable(self) -> None:
        if self._fatal is not None:
            raise self._fatal
        if self._closing:
            raise IngestError("the client is closing")
        if self._supervisor is None:
            raise IngestError("start the client first (or use it as an async context manager)")

    def _sequence_for(self, source_id: str, given: int) -> int:
        """The caller's sequence, or the next one of this source; later automatic ones exceed both."""
        sequence = given or max(self._next_sequence.get(source_id, 0), self._first_sequence)
        self._next_sequence[source_id] = max(self._next_sequence.get(source_id, 0), sequence + 1)
        return sequence

    async def _wait_for_room(self, size_bytes: int) -> None:
        while self._unacked and (
            len(self._unacked) >= self.window_frames or self._unacked_bytes + size_bytes > self.window_bytes
        ):
            self._changed.clear()
            await self._changed.wait()
            self._check_usable()

    def _on_ack(self, ack: ingest_pb2.IngestAck) -> None:
        outgoing = self._by_frame_id.get(ack.frame_id)
        if outgoing is None:
            return  # a late answer for a frame settled already
        pushed_back = ack.code == PUSH_BACK and ack.retry_after_ms > 0
        if pushed_back:  # the gateway is past its limit: nothing more on this stream until the delay ends
            loop_time = asyncio.get_running_loop().time()
            self._hold_until = max(self._hold_until, loop_time + ack.retry_after_ms / 1000)
            self.stats.push_backs += 1
        if ack.code in RETRYABLE_ACK_CODES or pushed_back:
            outgoing.unavailable_acks += 1
            if not self.retry.gives_up_after(outgoing.unavailable_acks):
                self._retry_later(outgoing, ack.message, ack.retry_after_ms / 1000)
                return
        self._settle(outgoing, ack)

    def _settle(self, outgoing: _Outgoing, ack: ingest_pb2.IngestAck) -> None:
        del self._unacked[outgoing.key]
        del self._by_frame_id[outgoing.header.frame_id]
        self._unacked_bytes -= outgoing.size_bytes
        if ack.code == OK:
            self.stats.frames_acked += 1
            self.stats.duplicates += int(ack.duplicate)
        else:
            self.stats.frames_rejected += 1
        if not outgoing.future.done():
            outgoing.future.set_result(ack)
        self._changed.set()

    def _retry_later(self, outgoing: _Outgoing, reason: str, at_least_s: float = 0.0) -> None:
        delay_s = max(at_least_s, self.retry.delay_s(outgoing.unavailable_acks, self._rng))
        log.warning("frame %s: %s; sending it again in %.2f s", outgoing.header.frame_id, reason, delay_s)
        outgoing.waiting_retry = True
        asyncio.get_running_loop().call_later(delay_s, self._requeue, outgoing)

    def _requeue(self, outgoing: _Outgoing) -> None:
        outgoing.waiting_retry = False
        if self._queue is not None and self._unacked.get(outgoing.key) is outgoing:
            self._queue.put_nowait(outgoing)  # with no stream open, the next one takes it

    def _fail_all(self, error: IngestError) -> None:
        for outgoing in self._unacked.values():
            if not outgoing.future.done():
                outgoing.future.set_exception(error)
        self._unacked.clear()
        self._by_frame_id.clear()
        self._unacked_bytes = 0
        self._changed.set()

    # ------------------------------------------------------------------ streams

    async def _run(self) -> None:
        try:
            await self._reconnect_until_closed()
        except Exception as error:  # a bug, not a network failure: fail loudly rather than hang
            log.exception("ingest client to %s failed", self.target)
            self._fatal = IngestError(f"ingest client failed: {error!r}")
            self._fail_all(self._fatal)

    async def _reconnect_until_closed(self) -> None:
        """Open streams until the client closes: after a failure, back off, reconnect, resend."""
        failures = 0
        while not (self._closing and not self._unacked):
            code, details, answered = await self._stream_once()
            if self._closing and not self._unacked:
                return
            failures = 1 if answered else failures + 1
            final = code is not None and not retryable_stream_code(code)
            if final or self.retry.gives_up_after(failures):
                self._fatal = IngestError(f"ingest stream failed: {_name(code)} {details}")
                self._fail_all(self._fatal)
                return
            delay_s = self.retry.delay_s(failures, self._rng)
            ended = self.target
            self._target_index = (self._target_index + 1) % len(self.targets)  # the next gateway, if any
            log.warning(
                "ingest stream to %s ended (%s %s); %d frames unacknowledged, reconnecting to %s in %.2f s",
                ended,
                _name(code),
                details,
                len(self._unacked),
                self.target,
                delay_s,
            )
            await asyncio.sleep(delay_s)
            self.stats.reconnects += 1

    async def _stream_once(self) -> tuple[grpc.StatusCode | None, str, bool]:
        """One stream: resend what is unacknowledged, then new frames; return how it ended."""
        options = channel_options(self.chunk_bytes, self.keepalive_s)
        channel = open_channel(self.target, self.credentials, options)
        try:
            stub = ingest_pb2_grpc.IngestServiceStub(channel)  # type: ignore[no-untyped-call]  # generated, untyped
            call = stub.StreamFrames()
            queue: asyncio.Queue[_Outgoing | None] = asyncio.Queue()
            for outgoing in self._unacked.values():
                if not outgoing.waiting_retry:
                    queue.put_nowait(outgoing)
            self._queue = queue
            writer = asyncio.create_task(self._write(call, queue))
            try:
                return await self._read(call)
            finally:
                self._queue = None
                writer.cancel()
                await asyncio.gather(writer, return_exceptions=True)
        finally:
            await channel.close()

    async def _write(self, call: grpc.aio.StreamStreamCall, queue: asyncio.Queue[_Outgoing | None]) -> None:
        try:
            while (outgoing := await queue.get()) is not None:
                if (hold_s := self._hold_until - asyncio.get_running_loop().time()) > 0:
                    await asyncio.sleep(hold_s)  # pushed back: sending now would only be refused again
                if self._unacked.get(outgoing.key) is not outgoing:
                    continue  # answered while it waited
                self.stats.resends += int(outgoing.writes > 0)
                outgoing.writes += 1
                for chunk in chunks_of(outgoing.header, outgoing.payload, self.chunk_bytes, self.sha256):
                    await call.write(chunk)
            await call.done_writing()
        except (grpc.aio.AioRpcError, asyncio.InvalidStateError):
            call.cancel()  # the reader reports how the stream ended

    async def _read(self, call: grpc.aio.StreamStreamCall) -> tuple[grpc.StatusCode | None, str, bool]:
        answered = False
        try:
            async for ack in call:
                answered = True
                self._on_ack(ack)
        except grpc.aio.AioRpcError as error:
            return error.code(), error.details() or "", answered
        return None, "the gateway ended the stream", answered

    async def _stop(self, error: IngestError) -> None:
        if self._supervisor is not None and not self._supervisor.done():
            self._supervisor.cancel()
            await asyncio.gather(self._supervisor, return_exceptions=True)
        self._fail_all(error)


def _header_of(frame: frame_pb2.Frame) -> frame_pb2.Frame:
    header = frame_pb2.Frame()
    header.CopyFrom(frame)
    header.ClearField("payload")
    return header


def _name(code: grpc.StatusCode | None) -> str:
    return "stream ended" if code is None else code.name


class SyncVendorClient:
    """``VendorClient`` for code without an event loop: the client runs on a loop in its own thread.

    with SyncVendorClient("gateway:50051") as client:
        ack = client.send(frame).result()   # send() blocks while the window is full
    """

    def __init__(self, target: str | Sequence[str], **options: Any) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="smartcustoms-sdk", daemon=True)
        self._thread.start()
        self.client = VendorClient(target, **options)
        try:
            self._run(self.client.start())
        except BaseException:
            self._stop_loop()
            raise

    def send(
        self, frame: frame_pb2.Frame, payload: bytes | memoryview | None = None
    ) -> concurrent.futures.Future[ingest_pb2.IngestAck]:
        """Queue a frame; the returned future resolves to its final ack."""
        ack = self._run(self.client.send(frame, payload))
        return asyncio.run_coroutine_threadsafe(_result(ack), self._loop)

    def send_many(self, frames: Sequence[frame_pb2.Frame]) -> list[ingest_pb2.IngestAck]:
        """Send frames and wait for every answer, in order."""
        return [future.result() for future in [self.send(frame) for frame in frames]]

    def close(self, timeout_s: float = 30.0) -> None:
        """Wait up to ``timeout_s`` for every ack, then stop (IngestError if some frames had none)."""
        try:
            self._run(self.client.close(timeout_s))
        finally:
            self._stop_loop()

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    def _stop_loop(self) -> None:
        if self._loop.is_running():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
        self._loop.close()

    def __enter__(self) -> SyncVendorClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self._run(self.client.abort())
            self._stop_loop()


async def _result(future: asyncio.Future[T]) -> T:
    return await future
