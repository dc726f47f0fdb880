"""The gRPC ingest gateway: vendors stream chunked frames in, each frame is made durable, then published.

A frame is acknowledged OK only once its payload is in the blob store (or inline in its record) and
its record is in the Redis ledger; publishing to its modality topic follows, and the reconciler
republishes anything that never reached a verdict. Frames assembled on every stream wait in one
queue; the gateway's one durability task records all that wait in one ledger call and publishes them
as one batch, in the order they came, then answers each stream. The servicer keeps the generated
PascalCase method name and hands the work to ``IngestSession``.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass

import grpc
from google.protobuf.message import DecodeError
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from redis.exceptions import RedisError

from smartcustoms.core.blobstore import BlobStore, BlobStoreError, BlobStoreFull
from smartcustoms.core.config import Config
from smartcustoms.core.sensors import Sensor
from smartcustoms.core.types import Modality
from smartcustoms.runtime.admission import Backlog
from smartcustoms.runtime.assembly import Assembled, FrameAssembler, Limits, Rejection
from smartcustoms.runtime.devices import RegistryCache
from smartcustoms.runtime.evidence import add_evidence_service, evidence_desk
from smartcustoms.runtime.ledger import AcceptOutcome, Admission, Ledger
from smartcustoms.runtime.officer_auth import grpc_gate
from smartcustoms.runtime.publisher import BrokerDown, Publisher, Turn
from smartcustoms.runtime.review import ReviewServicer, review_desk
from smartcustoms.runtime.search import SearchDesk, SearchServicer
from smartcustoms.runtime.tls import allowed_source, peer_device
from smartcustoms.v1 import frame_pb2, ingest_pb2, review_pb2, review_pb2_grpc, search_pb2, search_pb2_grpc

log = logging.getLogger(__name__)

SERVICE_NAME = ingest_pb2.DESCRIPTOR.services_by_name["IngestService"].full_name
REVIEW_SERVICE_NAME = review_pb2.DESCRIPTOR.services_by_name["ReviewService"].full_name
SEARCH_SERVICE_NAME = search_pb2.DESCRIPTOR.services_by_name["SearchService"].full_name
STORE_RETRY_S = 0.05
KEEPALIVE_S = 30  # the server pings each connection this often
RECORD_BATCH_FRAMES = 512  # at most this many frames in one ledger call and one publish
RECORD_BATCH_BYTES = 8 * 1024 * 1024  # and at most this much of their inline payloads


@dataclass(frozen=True)
class Malformed:
    """A request message that did not parse as a FrameChunk."""

    error: str


def parse_chunk(data: bytes) -> ingest_pb2.FrameChunk | Malformed:
    """Request deserializer that never fails the stream: bad bytes become a per-message answer."""
    try:
        return ingest_pb2.FrameChunk.FromString(data)
    except DecodeError as error:
        return Malformed(str(error) or "cannot parse FrameChunk")


Answer = Callable[[ingest_pb2.IngestAck], None]


@dataclass
class _Durable:
    """An assembled frame waiting to be recorded and published, and whom to answer."""

    done: Assembled
    admission: Admission | None
    answer: Answer
    ack: ingest_pb2.IngestAck  # as the vendor named the frame: the ledger may scope its id
    answered: bool = False

    def reply(self, ack: ingest_pb2.IngestAck) -> None:
        self.answered = True
        try:
            self.answer(ack)
        except Exception:  # one stream's failure must not leave the other frames of its round unanswered
            log.exception("answering frame %s failed", ack.frame_id)


class GatewayCore:
    """What every ingest stream shares: store, ledger, publisher, sensor and limits."""

    def __init__(
        self,
        config: Config,
        store: BlobStore,
        ledger: Ledger,
        publisher: Publisher,
        sensor: Sensor,
        backlog: Backlog | None = None,
        devices: RegistryCache | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.ledger = ledger
        self.publisher = publisher
        self.sensor = sensor
        gateway = config.gateway
        self.limits = Limits(gateway.max_frame_bytes, gateway.inline_max_bytes, gateway.retry_after_ms)
        self.backlog = backlog  # push-back on the frames awaiting verdicts; None: no limit
        self.devices = devices  # the registry's active devices; None: any source id is taken
        self._waiting: list[_Durable] = []  # assembled frames not yet handed to the ledger
        self._recorder: asyncio.Task[None] | None = None  # the durability task, while frames wait
        self._publishing: set[asyncio.Task[None]] = set()  # batches recorded, waiting on the broker
        self._turn = Turn.first()  # the publishing turn of the last batch recorded

    def push_back(
        self, chunk: ingest_pb2.FrameChunk, frames_open: int, bytes_open: int = 0
    ) -> tuple[str, str] | None:
        """Why a frame starting with ``chunk`` must wait (metric reason, message), or None to take it.
        ``frames_open`` and ``bytes_open``: the frames the stream has begun and not finished, and the bytes
        they declared (what they hold in the blob store so far plus what they may still send)."""
        gateway = self.config.gateway
        if frames_open >= gateway.max_open_frames_per_stream > 0:
            return "stream_limit", (
                f"this stream has {frames_open} frames begun and not finished "
                f"(limit {gateway.max_open_frames_per_stream}): finish them first"
            )
        limit = gateway.max_pending_bytes_per_stream
        if limit > 0 and bytes_open > 0 and bytes_open + chunk.total_bytes > limit:
            return "stream_limit", (
                f"this stream's unfinished frames declared {bytes_open:,} bytes; {chunk.total_bytes:,} more "
                f"would pass its limit of {limit:,}: finish the frames begun first"
            )
        if self.backlog is not None and (
            refused := self.backlog.refusal(chunk.header.source_id, chunk.total_bytes)
        ):
            reason, why = refused
            return reason, f"{why}: send it again in {gateway.retry_after_ms} ms"
        return None

    def admit(self, chunk: ingest_pb2.FrameChunk) -> Admission | None:
        """Count a frame ``push_back`` let in against the backlog from its first chunk (so a burst
        cannot slip past the limit) until the ledger's figures hold it; None when nothing is counted."""
        if self.backlog is None:
            return None
        return self.backlog.admitted(chunk.header.source_id, chunk.total_bytes)

    def make_durable_later(self, done: Assembled, admission: Admission | None, answer: Answer) -> None:
        """Record an assembled frame in the ledger, publish it, and call ``answer`` with how it went.
        ``admission``: what the backlog counts it as. Frames are recorded and published in the order
        they come here, so a stream's frames reach their partition in the order it sent them."""
        self._waiting.append(_Durable(done, admission, answer, _ack(done.frame)))
        if self._recorder is None:
            self._recorder = asyncio.create_task(self._record_waiting(), name="gateway-durability")

    async def make_durable(self, done: Assembled, admission: Admission | None = None) -> ingest_pb2.IngestAck:
        """``make_durable_later``, awaiting the answer."""
        answered: asyncio.Future[ingest_pb2.IngestAck] = asyncio.get_running_loop().create_future()

        def answer(ack: ingest_pb2.IngestAck) -> None:
            if not answered.done():
                answered.set_result(ack)

        self.make_durable_later(done, admission, answer)
        return await answered

    async def settle(self) -> None:
        """Wait until every frame handed to ``make_durable_later`` has been answered."""
        while self._recorder is not None or self._publishing:
            # asyncio.wait: a shutdown that stops waiting here cancels none of them
            await asyncio.wait([*([self._recorder] if self._recorder else []), *self._publishing])

    async def _record_waiting(self) -> None:
        """The gateway's one durability task: while frames wait, record all of them (up to
        ``RECORD_BATCH_FRAMES``) in one ledger call and hand them to the publisher in one batch. No
        frame waits for a batch to fill: a round takes what arrived during the round before."""
        try:
            while self._waiting:
                batch = self._next_batch()
                try:
                    await self._record(batch)
                except asyncio.CancelledError:
                    self._refuse_unanswered(batch, grpc.StatusCode.UNAVAILABLE, "gateway stopping")
                    raise
                except Exception as error:  # every frame is answered, whatever failed
                    log.exception("recording %d frames failed", len(batch))
                    self._refuse_unanswered(batch, grpc.StatusCode.INTERNAL, repr(error))
        finally:
            self._recorder = None
            if self._waiting:  # cancelled: the gateway is stopping, nothing recorded these
                waiting, self._waiting = self._waiting, []
                for item in waiting:
                    self._refuse(item, grpc.StatusCode.UNAVAILABLE, "gateway stopping")

    def _next_batch(self) -> list[_Durable]:
        """The frames waiting longest: at most ``RECORD_BATCH_FRAMES``, and ``RECORD_BATCH_BYTES`` of
        inline payloads (one frame whatever its size)."""
        taken, size = 0, 0
        for item in self._waiting[:RECORD_BATCH_FRAMES]:
            size += len(item.done.frame.payload)
            if taken and size > RECORD_BATCH_BYTES:
                break
            taken += 1
        batch = self._waiting[:taken]
        del self._waiting[:taken]
        return batch

    def _refuse_unanswered(self, batch: list[_Durable], code: grpc.StatusCode, message: str) -> None:
        """Answer the frames of a round that failed midway; their blobs stay, as the ledger may hold them."""
        for item in batch:
            if not item.answered:
                self._refuse(item, code, message, release=False)

    async def _record(self, batch: list[_Durable]) -> None:
        accepted_ns = time.time_ns()
        for item in batch:
            frame = item.done.frame
            frame.accepted_time.FromNanoseconds(accepted_ns)  # GetCurrentTime: through datetime, 6x slower
            frame.control_point = frame.control_point or self.config.control_point
        try:
            frames = [(item.done.frame, item.admission) for item in batch]
            answers = await self.ledger.accept_many(frames, self.config.reconciler.redeliver_after_s)
        except RedisError as error:
            for item in batch:
                self._refuse(item, grpc.StatusCode.UNAVAILABLE, f"ledger unavailable: {error}")
            return
        recorded: list[tuple[_Durable, ingest_pb2.IngestAck]] = []
        for item, (outcome, known_as) in zip(batch, answers, strict=True):
            frame, ack = item.done.frame, item.ack
            if outcome == AcceptOutcome.UNRECORDED:
                self._refuse(item, grpc.StatusCode.UNAVAILABLE, f"ledger unavailable: {known_as}")
            elif outcome == AcceptOutcome.DUPLICATE:
                self.release(frame)
                self.sensor.frame_duplicate(item.done.modality.value)
                ack.duplicate = True
                ack.runtime_frame_id = known_as
                ack.message = f"sequence {frame.sequence} of {frame.source_id} was accepted as {known_as}"
                item.reply(ack)
            elif outcome == AcceptOutcome.ID_IN_USE:
                self.release(frame)
                self.sensor.frame_rejected("bad_header")
                item.reply(
                    _with_status(
                        ack,
                        grpc.StatusCode.ALREADY_EXISTS,
                        f"frame id {known_as} is already in use by another frame of {frame.source_id}",
                    )
                )
            else:
                ack.runtime_frame_id = known_as  # the vendor's own id, unless another source had used it
                recorded.append((item, ack))
        if not recorded:
            return
        if self.publisher.known_down():  # durable already: ack now, the reconciler publishes them later
            self._answer_recorded(recorded, [BrokerDown("the broker is down")] * len(recorded))
            return
        self._turn = turn = self._turn.next()  # published after the batch before it
        task = asyncio.create_task(self._publish(recorded, turn))
        self._publishing.add(task)
        task.add_done_callback(self._publishing.discard)

    async def _publish(self, recorded: list[tuple[_Durable, ingest_pb2.IngestAck]], turn: Turn) -> None:
        try:
            errors: list[Exception | None] = await self.publisher.publish_many(
                [item.done.frame for item, _ in recorded], turn
            )
        except Exception as error:  # the frames are durable: the reconciler republishes them later
            errors = [error] * len(recorded)
        except asyncio.CancelledError:  # the gateway is stopping: durable, the reconciler publishes them
            self._answer_recorded(recorded, [BrokerDown("the gateway stopped")] * len(recorded))
            raise
        failed = [error for error in errors if error is not None]
        if failed:
            log.warning(
                "publish of %d of %d frames failed, the reconciler will retry: %r",
                len(failed),
                len(recorded),
                failed[0],
            )
        self._answer_recorded(recorded, errors)

    def _answer_recorded(
        self, recorded: list[tuple[_Durable, ingest_pb2.IngestAck]], errors: Sequence[Exception | None]
    ) -> None:
        """Acknowledge frames in the ledger: published, or left to the reconciler (``errors``)."""
        now = time.monotonic()
        for (item, ack), error in zip(recorded, errors, strict=True):
            if error is not None:
                self.sensor.publish_failed()
            frame = item.done.frame
            self.sensor.frame_accepted(
                item.done.modality.value, frame.source_id, frame.payload_bytes, now - item.done.started_s
            )
            item.reply(ack)

    def _refuse(self, item: _Durable, code: grpc.StatusCode, message: str, *, release: bool = True) -> None:
        if release:
            self.release(item.done.frame)
        self.sensor.frame_rejected("unavailable")
        item.reply(_with_status(item.ack, code, message))

    def release(self, frame: frame_pb2.Frame) -> None:
        """Give back the blob of a frame that will not be recorded."""
        if frame.HasField("blob"):
            self.store.release(frame.blob)


