"""The fusion stage on a real Redis: windows, early and late decisions, one decision per version
however many workers race, the outbox, and the conservation law per conveyance."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from prometheus_client import CollectorRegistry

from smartcustoms.core.config import FusionConfig
from smartcustoms.core.metrics import Metrics
from smartcustoms.core.sensors import Sensor
from smartcustoms.runtime.conveyances import ConveyanceCollector, ConveyanceCounts, ConveyanceStore
from smartcustoms.runtime.fusion import FusionStage
from smartcustoms.runtime.process import free_port
from smartcustoms.runtime.report import Samples, total
from smartcustoms.runtime.services import EmbeddedRedis
from smartcustoms.v1 import conveyance_pb2, frame_pb2, results_pb2

pytestmark = pytest.mark.integration

ALARM = results_pb2.DECISION_ALARM
OPENED_S = 1_000.0


class Harness:
    """Fusion stages over one namespace (each one a worker), a shared clock, what they published."""

    def __init__(self, client: aioredis.Redis, namespace: str, config: FusionConfig) -> None:
        self.client, self.namespace, self.config = client, namespace, config
        self.now_s = OPENED_S
        self.published: list[conveyance_pb2.ConveyanceDecision] = []
        self.alerts: list[results_pb2.Alert] = []
        self.registry = CollectorRegistry()
        self.fail_publishing = 0
        self.stages = 0

    def stage(self) -> FusionStage:
        """A stage of its own, as a worker has; the first one reports to ``registry``."""
        registry = CollectorRegistry() if self.stages else self.registry
        self.stages += 1
        return FusionStage(
            ConveyanceStore(self.client, self.namespace),
            self.config,
            Sensor(Metrics(registry)),
            self.publish,
            self.alerts.append,
            clock=lambda: self.now_s,
        )

    async def publish(self, decision: conveyance_pb2.ConveyanceDecision) -> None:
        if self.fail_publishing:
            self.fail_publishing -= 1
            raise ConnectionError("broker away")
        self.published.append(decision)

    async def counts(self) -> ConveyanceCounts:
        return await ConveyanceStore(self.client, self.namespace).counts()

    def samples(self) -> Samples:
        found: Samples = {}
        for family in self.registry.collect():
            for sample in family.samples:
                found.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
        return found


def _run(
    redis_service: EmbeddedRedis, config: FusionConfig, body: Callable[[Harness], Awaitable[None]]
) -> Harness:
    namespace = f"f{uuid.uuid4().hex[:8]}"
    harness: Harness | None = None

    async def main() -> None:
        nonlocal harness
        client = aioredis.Redis.from_url(redis_service.url)
        try:
            harness = Harness(client, namespace, config)
            await body(harness)
        finally:
            await client.aclose()

    asyncio.run(main())
    assert harness is not None
    return harness


def _verdict(
    frame_id: str,
    modality: int,
    conveyance_id: str = "HK-1",
    *,
    score: float = 0.0,
    accepted_s: float = OPENED_S,
) -> results_pb2.Verdict:
    verdict = results_pb2.Verdict(
        frame_id=frame_id,
        source_id=f"src-{frame_id}",
        modality=modality,  # type: ignore[arg-type]  # an enum number
        conveyance_id=conveyance_id,
        decision=ALARM if score else results_pb2.DECISION_CLEAR,
    )
    result = verdict.results.add(plugin="detector", decision=verdict.decision)
    if score:
        result.detections.add(label="firearm", score=score)
    verdict.accepted_time.FromNanoseconds(int(accepted_s * 1e9))
    return verdict


XRAY, RECORD, CT = frame_pb2.MODALITY_XRAY, frame_pb2.MODALITY_RECORD, frame_pb2.MODALITY_CT


def test_a_window_closes_into_one_decision_and_a_missing_part_into_a_timeout(
    redis_service: EmbeddedRedis,
) -> None:
    config = FusionConfig(window_s=30, expected_modalities=["xray", "record"])

    async def body(h: Harness) -> None:
        stage = h.stage()
        await stage.observe([_verdict("x1", XRAY, "HK-1"), _verdict("x2", XRAY, "HK-2")])
        h.now_s = OPENED_S + 3
        await stage.observe([_verdict("r2", RECORD, "HK-2", accepted_s=OPENED_S + 3)])  # HK-2 complete
        assert [(d.conveyance_id, d.trigger, d.version) for d in h.published] == [("HK-2", "complete", 1)]
        h.now_s = OPENED_S + 29.9
        assert await stage.close_due() == 0
        assert await h.counts() == ConveyanceCounts(2, {"clear": 1, "inspect": 0, "hold": 0}, 0, 1, 0)
        h.now_s = OPENED_S + 30.0
        assert await stage.close_due() == 1
        assert await stage.close_due() == 0  # decided once
        timed_out = h.published[-1]
        assert (timed_out.conveyance_id, timed_out.trigger, timed_out.summary) == (
            "HK-1",
            "timeout",
            "INSPECT HK-1: timeout: missing record",
        )
        assert [a.alert_id for a in h.alerts] == ["conveyance-HK-1-v1"]
        counts = await h.counts()
        assert counts == ConveyanceCounts(2, {"clear": 1, "inspect": 0, "hold": 0}, 1, 0, 0)
        assert counts.imbalance == 0
        samples = h.samples()
        assert (
            total(samples, "smartcustoms_conveyance_decisions_total", trigger="timeout", outcome="inspect")
            == 1
        )
        assert total(samples, "smartcustoms_conveyance_decision_latency_seconds_count") == 2
        assert total(samples, "smartcustoms_conveyance_decision_latency_seconds_sum") == pytest.approx(30 + 3)
        assert total(samples, "smartcustoms_conveyance_frames_total", arrival="in_window") == 3

    _run(redis_service, config, body)


def test_without_expected_parts_the_window_decides_with_every_reason(redis_service: EmbeddedRedis) -> None:
    async def body(h: Harness) -> None:
        stage = h.stage()
        await stage.observe([_verdict("x1", XRAY, score=0.97), _verdict("r1", RECORD)])
        assert h.published == []  # nothing expected: the window decides
        h.now_s += 31
        await stage.close_due()
        (decision,) = h.published
        assert (decision.outcome, decision.trigger) == (conveyance_pb2.CONVEYANCE_OUTCOME_HOLD, "window")
        assert [(r.frame_id, r.effect) for r in decision.reasons] == [
            ("x1", conveyance_pb2.CONVEYANCE_OUTCOME_HOLD),
            ("r1", conveyance_pb2.CONVEYANCE_OUTCOME_CLEAR),
        ]
        stored = await ConveyanceStore(h.client, h.namespace).decision("HK-1")
        assert stored == decision
        assert h.alerts[0].decision == ALARM

    _run(redis_service, FusionConfig(window_s=30), body)


def test_a_redelivered_verdict_is_joined_once(redis_service: EmbeddedRedis) -> None:
    async def body(h: Harness) -> None:
        stage = h.stage()
        batch = results_pb2.VerdictBatch(
            verdicts=[_verdict("x1", XRAY), _verdict("x1", XRAY)]
        ).SerializeToString()
        await stage.observe_messages([batch, batch, b"\xff not a batch"])
        snapshot = await stage.store.snapshot("HK-1")
        assert snapshot is not None and [p.frame_id for p in snapshot.parts] == ["x1"]
        assert total(h.samples(), "smartcustoms_conveyance_frames_total") == 1

    _run(redis_service, FusionConfig(), body)


def test_a_late_frame_reopens_the_decision_as_a_new_version(redis_service: EmbeddedRedis) -> None:
    config = FusionConfig(window_s=10, expected_modalities=["xray", "ct"])

    async def body(h: Harness) -> None:
        stage = h.stage()
        await stage.observe([_verdict("x1", XRAY)])
        h.now_s += 11
        await stage.close_due()
        await stage.observe([_verdict("c1", CT, accepted_s=h.now_s)])  # the CT came after all
        assert [(d.version, d.trigger, d.outcome) for d in h.published] == [
            (1, "timeout", conveyance_pb2.CONVEYANCE_OUTCOME_INSPECT),
            (2, "late", conveyance_pb2.CONVEYANCE_OUTCOME_CLEAR),
        ]
        store = ConveyanceStore(h.client, h.namespace)
        assert [d.version for d in await store.history("HK-1")] == [1, 2]
        assert (await store.decision("HK-1")) == h.published[-1]
        counts = await h.counts()
        assert (counts.opened, counts.timed_out, counts.reopened, counts.imbalance) == (1, 1, 1, 0)
        assert total(h.samples(), "smartcustoms_conveyance_frames_total", arrival="late") == 1

    _run(redis_service, config, body)


def test_workers_racing_on_a_closed_window_make_one_decision_published_once(
    redis_service: EmbeddedRedis,
) -> None:
    async def body(h: Harness) -> None:
        first = h.stage()
        await first.observe([_verdict(f"x{n}", XRAY, f"C-{n}") for n in range(20)])
        h.now_s += 60
        workers = [first, h.stage(), h.stage()]
        decided = await asyncio.gather(*(w.close_due() for w in workers))
        for worker in workers:
            await worker.flush()
        assert sum(decided) == 20
        assert sorted(d.conveyance_id for d in h.published) == sorted(f"C-{n}" for n in range(20))
        assert all(d.version == 1 for d in h.published)
        assert (await h.counts()).imbalance == 0

    _run(redis_service, FusionConfig(window_s=5), body)


def test_a_decision_whose_publication_failed_is_published_by_a_later_flush(
    redis_service: EmbeddedRedis,
) -> None:
    async def body(h: Harness) -> None:
        stage = h.stage()
        await stage.observe([_verdict("x1", XRAY)])
        h.now_s += 6
        h.fail_publishing = 1
        with pytest.raises(ConnectionError):
            await stage.close_due()
        assert h.published == []
        assert (await h.counts()).decided["clear"] == 1  # decided and stored before publishing
        restarted = h.stage()  # a new worker finds it in the outbox
        assert await restarted.flush() == 1
        assert [d.conveyance_id for d in h.published] == ["HK-1"]
        assert await restarted.flush() == 0

    _run(redis_service, FusionConfig(window_s=5), body)


def test_the_gateway_exports_the_law_per_conveyance(redis_service: EmbeddedRedis) -> None:
    async def body(h: Harness) -> None:
        stage = h.stage()
        await stage.observe([_verdict("x1", XRAY, "A", score=0.99), _verdict("x2", XRAY, "B")])
        h.now_s += 6
        await stage.close_due()
        await stage.observe([_verdict("x3", XRAY, "C")])

    harness = _run(redis_service, FusionConfig(window_s=5), body)
    collector = ConveyanceCollector(redis_service.url, harness.namespace)
    found: Samples = {}
    for family in collector.collect():
        for sample in family.samples:
            found.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
    assert {labels["state"]: value for labels, value in found["smartcustoms_conveyances"]} == {
        "opened": 3,
        "decided": 2,
        "timed_out": 0,
        "open": 1,
        "reopened": 0,
    }
    assert total(found, "smartcustoms_conveyances_decided", outcome="hold") == 1
    assert total(found, "smartcustoms_conveyances_decided", outcome="clear") == 1
    assert total(found, "smartcustoms_conveyance_imbalance") == 0


def _cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    from smartcustoms.runtime.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(argv)
    out, err = capsys.readouterr()
    return int(exit_.value.code or 0), out, err


def test_the_cli_shows_a_conveyance_in_its_window_and_says_in_one_line_when_redis_is_away(
    redis_service: EmbeddedRedis, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    now_s = time.time()

    async def body(h: Harness) -> None:
        h.now_s = now_s
        await h.stage().observe([_verdict("x1", XRAY, "HK 9", accepted_s=now_s)])

    harness = _run(redis_service, FusionConfig(window_s=60), body)
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"namespace": harness.namespace, "redis": {"url": redis_service.url}}))
    code, out, err = _cli(["--config", str(config), "conveyance", "show", "HK 9"], capsys)
    assert (code, err) == (0, "")
    first, frames = out.splitlines()
    assert first.startswith("OPEN HK 9: no decision yet, window closes in ")
    assert frames.split() == ["frames", "x1", "(xray)"]

    away = tmp_path / "away.json"
    away.write_text(json.dumps({"redis": {"url": f"redis://127.0.0.1:{free_port()}/0"}}))
    code, out, err = _cli(["--config", str(away), "conveyance", "show", "HK 9"], capsys)
    assert (code, out) == (1, "")
    assert len(err.splitlines()) == 1 and err.startswith(
        "smartcustoms conveyance: cannot read conveyances from Redis"
    )


def test_a_publication_failing_while_verdicts_flow_does_not_stop_them(redis_service: EmbeddedRedis) -> None:
    async def body(h: Harness) -> None:
        stage = h.stage()
        h.fail_publishing = 1
        await stage.observe([_verdict("x1", XRAY), _verdict("r1", RECORD)])  # complete: decided, not sent
        assert h.published == []
        assert await stage.close_due() == 0  # nothing left to decide; the outbox goes out
        assert [(d.conveyance_id, d.trigger) for d in h.published] == [("HK-1", "complete")]

    _run(redis_service, FusionConfig(expected_modalities=["xray", "record"]), body)
