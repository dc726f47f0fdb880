"""The independent vehicle portal generator (``hardware.sim.vehicle_alt``): reproducible, physical, its
labels true, its folder as the contract says."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from smartcustoms.hardware.sim import vehicle_alt
from smartcustoms.hardware.sim._vehicle_alt_physics import Portal, mu_rho

SMALL = {"height": 256, "width": 768}
SEED = 5003


def attenuation(image: np.ndarray) -> np.ndarray:
    return -np.log(np.maximum(image.astype(np.float64), 0.5) / 65535)


@pytest.fixture(scope="module")
def simulator() -> vehicle_alt.AltVehicleSimulator:
    return vehicle_alt.AltVehicleSimulator(SEED, **SMALL)


@pytest.fixture(scope="module")
def scans(simulator: vehicle_alt.AltVehicleSimulator) -> list[vehicle_alt.AltVehicleScan]:
    return [simulator.generate(index) for index in range(48)]


def test_same_seed_and_index_give_identical_bytes_and_others_differ() -> None:
    first = vehicle_alt.AltVehicleSimulator(SEED, **SMALL).generate(2)
    again = vehicle_alt.AltVehicleSimulator(SEED, **SMALL).generate(2)
    assert first.image.tobytes() == again.image.tobytes() and first.truth == again.truth
    assert first.image.tobytes() != vehicle_alt.AltVehicleSimulator(SEED, **SMALL).generate(3).image.tobytes()
    assert (
        first.image.tobytes()
        != vehicle_alt.AltVehicleSimulator(SEED + 1, **SMALL).generate(2).image.tobytes()
    )


def test_seeds_below_5000_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="5000"):
        vehicle_alt.AltVehicleSimulator(4999)
    with pytest.raises(ValueError, match="5000"):
        vehicle_alt.write_folder(tmp_path, 1, 1, **SMALL)


def test_open_beam_above_every_vehicle_and_the_vehicle_attenuates(
    scans: list[vehicle_alt.AltVehicleScan],
) -> None:
    for scan in scans:
        high = scan.high
        assert high.dtype == np.uint16 and high.shape == (256, 768)
        assert np.median(high[:4]) > 0.95 * 65535  # air above the roof
        assert np.median(high[:, :3]) > 0.9 * 65535 and np.median(high[:, -3:]) > 0.9 * 65535  # air around
        cargo_bottom = scan.cargo_box_px[3]
        band = attenuation(high[cargo_bottom : 256 - 4])  # below the cargo floor: chassis and wheels
        assert band.max() > 1.0
        assert attenuation(high[-1]).mean() > 3.0  # the road at the bottom


def test_dual_energy_scans_have_two_channels_and_steel_hardens_less_in_the_high_one() -> None:
    portal = Portal.draw(np.random.default_rng(0))
    dual = Portal(**{**portal.__dict__, "endpoints_mev": (6.0, 4.0), "scatter": 0.0})
    mass = np.zeros((3, 64, 64), dtype=np.float32)
    mass[2, :, 32:] = 7.85 * 10  # 10 cm of steel
    image = dual.form_image(mass, np.random.default_rng(1))
    assert image.shape == (2, 64, 64)
    high, low = (attenuation(image[k][:, 40:56]).mean() for k in range(2))
    assert 1.5 < high < low < 4.0  # Compton-dominated, some 0.03 cm^2/g
    assert np.all((mu_rho(np.array([1.0, 3.0, 6.0])) > 0.02) & (mu_rho(np.array([1.0, 3.0, 6.0])) < 0.08))


def test_each_box_lies_inside_the_image_over_what_the_concealment_changed(
    simulator: vehicle_alt.AltVehicleSimulator, scans: list[vehicle_alt.AltVehicleScan]
) -> None:
    labelled = [(index, scan) for index, scan in enumerate(scans) if scan.truth]
    assert labelled
    for index, scan in labelled:
        without = simulator.generate(index, concealments=False)
        assert not without.truth
        changed = np.abs(attenuation(scan.high) - attenuation(without.high))
        for truth in scan.truth:
            x, y, w, h = truth.bbox
            assert w > 0 and h > 0 and x >= 0 and y >= 0 and x + w <= 768 and y + h <= 256
            assert changed[y : y + h, x : x + w].max() > 0.02, (index, truth)
            assert truth.label in vehicle_alt.CATEGORIES


def test_about_half_the_scans_are_clean_and_every_class_occurs(
    scans: list[vehicle_alt.AltVehicleScan],
) -> None:
    clean = sum(not scan.truth for scan in scans)
    assert 0.3 * len(scans) <= clean <= 0.7 * len(scans)
    labels = {truth.label for scan in scans for truth in scan.truth}
    assert labels == set(vehicle_alt.CATEGORIES)
    for scan in scans:
        labels_here = {truth.label for truth in scan.truth}
        if "undeclared_goods" in labels_here:
            assert scan.declared_goods == "empty" and scan.declared_pallets is None
        if "extra_load" in labels_here:
            assert scan.declared_pallets is not None and scan.declared_pallets >= 1


def test_every_model_has_an_empty_reference_with_its_cargo_box_inside(
    simulator: vehicle_alt.AltVehicleSimulator,
) -> None:
    families = set()
    for model in vehicle_alt.MODELS:
        reference = simulator.reference(model)
        assert re.fullmatch(r"[A-Za-z0-9-]+", model)
        assert not reference.truth and reference.declared_goods == "empty"
        x0, y0, x1, y1 = reference.cargo_box_px
        assert 0 <= x0 < x1 <= 768 and 0 <= y0 < y1 <= 256
        families.add(reference.vehicle.kind)
        if reference.vehicle.kind == "container":
            assert reference.vehicle.container_type in {"22G1", "42G1"}
        cargo = attenuation(reference.high[y0 + 4 : y1 - 4, x0 + 4 : x1 - 4])
        assert np.median(cargo) < 1.5  # empty: walls only
    assert families == {"van", "truck", "container"}


def test_a_reference_is_another_pass_of_the_same_model(simulator: vehicle_alt.AltVehicleSimulator) -> None:
    scan = next(s for s in (simulator.generate(i) for i in range(20)) if s.vehicle.kind == "container")
    reference = simulator.reference(scan.vehicle.model)
    assert reference.vehicle.model == scan.vehicle.model
    assert reference.vehicle.container_type == scan.vehicle.container_type
    assert reference.high.tobytes() != scan.high.tobytes()


def test_without_a_size_each_scan_is_framed_as_a_portal_frames_it() -> None:
    """Rows: the detector column (4.6-5.2 m, more for a taller vehicle) at the scan's pitch; columns: the
    vehicle and 0.8-3 m of air, so the vehicle spans most of the image whatever its length."""
    framed = vehicle_alt.AltVehicleSimulator(SEED)
    sizes = set()
    for index in range(8):
        scan = framed.generate(index)
        height, width = scan.high.shape
        sizes.add((height, width))
        assert 460 <= height * scan.pixel_size_across_mm / 10 <= 540
        image_cm = width * scan.pixel_size_along_mm / 10
        assert scan.vehicle.length_cm + 60 < image_cm < scan.vehicle.length_cm + 400
        above_road = attenuation(scan.high)[: int(0.8 * height)]  # the road spans every column
        columns = np.nonzero((above_road > 0.5).any(axis=0))[0]
        assert columns[-1] - columns[0] > 0.6 * width
    assert len(sizes) > 1


def test_the_folder_is_as_the_contract_says(tmp_path: Path) -> None:
    out = vehicle_alt.write_folder(tmp_path / "alt", SEED, 10, **SMALL)
    document = json.loads((out / "annotations.json").read_text())
    assert set(document) == {"images", "annotations", "categories"}
    assert document["categories"] == [
        {"id": 1, "name": "hidden_compartment"},
        {"id": 2, "name": "undeclared_goods"},
        {"id": 3, "name": "extra_load"},
    ]
    import cv2  # only here: reading the PNGs back

    for entry in document["images"]:
        image = cv2.imread(str(out / entry["file_name"]), cv2.IMREAD_UNCHANGED)
        assert image.dtype == np.uint16 and image.shape == (entry["height"], entry["width"]) == (256, 768)
        assert 15 < entry["pixel_size_along_mm"] < 60 and 8 <= entry["pixel_size_across_mm"] < 30
        assert ("declared_pallets" in entry) == (entry["declared_goods"] != "empty")
        assert ("container_type" in entry) == entry["vehicle_model"].startswith("alt-artic")
    ids = {entry["id"] for entry in document["images"]}
    for annotation in document["annotations"]:
        assert set(annotation) == {"id", "image_id", "category_id", "bbox", "location"}
        assert annotation["image_id"] in ids and annotation["category_id"] in (1, 2, 3)
        x, y, w, h = annotation["bbox"]
        assert x >= 0 and y >= 0 and w > 0 and h > 0 and x + w <= 768 and y + h <= 256
    references = json.loads((out / "references" / "references.json").read_text())
    models = {entry["model"] for entry in references}
    assert {entry["vehicle_model"] for entry in document["images"]} <= models
    for entry in references:
        assert set(entry) == {"files", "model", "kind", "pixel_size_mm", "cargo_box_px", "description"}
        assert entry["files"] == [f"references/{entry['model']}.png"] and (out / entry["files"][0]).is_file()
        assert entry["kind"] in {"van", "truck", "container"} and len(entry["pixel_size_mm"]) == 2
        x0, y0, x1, y1 = entry["cargo_box_px"]
        assert 0 <= x0 < x1 <= 768 and 0 <= y0 < y1 <= 256


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "smartcustoms.hardware.sim.vehicle_alt", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def test_the_command_line_writes_a_folder_and_prints_one_line(tmp_path: Path) -> None:
    done = _cli(
        "--out", str(tmp_path / "f"), "--seed", "5000", "--count", "2", "--height", "128", "--width", "768"
    )
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.strip().splitlines()) == 1
    assert len(list((tmp_path / "f" / "scans").glob("*.png"))) == 2


@pytest.mark.parametrize(
    "args",
    [
        ("--seed", "5000", "--count", "2"),  # no --out
        ("--out", "x", "--seed", "12", "--count", "2"),  # seed below 5000
        ("--out", "x", "--seed", "5000", "--count", "zero"),
        ("--out", "x", "--seed", "5000", "--count", "0"),
    ],
)
def test_bad_command_lines_exit_2_with_one_line(tmp_path: Path, args: tuple[str, ...]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "smartcustoms.hardware.sim.vehicle_alt", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp_path,
    )
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1 and done.stdout == ""


def test_a_container_may_travel_on_another_rig_than_its_reference() -> None:
    simulator = vehicle_alt.AltVehicleSimulator(SEED, **SMALL, other_rig_rate=1.0)
    same = vehicle_alt.AltVehicleSimulator(SEED, **SMALL)
    containers = [i for i in range(30) if simulator.generate(i).vehicle.kind == "container"][:3]
    assert containers
    for index in containers:
        scan, reference = (
            simulator.generate(index),
            simulator.reference(simulator.generate(index).vehicle.model),
        )
        assert scan.vehicle.model == reference.vehicle.model
        assert scan.vehicle.container_type == reference.vehicle.container_type
        assert (scan.vehicle.tractor_model, scan.vehicle.trailer_model) != (
            reference.vehicle.tractor_model,
            reference.vehicle.trailer_model,
        )
        assert np.median(scan.high[:4]) > 0.95 * 65535
        assert same.generate(index).vehicle.tractor_model == reference.vehicle.tractor_model
