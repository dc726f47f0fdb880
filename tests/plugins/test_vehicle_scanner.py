"""What the portal adds that is the scanner's: the road under the vehicle, a flat-field correction's
residual rows and columns, a reference enrolled with its air below full scale. Each taken out before
the comparison, on synthetic images and on the simulator's scans through the plugin."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from smartcustoms.core.artefacts import ArtefactInfo
from smartcustoms.core.frames import array_frame, inline_view
from smartcustoms.core.geometry import iou
from smartcustoms.core.plugin import PluginContext
from smartcustoms.core.types import Assessment, Decision, Modality
from smartcustoms.hardware.sim import vehicle
from smartcustoms.plugins.vehicle import scanner
from smartcustoms.plugins.vehicle.alignment import fit_reference
from smartcustoms.plugins.vehicle.plugin import SPEC, VehicleComparePlugin
from smartcustoms.plugins.vehicle.references import ARTEFACT_NAME, Reference, read_reference
from smartcustoms.plugins.vehicle.tools import build

SEED = 12  # neither a development seed (200-299) nor an evaluation seed (2000 on)
HEIGHT, WIDTH = 512, 1536
AIR = 60_000.0


@pytest.fixture(scope="session")
def vehicle_references(artefact_root: Path) -> ArtefactInfo:
    return build.build(artefact_root / ARTEFACT_NAME)


def _truck(rng: np.random.Generator, road: int = 0, gap: int = 6, noise: float = 0.002) -> np.ndarray:
    """A 120 x 300 scan: air at AIR with ``noise``, a body over rows 30-90, wheels down to the ground
    (``gap`` rows of air under them), then ``road`` rows of road."""
    height = 120
    counts = np.full((height, 300), AIR)
    ground = height - road - gap  # the first row under the wheels
    counts[30 : ground - 12, 60:240] = AIR * 0.4
    for x in (80, 200):
        counts[ground - 20 : ground, x : x + 20] = AIR * 0.05
    counts[height - road :] = AIR * 0.003
    counts *= rng.normal(1.0, noise, counts.shape)
    return np.clip(np.rint(counts), 0, 65535).astype(np.uint16)


def test_the_road_is_the_rows_dark_in_every_column_and_the_gap_the_air_above_it() -> None:
    rng = np.random.default_rng(1)
    assert scanner.road_rows(_truck(rng, road=9)) == 9
    assert scanner.road_rows(_truck(rng, road=0)) == 0  # air between and around the wheels
    assert scanner.road_rows(_truck(rng, road=40)) == 0  # a third of the scan: not a road
    on_road = _truck(rng, road=9, gap=0)
    assert scanner.ground_gap(on_road[: on_road.shape[0] - 9]) == 0
    assert scanner.ground_gap(_truck(rng, gap=6)) == 6


def test_a_row_partly_on_the_road_is_road() -> None:
    """The road's top row half covered (an attenuation of 0.02 across the scan): road, not vehicle."""
    scan = _truck(np.random.default_rng(2), road=6).astype(np.float64)
    scan[-7] *= np.exp(-0.02)
    assert scanner.road_rows(scan.astype(np.uint16)) == 7


def test_flat_fielding_takes_out_a_weak_row_and_a_pulse_and_leaves_a_clean_scan_alone() -> None:
    rng = np.random.default_rng(3)
    clean = _truck(rng, noise=0.001)
    assert scanner.flat_fielded(clean) is clean
    marked = clean.astype(np.float64)
    marked[15] *= 0.97  # a weak detector row, through air only
    marked[50] *= 0.96  # another, through the body: air only before and after it
    marked[:, 150] *= 0.99  # a weak pulse
    corrected = scanner.flat_fielded(np.rint(marked).astype(np.uint16)).astype(np.float64)
    for row in (15, 50):
        assert np.median(corrected[row] / clean[row]) == pytest.approx(1.0, abs=0.002)
    assert np.median(corrected[:, 150] / clean[:, 150]) == pytest.approx(1.0, abs=0.002)
    untouched = np.ones(clean.shape[0], bool)
    untouched[[15, 50]] = False
    assert np.median(corrected[untouched] / clean[untouched]) == pytest.approx(1.0, abs=5e-4)


