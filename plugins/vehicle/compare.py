"""The comparison: a vehicle scan against the references of its model.

Each reference of the scan's model is resampled to the scan (``alignment.fit_reference``) and aligned
with it (shift along and across the vehicle, from the normalised cross-correlation of column and row
profiles of attenuation, refined to sub-pixel by a parabola). The scan's grey levels (open beam, dark
level, clipping) are measured against the aligned reference (``levels``) and its attenuation computed
from them, so a brighter or darker scanner or export does not differ from its reference; the
best-aligned reference is then subtracted in the log domain: attenuation = -ln(I / I0) adds along
the beam, so the difference is what the vehicle carries that its empty reference does not (or lacks).
The difference is smoothed over ``smooth_cm`` (``settings.smooth_px``: 9 pixels of 4.88 mm) and kept
where it exceeds both ``min_attenuation`` and ``min_z`` standard deviations of photon noise (plus a grey
level for a coarse export) plus an edge term for residual misalignment. Its regions (``zones``: separate
objects stay separate, the part of a region inside the cargo space is split from the part outside) of
at least ``min_area_cm2`` are then judged by where their pixels lie, never by their box:

* outside the vehicle's outline: no detection but a note (``outside_vehicle``, no box), and the scan
  is not cleared: the scan and its reference do not line up there, or something rides outside the body;
* in the vehicle outside the cargo space (walls or roof, cab or chassis, below the cargo floor; for a
  car its body): ``hidden_compartment`` (material where the empty vehicle has none, or less where it
  has some: contraband displacing fuel in a tank), whatever goods are declared;
* in the cargo space of a vehicle declared empty (``declared_goods`` = ``empty``): ``undeclared_goods``;
* in the cargo space beyond the declared load: ``extra_load``. The declared load is
  ``declared_pallets`` pallets of ``pallet_pitch_cm`` from the front of the cargo space; a frame
  without ``declared_pallets`` cannot be checked for extra load, only for the other two. Declared goods
  explain only what lies in the cargo space.

Each detection carries its box (pixels of the scan), the reference used (``reference``: its file in the
artefact), the shift found, its zone (``location``) and every zone's share (``zones``), its size
(``area_cm2``, ``length_cm``, ``height_cm``) and attenuation excess, as attributes and in its
explanation.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np

from smartcustoms.core.lazy import lazy
from smartcustoms.core.types import Detection
from smartcustoms.plugins.vehicle import parts as vehicle_parts
from smartcustoms.plugins.vehicle import scanner
from smartcustoms.plugins.vehicle.alignment import (
    Fitted,
    PixelSize,
    Warp,
    attenuation,
    estimate_warp,
    fit_reference,
    follow_path,
    outline_mismatch,
    refine_warp,
    square_pixels,
)
from smartcustoms.plugins.vehicle.fuel import LevelBand, level_bands
from smartcustoms.plugins.vehicle.levels import (
    CALIBRATED,
    FULL_SCALE,
    Levels,
    levelled_attenuation,
    measure_levels,
    quantisation_sigma,
)
from smartcustoms.plugins.vehicle.noise import NO_ESTIMATE, NoiseEstimate, scan_photons
from smartcustoms.plugins.vehicle.parts import (
    PARTS,
    PartModels,
    Placement,
    composite,
    follow_speed,
    materials,
    place,
    warps,
)
from smartcustoms.plugins.vehicle.references import BoxPx, Reference, ReferenceSet
from smartcustoms.plugins.vehicle.settings import VehicleSettings
from smartcustoms.plugins.vehicle.zones import (
    BODY_ATTENUATION,
    Region,
    describe_shares,
    outline,
    regions,
    zone_map,
)

if TYPE_CHECKING:
    import cv2

    from smartcustoms.plugins.vehicle import _kernels as kernels
else:
    cv2 = lazy("cv2")
    kernels = lazy("smartcustoms.plugins.vehicle._kernels")

StatedLevels = tuple[float | None, float | None]  # open beam, dark level (counts); None: measured
PATH_REFINE_CM = 10.0  # a followed path is aligned again within this (``alignment.follow_path``)
STOP_SPAN_CM = 20.0  # a followed path's speed is measured over this much of the scan (at its mean pixel)
PATH_SLOWEST = 0.1  # the slowest speed (a share) a followed path's slack is widened for
LEVELS_AGAIN_CM = 10.0  # alignments before and after levelling this far apart: each levelled, one kept
MISFIT_STEP = 4  # their fits are compared on every 4th pixel each way
# before the levels are measured, the first alignment sees attenuation up to this: deeper, an export
# lowered by 13 grey levels or more reads anything up to the floor (11), one lifted reads flattened
FIRST_ALIGNMENT_CEILING = 3.0
# an alignment refined (``alignment.refine_warp``) this far from the one kept somewhere: the two compared
# by how well the levelled scan fits its reference (``misfit``)
REFINED_APART_PX = 0.5
_PIXEL_MM = 5.0  # a portal's pixel size when neither the scan nor the reference states it
# an edge out of line: each sign's strip at most EDGE_PAIR_WINDOWS windows thick, the two along one edge
# (overlapping by EDGE_PAIR_ALONG) or as much material moved as left (within EDGE_PAIR_BALANCE of it)
EDGE_PAIR_WINDOWS = 2.0
EDGE_PAIR_ALONG = 0.8
EDGE_PAIR_BALANCE = 0.1
FUEL_LABEL = "fuel_level"  # a note, not a class: a tank's fuel higher or lower than the reference's
FRONT_WALL = "front_wall"  # the location of a region behind a false front wall (``false_wall_cm``)
OUTSIDE_LABEL = "outside_vehicle"  # a note, not a class: differences outside the vehicle's outline

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

    fitted: Fitted  # the reference in the scan's geometry
    shift: tuple[float, float]
    difference: np.ndarray  # smoothed attenuation difference, scan minus aligned reference
    mask: np.ndarray  # uint8: 1 excess, 2 deficit, 0 nothing
    vehicle: np.ndarray | None  # bool: the pixels where scan or reference has material (``residual``)
    reference: np.ndarray  # the fitted reference's attenuation, moved by the shift
    inside: np.ndarray  # bool: the moved reference's outline (``zones.outline``)
    levels: Levels = CALIBRATED  # the scan's open beam, dark level and clipping floor
    notes: tuple[Detection, ...] = ()  # box-less: regions outside the vehicle's outline
    scan: np.ndarray | None = None  # the scan's attenuation, at its measured levels
    outline_mismatch: float = 0.0  # share of the outlines' edges that do not line up (``alignment``)
    doubt: str = ""  # why the comparison cannot be trusted ("alignment"), "" when it can
    column_scale: float = 1.0  # the arrays' columns per scan column (a scan of non-square pixels)
    warp: Warp | None = None  # the scan's columns in the reference's (``shift`` is its median)
    placement: str = ""  # compared part by part: where each part's reference was placed (``parts``)
    photons: NoiseEstimate = NO_ESTIMATE  # the noise model's photons per pixel (``noise``)
    explained: tuple[Detection, ...] = ()  # box-less: differences that are no concealment (``fuel``)

    @cached_property
    def residual(self) -> float:
        """Median |difference| over the vehicle: lower is a better match. Computed when comparisons are
        chosen between (``_least_residual``): a median over millions of pixels costs tens of ms."""
        if self.vehicle is None or not self.vehicle.any():
            return 0.0
        return float(np.median(np.abs(self.difference[self.vehicle])))


def _length(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """sqrt(x^2 + y^2) element by element, into ``x`` (float32 images of one shape, two arrays, not one
    passed twice; ``y`` is overwritten too): a third of ``np.hypot``'s time on whole images, each
    element correctly rounded at each step, so the same on every run and machine (``np.hypot`` guards
    against overflow these values never near, and rounds once: the two differ in the last bit of some
    elements)."""
    np.multiply(x, x, out=x)
    np.multiply(y, y, out=y)
    np.add(x, y, out=x)
    np.sqrt(x, out=x)
    return x


def _least_residual(comparisons: Iterable[Comparison]) -> Comparison:
    """The comparison that matched best (least ``residual``); a single one is taken as it is."""
    found = list(comparisons)
    return found[0] if len(found) == 1 else min(found, key=lambda c: c.residual)


class VehicleComparer:
    """Compares scans with the references of their model; holds no state between scans."""

    def __init__(self, settings: VehicleSettings, references: ReferenceSet) -> None:
        self.settings = settings
        self.references = references
        self._attenuations = {  # each reference's attenuation, computed once per hosting process
            id(reference): attenuation(np.ascontiguousarray(reference.high_energy))
            for model in references.models()
            for reference in references.of(model)
        }

    def compare(
        self,
        image: np.ndarray,
        model: str,
        declaration: Declaration,
        pixel_size_mm: float | PixelSize | None = None,
        stated: StatedLevels = (None, None),
        parts: PartModels | None = None,
    ) -> tuple[list[Detection], Comparison]:
        """Detections for one scan (uint16 [2, H, W] or [H, W]) of ``model``, and the comparison used.
        ``pixel_size_mm``: square pixels' size, or a ``PixelSize`` along and across the vehicle (a scan of
        non-square pixels is resampled along the vehicle to square ones first: the comparison's arrays
        are in those, ``Comparison.column_scale`` columns per scan column; the detections' boxes are in
        the scan's own pixels). ``stated``: the open-beam and dark levels (counts) when the scanner
        states them, else measured. ``parts``: a container vehicle's container type, tractor and trailer
        models; when the references hold each part, the scan is compared with them joined (``parts``),
        else with the references of ``model``."""
        pixel = PixelSize.square(pixel_size_mm) if isinstance(pixel_size_mm, float | int) else pixel_size_mm
        high = image[0] if image.ndim == 3 else image
        by_part = self._part_references(parts)
        references = self.references.whole(model)
        if parts is not None and by_part is None:  # the whole vehicle of those parts, if there is one
            references = self.references.rigged({part: parts.of(part) for part in PARTS}) or references
        if by_part is None and not references:
            lacking = ""
            if parts is not None and self.settings.compare_parts:
                lacking = "; nor of each part: " + ", ".join(
                    f"{part} {parts.of(part)}"
                    for part in PARTS
                    if not self.references.part(part, parts.of(part))
                )
            raise LookupError(
                f"vehicle_compare: no reference scan of model {model!r}{lacking} in "
                f"{self.references.info.short} (known: {', '.join(self.references.models())})"
            )
        corrected, _, air = scanner.corrected(high)  # the road and the detector's lines are the scanner's
        raw, column_scale = np.ascontiguousarray(corrected), 1.0
        gap = scanner.ground_gap(raw, air)  # the references stand where the scan's vehicle does
        if pixel is not None:
            raw, column_scale = square_pixels(raw, pixel)
        square_mm = pixel.across_mm if pixel is not None else None
        nominal = attenuation(raw)  # at calibrated levels: good enough to align by edges
        shape = (raw.shape[0], raw.shape[1])
        placed, fitted_parts = "", None
        if by_part is not None:
            assert parts is not None
            fitted_parts = self._fit_parts(by_part, shape, square_mm, gap)
            joined, placement = self._joined(nominal, fitted_parts, square_mm, parts)
            placed = placement.describe()
            fitted = _as_coarse_as(joined, column_scale)
        else:
            fitted = [
                blurred
                for r in references
                for blurred in _as_coarse_as(
                    fit_reference(r, shape, square_mm, self._attenuations.get(id(r)), gap), column_scale
                )
            ]
        speed = self.settings.max_speed_change
        scans = [_as_fine_as(raw, nominal, f, column_scale) for f in fitted]  # a reference coarser than it
        best = _least_residual(
            self._against(r, n, f, stated, speed) for (r, n), f in zip(scans, fitted, strict=True)
        )
        mismatch = self._outline_mismatch(best, square_mm)
        if mismatch > self.settings.max_outline_mismatch and speed > 0:
            # outlines apart: the blocks may have followed something the reference lacks (a few weak
            # blocks at one end bend the drift); a shift alone is tried, the better outline kept
            shifted = _least_residual(
                self._against(r, n, f, stated, 0.0) for (r, n), f in zip(scans, fitted, strict=True)
            )
            shifted_mismatch = self._outline_mismatch(shifted, square_mm)
            if shifted_mismatch < mismatch:
                best, mismatch = shifted, shifted_mismatch
        if mismatch > self.settings.max_outline_mismatch and self.settings.max_stop_shift_cm > 0:
            # still apart: the vehicle may have slowed almost to a halt, one part of it drawn out over
            # many columns; followed column by column, the better outline kept
            followed = _least_residual(
                self._against(r, n, f, stated, speed, True) for (r, n), f in zip(scans, fitted, strict=True)
            )
            followed_mismatch = self._outline_mismatch(followed, square_mm)
            # a path free column by column can line up an outline whatever is wrong: kept only when it
            # found what it is for, the vehicle slowed to a share of its speed over part of its length
            slowest = _slowest(followed, square_mm)
            if followed_mismatch < mismatch and slowest <= self.settings.max_stop_speed:
                best, mismatch = followed, followed_mismatch
        if mismatch > self.settings.max_outline_mismatch and self.settings.place_by_outline and fitted_parts:
            assert parts is not None
            best, mismatch, placed = self._placed_again(
                (best, mismatch, placed), raw, nominal, column_scale, fitted_parts, square_mm, parts, stated
            )
        best = replace(best, column_scale=column_scale)
        detections, notes, explained = self._detections(best, declaration, square_mm)
        doubt = "alignment" if mismatch > self.settings.max_outline_mismatch else ""
        best = replace(
            best,
            notes=tuple(_in_scan_columns(n, column_scale) for n in notes),
            explained=tuple(_in_scan_columns(n, column_scale) for n in explained),
            outline_mismatch=mismatch,
            doubt=doubt,
            placement=placed,
        )
        if placed:
            detections = [replace(d, attributes={**d.attributes, "parts": placed}) for d in detections]
        return [_in_scan_columns(d, column_scale) for d in detections], best

    def _placed_again(
        self,
        first: tuple[Comparison, float, str],
        raw: np.ndarray,
        nominal: np.ndarray,
        column_scale: float,
        fitted_parts: dict[str, Fitted],
        square_mm: float | None,
        parts: PartModels,
        stated: StatedLevels,
    ) -> tuple[Comparison, float, str]:
        """A scan whose parts' outline does not line up, against its parts placed again: by where the
        scan has material (``parts.place`` with ``body_above``), which a load inside the container cannot
        draw; then, if it still does not line up, with the container at each of its next best places
        (``parts.NEXT_PLACES`` of them). The comparison of the best outline, its outline mismatch and
        the placement."""
        best, mismatch, placed = first

        def keep_if_better(joined: Fitted, placement: Placement) -> None:
            nonlocal best, mismatch, placed
            other = self._placed_comparison(joined, raw, nominal, column_scale, stated)
            other_mismatch = self._outline_mismatch(other, square_mm)
            if other_mismatch < mismatch:
                best, mismatch, placed = other, other_mismatch, placement.describe()

        if best.scan is not None:
            body = BODY_ATTENUATION + best.levels.ceiling_attenuation
            level = cv2.blur(best.scan, (3, 3))  # as the outline check sees it
            keep_if_better(*self._joined(level, fitted_parts, square_mm, parts, body, nominal))
        if mismatch > self.settings.max_outline_mismatch:  # a container one pitch of its members off?
            shift, lift = self._part_limits(fitted_parts, square_mm)
            first_placed = place(nominal, fitted_parts, shift, lift, alternatives=vehicle_parts.NEXT_PLACES)
            for dx in first_placed.alternatives:
                at = first_placed.with_container_at(dx)
                keep_if_better(*self._joined(nominal, fitted_parts, square_mm, parts, placed_at=at))
        return best, mismatch, placed

    def _placed_comparison(
        self, joined: Fitted, raw: np.ndarray, nominal: np.ndarray, column_scale: float, stated: StatedLevels
    ) -> Comparison:
        """The scan against its parts joined (``_joined``), aligned as any reference is (the better aligned
        of the ways a coarse scan may have been sampled)."""
        speed = self.settings.max_speed_change
        return _least_residual(
            self._against(*_as_fine_as(raw, nominal, fitted, column_scale), fitted, stated, speed)
            for fitted in _as_coarse_as(joined, column_scale)
        )

    def _part_references(self, parts: PartModels | None) -> dict[str, Reference] | None:
        """The first reference of each part ``parts`` names; None when a part has none, when a reference
        of the whole vehicle made of those very parts is there (it is used: one rigid vehicle lines up
        better than three parts), or when the setting ``compare_parts`` is off."""
        if parts is None or not self.settings.compare_parts:
            return None
        if self.references.rigged({part: parts.of(part) for part in PARTS}):
            return None
        found = {part: self.references.part(part, parts.of(part)) for part in PARTS}
        if not all(found.values()):
            return None
        return {part: references[0] for part, references in found.items()}

    def _fit_parts(
        self, by_part: dict[str, Reference], shape: tuple[int, int], square_mm: float | None, gap: int
    ) -> dict[str, Fitted]:
        """Each part's reference fitted to the scan's shape and pixel size (once per scan), all moved as
        the tractor's must be to stand where the scan's vehicle does (``gap``: rows below its lowest
        point)."""
        tractor = by_part["tractor"]
        standing = fit_reference(tractor, shape, square_mm, self._attenuations.get(id(tractor)), gap)
        return {
            part: standing
            if r is tractor
            else fit_reference(r, shape, square_mm, self._attenuations.get(id(r)), down=standing.down)
            for part, r in by_part.items()
        }

    def _part_limits(self, fitted: dict[str, Fitted], square_mm: float | None) -> tuple[int, int]:
        """How far a part may be placed from its reference's place, along and up or down, in pixels."""
        pixel_cm = (square_mm or fitted["container"].pixel_size_mm or _PIXEL_MM) / 10
        s = self.settings
        return round(s.max_part_shift_cm / pixel_cm), round(s.max_part_lift_cm / pixel_cm)

    def _joined(
        self,
        nominal: np.ndarray,
        fitted: dict[str, Fitted],
        square_mm: float | None,
        parts: PartModels,
        body_above: float | None = None,
        follow: np.ndarray | None = None,
        placed_at: Placement | None = None,
    ) -> tuple[Fitted, Placement]:
        """The parts' references fitted to the scan (``_fit_parts``), placed (``parts.place``) and joined
        into one of the whole vehicle; and where each was placed. ``body_above``: placed by where the scan
        ``nominal`` has material, ``follow`` then the attenuation their stretch is followed on;
        ``placed_at``: placed there instead."""
        pixel_cm = (square_mm or fitted["container"].pixel_size_mm or _PIXEL_MM) / 10
        s = self.settings
        shift, lift = self._part_limits(fitted, square_mm)
        placement = placed_at or place(nominal, fitted, shift, lift, body_above)
        if follow is not None:
            nominal = follow
        moves = warps(placement, nominal.shape[1])
        material = materials(fitted)
        if s.max_speed_change > 0:
            moves = follow_speed(
                nominal,
                fitted,
                placement,
                s.max_speed_change,
                pixel_cm * 10,
                material,
                s.container_follows_trailer,
            )
        joined = composite(fitted, moves, parts.describe(), material)
        return joined, placement

    def _outline_mismatch(self, comparison: Comparison, pixel_size_mm: float | None) -> float:
        """``alignment.outline_mismatch`` of the scan's and the aligned reference's outlines, on every
        other pixel each way (the outlines' edges are what is compared: half the resolution does)."""
        if comparison.scan is None:
            return 0.0
        pixel_cm = (pixel_size_mm or comparison.fitted.pixel_size_mm or 5.0) / 10
        threshold = BODY_ATTENUATION + comparison.levels.ceiling_attenuation
        scan_inside = outline(cv2.blur(comparison.scan, (3, 3))[::2, ::2], threshold)
        tolerance = max(1.0, self.settings.outline_tolerance_cm / pixel_cm / 2)
        return outline_mismatch(scan_inside, comparison.inside[::2, ::2], tolerance)

    def _against(
        self,
        raw: np.ndarray,
        nominal: np.ndarray,
        fitted: Fitted,
        stated: StatedLevels,
        speed: float,
        follow: bool = False,
    ) -> Comparison:
        """The scan against one fitted reference, aligned block by block along the vehicle within a
        change of scale of ``speed`` (0: a shift only); ``follow``: then column by column
        (``alignment.follow_path``), for a vehicle that slowed almost to a halt."""
        s = self.settings
        ref = fitted.attenuation
        pixel_mm = fitted.pixel_size_mm or _PIXEL_MM
        max_dx = round(s.max_shift_cm * 10 / pixel_mm)
        reach = round(s.max_stop_shift_cm * 10 / pixel_mm) if follow else 0
        refine = PATH_REFINE_CM * 10 / pixel_mm

        def estimate(scan: np.ndarray, reference: np.ndarray) -> Warp:
            first = estimate_warp(scan, reference, max_dx, s.max_shift_y_px, speed, pixel_mm)
            if not reach:
                return first
            cargo = fitted.cargo_box
            rows = (cargo[1], cargo[3]) if cargo is not None else None
            return follow_path(scan, reference, first, reach, max(2, round(refine)), pixel_mm, rows)

        def levelled(warp: Warp) -> tuple[Levels, np.ndarray, np.ndarray, np.ndarray]:
            """The scan's levels measured against the reference moved by ``warp``, its attenuation, the
            moved reference and its outline."""
            moved = warp.move(ref)
            inside = outline(moved)
            levels = measure_levels(raw, moved, inside, warp.box(fitted.cargo_box), *stated)
            if levels.open_beam == FULL_SCALE and levels.dark == 0.0 and not levels.ceiling_attenuation:
                scan = np.minimum(nominal, np.float32(levels.floor_attenuation))  # calibrated: as computed
            else:
                scan = levelled_attenuation(raw, levels)
            return levels, scan, moved, inside

        ceiling = np.float32(FIRST_ALIGNMENT_CEILING)  # the levels unknown: the deep parts left out
        capped = estimate(np.minimum(nominal, ceiling), np.minimum(ref, ceiling))
        levels, scan, moved, inside = levelled(capped)
        clamped = levels.clamp(ref)  # the reference as the levelled scan can show it
        warp = estimate(scan, clamped)  # again on the levelled scan, all of it
        if abs(warp.offset[0] - capped.offset[0]) > LEVELS_AGAIN_CM * 10 / pixel_mm:
            # the two alignments disagree: one of them was misled (by an offset scanner's distorted
            # dark parts, or by levels measured against a reference out of place), and so were the
            # levels measured where it put the reference; each is levelled where it puts it, and the
            # one whose scan then fits its reference better is kept
            second = levelled(warp)
            first_misfit = misfit(scan, capped.move(clamped), levels)
            second_levels, second_scan, _, _ = second
            second_clamped = second_levels.clamp(ref)
            if misfit(second_scan, warp.move(second_clamped), second_levels) > first_misfit:
                warp = capped  # its levels, scan, moved reference and outline are the first's
            else:
                levels, scan, moved, inside = second
                clamped = second_clamped
        else:
            moved = warp.move(ref)
            inside = outline(moved)
        if speed > 0 and not reach:
            # the finest stages again from the drift found: where the coarse ones followed a wrong block
            # at one end, the fine ones searched around it and found none, and the drift was only
            # extrapolated there; kept when the levelled scan then fits its reference better
            refined = refine_warp(scan, clamped, warp, speed, pixel_mm)
            if np.abs(refined.columns - warp.columns).max() > REFINED_APART_PX:
                again = refined.move(ref)
                if misfit(scan, levels.clamp(again), levels) < misfit(scan, levels.clamp(moved), levels):
                    warp, moved = refined, again
                    inside = outline(moved)
        compared = moved
        if levels.clamped:  # the scan tells nothing beyond its clipping: clamp the reference, then move it
            compared = warp.move(clamped, replicate=True)
        if s.scatter_cm > 0:  # the reference under the scan's veil of scattered radiation
            compared, _ = scanner.scatter_matched(
                scan, compared, warp.box(fitted.cargo_box), pixel_mm, s.scatter_cm
            )
        window = s.smooth_px(pixel_mm / 10)
        difference = cv2.blur(scan - compared, (window, window))
        gx = np.asarray(cv2.Sobel(compared, cv2.CV_32F, 1, 0, ksize=3), dtype=np.float32)
        gy = np.asarray(cv2.Sobel(compared, cv2.CV_32F, 0, 1, ksize=3), dtype=np.float32)
        gx /= 8  # in place: these are whole images
        gy /= 8
        along = np.abs(gx) if follow else None
        slope = _length(gx, gy)
        slope *= np.float32(s.edge_fraction)
        if along is not None:  # a followed path lines up within the outlines' tolerance of the reference's
            # columns: its edges may stand that far apart, more of the scan's where the vehicle went slowly
            pace = np.clip(np.gradient(warp.columns.astype(np.float32)), PATH_SLOWEST, 1.0)
            along *= (np.float32(s.outline_tolerance_cm * 10 / pixel_mm) / pace)[None, :]
            slope = np.maximum(slope, along, out=slope)
        edges = cv2.blur(slope, (window, window))
        unknown = None
        if fitted.lower_bound is not None:  # a resampled reference: not judged where it is a lower bound
            unknown = self._unknown(fitted.lower_bound, warp, window)
        photons = NoiseEstimate(s.photons_per_pixel, 0)
        if s.noise_from_scan:
            usable = _noise_usable(scan.shape, warp.box(fitted.cargo_box), unknown, window)
            photons = scan_photons(
                scan, difference, compared, edges, usable, levels, window, s.photons_per_pixel
            )
        noise = np.empty_like(scan)
        smoothed = cv2.blur(scan, (window, window))
        kernels._noise_sigma(smoothed, photons.photons, window, noise)
        coarse = quantisation_sigma(smoothed, levels, s.min_z)
        if coarse is not None:
            noise = _length(noise, coarse)
        mask = np.empty(scan.shape, dtype=np.uint8)
        kernels._anomaly_mask(difference, noise, edges, s.min_z, s.min_attenuation, mask)
        body = (scan > 0.02) | (compared > 0.02)
        if unknown is not None:
            mask[unknown] = 0
            body &= ~unknown
        return Comparison(
            fitted,
            warp.offset,
            difference,
            mask,
            body,
            moved,
            inside,
            levels,
            scan=scan,
            warp=warp,
            photons=photons,
        )

    @staticmethod
    def _unknown(lower_bound: np.ndarray, warp: Warp, window: int) -> np.ndarray:
        """The pixels whose smoothed difference draws on a lower-bound pixel of the moved reference."""
        moved = warp.move(lower_bound.astype(np.float32))
        return np.asarray(cv2.dilate((moved > 0).view(np.uint8), np.ones((window, window), np.uint8))) > 0

    def _detections(
        self, comparison: Comparison, declaration: Declaration, pixel_size_mm: float | None
    ) -> tuple[list[Detection], list[Detection], list[Detection]]:
        """The detections of a comparison; its notes: regions outside the vehicle's outline, which are no
        concealment (see ``zones``) but are not cleared either; and what it explained: fuel levels
        (``fuel``), taken out before the regions are judged."""
        s = self.settings
        pixel_cm = (pixel_size_mm or comparison.fitted.pixel_size_mm or 5.0) / 10
        window = s.smooth_px(pixel_cm)
        cargo = (
            comparison.warp.box(comparison.fitted.cargo_box)
            if comparison.warp is not None
            else _shifted(comparison.fitted.cargo_box, comparison.shift)
        )
        if cargo is not None:
            side = round(s.cargo_side_margin_cm / pixel_cm)
            cargo = (
                cargo[0] - side,
                cargo[1] + round(s.cargo_roof_margin_cm / pixel_cm),
                cargo[2] + side,
                cargo[3] + window // 2 + 1,  # a load's smoothed difference spills over the floor
            )
        zones = zone_map(comparison.inside, cargo)
        join = max(1, round(s.join_cm / pixel_cm))
        min_area = s.min_area_cm2 / pixel_cm**2
        mask, explained = comparison.mask, []
        if s.fuel_levels and comparison.scan is not None:
            bands = level_bands(
                mask,
                comparison.difference,
                comparison.scan,
                comparison.reference,
                zones,
                window,
                min_area,
                s.min_fuel_attenuation,
            )
            if bands:
                mask = mask.copy()
                for band in bands:  # its own sign only: its bridged gaps may hold the other's
                    ys, xs = band.pixels
                    own = mask[ys, xs] == (1 if band.sign > 0 else 2)
                    mask[ys[own], xs[own]] = 0
                    explained.append(self._fuel_level(band, comparison, pixel_cm))
        detections, notes = [], []
        for region in regions(mask, zones, join, min_area, window):
            if _edge_out_of_line(
                region, mask[region.pixels], comparison.difference[region.pixels], s.edge_pair_share, window
            ):
                continue
            if _within_one_scan_column(region, comparison.column_scale, window):
                continue
            excess = float(np.mean(comparison.difference[region.pixels]))
            if region.zone == "outside_vehicle":
                notes.append(self._outside(region, excess, comparison, pixel_cm))
                continue
            detection = self._judge(region, excess, cargo, declaration, comparison, pixel_cm)
            if detection is not None:
                detections.append(detection)
        return detections, notes, explained

    @staticmethod
    def _fuel_level(band: LevelBand, comparison: Comparison, pixel_cm: float) -> Detection:
        """A note (no box: not a concealment) of a tank's fuel standing higher or lower than in the
        reference."""
        x0, y0, x1, y1 = band.box
        model = comparison.fitted.reference.model
        way = "higher" if band.sign > 0 else "lower"
        change, length = band.height_px * pixel_cm, (x1 - x0) * pixel_cm
        return Detection(
            FUEL_LABEL,
            0.0,
            explanation=f"fuel about {change:.0f} cm {way} than in the empty {model} reference across a "
            f"tank {length:.0f} cm long (region_box_px): its surface is level and the reference's ends with "
            "it, so it is a fuel level, not a concealment",
            attributes={
                "reason": FUEL_LABEL,
                "reference": comparison.fitted.reference.name,
                "region_box_px": f"{x0},{y0},{x1},{y1}",
                "level_change_cm": f"{band.sign * change:.1f}",
                "length_cm": f"{length:.0f}",
                "attenuation_excess": f"{band.strength:.3f}",
                "surface_row": str(band.surface_row),
            },
        )

    def _outside(self, region: Region, excess: float, comparison: Comparison, pixel_cm: float) -> Detection:
        """A note (no box: not a concealment) of a region outside the reference vehicle's outline."""
        attributes = _attributes(region, excess, comparison, pixel_cm)
        return Detection(
            OUTSIDE_LABEL,
            0.0,
            explanation=f"differences outside the outline of the empty {comparison.fitted.reference.model} "
            f"({attributes['area_cm2']} cm2 at {attributes['region_box_px']}): the scan and the "
            "reference do not line up there, or something is carried outside the body",
            attributes={**attributes, "reason": "outside_outline"},
        )

    def _judge(
        self,
        region: Region,
        excess: float,
        cargo: BoxPx | None,
        declaration: Declaration,
        comparison: Comparison,
        pixel_cm: float,
    ) -> Detection | None:
        s = self.settings
        box = region.box
        x0, y0, x1, y1 = box
        reference = comparison.fitted.reference
        attributes = _attributes(region, excess, comparison, pixel_cm)
        what = "more" if excess > 0 else "less"
        dx, dy = comparison.shift
        why = (
            f"{what} material than the empty {reference.model} reference "
            f"({reference.name}, aligned by {dx:+.1f},{dy:+.1f} px): "
            f"mean attenuation {excess:+.2f} over {region.area_px * pixel_cm**2 / 1e4:.2f} m2"
        )

        def found(label: str, explanation: str, at: BoxPx = box, **extra: str) -> Detection:
            return Detection(
                label,
                _score(excess),
                box=_box(at),
                explanation=explanation,
                attributes={**attributes, **extra},
            )

        if region.zone != "cargo_space" or cargo is None:
            return found("hidden_compartment", f"{why} ({_where(region)})")
        if not declaration.goods and self._behind_front_wall(box, cargo, pixel_cm):
            depth = (x1 - cargo[0]) * pixel_cm - s.cargo_side_margin_cm
            return found(
                "hidden_compartment",
                f"within {depth:.0f} cm of the front wall of a cargo space declared empty, behind where a "
                f"false front wall would stand: {why}",
                location=FRONT_WALL,
            )
        if not declaration.goods:
            return found("undeclared_goods", f"cargo space declared empty: {why}")
        if declaration.pallets is None:
            return None  # declared goods of unknown quantity: the load in the cargo space cannot be checked
        declared_end = (
            cargo[0] + (declaration.pallets * s.pallet_pitch_cm + s.declared_tolerance_cm) / pixel_cm
        )
        if x1 <= declared_end:
            return None
        return found(
            "extra_load",
            f"load beyond the {declaration.pallets} declared pallet(s) of {declaration.goods}: {why}",
            (max(x0, round(declared_end - s.declared_tolerance_cm / pixel_cm)), y0, x1, y1),
            declared_pallets=str(declaration.pallets),
        )

    def _behind_front_wall(self, box: BoxPx, cargo: BoxPx, pixel_cm: float) -> bool:
        """Whether a region of the cargo space (``box``) lies wholly within a false front wall's depth
        of the cargo space's front (``false_wall_cm``, plus the smoothing's spill at its far end):
        between the front wall and a false one built in front of it."""
        s = self.settings
        if s.false_wall_cm <= 0:
            return False
        front = cargo[0] + s.cargo_side_margin_cm / pixel_cm  # ``cargo`` is widened by the side margin
        return box[2] <= front + s.false_wall_cm / pixel_cm + s.smooth_px(pixel_cm)


