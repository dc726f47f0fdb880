"""Drive the whole runtime: frames over gRPC to the gateway, verdicts back in Redis, timed per frame.

Per frame, ``sent_s`` is taken when the frame is admitted to the client's in-flight window, just before
its first chunk is written; ``accepted_s``, ``decided_s`` and ``stored_s`` come from the ``bench_clock``
plugin in the stream worker (gateway acceptance, verdict combined, verdict stored in Redis).
"""

from __future__ import annotations

import asyncio
import time
import urllib.error
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import redis.asyncio as aioredis
from aiokafka import AIOKafkaConsumer, TopicPartition

from smartcustoms.core.types import Modality
from smartcustoms.hardware.sdk.client import OK, IngestStream
from smartcustoms.runtime.ledger import Counts, Ledger
from smartcustoms.runtime.report import Samples, quantile_of, scrape
from smartcustoms.runtime.topics import frames_topic
from smartcustoms.v1 import frame_pb2, ingest_pb2, results_pb2

from .verdict_clock import read_clock

SETTLE_POLL_S = 0.02
CLOCK_WAIT_S = 10.0
LATENCY_HISTOGRAM = "smartcustoms_frame_latency_seconds"


@dataclass(frozen=True)
class Workload:
    """Frames of one kind, spread over ``sources`` devices, all with the same payload, or frame i with
    ``payloads[i % len(payloads)]`` when the workload has several (record batches of their own)."""

    name: str
    modality: Modality
    count: int  # frames in the throughput run
    window_frames: int  # frames in flight (unacknowledged) in the throughput run
    latency_count: int  # frames of the latency run, sent at a fixed light rate
    latency_rate: float  # frames per second of the latency run (well below the throughput)
    header: frame_pb2.Frame  # everything but frame id, source, sequence and payload
    payload: bytes
    records_per_frame: int = 1
    sources: int = 4
    payloads: tuple[bytes, ...] = ()

    @property
    def sent_payloads(self) -> tuple[bytes, ...]:
        return self.payloads or (self.payload,)

    def frames(self, run_id: str, count: int) -> list[frame_pb2.Frame]:
        frames = []
        for index in range(count):
            frame = frame_pb2.Frame()
            frame.CopyFrom(self.header)
            frame.frame_id = f"{self.name}-{run_id}-{index:06d}"
            frame.source_id = f"bench-{self.name}-{run_id}-lane{index % self.sources}"
            frame.sequence = index // self.sources + 1
            frame.capture_time.GetCurrentTime()
            frames.append(frame)
        return frames


@dataclass(frozen=True)
class FrameTimes:
    """Unix times of each frame's checkpoints, in send order."""

    sent_s: np.ndarray
    accepted_s: np.ndarray
    decided_s: np.ndarray
    stored_s: np.ndarray

    @property
    def latency_s(self) -> np.ndarray:
        """gRPC send to verdict stored: what a caller waits for a frame's verdict."""
        return self.stored_s - self.sent_s

    @property
    def ingest_s(self) -> np.ndarray:
        return self.accepted_s - self.sent_s

    @property
    def pipeline_s(self) -> np.ndarray:
        return self.decided_s - self.accepted_s

    @property
    def sink_s(self) -> np.ndarray:
        return self.stored_s - self.decided_s


@dataclass(frozen=True)
class ThroughputRun:
    times: FrameTimes
    payload_bytes: int
    histogram_p50_s: float | None  # the worker's own histogram (accepted to stored), for cross-checking
    histogram_p99_s: float | None

    @property
    def frames(self) -> int:
        return len(self.times.sent_s)

    @property
    def elapsed_s(self) -> float:
        """First frame sent to last verdict stored."""
        return float(self.times.stored_s.max() - self.times.sent_s.min())

    @property
    def frames_per_s(self) -> float:
        return self.frames / self.elapsed_s

    @property
    def megabytes_per_s(self) -> float:
        return self.frames * self.payload_bytes / self.elapsed_s / 1e6


def _check_acks(acks: Sequence[ingest_pb2.IngestAck]) -> None:
    refused = [ack for ack in acks if ack.code != OK or ack.duplicate]
    if refused:
        raise AssertionError(f"{len(refused)} frames refused, first: {refused[0]}")


