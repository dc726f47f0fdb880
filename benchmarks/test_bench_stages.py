"""Where the time goes on the small-frame path: a stage table at half the maximum rate.

A stack of its own (gateway and worker, no-op plugin, ``bench_clock``) on the session's services, in a
namespace of its own, so the worker's batch window and the consumers' fetch wait can be set for this run
alone (``SMARTCUSTOMS_BENCH_BATCH_WINDOW_MS``, ``SMARTCUSTOMS_BENCH_FETCH_WAIT_MS``; default: the
configuration's own). As ``test_bench_end_to_end.py``: the maximum throughput of 4 KiB X-ray frames
first (1,000 frames, 64 in flight), then frames sent open loop at half that rate (or at
``SMARTCUSTOMS_BENCH_STAGE_RATE`` frames/s, to compare settings at one rate) for about 4 s.

Per frame, from one host clock: sent (client), accepted (gateway, ``accepted_time``: set before the
ledger record), acked (client, the gateway's ack: after the ledger record and the broker's ack of the
publish), decided (worker, verdict combined) and stored (sink, ``bench_clock``). The stage histograms of
the gateway and the worker (``/metrics``, scraped before and after the half-rate run) split the rest:
``smartcustoms_stream_delay_seconds`` (accepted -> the worker's batch taken: ledger, publish, the Kafka
hop with its fetch wait and batch window), ``smartcustoms_dispatch_duration_seconds`` and
``smartcustoms_plugin_duration_seconds`` (a batch's Ray call, and the plugin's time inside the actor),
``smartcustoms_sink_duration_seconds`` (one ``store_batch``). The table is printed and kept in
``extra_info``. Nothing asserts a time: every frame must be accepted and get its verdict.
"""

from __future__ import annotations

import asyncio
import copy
import os
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import redis.asyncio as aioredis
from benchkit.framework import (
    Target,
    Workload,
    check_verdicts,
    frame_times,
    histogram_delta,
    run_throughput,
    scrape_or_empty,
    wait_settled,
)
from benchkit.kafka_hop import bare_hop
from benchkit.machine import describe, format_description

from smartcustoms.core.config import Config, PluginConfig
from smartcustoms.core.types import Modality
from smartcustoms.hardware.sdk.client import OK, IngestStream
from smartcustoms.runtime.ledger import Ledger
from smartcustoms.runtime.report import Samples, quantile_of
from smartcustoms.runtime.services import EmbeddedBroker, EmbeddedRay, EmbeddedRedis
from smartcustoms.runtime.stack import Stack, with_free_ports
from smartcustoms.v1 import frame_pb2

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BENCH_DIR = Path(__file__).parent
SHAPE = (1, 64, 64)  # 4 KiB, as test_bench_end_to_end.py
MAX_FRAMES, WINDOW_FRAMES = 1000, 64
HALF_RATE_SECONDS = 4.0
WARMUP_FRAMES = 20
WINDOW_ENV = "SMARTCUSTOMS_BENCH_BATCH_WINDOW_MS"
FETCH_ENV = "SMARTCUSTOMS_BENCH_FETCH_WAIT_MS"
RATE_ENV = "SMARTCUSTOMS_BENCH_STAGE_RATE"
HISTOGRAMS = {  # stage -> (which process, metric, labels)
    "gateway_ingest": ("gateway", "smartcustoms_ingest_duration_seconds", {"modality": "xray"}),
    "stream_delay": ("worker", "smartcustoms_stream_delay_seconds", {"modality": "xray"}),
    "dispatch": ("worker", "smartcustoms_dispatch_duration_seconds", {"plugin": "noop"}),
    "plugin": ("worker", "smartcustoms_plugin_duration_seconds", {"plugin": "noop"}),
    "sink": ("worker", "smartcustoms_sink_duration_seconds", {}),
    "frame_latency": ("worker", "smartcustoms_frame_latency_seconds", {"modality": "xray"}),
}


