"""Recognition against the threat image database: whitened template search, verification, texture.

Shape classes (firearm, knife, phone, and any label added to the library) are found by a whitened
matched filter: the organic and metal thickness maps on the recognition grid are correlated, in the
Fourier domain, with library signatures in their 8 axis-aligned poses, after dividing both by the
clutter's power spectrum (the optimal linear detector of a known signal in Gaussian clutter; it
stresses the object's edges over the smooth clutter piled on it). Each peak is then verified against
every entry of its class: how much of the signature the image explains, how well shapes and edges
agree; a logistic model (``model.py``) turns those figures into a probability. Periodic-texture
classes (cigarettes: rods 7.8 mm apart) are found by their texture instead, and compared with their
library entries by footprint and texture strength.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from smartcustoms.core.lazy import lazy
from smartcustoms.plugins.xray.library import LibraryEntry, border_background, line_integrals
from smartcustoms.plugins.xray.materials import (
    GRID_FACTOR,
    Calibration,
    MaterialMaps,
    label_components,
    periodicity,
)
from smartcustoms.plugins.xray.model import ClutterModel

if TYPE_CHECKING:
    from smartcustoms.plugins.xray import _kernels as kernels
else:
    kernels = lazy("smartcustoms.plugins.xray._kernels")

Box = tuple[float, float, float, float]
_SUPPORT_B_CM = 0.01  # metal thickness above which a signature cell belongs to the object
_SUPPORT_A_CM = 0.05
RECENTRE_CELLS = 7  # how far a peak is re-centred: half a phone's width (4.4 cm at 6.25 mm cells)


# --------------------------------------------------------------------------- signatures


def resample(values: np.ndarray, factor: float) -> np.ndarray:
    """Area-average a 2D map onto cells ``factor`` input pixels wide (factor >= 1, not only integers)."""
    rows = _resample_axis0(values, factor)
    return _resample_axis0(rows.T, factor).T


def _resample_axis0(values: np.ndarray, factor: float) -> np.ndarray:
    n = values.shape[0]
    size = max(1, math.ceil(n / factor - 1e-9))
    edges = np.minimum(np.arange(size + 1) * factor, n)
    cumulative = np.concatenate([np.zeros((1, values.shape[1])), np.cumsum(values, axis=0)])
    below = np.floor(edges).astype(int)
    above = np.minimum(below + 1, n)
    weight = (edges - below)[:, None]
    sums = cumulative[below] * (1 - weight) + cumulative[above] * weight  # linear in the cumulative sum
    cells: np.ndarray = (sums[1:] - sums[:-1]) / factor
    return cells


def orientations(values: np.ndarray) -> list[np.ndarray]:
    """The 8 axis-aligned poses: 4 quarter turns, each also mirrored."""
    poses = []
    for quarter in range(4):
        turned = np.rot90(values, quarter)
        poses += [np.ascontiguousarray(turned), np.ascontiguousarray(turned[:, ::-1])]
    return poses


@dataclass(frozen=True, eq=False)
class Signature:
    """A library entry as thickness maps of the object alone, on the grid and at half resolution."""

    entry: LibraryEntry
    a_grid: tuple[np.ndarray, ...]  # 8 poses
    b_grid: tuple[np.ndarray, ...]
    b_half: tuple[np.ndarray, ...]
    extent_half: tuple[tuple[int, int, int, int], ...]  # object rows / columns within b_half, per pose
    metal_cm3: float
    organic_cm3: float
    area_cm2: float


def prepare_signature(entry: LibraryEntry, calibration: Calibration, pixel_size_mm: float) -> Signature:
    """Thickness maps of an entry for frames of ``pixel_size_mm`` (background taken from the border)."""
    lines = line_integrals(entry.image)
    lines -= border_background(lines)[:, None, None]
    a = calibration.inverse[0, 0] * lines[0] + calibration.inverse[0, 1] * lines[1]
    b = calibration.inverse[1, 0] * lines[0] + calibration.inverse[1, 1] * lines[1]
    a[a < 0] = 0.0  # noise and background mismatch: an object never removes material
    b[b < 0] = 0.0
    grid_factor = GRID_FACTOR * pixel_size_mm / entry.pixel_size_mm
    half_factor = 2 * pixel_size_mm / entry.pixel_size_mm
    a_grid, b_grid = resample(a, max(grid_factor, 1.0)), resample(b, max(grid_factor, 1.0))
    b_half, a_half = resample(b, max(half_factor, 1.0)), resample(a, max(half_factor, 1.0))
    support = (b_half > _SUPPORT_B_CM) | (a_half > _SUPPORT_A_CM)
    cell_cm2 = (entry.pixel_size_mm / 10) ** 2
    return Signature(
        entry,
        tuple(orientations(a_grid)),
        tuple(orientations(b_grid)),
        tuple(orientations(b_half)),
        tuple(_extent(pose) for pose in orientations(support.astype(np.float64))),
        float(b.sum() * cell_cm2),
        float(a.sum() * cell_cm2),
        float(((b > _SUPPORT_B_CM) | (a > _SUPPORT_A_CM)).sum() * cell_cm2),
    )


def _extent(mask: np.ndarray) -> tuple[int, int, int, int]:
    rows, cols = np.nonzero(mask > 0.5)
    if rows.size == 0:
        return 0, 0, mask.shape[0], mask.shape[1]
    return int(rows.min()), int(cols.min()), int(rows.max()) + 1, int(cols.max()) + 1


# --------------------------------------------------------------------------- search


@dataclass(frozen=True, eq=False)
class _SearchTemplate:
    signature: Signature
    pose: int
    spectrum: np.ndarray  # conj(whitened template spectrum), (2, rows, cols // 2 + 1)
    norm: float
    shape: tuple[int, int]


class SearchBank:
    """Whitened templates of the shape classes for one grid shape; ``search`` scores every position."""

    def __init__(
        self,
        signatures: Mapping[str, Sequence[Signature]],
        clutter: ClutterModel,
        shape: tuple[int, int],
        cell_cm: float,
        per_class: int,
    ) -> None:
        self.shape = shape
        self.whitening = clutter.whitening(shape, cell_cm)
        self.templates: dict[str, list[_SearchTemplate]] = {}
        for label, members in signatures.items():
            self.templates[label] = [
                template for signature in _spread(members, per_class) for template in self._poses(signature)
            ]

    def _poses(self, signature: Signature) -> list[_SearchTemplate]:
        kept: list[_SearchTemplate] = []
        for pose, (a, b) in enumerate(zip(signature.a_grid, signature.b_grid, strict=True)):
            if a.shape[0] > self.shape[0] or a.shape[1] > self.shape[1]:
                continue
            if any(_same_pose(b, signature.b_grid[other.pose]) for other in kept):
                continue
            padded = np.zeros((2, *self.shape))
            padded[0, : a.shape[0], : a.shape[1]] = a
            padded[1, : b.shape[0], : b.shape[1]] = b
            whitened = np.fft.rfft2(padded) * self.whitening
            norm = math.sqrt(
                sum(float((np.fft.irfft2(whitened[c], s=self.shape) ** 2).sum()) for c in (0, 1))
            )
            kept.append(_SearchTemplate(signature, pose, np.conj(whitened), max(norm, 1e-12), a.shape))
        return kept

    def search(self, a_grid: np.ndarray, b_grid: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Per class: the best whitened score at each top-left position, and which template gave it."""
        stacked = np.stack([a_grid - a_grid.mean(), b_grid - b_grid.mean()])
        spectrum = np.fft.rfft2(stacked) * self.whitening
        results = {}
        for label, templates in self.templates.items():
            best = np.full(self.shape, -np.inf)
            which = np.zeros(self.shape, dtype=np.int64)
            for index, template in enumerate(templates):
                product = spectrum[0] * template.spectrum[0] + spectrum[1] * template.spectrum[1]
                score = np.fft.irfft2(product, s=self.shape) / template.norm
                better = score > best
                best[better] = score[better]
                which[better] = index
            results[label] = (best, which)
        return results


