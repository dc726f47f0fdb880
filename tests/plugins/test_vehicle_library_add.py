"""``smartcustoms library add vehicle``: a site's own reference scans, from DICOS DX, 16-bit PNG or TIFF and
8-bit JPEG files, into the vehicle-references artefact; references of non-square pixels."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from smartcustoms.core.artefacts import MANIFEST
from smartcustoms.core.frames import inline_view
from smartcustoms.core.geometry import iou
from smartcustoms.core.plugin import PluginContext
from smartcustoms.core.types import Decision
from smartcustoms.hardware.dicos import Geometry, Identity, write_dx
from smartcustoms.hardware.sim import vehicle
from smartcustoms.plugins.vehicle.plugin import SPEC, VehicleComparePlugin
from smartcustoms.plugins.vehicle.references import ReferenceError, load_references, read_reference
from smartcustoms.plugins.vehicle.tools import build, cli

SEED = 7  # neither a development seed (200-299) nor an evaluation seed (2000 on)
HEIGHT, WIDTH = 512, 1536
TRUCK = "box-truck-1"


def _command(*argv: str) -> argparse.Namespace:
    top = argparse.ArgumentParser(prog="smartcustoms")
    commands = top.add_subparsers(dest="command", required=True)
    library = commands.add_parser("library").add_subparsers(dest="action", required=True)
    cli.add_library_entries(library.add_parser("add").add_subparsers(dest="artefact", required=True))
    return top.parse_args(list(argv))


def _add(*argv: str) -> int:
    args = _command("library", "add", "vehicle", *argv)
    code: int = args.handler(args)
    return code


@pytest.fixture(scope="module")
def simulator() -> vehicle.VehicleSimulator:
    return vehicle.VehicleSimulator(SEED, HEIGHT, WIDTH, concealment_rate=0.0)


@pytest.fixture(scope="module")
def truck_box(simulator: vehicle.VehicleSimulator) -> tuple[int, int, int, int]:
    box = build.cargo_box(vehicle.model_named(TRUCK), simulator)
    assert box is not None
    return box


def _plugin(folder: Path) -> VehicleComparePlugin:
    context = PluginContext(SPEC.name, artefact_root=folder.parent)
    return VehicleComparePlugin({**SPEC.default_settings, "reference_dir": str(folder)}, context)


def _assess(
    plugin: VehicleComparePlugin, scan: vehicle.VehicleScan
) -> tuple[Decision, list[tuple[float, ...]]]:
    [assessment] = plugin.smartcustoms_process_batch(
        [inline_view(vehicle.to_frame(scan, source_id="t", sequence=1))]
    )
    return assessment.decision, [d.box for d in assessment.detections if d.box]


def _enrol_coarse(tmp_path: Path, simulator: vehicle.VehicleSimulator, truck_box: tuple[int, ...]) -> Path:
    """The truck's empty scan as a portal with pixels twice as long along the vehicle gives it (16-bit
    PNG, half the columns), enrolled with both sizes and its cargo box; the reference folder."""
    square_mm = simulator.pixel_size_mm
    empty = simulator.reference(TRUCK).image[0]
    coarse = cv2.resize(empty, (WIDTH // 2, HEIGHT), interpolation=cv2.INTER_AREA)
    cv2.imwrite(str(tmp_path / "truck.png"), coarse)
    x0, y0, x1, y1 = truck_box
    box = [str(v) for v in (x0 // 2, y0, -(-x1 // 2), y1)]
    refs = tmp_path / "refs"
    sizes = [str(2 * square_mm), str(square_mm)]
    named = [str(tmp_path / "truck.png"), "--model", TRUCK, "--kind", "truck", "--library", str(refs)]
    assert _add(*named, "--pixel-size-mm", *sizes, "--cargo-box-px", *box) == 0
    return refs


def test_a_reference_of_non_square_pixels_is_enrolled_and_compared_in_square_ones(
    tmp_path: Path, simulator: vehicle.VehicleSimulator, truck_box: tuple[int, int, int, int]
) -> None:
    """The truck's empty scan as a portal with pixels twice as long along the vehicle gives it (16-bit PNG,
    half the columns): enrolled with both sizes, it clears a clean truck scanned by that portal and finds a
    compartment in another; the same file enrolled as if its pixels were square does not clear."""
    square_mm = simulator.pixel_size_mm
    refs = _enrol_coarse(tmp_path, simulator, truck_box)
    sidecar = json.loads((refs / f"{TRUCK}.json").read_text())
    assert sidecar["pixel_size_along_mm"] == pytest.approx(2 * square_mm)
    assert sidecar["pixel_size_across_mm"] == sidecar["pixel_size_mm"] == pytest.approx(square_mm)
    [reference] = load_references(refs).of(TRUCK)
    assert reference.high_energy.shape == (HEIGHT, WIDTH) and reference.pixel_size_mm == pytest.approx(
        square_mm
    )
    assert reference.cargo_box is not None
    assert all(abs(a - b) <= 2 for a, b in zip(reference.cargo_box, truck_box, strict=True))

    plugin = _plugin(refs)
    portal = vehicle.VehicleSimulator(SEED, HEIGHT, WIDTH, realism=vehicle.Realism(along_ratio=(2.0, 2.0)))
    clean = portal.generate(1, model=TRUCK, concealment=None)
    hidden = portal.generate(2, model=TRUCK, concealment="hidden_compartment")
    assert clean.image.shape == (2, HEIGHT, WIDTH // 2)
    assert _assess(plugin, clean)[0] is Decision.CLEAR
    decision, boxes = _assess(plugin, hidden)
    [truth] = hidden.concealments
    assert decision is Decision.ALARM and max(iou(b, truth.box) for b in boxes) >= 0.3

    wrong = tmp_path / "wrong"
    _add(
        str(tmp_path / "truck.png"),
        "--model",
        TRUCK,
        "--library",
        str(wrong),
        "--pixel-size-mm",
        str(square_mm),
    )
    assert _assess(_plugin(wrong), clean)[0] is not Decision.CLEAR


def test_dicos_dx_files_give_both_energies_and_their_pixel_spacing(
    tmp_path: Path, simulator: vehicle.VehicleSimulator
) -> None:
    image = simulator.reference("container-20ft").image
    identity = Identity(ooi_id="empty-22G1", ooi_type="VEHICLE", study_instance_uid="1.2.3.4")
    geometry = Geometry(pixel_spacing_mm=(13.5, 25.0))  # rows, columns: across, along
    files = [tmp_path / "high.dcs", tmp_path / "low.dcs"]
    for path, channel, kvp in ((files[1], image[1], 3000.0), (files[0], image[0], 6000.0)):
        write_dx(path, channel, geometry=geometry, identity=identity, kvp=kvp)
    refs = tmp_path / "refs"
    assert _add(*map(str, files), "--type", "22g1", "--library", str(refs)) == 0
    stored = np.load(refs / "22G1.npy")
    assert stored.shape == image.shape and np.array_equal(stored[0], image[0])  # high energy first
    sidecar = json.loads((refs / "22G1.json").read_text())
    assert (sidecar["pixel_size_along_mm"], sidecar["pixel_size_across_mm"], sidecar["kind"]) == (
        25.0,
        13.5,
        "container",
    )
    reference = read_reference(refs / "22G1.npy")
    assert reference.model == "22G1" and reference.high_energy.shape[1] == round(WIDTH * 25.0 / 13.5)


def test_an_eight_bit_jpeg_is_scaled_to_counts_and_calibrated_by_its_levels(
    tmp_path: Path, simulator: vehicle.VehicleSimulator
) -> None:
    grey = np.round(simulator.reference("van-1").image[0] / 257.0 * 240 / 255).astype(np.uint8)  # air at 240
    cv2.imwrite(str(tmp_path / "van.jpg"), grey, [cv2.IMWRITE_JPEG_QUALITY, 95])
    refs = tmp_path / "refs"
    van = [str(tmp_path / "van.jpg"), "--model", "van-1", "--library", str(refs), "--pixel-size-mm", "9.8"]
    assert _add(*van) == 0
    assert _add(*van, "--open-beam-level", "240") == 0
    as_exported, calibrated = np.load(refs / "van-1.npy"), np.load(refs / "van-1.2.npy")
    assert as_exported.dtype == np.uint16 and not np.any(as_exported % 257)
    assert np.median(as_exported[:50]) == 240 * 257  # the air, as exported
    assert np.median(calibrated[:50]) == 65535  # the air, calibrated
    found = load_references(refs)
    assert [r.name for r in found.of("van-1")] == ["van-1.2.npy", "van-1.npy"]
    assert found.info.version.endswith("+van-1+van-1.2")


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["missing.png", "--type", "42G1", "--pixel-size-mm", "10"], "no such file"),
        (["garbage.png", "--type", "42G1", "--pixel-size-mm", "10"], "not an image"),
        (["notes.txt", "--type", "42G1", "--pixel-size-mm", "10"], "not a scan file"),
        (["scan.png", "--type", "42Q1", "--pixel-size-mm", "10"], "unknown container type"),
        (["scan.png", "--model", "van.1", "--pixel-size-mm", "10"], "model name"),
        (["scan.png", "--type", "42G1", "--pixel-size-mm", "25", "0"], "positive"),
        (["scan.png", "--type", "42G1", "--pixel-size-mm", "-5"], "positive"),
        (["scan.png", "--type", "42G1", "--pixel-size-mm", "25", "13", "9"], "positive"),
        (["scan.png", "--type", "42G1"], "no pixel spacing"),
        (
            ["scan.png", "--type", "42G1", "--pixel-size-mm", "10", "--cargo-box-px", "0", "0", "400", "50"],
            "cargo box",
        ),
        (["tiny.png", "--type", "42G1", "--pixel-size-mm", "10"], "at least 64"),
        (["float.tiff", "--type", "42G1", "--pixel-size-mm", "10"], "float32"),
        (["scan.png", "--type", "42G1", "--pixel-size-mm", "10", "--open-beam-level", "70000"], "levels"),
    ],
)
def test_every_bad_input_is_one_line_on_stderr_and_exit_2(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    says: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    cv2.imwrite("scan.png", np.full((100, 300), 60000, np.uint16))
    cv2.imwrite("tiny.png", np.full((20, 300), 60000, np.uint16))
    cv2.imwrite("float.tiff", np.full((100, 300), 0.5, np.float32))
    Path("garbage.png").write_bytes(b"not a png at all")
    Path("notes.txt").write_text("an empty 40 ft container\n")
    assert _add(*argv, "--library", "refs") == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and error.startswith("smartcustoms library add vehicle: ") and says in error
    assert not Path("refs").exists()


def test_an_altered_artefact_is_refused_not_extended(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cv2.imwrite(str(tmp_path / "scan.png"), np.full((100, 300), 60000, np.uint16))
    refs = tmp_path / "refs"
    assert (
        _add(str(tmp_path / "scan.png"), "--type", "42G1", "--pixel-size-mm", "10", "--library", str(refs))
        == 0
    )
    manifest = (refs / MANIFEST).read_text()
    (refs / "42G1.json").write_text("{}")
    assert (
        _add(str(tmp_path / "scan.png"), "--type", "45G1", "--pixel-size-mm", "10", "--library", str(refs))
        == 2
    )
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "changed since the build" in error
    assert (refs / MANIFEST).read_text() == manifest


def test_sidecars_of_one_pixel_size_read_as_before_and_bad_sizes_are_refused(tmp_path: Path) -> None:
    image = np.full((80, 200), 50000, np.uint16)
    np.save(tmp_path / "van-1.npy", image)
    for sidecar, expected_width, expected_mm in (
        ({"pixel_size_mm": 5.0, "cargo_box_px": [10, 10, 100, 60]}, 200, 5.0),
        ({"pixel_size_mm": 0}, 200, None),  # 0: unstated, as before
        ({"pixel_size_mm": 5.0, "pixel_size_along_mm": 10.0}, 400, 5.0),
        (
            {"pixel_size_along_mm": 7.5, "pixel_size_across_mm": 5.0, "cargo_box_px": [10, 10, 100, 60]},
            300,
            5.0,
        ),
    ):
        (tmp_path / "van-1.json").write_text(json.dumps(sidecar))
        reference = read_reference(tmp_path / "van-1.npy")
        assert reference.high_energy.shape == (80, expected_width)
        assert reference.pixel_size_mm == expected_mm
        if "cargo_box_px" in sidecar:
            scale = expected_width / 200
            assert reference.cargo_box == (round(10 * scale), 10, round(100 * scale), 60)
    (tmp_path / "van-1.json").write_text(json.dumps({"pixel_size_along_mm": -3, "pixel_size_mm": 5.0}))
    with pytest.raises(ReferenceError, match="positive"):
        read_reference(tmp_path / "van-1.npy")


def test_a_scan_finer_than_its_reference_is_compared_at_the_reference_resolution(
    tmp_path: Path, simulator: vehicle.VehicleSimulator, truck_box: tuple[int, int, int, int]
) -> None:
    """A reference enrolled from a portal with pixels twice as long along the vehicle, and clean trucks
    scanned with square pixels: the scans are sharper than the reference along the truck, and every edge
    would differ from it unless the scan is brought to the reference's resolution first."""
    refs = _enrol_coarse(tmp_path, simulator, truck_box)
    [reference] = load_references(refs).of(TRUCK)
    assert reference.along_scale == pytest.approx(2.0)
    plugin = _plugin(refs)
    decisions = [_assess(plugin, simulator.generate(i, model=TRUCK, concealment=None))[0] for i in range(6)]
    # compared at their own resolution, all six alarmed; a thin strip at one vertical edge still can
    assert decisions.count(Decision.CLEAR) >= 4
    hidden = simulator.generate(7, model=TRUCK, concealment="hidden_compartment")
    decision, boxes = _assess(plugin, hidden)
    [truth] = hidden.concealments
    assert decision is Decision.ALARM and max(iou(b, truth.box) for b in boxes) >= 0.3
