"""Gateway ingest: frames/s and MB/s through the real gateway process against a bare gRPC ack server.

The gateway runs alone (``Stack(config).start(worker=False)``: no stream worker), on the session's
broker and Redis, in a namespace of its own. For each frame it assembles the chunks, writes large
payloads to the shared-memory blob store, records the frame in the Redis ledger, publishes it to Kafka
(awaiting the broker's ack) and only then acks. The bare server (``benchkit/bare_ingest_server.py``,
also a process of its own) parses the same chunks and acks each frame on its last chunk. For frames
sent inline, the same server in its publishing mode is the floor of any gateway that acks a frame only
once it is durable in Kafka: it also joins the chunks and publishes the frame (``acks=1``) before the
ack, with no ledger, blob store or checks (``bare_publish_*``: after each gateway round, the frames
that round sent, so the topic's partitions get the same spread; before the next bare round, which does
not touch Kafka). One lean
client (``benchkit.ingest.send_lean``: 2 MiB chunks cut once, a window of frames in flight) sends the
same frames to both; bare and gateway rounds alternate. One more round each with the vendor SDK's
``IngestStream`` shows what a device gets from one Python process (``sdk_client_*``). Nothing asserts a
time: every frame must be acked OK and counted in the ledger.
"""

from __future__ import annotations

import asyncio
import itertools
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import redis.asyncio as aioredis
from benchkit.checkpoints import ms, rates, ratio, record, run_alternating
from benchkit.ingest import BareIngestServer, IngestRun, send_lean, send_sdk, xray_frames

from smartcustoms.runtime.ledger import Counts, Ledger
from smartcustoms.runtime.services import EmbeddedBroker, EmbeddedRay, EmbeddedRedis
from smartcustoms.runtime.stack import Stack
from smartcustoms.runtime.testing import config_on_services
from smartcustoms.runtime.topics import ensure_topics

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# case -> uint8 X-ray shape, frames per round, frames in flight (as in test_bench_pipeline.py)
CASES = {
    "xray-4KiB": ((1, 64, 64), 2000, 64),
    "xray-4MiB": ((1, 2048, 2048), 64, 8),
    "xray-64MiB": ((1, 8192, 8192), 8, 4),
}
ROUNDS = 3


@pytest.fixture(scope="module")
def gateway_stack(
    session_dir: Path,
    shm_root: Path,
    broker: EmbeddedBroker,
    redis_service: EmbeddedRedis,
    ray_head: EmbeddedRay,
) -> Iterator[Stack]:
    """The gateway process alone, in its own namespace (its frames are never consumed)."""
    config = config_on_services(broker, redis_service, ray_head, session_dir / "gateway-run", shm_root, "bgw")
    config.gateway.max_backlog_frames = 0  # nothing is ever decided here: measure ingest, not push-back
    config.gateway.max_backlog_frames_per_source = 0
    config.gateway.max_backlog_bytes = config.gateway.max_backlog_bytes_per_source = 0
    stack = Stack(config)
    stack.start(worker=False)
    try:
        yield stack
    finally:
        stack.stop()


@pytest.fixture(scope="module")
def bare_ingest(gateway_stack: Stack, session_dir: Path) -> Iterator[BareIngestServer]:
    with BareIngestServer(session_dir, gateway_stack.config.gateway.max_chunk_bytes) as server:
        yield server


@pytest.fixture(scope="module")
def publishing_ingest(gateway_stack: Stack, session_dir: Path) -> Iterator[BareIngestServer]:
    """The bare server publishing every frame to a topic of its own before its ack."""
    config = gateway_stack.config
    bootstrap, topic = config.broker.bootstrap_servers, f"{config.namespace}.floor.gateway"
    asyncio.run(ensure_topics(bootstrap, [topic], config.broker.partitions))
    with BareIngestServer(session_dir, config.gateway.max_chunk_bytes, (bootstrap, topic)) as server:
        yield server


def ledger_counts(stack: Stack) -> Counts:
    async def read() -> Counts:
        client = aioredis.Redis.from_url(stack.config.redis.url)
        try:
            return await Ledger(client, stack.config.namespace).counts()
        finally:
            await client.aclose()

    return asyncio.run(read())


