"""The built-in plugins on synthetic inputs: dense_region, rfid_epc_check, noop, alert_log."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pytest

from smartcustoms.core import verdicts
from smartcustoms.core.frames import FrameView, array_frame, inline_view
from smartcustoms.core.types import ALL_MODALITIES, Assessment, Decision, Detection, Modality
from smartcustoms.plugins import alert_log, dense_region, noop, rfid_epc_check
from smartcustoms.v1 import frame_pb2, results_pb2

BRIGHT = 60_000  # transmits most of the beam
DARK = 100  # below 0.2 % of 65535 (the default threshold, 131) and 2 % (the tests', 1310)
# the mechanics are tested with settings of their own, so that the defaults can move
SETTINGS: dict[str, Any] = {
    **dense_region.SPEC.default_settings,
    "max_transmission": 0.02,
    "min_area_px": 400,
}


def xray(height: int, width: int, *dense: tuple[slice, slice]) -> np.ndarray:
    image = np.full((height, width), BRIGHT, dtype=np.uint16)
    for rows, cols in dense:
        image[rows, cols] = DARK
    return image


def assess(image: np.ndarray, **overrides: Any) -> Assessment:
    return dense_region.assess(image, **{**SETTINGS, **overrides})


# ---------------------------------------------------------------------------------------------------
# dense_region
# ---------------------------------------------------------------------------------------------------


def test_dense_region_clear_image() -> None:
    assert assess(xray(64, 64)) == Assessment.clear()


def test_dense_region_block_above_min_area() -> None:
    result = assess(xray(96, 96, (slice(32, 64), slice(48, 80))))  # 32 x 32 px on 2 x 2 tiles
    assert result.decision is Decision.ALARM
    assert result.risk_score == 1.0
    [found] = result.detections
    assert found == Detection(
        label="dense_object",
        score=1024 / 1600,  # area / (4 * min_area_px)
        box=(48.0, 32.0, 80.0, 64.0),  # x_min, y_min, x_max, y_max
        explanation="1024 px transmit < 2% of the high-energy beam",
        attributes={"area_px": "1024"},
    )


def test_dense_region_defaults_want_a_large_region_the_beam_hardly_crosses() -> None:
    defaults = dict(dense_region.SPEC.default_settings)
    large = xray(96, 96, (slice(32, 80), slice(32, 80)))  # 48 x 48 = 2304 px at 0.15 % of the beam
    [found] = dense_region.assess(large, **defaults).detections
    assert found.explanation == "2304 px transmit < 0.2% of the high-energy beam"
    assert dense_region.assess(xray(96, 96, (slice(32, 64), slice(32, 64))), **defaults) == Assessment.clear()
    grey = xray(96, 96, (slice(32, 80), slice(32, 80)))
    grey[grey == DARK] = 1000  # 1.5 % of the beam: a screener can still read it
    assert dense_region.assess(grey, **defaults) == Assessment.clear()


def test_dense_region_block_below_min_area() -> None:
    image = xray(64, 64, (slice(16, 32), slice(16, 32)))  # 256 px < 400
    assert assess(image) == Assessment.clear()
    [found] = assess(image, min_area_px=200).detections
    assert found.box == (16.0, 16.0, 32.0, 32.0)
    assert found.score == pytest.approx(256 / 800)
    assert assess(image, min_area_px=50).detections[0].score == 1.0  # 256 / 200, capped


def test_dense_region_box_clipped_to_the_image() -> None:
    # tile 10 on a 45 x 45 image: the last tile row and column are 5 px wide
    result = assess(xray(45, 45, (slice(20, 45), slice(20, 45))), tile_px=10)
    [found] = result.detections
    assert found.box == (20.0, 20.0, 45.0, 45.0)
    # 4 full tiles of 100 px and 4 edge tiles of 50 px; the 25 px corner tile is not dense enough (> 25)
    assert found.attributes == {"area_px": "600"}
    assert found.score == pytest.approx(600 / 1600)


def test_dense_region_separate_regions() -> None:
    image = xray(64, 64, (slice(0, 16), slice(0, 16)), (slice(16, 32), slice(16, 32)))  # diagonal tiles
    result = assess(image, min_area_px=200)
    assert sorted(d.box for d in result.detections if d.box) == [
        (0.0, 0.0, 16.0, 16.0),
        (16.0, 16.0, 32.0, 32.0),
    ]


def test_dense_region_sparse_dark_pixels_are_not_a_region() -> None:
    image = xray(64, 64)
    image[::3, ::3] = DARK  # at most 36 dark pixels per 16 x 16 tile: not more than a quarter
    assert assess(image, min_area_px=1) == Assessment.clear()


def test_dense_region_3d_uses_the_high_energy_channel() -> None:
    dense = xray(64, 64, (slice(0, 32), slice(0, 32)))
    clear = xray(64, 64)
    assert assess(np.stack([clear, dense])).decision is Decision.CLEAR
    result = assess(np.stack([dense, clear]))
    assert result.decision is Decision.ALARM
    assert [d.box for d in result.detections] == [(0.0, 0.0, 32.0, 32.0)]


def test_dense_region_non_contiguous_input() -> None:
    image = xray(64, 64, (slice(0, 32), slice(32, 64)))
    result = assess(image.T)  # a transposed view: the dense block moves to the bottom left
    assert [d.box for d in result.detections] == [(0.0, 32.0, 32.0, 64.0)]


@pytest.mark.parametrize("shape", [(64,), (1, 2, 8, 8)])
def test_dense_region_rejects_other_ranks(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="expected a 2D image"):
        assess(np.full(shape, BRIGHT, dtype=np.uint16))


def test_dense_region_threshold_follows_settings() -> None:
    image = xray(64, 64, (slice(0, 32), slice(0, 32)))
    image[image == DARK] = 3000  # 4.6 % of full scale
    assert assess(image).decision is Decision.CLEAR
    assert assess(image, max_transmission=0.05).decision is Decision.ALARM


def test_dense_region_hooks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dense_region, "_settings", dict(SETTINGS))  # module state, restored after the test
    assert dense_region.smartcustoms_plugin_spec() is dense_region.SPEC
    assert dense_region.SPEC.consumes == frozenset({Modality.XRAY})
    dense = xray(64, 64, (slice(0, 16), slice(0, 16)))
    frames = [
        inline_view(array_frame(image, modality=Modality.XRAY, source_id="lane-1", sequence=n))
        for n, image in enumerate([dense, xray(64, 64)])
    ]
    assert [a.decision for a in dense_region.smartcustoms_process_batch(frames)] == [Decision.CLEAR] * 2
    dense_region.smartcustoms_configure({"min_area_px": 100})
    assert [a.decision for a in dense_region.smartcustoms_process_batch(frames)] == [
        Decision.ALARM,
        Decision.CLEAR,
    ]


# ---------------------------------------------------------------------------------------------------
# rfid_epc_check
# ---------------------------------------------------------------------------------------------------

SGTIN = "3074257BF7194E4000001A85"  # the GS1 Tag Data Standard's SGTIN-96 example


@pytest.mark.parametrize(
    "epc",
    [SGTIN, "3314257BF7194E4000001A85", "3414257BF7194E4000001A85", "3018000000000000000000FF"],
    ids=["sgtin-96", "grai-96", "giai-96", "partition-6"],
)
def test_epc96_well_formed(epc: str) -> None:
    assert rfid_epc_check.epc96_problem(epc) == ""


@pytest.mark.parametrize(
    ("epc", "problem"),
    [
        (SGTIN[:-1], "92 bits, not 96"),
        (SGTIN + "00", "104 bits, not 96"),
        ("", "0 bits, not 96"),
        ("G074257BF7194E4000001A85", "not hexadecimal"),
        ("3074257BF7194E40000-1A85", "not hexadecimal"),
        ("E280689400004007A8F4B123", "header 0xE2 is not SGTIN-96, GRAI-96 or GIAI-96"),
        ("3574257BF7194E4000001A85", "header 0x35 is not SGTIN-96, GRAI-96 or GIAI-96"),
        ("000000000000000000000000", "header 0x00 is not SGTIN-96, GRAI-96 or GIAI-96"),
        ("307C257BF7194E4000001A85", "partition 7 is reserved"),  # filter 3, partition 0b111
    ],
)
def test_epc96_problems(epc: str, problem: str) -> None:
    assert rfid_epc_check.epc96_problem(epc) == problem


def test_assess_reads() -> None:
    assert rfid_epc_check.assess_reads([]) == Assessment.clear()
    assert rfid_epc_check.assess_reads([SGTIN, SGTIN.lower(), f" {SGTIN} "]) == Assessment.clear()
    result = rfid_epc_check.assess_reads([SGTIN, "E280689400004007A8F4B123", "abc"])
    assert result.decision is Decision.ALARM
    assert [(d.label, d.score, d.attributes["epc"], d.explanation) for d in result.detections] == [
        ("foreign_tag", 1.0, "E280689400004007A8F4B123", "header 0xE2 is not SGTIN-96, GRAI-96 or GIAI-96"),
        ("foreign_tag", 1.0, "abc", "12 bits, not 96"),
    ]


def test_rfid_epc_check_process_batch() -> None:
    def frame(*epcs: str) -> FrameView:
        batch = frame_pb2.RfidReadBatch(
            reader_id="dock-1", reads=[frame_pb2.RfidRead(epc_hex=e) for e in epcs]
        )
        return inline_view(
            frame_pb2.Frame(
                source_id="dock-1", modality=frame_pb2.MODALITY_RFID, payload=batch.SerializeToString()
            )
        )

    assessments = rfid_epc_check.smartcustoms_process_batch(
        [frame(SGTIN), frame(SGTIN, "307C257BF7194E4000001A85"), frame()]
    )
    assert [a.decision for a in assessments] == [Decision.CLEAR, Decision.ALARM, Decision.CLEAR]
    assert rfid_epc_check.SPEC.consumes == frozenset({Modality.RFID})


# ---------------------------------------------------------------------------------------------------
# noop and alert_log
# ---------------------------------------------------------------------------------------------------


def test_noop_clears_every_frame_without_reading_it() -> None:
    def never_loaded() -> memoryview:
        raise AssertionError("noop must not read payloads")

    frames = [FrameView(frame_pb2.Frame(frame_id=f"f-{n}"), never_loaded) for n in range(3)]
    assert noop.smartcustoms_process_batch(frames) == [Assessment.clear()] * 3
    assert noop.smartcustoms_process_batch([]) == []
    assert noop.SPEC.consumes == ALL_MODALITIES
    assert noop.SPEC.enabled_by_default is False


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
        alert_log.smartcustoms_alert(alert(decision, conveyance_id))
    assert [(r.name, r.levelno, r.getMessage()) for r in caplog.records] == [
        ("smartcustoms.alerts", logging.WARNING, line)
    ]
    assert alert_log.smartcustoms_plugin_spec().consumes == frozenset()
