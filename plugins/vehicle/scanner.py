"""What a portal adds to a vehicle's image that is the scanner's, not the vehicle's, taken out before a
scan and a reference are compared:

* the road: a portal whose lowest detector rows see the road surface and its own foundation under the
  vehicle shows them as dark rows across the whole scan (``road_rows``); a scan and its reference are
  compared above them, and placed one on the other by the vehicle's lowest point (``ground_gap``, the
  rows of air under its wheels), however many rows of road or air below it each shows;
* detector and source residuals: a flat-field correction leaves each detector row a gain a little off
  (a few rows a few per cent off), and a linac's pulses vary in dose from one column to the next; in the
  air above and around the vehicle both show as lines, rows or columns, of attenuation that no vehicle
  draws, enough to cross the body threshold and break the outline. ``flat_fielded`` measures each row's
  and each column's gain on its air and divides it out where it is clearly off;
* an uncalibrated open beam: a site's own scan enrolled as a reference reads its air below full scale;
  ``calibrated`` scales it to full scale, as references are stored;
* scatter: a portal's detectors also see a little radiation scattered by the vehicle and its load, a
  smooth veil spread over tens of centimetres, so a dark part (a chassis, a tank, the trailer's beams)
  reads lighter beside bright air and darker beside a full cargo space. A loaded scan's chassis is
  then darker than its empty reference's, by as much as a compartment. ``scatter_matched`` fits the
  reference to the scan, outside the cargo space, as the reference's own transmission plus the scan's
  and the reference's transmissions spread over ``scatter_cm`` (and a gain and an offset), then gives
  the reference as the scan's scatter would show it.

uint16 [H, W] transmission images throughout (65535 = full scale), except ``scatter_matched``, which takes
and gives the attenuations that are compared.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from smartcustoms.core.lazy import lazy

if TYPE_CHECKING:
    import cv2
else:
    cv2 = lazy("cv2")

FULL_SCALE = 65535.0
SAME_LEVEL = 1e-3  # an open beam within this share of full scale is full scale

# The road: rows whose brightest columns (this share of them) are darker than the scan's air by this
# factor (an attenuation of 0.01: a row only partly on the road too), found within this share of the
# scan's height from the bottom.
ROAD_BRIGHTEST = 0.02
ROAD_DARKER = 0.990
ROAD_MAX_SHARE = 0.25
# The vehicle's lowest point: the lowest row with at least MATERIAL_PIXELS pixels of an attenuation
# above MATERIAL_ATTENUATION (its tyres on the road).
MATERIAL_ATTENUATION = 0.05
MATERIAL_PIXELS = 2

# The air: pixels, smoothed over AIR_SMOOTH_PX so that noise does not pick them, within this share of
# the scan's brightest (its 99.5th percentile).
AIR_NEAR_BRIGHTEST = 0.97
AIR_SMOOTH_PX = 5
BRIGHTEST_PERCENTILE = 99.5

# Gains: a row's gain is measured on the columns of air before and after the vehicle, a column's on
# the rows of air above it (at least MIN_AIR_LINES of them; a line is air when it reads nowhere below
# GAIN_AIR of the open beam), and divided out when it is off by more than MIN_GAIN_ERROR and by more
# than GAIN_Z times what its measurement may be off by: a clean scan is left as it is.
MIN_AIR_LINES = 8
MAX_AIR_LINES = 256  # at most about this many (evenly spaced) are averaged
MIN_GAIN_ERROR = 0.002
GAIN_Z = 4.0
GAIN_AIR = 0.9


def road_rows(high: np.ndarray) -> int:
    """How many of a scan's bottom rows show the road (and the portal's foundation) under the vehicle
    rather than the vehicle: rows with material in every column, the air before and after the vehicle
    and between its wheels included. 0 when the scan shows no road (its bottom row has air in it), or
    when what looks like one is over a quarter of the scan's height."""
    height, width = high.shape
    if height < 8 or width < 8:
        return 0
    brightest = max(1, round(width * ROAD_BRIGHTEST))

    def bright(row: int) -> float:
        return float(np.partition(high[row], width - brightest)[width - brightest])

    air = float(np.median([bright(row) for row in np.linspace(0, height - 1, 16).astype(int)]))
    rows = 0
    while rows < height * ROAD_MAX_SHARE and bright(height - 1 - rows) < air * ROAD_DARKER:
        rows += 1
    return 0 if rows >= height * ROAD_MAX_SHARE else rows


