"""Soak: gateway and worker memory under a steady load, and a bounded blob store staying bounded.

A stack (gateway and worker, the no-op plugin only) on the session's services, its shared-memory blob
store bounded at ``CAPACITY_BYTES``, takes X-ray frames from ``CLIENTS`` vendor clients at
``RATE_PER_S`` in all (well under what two cores decide): three 4 KiB frames (inline in their record)
for every 1 MiB frame (over ``gateway.inline_max_bytes``: a claim check in the blob store). After
``WARMUP_S`` of the same load, it samples every ``SAMPLE_S`` seconds for ``SMARTCUSTOMS_SOAK_S`` seconds
(default 60; 600 for the ten minutes issue 17 asks for): gateway and worker RSS
(``process_resident_memory_bytes`` from each /metrics) and the bytes of the files in the store's folder
(reserved ``.partial`` files included). Reported: RSS at start (after warm-up), middle, end and largest,
the slope in MiB per minute of a least-squares fit over the second half, and the store's largest use
against its capacity. Asserted: every frame accepted and given its verdict, and the store never above
its capacity. Nothing asserts a time or a memory growth.

Run alone: ``SMARTCUSTOMS_SOAK_S=600 .venv/bin/pytest benchmarks/test_bench_soak.py -p no:cacheprovider -s``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import redis.asyncio as aioredis
from benchkit.checkpoints import record
from benchkit.framework import check_verdicts

from smartcustoms.core.config import PluginConfig
from smartcustoms.core.manager import discover_plugins
from smartcustoms.hardware.sdk.client import OK, VendorClient
from smartcustoms.runtime.ledger import ledger_for
from smartcustoms.runtime.report import scrape, total
from smartcustoms.runtime.services import EmbeddedBroker, EmbeddedRay, EmbeddedRedis
from smartcustoms.runtime.stack import Stack
from smartcustoms.runtime.testing import config_on_services
from smartcustoms.v1 import frame_pb2, ingest_pb2

SOAK_S = float(os.environ.get("SMARTCUSTOMS_SOAK_S", "60"))
WARMUP_S = 10.0
SAMPLE_S = 3.0
CLIENTS = 4
RATE_PER_S = 32.0  # in all; the suite's end-to-end maximum for small frames is ~600/s
LARGE_EVERY = 4  # one frame in four goes through the blob store
SMALL_SHAPE = (1, 64, 64)  # 4 KiB, inline
LARGE_SHAPE = (1, 1024, 1024)  # 1 MiB, claim check
# Eight large frames: ~3x the largest use seen at this rate, so blobs that were never released would
# fill it within a second and frames would be refused after gateway.capacity_wait_s.
CAPACITY_BYTES = 8 * 2**20
MIB = 2**20

# pyproject's 300 s per test would cut a long soak short: the load, then up to 120 s to drain, and setup.
pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(WARMUP_S + SOAK_S + 300)]


@dataclass
class Sent:
    """Every frame sent (the large ones also by themselves) and every final ack's code."""

    frame_ids: list[str] = field(default_factory=list)
    large_ids: list[str] = field(default_factory=list)
    ack_codes: list[int] = field(default_factory=list)


@dataclass
class Samples:
    """One row per sample: seconds since the soak began, gateway and worker RSS, blob store bytes."""

    times_s: list[float] = field(default_factory=list)
    gateway_rss: list[float] = field(default_factory=list)
    worker_rss: list[float] = field(default_factory=list)
    store_bytes: list[int] = field(default_factory=list)
    store_max_bytes: int = 0  # also checked between samples, at every frame's ack


@pytest.fixture(scope="module")
def soak_stack(
    session_dir: Path,
    shm_root: Path,
    broker: EmbeddedBroker,
    redis_service: EmbeddedRedis,
    ray_head: EmbeddedRay,
) -> Iterator[Stack]:
    config = config_on_services(broker, redis_service, ray_head, session_dir / "soak-run", shm_root, "bsk")
    config.blobstore.capacity_bytes = CAPACITY_BYTES
    others = [info.spec.name for info in discover_plugins(entry_points=False)]
    config.plugins = {name: PluginConfig(enabled=False) for name in others}
    config.plugins["noop"] = PluginConfig(enabled=True, pool_size=2, batch_max_frames=64)
    stack = Stack(config)
    stack.start()
    try:
        yield stack
    finally:
        stack.stop()


