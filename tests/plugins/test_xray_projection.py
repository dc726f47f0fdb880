"""Threat image projection: a library threat placed into a bag as the physics has it."""

from __future__ import annotations

import math

import numpy as np
import pytest

from smartcustoms.plugins.xray.library import FULL_SCALE, LibraryEntry
from smartcustoms.plugins.xray.projection import (
    Projection,
    ProjectionError,
    ThreatImage,
    frame_spacing,
    noise_model,
    project,
    threat_image,
    threat_images,
)

STEEL = (1.2, 3.0)  # line integrals of the threat's metal, high and low energy


def _counts(integrals: np.ndarray) -> np.ndarray:
    return np.rint(FULL_SCALE * np.exp(-integrals)).astype(np.uint16)


def _entry(shape: str = "bar", background: float = 0.0, pixel_size_mm: float = 1.0) -> LibraryEntry:
    """An object scanned alone on a tray of ``background`` line integral."""
    integrals = np.full((2, 60, 60), background)
    if shape == "bar":
        integrals[0, 20:30, 10:50] += STEEL[0]
        integrals[1, 20:30, 10:50] += STEEL[1]
    else:  # a disc of diameter 20 pixels: the same at any angle
        rows, columns = np.mgrid[:60, :60]
        disc = (rows - 29.5) ** 2 + (columns - 29.5) ** 2 <= 10**2
        integrals[0][disc] += STEEL[0]
        integrals[1][disc] += STEEL[1]
    return LibraryEntry(f"test-{shape}", "firearm", _counts(integrals), pixel_size_mm)


def _bag(height: int = 400, width: int = 600) -> np.ndarray:
    """Air, with a bag of clutter (line integral 0.6 / 1.0) in the middle."""
    integrals = np.zeros((2, height, width))
    integrals[0, 100:300, 150:450] = 0.6
    integrals[1, 100:300, 150:450] = 1.0
    return _counts(integrals)


def _line_integrals(image: np.ndarray) -> np.ndarray:
    return -np.log(np.maximum(image.astype(np.float64), 0.5) / FULL_SCALE)


def test_threat_image_is_the_object_alone_without_its_tray() -> None:
    threat = threat_image(_entry(background=0.3))
    assert threat.line_integrals.shape[1] < 20 and threat.line_integrals.shape[2] < 50  # cut to the bar
    rows, columns = np.nonzero(threat.line_integrals[0] > 0.01)
    assert (rows.max() - rows.min() + 1, columns.max() - columns.min() + 1) == (10, 40)
    bar = threat.line_integrals[:, threat.line_integrals[0] > 0.01]
    assert bar[0].mean() == pytest.approx(STEEL[0], abs=0.01)
    assert bar[1].mean() == pytest.approx(STEEL[1], abs=0.01)


def test_the_scans_noise_round_the_object_is_not_projected() -> None:
    rng = np.random.default_rng(5)
    integrals = rng.normal(0.3, 0.03, (2, 200, 200))  # a noisy scan of the empty tray...
    integrals[:, 80:120, 60:140] += np.array(STEEL)[:, None, None]  # ...with a bar on it
    entry = LibraryEntry("noisy", "knife", _counts(integrals), 1.0)
    cut = threat_image(entry).line_integrals
    assert cut.shape[1] <= 40 + 10 and cut.shape[2] <= 80 + 10  # the bar and a margin, not the scan


def test_an_entrys_own_dark_level_is_taken_off_before_it_is_read() -> None:
    dark = 300.0
    counts = _counts(np.zeros((2, 60, 60)))
    raw = (dark + counts.astype(float) * (65535 - dark) / 65535).astype(np.uint16)
    raw[:, 20:30, 10:50] = np.rint(dark + (65535 - dark) * np.exp(-np.array(STEEL)))[:, None, None]
    calibration = {"dark_high": dark, "dark_low": dark}
    entry = LibraryEntry("dark", "knife", raw, 1.0, calibration=calibration)
    bar = threat_image(entry).line_integrals
    assert bar[0].max() == pytest.approx(STEEL[0], abs=0.02) and bar[1].max() == pytest.approx(
        STEEL[1], abs=0.02
    )


