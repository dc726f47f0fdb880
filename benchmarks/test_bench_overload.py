"""Overload: X-ray frames offered far faster than the workers decide them, with push-back on.

A stack (gateway and worker, the X-ray detectors only) on the session's services takes 2 x 512 x 512
``uint16`` X-ray frames (1 MiB) from four lanes offered at ``OFFERED_PER_S`` for ``OFFER_S`` seconds, each
lane on its own stream with up to ``WINDOW`` frames awaiting their acks; a pushed-back frame is not sent
again (the offer goes on at its rate). Two kinds of vendor: ones that honour a push-back (nothing more
on the stream until its ``retry_after_ms`` has passed, as the protocol asks and the SDK's VendorClient
does) and ones that ignore it and go on sending. Reported: acks per second by outcome (accepted, pushed
back, held back by the vendor, anything else), the ack latency p50/p99 of every answer and p99 by outcome,
the largest backlog (frames in flight in the ledger, sampled) against ``gateway.max_backlog_frames``, and
the gateway's resident memory before, at its largest in each half of the offer, and after. After the
offer the backlog drains: every accepted frame must get its verdict or fallback (the conservation law).
Nothing asserts a time.

Run alone: ``.venv/bin/pytest benchmarks/test_bench_overload.py -p no:cacheprovider -s``.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import redis.asyncio as aioredis
from benchkit.checkpoints import ms, record

from smartcustoms.core.config import PluginConfig
from smartcustoms.core.manager import discover_plugins
from smartcustoms.hardware.sdk.client import OK, IngestStream
from smartcustoms.runtime.ledger import ledger_for
from smartcustoms.runtime.report import scrape, total
from smartcustoms.runtime.services import EmbeddedBroker, EmbeddedRay, EmbeddedRedis
from smartcustoms.runtime.stack import Stack
from smartcustoms.runtime.testing import config_on_services
from smartcustoms.v1 import frame_pb2

pytestmark = [pytest.mark.integration, pytest.mark.slow]

LANES = 4
WINDOW = 16
OFFERED_PER_S = 400.0  # about ten times what two cores decide (the issue measured 45/s sustained)
OFFER_S = 20.0
MAX_BACKLOG = 200
SHAPE = (2, 512, 512)
PUSHED_BACK = 8  # RESOURCE_EXHAUSTED


@pytest.fixture(scope="module")
def overload_stack(
    session_dir: Path,
    shm_root: Path,
    broker: EmbeddedBroker,
    redis_service: EmbeddedRedis,
    ray_head: EmbeddedRay,
) -> Iterator[Stack]:
    config = config_on_services(
        broker, redis_service, ray_head, session_dir / "overload-run", shm_root, "bov"
    )
    config.gateway.max_backlog_frames = MAX_BACKLOG
    wanted = {"xray_detector", "dense_region"}
    config.plugins = {i.spec.name: PluginConfig(enabled=i.spec.name in wanted) for i in discover_plugins()}
    stack = Stack(config)
    stack.start()
    try:
        yield stack
    finally:
        stack.stop()


def _frame(run: str, lane: int, sequence: int, image: np.ndarray) -> frame_pb2.Frame:
    frame = frame_pb2.Frame(
        frame_id=f"{run}-{lane}-{sequence}",
        source_id=f"bov-{run}-lane{lane}",
        sequence=sequence,
        modality=frame_pb2.MODALITY_XRAY,
        shape=list(SHAPE),
        dtype=frame_pb2.DTYPE_UINT16,
        encoding="raw",
        payload=image.tobytes(),
    )
    frame.capture_time.GetCurrentTime()
    return frame


async def _offer(
    stack: Stack, run: str, rate_per_s: float, seconds: float, honour_push_back: bool
) -> tuple[Counter[str], dict[str, list[float]]]:
    """Offer frames on ``LANES`` streams at ``rate_per_s`` in all; a pushed-back frame is not sent again
    (the offer goes on at its rate). A lane that ``honour_push_back`` sends nothing until the push-back's
    ``retry_after_ms`` has passed, as the protocol asks (its frames due meanwhile are counted as held
    back); one that does not goes on sending. Returns outcomes and each answer's latency by outcome."""
    rng = np.random.default_rng(7)
    image = rng.integers(20_000, 60_000, size=SHAPE, dtype=np.uint16)
    outcomes: Counter[str] = Counter()
    latencies: dict[str, list[float]] = {"accepted": [], "pushed_back": [], "other": []}
    stop_at = time.monotonic() + seconds
    interval = LANES / rate_per_s

    async def lane(number: int) -> None:
        pending: set[asyncio.Future[Any]] = set()
        hold_until = [0.0]
        async with IngestStream(stack.gateway_target, window_frames=WINDOW) as stream:  # type: ignore[arg-type]
            sequence, next_at = 0, time.monotonic()
            while time.monotonic() < stop_at:
                if time.monotonic() < hold_until[0]:
                    outcomes["held_back"] += 1
                else:
                    sequence += 1
                    sent = time.monotonic()
                    future = await stream.send(_frame(run, number, sequence, image))

                    def done(f: asyncio.Future[Any], sent: float = sent) -> None:
                        ack = f.result()
                        kind = (
                            "accepted"
                            if ack.code == OK
                            else "pushed_back"
                            if ack.code == PUSHED_BACK
                            else "other"
                        )
                        outcomes[kind] += 1
                        latencies[kind].append(time.monotonic() - sent)
                        if kind == "pushed_back" and honour_push_back:
                            hold_until[0] = max(hold_until[0], time.monotonic() + ack.retry_after_ms / 1000)

                    future.add_done_callback(done)
                    pending.add(future)
                next_at += interval
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            await asyncio.gather(*pending)

    await asyncio.gather(*(lane(n) for n in range(LANES)))
    return outcomes, latencies


