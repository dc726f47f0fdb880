"""Vehicle portal simulator: determinism, references, concealments and their truth, frames."""

from __future__ import annotations

import collections
import dataclasses
import json
import math

import cv2
import numpy as np
import pytest

from smartcustoms.hardware.sim import vehicle
from smartcustoms.v1 import frame_pb2

SMALL = {"height": 256, "width": 768}
TINY = {"height": 64, "width": 192}


@pytest.fixture(scope="module")
def sim() -> vehicle.VehicleSimulator:
    return vehicle.VehicleSimulator(seed=4, empty_rate=1.0, **SMALL)


def aligned(scan: vehicle.VehicleScan) -> np.ndarray:
    """The scan's intensities (0..1) shifted back by its offset, to lie over the reference."""
    dx, dy = scan.offset_px
    shift = np.float32([[1, 0, -dx], [0, 1, -dy]])
    height, width = scan.image.shape[1:]
    channels = [
        cv2.warpAffine(channel.astype(np.float32) / 65535, shift, (width, height), flags=cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_REPLICATE)
        for channel in scan.image
    ]  # fmt: skip
    return np.stack(channels)


def test_scan_shape_dtype_and_pixel_size() -> None:
    scan = vehicle.VehicleSimulator(seed=1).generate(0)
    assert scan.image.shape == (2, 1024, 3072)
    assert scan.image.dtype == np.uint16
    assert scan.pixel_size_mm == pytest.approx(5000 / 1024)
    assert scan.model in vehicle.MODEL_NAMES
    assert not scan.image.flags.writeable


def test_same_seed_and_index_give_identical_scans() -> None:
    first = vehicle.VehicleSimulator(seed=7, concealment_rate=1.0, **SMALL).generate(3)
    second = vehicle.VehicleSimulator(seed=7, concealment_rate=1.0, **SMALL).generate(3)
    assert first.image.tobytes() == second.image.tobytes()
    assert (first.model, first.offset_px, first.concealments) == (
        second.model,
        second.offset_px,
        second.concealments,
    )
    other_seed = vehicle.VehicleSimulator(seed=8, concealment_rate=1.0, **SMALL).generate(3)
    other_index = vehicle.VehicleSimulator(seed=7, concealment_rate=1.0, **SMALL).generate(4)
    assert not np.array_equal(first.image, other_seed.image)
    assert not np.array_equal(first.image, other_index.image)


def test_high_energy_penetrates_more_than_low_energy(sim: vehicle.VehicleSimulator) -> None:
    reference = sim.reference("container-20ft").image.astype(float)
    partly = (reference[0] < 60000) & (reference[0] > 1000)
    assert partly.sum() > 1000
    assert np.median(reference[0][partly] - reference[1][partly]) > 0
    assert reference[0, 0, 0] == reference[1, 0, 0] == 65535  # air above the vehicle


@pytest.mark.parametrize("model", vehicle.MODEL_NAMES)
def test_clean_scan_matches_the_reference_after_alignment(sim: vehicle.VehicleSimulator, model: str) -> None:
    reference = sim.reference(model)
    assert reference.offset_px == (0.0, 0.0) and not reference.concealments
    assert np.array_equal(reference.image, sim.reference(model).image)  # noiseless and stable
    scan = sim.generate(11, model=model, concealment=None)
    assert scan.declared_goods == "" and scan.declared_box is None
    expected = reference.image.astype(np.float32) / 65535
    back = aligned(scan)
    unaligned = np.corrcoef(scan.image[0].ravel(), expected[0].ravel())[0, 1]
    correlation = np.corrcoef(back[0].ravel(), expected[0].ravel())[0, 1]
    assert correlation > 0.95
    assert correlation > unaligned
    assert (np.abs(back - expected) < 0.02).mean() > 0.93


def test_models_have_distinct_references(sim: vehicle.VehicleSimulator) -> None:
    images = [sim.reference(model).image for model in vehicle.MODEL_NAMES]
    for i, first in enumerate(images):
        for second in images[i + 1 :]:
            assert not np.array_equal(first, second)