def _edge_out_of_line(
    region: Region, marks: np.ndarray, values: np.ndarray, share: float, window: int
) -> bool:
    """Whether a region's mask values (1 more material, 2 less; ``values`` the difference there) are an
    edge out of line. Material added or taken away shows one sign; a structure a few pixels off its
    place in the reference shows both, side by side (the smoothing joins them into one region): at
    least ``share`` of each, each a strip about as wide as the shift and the smoothing (on average at
    most ``EDGE_PAIR_WINDOWS`` windows across its longer extent), the two along the same edge (both long
    in one direction, overlapping in it by ``EDGE_PAIR_ALONG``) or moving as much material as they
    leave (within ``EDGE_PAIR_BALANCE``). Goods in a tank beside fuel standing lower or higher are
    broad, or lie beside the band rather than along it, and weigh what they weigh: judged."""
    if share <= 0 or not len(marks):
        return False
    more = float(np.count_nonzero(marks == 1)) / len(marks)
    if more < share or 1.0 - more < share:
        return False
    ys, xs = region.pixels
    parts = [marks == 1, marks == 2]
    for part in parts:
        extent = max(np.ptp(ys[part]), np.ptp(xs[part])) + 1
        if np.count_nonzero(part) / extent > EDGE_PAIR_WINDOWS * window:
            return False
    along = 0.0  # how far the two strips run along one edge: in the direction both are long in
    lying = [np.ptp(xs[part]) >= np.ptp(ys[part]) for part in parts]  # True: along the rows
    if lying[0] == lying[1]:
        axis = xs if lying[0] else ys
        along = _overlap(axis[parts[0]], axis[parts[1]])
    added, taken = float(values[parts[0]].sum()), float(-values[parts[1]].sum())
    return along >= EDGE_PAIR_ALONG or abs(added - taken) <= EDGE_PAIR_BALANCE * (added + taken)