def test_threat_images_keep_the_classes_asked_for_and_skip_empty_entries() -> None:
    empty = LibraryEntry("empty", "knife", np.full((2, 20, 20), FULL_SCALE, np.uint16), 1.0)
    assert [t.entry_id for t in threat_images([_entry(), empty])] == ["test-bar"]
    assert threat_images([_entry(), empty], labels=["knife"]) == []
    with pytest.raises(ProjectionError, match="nothing in it attenuates"):
        threat_image(empty)


@pytest.mark.parametrize("seed", range(6))
def test_line_integrals_add_inside_the_box_and_nothing_changes_outside(seed: int) -> None:
    bag = _bag()
    threat = threat_image(_entry())
    projected = project(bag, threat, (1.0, 1.0), np.random.default_rng(seed))
    added = _line_integrals(projected.image) - _line_integrals(bag)
    x0, y0, x1, y1 = projected.box
    r0, q0, r1, q1 = projected.region
    assert r0 <= x0 < x1 <= r1 and q0 <= y0 < y1 <= q1
    outside = np.ones(bag.shape[1:], bool)
    outside[q0:q1, r0:r1] = False
    assert np.array_equal(projected.image[:, outside], bag[:, outside])
    beside = outside.copy()
    beside[q0:q1, r0:r1] = True
    beside[y0:y1, x0:x1] = False
    assert added[0][beside].max(initial=0.0) < 0.3 * STEEL[0]  # only resampled edges beside the box
    assert (projected.image <= bag).all()  # attenuations multiply: never more beam
    # the threat's whole attenuation arrives, whatever its angle (resampling keeps the integral)
    for channel, steel in enumerate(STEEL):
        assert added[channel].sum() == pytest.approx(steel * 10 * 40, rel=0.03)
        assert added[channel].max() == pytest.approx(steel, abs=0.05)
    # placed inside the bag: the whole box on the bag's clutter, none of it on air
    assert 100 <= y0 < y1 <= 300 and 150 <= x0 < x1 <= 450


def test_a_threat_larger_than_the_bag_is_centred_on_it() -> None:
    bag = _bag()
    bag[:, 100:300, 150:450] = FULL_SCALE
    bag[:, 180:200, 280:300] = 30_000  # a bag of 20 x 20 pixels: the 40-pixel bar cannot lie within it
    x0, y0, x1, y1 = project(bag, threat_image(_entry()), (1.0, 1.0), np.random.default_rng(2)).box
    assert 180 - 4 <= (y0 + y1) / 2 <= 200 + 4 and 280 - 4 <= (x0 + x1) / 2 <= 300 + 4


def test_any_angle_is_drawn() -> None:
    bag, threat = _bag(), threat_image(_entry())
    angles = [project(bag, threat, (1.0, 1.0), np.random.default_rng(s)).angle_deg for s in range(40)]
    assert min(angles) < 45 and max(angles) > 315 and len({round(a) for a in angles}) > 30


@pytest.mark.parametrize(
    ("spacing", "size"),
    [((1.0, 1.0), (20, 20)), ((0.5, 0.5), (40, 40)), ((1.0, 0.5), (20, 40)), ((2.0, 1.0), (10, 20))],
)
def test_the_threat_takes_the_frames_pixel_spacing(
    spacing: tuple[float, float], size: tuple[int, int]
) -> None:
    for seed in range(8):  # a disc is a disc at any angle, on square pixels or not (turned, then resampled)
        projected = project(_bag(), threat_image(_entry("disc")), spacing, np.random.default_rng(seed))
        x0, y0, x1, y1 = projected.box
        assert y1 - y0 == pytest.approx(size[0], abs=2), projected.angle_deg
        assert x1 - x0 == pytest.approx(size[1], abs=2), projected.angle_deg


def test_counts_above_the_dark_level_are_what_is_attenuated() -> None:
    bag = np.full((2, 200, 200), 1_000, np.uint16)
    bag[:, :, ::2] = 150  # at or below the dark level: nothing gets through to attenuate
    threat = ThreatImage("flat", "knife", np.full((2, 40, 40), 1.0, np.float32), 1.0)
    projected = project(bag, threat, (1.0, 1.0), np.random.default_rng(0), dark=(200.0, 200.0))
    assert (projected.image[:, :, ::2] == 150).all()
    x0, y0, x1, y1 = projected.box
    middle = projected.image[
        :, (y0 + y1) // 2 - 5 : (y0 + y1) // 2 + 5, (x0 + x1) // 2 - 5 : (x0 + x1) // 2 + 5
    ]
    lit = middle[middle != 150]
    assert lit.size == 100 and (np.abs(lit.astype(int) - round(200 + 800 * np.exp(-1.0))) <= 1).all()


