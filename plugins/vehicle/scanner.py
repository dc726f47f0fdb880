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
  ``calibrated`` scales it to full scale, as references are stored.

uint16 [H, W] transmission images throughout (65535 = full scale).
"""

from __future__ import annotations

import cv2
import numpy as np

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