def _overlap(a: np.ndarray, b: np.ndarray) -> float:
    """How much two sets of coordinates' spans overlap: their intersection over their union."""
    low, high = max(a.min(), b.min()), min(a.max(), b.max()) + 1
    return max(0.0, float(high - low)) / float(max(a.max(), b.max()) + 1 - min(a.min(), b.min()))


def _attributes(region: Region, excess: float, comparison: Comparison, pixel_cm: float) -> dict[str, str]:
    """What every detection of a region carries: the reference and shift, where the region lies (its
    zone, every zone's share), its size and its attenuation excess."""
    reference = comparison.fitted.reference
    x0, y0, x1, y1 = region.box
    return {
        "reference": reference.name,
        "reference_model": reference.model,
        "shift_px": f"{comparison.shift[0]:.2f},{comparison.shift[1]:.2f}",
        "attenuation_excess": f"{excess:.3f}",
        "area_cm2": f"{region.area_px * pixel_cm**2:.0f}",
        "length_cm": f"{(x1 - x0) * pixel_cm:.0f}",
        "height_cm": f"{(y1 - y0) * pixel_cm:.0f}",
        "region_box_px": f"{x0},{y0},{x1},{y1}",
        "levels": f"{comparison.levels.open_beam:.0f},{comparison.levels.dark:.0f}",
        "photons_per_pixel": f"{comparison.photons.photons:.3g}"
        + ("" if comparison.photons.measured else " (setting)"),
        "location": region.zone,
        "zones": describe_shares(region.shares),
    }


