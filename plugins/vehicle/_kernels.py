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
def _best_shift(scan: np.ndarray, reference: np.ndarray, max_shift: int) -> np.ndarray:  # pragma: no cover
    """Normalised cross-correlation of two 1D profiles for every integer shift s in [-max, max], where
    scan[i + s] ~ reference[i]: returns the scores, index s + max_shift."""
    n = scan.shape[0]
    scores = np.full(2 * max_shift + 1, -1.0)
    for s in range(-max_shift, max_shift + 1):
        lo, hi = max(0, -s), min(n, n - s)
        if hi - lo < 8:
            continue
        mean_a, mean_b = 0.0, 0.0
        for i in range(lo, hi):
            mean_a += scan[i + s]
            mean_b += reference[i]
        mean_a /= hi - lo
        mean_b /= hi - lo
        cross, var_a, var_b = 0.0, 0.0, 0.0
        for i in range(lo, hi):
            a, b = scan[i + s] - mean_a, reference[i] - mean_b
            cross += a * b
            var_a += a * a
            var_b += b * b
        if var_a > 0.0 and var_b > 0.0:
            scores[s + max_shift] = cross / math.sqrt(var_a * var_b)
    return scores


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