async def send_windowed(
    target: str, frames: Sequence[frame_pb2.Frame], payload: bytes | Sequence[bytes], window_frames: int
) -> dict[str, float]:
    """Send every frame on one stream with at most ``window_frames`` unacknowledged; frame id -> sent_s.
    With several payloads, frame i carries ``payload[i % len(payload)]``."""
    sent_s: dict[str, float] = {}
    window = asyncio.Semaphore(window_frames)
    acks = []
    views = [memoryview(payload)] if isinstance(payload, bytes) else [memoryview(p) for p in payload]
    async with IngestStream(target, window_frames=window_frames) as stream:
        for index, frame in enumerate(frames):
            await window.acquire()  # admitted here, so the SDK's own window never holds it back
            sent_s[frame.frame_id] = time.time()
            future = await stream.send(frame, views[index % len(views)])
            future.add_done_callback(lambda _: window.release())
            acks.append(future)
        _check_acks(await asyncio.gather(*acks))
    return sent_s


async def send_at_rate(
    target: str, frames: Sequence[frame_pb2.Frame], payload: bytes, frames_per_s: float
) -> dict[str, float]:
    """Send frame i at ``i / frames_per_s`` seconds (open loop, never waiting for acks); id -> sent_s."""
    sent_s: dict[str, float] = {}
    acks = []
    view = memoryview(payload)
    loop = asyncio.get_running_loop()
    async with IngestStream(target, window_frames=max(1, len(frames))) as stream:
        started = loop.time()
        for index, frame in enumerate(frames):
            await asyncio.sleep(max(0.0, started + index / frames_per_s - loop.time()))
            sent_s[frame.frame_id] = time.time()
            acks.append(await stream.send(frame, view))
        _check_acks(await asyncio.gather(*acks))
    return sent_s


async def wait_settled(ledger: Ledger, before: Counts, frames: int, deadline_s: float) -> Counts:
    """Poll the ledger until this run's frames are all accepted and none is in flight."""
    deadline = time.monotonic() + deadline_s
    while True:
        counts = await ledger.counts()
        done = counts.verdicts + counts.fallbacks - before.verdicts - before.fallbacks
        if counts.accepted - before.accepted >= frames and done >= frames and counts.in_flight == 0:
            return counts
        if time.monotonic() > deadline:
            raise TimeoutError(f"after {deadline_s:g} s: {counts} (before the run: {before})")
        await asyncio.sleep(SETTLE_POLL_S)


async def frame_times(clock_path: str, sent_s: dict[str, float]) -> FrameTimes:
    """Join send times with the clock plugin's lines (written just after Redis saw the verdicts)."""
    deadline = time.monotonic() + CLOCK_WAIT_S
    while True:
        clock = read_clock(clock_path)
        missing = [frame_id for frame_id in sent_s if frame_id not in clock]
        if not missing:
            break
        if time.monotonic() > deadline:
            raise AssertionError(f"{len(missing)} verdicts never reached bench_clock, e.g. {missing[0]}")
        await asyncio.sleep(SETTLE_POLL_S)
    ids = list(sent_s)
    accepted, decided, stored = (np.array([clock[i][k] for i in ids]) for k in range(3))
    return FrameTimes(np.array([sent_s[i] for i in ids]), accepted, decided, stored)


def histogram_delta(before: Samples, after: Samples, name: str, **labels: str) -> list[tuple[float, float]]:
    """Cumulative bucket counts observed between two scrapes of one histogram."""

    def buckets(samples: Samples) -> dict[float, float]:
        found: dict[float, float] = {}
        for sample_labels, value in samples.get(f"{name}_bucket", []):
            if all(sample_labels.get(k) == v for k, v in labels.items()):
                bound = float(sample_labels["le"])
                found[bound] = found.get(bound, 0.0) + value
        return found

    old, new = buckets(before), buckets(after)
    return sorted((bound, count - old.get(bound, 0.0)) for bound, count in new.items())


def scrape_or_empty(url: str) -> Samples:
    try:
        return scrape(url)
    except (OSError, urllib.error.URLError):
        return {}


