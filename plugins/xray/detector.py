"""The X-ray auto-detector's engine: a library and a model in, an assessment per dual-energy image out.

For each image: per-pixel material discrimination from the low/high attenuation ratio (``materials``),
then recognition against the threat image database (``library``): shape classes by a whitened template
search verified entry by entry, cigarettes by the periodic texture of their rods (``_recognition``).
Each detection carries its class, a score (0..1), its box, the closest library entries with their
similarity as the explanation, the material make-up of its box, and for cigarettes the estimated
cartons, sticks and the Hong Kong duty at stake.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from smartcustoms.core.geometry import iou
from smartcustoms.core.types import Assessment, Decision, Detection
from smartcustoms.plugins.xray import _recognition as recognition
from smartcustoms.plugins.xray.learned import LearnedDetector
from smartcustoms.plugins.xray.library import LibraryEntry, entries_by_label
from smartcustoms.plugins.xray.materials import (
    GRID_FACTOR,
    Calibration,
    MaterialMaps,
    flat_field,
    material_maps,
    square_pixels,
)
from smartcustoms.plugins.xray.model import ClutterModel, Model

CARTON_FOOTPRINT_CM2 = 26.5 * 8.8  # a 10-pack carton lying flat, as seen from above
TUNNEL_HEIGHT_MM = 800.0  # the simulated scanner's image height spans an 80 cm tunnel
METHODS = ("library", "learned", "both")  # the ``method`` setting: what finds the candidates


class XrayDetector:
    """The detector with its library and model; ``assess`` one image at a time (not thread-safe).

    ``settings`` are the plugin's (``plugin.SPEC.default_settings`` overlaid with the configured ones).
    """

    def __init__(self, settings: Mapping[str, Any], entries: Sequence[LibraryEntry], model: Model) -> None:
        self.settings = dict(settings)
        self.calibration = Calibration(**self.settings["calibration"])
        self.texture = recognition.TextureSettings(**self.settings["texture"])
        self.texture_label = str(self.settings["texture_label"])
        if not entries:
            raise ValueError("xray_detector needs a library: its artefact or library_dirs hold no entry")
        self.library = entries_by_label(entries)
        self.model = model
        self.clutter = model.clutter
        self._signatures: dict[float, dict[str, list[recognition.Signature]]] = {}
        self._class_banks: dict[float, dict[str, recognition.ClassBank]] = {}
        self._banks: dict[tuple[tuple[int, int], float], recognition.SearchBank] = {}
        self._entry_calibrations: dict[int, Calibration] = {}  # by id(): the entries live as long
        self.method = str(self.settings.get("method", "library"))
        if self.method not in METHODS:
            raise ValueError(
                f"xray_detector: method must be one of {', '.join(METHODS)}, got {self.method!r}"
            )
        self.learned = (
            LearnedDetector(thresholds=dict(self.settings.get("learned_thresholds", {})))
            if self.method != "library"
            else None
        )

    def use_clutter(self, clutter: ClutterModel) -> None:
        """Whiten with another clutter spectrum (when refitting the model)."""
        self.clutter = clutter
        self._banks.clear()

    @property
    def classes(self) -> tuple[str, ...]:
        return tuple(sorted(self.library))

    def threshold(self, label: str) -> float:
        """A candidate's score needed to alarm: the network's own per class with ``method = "learned"``,
        else the library's (``thresholds``)."""
        if self.method == "learned" and self.learned is not None and label in self.learned.thresholds:
            return self.learned.thresholds[label]
        return float(self.settings["thresholds"].get(label, self.settings["default_threshold"]))

    def assess(
        self,
        image: np.ndarray,
        *,
        pixel_size_mm: float | None = None,
        pixel_spacing_mm: tuple[float, float] | None = None,
    ) -> Assessment:
        """ALARM with a detection per threat found, or CLEAR. image: uint16 (2, H, W), channel 0 high.
        ``pixel_spacing_mm`` (between rows, between columns) of non-square pixels: the image is read
        resampled to square ones, and the boxes are given on its own pixels."""
        image, pixel_size_mm, scale = self._prepared(image, pixel_size_mm, pixel_spacing_mm)
        candidates, maps = self._candidates(image, pixel_size_mm)
        found = [c for c in candidates if c.score >= self.threshold(c.label)]
        if not found:
            return Assessment.clear()
        detections = [self._detection(c, maps) for c in found]
        if scale != (1.0, 1.0):
            detections = [replace(d, box=d.box and _scaled(d.box, scale)) for d in detections]
        return Assessment(Decision.ALARM, tuple(detections), max(d.score for d in detections))

    def candidates(
        self,
        image: np.ndarray,
        *,
        pixel_size_mm: float | None = None,
        pixel_spacing_mm: tuple[float, float] | None = None,
    ) -> tuple[list[recognition.Candidate], MaterialMaps]:
        """Every candidate with its score, before the per-class thresholds (for evaluation and tuning),
        boxes on the image's own pixels; the maps are those of the image as read (flat-fielded, and
        resampled to square pixels when ``pixel_spacing_mm`` says they are not).
        The network's candidates are only those at its thresholds or above (its groups of cells are
        drawn at them), so with ``method = "learned"`` or ``"both"`` AP is cut off at the operating point."""
        image, pixel_size_mm, scale = self._prepared(image, pixel_size_mm, pixel_spacing_mm)
        found, maps = self._candidates(image, pixel_size_mm)
        if scale != (1.0, 1.0):
            for candidate in found:
                candidate.box = _scaled(candidate.box, scale)
        return found, maps

    def _prepared(
        self, image: np.ndarray, pixel_size_mm: float | None, spacing: tuple[float, float] | None
    ) -> tuple[np.ndarray, float | None, tuple[float, float]]:
        """The image as it is read: flat-fielded with the calibration's dark level and gain map, and
        resampled to square pixels; its pixel size; the scale (x, y) back to the image's own pixels."""
        if image.ndim == 2:
            raise ValueError("xray_detector needs dual-energy frames [2, H, W]; got a single-energy image")
        image = flat_field(image, self.calibration)
        if spacing is None or float(self.settings["pixel_size_mm"]) > 0:
            return image, pixel_size_mm, (1.0, 1.0)
        squared, pixel_mm = square_pixels(image, spacing)
        if squared is image:  # square pixels: the pixel size given (a site's own correction) stands
            return image, pixel_size_mm, (1.0, 1.0)
        if pixel_size_mm:  # a size given for the area's side: the finer side in the same proportion
            pixel_mm *= pixel_size_mm / math.sqrt(spacing[0] * spacing[1])
        scale = (image.shape[-1] / squared.shape[-1], image.shape[-2] / squared.shape[-2])
        return squared, pixel_mm, scale

    def _candidates(
        self, image: np.ndarray, pixel_size_mm: float | None
    ) -> tuple[list[recognition.Candidate], MaterialMaps]:
        maps = self._maps(image, pixel_size_mm)
        limit = float(self.settings["overlap_iou"])
        if self.method == "learned":
            return _suppress_overlaps(self._learned_candidates(maps, image), limit), maps
        shapes = _suppress_overlaps(
            self._shape_candidates(maps), limit, maps, float(self.settings["shared_metal"])
        )
        found = _suppress_overlaps(shapes + self._texture_candidates(maps), limit)
        if self.method == "both":
            found = self._with_network(found, self._learned_candidates(maps, image), limit)
        return found, maps

    def _with_network(
        self, library: list[recognition.Candidate], network: list[recognition.Candidate], limit: float
    ) -> list[recognition.Candidate]:
        """The library's candidates and the network's (``method = "both"``): on one object a library
        candidate that alarms wins over the network's, and the network's over one that does not."""
        alarming = [c for c in library if c.score >= self.threshold(c.label)]
        kept = [
            n for n in _suppress_overlaps(network, limit) if all(iou(n.box, a.box) <= limit for a in alarming)
        ]
        quiet = [
            c
            for c in library
            if c.score >= self.threshold(c.label) or all(iou(c.box, n.box) <= limit for n in kept)
        ]
        return quiet + kept

    def _learned_candidates(self, maps: MaterialMaps, image: np.ndarray) -> list[recognition.Candidate]:
        """The network's detections (``learned.py``): the cells of a class above its threshold. With
        ``method = "both"`` the score is mapped so that the network's threshold falls on the library's
        threshold of the class (linearly below and above it), so that one threshold per class serves both."""
        assert self.learned is not None
        found = []
        for hit in self.learned.find(image, maps.pixel_size_mm):
            score = hit.score
            if self.method == "both":  # thresholds lie in (0, 1) (LearnedDetector.merged)
                own = self.learned.thresholds[hit.label]
                library = float(
                    self.settings["thresholds"].get(hit.label, self.settings["default_threshold"])
                )
                score = library + (1 - library) * (score - own) / (1 - own)
            candidate = recognition.Candidate(hit.label, hit.box, score)
            candidate.attributes = {"found_by": "network", "network": self.learned.card.version}
            if hit.label == self.texture_label:
                candidate.attributes.update(self._cigarette_quantities(hit.box, None, maps.pixel_size_mm))
            found.append(candidate)
        return found

    def shape_candidates(
        self, image: np.ndarray, *, pixel_size_mm: float | None = None
    ) -> list[recognition.Candidate]:
        """Every verified search peak of the shape classes, overlaps kept (for fitting the verifier)."""
        return self._shape_candidates(self._maps(flat_field(image, self.calibration), pixel_size_mm))

    def calibration_of(self, entry: LibraryEntry) -> Calibration:
        """The calibration an entry is split into basis materials with: the one of the scanner that took
        it, else the frames'."""
        if entry.calibration is None:
            return self.calibration
        if id(entry) not in self._entry_calibrations:  # entry ids may repeat across library folders
            self._entry_calibrations[id(entry)] = Calibration(**entry.calibration)
        return self._entry_calibrations[id(entry)]

    def with_calibration(self, calibration: Calibration) -> XrayDetector:
        """This detector (its library, model and network shared) reading frames with another scanner's
        calibration: its templates are prepared again for it, entries that carry their own excepted."""
        other = copy.copy(self)
        other.calibration = calibration
        other._signatures, other._class_banks, other._banks = {}, {}, {}
        return other

    def pixel_mm(self, image_height: int, given: float | None = None) -> float:
        """The pixel size an image is read at: the configured one, else the frame's, else the tunnel's
        height over the image's."""
        configured = float(self.settings["pixel_size_mm"])
        if configured > 0:
            return configured
        return given if given and given > 0 else TUNNEL_HEIGHT_MM / image_height

    def _maps(self, image: np.ndarray, pixel_size_mm: float | None) -> MaterialMaps:
        if image.ndim == 2:
            raise ValueError("xray_detector needs dual-energy frames [2, H, W]; got a single-energy image")
        return material_maps(image, self.calibration, self.pixel_mm(image.shape[-2], pixel_size_mm))

    # ----------------------------------------------------------------------- shape classes

    def signatures(self, pixel_mm: float) -> dict[str, list[recognition.Signature]]:
        key = round(pixel_mm, 6)
        if key not in self._signatures:
            self._signatures[key] = {
                label: [recognition.prepare_signature(e, self.calibration_of(e), pixel_mm) for e in members]
                for label, members in self.library.items()
                if label != self.texture_label
            }
        return self._signatures[key]

    def class_banks(self, pixel_mm: float) -> dict[str, recognition.ClassBank]:
        key = round(pixel_mm, 6)
        if key not in self._class_banks:
            self._class_banks[key] = {
                label: recognition.ClassBank.of(members)
                for label, members in self.signatures(pixel_mm).items()
            }
        return self._class_banks[key]

    def _bank(self, shape: tuple[int, int], pixel_mm: float) -> recognition.SearchBank:
        key = (shape, round(pixel_mm, 6))
        if key not in self._banks:
            self._banks[key] = recognition.SearchBank(
                self.signatures(pixel_mm),
                self.clutter,
                shape,
                GRID_FACTOR * pixel_mm / 10,
                int(self.settings["search_templates_per_class"]),
            )
        return self._banks[key]

    def _shape_candidates(self, maps: MaterialMaps) -> list[recognition.Candidate]:
        a_grid, b_grid = maps.a_grid, maps.b_grid
        bank = self._bank(a_grid.shape, maps.pixel_size_mm)
        class_banks = self.class_banks(maps.pixel_size_mm)
        found = []
        for label, (score, which) in bank.search(a_grid, b_grid).items():
            templates = bank.templates[label]
            if not templates:
                continue
            radius = (
                max(2, min(t.shape[0] for t in templates) // 3),
                max(2, min(t.shape[1] for t in templates) // 3),
            )
            peaks = recognition.search_peaks(
                score, float(self.settings["search_floor"]), radius, int(self.settings["peaks_per_class"])
            )
            for y, x in peaks:
                template = templates[int(which[y, x])]
                candidate = recognition.verify_peak(
                    label, class_banks[label], template, (int(y), int(x)), float(score[y, x]), maps
                )
                if candidate.features is not None:
                    candidate.score = self.model.verifier_for(label).probability(candidate.features)
                    found.append(candidate)
        return found

    # ----------------------------------------------------------------------- texture class

    def _texture_candidates(self, maps: MaterialMaps) -> list[recognition.Candidate]:
        if self.texture_label not in self.library:
            return []
        strengths = recognition.texture_strength(maps, self.texture)
        found = []
        for region in recognition.texture_regions(strengths, self.texture, maps.pixel_size_mm):
            score = min(1.0, region.peak / float(self.settings["carton_layer_strengths"][0]))
            candidate = recognition.Candidate(self.texture_label, region.box, score)
            candidate.attributes = self._cigarette_quantities(region.box, region.peak, maps.pixel_size_mm)
            candidate.neighbours = self._texture_neighbours(region.box, maps.pixel_size_mm)
            found.append(candidate)
        return found

    def _cigarette_quantities(
        self, box: recognition.Box, peak: float | None, pixel_mm: float
    ) -> dict[str, str]:
        """Cartons, sticks and duty of a stack: its footprint in cartons, times its layers told by the
        texture's strength ``peak`` (one layer when the texture was not measured: the network's)."""
        footprint_cm2 = (box[2] - box[0]) * (box[3] - box[1]) * (pixel_mm / 10) ** 2
        columns_rows = max(1, round(footprint_cm2 / CARTON_FOOTPRINT_CM2))
        layers = 1
        if peak is not None:
            one, two = (float(v) for v in self.settings["carton_layer_strengths"])
            layers = max(1, 1 + round((peak - one) / (two - one)))
        cartons = columns_rows * layers
        sticks = cartons * int(self.settings["sticks_per_carton"])
        rate = float(self.settings["duty_hkd_per_1000_sticks"])
        return {
            "cartons": str(cartons),
            "sticks": str(sticks),
            "duty_hkd": f"{sticks * rate / 1000:.2f}",
            "duty_rate_hkd_per_1000_sticks": f"{rate:g}",
            "footprint_cm2": f"{footprint_cm2:.0f}",
            **({"texture_strength": f"{peak:.3f}"} if peak is not None else {}),
        }

    def _texture_neighbours(self, box: recognition.Box, pixel_mm: float) -> list[tuple[str, float]]:
        """Library entries of the texture class closest in footprint (area ratio as similarity)."""
        area = (box[2] - box[0]) * (box[3] - box[1]) * (pixel_mm / 10) ** 2
        scored = []
        for entry in self.library[self.texture_label]:
            _, height, width = entry.image.shape
            entry_area = height * width * (entry.pixel_size_mm / 10) ** 2
            scored.append((entry.entry_id, round(min(area, entry_area) / max(area, entry_area, 1e-9), 3)))
        return sorted(scored, key=lambda item: -item[1])[:3]

    # ----------------------------------------------------------------------- results

    def _detection(self, candidate: recognition.Candidate, maps: MaterialMaps) -> Detection:
        fractions = maps.class_fractions(candidate.box)
        matches = ", ".join(f"{entry} ({similarity:.2f})" for entry, similarity in candidate.neighbours)
        attributes = {
            "library_matches": ",".join(f"{e}:{s:.3f}" for e, s in candidate.neighbours),
            **{f"fraction_{name}": f"{value:.2f}" for name, value in fractions.items()},
            **candidate.attributes,
        }
        explanation = f"closest library entries: {matches or 'none'}"
        if "cartons" in candidate.attributes:
            explanation += (
                f"; about {candidate.attributes['cartons']} cartons "
                f"({candidate.attributes['sticks']} sticks), duty HK${candidate.attributes['duty_hkd']}"
            )
        return Detection(
            label=candidate.label,
            score=round(float(candidate.score), 4),
            box=candidate.box,
            explanation=explanation,
            attributes=attributes,
        )


def _scaled(box: recognition.Box, scale: tuple[float, float]) -> recognition.Box:
    """A box on the resampled image's pixels, on the image's own (x scaled by ``scale[0]``, y by
    ``scale[1]``)."""
    sx, sy = scale
    return (box[0] * sx, box[1] * sy, box[2] * sx, box[3] * sy)


def _suppress_overlaps(
    candidates: list[recognition.Candidate],
    iou_limit: float,
    maps: MaterialMaps | None = None,
    shared_metal: float = 1.0,
) -> list[recognition.Candidate]:
    """Greedy non-maximum suppression: of overlapping candidates the best stays.

    With ``maps``, a candidate also goes when more than ``shared_metal`` of the metal in its box lies in
    a better one's box: the same metal cannot be two objects (a mirrored placement, a knife matched on
    a gun's slide).
    """
    metal = None if maps is None or len(candidates) < 2 else _integral(np.clip(maps.b_grid, 0.0, None))
    kept: list[recognition.Candidate] = []
    for candidate in sorted(candidates, key=lambda c: -c.score):
        if all(not _overlapping(candidate.box, other.box, iou_limit, metal, shared_metal) for other in kept):
            kept.append(candidate)
    return kept


def _overlapping(
    box: recognition.Box,
    other: recognition.Box,
    iou_limit: float,
    metal: np.ndarray | None,
    shared_metal: float,
) -> bool:
    if iou(box, other) > iou_limit:
        return True
    if metal is None:
        return False
    shared = (max(box[0], other[0]), max(box[1], other[1]), min(box[2], other[2]), min(box[3], other[3]))
    if shared[2] <= shared[0] or shared[3] <= shared[1]:
        return False
    own = _box_sum(metal, box)
    return own > 0 and _box_sum(metal, shared) / own > shared_metal


def _integral(values: np.ndarray) -> np.ndarray:
    out = np.zeros((values.shape[0] + 1, values.shape[1] + 1))
    out[1:, 1:] = values.cumsum(0).cumsum(1)
    return out


def _box_sum(integral: np.ndarray, box: recognition.Box) -> float:
    """Sum over a pixel box of a recognition-grid map, from its integral image."""
    rows, cols = integral.shape[0] - 1, integral.shape[1] - 1
    x0, x1 = (min(max(round(v / GRID_FACTOR), 0), cols) for v in (box[0], box[2]))
    y0, y1 = (min(max(round(v / GRID_FACTOR), 0), rows) for v in (box[1], box[3]))
    return float(integral[y1, x1] - integral[y0, x1] - integral[y1, x0] + integral[y0, x0])
