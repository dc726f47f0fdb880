"""The benchmark suite's own wiring, checked on every test run: a benchmark that cannot find what it
measures is skipped by ``make bench``, which is easy to miss in a long report, and a floor that did less
than it claims would flatter or shame the framework without anyone seeing it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer

from smartcustoms.core import config as config_module
from smartcustoms.core.types import Modality
from smartcustoms.runtime.services import EmbeddedBroker
from smartcustoms.runtime.stack import with_free_ports
from smartcustoms.v1 import frame_pb2

BENCHMARKS = Path(__file__).parents[1] / "benchmarks"


@pytest.fixture(autouse=True)
def benchkit_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(BENCHMARKS))


def test_every_kernel_case_names_a_plugin_that_imports() -> None:
    from benchkit.kernels import CASES, PLUGIN_PATHS, importable

    assert set(PLUGIN_PATHS) == set(CASES)
    assert {name: importable(path) for name, path in PLUGIN_PATHS.items()} == dict.fromkeys(CASES)


@pytest.mark.integration
def test_the_pipeline_floor_acks_only_frames_it_published_and_counts_every_one(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    """``benchkit.floor``: the bare server acks a frame only once it is in Kafka, whole and keyed by
    its source, and the count-only agent counts every frame sent (warm-up and timed run), and stamps
    each one when timing latency."""
    from benchkit.floor import WARMUP_FRAMES, floor_latency, floor_throughput, floor_topic
    from benchkit.framework import Workload

    config = with_free_ports(config_module.load(environ={}))
    config.namespace = f"fl{uuid.uuid4().hex[:8]}"
    config.broker.bootstrap_servers = broker.bootstrap_servers
    header = frame_pb2.Frame(
        modality=frame_pb2.MODALITY_XRAY, shape=[1, 64, 64], dtype=frame_pb2.DTYPE_UINT8, encoding="raw"
    )
    payloads = (bytes(range(256)) * 16, b"\x07" * (3 * 1024 * 1024))  # one frame in two chunks
    workload = Workload("floor-test", Modality.XRAY, 30, 8, 0, 1.0, header, payloads[0], payloads=payloads)
    run = floor_throughput(config, workload, "t1", tmp_path, deadline_s=60.0)
    assert run.frames == 30 and run.elapsed_s > 0

    messages = asyncio.run(
        read_topic(broker.bootstrap_servers, floor_topic(config, workload, "t1"), WARMUP_FRAMES + 30)
    )
    frames = [(key, frame_pb2.Frame.FromString(value)) for key, value in messages]
    expected = {f.frame_id for f in workload.frames("t1fw", WARMUP_FRAMES) + workload.frames("t1f", 30)}
    assert sorted(f.frame_id for _, f in frames) == sorted(expected)
    for key, frame in frames:
        assert key == frame.source_id.encode()
        index = int(frame.frame_id.rsplit("-", 1)[1])
        assert frame.payload == payloads[index % 2], frame.frame_id
    for source in {f.source_id for _, f in frames}:  # a source's frames stay in order on its partition
        sequences = [f.sequence for _, f in frames if f.source_id == source]
        assert sequences == sorted(sequences)

    latencies = floor_latency(config, workload, "t2", tmp_path / "latency", frames_per_s=200.0, count=20)
    assert len(latencies) == 20 and (latencies > 0).all()  # each frame's own time, sent to taken


async def read_topic(
    bootstrap: str, topic: str, count: int, deadline_s: float = 30.0
) -> list[tuple[bytes, bytes]]:
    """Every message of ``topic`` (key, value), partition by partition, once ``count`` have come."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False,
        fetch_max_bytes=64 * 1024 * 1024, max_partition_fetch_bytes=16 * 1024 * 1024,
    )  # fmt: skip
    await consumer.start()
    try:
        received: list[tuple[bytes, bytes]] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + deadline_s
        while len(received) < count and loop.time() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            for records in batches.values():
                received += [(record.key, record.value) for record in records]
        return received
    finally:
        await consumer.stop()


def test_the_publishing_floor_acks_a_frame_only_after_the_broker_and_in_the_order_sent() -> None:
    """``bare_ingest_server.publishing`` on a recording producer whose deliveries the test completes."""
    from benchkit.bare_ingest_server import publishing
    from benchkit.ingest import chunks_from

    class Producer:
        def __init__(self) -> None:
            self.sent: list[tuple[str, bytes, bytes, asyncio.Future[None]]] = []

        async def send(self, topic: str, value: bytes, key: bytes) -> asyncio.Future[None]:
            delivery: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self.sent.append((topic, value, key, delivery))
            return delivery

    frames = [frame_pb2.Frame(frame_id=f"f{i}", source_id=f"lane{i % 2}", sequence=i + 1) for i in range(3)]
    pieces = {"f0": [b"one"], "f1": [b"tw", b"o!"], "f2": [b"three"]}  # f1 in two chunks

    async def main() -> None:
        producer = Producer()
        chunks: asyncio.Queue[Any] = asyncio.Queue()
        acks: list[str] = []

        async def requests() -> AsyncIterator[Any]:
            while (chunk := await chunks.get()) is not None:
                yield chunk

        async def until(condition: Callable[[], bool]) -> None:
            for _ in range(200):
                if condition():
                    return
                await asyncio.sleep(0)
            raise AssertionError("not reached")

        handler = publishing(producer, "floor-topic")  # type: ignore[arg-type]  # a recording producer
        reader = asyncio.create_task(collect(handler(requests(), None), acks))  # type: ignore[arg-type]
        for frame in frames:
            parts = pieces[frame.frame_id]
            for chunk in chunks_from(frame, parts, sum(len(p) for p in parts)):
                chunks.put_nowait(chunk)
        await until(lambda: len(producer.sent) == 3)
        for _ in range(20):
            await asyncio.sleep(0)
        assert acks == []  # published, not yet acked by the broker
        producer.sent[1][3].set_result(None)
        for _ in range(20):
            await asyncio.sleep(0)
        assert acks == []  # f1 is durable, but f0 before it is not
        producer.sent[0][3].set_result(None)
        await until(lambda: acks == ["f0", "f1"])
        producer.sent[2][3].set_result(None)
        chunks.put_nowait(None)
        await asyncio.wait_for(reader, 5.0)
        assert acks == ["f0", "f1", "f2"]
        for (topic, value, key, _), frame in zip(producer.sent, frames, strict=True):
            published = frame_pb2.Frame.FromString(value)
            assert (topic, key, published.frame_id) == (
                "floor-topic",
                frame.source_id.encode(),
                frame.frame_id,
            )
            assert published.payload == b"".join(pieces[frame.frame_id])

    asyncio.run(main())


async def collect(answers: AsyncIterator[Any], into: list[str]) -> None:
    async for ack in answers:
        into.append(ack.frame_id)
