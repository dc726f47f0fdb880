"""Side-view primitives of the independent vehicle generator (``vehicle_alt``), and their rendering.

A vehicle lives in its own frame: ``u`` cm along it from the front bumper (toward its rear) and ``v`` cm
above the road. The beam crosses the vehicle horizontally, so a primitive is a region of the side view
and the path (cm) a ray travels through its material. A ``Slab`` has a separable path profile: flat, a
chord (a cylinder whose axis is perpendicular to that direction), a ring (a hollow cylinder: a tyre lying
flat), a row of chords (bottles, standing rolls) or a corrugation (a container's side wall). A ``Disc``
is a body whose axis is along the beam (a wheel, an axle seen end on). Edges are area-weighted, so a
steel sheet seen edge on (0.2 cm along, 235 cm across) darkens the column it falls in, as it does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from smartcustoms.hardware.sim._vehicle_alt_physics import GROUPS, group_index, mass_per_cm


@dataclass(frozen=True, slots=True)
class Profile:
    """How a slab's path varies along one axis: ``kind`` flat, chord, ring, rows or corrugated."""

    kind: str = "flat"
    centre: float = 0.0
    half: float = 1.0  # radius of the chord (ring: outer radius; rows: each element's radius)
    inner: float = 0.0  # ring: inner radius
    period: float = 0.0  # rows, corrugated

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if self.kind == "flat":
            return np.ones_like(x)
        t = x - self.centre
        if self.kind == "rows":
            t = t - np.round(t / self.period) * self.period
        if self.kind == "corrugated":
            phase = np.mod(t, self.period) / self.period
            out: np.ndarray = np.where(phase < 0.55, 1.0, 1.55)  # flats, then the inclined webs
            return out
        outer = np.sqrt(np.maximum(0.0, 1 - (t / self.half) ** 2))
        if self.kind == "ring":
            hollow = np.sqrt(np.maximum(0.0, self.inner**2 - t**2)) / self.half
            return np.asarray(outer - hollow)
        return outer


FLAT = Profile()


def chord(centre: float, radius: float) -> Profile:
    return Profile("chord", centre, radius)


@dataclass(frozen=True, slots=True)
class Slab:
    """Material over the side-view box (u0, u1, v0, v1) cm, ``path_cm`` across at the profiles' peak.
    A negative path removes material (contraband displacing fuel)."""

    material: str
    u0: float
    u1: float
    v0: float
    v1: float
    path_cm: float
    along: Profile = FLAT
    up: Profile = FLAT
    density: float | None = None


@dataclass(frozen=True, slots=True)
class Disc:
    """A body with its axis along the beam: the annulus r_in..r_out (cm) around (u, v), path across."""

    material: str
    u: float
    v: float
    r_in: float
    r_out: float
    path_cm: float
    density: float | None = None


Prim = Slab | Disc


def extent(prims: list[Prim]) -> tuple[float, float, float, float]:
    """(u0, u1, v0, v1) of a group of primitives."""
    boxes = [_box(p) for p in prims]
    return (
        min(b[0] for b in boxes),
        max(b[1] for b in boxes),
        min(b[2] for b in boxes),
        max(b[3] for b in boxes),
    )


def _box(prim: Prim) -> tuple[float, float, float, float]:
    if isinstance(prim, Slab):
        return prim.u0, prim.u1, prim.v0, prim.v1
    return prim.u - prim.r_out, prim.u + prim.r_out, prim.v - prim.r_out, prim.v + prim.r_out


def slant(
    material: str, a: tuple[float, float], b: tuple[float, float], thick: float, path: float
) -> list[Prim]:
    """A sheet ``thick`` cm seen edge on along the line a -> b (a windscreen, a sloping cab front)."""
    length = math.dist(a, b)
    steps = max(1, round(length / 4))
    seg = length / steps
    du, dv = abs(b[0] - a[0]) / steps, abs(b[1] - a[1]) / steps
    width, height = max(du, thick), max(dv, thick)
    share = min(1.0, thick * seg / (width * height))  # the sheet's share of each little box
    out: list[Prim] = []
    for k in range(steps):
        u = a[0] + (b[0] - a[0]) * (k + 0.5) / steps
        v = a[1] + (b[1] - a[1]) * (k + 0.5) / steps
        out.append(Slab(material, u - width / 2, u + width / 2, v - height / 2, v + height / 2, path * share))
    return out


@dataclass(frozen=True)
class Grid:
    """The vehicle-frame raster: columns from ``u0`` every ``pitch_u`` cm, rows down from ``v_top``."""

    u0: float
    pitch_u: float
    v_top: float
    pitch_v: float
    width: int
    height: int

    def blank(self) -> np.ndarray:
        return np.zeros((len(GROUPS), self.height, self.width), dtype=np.float32)

    def draw(self, maps: np.ndarray, prims: list[Prim]) -> None:
        """Add each primitive's mass thickness (g/cm^2) to its group's map."""
        for prim in prims:
            if isinstance(prim, Slab):
                self._slab(maps, prim)
            else:
                self._disc(maps, prim)

    def _span(self, lo: float, hi: float, axis: int) -> tuple[int, np.ndarray, np.ndarray] | None:
        """First index, coverage share and centres of the cells [lo, hi] overlaps along an axis."""
        if axis == 1:
            origin, pitch, size = self.u0, self.pitch_u, self.width
            a, b = (lo - origin) / pitch, (hi - origin) / pitch
        else:  # rows count downward from v_top
            origin, pitch, size = self.v_top, self.pitch_v, self.height
            a, b = (origin - hi) / pitch, (origin - lo) / pitch
        first, last = max(0, math.floor(a)), min(size, math.ceil(b))
        if last <= first:
            return None
        cells = np.arange(first, last, dtype=np.float64)
        cover = np.clip(np.minimum(cells + 1, b) - np.maximum(cells, a), 0, 1)
        centres = origin + (cells + 0.5) * pitch if axis == 1 else origin - (cells + 0.5) * pitch
        return first, cover, centres

    def _slab(self, maps: np.ndarray, s: Slab) -> None:
        cols = self._span(s.u0, s.u1, 1)
        rows = self._span(s.v0, s.v1, 0)
        if cols is None or rows is None:
            return
        c0, c_cover, u = cols
        r0, r_cover, v = rows
        scale = s.path_cm * mass_per_cm(s.material, s.density)
        patch = np.outer(r_cover * s.up(v), c_cover * s.along(u)) * scale
        maps[group_index(s.material), r0 : r0 + len(v), c0 : c0 + len(u)] += patch.astype(np.float32)

    def _disc(self, maps: np.ndarray, d: Disc) -> None:
        cols = self._span(d.u - d.r_out, d.u + d.r_out, 1)
        rows = self._span(d.v - d.r_out, d.v + d.r_out, 0)
        if cols is None or rows is None:
            return
        c0, _, u = cols
        r0, _, v = rows
        radius = np.hypot(u[None, :] - d.u, v[:, None] - d.v)
        soft = 0.5 * (self.pitch_u + self.pitch_v) / 2
        inside = np.clip((d.r_out - radius) / soft + 0.5, 0, 1)
        if d.r_in > 0:
            inside *= np.clip((radius - d.r_in) / soft + 0.5, 0, 1)
        scale = d.path_cm * mass_per_cm(d.material, d.density)
        maps[group_index(d.material), r0 : r0 + len(v), c0 : c0 + len(u)] += (inside * scale).astype(
            np.float32
        )
