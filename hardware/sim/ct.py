"""CT baggage simulator: reconstructed volumes of bags with clutter and 3D threats.

A volume is uint16 [depth, height, width]: depth runs along the belt, height down from the top of the
tunnel (the belt is at the bottom), width across the belt; voxels are cubes of ``voxel_mm``. Values are
modified Hounsfield units as security CT uses them, MHU = HU + 1000: air 0, water 1000, clothing a few
hundred, aluminium ~2800, steel and copper above 10000. Reconstruction noise is Gaussian (``noise_mhu``),
from a counter-based hash, so a volume is deterministic in (seed, index); no streak artefacts.

Solids (boxes, ellipsoids, cylinders) are anti-aliased by their coverage of each voxel and replace what
they cover: an object pushes aside the clothes it lies in, a liquid fills its bottle. A threat is painted
last, the way threat image projection inserts it: "firearm", "knife", "explosive" (a dense organic block
with detonator, wires, battery and circuit board) or "cigarettes" (cartons of packs), in any 3D
orientation; its truth box is (z0, y0, x0, z1, y1, x1) in voxels, max exclusive.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from smartcustoms.core.types import Modality
from smartcustoms.hardware.sim._timing import report_generation_time
from smartcustoms.v1 import frame_pb2

from . import _kernels
from ._frames import array_to_frame

THREAT_CLASSES = ("firearm", "knife", "explosive", "cigarettes")
DEFAULT_SHAPE = (256, 128, 192)  # (depth, height, width) voxels
DEFAULT_VOXEL_MM = 3.0
DEFAULT_NOISE_MHU = 25.0
BELT_THICKNESS_CM = 1.0
THREAT_ORIENTATION_TRIES = 20
WATER_MU_PER_CM = 0.19  # at the ~70 keV effective energy of a 140 kV CT spectrum, for radiographs

# Reconstructed densities, MHU (HU + 1000).
DENSITY_MHU = {
    "rubber": 1150.0,
    "polymer": 950.0,
    "fabric": 600.0,
    "paper": 800.0,
    "wood": 600.0,
    "water": 1000.0,
    "glass": 2600.0,
    "aluminium": 2800.0,
    "pcb": 1900.0,
    "battery": 2600.0,
    "steel": 12000.0,
    "copper": 14000.0,
    "tobacco": 330.0,
    "foil": 1100.0,
}

Box3 = tuple[int, int, int, int, int, int]


@dataclass(frozen=True, slots=True)
class CtThreatTruth:
    """Ground truth of an inserted threat: box (z0, y0, x0, z1, y1, x1) in voxels, max exclusive."""

    label: str
    box: Box3


@dataclass(frozen=True, slots=True, eq=False)
class CtScan:
    """One reconstructed volume: uint16 (depth, height, width) in MHU, with its threat truth."""

    volume: np.ndarray
    truth: tuple[CtThreatTruth, ...]
    voxel_size_mm: float


# --------------------------------------------------------------------------- solids (cm, object frame)

BOX, ELLIPSOID, CYLINDER = _kernels.SOLID_BOX, _kernels.SOLID_ELLIPSOID, _kernels.SOLID_CYLINDER


@dataclass(frozen=True, slots=True)
class _Solid:
    """A solid in an object's frame: centre and half sizes in cm, axes the columns of ``rotation``.

    A cylinder's axis is its first local axis; its second and third half sizes are the radii.
    """

    kind: int
    material: str
    center: tuple[float, float, float]
    half: tuple[float, float, float]
    rotation: np.ndarray | None = None
    density: float | None = None  # overrides the material's MHU

    def mhu(self) -> float:
        return DENSITY_MHU[self.material] if self.density is None else self.density


def _about(axis: int, angle: float) -> np.ndarray:
    """Rotation by ``angle`` radians about local axis 0, 1 or 2."""
    c, s = math.cos(angle), math.sin(angle)
    i, j = [k for k in range(3) if k != axis]
    rotation = np.eye(3)
    rotation[i, i], rotation[i, j], rotation[j, i], rotation[j, j] = c, -s, s, c
    return rotation


def _random_rotation(rng: np.random.Generator) -> np.ndarray:
    """A rotation drawn uniformly (QR of a Gaussian matrix with the sign convention fixed)."""
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q *= np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return np.asarray(q)


# Objects lie flat: local (length, width, height) along (depth, width, height) of the volume, i.e. the
# columns of _FLAT are where local axes 0, 1, 2 point in (z, y, x); height points up (-y).
_FLAT = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])


@dataclass(frozen=True, slots=True)
class _Placement:
    rotation: np.ndarray  # object frame -> volume (z, y, x)
    origin_cm: np.ndarray  # object origin in the volume, cm


def _placed(solid: _Solid, placement: _Placement) -> tuple[np.ndarray, np.ndarray]:
    """(centre in cm, rotation) of a solid in the volume."""
    local = np.eye(3) if solid.rotation is None else solid.rotation
    return placement.origin_cm + placement.rotation @ np.asarray(solid.center), placement.rotation @ local


def _extent_cm(
    solids: list[_Solid], placement: _Placement, voxel_cm: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """Axis-aligned (low, high) corners of placed solids, cm; with ``voxel_cm``, of every voxel they
    paint (half sizes at least half a voxel, plus the half voxel of anti-aliasing)."""
    lows, highs = [], []
    for solid in solids:
        center, rotation = _placed(solid, placement)
        half = np.maximum(np.asarray(solid.half), voxel_cm / 2) + voxel_cm / 2
        reach = np.abs(rotation) @ half
        lows.append(center - reach)
        highs.append(center + reach)
    return np.min(lows, axis=0), np.max(highs, axis=0)


# --------------------------------------------------------------------------- threats


def _firearm(rng: np.random.Generator) -> list[_Solid]:
    """A pistol: steel slide and barrel, polymer frame, angled grip with a steel magazine, trigger guard."""
    length = rng.uniform(8.0, 10.0)
    grip = _about(1, math.radians(rng.uniform(10, 20)))
    return [
        _Solid(BOX, "steel", (0.0, 0.0, 0.0), (length, 1.3, 1.5)),
        _Solid(CYLINDER, "steel", (0.5, 0.0, 0.0), (length - 0.5, 0.6, 0.6), density=13000.0),
        _Solid(BOX, "polymer", (-1.0, 0.0, -2.2), (length - 1.5, 1.3, 0.8)),
        _Solid(BOX, "polymer", (-length + 3.0, 0.0, -6.5), (1.7, 1.4, 5.0), grip),
        _Solid(BOX, "steel", (-length + 3.0, 0.0, -6.5), (1.1, 1.0, 4.6), grip),
        _Solid(BOX, "steel", (-1.5, 0.0, -3.6), (2.0, 0.4, 0.25)),
    ]


def _knife(rng: np.random.Generator) -> list[_Solid]:
    """A fixed blade: thin steel blade with a narrower tip section, polymer or wooden handle."""
    blade, width = rng.uniform(7.0, 11.0), rng.uniform(1.2, 2.0)
    handle = "polymer" if rng.random() < 0.5 else "wood"
    return [
        _Solid(BOX, "steel", (blade * 0.4, 0.0, 0.0), (blade * 0.6, width, 0.15)),
        _Solid(BOX, "steel", (blade * 1.15, -width * 0.3, 0.0), (blade * 0.15, width * 0.6, 0.12)),
        _Solid(BOX, handle, (-5.5, 0.0, 0.0), (5.5, 1.3, 0.9)),
        _Solid(BOX, "steel", (-0.2, 0.0, 0.0), (0.4, width * 1.3, 0.9)),  # guard
    ]


def _explosive(rng: np.random.Generator) -> list[_Solid]:
    """A block of dense organic material with a detonator, wires, a 9 V battery and a circuit board."""
    half = (rng.uniform(5.0, 9.0), rng.uniform(3.5, 6.0), rng.uniform(1.2, 2.5))
    density = rng.uniform(1400.0, 1800.0)
    end = half[0]
    return [
        _Solid(BOX, "polymer", (0.0, 0.0, 0.0), half, density=density),
        _Solid(CYLINDER, "copper", (end - 1.5, 0.0, 0.0), (2.5, 0.35, 0.35)),
        _Solid(CYLINDER, "copper", (end + 3.0, 0.0, 0.0), (2.5, 0.12, 0.12)),
        _Solid(BOX, "steel", (end + 7.0, 0.0, 0.0), (2.4, 1.3, 0.85)),
        _Solid(BOX, "pcb", (end + 3.0, half[1] - 1.0, 0.0), (2.0, 1.5, 0.1)),
    ]


def _cigarettes(rng: np.random.Generator) -> list[_Solid]:
    """Cartons of ten packs side by side: tobacco with foil-lined pack walls every 5.4 cm."""
    solids = []
    for carton in range(int(rng.integers(2, 5))):
        v = 9.2 * carton
        solids.append(_Solid(BOX, "tobacco", (0.0, v, 0.0), (13.5, 4.5, 2.5)))
        solids += [_Solid(BOX, "foil", (u, v, 0.0), (0.12, 4.5, 2.5)) for u in np.arange(-13.5, 13.6, 5.4)]
    return solids


_THREATS: dict[str, Callable[[np.random.Generator], list[_Solid]]] = {
    "firearm": _firearm,
    "knife": _knife,
    "explosive": _explosive,
    "cigarettes": _cigarettes,
}


# --------------------------------------------------------------------------- clutter


def _clothes(rng: np.random.Generator) -> list[_Solid]:
    density = rng.uniform(150, 420)
    half = (rng.uniform(10, 22), rng.uniform(7, 16), rng.uniform(2, 6))
    return [_Solid(ELLIPSOID if rng.random() < 0.5 else BOX, "fabric", (0, 0, 0), half, density=density)]


def _book(rng: np.random.Generator) -> list[_Solid]:
    return [_Solid(BOX, "paper", (0, 0, 0), (rng.uniform(7, 14), rng.uniform(5, 10), rng.uniform(0.8, 2.2)))]


def _bottle(rng: np.random.Generator) -> list[_Solid]:
    radius, half_len = rng.uniform(3.0, 4.2), rng.uniform(9, 13)
    shell = "glass" if rng.random() < 0.4 else "polymer"
    wall = 0.4 if shell == "glass" else 0.15
    return [
        _Solid(CYLINDER, shell, (0, 0, radius), (half_len, radius, radius)),
        _Solid(CYLINDER, "water", (0, 0, radius), (half_len - wall, radius - wall, radius - wall)),
        _Solid(CYLINDER, shell, (half_len + 3, 0, radius), (3, 1.3, 1.3)),
    ]


def _shoes(rng: np.random.Generator) -> list[_Solid]:
    return [
        solid
        for v in (-5.0, 5.0)
        for solid in (
            _Solid(ELLIPSOID, "polymer", (0, v, 2.5), (13, 4.5, 3.5), density=rng.uniform(300, 700)),
            _Solid(BOX, "rubber", (0, v, 0.6), (12.5, 4.0, 0.6)),
        )
    ]


def _laptop(rng: np.random.Generator) -> list[_Solid]:
    hl, hw = rng.uniform(15, 18), rng.uniform(10, 12)
    return [
        _Solid(BOX, "aluminium", (0, 0, 1.0), (hl, hw, 1.0)),
        _Solid(BOX, "polymer", (0, 0, 1.0), (hl - 0.3, hw - 0.3, 0.8), density=300.0),
        _Solid(BOX, "battery", (0, 0.55 * hw, 0.8), (0.8 * hl, 0.3 * hw, 0.35)),
        _Solid(BOX, "pcb", (0, -0.3 * hw, 0.8), (0.6 * hl, 0.4 * hw, 0.1)),
    ]


def _toiletries(rng: np.random.Generator) -> list[_Solid]:
    solids = [
        _Solid(CYLINDER, "polymer", (u, v, 2.2), (5.5, 2.2, 2.2))
        for u, v in zip(rng.uniform(-6, 6, 3), rng.uniform(-5, 5, 3), strict=True)
    ]
    solids += [_Solid(CYLINDER, "water", (s.center[0], s.center[1], 2.2), (5.2, 2.0, 2.0)) for s in solids]
    return [*solids, _Solid(CYLINDER, "aluminium", (0, 7, 2.5), (7.0, 2.5, 2.5), density=1400.0)]


def _electronics(rng: np.random.Generator) -> list[_Solid]:
    solids = [
        _Solid(BOX, "polymer", (0, 0, 1.5), (4, 2.5, 1.5)),
        _Solid(BOX, "steel", (1, 0, 1.5), (1.0, 1.0, 1.0), density=6000.0),
    ]
    for _ in range(int(rng.integers(1, 4))):
        angle = rng.uniform(0, math.pi)
        solids.append(
            _Solid(
                CYLINDER,
                "copper",
                (rng.uniform(-6, 6), rng.uniform(-5, 5), 0.3),
                (rng.uniform(5, 12), 0.15, 0.15),
                _about(2, angle),
                density=3000.0,
            )
        )
    return solids


def _small_metal(rng: np.random.Generator) -> list[_Solid]:
    coins = [
        _Solid(
            CYLINDER,
            "copper",
            (rng.uniform(-4, 4), rng.uniform(-3, 3), 0.1),
            (0.1, 1.2, 1.2),
            _about(1, math.pi / 2),
        )
        for _ in range(int(rng.integers(1, 6)))
    ]
    keys = [
        _Solid(
            BOX,
            "steel",
            (rng.uniform(-4, 4), rng.uniform(-3, 3), 0.1),
            (2.8, 0.6, 0.1),
            _about(2, rng.uniform(0, math.pi)),
        )
        for _ in range(int(rng.integers(0, 4)))
    ]
    return coins + keys


def _can(rng: np.random.Generator) -> list[_Solid]:
    return [
        _Solid(CYLINDER, "steel", (0, 0, 3.8), (5.5, 3.8, 3.8), _about(1, math.pi / 2), density=4000.0),
        _Solid(CYLINDER, "water", (0, 0, 3.8), (5.3, 3.6, 3.6), _about(1, math.pi / 2)),
    ]


_CLUTTER = (_book, _bottle, _shoes, _laptop, _toiletries, _electronics, _small_metal, _can)
_CLUTTER_WEIGHTS = np.array([3, 2, 2, 1, 2, 2, 3, 1], dtype=float) / 16


# --------------------------------------------------------------------------- the simulator


class CtSimulator:
    """Deterministic CT volumes: the same (seed, index) always gives the same volume.

    A fraction ``threat_rate`` of volumes holds one threat from ``THREAT_CLASSES``.
    """

    def __init__(
        self,
        seed: int,
        shape: tuple[int, int, int] = DEFAULT_SHAPE,
        *,
        voxel_mm: float = DEFAULT_VOXEL_MM,
        threat_rate: float = 0.3,
        noise_mhu: float = DEFAULT_NOISE_MHU,
    ) -> None:
        if seed < 0:
            raise ValueError("seed must be non-negative")
        if len(shape) != 3 or min(shape) < 16:
            raise ValueError("shape must be (depth, height, width), each at least 16 voxels")
        if voxel_mm <= 0 or noise_mhu < 0:
            raise ValueError("voxel_mm must be positive and noise_mhu non-negative")
        if not 0.0 <= threat_rate <= 1.0:
            raise ValueError("threat_rate must be within [0, 1]")
        self.seed, self.shape = seed, tuple(shape)
        self.voxel_mm, self.voxel_cm = voxel_mm, voxel_mm / 10
        self.threat_rate, self.noise_mhu = threat_rate, noise_mhu

    def generate(self, index: int, *, threat: str | None = "auto") -> CtScan:
        """Volume number ``index``; ``threat`` as in ``XraySimulator.generate``."""
        if index < 0:
            raise ValueError("index must be non-negative")
        if threat is not None and threat != "auto" and threat not in THREAT_CLASSES:
            raise ValueError(f"threat must be 'auto', None or one of {THREAT_CLASSES}, got {threat!r}")
        scene_seq, threat_seq, noise_seq = np.random.SeedSequence([self.seed, index]).spawn(3)
        work = np.zeros(self.shape, dtype=np.float32)
        interior = self._paint_bag(np.random.default_rng(scene_seq), work)
        truth = self._paint_threat(np.random.default_rng(threat_seq), work, interior, threat)
        volume = np.empty(self.shape, dtype=np.uint16)
        noise_seed = np.uint64(noise_seq.generate_state(1, np.uint64)[0])
        _kernels._finish_volume(work, self.noise_mhu, noise_seed, volume)
        volume.flags.writeable = False
        return CtScan(volume, truth, self.voxel_mm)

    def _size_cm(self) -> np.ndarray:
        return np.asarray(self.shape, dtype=float) * self.voxel_cm

    def _paint(self, work: np.ndarray, solid: _Solid, placement: _Placement) -> None:
        center, rotation = _placed(solid, placement)
        _kernels._paint_solid(
            work,
            solid.kind,
            center / self.voxel_cm,
            np.ascontiguousarray(rotation),
            np.asarray(solid.half, dtype=float) / self.voxel_cm,
            solid.mhu(),
        )

    def _paint_bag(self, rng: np.random.Generator, work: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Belt, bag shell and clutter; return the bag interior (low, high) corners in cm (z, y, x)."""
        size = self._size_cm()
        belt_top = size[1] - BELT_THICKNESS_CM
        belt = _Solid(BOX, "rubber", (size[0] / 2, belt_top + BELT_THICKNESS_CM / 2, size[2] / 2),
                      (size[0], BELT_THICKNESS_CM / 2, size[2]))  # fmt: skip
        self._paint(work, belt, _Placement(np.eye(3), np.zeros(3)))
        length = min(rng.uniform(45, 72), 0.94 * size[0])
        width = min(rng.uniform(30, 50), 0.94 * size[2])
        height = min(rng.uniform(15, 28), 0.9 * (size[1] - BELT_THICKNESS_CM))
        center = np.array([
            rng.uniform(length / 2 + 0.03 * size[0], size[0] - length / 2 - 0.03 * size[0]),
            belt_top - height / 2,
            rng.uniform(width / 2 + 0.03 * size[2], size[2] - width / 2 - 0.03 * size[2]),
        ])  # fmt: skip
        half = np.array([length, height, width]) / 2
        hard = rng.random() < 0.6
        shell, wall = ("polymer", 0.35) if hard else ("fabric", 0.3)
        identity = _Placement(np.eye(3), np.zeros(3))
        self._paint(work, _Solid(BOX, shell, tuple(center), tuple(half)), identity)
        inner = _Solid(BOX, "fabric", tuple(center), tuple(half - wall), density=0.0)
        self._paint(work, inner, identity)
        if hard:  # telescopic handle tubes along the bag's length, at its back
            for dx in (-0.3 * half[2], 0.3 * half[2]):
                tube = (center[0], center[1] + half[1] - wall - 1.0, center[2] + dx)
                solid = _Solid(CYLINDER, "aluminium", tube, (0.85 * half[0], 0.7, 0.7), density=1500.0)
                self._paint(work, solid, identity)
        low, high = center - half + wall + 0.5, center + half - wall - 0.5
        layers = [_clothes] * int(rng.integers(2, 6))
        layers += [
            _CLUTTER[k] for k in rng.choice(len(_CLUTTER), int(rng.integers(4, 10)), p=_CLUTTER_WEIGHTS)
        ]
        for make in layers:
            rotation = _FLAT @ _about(2, rng.uniform(0, 2 * math.pi)) @ _about(0, rng.uniform(-0.15, 0.15))
            solids = make(rng)
            for solid in solids:
                self._paint(work, solid, _dropped(rng, solids, rotation, low, high))
        return low, high

    def _paint_threat(
        self,
        rng: np.random.Generator,
        work: np.ndarray,
        interior: tuple[np.ndarray, np.ndarray],
        threat: str | None,
    ) -> tuple[CtThreatTruth, ...]:
        draw, drawn_label = rng.random(), THREAT_CLASSES[int(rng.integers(len(THREAT_CLASSES)))]
        label = threat
        if threat == "auto":
            label = drawn_label if draw < self.threat_rate else None
        if label is None:
            return ()
        solids = _THREATS[label](rng)
        placement = _dropped(rng, solids, _fitting_rotation(rng, solids, *interior), *interior)
        for solid in solids:
            self._paint(work, solid, placement)
        low, high = _extent_cm(solids, placement, self.voxel_cm)
        return (CtThreatTruth(label, self._box_voxels(low, high)),)

    def _box_voxels(self, low_cm: np.ndarray, high_cm: np.ndarray) -> Box3:
        low = [
            min(max(math.floor(v / self.voxel_cm), 0), n - 1) for v, n in zip(low_cm, self.shape, strict=True)
        ]
        high = [
            max(min(math.ceil(v / self.voxel_cm), n), 1) for v, n in zip(high_cm, self.shape, strict=True)
        ]
        return (low[0], low[1], low[2], high[0], high[1], high[2])


