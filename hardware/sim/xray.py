"""Dual-energy baggage X-ray simulator: Beer-Lambert transmission through a bag of clutter and threats.

Physics, kept simple but honest:

* Each ray crosses a stack of objects; the transmitted fraction is T = exp(-sum mu_E(material) * t), with
  t the thickness (cm) of each material along the ray (Beer-Lambert). Two energies give two images;
  channel 0 is the high-energy image, channel 1 the low-energy one. Values are 65535 * T (air = 65535).
* The beam is monoenergetic per channel: the 160 kV and 80 kV tube spectra are represented by effective
  energies of 80 keV and 50 keV (no beam hardening, no scatter). Attenuation coefficients are NIST XCOM
  mass attenuation coefficients at those energies times density (see ``MATERIALS``).
* Photoelectric absorption grows roughly as Z^4 / E^3, Compton scattering barely depends on Z, so the
  low/high attenuation ratio separates material classes: organic (Z_eff < 10) ~1.15-1.25, inorganic
  (Z_eff 10-18) ~1.7-1.9, metal (Z_eff > 18) ~2.7-3.4. This is what the scanner's colour coding uses.
* Photon noise: N0 detected photons per unattenuated pixel and channel; the value carries Gaussian noise of
  standard deviation sqrt(T / N0) (the Poisson variance), from a counter-based hash so it is deterministic.

Geometry: the image height spans an 80 cm tunnel, so a pixel is 800 / height mm; the width runs along the
belt. Thickness is equivalent solid thickness (a 15 cm pile of clothes at 20% packing is 3 cm of cellulose).

``randomise=True`` draws what differs between scanners and between real objects, per scan (``ScanPhysics``):
effective energies (each material's coefficient follows a power law in energy through its two tabulated
values), photon counts, detector blur and per-row gain, the threat's metal mass (a real pistol carries
1.5-2.3 times the simple shapes' metal) and the tobacco density of cigarettes; and it turns the threat by
any angle instead of quarter turns. It is off by default, so that a seed's scans stay those it always gave.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

import cv2
import numpy as np

from smartcustoms.core.types import Modality
from smartcustoms.hardware.sim._timing import report_generation_time
from smartcustoms.v1 import frame_pb2

from . import _kernels
from ._frames import array_to_frame

THREAT_CLASSES = ("firearm", "knife", "cigarettes", "phone")
MATERIAL_CATEGORIES = ("organic", "inorganic", "metal")  # material map values: 0 none, 1 + index

ENERGY_HIGH_KV = 160  # tube voltages written to frame metadata
ENERGY_LOW_KV = 80
EFFECTIVE_ENERGY_HIGH_KEV = 80.0  # mean energy of the filtered spectra, where the coefficients are taken
EFFECTIVE_ENERGY_LOW_KEV = 50.0
TUNNEL_HEIGHT_CM = 80.0
DEFAULT_PHOTONS_PER_PIXEL = (1.0e5, 5.0e4)  # (high, low): the low-energy channel detects fewer photons
BELT_THICKNESS_CM = 0.4  # rubber conveyor belt under every ray
MATERIAL_MAP_THRESHOLD = 0.05  # high-energy line integral below which a pixel counts as empty
THREAT_MASK_LINE_INTEGRAL = 0.02  # a threat's own high-energy line integral where its mask is set
# The standard carton's rods (0.6 cm of cellulose per layer, peak to trough) are as contrasted as
# aligned tobacco at 0.8 g/cm3; real cigarettes hold 0.2-0.35 g/cm3, and a pack's staggered rows
# cancel part of the pattern.
STANDARD_ROD_DENSITY_G_CM3 = 0.8


@dataclass(frozen=True, slots=True)
class Material:
    """Mass attenuation coefficients (cm^2/g) at the two effective energies, and density (g/cm^3)."""

    name: str
    category: str
    mass_attenuation_low_cm2_g: float
    mass_attenuation_high_cm2_g: float
    density_g_cm3: float

    @property
    def mu_low_per_cm(self) -> float:
        return self.mass_attenuation_low_cm2_g * self.density_g_cm3

    @property
    def mu_high_per_cm(self) -> float:
        return self.mass_attenuation_high_cm2_g * self.density_g_cm3

    @property
    def low_high_ratio(self) -> float:
        return self.mass_attenuation_low_cm2_g / self.mass_attenuation_high_cm2_g

    def mu_per_cm(self, energy_kev: float) -> float:
        """Linear attenuation at an effective energy: a power law in energy through the two tabulated
        values (photoelectric absorption falls as about E^-3, Compton scattering slowly)."""
        exponent = math.log(self.low_high_ratio) / math.log(
            EFFECTIVE_ENERGY_HIGH_KEV / EFFECTIVE_ENERGY_LOW_KEV
        )
        scale = math.pow(energy_kev / EFFECTIVE_ENERGY_LOW_KEV, -exponent)
        return self.mass_attenuation_low_cm2_g * scale * self.density_g_cm3


# mu/rho at 50 keV (low) and 80 keV (high), NIST XCOM; compounds by the mixture rule over their elements.
_MATERIAL_LIST = (
    Material("water", "organic", 0.2269, 0.1837, 1.00),  # liquids, food, cosmetics; ratio 1.24
    Material("cellulose", "organic", 0.2091, 0.1766, 1.50),  # paper, cotton, wood, tobacco; ratio 1.18
    Material("polymer", "organic", 0.2085, 0.1823, 1.10),  # (CH2)n-like plastics and rubber; ratio 1.14
    Material("glass", "inorganic", 0.347, 0.2016, 2.50),  # soda-lime glass; ratio 1.72
    Material("aluminium", "inorganic", 0.3681, 0.2018, 2.70),  # ratio 1.82
    Material("pcb", "inorganic", 0.40, 0.21, 1.90),  # FR-4 with ~5% copper by mass; ratio 1.90
    Material("battery", "metal", 0.99, 0.363, 2.60),  # Li-ion cell: LiCoO2, graphite, Cu/Al foils; ratio 2.73
    Material("steel", "metal", 1.958, 0.5952, 7.87),  # iron; ratio 3.29
    Material("copper", "metal", 2.613, 0.7630, 8.96),  # also stands in for brass; ratio 3.42
)
MATERIALS: dict[str, Material] = {m.name: m for m in _MATERIAL_LIST}


@dataclass(frozen=True, slots=True)
class ScanPhysics:
    """What one scan's scanner and objects are like; the defaults are the standard simulated scanner.

    energies_kev: effective (high, low) energies; photons_per_pixel: (high, low) N0, None for no noise;
    blur_px: Gaussian sigma of the detector response (pixels); row_gain: relative gain deviation of
    each detector row (0: a perfectly flat-fielded detector); metal_scale: the threat's steel and
    copper thickness relative to its shape's; tobacco_density_g_cm3: of the cigarettes' rods (None:
    the standard carton's rods).
    """

    energies_kev: tuple[float, float] = (EFFECTIVE_ENERGY_HIGH_KEV, EFFECTIVE_ENERGY_LOW_KEV)
    photons_per_pixel: tuple[float, float] | None = DEFAULT_PHOTONS_PER_PIXEL
    blur_px: float = 0.0
    row_gain: float = 0.0
    metal_scale: float = 1.0
    tobacco_density_g_cm3: float | None = None
    # A polychromatic beam, per channel (high, low): the share w of its photons attenuated as the
    # effective energy says and the rest k times less (a two-bin spectrum: beam hardening, so thick metal
    # reads thinner and less metallic than it is); None: monoenergetic.
    hardening: tuple[tuple[float, float], tuple[float, float]] | None = None
    scatter: float = 0.0  # scattered radiation reaching the detector, as a share of the open beam

    def mu_per_cm(self, material: Material) -> tuple[float, float]:
        """(high, low) linear attenuation of a material at this scan's energies."""
        if self.energies_kev == (EFFECTIVE_ENERGY_HIGH_KEV, EFFECTIVE_ENERGY_LOW_KEV):
            return material.mu_high_per_cm, material.mu_low_per_cm
        return material.mu_per_cm(self.energies_kev[0]), material.mu_per_cm(self.energies_kev[1])

    @classmethod
    def drawn(cls, rng: np.random.Generator) -> ScanPhysics:
        """A scanner and objects drawn at random: effective energies of 65-95 keV and 42-58 keV
        (about 120-180 kVp and 70-100 kVp tubes), 0.3-2 times the standard photon counts, blur of
        0.2-1.2 pixels, row gains within 0.1-1 %, metal mass 1-2.5 times, tobacco at 0.2-0.35 g/cm3."""
        photons = rng.uniform(0.3, 2.0)
        return cls(
            energies_kev=(float(rng.uniform(65, 95)), float(rng.uniform(42, 58))),
            photons_per_pixel=(
                DEFAULT_PHOTONS_PER_PIXEL[0] * photons,
                DEFAULT_PHOTONS_PER_PIXEL[1] * photons,
            ),
            blur_px=float(rng.uniform(0.2, 1.2)),
            row_gain=float(rng.uniform(0.001, 0.01)),
            metal_scale=float(rng.uniform(1.0, 2.5)),
            tobacco_density_g_cm3=float(rng.uniform(0.2, 0.35)),
        )


STANDARD_PHYSICS = ScanPhysics()


@dataclass(frozen=True, slots=True)
class ThreatTruth:
    """Ground truth of an inserted threat: box is (x_min, y_min, x_max, y_max) in pixels, max exclusive."""

    label: str
    box: tuple[int, int, int, int]
    rotation_deg: int = 0  # in-plane turn of the object, degrees (quarter turns unless randomised)


@dataclass(frozen=True, slots=True, eq=False)
class XrayScan:
    """One simulated scan.

    image: uint16 (2, H, W), channel 0 high energy, channel 1 low energy, 65535 = no attenuation.
    materials: optional uint8 (H, W) map of the dominant material category along each ray
    (0 none, else 1 + index into ``MATERIAL_CATEGORIES``), when the simulator was asked for it.
    """

    image: np.ndarray
    truth: tuple[ThreatTruth, ...]
    pixel_size_mm: float
    materials: np.ndarray | None = None
    physics: ScanPhysics = STANDARD_PHYSICS
    threat_mask: np.ndarray | None = None  # uint8 (H, W): 1 + index into THREAT_CLASSES where a threat lies


# --------------------------------------------------------------------------- Beer-Lambert


def transmission_image(
    line_integral: np.ndarray,
    *,
    photons_per_pixel: tuple[float, ...] | None = None,
    noise_seed: int = 0,
) -> np.ndarray:
    """Turn attenuation line integrals into a uint16 transmission image (Beer-Lambert).

    line_integral: float32 (C, H, W), sum of mu * thickness (dimensionless) along each ray per channel.
    photons_per_pixel: detected photons N0 per unattenuated pixel, one per channel; None for no noise.
    Returns uint16 (C, H, W) with value round(65535 * (T + sqrt(T / N0) * g)), T = exp(-line integral),
    g approximately standard normal, deterministic in noise_seed; clipped to 0..65535.
    """
    if not isinstance(line_integral, np.ndarray) or line_integral.dtype != np.float32:
        raise TypeError("line_integral must be a float32 numpy array")
    if line_integral.ndim != 3:
        raise ValueError(f"line_integral must have shape (C, H, W), got {line_integral.shape}")
    channels = line_integral.shape[0]
    photons = np.zeros(channels) if photons_per_pixel is None else np.asarray(photons_per_pixel, float)
    if photons.shape != (channels,) or np.any(photons < 0) or not np.all(np.isfinite(photons)):
        raise ValueError(f"photons_per_pixel needs {channels} finite non-negative values")
    out = np.empty(line_integral.shape, dtype=np.uint16)
    _kernels._transmit(np.ascontiguousarray(line_integral), photons, np.uint64(noise_seed % 2**64), out)
    return out


# --------------------------------------------------------------------------- scene parts

PRISM, ELLIPSE = "prism", "ellipse"


@dataclass(frozen=True, slots=True)
class _Part:
    """A solid of one material: a prism (half_len x half_wid rectangle) or an ellipse, in cm.

    thickness_cm is the thickness along the beam (the diameter for rod profiles); a negative
    thickness carves a hollow out of a part painted before it.
    """

    material: str
    u_cm: float
    v_cm: float
    half_len_cm: float
    half_wid_cm: float
    thickness_cm: float
    angle_rad: float = 0.0
    shape: str = PRISM
    profile: int = _kernels.PROFILE_FLAT
    period_cm: float = 1.0
    taper_cm: float = 0.0


@dataclass(frozen=True, slots=True)
class _Pose:
    x_cm: float
    y_cm: float
    angle_rad: float = 0.0
    mirrored: bool = False


def _placed(part: _Part, pose: _Pose) -> _Part:
    """The part in image coordinates (cm): mirror v, rotate by the pose angle, translate."""
    v, angle = (-part.v_cm, -part.angle_rad) if pose.mirrored else (part.v_cm, part.angle_rad)
    cos_a, sin_a = math.cos(pose.angle_rad), math.sin(pose.angle_rad)
    x = pose.x_cm + part.u_cm * cos_a - v * sin_a
    y = pose.y_cm + part.u_cm * sin_a + v * cos_a
    return replace(part, u_cm=x, v_cm=y, angle_rad=angle + pose.angle_rad)


def _extent_cm(part: _Part) -> tuple[float, float, float, float]:
    """Axis-aligned bounds (x_min, y_min, x_max, y_max) of a placed part, in cm."""
    cos_a, sin_a = abs(math.cos(part.angle_rad)), abs(math.sin(part.angle_rad))
    if part.shape == PRISM:
        ex = cos_a * part.half_len_cm + sin_a * part.half_wid_cm
        ey = sin_a * part.half_len_cm + cos_a * part.half_wid_cm
    else:
        ex = math.hypot(part.half_len_cm * cos_a, part.half_wid_cm * sin_a)
        ey = math.hypot(part.half_len_cm * sin_a, part.half_wid_cm * cos_a)
    return part.u_cm - ex, part.v_cm - ey, part.u_cm + ex, part.v_cm + ey


def _union_extent(parts: list[_Part]) -> tuple[float, float, float, float]:
    bounds = np.array([_extent_cm(p) for p in parts])
    return (
        float(bounds[:, 0].min()),
        float(bounds[:, 1].min()),
        float(bounds[:, 2].max()),
        float(bounds[:, 3].max()),
    )


@dataclass
class _Canvas:
    """Attenuation line integrals being accumulated for one scan."""

    height: int
    width: int
    pixel_cm: float
    material_map: bool
    physics: ScanPhysics = STANDARD_PHYSICS
    line_integral: np.ndarray = field(init=False)
    category_integral: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        belt_high, belt_low = self.physics.mu_per_cm(MATERIALS["polymer"])
        self.line_integral = np.empty((2, self.height, self.width), dtype=np.float32)
        self.line_integral[0] = belt_high * BELT_THICKNESS_CM
        self.line_integral[1] = belt_low * BELT_THICKNESS_CM
        shape = (len(MATERIAL_CATEGORIES), self.height, self.width) if self.material_map else (0, 1, 1)
        self.category_integral = np.zeros(shape, dtype=np.float32)

    def paint(self, part: _Part) -> None:
        """Add a placed part; sub-pixel sizes widen to half a pixel with thickness scaled to keep mass."""
        material = MATERIALS[part.material]
        mu_high, mu_low = self.physics.mu_per_cm(material)
        half_len = part.half_len_cm / self.pixel_cm
        half_wid = part.half_wid_cm / self.pixel_cm
        thickness = part.thickness_cm * min(1.0, 2 * half_len) * min(1.0, 2 * half_wid)
        half_len, half_wid = max(half_len, 0.5), max(half_wid, 0.5)
        profile, period_px = part.profile, part.period_cm / self.pixel_cm
        if part.shape == PRISM and profile == _kernels.PROFILE_ROD_ARRAY and period_px < 2.0:
            profile, thickness = _kernels.PROFILE_FLAT, thickness * math.pi / 4  # unresolved rods: their mean
        args = (
            self.line_integral,
            self.category_integral,
            MATERIAL_CATEGORIES.index(material.category),
            part.v_cm / self.pixel_cm,
            part.u_cm / self.pixel_cm,
            half_len,
            half_wid,
            math.cos(part.angle_rad),
            math.sin(part.angle_rad),
            thickness,
            mu_high,
            mu_low,
        )
        if part.shape == ELLIPSE:
            _kernels._add_ellipse(*args, profile)
        else:
            _kernels._add_prism(*args, profile, period_px, max(part.taper_cm / self.pixel_cm, 1e-6))

    def materials(self) -> np.ndarray | None:
        if not self.material_map:
            return None
        out = np.empty((self.height, self.width), dtype=np.uint8)
        _kernels._dominant_category(self.category_integral, MATERIAL_MAP_THRESHOLD, out)
        return out


# --------------------------------------------------------------------------- part shapes (object frame, cm)


def _box(m: str, u: float, v: float, half_len: float, half_wid: float, t: float, angle: float = 0.0) -> _Part:
    """A cuboid of thickness t along the beam."""
    return _Part(m, u, v, half_len, half_wid, t, angle)


def _blob(m: str, u: float, v: float, radius_u: float, radius_v: float, t: float) -> _Part:
    """An ellipsoid, t thick at its centre."""
    return _Part(m, u, v, radius_u, radius_v, t, shape=ELLIPSE, profile=_kernels.ELLIPSE_ELLIPSOID)


def _disc(m: str, u: float, v: float, radius: float, t: float) -> _Part:
    """A flat disc lying in the image plane."""
    return _Part(m, u, v, radius, radius, t, shape=ELLIPSE, profile=_kernels.ELLIPSE_DISC)


def _rod(m: str, u: float, v: float, half_len: float, diameter: float, angle: float = 0.0) -> _Part:
    """A solid cylinder lying in the image plane along its length axis."""
    return _Part(m, u, v, half_len, diameter / 2, diameter, angle, profile=_kernels.PROFILE_ROD)


def _tube(m: str, u: float, v: float, half_len: float, outer: float, wall: float) -> list[_Part]:
    """A hollow cylinder lying in the image plane: an outer rod minus its bore."""
    bore = _rod(m, u, v, half_len, max(outer - 2 * wall, 0.0))
    return [_rod(m, u, v, half_len, outer), replace(bore, thickness_cm=-bore.thickness_cm)]


def _rod_row(
    m: str,
    u: float,
    v: float,
    half_len: float,
    half_wid: float,
    diameter: float,
    angle: float = 0.0,
) -> _Part:
    """Touching parallel cylinders across the width (axes along v), repeated along the length."""
    return replace(
        _box(m, u, v, half_len, half_wid, diameter, angle),
        profile=_kernels.PROFILE_ROD_ARRAY,
        period_cm=diameter,
    )


# --------------------------------------------------------------------------- threats


def _firearm(rng: np.random.Generator) -> list[_Part]:
    """Handgun: steel slide and barrel over a polymer grip holding a steel magazine of brass cartridges."""
    s = rng.uniform(0.9, 1.15)
    grip_angle = math.radians(90 + rng.uniform(10, 22))
    gu, gv = -7.0 * s + 5.5 * s * math.cos(grip_angle), 1.5 * s + 5.5 * s * math.sin(grip_angle)
    return [
        _box("steel", 0.0, 0.0, 9.5 * s, 1.5 * s, rng.uniform(0.5, 0.7)),
        *_tube("steel", 1.0 * s, 0.3 * s, 8.5 * s, 1.2, 0.15),
        _box("polymer", gu, gv, 5.5 * s, 1.6 * s, 2.8, grip_angle),
        _box("steel", gu, gv, 5.0 * s, 1.0 * s, 0.2, grip_angle),
        _rod_row("copper", gu - 0.3, gv - 0.8, 3.5 * s, 0.9, 0.9, grip_angle),
        _box("polymer", -2.5 * s, 2.6 * s, 2.2 * s, 1.0 * s, 1.0),
        _box("steel", -2.8 * s, 2.4 * s, 0.8 * s, 0.2, 0.6, math.pi / 2),
    ]


def _knife(rng: np.random.Generator) -> list[_Part]:
    """Knife: thin steel blade tapering to a point, steel bolster and tang, organic handle with rivets."""
    blade, width, handle = rng.uniform(9, 20), rng.uniform(2.0, 3.5), rng.uniform(9, 12)
    handle_material = "polymer" if rng.random() < 0.5 else "cellulose"
    hu = -0.8 - handle / 2
    steel_blade = _box("steel", blade / 2, 0.0, blade / 2, width / 2, rng.uniform(0.18, 0.4))
    return [
        replace(steel_blade, profile=_kernels.PROFILE_BLADE, taper_cm=0.3 * blade),
        _box("steel", -0.4, 0.0, 0.4, 0.55 * width, 1.0),
        _rod(handle_material, hu, 0.0, handle / 2, 2.0),
        _box("steel", hu, 0.0, 0.45 * handle, 0.6, 0.25),
        *[_disc("steel", hu + k * handle / 3.5, 0.0, 0.3, 1.8) for k in (-1, 1)],
    ]


def _cigarettes(rng: np.random.Generator) -> list[_Part]:
    """Stacked cartons, 1-2 deep: cigarettes (tobacco rods 0.78 cm across) packed in cardboard."""
    columns, rows, layers = int(rng.integers(1, 3)), int(rng.integers(1, 4)), int(rng.integers(1, 3))
    parts: list[_Part] = []
    for col in range(columns):
        for row in range(rows):
            u, v = (col - (columns - 1) / 2) * 27.0, (row - (rows - 1) / 2) * 9.2
            rods = _rod_row("cellulose", u, v, 13.25, 4.4, 0.78)  # 0.25 g/cm3 cigarettes, as cellulose
            parts += [
                replace(rods, thickness_cm=0.6 * layers),
                _box("cellulose", u, v, 13.25, 4.4, 0.35 * layers),
            ]
    return parts


def _phone(rng: np.random.Generator) -> list[_Part]:
    """Smartphone: glass faces, aluminium frame, Li-ion battery, circuit board with steel shields, camera."""
    length, width = rng.uniform(14, 16.5), rng.uniform(6.8, 7.8)
    hl, hw, rim = length / 2, width / 2, 0.3
    return [
        _box("glass", 0.0, 0.0, hl, hw, 0.14),
        _box("polymer", 0.0, 0.0, hl, hw, 0.3),
        *[_box("aluminium", 0.0, s * (hw - rim / 2), hl, rim / 2, 0.8) for s in (-1, 1)],
        *[_box("aluminium", s * (hl - rim / 2), 0.0, hw - rim, rim / 2, 0.8, math.pi / 2) for s in (-1, 1)],
        _box("battery", -0.12 * length, 0.0, 0.32 * length, 0.42 * width, 0.5),
        _box("pcb", 0.36 * length, 0.0, 0.11 * length, 0.4 * width, 0.15),
        _box("steel", 0.36 * length, -0.15 * width, 0.06 * length, 0.15 * width, 0.08),
        _box("steel", 0.36 * length, 0.2 * width, 0.05 * length, 0.12 * width, 0.08),
        _disc("steel", 0.4 * length, 0.25 * width, 0.6, 0.5),
    ]


_THREATS: dict[str, Callable[[np.random.Generator], list[_Part]]] = {
    "firearm": _firearm,
    "knife": _knife,
    "cigarettes": _cigarettes,
    "phone": _phone,
}


# --------------------------------------------------------------------------- clutter


def _clothes(rng: np.random.Generator) -> list[_Part]:
    """A bundle (ellipsoid) or a folded stack of clothes, as equivalent solid cellulose."""
    if rng.random() < 0.5:
        return [_blob("cellulose", 0, 0, rng.uniform(10, 22), rng.uniform(7, 16), rng.uniform(0.8, 3.0))]
    return [_box("cellulose", 0, 0, rng.uniform(12, 20), rng.uniform(9, 15), rng.uniform(0.5, 2.0))]


def _book(rng: np.random.Generator) -> list[_Part]:
    return [_box("cellulose", 0, 0, rng.uniform(7, 15), rng.uniform(5, 11), rng.uniform(1.0, 2.5))]


def _bottle(rng: np.random.Generator) -> list[_Part]:
    """A glass or PET bottle of liquid, with its neck."""
    diameter, half_len = rng.uniform(5, 8), rng.uniform(8, 14)
    shell, wall = ("glass", 0.4) if rng.random() < 0.4 else ("polymer", 0.05)
    return [
        *_tube(shell, 0, 0, half_len, diameter, wall),
        _rod("water", 0, 0, half_len, diameter - 2 * wall),
        *_tube(shell, half_len + 3, 0, 3, 2.6, wall),
    ]


def _shoes(rng: np.random.Generator) -> list[_Part]:
    parts = [_blob("polymer", 0, dv, 13, 4.5, 3.0) for dv in (-5.0, 5.0)]
    if rng.random() < 0.3:  # steel shanks
        parts += [_box("steel", -3, dv, 4, 0.6, 0.15) for dv in (-5.0, 5.0)]
    return parts


def _laptop(rng: np.random.Generator) -> list[_Part]:
    hl, hw = rng.uniform(15, 18), rng.uniform(10, 12)
    return [
        _box("aluminium", 0, 0, hl, hw, 0.25),
        _box("polymer", 0, 0, hl, hw, 0.4),
        _box("battery", 0, 0.55 * hw, 0.8 * hl, 0.3 * hw, 0.6),
        _box("pcb", 0, -0.3 * hw, 0.6 * hl, 0.4 * hw, 0.15),
        *[_disc("steel", su * (hl - 1), sv * (hw - 1), 0.3, 0.6) for su in (-1, 1) for sv in (-1, 1)],
    ]


def _toiletries(rng: np.random.Generator) -> list[_Part]:
    """Creams and gels, an aluminium spray can, a toothbrush."""
    parts = [
        _blob("water", rng.uniform(-6, 6), rng.uniform(-4, 4), rng.uniform(2, 5), rng.uniform(2, 4), 4.5)
        for _ in range(int(rng.integers(2, 5)))
    ]
    return [
        *parts,
        *_tube("aluminium", 0, 6, 7, 4.5, 0.03),
        _rod("water", 0, 6, 7, 4.4),
        _box("polymer", 2, -6, 9, 0.6, 1),
    ]


def _electronics(rng: np.random.Generator) -> list[_Part]:
    """Charger and cables: a plastic brick with a small transformer, copper cable loops."""
    parts = [_box("polymer", 0, 0, 4, 2.5, 2.5), _box("pcb", 0, 0, 3, 2, 0.2), _box("steel", 1, 0, 1, 1, 1)]
    for _ in range(int(rng.integers(2, 6))):
        u, v, angle, half_len = (
            rng.uniform(-8, 8),
            rng.uniform(-6, 6),
            rng.uniform(0, math.pi),
            rng.uniform(4, 10),
        )
        parts += [_rod("polymer", u, v, half_len, 0.4, angle), _rod("copper", u, v, half_len, 0.08, angle)]
    return parts


def _small_metal(rng: np.random.Generator) -> list[_Part]:
    """Coins, keys and a rolled belt with its buckle."""
    coins = [
        _disc("copper", rng.uniform(-4, 4), rng.uniform(-3, 3), 1.2, 0.2)
        for _ in range(int(rng.integers(1, 6)))
    ]
    keys = [
        _box("steel", rng.uniform(-4, 4), rng.uniform(-3, 3), 2.8, 0.6, 0.2, rng.uniform(0, math.pi))
        for _ in range(int(rng.integers(4)))
    ]
    belt = (
        [_box("cellulose", 0, 8, 12, 1.8, 1.2), _box("steel", -12, 8, 2.5, 2.2, 0.3)]
        if rng.random() < 0.4
        else []
    )
    return coins + keys + belt


def _umbrella(rng: np.random.Generator) -> list[_Part]:
    half_len = rng.uniform(12, 16)
    ribs = [_rod("steel", 0, dv, half_len * 0.9, 0.2) for dv in (-1.5, 1.5)]
    return [_box("polymer", 0, 0, half_len, 2.5, 1.5), *_tube("steel", 0, 0, half_len, 1.0, 0.08), *ribs]


def _food(rng: np.random.Generator) -> list[_Part]:
    if rng.random() < 0.5:  # a tin can: thin tinplate steel shell around wet food
        return [*_tube("steel", 0, 0, 5, 7.5, 0.02), _rod("water", 0, 0, 5, 7.4)]
    return [
        _blob("water", rng.uniform(-5, 5), rng.uniform(-5, 5), 4, 3.5, 7)
        for _ in range(int(rng.integers(2, 6)))
    ]


_CLUTTER = (_book, _bottle, _shoes, _laptop, _toiletries, _electronics, _small_metal, _umbrella, _food)
_CLUTTER_WEIGHTS = np.array([3, 2, 2, 1, 2, 2, 3, 1, 2], dtype=float) / 18


def _bag(rng: np.random.Generator, length: float, width: float) -> list[_Part]:
    """A hard suitcase (polymer shell, rim, telescopic aluminium handle, wheels) or a soft bag."""
    hl, hw = length / 2, width / 2
    if rng.random() < 0.4:  # soft bag: textile shell and a steel zipper along one edge
        return [
            _blob("cellulose", 0, 0, hl, hw, 0.3),
            _box("cellulose", 0, 0, hl, hw, 0.2),
            _box("steel", 0, -hw + 0.5, hl - 2, 0.4, 0.05),
        ]
    depth, wall = rng.uniform(20, 30), 0.3  # side walls are seen edge-on: a rim `depth` thick
    parts = [_box("polymer", 0, 0, hl, hw, 2 * wall)]
    parts += [_box("polymer", 0, s * (hw - wall / 2), hl, wall / 2, depth) for s in (-1, 1)]
    parts += [
        _box("polymer", s * (hl - wall / 2), 0, hw - wall, wall / 2, depth, math.pi / 2) for s in (-1, 1)
    ]
    for s in (-0.35, 0.35):
        parts += _tube("aluminium", 0.05 * hl, s * hw, 0.85 * hl, 1.4, 0.12)
    for su in (-1, 1):
        for sv in (-1, 1):
            u, v = su * (hl - 2.5), sv * (hw - 2.5)
            parts += [_disc("polymer", u, v, 2.2, 3.0), _disc("steel", u, v, 0.4, 4.0)]
    return parts


# --------------------------------------------------------------------------- the simulator


class XraySimulator:
    """Deterministic dual-energy baggage scans: the same (seed, index) always gives the same scan.

    A fraction ``threat_rate`` of scans holds one threat from ``THREAT_CLASSES`` at a random position
    inside the bag, rotated by a multiple of 90 degrees and possibly mirrored, overlapping the clutter.
    ``material_map=True`` also returns the dominant material category per pixel (slower).
    ``randomise=True`` draws each scan's physics (``ScanPhysics.drawn``) and turns threats by any angle;
    bag, clutter and threat placement are drawn as without it. ``threat_mask=True`` also returns where
    the threat lies, pixel by pixel (to train a detector on).

    ``threats`` and ``clutter`` (makers and their weights) are the object families scans are drawn from;
    a subclass may draw from others.
    """

    threats: Mapping[str, Callable[[np.random.Generator], list[_Part]]] = _THREATS
    clutter: tuple[tuple[Callable[[np.random.Generator], list[_Part]], ...], np.ndarray] = (
        _CLUTTER,
        _CLUTTER_WEIGHTS,
    )

    def __init__(
        self,
        seed: int,
        height: int = 1024,
        width: int = 2048,
        *,
        threat_rate: float = 0.3,
        photons_per_pixel: tuple[float, float] | None = DEFAULT_PHOTONS_PER_PIXEL,
        material_map: bool = False,
        randomise: bool = False,
        threat_mask: bool = False,
    ) -> None:
        if seed < 0:
            raise ValueError("seed must be non-negative")
        if height < 16 or width < 16:
            raise ValueError("height and width must be at least 16 pixels")
        if not 0.0 <= threat_rate <= 1.0:
            raise ValueError("threat_rate must be within [0, 1]")
        self.seed, self.height, self.width = seed, height, width
        self.threat_rate = threat_rate
        self.photons_per_pixel = photons_per_pixel
        self.material_map = material_map
        self.randomise = randomise
        self.threat_mask = threat_mask
        self.pixel_cm = TUNNEL_HEIGHT_CM / height

    @property
    def pixel_size_mm(self) -> float:
        return self.pixel_cm * 10

    def draw_physics(self, rng: np.random.Generator) -> ScanPhysics:
        """A randomised scan's physics (``randomise=True``)."""
        return ScanPhysics.drawn(rng)

    def generate(self, index: int, *, threat: str | None = "auto") -> XrayScan:
        """Scan number ``index``.

        threat: "auto" inserts a random threat with probability ``threat_rate``; None never inserts one;
        a label from ``THREAT_CLASSES`` always inserts that threat. Bag, clutter and noise do not depend
        on this choice, so scans of one index differ only where the threat is.
        """
        if index < 0:
            raise ValueError("index must be non-negative")
        if threat is not None and threat != "auto" and threat not in THREAT_CLASSES:
            raise ValueError(f"threat must be 'auto', None or one of {THREAT_CLASSES}, got {threat!r}")
        # the fourth stream only feeds randomised physics: the first three are those of every seed's scans
        scene_seq, threat_seq, noise_seq, physics_seq = np.random.SeedSequence([self.seed, index]).spawn(4)
        scene_rng, threat_rng = np.random.default_rng(scene_seq), np.random.default_rng(threat_seq)
        physics_rng = np.random.default_rng(physics_seq)
        physics = replace(STANDARD_PHYSICS, photons_per_pixel=self.photons_per_pixel)
        if self.randomise:
            physics = self.draw_physics(physics_rng)
            if self.photons_per_pixel is None:
                physics = replace(physics, photons_per_pixel=None)
        canvas = _Canvas(self.height, self.width, self.pixel_cm, self.material_map, physics)
        interior = self._paint_bag(scene_rng, canvas)
        angle = physics_rng.uniform(0.0, 2 * math.pi) if self.randomise else None
        truth, mask = self._paint_threat(threat_rng, canvas, interior, threat, angle)
        image = transmission_image(
            _detector_response(canvas.line_integral, physics, physics_rng),
            photons_per_pixel=physics.photons_per_pixel,
            noise_seed=int(noise_seq.generate_state(1, np.uint64)[0]),
        )
        materials = canvas.materials()
        for array in (image, materials, mask):
            if array is not None:
                array.flags.writeable = False  # the scan is a frozen record
        return XrayScan(image, truth, self.pixel_size_mm, materials, physics, mask)

    def _paint_bag(self, rng: np.random.Generator, canvas: _Canvas) -> tuple[float, float, float, float]:
        """Paint bag and clutter; return the bag interior (x_min, y_min, x_max, y_max) in cm."""
        image_w, image_h = self.width * self.pixel_cm, self.height * self.pixel_cm
        length = min(rng.uniform(45, 80), 0.92 * image_w)
        width = min(rng.uniform(30, 52), 0.92 * image_h)
        cx = rng.uniform(length / 2 + 0.04 * image_w, image_w - length / 2 - 0.04 * image_w)
        cy = rng.uniform(width / 2 + 0.04 * image_h, image_h - width / 2 - 0.04 * image_h)
        for part in _bag(rng, length, width):
            canvas.paint(_placed(part, _Pose(cx, cy)))
        interior = (cx - length / 2 + 1, cy - width / 2 + 1, cx + length / 2 - 1, cy + width / 2 - 1)
        layers = [_clothes] * int(rng.integers(2, 6))
        makers, weights = self.clutter
        layers += [makers[k] for k in rng.choice(len(makers), int(rng.integers(4, 12)), p=weights)]
        for make in layers:
            orientation = _Pose(0.0, 0.0, rng.uniform(0, 2 * math.pi), bool(rng.random() < 0.5))
            for part in _dropped(rng, make(rng), orientation, interior):
                canvas.paint(part)
        return interior

    def _paint_threat(
        self,
        rng: np.random.Generator,
        canvas: _Canvas,
        interior: tuple[float, float, float, float],
        threat: str | None,
        angle_rad: float | None = None,
    ) -> tuple[tuple[ThreatTruth, ...], np.ndarray | None]:
        """Paint the threat, turned by quarter turns or, given ``angle_rad``, by that angle; its truth,
        and its mask when the simulator was asked for one."""
        draw, drawn_label = rng.random(), THREAT_CLASSES[int(rng.integers(len(THREAT_CLASSES)))]
        label = threat
        if threat == "auto":
            label = drawn_label if draw < self.threat_rate else None
        mask = np.zeros((self.height, self.width), np.uint8) if self.threat_mask else None
        if label is None:
            return (), mask
        quarter_turns, mirrored = int(rng.integers(4)), bool(rng.random() < 0.5)
        turn = quarter_turns * math.pi / 2 if angle_rad is None else angle_rad
        parts = _as_made(self.threats[label](rng), canvas.physics)
        placed = _dropped(rng, parts, _Pose(0.0, 0.0, turn, mirrored), interior)
        alone = (
            _Canvas(self.height, self.width, self.pixel_cm, False, canvas.physics)
            if self.threat_mask
            else None
        )
        for part in placed:
            canvas.paint(part)
            if alone is not None:
                alone.paint(part)
        if mask is not None and alone is not None:
            belt = canvas.physics.mu_per_cm(MATERIALS["polymer"])[0] * BELT_THICKNESS_CM
            mask[alone.line_integral[0] - belt > THREAT_MASK_LINE_INTEGRAL] = 1 + THREAT_CLASSES.index(label)
        degrees = round(math.degrees(turn)) % 360
        return (ThreatTruth(label, self._box_px(_union_extent(placed)), degrees),), mask

    def _box_px(self, extent_cm: tuple[float, float, float, float]) -> tuple[int, int, int, int]:
        x0, y0, x1, y1 = (value / self.pixel_cm for value in extent_cm)
        return (
            min(max(math.floor(x0), 0), self.width - 1),
            min(max(math.floor(y0), 0), self.height - 1),
            max(min(math.ceil(x1) + 1, self.width), 1),
            max(min(math.ceil(y1) + 1, self.height), 1),
        )


def _as_made(parts: list[_Part], physics: ScanPhysics) -> list[_Part]:
    """A threat's parts with the scan's metal mass and tobacco density: steel and copper thickness
    times ``metal_scale``; cigarette rods' contrast scaled to their tobacco density, the mass the rods
    lose spread flat over them (a carton weighs what it weighs)."""
    made = []
    for part in parts:
        if physics.metal_scale != 1.0 and part.material in ("steel", "copper"):
            part = replace(part, thickness_cm=part.thickness_cm * physics.metal_scale)
        tobacco = part.material == "cellulose" and part.profile == _kernels.PROFILE_ROD_ARRAY
        if physics.tobacco_density_g_cm3 is not None and tobacco:
            share = physics.tobacco_density_g_cm3 / STANDARD_ROD_DENSITY_G_CM3
            flat = replace(part, thickness_cm=part.thickness_cm * (1 - share) * math.pi / 4)
            made.append(replace(flat, profile=_kernels.PROFILE_FLAT))
            part = replace(part, thickness_cm=part.thickness_cm * share)
        made.append(part)
    return made


def _detector_response(
    line_integral: np.ndarray, physics: ScanPhysics, rng: np.random.Generator
) -> np.ndarray:
    """The line integrals a detector with the scan's blur and row gains reports (unchanged without)."""
    plain = physics.hardening is None and physics.scatter <= 0.0
    if plain and physics.blur_px <= 0.0 and physics.row_gain <= 0.0:
        return line_integral
    transmission = np.exp(-line_integral)
    if physics.hardening is not None:
        for channel, (share, softer) in zip(transmission, physics.hardening, strict=True):
            channel[...] = share * channel + (1 - share) * np.power(channel, softer)
    if physics.scatter > 0.0:
        transmission = (transmission + np.float32(physics.scatter)) / np.float32(1 + physics.scatter)
    for channel in transmission:
        if physics.blur_px > 0.0:
            cv2.GaussianBlur(channel, (0, 0), physics.blur_px, dst=channel, borderType=cv2.BORDER_REPLICATE)
        if physics.row_gain > 0.0:
            gains = 1.0 + physics.row_gain * rng.standard_normal(channel.shape[0]).astype(np.float32)
            channel *= gains[:, None]
    out: np.ndarray = -np.log(np.maximum(transmission, np.float32(1e-12)))
    return out.astype(np.float32, copy=False)


def _dropped(
    rng: np.random.Generator,
    parts: list[_Part],
    orientation: _Pose,
    interior: tuple[float, float, float, float],
) -> list[_Part]:
    """Orient an object, then put it at a random position where it fits inside the bag interior."""
    oriented = [_placed(part, orientation) for part in parts]
    if not oriented:
        return []
    x0, y0, x1, y1 = _union_extent(oriented)
    x = _uniform_within(rng, interior[0] - x0, interior[2] - x1)
    y = _uniform_within(rng, interior[1] - y0, interior[3] - y1)
    return [_placed(part, _Pose(x, y)) for part in oriented]


def _uniform_within(rng: np.random.Generator, low: float, high: float) -> float:
    """Uniform in [low, high], or their midpoint when the object is larger than the room it has."""
    value = rng.uniform(0.0, 1.0)
    return (low + high) / 2 if high < low else low + value * (high - low)


# --------------------------------------------------------------------------- frames


def to_frame(
    scan: XrayScan,
    *,
    source_id: str,
    sequence: int,
    frame_id: str | None = None,
    conveyance_id: str = "",
) -> frame_pb2.Frame:
    """A MODALITY_XRAY frame: raw little-endian uint16 [2, H, W], energies and ground truth in metadata."""
    truth = [{"label": t.label, "box": list(t.box), "rotation_deg": t.rotation_deg} for t in scan.truth]
    return array_to_frame(
        scan.image.astype("<u2", copy=False),
        modality=Modality.XRAY,
        source_id=source_id,
        sequence=sequence,
        frame_id=frame_id,
        conveyance_id=conveyance_id,
        metadata={
            "energy_high_kev": str(ENERGY_HIGH_KV),
            "energy_low_kev": str(ENERGY_LOW_KV),
            "channels": "high,low",
            "pixel_size_mm": f"{scan.pixel_size_mm:.4f}",
            "sim_truth": json.dumps(truth),
        },
    )


def _measure(height: int = 1024, width: int = 2048, scans: int = 20) -> None:
    simulator = XraySimulator(seed=1, height=height, width=width)
    report_generation_time(simulator.generate, f"{height}x{width} dual-energy scan", scans)


if __name__ == "__main__":
    _measure()