@pytest.mark.parametrize(
    ("model", "kind", "empty_rate"),
    [
        ("sedan-1", "hidden_compartment", 1.0),
        ("mpv-1", "hidden_compartment", 1.0),
        ("van-1", "undeclared_goods", 1.0),
        ("box-truck-1", "extra_load", 0.0),
        ("container-20ft", "undeclared_goods", 1.0),
        ("container-20ft", "hidden_compartment", 0.0),
    ],
)
def test_concealment_changes_the_image_only_inside_its_box(model: str, kind: str, empty_rate: float) -> None:
    simulator = vehicle.VehicleSimulator(seed=5, empty_rate=empty_rate, **SMALL)
    for index in range(4):
        concealed = simulator.generate(index, model=model, concealment=kind)
        clean = simulator.generate(index, model=model, concealment=None)
        (truth,) = concealed.concealments
        assert truth.kind == kind and truth.mass_kg > 0
        x0, y0, x1, y1 = truth.box
        outside = np.ones(clean.image.shape[1:], dtype=bool)
        outside[y0:y1, x0:x1] = False
        assert np.array_equal(concealed.image[:, outside], clean.image[:, outside])
        inside_with = np.log(np.maximum(concealed.image[0, y0:y1, x0:x1], 1.0))
        inside_without = np.log(np.maximum(clean.image[0, y0:y1, x0:x1], 1.0))
        changed = np.abs(inside_with - inside_without) > 0.02
        assert changed.mean() > 0.3, (index, truth)


def test_goods_vehicles_carry_declared_loads() -> None:
    simulator = vehicle.VehicleSimulator(seed=6, empty_rate=0.0, **SMALL)
    scan = simulator.generate(0, model="box-truck-1", concealment=None)
    assert scan.declared_goods in vehicle.GOODS
    assert scan.declared_box is not None
    x0, y0, x1, y1 = scan.declared_box
    reference = simulator.reference("box-truck-1").image
    assert aligned(scan)[0, y0:y1, x0:x1].mean() < reference[0, y0:y1, x0:x1].mean() / 65535 - 0.05
    with pytest.raises(ValueError):
        simulator.generate(0, model="box-truck-1", concealment="undeclared_goods")  # it is declared loaded
    with pytest.raises(ValueError):
        simulator.generate(0, model="sedan-1", concealment="extra_load")


def test_truth_boxes_lie_within_the_image() -> None:
    simulator = vehicle.VehicleSimulator(seed=9, concealment_rate=1.0, **TINY)
    for index in range(60):
        scan = simulator.generate(index)
        (truth,) = scan.concealments
        x0, y0, x1, y1 = truth.box
        assert 0 <= x0 < x1 <= TINY["width"] and 0 <= y0 < y1 <= TINY["height"]
        assert truth.category in ("organic", "inorganic", "metal")
        if truth.kind == "hidden_compartment":
            assert truth.label in vehicle.CONTRABAND
        else:
            assert truth.label in vehicle.GOODS and truth.location == "cargo_space"


def test_concealment_rate_and_kinds_are_roughly_as_configured() -> None:
    simulator = vehicle.VehicleSimulator(seed=10, concealment_rate=0.3, **TINY)
    scans = [simulator.generate(index) for index in range(300)]
    concealed = [scan.concealments[0] for scan in scans if scan.concealments]
    assert 60 <= len(concealed) <= 120
    assert {c.kind for c in concealed} == set(vehicle.CONCEALMENT_KINDS)
    models = collections.Counter(scan.model for scan in scans)
    assert set(models) == set(vehicle.MODEL_NAMES)
    assert not vehicle.VehicleSimulator(seed=10, concealment_rate=0.0, **TINY).generate(0).concealments


def test_arguments_are_checked() -> None:
    with pytest.raises(ValueError):
        vehicle.VehicleSimulator(seed=-1)
    with pytest.raises(ValueError):
        vehicle.VehicleSimulator(seed=1, models=("bus-9",))
    simulator = vehicle.VehicleSimulator(seed=1, **TINY)
    with pytest.raises(ValueError):
        simulator.generate(-1)
    with pytest.raises(ValueError):
        simulator.generate(0, concealment="teleporter")
    with pytest.raises(ValueError):
        simulator.reference("bus-9")