def _store_bytes(stack: Stack) -> int:
    folder = Path(stack.config.blobstore.shm_root) / f"smartcustoms-{stack.config.namespace}"
    used = 0
    with os.scandir(folder) as entries:
        for entry in entries:
            with contextlib.suppress(FileNotFoundError):  # released while we looked
                used += entry.stat().st_size
    return used


def _rss_mib(url: str) -> float:
    return total(scrape(url), "process_resident_memory_bytes") / MIB


def _frame(source_id: str, shape: tuple[int, int, int], payload: bytes) -> frame_pb2.Frame:
    frame = frame_pb2.Frame(
        frame_id=uuid.uuid4().hex,
        source_id=source_id,
        modality=frame_pb2.MODALITY_XRAY,
        shape=list(shape),
        dtype=frame_pb2.DTYPE_UINT8,
        encoding="raw",
        payload=payload,
    )
    frame.capture_time.GetCurrentTime()
    return frame


async def _load(stack: Stack, run: str, seconds: float, sent_frames: Sent) -> None:
    """Frames from ``CLIENTS`` clients at ``RATE_PER_S`` in all for ``seconds``; every ack's code kept."""
    rng = np.random.default_rng(17)
    small = rng.integers(0, 256, size=SMALL_SHAPE, dtype=np.uint8).tobytes()
    large = rng.integers(0, 256, size=LARGE_SHAPE, dtype=np.uint8).tobytes()
    interval_s = CLIENTS / RATE_PER_S
    stop_at = time.monotonic() + seconds

    async def client(number: int) -> None:
        futures: list[asyncio.Future[ingest_pb2.IngestAck]] = []
        async with VendorClient(stack.gateway_target) as vendor:
            sent, next_at = 0, time.monotonic() + number * interval_s / CLIENTS
            while (now := time.monotonic()) < stop_at:
                await asyncio.sleep(max(0.0, next_at - now))
                big = sent % LARGE_EVERY == number % LARGE_EVERY  # the clients' large frames interleave
                shape, payload = (LARGE_SHAPE, large) if big else (SMALL_SHAPE, small)
                frame = _frame(f"bsk-{run}-{number}", shape, payload)
                futures.append(await vendor.send(frame))
                sent_frames.frame_ids.append(frame.frame_id)
                if big:
                    sent_frames.large_ids.append(frame.frame_id)
                sent += 1
                next_at += interval_s
            sent_frames.ack_codes.extend(ack.code for ack in await asyncio.gather(*futures))

    await asyncio.gather(*(client(n) for n in range(CLIENTS)))


async def _sample(stack: Stack, began: float, every_s: float, samples: Samples, stop: asyncio.Event) -> None:
    gateway_url, worker_url = stack.metrics_urls
    while not stop.is_set():
        samples.times_s.append(time.monotonic() - began)
        samples.gateway_rss.append(await asyncio.to_thread(_rss_mib, gateway_url))
        samples.worker_rss.append(await asyncio.to_thread(_rss_mib, worker_url))
        samples.store_bytes.append(_store_bytes(stack))
        samples.store_max_bytes = max(samples.store_max_bytes, samples.store_bytes[-1])
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every_s)


async def _watch_store(stack: Stack, samples: Samples, stop: asyncio.Event) -> None:
    """The store's use every 100 ms, so a short peak between two RSS samples is not missed."""
    while not stop.is_set():
        samples.store_max_bytes = max(samples.store_max_bytes, _store_bytes(stack))
        await asyncio.sleep(0.1)


