"""An independent CT baggage generator: the cross-simulator check of the CT threat detector.

It was written apart from the project's own CT simulator (``ct``), without reading it, its kernels,
the CT detector or its documentation: its shapes, densities, scanner and artefacts come from physics
and from what real bags and threats measure. It is never to be used to fit, tune or choose anything
in the detector, only to evaluate it on data the detector was not developed on.

What a scan draws (``AltCtSimulator(seed).generate(index)``, reproducible per (seed, index)):

- a scanner: effective energy 60-90 keV; isotropic voxels of 2.5-4.0 mm (coarsened if the volume would
  exceed ``max_voxels``); a field of view of at most 80 (along the belt) x 40 (high) x 60 (wide) cm,
  trimmed to the bag plus a margin; Gaussian blur of 0.4-0.9 voxel in-plane and 0.3-0.8 along depth;
  noise of 15-60 MHU (11-75 with the slice's load) shaped like filtered back-projection noise
  (ramp-filtered white noise per slice, correlated along depth, stronger in slices holding more
  material); beam-hardening cupping (the centre
  of large objects 0-40 MHU low); calibration error (scale 0.97-1.03, offset -20..+20 MHU); metal streaks
  (2-4 random in-plane angles, 50-600 MHU rising with the metal's path, fading away from it); a clamp at
  5095, 16383 or 30000 MHU;
- values from attenuation, MHU = 1000 mu(material, E) / mu(water, E) with NIST mass attenuation
  coefficients, every solid voxelised by its coverage of each voxel (partial volume: thin walls, wires
  and foil add their true mass, no more);
- a bag: hard polycarbonate or fabric suitcase of 40-70 x 28-48 x 14-30 cm on a rubber belt, with
  trolley tubes, wheels and zips, folded clothes in layers, and 10-30 items (shoes, bottles, toiletries,
  books, laptops, tablets, phones, chargers, power banks, cables, umbrellas, belts, keys, wallets with
  coins, food, hair dryers, glass jars), each at a uniformly random 3D rotation that fits in the bag;
- with probability ``threat_rate`` (or on demand) a threat of one class, drawn uniformly, at a uniformly
  random rotation that fits: ``firearm`` (polymer pistol, steel pistol, revolver, smg), ``knife``
  (kitchen knife, folding knife, combat knife, cleaver), ``explosive`` (plastic explosive, sheet
  explosive, dynamite, cast charge; each with detonator, wires and a battery or circuit board),
  ``cigarettes`` (1-3 cartons or 1-6 loose packs of 20 rods, tobacco 0.20-0.28 g/cm^3). Its truth box
  covers the whole device (all cigarettes placed).

The volume is uint16 [depth, height, width] in modified Hounsfield units (MHU = HU + 1000: air 0, water
1000); depth runs along the belt, height from the top of the field down to the belt. Scanner, bag and
threat use separate random streams, so ``generate(i, threat=None)`` is the same bag as ``generate(i)``
without the threat. ``python -m smartcustoms.hardware.sim.ct_alt`` times generation at the defaults.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np

from smartcustoms.core.types import Modality
from smartcustoms.v1 import frame_pb2

from . import _ct_alt_clutter as clutter
from . import _ct_alt_objects as objects
from ._ct_alt_objects import _u
from ._ct_alt_physics import Layer, Prim, Scanner, Volume, random_rotation, reconstruct
from ._frames import array_to_frame
from ._timing import report_generation_time

THREAT_CLASSES = ("firearm", "knife", "explosive", "cigarettes")
SALT = 0xC7A1  # keeps this generator's random streams apart from any other's with the same seed
FIELD_CM = (80.0, 40.0, 60.0)  # the largest field of view: depth (along the belt), height, width
_MIN_FIELD_CM = (30.0, 20.0, 30.0)
_MIN_VOXELS = 10_000


@dataclass(frozen=True, slots=True)
class AltCtTruth:
    """A threat: its class, its box (z0, y0, x0, z1, y1, x1) in voxels, max exclusive, clipped to the
    volume, and its design ("polymer pistol", "cleaver", "sheet explosive", "cigarette carton", ...)."""

    label: str
    box: tuple[int, int, int, int, int, int]
    design: str


@dataclass(frozen=True, slots=True, eq=False)
class AltCtScan:
    """volume: uint16 [depth, height, width] in MHU (HU + 1000), read-only; voxels ``voxel_size_mm``
    on a side; ``scanner``: the drawn scanner's parameters."""

    volume: np.ndarray
    truth: tuple[AltCtTruth, ...]
    voxel_size_mm: float
    scanner: dict[str, float]