def test_frame_carries_the_image_and_truth() -> None:
    scan = vehicle.VehicleSimulator(seed=3, concealment_rate=1.0, **SMALL).generate(1)
    frame = vehicle.to_frame(scan, source_id="portal-1", sequence=5, conveyance_id="AB1234")
    assert frame.modality == frame_pb2.MODALITY_XRAY
    assert list(frame.shape) == [2, 256, 768]
    assert frame.dtype == frame_pb2.DTYPE_UINT16 and frame.encoding == "raw"
    assert len(frame.payload) == math.prod(frame.shape) * 2 == frame.payload_bytes
    assert np.array_equal(np.frombuffer(frame.payload, "<u2").reshape(2, 256, 768), scan.image)
    assert frame.metadata["energy_high_mv"] == "6" and frame.metadata["vehicle_model"] == scan.model
    truth = json.loads(frame.metadata["sim_truth"])
    assert truth["model"] == scan.model
    assert [tuple(c["box"]) for c in truth["concealments"]] == [c.box for c in scan.concealments]


# --------------------------------------------------------------------------- what a real portal adds


def test_no_realism_and_a_realism_of_no_change_give_the_same_scans() -> None:
    plain = vehicle.VehicleSimulator(seed=7, concealment_rate=1.0, **SMALL)
    unchanged = vehicle.VehicleSimulator(seed=7, concealment_rate=1.0, realism=vehicle.Realism(), **SMALL)
    for index in range(3):
        a, b = plain.generate(index), unchanged.generate(index)
        assert np.array_equal(a.image, b.image) and a.concealments == b.concealments
        assert b.pixel_size_along_mm is None and "pixel_size_along_mm" not in _metadata(b)


def _metadata(scan: vehicle.VehicleScan) -> dict[str, str]:
    return dict(vehicle.to_frame(scan, source_id="portal", sequence=1).metadata)


def test_levels_are_changed_by_the_drawn_gain_and_offset() -> None:
    realism = vehicle.Realism.portal(("levels",))
    plain = vehicle.VehicleSimulator(seed=8, **SMALL)
    varied = vehicle.VehicleSimulator(seed=8, realism=realism, **SMALL)
    for index in range(6):
        a, b = plain.generate(index), varied.generate(index)
        c = b.conditions
        assert 0.9 <= c.gain <= 1.1 and -15 <= c.offset_grey_levels <= 15 and c.along_ratio == 1.0
        expected = np.clip(
            np.round(a.image.astype(np.float64) * c.gain + c.offset_grey_levels * 257), 0, 65535
        )
        assert np.abs(b.image.astype(np.float64) - expected).max() <= 1
        assert json.loads(_metadata(b)["sim_truth"])["conditions"]["gain"] == round(c.gain, 4)


def test_non_square_pixels_and_speed_variation_move_the_truth_with_the_image() -> None:
    """Pixels up to twice as long along the vehicle, the speed varying by 3 %: fewer columns, the pixel
    size along stated, and each concealment still changes the image inside its (mapped) box only."""
    realism = vehicle.Realism.portal(("pixels", "speed"))
    varied = vehicle.VehicleSimulator(seed=5, concealment_rate=1.0, realism=realism, **SMALL)
    for index in range(4):
        concealed = varied.generate(index)
        clean = varied.generate(index, model=concealed.model, concealment=None)
        ratio = concealed.conditions.along_ratio
        assert 1.0 <= ratio <= 2.0 and abs(concealed.conditions.speed_variation) <= 0.03
        assert concealed.image.shape[2] == round(SMALL["width"] / ratio)
        assert concealed.pixel_size_along_mm == pytest.approx(concealed.pixel_size_mm * ratio)
        assert _metadata(concealed)["pixel_size_along_mm"] == f"{concealed.pixel_size_mm * ratio:.4f}"
        [truth] = concealed.concealments
        x0, y0, x1, y1 = truth.box
        assert 0 <= x0 < x1 <= concealed.image.shape[2]
        changed = np.abs(concealed.image[0].astype(np.int64) - clean.image[0]) > 0
        margin = np.zeros_like(changed)
        margin[max(y0 - 1, 0) : y1 + 1, max(x0 - 2, 0) : x1 + 2] = True  # resampling spreads a pixel
        assert changed.any() and not changed[~margin].any()