def _ack(frame: frame_pb2.Frame) -> ingest_pb2.IngestAck:
    return ingest_pb2.IngestAck(frame_id=frame.frame_id, source_id=frame.source_id, sequence=frame.sequence)


def _with_status(ack: ingest_pb2.IngestAck, code: grpc.StatusCode, message: str) -> ingest_pb2.IngestAck:
    ack.code = code.value[0]
    ack.message = message
    return ack


class IngestSession:
    """One vendor stream: reads chunks while there is room, answers each frame exactly once."""

    def __init__(self, core: GatewayCore, device: str | None = None) -> None:
        self.core = core
        self.device = device  # the client certificate's name under mutual TLS: its own sources only
        self.acks: asyncio.Queue[ingest_pb2.IngestAck | None] = asyncio.Queue()
        self.assembler = FrameAssembler(core.store, core.limits)
        self.window = asyncio.Semaphore(core.config.gateway.window_frames)
        self._durable = 0  # frames handed to the core to be made durable, not yet answered
        self._all_answered = asyncio.Event()
        self._all_answered.set()
        self._feeding: asyncio.Future[Assembled | Rejection | None] | None = None  # a feed in a thread
        self._open_counted = 0  # open frames counted in the in-progress gauge
        # frame id -> its admission: frames being received, counted by the backlog
        self._let_in: dict[str, Admission] = {}

    async def read(self, requests: AsyncIterator[ingest_pb2.FrameChunk | Malformed]) -> None:
        """Take chunks until the stream ends or is cancelled (client gone); either way every frame still
        open is answered DATA_LOSS and gives back the blob store bytes it held."""
        watchdog = asyncio.create_task(self._expire_late_frames())
        try:
            async for message in requests:
                await self._take(message)
        finally:
            watchdog.cancel()
            if self._feeding is not None:  # cancelled during a feed: let its thread end first
                [fed] = await asyncio.gather(self._feeding, return_exceptions=True)
                if isinstance(fed, Assembled):  # assembled for a stream that is gone
                    self.core.release(fed.frame)
            for rejection in self.assembler.abandon_all():
                self._answer_rejection(rejection)
            self._count_open()
            await self._all_answered.wait()
            for frame_id in list(self._let_in):  # gone with the stream before reaching the ledger
                self._settle(frame_id)
            self.acks.put_nowait(None)

    async def _expire_late_frames(self) -> None:
        """Refuse this stream's frames that are not complete ``gateway.frame_deadline_s`` after their
        first chunk (checked every quarter of it, at most every 5 s)."""
        deadline_s = self.core.config.gateway.frame_deadline_s
        if deadline_s <= 0:
            return
        while True:
            await asyncio.sleep(min(deadline_s / 4, 5.0))
            if self._feeding is not None:  # a chunk is being written in a thread: next time
                continue
            for rejection in self.assembler.expire(time.monotonic() - deadline_s, deadline_s):
                self._answer_rejection(rejection)
            self._count_open()

    async def _take(self, message: ingest_pb2.FrameChunk | Malformed) -> None:
        if isinstance(message, Malformed):
            self.core.sensor.frame_received("unknown")
            self._answer_rejection(
                Rejection(
                    "",
                    grpc.StatusCode.INVALID_ARGUMENT,
                    "malformed",
                    f"malformed FrameChunk: {message.error}",
                )
            )
            return
        if message.index == 0:
            self.core.sensor.frame_received(_modality_label(message.header.modality))
            refused = self.core.push_back(message, self.assembler.frames_open, self.assembler.bytes_open)
            if refused is not None:
                reason, text = refused
                retry_after_ms = self.core.config.gateway.retry_after_ms
                code = grpc.StatusCode.RESOURCE_EXHAUSTED
                self._answer_rejection(self.assembler.reject(message, code, reason, text, retry_after_ms))
                return
            source = message.header.source_id
            registry = self.core.devices
            if registry is not None and registry.owner(source) is None:
                unknown = f"source {source!r} belongs to no registered device (smartcustoms devices add)"
                code = grpc.StatusCode.PERMISSION_DENIED
                self._answer_rejection(self.assembler.reject(message, code, "forbidden", unknown))
                return
            if registry is not None and self.device is not None and self.device not in registry.active:
                revoked = f"device {self.device!r} is not registered or was revoked"
                code = grpc.StatusCode.PERMISSION_DENIED
                self._answer_rejection(self.assembler.reject(message, code, "forbidden", revoked))
                return
            if self.device is not None and not allowed_source(self.device, source):
                denied = (
                    f"device {self.device!r} may send as {self.device!r} or {self.device}-*, not {source!r}"
                )
                code = grpc.StatusCode.PERMISSION_DENIED
                self._answer_rejection(self.assembler.reject(message, code, "forbidden", denied))
                return
            # a frame of this id begun on this stream is refused by this chunk, and it with it: no new count
            if message.frame_id not in self._let_in and (admission := self.core.admit(message)) is not None:
                self._let_in[message.frame_id] = admission
        result = await self._feed(message)
        self._count_open()
        if isinstance(result, Rejection):
            self._answer_rejection(result)
        elif isinstance(result, Assembled):
            try:
                await self.window.acquire()  # flow control: no more reading until a frame is durable
            except asyncio.CancelledError:  # the stream went away: no ledger record will ever hold it
                self.core.release(result.frame)
                raise
            admission = self._let_in.pop(result.frame.frame_id, None)  # its id is free for the next frame
            self._durable += 1
            self._all_answered.clear()
            self.core.sensor.frames_in_progress(1)
            answer = functools.partial(self._answer_durable, admission)
            self.core.make_durable_later(result, admission, answer)

    async def _feed(self, chunk: ingest_pb2.FrameChunk) -> Assembled | Rejection | None:
        """Feed the assembler; only a first chunk raises BlobStoreFull (later ones refuse their frame)."""
        deadline = time.monotonic() + self.core.config.gateway.capacity_wait_s
        while True:
            try:
                if not self.core.store.blocking_io:
                    return self.assembler.feed(chunk)
                self._feeding = asyncio.ensure_future(asyncio.to_thread(self.assembler.feed, chunk))
                result = await asyncio.shield(self._feeding)  # if cancelled, ``read`` settles it
                self._feeding = None
                return result
            except BlobStoreFull as error:  # backpressure: wait for verdicts to release payloads
                if time.monotonic() > deadline:
                    return self.assembler.reject(
                        chunk, grpc.StatusCode.RESOURCE_EXHAUSTED, "store_full", f"blob store full: {error}"
                    )
                await asyncio.sleep(STORE_RETRY_S)
            except BlobStoreError as error:
                return self.assembler.reject(
                    chunk, grpc.StatusCode.UNAVAILABLE, "unavailable", f"blob store failed: {error}"
                )

    def _answer_durable(self, admission: Admission | None, ack: ingest_pb2.IngestAck) -> None:
        self.acks.put_nowait(ack)
        if admission is not None and self.core.backlog is not None:
            self.core.backlog.settled(admission, written=True)
        self.core.sensor.frames_in_progress(-1)
        self.window.release()
        self._durable -= 1
        if not self._durable:
            self._all_answered.set()

    def _answer_rejection(self, rejection: Rejection) -> None:
        self._settle(rejection.frame_id)
        self.core.sensor.frame_rejected(rejection.reason)
        self.acks.put_nowait(rejection.ack())

    def _settle(self, frame_id: str) -> None:
        """The backlog counted this frame from its first chunk: it was refused before its ledger write."""
        admission = self._let_in.pop(frame_id, None)
        if admission is not None and self.core.backlog is not None:
            self.core.backlog.settled(admission, written=False)

    def _count_open(self) -> None:
        """Bring the in-progress gauge's share of this stream to its open frames."""
        if delta := self.assembler.frames_open - self._open_counted:
            self.core.sensor.frames_in_progress(delta)
            self._open_counted += delta


