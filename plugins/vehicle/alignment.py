"""A scan and a reference in one geometry: attenuation images, a scan of non-square pixels resampled to
square ones, the reference resampled to the scan, the shift between them, and how well they line up.
Public wrappers of the kernels: they check dtypes and shapes.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from smartcustoms.core.lazy import lazy
from smartcustoms.plugins.vehicle.references import BoxPx, Reference
from smartcustoms.plugins.vehicle.scanner import MATERIAL_ATTENUATION, gap_below

if TYPE_CHECKING:
    import cv2
    from scipy import linalg  # type: ignore[import-untyped]

    from smartcustoms.plugins.vehicle import _kernels as kernels
else:
    cv2 = lazy("cv2")
    linalg = lazy("scipy.linalg")
    kernels = lazy("smartcustoms.plugins.vehicle._kernels")

FULL_SCALE = 65535.0
SAME_SCALE = 1e-3  # pixel sizes closer than this (relative) are one


def attenuation(image: np.ndarray) -> np.ndarray:
    """-ln(I / 65535) of a uint16 transmission image [H, W], float32 (I = 0 counts as 1)."""
    if image.ndim != 2 or image.dtype != np.uint16:
        raise ValueError(f"expected a uint16 [H, W] image, got {image.dtype} {image.shape}")
    out: np.ndarray = _attenuation_table()[image]
    return out


@functools.cache
def _attenuation_table() -> np.ndarray:
    """float32 [65536]: ``attenuation`` of every count (one lookup per pixel instead of a logarithm),
    made on first use: the kernel that makes it is imported only by a process that compares."""
    table = np.empty((1, 65536), dtype=np.float32)
    kernels._attenuation(np.arange(65536, dtype=np.uint16)[None], FULL_SCALE, table)
    table.setflags(write=False)
    row: np.ndarray = table[0]
    return row


def material_box(image: np.ndarray) -> BoxPx:
    """(x0, y0, x1, y1), ends excluded: the box of an image's pixels that are not 0 (its material, for
    a part's reference: air is 0); (0, 0, 0, 0) when there are none. float32 [H, W]."""
    if image.ndim != 2:
        raise ValueError(f"expected a 2D image, got {image.shape}")
    out = np.empty(4, dtype=np.int64)
    kernels._nonzero_box(np.ascontiguousarray(image, dtype=np.float32), out)
    x0, y0, x1, y1 = (int(v) for v in out)
    return x0, y0, x1, y1


def estimate_shift(scan: np.ndarray, reference: np.ndarray, max_dx: int, max_dy: int) -> tuple[float, float]:
    """(dx, dy) with scan[y + dy, x + dx] ~ reference[y, x], for attenuation images of one shape.

    Columns: correlation of the gradients of the column sums (edges of the body, wheels, frames);
    rows likewise. Sub-pixel by a parabola through the best score and its neighbours.
    """
    if scan.shape != reference.shape or scan.ndim != 2:
        raise ValueError("scan and reference must be 2D attenuation images of one shape")
    dx = _profile_shift(scan.sum(axis=0), reference.sum(axis=0), max_dx)
    dy = _profile_shift(scan.sum(axis=1), reference.sum(axis=1), max_dy)
    return dx, dy


def _profile_shift(scan: np.ndarray, reference: np.ndarray, max_shift: int) -> float:
    a, b = np.gradient(scan.astype(np.float64)), np.gradient(reference.astype(np.float64))
    scores = shift_scores(a, b, int(max_shift))
    best = int(np.argmax(scores))
    offset = 0.0
    if 0 < best < len(scores) - 1:
        left, middle, right = scores[best - 1], scores[best], scores[best + 1]
        curvature = left - 2 * middle + right
        if curvature < 0:
            offset = float(np.clip(0.5 * (left - right) / curvature, -0.5, 0.5))
    return best - max_shift + offset