def test_a_real_portals_pixels_and_framing_move_the_truth_with_the_image() -> None:
    """``coarse``: rows averaged 1.7-3.5 into one and columns 4.1-6.1 square pixels each, both sizes
    stated; ``framing``: the vehicle up to a metre further on or back. Each concealment still changes
    the image inside its mapped box only."""
    realism = vehicle.Realism.portal(("coarse", "framing"))
    varied = vehicle.VehicleSimulator(seed=5, concealment_rate=1.0, realism=realism, **SMALL)
    square_mm = varied.pixel_size_mm
    shifts = []
    for index in range(4):
        concealed = varied.generate(index)
        clean = varied.generate(index, model=concealed.model, concealment=None)
        c = concealed.conditions
        assert 1.7 <= c.across_factor <= 3.5 and 4.1 <= c.along_ratio <= 6.1
        assert concealed.image.shape[1:] == (
            round(SMALL["height"] / c.across_factor),
            round(SMALL["width"] / c.along_ratio),
        )
        metadata = _metadata(concealed)
        assert float(metadata["pixel_size_across_mm"]) == pytest.approx(square_mm * c.across_factor, rel=0.01)
        assert float(metadata["pixel_size_along_mm"]) == pytest.approx(square_mm * c.along_ratio, rel=1e-3)
        [truth] = concealed.concealments
        x0, y0, x1, y1 = truth.box
        assert 0 <= x0 < x1 <= concealed.image.shape[2] and 0 <= y0 < y1 <= concealed.image.shape[1]
        changed = np.abs(concealed.image[0].astype(np.int64) - clean.image[0]) > 0
        margin = np.zeros_like(changed)
        margin[max(y0 - 1, 0) : y1 + 1, max(x0 - 2, 0) : x1 + 2] = True
        assert changed.any() and not changed[~margin].any()
        assert abs(c.frame_shift_cm) <= vehicle.FRAMING_CM
        shifts.append(c.frame_shift_cm)
    assert len(set(shifts)) == len(shifts)


def test_framing_moves_the_vehicle_and_its_truth_along_the_scan() -> None:
    """A scan started 50 cm later: the same scan, its content 50 cm (a whole number of pixels) further
    on, the air and road repeated in at its start, its boxes moved with it."""
    later = vehicle.ScanConditions(frame_shift_cm=50.0)
    plain = vehicle.VehicleSimulator(seed=5, concealment_rate=1.0, **SMALL)
    scan = plain.generate(2)
    moved = vehicle._as_portal_gives_it(scan, later)
    columns = round(50.0 / (scan.pixel_size_mm / 10))
    np.testing.assert_array_equal(
        moved.image[:, :, columns:], scan.image[:, :, : scan.image.shape[2] - columns]
    )
    np.testing.assert_array_equal(moved.image[:, :, 0], scan.image[:, :, 0])
    [truth], [before] = moved.concealments, scan.concealments
    assert truth.box == (before.box[0] + columns, before.box[1], before.box[2] + columns, before.box[3])


def test_the_road_fills_the_rows_below_the_ground_and_leaves_the_vehicle_and_its_truth_alone() -> None:
    """``road``: the rows below the ground line are 5-30 cm of nearly opaque road instead of the
    rendering's 12 cm of air (more or fewer rows); the rows above, the pixel size and the boxes are the
    rendering's."""
    realism = vehicle.Realism.portal(("road",))
    varied = vehicle.VehicleSimulator(seed=5, concealment_rate=1.0, realism=realism, **SMALL)
    plain = vehicle.VehicleSimulator(seed=5, concealment_rate=1.0, **SMALL)
    pixel_cm = plain.pixel_size_mm / 10
    ground = SMALL["height"] - round(vehicle.GROUND_MARGIN_CM / pixel_cm)
    roads = []
    for index in range(3):
        scan, rendered = varied.generate(index), plain.generate(index)
        road = scan.conditions.road_cm
        assert vehicle.ROAD_CM[0] <= road <= vehicle.ROAD_CM[1]
        assert scan.image.shape[1] == ground + round(road / pixel_cm)
        np.testing.assert_array_equal(scan.image[:, :ground], rendered.image[:, :ground])
        assert scan.image[0, ground:].max() < 65535 * math.exp(-vehicle.ROAD_ATTENUATION[0]) + 1
        assert float(_metadata(scan)["pixel_size_mm"]) == pytest.approx(plain.pixel_size_mm, rel=1e-4)
        assert scan.concealments == rendered.concealments
        roads.append(road)
    assert len(set(roads)) == len(roads)


