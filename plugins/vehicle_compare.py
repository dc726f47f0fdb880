"""vehicle_compare: compare each vehicle X-ray scan with the reference scans of its model.

For a portal scan whose metadata names the vehicle model (``vehicle_model``) or container type
(``container_type``), each reference of that model in the ``ReferenceLibrary`` is aligned with the scan
(shift along and across the vehicle, from the normalised cross-correlation of column and row profiles
of attenuation, refined to sub-pixel by a parabola), and the best-aligned one subtracted in the log
domain: attenuation = -ln(I / I0) adds along the beam, so the difference is what the vehicle carries
that its empty reference does not (or lacks). The difference is smoothed over ``smooth_px`` pixels and
kept where it exceeds both ``min_attenuation`` and ``min_z`` standard deviations of photon noise plus
an edge term for residual misalignment. Regions of at least ``min_area_cm2`` are then judged:

* outside the cargo space: ``hidden_compartment`` (material where the empty vehicle has none, or
  less where it has some: contraband displacing fuel in a tank);
* in the cargo space of a vehicle declared empty (``declared_goods`` = ``empty``): ``undeclared_goods``;
* in the cargo space beyond the declared load: ``extra_load``. The declared load is
  ``declared_pallets`` pallets of ``pallet_pitch_cm`` from the front of the cargo space; a frame
  without ``declared_pallets`` cannot be checked for extra load (said in the explanation of nothing:
  no detection, and the attribute ``extra_load_checked`` is absent), only for the other two.

Each detection carries its box (pixels of the scan), the reference used (``reference``), the shift
found and the attenuation excess, as attributes and in its explanation.

Frames that are not vehicle scans: with ``require_vehicle_metadata`` (default) a frame without a model
in its metadata raises ``ValueError`` (the frame goes to manual inspection, the error names the fix:
route only portal sources to this plugin); with it false such a frame is returned CLEAR with no
detection, for deployments where another plugin looks at baggage X-ray frames on the same topic.
A model without any reference raises ``LookupError``: a vehicle nobody compared is never cleared.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

import cv2
import numpy as np

from smartcustoms.core.frames import FrameView
from smartcustoms.core.hookspecs import hookimpl
from smartcustoms.core.types import Assessment, Detection, Modality, PluginSpec
from smartcustoms.plugins import _vehicle_kernels as kernels
from smartcustoms.plugins.reference_library import BoxPx, Reference, ReferenceLibrary

LABELS = ("hidden_compartment", "undeclared_goods", "extra_load")
MODEL_KEYS = ("vehicle_model", "container_type")
FULL_SCALE = 65535.0


@dataclass(frozen=True)
class VehicleSettings:
    reference_dir: str = ""
    builtin_references: bool = True
    require_vehicle_metadata: bool = True
    photons_per_pixel: float = 4.0e5  # high-energy channel, for the noise model
    max_shift_px: int = 80  # along the vehicle
    max_shift_y_px: int = 10  # suspension travel
    smooth_px: int = 9
    edge_fraction: float = 0.35  # residual misalignment, as a fraction of the local gradient per pixel
    min_z: float = 6.0
    min_attenuation: float = 0.08
    min_area_cm2: float = 100.0
    join_cm: float = 15.0  # regions closer than this are one
    pallet_pitch_cm: float = 125.0
    declared_tolerance_cm: float = 40.0
    cargo_roof_margin_cm: float = 12.0  # the roof void is not cargo space
    cargo_side_margin_cm: float = 6.0  # the walls' edges blur into the cargo space

    @classmethod
    def from_mapping(cls, settings: Mapping[str, Any]) -> VehicleSettings:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(settings) - known)
        if unknown:
            raise ValueError(f"vehicle_compare: unknown setting(s) {', '.join(unknown)}")
        return cls(**settings)


SPEC = PluginSpec(
    name="vehicle_compare",
    version="1.0.0",
    consumes=frozenset({Modality.XRAY}),
    description="vehicle X-ray scans against reference scans of their model: hidden compartments, "
    "undeclared goods, extra load",
    default_settings={f.name: f.default for f in fields(VehicleSettings)},
    requires_metadata=frozenset(MODEL_KEYS),  # portal scans name their vehicle model or container type
)


# --------------------------------------------------------------------------- public wrappers of the kernels


def attenuation(image: np.ndarray) -> np.ndarray:
    """-ln(I / 65535) of a uint16 transmission image [H, W], float32 (I = 0 counts as 1)."""
    if image.ndim != 2 or image.dtype != np.uint16:
        raise ValueError(f"expected a uint16 [H, W] image, got {image.dtype} {image.shape}")
    out = np.empty(image.shape, dtype=np.float32)
    kernels._attenuation(np.ascontiguousarray(image), FULL_SCALE, out)
    return out


def estimate_shift(scan: np.ndarray, reference: np.ndarray, max_dx: int, max_dy: int) -> tuple[float, float]:
    """(dx, dy) with scan[y + dy, x + dx] ~ reference[y, x], for attenuation images of one shape.

    Columns: correlation of the gradients of the column sums (edges of the body, wheels, frames);
    rows likewise. Sub-pixel by a parabola through the best score and its neighbours.
    """
    if scan.shape != reference.shape or scan.ndim != 2:
        raise ValueError("scan and reference must be 2D attenuation images of one shape")
    dx = _profile_shift(scan.sum(axis=0), reference.sum(axis=0), max_dx)
    dy = _profile_shift(scan.sum(axis=1), reference.sum(axis=1), max_dy)
    return dx, dy


def _profile_shift(scan: np.ndarray, reference: np.ndarray, max_shift: int) -> float:
    a, b = np.gradient(scan.astype(np.float64)), np.gradient(reference.astype(np.float64))
    scores = kernels._best_shift(a, b, int(max_shift))
    best = int(np.argmax(scores))
    offset = 0.0
    if 0 < best < len(scores) - 1:
        left, middle, right = scores[best - 1], scores[best], scores[best + 1]
        curvature = left - 2 * middle + right
        if curvature < 0:
            offset = float(np.clip(0.5 * (left - right) / curvature, -0.5, 0.5))
    return best - max_shift + offset


# --------------------------------------------------------------------------- the comparison


@dataclass(frozen=True)
class Declaration:
    """What the vehicle is declared to carry: ``goods`` "" when empty; pallets None when not declared."""

    goods: str
    pallets: int | None = None

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, str]) -> Declaration:
        goods = metadata.get("declared_goods", "").strip()
        pallets = metadata.get("declared_pallets", "").strip()
        return cls("" if goods.lower() in ("", "empty", "none") else goods, int(pallets) if pallets else None)


@dataclass(frozen=True)
class Comparison:
    """A scan against one reference: the aligned difference and how well they matched."""

    reference: Reference
    shift: tuple[float, float]
    difference: np.ndarray  # smoothed attenuation difference, scan minus aligned reference
    mask: np.ndarray  # uint8: 1 excess, 2 deficit, 0 nothing
    residual: float  # median |difference| over the vehicle: lower is a better match


class VehicleComparer:
    def __init__(
        self, settings: VehicleSettings | None = None, library: ReferenceLibrary | None = None
    ) -> None:
        self.settings = settings or VehicleSettings()
        self.library = library or ReferenceLibrary(
            self.settings.reference_dir or None, builtin=self.settings.builtin_references
        )

    def compare(
        self, image: np.ndarray, model: str, declaration: Declaration, pixel_size_mm: float | None = None
    ) -> tuple[list[Detection], Comparison]:
        """Detections for one scan (uint16 [2, H, W] or [H, W]) of ``model``, and the comparison used."""
        high = image[0] if image.ndim == 3 else image
        references = self.library.references(model, (high.shape[0], high.shape[1]))
        if not references:
            raise LookupError(
                f"vehicle_compare: no reference scan of model {model!r} "
                f"(known: {', '.join(self.library.models())})"
            )
        scan = attenuation(np.ascontiguousarray(high))
        best = min((self._against(scan, r, pixel_size_mm) for r in references), key=lambda c: c.residual)
        return self._detections(best, declaration, pixel_size_mm), best

    def _against(self, scan: np.ndarray, reference: Reference, pixel_size_mm: float | None) -> Comparison:
        s = self.settings
        ref, cargo_scale = _fitted(reference, scan.shape, pixel_size_mm)
        dx, dy = estimate_shift(scan, ref, s.max_shift_px, s.max_shift_y_px)
        translation = np.array([[1, 0, dx], [0, 1, dy]], dtype=np.float32)
        size = (scan.shape[1], scan.shape[0])
        moved = np.asarray(
            cv2.warpAffine(ref, translation, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        )
        window = int(s.smooth_px)
        difference = cv2.blur(scan - moved, (window, window))
        noise = np.empty_like(scan)
        kernels._noise_sigma(cv2.blur(scan, (window, window)), s.photons_per_pixel, window, noise)
        gx = cv2.Sobel(moved, cv2.CV_32F, 1, 0, ksize=3) / 8
        gy = cv2.Sobel(moved, cv2.CV_32F, 0, 1, ksize=3) / 8
        edges = cv2.blur(np.hypot(gx, gy) * np.float32(s.edge_fraction), (window, window))
        mask = np.empty(scan.shape, dtype=np.uint8)
        kernels._anomaly_mask(difference, noise, edges, s.min_z, s.min_attenuation, mask)
        body = (scan > 0.02) | (moved > 0.02)
        residual = float(np.median(np.abs(difference[body]))) if body.any() else 0.0
        del cargo_scale
        return Comparison(reference, (dx, dy), difference, mask, residual)

    def _detections(
        self, comparison: Comparison, declaration: Declaration, pixel_size_mm: float | None
    ) -> list[Detection]:
        s = self.settings
        pixel_cm = (pixel_size_mm or comparison.reference.pixel_size_mm or 5.0) / 10
        cargo = _shifted(comparison.reference.cargo_box, comparison.shift)
        if cargo is not None:
            side = round(s.cargo_side_margin_cm / pixel_cm)
            cargo = (
                cargo[0] - side,
                cargo[1] + round(s.cargo_roof_margin_cm / pixel_cm),
                cargo[2] + side,
                cargo[3],
            )
        detections = []
        found = (comparison.mask > 0).astype(np.uint8)
        inside = np.zeros_like(found)
        if cargo is not None:
            x0, y0, x1, y1 = (max(v, 0) for v in cargo)
            inside[y0:y1, x0:x1] = found[y0:y1, x0:x1]
        for part in (found - inside, inside):  # regions never join across the cargo space's walls
            for box, pixels in self._regions(part, pixel_cm):
                excess = float(np.mean(comparison.difference[pixels]))
                detection = self._judge(box, excess, len(pixels[0]), cargo, declaration, comparison, pixel_cm)
                if detection is not None:
                    detections.append(detection)
        return detections

    def _regions(self, found: np.ndarray, pixel_cm: float) -> list[tuple[BoxPx, tuple[np.ndarray, ...]]]:
        """Regions of a uint8 mask joined across gaps under ``join_cm``: box and pixels of each."""
        join = max(1, round(self.settings.join_cm / pixel_cm))
        count, labels = cv2.connectedComponents(
            cv2.dilate(found, np.ones((join, join), np.uint8)), connectivity=8
        )
        labels[found == 0] = 0  # measured on the pixels found, not on the dilation
        regions = []
        for index in range(1, count):
            pixels = np.nonzero(labels == index)
            if len(pixels[0]) >= self.settings.min_area_cm2 / pixel_cm**2:
                ys, xs = pixels
                regions.append(((int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1), pixels))
        return regions

    def _judge(
        self,
        box: BoxPx,
        excess: float,
        area: int,
        cargo: BoxPx | None,
        declaration: Declaration,
        comparison: Comparison,
        pixel_cm: float,
    ) -> Detection | None:
        s = self.settings
        x0, y0, x1, y1 = box
        centre = ((x0 + x1) / 2, (y0 + y1) / 2)
        in_cargo = cargo is not None and cargo[0] <= centre[0] < cargo[2] and cargo[1] <= centre[1] < cargo[3]
        attributes = {
            "reference": comparison.reference.name,
            "reference_model": comparison.reference.model,
            "shift_px": f"{comparison.shift[0]:.2f},{comparison.shift[1]:.2f}",
            "attenuation_excess": f"{excess:.3f}",
            "area_cm2": f"{area * pixel_cm**2:.0f}",
        }
        what = "more" if excess > 0 else "less"
        dx, dy = comparison.shift
        why = (
            f"{what} material than the empty {comparison.reference.model} reference "
            f"({comparison.reference.name}, aligned by {dx:+.1f},{dy:+.1f} px): "
            f"mean attenuation {excess:+.2f} over {area * pixel_cm**2 / 1e4:.2f} m2"
        )
        if not in_cargo or cargo is None:
            return Detection(
                "hidden_compartment",
                _score(excess),
                box=_box(box),
                explanation=why,
                attributes={**attributes, "location": _location(box, cargo)},
            )
        if not declaration.goods:
            return Detection(
                "undeclared_goods",
                _score(excess),
                box=_box(box),
                explanation=f"cargo space declared empty: {why}",
                attributes={**attributes, "location": "cargo_space"},
            )
        if declaration.pallets is None:
            return None  # declared goods of unknown quantity: the load cannot be checked
        declared_end = (
            cargo[0] + (declaration.pallets * s.pallet_pitch_cm + s.declared_tolerance_cm) / pixel_cm
        )
        if x1 <= declared_end:
            return None
        extra = (max(x0, round(declared_end - s.declared_tolerance_cm / pixel_cm)), y0, x1, y1)
        return Detection(
            "extra_load",
            _score(excess),
            box=_box(extra),
            explanation=f"load beyond the {declaration.pallets} declared pallet(s) of "
            f"{declaration.goods}: {why}",
            attributes={
                **attributes,
                "location": "cargo_space",
                "declared_pallets": str(declaration.pallets),
            },
        )


def _score(excess: float) -> float:
    return float(np.clip(0.5 + abs(excess), 0.5, 0.99))


def _box(box: BoxPx) -> tuple[float, float, float, float]:
    return (float(box[0]), float(box[1]), float(box[2]), float(box[3]))


def _location(box: BoxPx, cargo: BoxPx | None) -> str:
    if cargo is None:
        return "body"
    if box[1] >= cargo[3]:
        return "below_cargo_floor"
    return "cab_or_chassis" if box[2] <= cargo[0] else "cargo_walls_or_roof"


def _shifted(box: BoxPx | None, shift: tuple[float, float]) -> BoxPx | None:
    if box is None:
        return None
    dx, dy = round(shift[0]), round(shift[1])
    return (box[0] + dx, box[1] + dy, box[2] + dx, box[3] + dy)


def _fitted(
    reference: Reference, shape: tuple[int, ...], pixel_size_mm: float | None
) -> tuple[np.ndarray, float]:
    """The reference's attenuation at the scan's pixel size, padded or cut to the scan's shape."""
    ref = attenuation(np.ascontiguousarray(reference.high_energy))
    scale = 1.0
    if pixel_size_mm and reference.pixel_size_mm and abs(reference.pixel_size_mm / pixel_size_mm - 1) > 1e-3:
        scale = reference.pixel_size_mm / pixel_size_mm
        size = (max(1, round(ref.shape[1] * scale)), max(1, round(ref.shape[0] * scale)))
        ref = cv2.resize(ref, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    fitted = np.zeros(shape, dtype=np.float32)
    height, width = min(shape[0], ref.shape[0]), min(shape[1], ref.shape[1])
    fitted[shape[0] - height :, :width] = ref[ref.shape[0] - height :, :width]  # keep the ground line
    return fitted, scale


# --------------------------------------------------------------------------- frames and hooks


def vehicle_model(metadata: Mapping[str, str]) -> str | None:
    return next((metadata[k].strip() for k in MODEL_KEYS if metadata.get(k, "").strip()), None)


_comparer: VehicleComparer | None = None


def _current() -> VehicleComparer:
    global _comparer
    if _comparer is None:
        _comparer = VehicleComparer()
    return _comparer


@hookimpl
def smartcustoms_plugin_spec() -> PluginSpec:
    return SPEC


@hookimpl
def smartcustoms_configure(settings: Mapping[str, Any]) -> None:
    global _comparer
    _comparer = VehicleComparer(VehicleSettings.from_mapping(settings))


@hookimpl
def smartcustoms_process_batch(frames: Sequence[FrameView]) -> list[Assessment]:
    return [assess(frame, _current()) for frame in frames]


def assess(frame: FrameView, comparer: VehicleComparer) -> Assessment:
    model = vehicle_model(frame.metadata)
    if model is None:
        if comparer.settings.require_vehicle_metadata:
            raise ValueError(
                f"vehicle_compare: frame {frame.frame_id} from {frame.source_id} has no "
                f"{' or '.join(MODEL_KEYS)} metadata; route only vehicle portal sources to this plugin "
                "or set require_vehicle_metadata = false"
            )
        return Assessment.clear()
    pixel = frame.metadata.get("pixel_size_mm", "")
    detections, _ = comparer.compare(
        frame.array(), model, Declaration.from_metadata(frame.metadata), float(pixel) if pixel else None
    )
    if not detections:
        return Assessment.clear()
    return Assessment.alarm(*detections, risk_score=max(d.score for d in detections))
