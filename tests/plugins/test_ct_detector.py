"""ct_detector: kernels on synthetic volumes, forced threats found, a clean bag clear, TDR export, warm-up,
the runtime's imports, the evaluation and its command."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from numba.core.registry import CPUDispatcher

from smartcustoms.core.frames import array_frame, inline_view
from smartcustoms.core.geometry import iou
from smartcustoms.core.manager import new_plugin_manager, register
from smartcustoms.core.types import Decision, Modality
from smartcustoms.core.verdicts import combine
from smartcustoms.hardware import dicos
from smartcustoms.hardware.sim import ct
from smartcustoms.plugins.ct import _kernels as ct_kernels
from smartcustoms.plugins.ct.detector import CtDetector
from smartcustoms.plugins.ct.plugin import SPEC, CtDetectorPlugin, warm_up_frames
from smartcustoms.plugins.ct.segmentation import band_mask, components, label_components, thin_sheets
from smartcustoms.plugins.ct.settings import LABELS, CtSettings
from smartcustoms.plugins.ct.tools import cli, evaluate
from smartcustoms.v1 import results_pb2

IMPORT_PATH = "smartcustoms.plugins.ct:CtDetectorPlugin"
SEED = 7  # neither a development seed (100-199) nor an evaluation seed (1000 on)
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


def _truth_region(box: tuple[int, ...]) -> tuple[float, ...]:
    z0, y0, x0, z1, y1, x1 = box
    return (x0, y0, z0, x1, y1, z1)


def _plugin(**settings: object) -> CtDetectorPlugin:
    return CtDetectorPlugin({**SPEC.default_settings, **settings})


def test_band_mask_erosion_and_components_on_a_synthetic_volume() -> None:
    volume = np.zeros((20, 20, 20), np.uint16)
    volume[2:8, 2:6, 2:12] = 1500  # a 6 x 4 x 10 brick
    volume[12:14, 12:14, 12:14] = 1500  # a 2-voxel cube: gone after erosion
    volume[15:18, 2:5, 2:5] = 9000  # metal, outside the band
    mask = band_mask(volume, 1300, 2100)
    assert int(mask.sum()) == 6 * 4 * 10 + 8
    eroded = band_mask(volume, 1300, 2100, erode=True)
    assert int(eroded.sum()) == 4 * 2 * 8
    labels, count = label_components(mask)
    assert count == 2
    brick = max(components(labels, count, volume, 1), key=lambda c: c.voxels)
    assert brick.voxels == 240 and brick.mean_mhu == 1500 and brick.std_mhu == 0
    assert brick.box == (2, 2, 2, 8, 6, 12)
    np.testing.assert_allclose(sorted(brick.lengths), [4, 6, 10], atol=1e-6)
    assert abs(brick.axes[:, 0] @ np.array([0, 0, 1.0])) == pytest.approx(1.0)


def test_26_connectivity_joins_diagonal_voxels_that_6_connectivity_keeps_apart() -> None:
    mask = np.zeros((4, 4, 4), np.uint8)
    mask[0, 0, 0] = mask[1, 1, 1] = mask[2, 2, 2] = 1
    assert label_components(mask)[1] == 3
    assert label_components(mask, connectivity=26)[1] == 1


def test_thin_sheets_marks_a_foil_wall_in_tobacco_and_not_a_thick_block() -> None:
    volume = np.full((24, 24, 24), 330, np.uint16)
    volume[:, :, 6] = 1000  # a one-voxel wall
    volume[4:20, 4:20, 14:22] = 1000  # a thick block
    marks = thin_sheets(volume, CtSettings())
    assert marks[10, 10, 6] >= 5  # crossed from many directions
    assert marks[10, 10, 17] == 0  # inside the block: no light filling on either side
    assert marks[3:21, 3:21, 13:23].mean() < marks[3:21, 3:21, 6].mean()


def test_a_thick_object_touching_two_walls_does_not_join_their_cores() -> None:
    volume = np.full((32, 32, 40), 330, np.uint16)
    volume[:, :, 8] = volume[:, :, 26] = 1000  # two foil walls
    volume[12:20, 12:20, 8:27] = 1000  # a book-like block from one to the other
    settings = CtSettings()
    marks = thin_sheets(volume, settings)
    assert label_components((marks > 0).view(np.uint8), connectivity=26)[1] == 1  # joined by its rim
    core = (marks >= settings.sheet_core_crossings).view(np.uint8)
    labels, count = label_components(core, connectivity=26)
    assert count == 2 and 0 != labels[4, 4, 8] != labels[4, 4, 26] != 0


def test_cigarette_cartons_are_found_in_bags_full_of_clothes() -> None:
    found = 0
    for seed in range(100, 110):  # development seeds
        scan = ct.CtSimulator(seed).generate(0, threat="cigarettes")
        truth = _truth_region(scan.truth[0].box)
        detections = CtDetector().detect(scan.volume)
        overlaps = [iou(f.detection(scan.volume.shape).volume or (), truth) for f in detections]
        found += any(f.label == "cigarettes" and o > 0.3 for f, o in zip(detections, overlaps, strict=True))
    assert found >= 9


def _brick_beside_a_can(brick_mhu: int, can_mhu: int, can_radius: int) -> np.ndarray:
    """Clothes, a 24 x 36 x 8 voxel brick (7.2 x 10.8 x 2.4 cm at 3 mm) and a can lying across its end."""
    rng = np.random.default_rng(5)
    volume = np.full((48, 64, 64), 300.0)
    volume[12:36, 14:50, 28:36] = brick_mhu
    z, y, x = np.mgrid[0:48, 0:64, 0:64]
    can = ((z - 24) ** 2 + (x - 32) ** 2 <= can_radius**2) & (y >= 44) & (y < 62)
    volume[can & (volume == 300.0)] = can_mhu
    return np.clip(volume + rng.normal(0, 25, volume.shape), 0, 65535).astype(np.uint16)


@pytest.mark.parametrize(
    ("can_mhu", "can_radius"),
    [(1420, 9), (1520, 5)],  # a can 100 MHU lighter (one spread of densities); a tube of the brick's own
    ids=["can-of-another-density", "tube-of-the-same-density"],
)
def test_a_brick_touching_a_can_of_organic_density_is_an_explosive(can_mhu: int, can_radius: int) -> None:
    volume = _brick_beside_a_can(1520, can_mhu, can_radius)
    found = [f for f in CtDetector().detect(volume) if f.label == "explosive"]
    brick = (28.0, 14.0, 12.0, 36.0, 50.0, 36.0)  # x, y, z lows then highs
    assert any(iou(f.detection(volume.shape).volume or (), brick) > 0.5 for f in found)


def test_kernel_wrappers_check_their_inputs() -> None:
    with pytest.raises(TypeError, match="uint16"):
        band_mask(np.zeros((4, 4, 4), np.float32), 0, 1)
    with pytest.raises(ValueError, match="3D"):
        band_mask(np.zeros((4, 4), np.uint16), 0, 1)
    with pytest.raises(ValueError, match="connectivity"):
        label_components(np.zeros((4, 4, 4), np.uint8), connectivity=18)


def test_oriented_extent_of_a_brick() -> None:
    labels = np.zeros((10, 10, 10), np.int32)
    labels[1:4, 2:8, 3:5] = 1
    extent = ct_kernels._oriented_extent(
        labels, 1, np.array([1, 2, 3, 4, 8, 5]), np.array([2.5, 5.0, 4.0]), np.eye(3)
    )
    np.testing.assert_allclose(extent, [[-1, -2.5, -0.5], [1, 2.5, 0.5]])


@pytest.mark.parametrize("threat", LABELS)
@pytest.mark.parametrize("index", [3, 11])
def test_a_forced_threat_is_found_with_its_class_and_box(threat: str, index: int) -> None:
    scan = ct.CtSimulator(SEED).generate(index, threat=threat)
    found = CtDetector().detect(scan.volume)
    truth = _truth_region(scan.truth[0].box)
    overlaps = [iou(f.detection(scan.volume.shape).volume or (), truth) for f in found if f.label == threat]
    assert overlaps and max(overlaps) > 0.3


@pytest.mark.parametrize("index", [0, 5, 10])
def test_clean_bags_are_clear_through_the_plugin_hook(index: int) -> None:
    pm = new_plugin_manager()
    register(pm, IMPORT_PATH)
    scan = ct.CtSimulator(SEED).generate(index, threat=None)
    frame = ct.to_frame(scan, source_id="lane-1-ct", sequence=index)
    [assessment] = pm.hook.smartcustoms_process_batch(frames=[inline_view(frame)])
    assert assessment.decision is Decision.CLEAR and assessment.detections == ()


def test_hu_volumes_are_rescaled_to_mhu() -> None:
    scan = ct.CtSimulator(SEED).generate(3, threat="firearm")
    hu = (scan.volume.astype(np.int32) - 1000).clip(-1000, 32767).astype(np.int16)
    metadata = {"rescale_slope": "1", "rescale_intercept": "0", "voxel_size_mm": "3.0"}
    frame = array_frame(hu, modality=Modality.CT, source_id="ct", sequence=1, metadata=metadata)
    assessment = _plugin().assess(inline_view(frame))
    assert [d.label for d in assessment.detections] == ["firearm"]


def test_unknown_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown setting"):
        CtSettings.from_mapping({"metal_min": 1})
    with pytest.raises(ValueError, match="unknown setting"):
        _plugin(metal_min=1)


def test_settings_change_what_the_plugin_finds() -> None:
    scan = ct.CtSimulator(SEED).generate(3, threat="firearm")
    frame = inline_view(ct.to_frame(scan, source_id="lane-1-ct", sequence=1))
    assert [d.label for d in _plugin().assess(frame).detections] == ["firearm"]
    assert _plugin(metal_min_mhu=60000).assess(frame).detections == ()


def test_a_ct_verdict_exports_as_a_dicos_tdr_and_reads_back(tmp_path: Path) -> None:
    scan = ct.CtSimulator(SEED).generate(3, threat="firearm")
    frame = ct.to_frame(scan, source_id="lane-1-ct", sequence=1, frame_id="f-1", conveyance_id="bag-1")
    assessment = _plugin().assess(inline_view(frame))
    [detection] = assessment.detections
    result = results_pb2.PluginResult(
        plugin="ct_detector", plugin_version=SPEC.version, decision=assessment.decision.to_proto()
    )
    result.detections.append(detection.to_proto("ct_detector", SPEC.version))
    verdict = combine(frame, [result])
    assert verdict.decision == results_pb2.DECISION_ALARM
    path = tmp_path / "bag-1.tdr.dcm"
    dicos.write_tdr(path, verdict, {"voxel_size_mm": "3.0"})
    report = dicos.read_tdr(path)
    assert report.alarm_decision == "ALARM" and report.ooi_id == "bag-1"
    [threat] = report.threats
    assert threat.category == dicos.threat_category("firearm")
    assert threat.description.startswith("firearm")
    assert threat.probability == pytest.approx(detection.score)
    assert detection.volume is not None
    x0, y0, z0, x1, y1, z1 = detection.volume
    assert threat.roi_base == pytest.approx((x0, y0, z0))
    assert threat.roi_extents == pytest.approx((x1 - x0, y1 - y0, z1 - z0))


def _signatures() -> dict[str, set[object]]:
    return {
        name: set(kernel.signatures)
        for name, kernel in vars(ct_kernels).items()
        if isinstance(kernel, CPUDispatcher)
    }


def test_warm_up_compiles_every_kernel_a_real_frame_needs() -> None:
    plugin = _plugin()
    plugin.smartcustoms_warm_up()
    assert [d.label for d in plugin.assess(warm_up_frames()[0]).detections] == [
        "explosive",
        "cigarettes",
        "knife",
    ]
    compiled = _signatures()
    assert all(compiled.values()), "a kernel the detector never calls"
    for index, threat in enumerate(LABELS):
        scan = ct.CtSimulator(SEED).generate(index, threat=threat)
        plugin.assess(inline_view(ct.to_frame(scan, source_id="lane-1-ct", sequence=index)))
    assert _signatures() == compiled


def test_the_runtime_modules_import_no_simulator_and_no_tool() -> None:
    code = """