def test_a_detectors_residuals_mark_rows_and_columns_of_the_air() -> None:
    """``detector``: each row's gain off by 0.1-0.6 %, up to two boards of 8-32 rows 1.5-4 % low, each
    column's dose off by 0.05-0.3 %: a ratio of the scan to the same scan without them is a row factor
    times a column factor, within those bounds."""
    conditions = vehicle.ScanConditions(row_gain_sd=0.004, weak_boards=2, pulse_sd=0.002, detector_seed=9)
    scan = vehicle.VehicleSimulator(seed=5, **SMALL).generate(1)
    residual = vehicle._as_portal_gives_it(scan, conditions)
    air = slice(0, 20)  # the rows above any vehicle: unclipped, the air of the rendering scaled
    ratio = residual.image[0, air].astype(np.float64) / scan.image[0, air]
    gain = conditions._detector_gain(*scan.image.shape[1:]).astype(np.float64)
    np.testing.assert_allclose(ratio, np.minimum(gain[air], 65535 / scan.image[0, air]), atol=2e-5)
    rows = gain[:, 0] / np.median(gain[:, 0])
    assert 8 <= np.count_nonzero(rows < 0.985) <= 2 * 32 + 10
    assert 0.001 < float(np.std(gain[0] / gain[0, 0])) < 0.004


def test_suspension_lifts_the_body_and_its_truth_and_leaves_the_wheels_on_the_ground() -> None:
    """``suspension``: the body (every piece but the wheels) up to 5 cm higher or lower on its wheels
    than the rendering's: its roof and its concealments' boxes move by that, the wheels' lowest row
    does not."""
    realism = vehicle.Realism.portal(("suspension",))
    varied = vehicle.VehicleSimulator(seed=5, concealment_rate=1.0, realism=realism, empty_rate=1.0, **SMALL)
    plain = vehicle.VehicleSimulator(seed=5, concealment_rate=1.0, empty_rate=1.0, **SMALL)
    pixel_cm = plain.pixel_size_mm / 10
    lifts = []
    for index in range(4):
        scan, rendered = varied.generate(index), plain.generate(index)
        lift = scan.conditions.body_lift_cm
        assert abs(lift) <= vehicle.BODY_LIFT_CM
        material, before = scan.image[0] < 60000, rendered.image[0] < 60000
        rows, rows_before = np.flatnonzero(material.any(axis=1)), np.flatnonzero(before.any(axis=1))
        assert rows[-1] == rows_before[-1]  # the tyres stay on the ground
        assert rows[0] == pytest.approx(rows_before[0] - lift / pixel_cm, abs=1.0)  # the roof moves
        [truth], [truth_before] = scan.concealments, rendered.concealments
        assert truth.box[1] == pytest.approx(truth_before.box[1] - lift / pixel_cm, abs=1.0)
        lifts.append(lift)
    assert len(set(lifts)) == len(lifts)


def test_scatter_lightens_the_dark_parts_and_leaves_the_air_far_from_the_vehicle() -> None:
    """``scatter``: 0.5-4 % of the signal spread onto the detectors: the darkest parts read lighter (more
    so beside bright air), air far above the vehicle stays at its level, the rest of the scan as drawn."""
    realism = vehicle.Realism.portal(("scatter",))
    varied = vehicle.VehicleSimulator(seed=6, concealment_rate=0.0, realism=realism, **SMALL)
    plain = vehicle.VehicleSimulator(seed=6, concealment_rate=0.0, **SMALL)
    shares = []
    for index in range(3):
        scan, rendered = varied.generate(index), plain.generate(index)
        share = scan.conditions.scatter_share
        assert vehicle.SCATTER_SHARE[0] <= share <= vehicle.SCATTER_SHARE[1]
        assert scan.image.shape == rendered.image.shape and scan.model == rendered.model
        before, after = rendered.image[0].astype(np.float64), scan.image[0].astype(np.float64)
        dark = before < 0.02 * 65535
        assert dark.sum() > 100
        gained = float(np.mean(after[dark] - before[dark])) / 65535
        assert 0.2 * share * 0.05 < gained < share  # lighter by part of the share of what is around
        assert np.abs(after[:5] - before[:5]).max() <= 0.002 * 65535 + 1  # the air at the top
        shares.append(share)
    assert len(set(shares)) == len(shares)