def test_a_reference_enrolled_with_its_road_and_its_air_below_full_scale_is_stored_as_references_are(
    tmp_path: Path,
) -> None:
    """Its air scaled to full scale, its road cut off, its cargo box kept."""
    image = _truck(np.random.default_rng(4), road=8)
    path = tmp_path / "van-9.npy"
    np.save(path, image)
    path.with_suffix(".json").write_text(json.dumps({"cargo_box_px": [60, 30, 240, 96]}))
    reference = read_reference(path)
    assert reference.high_energy.shape == (112, 300)
    assert float(np.median(reference.high_energy[:20])) == pytest.approx(65535, rel=0.002)
    assert reference.cargo_box == (60, 30, 240, 96)


def test_a_reference_stands_where_the_scans_vehicle_does() -> None:
    """A reference with 10 rows of air under its wheels, a scan with none (its road cut off): the
    reference is moved down 10 rows, its cargo box with it; the parts of a vehicle move as one."""
    rng = np.random.default_rng(5)
    image = _truck(rng, gap=10, noise=0.0)
    calibrated = np.clip(np.rint(image * (65535 / AIR)), 0, 65535).astype(np.uint16)
    reference = Reference("truck", calibrated, 10.0, "truck.npy", cargo_box=(60, 30, 240, 90))
    fitted = fit_reference(reference, (120, 300), 10.0, scan_gap=0)
    assert fitted.down == 10
    assert scanner.gap_below(fitted.attenuation > 0.05) == 0
    assert fitted.cargo_box == (60, 40, 240, 100)
    assert fit_reference(reference, (120, 300), 10.0, down=-3).cargo_box == (60, 27, 240, 87)


# a portal whose lowest rows see 25 cm of road, whose flat-field correction leaves its rows' gains off
# by 0.4 % (two boards of rows 1.5-4 % low) and its pulses' doses by 0.2 %
ON_THE_ROAD = vehicle.ScanConditions(
    road_cm=25.0, road_attenuation=5.0, row_gain_sd=0.004, weak_boards=2, pulse_sd=0.002, detector_seed=7
)


def _plugin(root: Path) -> VehicleComparePlugin:
    return VehicleComparePlugin(dict(SPEC.default_settings), PluginContext(SPEC.name, artefact_root=root))


def _assess(plugin: VehicleComparePlugin, scan: vehicle.VehicleScan) -> Assessment:
    metadata = dict(vehicle.to_frame(scan, source_id="portal", sequence=1).metadata)
    frame = array_frame(scan.image, modality=Modality.XRAY, source_id="portal", sequence=1, metadata=metadata)
    return plugin.assess(inline_view(frame))


@pytest.mark.parametrize("model", ["van-1", "box-truck-1", "container-20ft"])
def test_a_clean_vehicle_on_the_road_through_a_detectors_residuals_is_cleared(
    artefact_root: Path, vehicle_references: ArtefactInfo, model: str
) -> None:
    """Without the road cut off, or without the reference stood on the scan's ground (25 cm lower than
    the reference's), or without the flat-field (its weak boards' air reads as the vehicle's), the
    outlines do not line up and the scan goes to an officer."""
    scan = vehicle.VehicleSimulator(SEED, HEIGHT, WIDTH).generate(4, model=model, concealment=None)
    clean = vehicle._as_portal_gives_it(scan, ON_THE_ROAD)
    assert clean.image.shape[1] > HEIGHT
    assert _assess(_plugin(artefact_root), clean).decision is Decision.CLEAR


@pytest.mark.parametrize("model", ["box-truck-1", "container-20ft"])
def test_a_hidden_compartment_on_the_road_is_found_in_its_box(
    artefact_root: Path, vehicle_references: ArtefactInfo, model: str
) -> None:
    scan = vehicle.VehicleSimulator(SEED, HEIGHT, WIDTH).generate(
        4, model=model, concealment="hidden_compartment"
    )
    concealing = vehicle._as_portal_gives_it(scan, ON_THE_ROAD)
    [truth] = concealing.concealments
    found = [
        d for d in _assess(_plugin(artefact_root), concealing).detections if d.label == "hidden_compartment"
    ]
    assert any(iou(d.box or (), tuple(float(v) for v in truth.box)) >= 0.3 for d in found), (truth, found)


