"""Primitives of the independent X-ray bag generator and how one is rendered into a scan.

Every object is a list of ``Prim``: a region in the object's own plane (centimetres) with a thickness
along the beam at each point. A ``slab`` runs along u from ``us[0]`` to ``us[-1]`` between the
piecewise-linear edges ``lo(u)`` and ``hi(u)`` (a box, a tapered blade, a grip); across v its thickness
is flat, round (a rod or a solid cylinder lying along u), a tube's wall, a wedge (a blade, thin at
``lo``) or a row of rods (cigarettes, layer offsets in cm). A ``disc`` is an ellipse, flat or lens-shaped,
with an optional hole. A ``field`` is a slab whose thickness is smooth random noise (folded clothes).
Each primitive has its own placement in the object (``at``: u, v, degrees); ``sign=-1`` removes material
(a bore, a chamber, a fuller).

Rendering adds ``mu_bin * thickness`` to the scan's per-bin line integrals over the primitive's
bounding box only, with numpy on arrays of that box.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Prim:
    material: str
    kind: str = "slab"  # slab, disc, field
    us: tuple[float, ...] = (0.0, 1.0)
    lo: tuple[float, ...] = (0.0, 0.0)
    hi: tuple[float, ...] = (1.0, 1.0)
    t: float = 1.0  # cm of material at full density (round, tube: the outer diameter)
    profile: str = "flat"  # slab: flat, round, tube, wedge, rods; disc: flat, lens
    inner: float = 0.0  # tube: inner / outer diameter; disc: hole / outer radius
    layers: tuple[float, ...] = (0.0,)  # rods: offset of each layer across v (cm); pitch = t
    density: float = 1.0  # share of the material's density (tobacco, clothes, filters)
    at: tuple[float, float, float] = (0.0, 0.0, 0.0)  # placement in the object: u, v, degrees
    sign: float = 1.0
    seed: int = 0  # field: its noise

    def extent(self) -> tuple[float, float, float, float]:
        if self.kind == "disc":
            (cu,), (cv,), (ru,), (rv,) = self.us, self.lo, self.hi, (self.inner_radius_v,)
            return cu - ru, cv - rv, cu + ru, cv + rv
        return min(self.us), min(self.lo), max(self.us), max(self.hi)

    @property
    def inner_radius_v(self) -> float:
        return self.layers[0] if self.kind == "disc" else 0.0


def box(material: str, u0: float, u1: float, v0: float, v1: float, t: float, **kw: object) -> Prim:
    return Prim(material, "slab", (u0, u1), (v0, v0), (v1, v1), t, **kw)  # type: ignore[arg-type]  # keyword pass-through to the dataclass


def taper(material: str, us: list[float], lo: list[float], hi: list[float], t: float, **kw: object) -> Prim:
    return Prim(material, "slab", tuple(us), tuple(lo), tuple(hi), t, **kw)  # type: ignore[arg-type]  # keyword pass-through


def rod(material: str, u0: float, u1: float, v: float, diameter: float, **kw: object) -> Prim:
    """A solid cylinder lying along u."""
    r = diameter / 2
    return Prim(material, "slab", (u0, u1), (v - r, v - r), (v + r, v + r), diameter, "round", **kw)  # type: ignore[arg-type]  # keyword pass-through


def tube(material: str, u0: float, u1: float, v: float, outer: float, bore: float, **kw: object) -> Prim:
    r = outer / 2
    return Prim(
        material,
        "slab",
        (u0, u1),
        (v - r, v - r),
        (v + r, v + r),
        outer,
        "tube",
        bore / outer,
        **kw,  # type: ignore[arg-type]  # keyword pass-through
    )


def disc(
    material: str,
    u: float,
    v: float,
    ru: float,
    rv: float,
    t: float,
    profile: str = "flat",
    hole: float = 0.0,
    **kw: object,
) -> Prim:
    return Prim(material, "disc", (u,), (v,), (ru,), t, profile, hole, (rv,), **kw)  # type: ignore[arg-type]  # keyword pass-through


@dataclass(frozen=True)
class Pose:
    """Where an object lies in the scan: centre (cm from the image's top-left corner, x along the belt),
    rotation in degrees, mirrored or not."""

    x_cm: float
    y_cm: float
    angle_deg: float
    mirror: bool = False


def _rotation(degrees: float) -> np.ndarray:
    a = math.radians(degrees)
    return np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])


def affine(prim: Prim, pose: Pose) -> tuple[np.ndarray, np.ndarray]:
    """(M, b): world cm = M @ (u, v) + b."""
    pu, pv, pa = prim.at
    m = _rotation(pa)
    b = np.array([pu, pv])
    if pose.mirror:
        flip = np.diag([1.0, -1.0])
        m, b = flip @ m, flip @ b
    r = _rotation(pose.angle_deg)
    return r @ m, r @ b + np.array([pose.x_cm, pose.y_cm])


@dataclass
class Canvas:
    """Per-bin line integrals [bins, H, W] (float32) of a scan being drawn, at ``pixel_cm``."""

    lines: np.ndarray
    pixel_cm: float
    attenuation: dict[str, np.ndarray] = field(default_factory=dict)  # material -> mu per bin (1/cm)

    def draw(self, prims: list[Prim], pose: Pose) -> tuple[int, int, int, int] | None:
        """Render an object; the pixel box (x0, y0, x1, y1, max exclusive) of what it added, if any."""
        boxes = [self._draw(prim, pose) for prim in prims]
        found = [b for b in boxes if b is not None]
        if not found:
            return None
        return (
            min(b[0] for b in found),
            min(b[1] for b in found),
            max(b[2] for b in found),
            max(b[3] for b in found),
        )

    def _draw(self, prim: Prim, pose: Pose) -> tuple[int, int, int, int] | None:
        m, b = affine(prim, pose)
        u0, v0, u1, v1 = prim.extent()
        corners = m @ np.array([[u0, u0, u1, u1], [v0, v1, v0, v1]]) + b[:, None]
        _, height, width = self.lines.shape
        c0 = max(0, math.floor(corners[0].min() / self.pixel_cm))
        c1 = min(width, math.ceil(corners[0].max() / self.pixel_cm) + 1)
        r0 = max(0, math.floor(corners[1].min() / self.pixel_cm))
        r1 = min(height, math.ceil(corners[1].max() / self.pixel_cm) + 1)
        if c1 <= c0 or r1 <= r0:
            return None
        inverse = np.linalg.inv(m)
        xs = ((np.arange(c0, c1, dtype=np.float32) + 0.5) * self.pixel_cm - b[0]).astype(np.float32)
        ys = ((np.arange(r0, r1, dtype=np.float32) + 0.5) * self.pixel_cm - b[1]).astype(np.float32)
        u = np.float32(inverse[0, 0]) * xs[None, :] + np.float32(inverse[0, 1]) * ys[:, None]
        v = np.float32(inverse[1, 0]) * xs[None, :] + np.float32(inverse[1, 1]) * ys[:, None]
        thickness = thickness_of(prim, u, v)
        if prim.sign > 0:
            rows = np.flatnonzero(thickness.any(axis=1))
            cols = np.flatnonzero(thickness.any(axis=0))
            if rows.size == 0:
                return None
        mu = self.attenuation[prim.material] * np.float32(prim.density * prim.sign)
        patch = self.lines[:, r0:r1, c0:c1]
        for k in range(patch.shape[0]):
            patch[k] += mu[k] * thickness
        if prim.sign <= 0:
            return None
        return c0 + int(cols[0]), r0 + int(rows[0]), c0 + int(cols[-1]) + 1, r0 + int(rows[-1]) + 1


def thickness_of(prim: Prim, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Path length (cm) through a primitive at local points (u, v); float32, 0 outside."""
    if prim.kind == "disc":
        return _disc(prim, u, v)
    us = np.asarray(prim.us, dtype=np.float32)
    lo = np.interp(u, us, np.asarray(prim.lo, dtype=np.float32)).astype(np.float32)
    hi = np.interp(u, us, np.asarray(prim.hi, dtype=np.float32)).astype(np.float32)
    inside = (u >= us[0]) & (u <= us[-1]) & (v >= lo) & (v <= hi)
    t = np.float32(prim.t)
    if prim.profile == "flat":
        out = np.where(inside, t, np.float32(0.0))
    elif prim.profile in ("round", "tube"):
        half = np.maximum((hi - lo) / 2, np.float32(1e-6))
        x = (v - (hi + lo) / 2) / half
        out = t * np.sqrt(np.clip(1 - x * x, 0, None))
        if prim.profile == "tube" and prim.inner > 0:
            xi = x / np.float32(prim.inner)
            out -= t * np.float32(prim.inner) * np.sqrt(np.clip(1 - xi * xi, 0, None))
        out = np.where(inside, out, np.float32(0.0))
    elif prim.profile == "wedge":
        share = (v - lo) / np.maximum(hi - lo, np.float32(1e-6))
        out = np.where(inside, t * (np.float32(0.12) + np.float32(0.88) * share), np.float32(0.0))
    elif prim.profile == "rods":
        out = np.zeros_like(u)
        for offset in prim.layers:
            phase = np.mod(v - lo - np.float32(offset), t) / t - np.float32(0.5)
            out += t * np.sqrt(np.clip(1 - 4 * phase * phase, 0, None))
        out = np.where(inside, out, np.float32(0.0))
    elif prim.profile == "noise":
        out = np.where(inside, t * _noise(prim, u, v, lo, hi, us), np.float32(0.0))
    else:
        raise ValueError(f"unknown profile {prim.profile}")
    return out.astype(np.float32, copy=False)


def _disc(prim: Prim, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    (cu,), (cv,), (ru,) = prim.us, prim.lo, prim.hi
    rv = prim.inner_radius_v
    r2 = ((u - cu) / ru) ** 2 + ((v - cv) / rv) ** 2
    t = np.float32(prim.t)
    if prim.profile == "lens":
        out = t * np.sqrt(np.clip(1 - r2, 0, None))
    else:
        out = np.where(r2 <= 1, t, np.float32(0.0))
    if prim.inner > 0:
        out = np.where(r2 < prim.inner**2, np.float32(0.0), out)
    return out.astype(np.float32, copy=False)


_NOISE_CELL_CM = 2.0


def _noise(
    prim: Prim, u: np.ndarray, v: np.ndarray, lo: np.ndarray, hi: np.ndarray, us: np.ndarray
) -> np.ndarray:
    """Smooth noise in 0 .. 1 over the region, fading to 0 over 3 cm at its edges (fabric folds)."""
    u0, v0, u1, v1 = min(prim.us), min(prim.lo), max(prim.us), max(prim.hi)
    rng = np.random.default_rng(prim.seed)
    cells = rng.random((int((v1 - v0) / _NOISE_CELL_CM) + 3, int((u1 - u0) / _NOISE_CELL_CM) + 3))
    padded = np.pad(cells, 1, mode="edge")  # a 3 x 3 weighted mean: folds span several cells
    smooth = np.zeros_like(cells)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            weight = (2.0 if dy == 0 else 1.0) * (2.0 if dx == 0 else 1.0) / 16.0
            smooth += weight * padded[1 + dy : 1 + dy + cells.shape[0], 1 + dx : 1 + dx + cells.shape[1]]
    cells = smooth
    cells = ((cells - cells.min()) / max(float(np.ptp(cells)), 1e-6)).astype(np.float32)
    value = _bilinear(cells, (v - v0) / _NOISE_CELL_CM + 1, (u - u0) / _NOISE_CELL_CM + 1)
    edge = np.minimum.reduce([u - us[0], us[-1] - u, v - lo, hi - v]) / np.float32(3.0)
    out: np.ndarray = (value * np.clip(edge, 0, 1)).astype(np.float32)
    return out


def _bilinear(grid: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """``grid`` sampled at fractional (rows, cols), clamped to its edges."""
    height, width = grid.shape
    rows = np.clip(rows, 0, height - 1.001)
    cols = np.clip(cols, 0, width - 1.001)
    r0, c0 = rows.astype(np.int32), cols.astype(np.int32)
    fr, fc = rows - r0, cols - c0
    top = grid[r0, c0] * (1 - fc) + grid[r0, c0 + 1] * fc
    bottom = grid[r0 + 1, c0] * (1 - fc) + grid[r0 + 1, c0 + 1] * fc
    out: np.ndarray = top * (1 - fr) + bottom * fr
    return out