def _fitting_rotation(
    rng: np.random.Generator, solids: list[_Solid], low: np.ndarray, high: np.ndarray
) -> np.ndarray:
    """A uniformly random orientation in which the object fits the interior, else lying flat."""
    for _ in range(THREAT_ORIENTATION_TRIES):
        rotation = _random_rotation(rng)
        oriented_low, oriented_high = _extent_cm(solids, _Placement(rotation, np.zeros(3)))
        if np.all(oriented_high - oriented_low <= high - low):
            return rotation
    return np.asarray(_FLAT @ _about(2, rng.uniform(0, 2 * math.pi)))


def _dropped(
    rng: np.random.Generator, solids: list[_Solid], rotation: np.ndarray, low: np.ndarray, high: np.ndarray
) -> _Placement:
    """Orient an object, then put it at a random position where it fits inside the bag interior."""
    oriented_low, oriented_high = _extent_cm(solids, _Placement(rotation, np.zeros(3)))
    start, stop = low - oriented_low, high - oriented_high
    fraction = rng.uniform(0.0, 1.0, 3)
    origin = np.where(stop < start, (start + stop) / 2, start + fraction * (stop - start))
    return _Placement(rotation, origin)


# --------------------------------------------------------------------------- projections and frames


def projection(
    volume: np.ndarray, axis: int, *, mode: str = "sum", voxel_mm: float = DEFAULT_VOXEL_MM
) -> np.ndarray:
    """A 2D view of a volume along ``axis`` (0 depth, 1 height, 2 width), float32.

    mode "sum": water-equivalent path length in cm (sum of MHU / 1000 times the voxel size), what a
    radiograph along that axis measures; "max": maximum intensity projection in MHU. The image keeps the
    other two axes in order: axis 0 gives (height, width), 1 gives (depth, width), 2 (depth, height).
    """
    if not isinstance(volume, np.ndarray) or volume.ndim != 3:
        raise ValueError("volume must be a 3D numpy array")
    if axis not in (0, 1, 2):
        raise ValueError("axis must be 0, 1 or 2")
    if mode == "sum":
        total = volume.sum(axis=axis, dtype=np.float64)
        return np.asarray(total * (voxel_mm / 10 / 1000), dtype=np.float32)
    if mode == "max":
        return np.asarray(volume.max(axis=axis), dtype=np.float32)
    raise ValueError(f"mode must be 'sum' or 'max', got {mode!r}")


