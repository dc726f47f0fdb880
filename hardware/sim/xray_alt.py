"""An independent dual-energy X-ray bag generator: the cross-simulator check of the X-ray detector.

It shares nothing with ``xray`` but the frame contract (uint16 [2, H, W], channel 0 high energy,
65535 = no attenuation, ``pixel_size_mm`` in the metadata). Its objects (``_xray_alt_objects``), its
primitives (``_xray_alt_shapes``) and its physics (``_xray_alt_physics``) are its own:

- every scan draws its own scanner: tube 80-160 kVp with a Kramers spectrum through 1.5-4 mm of
  aluminium, a dual-layer CsI detector with a copper filter between the layers, pixels of 0.5-1.5 mm,
  blur, a residual gain error per detector element and per board, scatter, photon and electronic noise;
- attenuation is polychromatic (six energy bins, NIST-based coefficients of mixtures), so thick objects
  harden the beam; the frame reports the channels' effective energies;
- the bag is a shell (fabric, zip, sometimes trolley tubes and wheels) holding clothes, shoes, laptops,
  chargers, power banks, cables, bottles, books, toiletries, keys, coins, umbrellas, belts and food, each
  at any angle; a bag holds a threat with probability ``threat_rate``: a pistol, revolver or submachine
  gun; a kitchen, folding or combat knife; a phone, tablet or handheld radio; cartons or loose packs of
  cigarettes at 0.2-0.3 g/cm^3 of tobacco, also at any angle.

``AltXraySimulator(seed).generate(index)`` is reproducible per (seed, index). No tool may fit or tune
anything on it: it is what ``smartcustoms eval xray --generator alt`` measures the detector on.
``python -m smartcustoms.hardware.sim.xray_alt`` times the generation of 1024 x 2048 bags.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np

from smartcustoms.core.types import Modality
from smartcustoms.hardware.sim import _xray_alt_objects as objects
from smartcustoms.hardware.sim._frames import array_to_frame
from smartcustoms.hardware.sim._timing import report_generation_time
from smartcustoms.hardware.sim._xray_alt_physics import ENERGY_BINS, MATERIALS, Scanner
from smartcustoms.hardware.sim._xray_alt_shapes import Canvas, Pose, Prim, box, disc, tube
from smartcustoms.v1 import frame_pb2

NAME = "alt"
THREAT_CLASSES = tuple(sorted(objects.THREATS))
FULL_SCALE = 65535
_SALT = 0x5A17  # keeps this generator's random streams apart from any other's with the same seed


@dataclass(frozen=True, slots=True)
class AltTruth:
    """A threat: class, box (x_min, y_min, x_max, y_max) in pixels, max exclusive, and what it is."""

    label: str
    box: tuple[int, int, int, int]
    rotation_deg: float
    design: str


@dataclass(frozen=True, slots=True, eq=False)
class AltScan:
    """image: uint16 (2, H, W), channel 0 high energy, channel 1 low energy, 65535 = no attenuation."""

    image: np.ndarray
    truth: tuple[AltTruth, ...]
    pixel_size_mm: float
    scanner: Scanner

    def metadata(self) -> dict[str, str]:
        """What a frame of this scan says about itself (the frame contract's keys and the truth)."""
        truth = [
            {"label": t.label, "box": list(t.box), "rotation_deg": round(t.rotation_deg, 1)}
            for t in self.truth
        ]
        return {
            "channels": "high,low",
            "pixel_size_mm": f"{self.pixel_size_mm:.4f}",
            "tube_kvp": f"{self.scanner.kvp:.1f}",
            "energy_high_kev": f"{self.scanner.effective_energy_kev(0):.1f}",
            "energy_low_kev": f"{self.scanner.effective_energy_kev(1):.1f}",
            "generator": f"xray_{NAME}",
            "sim_truth": json.dumps(truth),
        }


class AltXraySimulator:
    """Bags of ``height`` x ``width`` pixels (the field grows with each scan's pixel size).

    ``quarter_turns`` lays threats at 0, 90, 180 or 270 degrees only (to tell angle from everything else
    when studying misses); the default, any angle, is the check.
    """

    def __init__(
        self,
        seed: int,
        height: int = 1024,
        width: int = 2048,
        *,
        threat_rate: float = 0.5,
        quarter_turns: bool = False,
    ) -> None:
        if height < 64 or width < 64:
            raise ValueError("an alt X-ray bag is at least 64 x 64 pixels")
        if not 0.0 <= threat_rate <= 1.0:
            raise ValueError("threat_rate is a probability")
        self.seed, self.height, self.width, self.threat_rate = seed, height, width, threat_rate
        self.quarter_turns = quarter_turns

    def generate(self, index: int, *, threat: str | None = "auto") -> AltScan:
        """Scan ``index``; ``threat`` "auto" (at the threat rate), None, or a class to force."""
        rng = np.random.default_rng([_SALT, self.seed, index])
        scanner = Scanner.draw(rng)
        canvas = self._canvas(scanner)
        contents = np.random.default_rng([_SALT, self.seed, index, 1])  # the bag, apart from the scanner
        bag = _Bag.draw(contents, canvas)
        bag.pack(contents, canvas)
        label = self._threat_label(contents, threat)
        truth = () if label is None else (bag.insert_threat(contents, canvas, label, self.quarter_turns),)
        image = form_image(canvas.lines, scanner, np.random.default_rng([_SALT, self.seed, index, 2]))
        return AltScan(image, truth, scanner.pixel_size_mm, scanner)

    def _canvas(self, scanner: Scanner) -> Canvas:
        lines = np.zeros((ENERGY_BINS, self.height, self.width), dtype=np.float32)
        attenuation = {material: scanner.bin_attenuation(material) for material in MATERIALS}
        canvas = Canvas(lines, scanner.pixel_size_mm / 10, attenuation)
        for k in range(ENERGY_BINS):  # the belt, everywhere
            lines[k] += attenuation["rubber"][k] * 0.35
        return canvas

    def _threat_label(self, rng: np.random.Generator, threat: str | None) -> str | None:
        if threat == "auto":
            draw = rng.random()
            return str(rng.choice(THREAT_CLASSES)) if draw < self.threat_rate else None
        if threat is not None and threat not in THREAT_CLASSES:
            raise ValueError(f"unknown threat class {threat!r}; one of {', '.join(THREAT_CLASSES)}")
        return threat


@dataclass
class _Bag:
    """The bag's rectangle in the field (cm) and its rotation."""

    x_cm: float
    y_cm: float
    length_cm: float
    width_cm: float
    angle_deg: float

    @classmethod
    def draw(cls, rng: np.random.Generator, canvas: Canvas) -> _Bag:
        _, height, width = canvas.lines.shape
        field_w, field_h = width * canvas.pixel_cm, height * canvas.pixel_cm
        length = min(float(rng.uniform(45, 80)), field_w * 0.85)
        bag_width = min(float(rng.uniform(30, 50)), field_h * 0.8)
        x = field_w / 2 + float(rng.uniform(-0.1, 0.1)) * (field_w - length)
        y = field_h / 2 + float(rng.uniform(-0.1, 0.1)) * (field_h - bag_width)
        return cls(x, y, length, bag_width, float(rng.uniform(-10, 10)))

    def point(self, u: float, v: float) -> tuple[float, float]:
        """Field cm of a point given in the bag's frame (origin at its centre)."""
        a = math.radians(self.angle_deg)
        return self.x_cm + u * math.cos(a) - v * math.sin(a), self.y_cm + u * math.sin(a) + v * math.cos(a)

    def pose(self) -> Pose:
        x, y = self.point(-self.length_cm / 2, -self.width_cm / 2)
        return Pose(x, y, self.angle_deg)

    def pack(self, rng: np.random.Generator, canvas: Canvas) -> None:
        canvas.draw(self._shell(rng), self.pose())
        for design, mean in objects.CLUTTER:
            for _ in range(int(rng.poisson(mean))):
                self._place(rng, canvas, design(rng), margin=0.0)

    def insert_threat(
        self, rng: np.random.Generator, canvas: Canvas, label: str, quarter_turns: bool = False
    ) -> AltTruth:
        designs = objects.THREATS[label]
        design = designs[int(rng.integers(len(designs)))]
        prims = design(rng)
        turn = float(90 * rng.integers(4)) if quarter_turns else None
        pose = None
        for attempt in range(60):  # a threat lies wholly inside the field (the last tries: its centre)
            margin = 1.0 if attempt < 50 else 0.0
            pose = self._place(rng, canvas, prims, margin=margin, dry_run=True, angle=turn)
            if pose is not None:
                break
        if pose is None:
            raise RuntimeError("no place for the threat in the field")
        drawn = canvas.draw(prims, pose)
        if drawn is None:
            raise RuntimeError("the threat left the field")
        return AltTruth(label, drawn, pose.angle_deg % 360, design.__name__)

    def _place(
        self,
        rng: np.random.Generator,
        canvas: Canvas,
        prims: list[Prim],
        *,
        margin: float,
        dry_run: bool = False,
        angle: float | None = None,
    ) -> Pose | None:
        """A pose at any angle with the object's centre inside the bag; drawn unless ``dry_run``; None
        when ``margin`` > 0 and the object would reach outside the field."""
        u0, v0, u1, v1 = _object_extent(prims)
        centre = np.array([(u0 + u1) / 2, (v0 + v1) / 2])
        drawn_angle = float(rng.uniform(0, 360))
        angle = drawn_angle if angle is None else angle
        mirror = bool(rng.random() < 0.5)
        half_u = max(0.0, self.length_cm / 2 - 0.5 * (u1 - u0) * 0.7)  # mostly inside the bag
        half_v = max(0.0, self.width_cm / 2 - 0.5 * (v1 - v0) * 0.7)
        bag_u, bag_v = float(rng.uniform(-half_u, half_u)), float(rng.uniform(-half_v, half_v))
        x, y = self.point(bag_u, bag_v)
        a = math.radians(angle)
        rotation = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
        local = centre * np.array([1.0, -1.0 if mirror else 1.0])
        origin = np.array([x, y]) - rotation @ local
        pose = Pose(float(origin[0]), float(origin[1]), angle, mirror)
        if margin > 0:
            radius = math.hypot(u1 - u0, v1 - v0) / 2 + margin
            _, height, width = canvas.lines.shape
            field_w, field_h = width * canvas.pixel_cm, height * canvas.pixel_cm
            if not (radius <= x <= field_w - radius and radius <= y <= field_h - radius):
                return None
        if not dry_run:
            canvas.draw(prims, pose)
        return pose

    def _shell(self, rng: np.random.Generator) -> list[Prim]:
        length, width = self.length_cm, self.width_cm
        fabric = str(rng.choice(["polyethylene", "polycarbonate", "leather"]))
        parts = [
            box(fabric, 0, length, 0, width, float(rng.uniform(0.15, 0.6))),  # top and bottom panels
            box(fabric, 0, length, 0, 1.2, 6.0),
            box(fabric, 0, length, width - 1.2, width, 6.0),  # sides
            box(fabric, 0, 1.2, 0, width, 6.0),
            box(fabric, length - 1.2, length, 0, width, 6.0),
            box("brass", 0.6, length - 0.6, 0.9, 1.3, 0.25),
            box("brass", 0.6, length - 0.6, width - 1.3, width - 0.9, 0.25),  # zip
        ]
        if rng.random() < 0.6:  # trolley: two aluminium tubes along the bag, wheels at one end
            for v in (width * 0.25, width * 0.75):
                parts += [
                    box("aluminium", 2, length - 2, v - 1.2, v + 1.2, 0.3),
                    box("aluminium", 2, length - 2, v - 1.2, v - 1.0, 2.0),
                    box("aluminium", 2, length - 2, v + 1.0, v + 1.2, 2.0),
                    disc("rubber", length - 2.5, v, 2.5, 2.5, 3.0),
                    disc("steel", length - 2.5, v, 0.4, 0.4, 4.0),
                ]
            parts.append(tube("aluminium", 0.0, 3.0, width / 2, 2.5, 2.2))  # handle housing
        return parts


def _object_extent(prims: list[Prim]) -> tuple[float, float, float, float]:
    """The object's extent in its own frame (each primitive's corners placed)."""
    us: list[float] = []
    vs: list[float] = []
    for prim in prims:
        u0, v0, u1, v1 = prim.extent()
        pu, pv, pa = prim.at
        a = math.radians(pa)
        for u, v in ((u0, v0), (u0, v1), (u1, v0), (u1, v1)):
            us.append(pu + u * math.cos(a) - v * math.sin(a))
            vs.append(pv + u * math.sin(a) + v * math.cos(a))
    return min(us), min(vs), max(us), max(vs)


# --------------------------------------------------------------------------- the image chain


def form_image(lines: np.ndarray, scanner: Scanner, rng: np.random.Generator) -> np.ndarray:
    """Per-bin line integrals [bins, H, W] (float32, overwritten) to a flat-fielded uint16 image."""
    _, weights = scanner.bins
    transmission = np.exp(np.negative(lines, out=lines), out=lines)
    signal = np.tensordot(weights, transmission, axes=1)  # [2, H, W]: channel 0 high, 1 low
    _, height, width = lines.shape
    for channel in range(2):
        plane = signal[channel]
        plane += np.float32(scanner.scatter) * _halo(plane)
        plane *= np.float32(1.0 / (1.0 + scanner.scatter))
        extra = scanner.blur_px[2] if channel == 1 else 0.0
        plane = _blur(plane, math.hypot(scanner.blur_px[0], extra), axis=0)
        plane = _blur(plane, math.hypot(scanner.blur_px[1], extra), axis=1)
        boards = np.repeat(rng.normal(1.0, scanner.module_gain_sd, height // 64 + 1), 64)[:height]
        gain = rng.normal(1.0, scanner.row_gain_sd, height) * boards * scanner.quanta[channel]
        counts = plane * gain.astype(np.float32)[:, None]
        spread = np.sqrt(np.maximum(counts, 0) + np.float32(scanner.electronic_noise**2))
        spread *= rng.standard_normal((height, width), dtype=np.float32)
        counts += spread
        counts *= np.float32(FULL_SCALE / scanner.quanta[channel])
        signal[channel] = counts
    image: np.ndarray = np.clip(np.rint(signal, out=signal), 0, FULL_SCALE, out=signal).astype(np.uint16)
    return image


def _blur(plane: np.ndarray, sigma: float, axis: int) -> np.ndarray:
    """A 5-tap Gaussian along one axis (sigma below about 1.2 px), edges repeated."""
    taps = np.exp(-0.5 * (np.arange(-2, 3) / max(sigma, 1e-3)) ** 2)
    taps = (taps / taps.sum()).astype(np.float32)
    padded = np.pad(plane, [(2, 2) if a == axis else (0, 0) for a in range(2)], mode="edge")
    length = plane.shape[axis]
    out: np.ndarray = taps[0] * padded.take(range(0, length), axis=axis)
    for k in range(1, 5):
        out += taps[k] * (padded[k : k + length] if axis == 0 else padded[:, k : k + length])
    return out


def _halo(channel: np.ndarray) -> np.ndarray:
    """Scatter: the signal spread over some 10 cm (computed on a grid 16 times coarser)."""
    height, width = channel.shape
    coarse = channel[: height // 16 * 16, : width // 16 * 16].reshape(height // 16, 16, width // 16, 16)
    means = coarse.mean(axis=(1, 3))
    spread = _smoothing(means.shape[0]) @ means @ _smoothing(means.shape[1]).T
    full = np.repeat(np.repeat(spread, 16, axis=0), 16, axis=1)
    out = np.empty_like(channel)
    out[:] = full.mean()
    out[: full.shape[0], : full.shape[1]] = full
    return out


def _smoothing(size: int, sigma: float = 4.0) -> np.ndarray:
    """A Gaussian smoothing matrix (rows sum to 1), for a small grid."""
    index = np.arange(size)
    weights = np.exp(-0.5 * ((index[:, None] - index[None, :]) / sigma) ** 2)
    out: np.ndarray = (weights / weights.sum(axis=1, keepdims=True)).astype(np.float32)
    return out


# --------------------------------------------------------------------------- calibration scans


WEDGE_STEPS_CM: dict[str, tuple[float, ...]] = {
    "cellulose": (0.5, 1.0, 2.0, 4.0, 8.0, 16.0),  # cellulose at 1.5 g/cm^3: the organic basis
    "aluminium": (0.2, 0.5, 1.0, 2.0, 4.0),
    "iron": (0.02, 0.05, 0.1, 0.2, 0.4, 0.8),  # steel: the metal basis
}
_WEDGE_MATERIAL = {
    "cellulose": ("cotton", 1.5),
    "aluminium": ("aluminium", 1.0),
    "iron": ("steel", 7.87 / 7.85),
}


@dataclass(frozen=True)
class WedgeScan:
    """A scan of the belt alone (air and belt), and of a step wedge: for each material, its steps'
    thickness (cm) and pixel box."""

    air: np.ndarray
    wedge: np.ndarray
    steps: tuple[tuple[str, float, tuple[int, int, int, int]], ...]
    scanner: Scanner


def wedge_scan(seed: int, index: int, height: int = 512, width: int = 1024) -> WedgeScan:
    """The calibration scans a site takes on the scanner of ``AltXraySimulator(seed).generate(index)``."""
    rng = np.random.default_rng([_SALT, seed, index])
    scanner = Scanner.draw(rng)
    simulator = AltXraySimulator(seed, height, width)
    empty = simulator._canvas(scanner)
    air = form_image(empty.lines.copy(), scanner, np.random.default_rng([_SALT, seed, index, 3]))
    steps = []
    pixel_cm = empty.pixel_cm
    step_cm = min(height * pixel_cm / 4, width * pixel_cm / 8)
    for row, (name, thicknesses) in enumerate(WEDGE_STEPS_CM.items()):
        material, density = _WEDGE_MATERIAL[name]
        for col, thickness in enumerate(thicknesses):
            x0, y0 = (col + 0.5) * step_cm, (row + 0.5) * step_cm
            part = box(material, 0, step_cm * 0.8, 0, step_cm * 0.8, thickness, density=density)
            drawn = empty.draw([part], Pose(x0, y0, 0.0))
            if drawn is not None:
                steps.append((name, thickness, drawn))
    wedge = form_image(empty.lines, scanner, np.random.default_rng([_SALT, seed, index, 4]))
    return WedgeScan(air, wedge, tuple(steps), scanner)


def threat_scan(seed: int, index: int, label: str) -> AltScan:
    """A threat of class ``label`` alone on the belt, at any angle, as a site scans a seized object to
    enrol it, on the scanner of ``AltXraySimulator(seed).generate(index)``; the image is square, large
    enough to hold the object at any angle with a margin of belt (at least 256 pixels)."""
    if label not in THREAT_CLASSES:
        raise ValueError(f"unknown threat class {label!r}; one of {', '.join(THREAT_CLASSES)}")
    scanner = Scanner.draw(np.random.default_rng([_SALT, seed, index]))
    contents = np.random.default_rng([_SALT, seed, index, 5])
    designs = objects.THREATS[label]
    design = designs[int(contents.integers(len(designs)))]
    prims = design(contents)
    u0, v0, u1, v1 = _object_extent(prims)
    pixel_cm = scanner.pixel_size_mm / 10
    side = max(256, math.ceil((math.hypot(u1 - u0, v1 - v0) + 8.0) / pixel_cm))
    canvas = AltXraySimulator(seed, side, side)._canvas(scanner)
    angle, mirror = float(contents.uniform(0, 360)), bool(contents.random() < 0.5)
    a = math.radians(angle)
    rotation = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    centre = np.array([(u0 + u1) / 2, ((v0 + v1) / 2) * (-1.0 if mirror else 1.0)])
    origin = np.full(2, side * pixel_cm / 2) - rotation @ centre
    drawn = canvas.draw(prims, Pose(float(origin[0]), float(origin[1]), angle, mirror))
    if drawn is None:
        raise RuntimeError("the threat left the field")
    image = form_image(canvas.lines, scanner, np.random.default_rng([_SALT, seed, index, 6]))
    return AltScan(image, (AltTruth(label, drawn, angle, design.__name__),), scanner.pixel_size_mm, scanner)


# --------------------------------------------------------------------------- frames


def to_frame(
    scan: AltScan, *, source_id: str, sequence: int, frame_id: str | None = None, conveyance_id: str = ""
) -> frame_pb2.Frame:
    """A MODALITY_XRAY frame: raw little-endian uint16 [2, H, W], scanner and ground truth in metadata."""
    return array_to_frame(
        scan.image.astype("<u2", copy=False),
        modality=Modality.XRAY,
        source_id=source_id,
        sequence=sequence,
        frame_id=frame_id,
        conveyance_id=conveyance_id,
        metadata=scan.metadata(),
    )


def _measure(height: int = 1024, width: int = 2048, scans: int = 20) -> None:
    simulator = AltXraySimulator(seed=1, height=height, width=width)
    report_generation_time(simulator.generate, f"{height}x{width} alt dual-energy bag", scans)


if __name__ == "__main__":
    _measure()