def _where(region: Region) -> str:
    """``"below cargo floor"``, or ``"below cargo floor 70 %, cab or chassis 30 %"`` across zones."""
    if len(region.shares) == 1:
        return region.zone.replace("_", " ")
    return ", ".join(f"{zone.replace('_', ' ')} {share:.0%}" for zone, share in region.shares)


def _noise_usable(
    shape: tuple[int, ...], cargo: BoxPx | None, unknown: np.ndarray | None, window: int
) -> np.ndarray:
    """Where the scan may tell its noise: not in the cargo space (a load there is no noise; its edges'
    smoothing spill with it), not where the reference is only a lower bound."""
    usable = np.ones(shape, dtype=bool)
    if cargo is not None:
        x0, y0, x1, y1 = cargo
        usable[max(y0 - window, 0) : max(y1 + window, 0), max(x0 - window, 0) : max(x1 + window, 0)] = False
    if unknown is not None:
        usable &= ~unknown
    return usable


def _as_coarse_as(fitted: Fitted, column_scale: float) -> list[Fitted]:
    """The fitted reference as blurred along the vehicle as a scan whose pixels were ``column_scale``
    times longer along it than across, resampled linearly to square pixels: the ways such a scan may
    have been taken, each to be tried (the best aligned is kept). Under twice as long, each of its
    pixels averaging that many square ones (a box); from twice, where how it was sampled shows, both a
    scan whose pixels each average their whole travel (a continuous source) and one whose pixels are
    snapshots, as a pulsed linac takes them (a detector element one square pixel wide), each with the
    linear resampling's triangle (``resampling_kernel``). Unchanged for a scan as fine as the reference."""
    if column_scale < 2.0:
        width = round(column_scale)
        if width < 2:
            return [fitted]
        transmission = np.exp(-fitted.attenuation)
        blurred = cv2.blur(transmission, (width, 1))
        return [replace(fitted, attenuation=-np.log(np.maximum(blurred, np.float32(1 / 65535))))]
    return [
        _blurred_along(fitted, resampling_kernel(column_scale, column_scale)),
        _blurred_along(fitted, resampling_kernel(column_scale, 1.0)),
    ]


