"""The verdict sink against its ledger (a real Redis): a verdict is counted as soon as the ledger holds
it, not after the previews of other verdicts in its batch are rendered; a batch the stream worker stored
already is not stored again by the verdict stage."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import numpy as np
import pytest
import redis
import redis.asyncio as aioredis
from prometheus_client import CollectorRegistry
from redis.exceptions import ConnectionError as RedisConnectionError

from smartcustoms.core import verdicts
from smartcustoms.core.blobstore.memory import MemoryBlobStore
from smartcustoms.core.blobstore.redis import RedisBlobStore
from smartcustoms.core.config import ScreeningConfig
from smartcustoms.core.frames import array_frame
from smartcustoms.core.manager import new_plugin_manager
from smartcustoms.core.metrics import Metrics
from smartcustoms.core.sensors import Sensor
from smartcustoms.core.types import Modality
from smartcustoms.runtime import ledger as ledger_module
from smartcustoms.runtime import sink as sink_module
from smartcustoms.runtime.ledger import Counts, Ledger
from smartcustoms.runtime.screening import MAX_RENDERING, ScreeningDesk, ScreeningFeed
from smartcustoms.runtime.services import EmbeddedRedis
from smartcustoms.runtime.sink import VerdictSink
from smartcustoms.v1 import frame_pb2, results_pb2

pytestmark = pytest.mark.integration


def ct_frame(sequence: int) -> frame_pb2.Frame:
    frame = array_frame(
        np.zeros((4, 4, 4), np.int16),
        modality=Modality.CT,
        source_id="ct-1",
        sequence=sequence,
        frame_id=f"ct-{sequence}",
    )
    frame.accepted_time.GetCurrentTime()
    return frame


def fallbacks(registry: CollectorRegistry) -> float:
    return (
        registry.get_sample_value(
            "smartcustoms_fallbacks_total", {"modality": "ct", "reason": "plugin_timed_out"}
        )
        or 0.0
    )


def test_every_verdict_of_a_batch_is_counted_before_any_preview_is_rendered(
    redis_service: EmbeddedRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = CollectorRegistry()
    alarmed, timed_out = ct_frame(1), ct_frame(2)
    found = results_pb2.PluginResult(
        plugin="sleepy",
        decision=results_pb2.DECISION_ALARM,
        detections=[results_pb2.Detection(label="dense", score=0.9)],
    )
    batch = results_pb2.VerdictBatch(
        verdicts=[
            verdicts.combine(alarmed, [found]),
            verdicts.fallback(timed_out, "plugin_timed_out: sleepy timed out"),
        ]
    )
    counted_at_preview: list[float] = []

    async def keep_preview(self: VerdictSink, record: frame_pb2.Frame, verdict: results_pb2.Verdict) -> None:
        counted_at_preview.append(fallbacks(registry))

    monkeypatch.setattr(VerdictSink, "_keep_preview", keep_preview)

    async def main() -> None:
        client = aioredis.Redis.from_url(redis_service.url)
        try:
            ledger = Ledger(client, f"sm{uuid.uuid4().hex[:8]}")
            sink = VerdictSink(ledger, MemoryBlobStore(), new_plugin_manager(), Sensor(Metrics(registry)))
            for frame in (alarmed, timed_out):
                await ledger.accept(frame, 30)
            assert await sink.store_batch([batch.SerializeToString()]) == []
        finally:
            await client.aclose()

    asyncio.run(main())
    # both verdicts alert officers (an alarm, a manual inspection): when the first preview was rendered,
    # the later fallback was already counted
    assert counted_at_preview == [1.0, 1.0]
    assert fallbacks(registry) == 1.0


def test_the_verdict_stage_stores_only_the_batches_not_stored_where_they_were_decided(
    redis_service: EmbeddedRedis,
) -> None:
    registry = CollectorRegistry()
    decided, fallen_back = ct_frame(1), ct_frame(2)
    stored_already = results_pb2.VerdictBatch(verdicts=[verdicts.combine(decided, [])], stored=True)
    from_the_reconciler = results_pb2.VerdictBatch(
        verdicts=[verdicts.fallback(fallen_back, "redelivery_exhausted: 3")]
    )

    async def main() -> tuple[object, object, int]:
        client = aioredis.Redis.from_url(redis_service.url)
        try:
            ledger = Ledger(client, f"sm{uuid.uuid4().hex[:8]}")
            sink = VerdictSink(ledger, MemoryBlobStore(), new_plugin_manager(), Sensor(Metrics(registry)))
            for frame in (decided, fallen_back):
                await ledger.accept(frame, 30)
            messages = [stored_already.SerializeToString(), from_the_reconciler.SerializeToString(), b"\xff"]
            assert await sink.store_batch(messages) == [b"\xff"]
            return (
                await ledger.verdict("ct-1"),
                await ledger.verdict("ct-2"),
                (await ledger.counts()).in_flight,
            )
        finally:
            await client.aclose()

    kept, fallback, in_flight = asyncio.run(main())
    assert kept is None and fallback is not None  # ct-1 is left to the worker that decided it
    assert in_flight == 1


def second_script_call_fails(ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Make the ledger's second finalize script call fail before Redis runs it (once); the list returned
    records how many verdicts each call carried."""
    script, calls = ledger._finalize, []

    async def failing(*, keys: list[str], args: list[object]) -> object:
        calls.append((len(keys) - 11) // 3)  # verdicts in the call
        if len(calls) == 2:
            raise RedisConnectionError("connection lost")
        return await script(keys=keys, args=args)

    monkeypatch.setattr(ledger, "_finalize", failing)
    return calls


def test_a_ledger_call_that_fails_after_the_first_leaves_the_verdicts_before_it_handled_once(
    redis_service: EmbeddedRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A large batch is stored in script calls of ``FINALIZE_BATCH`` verdicts, each call's verdicts
    reported before the next call: when a later call fails before Redis runs it, the retry finds the
    earlier ones stored and reports only the rest, so every verdict's hooks run once."""
    monkeypatch.setattr(ledger_module, "FINALIZE_BATCH", 2)
    monkeypatch.setattr(sink_module, "FINALIZE_BATCH", 2)
    frames = [ct_frame(sequence) for sequence in range(1, 6)]
    clear = results_pb2.PluginResult(plugin="p", decision=results_pb2.DECISION_CLEAR)
    decided = [verdicts.combine(frame, [clear]) for frame in frames]
    reported: list[str] = []
    monkeypatch.setattr(
        VerdictSink, "_report", lambda self, verdict, alert: reported.append(verdict.frame_id)
    )

    async def main() -> None:
        client = aioredis.Redis.from_url(redis_service.url)
        try:
            ledger = Ledger(client, f"sm{uuid.uuid4().hex[:8]}")
            sink = VerdictSink(
                ledger, MemoryBlobStore(), new_plugin_manager(), Sensor(Metrics(CollectorRegistry()))
            )
            for frame in frames:
                await ledger.accept(frame, 30)
            calls = second_script_call_fails(ledger, monkeypatch)
            with pytest.raises(RedisConnectionError):
                await sink.store_verdicts(decided)
            assert reported == ["ct-1", "ct-2"]
            await sink.store_verdicts(decided)  # the retry
            assert calls == [2, 2, 2, 2, 1]
            assert reported == ["ct-1", "ct-2", "ct-3", "ct-4", "ct-5"]
            assert await ledger.counts() == Counts(accepted=5, verdicts=5, fallbacks=0, in_flight=0)
        finally:
            await client.aclose()

    asyncio.run(main())


@pytest.mark.parametrize("entry", ["store_verdicts_waiting", "store_batch_waiting"])
def test_waiting_out_a_failed_ledger_call_resumes_at_that_call(
    redis_service: EmbeddedRedis, monkeypatch: pytest.MonkeyPatch, entry: str
) -> None:
    """The worker and the verdict stage wait out Redis; a retry starts at the call that failed, so the
    verdicts stored before it are neither sent again nor counted as duplicates, and the sink's duration
    counts the calls, not the wait between attempts (made 2 s here)."""
    sleep = asyncio.sleep

    async def longer(delay: float, *args: Any) -> Any:
        return await sleep(delay * 20, *args)

    monkeypatch.setattr(asyncio, "sleep", longer)
    monkeypatch.setattr(ledger_module, "FINALIZE_BATCH", 2)
    monkeypatch.setattr(sink_module, "FINALIZE_BATCH", 2)
    frames = [ct_frame(sequence) for sequence in range(11, 16)]
    clear = results_pb2.PluginResult(plugin="p", decision=results_pb2.DECISION_CLEAR)
    decided = [verdicts.combine(frame, [clear]) for frame in frames]
    registry = CollectorRegistry()

    async def main() -> list[int]:
        client = aioredis.Redis.from_url(redis_service.url)
        try:
            ledger = Ledger(client, f"sm{uuid.uuid4().hex[:8]}")
            sink = VerdictSink(ledger, MemoryBlobStore(), new_plugin_manager(), Sensor(Metrics(registry)))
            for frame in frames:
                await ledger.accept(frame, 30)
            calls = second_script_call_fails(ledger, monkeypatch)
            if entry == "store_batch_waiting":
                batch = results_pb2.VerdictBatch(verdicts=decided).SerializeToString()
                assert await sink.store_batch_waiting([batch]) == []
            else:
                await sink.store_verdicts_waiting(decided)
            assert await ledger.counts() == Counts(accepted=5, verdicts=5, fallbacks=0, in_flight=0)
            return calls
        finally:
            await client.aclose()

    assert asyncio.run(main()) == [2, 2, 2, 1]  # the failed second call again, then the third
    assert registry.get_sample_value("smartcustoms_sink_duplicate_verdicts_total") == 0
    stored = registry.get_sample_value(
        "smartcustoms_sink_verdicts_total", {"modality": "ct", "decision": "clear"}
    )
    assert stored == 5
    assert registry.get_sample_value("smartcustoms_sink_duration_seconds_count") == 1
    duration_s = registry.get_sample_value("smartcustoms_sink_duration_seconds_sum")
    assert duration_s is not None and duration_s < 2.0  # four script calls on a local Redis, no wait


def test_a_payload_that_cannot_be_released_costs_no_verdict_and_is_released_later(
    redis_service: EmbeddedRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The payloads sit in the Redis blob store. Its release of the second fails once the ledger has
    stored the three verdicts (the connection drops): the call still ends, every verdict reported once
    and none counted a duplicate, the other two payloads released; the failed one is kept, counted, and
    released after the next batch's ledger call."""
    registry = CollectorRegistry()
    frames = [ct_frame(sequence) for sequence in range(21, 25)]
    clear = results_pb2.PluginResult(plugin="p", decision=results_pb2.DECISION_CLEAR)
    reported: list[str] = []
    monkeypatch.setattr(
        VerdictSink, "_report", lambda self, verdict, alert: reported.append(verdict.frame_id)
    )

    def sample(name: str) -> float:
        return registry.get_sample_value(name) or 0.0

    async def main() -> tuple[list[bool], list[bool]]:
        client = aioredis.Redis.from_url(redis_service.url)
        store = RedisBlobStore(redis.Redis.from_url(redis_service.url), namespace=f"t{uuid.uuid4().hex[:8]}")
        try:
            for frame in frames:
                writer = store.open_writer(frame.frame_id, 64)
                writer.write(bytes(64))
                frame.blob.CopyFrom(writer.commit())
                frame.ClearField("payload")
            ledger = Ledger(client, f"sm{uuid.uuid4().hex[:8]}")
            sink = VerdictSink(ledger, store, new_plugin_manager(), Sensor(Metrics(registry)))
            for frame in frames:
                await ledger.accept(frame, 30)
            release, releases = store._release_script, []

            def dropping(*, keys: list[str]) -> object:
                releases.append(keys[0])
                if len(releases) == 2:
                    raise RedisConnectionError("connection lost")
                return release(keys=keys)

            monkeypatch.setattr(store, "_release_script", dropping)
            await sink.store_verdicts_waiting([verdicts.combine(frame, [clear]) for frame in frames[:3]])
            kept = [store.exists(frame.blob) for frame in frames]
            assert sample("smartcustoms_blob_release_failures_total") == 1.0
            assert sample("smartcustoms_blobs_awaiting_release") == 1.0
            await sink.store_verdicts_waiting([verdicts.combine(frames[3], [clear])])
            assert await ledger.counts() == Counts(accepted=4, verdicts=4, fallbacks=0, in_flight=0)
            return kept, [store.exists(frame.blob) for frame in frames]
        finally:
            await client.aclose()
            store.close()

    after_first, after_second = asyncio.run(main())
    assert after_first == [False, True, False, True]  # the second kept; the fourth not decided yet
    assert after_second == [False, False, False, False]
    assert reported == ["ct-21", "ct-22", "ct-23", "ct-24"]
    assert sample("smartcustoms_sink_duplicate_verdicts_total") == 0.0
    assert sample("smartcustoms_blobs_released_total") == 4.0
    assert sample("smartcustoms_blobs_awaiting_release") == 0.0


def test_a_reference_no_store_can_release_is_not_kept_behind_the_ones_waiting(
    redis_service: EmbeddedRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A release the store does not answer (its connection drops) is kept; a reference to another store
    can never be released: it is logged and counted, not kept, so it holds up nothing; the kept one is
    released after the next ledger call."""
    registry = CollectorRegistry()
    frames = [ct_frame(sequence) for sequence in range(31, 35)]
    clear = results_pb2.PluginResult(plugin="p", decision=results_pb2.DECISION_CLEAR)
    store = MemoryBlobStore()
    for frame in frames:
        writer = store.open_writer(frame.frame_id, 8)
        writer.write(bytes(8))
        frame.blob.CopyFrom(writer.commit())
        frame.ClearField("payload")
    frames[1].blob.store = "elsewhere"  # not this store's: release raises ValueError
    release, failed_once = store.release, []

    def flaky(ref: frame_pb2.BlobRef) -> bool:
        if ref.key == frames[0].frame_id and not failed_once:
            failed_once.append(ref.key)
            raise ConnectionError("store unreachable")
        return release(ref)

    monkeypatch.setattr(store, "release", flaky)

    def sample(name: str) -> float:
        return registry.get_sample_value(name) or 0.0

    async def main() -> tuple[list[bool], float, list[bool]]:
        client = aioredis.Redis.from_url(redis_service.url)
        try:
            ledger = Ledger(client, f"sm{uuid.uuid4().hex[:8]}")
            sink = VerdictSink(ledger, store, new_plugin_manager(), Sensor(Metrics(registry)))
            for frame in frames:
                await ledger.accept(frame, 30)
            await sink.store_verdicts_waiting([verdicts.combine(frame, [clear]) for frame in frames[:3]])
            first = [store.exists(frame.blob) for frame in (frames[0], frames[2])]
            awaiting = sample("smartcustoms_blobs_awaiting_release")
            await sink.store_verdicts_waiting([verdicts.combine(frames[3], [clear])])
            return first, awaiting, [store.exists(frame.blob) for frame in (frames[0], frames[3])]
        finally:
            await client.aclose()

    first, awaiting, second = asyncio.run(main())
    assert first == [True, False] and awaiting == 1.0  # the failed one kept, the bad reference not
    assert second == [False, False]
    assert sample("smartcustoms_blob_release_failures_total") == 2.0
    assert sample("smartcustoms_blobs_awaiting_release") == 0.0
    assert sample("smartcustoms_blobs_released_total") == 3.0


def test_screened_lanes_bags_go_to_the_feed_from_the_store_and_their_payloads_are_released(
    redis_service: EmbeddedRedis,
) -> None:
    registry = CollectorRegistry()
    store = MemoryBlobStore()
    frames = []
    for n, lane in enumerate(["lane-s"] * (MAX_RENDERING + 1) + ["lane-z"]):
        frame = array_frame(
            np.full((2, 32, 48), 40_000 + n, np.uint16),
            modality=Modality.XRAY,
            source_id=lane,
            sequence=n + 1,
            frame_id=f"bag-{n}",
        )
        with store.open_writer(f"blob-{n}", len(frame.payload)) as writer:
            writer.write(frame.payload)
            ref = writer.commit()
        frame.ClearField("payload")
        frame.blob.CopyFrom(ref)
        frames.append(frame)
    settings = ScreeningConfig(lanes={"lane-s": 0.0})

    async def main() -> tuple[int, int]:
        client = aioredis.Redis.from_url(redis_service.url)
        namespace = f"sm{uuid.uuid4().hex[:8]}"
        try:
            ledger = Ledger(client, namespace)
            sensor = Sensor(Metrics(registry))
            feed = ScreeningFeed(client, namespace, settings, lambda: [], sensor=sensor)
            sink = VerdictSink(ledger, store, new_plugin_manager(), sensor, screening=feed)
            for frame in frames:
                await ledger.accept(frame, 30)
            clear = [results_pb2.PluginResult(plugin="dense_region", decision=results_pb2.DECISION_CLEAR)]
            decided = [verdicts.combine(frame, clear) for frame in frames]
            assert not any(verdicts.alert_for(v) for v in decided)  # no preview awaited between bags
            await sink.store_verdicts(decided)
            released = sum(store.exists(frame.blob) for frame in frames)  # at once, not after rendering
            await feed.settle()
            return released, await ScreeningDesk(client, namespace, settings).waiting()
        finally:
            await client.aclose()

    still_stored, waiting = asyncio.run(main())
    assert (still_stored, waiting) == (0, MAX_RENDERING)  # the third screened bag found the renderer busy
    skipped = registry.get_sample_value("smartcustoms_screening_bags_total", {"outcome": "skipped"})
    assert skipped == 1.0
