"""Numba kernels of the X-ray plugins: private, pure functions over arrays, no argument checks.

The public wrappers in ``materials.py``, ``_recognition.py`` and ``dense_region.py`` check dtypes and
shapes and carry the documentation. Line integrals are ``L = -ln(value / full_scale)``; ``a`` and ``b``
are the equivalent thicknesses (cm) of the two basis materials (organic and metal) that explain a
pixel's two line integrals.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

# The map's classes. numba freezes them into the compiled kernels, and its cache watches this file only:
# a change to them in materials.py needs the cache cleared (the __pycache__ *.nbi / *.nbc files).
from smartcustoms.plugins.xray.materials import EMPTY, INORGANIC, METAL, OPAQUE, ORGANIC


@njit(cache=True)
def _decompose(
    image: np.ndarray,
    lut: np.ndarray,
    inverse: np.ndarray,
    ratio_inorganic: float,
    ratio_metal: float,
    empty_line_integral: float,
    opaque_counts: int,
    classes: np.ndarray,
    a_half: np.ndarray,
    b_half: np.ndarray,
    a_rows: np.ndarray,
    a_cols: np.ndarray,
) -> None:  # pragma: no cover
    """One pass over a dual-energy image: the material class per pixel, and basis thicknesses binned.

    image (2, H, W) uint16, channel 0 high energy; lut maps a count to its line integral.
    classes (H, W): EMPTY when the high-energy line integral is below ``empty_line_integral``, OPAQUE
    when either channel counts below ``opaque_counts``, else ORGANIC / INORGANIC / METAL by the ratio
    low / high of the line integrals. a_half, b_half (H/2, W/2): means over 2 x 2 pixels. a_rows
    (H/4, W): ``a`` averaged over 4 rows; a_cols (H, W/4): over 4 columns (texture along x and y).
    """
    _, height, width = image.shape
    i00, i01, i10, i11 = inverse[0, 0], inverse[0, 1], inverse[1, 0], inverse[1, 1]
    a_half[:] = 0.0
    b_half[:] = 0.0
    a_rows[:] = 0.0
    a_cols[:] = 0.0
    h2, w2 = a_half.shape
    h4 = a_rows.shape[0]
    w4 = a_cols.shape[1]
    for y in range(height):
        for x in range(width):
            high, low = image[0, y, x], image[1, y, x]
            l_high, l_low = lut[high], lut[low]
            a = i00 * l_high + i01 * l_low
            b = i10 * l_high + i11 * l_low
            if l_high < empty_line_integral:
                classes[y, x] = EMPTY
            elif high < opaque_counts or low < opaque_counts:
                classes[y, x] = OPAQUE
            else:
                ratio = l_low / l_high
                if ratio < ratio_inorganic:
                    classes[y, x] = ORGANIC
                elif ratio < ratio_metal:
                    classes[y, x] = INORGANIC
                else:
                    classes[y, x] = METAL
            if y // 2 < h2 and x // 2 < w2:
                a_half[y // 2, x // 2] += 0.25 * a
                b_half[y // 2, x // 2] += 0.25 * b
            if y // 4 < h4:
                a_rows[y // 4, x] += 0.25 * a
            if x // 4 < w4:
                a_cols[y, x // 4] += 0.25 * a


@njit(cache=True)
def _bin_mean(source: np.ndarray, factor: int, out: np.ndarray) -> None:  # pragma: no cover
    """out[i, j] = mean of source over the factor x factor block at (i, j)."""
    rows, cols = out.shape
    scale = 1.0 / (factor * factor)
    for i in range(rows):
        for j in range(cols):
            total = 0.0
            for y in range(i * factor, (i + 1) * factor):
                for x in range(j * factor, (j + 1) * factor):
                    total += source[y, x]
            out[i, j] = total * scale


@njit(cache=True)
def _periodicity(
    signal: np.ndarray,
    half: int,
    period: int,
    cap: float,
    along: int,
    across: int,
    step: int,
    out: np.ndarray,
) -> None:  # pragma: no cover
    """Periodic-texture strength along axis 1 of ``signal`` (rows are independent lines).

    With D(l) the mean over a window of min(|s(x + l) - s(x)|, cap), the strength is
    D(half) + D(period + half) - 2 D(period): zero for steps, lines and ramps (their D grows
    linearly with the lag or is constant), positive for a pattern repeating every ``period``.
    The window is ``along`` samples along the line and ``across`` lines; out[r, x // step].
    """
    rows, length = signal.shape
    longest = period + half
    combined = np.zeros((rows, length + 1))
    for r in range(rows):
        running = 0.0
        for x in range(length):
            if x + longest < length:
                s = signal[r, x]
                d_half = min(abs(signal[r, x + half] - s), cap)
                d_late = min(abs(signal[r, x + longest] - s), cap)
                d_full = min(abs(signal[r, x + period] - s), cap)
                running += d_half + d_late - 2.0 * d_full
            combined[r, x + 1] = running  # prefix sums along the line
    out_rows, out_cols = out.shape
    line = np.zeros(rows + 1)
    for j in range(out_cols):
        centre = j * step + step // 2
        x0 = max(0, centre - along // 2)
        x1 = min(length, centre + along // 2 + 1)
        for r in range(rows):
            line[r + 1] = line[r] + combined[r, x1] - combined[r, x0]
        for i in range(out_rows):
            r0 = max(0, i - across // 2)
            r1 = min(rows, i + across // 2 + 1)
            out[i, j] = (line[r1] - line[r0]) / ((x1 - x0) * (r1 - r0))


@njit(cache=True)
def _label(mask: np.ndarray, labels: np.ndarray) -> int:  # pragma: no cover
    """8-connected components of a boolean mask: labels 1..n (0 background); returns n."""
    rows, cols = mask.shape
    labels[:] = 0
    count = 0
    stack = np.empty((rows * cols, 2), dtype=np.int64)
    for y0 in range(rows):
        for x0 in range(cols):
            if not mask[y0, x0] or labels[y0, x0] != 0:
                continue
            count += 1
            labels[y0, x0] = count
            top = 0
            stack[0, 0], stack[0, 1] = y0, x0
            top = 1
            while top > 0:
                top -= 1
                y, x = stack[top, 0], stack[top, 1]
                for dy in range(-1, 2):
                    for dx in range(-1, 2):
                        ny, nx = y + dy, x + dx
                        if 0 <= ny < rows and 0 <= nx < cols and mask[ny, nx] and labels[ny, nx] == 0:
                            labels[ny, nx] = count
                            stack[top, 0], stack[top, 1] = ny, nx
                            top += 1
    return count


@njit(cache=True)
def _peaks(
    score: np.ndarray, floor: float, radius_y: int, radius_x: int, most: int
) -> np.ndarray:  # pragma: no cover
    """Up to ``most`` local maxima above ``floor``, strongest first, each suppressing its neighbourhood.

    Returns an int64 array (n, 2) of (row, column).
    """
    work = score.copy()
    rows, cols = work.shape
    found = np.empty((most, 2), dtype=np.int64)
    n = 0
    while n < most:
        best, by, bx = floor, -1, -1
        for y in range(rows):
            for x in range(cols):
                if work[y, x] > best:
                    best, by, bx = work[y, x], y, x
        if by < 0:
            break
        found[n, 0], found[n, 1] = by, bx
        n += 1
        for y in range(max(0, by - radius_y), min(rows, by + radius_y + 1)):
            for x in range(max(0, bx - radius_x), min(cols, bx + radius_x + 1)):
                work[y, x] = -math.inf
    return found[:n]


@njit(cache=True)
def _match_statistics(
    a_map: np.ndarray, b_map: np.ndarray, a_sig: np.ndarray, b_sig: np.ndarray, y: int, x: int, support: float
) -> np.ndarray:  # pragma: no cover
    """How well a signature placed with its top-left corner at (y, x) is explained by the image.

    Clutter only adds attenuation, so where the object is, the image holds at least the object's
    equivalent thickness. Returns float64[7]: metal coverage (sum of min(image, signature) over
    the signature's metal support / its sum), organic coverage (the same for ``a``), median-free
    level (mean image / signature ratio over the metal support), cosine of image and signature metal
    maps over the window, cosine of their gradient magnitudes, the share of support cells where the image
    holds at least half the signature, and the lowest metal coverage of the window's four quadrants (a
    part of the object missing). Cells outside the image count as air.
    """
    rows, cols = b_map.shape
    h, w = b_sig.shape
    quad_cover = np.zeros(4)
    quad_total = np.zeros(4)
    cells_held = 0
    cover_b = total_b = cover_a = total_a = 0.0
    level = 0.0
    n_support = 0
    dot = norm_i = norm_s = 0.0
    gdot = gnorm_i = gnorm_s = 0.0
    for i in range(h):
        for j in range(w):
            yy, xx = y + i, x + j
            inside = 0 <= yy < rows and 0 <= xx < cols
            bi = b_map[yy, xx] if inside else 0.0
            ai = a_map[yy, xx] if inside else 0.0
            bs, as_ = b_sig[i, j], a_sig[i, j]
            if bs > support:
                held = min(max(bi, 0.0), bs)
                cover_b += held
                total_b += bs
                level += bi / bs
                n_support += 1
                if bi >= 0.5 * bs:
                    cells_held += 1
                quadrant = (2 if 2 * i >= h else 0) + (1 if 2 * j >= w else 0)
                quad_cover[quadrant] += held
                quad_total[quadrant] += bs
            if as_ > 0.0:
                cover_a += min(max(ai, 0.0), as_)
                total_a += as_
            dot += bi * bs
            norm_i += bi * bi
            norm_s += bs * bs
            if 0 < i < h - 1 and 0 < j < w - 1 and 1 <= yy < rows - 1 and 1 <= xx < cols - 1:
                gi = math.hypot(b_map[yy + 1, xx] - b_map[yy - 1, xx], b_map[yy, xx + 1] - b_map[yy, xx - 1])
                gs = math.hypot(b_sig[i + 1, j] - b_sig[i - 1, j], b_sig[i, j + 1] - b_sig[i, j - 1])
                gdot += gi * gs
                gnorm_i += gi * gi
                gnorm_s += gs * gs
    out = np.zeros(7)
    out[0] = cover_b / total_b if total_b > 0.0 else 0.0
    out[1] = cover_a / total_a if total_a > 0.0 else 0.0
    out[2] = level / n_support if n_support > 0 else 0.0
    out[3] = dot / math.sqrt(norm_i * norm_s) if norm_i > 0.0 and norm_s > 0.0 else 0.0
    out[4] = gdot / math.sqrt(gnorm_i * gnorm_s) if gnorm_i > 0.0 and gnorm_s > 0.0 else 0.0
    out[5] = cells_held / n_support if n_support > 0 else 0.0
    lowest = 1.0
    for q in range(4):
        if quad_total[q] > 0.05 * total_b:  # quadrants holding a real part of the object
            lowest = min(lowest, quad_cover[q] / quad_total[q])
    out[6] = lowest
    return out


@njit(cache=True)
def _align(
    b_map: np.ndarray, b_sig: np.ndarray, y: int, x: int, reach: int
) -> np.ndarray:  # pragma: no cover
    """The shift (dy, dx) within +-reach of (y, x) where the signature best correlates (zero-mean)."""
    rows, cols = b_map.shape
    h, w = b_sig.shape
    mean_s = 0.0
    for i in range(h):
        for j in range(w):
            mean_s += b_sig[i, j]
    mean_s /= h * w
    best = -math.inf
    best_dy = best_dx = 0
    for dy in range(-reach, reach + 1):
        for dx in range(-reach, reach + 1):
            total = total_i = total_i2 = 0.0
            for i in range(h):
                yy = y + dy + i
                for j in range(w):
                    xx = x + dx + j
                    v = b_map[yy, xx] if 0 <= yy < rows and 0 <= xx < cols else 0.0
                    total += v * (b_sig[i, j] - mean_s)
                    total_i += v
                    total_i2 += v * v
            variance = total_i2 - total_i * total_i / (h * w)
            score = total / math.sqrt(variance) if variance > 1e-12 else -math.inf
            if score > best:
                best, best_dy, best_dx = score, dy, dx
    out = np.zeros(2, dtype=np.int64)
    out[0], out[1] = best_dy, best_dx
    return out


@njit(cache=True)
def _align_all(
    b_map: np.ndarray,
    packed: np.ndarray,
    offsets: np.ndarray,
    shapes: np.ndarray,
    centre_y: float,
    centre_x: float,
    reach: int,
    min_area: float,
    max_area: float,
    scores: np.ndarray,
    placements: np.ndarray,
) -> None:  # pragma: no cover
    """_align for many signatures at once, each centred on (centre_y, centre_x).

    packed holds the signatures one after another (row-major), signature k at offsets[k] with shape
    shapes[k]. Signatures whose area is outside [min_area, max_area] get score -inf. scores[k] is the
    best zero-mean correlation normalised by the window's deviation; placements[k] its top-left (y, x).
    """
    for k in range(shapes.shape[0]):
        h, w = shapes[k, 0], shapes[k, 1]
        if not min_area <= h * w <= max_area:
            scores[k] = -math.inf
            continue
        signature = packed[offsets[k] : offsets[k] + h * w].reshape((h, w))
        y = math.floor(centre_y - h / 2 + 0.5)
        x = math.floor(centre_x - w / 2 + 0.5)
        shift = _align(b_map, signature, y, x, reach)
        placements[k, 0], placements[k, 1] = y + shift[0], x + shift[1]
        scores[k] = _correlation(b_map, signature, y + shift[0], x + shift[1])


@njit(cache=True)
def _correlation(b_map: np.ndarray, b_sig: np.ndarray, y: int, x: int) -> float:  # pragma: no cover
    """Pearson correlation of a signature with the image window under it (cells outside are air)."""
    rows, cols = b_map.shape
    h, w = b_sig.shape
    n = h * w
    sum_i = sum_s = sum_ii = sum_ss = sum_is = 0.0
    for i in range(h):
        for j in range(w):
            yy, xx = y + i, x + j
            v = b_map[yy, xx] if 0 <= yy < rows and 0 <= xx < cols else 0.0
            s = b_sig[i, j]
            sum_i += v
            sum_s += s
            sum_ii += v * v
            sum_ss += s * s
            sum_is += v * s
    var_i = sum_ii - sum_i * sum_i / n
    var_s = sum_ss - sum_s * sum_s / n
    if var_i <= 1e-12 or var_s <= 1e-12:
        return 0.0
    return float((sum_is - sum_i * sum_s / n) / math.sqrt(var_i * var_s))


@njit(cache=True)
def _region_stats(labels: np.ndarray, count: int, strength: np.ndarray) -> np.ndarray:  # pragma: no cover
    """Per label 1..count: cells, peak strength, row min, column min, row max, column max (float64)."""
    stats = np.zeros((count + 1, 6))
    stats[:, 1] = -math.inf
    stats[:, 2] = math.inf
    stats[:, 3] = math.inf
    stats[:, 4] = -math.inf
    stats[:, 5] = -math.inf
    rows, cols = labels.shape
    for y in range(rows):
        for x in range(cols):
            k = labels[y, x]
            if k == 0:
                continue
            stats[k, 0] += 1
            stats[k, 1] = max(stats[k, 1], strength[y, x])
            stats[k, 2] = min(stats[k, 2], y)
            stats[k, 3] = min(stats[k, 3], x)
            stats[k, 4] = max(stats[k, 4], y)
            stats[k, 5] = max(stats[k, 5], x)
    return stats


@njit(cache=True)
def _dense_tile_counts(channel: np.ndarray, threshold: int, tile: int) -> np.ndarray:  # pragma: no cover
    """Per tile x tile block, how many pixels transmit less than ``threshold``."""
    height, width = channel.shape
    rows = (height + tile - 1) // tile
    cols = (width + tile - 1) // tile
    counts = np.zeros((rows, cols), dtype=np.int32)
    for y in range(height):
        row = y // tile
        for x in range(width):
            if channel[y, x] < threshold:
                counts[row, x // tile] += 1
    return counts