def _blurred_along(fitted: Fitted, kernel: np.ndarray) -> Fitted:
    """``fitted`` with its transmission convolved along the vehicle with ``kernel``."""
    transmission = np.exp(-fitted.attenuation)
    blurred = cv2.sepFilter2D(transmission, -1, kernel, np.ones(1, np.float32))
    return replace(fitted, attenuation=-np.log(np.maximum(blurred, np.float32(1 / 65535))))


def resampling_kernel(scale: float, aperture: float, steps: int = 15) -> np.ndarray:
    """What a scan of pixels ``scale`` times longer along the vehicle than across, resampled linearly to
    square pixels (``alignment.square_pixels``), does to a square-pixel image along it, on average over
    where its pixels fall: each of its pixels sees ``aperture`` square pixels (a box: its whole travel,
    or the detector element's width), and the linear resampling spreads each over a triangle reaching
    ``scale`` each way. The two convolved, integrated over each square pixel (``steps``, odd, samples a
    pixel); float32, odd length, sum 1."""
    fine = np.arange(-math.ceil(scale * steps), math.ceil(scale * steps) + 1) / steps
    box = (np.abs(fine) <= aperture / 2).astype(np.float64)
    triangle = np.maximum(0.0, 1.0 - np.abs(fine) / scale)
    both = np.convolve(box, triangle)  # on a grid of 1/steps, centred
    half, pixel = len(both) // 2, steps // 2  # samples each side of a pixel's centre
    reach = math.ceil(half / steps - 0.5)
    centres = half + steps * np.arange(-reach, reach + 1)
    kernel = np.array([both[c - pixel : c + pixel + 1].sum() for c in centres])
    return np.asarray(kernel / kernel.sum(), dtype=np.float32)