@dataclass(frozen=True)
class Target:
    """Where the running stack is."""

    gateway: str
    redis_url: str
    namespace: str
    worker_metrics_url: str
    clock_path: str


async def run_throughput(
    target: Target, workload: Workload, frames: Sequence[frame_pb2.Frame], deadline_s: float = 120.0
) -> ThroughputRun:
    """Send the frames with the workload's window, wait until every one has its verdict."""
    client = aioredis.Redis.from_url(target.redis_url)
    try:
        ledger = Ledger(client, target.namespace)
        before = await ledger.counts()
        metrics_before = scrape_or_empty(target.worker_metrics_url)
        sent_s = await send_windowed(target.gateway, frames, workload.sent_payloads, workload.window_frames)
        after = await wait_settled(ledger, before, len(frames), deadline_s)
        metrics_after = scrape_or_empty(target.worker_metrics_url)
    finally:
        await client.aclose()
    if after.fallbacks != before.fallbacks:
        raise AssertionError(f"{after.fallbacks - before.fallbacks} frames went to manual inspection")
    modality = workload.modality.value
    buckets = histogram_delta(metrics_before, metrics_after, LATENCY_HISTOGRAM, modality=modality)
    times = await frame_times(target.clock_path, sent_s)
    payload_bytes = round(float(np.mean([len(p) for p in workload.sent_payloads])))
    return ThroughputRun(times, payload_bytes, quantile_of(buckets, 0.5), quantile_of(buckets, 0.99))


async def run_latency(
    target: Target, workload: Workload, frames: Sequence[frame_pb2.Frame], warmup: int
) -> FrameTimes:
    """Send frames at the workload's light rate; the first ``warmup`` are sent but not kept."""
    client = aioredis.Redis.from_url(target.redis_url)
    try:
        ledger = Ledger(client, target.namespace)
        before = await ledger.counts()
        sent_s = await send_at_rate(target.gateway, frames, workload.payload, workload.latency_rate)
        await wait_settled(ledger, before, len(frames), deadline_s=60.0)
    finally:
        await client.aclose()
    kept = dict(list(sent_s.items())[warmup:])
    return await frame_times(target.clock_path, kept)


async def check_verdicts(redis_url: str, namespace: str, frame_ids: Sequence[str]) -> None:
    """Every frame has its verdict in Redis, and the no-op plugin cleared it."""
    client = aioredis.Redis.from_url(redis_url)
    try:
        ledger = Ledger(client, namespace)
        verdicts = [await ledger.verdict(frame_id) for frame_id in frame_ids]
    finally:
        await client.aclose()
    missing = sum(verdict is None for verdict in verdicts)
    not_clear = sum(v is not None and v.decision != results_pb2.DECISION_CLEAR for v in verdicts)
    if missing or not_clear:
        raise AssertionError(f"{missing} frames without a verdict, {not_clear} not cleared")


async def published_messages(
    bootstrap_servers: str,
    namespace: str,
    modality: Modality,
    partitions: int,
    frame_ids: set[str],
    deadline_s: float = 30.0,
) -> list[tuple[bytes | None, bytes]]:
    """The exact (key, value) records the gateway published for these frames, read back from the topic.

    Reads until every frame was found (never trusts end offsets: tansu misreports them).
    """
    topic = frames_topic(namespace, modality)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers, enable_auto_commit=False, max_partition_fetch_bytes=8 * 1024**2
    )
    await consumer.start()
    try:
        consumer.assign([TopicPartition(topic, p) for p in range(partitions)])
        await consumer.seek_to_beginning()
        found: dict[str, tuple[bytes | None, bytes]] = {}
        deadline = time.monotonic() + deadline_s
        while len(found) < len(frame_ids):
            if time.monotonic() > deadline:
                raise TimeoutError(f"found {len(found)} of {len(frame_ids)} published frames in {topic}")
            batches = await consumer.getmany(timeout_ms=200)
            for records in batches.values():
                for record in records:
                    frame_id = frame_pb2.Frame.FromString(record.value).frame_id
                    if frame_id in frame_ids:
                        found.setdefault(frame_id, (record.key, record.value))
    finally:
        await consumer.stop()
    return list(found.values())