async def _in_flight(stack: Stack) -> tuple[int, int, int]:
    client = aioredis.Redis.from_url(stack.config.redis.url)
    try:
        counts = await ledger_for(stack.config, client).counts()
        return counts.in_flight, counts.accepted, counts.verdicts + counts.fallbacks
    finally:
        await client.aclose()


def _rss_mib(stack: Stack) -> float:
    return total(scrape(stack.metrics_urls[0]), "process_resident_memory_bytes") / 2**20


@pytest.mark.parametrize("vendors", ["honour push-back", "ignore push-back"])
def test_overload_is_pushed_back(
    benchmark: Any, overload_stack: Stack, checkpoint_summary: list[dict[str, Any]], vendors: str
) -> None:
    stack = overload_stack
    run = uuid.uuid4().hex[:6]
    rss_before = _rss_mib(stack)
    samples: list[tuple[int, float]] = []
    sampling = [True]

    async def sample() -> None:
        while sampling[0]:
            samples.append(((await _in_flight(stack))[0], _rss_mib(stack)))
            await asyncio.sleep(0.5)

    async def scenario() -> tuple[Counter[str], dict[str, list[float]], float]:
        sampler = asyncio.create_task(sample())
        started = time.monotonic()
        outcomes, latencies = await _offer(stack, run, OFFERED_PER_S, OFFER_S, vendors.startswith("honour"))
        offered_s = time.monotonic() - started
        sampling[0] = False
        await sampler
        return outcomes, latencies, offered_s

    outcomes, latencies, offered_s = benchmark.pedantic(
        lambda: asyncio.run(scenario()), rounds=1, iterations=1
    )
    deadline = time.monotonic() + 300
    while (state := asyncio.run(_in_flight(stack)))[0] and time.monotonic() < deadline:
        time.sleep(0.5)
    in_flight, accepted, decided = state
    answered = sum(outcomes.values())
    every = [latency for kind in latencies.values() for latency in kind]
    figures = {
        "offered_per_s": round(answered / offered_s, 1),
        "accepted_per_s": round(outcomes["accepted"] / offered_s, 1),
        "pushed_back_per_s": round(outcomes["pushed_back"] / offered_s, 1),
        "held_back_per_s": round(outcomes["held_back"] / offered_s, 1),
        "other_answers": outcomes["other"],
        "ack_p50_ms": ms(every, 50),
        "ack_p99_ms": ms(every, 99),
        "accepted_ack_p99_ms": ms(latencies["accepted"], 99),
        "pushed_back_ack_p99_ms": ms(latencies["pushed_back"], 99),
        "max_backlog_frames": max(s[0] for s in samples),
        "backlog_limit": MAX_BACKLOG,
        "gateway_rss_mib_before": round(rss_before, 1),
        "gateway_rss_mib_max": round(max(s[1] for s in samples), 1),
        # flat under a steady overload: the second half of the offer holds no more than the first did
        "gateway_rss_mib_max_first_half": round(max(s[1] for s in samples[: len(samples) // 2]), 1),
        "gateway_rss_mib_max_second_half": round(max(s[1] for s in samples[len(samples) // 2 :]), 1),
        "gateway_rss_mib_after": round(_rss_mib(stack), 1),
        "accepted_and_decided": f"{decided}/{accepted}",
    }
    record(
        benchmark,
        checkpoint_summary,
        "gateway",
        f"overload at {OFFERED_PER_S:g} frames/s offered, vendors {vendors}",
        figures,
    )
    assert outcomes["other"] == 0  # push-back only: no UNAVAILABLE, no other refusal
    assert in_flight == 0 and decided == accepted  # nothing accepted is lost
