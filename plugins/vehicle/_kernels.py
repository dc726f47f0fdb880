"""Numba kernels of the vehicle comparison: private, pure functions over arrays, no argument checks.

``alignment`` and ``compare`` check dtypes and shapes and carry the documentation.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def _attenuation(image: np.ndarray, full_scale: float, out: np.ndarray) -> None:  # pragma: no cover
    """out = -ln(max(image, 1) / full_scale): the line integral of attenuation, float32 [H, W]."""
    height, width = image.shape
    for y in range(height):
        for x in range(width):
            value = max(float(image[y, x]), 1.0)
            out[y, x] = -math.log(value / full_scale)


@njit(cache=True, nogil=True)
def _noise_sigma(
    attenuation: np.ndarray, photons: float, window: int, out: np.ndarray
) -> None:  # pragma: no cover
    """Standard deviation of the mean of a window x window block of attenuation values, from photon
    noise: one pixel's is 1 / sqrt(photons * transmission)."""
    height, width = attenuation.shape
    for y in range(height):
        for x in range(width):
            transmission = math.exp(-attenuation[y, x])
            out[y, x] = 1.0 / math.sqrt(max(photons * transmission, 1e-6)) / window


@njit(cache=True, nogil=True)
def _anomaly_mask(
    difference: np.ndarray,
    noise: np.ndarray,
    edges: np.ndarray,
    min_z: float,
    min_attenuation: float,
    out: np.ndarray,
) -> int:  # pragma: no cover
    """out = 1 where |difference| exceeds both min_attenuation and min_z standard deviations of the
    noise and edge terms combined; 2 for a deficit (less material than the reference). Return the count."""
    height, width = difference.shape
    count = 0
    for y in range(height):
        for x in range(width):
            d = difference[y, x]
            sigma = math.sqrt(noise[y, x] * noise[y, x] + edges[y, x] * edges[y, x])
            if abs(d) >= min_attenuation and abs(d) >= min_z * sigma:
                out[y, x] = 1 if d > 0 else 2
                count += 1
            else:
                out[y, x] = 0
    return count


@njit(cache=True, nogil=True)
def _levelled_attenuation(
    image: np.ndarray, open_beam: float, dark: float, floor_attenuation: float, out: np.ndarray
) -> None:  # pragma: no cover
    """out = -ln t, t = (image - dark) / (open_beam - dark), at most floor_attenuation: float32 [H, W]."""
    height, width = image.shape
    span = max(open_beam - dark, 1.0)
    lowest = math.exp(-floor_attenuation)
    for y in range(height):
        for x in range(width):
            t = (float(image[y, x]) - dark) / span
            out[y, x] = -math.log(max(t, lowest))


@njit(cache=True, nogil=True)
def _mark_levels(image: np.ndarray, used: np.ndarray) -> None:  # pragma: no cover
    """used[v] = True for every count v a uint16 [H, W] image holds (``used``: bool [65536], False)."""
    height, width = image.shape
    for y in range(height):
        for x in range(width):
            used[image[y, x]] = True


@njit(cache=True, nogil=True)
def _block_scores(
    scan: np.ndarray, reference: np.ndarray, starts: np.ndarray, length: int, centres: np.ndarray, radius: int
) -> np.ndarray:  # pragma: no cover
    """Normalised cross-correlation of blocks of two 1D profiles: out[b, k] compares
    reference[starts[b] : starts[b] + length] with scan shifted by s = centres[b] + k - radius; -1 where
    the shifted block leaves the scan or either block is flat."""
    n = scan.shape[0]
    blocks = starts.shape[0]
    out = np.full((blocks, 2 * radius + 1), -1.0)
    for b in range(blocks):
        lo = starts[b]
        mean_b = 0.0
        for i in range(lo, lo + length):
            mean_b += reference[i]
        mean_b /= length
        var_b = 0.0
        for i in range(lo, lo + length):
            var_b += (reference[i] - mean_b) ** 2
        if var_b <= 0.0:
            continue
        for k in range(2 * radius + 1):
            s = centres[b] + k - radius
            if lo + s < 0 or lo + length + s > n:
                continue
            mean_a = 0.0
            for i in range(lo, lo + length):
                mean_a += scan[i + s]
            mean_a /= length
            cross, var_a = 0.0, 0.0
            for i in range(lo, lo + length):
                a = scan[i + s] - mean_a
                cross += a * (reference[i] - mean_b)
                var_a += a * a
            if var_a > 0.0:
                out[b, k] = cross / math.sqrt(var_a * var_b)
    return out


@njit(cache=True, nogil=True)
def _nonzero_box(image: np.ndarray, out: np.ndarray) -> None:  # pragma: no cover
    """out (int64 [4]) = x0, y0, x1, y1: the box (ends excluded) of the pixels that are not 0 (NaN
    counts); 0, 0, 0, 0 when every pixel is 0. float32 [H, W]."""
    height, width = image.shape
    row0, row1, col0, col1 = height, 0, width, 0
    for y in range(height):
        first = -1
        for x in range(width):
            if image[y, x] != 0:
                first = x
                break
        if first < 0:
            continue
        last = first
        for x in range(width - 1, first, -1):
            if image[y, x] != 0:
                last = x
                break
        row0 = min(row0, y)
        row1 = y + 1
        col0 = min(col0, first)
        col1 = max(col1, last + 1)
    if row1 == 0:
        row0, col0 = 0, 0
    out[0], out[1], out[2], out[3] = col0, row0, col1, row1


