"""How plugins are hosted, on the real broker, Redis, Ray and gateway: readiness before the first
frame, shadow mode, and timeouts charged to the plugin that ran out of time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import grpc
import numpy as np
import pytest
import redis.asyncio as aioredis

from smartcustoms.core.config import Config, PluginConfig
from smartcustoms.core.frames import array_frame
from smartcustoms.core.types import Modality
from smartcustoms.hardware.sdk.client import OK, send_all
from smartcustoms.hardware.sim.rfid import to_frame as rfid_to_frame
from smartcustoms.runtime.ledger import Counts, ledger_for
from smartcustoms.runtime.report import scrape, total
from smartcustoms.runtime.stack import PipelineError, Stack, gateway_serving, pipeline_serving
from smartcustoms.runtime.testing import ct_frame, only_plugins
from smartcustoms.v1 import frame_pb2, results_pb2, review_pb2, review_pb2_grpc

pytestmark = pytest.mark.integration


async def _settled(config: Config, accepted: int, timeout_s: float = 90.0) -> Counts:
    client = aioredis.Redis.from_url(config.redis.url)
    ledger = ledger_for(config, client)
    deadline = time.monotonic() + timeout_s
    try:
        while (counts := await ledger.counts()).accepted < accepted or counts.in_flight:
            if time.monotonic() > deadline:
                raise TimeoutError(f"frames still in flight: {counts}")
            await asyncio.sleep(0.05)
        return counts
    finally:
        await client.aclose()


async def _verdicts(config: Config, frame_ids: list[str]) -> dict[str, results_pb2.Verdict]:
    client = aioredis.Redis.from_url(config.redis.url)
    try:
        ledger = ledger_for(config, client)
        found = {frame_id: await ledger.verdict(frame_id) for frame_id in frame_ids}
    finally:
        await client.aclose()
    return {k: v for k, v in found.items() if v is not None}


def _rfid(
    sequence: int, batch: frame_pb2.RfidReadBatch | None = None, prefix: str = "rfid"
) -> frame_pb2.Frame:
    """An RFID frame ``<prefix>-<sequence>`` from ``reader-1`` carrying ``batch`` (no reads by default)."""
    frame = rfid_to_frame(
        batch or frame_pb2.RfidReadBatch(reader_id="r", zone="z"), source_id="reader-1", sequence=sequence
    )
    frame.frame_id = f"{prefix}-{sequence}"
    return frame


def test_the_pipeline_reports_ready_only_once_every_plugin_is_warm(
    runtime_config: Config, start_stack: Callable[..., Stack]
) -> None:
    runtime_config.extra_plugins = ["sc_fixture_plugins:SlowToWarm"]
    runtime_config.plugins = {"slow_to_warm": PluginConfig(settings={"warm_up_s": 3.0})}
    stack = start_stack(only_plugins(runtime_config), worker=False)
    target = stack.gateway_target
    assert gateway_serving(target)  # frames are accepted ...
    assert not pipeline_serving(target)  # ... but nothing can decide them yet
    stack.start_worker()  # returns once the gateway reports the pipeline SERVING
    assert pipeline_serving(target)
    worker = scrape(stack.metrics_urls[1])
    assert total(worker, "smartcustoms_plugin_ready", plugin="slow_to_warm") == 1
    assert total(worker, "smartcustoms_plugin_warm_up_seconds", plugin="slow_to_warm") >= 3.0
    assert all(a.code == OK for a in asyncio.run(send_all(target, [_rfid(1), _rfid(2)])))
    asyncio.run(_settled(runtime_config, 2))
    found = asyncio.run(_verdicts(runtime_config, ["rfid-1", "rfid-2"]))
    assert {v.decision for v in found.values()} == {results_pb2.DECISION_CLEAR}  # never before warm-up

    stack.stop_worker()
    deadline = time.monotonic() + 20
    while pipeline_serving(target) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not pipeline_serving(target)  # no worker: the pipeline is not serving any more
    assert gateway_serving(target)


def test_a_plugin_that_cannot_be_built_fails_the_start_with_its_reason(
    runtime_config: Config, start_stack: Callable[..., Stack]
) -> None:
    runtime_config.extra_plugins = ["sc_fixture_plugins:Broken"]
    only_plugins(runtime_config)
    with pytest.raises(PipelineError, match=r"broken: .*reference data /nowhere/broken-library is missing"):
        start_stack(runtime_config)


def _bag(name: str, *, dense: bool, live_alarm: bool) -> frame_pb2.Frame:
    image = np.full((2, 96, 96), 60_000, dtype=np.uint16)
    if dense:
        image[:, 8:56, 8:56] = 20  # opaque: dense_region's alarm
    return array_frame(
        image,
        modality=Modality.XRAY,
        source_id="lane-1-xray",
        sequence=int(name[-1]),
        frame_id=name,
        metadata={"live_alarm": "1" if live_alarm else "0"},
    )


def test_a_shadow_plugin_never_changes_a_verdict_and_is_scored_live_and_by_officers(
    runtime_config: Config, start_stack: Callable[..., Stack]
) -> None:
    runtime_config.extra_plugins = ["sc_fixture_plugins:LiveDense"]
    runtime_config.plugins = {
        "dense_region": PluginConfig(
            mode="shadow", compare_with=["live_dense"], settings={"min_area_px": 400}
        ),
    }
    stack = start_stack(only_plugins(runtime_config, "dense_region"))
    bags = [
        _bag("bag-1", dense=True, live_alarm=True),  # both find it
        _bag("bag-2", dense=True, live_alarm=False),  # only the shadow plugin finds it
        _bag("bag-3", dense=False, live_alarm=True),  # only the live plugin finds it
        _bag("bag-4", dense=True, live_alarm=True),  # both, and the officer clears it
    ]
    assert all(a.code == OK for a in asyncio.run(send_all(stack.gateway_target, bags)))
    asyncio.run(_settled(runtime_config, 4))
    found = asyncio.run(_verdicts(runtime_config, [b.frame_id for b in bags]))

    assert found["bag-2"].decision == results_pb2.DECISION_CLEAR  # the shadow alarm changed nothing
    assert [r.plugin for r in found["bag-2"].results] == ["live_dense"]
    (shadow,) = found["bag-2"].shadow_results
    assert shadow.plugin == "dense_region" and [d.label for d in shadow.detections] == ["dense_object"]
    assert found["bag-3"].decision == results_pb2.DECISION_ALARM
    assert not found["bag-3"].shadow_results[0].detections
    alerts = {a.frame_id for a in _alerts(stack)}
    assert alerts == {"bag-1", "bag-3", "bag-4"}  # no alert from the shadow plugin alone

    worker = scrape(stack.metrics_urls[1])
    for outcome, count in (("both", 2), ("shadow_only", 1), ("live_only", 1)):
        assert (
            total(
                worker,
                "smartcustoms_shadow_agreement_total",
                plugin="dense_region",
                label="dense_object",
                outcome=outcome,
            )
            == count
        ), outcome
    assert total(worker, "smartcustoms_shadow_frames_total", plugin="dense_region", agreement="agree") == 2
    assert total(worker, "smartcustoms_detections_total", plugin="dense_region") == 0  # not live detections

    _adjudicate(stack, "bag-1", "confirmed")
    _adjudicate(stack, "bag-3", "confirmed")
    _adjudicate(stack, "bag-4", "cleared")
    gateway = scrape(stack.metrics_urls[0])
    for outcome, count in (("true_positive", 1), ("false_negative", 1), ("false_positive", 1)):
        assert (
            total(gateway, "smartcustoms_shadow_adjudicated", plugin="dense_region", outcome=outcome) == count
        ), outcome
    _adjudicate(stack, "bag-4", "confirmed")  # the officer changes their mind: the tallies follow
    gateway = scrape(stack.metrics_urls[0])
    assert (
        total(gateway, "smartcustoms_shadow_adjudicated", plugin="dense_region", outcome="true_positive") == 2
    )
    assert (
        total(gateway, "smartcustoms_shadow_adjudicated", plugin="dense_region", outcome="false_positive")
        == 0
    )


def _alerts(stack: Stack) -> list[results_pb2.Alert]:
    with grpc.insecure_channel(stack.gateway_target) as channel:
        stub = review_pb2_grpc.ReviewServiceStub(channel)  # type: ignore[no-untyped-call]
        reply = stub.ListAlerts(review_pb2.ListAlertsRequest(limit=50), timeout=10)
    return [item.alert for item in reply.items]


def _adjudicate(stack: Stack, frame_id: str, outcome: str) -> None:
    outcomes = {
        "confirmed": results_pb2.ADJUDICATION_OUTCOME_CONFIRMED,
        "cleared": results_pb2.ADJUDICATION_OUTCOME_CLEARED,
    }
    with grpc.insecure_channel(stack.gateway_target) as channel:
        stub = review_pb2_grpc.ReviewServiceStub(channel)  # type: ignore[no-untyped-call]
        request = review_pb2.AdjudicateRequest(frame_id=frame_id, outcome=outcomes[outcome], officer="chan")
        stub.Adjudicate(request, timeout=10)


def test_a_timeout_is_charged_to_the_plugin_that_ran_out_of_time_and_only_its_frame_waits(
    runtime_config: Config, start_stack: Callable[..., Stack]
) -> None:
    runtime_config.extra_plugins = ["sc_fixture_plugins:sleepy", "sc_fixture_plugins:Quick"]
    runtime_config.plugins = {
        "sleepy": PluginConfig(timeout_s=2.0, batch_max_frames=8),
        "quick": PluginConfig(batch_max_frames=8),
    }
    runtime_config.worker.batch_window_ms = 300  # the three frames travel as one batch
    stack = start_stack(only_plugins(runtime_config))
    frames = [
        array_frame(
            np.zeros((4, 4, 4), np.int16),
            modality=Modality.CT,
            source_id="ct-1",
            sequence=i,
            frame_id=f"ct-{i}",
            metadata={"sleep_s": "60" if i == 2 else "0"},
        )
        for i in (1, 2, 3)
    ]
    assert all(a.code == OK for a in asyncio.run(send_all(stack.gateway_target, frames)))
    counts = asyncio.run(_settled(runtime_config, 3))
    assert (counts.verdicts, counts.fallbacks) == (2, 1)
    found = asyncio.run(_verdicts(runtime_config, ["ct-1", "ct-2", "ct-3"]))
    assert found["ct-1"].decision == found["ct-3"].decision == results_pb2.DECISION_ALARM  # retried alone
    slow = found["ct-2"]
    assert slow.fallback_reason == "plugin_timed_out: sleepy timed out"
    by_plugin = {r.plugin: r for r in slow.results}
    assert by_plugin["sleepy"].failure_reason == "timeout"
    assert by_plugin["quick"].decision == results_pb2.DECISION_CLEAR and not by_plugin["quick"].error

    worker = scrape(stack.metrics_urls[1])
    assert total(worker, "smartcustoms_plugin_errors_total", plugin="quick") == 0
    assert total(worker, "smartcustoms_plugin_errors_total", plugin="sleepy", reason="timeout") >= 1
    assert total(worker, "smartcustoms_plugin_errors_total", plugin="sleepy", reason="error") == 0
    assert total(worker, "smartcustoms_fallbacks_total", reason="plugin_timed_out") == 1
    assert total(worker, "smartcustoms_fallbacks_total", reason="plugin_failed") == 0


def test_the_worker_takes_and_decides_the_next_batch_while_a_slow_one_is_on_ray(
    runtime_config: Config, start_stack: Callable[..., Stack]
) -> None:
    """With ``worker.batches_in_flight = 2`` (the default) a frame sent after a slow one is decided while
    the slow one is still on Ray (the awaited loop took it only afterwards), and both verdicts are
    stored: the later one waits for the earlier one's before its own is stored."""
    runtime_config.extra_plugins = ["sc_fixture_plugins:sleepy"]
    runtime_config.plugins = {"sleepy": PluginConfig(timeout_s=30.0, batch_max_frames=1, pool_size=2)}
    runtime_config.worker.batch_max_frames = 1  # one frame a batch
    stack = start_stack(only_plugins(runtime_config))

    for sequence, sleep_s in ((1, 4.0), (2, 0.0)):
        frame = ct_frame(sequence, sleep_s=sleep_s, source_id="ct-lane", frame_id=f"lane-{sequence}")
        assert asyncio.run(send_all(stack.gateway_target, [frame]))[0].code == OK
    counts = asyncio.run(_settled(runtime_config, 2))
    assert (counts.verdicts, counts.fallbacks) == (2, 0)
    found = asyncio.run(_verdicts(runtime_config, ["lane-1", "lane-2"]))
    assert found["lane-1"].decision == found["lane-2"].decision == results_pb2.DECISION_ALARM
    slow, quick = (found[f"lane-{i}"].decided_time.ToNanoseconds() for i in (1, 2))
    assert quick < slow  # sent second, decided first: it did not wait behind the slow batch's Ray call