async def _soak(stack: Stack, run: str) -> tuple[Samples, Sent, float]:
    sent = Sent()
    samples = Samples()
    stop = asyncio.Event()
    load = asyncio.create_task(_load(stack, run, WARMUP_S + SOAK_S, sent))
    watcher = asyncio.create_task(_watch_store(stack, samples, stop))
    await asyncio.sleep(WARMUP_S)
    began = time.monotonic()
    sampler = asyncio.create_task(_sample(stack, began, SAMPLE_S, samples, stop))
    await load
    loaded_s = time.monotonic() - began
    stop.set()
    await asyncio.gather(sampler, watcher)
    return samples, sent, loaded_s


async def _wait_decided(stack: Stack, deadline_s: float) -> tuple[int, int, int]:
    client = aioredis.Redis.from_url(stack.config.redis.url)
    try:
        ledger = ledger_for(stack.config, client)
        deadline = time.monotonic() + deadline_s
        while (counts := await ledger.counts()).in_flight and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
        return counts.in_flight, counts.accepted, counts.verdicts + counts.fallbacks
    finally:
        await client.aclose()


def _slope_mib_per_min(times_s: list[float], values: list[float]) -> float | None:
    """Least-squares slope over the second half of the samples, in MiB per minute."""
    half = len(times_s) // 2
    if len(times_s) - half < 2:
        return None
    slope_per_s = np.polyfit(np.asarray(times_s[half:]), np.asarray(values[half:]), 1)[0]
    return round(float(slope_per_s) * 60, 3)


def _rss_figures(role: str, times_s: list[float], values: list[float]) -> dict[str, Any]:
    return {
        f"{role}_rss_mib_start": round(values[0], 1),
        f"{role}_rss_mib_middle": round(values[len(values) // 2], 1),
        f"{role}_rss_mib_end": round(values[-1], 1),
        f"{role}_rss_mib_max": round(max(values), 1),
        f"{role}_rss_slope_mib_per_min": _slope_mib_per_min(times_s, values),
    }


def test_memory_stays_flat_under_steady_load(
    benchmark: Any, soak_stack: Stack, checkpoint_summary: list[dict[str, Any]]
) -> None:
    stack = soak_stack
    run = uuid.uuid4().hex[:6]
    samples, sent, loaded_s = benchmark.pedantic(
        lambda: asyncio.run(_soak(stack, run)), rounds=1, iterations=1
    )
    in_flight, accepted, decided = asyncio.run(_wait_decided(stack, 120))
    asyncio.run(check_verdicts(stack.config.redis.url, stack.config.namespace, sent.frame_ids))
    figures: dict[str, Any] = {
        "soak_s": SOAK_S,
        "warmup_s": WARMUP_S,
        "frames": len(sent.frame_ids),
        "frames_per_s": round(len(sent.frame_ids) / (WARMUP_S + loaded_s), 1),
        "large_frame_share": round(1 / LARGE_EVERY, 2),
        "samples": len(samples.times_s),
        **_rss_figures("gateway", samples.times_s, samples.gateway_rss),
        **_rss_figures("worker", samples.times_s, samples.worker_rss),
        "blob_mib_max": round(samples.store_max_bytes / MIB, 1),
        "blob_mib_end": round(_store_bytes(stack) / MIB, 1),
        "blob_capacity_mib": round(CAPACITY_BYTES / MIB, 1),
        "large_frames": len(sent.large_ids),
        "blobs_released": int(total(scrape(stack.metrics_urls[1]), "smartcustoms_blobs_released_total")),
        "accepted_and_decided": f"{decided}/{accepted}",
        "load_avg_1m": round(os.getloadavg()[0], 1),
    }
    record(
        benchmark, checkpoint_summary, "end_to_end", f"soak {SOAK_S:g} s at {RATE_PER_S:g} frames/s", figures
    )
    assert all(code == OK for code in sent.ack_codes) and len(sent.ack_codes) == len(sent.frame_ids)
    assert in_flight == 0 and decided == accepted == len(sent.frame_ids)
    assert samples.store_max_bytes <= CAPACITY_BYTES
