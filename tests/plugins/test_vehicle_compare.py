"""vehicle_compare: kernels, alignment, forced concealments found, clean scans clear, the reference
library extended by a directory, metadata handling, and the evaluation on a tiny set."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from smartcustoms.core.frames import array_frame, inline_view
from smartcustoms.core.manager import new_plugin_manager, register
from smartcustoms.core.types import Decision, Modality
from smartcustoms.hardware.sim import vehicle
from smartcustoms.plugins import _vehicle_kernels, eval_ct_vehicle, vehicle_compare
from smartcustoms.plugins.eval_ct_vehicle import iou
from smartcustoms.plugins.reference_library import ReferenceLibrary
from smartcustoms.plugins.vehicle_compare import Declaration, VehicleComparer, VehicleSettings

SEED = 11  # neither a development seed (200-299) nor an evaluation seed (2000 on)
HEIGHT, WIDTH = 512, 1536
FIELDS = {
    "system",
    "seed",
    "count",
    "shape",
    "frames",
    "clean_frames",
    "classes",
    "map50",
    "false_alarm_rate",
    "false_detections_per_frame",
    "ms_per_frame_mean",
    "ms_per_frame_p95",
}


def _simulator() -> vehicle.VehicleSimulator:
    return vehicle.VehicleSimulator(SEED, HEIGHT, WIDTH)


def test_attenuation_is_the_log_of_transmission() -> None:
    image = np.array([[65535, 6554, 0]], np.uint16)
    np.testing.assert_allclose(
        vehicle_compare.attenuation(image), [[0.0, np.log(65535 / 6554), np.log(65535)]], rtol=1e-6
    )
    with pytest.raises(ValueError, match="uint16"):
        vehicle_compare.attenuation(np.zeros((2, 2), np.float32))


def test_anomaly_mask_needs_both_the_attenuation_and_the_noise_margin() -> None:
    difference = np.array([[0.5, 0.05, -0.5, 0.5]], np.float32)
    noise = np.array([[0.01, 0.001, 0.01, 0.2]], np.float32)
    mask = np.empty((1, 4), np.uint8)
    count = _vehicle_kernels._anomaly_mask(difference, noise, np.zeros_like(noise), 6.0, 0.08, mask)
    assert mask.tolist() == [[1, 0, 2, 0]] and count == 2


def test_shift_of_a_synthetic_image_is_recovered_to_a_fraction_of_a_pixel() -> None:
    rng = np.random.default_rng(0)
    reference = np.zeros((64, 256), np.float32)
    for _ in range(12):
        y, x = rng.integers(0, 48), rng.integers(0, 220)
        reference[y : y + 12, x : x + 30] += rng.uniform(0.2, 1.0)
    import cv2

    moved = cv2.warpAffine(
        reference, np.float32([[1, 0, 7.4], [0, 1, -2.0]]), (256, 64), flags=cv2.INTER_LINEAR
    )
    dx, dy = vehicle_compare.estimate_shift(moved, reference, 20, 5)
    assert dx == pytest.approx(7.4, abs=0.25) and dy == pytest.approx(-2.0, abs=0.25)


@pytest.mark.parametrize(
    ("index", "model", "kind"),
    [
        (1, "sedan-1", "hidden_compartment"),
        (3, "box-truck-1", "hidden_compartment"),
        (3, "van-1", "undeclared_goods"),
    ],
)
def test_a_forced_concealment_is_found_with_its_box(index: int, model: str, kind: str) -> None:
    simulator = _simulator()
    if kind == "undeclared_goods":  # the first scan from ``index`` on declared empty
        index = next(
            i
            for i in range(index, index + 40)
            if not simulator.generate(i, model=model, concealment=None).declared_goods
        )
    scan = simulator.generate(index, model=model, concealment=kind)
    declared = eval_ct_vehicle.vehicle_frame(scan, simulator.pixel_cm, index).metadata
    detections, comparison = VehicleComparer().compare(
        scan.image, model, Declaration.from_metadata(declared), scan.pixel_size_mm
    )
    [truth] = scan.concealments
    assert comparison.shift[0] == pytest.approx(scan.offset_px[0], abs=0.5)
    overlaps = [iou(d.box or (), tuple(float(v) for v in truth.box)) for d in detections if d.label == kind]
    assert overlaps and max(overlaps) > 0.3
    assert all(d.attributes["reference"] == "built-in simulator" for d in detections)


def test_extra_load_beyond_the_declared_pallets_is_flagged() -> None:
    simulator = _simulator()
    index = next(
        i for i in range(40) if simulator.generate(i, model="box-truck-1", concealment=None).declared_goods
    )
    scan = simulator.generate(index, model="box-truck-1", concealment="extra_load")
    frame = eval_ct_vehicle.vehicle_frame(scan, simulator.pixel_cm, index)
    assessment = vehicle_compare.assess(inline_view(frame), VehicleComparer())
    [truth] = scan.concealments
    extra = [d for d in assessment.detections if d.label == "extra_load"]
    assert extra and max(iou(d.box or (), tuple(float(v) for v in truth.box)) for d in extra) > 0.3
    assert extra[0].attributes["declared_pallets"] == frame.metadata["declared_pallets"]


@pytest.mark.parametrize("model", vehicle.MODEL_NAMES)
def test_clean_scans_are_clear_through_the_plugin_hook(model: str) -> None:
    pm = new_plugin_manager()
    info = register(pm, "smartcustoms.plugins.vehicle_compare")
    pm.hook.smartcustoms_configure(settings=dict(info.spec.default_settings))
    simulator = _simulator()
    scan = simulator.generate(5, model=model, concealment=None)
    frame = eval_ct_vehicle.vehicle_frame(scan, simulator.pixel_cm, 5)
    [assessment] = pm.hook.smartcustoms_process_batch(frames=[inline_view(frame)])
    assert assessment.decision is Decision.CLEAR, assessment.detections


def test_a_reference_directory_adds_a_model_without_code(tmp_path: Path) -> None:
    simulator = _simulator()
    empty = simulator.reference("van-1")
    np.save(tmp_path / "van-2.npy", np.asarray(empty.image))
    (tmp_path / "van-2.json").write_text(json.dumps({"pixel_size_mm": empty.pixel_size_mm, "kind": "van"}))
    library = ReferenceLibrary(tmp_path, builtin=False)
    assert library.models() == ["van-2"]
    [reference] = library.references("van-2", (HEIGHT, WIDTH))
    assert reference.source.endswith("van-2.npy") and reference.pixel_size_mm == pytest.approx(
        empty.pixel_size_mm
    )
    scan = simulator.generate(3, model="van-1", concealment="hidden_compartment")
    settings = VehicleSettings(reference_dir=str(tmp_path), builtin_references=False)
    frame = eval_ct_vehicle.vehicle_frame(scan, simulator.pixel_cm, 3)
    frame.metadata["vehicle_model"] = "van-2"
    assessment = vehicle_compare.assess(inline_view(frame), VehicleComparer(settings))
    assert assessment.decision is Decision.ALARM
    assert {d.attributes["reference"] for d in assessment.detections} == {"van-2.npy"}


def test_a_reference_directory_must_exist(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="not a directory"):
        ReferenceLibrary(tmp_path / "missing")


def test_a_model_without_reference_is_an_error_not_a_clear() -> None:
    scan = _simulator().generate(0, model="sedan-1", concealment=None)
    frame = vehicle.to_frame(scan, source_id="portal", sequence=1)
    frame.metadata["vehicle_model"] = "unknown-model"
    with pytest.raises(LookupError, match="no reference"):
        vehicle_compare.assess(inline_view(frame), VehicleComparer())


def test_baggage_frames_raise_unless_vehicle_metadata_is_optional() -> None:
    bag = inline_view(
        array_frame(
            np.full((2, 32, 32), 60000, np.uint16), modality=Modality.XRAY, source_id="lane-1", sequence=1
        )
    )
    with pytest.raises(ValueError, match="route only vehicle portal sources"):
        vehicle_compare.assess(bag, VehicleComparer())
    lenient = VehicleComparer(VehicleSettings(require_vehicle_metadata=False))
    assert vehicle_compare.assess(bag, lenient).decision is Decision.CLEAR


def test_declaration_from_metadata() -> None:
    assert Declaration.from_metadata({"declared_goods": "empty"}) == Declaration("", None)
    assert Declaration.from_metadata({"declared_goods": "textiles", "declared_pallets": "3"}) == Declaration(
        "textiles", 3
    )


def test_vehicle_eval_on_a_tiny_set_returns_every_field() -> None:
    report = eval_ct_vehicle.run_vehicle_eval(4, 2000, height=HEIGHT, width=WIDTH)
    assert set(report) >= FIELDS
    assert set(report["classes"]) == set(vehicle_compare.LABELS)
    assert report["frames"] == 4
    assert "false alarms per vehicle" in eval_ct_vehicle.format_report(report)
    with pytest.raises(ValueError, match="develop"):
        eval_ct_vehicle.run_vehicle_eval(1, 250)
