"""A scan's grey levels: its open beam and dark level, measured on the scan, and its attenuation from them.

A portal's image is a transmission, ``I = dark + (open_beam - dark) * t``; the references are stored
calibrated (65535 = open beam, 0 = no photon through). A brighter or darker scanner, or an 8-bit
export lifted or lowered by some grey levels, changes ``open_beam`` and ``dark`` (a gain and an
offset), so the scan's attenuation ``-ln t`` is computed from its own levels:

* ``open_beam``: the median of the scan's pixels in the air around the vehicle (outside the aligned
  reference's outline, with a margin), sampled on a grid;
* ``dark``: where the scan should hold ``t`` (the aligned reference's transmission, the empty vehicle),
  each pixel gives ``dark = (I - open_beam t) / (1 - t)``; the median over the vehicle's darker pixels
  (``t`` below one half, outside the cargo space, off edges, above the scan's clipping floor) is robust to
  the few a concealment changes. A calibrated scan gives ``dark`` ~ 0 (0-5 counts): within
  ``DEAD_BAND`` it is taken as 0, and what it was measured at tolerated (``Levels.dark_snapped``);
* ``floor_attenuation``: the lowest count the scan holds is a clipping floor (an export lowered by 13
  grey levels clips everything darker than 13 levels to 0): below it the scan only says "at least this
  dark", so scan and reference are both clamped to the floor's attenuation and not compared beyond;
* ``ceiling_attenuation``: likewise when the scan's highest count lies below its open beam (an export
  lifted by some grey levels clips the air at full scale): the open beam and the dark level are then
  both fitted to the vehicle's pixels (a robust straight line of the scan's counts against the
  reference's transmission), and nothing is compared below that attenuation.

An export of coarse grey levels (8-bit, scaled to 16 bits) is off by up to half a level, which in the
darkest pixels is a large share of their counts: ``grey_step`` finds the step and the comparison
tolerates one level's worth of attenuation there (``quantisation_sigma``).

Frame metadata ``open_beam_level`` / ``dark_level`` (counts), when a scanner states them, are used as
given instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from smartcustoms.core.lazy import lazy

if TYPE_CHECKING:
    import cv2

    from smartcustoms.plugins.vehicle import _kernels as kernels
else:
    cv2 = lazy("cv2")
    kernels = lazy("smartcustoms.plugins.vehicle._kernels")

FULL_SCALE = 65535.0
SAMPLED_PIXELS = 200_000  # levels are measured on a grid of about this many pixels (every 4th row and
# column of a 1024 x 3072 scan)
AIR_MARGIN_PX = 12  # air pixels keep this far from the reference's outline
EDGE_ATTENUATION = 0.05  # a pixel is off edges when its reference differs this little from its 5 x 5 mean
MIN_SAMPLES = 200
CEILING_MARGIN = 0.005  # counts this close (relative) to the scan's highest are taken as clipped there
CLIPPED_AIR = 0.25  # this share of the air at the scan's highest count: the air is clipped there
BRIGHTER = 0.001  # an open beam fitted this much above the scan's ceiling (65 counts): the air is clipped
COARSE_LEVELS = 1024  # a scan using at most this many distinct counts is an export of coarser levels
DEAD_BAND = 0.00015  # a dark level within this share of the open beam (10 counts) is 0: calibrated
DARK_TOLERANCE = 20.0  # counts a measured dark level may be off (the comparison tolerates it)
LINE_BINS = 18  # the straight line of counts against transmission: bins of t
MIN_BIN_SAMPLES = 20
MIN_LINE_SPAN = 0.1  # slopes only between bins this far apart in t


@dataclass(frozen=True)
class Levels:
    """The counts of the open beam and of no transmission, and the attenuation beyond which the scan is
    clipped (both it and the reference are clamped there)."""

    open_beam: float = FULL_SCALE
    dark: float = 0.0
    floor_attenuation: float = math.log(FULL_SCALE)
    ceiling_attenuation: float = 0.0  # above 0 when the scan clips below its open beam
    step: float = 1.0  # counts between neighbouring grey levels: 257 for an 8-bit export scaled to 16 bits
    # counts a dark level measured within the dead band, and taken as 0, was measured at: what taking it
    # as 0 may be off by (the comparison tolerates it as it does a measured dark level's error)
    dark_snapped: float = field(default=0.0, compare=False)  # levels that differ by it alone are alike

    def clamp(self, attenuation: np.ndarray) -> np.ndarray:
        """``attenuation`` (float32) held within what the scan can tell apart: [ceiling, floor]."""
        low, high = np.float32(self.ceiling_attenuation), np.float32(self.floor_attenuation)
        return np.asarray(np.clip(attenuation, low, high), dtype=np.float32)

    @property
    def clamped(self) -> bool:
        return self.ceiling_attenuation > 0 or self.floor_attenuation < math.log(FULL_SCALE)

    def describe(self) -> str:
        return f"open beam {self.open_beam:.0f}, dark {self.dark:+.0f} counts"


CALIBRATED = Levels()


def levelled_attenuation(image: np.ndarray, levels: Levels) -> np.ndarray:
    """-ln t of a uint16 [H, W] transmission image with t = (I - dark) / (open_beam - dark), float32,
    clamped at ``levels.floor_attenuation``."""
    if image.ndim != 2 or image.dtype != np.uint16:
        raise ValueError(f"expected a uint16 [H, W] image, got {image.dtype} {image.shape}")
    out = np.empty(image.shape, dtype=np.float32)
    kernels._levelled_attenuation(
        np.ascontiguousarray(image), levels.open_beam, levels.dark, levels.floor_attenuation, out
    )
    if levels.ceiling_attenuation > 0:
        np.maximum(out, np.float32(levels.ceiling_attenuation), out=out)
    return out


def measure_levels(
    image: np.ndarray,
    reference: np.ndarray,
    inside: np.ndarray,
    cargo: tuple[int, int, int, int] | None,
    open_beam: float | None = None,
    dark: float | None = None,
) -> Levels:
    """The levels of a uint16 scan [H, W] whose aligned reference attenuation is ``reference`` (its
    outline ``inside``, its cargo space ``cargo`` in the scan's pixels or None); ``open_beam`` / ``dark``
    when stated by the scanner."""
    samples = _Samples.of(image, reference, inside, cargo)
    floor, ceiling = float(image.min()), float(image.max())
    clipped_air = False
    if open_beam is None:
        air = samples.raw[samples.air]
        open_beam = float(np.median(air)) if len(air) >= MIN_SAMPLES else ceiling
        if len(air) < MIN_SAMPLES or np.mean(air >= ceiling) > CLIPPED_AIR:  # a brighter export?
            open_beam = ceiling
            line = _robust_line(*samples.vehicle(floor, ceiling))
            if line is not None and line[0] > ceiling * (1 + BRIGHTER):
                open_beam, clipped_air = line[0], True
    if dark is None:  # the darker pixels tell it best, given the open beam
        dark = _dark(*samples.vehicle(floor, ceiling), open_beam)
    snapped = 0.0
    if abs(dark) < DEAD_BAND * open_beam:
        # within what the estimate can tell from a calibrated scan: kept calibrated, and what was
        # measured kept as the error that may make
        dark, snapped = 0.0, abs(dark)
    span, step = max(open_beam - dark, 1.0), grey_step(image)
    floor_attenuation = -math.log(min(max((floor + step - dark) / span, 1 / FULL_SCALE), 1.0))
    ceiling_attenuation = max(-math.log((ceiling - dark) / span), 0.0) if clipped_air else 0.0
    return Levels(open_beam, dark, floor_attenuation, ceiling_attenuation, step, snapped)


def grey_step(image: np.ndarray) -> float:
    """The counts between neighbouring grey levels the scan uses: 1 for a 16-bit scan, about 257 for an
    8-bit export (JPEG) scaled to 16 bits. Dark pixels of a coarse export are off by up to half a step."""
    marked = np.zeros(65536, dtype=np.bool_)
    kernels._mark_levels(np.ascontiguousarray(image, dtype=np.uint16), marked)
    used = np.flatnonzero(marked)
    if len(used) > COARSE_LEVELS or len(used) < 2:
        return 1.0
    return float(np.median(np.diff(used)))


def quantisation_sigma(attenuation: np.ndarray, levels: Levels, min_z: float) -> np.ndarray | None:
    """A tolerance for what the levels leave uncertain, as a standard deviation the anomaly test
    multiplies by ``min_z``: one grey level of a coarse export, ``DARK_TOLERANCE`` counts of a measured
    dark level, or the counts a dark level taken as 0 was measured at (``Levels.dark_snapped``), relative to
    the pixel's counts, in attenuation; None for a fine, calibrated scan (the darkest pixels hold a few
    hundred counts: a few counts off is a large share of them)."""
    dark = DARK_TOLERANCE if levels.dark != 0.0 else levels.dark_snapped
    counts = max(levels.step if levels.step > 1.0 else 0.0, dark)
    if counts == 0.0:
        return None
    relative = np.float32(counts / max(levels.open_beam - levels.dark, 1.0) / min_z)
    return np.asarray(np.exp(attenuation) * relative, dtype=np.float32)


@dataclass(frozen=True)
class _Samples:
    """The scan's counts and the aligned reference's transmission on a grid (``SAMPLED_PIXELS``); which of
    them are air (away from the vehicle) and which are the empty vehicle's (off its edges, outside the
    cargo space)."""

    raw: np.ndarray
    transmission: np.ndarray
    air: np.ndarray
    vehicle_pixels: np.ndarray

    @classmethod
    def of(
        cls,
        image: np.ndarray,
        reference: np.ndarray,
        inside: np.ndarray,
        cargo: tuple[int, int, int, int] | None,
    ) -> _Samples:
        s = max(1, round(math.sqrt(image.size / SAMPLED_PIXELS)))
        ref = reference[::s, ::s]
        transmission = np.exp(-ref.astype(np.float64))
        flat = np.abs(ref - np.asarray(cv2.blur(reference, (5, 5)))[::s, ::s]) < EDGE_ATTENUATION
        vehicle = (transmission < 0.9) & (transmission > 1e-3) & flat
        if cargo is not None:
            x0, y0, x1, y1 = (max(v, 0) // s for v in cargo)
            vehicle[y0 : y1 + 1, x0 : x1 + 1] = False  # the load there is not the empty vehicle's
        kernel = np.ones((2 * AIR_MARGIN_PX + 1, 2 * AIR_MARGIN_PX + 1), np.uint8)
        air = np.asarray(cv2.dilate(inside.view(np.uint8), kernel))[::s, ::s] == 0
        return cls(image[::s, ::s].astype(np.float64), transmission, air, vehicle)

    def vehicle(self, floor: float, ceiling: float) -> tuple[np.ndarray, np.ndarray]:
        """(transmission, counts) of the vehicle's pixels clear of the scan's floor and ceiling."""
        margin = CEILING_MARGIN * ceiling
        usable = self.vehicle_pixels & (self.raw > floor + margin) & (self.raw < ceiling - margin)
        return self.transmission[usable], self.raw[usable]


def _dark(transmission: np.ndarray, counts: np.ndarray, open_beam: float) -> float:
    """The median dark level the vehicle's darker pixels (t < 1/2) imply given the open beam; 0 when
    too few pixels tell."""
    dark = transmission < 0.5
    if np.count_nonzero(dark) < MIN_SAMPLES:
        return 0.0
    t = transmission[dark]
    return float(np.median((counts[dark] - open_beam * t) / (1 - t)))


def _robust_line(x: np.ndarray, y: np.ndarray) -> tuple[float, float] | None:
    """(y at x = 1, y at x = 0) of the Theil-Sen line through the medians of ``y`` in bins of ``x``: the
    pixels a concealment changes shift a few bins at most, and the median of pairwise slopes ignores them."""
    edges = np.linspace(0.0, 1.0, LINE_BINS + 1)
    which = np.digitize(x, edges) - 1
    points = [
        (float(np.median(x[which == b])), float(np.median(y[which == b])))
        for b in range(LINE_BINS)
        if np.count_nonzero(which == b) >= MIN_BIN_SAMPLES
    ]
    slopes = [
        (y1 - y0) / (x1 - x0)
        for i, (x0, y0) in enumerate(points)
        for x1, y1 in points[i + 1 :]
        if x1 - x0 > MIN_LINE_SPAN
    ]
    if not slopes:
        return None
    slope = float(np.median(slopes))
    intercept = float(np.median([py - slope * px for px, py in points]))
    return intercept + slope, intercept
