"""Risk on records through the real sink and ledger (a real Redis): what the sink counts from a record
frame's verdict, and how officers' decisions on its alert reach the per-plugin tallies."""

from __future__ import annotations

import asyncio
import uuid

import pytest
import redis.asyncio as aioredis
from prometheus_client import CollectorRegistry

from smartcustoms.core import verdicts
from smartcustoms.core.blobstore.memory import MemoryBlobStore
from smartcustoms.core.manager import new_plugin_manager
from smartcustoms.core.metrics import Metrics
from smartcustoms.core.sensors import Sensor
from smartcustoms.hardware.sim.records import CargoDeclarationSimulator, to_frame
from smartcustoms.runtime.ledger import Ledger, adjudication_collectors
from smartcustoms.runtime.services import EmbeddedRedis
from smartcustoms.runtime.sink import VerdictSink
from smartcustoms.v1 import frame_pb2, results_pb2

pytestmark = pytest.mark.integration

CONFIRMED = results_pb2.ADJUDICATION_OUTCOME_CONFIRMED
CLEARED = results_pb2.ADJUDICATION_OUTCOME_CLEARED


def cargo_frame(frame_id: str) -> frame_pb2.Frame:
    frame = to_frame(CargoDeclarationSimulator(seed=3).batch(0, size=50), "customs-export", 1)
    frame.frame_id = frame_id
    frame.accepted_time.GetCurrentTime()
    return frame


def cargo_result(*attributes: dict[str, str]) -> results_pb2.PluginResult:
    """A result shaped like cargo_risk's: one detection per selected declaration."""
    detections = [results_pb2.Detection(label="cargo_risk", score=0.8, attributes=a) for a in attributes]
    decision = results_pb2.DECISION_ALARM if detections else results_pb2.DECISION_CLEAR
    return results_pb2.PluginResult(
        plugin="cargo_risk", decision=decision, detections=detections, risk_score=0.8
    )


def tallies(redis_url: str, namespace: str) -> dict[tuple[str, ...], float]:
    """The record alert tallies as the gateways export them."""
    families = [f for c in adjudication_collectors(redis_url, namespace) for f in c.collect()]
    (family,) = [f for f in families if f.name == "smartcustoms_record_alerts_adjudicated"]
    return {tuple(s.labels.values()): s.value for s in family.samples}


def test_the_sink_counts_records_and_officers_move_the_record_tallies(redis_service: EmbeddedRedis) -> None:
    namespace = f"rm{uuid.uuid4().hex[:8]}"
    registry = CollectorRegistry()
    frame = cargo_frame("cargo-1")
    selected = cargo_result(
        {"record_id": "cd-3-0-4", "reasons": "r"},
        {"record_id": "cd-3-0-9", "reasons": "r", "explored": "1", "partial": "weight_kg"},
    )
    shadow = results_pb2.PluginResult(plugin="cargo_risk_candidate", risk_score=0.4)

    async def main() -> None:
        client = aioredis.Redis.from_url(redis_service.url)
        try:
            ledger = Ledger(client, namespace)
            sink = VerdictSink(ledger, MemoryBlobStore(), new_plugin_manager(), Sensor(Metrics(registry)))
            await ledger.accept(frame, 30)
            verdict = verdicts.combine(frame, [selected], shadow=[shadow])
            message = results_pb2.VerdictBatch(verdicts=[verdict]).SerializeToString()
            assert await sink.store_batch([message, message]) == []  # the second copy is a duplicate
            await ledger.adjudicate("cargo-1", CONFIRMED, "PO 1")
            assert tallies(redis_service.url, namespace) == {
                ("cargo_risk", "score", "confirmed"): 1,
                ("cargo_risk", "score", "cleared"): 0,
            }
            changed = await ledger.adjudicate("cargo-1", CLEARED, "SPO 2", "re-examined: nothing there")
            assert (changed.adjudication.outcome, changed.adjudication.officer) == (CLEARED, "SPO 2")
            (earlier,) = changed.earlier_adjudications  # the replaced decision is kept, not erased
            assert (earlier.outcome, earlier.officer) == (CONFIRMED, "PO 1")
            assert await ledger.verdict("cargo-1") == changed
        finally:
            await client.aclose()

    asyncio.run(main())

    def sample(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, labels)

    live = {"plugin": "cargo_risk", "kind": "other"}  # no plugin list given to this sensor: kind "other"
    assert sample("smartcustoms_records_scored_total", **live) == 50  # counted once, not per copy
    assert sample("smartcustoms_records_selected_total", **live, reason="score") == 1
    assert sample("smartcustoms_records_selected_total", **live, reason="exploration") == 1
    assert sample("smartcustoms_records_selected_partial_total", **live) == 1
    assert sample("smartcustoms_record_risk_score_sum", plugin="cargo_risk") == pytest.approx(0.8)
    candidate = {"plugin": "cargo_risk_candidate", "kind": "other"}
    assert sample("smartcustoms_records_scored_total", **candidate) == 50  # shadow plugins count too
    assert sample("smartcustoms_records_selected_total", **candidate, reason="score") == 0
    assert tallies(redis_service.url, namespace) == {
        ("cargo_risk", "score", "confirmed"): 0,
        ("cargo_risk", "score", "cleared"): 1,
    }


def test_an_alert_from_exploration_picks_only_is_tallied_apart(redis_service: EmbeddedRedis) -> None:
    namespace = f"rm{uuid.uuid4().hex[:8]}"
    frame = cargo_frame("cargo-2")

    async def main() -> None:
        client = aioredis.Redis.from_url(redis_service.url)
        try:
            ledger = Ledger(client, namespace)
            await ledger.accept(frame, 30)
            result = cargo_result({"record_id": "cd-3-0-1", "explored": "1"})
            await ledger.finalize(verdicts.combine(frame, [result]), None)
            await ledger.adjudicate("cargo-2", CONFIRMED, "PO 2")
        finally:
            await client.aclose()

    asyncio.run(main())
    assert tallies(redis_service.url, namespace) == {
        ("cargo_risk", "exploration", "confirmed"): 1,
        ("cargo_risk", "exploration", "cleared"): 0,
    }
