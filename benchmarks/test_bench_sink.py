"""Sinks: ``VerdictSink.store_batch`` on the session's Redis (``Ledger.finalize_many``: one Lua script
call for up to 512 verdicts) against a bare redis-py pipeline of SETs of the same verdict bytes.

Each round stores 5,120 CLEAR verdicts (the no-op plugin's), as the verdict agent gets them: messages of
64 verdicts (one stream batch each), 8 messages per ``store_batch`` call. Before a framework round
its frames are accepted into the ledger (untimed), so every finalize finds its in-flight record, as
in the running worker. The bare path SETs each verdict's bytes under its own key with the same TTL,
one pipeline per 512 verdicts. Nothing asserts a time: every verdict must be in Redis afterwards.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
import redis.asyncio as aioredis
from benchkit.checkpoints import ms, rates, ratio, record, run_alternating
from prometheus_client import CollectorRegistry

from smartcustoms.core import verdicts
from smartcustoms.core.blobstore import MemoryBlobStore
from smartcustoms.core.manager import new_plugin_manager
from smartcustoms.core.metrics import Metrics
from smartcustoms.core.sensors import Sensor
from smartcustoms.runtime.ledger import Ledger
from smartcustoms.runtime.services import EmbeddedRedis
from smartcustoms.runtime.sink import VerdictSink
from smartcustoms.v1 import frame_pb2, results_pb2

pytestmark = [pytest.mark.integration, pytest.mark.slow]

VERDICTS_PER_MESSAGE = 64
MESSAGES_PER_CALL = 8
CALLS = 10
ROUNDS = 3
ACCEPT_CONCURRENCY = 64  # ledger.accept calls in flight (the client pool allows 100 connections)


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.Runner]:
    with asyncio.Runner() as runner:
        yield runner


def round_frames(run_id: str) -> list[frame_pb2.Frame]:
    """Frame records as the gateway accepts them (4 KiB inline X-ray), one per verdict of a round."""
    count = VERDICTS_PER_MESSAGE * MESSAGES_PER_CALL * CALLS
    payload = bytes(4096)
    frames = []
    for index in range(count):
        frame = frame_pb2.Frame(
            frame_id=f"sink-{run_id}-{index:06d}",
            source_id=f"bench-sink-{run_id}-lane{index % 4}",
            sequence=index // 4 + 1,
            modality=frame_pb2.MODALITY_XRAY,
            shape=[1, 64, 64],
            dtype=frame_pb2.DTYPE_UINT8,
            encoding="raw",
            payload=payload,
            payload_bytes=len(payload),
        )
        frame.capture_time.GetCurrentTime()
        frames.append(frame)
    return frames


def clear_verdicts(frames: Sequence[frame_pb2.Frame]) -> list[results_pb2.Verdict]:
    result = results_pb2.PluginResult(
        plugin="noop", plugin_version="1.0.0", decision=results_pb2.DECISION_CLEAR
    )
    return [verdicts.combine(frame, [result]) for frame in frames]


def calls_of(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def messages_of(round_verdicts: Sequence[results_pb2.Verdict]) -> list[list[bytes]]:
    """store_batch calls: each a list of serialized VerdictBatch messages of 64 verdicts."""
    messages = [
        results_pb2.VerdictBatch(verdicts=chunk).SerializeToString()
        for chunk in calls_of(round_verdicts, VERDICTS_PER_MESSAGE)
    ]
    return [list(call) for call in calls_of(messages, MESSAGES_PER_CALL)]


def test_verdict_sink(
    benchmark: Any,
    redis_service: EmbeddedRedis,
    loop: asyncio.Runner,
    checkpoint_summary: list[dict[str, Any]],
) -> None:
    namespace = f"bsink{uuid.uuid4().hex[:8]}"
    client = aioredis.Redis.from_url(redis_service.url)
    ledger = Ledger(client, namespace)
    sink = VerdictSink(ledger, MemoryBlobStore(), new_plugin_manager(), Sensor(Metrics(CollectorRegistry())))
    run_ids = (f"{uuid.uuid4().hex[:6]}r{n}" for n in itertools.count())
    framework_call_s: list[float] = []
    bare_call_s: list[float] = []

    bare_verdicts = clear_verdicts(round_frames("bare"))
    bare_items = [(f"bare:{namespace}:verdict:{v.frame_id}", v.SerializeToString()) for v in bare_verdicts]

    async def bare_round() -> None:
        for call in calls_of(bare_items, VERDICTS_PER_MESSAGE * MESSAGES_PER_CALL):
            started = time.perf_counter()
            async with client.pipeline(transaction=False) as pipe:
                for key, value in call:
                    pipe.set(key, value, ex=ledger.verdict_ttl_s)
                await pipe.execute()
            bare_call_s.append(time.perf_counter() - started)

    async def accept(frames: Sequence[frame_pb2.Frame]) -> None:
        for chunk in calls_of(frames, ACCEPT_CONCURRENCY):
            await asyncio.gather(*(ledger.accept(frame, 3600) for frame in chunk))

    def prepare() -> tuple[tuple[Any, ...], dict[str, Any]]:
        frames = round_frames(next(run_ids))
        loop.run(accept(frames))
        return (messages_of(clear_verdicts(frames)),), {}

    async def store(calls: list[list[bytes]]) -> None:
        for messages in calls:
            started = time.perf_counter()
            assert await sink.store_batch(messages) == []  # every message parsed
            framework_call_s.append(time.perf_counter() - started)

    try:
        before = loop.run(ledger.counts())
        _, rounds = run_alternating(
            benchmark, lambda calls: loop.run(store(calls)), lambda: loop.run(bare_round()), ROUNDS, prepare
        )
        after = loop.run(ledger.counts())
        bare_stored = loop.run(client.exists(*(key for key, _ in bare_items)))
    finally:
        loop.run(client.aclose())

    per_round = len(bare_items)
    assert after.verdicts - before.verdicts == ROUNDS * per_round, f"{after} (before: {before})"
    assert after.in_flight == before.in_flight == 0 and after.fallbacks == 0
    assert bare_stored == per_round

    verdict_bytes = round(sum(len(value) for _, value in bare_items) / per_round)
    figures: dict[str, Any] = {
        "verdicts": per_round,
        "verdicts_per_call": VERDICTS_PER_MESSAGE * MESSAGES_PER_CALL,
        "verdict_bytes": verdict_bytes,
        "rounds": ROUNDS,
        **rates("", rounds.framework_median_s, per_round, verdict_bytes),
        **rates("bare_", rounds.bare_median_s, per_round, verdict_bytes),
    }
    figures |= {
        "framework_over_bare": ratio(figures["frames_per_s"], figures["bare_frames_per_s"]),
        "latency_p50_ms": ms(framework_call_s, 50),
        "latency_p99_ms": ms(framework_call_s, 99),
        "bare_latency_p50_ms": ms(bare_call_s, 50),
        "bare_latency_p99_ms": ms(bare_call_s, 99),
    }
    record(benchmark, checkpoint_summary, "sink", "512 clear verdicts per call", figures)
