"""Dispatch to Ray: ``ActorPool.assess`` of micro-batches on the no-op plugin, against
``PluginHost.process`` called in a plain loop in this process.

The framework path is the stream worker's: an ``ActorPool`` (2 actors of the ``noop`` plugin on the
session's Ray head, a fresh ``CollectorRegistry`` for its sensor) given every micro-batch of a round at
once, as the dispatcher does for a batch taken from the stream; it serializes the frames, waits for an
idle actor, awaits the Ray call and parses the results. The bare path does the same serializing,
``PluginHost.process`` and parsing in a plain loop, without Ray. Per-batch latency comes from a
separate run of one batch at a time. Nothing asserts a time: every frame must come back CLEAR.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pytest
import ray
from benchkit.checkpoints import ms, rates, ratio, record, run_alternating
from benchkit.ingest import xray_frames
from prometheus_client import CollectorRegistry

from smartcustoms.core.config import PluginConfig
from smartcustoms.core.manager import discover
from smartcustoms.core.metrics import Metrics
from smartcustoms.core.sensors import Sensor
from smartcustoms.runtime.actor import ActorSpec, PluginHost
from smartcustoms.runtime.dispatch import ActorPool
from smartcustoms.runtime.ray_auth import use_token
from smartcustoms.runtime.services import EmbeddedRay
from smartcustoms.v1 import frame_pb2, results_pb2

pytestmark = [pytest.mark.integration, pytest.mark.slow]

NOOP = "smartcustoms.plugins.noop:NoopPlugin"
STORE = {"kind": "memory", "namespace": "bench-dispatch"}  # inline frames: no payload is looked up
SHAPE = (1, 64, 64)  # 4 KiB X-ray frames, inline
POOL_SIZE = 2
# frames per micro-batch -> micro-batches per round
CASES = {1: 200, 16: 50, 64: 40}
ROUNDS = 3
LATENCY_BATCHES = 30


@pytest.fixture(scope="module")
def ray_driver(ray_head: EmbeddedRay) -> Iterator[None]:
    """This process as a Ray driver on the session's head (shut down before the head stops)."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    use_token(ray_head.auth_token_path)  # Ray was imported already: its settings are re-read
    ray.init(address=ray_head.address, log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.Runner]:
    """One event loop for the module: the pool's idle queue binds to the loop that first waits on it."""
    with asyncio.Runner() as runner:
        yield runner


def inline_frames(count: int) -> list[frame_pb2.Frame]:
    payload = np.random.default_rng(2).integers(0, 256, size=SHAPE, dtype=np.uint8).tobytes()
    frames = xray_frames("dispatch", SHAPE, "r", count)
    for frame in frames:
        frame.payload = payload
        frame.payload_bytes = len(payload)
    return frames


def batches_of(frames: Sequence[frame_pb2.Frame], size: int) -> list[Sequence[frame_pb2.Frame]]:
    return [frames[i : i + size] for i in range(0, len(frames), size)]


def check_clear(results: Sequence[results_pb2.PluginResult], expected: int) -> None:
    assert len(results) == expected, f"{len(results)} results for {expected} frames"
    wrong = [r for r in results if r.error or r.decision != results_pb2.DECISION_CLEAR]
    assert not wrong, f"{len(wrong)} results not CLEAR, first: {wrong[0]}"


@pytest.mark.parametrize("batch_frames", list(CASES))
def test_dispatch_to_ray(
    benchmark: Any,
    batch_frames: int,
    ray_driver: None,
    loop: asyncio.Runner,
    checkpoint_summary: list[dict[str, Any]],
) -> None:
    frames = inline_frames(batch_frames * CASES[batch_frames])
    batches = batches_of(frames, batch_frames)
    info = discover(NOOP)
    config = PluginConfig(enabled=True, pool_size=POOL_SIZE, batch_max_frames=batch_frames)
    pool = ActorPool(info, config, ActorSpec(NOOP, {}, STORE), Sensor(Metrics(CollectorRegistry())))
    pool.start(config.ready_timeout_s)
    host = PluginHost(ActorSpec(NOOP, {}, STORE))

    async def assess_all() -> list[results_pb2.PluginResult]:
        answers = await asyncio.gather(*(pool.assess(batch) for batch in batches))
        return [result for answer in answers for result in answer]

    def bare() -> list[results_pb2.PluginResult]:
        results = []
        for batch in batches:
            outcome = host.process([frame.SerializeToString() for frame in batch])
            results += [results_pb2.PluginResult.FromString(raw) for raw in outcome.results]
        return results

    try:
        check_clear(loop.run(assess_all()), len(frames))  # actors started and warm
        results, rounds = run_alternating(benchmark, lambda: loop.run(assess_all()), bare, ROUNDS)
        check_clear(results, len(frames))
        for bare_results in rounds.bare_results:
            check_clear(bare_results, len(frames))
        latency_s, bare_latency_s = loop.run(one_at_a_time(pool, host, batches[:LATENCY_BATCHES]))
    finally:
        loop.run(pool.stop())

    payload_bytes = len(frames[0].payload)
    figures: dict[str, Any] = {
        "batch_frames": batch_frames,
        "frames": len(frames),
        "pool_size": POOL_SIZE,
        "rounds": ROUNDS,
        **rates("", rounds.framework_median_s, len(frames), payload_bytes),
        **rates("bare_", rounds.bare_median_s, len(frames), payload_bytes),
    }
    figures |= {
        "framework_over_bare": ratio(figures["frames_per_s"], figures["bare_frames_per_s"]),
        "latency_p50_ms": ms(latency_s, 50),
        "latency_p99_ms": ms(latency_s, 99),
        "bare_latency_p50_ms": ms(bare_latency_s, 50),
        "bare_latency_p99_ms": ms(bare_latency_s, 99),
    }
    record(benchmark, checkpoint_summary, "dispatch", f"noop batch of {batch_frames}", figures)


async def one_at_a_time(
    pool: ActorPool, host: PluginHost, batches: Sequence[Sequence[frame_pb2.Frame]]
) -> tuple[list[float], list[float]]:
    """Per-batch latency with nothing else in flight: through the pool, and bare."""
    framework, bare = [], []
    for batch in batches:
        started = time.perf_counter()
        check_clear(await pool.assess(batch), len(batch))
        framework.append(time.perf_counter() - started)
        started = time.perf_counter()
        outcome = host.process([frame.SerializeToString() for frame in batch])
        check_clear([results_pb2.PluginResult.FromString(raw) for raw in outcome.results], len(batch))
        bare.append(time.perf_counter() - started)
    return framework, bare