def shift_scores(scan: np.ndarray, reference: np.ndarray, max_shift: int) -> np.ndarray:
    """Normalised cross-correlation of two 1D profiles of one length for every integer shift s in
    [-max_shift, max_shift], where scan[i + s] ~ reference[i], over the samples they share (fewer than 8:
    -1); index s + max_shift. The products of every shift at once by FFT, the overlaps' sums from
    running sums: the cost does not grow with the range searched (a metre and a half either way)."""
    n = len(scan)
    shifts = np.arange(-max_shift, max_shift + 1)
    size = 1 << int(2 * n - 1).bit_length()
    products = np.fft.irfft(np.fft.rfft(scan, size) * np.conj(np.fft.rfft(reference, size)), size)
    sum_ab = products[shifts % size]  # sum over i of scan[i + s] * reference[i]
    lo, hi = np.clip(-shifts, 0, n), np.clip(n - shifts, 0, n)  # the reference's samples (a shift past
    count = np.maximum(hi - lo, 1).astype(np.float64)  # the profile's length shares none: hi <= lo)

    def running(values: np.ndarray) -> np.ndarray:
        return np.concatenate(([0.0], np.cumsum(values)))

    a, a2, b, b2 = running(scan), running(scan * scan), running(reference), running(reference * reference)
    start, stop = np.clip(lo + shifts, 0, n), np.clip(hi + shifts, 0, n)  # the scan's samples
    sum_a, sum_a2 = a[stop] - a[start], a2[stop] - a2[start]
    sum_b, sum_b2 = b[hi] - b[lo], b2[hi] - b2[lo]
    cross = sum_ab - sum_a * sum_b / count
    var_a = sum_a2 - sum_a * sum_a / count
    var_b = sum_b2 - sum_b * sum_b / count
    scale = np.max(np.abs(scan)) ** 2 * count * 1e-12 + 1e-300  # below this a variance is rounding
    valid = (hi - lo >= 8) & (var_a > scale) & (var_b > scale)
    scores = np.full(len(shifts), -1.0)
    scores[valid] = cross[valid] / np.sqrt(var_a[valid] * var_b[valid])
    return scores


@dataclass(frozen=True, eq=False)
class Warp:
    """Where a scan's columns lie in its reference: scan[y + dy, x] ~ reference[y, columns[x]].

    A shift has ``columns`` = x - dx; a vehicle whose speed changed as it passed the portal has columns
    that drift from that along it (``estimate_warp``).
    """

    columns: np.ndarray  # float32 [W]: the reference column each scan column shows
    dy: float

    @classmethod
    def shift(cls, dx: float, dy: float, width: int) -> Warp:
        return cls((np.arange(width, dtype=np.float32) - np.float32(dx)), dy)

    @property
    def offset(self) -> tuple[float, float]:
        """(dx, dy): the median shift along the vehicle, the shift across it."""
        dx = float(np.median(np.arange(len(self.columns)) - self.columns)) if len(self.columns) else 0.0
        return dx, self.dy

    @property
    def stretch(self) -> float:
        """The largest drift of the columns from the median shift, in pixels: 0 for a shift."""
        drift = np.arange(len(self.columns)) - self.columns - self.offset[0]
        return float(np.max(np.abs(drift))) if len(drift) else 0.0

    def move(self, image: np.ndarray, replicate: bool = False, material: BoxPx | None = None) -> np.ndarray:
        """``image`` (float32, of the reference's geometry) in the scan's pixels, 0 beyond its edges, or
        with ``replicate`` its edge pixels repeated. ``material``: the box outside which the image is 0
        (``material_box``), with the border 0: only the pixels it reaches are interpolated, the others
        are 0 (the same result, a part of a vehicle moved in a fraction of the time)."""
        source = np.ascontiguousarray(image, dtype=np.float32)
        if material is None or replicate:
            out = np.empty((image.shape[0], len(self.columns)), dtype=np.float32)
            kernels._warp_columns(source, self.columns, float(self.dy), replicate, out)
            return out
        out = np.zeros((image.shape[0], len(self.columns)), dtype=np.float32)
        reach = self.reach(material, out.shape[0])
        if reach is None:
            return out
        top, bottom, left, right = reach
        window = out[top:bottom, left:right]
        kernels._warp_columns(source, self.columns[left:right], float(self.dy) - top, False, window)
        return out

    def reach(self, material: BoxPx, height: int) -> tuple[int, int, int, int] | None:
        """The scan's rows and columns (top, bottom, left, right) an image whose material lies in the box
        ``material`` reaches once moved (``move``): 0 beyond them; None when it reaches none."""
        x0, y0, x1, y1 = material
        if x1 <= x0 or y1 <= y0:
            return None
        # a pixel draws on the source's pixels around (columns[x], y - dy): within a pixel of the box
        reached = np.flatnonzero((self.columns > x0 - 1) & (self.columns < x1))
        top, bottom = max(math.floor(y0 + self.dy), 0), min(math.ceil(y1 + self.dy), height)
        if not len(reached) or bottom <= top:
            return None
        return top, bottom, int(reached[0]), int(reached[-1]) + 1

    def box(self, box: BoxPx | None) -> BoxPx | None:
        """A box in the reference's pixels in the scan's (the columns that show its columns)."""
        if box is None:
            return None
        x0, y0, x1, y1 = box
        scan_x = np.interp([x0, x1], self.columns, np.arange(len(self.columns), dtype=np.float64))
        dy = round(self.dy)
        return (round(float(scan_x[0])), y0 + dy, round(float(scan_x[1])), y1 + dy)


