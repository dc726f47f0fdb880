"""The gateway's durability rounds on the real broker and Redis: frames waiting together are recorded in
one ledger call and published as one batch, in the order they came, and every frame is answered."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence
from typing import Any

import pytest
import redis.asyncio as aioredis
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaConnectionError
from prometheus_client import CollectorRegistry
from redis.exceptions import ConnectionError as RedisConnectionError

from smartcustoms.core import config as config_module
from smartcustoms.core.blobstore.memory import MemoryBlobStore
from smartcustoms.core.config import Config
from smartcustoms.core.metrics import Metrics
from smartcustoms.core.sensors import Sensor
from smartcustoms.core.types import Modality
from smartcustoms.runtime.assembly import Assembled
from smartcustoms.runtime.gateway import RECORD_BATCH_BYTES, GatewayCore
from smartcustoms.runtime.ledger import Admission, Ledger
from smartcustoms.runtime.publisher import Publisher, Turn
from smartcustoms.runtime.services import EmbeddedBroker, EmbeddedRedis
from smartcustoms.runtime.topics import frames_topic
from smartcustoms.v1 import frame_pb2, ingest_pb2

pytestmark = pytest.mark.integration

OK = 0


class CountingLedger(Ledger):
    """The real ledger, counting its ``accept_many`` calls and the frames of each."""

    calls: list[int]

    async def accept_many(
        self, frames: Sequence[tuple[frame_pb2.Frame, Admission | None]], redeliver_after_s: float
    ) -> list[tuple[int, str]]:
        self.calls.append(len(frames))
        return await super().accept_many(frames, redeliver_after_s)


def _config(broker: EmbeddedBroker, redis_service: EmbeddedRedis) -> Config:
    config = config_module.load(environ={})
    config.namespace = f"d{uuid.uuid4().hex[:10]}"
    config.broker.bootstrap_servers = broker.bootstrap_servers
    config.redis.url = redis_service.url
    return config


def _frame(source: str, sequence: int, frame_id: str | None = None) -> Assembled:
    frame = frame_pb2.Frame(
        frame_id=frame_id or f"{source}-{sequence}",
        source_id=source,
        sequence=sequence,
        modality=frame_pb2.MODALITY_RFID,
        payload=b"x" * 16,
        payload_bytes=16,
    )
    return Assembled(frame, Modality.RFID, time.monotonic())


async def _published(config: Config, count: int) -> list[tuple[str, int, int]]:
    """(source, partition, sequence) of the first ``count`` frames on the RFID topic, each partition's
    in its order."""
    consumer = AIOKafkaConsumer(
        frames_topic(config.namespace, Modality.RFID),
        bootstrap_servers=config.broker.bootstrap_servers,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    found: list[tuple[str, int, int]] = []
    try:
        deadline = time.monotonic() + 30
        while len(found) < count:
            assert time.monotonic() < deadline, f"{len(found)} of {count} frames published"
            for messages in (await consumer.getmany(timeout_ms=500)).values():
                for message in messages:
                    frame = frame_pb2.Frame.FromString(message.value)
                    found.append((frame.source_id, message.partition, frame.sequence))
    finally:
        await consumer.stop()
    return found


def test_frames_waiting_together_are_recorded_in_one_call_and_published_in_order(
    broker: EmbeddedBroker, redis_service: EmbeddedRedis
) -> None:
    config = _config(broker, redis_service)
    sources = [f"lane-{n}" for n in range(1, 5)]
    per_source = 30

    async def main() -> tuple[list[int], list[ingest_pb2.IngestAck], list[tuple[str, int, int]]]:
        client = aioredis.Redis.from_url(config.redis.url)
        publisher = Publisher(config)
        await publisher.start()
        ledger = CountingLedger(client, config.namespace)
        ledger.calls = []
        sensor = Sensor(Metrics(CollectorRegistry()))
        core = GatewayCore(config, MemoryBlobStore(), ledger, publisher, sensor)
        try:
            # the first round takes what is waiting; the rest come while it runs, in two more waves
            first = [core.make_durable(_frame(s, n)) for n in range(1, 11) for s in sources]
            waiting = [asyncio.ensure_future(one) for one in first]
            await asyncio.sleep(0)
            more = [
                asyncio.ensure_future(core.make_durable(_frame(s, n)))
                for n in range(11, per_source + 1)
                for s in sources
            ]
            acks = await asyncio.gather(*waiting, *more)
            await core.settle()
            return ledger.calls, list(acks), await _published(config, len(sources) * per_source)
        finally:
            await publisher.stop()
            await client.aclose()

    calls, acks, published = asyncio.run(main())
    assert [ack.code for ack in acks] == [OK] * len(sources) * per_source
    assert sum(calls) == len(sources) * per_source
    assert calls[0] == 40 and len(calls) < 10, calls  # batched, never one call a frame
    by_source: dict[str, list[tuple[int, int]]] = {s: [] for s in sources}
    for source, partition, sequence in published:
        by_source[source].append((partition, sequence))
    for source, seen in by_source.items():
        assert len({partition for partition, _ in seen}) == 1, source  # keyed by source
        assert [sequence for _, sequence in seen] == list(range(1, per_source + 1)), source


def test_every_frame_of_a_round_gets_its_own_answer(
    broker: EmbeddedBroker, redis_service: EmbeddedRedis
) -> None:
    """One round holding a new frame, a resend of it, an id another source took and a frame the
    ledger scopes to its source: each answered as it would be alone."""
    config = _config(broker, redis_service)

    async def main() -> tuple[list[ingest_pb2.IngestAck], int]:
        client = aioredis.Redis.from_url(config.redis.url)
        publisher = Publisher(config)
        await publisher.start()
        ledger = CountingLedger(client, config.namespace)
        ledger.calls = []
        store = MemoryBlobStore()
        core = GatewayCore(config, store, ledger, publisher, Sensor(Metrics(CollectorRegistry())))
        try:
            frames = [
                _frame("lane-1", 1, "f-1"),
                _frame("lane-1", 1, "f-1-resent"),  # the same sequence: a duplicate of f-1
                _frame("lane-1", 2, "f-1"),  # f-1's id for another frame of lane-1: refused
                _frame("lane-2", 1, "f-1"),  # lane-1 owns f-1: recorded as lane-2/f-1
            ]
            acks = await asyncio.gather(*(core.make_durable(done) for done in frames))
            await core.settle()
            published = await _published(config, 2)
            return list(acks), len(published)
        finally:
            await publisher.stop()
            await client.aclose()

    acks, published = asyncio.run(main())
    first, resent, refused, scoped = acks
    assert (first.code, first.duplicate, first.runtime_frame_id) == (OK, False, "f-1")
    assert (resent.code, resent.duplicate, resent.runtime_frame_id) == (OK, True, "f-1")
    assert refused.code == 6 and "already in use" in refused.message  # ALREADY_EXISTS
    assert (scoped.code, scoped.frame_id, scoped.runtime_frame_id) == (OK, "f-1", "lane-2/f-1")
    assert published == 2


def test_a_round_the_ledger_cannot_take_is_refused_frame_by_frame(broker: EmbeddedBroker) -> None:
    """Redis gone: every frame waiting is answered UNAVAILABLE and gives its blob back."""
    config = config_module.load(environ={})
    config.namespace = f"d{uuid.uuid4().hex[:10]}"
    config.broker.bootstrap_servers = broker.bootstrap_servers

    async def main() -> tuple[list[ingest_pb2.IngestAck], int]:
        client = aioredis.Redis(port=1, socket_connect_timeout=0.5)  # nothing listens on port 1
        store = MemoryBlobStore()
        ledger = Ledger(client, config.namespace)
        core = GatewayCore(config, store, ledger, Publisher(config), Sensor(Metrics(CollectorRegistry())))
        frames = []
        for n in range(1, 4):
            done = _frame("lane-1", n)
            with store.open_writer(f"blob-{n}", 16) as writer:
                writer.write(done.frame.payload)
                blob = writer.commit()
            done.frame.ClearField("payload")
            done.frame.blob.CopyFrom(blob)
            frames.append(done)
        try:
            acks = await asyncio.gather(*(core.make_durable(done) for done in frames))
            return list(acks), sum(store.exists(done.frame.blob) for done in frames)
        finally:
            await client.aclose()

    acks, blobs_left = asyncio.run(main())
    assert [ack.code for ack in acks] == [14] * 3  # UNAVAILABLE
    assert all(ack.message.startswith("ledger unavailable") for ack in acks)
    assert blobs_left == 0


def test_a_round_holds_at_most_its_bytes_of_inline_payloads(
    broker: EmbeddedBroker, redis_service: EmbeddedRedis
) -> None:
    config = _config(broker, redis_service)
    payload = 200 * 1024

    async def main() -> tuple[list[int], list[ingest_pb2.IngestAck]]:
        client = aioredis.Redis.from_url(config.redis.url)
        publisher = Publisher(config)
        await publisher.start()
        ledger = CountingLedger(client, config.namespace)
        ledger.calls = []
        core = GatewayCore(config, MemoryBlobStore(), ledger, publisher, Sensor(Metrics(CollectorRegistry())))
        frames = []
        for n in range(1, 101):
            done = _frame("lane-1", n)
            done.frame.payload = bytes(payload)
            done.frame.payload_bytes = payload
            frames.append(done)
        try:
            acks = await asyncio.gather(*(core.make_durable(done) for done in frames))
            await core.settle()
            return ledger.calls, list(acks)
        finally:
            await publisher.stop()
            await client.aclose()

    calls, acks = asyncio.run(main())
    assert [ack.code for ack in acks] == [OK] * 100
    assert sum(calls) == 100
    assert calls[0] == RECORD_BATCH_BYTES // payload and max(calls) <= RECORD_BATCH_BYTES // payload, calls


class SecondCallFails(Ledger):
    """The real ledger whose second script call of a batch (scoping ids) fails as a dropped connection
    would."""

    async def _accept_as(
        self, frames: Sequence[tuple[frame_pb2.Frame, Admission | None]], redeliver_after_s: float
    ) -> list[tuple[int, str]]:
        if self.fail_next_scoping and any("/" in frame.frame_id for frame, _ in frames):
            self.fail_next_scoping = False
            raise RedisConnectionError("connection dropped")
        return await super()._accept_as(frames, redeliver_after_s)

    fail_next_scoping = True


def test_a_frame_the_ledger_recorded_keeps_its_blob_when_scoping_another_fails(
    broker: EmbeddedBroker, redis_service: EmbeddedRedis
) -> None:
    """A round records one frame, then fails on the second call that scopes another's id: the recorded
    frame is answered OK with its blob kept, the other UNAVAILABLE under the id its vendor gave it."""
    config = _config(broker, redis_service)

    async def main() -> tuple[list[ingest_pb2.IngestAck], list[bool], list[str]]:
        client = aioredis.Redis.from_url(config.redis.url)
        publisher = Publisher(config)
        await publisher.start()
        store = MemoryBlobStore()
        ledger = SecondCallFails(client, config.namespace)
        core = GatewayCore(config, store, ledger, publisher, Sensor(Metrics(CollectorRegistry())))
        try:
            await ledger.accept(_frame("lane-1", 1, "shared").frame, 30)  # lane-1 owns "shared"
            frames = [_frame("lane-1", 7, "a-7"), _frame("lane-2", 1, "shared")]
            for n, done in enumerate(frames):
                with store.open_writer(f"blob-{n}", 16) as writer:
                    writer.write(done.frame.payload)
                    done.frame.blob.CopyFrom(writer.commit())
                done.frame.ClearField("payload")
            acks = await asyncio.gather(*(core.make_durable(done) for done in frames))
            await core.settle()
            in_flight = sorted((await ledger.in_flight_figures()).by_source)
            return list(acks), [store.exists(done.frame.blob) for done in frames], in_flight
        finally:
            await publisher.stop()
            await client.aclose()

    (recorded, refused), blobs, in_flight = asyncio.run(main())
    assert (recorded.code, recorded.runtime_frame_id) == (OK, "a-7")
    assert (refused.code, refused.frame_id) == (14, "shared")  # UNAVAILABLE, under the vendor's id
    assert "connection dropped" in refused.message
    assert blobs == [True, False]
    assert in_flight == ["lane-1"]  # "shared" of lane-1 and a-7; nothing of lane-2


class HandOverFails:
    """The real producer, refusing one message at hand-over once, as a producer closed under a publish
    would."""

    def __init__(self, real: Any, refused: bytes) -> None:
        self.real = real
        self.refused: bytes | None = refused

    async def send(self, topic: str, value: bytes, key: bytes | None = None) -> Any:
        if value == self.refused:
            self.refused = None
            raise KafkaConnectionError("producer closed")
        return await self.real.send(topic, value, key=key)

    async def stop(self) -> None:
        await self.real.stop()


def test_a_batch_refused_at_hand_over_keeps_its_place_before_the_next(broker: EmbeddedBroker) -> None:
    """The first batch's second frame is refused by the producer: it and the frame after it go again on a
    fresh producer before the next batch is handed over, so the source's frames stay in order."""
    config = config_module.load(environ={})
    config.namespace = f"d{uuid.uuid4().hex[:10]}"
    config.broker.bootstrap_servers = broker.bootstrap_servers
    first = [_frame("lane-1", n).frame for n in (1, 2, 3)]
    second = [_frame("lane-1", n).frame for n in (4, 5)]

    async def main() -> tuple[list[Exception | None], list[tuple[str, int, int]]]:
        publisher = Publisher(config)
        await publisher.start()
        try:
            publisher.producer = HandOverFails(publisher.producer, first[1].SerializeToString())  # type: ignore[assignment]
            turn = Turn.first().next()
            batches = [publisher.publish_many(first, turn), publisher.publish_many(second, turn.next())]
            errors = [error for one in await asyncio.gather(*batches) for error in one]
            return errors, await _published(config, 5)
        finally:
            await publisher.stop()

    errors, published = asyncio.run(main())
    assert errors == [None] * 5
    assert [sequence for _, _, sequence in published] == [1, 2, 3, 4, 5]