def test_the_fuel_variation_changes_the_tanks_fuel_and_nothing_else() -> None:
    """``fuel``: the scan's tanks hold fuel to the level drawn, the rest of the vehicle as rendered: a
    lower level takes material away in the tank's rows only, a car's tank (60 % in its reference) gains
    some when fuller; the level is in the scan's conditions, None when fuel does not vary."""
    plain = vehicle.VehicleSimulator(11, 512, 1536, photons_per_pixel=None)
    for model, level, sign in (("van-1", 0.2, -1), ("sedan-1", 0.95, 1), ("box-truck-1", 0.3, -1)):
        realism = dataclasses.replace(vehicle.Realism.portal(("fuel",)), fuel_level=(level, level))
        varied = vehicle.VehicleSimulator(11, 512, 1536, photons_per_pixel=None, realism=realism)
        scan = varied.generate(0, model=model, concealment=None)
        rendered = plain.generate(0, model=model, concealment=None)
        assert scan.conditions is not None and scan.conditions.fuel_level == level
        counts = (scan.image[0].astype(np.float64) + 1, rendered.image[0].astype(np.float64) + 1)
        gained = np.log(counts[1]) - np.log(counts[0])  # attenuation: the scan's less the rendering's
        rows, columns = np.nonzero(np.abs(gained) > 0.02)
        assert len(rows) > 100
        assert np.sign(np.median(gained[rows, columns])) == sign
        assert rows.max() - rows.min() < 0.15 * 512 and columns.max() - columns.min() < 0.2 * 1536
    drawn = vehicle.Realism.portal(("fuel",)).draw(np.random.default_rng(0)).fuel_level
    assert drawn is not None and vehicle.FUEL_LEVEL[0] <= drawn <= vehicle.FUEL_LEVEL[1]
    assert vehicle.Realism.portal().draw(np.random.default_rng(0)).fuel_level is None


def test_the_commands_offer_every_variation_the_simulator_draws() -> None:
    """The vehicle commands list the variations without importing the simulator (it is imported when a
    command runs): their list must stay the simulator's."""
    from smartcustoms.plugins.vehicle.tools import cli

    assert (*vehicle.REALISM_KINDS, *vehicle.EXTRA_REALISM_KINDS) == cli.VARIATIONS
    assert cli.DEFAULT_VARIATIONS == vehicle.REALISM_KINDS


def test_unknown_variations_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown variation"):
        vehicle.Realism.portal(("weather",))


@pytest.mark.parametrize("profile", vehicle.SPEED_PROFILES)
def test_each_speed_profile_changes_the_scale_within_its_bound(profile: str) -> None:
    """A sine, a ramp or a stop-and-go: the columns stay in order, each spans the mean pixel within the
    drawn share of it, and the speed does change."""
    conditions = vehicle.ScanConditions(
        along_ratio=1.5,
        speed_variation=0.03,
        speed_profile=profile,
        speed_phase=1.0,
        speed_cycles=1.5,
        speed_centre=0.4,
        speed_width=0.1,
    )
    columns = conditions.source_columns(3072)
    steps = np.diff(columns) / (3072 / (len(columns) - 1))
    assert len(columns) == round(3072 / 1.5) + 1 and columns[0] == 0.0
    assert steps.min() >= 0.97 - 1e-9 and steps.max() <= 1.03 + 1e-9
    assert steps.max() - steps.min() > 0.02