def estimate_warp(
    scan: np.ndarray,
    reference: np.ndarray,
    max_dx: int,
    max_dy: int,
    max_speed_change: float = 0.0,
    pixel_mm: float = 5.0,
) -> Warp:
    """How a scan's columns map onto its reference's (attenuation images of one shape): the shift of
    ``estimate_shift``, then, when ``max_speed_change`` > 0, the drift a changing speed leaves along the
    vehicle. The column profiles' gradients (as for the shift, of an upper and a lower band of rows) are
    compared block by block, coarse then fine; each block's shift is weighted by its correlation and
    by how much the reference shows there (wheels, frames, the body's ends; not a flat wall); a smooth
    curve is fitted to them (piecewise linear, its bends penalised, blocks far off it discounted), and
    its slope bounded by ``max_speed_change``, so the columns stay in order. The blocks and the knots
    are set in cm along the vehicle: ``pixel_mm`` is the pixel size along it (square pixels)."""
    dx, dy = estimate_shift(scan, reference, max_dx, max_dy)
    width = scan.shape[1]
    if max_speed_change <= 0 or width < 4 * _MIN_BLOCK_PX:
        return Warp.shift(dx, dy, width)
    knots = _knots(width, pixel_mm)
    start = np.full(len(knots), dx)
    drift = _staged(scan, reference, knots, start, dx, _BLOCKS_CM, max_speed_change, pixel_mm)
    return Warp(_columns(knots, drift, width), dy)


def refine_warp(
    scan: np.ndarray, reference: np.ndarray, warp: Warp, max_speed_change: float, pixel_mm: float = 5.0
) -> Warp:
    """``warp`` with the finest stages of ``estimate_warp`` run again from its drift. Where the coarse
    stages followed a wrong block at one end of the vehicle (the others there too weak to count), the
    fine ones searched around that drift, found nothing and left it extrapolated; searched again from
    the drift the rest of the vehicle fitted, they find that end. A stage that finds too few blocks
    leaves the drift as it was."""
    width = scan.shape[1]
    if max_speed_change <= 0 or width < 4 * _MIN_BLOCK_PX:
        return warp
    knots = _knots(width, pixel_mm)
    columns = warp.columns.astype(np.float64)
    # the drift (scan x less reference x) where each scan column lies, held beyond the first and last
    # as ``_columns`` extends it
    drift = np.interp(knots, columns, np.arange(width, dtype=np.float64) - columns)
    dx = float(np.median(drift))
    fine = _BLOCKS_CM[len(_BLOCKS_CM) - _REFINED_STAGES :]
    drift = _staged(scan, reference, knots, drift, dx, fine, max_speed_change, pixel_mm, skip_weak=True)
    return Warp(_columns(knots, drift, width), warp.dy)


def _knots(width: int, pixel_mm: float) -> np.ndarray:
    return np.linspace(0.0, width, max(2, round(width / (_KNOT_CM * 10.0 / pixel_mm))) + 1)


