"""The floor of the pipeline's path: frames over gRPC, acked once durable in Kafka, taken by Faust.

What the framework's path, as it is built, costs on this machine before the framework does anything:
the same client (the vendor SDK) sends the same frames to the bare ingest server in its publishing
mode (``bare_ingest_server.py``: chunks joined, one ``acks=1`` publish per frame keyed by its source,
ack after the broker's), and a count-only Faust agent (``faust_counter.py``, set up as the stream
worker's app: the worker's batch size, window and fetch wait) consumes the topic while it fills. No
ledger, no blob store, no checks, no plugin, no verdict, no sink. The agent counts a warm-up first, so
it owns its partitions before anything is timed. Only for frames sent inline.

- ``floor_throughput``: the workload's window; first frame sent to last frame counted (as the
  framework's throughput is timed), and the steady rate between 10 % and 90 % of the frames counted (as
  the count-only agent's rate is);
- ``floor_latency``: open loop at a fixed rate, each frame from sent to its batch reaching the agent
  (the framework's sent -> batch taken, before its Ray call and sink); the first 3 frames of the stream
  are left out, as the framework's latency run leaves them out.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from smartcustoms.core.config import Config
from smartcustoms.runtime.topics import ensure_topics
from smartcustoms.v1 import frame_pb2

from .baselines import FaustCount, FaustCounter, steady_rate
from .framework import Workload, send_at_rate, send_windowed
from .ingest import BareIngestServer

T = TypeVar("T")
WARMUP_FRAMES = 64  # counted before anything is timed
LATENCY_WARMUP_FRAMES = 3  # the first frames of the open-loop stream, not kept


@dataclass(frozen=True)
class FloorRun:
    frames: int
    elapsed_s: float  # first frame sent to last frame counted
    steady_per_s: float  # frames per second between 10 % and 90 % of them counted

    @property
    def frames_per_s(self) -> float:
        return self.frames / self.elapsed_s


def floor_topic(config: Config, workload: Workload, run_id: str) -> str:
    return f"{config.namespace}.floor.{workload.name}.{run_id}"


def _through_floor(
    config: Config,
    workload: Workload,
    run_id: str,
    work_dir: Path,
    count: int,
    send: Callable[[str, list[frame_pb2.Frame]], Awaitable[dict[str, float]]],
    deadline_s: float,
) -> tuple[dict[str, float], FaustCount]:
    """Warm up, then ``send(target, frames)`` ``count`` frames; every frame must be counted once."""
    bootstrap = config.broker.bootstrap_servers
    topic = floor_topic(config, workload, run_id)
    asyncio.run(ensure_topics(bootstrap, [topic], config.broker.partitions))
    warmup = workload.frames(f"{run_id}fw", WARMUP_FRAMES)
    frames = workload.frames(f"{run_id}f", count)
    expected = len(warmup) + len(frames)
    payloads, window = workload.sent_payloads, workload.window_frames
    with (
        BareIngestServer(work_dir, config.gateway.max_chunk_bytes, (bootstrap, topic)) as server,
        FaustCounter(
            config,
            topic,
            expected,
            work_dir / "floor-counter",
            ready_count=len(warmup),
            stamp_frames=True,
            worker_fetch_wait=True,
        ) as counter,
    ):
        _before_deadline(server, send_windowed(server.target, warmup, payloads, window), deadline_s)
        counter.wait_ready(deadline_s)
        sent_s = _before_deadline(server, send(server.target, frames), deadline_s)
        counted = counter.wait_counted(deadline_s)
    if counted.messages != expected or len(counted.stamps) != expected:
        raise AssertionError(
            f"the floor's agent counted {counted.messages} messages, {len(counted.stamps)} frame ids, "
            f"for {expected} frames"
        )
    return sent_s, counted


def _before_deadline(server: BareIngestServer, sending: Coroutine[Any, Any, T], deadline_s: float) -> T:
    """Run ``sending``; past the deadline the server is stopped, which ends its stream and with it
    every wait for an ack (cancelling the send would not: the SDK's stream waits for its acks)."""
    expired: list[bool] = []

    def expire() -> None:
        expired.append(True)
        server.process.stop(timeout_s=1.0)

    watchdog = threading.Timer(deadline_s, expire)
    watchdog.start()
    try:
        result = asyncio.run(sending)
    except Exception as error:
        if expired:
            raise TimeoutError(f"the floor's frames were not all acked within {deadline_s} s") from error
        raise
    finally:
        watchdog.cancel()
        watchdog.join()  # it may have fired as the send ended
    if expired:
        raise TimeoutError(f"the floor's server was stopped at its {deadline_s} s deadline")
    return result


def floor_throughput(
    config: Config, workload: Workload, run_id: str, work_dir: Path, deadline_s: float = 90.0
) -> FloorRun:
    """The workload's throughput run through the floor: its frames, its window."""

    async def send(target: str, frames: list[frame_pb2.Frame]) -> dict[str, float]:
        return await send_windowed(target, frames, workload.sent_payloads, workload.window_frames)

    sent_s, counted = _through_floor(config, workload, run_id, work_dir, workload.count, send, deadline_s)
    came = sorted(counted.stamps[i] for i in sent_s)
    # one point per batch, the count after it, as the count-only agent's timeline has
    timeline = [(when, n) for n, when in enumerate(came, start=1) if n == len(came) or came[n] != when]
    steady = steady_rate(timeline, len(came))
    return FloorRun(len(sent_s), came[-1] - min(sent_s.values()), steady)


def floor_latency(
    config: Config,
    workload: Workload,
    run_id: str,
    work_dir: Path,
    frames_per_s: float,
    count: int,
    deadline_s: float = 90.0,
) -> np.ndarray:
    """Seconds from sent to taken by the agent, per frame, ``count`` frames open loop at ``frames_per_s``."""

    async def send(target: str, frames: list[frame_pb2.Frame]) -> dict[str, float]:
        return await send_at_rate(target, frames, workload.payload, frames_per_s)

    total = LATENCY_WARMUP_FRAMES + count
    sent_s, counted = _through_floor(config, workload, run_id, work_dir, total, send, deadline_s)
    kept = list(sent_s.items())[LATENCY_WARMUP_FRAMES:]  # in the order sent
    return np.array([counted.stamps[i] - sent for i, sent in kept])
