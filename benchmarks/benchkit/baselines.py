"""The floors the framework is compared with, on the same broker and the same messages.

- bare aiokafka: produce the messages to a fresh topic, then consume them back (no framework at all);
- a Faust agent that only counts: the same topic, consumed the way the stream worker consumes
  (``stream.take`` with the worker's batch size and window), in a subprocess of its own.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from smartcustoms.core.config import Config
from smartcustoms.runtime.process import ManagedProcess, free_port
from smartcustoms.runtime.topics import ensure_topics

COUNTER_SCRIPT = Path(__file__).with_name("faust_counter.py")
MIN_BASELINE_MESSAGES = 20_000
MAX_BASELINE_BYTES = 300 * 1024 * 1024  # tansu keeps everything in memory, for the whole session
PRODUCER_BATCH_BYTES = 1024 * 1024
Message = tuple[bytes | None, bytes]


def repeated(messages: Sequence[Message]) -> list[Message]:
    """The messages, cycled to 20,000 (rates need more than a dozen), or to 300 MiB if less."""
    mean_bytes = sum(len(value) for _, value in messages) / len(messages)
    total = max(len(messages), min(MIN_BASELINE_MESSAGES, int(MAX_BASELINE_BYTES / mean_bytes)))
    return list(itertools.islice(itertools.cycle(messages), total))


Timeline = Sequence[tuple[float, int]]  # (time, messages received so far), after each fetch or batch
STEADY_FROM, STEADY_TO = 0.1, 0.9


def steady_rate(timeline: Timeline, total: int) -> float:
    """Messages per second between 10 % and 90 % of the total received.

    Leaves out the start (first fetch, offset lookups) and the tail, where a fetch that includes an
    already drained partition can wait out the broker's long poll (tansu holds an empty fetch for about
    half its max wait, and aiokafka sends no other fetch to that broker meanwhile).
    """
    start = next(point for point in timeline if point[1] >= STEADY_FROM * total)
    end = next(point for point in timeline if point[1] >= STEADY_TO * total)
    if end[0] <= start[0]:  # one fetch brought both marks: only the whole span can tell
        return span_rate(timeline)
    return (end[1] - start[1]) / (end[0] - start[0])


def span_rate(timeline: Timeline) -> float:
    """Messages per second from the first point of the timeline to the last (first point's left out)."""
    (first_s, first_count), (last_s, last_count) = timeline[0], timeline[-1]
    return (last_count - first_count) / (last_s - first_s) if last_s > first_s else float("nan")


@dataclass(frozen=True)
class BareRun:
    messages: int
    produce_s: float  # first send to the last acknowledged by the broker
    consumed: Timeline

    @property
    def produce_per_s(self) -> float:
        return self.messages / self.produce_s

    @property
    def consume_per_s(self) -> float:
        return steady_rate(self.consumed, self.messages)

    @property
    def consume_span_per_s(self) -> float:
        return span_rate(self.consumed)

    @property
    def loop_per_s(self) -> float:
        """Messages per second through the broker and back: one produce plus one consume each."""
        return 1 / (1 / self.produce_per_s + 1 / self.consume_per_s)


async def bare_kafka(
    bootstrap_servers: str, topic: str, partitions: int, messages: Sequence[Message], deadline_s: float = 60.0
) -> BareRun:
    """Produce everything to a fresh topic (batches up to 1 MiB, acks=1), then read everything back."""
    await ensure_topics(bootstrap_servers, [topic], partitions)
    largest = max(len(value) for _, value in messages)
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        acks=1,
        linger_ms=5,
        max_batch_size=PRODUCER_BATCH_BYTES,
        max_request_size=largest + PRODUCER_BATCH_BYTES,
    )
    await producer.start()
    try:
        started = time.perf_counter()
        sent = [await producer.send(topic, value, key=key) for key, value in messages]
        await asyncio.gather(*sent)
        produce_s = time.perf_counter() - started
    finally:
        await producer.stop()
    consumed = await _consume_all(bootstrap_servers, topic, partitions, len(messages), largest, deadline_s)
    return BareRun(len(messages), produce_s, consumed)


