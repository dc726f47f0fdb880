"""The CT detector: 3D detection of threat objects in a volume, from density, material and shape.

A reconstructed volume (``[depth, height, width]``, modified Hounsfield units MHU = HU + 1000: air 0,
water 1000, steel above 10000) is cut into material bands, each band into 3D connected components, and
each component described by its shape: volume, principal axes (lengths from the second moments),
how much of its oriented box it fills, mean and spread of its density. Honest rules, one per class,
then say what an object is:

* ``firearm``: a cluster of metal (>= ``metal_min_mhu``) holding at least ``firearm_min_cm3`` of metal
  whose largest part is at least ``firearm_min_length_cm`` long (slide and barrel, magazine);
* ``knife``: a flat, long piece of metal (``knife_min_cm3`` .. ``firearm_min_cm3``, at least
  ``knife_min_length_cm`` long, at most ``knife_max_thickness_cm`` thick); its region is extended
  over the handle when a handle-density rod continues the blade past its guard;
* ``explosive``: a homogeneous block of dense organic material (``organic_band_mhu``), at least
  ``explosive_min_cm3``, ``explosive_min_width_cm`` wide on its middle axis and filling at least
  ``explosive_min_fill`` of its oriented box (a brick, not a can or a tube); metal within
  ``explosive_attach_cm`` (detonator, battery) joins its region;
* ``cigarettes``: at least ``cigarettes_min_sheets`` parallel thin foil sheets (``foil_band_mhu``)
  embedded in tobacco-density material (``tobacco_band_mhu``), the walls between packs in cartons; a
  voxel is part of a sheet when at least ``sheet_core_crossings`` of the 13 directions of its
  neighbourhood cross it as a thin layer (the rim of a thicker object is thin along few of them).

Regions are 3D boxes in voxels, ``Detection.volume = (x_min, y_min, z_min, x_max, y_max, z_max)``,
x = column (width), y = row (height), z = slice (depth), max exclusive: the convention of
``hardware.dicos.write_tdr``, so a verdict exports as a DICOS Threat Detection Report unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from smartcustoms.core.lazy import lazy
from smartcustoms.core.types import Box3D, Detection
from smartcustoms.plugins.ct.segmentation import (
    Component,
    band_mask,
    check_volume,
    clusters,
    components,
    corners_box,
    gap,
    in_volume,
    label_components,
    moved,
    thin_sheets,
    union,
)
from smartcustoms.plugins.ct.settings import CtSettings

if TYPE_CHECKING:
    from smartcustoms.plugins.ct import _kernels as kernels
else:
    kernels = lazy("smartcustoms.plugins.ct._kernels")

# --------------------------------------------------------------------------- groups of findings


def _crossed_from_many_sides(
    crossings: np.ndarray, labels: np.ndarray, sheet: Component, minimum: float
) -> bool:
    """Whether a sheet is thin seen from most directions (a thick object's stair-stepped surface looks
    thin only along the few directions that graze it)."""
    z0, y0, x0, z1, y1, x1 = sheet.box
    seen = crossings[z0:z1, y0:y1, x0:x1][labels[z0:z1, y0:y1, x0:x1] == sheet.label]
    return bool(np.mean(seen) >= minimum)


def _wall_positions(group: Sequence[Component], voxel_cm: float, min_spacing_cm: float) -> list[float]:
    """Distinct positions (cm) of parallel sheets along their common normal: coplanar pieces are one wall."""
    normal = group[0].axes[:, 2]
    positions = sorted(float(c.centre @ normal) * voxel_cm for c in group)
    walls = positions[:1]
    for position in positions[1:]:
        if position - walls[-1] >= min_spacing_cm / 2:
            walls.append(position)
    return walls


def _merge_near(found: list[Found], join_voxels: float) -> list[Found]:
    """One finding per group of findings whose boxes lie within ``join_voxels``: the union of their
    boxes, the best score, the evidence of all."""
    merged: list[Found] = []
    for item in sorted(found, key=lambda f: -f.score):
        near = next((i for i, m in enumerate(merged) if gap(m.box, item.box) <= join_voxels), None)
        if near is None:
            merged.append(item)
            continue
        best = merged[near]
        merged[near] = Found(
            best.label,
            best.score,
            union([best.box, item.box]),
            f"{best.explanation}; {item.explanation}",
            {**item.attributes, **best.attributes},
        )
    return merged


# --------------------------------------------------------------------------- the detector


@dataclass(frozen=True)
class Found:
    """A classified object: label, score, box (z0, y0, x0, z1, y1, x1) and its evidence."""

    label: str
    score: float
    box: tuple[float, ...]
    explanation: str
    attributes: dict[str, str]

    def detection(self, shape: tuple[int, ...]) -> Detection:
        z0, y0, x0 = (max(0.0, float(v)) for v in self.box[:3])
        z1, y1, x1 = (min(float(v), float(n)) for v, n in zip(self.box[3:], shape, strict=True))
        volume: Box3D = (x0, y0, z0, x1, y1, z1)
        return Detection(
            self.label, self.score, volume=volume, explanation=self.explanation, attributes=self.attributes
        )


class CtDetector:
    """Finds threats in one volume; stateless between volumes."""

    def __init__(self, settings: CtSettings | None = None) -> None:
        self.settings = settings or CtSettings()

    def detect(self, volume: np.ndarray, voxel_mm: float | None = None) -> list[Found]:
        """Threats in a uint16 MHU volume [depth, height, width], best first."""
        volume = check_volume(volume)
        voxel_cm = (voxel_mm or self.settings.voxel_mm) / 10
        metal = self._metal(volume, voxel_cm)
        explosives = self._explosives(volume, voxel_cm, metal.parts)
        attach = self.settings.explosive_attach_cm / voxel_cm
        weapons = [  # a detonator and its battery are part of the explosive, not a knife
            f
            for f in metal.found
            if f.label == "firearm" or all(gap(f.box, e.box) > attach for e in explosives)
        ]
        found = [*weapons, *explosives, *self._cigarettes(volume, voxel_cm)]
        return sorted(found, key=lambda f: -f.score)

    # ------------------------------------------------------------------ metal: firearms and knives

    @dataclass(frozen=True)
    class _Metal:
        found: list[Found]
        parts: list[Component]

    def _metal(self, volume: np.ndarray, voxel_cm: float) -> CtDetector._Metal:
        s = self.settings
        labels, count = label_components(band_mask(volume, s.metal_min_mhu, 65536))
        parts = components(labels, count, volume, round(s.metal_min_cm3 / voxel_cm**3))
        found = []
        for cluster in clusters(parts, s.metal_join_cm / voxel_cm):
            total_cm3 = sum(p.voxels for p in cluster) * voxel_cm**3
            largest = max(cluster, key=lambda p: p.voxels)
            length_cm, _, thickness_cm = largest.lengths * voxel_cm
            if total_cm3 >= s.firearm_min_cm3 and length_cm >= s.firearm_min_length_cm:
                found.append(self._firearm(cluster, total_cm3, length_cm))
            elif (
                largest.voxels * voxel_cm**3 >= s.knife_min_cm3
                and length_cm >= s.knife_min_length_cm
                and thickness_cm <= s.knife_max_thickness_cm
            ):
                found.append(self._knife(volume, labels, largest, voxel_cm))
        return CtDetector._Metal(found, parts)

    def _firearm(self, cluster: list[Component], total_cm3: float, length_cm: float) -> Found:
        score = float(np.clip(0.6 + 0.4 * total_cm3 / (2 * self.settings.firearm_min_cm3), 0.6, 0.99))
        return Found(
            "firearm",
            score,
            union([p.box for p in cluster]),
            f"{total_cm3:.0f} cm3 of metal in {len(cluster)} parts, longest {length_cm:.1f} cm "
            f"(rule: >= {self.settings.firearm_min_cm3:g} cm3, "
            f">= {self.settings.firearm_min_length_cm:g} cm)",
            {"metal_cm3": f"{total_cm3:.1f}", "length_cm": f"{length_cm:.1f}", "parts": str(len(cluster))},
        )

    def _knife(self, volume: np.ndarray, labels: np.ndarray, blade: Component, voxel_cm: float) -> Found:
        s = self.settings
        extent = kernels._oriented_extent(
            labels, blade.label, np.asarray(blade.box), blade.centre, blade.axes
        )
        low, high = extent[0] - 0.5, extent[1] + 0.5
        guard_at_low = self._guard_at_low(volume, labels, blade, extent)
        handle = s.knife_handle_cm / voxel_cm
        end = low[0] - handle / 2 if guard_at_low else high[0] + handle / 2
        along = np.linspace(end - handle / 2 + 1, end + handle / 2 - 1, 12)
        points = blade.centre + np.outer(along, blade.axes[:, 0])
        handle_mhu = kernels._sample_mean(volume, points)
        has_handle = s.handle_band_mhu[0] <= handle_mhu < s.handle_band_mhu[1]
        if has_handle:
            low, high = low.copy(), high.copy()
            if guard_at_low:
                low[0] -= handle
            else:
                high[0] += handle
        box = corners_box(blade.centre, blade.axes, low, high)
        length_cm, width_cm, thickness_cm = (high - low) * voxel_cm
        metal_cm3 = blade.voxels * voxel_cm**3
        return Found(
            "knife",
            0.9 if has_handle else 0.75,
            tuple(float(v) for v in box),
            f"flat metal {metal_cm3:.0f} cm3, {length_cm:.1f} x {width_cm:.1f} x {thickness_cm:.1f} cm"
            + (f", handle of {handle_mhu:.0f} MHU past the guard" if has_handle else ", no handle seen"),
            {
                "metal_cm3": f"{metal_cm3:.1f}",
                "length_cm": f"{length_cm:.1f}",
                "handle": str(has_handle).lower(),
            },
        )

    @staticmethod
    def _guard_at_low(volume: np.ndarray, labels: np.ndarray, blade: Component, extent: np.ndarray) -> bool:
        """Whether the guard (the thickest end of the blade) is at the low end of its first axis."""
        z0, y0, x0, z1, y1, x1 = blade.box
        corner = np.array([z0 + 0.5, y0 + 0.5, x0 + 0.5])
        coords = np.argwhere(labels[z0:z1, y0:y1, x0:x1] == blade.label) + corner
        local = (coords - blade.centre) @ blade.axes
        span = extent[1, 0] - extent[0, 0]
        near_low = local[:, 0] <= extent[0, 0] + 0.2 * span
        near_high = local[:, 0] >= extent[1, 0] - 0.2 * span
        thickness = [np.ptp(local[m, 2]) if m.any() else 0.0 for m in (near_low, near_high)]
        return bool(thickness[0] >= thickness[1])

    # ------------------------------------------------------------------ explosives

    def _explosives(self, volume: np.ndarray, voxel_cm: float, metal: list[Component]) -> list[Found]:
        s = self.settings
        min_voxels = round(s.explosive_min_cm3 / voxel_cm**3)
        labels, count = label_components(band_mask(volume, *s.organic_band_mhu, erode=True))
        found = []
        for part in components(labels, count, volume, min_voxels):
            item = self._explosive(part, labels, voxel_cm, metal)
            if item is not None:
                found.append(item)
                continue
            # a brick touching other things of organic density: its pieces around each density mode,
            # and when a piece touches a rod or a tube of its own density, that piece's core
            for block, block_labels in self._density_pieces(volume, labels, part, min_voxels):
                item = self._explosive(block, block_labels, voxel_cm, metal)
                if item is None:
                    item = self._explosive_core(volume, block, block_labels, voxel_cm, metal, min_voxels)
                if item is not None:
                    found.append(item)
        return found

    def _explosive_core(
        self,
        volume: np.ndarray,
        block: Component,
        labels: np.ndarray,
        voxel_cm: float,
        metal: list[Component],
        min_voxels: int,
    ) -> Found | None:
        """The block eroded once more: a tube or a wire (a trolley handle, a cable) of the same density
        that touches a brick thins away, the brick stays; its pieces are judged grown back by a voxel."""
        z0, y0, x0, z1, y1, x1 = block.box
        mask = np.ascontiguousarray((labels[z0:z1, y0:y1, x0:x1] == block.label).view(np.uint8))
        core = np.empty_like(mask)
        kernels._erode6(mask, core)
        sub_labels, sub_count = label_components(core)
        crop = np.ascontiguousarray(volume[z0:z1, y0:y1, x0:x1])
        best = None
        full = in_volume(sub_labels, (z0, y0, x0), volume.shape)  # one array for all the pieces
        for piece in components(sub_labels, sub_count, crop, min_voxels // 2):
            item = self._explosive(moved(piece, (z0, y0, x0)), full, voxel_cm, metal, grown=1)
            if item is not None and (best is None or item.score > best.score):
                best = item
        return best

    def _density_pieces(
        self, volume: np.ndarray, labels: np.ndarray, part: Component, min_voxels: int
    ) -> list[tuple[Component, np.ndarray]]:
        """The part's pieces around each of its density modes, each mode's window ending halfway to
        the next mode (a brick of 1500 MHU touching a can of 1400 MHU comes apart)."""
        z0, y0, x0, z1, y1, x1 = part.box
        crop = np.ascontiguousarray(volume[z0:z1, y0:y1, x0:x1])
        values = crop[labels[z0:z1, y0:y1, x0:x1] == part.label]
        low, high = self.settings.organic_band_mhu
        histogram, edges = np.histogram(values, bins=np.arange(low, high + 25, 25))
        smooth = np.convolve(histogram, np.ones(3), mode="same")
        peaks = [
            i
            for i in range(len(smooth))
            if smooth[i] == smooth[max(i - 3, 0) : i + 4].max() and smooth[i] > 0
        ]
        centres = [float(edges[peak]) + 12.5 for peak in peaks]
        pieces = []
        for k, centre in enumerate(centres):
            below = max(centre - 90, (centres[k - 1] + centre) / 2) if k > 0 else centre - 90
            above = min(centre + 90, (centres[k + 1] + centre) / 2) if k + 1 < len(centres) else centre + 90
            sub_labels, sub_count = label_components(band_mask(crop, round(below), round(above), erode=True))
            found = components(sub_labels, sub_count, crop, min_voxels)
            full = in_volume(sub_labels, (z0, y0, x0), volume.shape) if found else labels
            pieces += [(moved(piece, (z0, y0, x0)), full) for piece in found]
        return pieces

    def _explosive(
        self, block: Component, labels: np.ndarray, voxel_cm: float, metal: list[Component], grown: int = 0
    ) -> Found | None:
        """An explosive when ``block`` is a homogeneous brick; ``grown``: voxels it was eroded by."""
        s = self.settings
        length_cm, width_cm, thickness_cm = (block.lengths + 2 * grown) * voxel_cm
        if width_cm < s.explosive_min_width_cm or block.std_mhu > s.explosive_max_std_mhu:
            return None
        extent = kernels._oriented_extent(
            labels, block.label, np.asarray(block.box), block.centre, block.axes
        )
        fill = block.voxels / float(np.prod(extent[1] - extent[0] + 1.0))
        if fill < s.explosive_min_fill:
            return None
        attach = s.explosive_attach_cm / voxel_cm
        attached = [m for m in metal if gap(m.box, block.box) <= attach and m.voxels < 4 * block.voxels]
        volume_cm3 = block.voxels * voxel_cm**3
        score = float(np.clip(0.5 + (fill - s.explosive_min_fill) * 2 + 0.1 * bool(attached), 0.5, 0.99))
        z0, y0, x0, z1, y1, x1 = block.box
        box = (z0 - grown, y0 - grown, x0 - grown, z1 + grown, y1 + grown, x1 + grown)
        return Found(
            "explosive",
            score,
            union([box, *(m.box for m in attached)]),
            f"homogeneous block of {block.mean_mhu:.0f} MHU, {volume_cm3:.0f} cm3, "
            f"{length_cm:.1f} x {width_cm:.1f} x {thickness_cm:.1f} cm, fills {fill:.0%} of its box"
            + (f", {len(attached)} metal part(s) attached" if attached else ""),
            {
                "density_mhu": f"{block.mean_mhu:.0f}",
                "volume_cm3": f"{volume_cm3:.0f}",
                "fill": f"{fill:.2f}",
                "attached_metal": str(len(attached)),
            },
        )

    # ------------------------------------------------------------------ cigarettes

    def _cigarettes(self, volume: np.ndarray, voxel_cm: float) -> list[Found]:
        s = self.settings
        crossings = thin_sheets(volume, s)
        # A foil wall is thin along most of the 13 directions; the rim of a thicker object of foil density
        # (a book, a bottle) only along a few. Rim voxels would join the walls of one carton into one
        # tangle, so only the core of each wall is labelled.
        core = (crossings >= s.sheet_core_crossings).view(np.uint8)
        labels, count = label_components(core, connectivity=26)
        sheets = [
            c
            for c in components(labels, count, volume, round(s.sheet_min_cm2 / voxel_cm**2))
            if c.lengths[2] * voxel_cm <= s.sheet_max_thickness_cm
            and c.lengths[1] * voxel_cm >= 2.0
            and _crossed_from_many_sides(crossings, labels, c, s.sheet_min_crossings)
        ]
        found = []
        for group in self._parallel_groups(sheets, voxel_cm):
            walls = _wall_positions(group, voxel_cm, s.sheet_min_spacing_cm)
            if len(walls) >= s.cigarettes_min_walls and len(group) >= s.cigarettes_min_sheets:
                found.append(self._cigarette_group(volume, group, voxel_cm, len(walls)))
        return _merge_near([*found, *self._pack_groups(volume, voxel_cm)], s.sheet_join_cm / voxel_cm)

    def _pack_groups(self, volume: np.ndarray, voxel_cm: float) -> list[Found]:
        """Groups of packs: homogeneous tobacco-density bricks of a pack's size, side by side."""
        s = self.settings
        labels, count = label_components(band_mask(volume, *s.tobacco_band_mhu, erode=True))
        low, high = (v / voxel_cm for v in s.pack_section_cm)
        packs = [
            c
            for c in components(labels, count, volume, round(s.pack_min_cm3 / voxel_cm**3))
            if low <= c.lengths[2] <= c.lengths[1] <= high
            and c.std_mhu <= s.pack_max_std_mhu
            and c.voxels / float(np.prod(c.lengths)) >= s.pack_min_fill
        ]
        found = []
        for group in clusters(packs, s.sheet_join_cm / voxel_cm):
            densities = [p.mean_mhu for p in group]
            if (
                len(group) < s.cigarettes_min_packs
                or max(densities) - min(densities) > 3 * s.pack_max_std_mhu
            ):
                continue
            box = union([p.box for p in group])
            found.append(
                Found(
                    "cigarettes",
                    float(np.clip(0.5 + 0.08 * len(group), 0.5, 0.95)),
                    box,
                    f"{len(group)} homogeneous bricks of {np.mean(densities):.0f} MHU, the size of cigarette "
                    "packs, side by side",
                    {"packs": str(len(group)), "tobacco_mhu": f"{np.mean(densities):.0f}"},
                )
            )
        return found

    def _parallel_groups(self, sheets: list[Component], voxel_cm: float) -> list[list[Component]]:
        s = self.settings
        parent = list(range(len(sheets)))

        def root(i: int) -> int:
            while parent[i] != i:
                parent[i] = parent[parent[i]]
                i = parent[i]
            return i

        for i, a in enumerate(sheets):
            for j in range(i + 1, len(sheets)):
                b = sheets[j]
                normal = a.axes[:, 2]
                if abs(float(normal @ b.axes[:, 2])) < 0.9:
                    continue
                offset = (b.centre - a.centre) * voxel_cm
                along = abs(float(offset @ normal))
                lateral = float(np.linalg.norm(offset - (offset @ normal) * normal))
                reach = (a.lengths[0] + b.lengths[0]) * voxel_cm / 2 + s.sheet_join_cm
                if along <= s.sheet_max_spacing_cm and lateral <= reach:
                    parent[root(i)] = root(j)
        groups: dict[int, list[Component]] = {}
        for i, sheet in enumerate(sheets):
            groups.setdefault(root(i), []).append(sheet)
        return list(groups.values())

    def _cigarette_group(
        self, volume: np.ndarray, group: list[Component], voxel_cm: float, walls: int
    ) -> Found:
        s = self.settings
        normal = group[0].axes[:, 2]
        positions = sorted(float(c.centre @ normal) for c in group)
        steps = [d for d in np.diff(positions) if d * voxel_cm >= s.sheet_min_spacing_cm]
        spacing = float(min(steps)) if steps else 0.0
        boxes: list[tuple[int, ...]] = [c.box for c in group]
        ordered = sorted(group, key=lambda c: float(c.centre @ normal))
        for outer, sign in ((ordered[0], -1.0), (ordered[-1], 1.0)):
            probe = outer.centre + sign * normal * spacing / 2
            points = probe + np.outer(np.linspace(-0.3, 0.3, 7) * outer.lengths[0], outer.axes[:, 0])
            mean = kernels._sample_mean(volume, points)
            if s.tobacco_band_mhu[0] <= mean < s.tobacco_band_mhu[1]:  # a pack beyond the last wall found
                shift = np.rint(sign * normal * spacing).astype(int)
                boxes.append((*np.add(outer.box[:3], shift), *np.add(outer.box[3:], shift)))
        tobacco = float(np.mean([c.mean_mhu for c in group]))
        return Found(
            "cigarettes",
            float(np.clip(0.5 + 0.1 * walls + 0.02 * len(group), 0.5, 0.99)),
            union(boxes),
            f"{len(group)} pieces of {walls} parallel foil walls, {spacing * voxel_cm:.1f} cm apart or more, "
            "in tobacco-density material",
            {
                "foil_walls": str(walls),
                "foil_sheets": str(len(group)),
                "spacing_cm": f"{spacing * voxel_cm:.1f}",
                "foil_mhu": f"{tobacco:.0f}",
            },
        )
