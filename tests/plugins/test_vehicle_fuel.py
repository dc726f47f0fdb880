"""vehicle_compare and a tank's fuel level: a band of fuel higher or lower than the reference's is noted
and cleared; a compartment in a tank, or beside a lowered level, still alarms (``plugins.vehicle.fuel``)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np
import pytest

from smartcustoms.core.artefacts import ArtefactInfo
from smartcustoms.core.frames import inline_view
from smartcustoms.core.geometry import iou
from smartcustoms.core.plugin import PluginContext
from smartcustoms.core.types import Assessment, Decision
from smartcustoms.hardware.sim import vehicle
from smartcustoms.plugins.vehicle import fuel
from smartcustoms.plugins.vehicle.compare import FUEL_LABEL
from smartcustoms.plugins.vehicle.fuel import level_bands
from smartcustoms.plugins.vehicle.plugin import SPEC, VehicleComparePlugin
from smartcustoms.plugins.vehicle.references import ARTEFACT_NAME
from smartcustoms.plugins.vehicle.tools import build
from smartcustoms.plugins.vehicle.zones import BELOW_FLOOR, CARGO

SEED = 11  # neither a development seed (200-299) nor an evaluation seed (2000 on)
HEIGHT, WIDTH = 512, 1536  # half the portal's size


@pytest.fixture(scope="module")
def root(artefact_root: Path) -> Path:
    info: ArtefactInfo = build.build(artefact_root / ARTEFACT_NAME)
    assert info.path.exists()
    return artefact_root


def _plugin(root: Path, **settings: object) -> VehicleComparePlugin:
    return VehicleComparePlugin(
        {**SPEC.default_settings, **settings}, PluginContext(SPEC.name, artefact_root=root)
    )


def _scan(level: float, index: int, model: str, concealment: str | None = None) -> vehicle.VehicleScan:
    realism = dataclasses.replace(vehicle.Realism.portal(("fuel",)), fuel_level=(level, level))
    simulator = vehicle.VehicleSimulator(SEED, HEIGHT, WIDTH, realism=realism)
    return simulator.generate(index, model=model, concealment=concealment)


def _assess(plugin: VehicleComparePlugin, scan: vehicle.VehicleScan) -> Assessment:
    return plugin.assess(inline_view(vehicle.to_frame(scan, source_id="portal", sequence=1)))


@pytest.mark.parametrize("level", [0.15, 0.9])
def test_a_vans_tank_filled_to_another_level_is_noted_and_cleared(root: Path, level: float) -> None:
    """The van's reference tank is full: a scan of it at 15 % or 90 % shows less fuel in a band across
    the whole tank, level-topped. It is cleared with a box-less fuel-level note saying lower; judged
    as any other region (``fuel_levels`` false), the same scan alarms."""
    scan = _scan(level, 0, "van-1")
    assert scan.conditions is not None and scan.conditions.fuel_level == level and not scan.concealments
    assessment = _assess(_plugin(root), scan)
    assert assessment.decision is Decision.CLEAR
    [note] = assessment.detections
    assert note.label == FUEL_LABEL and note.box is None
    assert float(note.attributes["level_change_cm"]) < 0 and "lower" in note.explanation
    judged = _assess(_plugin(root, fuel_levels=False), scan)
    assert judged.decision is Decision.ALARM
    assert {d.label for d in judged.detections} == {"hidden_compartment"}


@pytest.mark.parametrize(("model", "level"), [("van-1", 0.15), ("van-1", 0.9), ("box-truck-1", 0.15)])
def test_a_compartment_in_a_tank_whose_fuel_stands_lower_still_alarms(
    root: Path, model: str, level: float
) -> None:
    """A compartment in the tank fills it top to bottom in its columns; the fuel around it stands lower
    than the reference's. Its box is found, where material added beside fuel taken away once read as an
    edge out of line and the scan was cleared."""
    scan = next(
        s
        for s in (_scan(level, i, model, "hidden_compartment") for i in range(8))
        if s.concealments[0].location == "fuel_tank"
    )
    assessment = _assess(_plugin(root), scan)
    assert assessment.decision is Decision.ALARM
    truth = tuple(float(v) for v in scan.concealments[0].box)
    found = [d for d in assessment.detections if d.label == "hidden_compartment" and d.box is not None]
    assert max(iou(d.box, truth) for d in found) >= 0.5  # type: ignore[arg-type]


def _tank(fuel_top: int, columns: slice = slice(100, 300), fuel: float = 2.0) -> np.ndarray:
    """A tank's attenuation below a floor line that runs the whole image: shell 0.1, ``fuel`` more from
    row ``fuel_top`` to row 120, in ``columns``."""
    image = np.zeros((160, 400), np.float32)
    image[40:42, :] = 0.8  # a floor line past both ends of the tank
    image[60:120, columns] = 0.1
    image[fuel_top:120, columns] += fuel
    return image


def _bands(scan: np.ndarray, reference: np.ndarray, min_fuel: float = 1.0) -> list[tuple[int, int]]:
    """``level_bands`` of a scan against a reference, the mask drawn where the difference exceeds 0.3,
    smoothed over 5 pixels; each band's sign and rows of fuel."""
    import cv2

    difference = np.asarray(cv2.blur(scan - reference, (5, 5)))
    mask = np.where(difference > 0.3, 1, np.where(difference < -0.3, 2, 0)).astype(np.uint8)
    zones = np.full(scan.shape, BELOW_FLOOR, np.uint8)
    return [
        (band.sign, round(band.height_px))
        for band in level_bands(mask, difference, scan, reference, zones, 5, 50, min_fuel)
    ]


