"""ct_detector: 3D detection of threat objects in CT volumes, from density, material and shape.

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
Thresholds are physical (densities of the materials, sizes of the objects) and were set on development
seeds 100-199 of ``hardware.sim.ct.CtSimulator`` only; ``plugins.eval_ct_vehicle`` refuses to evaluate
on those seeds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from smartcustoms.core.frames import FrameView
from smartcustoms.core.hookspecs import hookimpl
from smartcustoms.core.types import Assessment, Box3D, Detection, Modality, PluginSpec
from smartcustoms.plugins import _ct_kernels as kernels

LABELS = ("firearm", "knife", "explosive", "cigarettes")


@dataclass(frozen=True)
class CtSettings:
    """Every threshold of the detector; densities in MHU, sizes in cm."""

    voxel_mm: float = 3.0  # used when a frame's metadata has no voxel_size_mm
    metal_min_mhu: int = 4500
    metal_min_cm3: float = 1.5  # smaller metal bits (coin edges) are ignored
    metal_join_cm: float = 1.5
    firearm_min_cm3: float = 70.0
    firearm_min_length_cm: float = 10.0
    knife_min_cm3: float = 8.0
    knife_min_length_cm: float = 7.0
    knife_max_thickness_cm: float = 2.0
    knife_handle_cm: float = 10.4
    handle_band_mhu: tuple[int, int] = (450, 1250)
    organic_band_mhu: tuple[int, int] = (1300, 2100)
    explosive_min_cm3: float = 80.0
    explosive_min_width_cm: float = 5.0
    explosive_min_fill: float = 0.6
    explosive_max_std_mhu: float = 60.0
    explosive_attach_cm: float = 5.0
    tobacco_band_mhu: tuple[int, int] = (230, 450)
    foil_band_mhu: tuple[int, int] = (600, 1300)
    foil_min_contrast_mhu: int = 200
    sheet_min_cm2: float = 6.0
    sheet_max_thickness_cm: float = 2.0
    sheet_min_crossings: float = 3.0
    sheet_core_crossings: int = 6
    sheet_min_spacing_cm: float = 3.5
    sheet_max_spacing_cm: float = 30.0
    sheet_join_cm: float = 3.0
    cigarettes_min_sheets: int = 3
    cigarettes_min_walls: int = 2
    pack_section_cm: tuple[float, float] = (3.5, 6.5)
    pack_min_cm3: float = 80.0
    pack_max_std_mhu: float = 35.0
    pack_min_fill: float = 0.85
    cigarettes_min_packs: int = 2

    @classmethod
    def from_mapping(cls, settings: Mapping[str, Any]) -> CtSettings:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(settings) - known)
        if unknown:
            raise ValueError(f"ct_detector: unknown setting(s) {', '.join(unknown)}")
        values: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in settings.items()}
        return cls(**values)


SPEC = PluginSpec(
    name="ct_detector",
    version="1.0.0",
    consumes=frozenset({Modality.CT}),
    description="3D threat detection in CT volumes: firearms, knives, explosives, cigarettes",
    default_settings={f.name: f.default for f in fields(CtSettings)},
)


# --------------------------------------------------------------------------- public wrappers of the kernels


def _check_volume(volume: np.ndarray) -> np.ndarray:
    if not isinstance(volume, np.ndarray) or volume.ndim != 3:
        raise ValueError("volume must be a 3D numpy array [depth, height, width]")
    if volume.dtype != np.uint16:
        raise TypeError(f"volume must be uint16 MHU, got {volume.dtype}")
    return np.ascontiguousarray(volume)


def band_mask(volume: np.ndarray, low: int, high: int, *, erode: bool = False) -> np.ndarray:
    """uint8 mask of voxels with low <= MHU < high; ``erode``: only voxels whose 6 neighbours are too."""
    volume = _check_volume(volume)
    mask = np.empty(volume.shape, dtype=np.uint8)
    kernels._band_mask(volume, int(low), int(high), mask)
    if not erode:
        return mask
    eroded = np.empty_like(mask)
    kernels._erode6(mask, eroded)
    return eroded


def label_components(mask: np.ndarray, *, connectivity: int = 6) -> tuple[np.ndarray, int]:
    """Connected components of a uint8 mask: int32 labels 1..n (0 background) and n."""
    if mask.ndim != 3 or mask.dtype != np.uint8:
        raise ValueError("mask must be a 3D uint8 array")
    if connectivity not in (6, 26):
        raise ValueError("connectivity must be 6 or 26")
    labels = np.empty(mask.shape, dtype=np.int32)
    mask = np.ascontiguousarray(mask)
    count = kernels._label6(mask, labels) if connectivity == 6 else kernels._label26(mask, labels)
    return labels, int(count)


def thin_sheets(volume: np.ndarray, settings: CtSettings) -> np.ndarray:
    """Thin foil-density sheets embedded in tobacco-density material: uint8, per voxel how many of the
    13 directions of its neighbourhood cross it as a thin sheet (0: none)."""
    volume = _check_volume(volume)
    out = np.empty(volume.shape, dtype=np.uint8)
    kernels._thin_sheets(
        volume,
        *settings.foil_band_mhu,
        *settings.tobacco_band_mhu,
        settings.foil_min_contrast_mhu,
        2,
        kernels.DIRECTIONS_13,
        out,
    )
    return out


# --------------------------------------------------------------------------- components and their shape


@dataclass(frozen=True)
class Component:
    """One connected component: (z, y, x) voxel geometry and its density statistics."""

    label: int
    voxels: int
    mean_mhu: float
    std_mhu: float
    centre: np.ndarray  # (z, y, x), voxels
    axes: np.ndarray  # columns: principal directions, longest first
    lengths: np.ndarray  # sqrt(12 * variance) along each axis, voxels: a box's edge lengths
    box: tuple[int, int, int, int, int, int]  # z0, y0, x0, z1, y1, x1, max exclusive


def components(labels: np.ndarray, count: int, volume: np.ndarray, min_voxels: int) -> list[Component]:
    """Shape and density of every component of at least ``min_voxels`` voxels."""
    if count == 0:
        return []
    stats = kernels._component_stats(labels, count, volume)
    return [_component(int(row) + 1, stats[row]) for row in np.flatnonzero(stats[:, 0] >= max(min_voxels, 1))]


def _component(label: int, s: np.ndarray) -> Component:
    n = s[kernels.STAT_COUNT]
    mean = s[kernels.STAT_SUM] / n
    centre = s[kernels.STAT_Z : kernels.STAT_X + 1] / n
    zz, yy, xx, zy, zx, yx = s[kernels.STAT_ZZ : kernels.STAT_YX + 1] / n
    second = np.array([[zz, zy, zx], [zy, yy, yx], [zx, yx, xx]]) - np.outer(centre, centre)
    variances, axes = np.linalg.eigh(second)
    order = np.argsort(variances)[::-1]
    lengths = np.sqrt(12 * np.maximum(variances[order], 0.0) + 1.0)  # + 1: a voxel has a size
    box = tuple(int(v) for v in s[kernels.STAT_Z0 : kernels.STAT_X1 + 1])
    return Component(
        label,
        int(n),
        float(mean),
        float(np.sqrt(max(s[kernels.STAT_SUM_SQ] / n - mean * mean, 0.0))),
        centre,
        axes[:, order],
        lengths,
        box,  # type: ignore[arg-type]  # six ints by construction
    )


def _union(boxes: Sequence[Sequence[float]]) -> tuple[int, int, int, int, int, int]:
    array = np.asarray(boxes)
    low, high = array[:, :3].min(axis=0), array[:, 3:].max(axis=0)
    return (int(low[0]), int(low[1]), int(low[2]), int(high[0]), int(high[1]), int(high[2]))


def _gap(a: Sequence[float], b: Sequence[float]) -> float:
    """Largest per-axis gap between two boxes, voxels (0 when they touch or overlap)."""
    return float(max(0, *(max(a[k] - b[k + 3], b[k] - a[k + 3]) for k in range(3))))


def _clusters(items: Sequence[Component], join_voxels: float) -> list[list[Component]]:
    """Single-linkage groups of components whose boxes lie within ``join_voxels`` of each other."""
    parent = list(range(len(items)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(len(items)):
        for j in range(i + 1, len(items)):
            if _gap(items[i].box, items[j].box) <= join_voxels:
                parent[root(i)] = root(j)
    groups: dict[int, list[Component]] = {}
    for i, item in enumerate(items):
        groups.setdefault(root(i), []).append(item)
    return list(groups.values())


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
        near = next((i for i, m in enumerate(merged) if _gap(m.box, item.box) <= join_voxels), None)
        if near is None:
            merged.append(item)
            continue
        best = merged[near]
        merged[near] = Found(
            best.label,
            best.score,
            _union([best.box, item.box]),
            f"{best.explanation}; {item.explanation}",
            {**item.attributes, **best.attributes},
        )
    return merged


def _corners_box(centre: np.ndarray, axes: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Axis-aligned (z0, y0, x0, z1, y1, x1) of an oriented box given by its extents along ``axes``."""
    corners = [
        centre + axes @ np.array([(low, high)[i][0], (low, high)[j][1], (low, high)[k][2]])
        for i in (0, 1)
        for j in (0, 1)
        for k in (0, 1)
    ]
    return np.concatenate([np.min(corners, axis=0), np.max(corners, axis=0)])


