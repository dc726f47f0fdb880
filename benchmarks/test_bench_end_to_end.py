"""End to end at half the maximum throughput: the issue's latency goal for small frames.

On the session's stack (no-op plugin, see conftest.py) it first measures the maximum throughput of 4 KiB
X-ray frames (1,000 frames, 64 in flight: the round pytest-benchmark times), then sends frames open loop
at half that rate for about 4 seconds and reports p50 / p99 from gRPC send to verdict stored in Redis
(goal: p99 under 50 ms). Then the same frames at the same rate go through the floor of the path
(``benchkit/floor.py``: a gRPC server that acks each frame once published, a count-only Faust agent with
the worker's batch size and window): ``floor_latency_*`` is sent -> batch taken by that agent, what the
path costs a frame before any Ray call or verdict store. The throughput floors are in
test_bench_pipeline.py. Nothing asserts a time: every frame must get its CLEAR verdict.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from benchkit.checkpoints import ms, record
from benchkit.floor import LATENCY_WARMUP_FRAMES as WARMUP_FRAMES  # the floor leaves out as many
from benchkit.floor import floor_latency
from benchkit.framework import Target, Workload, check_verdicts, run_latency, run_throughput

from smartcustoms.core.config import Config
from smartcustoms.core.types import Modality
from smartcustoms.runtime.stack import Stack
from smartcustoms.v1 import frame_pb2

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SHAPE = (1, 64, 64)
MAX_FRAMES, WINDOW_FRAMES = 1000, 64
HALF_RATE_SECONDS = 4.0


def small_xray_workload() -> Workload:
    pixels = np.random.default_rng(0).integers(0, 256, size=SHAPE, dtype=np.uint8)
    header = frame_pb2.Frame(
        modality=frame_pb2.MODALITY_XRAY, shape=list(SHAPE), dtype=frame_pb2.DTYPE_UINT8, encoding="raw"
    )
    return Workload("e2e-4KiB", Modality.XRAY, MAX_FRAMES, WINDOW_FRAMES, 0, 1.0, header, pixels.tobytes())


def test_small_frames_at_half_max_throughput(
    benchmark: Any,
    bench_stack: Stack,
    bench_config: Config,
    clock_path: str,
    tmp_path: Path,
    checkpoint_summary: list[dict[str, Any]],
) -> None:
    config = bench_config
    target = Target(
        bench_stack.gateway_target,
        config.redis.url,
        config.namespace,
        bench_stack.metrics_urls[1],
        clock_path,
    )
    workload = small_xray_workload()
    run_id = uuid.uuid4().hex[:6]
    frames = workload.frames(run_id, workload.count)
    maximum = benchmark.pedantic(
        lambda: asyncio.run(run_throughput(target, workload, frames)), rounds=1, iterations=1
    )

    half_rate = round(maximum.frames_per_s / 2, 1)
    count = max(20, round(half_rate * HALF_RATE_SECONDS))
    at_half = dataclasses.replace(workload, latency_count=count, latency_rate=half_rate)
    light = at_half.frames(f"{run_id}h", WARMUP_FRAMES + count)
    times = asyncio.run(run_latency(target, at_half, light, WARMUP_FRAMES))
    asyncio.run(check_verdicts(config.redis.url, config.namespace, [f.frame_id for f in [*frames, *light]]))
    floor = floor_latency(config, workload, run_id, tmp_path, half_rate, count)

    sent_span_s = float(times.sent_s.max() - times.sent_s.min())
    figures: dict[str, Any] = {
        "frames": len(frames),
        "payload_bytes": len(workload.payload),
        "window_frames": WINDOW_FRAMES,
        "frames_per_s": round(maximum.frames_per_s, 1),
        "mb_per_s": round(maximum.megabytes_per_s, 2),
        "latency_frames": count,
        "latency_rate_fps": half_rate,
        "sent_rate_fps": round((count - 1) / sent_span_s, 1) if sent_span_s > 0 else None,
        "latency_p50_ms": ms(times.latency_s, 50),
        "latency_p99_ms": ms(times.latency_s, 99),
        "latency_max_ms": ms(times.latency_s, 100),
        "latency_ingest_p50_ms": ms(times.ingest_s, 50),
        "latency_pipeline_p50_ms": ms(times.pipeline_s, 50),
        "latency_sink_p50_ms": ms(times.sink_s, 50),
        "latency_pipeline_p99_ms": ms(times.pipeline_s, 99),
        "floor_latency_p50_ms": ms(floor, 50),
        "floor_latency_p99_ms": ms(floor, 99),
    }
    record(benchmark, checkpoint_summary, "end_to_end", "xray-4KiB at half max", figures)