@njit(cache=True, nogil=True)
def _warp_columns(
    image: np.ndarray, columns: np.ndarray, dy: float, replicate: bool, out: np.ndarray
) -> None:  # pragma: no cover
    """out[y, x] = image[y - dy, columns[x]], bilinear; outside the image 0, or its nearest edge pixel
    with ``replicate``. float32 [H, W] each."""
    height, width = image.shape
    out_width = columns.shape[0]
    left = np.empty(out_width, dtype=np.int64)
    share = np.empty(out_width, dtype=np.float32)
    for x in range(out_width):
        x0 = math.floor(columns[x])
        left[x] = x0
        share[x] = columns[x] - x0
    for y in range(out.shape[0]):
        fy = y - dy
        y0 = math.floor(fy)
        wy = np.float32(fy - y0)
        rows_inside = y0 >= 0 and y0 + 1 < height
        for x in range(out_width):
            x0 = left[x]
            wx = share[x]
            if rows_inside and x0 >= 0 and x0 + 1 < width:  # inside: the common case
                top = image[y0, x0] + wx * (image[y0, x0 + 1] - image[y0, x0])
                bottom = image[y0 + 1, x0] + wx * (image[y0 + 1, x0 + 1] - image[y0 + 1, x0])
                out[y, x] = top + wy * (bottom - top)
                continue
            total = 0.0  # at the border
            for j in range(2):
                yy = y0 + j
                if yy < 0 or yy >= height:
                    if not replicate:
                        continue
                    yy = min(max(yy, 0), height - 1)
                for i in range(2):
                    xx = x0 + i
                    if xx < 0 or xx >= width:
                        if not replicate:
                            continue
                        xx = min(max(xx, 0), width - 1)
                    total += (wy if j else 1.0 - wy) * (wx if i else 1.0 - wx) * image[yy, xx]
            out[y, x] = total


@njit(cache=True, nogil=True)
def _lag_scores(
    residual: np.ndarray, profile: np.ndarray, x0: int, x1: int, lo: int, hi: int
) -> np.ndarray:  # pragma: no cover
    """out[k] = sum over bands b and columns x0 <= x < x1 of residual[b, x + s] * profile[b, x] for the
    lag s = lo + k, lo <= s <= hi (columns leaving the residual count 0): the cross term of the squared
    misfit of ``profile`` moved by s against ``residual``. float64 [bands, W] each."""
    bands, width = residual.shape
    out = np.zeros(hi - lo + 1)
    for k in range(hi - lo + 1):
        s = lo + k
        total = 0.0
        for b in range(bands):
            for x in range(max(x0, -s), min(x1, width - s)):
                total += residual[b, x + s] * profile[b, x]
        out[k] = total
    return out


@njit(cache=True, nogil=True)
def _column_path(
    scan: np.ndarray, reference: np.ndarray, base: np.ndarray, band: int, penalty: float, cap: float
) -> np.ndarray:  # pragma: no cover
    """The cheapest monotonic path of scan columns through reference columns (dynamic time warping):
    ``scan`` [K, W] and ``reference`` [K, R] column features; scan column i may meet reference columns
    base[i] .. base[i] + band - 1 (base non-decreasing). A step matches the next column of both (free),
    or repeats one side's column (``penalty``); a pair costs the sum over features of its absolute
    difference, each at most ``cap``; the path may start and end anywhere in its band. Returns the
    reference column each scan column meets (the mean where it meets several), float64 [W]; all -1 when
    no path reaches the last scan column."""
    features, width = scan.shape
    ref_width = reference.shape[1]
    inf = np.inf
    cost = np.full((width, band), inf)
    step = np.zeros((width, band), dtype=np.int8)  # 0 start, 1 diagonal, 2 from the scan's last, 3 same
    for i in range(width):
        for k in range(band):
            j = base[i] + k
            if j < 0 or j >= ref_width:
                continue
            pair = 0.0
            for f in range(features):
                pair += min(abs(scan[f, i] - reference[f, j]), cap)
            best, how = inf, 0
            if i == 0:
                best = 0.0
            else:
                kd = j - 1 - base[i - 1]  # diagonal: (i - 1, j - 1)
                if 0 <= kd < band and cost[i - 1, kd] < best:
                    best, how = cost[i - 1, kd], 1
                kv = j - base[i - 1]  # the reference's column again: (i - 1, j)
                if 0 <= kv < band and cost[i - 1, kv] + penalty < best:
                    best, how = cost[i - 1, kv] + penalty, 2
            if k > 0 and cost[i, k - 1] + penalty < best:  # the scan's column again: (i, j - 1)
                best, how = cost[i, k - 1] + penalty, 3
            if best < inf:
                cost[i, k] = best + pair
                step[i, k] = how
    out = np.full(width, -1.0)
    last = width - 1
    k = 0
    for kk in range(band):
        if cost[last, kk] < cost[last, k]:
            k = kk
    if cost[last, k] == inf:
        return out
    i = last
    total, count = 0.0, 0
    while True:
        j = base[i] + k
        total += j
        count += 1
        how = step[i, k]
        if how == 3:
            k -= 1
            continue
        out[i] = total / count
        total, count = 0.0, 0
        if how == 0 or i == 0:
            break
        k = (j - 1 if how == 1 else j) - base[i - 1]
        i -= 1
    return out
