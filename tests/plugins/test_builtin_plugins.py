"""The small built-in plugins on synthetic inputs: noop, alert_log (each detector has a file of its own)."""

from __future__ import annotations

import logging

import pytest

from smartcustoms.core import verdicts
from smartcustoms.core.frames import FrameView
from smartcustoms.core.manager import new_plugin_manager, register
from smartcustoms.core.types import ALL_MODALITIES, Assessment, Detection
from smartcustoms.plugins.alert_log import AlertLogPlugin
from smartcustoms.plugins.noop import NoopPlugin
from smartcustoms.v1 import frame_pb2, results_pb2


def test_noop_clears_every_frame_without_reading_it() -> None:
    def never_loaded() -> memoryview:
        raise AssertionError("noop must not read payloads")

    frames = [FrameView(frame_pb2.Frame(frame_id=f"f-{n}"), never_loaded) for n in range(3)]
    pm = new_plugin_manager()
    register(pm, "smartcustoms.plugins.noop:NoopPlugin")
    assert pm.hook.smartcustoms_process_batch(frames=frames) == [Assessment.clear()] * 3
    assert pm.hook.smartcustoms_process_batch(frames=[]) == []
    assert NoopPlugin.spec.consumes == ALL_MODALITIES
    assert NoopPlugin.spec.enabled_by_default is False


def alert(decision: int, conveyance_id: str) -> results_pb2.Alert:
    frame = frame_pb2.Frame(frame_id="f-1", source_id="lane-1", conveyance_id=conveyance_id)
    if decision == verdicts.ALARM:
        result = results_pb2.PluginResult(plugin="p", decision=verdicts.ALARM)
        result.detections.append(Detection("dense_object", 1.0).to_proto("p", "1"))
        verdict = verdicts.combine(frame, [result])
    else:
        verdict = verdicts.fallback(frame, "plugin_failed: p")
    found = verdicts.alert_for(verdict)
    assert found is not None
    return found


@pytest.mark.parametrize(
    ("decision", "conveyance_id", "line"),
    [
        (
            verdicts.ALARM,
            "HK-1234",
            "alert-f-1 alarm frame=f-1 conveyance=HK-1234: alarm on lane-1: dense_object",
        ),
        (
            verdicts.MANUAL,
            "",
            "alert-f-1 manual_inspection frame=f-1 conveyance=-: "
            "manual inspection of lane-1: plugin_failed: p",
        ),
    ],
)
def test_alert_log(caplog: pytest.LogCaptureFixture, decision: int, conveyance_id: str, line: str) -> None:
    with caplog.at_level(logging.WARNING, logger="smartcustoms.alerts"):
        AlertLogPlugin().smartcustoms_alert(alert(decision, conveyance_id))
    assert [(r.name, r.levelno, r.getMessage()) for r in caplog.records] == [
        ("smartcustoms.alerts", logging.WARNING, line)
    ]
    assert AlertLogPlugin().smartcustoms_plugin_spec().consumes == frozenset()
