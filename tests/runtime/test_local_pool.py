"""Plugins hosted in the stream worker's process (``placement = "worker"``): the same results, failed
results, deadlines and retries frame by frame as on Ray, with no Ray at all."""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from smartcustoms.core.config import PluginConfig
from smartcustoms.core.manager import discover
from smartcustoms.core.metrics import Metrics
from smartcustoms.core.sensors import Sensor
from smartcustoms.runtime.actor import ActorSpec
from smartcustoms.runtime.local_pool import LocalPool
from smartcustoms.runtime.testing import ct_frame
from smartcustoms.v1 import frame_pb2, results_pb2

STORE = {"kind": "memory", "namespace": "t"}
FIXTURES = Path(__file__).parents[1] / "fixture_plugins"


@pytest.fixture(autouse=True)
def fixture_plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(FIXTURES))


def pool(import_path: str, **config: float) -> tuple[LocalPool, CollectorRegistry]:
    registry = CollectorRegistry()
    built = LocalPool(
        discover(import_path),
        PluginConfig(**config),
        ActorSpec(import_path, {}, STORE),
        Sensor(Metrics(registry)),
    )
    built.start(timeout_s=30)
    return built, registry


def camera(number: int, explode: bool) -> frame_pb2.Frame:
    return frame_pb2.Frame(
        frame_id=f"cam-{number}",
        source_id="cam-1",
        modality=frame_pb2.MODALITY_CAMERA,
        sequence=number,
        metadata={"explode": "1" if explode else "0"},
    )


def test_a_plugin_in_the_worker_answers_like_one_on_ray() -> None:
    sleepy, registry = pool("sc_fixture_plugins:sleepy")
    assert sleepy.ready and sleepy.reports[0].plugin == "sleepy"
    results = asyncio.run(sleepy.assess([ct_frame(1), ct_frame(2)]))
    assert [r.decision for r in results] == [results_pb2.DECISION_ALARM] * 2
    assert results[0].detections[0].volume.x_max == 1.0 and results[0].duration_seconds >= 0
    assess = {"plugin": "sleepy", "decision": "alarm"}
    assert registry.get_sample_value("smartcustoms_plugin_frames_total", assess) == 2
    asyncio.run(sleepy.stop())


def test_a_raising_plugin_fails_only_its_own_frame() -> None:
    exploding, registry = pool("sc_fixture_plugins:exploding")
    results = asyncio.run(exploding.assess([camera(1, explode=False), camera(2, explode=True)]))
    assert [r.failure_reason for r in results] == ["", "error"]  # the batch failed, then frame by frame
    assert "boom on purpose" in results[1].error
    assert (
        registry.get_sample_value(
            "smartcustoms_plugin_errors_total", {"plugin": "exploding", "reason": "error"}
        )
        == 1
    )


def test_a_frame_past_its_deadline_goes_to_an_officer_and_a_fresh_host_takes_the_next() -> None:
    sleepy, _ = pool("sc_fixture_plugins:sleepy", timeout_s=0.5)
    started = time.monotonic()
    slow, quick = asyncio.run(sleepy.assess([ct_frame(1, sleep_s=30), ct_frame(2)]))
    assert slow.failure_reason == "timeout" and slow.error.startswith("timeout: no answer within 0.5 s")
    assert quick.decision == results_pb2.DECISION_ALARM and not quick.failure_reason
    assert time.monotonic() - started < 25, "the stuck call was not waited for"

    async def next_batch() -> list[results_pb2.PluginResult]:
        results = await sleepy.assess([ct_frame(3)])  # the replacement host, built meanwhile
        await sleepy.stop()
        return results

    (after,) = asyncio.run(next_batch())
    assert after.decision == results_pb2.DECISION_ALARM and not after.failure_reason


