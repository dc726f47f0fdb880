"""A vendor's frame to a verdict through the real broker, Redis, Ray and gRPC gateway."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import redis.asyncio as aioredis

from smartcustoms.core.config import Config, PluginConfig
from smartcustoms.core.frames import array_frame
from smartcustoms.core.types import Modality
from smartcustoms.hardware.sdk.client import OK, send_all
from smartcustoms.runtime.ledger import Counts, ledger_for
from smartcustoms.runtime.process import wait_for
from smartcustoms.runtime.report import merge, scrape, total
from smartcustoms.runtime.stack import Stack
from smartcustoms.runtime.testing import ledger_settled, only_plugins
from smartcustoms.v1 import frame_pb2, results_pb2

pytestmark = pytest.mark.integration


async def _verdicts(config: Config, frame_ids: list[str]) -> dict[str, results_pb2.Verdict]:
    client = aioredis.Redis.from_url(config.redis.url)
    ledger = ledger_for(config, client)
    try:
        found = {frame_id: await ledger.verdict(frame_id) for frame_id in frame_ids}
    finally:
        await client.aclose()
    return {k: v for k, v in found.items() if v is not None}


def _result(verdict: results_pb2.Verdict, plugin: str) -> results_pb2.PluginResult:
    (result,) = [r for r in verdict.results if r.plugin == plugin]
    return result


def _xray(sequence: int, dense: bool, size: int = 128) -> frame_pb2.Frame:
    image = np.full((2, size, size), 60_000, dtype=np.uint16)
    if dense:
        image[:, 10:60, 20:80] = 100  # nearly opaque block: a dense-object alarm
    return array_frame(
        image,
        modality=Modality.XRAY,
        source_id="lane-1-xray",
        sequence=sequence,
        frame_id=f"xray-{sequence}",
        conveyance_id=f"bag-{sequence}",
    )


def _rfid(sequence: int, epcs: list[str]) -> frame_pb2.Frame:
    batch = frame_pb2.RfidReadBatch(
        reader_id="reader-1",
        zone="vault-a",
        reads=[frame_pb2.RfidRead(epc_hex=e, antenna_id=1, rssi_dbm=-50) for e in epcs],
    )
    payload = batch.SerializeToString()
    return frame_pb2.Frame(
        frame_id=f"rfid-{sequence}",
        source_id="reader-1",
        modality=frame_pb2.MODALITY_RFID,
        sequence=sequence,
        encoding="protobuf",
        payload=payload,
        payload_bytes=len(payload),
    )


def test_frames_of_two_modalities_get_verdicts_and_the_ledger_balances(
    runtime_config: Config, start_stack: Callable[[Config], Stack]
) -> None:
    runtime_config.gateway.inline_max_bytes = 32 * 1024  # the 64 KiB images go by claim check
    stack = start_stack(only_plugins(runtime_config, "dense_region", "rfid_epc_check"))
    frames = [_xray(i, dense=i % 2 == 0) for i in range(1, 9)]
    frames += [_rfid(100, ["3074257BF7194E4000001A85"]), _rfid(101, ["DEADBEEF" * 3])]
    acks = asyncio.run(send_all(stack.gateway_target, frames))
    assert [a.code for a in acks] == [OK] * len(frames)

    counts = asyncio.run(ledger_settled(runtime_config, len(frames)))
    assert counts == Counts(accepted=10, verdicts=10, fallbacks=0, in_flight=0)
    found = asyncio.run(_verdicts(runtime_config, [f.frame_id for f in frames]))
    decisions = {frame_id: results_pb2.Decision.Name(v.decision) for frame_id, v in found.items()}
    assert decisions == {
        **{f"xray-{i}": "DECISION_ALARM" if i % 2 == 0 else "DECISION_CLEAR" for i in range(1, 9)},
        "rfid-100": "DECISION_CLEAR",
        "rfid-101": "DECISION_ALARM",
    }
    dense = _result(found["xray-2"], "dense_region").detections[0]
    assert (dense.label, dense.plugin) == ("dense_object", "dense_region")
    assert (dense.box.x_min, dense.box.y_min) == (16.0, 0.0)  # tile-aligned box around [20:80, 10:60]

    samples = merge(*(scrape(url) for url in stack.metrics_urls))
    assert total(samples, "smartcustoms_ingest_frames_accepted_total") == 10
    assert total(samples, "smartcustoms_sink_verdicts_total") == 10
    assert total(samples, "smartcustoms_blobs_released_total") == 8
    assert total(samples, "smartcustoms_conservation_imbalance_frames") == 0
    assert total(samples, "smartcustoms_conservation_frames", state="accepted") == 10
    assert list((stack.run_dir.parent / "shm").rglob("*")) == [
        p for p in (stack.run_dir.parent / "shm").rglob("*") if p.is_dir()
    ], "payloads left behind"


def test_a_frame_sent_twice_is_processed_once_and_no_source_can_take_another_s_frame_id(
    runtime_config: Config, start_stack: Callable[[Config], Stack]
) -> None:
    stack = start_stack(only_plugins(runtime_config, "dense_region", "rfid_epc_check"))
    first = asyncio.run(send_all(stack.gateway_target, [_xray(1, dense=True)]))
    again = _xray(1, dense=True)
    again.frame_id = "xray-1-resent"
    second = asyncio.run(send_all(stack.gateway_target, [again]))
    assert (first[0].code, first[0].duplicate, first[0].runtime_frame_id) == (OK, False, "xray-1")
    assert (second[0].code, second[0].duplicate, second[0].runtime_frame_id) == (OK, True, "xray-1")

    # another source takes the id the X-ray lane will use next; the lane's frame is still inspected,
    # scoped to its source, and each frame gets its own verdict
    squat = _rfid(1, ["3074257BF7194E4000001A85"])
    squat.frame_id = "xray-2"
    [taken] = asyncio.run(send_all(stack.gateway_target, [squat]))
    [real] = asyncio.run(send_all(stack.gateway_target, [_xray(2, dense=True)]))
    assert (taken.code, taken.runtime_frame_id) == (OK, "xray-2")
    assert (real.code, real.frame_id, real.runtime_frame_id) == (OK, "xray-2", "lane-1-xray/xray-2")
    counts = asyncio.run(ledger_settled(runtime_config, 3))
    assert (counts.accepted, counts.verdicts, counts.fallbacks) == (3, 3, 0)
    found = asyncio.run(_verdicts(runtime_config, ["xray-2", "lane-1-xray/xray-2"]))
    assert (found["xray-2"].source_id, found["xray-2"].decision) == ("reader-1", results_pb2.DECISION_CLEAR)
    lane = found["lane-1-xray/xray-2"]
    assert (lane.source_id, lane.decision) == ("lane-1-xray", results_pb2.DECISION_ALARM)


@pytest.mark.parametrize("placement", ["ray", "worker"])
def test_failing_and_slow_plugins_send_frames_to_manual_inspection(
    runtime_config: Config, start_stack: Callable[[Config], Stack], placement: str
) -> None:
    runtime_config.extra_plugins = ["sc_fixture_plugins:exploding", "sc_fixture_plugins:sleepy"]
    runtime_config.plugins = {
        "sleepy": PluginConfig(timeout_s=2.0, batch_max_frames=1, placement=placement),
        "exploding": PluginConfig(placement=placement),
    }
    stack = start_stack(only_plugins(runtime_config))  # the two above alone
    camera = [
        frame_pb2.Frame(
            frame_id=f"cam-{i}",
            source_id="cam-1",
            modality=frame_pb2.MODALITY_CAMERA,
            sequence=i,
            encoding="jpeg",
            payload=b"\xff\xd8 not really a jpeg",
            metadata={"explode": "1" if i == 2 else "0"},
        )
        for i in (1, 2)
    ]
    ct = [
        array_frame(
            np.zeros((4, 4, 4), np.int16),
            modality=Modality.CT,
            source_id="ct-1",
            sequence=i,
            frame_id=f"ct-{i}",
            metadata={"sleep_s": "30" if i == 2 else "0"},
        )
        for i in (1, 2)
    ]
    acks = asyncio.run(send_all(stack.gateway_target, camera + ct))
    assert all(a.code == OK for a in acks)

    counts = asyncio.run(ledger_settled(runtime_config, 4, timeout_s=90))
    assert (counts.verdicts, counts.fallbacks) == (2, 2)
    found = asyncio.run(_verdicts(runtime_config, ["cam-1", "cam-2", "ct-1", "ct-2"]))
    assert found["cam-1"].decision == results_pb2.DECISION_CLEAR
    assert found["cam-2"].decision == results_pb2.DECISION_MANUAL_INSPECTION
    assert found["cam-2"].fallback_reason.startswith("plugin_failed: exploding")
    assert "boom on purpose" in _result(found["cam-2"], "exploding").error
    assert found["ct-1"].decision == results_pb2.DECISION_ALARM
    assert _result(found["ct-1"], "sleepy").detections[0].volume.x_max == 1.0
    assert found["ct-2"].decision == results_pb2.DECISION_MANUAL_INSPECTION
    assert _result(found["ct-2"], "sleepy").error.startswith("timeout")
    assert found["ct-2"].fallback_reason == "plugin_timed_out: sleepy timed out"

    def fallbacks_counted() -> bool:  # the verdict stage counts a verdict just after the ledger holds it
        worker = scrape(stack.metrics_urls[1])
        return total(worker, "smartcustoms_fallbacks_total") == 2

    wait_for(fallbacks_counted, timeout_s=10, what="the worker's fallback metrics")
    worker = scrape(stack.metrics_urls[1])
    assert total(worker, "smartcustoms_plugin_errors_total", plugin="exploding", reason="error") == 1
    assert total(worker, "smartcustoms_plugin_errors_total", plugin="sleepy", reason="timeout") == 1
    assert total(worker, "smartcustoms_fallbacks_total", reason="plugin_failed") == 1
    assert total(worker, "smartcustoms_fallbacks_total", reason="plugin_timed_out") == 1


def test_frames_of_a_modality_no_plugin_consumes_get_a_fallback(
    runtime_config: Config, start_stack: Callable[[Config], Stack]
) -> None:
    stack = start_stack(only_plugins(runtime_config, "dense_region"))
    record = frame_pb2.Frame(
        frame_id="rec-1",
        source_id="manifests",
        modality=frame_pb2.MODALITY_RECORD,
        sequence=1,
        encoding="protobuf",
        payload=frame_pb2.RecordBatch(records=[frame_pb2.Record(record_id="1")]).SerializeToString(),
    )
    assert asyncio.run(send_all(stack.gateway_target, [record]))[0].code == OK
    counts = asyncio.run(ledger_settled(runtime_config, 1))
    assert counts.fallbacks == 1
    verdict = asyncio.run(_verdicts(runtime_config, ["rec-1"]))["rec-1"]
    assert verdict.fallback_reason.startswith("no_plugin")


def test_an_onnx_model_drops_in_by_configuration(
    runtime_config: Config, start_stack: Callable[[Config], Stack], tmp_path: Path
) -> None:
    from onnx_models import mean_brightness_model

    model = mean_brightness_model(tmp_path / "brightness.onnx")
    runtime_config.plugins = {
        "dense_region": PluginConfig(enabled=False),
        "xray_detector": PluginConfig(enabled=False),
        "onnx_detector": PluginConfig(
            enabled=True,
            consumes=["xray"],
            settings={"model_path": str(model), "class_names": ["bright_object"], "input_scale": 1 / 65535},
        ),
    }
    stack = start_stack(only_plugins(runtime_config, "onnx_detector"))
    bright = array_frame(
        np.full((1, 32, 32), 60_000, np.uint16),
        modality=Modality.XRAY,
        source_id="lane-8",
        sequence=1,
        frame_id="bright",
    )
    dark = array_frame(
        np.full((1, 32, 32), 100, np.uint16),
        modality=Modality.XRAY,
        source_id="lane-8",
        sequence=2,
        frame_id="dark",
    )
    assert [a.code for a in asyncio.run(send_all(stack.gateway_target, [bright, dark]))] == [OK, OK]
    asyncio.run(ledger_settled(runtime_config, 2))
    found = asyncio.run(_verdicts(runtime_config, ["bright", "dark"]))
    assert found["bright"].decision == results_pb2.DECISION_ALARM, found["bright"]
    (result,) = found["bright"].results
    assert (result.plugin, result.detections[0].label) == ("onnx_detector", "bright_object")
    assert found["dark"].decision == results_pb2.DECISION_CLEAR
