"""The Redis ledger on a real Redis: idempotent acceptance and verdicts, and the conservation law."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable

import pytest
import redis.asyncio as aioredis

from smartcustoms.core import verdicts
from smartcustoms.core.audit import audit_key
from smartcustoms.runtime import ledger as ledger_module
from smartcustoms.runtime.ledger import (
    WRITTEN_TTL_S,
    AcceptOutcome,
    Admission,
    ConservationCollector,
    Counts,
    InFlightFigures,
    Ledger,
)
from smartcustoms.runtime.services import EmbeddedRedis
from smartcustoms.v1 import frame_pb2, results_pb2

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


def test_a_batch_of_verdicts_is_stored_in_order_each_frame_once_across_script_calls(
    redis_service: EmbeddedRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``finalize_many`` in calls of ``FINALIZE_BATCH`` verdicts: repeats within a call and across calls,
    and a frame never accepted, get no record; each stored verdict is counted, alerted, audited and kept
    as its source's (and conveyance's) latest once."""
    monkeypatch.setattr(ledger_module, "FINALIZE_BATCH", 4)

    def clear(frame: frame_pb2.Frame) -> results_pb2.Verdict:
        return results_pb2.Verdict(
            frame_id=frame.frame_id, source_id=frame.source_id, decision=results_pb2.DECISION_CLEAR
        )

    async def body(ledger: Ledger) -> None:
        frames = [_frame(f"f{i}", i + 1) for i in range(6)]
        await ledger.accept_many([(frame, None) for frame in frames], 30)
        fallback_1, fallback_4 = verdicts.combine(frames[1], []), verdicts.combine(frames[4], [])
        items = [
            (clear(frames[0]), None),
            (fallback_1, verdicts.alert_for(fallback_1)),
            (clear(frames[2]), None),
            (clear(frames[0]), None),  # again, in the same call
            (clear(_frame("never-accepted", 99)), None),
            (clear(frames[3]), None),
            (clear(frames[2]), None),  # again, in a later call
            (fallback_4, verdicts.alert_for(fallback_4)),
            (clear(frames[5]), None),
        ]
        script, calls = ledger._finalize, []

        async def counted(*, keys: list[str], args: list[object]) -> object:
            calls.append(len(keys))
            return await script(keys=keys, args=args)

        monkeypatch.setattr(ledger, "_finalize", counted)
        records = await ledger.finalize_many(items)
        assert calls == [11 + 3 * 4, 11 + 3 * 4, 11 + 3 * 1]  # shared keys, then three a verdict
        stored = [None if r is None else r.frame_id for r in records]
        assert stored == ["f0", "f1", "f2", None, None, "f3", None, "f4", "f5"]
        assert await ledger.counts() == Counts(accepted=6, verdicts=4, fallbacks=2, in_flight=0)
        assert sorted(a.frame_id for a in await ledger.alerts()) == ["f1", "f4"]
        assert await ledger.client.llen(audit_key(ledger.namespace, "pending")) == 6
        clear_, manual = results_pb2.DECISION_CLEAR, results_pb2.DECISION_MANUAL_INSPECTION
        for frame, decision in zip(frames, [clear_, manual, clear_, clear_, manual, clear_], strict=True):
            verdict = await ledger.verdict(frame.frame_id)
            assert verdict is not None and verdict.decision == decision
        latest_source, latest_conveyance = (
            await ledger.latest("source", "lane-1"),
            await ledger.latest("conveyance", "HK-1234"),
        )  # the clear verdicts carry no conveyance: the last one that did was f4's
        assert latest_source is not None and latest_source.frame_id == "f5"
        assert latest_conveyance is not None and latest_conveyance.frame_id == "f4"
        assert await ledger.in_flight_figures() == InFlightFigures(0, {}, {})
        assert await ledger.finalize_many([]) == []

    _run(redis_service, body)


def test_frames_in_flight_are_counted_per_source_until_their_verdict(redis_service: EmbeddedRedis) -> None:
    async def body(ledger: Ledger) -> None:
        lane_2 = _frame("c", 1)
        lane_2.source_id = "lane-2"
        sizes = {"a": 1000, "b": 24, "c": 7}
        for frame in (_frame("a", 1), _frame("b", 2), lane_2):
            frame.payload_bytes = sizes[frame.frame_id]
            await ledger.accept(frame, 30)
        await ledger.accept(_frame("a-again", 1), 30)  # a duplicate counts nothing
        figures = await ledger.in_flight_figures()
        assert (figures.frames, figures.by_source) == (3, {"lane-1": 2, "lane-2": 1})
        assert figures.bytes_by_source == {"lane-1": 1024, "lane-2": 7} and figures.total_bytes == 1031
        for frame_id in ("a", "c"):
            await ledger.finalize(verdicts.combine(_frame(frame_id, 0), []), None)
        await ledger.finalize(verdicts.combine(_frame("a", 0), []), None)  # a second verdict: no change
        figures = await ledger.in_flight_figures()  # a source with none is gone
        assert (figures.frames, figures.by_source, figures.bytes_by_source) == (
            1,
            {"lane-1": 1},
            {"lane-1": 24},
        )
        await ledger.finalize(verdicts.combine(_frame("b", 0), []), None)
        assert await ledger.in_flight_figures() == InFlightFigures(0, {}, {})
        for per_frame in ("inflight_source", "inflight_size"):
            assert await ledger.client.hlen(ledger.key(per_frame)) == 0

    _run(redis_service, body)


