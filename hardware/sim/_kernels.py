"""Numba kernels of the X-ray simulator: pure functions over arrays, no argument checks.

The public wrappers in ``xray.py`` check dtypes and shapes and carry the documentation. Geometry is in
pixels, thickness along the beam in centimetres, linear attenuation coefficients in 1/cm.

``line_integral`` is a float32 array (2, H, W): channel 0 sums mu_high * thickness, channel 1 sums
mu_low * thickness along each ray. ``category_integral`` is either empty (shape (0, 1, 1)) or a float32
array (K, H, W) receiving the high-energy line integral of each material category, for material maps.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

# Thickness profiles of a prism (a rectangle in the image plane, extruded along the beam).
PROFILE_FLAT = 0  # cuboid: uniform thickness
PROFILE_ROD = 1  # cylinder lying along the length axis: circular chord across the width
PROFILE_ROD_ARRAY = 2  # parallel cylinders across the width, repeated along the length every `period_px`
PROFILE_BLADE = 3  # flat, narrowing linearly to a point over the last `taper_px` of the length

# Thickness profiles of an ellipse in the image plane.
ELLIPSE_ELLIPSOID = 0  # ellipsoid: thickness * sqrt(1 - r^2)
ELLIPSE_DISC = 1  # flat disc: uniform thickness


@njit(cache=True)
def _deposit(
    line_integral: np.ndarray,
    category_integral: np.ndarray,
    category: int,
    y: int,
    x: int,
    thickness_cm: float,
    mu_high: float,
    mu_low: float,
) -> None:
    line_integral[0, y, x] += mu_high * thickness_cm
    line_integral[1, y, x] += mu_low * thickness_cm
    if category_integral.shape[0] > 0:
        category_integral[category, y, x] += mu_high * thickness_cm


@njit(cache=True)
def _bounds(center: float, extent: float, size: int) -> tuple[int, int]:
    start = max(0, math.floor(center - extent))
    stop = min(size, math.ceil(center + extent) + 1)
    return start, stop


@njit(cache=True)
def _prism_thickness(
    u: float, v: float, half_len: float, half_wid: float, profile: int, period_px: float, taper_px: float
) -> float:
    """Relative thickness (0..1) at local coordinates (u along the length, v across), 0 outside."""
    if abs(u) > half_len or abs(v) > half_wid:
        return 0.0
    if profile == PROFILE_ROD:
        r = v / half_wid
        return math.sqrt(max(0.0, 1.0 - r * r))
    if profile == PROFILE_ROD_ARRAY:
        phase = (u + half_len) / period_px
        r = 2.0 * (phase - math.floor(phase)) - 1.0
        return math.sqrt(max(0.0, 1.0 - r * r))
    blade_tip = profile == PROFILE_BLADE and u > half_len - taper_px
    if blade_tip and abs(v) > half_wid * (half_len - u) / taper_px:
        return 0.0
    return 1.0


@njit(cache=True)
def _add_prism(
    line_integral: np.ndarray,
    category_integral: np.ndarray,
    category: int,
    cy: float,
    cx: float,
    half_len: float,
    half_wid: float,
    cos_a: float,
    sin_a: float,
    thickness_cm: float,
    mu_high: float,
    mu_low: float,
    profile: int,
    period_px: float,
    taper_px: float,
) -> None:
    """Add a rotated prism; its length axis points along (cos_a, sin_a) in (x, y)."""
    _, height, width = line_integral.shape
    extent_x = abs(cos_a) * half_len + abs(sin_a) * half_wid
    extent_y = abs(sin_a) * half_len + abs(cos_a) * half_wid
    y0, y1 = _bounds(cy, extent_y, height)
    x0, x1 = _bounds(cx, extent_x, width)
    for y in range(y0, y1):
        dy = y - cy
        for x in range(x0, x1):
            dx = x - cx
            u = dx * cos_a + dy * sin_a
            v = -dx * sin_a + dy * cos_a
            fraction = _prism_thickness(u, v, half_len, half_wid, profile, period_px, taper_px)
            if fraction > 0.0:
                _deposit(
                    line_integral, category_integral, category, y, x, thickness_cm * fraction, mu_high, mu_low
                )


@njit(cache=True)
def _add_ellipse(
    line_integral: np.ndarray,
    category_integral: np.ndarray,
    category: int,
    cy: float,
    cx: float,
    radius_u: float,
    radius_v: float,
    cos_a: float,
    sin_a: float,
    thickness_cm: float,
    mu_high: float,
    mu_low: float,
    profile: int,
) -> None:
    """Add a rotated ellipsoid or disc; its u semi-axis points along (cos_a, sin_a) in (x, y)."""
    _, height, width = line_integral.shape
    extent_x = math.sqrt((radius_u * cos_a) ** 2 + (radius_v * sin_a) ** 2)
    extent_y = math.sqrt((radius_u * sin_a) ** 2 + (radius_v * cos_a) ** 2)
    y0, y1 = _bounds(cy, extent_y, height)
    x0, x1 = _bounds(cx, extent_x, width)
    for y in range(y0, y1):
        dy = y - cy
        for x in range(x0, x1):
            dx = x - cx
            u = (dx * cos_a + dy * sin_a) / radius_u
            v = (-dx * sin_a + dy * cos_a) / radius_v
            r2 = u * u + v * v
            if r2 < 1.0:
                fraction = 1.0 if profile == ELLIPSE_DISC else math.sqrt(1.0 - r2)
                _deposit(
                    line_integral, category_integral, category, y, x, thickness_cm * fraction, mu_high, mu_low
                )


@njit(cache=True)
def _splitmix64(state: np.uint64) -> np.uint64:
    z = state + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@njit(cache=True)
def _gaussian(noise_seed: np.uint64, counter: np.uint64) -> float:
    """Approximately standard normal: Irwin-Hall sum of four 16-bit uniforms from one hash (|g| < 3.47)."""
    bits = _splitmix64(noise_seed ^ _splitmix64(counter))
    mask = np.uint64(0xFFFF)
    total = (
        (bits & mask)
        + ((bits >> np.uint64(16)) & mask)
        + ((bits >> np.uint64(32)) & mask)
        + ((bits >> np.uint64(48)) & mask)
    )
    return (float(total) / 65536.0 - 2.0) * 1.7320508075688772


@njit(cache=True)
def _transmit(line_integral: np.ndarray, photons: np.ndarray, noise_seed: np.uint64, out: np.ndarray) -> None:
    """Beer-Lambert with photon noise: out = 65535 * (T + sqrt(T / N0) * g), T = exp(-line integral)."""
    channels, height, width = line_integral.shape
    for c in range(channels):
        n0 = photons[c]
        for y in range(height):
            row = np.uint64((c * height + y) * width)
            for x in range(width):
                transmission = math.exp(-line_integral[c, y, x])
                if n0 > 0.0:
                    g = _gaussian(noise_seed, row + np.uint64(x))
                    transmission += math.sqrt(transmission / n0) * g
                value = transmission * 65535.0 + 0.5
                if value <= 0.0:
                    out[c, y, x] = 0
                elif value >= 65535.0:
                    out[c, y, x] = 65535
                else:
                    out[c, y, x] = np.uint16(value)


@njit(cache=True)
def _dominant_category(category_integral: np.ndarray, threshold: float, out: np.ndarray) -> None:
    """out[y, x] = 1 + index of the largest category integral, or 0 when none reaches threshold."""
    categories, height, width = category_integral.shape
    for y in range(height):
        for x in range(width):
            best = 0
            best_value = threshold
            for k in range(categories):
                if category_integral[k, y, x] >= best_value:
                    best = k + 1
                    best_value = category_integral[k, y, x]
            out[y, x] = best