def small_xray_workload() -> Workload:
    pixels = np.random.default_rng(0).integers(0, 256, size=SHAPE, dtype=np.uint8)
    header = frame_pb2.Frame(
        modality=frame_pb2.MODALITY_XRAY, shape=list(SHAPE), dtype=frame_pb2.DTYPE_UINT8, encoding="raw"
    )
    return Workload("e2e-4KiB", Modality.XRAY, MAX_FRAMES, WINDOW_FRAMES, 0, 1.0, header, pixels.tobytes())


async def send_and_settle(
    config: Config, target: str, frames: Sequence[frame_pb2.Frame], payload: bytes, rate: float
) -> tuple[dict[str, float], dict[str, float]]:
    """Send at ``rate`` and wait until every frame has its verdict; frame id -> sent, -> acked."""
    redis_client = aioredis.Redis.from_url(config.redis.url)
    try:
        ledger = Ledger(redis_client, config.namespace)
        before = await ledger.counts()
        sent, acked = await send_at_rate_acked(target, frames, payload, rate)
        await wait_settled(ledger, before, len(sent), deadline_s=60.0)
    finally:
        await redis_client.aclose()
    return sent, acked


@pytest.fixture(scope="module")
def stage_stack(
    bench_config: Config,
    session_dir: Path,
    broker: EmbeddedBroker,
    redis_service: EmbeddedRedis,
    ray_head: EmbeddedRay,
) -> Iterator[tuple[Stack, str]]:
    config = with_free_ports(copy.deepcopy(bench_config))
    config.namespace = f"benchstages{uuid.uuid4().hex[:8]}"
    run_dir = session_dir / "stages"
    config.run_dir = str(run_dir)
    clock = str(run_dir / "verdict-clock.tsv")
    config.plugins["bench_clock"] = PluginConfig(enabled=True, settings={"path": clock})
    if os.environ.get(WINDOW_ENV):
        config.worker.batch_window_ms = float(os.environ[WINDOW_ENV])
    if os.environ.get(FETCH_ENV):
        config.broker.fetch_max_wait_ms = int(os.environ[FETCH_ENV])
    stack = Stack(config)
    with pytest.MonkeyPatch.context() as patch:  # the worker imports benchkit.verdict_clock
        patch.setenv(
            "PYTHONPATH", os.pathsep.join(filter(None, [str(BENCH_DIR), os.environ.get("PYTHONPATH")]))
        )
        stack.start()
    try:
        yield stack, clock
    finally:
        stack.stop()


async def send_at_rate_acked(
    target: str, frames: Sequence[frame_pb2.Frame], payload: bytes, frames_per_s: float
) -> tuple[dict[str, float], dict[str, float]]:
    """Frame i sent at ``i / frames_per_s`` s, open loop; frame id -> sent, and -> ack received (Unix s)."""
    sent_s: dict[str, float] = {}
    acked_s: dict[str, float] = {}
    acks = []
    view = memoryview(payload)
    loop = asyncio.get_running_loop()

    def on_ack(frame_id: str) -> Any:
        return lambda _: acked_s.setdefault(frame_id, time.time())

    async with IngestStream(target, window_frames=max(1, len(frames))) as stream:
        started = loop.time()
        for index, frame in enumerate(frames):
            await asyncio.sleep(max(0.0, started + index / frames_per_s - loop.time()))
            sent_s[frame.frame_id] = time.time()
            future = await stream.send(frame, view)
            future.add_done_callback(on_ack(frame.frame_id))
            acks.append(future)
        refused = [ack for ack in await asyncio.gather(*acks) if ack.code != OK]
        assert not refused, f"{len(refused)} frames refused, first: {refused[0]}"
    return sent_s, acked_s


def histogram_figures(before: Samples, after: Samples, metric: str, labels: dict[str, str]) -> dict[str, Any]:
    """Observations, mean, and p50 / p99 interpolated within the buckets, in ms, between two scrapes."""
    buckets = histogram_delta(before, after, metric, **labels)
    count = sum(
        v for s, v in after.get(f"{metric}_count", []) if all(s.get(k) == x for k, x in labels.items())
    )
    count -= sum(
        v for s, v in before.get(f"{metric}_count", []) if all(s.get(k) == x for k, x in labels.items())
    )
    total_s = sum(
        v for s, v in after.get(f"{metric}_sum", []) if all(s.get(k) == x for k, x in labels.items())
    )
    total_s -= sum(
        v for s, v in before.get(f"{metric}_sum", []) if all(s.get(k) == x for k, x in labels.items())
    )
    p50, p99 = quantile_of(buckets, 0.5), quantile_of(buckets, 0.99)
    return {
        "n": int(count),
        "mean_ms": round(total_s / count * 1000, 2) if count else None,
        "p50_ms": round(p50 * 1000, 2) if p50 is not None else None,
        "p99_ms": round(p99 * 1000, 2) if p99 is not None else None,
    }


