"""The floor of the pipeline's shape: frames over gRPC, acked once durable in Kafka, counted by Faust.

What any design with the framework's path costs on this machine before it does anything of its own:
the same client (the vendor SDK, the workload's window) sends the same frames to the bare ingest
server in its publishing mode (``bare_ingest_server.py``: chunks joined, one ``acks=1`` publish per
frame keyed by its source, ack after the broker's), and a count-only Faust agent (``faust_counter.py``,
set up as the stream worker's app) consumes the topic while it fills. No ledger, no blob store, no
checks, no plugin, no verdict, no sink. Rate: frames from the first one sent to the last one counted,
once the agent has counted a warm-up and so owns its partitions. Only for frames sent inline.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from smartcustoms.core.config import Config
from smartcustoms.runtime.topics import ensure_topics

from .baselines import FaustCounter
from .framework import Workload, send_windowed
from .ingest import BareIngestServer

WARMUP_FRAMES = 64


@dataclass(frozen=True)
class FloorRun:
    frames: int
    elapsed_s: float

    @property
    def frames_per_s(self) -> float:
        return self.frames / self.elapsed_s


def floor_pipeline(
    config: Config, workload: Workload, run_id: str, work_dir: Path, deadline_s: float = 90.0
) -> FloorRun:
    """Warm up, then time the workload's throughput run through the floor; every frame must be counted."""
    bootstrap = config.broker.bootstrap_servers
    topic = f"{config.namespace}.floor.{workload.name}.{run_id}"
    asyncio.run(ensure_topics(bootstrap, [topic], config.broker.partitions))
    warmup = workload.frames(f"{run_id}fw", WARMUP_FRAMES)
    frames = workload.frames(f"{run_id}f", workload.count)
    expected = len(warmup) + len(frames)
    payloads, window = workload.sent_payloads, workload.window_frames
    with (
        BareIngestServer(work_dir, config.gateway.max_chunk_bytes, (bootstrap, topic)) as server,
        FaustCounter(config, topic, expected, work_dir / "floor-counter", ready_count=len(warmup)) as counter,
    ):
        asyncio.run(send_windowed(server.target, warmup, payloads, window))
        counter.wait_ready(deadline_s)
        sent_s = asyncio.run(send_windowed(server.target, frames, payloads, window))
        counted = counter.wait_counted(deadline_s)
    if counted.messages != expected:
        raise AssertionError(f"the floor's agent counted {counted.messages} of {expected} frames")
    return FloorRun(len(frames), counted.counted[-1][0] - min(sent_s.values()))
