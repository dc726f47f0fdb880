"""Numba kernels of the simulators: pure functions over arrays, no argument checks.

The public wrappers in ``xray.py``, ``vehicle.py`` and ``ct.py`` check dtypes and shapes and carry the
documentation. Geometry is in pixels (voxels for CT), thickness along the beam in centimetres, linear
attenuation coefficients in 1/cm.

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


@njit(cache=True, nogil=True)
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


@njit(cache=True, nogil=True)
def _bounds(center: float, extent: float, size: int) -> tuple[int, int]:
    start = max(0, math.floor(center - extent))
    stop = min(size, math.ceil(center + extent) + 1)
    return start, stop


@njit(cache=True, nogil=True)
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


@njit(cache=True, nogil=True)
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


@njit(cache=True, nogil=True)
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


@njit(cache=True, nogil=True)
def _splitmix64(state: np.uint64) -> np.uint64:
    z = state + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@njit(cache=True, nogil=True)
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


@njit(cache=True, nogil=True)
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


@njit(cache=True, nogil=True)
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


# --------------------------------------------------------------------------- vehicle portal (side view)
# Pixel (y, x) covers [y, y + 1) x [x, x + 1); shapes are anti-aliased by their exact area coverage, so
# a sub-pixel shift of a vehicle changes its image smoothly.

SLAB_FLAT = 0  # uniform thickness along the beam
SLAB_ROD = 1  # a cylinder lying along x: thickness follows the circular chord across the height


@njit(cache=True, nogil=True)
def _add_slab(
    line_integral: np.ndarray,
    y0: float,
    y1: float,
    x0_top: float,
    x1_top: float,
    x0_bottom: float,
    x1_bottom: float,
    amount_high: float,
    amount_low: float,
    profile: int,
) -> None:
    """Add a trapezoid with horizontal top (y0) and bottom (y1) edges and straight sides.

    amount_*: mu * thickness (dimensionless) of the full-thickness part; each pixel gets that times the
    fraction of its area the shape covers (times the chord fraction for SLAB_ROD).
    """
    _, height, width = line_integral.shape
    if y1 <= y0:
        return
    for y in range(max(0, math.floor(y0)), min(height, math.ceil(y1))):
        top, bottom = max(y0, float(y)), min(y1, y + 1.0)
        cover_y = bottom - top
        if cover_y <= 0.0:
            continue
        f = (0.5 * (top + bottom) - y0) / (y1 - y0)
        weight = cover_y
        if profile == SLAB_ROD:
            r = 2.0 * f - 1.0
            weight *= math.sqrt(max(0.0, 1.0 - r * r))
        left = x0_top + f * (x0_bottom - x0_top)
        right = x1_top + f * (x1_bottom - x1_top)
        for x in range(max(0, math.floor(left)), min(width, math.ceil(right))):
            cover = (min(right, x + 1.0) - max(left, float(x))) * weight
            if cover > 0.0:
                line_integral[0, y, x] += amount_high * cover
                line_integral[1, y, x] += amount_low * cover


@njit(cache=True, nogil=True)
def _add_ring(
    line_integral: np.ndarray,
    cy: float,
    cx: float,
    r_inner: float,
    r_outer: float,
    amount_high: float,
    amount_low: float,
) -> None:
    """Add an annulus (a disc when r_inner <= 0), coverage approximated from the distance to its edges."""
    _, height, width = line_integral.shape
    y_start, y_stop = max(0, math.floor(cy - r_outer - 1)), min(height, math.ceil(cy + r_outer + 1))
    x_start, x_stop = max(0, math.floor(cx - r_outer - 1)), min(width, math.ceil(cx + r_outer + 1))
    for y in range(y_start, y_stop):
        dy = y + 0.5 - cy
        for x in range(x_start, x_stop):
            d = math.sqrt((x + 0.5 - cx) ** 2 + dy * dy)
            cover = min(1.0, max(0.0, r_outer - d + 0.5))
            if r_inner > 0.0:
                cover -= min(1.0, max(0.0, r_inner - d + 0.5))
            if cover > 0.0:
                line_integral[0, y, x] += amount_high * cover
                line_integral[1, y, x] += amount_low * cover


# --------------------------------------------------------------------------- CT volumes
# Voxel (z, y, x) has its centre at (z + 0.5, y + 0.5, x + 0.5). A solid replaces what it covers:
# value = old * (1 - c) + density * c, with c its coverage from an approximate signed distance.

SOLID_BOX = 0
SOLID_ELLIPSOID = 1
SOLID_CYLINDER = 2  # axis along the solid's local first axis


@njit(cache=True, nogil=True)
def _solid_distance(kind: int, p0: float, p1: float, p2: float, h0: float, h1: float, h2: float) -> float:
    """Approximate signed distance (voxels, negative inside) of a local point to a solid."""
    if kind == SOLID_BOX:
        return max(abs(p0) - h0, max(abs(p1) - h1, abs(p2) - h2))
    if kind == SOLID_ELLIPSOID:
        r = math.sqrt((p0 / h0) ** 2 + (p1 / h1) ** 2 + (p2 / h2) ** 2)
        return (r - 1.0) * min(h0, min(h1, h2))
    radial = math.sqrt((p1 / h1) ** 2 + (p2 / h2) ** 2)
    return max(abs(p0) - h0, (radial - 1.0) * min(h1, h2))


@njit(cache=True, nogil=True)
def _paint_solid(
    volume: np.ndarray,
    kind: int,
    center: np.ndarray,
    rotation: np.ndarray,
    half: np.ndarray,
    density: float,
) -> None:
    """Paint a rotated solid: local axis k points along rotation[:, k] in (z, y, x) voxel space."""
    depth, height, width = volume.shape
    extent = np.empty(3)
    for i in range(3):  # half sizes through |rotation|, by hand: numba's matmul needs scipy
        extent[i] = (
            1.0
            + abs(rotation[i, 0]) * half[0]
            + abs(rotation[i, 1]) * half[1]
            + abs(rotation[i, 2]) * half[2]
        )
    z0, z1 = max(0, math.floor(center[0] - extent[0])), min(depth, math.ceil(center[0] + extent[0]))
    y0, y1 = max(0, math.floor(center[1] - extent[1])), min(height, math.ceil(center[1] + extent[1]))
    x0, x1 = max(0, math.floor(center[2] - extent[2])), min(width, math.ceil(center[2] + extent[2]))
    h0, h1, h2 = max(half[0], 0.5), max(half[1], 0.5), max(half[2], 0.5)
    for z in range(z0, z1):
        dz = z + 0.5 - center[0]
        for y in range(y0, y1):
            dy = y + 0.5 - center[1]
            for x in range(x0, x1):
                dx = x + 0.5 - center[2]
                p0 = rotation[0, 0] * dz + rotation[1, 0] * dy + rotation[2, 0] * dx
                p1 = rotation[0, 1] * dz + rotation[1, 1] * dy + rotation[2, 1] * dx
                p2 = rotation[0, 2] * dz + rotation[1, 2] * dy + rotation[2, 2] * dx
                cover = min(1.0, max(0.0, 0.5 - _solid_distance(kind, p0, p1, p2, h0, h1, h2)))
                if cover > 0.0:
                    volume[z, y, x] += (density - volume[z, y, x]) * cover


@njit(cache=True, nogil=True)
def _finish_volume(volume: np.ndarray, sigma: float, noise_seed: np.uint64, out: np.ndarray) -> None:
    """out = round(volume + sigma * g), g approximately standard normal per voxel, clipped to uint16."""
    depth, height, width = volume.shape
    for z in range(depth):
        for y in range(height):
            row = np.uint64((z * height + y) * width)
            for x in range(width):
                value = volume[z, y, x] + 0.5
                if sigma > 0.0:
                    value += sigma * _gaussian(noise_seed, row + np.uint64(x))
                if value <= 0.0:
                    out[z, y, x] = 0
                elif value >= 65535.0:
                    out[z, y, x] = 65535
                else:
                    out[z, y, x] = np.uint16(value)