def _spread(members: Sequence[Signature], count: int) -> list[Signature]:
    """``count`` members spread over the range of metal mass (smallest, largest and between)."""
    ordered = sorted(members, key=lambda s: s.metal_cm3)
    if len(ordered) <= count:
        return ordered
    picks = np.unique(np.round(np.linspace(0, len(ordered) - 1, count)).astype(int))
    return [ordered[k] for k in picks]


def _same_pose(one: np.ndarray, other: np.ndarray) -> bool:
    if one.shape != other.shape:
        return False
    denominator = math.sqrt(float((one * one).sum() * (other * other).sum()))
    return denominator > 0 and float((one * other).sum()) / denominator > 0.98


def search_peaks(score: np.ndarray, floor: float, radius: tuple[int, int], most: int) -> np.ndarray:
    """Up to ``most`` local maxima of a score map above ``floor``, each suppressing +-radius cells:
    int64 (n, 2) of (row, column), strongest first."""
    peaks: np.ndarray = kernels._peaks(np.ascontiguousarray(score), floor, radius[0], radius[1], most)
    return peaks


# --------------------------------------------------------------------------- verification


@dataclass
class Candidate:
    """A possible threat: class, box (pixels), score, the closest library entries and quantities."""

    label: str
    box: Box
    score: float
    neighbours: list[tuple[str, float]] = field(default_factory=list)
    features: np.ndarray | None = None
    attributes: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class ClassBank:
    """Every pose of every signature of a class, packed for the verification kernels."""

    signatures: tuple[Signature, ...]
    packed: np.ndarray  # float64, the poses' metal maps one after another
    offsets: np.ndarray  # int64 (n,)
    shapes: np.ndarray  # int64 (n, 2)
    owners: tuple[tuple[int, int], ...]  # (signature index, pose) of each packed pose

    @classmethod
    def of(cls, signatures: Sequence[Signature]) -> ClassBank:
        parts, offsets, shapes, owners = [], [], [], []
        position = 0
        for index, signature in enumerate(signatures):
            for pose, b in enumerate(signature.b_grid):
                parts.append(b.ravel())
                offsets.append(position)
                shapes.append(b.shape)
                owners.append((index, pose))
                position += b.size
        return cls(
            tuple(signatures),
            np.concatenate(parts) if parts else np.zeros(0),
            np.array(offsets, dtype=np.int64),
            np.array(shapes, dtype=np.int64).reshape(-1, 2),
            tuple(owners),
        )


