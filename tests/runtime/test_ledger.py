"""The Redis ledger on a real Redis: idempotent acceptance and verdicts, and the conservation law."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable

import pytest
import redis.asyncio as aioredis

from smartcustoms.core import verdicts
from smartcustoms.runtime.ledger import AcceptOutcome, ConservationCollector, Counts, Ledger
from smartcustoms.runtime.services import EmbeddedRedis
from smartcustoms.v1 import frame_pb2

pytestmark = pytest.mark.integration


def _frame(frame_id: str, sequence: int) -> frame_pb2.Frame:
    frame = frame_pb2.Frame(
        frame_id=frame_id,
        source_id="lane-1",
        sequence=sequence,
        modality=frame_pb2.MODALITY_XRAY,
        conveyance_id="HK-1234",
    )
    frame.blob.CopyFrom(frame_pb2.BlobRef(store="shm", key=f"k-{frame_id}", size_bytes=10))
    frame.accepted_time.GetCurrentTime()
    return frame


def _run(redis_service: EmbeddedRedis, body: Callable[[Ledger], Awaitable[None]]) -> str:
    namespace = f"l{uuid.uuid4().hex[:8]}"

    async def main() -> None:
        client = aioredis.Redis.from_url(redis_service.url)
        try:
            await body(Ledger(client, namespace))
        finally:
            await client.aclose()

    asyncio.run(main())
    return namespace


def test_accept_is_idempotent_per_source_sequence_and_refuses_reused_ids(
    redis_service: EmbeddedRedis,
) -> None:
    async def body(ledger: Ledger) -> None:
        assert await ledger.accept(_frame("a", 1), 30) == (AcceptOutcome.ACCEPTED, "a")
        assert await ledger.accept(_frame("a-again", 1), 30) == (AcceptOutcome.DUPLICATE, "a")
        assert await ledger.accept(_frame("a", 2), 30) == (AcceptOutcome.ID_IN_USE, "a")
        assert await ledger.accept(_frame("no-seq-1", 0), 30) == (AcceptOutcome.ACCEPTED, "no-seq-1")
        assert await ledger.accept(_frame("no-seq-2", 0), 30) == (AcceptOutcome.ACCEPTED, "no-seq-2")
        assert await ledger.counts() == Counts(accepted=3, verdicts=0, fallbacks=0, in_flight=3)

    _run(redis_service, body)


def test_a_frame_gets_one_verdict_however_often_it_is_finalized(redis_service: EmbeddedRedis) -> None:
    async def body(ledger: Ledger) -> None:
        frame = _frame("b", 1)
        await ledger.accept(frame, 30)
        verdict = verdicts.combine(frame, [])  # no plugin: manual inspection
        alert = verdicts.alert_for(verdict)
        record = await ledger.finalize(verdict, alert)
        assert record is not None and record.blob.key == "k-b"
        assert await ledger.finalize(verdict, alert) is None
        assert await ledger.counts() == Counts(accepted=1, verdicts=0, fallbacks=1, in_flight=0)
        stored = await ledger.verdict("b")
        assert stored is not None and stored.fallback_reason.startswith("no_plugin")
        latest = await ledger.latest("conveyance", "HK-1234")
        assert latest is not None and latest.frame_id == "b"
        # per-source and per-frame keys expire: source ids never seen again leave nothing behind
        for key in (ledger.key("latest", "source", "lane-1"), ledger.key("verdict", "b")):
            assert 0 < await ledger.client.ttl(key) <= ledger.verdict_ttl_s
        assert [a.frame_id for a in await ledger.alerts()] == ["b"]
        assert await ledger.finalize(verdicts.combine(_frame("never-accepted", 9), []), None) is None
        assert (await ledger.counts()).imbalance == 0

    _run(redis_service, body)


def test_frames_in_flight_are_counted_per_source_until_their_verdict(redis_service: EmbeddedRedis) -> None:
    async def body(ledger: Ledger) -> None:
        lane_2 = _frame("c", 1)
        lane_2.source_id = "lane-2"
        for frame in (_frame("a", 1), _frame("b", 2), lane_2):
            await ledger.accept(frame, 30)
        await ledger.accept(_frame("a-again", 1), 30)  # a duplicate counts nothing
        assert await ledger.in_flight_by_source() == (3, {"lane-1": 2, "lane-2": 1})
        for frame_id in ("a", "c"):
            await ledger.finalize(verdicts.combine(_frame(frame_id, 0), []), None)
        await ledger.finalize(verdicts.combine(_frame("a", 0), []), None)  # a second verdict: no change
        assert await ledger.in_flight_by_source() == (1, {"lane-1": 1})  # a source with none is gone
        await ledger.finalize(verdicts.combine(_frame("b", 0), []), None)
        assert await ledger.in_flight_by_source() == (0, {})
        assert await ledger.client.hlen(ledger.key("inflight_source")) == 0

    _run(redis_service, body)


def test_due_frames_are_claimed_for_redelivery_with_an_attempt_count(redis_service: EmbeddedRedis) -> None:
    async def body(ledger: Ledger) -> None:
        await ledger.accept(_frame("c", 1), redeliver_after_s=-1)  # already due
        await ledger.accept(_frame("d", 2), redeliver_after_s=3600)
        import time

        assert await ledger.due(time.time(), 10) == ["c"]
        claimed = await ledger.claim_redelivery("c", time.time() + 3600)
        assert claimed is not None and claimed[0].frame_id == "c" and claimed[1] == 1
        assert await ledger.due(time.time(), 10) == []
        await ledger.finalize(verdicts.combine(_frame("c", 1), []), None)
        assert await ledger.claim_redelivery("c", time.time()) is None

    _run(redis_service, body)


def test_the_conservation_collector_reads_the_ledger(redis_service: EmbeddedRedis) -> None:
    async def body(ledger: Ledger) -> None:
        for i in range(3):
            await ledger.accept(_frame(f"e{i}", i + 1), 30)
        await ledger.finalize(verdicts.combine(_frame("e0", 1), []), None)

    namespace = _run(redis_service, body)
    families = {f.name: f for f in ConservationCollector(redis_service.url, namespace).collect()}
    states = {s.labels["state"]: s.value for s in families["smartcustoms_conservation_frames"].samples}
    assert states == {"accepted": 3, "verdict": 0, "fallback": 1, "in_flight": 2}
    assert families["smartcustoms_conservation_imbalance_frames"].samples[0].value == 0