def per_frame(values_s: np.ndarray) -> dict[str, Any]:
    return {
        "n": len(values_s),
        "mean_ms": round(float(values_s.mean()) * 1000, 2),
        "p50_ms": round(float(np.percentile(values_s, 50)) * 1000, 2),
        "p99_ms": round(float(np.percentile(values_s, 99)) * 1000, 2),
    }


def stage_rows(clocked: dict[str, dict[str, Any]], hist: dict[str, dict[str, Any]]) -> list[tuple[str, Any]]:
    """The path in order, each stage's mean in ms, measured or derived (difference of two means)."""

    def mean(figures: dict[str, Any]) -> float:
        return float(figures["mean_ms"] or 0.0)

    ack = mean(clocked["accepted_to_acked"])
    hop1 = mean(hist["stream_delay"]) - ack
    dispatch, plugin = mean(hist["dispatch"]), mean(hist["plugin"])
    combine = mean(clocked["accepted_to_decided"]) - mean(hist["stream_delay"]) - dispatch
    sink = mean(hist["sink"])
    hop2 = mean(clocked["decided_to_stored"]) - sink
    return [
        ("client + gRPC + chunk assembly (sent -> accepted, clock)", mean(clocked["sent_to_accepted"])),
        ("ledger record + publish to the broker's ack + ack back (accepted -> acked, clock)", ack),
        ("Faust hop 1: broker -> fetch -> take() window (stream_delay - acked)", hop1),
        ("Ray call, whole batch (dispatch_duration)", dispatch),
        ("  of which the plugin in its actor (plugin_duration)", plugin),
        ("  of which Ray's call and (de)serializing (dispatch - plugin)", dispatch - plugin),
        ("dispatcher's own rest (accepted -> decided - stream_delay - dispatch)", combine),
        ("decided -> stored, beyond the sink call (the ledger call waits its turn)", hop2),
        ("sink: store_batch, one Lua call (sink_duration)", sink),
        ("total, sent -> stored (clock)", mean(clocked["sent_to_stored"])),
    ]