def test_bounded_least_squares_holds_a_coefficient_at_its_bound_and_fits_the_others() -> None:
    from scipy.optimize import lsq_linear

    rng = np.random.default_rng(3)
    design = rng.normal(size=(400, 4))
    target = design @ np.array([1.0, 0.1, -0.02, 0.0]) + rng.normal(0, 0.01, 400)
    weight = np.ones(400)
    lower, upper = np.array([0.8, 0.0, -0.06, -0.05]), np.array([1.25, 0.06, 0.0, 0.05])
    free = scanner.bounded_least_squares(design, target, weight, lower - 1, upper + 1)
    assert free == pytest.approx(np.linalg.lstsq(design, target, rcond=None)[0], abs=1e-9)
    held = scanner.bounded_least_squares(design, target, weight, lower, upper)
    assert held[1] == 0.06 and np.all(held >= lower) and np.all(held <= upper)
    best = lsq_linear(design, target, bounds=(lower, upper)).x
    assert held == pytest.approx(best, abs=1e-3)


def _veiled(primary: np.ndarray, share: float) -> np.ndarray:
    """Attenuation as a portal whose detectors see ``share`` of scattered radiation shows it: the
    transmission plus its spread over 81 pixels (a box: not the plugin's Gaussian), renormalised."""
    import cv2

    transmission = np.exp(-primary)
    veil = cv2.blur(transmission, (81, 81), borderType=cv2.BORDER_REPLICATE)
    return np.asarray(-np.log((transmission + share * veil) / (1 + share)), dtype=np.float32)


def test_the_reference_under_the_scans_veil_of_scatter_loses_the_loads_shadow_not_a_compartment() -> None:
    """A loaded scan's chassis reads darker than its empty reference's where the load shades the
    scatter; fitted outside the cargo space, the reference under the scan's veil matches it there, and
    a compartment in the chassis is still as dense as it was."""
    rng = np.random.default_rng(4)
    empty = np.zeros((400, 1200), np.float32)
    empty[100:300, 100:1100] = 0.6  # the body
    empty[300:340, 100:1100] = 4.0  # the chassis: dark
    cargo = (250, 120, 1000, 290)  # x0, y0, x1, y1
    loaded = empty.copy()
    loaded[120:300, 250:1000] += 2.0  # the load, on the floor
    loaded[305:335, 1040:1090] += 0.5  # a compartment in the chassis, beyond the cargo space
    scan = _veiled(loaded, 0.03) + rng.normal(0, 0.003, empty.shape).astype(np.float32)
    reference = _veiled(empty, 0.03)
    under_load = (slice(300, 318), slice(400, 900))
    compartment = (slice(310, 330), slice(1050, 1080))
    assert float(np.mean((scan - reference)[under_load])) > 0.1  # as dense as a compartment
    seen = float(np.mean((scan - reference)[compartment]))  # less than 0.5: the veil lightens dark parts
    assert seen > 0.2

    matched, fit = scanner.scatter_matched(scan, reference, cargo, 10.0, 50.0)
    assert fit.changes and fit.scan > 0.005 and fit.reference < -0.005
    assert abs(float(np.mean((scan - matched)[under_load]))) < 0.03
    assert float(np.mean((scan - matched)[compartment])) > 0.9 * seen

    alike = _veiled(empty, 0.03) + rng.normal(0, 0.003, empty.shape).astype(np.float32)
    same, _ = scanner.scatter_matched(alike, reference, cargo, 10.0, 50.0)
    assert float(np.max(np.abs(same - reference)[100:340])) < 0.02  # no veil to match: nearly as it was


def test_the_comparison_matches_the_scatter_only_when_set(
    vehicle_references: ArtefactInfo, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[float] = []
    real = scanner.scatter_matched

    def spy(*args: object) -> tuple[np.ndarray, scanner.ScatterFit]:
        calls.append(float(args[-1]))  # type: ignore[arg-type]
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(scanner, "scatter_matched", spy)
    simulator = vehicle.VehicleSimulator(SEED, HEIGHT, WIDTH, concealment_rate=0.0)
    scan = simulator.generate(0)
    frame = inline_view(vehicle.to_frame(scan, source_id="portal", sequence=0))
    for scatter_cm in (0.0, 50.0):
        settings = {**SPEC.default_settings, "reference_dir": str(vehicle_references.path)}
        plugin = VehicleComparePlugin({**settings, "scatter_cm": scatter_cm}, PluginContext(SPEC.name))
        calls.clear()
        [assessment] = plugin.smartcustoms_process_batch([frame])
        assert assessment.decision == Decision.CLEAR
        assert calls == ([] if scatter_cm == 0 else [50.0] * len(calls)) and (scatter_cm == 0) != bool(calls)