def radiograph(volume: np.ndarray, axis: int, *, voxel_mm: float = DEFAULT_VOXEL_MM) -> np.ndarray:
    """A uint16 transmission image along ``axis``: 65535 * exp(-mu_water * water-equivalent path)."""
    path_cm = projection(volume, axis, mode="sum", voxel_mm=voxel_mm)
    return np.round(65535 * np.exp(-WATER_MU_PER_CM * path_cm.astype(np.float64))).astype(np.uint16)


def project_box(box: Box3, axis: int) -> tuple[int, int, int, int]:
    """A truth box in the projection along ``axis``: (x_min, y_min, x_max, y_max), max exclusive."""
    if axis not in (0, 1, 2):
        raise ValueError("axis must be 0, 1 or 2")
    rows, cols = [a for a in range(3) if a != axis]
    return box[cols], box[rows], box[cols + 3], box[rows + 3]


def to_frame(
    scan: CtScan,
    *,
    source_id: str,
    sequence: int,
    frame_id: str | None = None,
    conveyance_id: str = "",
) -> frame_pb2.Frame:
    """A MODALITY_CT frame: raw little-endian uint16 [depth, height, width] in MHU, truth in metadata."""
    truth = [{"label": t.label, "box": list(t.box)} for t in scan.truth]
    return array_to_frame(
        scan.volume.astype("<u2", copy=False),
        modality=Modality.CT,
        source_id=source_id,
        sequence=sequence,
        frame_id=frame_id,
        conveyance_id=conveyance_id,
        metadata={
            "voxel_size_mm": f"{scan.voxel_size_mm:.4f}",
            "axes": "depth,height,width",
            "units": "MHU",
            "rescale_slope": "1",
            "rescale_intercept": "-1000",  # HU = MHU - 1000
            "sim_truth": json.dumps(truth),
        },
    )


def _measure(scans: int = 10) -> None:
    simulator = CtSimulator(seed=1)
    shape = "x".join(str(n) for n in simulator.shape)
    report_generation_time(simulator.generate, f"{shape} CT volume", scans)


if __name__ == "__main__":
    _measure()