def test_a_plugin_that_cannot_be_built_fails_its_pool_with_the_reason() -> None:
    broken, registry = pool("sc_fixture_plugins:Broken")
    assert not broken.ready and broken.failure
    (result,) = asyncio.run(broken.assess([ct_frame(1)]))
    assert result.failure_reason == "not_ready" and broken.failure in result.error
    assert registry.get_sample_value("smartcustoms_plugin_ready", {"plugin": "broken"}) == 0


def test_a_host_still_running_a_batch_given_up_rejoins_the_pool_when_its_call_ends() -> None:
    sleepy, _ = pool("sc_fixture_plugins:sleepy", timeout_s=30)

    async def main() -> list[results_pb2.PluginResult]:
        given_up = asyncio.create_task(sleepy.assess([ct_frame(1, sleep_s=2)]))
        while sleepy.idle.qsize():  # the host takes the batch
            await asyncio.sleep(0.005)
        await asyncio.sleep(0.05)
        given_up.cancel()  # as a stopped frames agent gives its batch up; the call goes on in its thread
        await asyncio.gather(given_up, return_exceptions=True)
        await asyncio.sleep(0.2)  # the pool's own bookkeeping runs; the call has most of 2 s to go
        assert sleepy.idle.empty() and len(sleepy._busy) == 1  # no batch may share the host meanwhile
        results = await asyncio.wait_for(sleepy.assess([ct_frame(2)]), 10)  # taken once it is free
        assert not sleepy._busy
        await sleepy.stop()
        return results

    (after,) = asyncio.run(main())
    assert after.decision == results_pb2.DECISION_ALARM and not after.failure_reason


def test_a_host_whose_given_up_call_never_started_is_free_at_once() -> None:
    """A batch given up before the host's thread started its call: the call never runs (its future is
    cancelled), and the host goes back to the pool instead of waiting for it forever."""
    sleepy, _ = pool("sc_fixture_plugins:sleepy")
    never_started: concurrent.futures.Future[Any] = concurrent.futures.Future()
    never_started.cancel()

    async def main() -> None:
        await asyncio.wait_for(sleepy._free(SimpleNamespace(current=never_started)), 5)
        await sleepy.stop()

    asyncio.run(main())


def test_a_plugin_runs_where_its_spec_says_unless_its_configuration_says_otherwise() -> None:
    from dataclasses import replace

    from smartcustoms.core.config import ConfigError, from_dict
    from smartcustoms.core.types import PluginSpec
    from smartcustoms.runtime.dispatch import ActorPool
    from smartcustoms.runtime.worker import _pool_class

    cheap = PluginSpec(name="cheap", version="1", placement="worker")
    heavy = replace(cheap, name="heavy", placement="ray")
    assert PluginConfig().placement == ""  # unset: the spec decides
    assert _pool_class(PluginConfig(), cheap) is LocalPool and _pool_class(PluginConfig(), heavy) is ActorPool
    assert _pool_class(PluginConfig(placement="ray"), cheap) is ActorPool
    assert _pool_class(PluginConfig(placement="worker"), heavy) is LocalPool
    # the audit's configuration hash records where a plugin runs as resolved, as it did when "ray" was
    # the configuration's default
    from smartcustoms.runtime.dispatch import config_hash

    def pools(spec: PluginSpec, placement: str) -> Any:
        return [SimpleNamespace(info=SimpleNamespace(spec=spec), config=PluginConfig(placement=placement))]

    assert config_hash(pools(heavy, "")) == config_hash(pools(heavy, "ray"))
    assert (
        config_hash(pools(cheap, ""))
        == config_hash(pools(cheap, "worker"))
        != config_hash(pools(cheap, "ray"))
    )
    with pytest.raises(ValueError, match="placement must be 'ray' or 'worker', not 'gpu'"):
        PluginSpec(name="odd", version="1", placement="gpu")
    with pytest.raises(ConfigError, match=r"plugins\.cheap\.placement must be 'ray' or 'worker'"):
        from_dict({"plugins": {"cheap": {"placement": "gpu"}}})