class AltCtSimulator:
    """Bags scanned by a CT scanner drawn per scan. ``max_voxels`` caps the volume, coarsening the
    voxels beyond the drawn 2.5-4.0 mm when the field would not fit otherwise; ``with_field`` makes a
    simulator with a smaller field of view (smaller bags, for tests)."""

    def __init__(self, seed: int, *, threat_rate: float = 0.8, max_voxels: int = 9_000_000) -> None:
        _check_count(seed, "seed")
        if not 0.0 <= threat_rate <= 1.0:
            raise ValueError(f"threat_rate must be a probability in [0, 1], got {threat_rate!r}")
        if max_voxels < _MIN_VOXELS:
            raise ValueError(f"max_voxels must be at least {_MIN_VOXELS}, got {max_voxels!r}")
        self.seed, self.threat_rate, self.max_voxels = int(seed), threat_rate, max_voxels
        self.field_cm: tuple[float, float, float] = FIELD_CM

    @classmethod
    def with_field(
        cls,
        seed: int,
        field_cm: tuple[float, float, float],
        *,
        threat_rate: float = 0.8,
        max_voxels: int = 9_000_000,
    ) -> AltCtSimulator:
        """A simulator whose field of view (depth, height, width cm) is capped at ``field_cm``, smaller
        than ``FIELD_CM``: smaller bags and volumes, for tests."""
        simulator = cls(seed, threat_rate=threat_rate, max_voxels=max_voxels)
        field = tuple(float(f) for f in field_cm)
        bounds = zip(field, _MIN_FIELD_CM, FIELD_CM, strict=False)
        if len(field) != 3 or any(not low <= f <= high for f, low, high in bounds):
            raise ValueError(
                f"field_cm must be (depth, height, width) between {_MIN_FIELD_CM} and {FIELD_CM} cm, "
                f"got {field_cm!r}"
            )
        simulator.field_cm = (field[0], field[1], field[2])
        return simulator

    def generate(self, index: int, *, threat: str | None = "auto") -> AltCtScan:
        """Scan ``index``: ``threat`` "auto" (a threat at the threat rate, its class drawn uniformly),
        None (a clean bag) or a class of ``THREAT_CLASSES`` to force."""
        _check_count(index, "index")
        if threat is not None and threat != "auto" and threat not in THREAT_CLASSES:
            raise ValueError(f"unknown threat {threat!r}: one of 'auto', None, {', '.join(THREAT_CLASSES)}")
        streams = np.random.SeedSequence([SALT, self.seed, int(index)])
        scanner_ss, bag_ss, threat_ss, image_ss = streams.spawn(4)
        threat_rng = np.random.default_rng(threat_ss)
        label = self._label(threat_rng, threat)
        scanner = Scanner.draw(np.random.default_rng(scanner_ss))
        bag_rng = np.random.default_rng(bag_ss)
        layout = _Layout.draw(bag_rng, self.field_cm, scanner.voxel_size_mm / 10, self.max_voxels)
        scanner = scanner.with_voxel_size(layout.voxel_cm * 10)
        volume = Volume(layout.shape, layout.voxel_cm, scanner.energy_kev)
        bag = _Bag(layout)
        bag.pack(bag_rng, volume)
        truth = () if label is None else (bag.insert_threat(threat_rng, volume, label),)
        image = reconstruct(volume.mu, scanner, np.random.default_rng(image_ss))
        image.flags.writeable = False
        return AltCtScan(image, truth, scanner.voxel_size_mm, scanner.record())

    def _label(self, rng: np.random.Generator, threat: str | None) -> str | None:
        draw, choice = rng.random(), int(rng.integers(len(THREAT_CLASSES)))  # always both: stable streams
        if threat == "auto":
            return THREAT_CLASSES[choice] if draw < self.threat_rate else None
        return threat


