"""What a plugin's pool does when a batch fails, with the Ray call replaced (pure logic)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from prometheus_client import CollectorRegistry

from smartcustoms.core.config import PluginConfig
from smartcustoms.core.manager import discover_plugins
from smartcustoms.core.metrics import Metrics
from smartcustoms.core.sensors import Sensor
from smartcustoms.runtime.actor import ActorSpec, BatchOutcome
from smartcustoms.runtime.dispatch import ActorPool
from smartcustoms.v1 import frame_pb2, results_pb2


def _pool(outcomes: list[BatchOutcome], calls: list[int]) -> ActorPool:
    info = next(i for i in discover_plugins() if i.spec.name == "noop")
    pool = ActorPool(
        info, PluginConfig(), ActorSpec(info.import_path, {}, {}), Sensor(Metrics(CollectorRegistry()))
    )
    pool._settled.set_result(None)  # as if every actor were warm

    async def run_batch(frames: Sequence[frame_pb2.Frame]) -> BatchOutcome:
        calls.append(len(frames))
        return outcomes.pop(0)

    pool._run_batch = run_batch  # type: ignore[method-assign]  # the Ray call, replaced
    return pool


def _ok(frames: int) -> BatchOutcome:
    result = results_pb2.PluginResult(plugin="noop", decision=results_pb2.DECISION_CLEAR).SerializeToString()
    return BatchOutcome((result,) * frames, 0.01)


def test_a_frame_whose_actor_died_is_tried_once_more_on_another() -> None:
    calls: list[int] = []
    died = BatchOutcome((), 0.0, "actor_died", "the node died")
    pool = _pool([died, _ok(1)], calls)
    (result,) = asyncio.run(pool.assess([frame_pb2.Frame(frame_id="f1")]))
    assert calls == [1, 1] and not result.failure_reason

    pool = _pool([died, died], calls := [])
    (result,) = asyncio.run(pool.assess([frame_pb2.Frame(frame_id="f1")]))
    assert calls == [1, 1] and result.failure_reason == "actor_died", "once more only, then an officer"


def test_a_failed_batch_is_tried_again_frame_by_frame() -> None:
    calls: list[int] = []
    error = BatchOutcome((), 0.0, "error", "ValueError: bad frame")
    pool = _pool([error, _ok(1), error], calls)
    results = asyncio.run(pool.assess([frame_pb2.Frame(frame_id="a"), frame_pb2.Frame(frame_id="b")]))
    assert calls == [2, 1, 1]
    assert [bool(r.failure_reason) for r in results] == [False, True]  # only the bad frame goes to an officer