def verify_peak(
    label: str,
    bank: ClassBank,
    template: _SearchTemplate,
    top_left: tuple[int, int],
    search_snr: float,
    maps: MaterialMaps,
    detailed: int = 4,
) -> Candidate:
    """Compare every entry of the class, in every pose, with the image where the search peaked.

    The search's peak can sit up to half an object away, in a mirrored pose (a phone's camera in the
    wrong corner pins it there), so a second centre is tried: where the template's own entry, in any of
    its poses, correlates best within half its smaller side, at most ``RECENTRE_CELLS`` (``recentre``).
    At each centre every pose of every entry is nudged by a cell to its best correlation of the metal
    map; the ``detailed`` best poses of each centre get the full match statistics (both materials), and
    the best fit of those gives the verifier features.
    """
    a_grid, b_grid = maps.a_grid, maps.b_grid
    area = template.shape[0] * template.shape[1]
    searched = (top_left[0] + template.shape[0] / 2, top_left[1] + template.shape[1] / 2)
    moved = recentre(
        b_grid, template.signature, *searched, max(1, min(RECENTRE_CELLS, min(template.shape) // 2))
    )
    per_entry: dict[str, float] = {}
    shortlist: list[tuple[int, int, int]] = []  # (owner index, y, x)
    for centre in [searched] if moved == searched else [searched, moved]:
        scores = np.empty(len(bank.owners))
        placements = np.zeros((len(bank.owners), 2), dtype=np.int64)
        kernels._align_all(
            b_grid, bank.packed, bank.offsets, bank.shapes, centre[0], centre[1], 1,
            0.4 * area, 2.5 * area, scores, placements,
        )  # fmt: skip
        for k in np.flatnonzero(np.isfinite(scores)):
            entry_id = bank.signatures[bank.owners[k][0]].entry.entry_id
            per_entry[entry_id] = max(per_entry.get(entry_id, -1.0), float(scores[k]))
        shortlist += [
            (int(k), int(placements[k, 0]), int(placements[k, 1]))
            for k in np.argsort(-scores)[:detailed]
            if np.isfinite(scores[k])
        ]
    if not per_entry:
        return Candidate(label, (0.0, 0.0, 0.0, 0.0), 0.0)
    neighbours = sorted(per_entry.items(), key=lambda item: -item[1])[:3]
    best: tuple[float, np.ndarray, Signature, int, int, int] | None = None
    for owner, y, x in shortlist:
        index, pose = bank.owners[owner]
        signature = bank.signatures[index]
        stats = kernels._match_statistics(
            a_grid, b_grid, signature.a_grid[pose], signature.b_grid[pose], y, x, _SUPPORT_B_CM
        )
        fit = float(stats[0] + stats[3] + stats[6]) / 3
        if best is None or fit > best[0]:
            best = (fit, stats, signature, pose, y, x)
    assert best is not None
    _, stats, signature, pose, y, x = best
    top3 = float(np.mean([similarity for _, similarity in neighbours]))
    features = np.array([search_snr, stats[0], stats[1], math.log(max(stats[2], 1e-3)), *stats[3:7], top3])
    box = _refined_box(maps, signature, pose, y, x)
    return Candidate(label, box, 0.0, [(e, round(s, 3)) for e, s in neighbours], features)


def recentre(
    b_grid: np.ndarray, signature: Signature, centre_y: float, centre_x: float, reach: int
) -> tuple[float, float]:
    """The centre (grid cells) within ``reach`` of the given one where one of the signature's poses
    correlates best with the metal map."""
    best, best_centre = -math.inf, (centre_y, centre_x)
    seen: list[np.ndarray] = []
    for pose in signature.b_grid:
        if any(_same_pose(pose, other) for other in seen):
            continue
        seen.append(pose)
        h, w = pose.shape
        y, x = math.floor(centre_y - h / 2 + 0.5), math.floor(centre_x - w / 2 + 0.5)
        dy, dx = kernels._align(b_grid, pose, y, x, reach)
        score = kernels._correlation(b_grid, pose, y + dy, x + dx)
        if score > best:
            best, best_centre = score, (y + dy + h / 2, x + dx + w / 2)
    return best_centre


def _refined_box(maps: MaterialMaps, signature: Signature, pose: int, y: int, x: int) -> Box:
    """Align the entry at half resolution around the grid placement; the object's extent in pixels."""
    b_half = signature.b_half[pose]
    ratio = GRID_FACTOR // 2
    dy, dx = kernels._align(maps.b_half, b_half, y * ratio, x * ratio, ratio)
    top, left, bottom, right = signature.extent_half[pose]
    y0, x0 = y * ratio + dy, x * ratio + dx
    height, width = maps.classes.shape
    return (
        float(max(0, (x0 + left) * 2)),
        float(max(0, (y0 + top) * 2)),
        float(min(width, (x0 + right) * 2)),
        float(min(height, (y0 + bottom) * 2)),
    )


# --------------------------------------------------------------------------- periodic texture


@dataclass(frozen=True)
class TextureSettings:
    period_mm: float = 7.8  # cigarette rods: 7.8 mm across, packed side by side
    cap_cm: float = 0.5  # a difference larger than this is an edge, not a rod
    window_mm: float = 32.0
    threshold: float = 0.12  # strength (cm) a region must reach somewhere
    low: float = 0.09  # strength (cm) a region extends over
    merge_gap_mm: float = 60.0  # regions in line closer than this are one stack
    row_gap_mm: float = 400.0  # ... and so are regions of one row (same edges across) up to this far apart
    row_edge_tolerance: float = 0.2  # edges across of one row differ by at most this share of its width
    min_area_cm2: float = 60.0


def texture_strength(maps: MaterialMaps, settings: TextureSettings) -> tuple[np.ndarray, np.ndarray]:
    """Periodic-texture strength on a 4 x 4 pixel grid, for a period along x and along y: (2, rows, cols)."""
    pixel_mm = maps.pixel_size_mm
    period = max(2, round(settings.period_mm / pixel_mm))
    along = max(period * 2, round(settings.window_mm / pixel_mm))
    across = max(1, along // 4)
    along_x = periodicity(
        maps.a_rows, period_px=period, cap=settings.cap_cm, along_px=along, across=across, step=4
    )
    along_y = periodicity(
        maps.a_cols.T, period_px=period, cap=settings.cap_cm, along_px=along, across=across, step=4
    ).T
    rows = min(along_x.shape[0], along_y.shape[0])
    cols = min(along_x.shape[1], along_y.shape[1])
    return along_x[:rows, :cols], along_y[:rows, :cols]


@dataclass(frozen=True)
class TextureRegion:
    """Periodic texture: box in pixels, peak strength (cm), area (cm^2), period axis (0 x, 1 y)."""

    box: Box
    peak: float
    area_cm2: float
    axis: int


def texture_regions(
    strengths: tuple[np.ndarray, np.ndarray], settings: TextureSettings, pixel_size_mm: float
) -> list[TextureRegion]:
    """Regions by hysteresis, per period axis: connected cells above ``low`` with one above ``threshold``.

    Regions of one axis lying in line within ``merge_gap_mm`` are merged: cartons of a stack break the
    texture at their walls, and clutter piled on part of a stack hides its rods there. Regions of one
    row (the same edges across, within ``row_edge_tolerance`` of its width) merge up to ``row_gap_mm``
    apart: a heavy object lying across a row of cartons can hide most of a carton.
    """
    cell_cm2 = (4 * pixel_size_mm / 10) ** 2
    regions = []
    for axis, strength in enumerate(strengths):
        labels, count = label_components(strength > settings.low)
        stats = kernels._region_stats(labels, count, np.ascontiguousarray(strength))
        for cells, peak, row0, col0, row1, col1 in stats[1:]:
            box = (float(col0) * 4, float(row0) * 4, float(col1 + 1) * 4, float(row1 + 1) * 4)
            if peak >= settings.threshold:
                regions.append(TextureRegion(box, float(peak), float(cells * cell_cm2), axis))
    merged = _merge_in_line(
        regions,
        settings.merge_gap_mm / pixel_size_mm,
        settings.row_gap_mm / pixel_size_mm,
        settings.row_edge_tolerance,
    )
    return [r for r in _drop_covered(merged) if r.area_cm2 >= settings.min_area_cm2]


def _merge_in_line(
    regions: list[TextureRegion], gap_px: float, row_gap_px: float = 0.0, edge_tolerance: float = 0.0
) -> list[TextureRegion]:
    """Merge regions of one axis whose boxes come within ``gap_px`` and overlap half across, or lie in one
    row within ``row_gap_px`` (``_in_row``), until none do."""
    merged = list(regions)
    while True:
        pair = next(
            (
                (i, j)
                for i in range(len(merged))
                for j in range(i + 1, len(merged))
                if _in_line(merged[i], merged[j], gap_px)
                or _in_row(merged[i], merged[j], row_gap_px, edge_tolerance)
            ),
            None,
        )
        if pair is None:
            return merged
        one, other = merged[pair[0]], merged.pop(pair[1])
        box = (
            min(one.box[0], other.box[0]),
            min(one.box[1], other.box[1]),
            max(one.box[2], other.box[2]),
            max(one.box[3], other.box[3]),
        )
        merged[pair[0]] = TextureRegion(
            box, max(one.peak, other.peak), one.area_cm2 + other.area_cm2, one.axis
        )


def _in_line(one: TextureRegion, other: TextureRegion, gap_px: float) -> bool:
    if one.axis != other.axis:
        return False
    a, b = one.box, other.box
    gap_x = max(a[0], b[0]) - min(a[2], b[2])  # negative when they overlap
    gap_y = max(a[1], b[1]) - min(a[3], b[3])
    if gap_x > gap_px or gap_y > gap_px:
        return False
    shared_x = -gap_x / min(a[2] - a[0], b[2] - b[0])
    shared_y = -gap_y / min(a[3] - a[1], b[3] - b[1])
    return max(shared_x, shared_y) >= 0.5  # side by side along one axis, overlapping along the other


def _in_row(one: TextureRegion, other: TextureRegion, gap_px: float, edge_tolerance: float) -> bool:
    """Side by side along x or y within ``gap_px``, with both edges across within ``edge_tolerance``
    of the narrower one's width."""
    if one.axis != other.axis:
        return False
    a, b = one.box, other.box
    for along in (0, 1):  # 0: side by side along x, edges across are y; 1: the other way round
        across = 1 - along
        width = min(a[across + 2] - a[across], b[across + 2] - b[across])
        gap = max(a[along], b[along]) - min(a[along + 2], b[along + 2])
        if (
            gap <= gap_px
            and abs(a[across] - b[across]) <= edge_tolerance * width
            and abs(a[across + 2] - b[across + 2]) <= edge_tolerance * width
        ):
            return True
    return False


def _drop_covered(regions: list[TextureRegion]) -> list[TextureRegion]:
    """A region mostly inside a larger one (the other axis seeing the same rods' ends) is dropped."""
    kept: list[TextureRegion] = []
    for region in sorted(regions, key=lambda r: -r.area_cm2):
        if all(_inside_share(region.box, other.box) < 0.5 for other in kept):
            kept.append(region)
    return kept


def _inside_share(box: Box, other: Box) -> float:
    width = min(box[2], other[2]) - max(box[0], other[0])
    height = min(box[3], other[3]) - max(box[1], other[1])
    area = (box[2] - box[0]) * (box[3] - box[1])
    return width * height / area if width > 0 and height > 0 and area > 0 else 0.0
