"""The physics of the independent CT bag generator (``ct_alt``): attenuation, voxelisation, the scanner.

Attenuation: a material's linear attenuation at the scanner's effective energy is its density times its
mass attenuation coefficient (NIST XCOM, cm^2/g, tabulated at 50, 60, 80 and 100 keV and interpolated
log-log); a voxel holds ``mu / mu_water`` (so modified Hounsfield units are 1000 times that).

Voxelisation: a solid is a primitive (box, cylinder, ellipsoid, knife blade, lattice of cigarette rods)
posed in the bag. Each voxel gets the fraction of its volume the solid covers, taken as the product of
one-dimensional overlaps of the voxel (a cube of the voxel's volume, aligned with the solid) with the
solid along its own axes; a cylinder's cross-section uses a soft disc whose area is exact at any radius.
So a 0.3 mm cardboard wall or a 0.5 mm wire adds its true mass to the voxels it crosses, never more. A
solid replaces what it covers: ``mu += coverage * (mu_solid - mu)``.

Reconstruction (``reconstruct``): the scanner's blur, beam-hardening cupping, calibration error, metal
streaks, noise shaped like filtered back-projection noise, and the clamp of the reconstruction's range.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace

import numpy as np
import scipy.fft  # type: ignore[import-untyped]  # scipy ships no type information
import scipy.ndimage  # type: ignore[import-untyped]  # scipy ships no type information

TABLE_KEV = np.array([50.0, 60.0, 80.0, 100.0])
_BASE: Mapping[str, tuple[float, float, float, float]] = {  # cm^2/g at TABLE_KEV
    "water": (0.2269, 0.2059, 0.1837, 0.1707),
    "iron": (1.958, 1.205, 0.5952, 0.3717),
    "aluminium": (0.3681, 0.2778, 0.2018, 0.1704),
    "copper": (2.613, 1.593, 0.7630, 0.4584),
    "polyethylene": (0.2084, 0.1970, 0.1823, 0.1719),  # (CH2)n from the elements, as NIST's table
    "cellulose": (0.2091, 0.1930, 0.1766, 0.1640),
    "polymer": (0.2040, 0.1880, 0.1720, 0.1610),  # nylon, polyamide: frames, leather, rubber
    "explosive": (0.2077, 0.1892, 0.1694, 0.1576),  # RDX and PETN from their elements (mean)
    "glass": (0.3186, 0.2516, 0.1937, 0.1684),  # SiO2 from its elements
    # a lithium cell as a whole: an estimate (steel can, electrodes, electrolyte), not a NIST value
    "battery": (0.3681 * 1.4, 0.2778 * 1.4, 0.2018 * 1.4, 0.1704 * 1.4),
}
# material -> mass fractions of base materials (mixtures); a base material is its own mixture
_MIXTURES: Mapping[str, Mapping[str, float]] = {
    "steel": {"iron": 1.0},
    "brass": {"copper": 1.0},
    "foil_liner": {"aluminium": 0.32, "cellulose": 0.68},  # 7 um foil laminated on 50 um paper
    "pcb": {"glass": 0.55, "polymer": 0.30, "copper": 0.15},  # FR4 with its copper layers
    "paste": {"water": 0.6, "glass": 0.4},  # toothpaste: silica abrasive in a gel
    "syrup": {"water": 0.45, "cellulose": 0.55},  # jam, honey: sugar in water
    "pack_wall": {"aluminium": 0.07, "cellulose": 0.93},  # 0.3 mm board with the foil liner inside it
    "coated_paper": {"cellulose": 0.75, "glass": 0.25},  # magazines: clay-coated paper
    "cheese": {"water": 0.4, "polyethylene": 0.35, "polymer": 0.25},  # water, fat, protein
    "chocolate": {"cellulose": 0.6, "polyethylene": 0.4},  # sugar and fat (nuts, soap alike)
    "ferrite": {"iron": 0.7, "glass": 0.3},  # transformer cores
}
AIR = "air"


def mass_attenuation(material: str, energy_kev: float) -> float:
    """cm^2/g of ``material`` at ``energy_kev`` (50-100 keV), log-log between the tabulated energies."""
    parts = _MIXTURES.get(material, {material: 1.0})
    log_e = math.log(energy_kev)
    total = 0.0
    for base, fraction in parts.items():
        table = np.log(np.asarray(_BASE[base]))
        total += fraction * math.exp(float(np.interp(log_e, np.log(TABLE_KEV), table)))
    return total


def relative_attenuation(material: str, density_g_cm3: float, energy_kev: float) -> float:
    """mu / mu_water of ``material`` at ``density_g_cm3``: 1 is water, 0 is air (MHU / 1000)."""
    if material == AIR:
        return 0.0
    return density_g_cm3 * mass_attenuation(material, energy_kev) / mass_attenuation("water", energy_kev)


def is_material(material: str) -> bool:
    return material == AIR or material in _BASE or material in _MIXTURES


# --------------------------------------------------------------------------- the scanner


@dataclass(frozen=True, slots=True)
class Scanner:
    """One scan's scanner: what the reconstruction does to the bag's attenuation."""

    energy_kev: float  # effective energy of the polychromatic beam
    voxel_size_mm: float  # isotropic
    psf_sigma_inplane_voxels: float
    psf_sigma_depth_voxels: float
    noise_std_mhu: float
    noise_cutoff_cycles: float  # the reconstruction kernel's cut-off, cycles per voxel (0.5 = Nyquist)
    cupping_mhu: float  # how much lower the centre of a large water-like object reads
    calibration_scale: float
    calibration_offset_mhu: float
    streak_angles: int  # in-plane angles along which metal streaks
    streak_reach_cm: float  # how far from the metal a streak has fallen to half
    clamp_mhu: float  # the reconstruction saturates here

    @classmethod
    def draw(cls, rng: np.random.Generator) -> Scanner:
        return cls(
            energy_kev=float(rng.uniform(60, 90)),
            voxel_size_mm=float(rng.uniform(2.5, 4.0)),
            psf_sigma_inplane_voxels=float(rng.uniform(0.4, 0.9)),
            psf_sigma_depth_voxels=float(rng.uniform(0.3, 0.8)),
            noise_std_mhu=float(rng.uniform(15, 60)),
            noise_cutoff_cycles=float(rng.uniform(0.35, 0.5)),
            cupping_mhu=float(rng.uniform(0, 40)),
            calibration_scale=float(rng.uniform(0.97, 1.03)),
            calibration_offset_mhu=float(rng.uniform(-20, 20)),
            streak_angles=int(rng.integers(2, 5)),
            streak_reach_cm=float(rng.uniform(6, 20)),
            clamp_mhu=float(rng.choice([5095.0, 16383.0, 30000.0])),
        )

    def with_voxel_size(self, voxel_size_mm: float) -> Scanner:
        return replace(self, voxel_size_mm=voxel_size_mm)

    def record(self) -> dict[str, float]:
        """The parameters as a flat dict of floats (the scan's ``scanner`` field)."""
        return {name: float(getattr(self, name)) for name in self.__slots__}


# --------------------------------------------------------------------------- primitives


@dataclass(frozen=True, slots=True, eq=False)
class Prim:
    """A solid of one material, in a parent frame: ``rotation``'s columns are its own axes there.

    ``half_cm``: a box's, blade's or rod lattice's half extents; a cylinder's (radius, radius, half
    length) along its third axis; an ellipsoid's semi-axes. ``wall_cm`` > 0 keeps only a wall that
    thick (boxes and cylinders; ``open_ends`` leaves a cylinder's ends open: a tube). A blade's
    ``shape`` is (tip fraction of its length, edge thickness / spine thickness), its edge on the
    negative second axis; a rod lattice's is (column pitch, row pitch, rod radius, rows, columns),
    rods along the first axis, rows along the third, alternate rows one column short and staggered.
    """

    kind: str
    material: str
    density: float
    half_cm: tuple[float, float, float]
    centre_cm: np.ndarray
    rotation: np.ndarray
    wall_cm: float = 0.0
    open_ends: bool = False
    shape: tuple[float, ...] = ()

    def moved(self, rotation: np.ndarray, offset_cm: np.ndarray) -> Prim:
        """This solid in the frame one level up, where its frame sits at ``offset_cm``, turned."""
        return replace(
            self, centre_cm=rotation @ self.centre_cm + offset_cm, rotation=rotation @ self.rotation
        )

    def bound_half_cm(self) -> np.ndarray:
        """Half extents of a box around the solid, along its own axes."""
        return np.asarray(self.half_cm, dtype=np.float64)

    def world_half_cm(self) -> np.ndarray:
        """Half extents of the axis-aligned box around the solid in its parent frame."""
        out: np.ndarray
        if self.kind == "cyl":
            axis = self.rotation[:, 2]
            radius, _, half_length = self.half_cm
            out = np.abs(axis) * half_length + radius * np.sqrt(np.clip(1 - axis**2, 0, 1))
        elif self.kind == "ell":
            out = np.sqrt(((self.rotation * np.asarray(self.half_cm)) ** 2).sum(axis=1))
        else:
            out = np.abs(self.rotation) @ self.bound_half_cm()
        return out

    def hull_cm(self) -> np.ndarray:
        """The 8 corners of the box around the solid, in its parent frame ([8, 3])."""
        signs = np.array([[sz, sy, sx] for sz in (-1, 1) for sy in (-1, 1) for sx in (-1, 1)], float)
        out: np.ndarray = (signs * self.bound_half_cm()) @ self.rotation.T + self.centre_cm
        return out


def rotation_to(axis: np.ndarray) -> np.ndarray:
    """A rotation whose third column is the unit vector along ``axis``."""
    w = np.asarray(axis, float) / np.linalg.norm(axis)
    helper = np.array([1.0, 0, 0]) if abs(w[0]) < 0.9 else np.array([0, 1.0, 0])
    u = np.cross(helper, w)
    u /= np.linalg.norm(u)
    return np.column_stack([u, np.cross(w, u), w])


def rotation_about(axis: int, angle_rad: float) -> np.ndarray:
    """A rotation by ``angle_rad`` about coordinate axis 0, 1 or 2."""
    c, s = math.cos(angle_rad), math.sin(angle_rad)
    i, j = [(1, 2), (2, 0), (0, 1)][axis]
    out = np.eye(3)
    out[i, i], out[i, j], out[j, i], out[j, j] = c, -s, s, c
    return out


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    """A uniformly random 3D rotation (from a random unit quaternion)."""
    w, x, y, z = rng.standard_normal(4) / 1.0
    norm = math.sqrt(w * w + x * x + y * y + z * z)
    w, x, y, z = w / norm, x / norm, y / norm, z / norm
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


# --------------------------------------------------------------------------- coverage


def _overlap(p: np.ndarray, half: np.ndarray | float, voxel: float) -> np.ndarray:
    """Share of a voxel-long segment centred at ``p`` inside [-half, half] (vectorised)."""
    a = np.abs(p)
    inside = np.minimum(a + np.float32(voxel / 2), half) - np.maximum(a - np.float32(voxel / 2), -half)
    out: np.ndarray = np.clip(inside * np.float32(1 / voxel), 0, 1)
    return out


def _disc(rho: np.ndarray, radius: float, voxel: float) -> np.ndarray:
    """Share of a voxel's cross-section inside a disc of ``radius`` at distance ``rho`` from its axis: a
    ramp one voxel wide, rescaled so that its integral is the disc's area at any radius (thin wires)."""
    r_e = max(radius, voxel / 2)
    a, b = r_e - voxel / 2, r_e + voxel / 2
    area = math.pi * a * a + 2 * math.pi / voxel * (b * (b * b - a * a) / 2 - (b**3 - a**3) / 3)
    scale = min(1.0, math.pi * radius * radius / area)
    out: np.ndarray = np.clip((np.float32(r_e) - rho) * np.float32(1 / voxel) + np.float32(0.5), 0, 1)
    if scale < 0.999:
        out *= np.float32(scale)
    return out


def _box_cover(u: list[np.ndarray], half: tuple[float, float, float], voxel: float) -> np.ndarray:
    out: np.ndarray = _overlap(u[0], half[0], voxel) * _overlap(u[1], half[1], voxel)
    out *= _overlap(u[2], half[2], voxel)
    return out


def _cyl_cover(
    u: list[np.ndarray], radius: float, half_length: float, voxel: float, rho: np.ndarray | None = None
) -> np.ndarray:
    rho = np.sqrt(u[0] * u[0] + u[1] * u[1]) if rho is None else rho
    out: np.ndarray = _disc(rho, radius, voxel) * _overlap(u[2], half_length, voxel)
    return out


def _ell_cover(u: list[np.ndarray], semi: tuple[float, float, float], voxel: float) -> np.ndarray:
    s = [max(x, voxel / 2) for x in semi]
    q = sum((u[i] * np.float32(1 / s[i])) ** 2 for i in range(3))
    g = np.sqrt(sum((u[i] * np.float32(1 / s[i] ** 2)) ** 2 for i in range(3))) + np.float32(1e-6)
    rn = np.sqrt(q)
    distance = (rn - 1) * rn / g
    out: np.ndarray = np.clip(np.float32(0.5) - distance * np.float32(1 / voxel), 0, 1)
    out[rn < 0.5] = 1
    out *= np.float32(math.prod(semi) / math.prod(s))
    return out


def _blade_cover(u: list[np.ndarray], p: Prim, voxel: float) -> np.ndarray:
    half_len, half_width, half_thick = p.half_cm
    tip_fraction, edge_ratio = p.shape
    tip_start = half_len * (1 - 2 * tip_fraction)
    f = np.clip((u[0] - tip_start) / max(half_len - tip_start, 1e-6), 0, 1) if tip_fraction > 0 else None
    edge = -half_width + (0 if f is None else f**1.5 * 1.8 * half_width)
    spine = half_width - (0 if f is None else f * f * 0.15 * half_width)
    middle, half_across = (edge + spine) / 2, (spine - edge) / 2
    across = np.clip((u[1] - edge) / np.maximum(spine - edge, 1e-3), 0, 1)
    thickness = half_thick * (edge_ratio + (1 - edge_ratio) * across)
    out: np.ndarray = _overlap(u[0], half_len, voxel) * _overlap(u[1] - middle, half_across, voxel)
    out *= _overlap(u[2], thickness, voxel)
    return out


def _rods_cover(u: list[np.ndarray], p: Prim, voxel: float) -> np.ndarray:
    """A lattice of touching rods: the coverage of every rod near a voxel added up (the rods do not
    overlap, so the sum is each one's true share; a voxel spans several where they touch)."""
    pitch_v, pitch_w, radius, rows, columns = p.shape
    rows_n, columns_n = int(rows), int(columns)
    total = np.zeros_like(u[1])
    for row in range(rows_n):
        count = columns_n - (row % 2)
        w0 = (row - (rows_n - 1) / 2) * pitch_w
        v0 = -(count - 1) / 2 * pitch_v
        nearest = np.rint((u[1] - v0) / pitch_v)
        for step in (-1.0, 0.0, 1.0):  # the two rods either side of a voxel reach into it
            k = nearest + step
            d2 = (u[1] - (v0 + k * pitch_v)) ** 2 + (u[2] - w0) ** 2
            total += np.where((k >= 0) & (k <= count - 1), _disc(np.sqrt(d2), radius, voxel), 0)
    out: np.ndarray = np.minimum(total, 1) * _overlap(u[0], p.half_cm[0], voxel)
    return out


def _shrunk(p: Prim) -> tuple[float, float, float]:
    h, t = p.half_cm, p.wall_cm
    if p.kind == "cyl":
        return (h[0] - t, h[1] - t, h[2] if p.open_ends else h[2] - t)
    return (h[0] - t, h[1] - t, h[2] - t)


def coverage(u: list[np.ndarray], p: Prim, voxel: float) -> np.ndarray:
    """Share of each voxel (centres at local coordinates ``u``) that the solid ``p`` covers."""
    if p.kind == "box":
        out = _box_cover(u, p.half_cm, voxel)
        if p.wall_cm > 0:
            out -= _box_cover(u, _shrunk(p), voxel)
        return out
    if p.kind == "cyl":
        rho = np.sqrt(u[0] * u[0] + u[1] * u[1])
        radius, _, half_length = p.half_cm
        if p.open_ends:  # a tube: its wall's cross-section along its whole length
            ring = _disc(rho, radius, voxel) - _disc(rho, radius - p.wall_cm, voxel)
            tube: np.ndarray = np.maximum(ring, 0) * _overlap(u[2], half_length, voxel)
            return tube
        out = _cyl_cover(u, radius, half_length, voxel, rho)
        if p.wall_cm > 0:
            inner = _shrunk(p)
            out -= _cyl_cover(u, inner[0], inner[2], voxel, rho)
            np.maximum(out, 0, out=out)
        return out
    if p.kind == "ell":
        return _ell_cover(u, p.half_cm, voxel)
    if p.kind == "blade":
        return _blade_cover(u, p, voxel)
    if p.kind == "rods":
        return _rods_cover(u, p, voxel)
    raise ValueError(f"unknown primitive kind {p.kind!r}")


# --------------------------------------------------------------------------- painting

_TILE = 16


class Volume:
    """Relative attenuation (mu / mu_water, float32 [depth, height, width]) being painted."""

    def __init__(self, shape: tuple[int, int, int], voxel_cm: float, energy_kev: float) -> None:
        self.mu = np.zeros(shape, dtype=np.float32)
        self.voxel_cm = voxel_cm
        self.energy_kev = energy_kev
        self._relative: dict[tuple[str, float], np.float32] = {}

    def relative(self, material: str, density: float) -> np.float32:
        key = (material, density)
        if key not in self._relative:
            self._relative[key] = np.float32(relative_attenuation(material, density, self.energy_kev))
        return self._relative[key]

    def paint(self, p: Prim) -> None:
        """Replace what ``p`` (posed in the volume's frame, cm) covers with its material."""
        block = self._block(p)
        if block is None:
            return
        axes = _axis_permutation(p.rotation)
        if axes is not None and p.kind in ("box", "cyl") and p.wall_cm == 0:
            self._paint_aligned(p, block, axes)
            return
        for tile in _tiles(block):
            if self._tile_may_cover(p, tile):
                self._paint_block(p, tile)

    def paint_layers(self, zx_box_cm: tuple[float, float, float, float], layers: list[Layer]) -> None:
        """Folded clothes: flat ``layers`` stacked over the axis-aligned footprint (z0, x0, z1, x1)."""
        v = self.voxel_cm
        z0, x0, z1, x1 = zx_box_cm
        top = min(layer.top_cm for layer in layers)
        bottom = max(layer.top_cm + layer.thickness_cm for layer in layers)
        block = self._clip([z0, top, x0], [z1, bottom, x1])
        if block is None:
            return
        (i0, i1), (j0, j1), (k0, k1) = block
        z = (np.arange(i0, i1) + 0.5) * v
        y = (np.arange(j0, j1, dtype=np.float64) + 0.5) * v
        x = (np.arange(k0, k1) + 0.5) * v
        cz = _overlap(z - (z0 + z1) / 2, (z1 - z0) / 2, v).astype(np.float32)
        cx = _overlap(x - (x0 + x1) / 2, (x1 - x0) / 2, v).astype(np.float32)
        share = np.zeros_like(y)
        mass = np.zeros_like(y)
        for layer in layers:
            c = _overlap(y - (layer.top_cm + layer.thickness_cm / 2), layer.thickness_cm / 2, v)
            share += c
            mass += c * float(self.relative(layer.material, layer.density))
        occupied = np.minimum(share, 1).astype(np.float32)
        mean = (mass / np.maximum(share, 1e-6)).astype(np.float32)
        target = self.mu[i0:i1, j0:j1, k0:k1]
        cover = (cz[:, None] * cx[None, :])[:, None, :] * occupied[None, :, None]
        target += cover * (mean[None, :, None] - target)

    def _block(self, p: Prim) -> list[tuple[int, int]] | None:
        reach = p.world_half_cm() + self.voxel_cm
        return self._clip(list(p.centre_cm - reach), list(p.centre_cm + reach))

    def _clip(self, low_cm: list[float], high_cm: list[float]) -> list[tuple[int, int]] | None:
        out = []
        for axis in range(3):
            i0 = max(0, math.floor(low_cm[axis] / self.voxel_cm))
            i1 = min(self.mu.shape[axis], math.ceil(high_cm[axis] / self.voxel_cm))
            if i1 <= i0:
                return None
            out.append((i0, i1))
        return out

    def _offsets(self, p: Prim, block: list[tuple[int, int]]) -> list[np.ndarray]:
        """Voxel centres of ``block`` less the solid's centre, per volume axis, shaped to broadcast."""
        v = self.voxel_cm
        d = [
            ((np.arange(a, b) + 0.5) * v - p.centre_cm[n]).astype(np.float32)
            for n, (a, b) in enumerate(block)
        ]
        return [d[0][:, None, None], d[1][None, :, None], d[2][None, None, :]]

    def _local(self, p: Prim, block: list[tuple[int, int]]) -> list[np.ndarray]:
        """Voxel centres of ``block`` in the solid's own frame (three broadcast arrays)."""
        d = self._offsets(p, block)
        rot = p.rotation.astype(np.float32)
        return [rot[0, n] * d[0] + rot[1, n] * d[1] + rot[2, n] * d[2] for n in range(3)]

    def _paint_aligned(self, p: Prim, block: list[tuple[int, int]], axes: list[int]) -> None:
        """A box or cylinder whose axes are the volume's: its coverage is separable (cheap)."""
        v = self.voxel_cm
        d = self._offsets(p, block)
        h = p.half_cm
        if p.kind == "box":
            cover = _overlap(d[axes[0]], h[0], v) * _overlap(d[axes[1]], h[1], v)
            cover = cover * _overlap(d[axes[2]], h[2], v)
        else:
            rho = np.sqrt(d[axes[0]] ** 2 + d[axes[1]] ** 2)
            cover = _disc(rho, h[0], v) * _overlap(d[axes[2]], h[2], v)
        self._replace(p, block, cover)

    def _replace(self, p: Prim, block: list[tuple[int, int]], cover: np.ndarray) -> None:
        (i0, i1), (j0, j1), (k0, k1) = block
        target = self.mu[i0:i1, j0:j1, k0:k1]
        target += cover * (self.relative(p.material, p.density) - target)

    def _paint_block(self, p: Prim, block: list[tuple[int, int]]) -> None:
        u = self._local(p, block)
        self._replace(p, block, coverage(u, p, self.voxel_cm))

    def _tile_may_cover(self, p: Prim, tile: list[tuple[int, int]]) -> bool:
        v = self.voxel_cm
        centre = np.array([(a + b) / 2 * v for a, b in tile]) - p.centre_cm
        local = np.abs(p.rotation.T @ centre)
        radius = math.sqrt(sum(((b - a) * v / 2) ** 2 for a, b in tile)) + v
        bound = p.bound_half_cm()
        if np.any(local > bound + radius):
            return False
        if p.wall_cm > 0 and p.kind in ("box", "cyl"):
            inner = np.asarray(_shrunk(p)) - radius
            if p.kind == "cyl":
                inner[:2] = (p.half_cm[0] - p.wall_cm) / math.sqrt(2) - radius
                if p.open_ends:
                    inner[2] = math.inf
            return not bool(np.all(local < inner))
        return True


@dataclass(frozen=True, slots=True)
class Layer:
    """One flat layer of folded clothes: its top (cm from the top of the field) and thickness."""

    top_cm: float
    thickness_cm: float
    material: str
    density: float


def _axis_permutation(rotation: np.ndarray) -> list[int] | None:
    """For a rotation that only permutes and flips axes: the world axis of each local axis."""
    rounded = np.rint(rotation)
    if not np.allclose(rotation, rounded, atol=1e-9):
        return None
    return [int(np.argmax(np.abs(rounded[:, n]))) for n in range(3)]


def _tiles(block: list[tuple[int, int]]) -> Iterator[list[tuple[int, int]]]:
    (i0, i1), (j0, j1), (k0, k1) = block
    if (i1 - i0) * (j1 - j0) * (k1 - k0) <= 2 * _TILE**3:
        yield block
        return
    for a in range(i0, i1, _TILE):
        for b in range(j0, j1, _TILE):
            for c in range(k0, k1, _TILE):
                yield [(a, min(a + _TILE, i1)), (b, min(b + _TILE, j1)), (c, min(c + _TILE, k1))]


# --------------------------------------------------------------------------- reconstruction

_METAL_RELATIVE = 2.5  # above this (denser than any organic; glass reaches it, with a faint streak), metal
_STREAK_MIN_PATH_CM = 0.1  # steel-equivalent path below which a slice shows no streak


def reconstruct(mu: np.ndarray, scanner: Scanner, rng: np.random.Generator) -> np.ndarray:
    """The scanner's image (uint16 MHU) of the true relative attenuation ``mu`` (float32, consumed).

    Dimensions must be multiples of 4 (the cupping is computed on a 4x coarser grid)."""
    voxel_cm = scanner.voxel_size_mm / 10
    streaks = metal_streaks(mu, scanner, rng)
    loss = _cupping(mu, scanner, voxel_cm)
    load = mu.sum(axis=(1, 2))
    sigma = (
        scanner.psf_sigma_depth_voxels,
        scanner.psf_sigma_inplane_voxels,
        scanner.psf_sigma_inplane_voxels,
    )
    image = scipy.ndimage.gaussian_filter(mu, sigma, truncate=3.0)
    del mu
    depth, height, width = image.shape
    blocks = image.reshape(depth // 4, 4, height // 4, 4, width // 4, 4)
    blocks *= loss[:, None, :, None, :, None]
    image *= np.float32(1000 * scanner.calibration_scale)
    image += np.float32(scanner.calibration_offset_mhu)
    if streaks is not None:
        slices, field = streaks
        image[slices] += field
    _add_noise(image, scanner, load, rng)
    np.clip(image, 0, scanner.clamp_mhu, out=image)
    out: np.ndarray = np.rint(image, out=image).astype(np.uint16)
    return out


def _cupping(mu: np.ndarray, scanner: Scanner, voxel_cm: float) -> np.ndarray:
    """Factor (coarse grid) by which beam hardening lowers each region: deepest inside large objects."""
    depth, height, width = mu.shape
    coarse = mu.reshape(depth // 4, 4, height // 4, 4, width // 4, 4).mean(axis=(1, 3, 5))
    np.clip(coarse, 0, 1.2, out=coarse)
    sigma = 4.0 / (4 * voxel_cm)  # smooth over some 4 cm
    smooth = scipy.ndimage.gaussian_filter(coarse, (sigma * 0.5, sigma, sigma), mode="constant")
    loss: np.ndarray = (1 - np.float32(scanner.cupping_mhu / 1000) * np.minimum(smooth, 1) ** 2).astype(
        np.float32
    )
    return loss


def metal_streaks(
    mu: np.ndarray, scanner: Scanner, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray] | None:
    """Streaks (MHU) in the slices that hold metal: along a few in-plane angles, a dark line through the
    metal with bright flanks (or the reverse), as strong as the metal's longest path (50-600 MHU), fading
    away from it. Returns the slice indices and their streak images, or None without metal."""
    zi, yi, xi = np.nonzero(mu > _METAL_RELATIVE)
    if zi.size == 0:
        return None
    steel = relative_attenuation("steel", 7.85, scanner.energy_kev)
    voxel_cm = scanner.voxel_size_mm / 10
    weight = (mu[zi, yi, xi] - _METAL_RELATIVE) * (voxel_cm / steel)
    slices, which = np.unique(zi, return_inverse=True)
    _, height, width = mu.shape
    centre_yx = ((height - 1) / 2, (width - 1) / 2)
    angles = rng.uniform(0, math.pi, scanner.streak_angles)
    signs = rng.choice([-1.0, 1.0], scanner.streak_angles)
    profiles, centres = [], []
    for angle in angles:
        across, along = _rotated(yi - centre_yx[0], xi - centre_yx[1], angle, height, width)
        bins = 2 * _half_diagonal(height, width) + 2
        profiles.append(_streak_profile(np.rint(across).astype(np.int64), which, weight, slices.size, bins))
        mass = np.maximum(np.bincount(which, weights=weight, minlength=slices.size), 1e-12)
        centres.append(np.bincount(which, weights=weight * along, minlength=slices.size) / mass)
    active = np.flatnonzero(np.any([np.abs(p).max(axis=1) > 0 for p in profiles], axis=0))
    if active.size == 0:
        return None
    grid_y, grid_x = np.mgrid[0:height, 0:width].astype(np.float32)
    reach = np.float32(scanner.streak_reach_cm / voxel_cm)
    field = np.zeros((active.size, height, width), dtype=np.float32)
    for angle, sign, profile, centre in zip(angles, signs, profiles, centres, strict=True):
        across, along = _rotated(grid_y - centre_yx[0], grid_x - centre_yx[1], angle, height, width)
        distance = np.abs(along[None] - centre[active].astype(np.float32)[:, None, None])
        fade = reach / (reach + distance)
        fade *= (np.float32(sign) * profile[active].astype(np.float32))[:, np.rint(across).astype(np.int64)]
        field += fade
    return slices[active], field


def _rotated(
    y: np.ndarray, x: np.ndarray, angle: float, height: int, width: int
) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates across (shifted to a non-negative bin) and along the lines at ``angle`` in a slice."""
    c, s = math.cos(angle), math.sin(angle)
    return y * s + x * c + _half_diagonal(height, width), y * c - x * s


def _half_diagonal(height: int, width: int) -> int:
    return math.ceil(math.hypot(height, width) / 2) + 1


def _streak_profile(
    across: np.ndarray, which: np.ndarray, weight: np.ndarray, slices: int, bins: int
) -> np.ndarray:
    """Per slice and line position, the streak's signed strength (MHU): the metal's path along each
    line, high-passed (dark core, bright flanks), scaled to 50-600 MHU by the longest path."""
    path = np.bincount(which * bins + across, weights=weight, minlength=slices * bins).reshape(slices, bins)
    longest = path.max(axis=1)
    strength = np.where(longest > _STREAK_MIN_PATH_CM, 50 + 550 * (1 - np.exp(-longest / 1.5)), 0.0)
    core = path / np.maximum(longest, 1e-12)[:, None]
    narrow = scipy.ndimage.gaussian_filter1d(core, 1.0, axis=1, mode="constant")
    profile = scipy.ndimage.gaussian_filter1d(core, 5.0, axis=1, mode="constant") - narrow
    profile /= np.maximum(np.abs(profile).max(axis=1), 1e-12)[:, None]
    out: np.ndarray = profile * strength[:, None]
    return out


def _add_noise(image: np.ndarray, scanner: Scanner, load: np.ndarray, rng: np.random.Generator) -> None:
    """Add noise shaped like filtered back-projection noise: white noise through a ramp filter with a
    smooth cut-off, per slice (so it is correlated in-plane), lightly correlated along depth, stronger in
    slices that hold more material."""
    depth, height, width = image.shape
    amplitude = _ramp_amplitude(height, width, scanner.noise_cutoff_cycles)
    slice_std = scanner.noise_std_mhu * (0.75 + 0.5 * np.sqrt(load / max(float(load.max()), 1e-9)))
    neighbour = np.float32(0.5 * scanner.psf_sigma_depth_voxels)
    norm = 1 / math.sqrt(1 + 2 * float(neighbour) ** 2)
    made = _slice_noise(rng, amplitude, height, width, min(depth, 2))  # in-plane noise of slices 0, 1
    first = 0  # the slice index of made[0]
    chunk = 32
    for start in range(0, depth, chunk):
        stop = min(depth, start + chunk)
        want = min(depth, stop + 1)
        if first + len(made) < want:
            fresh = _slice_noise(rng, amplitude, height, width, want - first - len(made))
            made = np.concatenate([made, fresh])
        local = made[start - first :]
        noise = local[: stop - start].copy()
        noise[1:] += neighbour * local[: stop - start - 1]
        if start > first:
            noise[0] += neighbour * made[start - first - 1]
        noise[: want - start - 1] += neighbour * local[1 : want - start]
        noise *= (slice_std[start:stop] * norm).astype(np.float32)[:, None, None]
        image[start:stop] += noise
        keep = max(0, stop - 1 - first)
        made, first = made[keep:], first + keep


def _slice_noise(
    rng: np.random.Generator, amplitude: np.ndarray, height: int, width: int, count: int
) -> np.ndarray:
    """``count`` slices of unit-std noise with the spectrum ``amplitude`` (drawn in Fourier space)."""
    spectrum = rng.standard_normal((count, height, width // 2 + 1, 2), dtype=np.float32)
    spectrum *= np.float32(math.sqrt(height * width / 2))
    complex_spectrum = spectrum.view(np.complex64)[..., 0]
    complex_spectrum *= amplitude
    out: np.ndarray = scipy.fft.irfft2(complex_spectrum, s=(height, width), axes=(1, 2), workers=1)
    return out


def _ramp_amplitude(height: int, width: int, cutoff_cycles: float) -> np.ndarray:
    """Amplitude filter (rfft layout) whose power is ramp x Hann window, scaled to unit output std."""
    fy = np.fft.fftfreq(height)[:, None]
    fx = np.fft.fftfreq(width)[None, :]
    f = np.sqrt(fy * fy + fx * fx)
    window = np.where(f < cutoff_cycles, 0.5 * (1 + np.cos(np.pi * f / cutoff_cycles)), 0.0)
    full = np.sqrt(f) * window
    full /= math.sqrt(float((full * full).mean()))
    out: np.ndarray = full[:, : width // 2 + 1].astype(np.float32)
    return out