def _within_one_scan_column(region: Region, column_scale: float, window: int) -> bool:
    """Whether a region of a scan whose pixels are at least twice as long along the vehicle as across
    is no wider than one of its columns, spread by the smoothing: a wall or edge met by the scan's
    columns at another phase than the reference's (each column averages ``column_scale`` square pixels),
    which such a scan cannot tell from a difference."""
    return column_scale >= 2 and region.box[2] - region.box[0] <= column_scale + window


def _as_fine_as(
    raw: np.ndarray, nominal: np.ndarray, fitted: Fitted, column_scale: float
) -> tuple[np.ndarray, np.ndarray]:
    """The scan (and its nominal attenuation) blurred along the vehicle to the resolution of a reference
    scanned with longer pixels than it was: ``fitted.reference.along_scale`` of the reference's square
    pixels, ``fitted.scale[0]`` of the scan's each, against the scan's own ``column_scale``. Blurs add as
    variances: a pixel f long is a box of variance f^2/12, and the reference's linear resampling to
    square pixels adds a triangle of variance f^2/6, so the reference is as blurred as a box of f * sqrt(3);
    the scan gets the box that makes up the difference. Unchanged when the reference is as fine as the
    scan or finer (``_as_coarse_as`` treats the other way round)."""
    along = fitted.reference.along_scale
    reference_px = along * (math.sqrt(3.0) if along > 1.0 else 1.0) * fitted.scale[0]
    scan_px = max(1.0, column_scale)
    width = round(math.sqrt(max(0.0, reference_px**2 - scan_px**2)))
    if width < 2:
        return raw, nominal
    blurred = np.asarray(cv2.blur(raw, (width, 1)))  # on counts, i.e. on transmission
    return blurred, attenuation(blurred)