def _check_count(value: object, name: str) -> None:
    """A seed or an index: a non-negative integer (Python or numpy), not a bool."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")


# --------------------------------------------------------------------------- the field and the bag


@dataclass(frozen=True, slots=True)
class _Layout:
    """Where things are (cm, from the field's corner; axes depth, height, width): the volume's voxels,
    the bag's outer box, the belt's top and thickness."""

    shape: tuple[int, int, int]
    voxel_cm: float
    bag_low: np.ndarray
    bag_high: np.ndarray
    sideways: bool  # the bag's length runs across the belt
    belt_top_cm: float
    belt_cm: float

    @classmethod
    def draw(
        cls, rng: np.random.Generator, field_cm: tuple[float, float, float], voxel_cm: float, max_voxels: int
    ) -> _Layout:
        cap_z, cap_y, cap_x = field_cm
        belt, below, top = _u(rng, 0.8, 1.2), _u(rng, 0.5, 1.5), _u(rng, 2, 5)
        margin = _u(rng, 3, 8)
        height = min(_u(rng, 14, 30), cap_y - belt - below - top)
        length, width = _u(rng, 40, 70), _u(rng, 28, 48)
        sideways = bool(rng.random() < 0.2) and length + 2 * margin <= cap_x
        ext_z, ext_x = (width, length) if sideways else (length, width)
        ext_z, ext_x = min(ext_z, cap_z - 6), min(ext_x, cap_x - 6)
        field = (min(cap_z, ext_z + 2 * margin), top + height + belt + below, min(cap_x, ext_x + 2 * margin))
        shape = _grid(field, voxel_cm)
        while math.prod(shape) > max_voxels:
            voxel_cm *= (math.prod(shape) / max_voxels) ** (1 / 3) * 1.01
            shape = _grid(field, voxel_cm)
        size = np.array(shape) * voxel_cm
        belt_top = size[1] - below - belt
        centre_z = size[0] / 2 + _u(rng, -0.5, 0.5) * (size[0] - ext_z - 2)
        centre_x = size[2] / 2 + _u(rng, -0.5, 0.5) * (size[2] - ext_x - 2)
        low = np.array([centre_z - ext_z / 2, belt_top - height, centre_x - ext_x / 2])
        high = np.array([centre_z + ext_z / 2, belt_top, centre_x + ext_x / 2])
        return cls(shape, voxel_cm, low, high, sideways, float(belt_top), belt)


def _grid(field_cm: tuple[float, float, float], voxel_cm: float) -> tuple[int, int, int]:
    """Voxels per axis covering ``field_cm``, each a multiple of 4 (the reconstruction's coarse grid)."""
    n = [4 * math.ceil(f / voxel_cm / 4) for f in field_cm]
    return (n[0], n[1], n[2])


class _Bag:
    """A suitcase on the belt: its shell and fixtures, clothes, clutter, and the threat placed last."""

    def __init__(self, layout: _Layout) -> None:
        self.layout = layout
        self.low, self.high = layout.bag_low, layout.bag_high
        self.wall_cm = 0.0
        self.taken: list[tuple[np.ndarray, np.ndarray]] = []  # boxes of items placed, cm

    @property
    def inner_low(self) -> np.ndarray:
        return self.low + self.wall_cm + 0.3

    @property
    def inner_high(self) -> np.ndarray:
        return self.high - self.wall_cm - 0.3

    def pack(self, rng: np.random.Generator, volume: Volume) -> None:
        self._belt(rng, volume)
        self._shell(rng, volume)
        items = int(rng.integers(10, 31))
        garments = int(rng.integers(2, 9))
        self._clothes(rng, volume, garments)
        designs, weights = zip(*clutter.CLUTTER, strict=True)
        p = np.asarray(weights) / sum(weights)
        for _ in range(max(items - garments, 5)):
            design = designs[int(rng.choice(len(designs), p=p))]
            placed = self._place(rng, design(rng).prims, tries=25)
            if placed is not None:
                for prim in placed:
                    volume.paint(prim)

    def insert_threat(self, rng: np.random.Generator, volume: Volume, label: str) -> AltCtTruth:
        """Place a threat of class ``label`` (every part inside the bag) and return its truth."""
        designs = objects.THREATS[label]
        for _ in range(8):  # a design too large for this bag at any angle is drawn again
            items = designs[int(rng.integers(len(designs)))](rng)
            placed = [self._place(rng, item.prims, tries=200, fallback=True) for item in items]
            if all(p is not None for p in placed):
                break
        else:
            raise RuntimeError(f"no {label} fits in this bag")
        prims = [prim for part in placed if part is not None for prim in part]
        for prim in prims:
            volume.paint(prim)
        return AltCtTruth(label, self._box(prims, volume), items[0].design)

    def _box(self, prims: list[Prim], volume: Volume) -> tuple[int, int, int, int, int, int]:
        low = np.min([p.centre_cm - p.world_half_cm() for p in prims], axis=0) / volume.voxel_cm
        high = np.max([p.centre_cm + p.world_half_cm() for p in prims], axis=0) / volume.voxel_cm
        shape = volume.mu.shape
        lo = [min(max(0, math.floor(low[a])), shape[a] - 1) for a in range(3)]
        hi = [max(min(shape[a], math.ceil(high[a])), lo[a] + 1) for a in range(3)]
        return (lo[0], lo[1], lo[2], hi[0], hi[1], hi[2])

    # ------------------------------------------------------------------- placing objects

    def _place(
        self, rng: np.random.Generator, prims: list[Prim], *, tries: int, fallback: bool = False
    ) -> list[Prim] | None:
        """The solids at a uniformly random rotation that fits in the bag (None if none of ``tries``
        did, unless ``fallback``: then the object's axes along the bag's, if that fits), at the least
        crowded of a few random spots."""
        hull = np.concatenate([p.hull_cm() for p in prims])
        mid = (hull.min(axis=0) + hull.max(axis=0)) / 2
        room = (self.inner_high - self.inner_low) / 2
        for attempt in range(tries + (2 if fallback else 0)):
            rotation = random_rotation(rng) if attempt < tries else _aligned(hull, room, rng)
            turned = (hull - mid) @ rotation.T
            half = (turned.max(axis=0) - turned.min(axis=0)) / 2
            if np.all(half <= room):
                offset = (turned.max(axis=0) + turned.min(axis=0)) / 2
                centre = self._spot(rng, half)
                self.taken.append((centre - half, centre + half))
                return [p.moved(rotation, centre - offset - rotation @ mid) for p in prims]
        return None

    def _spot(self, rng: np.random.Generator, half: np.ndarray) -> np.ndarray:
        low, high = self.inner_low + half, self.inner_high - half
        best: np.ndarray = low
        best_overlap = math.inf
        for _ in range(6):
            centre = rng.uniform(low, np.maximum(high, low))
            overlap = sum(_overlap_volume(centre - half, centre + half, a, b) for a, b in self.taken)
            if overlap < best_overlap:
                best, best_overlap = centre, overlap
        return best

    # ------------------------------------------------------------------- the bag itself

    def _belt(self, rng: np.random.Generator, volume: Volume) -> None:
        size = np.array(volume.mu.shape) * volume.voxel_cm
        top, thick = self.layout.belt_top_cm, self.layout.belt_cm
        centre = (size[0] / 2, top + thick / 2, size[2] / 2)
        volume.paint(objects.box("polymer", _u(rng, 1.1, 1.25), centre, (size[0], thick / 2, size[2])))

    def _shell(self, rng: np.random.Generator, volume: Volume) -> None:
        hard = rng.random() < 0.6
        self.wall_cm = _u(rng, 0.2, 0.3) if hard else _u(rng, 0.3, 0.6)
        density = _u(rng, 1.15, 1.25) if hard else _u(rng, 0.35, 0.7)  # polycarbonate; nylon over foam
        low, high, t = self.low, self.high, self.wall_cm
        centre, half = (low + high) / 2, (high - low) / 2
        for axis in range(3):
            for side in (-1, 1):
                c, h = centre.copy(), half.copy()
                c[axis] = centre[axis] + side * (half[axis] - t / 2)
                h[axis] = t / 2
                volume.paint(objects.box("polymer", density, c, h))
        for prim in self._fixtures(rng):
            volume.paint(prim)

    def _fixtures(self, rng: np.random.Generator) -> list[Prim]:
        """Trolley tubes along the back, wheels at one end, zips round the middle, a carry handle; built
        along the bag's own length and turned with it."""
        length_axis, across_axis = (2, 0) if self.layout.sideways else (0, 2)
        centre = (self.low + self.high) / 2
        half = (self.high - self.low) / 2
        length, across, height = half[length_axis], half[across_axis], half[1]
        parts: list[Prim] = []
        if rng.random() < 0.7:  # trolley: two aluminium tubes on the back panel, inside
            for side in (-1, 1):
                parts.append(
                    objects.box(
                        "aluminium",
                        2.7,
                        (0, height - self.wall_cm - 1.0, side * across * 0.55),
                        (length - 3, 0.7, 1.2),
                        wall=_u(rng, 0.1, 0.15),
                    )
                )
            for side in (-1, 1):
                parts.append(
                    objects.cyl(
                        "polymer",
                        _u(rng, 1.1, 1.25),
                        (length + 0.8, height - 2.2, side * (across - 3)),
                        2.2,
                        1.0,
                        (0, 0, 1),
                    )
                )
                parts.append(
                    objects.cyl(
                        "steel", 7.85, (length + 0.8, height - 2.2, side * (across - 3)), 0.35, 1.6, (0, 0, 1)
                    )
                )
        metal_zip = rng.random() < 0.3
        zip_material = ("brass", _u(rng, 3.0, 4.5)) if metal_zip else ("polymer", 1.1)
        for side in (-1, 1):
            parts.append(
                objects.box(zip_material[0], zip_material[1], (0, 0, side * across), (length, 0.2, 0.3))
            )
            parts.append(
                objects.box(zip_material[0], zip_material[1], (side * length, 0, 0), (0.3, 0.2, across))
            )
        for _ in range(int(rng.integers(1, 3))):
            parts.append(
                objects.box(
                    "steel", 7.85, (_u(rng, -length, length) * 0.8, 0, across + 0.4), (1.6, 0.5, 0.15)
                )
            )  # zip pulls
        parts.append(
            objects.box("polymer", 1.15, (0, -height * 0.2, -across - 1.5), (6, 1.2, 1.2), wall=0.3)
        )  # handle
        turn = np.eye(3) if not self.layout.sideways else np.array([[0.0, 0, 1], [0, 1, 0], [-1, 0, 0]])
        return [p.moved(turn, centre) for p in parts]

    def _clothes(self, rng: np.random.Generator, volume: Volume, garments: int) -> None:
        """Folded clothes, in 1-3 stacks side by side along the bag: each garment a few layers of fabric
        (cotton, or synthetic) packed at 0.1-0.4 g/cm^3, the stacks filling 30-90% of the bag's height."""
        low, high = self.inner_low, self.inner_high
        length_axis = 2 if self.layout.sideways else 0
        stacks = int(rng.integers(1, 4))
        fill = _u(rng, 0.3, 0.9) * (high[1] - low[1])
        edges = np.linspace(low[length_axis], high[length_axis], stacks + 1)
        for k in range(stacks):
            count = max(1, garments // stacks + (1 if k < garments % stacks else 0))
            lo_z, hi_z, lo_x, hi_x = low[0], high[0], low[2], high[2]
            if length_axis == 0:
                lo_z, hi_z = edges[k], edges[k + 1]
            else:
                lo_x, hi_x = edges[k], edges[k + 1]
            floor = high[1]
            for _ in range(count):
                thickness = fill / count * _u(rng, 0.7, 1.3)
                shrink = rng.uniform(0, 4, 4)
                footprint = (lo_z + shrink[0], lo_x + shrink[1], hi_z - shrink[2], hi_x - shrink[3])
                layers = _garment(rng, floor, thickness)
                volume.paint_layers(footprint, layers)
                floor -= thickness


def _garment(rng: np.random.Generator, bottom_cm: float, thickness_cm: float) -> list[Layer]:
    """A folded garment resting at ``bottom_cm``: 2-6 layers of fabric with thin air gaps."""
    count = int(rng.integers(2, 7))
    material = "cellulose" if rng.random() < 0.7 else "polymer"
    density = _u(rng, 0.1, 0.4)
    share = rng.uniform(0.5, 1.0, count)
    share *= thickness_cm / share.sum()
    layers, top = [], bottom_cm
    for t in share:
        gap = float(t) * _u(rng, 0.0, 0.3)
        top -= float(t)
        layers.append(Layer(top, float(t) - gap, material, density * _u(rng, 0.8, 1.2)))
    return layers


def _aligned(hull: np.ndarray, room: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A rotation laying the object's longest extent along the room's longest, and so on (flipped at
    random), for objects that fit no random rotation."""
    extent = hull.max(axis=0) - hull.min(axis=0)
    rotation = np.zeros((3, 3))
    for own, target in zip(np.argsort(extent), np.argsort(room), strict=True):
        rotation[target, own] = 1.0 if rng.random() < 0.5 else -1.0
    if np.linalg.det(rotation) < 0:
        rotation[:, 0] *= -1
    return rotation


def _overlap_volume(a_low: np.ndarray, a_high: np.ndarray, b_low: np.ndarray, b_high: np.ndarray) -> float:
    return float(np.prod(np.clip(np.minimum(a_high, b_high) - np.maximum(a_low, b_low), 0, None)))


# --------------------------------------------------------------------------- frames


def to_frame(
    scan: AltCtScan, *, source_id: str, sequence: int, frame_id: str | None = None
) -> frame_pb2.Frame:
    """A MODALITY_CT frame: raw little-endian uint16 [depth, height, width] MHU, truth in metadata."""
    truth = [{"label": t.label, "box": list(t.box), "design": t.design} for t in scan.truth]
    metadata = {
        "voxel_size_mm": f"{scan.voxel_size_mm:.4f}",
        "axes": "depth,height,width",
        "units": "MHU",
        "rescale_slope": "1",
        "rescale_intercept": "-1000",
        "generator": "ct_alt",
        "sim_truth": json.dumps(truth),
    }
    return array_to_frame(
        scan.volume.astype("<u2", copy=False),
        modality=Modality.CT,
        source_id=source_id,
        sequence=sequence,
        metadata=metadata,
        frame_id=frame_id,
    )


def _measure(scans: int = 10) -> None:
    simulator = AltCtSimulator(seed=1)
    report_generation_time(simulator.generate, "alt CT bag at the defaults", scans)


if __name__ == "__main__":
    _measure()
