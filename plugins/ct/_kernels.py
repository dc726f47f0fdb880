"""Numba kernels of the CT detector: private, pure functions over arrays, no argument checks.

Volumes are [depth, height, width] = (z, y, x). ``segmentation`` checks dtypes and shapes and carries
the documentation; the public wrappers there (``band_mask``, ``label_components``, ...) call these.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

# Columns of the per-component statistics returned by ``_component_stats``.
STAT_COUNT = 0
STAT_SUM = 1  # sum of voxel values
STAT_SUM_SQ = 2
STAT_Z, STAT_Y, STAT_X = 3, 4, 5  # sums of coordinates (voxel centres at index + 0.5)
STAT_ZZ, STAT_YY, STAT_XX, STAT_ZY, STAT_ZX, STAT_YX = 6, 7, 8, 9, 10, 11  # sums of products
STAT_Z0, STAT_Y0, STAT_X0, STAT_Z1, STAT_Y1, STAT_X1 = 12, 13, 14, 15, 16, 17  # box, max exclusive
STAT_COLUMNS = 18


@njit(cache=True, nogil=True)
def _band_mask(volume: np.ndarray, low: int, high: int, out: np.ndarray) -> int:  # pragma: no cover
    """out = 1 where low <= value < high, else 0; return how many voxels are set."""
    depth, height, width = volume.shape
    count = 0
    for z in range(depth):
        for y in range(height):
            for x in range(width):
                value = volume[z, y, x]
                if low <= value < high:
                    out[z, y, x] = 1
                    count += 1
                else:
                    out[z, y, x] = 0
    return count


@njit(cache=True, nogil=True)
def _erode6(mask: np.ndarray, out: np.ndarray) -> None:  # pragma: no cover
    """out = 1 where a voxel and its six face neighbours are all set (the border is never kept)."""
    depth, height, width = mask.shape
    out[:] = 0
    for z in range(1, depth - 1):
        for y in range(1, height - 1):
            for x in range(1, width - 1):
                if (
                    mask[z, y, x]
                    and mask[z - 1, y, x]
                    and mask[z + 1, y, x]
                    and mask[z, y - 1, x]
                    and mask[z, y + 1, x]
                    and mask[z, y, x - 1]
                    and mask[z, y, x + 1]
                ):
                    out[z, y, x] = 1


@njit(cache=True, nogil=True)
def _label6(mask: np.ndarray, labels: np.ndarray) -> int:  # pragma: no cover
    """6-connected components of ``mask``: labels 1..n in scan order (0 background); return n."""
    depth, height, width = mask.shape
    labels[:] = 0
    stack = np.empty(1024, dtype=np.int64)
    plane = height * width
    current = 0
    for z0 in range(depth):
        for y0 in range(height):
            for x0 in range(width):
                if not mask[z0, y0, x0] or labels[z0, y0, x0]:
                    continue
                current += 1
                labels[z0, y0, x0] = current
                top = 0
                stack[top] = z0 * plane + y0 * width + x0
                top += 1
                while top > 0:
                    top -= 1
                    index = stack[top]
                    z = index // plane
                    y = (index - z * plane) // width
                    x = index - z * plane - y * width
                    for k in range(6):
                        nz, ny, nx = z, y, x
                        if k == 0:
                            nz -= 1
                        elif k == 1:
                            nz += 1
                        elif k == 2:
                            ny -= 1
                        elif k == 3:
                            ny += 1
                        elif k == 4:
                            nx -= 1
                        else:
                            nx += 1
                        if nz < 0 or ny < 0 or nx < 0 or nz >= depth or ny >= height or nx >= width:
                            continue
                        if mask[nz, ny, nx] and not labels[nz, ny, nx]:
                            labels[nz, ny, nx] = current
                            if top == stack.shape[0]:
                                grown = np.empty(stack.shape[0] * 2, dtype=np.int64)
                                grown[:top] = stack[:top]
                                stack = grown
                            stack[top] = nz * plane + ny * width + nx
                            top += 1
    return current


@njit(cache=True, nogil=True)
def _component_stats(labels: np.ndarray, count: int, volume: np.ndarray) -> np.ndarray:  # pragma: no cover
    """Per label 1..count (row label - 1): voxel count, value sums, coordinate moments and box."""
    depth, height, width = labels.shape
    stats = np.zeros((count, STAT_COLUMNS), dtype=np.float64)
    for row in range(count):
        stats[row, STAT_Z0] = depth
        stats[row, STAT_Y0] = height
        stats[row, STAT_X0] = width
    for z in range(depth):
        cz = z + 0.5
        for y in range(height):
            cy = y + 0.5
            for x in range(width):
                label = labels[z, y, x]
                if label == 0:
                    continue
                row = label - 1
                cx = x + 0.5
                value = float(volume[z, y, x])
                s = stats[row]
                s[STAT_COUNT] += 1.0
                s[STAT_SUM] += value
                s[STAT_SUM_SQ] += value * value
                s[STAT_Z] += cz
                s[STAT_Y] += cy
                s[STAT_X] += cx
                s[STAT_ZZ] += cz * cz
                s[STAT_YY] += cy * cy
                s[STAT_XX] += cx * cx
                s[STAT_ZY] += cz * cy
                s[STAT_ZX] += cz * cx
                s[STAT_YX] += cy * cx
                s[STAT_Z0] = min(s[STAT_Z0], z)
                s[STAT_Y0] = min(s[STAT_Y0], y)
                s[STAT_X0] = min(s[STAT_X0], x)
                s[STAT_Z1] = max(s[STAT_Z1], z + 1)
                s[STAT_Y1] = max(s[STAT_Y1], y + 1)
                s[STAT_X1] = max(s[STAT_X1], x + 1)
    return stats


# The 13 directions of a voxel's 26-neighbourhood, one of each opposite pair: (dz, dy, dx).
DIRECTIONS_13 = np.array(
    [
        (1, 0, 0), (0, 1, 0), (0, 0, 1),
        (1, 1, 0), (1, -1, 0), (1, 0, 1), (1, 0, -1), (0, 1, 1), (0, 1, -1),
        (1, 1, 1), (1, 1, -1), (1, -1, 1), (1, -1, -1),
    ],
    dtype=np.int64,
)  # fmt: skip


@njit(cache=True, nogil=True)
def _thin_sheets(
    volume: np.ndarray,
    sheet_low: int,
    sheet_high: int,
    fill_low: int,
    fill_high: int,
    min_contrast: int,
    step: int,
    directions: np.ndarray,
    out: np.ndarray,
) -> int:  # pragma: no cover
    """Mark thin dense sheets embedded in a light filling (foil walls between packs of tobacco).

    A voxel in [sheet_low, sheet_high) is marked when, along one of ``directions``, both voxels
    ``step`` away lie in [fill_low, fill_high) and are lighter by at least ``min_contrast``. ``out``
    gets the number of directions along which that holds (0: not a sheet): most directions cross a
    thin sheet, only a few graze the stair-stepped surface of a thick object. Return how many.
    """
    depth, height, width = volume.shape
    out[:] = 0
    marked = 0
    for z in range(step, depth - step):
        for y in range(step, height - step):
            for x in range(step, width - step):
                value = volume[z, y, x]
                if value < sheet_low or value >= sheet_high:
                    continue
                crossings = 0
                for k in range(directions.shape[0]):
                    dz, dy, dx = directions[k, 0] * step, directions[k, 1] * step, directions[k, 2] * step
                    a = volume[z + dz, y + dy, x + dx]
                    b = volume[z - dz, y - dy, x - dx]
                    if a < fill_low or b < fill_low or a >= fill_high or b >= fill_high:
                        continue
                    if int(value) - int(max(a, b)) >= min_contrast:
                        crossings += 1
                if crossings > 0:
                    out[z, y, x] = crossings
                    marked += 1
    return marked


@njit(cache=True, nogil=True)
def _label26(mask: np.ndarray, labels: np.ndarray) -> int:  # pragma: no cover
    """26-connected components of ``mask`` (thin oblique sheets stay whole); return their count."""
    depth, height, width = mask.shape
    labels[:] = 0
    stack = np.empty(1024, dtype=np.int64)
    plane = height * width
    current = 0
    for z0 in range(depth):
        for y0 in range(height):
            for x0 in range(width):
                if not mask[z0, y0, x0] or labels[z0, y0, x0]:
                    continue
                current += 1
                labels[z0, y0, x0] = current
                stack[0] = z0 * plane + y0 * width + x0
                top = 1
                while top > 0:
                    top -= 1
                    index = stack[top]
                    z = index // plane
                    y = (index - z * plane) // width
                    x = index - z * plane - y * width
                    for nz in range(max(z - 1, 0), min(z + 2, depth)):
                        for ny in range(max(y - 1, 0), min(y + 2, height)):
                            for nx in range(max(x - 1, 0), min(x + 2, width)):
                                if mask[nz, ny, nx] and not labels[nz, ny, nx]:
                                    labels[nz, ny, nx] = current
                                    if top == stack.shape[0]:
                                        grown = np.empty(stack.shape[0] * 2, dtype=np.int64)
                                        grown[:top] = stack[:top]
                                        stack = grown
                                    stack[top] = nz * plane + ny * width + nx
                                    top += 1
    return current


@njit(cache=True, nogil=True)
def _oriented_extent(
    labels: np.ndarray, label: int, box: np.ndarray, centre: np.ndarray, axes: np.ndarray
) -> np.ndarray:  # pragma: no cover
    """(min, max) of the voxel centres of one label projected on the columns of ``axes``: [2, 3]."""
    out = np.empty((2, 3), dtype=np.float64)
    out[0, :] = np.inf
    out[1, :] = -np.inf
    for z in range(box[0], box[3]):
        for y in range(box[1], box[4]):
            for x in range(box[2], box[5]):
                if labels[z, y, x] != label:
                    continue
                p0, p1, p2 = z + 0.5 - centre[0], y + 0.5 - centre[1], x + 0.5 - centre[2]
                for k in range(3):
                    t = p0 * axes[0, k] + p1 * axes[1, k] + p2 * axes[2, k]
                    out[0, k] = min(out[0, k], t)
                    out[1, k] = max(out[1, k], t)
    return out


@njit(cache=True, nogil=True)
def _sample_mean(volume: np.ndarray, points: np.ndarray) -> float:  # pragma: no cover
    """Mean value at the voxels nearest to ``points`` [n, 3] (z, y, x) inside the volume; -1 if none."""
    depth, height, width = volume.shape
    total = 0.0
    count = 0
    for i in range(points.shape[0]):
        z, y, x = math.floor(points[i, 0]), math.floor(points[i, 1]), math.floor(points[i, 2])
        if 0 <= z < depth and 0 <= y < height and 0 <= x < width:
            total += volume[z, y, x]
            count += 1
    return total / count if count else -1.0