import json, pkgutil, importlib, sys
import smartcustoms.plugins.ct as package
for module in pkgutil.iter_modules(package.__path__, package.__name__ + "."):
    if module.name != package.__name__ + ".tools":
        importlib.import_module(module.name)
print(json.dumps(sorted(sys.modules)))
"""
    loaded = json.loads(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True).stdout)
    assert "smartcustoms.plugins.ct.plugin" in loaded
    assert not [m for m in loaded if m.startswith(("smartcustoms.hardware", "smartcustoms.runtime"))]
    plugins = {m for m in loaded if m.startswith("smartcustoms.plugins.")}
    assert all(m.startswith("smartcustoms.plugins.ct.") or m == "smartcustoms.plugins.ct" for m in plugins)
    assert "smartcustoms.plugins.ct.tools" not in loaded


def test_ct_eval_on_a_tiny_set_returns_every_field() -> None:
    report = evaluate.evaluate(5, 1000, shape=(96, 64, 96))
    assert set(report) >= FIELDS
    assert report["frames"] == 5 and report["clean_frames"] == 1
    assert list(report["classes"]) == list(LABELS)
    for figures in report["classes"].values():
        assert {"objects", "detected", "pd", "ap50"} <= set(figures) and figures["objects"] == 1
    assert "mAP@0.5" in evaluate.format_report(report)


def test_eval_refuses_development_seeds() -> None:
    with pytest.raises(ValueError, match="develop"):
        evaluate.evaluate(1, 150)


def _command(*argv: str) -> argparse.Namespace:
    top = argparse.ArgumentParser(prog="smartcustoms")
    commands = top.add_subparsers(dest="command", required=True)
    kinds = commands.add_parser("eval").add_subparsers(dest="kind", required=True)
    targets = commands.add_parser("library").add_subparsers(dest="target", required=True)
    cli.add_tools(kinds, targets)
    return top.parse_args(list(argv))


def test_eval_ct_command_refuses_a_development_seed_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    args = _command("eval", "ct", "--seed", "150", "--count", "3")
    assert args.count == 3
    assert args.handler(args) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and error.startswith("smartcustoms eval ct: seed 150")
    assert cli.count_and_seed(_command("eval", "ct")) == (200, 1000)
    assert cli.count_and_seed(_command("eval", "ct", "--generator", "alt")) == (100, 7000)
    assert cli.count_and_seed(_command("eval", "ct", "--generator", "alt", "--seed", "7100")) == (100, 7100)
    capsys.readouterr()
    args = _command("eval", "ct", "--data", "somewhere", "--generator", "alt")
    assert args.handler(args) == 2
    assert "--data DIR is a source of its own" in capsys.readouterr().err


def test_eval_on_the_independent_generator_reports_pd_per_class_and_design() -> None:
    report = evaluate.evaluate_alt(5, 7999, max_voxels=400_000)  # small volumes: coarse voxels
    assert (report["generator"], report["count"], report["clean_frames"]) == ("alt", 5, 1)
    assert list(report["classes"]) == list(LABELS)
    for label, figures in report["classes"].items():
        designs = {n: d for n, d in report["designs"].items() if n.startswith(f"{label}: ")}
        assert figures["objects"] == 1 == sum(d["objects"] for d in designs.values())
        assert figures["detected"] == sum(d["detected"] for d in designs.values())  # the same matching
    text = evaluate.format_report(report)
    assert "independent generator ct_alt" in text and "PD per design:" in text
    with pytest.raises(ValueError, match="count must be at least 1"):
        evaluate.evaluate_alt(0, 7999)