def ground_gap(high: np.ndarray, level: float | None = None) -> int:
    """How many rows of a scan (its road cut off: ``road_rows``) lie below the vehicle's lowest point:
    rows where fewer than ``MATERIAL_PIXELS`` pixels are darker than the air (``level``, else its
    ``open_beam``) by ``MATERIAL_ATTENUATION``. 0 when the vehicle reaches the bottom row or nothing in
    the scan is material. uint16 [H, W]."""
    air = open_beam(high) if level is None else level
    return gap_below(high < np.float32(air * np.exp(-MATERIAL_ATTENUATION)))


def gap_below(material: np.ndarray) -> int:
    """The rows below the lowest row with at least ``MATERIAL_PIXELS`` pixels of ``material`` (bool
    [H, W]); 0 when there is none."""
    rows = np.flatnonzero(np.count_nonzero(material, axis=1) >= MATERIAL_PIXELS)
    return int(material.shape[0] - 1 - rows[-1]) if len(rows) else 0


def _air(high: np.ndarray) -> tuple[np.ndarray, float]:
    """The scan smoothed over ``AIR_SMOOTH_PX`` (float32 [H, W]) and the count of its air: the median, on
    every other row and column, of the pixels whose smoothed value is within ``AIR_NEAR_BRIGHTEST`` of
    the brightest (its ``BRIGHTEST_PERCENTILE``); noise does not pick them."""
    smoothed = np.asarray(cv2.blur(high.astype(np.float32), (AIR_SMOOTH_PX, AIR_SMOOTH_PX)))
    sampled = smoothed[::2, ::2]
    brightest = float(np.percentile(sampled[:: max(1, sampled.shape[0] // 256)], BRIGHTEST_PERCENTILE))
    counts = high[::2, ::2][sampled >= brightest * AIR_NEAR_BRIGHTEST]
    return smoothed, float(np.median(counts)) if counts.size else brightest


def open_beam(high: np.ndarray) -> float:
    """The count of a scan's air, its open beam (``_air``). uint16 [H, W]."""
    return _air(high)[1]


def calibrated(high: np.ndarray, level: float | None = None) -> np.ndarray:
    """A reference's counts with its air (``level``, else its ``open_beam``) at full scale, as
    references are stored: a scanner whose open beam reads lower (a site's own scan enrolled as a
    reference) would otherwise put its air above the body threshold, and its levels' error into every
    scan compared with it. The image itself when its air is at full scale already (within
    ``SAME_LEVEL``)."""
    air = open_beam(high) if level is None else level
    if air <= 0 or abs(air / FULL_SCALE - 1) <= SAME_LEVEL:
        return high
    scaled = np.rint(high.astype(np.float64) * (FULL_SCALE / air))
    out: np.ndarray = np.clip(scaled, 0, FULL_SCALE).astype(np.uint16)
    return out


def gains(high: np.ndarray, air: tuple[np.ndarray, float] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(per row [H], per column [W]) float64: each row's gain against the scan's open beam, measured on
    the columns that are air from top to bottom (before and after the vehicle), then each column's
    once the rows' are divided out, measured on the rows that are air from end to end (above the
    vehicle); 1 where there are too few of those to tell, or the gain is not clearly off. Only whole
    lines of air are used: a vehicle's light panels would pass for a weak line's air. A line is air when
    nothing in it (smoothed) reads below ``GAIN_AIR`` of the open beam: a weak line still is. ``air``:
    the scan's ``_air`` when computed already."""
    smoothed, level = air if air is not None else _air(high)
    ones = np.ones(high.shape[0]), np.ones(high.shape[1])
    if level <= 0:
        return ones
    floor = np.float32(level * GAIN_AIR)
    air_columns = np.flatnonzero(smoothed.min(axis=0) >= floor)
    air_rows = np.flatnonzero(smoothed.min(axis=1) >= floor)
    enough_columns, enough_rows = len(air_columns) >= MIN_AIR_LINES, len(air_rows) >= MIN_AIR_LINES
    air_columns = air_columns[:: max(1, len(air_columns) // MAX_AIR_LINES)]  # enough to average on
    air_rows = air_rows[:: max(1, len(air_rows) // MAX_AIR_LINES)]
    if not enough_columns and not enough_rows:
        return ones
    scale = np.float32(1 / level)
    sample = high[air_rows[::2]][:, ::4] if enough_rows else high[::4][:, air_columns[::2]]
    values = sample.astype(np.float32) * scale
    noise = 1.4826 * float(np.median(np.abs(values - np.median(values))))
    rows = np.ones(high.shape[0])
    if enough_columns:
        means = (high[:, air_columns].astype(np.float32) * scale).mean(axis=1, dtype=np.float64)
        rows = _gain(means, len(air_columns), noise)
    columns = np.ones(high.shape[1])
    if enough_rows:
        lines = high[air_rows].astype(np.float32) * scale / rows[air_rows, None].astype(np.float32)
        columns = _gain(lines.mean(axis=0, dtype=np.float64), len(air_rows), noise)
    return rows, columns


def _gain(means: np.ndarray, count: int, noise: float) -> np.ndarray:
    """Each line's mean air value where it is clearly off 1 (by ``MIN_GAIN_ERROR`` and by ``GAIN_Z``
    times what a mean of ``count`` pixels of ``noise`` may be off by); else 1."""
    off = np.abs(means - 1) > max(MIN_GAIN_ERROR, GAIN_Z * noise / np.sqrt(count))
    return np.where(off, means, 1.0)


def flat_fielded(high: np.ndarray, air: tuple[np.ndarray, float] | None = None) -> np.ndarray:
    """The scan with each row's and column's gain (``gains``) divided out; the scan itself when none is
    clearly off."""
    rows, columns = gains(high, air)
    if np.all(rows == 1.0) and np.all(columns == 1.0):
        return high
    corrected = np.rint(high / (rows[:, None] * columns[None, :]))
    out: np.ndarray = np.clip(corrected, 0, FULL_SCALE).astype(np.uint16)
    return out


def corrected(high: np.ndarray, *, calibrate: bool = False) -> tuple[np.ndarray, int, float]:
    """A scan (or reference) as it is compared: its road rows cut off, its rows' and columns' gains
    divided out, and (``calibrate``, for a reference) its air scaled to full scale; how many road rows
    were cut; and the count of its air (``open_beam``: full scale once calibrated)."""
    road = road_rows(high)
    if road:
        high = high[: high.shape[0] - road]
    air = _air(high)
    high = flat_fielded(high, air)  # its air stays at the level measured: the gains are relative to it
    level = air[1]
    if calibrate:
        high, level = calibrated(high, level), FULL_SCALE if level > 0 else level
    return high, road, level


# Scatter (``scatter_matched``): the fit is made, and the spread transmissions computed, on images this
# many times smaller each way; the scattered share of either image is at most SCATTER_MAX (a portal's
# collimated detectors see a few per cent); gain and offset stay within SCATTER_GAIN and SCATTER_OFFSET;
# each pixel is weighed by its relative error (a pixel's transmission, plus SCATTER_FLOOR): the veil
# matters where the vehicle is dark; HUBER_STEPS reweightings keep a compartment from pulling the fit.
SCATTER_STEP = 4
SCATTER_MAX = 0.06
SCATTER_GAIN = (0.8, 1.25)
SCATTER_OFFSET = 0.05
SCATTER_FLOOR = 0.005
HUBER_STEPS = 4
FIT_PIXELS = 20000  # fitted on at most this many pixels, evenly spread
NO_SCATTER = 1e-4  # a fit this close to no change leaves the reference as it is


@dataclass(frozen=True)
class ScatterFit:
    """The reference as the scan would show it: gain x its transmission + scan x spread scan transmission
    + reference x spread reference transmission + offset (scan >= 0, reference <= 0: their scattered
    shares)."""

    gain: float = 1.0
    scan: float = 0.0
    reference: float = 0.0
    offset: float = 0.0

    @property
    def changes(self) -> bool:
        return max(abs(self.gain - 1), abs(self.scan), abs(self.reference), abs(self.offset)) > NO_SCATTER


def spread(transmission: np.ndarray, sigma_px: float) -> np.ndarray:
    """``transmission`` spread by a Gaussian of ``sigma_px`` (edges replicated); a wide one on an image
    reduced by a quarter of it, then enlarged again (the result is smooth at that scale anyway)."""
    height, width = transmission.shape
    factor = max(1, int(sigma_px // 4))
    small = transmission
    if factor > 1:
        size = (max(1, width // factor), max(1, height // factor))
        small = cv2.resize(transmission, size, interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), max(sigma_px / factor, 0.5), borderType=cv2.BORDER_REPLICATE)
    if factor == 1:
        return np.asarray(small)
    return np.asarray(cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR))


def fit_scatter(
    scan: np.ndarray, reference: np.ndarray, spread_scan: np.ndarray, spread_reference: np.ndarray,
    excluded: np.ndarray,
) -> ScatterFit:  # fmt: skip
    """The ``ScatterFit`` of two transmission images and their spread transmissions (small: see
    ``scatter_matched``) over the pixels not ``excluded``, by bounded least squares on relative errors,
    reweighted (Huber)."""
    ts, tr, hs, hr = scan, reference, spread_scan, spread_reference
    use = ~excluded
    count = int(use.sum())
    if count < 16:
        return ScatterFit()
    if count > FIT_PIXELS:  # an even sample of them: the fit has four unknowns
        every = np.zeros(count, dtype=bool)
        every[:: math.ceil(count / FIT_PIXELS)] = True
        use[use] = every
    weight = 1.0 / (np.maximum(ts[use], tr[use]).astype(np.float64) + SCATTER_FLOOR)
    design = np.stack([tr[use], hs[use], hr[use], np.ones(int(use.sum()), np.float32)], 1) * weight[:, None]
    target = ts[use] * weight
    lower = np.array([SCATTER_GAIN[0], 0.0, -SCATTER_MAX, -SCATTER_OFFSET])
    upper = np.array([SCATTER_GAIN[1], SCATTER_MAX, 0.0, SCATTER_OFFSET])
    huber = np.ones(len(target))
    coefficients = np.array([1.0, 0.0, 0.0, 0.0])
    for _ in range(HUBER_STEPS):
        coefficients = bounded_least_squares(design, target, huber, lower, upper)
        residual = np.abs(target - design @ coefficients)
        scale = 1.345 * 1.4826 * max(float(np.median(residual)), 1e-9)
        huber = np.minimum(1.0, scale / np.maximum(residual, 1e-12))
    gain, of_scan, of_reference, offset = (float(c) for c in coefficients)
    return ScatterFit(gain, of_scan, of_reference, offset)


def bounded_least_squares(
    design: np.ndarray, target: np.ndarray, weight: np.ndarray, lower: np.ndarray, upper: np.ndarray
) -> np.ndarray:
    """argmin sum(weight * (design @ c - target)^2) with lower <= c <= upper, by the normal equations: a
    coefficient found beyond its bound is held there and the others fitted again, until none is."""
    normal = design.T @ (design * weight[:, None])
    moment = design.T @ (target * weight)
    held = np.zeros(len(lower), dtype=bool)
    value = np.clip(np.zeros(len(lower)), lower, upper)
    for _ in range(len(lower) + 1):
        free = ~held
        coefficients = value.copy()
        if free.any():
            rhs = moment[free] - normal[np.ix_(free, held)] @ value[held]
            coefficients[free] = np.linalg.lstsq(normal[np.ix_(free, free)], rhs, rcond=None)[0]
        beyond = free & ((coefficients < lower) | (coefficients > upper))
        if not beyond.any():
            return coefficients
        held |= beyond
        value = np.clip(coefficients, lower, upper)
    return np.clip(coefficients, lower, upper)


def scatter_matched(
    scan: np.ndarray,
    reference: np.ndarray,
    cargo: tuple[int, int, int, int] | None,
    pixel_mm: float,
    scatter_cm: float,
) -> tuple[np.ndarray, ScatterFit]:
    """The aligned reference's attenuation [H, W] as the scan's scatter would show it (``ScatterFit``),
    fitted outside the ``cargo`` box (x0, y0, x1, y1; its load is what may differ there), with the
    scattered radiation spread over a Gaussian of ``scatter_cm``; and the fit. The reference itself when
    the fit changes nothing."""
    height, width = scan.shape
    size = (max(1, width // SCATTER_STEP), max(1, height // SCATTER_STEP))
    reference_t = np.exp(-reference)
    ts, tr = (cv2.resize(t, size, interpolation=cv2.INTER_AREA) for t in (np.exp(-scan), reference_t))
    excluded = np.zeros(ts.shape, dtype=bool)
    if cargo is not None:
        x0, y0, x1, y1 = (max(0, round(v / SCATTER_STEP)) for v in cargo)
        excluded[y0:y1, x0:x1] = True
    sigma_px = scatter_cm * 10 / pixel_mm / SCATTER_STEP
    hs, hr = spread(ts, sigma_px), spread(tr, sigma_px)
    fit = fit_scatter(ts, tr, hs, hr, excluded)
    if not fit.changes:
        return reference, fit
    veil = (fit.scan * hs + fit.reference * hr + fit.offset).astype(np.float32)
    shown = reference_t * np.float32(fit.gain)
    shown += cv2.resize(veil, (width, height), interpolation=cv2.INTER_LINEAR)
    out: np.ndarray = -np.log(np.maximum(shown, np.float32(1 / FULL_SCALE)))
    return out.astype(np.float32), fit