async def _consume_all(
    bootstrap_servers: str, topic: str, partitions: int, expected: int, largest: int, deadline_s: float
) -> Timeline:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers,
        enable_auto_commit=False,
        max_partition_fetch_bytes=max(1024 * 1024, largest + 64 * 1024),
    )
    await consumer.start()
    try:
        consumer.assign([TopicPartition(topic, p) for p in range(partitions)])
        await consumer.seek_to_beginning()
        started = time.perf_counter()
        received, timeline = 0, [(started, 0)]
        while received < expected:
            if time.perf_counter() - started > deadline_s:
                raise TimeoutError(f"consumed {received} of {expected} messages from {topic}")
            batches = await consumer.getmany(timeout_ms=200, max_records=10_000)
            if batches:
                received += sum(len(records) for records in batches.values())
                timeline.append((time.perf_counter(), received))
        return timeline
    finally:
        await consumer.stop()


@dataclass(frozen=True)
class FaustCount:
    messages: int
    counted: Timeline
    stamps: dict[str, float] = field(default_factory=dict)  # frame id -> when its batch came

    @property
    def per_s(self) -> float:
        return steady_rate(self.counted, self.messages)

    @property
    def span_per_s(self) -> float:
        return span_rate(self.counted)


class FaustCounter:
    """``faust_counter.py`` in a subprocess on ``topic``, stopped with a deadline (SIGTERM, then SIGKILL).

    With ``ready_count`` it reports (``wait_ready``) once that many messages are counted; with
    ``stamp_frames`` the messages are ``Frame``s and the count holds when each frame id came; with
    ``worker_fetch_wait`` its consumer waits per fetch as the stream worker's does (Faust's 1.5 s if not)."""

    def __init__(
        self,
        config: Config,
        topic: str,
        expected: int,
        work_dir: Path,
        ready_count: int | None = None,
        stamp_frames: bool = False,
        worker_fetch_wait: bool = False,
    ) -> None:
        work_dir.mkdir(parents=True, exist_ok=True)
        self.result_path = work_dir / "result.json"
        self.ready_path = work_dir / "ready.json"
        broker = config.broker
        argv = [
            sys.executable, str(COUNTER_SCRIPT),
            "--bootstrap", broker.bootstrap_servers,
            "--topic", topic,
            "--expected", str(expected),
            "--result", str(self.result_path),
            "--app-id", f"{topic}-counter",
            "--datadir", str(work_dir / "faust"),
            "--partitions", str(broker.partitions),
            "--session-timeout-s", str(broker.session_timeout_s),
            "--heartbeat-s", str(broker.heartbeat_interval_s),
            "--max-message-bytes", str(broker.max_message_bytes),
            "--batch-max", str(config.worker.batch_max_frames),
            "--batch-window-ms", str(config.worker.batch_window_ms),
            "--web-port", str(free_port()),
        ]  # fmt: skip
        if ready_count is not None:
            argv += ["--ready", str(self.ready_path), "--ready-count", str(ready_count)]
        if stamp_frames:
            argv.append("--stamp-frames")
        if worker_fetch_wait:
            argv += ["--fetch-max-wait-ms", str(broker.fetch_max_wait_ms)]
        self.process = ManagedProcess(
            "faust-counter", argv, log_path=work_dir / "counter.log", stop_timeout_s=10.0
        )

    def __enter__(self) -> FaustCounter:
        self.process.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.process.stop()

    def wait_ready(self, deadline_s: float) -> None:
        self.process.wait_ready(self.ready_path.exists, deadline_s)  # written by an atomic rename

    def wait_counted(self, deadline_s: float) -> FaustCount:
        self.process.wait_ready(self.result_path.exists, deadline_s)
        result = json.loads(self.result_path.read_text())
        return FaustCount(result["count"], [tuple(point) for point in result["timeline"]], result["stamps"])


def faust_count(
    config: Config, topic: str, expected: int, work_dir: Path, deadline_s: float = 90.0
) -> FaustCount:
    """Start a count-only Faust worker on a pre-filled topic, wait for its count, stop it (deadline)."""
    with FaustCounter(config, topic, expected, work_dir) as counter:
        return counter.wait_counted(deadline_s)