def test_a_gateway_reads_which_of_its_admissions_the_figures_count(redis_service: EmbeddedRedis) -> None:
    async def body(ledger: Ledger) -> None:
        mine, other = "gw-a", "gw-b"
        await ledger.accept(_frame("a", 1), 30, Admission(mine, "1"))
        await ledger.accept(_frame("a-again", 1), 30, Admission(mine, "2"))  # a duplicate: not recorded
        await ledger.accept(_frame("b", 2), 30, Admission(other, "1"))
        squatted = _frame("a", 0)
        squatted.source_id = "lane-2"  # recorded as lane-2/a
        await ledger.accept(squatted, 30, Admission(mine, "3"))
        await ledger.accept(_frame("c", 3), 30)  # not let in by a gateway's push-back
        assert 0 < await ledger.client.ttl(ledger.key("written", mine)) <= WRITTEN_TTL_S
        figures = await ledger.in_flight_figures(mine)
        assert (figures.frames, figures.written) == (4, frozenset({"1", "3"}))
        assert (await ledger.in_flight_figures(mine)).written == frozenset()  # taken by the read
        assert (await ledger.in_flight_figures()).written == frozenset()
        assert (await ledger.in_flight_figures(other)).written == frozenset({"1"})

    _run(redis_service, body)


def test_frame_ids_are_scoped_per_source_so_no_source_can_squat_another_s(
    redis_service: EmbeddedRedis,
) -> None:
    async def body(ledger: Ledger) -> None:
        squat = _frame("bag-7", 9)
        squat.source_id = "lane-2"  # takes the id lane-1 is about to use
        assert await ledger.accept(squat, 30) == (AcceptOutcome.ACCEPTED, "bag-7")
        real = _frame("bag-7", 7)
        assert await ledger.accept(real, 30) == (AcceptOutcome.ACCEPTED, "lane-1/bag-7")
        assert real.frame_id == "lane-1/bag-7", "the record and everything downstream carry the scoped id"
        again = _frame("bag-7", 7)  # the same frame sent again: a duplicate of the scoped one
        assert await ledger.accept(again, 30) == (AcceptOutcome.DUPLICATE, "lane-1/bag-7")
        reused = _frame("bag-7", 8)  # lane-1 using its own (scoped) id for a second frame: refused
        assert await ledger.accept(reused, 30) == (AcceptOutcome.ID_IN_USE, "lane-1/bag-7")
        assert reused.frame_id == "bag-7", "a refused frame keeps the id it was sent with"
        record = await ledger.in_flight_record("lane-1/bag-7")
        assert record is not None and (record.source_id, record.sequence) == ("lane-1", 7)
        await ledger.finalize(verdicts.combine(squat, []), None)
        await ledger.finalize(verdicts.combine(record, []), None)
        mine, theirs = await ledger.verdict("lane-1/bag-7"), await ledger.verdict("bag-7")
        assert mine is not None and theirs is not None
        assert (mine.source_id, theirs.source_id) == ("lane-1", "lane-2")
        # after its verdict the id stays lane-2's (for as long as verdicts are kept): lane-1 is scoped
        later = _frame("bag-7", 10)
        assert await ledger.accept(later, 30) == (AcceptOutcome.ID_IN_USE, "lane-1/bag-7")
        owner = ledger.key("owner", "bag-7")
        assert 0 < await ledger.client.ttl(owner) <= ledger.verdict_ttl_s
        lane_2_again = _frame("bag-7", 11)
        lane_2_again.source_id = "lane-2"  # the owner reusing its id: refused as before
        assert await ledger.accept(lane_2_again, 30) == (AcceptOutcome.ID_IN_USE, "bag-7")
        assert (await ledger.counts()).imbalance == 0

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


def test_a_batch_is_recorded_in_its_order_and_comes_due_in_it(redis_service: EmbeddedRedis) -> None:
    """One call for a batch: each frame answered as it would be alone, and the reconciler finds them due
    in the batch's order, not in the order of their ids."""

    async def body(ledger: Ledger) -> None:
        batch = [(_frame(f"f-{n}", n), None) for n in range(1, 13)]
        batch.append((_frame("f-3-again", 3), None))  # a resend within the same batch
        answers = await ledger.accept_many(batch, 0)
        assert answers[:12] == [(AcceptOutcome.ACCEPTED, f"f-{n}") for n in range(1, 13)]
        assert answers[12] == (AcceptOutcome.DUPLICATE, "f-3")
        assert await ledger.due(time.time() + 60, 100) == [f"f-{n}" for n in range(1, 13)]

    _run(redis_service, body)