def _moved(piece: Component, corner: tuple[int, int, int]) -> Component:
    """A component found in a crop whose first voxel is ``corner``, in volume coordinates."""
    offset = np.array(corner)
    low, high = np.add(piece.box[:3], offset), np.add(piece.box[3:], offset)
    box = (int(low[0]), int(low[1]), int(low[2]), int(high[0]), int(high[1]), int(high[2]))
    return Component(
        piece.label, piece.voxels, piece.mean_mhu, piece.std_mhu, piece.centre + offset, piece.axes,
        piece.lengths, box,
    )  # fmt: skip


def _in_volume(sub_labels: np.ndarray, corner: tuple[int, int, int], shape: tuple[int, ...]) -> np.ndarray:
    """A crop's labels placed in a volume-sized array (zero elsewhere)."""
    full = np.zeros(shape, dtype=np.int32)
    z0, y0, x0 = corner
    depth, height, width = sub_labels.shape
    full[z0 : z0 + depth, y0 : y0 + height, x0 : x0 + width] = sub_labels
    return full


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
        volume = _check_volume(volume)
        voxel_cm = (voxel_mm or self.settings.voxel_mm) / 10
        metal = self._metal(volume, voxel_cm)
        explosives = self._explosives(volume, voxel_cm, metal.parts)
        attach = self.settings.explosive_attach_cm / voxel_cm
        weapons = [  # a detonator and its battery are part of the explosive, not a knife
            f
            for f in metal.found
            if f.label == "firearm" or all(_gap(f.box, e.box) > attach for e in explosives)
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
        for cluster in _clusters(parts, s.metal_join_cm / voxel_cm):
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
            _union([p.box for p in cluster]),
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
        box = _corners_box(blade.centre, blade.axes, low, high)
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
        full = _in_volume(sub_labels, (z0, y0, x0), volume.shape)  # one array for all the pieces
        for piece in components(sub_labels, sub_count, crop, min_voxels // 2):
            item = self._explosive(_moved(piece, (z0, y0, x0)), full, voxel_cm, metal, grown=1)
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
            full = _in_volume(sub_labels, (z0, y0, x0), volume.shape) if found else labels
            pieces += [(_moved(piece, (z0, y0, x0)), full) for piece in found]
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
        attached = [m for m in metal if _gap(m.box, block.box) <= attach and m.voxels < 4 * block.voxels]
        volume_cm3 = block.voxels * voxel_cm**3
        score = float(np.clip(0.5 + (fill - s.explosive_min_fill) * 2 + 0.1 * bool(attached), 0.5, 0.99))
        z0, y0, x0, z1, y1, x1 = block.box
        box = (z0 - grown, y0 - grown, x0 - grown, z1 + grown, y1 + grown, x1 + grown)
        return Found(
            "explosive",
            score,
            _union([box, *(m.box for m in attached)]),
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
        for group in _clusters(packs, s.sheet_join_cm / voxel_cm):
            densities = [p.mean_mhu for p in group]
            if (
                len(group) < s.cigarettes_min_packs
                or max(densities) - min(densities) > 3 * s.pack_max_std_mhu
            ):
                continue
            box = _union([p.box for p in group])
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
            _union(boxes),
            f"{len(group)} pieces of {walls} parallel foil walls, {spacing * voxel_cm:.1f} cm apart or more, "
            "in tobacco-density material",
            {
                "foil_walls": str(walls),
                "foil_sheets": str(len(group)),
                "spacing_cm": f"{spacing * voxel_cm:.1f}",
                "foil_mhu": f"{tobacco:.0f}",
            },
        )


# --------------------------------------------------------------------------- frames and hooks


def volume_mhu(frame: FrameView) -> np.ndarray:
    """The frame's volume as uint16 MHU, rescaled when its metadata says the stored values are not MHU."""
    array = frame.array()
    if array.ndim != 3:
        raise ValueError(f"CT frame {frame.frame_id}: expected [depth, height, width], got {array.shape}")
    slope = float(frame.metadata.get("rescale_slope", "1") or 1)
    intercept = float(frame.metadata.get("rescale_intercept", "-1000") or -1000)
    if array.dtype == np.uint16 and slope == 1.0 and intercept == -1000.0:
        return array
    mhu = array.astype(np.float32) * slope + intercept + 1000.0
    return np.asarray(np.clip(np.rint(mhu), 0, 65535), dtype=np.uint16)


def voxel_size_mm(frame: FrameView) -> float | None:
    for key in ("voxel_size_mm", "pixel_spacing_mm", "slice_spacing_mm"):
        text = frame.metadata.get(key, "")
        if text:
            return float(text.replace("\\", ",").split(",")[0])
    return None


_detector = CtDetector()


@hookimpl
def smartcustoms_plugin_spec() -> PluginSpec:
    return SPEC


@hookimpl
def smartcustoms_configure(settings: Mapping[str, Any]) -> None:
    global _detector
    _detector = CtDetector(CtSettings.from_mapping(settings))


@hookimpl
def smartcustoms_process_batch(frames: Sequence[FrameView]) -> list[Assessment]:
    return [assess(frame, _detector) for frame in frames]


def assess(frame: FrameView, detector: CtDetector) -> Assessment:
    volume = volume_mhu(frame)
    found = detector.detect(volume, voxel_size_mm(frame))
    detections = [f.detection(volume.shape) for f in found]
    return (
        Assessment.alarm(*detections, risk_score=max(d.score for d in detections))
        if detections
        else Assessment.clear()
    )