def test_a_band_is_a_fuel_level_only_across_the_whole_tank() -> None:
    """Fuel 20 rows lower or higher across the tank is a band of that sign and height; the same
    deficit over part of the tank only (the reference's surface runs on past it) is not, nor a band
    whose columns are not as high as each other (a compartment beside the level), nor goods resting on
    an edge with no fuel under it, nor a band weaker than fuel across a tank (``min_fuel_attenuation``),
    nor a band in the cargo space."""
    reference = _tank(80)
    assert _bands(_tank(100), reference) == [(-1, 20)]
    assert _bands(_tank(60), _tank(80)) == [(1, 20)]
    part = reference.copy()
    part[80:100, 150:250] -= 2.0  # fuel gone from the middle of the tank only
    assert _bands(part, reference) == []
    stepped = _tank(100)
    stepped[80:115, 150:200] = 0.1  # a compartment's columns emptier than the level beside them
    assert _bands(stepped, reference) == []
    ledge = np.zeros((160, 400), np.float32)
    ledge[100:103, 100:300] = 1.0  # a door's bottom edge: a step that ends where the goods end
    goods = ledge.copy()
    goods[80:100, 100:300] += 1.5  # goods resting on it, as strong as such a step: no fuel under them
    assert _bands(goods, ledge) == []
    weak = (_tank(100, fuel=0.5), _tank(80, fuel=0.5))  # a thin tank, or goods as even as fuel
    assert _bands(*weak) == [] and _bands(*weak, min_fuel=0.3) == [(-1, 20)]
    for seed in range(8):  # a reference with noise, as a site's own scans are
        noisy = reference + np.random.default_rng(seed).normal(0, 0.005, reference.shape).astype(np.float32)
        assert _bands(_tank(100), noisy) == [(-1, 20)]
        assert _bands(part - reference + noisy, noisy) == []
    import cv2

    difference = np.asarray(cv2.blur(_tank(100) - reference, (5, 5)))
    mask = np.where(difference < -0.3, 2, 0).astype(np.uint8)
    cargo = np.full(reference.shape, CARGO, np.uint8)
    assert level_bands(mask, difference, _tank(100), reference, cargo, 5, 50) == []


def _pieces_on_the_whole_image(mask: np.ndarray, window: int) -> list[tuple[tuple[int, ...], int, bytes]]:
    """The pieces ``level_bands`` judges, found on the whole image as it once did: each one's box, sign and
    pixels."""
    found = []
    for value, sign in ((1, 1), (2, -1)):
        pieces = (mask == value).view(np.uint8)
        for bridge in ((1, 4 * window + 1), (2 * window + 1, 1)):
            pieces = np.asarray(cv2.morphologyEx(pieces, cv2.MORPH_CLOSE, np.ones(bridge, np.uint8)))
        count, labels, stats, _ = cv2.connectedComponentsWithStats(pieces, connectivity=8)
        for label in range(1, count):
            x, y, w, h, area = (int(v) for v in stats[label])
            if area < 20 or w < fuel.LONG_WINDOWS * window or area < fuel.MIN_FILL * w * h:
                continue
            ys, xs = np.nonzero(labels[y : y + h, x : x + w] == label)
            found.append(((x, y, x + w, y + h), sign, np.stack([ys + y, xs + x]).tobytes()))
    return found


def test_fuel_pieces_found_on_the_box_around_them_are_those_of_the_whole_image(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The pieces are joined and labelled on the box around them, not the whole image: the same pieces,
    in the same order, wherever they lie (at the image's edges too) and whatever the window."""

    def as_marker(piece: fuel.Piece, *_: object) -> object:
        pixels = np.stack([piece.pixels[0], piece.pixels[1]]).tobytes()
        return dataclasses.make_dataclass("Marker", ["strength", "key"])(1.0, (piece.box, piece.sign, pixels))

    monkeypatch.setattr(fuel, "_as_band", as_marker)
    rng = np.random.default_rng(5)
    compared = 0
    for _ in range(800):
        height, width = int(rng.integers(40, 260)), int(rng.integers(80, 800))
        mask = np.zeros((height, width), np.uint8)
        for _ in range(int(rng.integers(0, 8))):
            y, x = int(rng.integers(0, height)), int(rng.integers(0, width))
            mask[y : y + int(rng.integers(2, 40)), x : x + int(rng.integers(5, 300))] = rng.integers(1, 3)
        mask[rng.random((height, width)) < 0.1] = 0
        window = int(rng.integers(1, 10))
        zero = np.zeros((height, width), np.float32)
        found = fuel.level_bands(mask, zero, zero, zero, zero.astype(np.uint8), window, 20, min_fuel=0.0)
        expected = _pieces_on_the_whole_image(mask, window)
        assert [band.key for band in found] == expected  # type: ignore[attr-defined]  # the markers'
        compared += len(expected)
    assert compared > 1000  # pieces were there to compare