def test_frames_it_cannot_take_are_refused() -> None:
    threat = threat_image(_entry())
    with pytest.raises(ProjectionError, match="dual-energy"):
        project(_bag()[0], threat, (1.0, 1.0), np.random.default_rng(0))
    with pytest.raises(ProjectionError, match="does not fit"):
        project(_bag(30, 30), threat, (1.0, 1.0), np.random.default_rng(0))


def test_a_frame_without_a_bag_still_takes_the_threat_where_it_fits() -> None:
    air = np.full((2, 100, 100), FULL_SCALE, np.uint16)
    x0, y0, x1, y1 = project(air, threat_image(_entry()), (1.0, 1.0), np.random.default_rng(3)).box
    assert 0 <= x0 < x1 <= 100 and 0 <= y0 < y1 <= 100


def test_frame_spacing_reads_the_frames_metadata_as_the_detector_does() -> None:
    assert frame_spacing({"pixel_spacing_mm": "1.2,0.6"}, 1000) == (1.2, 0.6)
    assert frame_spacing({"pixel_size_mm": "0.8"}, 1000) == (0.8, 0.8)
    assert frame_spacing({"pixel_size_mm": "nan"}, 1000) == (0.8, 0.8)  # the tunnel's 800 mm over 1000 rows
    assert frame_spacing({}, 400) == (2.0, 2.0)


def _noisy(counts: np.ndarray, gain: float, seed: int = 0) -> np.ndarray:
    """``counts`` with photon noise of variance ``gain * counts`` (a scanner of 1 / gain quanta a count)."""
    rng = np.random.default_rng(seed)
    quanta = rng.poisson(counts.astype(np.float64) / gain)
    return np.clip(np.rint(quanta * gain), 0, FULL_SCALE).astype(np.uint16)


@pytest.mark.parametrize("gain", [0.5, 2.0, 8.0])
def test_the_noise_model_reads_a_frames_photon_noise_whatever_is_in_the_bag(gain: float) -> None:
    clean = _bag(400, 600).astype(np.float64) * 0.9  # air below full scale: it is read too
    columns = np.mgrid[:400, :600][1]
    clean[:, 100:300, 150:450] *= 1 + 0.3 * np.sin(columns[100:300, 150:450] / 9.0)  # the bag's texture
    clean[:, 150:170, 200:260] *= 0.05  # and metal in it
    frame = _noisy(clean, gain)
    for channel in range(2):
        assert noise_model(frame[channel]) == pytest.approx(gain, rel=0.1)
    assert noise_model(np.rint(clean[0]).astype(np.uint16)) < 0.01  # noiseless: nothing to add


def test_a_constant_fill_and_clipped_pixels_do_not_read_as_a_quiet_scanner() -> None:
    frame = _noisy(np.full((2, 300, 600), 30_000.0), 2.0)[0]
    filled = frame.copy()
    filled[:, :80] = 30_000  # a vendor's padding: no spread at all
    assert noise_model(filled) == pytest.approx(2.0, rel=0.1)
    # a scanner whose counts clip at 40,100, its air about there (two thirds of it clipped, the rest cut
    # short), and one hot pixel above the clip
    clipped = _noisy(np.full((2, 300, 600), 30_000.0), 2.0)[0]
    clipped[:, 300:] = np.minimum(_noisy(np.full((300, 300), 40_000.0), 2.0), 40_100)
    clipped[5, 5] = 65_535
    assert noise_model(clipped) == pytest.approx(2.0, rel=0.1)


