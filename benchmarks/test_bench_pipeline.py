"""Frames per second and latency from gRPC ingest to verdict with the no-op plugin, against two floors.

Each benchmark sends one workload through the running stack twice: at a light fixed rate (latency) and
as fast as its window allows (throughput, the one round pytest-benchmark times). Then it moves the exact
Kafka messages the throughput run produced through bare aiokafka and through a count-only Faust agent on
the same broker, and reports the framework's rate as a ratio of theirs. Frames sent inline also go
through the floor of the pipeline's shape (``benchkit/floor.py``): gRPC ingest acked after a Kafka
publish, consumed by a count-only Faust agent. See README.md for every number.
Nothing here asserts a time: only that every frame got its (clear) verdict.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from benchkit.baselines import bare_kafka, faust_count, repeated
from benchkit.floor import FloorRun, floor_throughput
from benchkit.framework import (
    Target,
    Workload,
    check_verdicts,
    published_messages,
    run_latency,
    run_throughput,
)
from benchkit.machine import describe
from benchkit.summary import figures
from google.protobuf.timestamp_pb2 import Timestamp

from smartcustoms.core.config import Config
from smartcustoms.core.types import Modality
from smartcustoms.runtime.stack import Stack
from smartcustoms.v1 import frame_pb2

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# name -> X-ray shape [channels, height, width] of uint8; throughput run: frames, frames in flight;
# latency run: frames, frames per second (about a tenth to a quarter of the throughput measured here)
XRAY_WORKLOADS = {
    "xray-4KiB": ((1, 64, 64), 2000, 64, 100, 50.0),
    "xray-4MiB": ((1, 2048, 2048), 200, 8, 20, 5.0),
    "xray-64MiB": ((1, 8192, 8192), 24, 4, 6, 1.0),
}
RFID_READS_PER_FRAME = 1000
RFID_FRAMES = 1000
RFID_LATENCY = (50, 25.0)
LATENCY_WARMUP_FRAMES = 3  # sent first in the latency run, not counted


def xray_workload(name: str) -> Workload:
    shape, count, window, latency_count, latency_rate = XRAY_WORKLOADS[name]
    pixels = np.random.default_rng(0).integers(0, 256, size=shape, dtype=np.uint8)
    header = frame_pb2.Frame(
        modality=frame_pb2.MODALITY_XRAY, shape=list(shape), dtype=frame_pb2.DTYPE_UINT8, encoding="raw"
    )
    payload = pixels.tobytes()
    return Workload(name, Modality.XRAY, count, window, latency_count, latency_rate, header, payload)


def rfid_workload() -> Workload:
    """Reader reports of 1,000 tag reads each: small records travel in batches, one frame per report."""
    seen = Timestamp()
    seen.GetCurrentTime()
    batch = frame_pb2.RfidReadBatch(reader_id="bench-reader", zone="bench-zone")
    for index in range(RFID_READS_PER_FRAME):
        batch.reads.add(
            epc_hex=f"3034{index:020X}",
            antenna_id=index % 4 + 1,
            rssi_dbm=-55 - index % 20,
            first_seen=seen,
            last_seen=seen,
            seen_count=1 + index % 3,
        )
    header = frame_pb2.Frame(modality=frame_pb2.MODALITY_RFID, encoding="protobuf")
    name = f"rfid-{RFID_READS_PER_FRAME}r"
    payload = batch.SerializeToString()
    return Workload(
        name, Modality.RFID, RFID_FRAMES, 64, *RFID_LATENCY, header, payload, RFID_READS_PER_FRAME
    )


def measure(
    benchmark: Any,
    workload: Workload,
    stack: Stack,
    config: Config,
    clock_path: str,
    work_dir: Path,
    summary: list[dict[str, Any]],
) -> dict[str, Any]:
    """Latency at a light rate, then throughput (the benchmark's one round), then the baselines."""
    target = Target(
        stack.gateway_target, config.redis.url, config.namespace, stack.metrics_urls[1], clock_path
    )
    run_id = uuid.uuid4().hex[:6]
    light = workload.frames(f"{run_id}l", LATENCY_WARMUP_FRAMES + workload.latency_count)
    latency = asyncio.run(run_latency(target, workload, light, LATENCY_WARMUP_FRAMES))

    frames = workload.frames(run_id, workload.count)
    throughput = benchmark.pedantic(
        lambda: asyncio.run(run_throughput(target, workload, frames)), rounds=1, iterations=1
    )
    frame_ids = [frame.frame_id for frame in [*light, *frames]]
    asyncio.run(check_verdicts(config.redis.url, config.namespace, frame_ids))

    bootstrap, partitions = config.broker.bootstrap_servers, config.broker.partitions
    published = asyncio.run(
        published_messages(
            bootstrap, config.namespace, workload.modality, partitions, {f.frame_id for f in frames}
        )
    )
    messages = repeated(published)
    baseline_topic = f"{config.namespace}.baseline.{workload.name}.{run_id}"
    bare = asyncio.run(bare_kafka(bootstrap, baseline_topic, partitions, messages))
    faust = faust_count(config, baseline_topic, len(messages), work_dir / "faust-counter")
    floor: FloorRun | None = None
    if max(len(payload) for payload in workload.sent_payloads) <= config.gateway.inline_max_bytes:
        floor = floor_throughput(config, workload, run_id, work_dir / "floor")

    message_bytes = int(np.mean([len(value) for _, value in published]))
    numbers = figures(workload, throughput, latency, bare, faust, message_bytes, floor)
    benchmark.extra_info.update(numbers)
    benchmark.extra_info["machine"] = describe()
    summary.append(numbers)
    print(numbers)
    return numbers


@pytest.mark.parametrize("name", list(XRAY_WORKLOADS))
def test_xray_frames(
    benchmark: Any,
    name: str,
    bench_stack: Stack,
    bench_config: Config,
    clock_path: str,
    tmp_path: Path,
    bench_summary: list[dict[str, Any]],
) -> None:
    """X-ray frames of 4 KiB (inline in Kafka) and 4 MiB / 64 MiB (claim check in shared memory)."""
    workload = xray_workload(name)
    numbers = measure(benchmark, workload, bench_stack, bench_config, clock_path, tmp_path, bench_summary)
    assert numbers["frames"] == workload.count


def test_rfid_records(
    benchmark: Any,
    bench_stack: Stack,
    bench_config: Config,
    clock_path: str,
    tmp_path: Path,
    bench_summary: list[dict[str, Any]],
) -> None:
    """Small records batched 1,000 to a frame; records/s = frames/s x 1,000."""
    workload = rfid_workload()
    numbers = measure(benchmark, workload, bench_stack, bench_config, clock_path, tmp_path, bench_summary)
    assert numbers["frames"] == workload.count