def _in_scan_columns(detection: Detection, column_scale: float) -> Detection:
    """A detection found in square pixels, its box (and ``region_box_px``) in the scan's own columns."""
    if column_scale == 1.0:
        return detection
    attributes = dict(detection.attributes)
    if "region_box_px" in attributes:
        x0, y0, x1, y1 = (int(v) for v in attributes["region_box_px"].split(","))
        attributes["region_box_px"] = (
            f"{math.floor(x0 / column_scale)},{y0},{math.ceil(x1 / column_scale)},{y1}"
        )
    box = detection.box
    if box is not None:
        box = (box[0] / column_scale, box[1], box[2] / column_scale, box[3])
    return replace(detection, box=box, attributes=attributes)


def _score(excess: float) -> float:
    return float(np.clip(0.5 + abs(excess), 0.5, 0.99))


def _box(box: BoxPx) -> tuple[float, float, float, float]:
    return (float(box[0]), float(box[1]), float(box[2]), float(box[3]))


def _shifted(box: BoxPx | None, shift: tuple[float, float]) -> BoxPx | None:
    if box is None:
        return None
    dx, dy = round(shift[0]), round(shift[1])
    return (box[0] + dx, box[1] + dy, box[2] + dx, box[3] + dy)


def misfit(scan: np.ndarray, reference: np.ndarray, levels: Levels) -> float:
    """The median absolute difference of a levelled scan's attenuation from its moved reference's
    (both clamped by ``levels``) over the vehicle, where either shows material above the scan's
    ceiling (clipped air reads as the ceiling in both), on a grid of every ``MISFIT_STEP``th pixel."""
    a, b = scan[::MISFIT_STEP, ::MISFIT_STEP], reference[::MISFIT_STEP, ::MISFIT_STEP]
    threshold = BODY_ATTENUATION + levels.ceiling_attenuation
    body = (a > threshold) | (b > threshold)
    return float(np.median(np.abs(a[body] - b[body]))) if body.any() else 0.0


def _slowest(comparison: Comparison, pixel_size_mm: float | None) -> float:
    """The least speed, as a share of the reference's, of the vehicle under a comparison's warp, over
    any ``STOP_SPAN_CM`` of the scan's columns inside the reference's outline, a span in from each of
    its ends (1.0 for a shift). The ends are left out: where the blocks' shift was wrong, a path
    catches up in the air just before or after the vehicle, and that step is no stop."""
    if comparison.warp is None:
        return 1.0
    pixel_mm = pixel_size_mm or comparison.fitted.pixel_size_mm or _PIXEL_MM
    span = max(2, round(STOP_SPAN_CM * 10 / pixel_mm))
    columns = comparison.warp.columns.astype(np.float64)
    vehicle = np.flatnonzero(comparison.inside.any(axis=0))
    if len(vehicle) <= 3 * span:
        return 1.0
    first, last = int(vehicle[0]) + span, int(vehicle[-1]) - span
    moved = columns[first + span : last + 1] - columns[first : last + 1 - span]
    return float(np.min(moved) / span)