def test_white_padding_a_hot_row_or_a_fill_at_the_airs_level_leave_the_air_read() -> None:
    air = _noisy(np.full((2, 300, 600), 61_000.0), 2.0)[0]
    air[100:200, 150:450] = _noisy(np.full((100, 300), 20_000.0), 8.0)  # a bag noisier than the air
    padded = air.copy()
    padded[:, -16:] = 65_535  # white columns at the scale's top
    assert noise_model(padded) == pytest.approx(2.0, rel=0.1)
    hot = air.copy()
    hot[::4][10] = 61_500  # a detector row stuck among the air's levels
    assert noise_model(hot) == pytest.approx(2.0, rel=0.1)
    filled = air.copy()
    filled[:, :360] = 61_000  # a fill at the air's level over most of the frame
    assert noise_model(filled) == pytest.approx(2.0, rel=0.1)


def test_a_dark_level_is_taken_off_before_the_noise_is_read() -> None:
    frame = _noisy(np.full((2, 300, 300), 20_000.0), 2.0) + np.uint16(3_000)
    assert noise_model(frame[0], dark=3_000.0) == pytest.approx(2.0, rel=0.1)
    assert noise_model(frame[0]) == pytest.approx(2.0 * 20_000 / 23_000, rel=0.1)  # misread without it


def _disc(diameter_px: int, line_integral: float) -> ThreatImage:
    """A disc of one line integral in both channels: the same at any angle."""
    rows, columns = np.mgrid[:diameter_px, :diameter_px]
    middle = (diameter_px - 1) / 2
    disc = (rows - middle) ** 2 + (columns - middle) ** 2 <= (diameter_px / 2) ** 2
    integrals = np.where(disc, np.float32(line_integral), np.float32(0.0))
    return ThreatImage("disc", "knife", np.stack([integrals, integrals]), 1.0)


def _inside(projected: Projection, margin_px: int) -> tuple[slice, slice]:
    """The square inside a projected disc, ``margin_px`` in from its edge (rows, columns)."""
    x0, y0, x1, y1 = projected.box
    half = int((x1 - x0) / 2 / math.sqrt(2)) - margin_px
    row, column = (y0 + y1) // 2, (x0 + x1) // 2
    return slice(row - half, row + half), slice(column - half, column + half)


@pytest.mark.parametrize("gain", [1.0, 4.0])
def test_behind_a_projected_threat_the_noise_is_that_of_the_fewer_counts(gain: float) -> None:
    """A Poisson count dimmed by t has variance g t c; dimming the bag's counts alone leaves g t^2 c."""
    level, line_integral = 40_000.0, 1.5
    frame = _noisy(np.full((2, 300, 300), level), gain, seed=3)
    projected = project(frame, _disc(160, line_integral), (1.0, 1.0), np.random.default_rng(1))
    rows, columns = _inside(projected, 4)
    inside = projected.image[0, rows, columns].astype(np.float64)
    kept = np.exp(-line_integral)
    assert inside.mean() == pytest.approx(level * kept, rel=0.01)
    assert inside.var() == pytest.approx(gain * level * kept, rel=0.1)  # not gain * level * kept**2


def test_a_projected_threat_is_as_grainy_as_the_independent_generators_own_objects() -> None:
    """On a bag of the independent generator (its photon noise from its own scanner's quanta), the
    noise a projection adds beyond the bag's dimmed counts is the variance the fewer counts lack,
    ``g c t (1 - t)``, with ``g`` the generator's own variance per count."""
    from smartcustoms.hardware.sim.xray_alt import AltXraySimulator

    scan = AltXraySimulator(3900, 512, 1024).generate(1, threat=None)
    line_integral = 1.0
    threat = _disc(70, line_integral)
    threat = ThreatImage("disc", "knife", threat.line_integrals, scan.pixel_size_mm)
    spacing = (scan.pixel_size_mm, scan.pixel_size_mm)
    projected = project(scan.image, threat, spacing, np.random.default_rng(4))
    rows, columns = _inside(projected, 3)
    kept = np.exp(-line_integral)
    for channel in range(2):
        before = scan.image[channel, rows, columns].astype(np.float64)
        grain = projected.image[channel, rows, columns] - kept * before  # the bag's texture cancels
        variance_per_count = FULL_SCALE / scan.scanner.quanta[channel]
        expected = variance_per_count * before * kept * (1 - kept)
        assert grain.mean() == pytest.approx(0.0, abs=0.05 * math.sqrt(expected.mean()))
        assert grain.var() == pytest.approx(expected.mean() + 1 / 12, rel=0.15)  # and the rounding