def _tag_report(sequence: int, at_s: int, epc: str) -> frame_pb2.Frame:
    read = frame_pb2.RfidRead(epc_hex=epc, antenna_id=1, rssi_dbm=-55)
    read.first_seen.FromSeconds(at_s)
    return _rfid(sequence, frame_pb2.RfidReadBatch(reader_id="vault-a", zone="vault-a", reads=[read]), "tags")


def test_a_record_plugin_keeps_its_state_on_redis_point_in_time(
    runtime_config: Config, start_stack: Callable[..., Stack]
) -> None:
    """rfid_epc_check counts, in its keyed state on the runtime's Redis, how often a foreign tag was
    read at a reader before each read: shared by its actors, as of each read's own time."""
    runtime_config.plugins = {"rfid_epc_check": PluginConfig(pool_size=2, batch_max_frames=1)}
    stack = start_stack(only_plugins(runtime_config, "rfid_epc_check"))
    planted = "DEADBEEF" * 3
    reports = [_tag_report(i, 1_800_000_000 + 60 * i, planted) for i in (1, 2, 3)]
    reports.append(_tag_report(4, 1_800_000_000 + 90, planted))  # read between tags-1 and tags-2, sent last
    for sent, report in enumerate(reports, start=1):  # one at a time: each is decided before the next
        assert asyncio.run(send_all(stack.gateway_target, [report]))[0].code == OK
        asyncio.run(_settled(runtime_config, sent))
    found = asyncio.run(_verdicts(runtime_config, [f"tags-{i}" for i in (1, 2, 3, 4)]))

    def check(frame_id: str) -> results_pb2.PluginResult:
        (result,) = [r for r in found[frame_id].results if r.plugin == "rfid_epc_check"]
        return result

    def reads_before(frame_id: str) -> str:
        (detection,) = check(frame_id).detections
        assert detection.label == "foreign_tag"
        return detection.attributes["reads_in_window"]

    assert [reads_before(f"tags-{i}") for i in (1, 2, 3)] == ["0", "1", "2"]
    assert reads_before("tags-4") == "1"  # only tags-1 was read before it
    assert "read once before in the last 10 min at reader-1" in (check("tags-4").detections[0].explanation)