def _staged(
    scan: np.ndarray,
    reference: np.ndarray,
    knots: np.ndarray,
    drift: np.ndarray,
    dx: float,
    stages: tuple[tuple[float, float], ...],
    max_speed_change: float,
    pixel_mm: float,
    skip_weak: bool = False,
) -> np.ndarray:
    """The drift at ``knots`` after each of ``stages`` ((length, search radius) in cm) has fitted its
    blocks' shifts; a stage with too few blocks ends the search (``skip_weak``: is passed over)."""
    a, b = _band_profiles(scan), _band_profiles(reference)
    per_cm = 10.0 / pixel_mm
    width = scan.shape[1]
    for length_cm, radius_cm in stages:
        length = max(_MIN_BLOCK_PX, min(round(length_cm * per_cm), width // 4))
        radius = max(1, round(radius_cm * per_cm * length / (length_cm * per_cm)))
        found = _block_shifts(a, b, knots, drift, length, radius)
        if found is None:
            if skip_weak:
                continue
            break
        drift = _fit_drift(knots, *found, dx, max_speed_change)
    return drift


def _columns(knots: np.ndarray, drift: np.ndarray, width: int) -> np.ndarray:
    """float32 [width]: the reference column each scan column shows, for a drift (scan x less reference
    x) at ``knots`` along the reference whose slope is above -1 (the columns stay in order)."""
    reference_x = np.arange(width, dtype=np.float64)
    scan_x = reference_x + np.interp(reference_x, knots, drift)  # increasing: its slope is bounded
    columns = np.interp(np.arange(width, dtype=np.float64), scan_x, reference_x, left=np.nan, right=np.nan)
    ends = np.isnan(columns)  # beyond the reference's ends: the shift at that end
    if ends.any():
        x = np.arange(width, dtype=np.float64)
        columns[ends] = np.where(x[ends] < scan_x[0], x[ends] - drift[0], x[ends] - drift[-1])
    return columns.astype(np.float32)


_KNOT_CM = 62.5  # the drift's knots along the vehicle
# (length, search radius) in cm of the blocks compared, coarse to fine; a scan shorter than four blocks
# has shorter ones, searched as far for their length
_BLOCKS_CM = ((187.5, 40.0), (187.5, 20.0), (94.0, 5.0), (62.5, 2.0))
_REFINED_STAGES = 2  # ``refine_warp`` runs the finest two again
_MIN_BLOCKS = 3  # fewer blocks that show something: the shift alone
_MIN_WEIGHT = 0.1  # a block's weight (its squared correlation, less where it shows little) to count
_MIN_BLOCK_PX = 16  # a scan narrower than four such blocks is aligned by a shift alone


def _band_profiles(image: np.ndarray) -> np.ndarray:
    """The gradients of the column sums of an image's upper and lower half, one after the other with a
    gap of zeros: one profile whose blocks compare both bands at once."""
    half = image.shape[0] // 2
    upper = np.gradient(image[:half].sum(axis=0, dtype=np.float64))
    lower = np.gradient(image[half:].sum(axis=0, dtype=np.float64))
    return np.stack((upper, lower))


def _block_shifts(
    scan: np.ndarray, reference: np.ndarray, knots: np.ndarray, drift: np.ndarray, length: int, radius: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(centres, shifts, weights) of the blocks of ``length`` reference columns, half overlapping, each
    searched within ``radius`` of the current ``drift``; None when too few show anything."""
    width = reference.shape[1]
    starts = np.arange(0, width - length + 1, length // 2, dtype=np.int64)
    if len(starts) < _MIN_BLOCKS:  # too few blocks to count (none: the image narrower than a block)
        return None
    centres = starts + length / 2
    guess = np.round(np.interp(centres, knots, drift)).astype(np.int64)
    scores = np.zeros((len(starts), 2 * radius + 1))
    energy = np.zeros(len(starts))
    for band in range(reference.shape[0]):
        band_scores = kernels._block_scores(scan[band], reference[band], starts, length, guess, radius)
        # each block's sum of squares, a row of a strided view each: the same sums as block by block
        band_energy = sliding_window_view(reference[band] ** 2, length)[starts].sum(axis=1)
        scores += np.maximum(band_scores, 0.0) * band_energy[:, None]
        energy += band_energy
    scores /= np.maximum(energy, 1e-12)[:, None]
    best = np.argmax(scores, axis=1)
    peak = scores[np.arange(len(starts)), best]
    offsets = np.zeros(len(starts))
    inner = (best > 0) & (best < 2 * radius)
    for i in np.flatnonzero(inner):
        left, middle, right = scores[i, best[i] - 1], scores[i, best[i]], scores[i, best[i] + 1]
        curvature = left - 2 * middle + right
        if curvature < 0:
            offsets[i] = np.clip(0.5 * (left - right) / curvature, -0.5, 0.5)
    shifts = guess + best - radius + offsets
    texture = np.sqrt(energy / length)
    typical = np.median(texture[texture > 0]) if np.any(texture > 0) else 0.0
    weights = peak**2 * np.clip(texture / max(typical, 1e-12), 0.0, 1.0) * inner
    weights[weights < _MIN_WEIGHT] = 0.0  # a weak peak (a flat wall, a load the reference lacks): no say
    if np.count_nonzero(weights) < _MIN_BLOCKS:
        return None
    return centres, shifts, weights


def _fit_drift(
    knots: np.ndarray,
    centres: np.ndarray,
    shifts: np.ndarray,
    weights: np.ndarray,
    dx: float,
    max_speed_change: float,
) -> np.ndarray:
    """The drift at ``knots``: least squares through the blocks' shifts, piecewise linear, its second
    differences penalised (a speed changes slowly), blocks more than a few pixels off it discounted;
    then its slope bounded by ``max_speed_change``."""
    n = len(knots)
    position = np.clip(np.searchsorted(knots, centres) - 1, 0, n - 2)
    t = (centres - knots[position]) / (knots[position + 1] - knots[position])
    stiffness = _STIFFNESS * float(np.sum(weights)) / max(n, 1)
    w = weights.copy()
    drift = np.full(n, dx)
    for _ in range(3):
        drift = _penalised_curve(n, position, t, w, shifts, stiffness, dx)
        residual = shifts - (1 - t) * drift[position] - t * drift[position + 1]
        w = weights / (1 + (residual / _OUTLIER_PX) ** 2)
    step = np.diff(knots)
    slopes = np.clip(np.diff(drift) / step, -max_speed_change, max_speed_change)
    support = _sums(position, w * (1 - t), n) + _sums(position + 1, w * t, n)
    anchor = int(np.argmax(support))  # the best-supported knot stays where the fit put it
    bounded = np.concatenate(([0.0], np.cumsum(slopes * step)))
    return np.asarray(bounded - bounded[anchor] + drift[anchor], dtype=np.float64)


_STIFFNESS = 1.0  # weight of a knot's bend against a block's misfit


def _penalised_curve(
    n: int,
    position: np.ndarray,
    t: np.ndarray,
    weights: np.ndarray,
    values: np.ndarray,
    stiffness: float,
    prior: float = 0.0,
) -> np.ndarray:
    """The ``n`` knots of a piecewise linear curve through ``values`` (each at ``t`` between knots
    ``position`` and ``position + 1``, weighted), by least squares with its second differences
    penalised by ``stiffness`` and a whisper (1e-6) towards ``prior``: a banded system, solved as one."""
    diagonal = _sums(position, weights * (1 - t) ** 2, n) + _sums(position + 1, weights * t**2, n)
    beside = _sums(position, weights * (1 - t) * t, n)[: n - 1]
    right = _sums(position, weights * (1 - t) * values, n) + _sums(position + 1, weights * t * values, n)
    beyond = np.zeros(max(n - 2, 0))
    if n > 2:  # each bend (1, -2, 1) over three knots
        diagonal[:-2] += stiffness
        diagonal[1:-1] += 4 * stiffness
        diagonal[2:] += stiffness
        beside[:-1] -= 2 * stiffness
        beside[1:] -= 2 * stiffness
        beyond += stiffness
    banded = np.zeros((3, n))
    banded[2] = diagonal + 1e-6
    banded[1, 1:] = beside
    banded[0, 2:] = beyond
    return np.asarray(linalg.solveh_banded(banded, right + 1e-6 * prior), dtype=np.float64)


def _sums(index: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """float64 [n]: the sum of ``values`` at each index."""
    return np.bincount(index, values, n).astype(np.float64)


_OUTLIER_PX = 3.0  # blocks this far off the fit count half


def follow_path(
    scan: np.ndarray,
    reference: np.ndarray,
    first: Warp,
    reach_px: int,
    refine_px: int = 0,
    pixel_mm: float = 5.0,
    cargo_rows: tuple[int, int] | None = None,
) -> Warp:
    """``first`` (a warp of ``estimate_warp``) followed column by column: for a vehicle that slowed
    almost to a halt in the portal, whose scan draws one short part of it out over many columns, which
    no bounded change of scale follows (attenuation images of one shape).

    The scan's columns are matched to the reference's in order (``_kernels._column_path``, dynamic time
    warping) by the mean attenuation of ``PATH_BANDS`` bands of rows over both vehicles, within
    ``reach_px`` of ``first``. The rows of ``cargo_rows`` (the reference's cargo space, start and end)
    are left out: a load the empty reference lacks would draw the path. A column repeated on either side
    costs ``PATH_PENALTY``, a band's difference counts at most ``PATH_CAP``. The path is smoothed
    (``_smooth_path``), since a speed changes smoothly, each column weighted by the edges it paired
    (``_path_weights``); ``first``'s rows' shift is kept. With
    ``refine_px``, the reference moved along the path is matched to the scan again in blocks of
    ``REFINE_BLOCK_CM`` within that many pixels and the two warps composed: band means place a chassis's
    cross-members only roughly. ``pixel_mm``: the pixel size along the vehicle (square pixels)."""
    width = scan.shape[1]
    if reach_px < 1 or width < 2 or reference.shape != scan.shape:
        return first
    lift = round(first.dy)
    moved = Warp.shift(0.0, float(lift), width).move(reference)  # the reference's rows where the scan's are
    shows = np.max(scan, axis=1, initial=0.0) + np.max(moved, axis=1, initial=0.0) > MATERIAL_ATTENUATION
    if cargo_rows is not None:  # a load the empty reference lacks would draw the path: not matched
        shows[max(cargo_rows[0] + lift, 0) : max(cargo_rows[1] + lift, 0)] = False
    rows = np.flatnonzero(shows)
    if len(rows) < PATH_BANDS:
        return first
    bands = np.array_split(rows, PATH_BANDS)
    a = np.stack([scan[band].mean(axis=0) for band in bands])
    b = np.stack([moved[band].mean(axis=0) for band in bands])
    guide = np.clip(first.columns.astype(np.float64), -reach_px, width + reach_px)
    base = np.maximum.accumulate(np.round(guide).astype(np.int64) - reach_px)
    path = kernels._column_path(
        np.ascontiguousarray(a, dtype=np.float64),
        np.ascontiguousarray(b, dtype=np.float64),
        base,
        2 * reach_px + 1,
        PATH_PENALTY,
        PATH_CAP,
    )
    if np.any(path < 0):
        return first
    knot_px = max(2, round(PATH_KNOT_CM * 10 / pixel_mm))
    followed = Warp(_smooth_path(path, knot_px, _path_weights(a, b, path)), first.dy)
    if refine_px < 1:
        return followed
    moved = followed.move(reference)  # its blocks' shifts joined by a curve that may bend every half block
    a, b = _band_profiles(scan), _band_profiles(moved)
    length = max(_MIN_BLOCK_PX, round(REFINE_BLOCK_CM * 10 / pixel_mm))
    knots = np.arange(0.0, width + length // 2, length // 2)
    found = _block_shifts(a, b, knots, np.zeros(len(knots)), length, refine_px)
    if found is None:
        return followed
    finer = _columns(knots, _fit_drift(knots, *found, 0.0, REFINE_SLOPE), width)
    x = np.arange(width, dtype=np.float64)
    columns = np.interp(finer.astype(np.float64), x, followed.columns.astype(np.float64))
    return Warp(np.maximum.accumulate(columns).astype(np.float32), first.dy)


PATH_BANDS = 8  # bands of rows whose mean attenuations are matched column by column
PATH_PENALTY = 0.05  # a repeated column's cost, against a pair's summed difference of band means
PATH_CAP = 0.5  # most one band's difference counts
PATH_KNOT_CM = 10.0  # the followed path is a curve that may bend this often
PATH_STIFFNESS = 15.0  # weight of its bends (second differences, px) against a column's misfit (px)
PATH_EDGE = 0.1  # a column pairs an edge (its band means' change per column, summed) this strong or more
PATH_FLOOR = 1e-3  # the weight of a column that pairs no edge (a flat wall, the cab's open space)
REFINE_BLOCK_CM = 15.0  # a path is matched again in blocks this long
REFINE_SLOPE = 0.8  # its correction's largest slope (the columns stay in order)


def _path_weights(scan_bands: np.ndarray, reference_bands: np.ndarray, path: np.ndarray) -> np.ndarray:
    """float64 [W]: how far each scan column of a matched ``path`` is to be trusted: the weaker of the
    scan's edge at the column and the reference's at the column it met (the change per column of their
    band means, ``scan_bands`` [K, W] and ``reference_bands`` [K, W], summed over the bands), as a
    share of ``PATH_EDGE`` divided among the scan columns that met one reference column, then held
    between ``PATH_FLOOR`` and 1: a weak edge met by many columns counts about once, one many times
    ``PATH_EDGE`` strong keeps a full say for as many columns. Only an edge met by an edge places the
    path: along a flat wall any pairing matches equally, and the matching piles its repeated columns at
    one end of it, against one edge of the reference that only one of them truly shows."""
    scan_edges = np.abs(np.gradient(scan_bands, axis=1)).sum(axis=0)
    reference_edges = np.abs(np.gradient(reference_bands, axis=1)).sum(axis=0)
    met = np.clip(np.round(path).astype(np.int64), 0, reference_bands.shape[1] - 1)
    shared = np.bincount(met, minlength=reference_bands.shape[1])[met]  # columns that met each one
    trust = np.minimum(scan_edges, reference_edges[met]) / PATH_EDGE / shared
    return np.asarray(np.clip(trust, PATH_FLOOR, 1.0), dtype=np.float64)


def _smooth_path(path: np.ndarray, knot_px: int, weights: np.ndarray) -> np.ndarray:
    """float32: a path's columns as a piecewise linear curve with knots every ``knot_px`` scan columns,
    its bends penalised: a speed changes smoothly, so the column steps of a matching path (which repeat
    columns wherever matching cannot tell, in a flat wall) are spread over the stretch; kept in order.
    ``weights`` (``_path_weights``): each column's say against the bends, whose weight scales with
    their mean, so between the columns that pair edges the curve runs nearly straight."""
    width = len(path)
    knots = np.arange(0.0, width - 1 + knot_px, knot_px)
    n = len(knots)
    if n < 3:
        return np.maximum.accumulate(path).astype(np.float32)
    x = np.arange(width, dtype=np.float64)
    position = np.clip(np.searchsorted(knots, x, side="right") - 1, 0, n - 2)
    t = (x - knots[position]) / knot_px
    # a knot's columns against its bend
    stiffness = PATH_STIFFNESS * knot_px * float(np.mean(weights))
    curve = _penalised_curve(n, position, t, weights, path, stiffness)
    return np.maximum.accumulate(np.interp(x, knots, curve)).astype(np.float32)


@dataclass(frozen=True)
class PixelSize:
    """A scan's pixel size along the vehicle (between columns, set by the drive's speed past the portal)
    and across it (between rows, the detector pitch at the vehicle), in mm."""

    along_mm: float
    across_mm: float

    @classmethod
    def square(cls, size_mm: float) -> PixelSize:
        return cls(size_mm, size_mm)

    @property
    def is_square(self) -> bool:
        return abs(self.along_mm / self.across_mm - 1) <= SAME_SCALE

    def describe(self) -> str:
        if self.is_square:
            return f"{self.across_mm:.2f} mm"
        return f"{self.along_mm:.2f} mm along x {self.across_mm:.2f} mm across"


def square_pixels(image: np.ndarray, pixel: PixelSize) -> tuple[np.ndarray, float]:
    """A uint16 [H, W] scan resampled along the vehicle to square pixels of ``pixel.across_mm`` (its
    rows kept), and the factor its columns were scaled by (new columns per old column); the scan and 1
    when its pixels are square already."""
    if pixel.is_square:
        return image, 1.0
    factor = pixel.along_mm / pixel.across_mm
    width = max(1, round(image.shape[1] * factor))
    interpolation = cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR
    resized = np.asarray(cv2.resize(image, (width, image.shape[0]), interpolation=interpolation))
    return resized, width / image.shape[1]


@dataclass(frozen=True, eq=False)
class Fitted:
    """A reference in a scan's geometry: its attenuation at the scan's shape and pixel size.

    ``lower_bound`` marks the resampled pixels that mix saturated reference pixels (no photon through,
    attenuation known only to be at least ln 65535) with others: their value is only a lower bound, so
    the comparison does not judge the scan there. None when the reference was not resampled.
    """

    reference: Reference
    attenuation: np.ndarray  # float32, the scan's [H, W]
    cargo_box: BoxPx | None  # the cargo space in the scan's pixels (before the shift)
    pixel_size_mm: float | None  # of the fitted image
    scale: tuple[float, float]  # (x, y): fitted pixels per reference pixel
    lower_bound: np.ndarray | None = None  # bool, the scan's [H, W]
    down: int = 0  # rows the reference was moved down from its bottom row on the scan's


def scale_to_scan(reference: Reference, height: int, pixel_size_mm: float | None) -> float:
    """How many scan pixels one reference pixel spans: the ratio of the pixel sizes when both are known,
    else of the image heights (a portal image's height spans its field of view); 1 within 0.1 %."""
    if pixel_size_mm and reference.pixel_size_mm:
        scale = reference.pixel_size_mm / pixel_size_mm
    else:
        scale = height / reference.high_energy.shape[0]
    return 1.0 if abs(scale - 1) <= SAME_SCALE else scale


def fit_reference(
    reference: Reference,
    shape: tuple[int, int],
    pixel_size_mm: float | None,
    reference_attenuation: np.ndarray | None = None,
    scan_gap: int | None = None,
    down: int | None = None,
) -> Fitted:
    """The reference resampled to the scan's pixel size (``cv2.resize`` of its attenuation, or of
    ``reference_attenuation`` when the caller computed it once), then padded or cut to the scan's shape
    keeping the front (left columns) and the ground: its bottom row on the scan's, or, given the rows
    below the vehicle's lowest point in the scan (``scan_gap``, ``scanner.ground_gap``), its own lowest
    point as far above the scan's bottom; or moved ``down`` rows from its bottom row on the scan's
    (the parts of one vehicle move together). Its cargo box scaled and moved with it."""
    ref = reference_attenuation
    if ref is None:
        ref = attenuation(np.ascontiguousarray(reference.high_energy))
    height, width = ref.shape
    scale = scale_to_scan(reference, shape[0], pixel_size_mm)
    lower_bound = None
    if scale == 1.0:
        resized, size, scale_xy = ref, (width, height), (1.0, 1.0)
        pixel = reference.pixel_size_mm
    else:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        resized = np.asarray(cv2.resize(ref, size, interpolation=interpolation))
        saturated = (reference.high_energy <= 1).astype(np.float32)
        mixed = np.asarray(cv2.resize(saturated, size, interpolation=interpolation))
        scale_xy = (size[0] / width, size[1] / height)  # as resized, exactly
        pixel = reference.pixel_size_mm / scale_xy[1] if reference.pixel_size_mm else None
    if down is None:
        down = reference_gap(resized) - scan_gap if scan_gap is not None else 0
    if scale != 1.0:
        lower_bound = _placed(((mixed > 0) & (mixed < 1)).astype(np.float32), shape, down) > 0
    cargo = reference.cargo_box
    if cargo is not None:
        cargo = scaled_box(cargo, scale_xy, shape[0] - size[1] + down)
    return Fitted(reference, _placed(resized, shape, down), cargo, pixel, scale_xy, lower_bound, down)


def reference_gap(reference: np.ndarray) -> int:
    """``scanner.gap_below`` of a reference's attenuation: the rows below its vehicle's lowest point."""
    return gap_below(reference > np.float32(MATERIAL_ATTENUATION))


def _placed(image: np.ndarray, shape: tuple[int, int], down: int = 0) -> np.ndarray:
    """``image`` padded with zeros or cut to ``shape``, its left columns kept and its bottom row on the
    shape's bottom row, then moved ``down`` rows (up when negative)."""
    placed = np.zeros(shape, dtype=np.float32)
    width = min(shape[1], image.shape[1])
    top = shape[0] - image.shape[0] + down  # the image's first row in the shape's rows
    y0, y1 = max(top, 0), min(top + image.shape[0], shape[0])
    if y1 > y0:
        placed[y0:y1, :width] = image[y0 - top : y1 - top, :width]
    return placed


def scaled_box(box: BoxPx, scale: tuple[float, float], dy: int = 0) -> BoxPx:
    """A pixel box of an image resized by ``scale`` (x, y), then moved down by ``dy`` rows; it still
    covers every pixel the original did."""
    x0, y0, x1, y1 = box
    sx, sy = scale
    return (math.floor(x0 * sx), math.floor(y0 * sy) + dy, math.ceil(x1 * sx), math.ceil(y1 * sy) + dy)


def outline_mismatch(scan_inside: np.ndarray, reference_inside: np.ndarray, tolerance_px: float) -> float:
    """How badly two outlines (bool [H, W]) line up: the share of the pixels on either one's edge lying
    further than ``tolerance_px`` from the other's edge, averaged over both. 0 for outlines that match
    within the tolerance; a scan stretched along the vehicle, or aligned by a wrong shift, moves its
    front, rear, wheels and steps of its roof line; a load on the roof adds an edge of its own."""
    scan_edge, reference_edge = _edge(scan_inside), _edge(reference_inside)
    if not scan_edge.any() or not reference_edge.any():
        return 1.0 if scan_edge.any() != reference_edge.any() else 0.0
    far_from_scan = _distance_to(scan_edge)[reference_edge] > tolerance_px
    far_from_reference = _distance_to(reference_edge)[scan_edge] > tolerance_px
    return float((np.mean(far_from_scan) + np.mean(far_from_reference)) / 2)


def _edge(inside: np.ndarray) -> np.ndarray:
    mask = inside.view(np.uint8) if inside.dtype == np.bool_ else inside.astype(np.uint8)
    return np.asarray(mask - cv2.erode(mask, np.ones((3, 3), np.uint8))) > 0


def _distance_to(edge: np.ndarray) -> np.ndarray:
    return np.asarray(cv2.distanceTransform((~edge).view(np.uint8), cv2.DIST_L2, 3))