def drop_blobs(stack: Stack) -> None:
    """No worker releases the claim checks here: empty the namespace's blob folder after each round."""
    folder = Path(stack.config.blobstore.shm_root) / f"smartcustoms-{stack.config.namespace}"
    for path in folder.glob("*"):
        if path.is_file():
            path.unlink(missing_ok=True)
        else:
            shutil.rmtree(path, ignore_errors=True)


@pytest.mark.parametrize("case", list(CASES))
def test_gateway_ingest(
    benchmark: Any,
    case: str,
    gateway_stack: Stack,
    bare_ingest: BareIngestServer,
    publishing_ingest: BareIngestServer,
    checkpoint_summary: list[dict[str, Any]],
) -> None:
    shape, count, window = CASES[case]
    payload = np.random.default_rng(0).integers(0, 256, size=shape, dtype=np.uint8).tobytes()
    run_ids = (f"{uuid.uuid4().hex[:6]}r{n}" for n in itertools.count())
    bare_frames = xray_frames(case, shape, "bare", count)  # the bare server never checks ids
    inline = len(payload) <= gateway_stack.config.gateway.inline_max_bytes
    publishing_round_s: list[float] = []

    def bare() -> IngestRun:
        return asyncio.run(send_lean(bare_ingest.target, bare_frames, payload, window))

    def fresh_frames() -> list[Any]:
        return xray_frames(case, shape, next(run_ids), count)  # fresh ids and sequences

    def prepare() -> tuple[tuple[Any, ...], dict[str, Any]]:
        return (fresh_frames(),), {}

    def teardown(frames: list[Any]) -> None:
        drop_blobs(gateway_stack)
        if inline:  # the publishing floor's round, timed as the bare rounds are
            started = time.perf_counter()
            asyncio.run(send_lean(publishing_ingest.target, frames, payload, window))
            publishing_round_s.append(time.perf_counter() - started)

    framework_runs: list[IngestRun] = []

    def framework(frames: list[Any]) -> IngestRun:
        run = asyncio.run(send_lean(gateway_stack.gateway_target, frames, payload, window))
        framework_runs.append(run)
        return run

    before = ledger_counts(gateway_stack)
    _, rounds = run_alternating(benchmark, framework, bare, ROUNDS, prepare, teardown=teardown)
    sdk = asyncio.run(send_sdk(gateway_stack.gateway_target, fresh_frames(), payload, window))
    drop_blobs(gateway_stack)
    bare_sdk = asyncio.run(send_sdk(bare_ingest.target, bare_frames, payload, window))
    accepted = ledger_counts(gateway_stack).accepted - before.accepted
    assert accepted == (ROUNDS + 1) * count, f"{accepted} frames in the ledger, {(ROUNDS + 1) * count} acked"

    framework_latency = np.concatenate([run.latency_s for run in framework_runs])
    bare_latency = np.concatenate([run.latency_s for run in rounds.bare_results])
    figures: dict[str, Any] = {
        "frames": count,
        "payload_bytes": len(payload),
        "window_frames": window,
        "rounds": ROUNDS,
        **rates("", rounds.framework_median_s, count, len(payload)),
        **rates("bare_", rounds.bare_median_s, count, len(payload)),
    }
    figures |= {
        "framework_over_bare": ratio(figures["frames_per_s"], figures["bare_frames_per_s"]),
        "latency_p50_ms": ms(framework_latency, 50),
        "latency_p99_ms": ms(framework_latency, 99),
        "bare_latency_p50_ms": ms(bare_latency, 50),
        "bare_latency_p99_ms": ms(bare_latency, 99),
        **rates("sdk_client_", sdk.elapsed_s, count, len(payload)),
        **rates("bare_sdk_client_", bare_sdk.elapsed_s, count, len(payload)),
    }
    if publishing_round_s:
        figures |= rates("bare_publish_", float(np.median(publishing_round_s)), count, len(payload))
        publishing = figures["bare_publish_frames_per_s"]
        figures |= {
            "bare_publish_over_bare": ratio(publishing, figures["bare_frames_per_s"]),
            "framework_over_bare_publish": ratio(figures["frames_per_s"], publishing),
        }
    record(benchmark, checkpoint_summary, "gateway", case, figures)