def test_the_speed_profile_is_drawn_per_scan_apart_from_the_levels_and_pixels() -> None:
    """Every shape of speed profile comes up; a scan's gain, offset and pixel length are the same
    whether or not its speed varies."""
    everything, without_speed = vehicle.Realism.portal(), vehicle.Realism.portal(("levels", "pixels"))
    drawn = [everything.draw(np.random.default_rng(seed)) for seed in range(30)]
    assert {c.speed_profile for c in drawn} == set(vehicle.SPEED_PROFILES)
    for seed, conditions in enumerate(drawn):
        steady = without_speed.draw(np.random.default_rng(seed))
        assert steady.speed_variation == 0.0
        assert (steady.gain, steady.offset_grey_levels, steady.along_ratio) == (
            conditions.gain,
            conditions.offset_grey_levels,
            conditions.along_ratio,
        )
    with pytest.raises(ValueError, match="unknown speed profile"):
        vehicle.ScanConditions(speed_variation=0.01, speed_profile="reverse").source_columns(100)


def test_a_stop_draws_part_of_the_vehicle_out_over_more_columns() -> None:
    """A vehicle slowed by 80 % around the middle of its pass: the scan has more columns, in order, the
    last at the rendering's end (its step cut short there); around the stop each shows a fifth of a
    rendering's column, far from it a whole one."""
    conditions = vehicle.ScanConditions(stop_depth=0.8, stop_centre=0.5, stop_width=0.05)
    columns = conditions.source_columns(3072)
    steps = np.diff(columns)[:-1]
    assert len(columns) > 3072 + 0.8 * 0.05 * 3072 * 2  # the dip's area, less what its tails lack
    assert columns[0] == 0.0 and columns[-1] == pytest.approx(3072.0) and np.all(steps > 0)
    assert steps.min() == pytest.approx(0.2, abs=0.01)
    assert steps[:500].min() > 0.99 and steps[-200:].min() > 0.99


def test_the_stops_variation_stops_half_the_vehicles_within_their_length() -> None:
    """``stops``: about half the scans have a stop of 50-90 %, its centre on the vehicle's columns; the
    scan has more columns than the same pass without it and states the pass's mean pixel along it; a
    concealment's truth moves with the image. Without ``stops`` nothing stops, and the other draws are
    the same."""
    drawn = [vehicle.Realism.portal(("levels", "stops")).draw(np.random.default_rng(s)) for s in range(40)]
    stopped = [c for c in drawn if c.stop_depth]
    assert 10 <= len(stopped) <= 30
    assert all(vehicle.STOP_DEPTH[0] <= c.stop_depth <= vehicle.STOP_DEPTH[1] for c in stopped)
    for seed, conditions in enumerate(drawn):
        steady = vehicle.Realism.portal(("levels",)).draw(np.random.default_rng(seed))
        assert steady.stop_depth == 0.0 and (steady.gain, steady.offset_grey_levels) == (
            conditions.gain,
            conditions.offset_grey_levels,
        )
    realism = dataclasses.replace(vehicle.Realism.portal(("stops",)), stop_depth=(0.7, 0.7))
    plain = vehicle.VehicleSimulator(seed=5, concealment_rate=1.0, **SMALL)
    varied = vehicle.VehicleSimulator(seed=5, concealment_rate=1.0, realism=realism, **SMALL)
    seen = 0
    for index in range(8):
        scan = varied.generate(index)
        assert scan.conditions is not None
        if not scan.conditions.stop_depth:
            continue
        seen += 1
        rendered = plain.generate(index)
        material = np.flatnonzero(rendered.image[0].min(axis=0) < 0.9 * 65535)
        centre = scan.conditions.stop_centre * SMALL["width"]
        assert material[0] <= centre <= material[-1]
        width = scan.image.shape[2]
        assert width > SMALL["width"]
        assert scan.pixel_size_along_mm == pytest.approx(scan.pixel_size_mm * SMALL["width"] / width)
        [truth] = scan.concealments
        x0, y0, x1, y1 = truth.box
        clean = varied.generate(index, model=scan.model, concealment=None)
        changed = np.abs(scan.image[0].astype(np.int64) - clean.image[0]) > 0
        margin = np.zeros_like(changed)
        margin[max(y0 - 1, 0) : y1 + 1, max(x0 - 2, 0) : x1 + 2] = True
        assert changed.any() and not changed[~margin].any()
    assert seen >= 2