def _modality_label(number: int) -> str:
    try:
        return Modality.from_proto(number).value
    except ValueError:
        return "unknown"


class IngestServicer:
    """``smartcustoms.v1.IngestService``."""

    def __init__(self, core: GatewayCore) -> None:
        self.core = core

    async def StreamFrames(
        self, requests: AsyncIterator[ingest_pb2.FrameChunk | Malformed], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[ingest_pb2.IngestAck]:
        device = peer_device(context) if self.core.config.gateway.tls_client_ca else None
        session = IngestSession(self.core, device)
        self.core.sensor.stream_opened()
        reader = asyncio.create_task(session.read(requests))
        try:
            while (ack := await session.acks.get()) is not None:
                yield ack
            await reader
        finally:
            self.core.sensor.stream_closed()
            if not reader.done():
                reader.cancel()


def _window_options(window_bytes: int) -> list[tuple[str, int]]:
    """A fixed HTTP/2 window per stream (``gateway.receive_window_bytes``), or gRPC's probing one (0)."""
    if window_bytes <= 0:
        return []
    return [("grpc.http2.bdp_probe", 0), ("grpc.http2.lookahead_bytes", window_bytes)]


def build_server(
    core: GatewayCore, health_servicer: health.aio.HealthServicer, search: SearchDesk
) -> grpc.aio.Server:
    """A grpc.aio server with IngestService, ReviewService, SearchService, health and reflection, sized
    for the chunk limit."""
    max_message = core.config.gateway.max_chunk_bytes + 64 * 1024
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", max_message),
            ("grpc.max_send_message_length", max_message),
            # A vendor host that vanished without closing its connection is noticed within about
            # KEEPALIVE_S + 10 s: its streams end and their unfinished frames give back what they held.
            ("grpc.keepalive_time_ms", KEEPALIVE_S * 1000),
            ("grpc.keepalive_timeout_ms", 10_000),
            ("grpc.http2.max_pings_without_data", 0),
            *_window_options(core.config.gateway.receive_window_bytes),
        ]
    )
    servicer = IngestServicer(core)
    handler = grpc.method_handlers_generic_handler(
        SERVICE_NAME,
        {
            "StreamFrames": grpc.stream_stream_rpc_method_handler(
                servicer.StreamFrames,
                request_deserializer=parse_chunk,
                response_serializer=ingest_pb2.IngestAck.SerializeToString,
            ),
        },
    )
    server.add_generic_rpc_handlers((handler,))
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    gate = grpc_gate(core.config, core.ledger.client)  # officers log in (runtime/officer_auth.py)
    review = ReviewServicer(review_desk(core), gate)
    review_pb2_grpc.add_ReviewServiceServicer_to_server(review, server)  # type: ignore[no-untyped-call]  # generated, untyped
    search_pb2_grpc.add_SearchServiceServicer_to_server(SearchServicer(search, gate), server)  # type: ignore[no-untyped-call]  # generated, untyped
    add_evidence_service(server, evidence_desk(core.config.redis.url, core.config.namespace), gate)
    reflection.enable_server_reflection(
        (
            SERVICE_NAME,
            REVIEW_SERVICE_NAME,
            SEARCH_SERVICE_NAME,
            health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
            reflection.SERVICE_NAME,
        ),
        server,
    )
    return server