def test_stage_split_at_half_rate(benchmark: Any, stage_stack: tuple[Stack, str]) -> None:
    stack, clock = stage_stack
    config = stack.config
    gateway_url, worker_url = stack.metrics_urls[0], stack.metrics_urls[1]
    target = Target(stack.gateway_target, config.redis.url, config.namespace, worker_url, clock)
    workload: Workload = small_xray_workload()
    run_id = uuid.uuid4().hex[:6]
    frames = workload.frames(run_id, workload.count)
    maximum = benchmark.pedantic(
        lambda: asyncio.run(run_throughput(target, workload, frames)), rounds=1, iterations=1
    )
    rate = float(os.environ.get(RATE_ENV) or round(maximum.frames_per_s / 2, 1))
    count = max(20, round(rate * HALF_RATE_SECONDS))
    light = workload.frames(f"{run_id}h", WARMUP_FRAMES + count)

    payload = workload.payload
    asyncio.run(
        send_and_settle(config, stack.gateway_target, light[:WARMUP_FRAMES], payload, rate)
    )  # not kept
    metrics_before = {"gateway": scrape_or_empty(gateway_url), "worker": scrape_or_empty(worker_url)}
    sent_s, acked_s = asyncio.run(
        send_and_settle(config, stack.gateway_target, light[WARMUP_FRAMES:], payload, rate)
    )
    metrics_after = {"gateway": scrape_or_empty(gateway_url), "worker": scrape_or_empty(worker_url)}
    times = asyncio.run(frame_times(clock, sent_s))
    asyncio.run(check_verdicts(config.redis.url, config.namespace, [f.frame_id for f in [*frames, *light]]))
    acked = np.array([acked_s[i] for i in sent_s])

    clocked = {
        "sent_to_accepted": per_frame(times.accepted_s - times.sent_s),
        "accepted_to_acked": per_frame(acked - times.accepted_s),
        "sent_to_acked": per_frame(acked - times.sent_s),
        "accepted_to_decided": per_frame(times.decided_s - times.accepted_s),
        "decided_to_stored": per_frame(times.stored_s - times.decided_s),
        "sent_to_stored": per_frame(times.stored_s - times.sent_s),
    }
    hist = {
        stage: histogram_figures(metrics_before[where], metrics_after[where], metric, labels)
        for stage, (where, metric, labels) in HISTOGRAMS.items()
    }
    rows = stage_rows(clocked, hist)
    figures: dict[str, Any] = {
        "frames": len(frames),
        "frames_per_s": round(maximum.frames_per_s, 1),
        "latency_frames": count,
        "latency_rate_fps": rate,
        "batch_window_ms": config.worker.batch_window_ms,
        "fetch_max_wait_ms": config.broker.fetch_max_wait_ms,
        "noop_placement": config.plugin("noop").placement or "ray",
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "latency_p50_ms": clocked["sent_to_stored"]["p50_ms"],
        "latency_p99_ms": clocked["sent_to_stored"]["p99_ms"],
        "frames_per_batch_mean": round(count / hist["dispatch"]["n"], 2) if hist["dispatch"]["n"] else None,
        "batches": hist["dispatch"]["n"],
        "clock": clocked,
        "histograms": hist,
        "stages_mean_ms": {name: round(value, 2) for name, value in rows},
    }
    machine = describe()
    benchmark.extra_info.update({"checkpoint": "stages", "case": "xray-4KiB at half max", **figures})
    benchmark.extra_info["machine"] = machine
    for line in format_description(machine):
        print(line)
    print(
        f"\nstages at {rate:g} frames/s (max {maximum.frames_per_s:.0f}), batch window "
        f"{config.worker.batch_window_ms:g} ms, fetch wait {config.broker.fetch_max_wait_ms} ms, "
        f"no-op on {figures['noop_placement']}, "
        f"{figures['frames_per_batch_mean']} frames per batch, p50 {figures['latency_p50_ms']} / p99 "
        f"{figures['latency_p99_ms']} ms, load {figures['load_avg_1m']}:"
    )
    for name, value in rows:
        print(f"  {value:8.2f} ms  {name}")
    for name, found in {**clocked, **hist}.items():
        print(
            f"  {name:>20}: n {found['n']}, mean {found['mean_ms']}, p50 {found['p50_ms']}, "
            f"p99 {found['p99_ms']} ms"
        )


@pytest.mark.parametrize("fetch_max_wait_ms", [20, 5], ids=["fetch20ms", "fetch5ms"])
def test_bare_kafka_hop_at_the_same_rate(
    benchmark: Any, broker: EmbeddedBroker, fetch_max_wait_ms: int
) -> None:
    """The floor of one Kafka hop (aiokafka alone) at the half-rate load, to read the stages against."""
    rate = float(os.environ.get(RATE_ENV) or 216)
    hop = benchmark.pedantic(
        lambda: asyncio.run(bare_hop(broker.bootstrap_servers, rate, round(rate * 4), fetch_max_wait_ms)),
        rounds=1,
        iterations=1,
    )
    figures = {
        "checkpoint": "stages",
        "case": f"bare Kafka hop, fetch wait {fetch_max_wait_ms} ms",
        "rate_fps": rate,
        "fetch_max_wait_ms": fetch_max_wait_ms,
        "acked": per_frame(hop.acked_s),
        "consumed": per_frame(hop.consumed_s),
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }
    benchmark.extra_info.update(figures)
    print(
        f"\nbare Kafka hop at {rate:g} msg/s, fetch wait {fetch_max_wait_ms} ms, "
        f"load {figures['load_avg_1m']}: "
        f"send -> ack {figures['acked']}; send -> consumed {figures['consumed']}"
    )
