"""The verdict stage waits out a Redis outage with its verdicts in hand, then stores each once."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from prometheus_client import CollectorRegistry

from smartcustoms.core import verdicts
from smartcustoms.core.blobstore.memory import MemoryBlobStore
from smartcustoms.core.manager import new_plugin_manager
from smartcustoms.core.metrics import Metrics
from smartcustoms.core.sensors import Sensor
from smartcustoms.runtime.ledger import Ledger
from smartcustoms.runtime.process import ProcessStack
from smartcustoms.runtime.services import EmbeddedRedis
from smartcustoms.runtime.sink import VerdictSink
from smartcustoms.v1 import frame_pb2, results_pb2

pytestmark = pytest.mark.integration


def _frame(number: int) -> frame_pb2.Frame:
    return frame_pb2.Frame(
        frame_id=f"tag-{number}", source_id="vault-reader", modality=frame_pb2.MODALITY_RFID, sequence=number
    )


def test_verdicts_wait_for_redis_to_come_back_and_are_stored_once(tmp_path: Path) -> None:
    frames = [_frame(n) for n in range(5)]
    batch = results_pb2.VerdictBatch(verdicts=[verdicts.combine(f, []) for f in frames])
    with ProcessStack() as stack:
        server = stack.start(EmbeddedRedis(tmp_path, persistence=True))
        port = server.port

        async def scenario() -> list[int]:
            client = aioredis.Redis.from_url(server.url, socket_timeout=2.0)
            try:
                ledger = Ledger(client, "outage")
                for frame in frames:
                    await ledger.accept(frame, 30)
                server.stop()  # Redis goes away with the frames in flight
                sink = VerdictSink(
                    ledger, MemoryBlobStore(), new_plugin_manager(), Sensor(Metrics(CollectorRegistry()))
                )
                storing = asyncio.create_task(sink.store_batch_waiting([batch.SerializeToString()], 0.2))
                await asyncio.sleep(1.0)  # the sink retries meanwhile; it must neither fail nor give up
                assert not storing.done()
                await asyncio.to_thread(stack.start, EmbeddedRedis(tmp_path, port, persistence=True))
                assert await asyncio.wait_for(storing, 30) == []
                counts = await ledger.counts()
                return [counts.accepted, counts.fallbacks, counts.in_flight]
            finally:
                await client.aclose()

        assert asyncio.run(scenario()) == [5, 5, 0]  # no plugin: each a manual-inspection fallback, once
