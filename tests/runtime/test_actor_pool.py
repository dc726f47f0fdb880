"""What a plugin's pool does when a batch fails, with the Ray call replaced (pure logic)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from types import SimpleNamespace
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from smartcustoms.core.config import PluginConfig
from smartcustoms.core.manager import discover_plugins
from smartcustoms.core.metrics import Metrics
from smartcustoms.core.sensors import Sensor
from smartcustoms.runtime import dispatch
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


# --- a batch given up while its call still runs on the actor ----------------------------------------------


class SerialActor:
    """A Ray actor as the pool sees it: its calls run one at a time, in the order made (a ``ready`` made
    after a ``process`` is answered once that ``process`` has ended), and a call goes on when its caller
    stops waiting for it, as a Ray task does. Each ``process`` waits for its gate, unless ``open``."""

    def __init__(self, open: bool = False) -> None:
        self.open = open
        self.calls: list[int] = []
        self.gates: list[asyncio.Event] = []
        self.shut_down = False
        self._last: asyncio.Future[Any] | None = None
        self.process = SimpleNamespace(remote=self._process)
        self.ready = SimpleNamespace(remote=lambda: asyncio.shield(self._after(None)))
        self.shutdown = SimpleNamespace(remote=self._shutdown)

    def _after(self, work: Callable[[], Awaitable[Any]] | None) -> asyncio.Future[Any]:
        before = self._last

        async def run() -> Any:
            if before is not None:
                await asyncio.wait((before,))
            return await work() if work is not None else None

        self._last = asyncio.ensure_future(run())
        return self._last

    def _process(self, payload: list[bytes]) -> asyncio.Future[Any]:
        gate = asyncio.Event()
        if self.open:
            gate.set()
        self.gates.append(gate)
        self.calls.append(len(payload))

        async def work() -> BatchOutcome:
            await gate.wait()
            return _ok(len(payload))

        return asyncio.shield(self._after(work))  # cancelling the wait leaves the call running

    def _shutdown(self) -> asyncio.Future[Any]:
        async def work() -> None:
            self.shut_down = True

        return self._after(work)


def _serial_pool(*actors: SerialActor, timeout_s: float = 10.0) -> ActorPool:
    info = next(i for i in discover_plugins() if i.spec.name == "noop")
    pool = ActorPool(
        info,
        PluginConfig(timeout_s=timeout_s),
        ActorSpec(info.import_path, {}, {}),
        Sensor(Metrics(CollectorRegistry())),
    )
    pool._settled.set_result(None)
    for actor in actors:
        pool.idle.put_nowait(actor)
    return pool


async def _until(condition: Callable[[], bool]) -> None:
    async def poll() -> None:
        while not condition():
            await asyncio.sleep(0.005)

    await asyncio.wait_for(poll(), 10)


async def _given_up(pool: ActorPool, actor: SerialActor) -> None:
    """A batch whose call is running on ``actor``, given up as a stopped frames agent gives it up."""
    first = asyncio.create_task(pool.assess([frame_pb2.Frame(frame_id="given-up")]))
    await _until(lambda: actor.calls == [1])
    first.cancel()
    await asyncio.gather(first, return_exceptions=True)


def test_an_actor_still_running_a_batch_given_up_gets_no_batch_until_that_call_ends() -> None:
    async def main() -> None:
        actor = SerialActor()
        pool = _serial_pool(actor)
        await _given_up(pool, actor)
        second = asyncio.create_task(pool.assess([frame_pb2.Frame(frame_id="next")]))
        for _ in range(20):
            await asyncio.sleep(0.005)
        assert actor.calls == [1]  # not handed out: it would wait behind the call given up
        actor.gates[0].set()
        await _until(lambda: actor.calls == [1, 1])
        actor.gates[1].set()
        (result,) = await second
        assert not result.failure_reason

    asyncio.run(main())


def test_an_actor_still_busy_past_the_deadline_is_replaced(monkeypatch: pytest.MonkeyPatch) -> None:
    async def main() -> None:
        stuck, replacement = SerialActor(), SerialActor(open=True)
        pool = _serial_pool(stuck, timeout_s=0.05)
        discarded: list[SerialActor] = []
        monkeypatch.setattr(pool, "_discard", discarded.append)
        monkeypatch.setattr(pool, "_spawn", lambda: replacement)
        await _given_up(pool, stuck)
        second = asyncio.create_task(pool.assess([frame_pb2.Frame(frame_id="next")]))
        (result,) = await second
        assert replacement.calls == [1]
        assert discarded == [stuck] and stuck.calls == [1]
        assert not result.failure_reason

    asyncio.run(main())


def test_the_pool_s_stop_shuts_down_and_ends_an_actor_still_busy(monkeypatch: pytest.MonkeyPatch) -> None:
    ended: list[Any] = []
    monkeypatch.setattr(dispatch.ray, "kill", lambda actor, no_restart: ended.append(actor))

    async def main() -> SerialActor:
        actor = SerialActor()
        pool = _serial_pool(actor)
        await _given_up(pool, actor)
        stopping = asyncio.create_task(pool.stop(timeout_s=5.0))
        await asyncio.sleep(0.05)
        actor.gates[0].set()  # the call given up ends; the shutdown queued behind it runs
        await stopping
        return actor

    actor = asyncio.run(main())
    assert actor.shut_down and ended == [actor]


def test_a_task_left_pending_on_faust_s_closed_loop_does_not_stop_the_pool_s_stop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The worker stops its pools on a new loop once Faust's has closed; a task of the pool's left pending
    there cannot be cancelled, and the actors must be shut down and ended all the same."""
    ended: list[Any] = []
    monkeypatch.setattr(dispatch.ray, "kill", lambda actor, no_restart: ended.append(actor))
    faust_loop = asyncio.new_event_loop()
    left = faust_loop.create_task(asyncio.sleep(3600))
    faust_loop.run_until_complete(asyncio.sleep(0))  # the task has started and waits
    faust_loop.close()
    actor = SerialActor(open=True)
    pool = _serial_pool(actor)
    pool._freeing.add(left)

    asyncio.run(pool.stop(timeout_s=5.0))
    assert actor.shut_down and ended == [actor]
