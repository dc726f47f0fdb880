"""Recognition against the threat image database: whitened template search, verification, texture.

Shape classes (firearm, knife, phone, and any label added to the library) are found by a whitened
matched filter: the organic and metal thickness maps on the recognition grid are correlated, in the
Fourier domain, with library signatures turned every 15 degrees, after dividing both by the
clutter's power spectrum (the optimal linear detector of a known signal in Gaussian clutter; it
stresses the object's edges over the smooth clutter piled on it). Each peak is then verified against
every entry of its class, in the poses (7.5 degrees apart, mirrored or not) next to the searched
turn: how much of the signature the image explains, how well shapes and edges agree; a logistic model
(``model.py``) turns those figures into a probability. Periodic-texture classes (cigarettes: rods
7.8 mm apart, further apart along x or y when they lie at an angle) are found by their texture
instead, and compared with their library entries by footprint and texture strength.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from smartcustoms.plugins.xray import _kernels as kernels
from smartcustoms.plugins.xray.library import LibraryEntry, border_background, line_integrals
from smartcustoms.plugins.xray.materials import (
    GRID_FACTOR,
    Calibration,
    MaterialMaps,
    label_components,
    periodicity,
)
from smartcustoms.plugins.xray.model import ClutterModel

Box = tuple[float, float, float, float]
_SUPPORT_B_CM = 0.01  # metal thickness above which a signature cell belongs to the object
_SUPPORT_A_CM = 0.05
RECENTRE_CELLS = 7  # how far a peak is re-centred: half a phone's width (4.4 cm at 6.25 mm cells)
ANGLE_STEP_DEG = 7.5  # signatures are turned in steps of 7.5 degrees, unmirrored and mirrored
POSE_ANGLES = 48  # 360 / ANGLE_STEP_DEG
SEARCH_STEP = 2  # the search turns templates every second step (15 degrees), each the mean of 3 steps
VERIFY_REACH = 2  # verification tries the poses within 2 steps (15 degrees) of the search's, both mirrors
LEVEL_RANGE = (0.5, 3.0)  # the thickness scale between a signature and the image, see _level
RECENTRE_REACH = 0  # ... and re-centres with the search's own turn, unmirrored and mirrored


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


def turned(
    values: np.ndarray, angle_deg: float, mirrored: bool = False, size: tuple[int, int] | None = None
) -> np.ndarray:
    """A 2D map mirrored (rows reversed), then turned counter-clockwise by ``angle_deg`` about its centre,
    on a canvas that holds all of it (or of ``size``, centred), bilinear, zero outside; float32.
    Quarter turns are exact."""
    values = np.ascontiguousarray(values[::-1] if mirrored else values, dtype=np.float32)
    height, width = values.shape
    quarter = angle_deg / 90.0
    if size is None and abs(quarter - round(quarter)) < 1e-9:
        return np.ascontiguousarray(np.rot90(values, round(quarter) % 4))
    rows, cols = size if size is not None else turned_size(values.shape, angle_deg)
    matrix = cv2.getRotationMatrix2D(((width - 1) / 2, (height - 1) / 2), angle_deg, 1.0)
    matrix[0, 2] += (cols - width) / 2
    matrix[1, 2] += (rows - height) / 2
    out: np.ndarray = cv2.warpAffine(
        values, matrix, (cols, rows), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0
    )
    return out


def turned_size(shape: tuple[int, ...], angle_deg: float) -> tuple[int, int]:
    """Rows and columns of the canvas holding a map of ``shape`` turned by ``angle_deg``."""
    height, width = shape
    cos_a, sin_a = abs(math.cos(math.radians(angle_deg))), abs(math.sin(math.radians(angle_deg)))
    return (
        math.ceil(height * cos_a + width * sin_a - 1e-6),
        math.ceil(width * cos_a + height * sin_a - 1e-6),
    )


def to_grid(half: np.ndarray) -> np.ndarray:
    """Means over 4 x 4 cells of a half-resolution map (zero-padded at the bottom and right): the
    recognition grid, anchored at the top left as a frame's is."""
    ratio = GRID_FACTOR // 2
    rows, cols = -(-half.shape[0] // ratio), -(-half.shape[1] // ratio)
    padded = np.zeros((rows * ratio, cols * ratio), dtype=np.float32)
    padded[: half.shape[0], : half.shape[1]] = half
    grid: np.ndarray = padded.reshape(rows, ratio, cols, ratio).mean(axis=(1, 3))
    return grid


def pose_of(index: int) -> tuple[float, bool]:
    """(angle in degrees, mirrored) of pose ``index``: POSE_ANGLES turns unmirrored, then mirrored."""
    return (index % POSE_ANGLES) * ANGLE_STEP_DEG, index >= POSE_ANGLES


def nearby_poses(index: int, reach: int) -> list[int]:
    """Poses within ``reach`` angle steps of pose ``index``, unmirrored and mirrored."""
    turn = index % POSE_ANGLES
    return [
        mirror * POSE_ANGLES + (turn + step) % POSE_ANGLES
        for mirror in (0, 1)
        for step in range(-reach, reach + 1)
    ]


@dataclass(frozen=True, eq=False)
class Signature:
    """A library entry as thickness maps of the object alone: upright at half resolution, and on the
    grid in every pose (POSE_ANGLES turns, ANGLE_STEP_DEG apart, unmirrored then mirrored)."""

    entry: LibraryEntry
    a_half: np.ndarray
    b_half: np.ndarray
    a_grid: tuple[np.ndarray, ...]  # per pose, float32
    b_grid: tuple[np.ndarray, ...]
    metal_cm3: float
    organic_cm3: float
    area_cm2: float

    def half_pose(self, pose: int) -> tuple[np.ndarray, tuple[int, int, int, int]]:
        """The metal map of a pose at half resolution, and the object's rows / columns within it."""
        angle, mirrored = pose_of(pose)
        support = ((self.b_half > _SUPPORT_B_CM) | (self.a_half > _SUPPORT_A_CM)).astype(np.float32)
        return turned(self.b_half, angle, mirrored), _extent(turned(support, angle, mirrored))


def prepare_signature(entry: LibraryEntry, calibration: Calibration, pixel_size_mm: float) -> Signature:
    """Thickness maps of an entry for frames of ``pixel_size_mm`` (background taken from the border)."""
    lines = line_integrals(entry.image)
    lines -= border_background(lines)[:, None, None]
    a = calibration.inverse[0, 0] * lines[0] + calibration.inverse[0, 1] * lines[1]
    b = calibration.inverse[1, 0] * lines[0] + calibration.inverse[1, 1] * lines[1]
    a[a < 0] = 0.0  # noise and background mismatch: an object never removes material
    b[b < 0] = 0.0
    half_factor = 2 * pixel_size_mm / entry.pixel_size_mm
    b_half, a_half = resample(b, max(half_factor, 1.0)), resample(a, max(half_factor, 1.0))
    a_poses, b_poses = [], []
    for pose in range(2 * POSE_ANGLES):
        angle, mirrored = pose_of(pose)
        a_poses.append(to_grid(turned(a_half, angle, mirrored)))
        b_poses.append(to_grid(turned(b_half, angle, mirrored)))
    cell_cm2 = (entry.pixel_size_mm / 10) ** 2
    return Signature(
        entry,
        a_half,
        b_half,
        tuple(a_poses),
        tuple(b_poses),
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
    spectrum: np.ndarray  # conj(whitened template spectrum), (2, rows, cols // 2 + 1), complex64
    norm: float
    shape: tuple[int, int]
    b_grid: np.ndarray


def _smoothed(half: np.ndarray, pose: int) -> np.ndarray:
    """The mean of a half-resolution map turned to pose ``pose`` and the poses next to it, on the grid."""
    angles = [pose_of(pose + step)[0] for step in (-1, 0, 1)]
    size = np.max([turned_size(half.shape, angle) for angle in angles], axis=0)
    canvas = (int(size[0]), int(size[1]))
    mean: np.ndarray = np.mean([turned(half, angle, False, canvas) for angle in angles], axis=0)
    return to_grid(mean)


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
        self._stacked = {  # (n, 2, rows, cols // 2 + 1) spectra and (n, 1, 1) norms, per class
            label: (
                np.stack([t.spectrum for t in templates]),
                np.array([t.norm for t in templates], dtype=np.float32)[:, None, None],
            )
            for label, templates in self.templates.items()
            if templates
        }

    def _poses(self, signature: Signature) -> list[_SearchTemplate]:
        """The signature turned every SEARCH_STEP poses (unmirrored: verification tries the mirrored
        poses), each the mean of its pose and the two next to it, so that an object lying between two
        searched angles still correlates; turns that look alike (a phone upside down) are kept once."""
        kept: list[_SearchTemplate] = []
        for pose in range(0, POSE_ANGLES, SEARCH_STEP):
            a, b = _smoothed(signature.a_half, pose), _smoothed(signature.b_half, pose)
            if a.shape[0] > self.shape[0] or a.shape[1] > self.shape[1]:
                continue
            if any(_same_pose(b, other.b_grid) for other in kept):
                continue
            padded = np.zeros((2, *self.shape))
            padded[0, : a.shape[0], : a.shape[1]] = a
            padded[1, : b.shape[0], : b.shape[1]] = b
            whitened = np.fft.rfft2(padded) * self.whitening
            norm = math.sqrt(
                sum(float((np.fft.irfft2(whitened[c], s=self.shape) ** 2).sum()) for c in (0, 1))
            )
            spectrum = np.conj(whitened).astype(np.complex64)
            kept.append(_SearchTemplate(signature, pose, spectrum, max(norm, 1e-12), a.shape, b))
        return kept

    def search(self, a_grid: np.ndarray, b_grid: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Per class: the best whitened score at each top-left position, and which template gave it."""
        stacked = np.stack([a_grid - a_grid.mean(), b_grid - b_grid.mean()])
        spectrum = (np.fft.rfft2(stacked) * self.whitening).astype(np.complex64)
        results = {}
        for label, templates in self.templates.items():
            if not templates:
                results[label] = (np.full(self.shape, -np.inf), np.zeros(self.shape, dtype=np.int64))
                continue
            conjugates, norms = self._stacked[label]
            products = spectrum[0] * conjugates[:, 0] + spectrum[1] * conjugates[:, 1]
            scores = np.fft.irfft2(products, s=self.shape, axes=(-2, -1))
            scores /= norms
            best = np.empty(self.shape)
            which = np.empty(self.shape, dtype=np.int64)
            kernels._best_of(scores, best, which)
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
    placement: tuple[Signature, int, int, int] | None = None  # (signature, pose, y, x) until refined


@dataclass(frozen=True, eq=False)
class ClassBank:
    """Every pose of every signature of a class, packed for the verification kernels."""

    signatures: tuple[Signature, ...]
    packed: np.ndarray  # float32, the poses' metal maps one after another
    offsets: np.ndarray  # int64 (n,)
    shapes: np.ndarray  # int64 (n, 2)
    owners: tuple[tuple[int, int], ...]  # (signature index, pose) of each packed pose
    by_pose: np.ndarray  # int64 (signatures, poses): the packed index of each signature's pose

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
        poses = len(signatures[0].b_grid) if signatures else 0
        return cls(
            tuple(signatures),
            np.concatenate(parts).astype(np.float32) if parts else np.zeros(0, dtype=np.float32),
            np.array(offsets, dtype=np.int64),
            np.array(shapes, dtype=np.int64).reshape(-1, 2),
            tuple(owners),
            np.arange(len(owners), dtype=np.int64).reshape(len(signatures), poses),
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
    """Compare every entry of the class, in the poses near the search's, with the image where it peaked.

    The search turns its templates every 15 degrees and leaves mirroring to this step: each entry is
    tried at the poses within VERIFY_REACH steps (7.5 degrees each) of the search's, unmirrored and
    mirrored. The search's peak can sit up to half an object away, in a mirrored pose (a phone's camera
    in the wrong corner pins it there), so a second centre is tried: where the template's own entry, in
    the poses next to the search's, correlates best within half its smaller side, at most
    ``RECENTRE_CELLS`` (``recentre``). At each centre every pose tried is nudged by a cell to its best
    correlation of the metal map; the ``detailed`` best poses of each centre get the full match
    statistics (both materials), and the best fit of those gives the verifier features.
    """
    a_grid, b_grid = maps.a_grid, maps.b_grid
    area = template.shape[0] * template.shape[1]
    searched = (top_left[0] + template.shape[0] / 2, top_left[1] + template.shape[1] / 2)
    reach = max(1, min(RECENTRE_CELLS, min(template.shape) // 2))
    moved = recentre(
        b_grid, template.signature, *searched, reach, nearby_poses(template.pose, RECENTRE_REACH)
    )
    tried = bank.by_pose[:, nearby_poses(template.pose, VERIFY_REACH)].ravel()
    offsets, shapes = bank.offsets[tried], bank.shapes[tried]
    per_entry: dict[str, float] = {}
    shortlist: list[tuple[int, int, int]] = []  # (owner index, y, x)
    same = abs(moved[0] - searched[0]) <= 1 and abs(moved[1] - searched[1]) <= 1  # within the nudge
    for centre in [searched] if same else [searched, moved]:
        scores = np.empty(len(tried))
        placements = np.zeros((len(tried), 2), dtype=np.int64)
        kernels._align_all(
            b_grid, bank.packed, offsets, shapes, centre[0], centre[1], 1,
            0.4 * area, 2.5 * area, scores, placements,
        )  # fmt: skip
        for k in np.flatnonzero(np.isfinite(scores)):
            entry_id = bank.signatures[bank.owners[tried[k]][0]].entry.entry_id
            per_entry[entry_id] = max(per_entry.get(entry_id, -1.0), float(scores[k]))
        shortlist += [
            (int(tried[k]), int(placements[k, 0]), int(placements[k, 1]))
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
        a_sig, b_sig = signature.a_grid[pose], signature.b_grid[pose]
        a_level, b_level = _level(a_grid, a_sig, y, x), _level(b_grid, b_sig, y, x)
        stats = kernels._match_statistics(
            a_grid, b_grid, a_sig * a_level, b_sig * b_level, y, x, _SUPPORT_B_CM * b_level
        )
        stats[2] = b_level  # the metal's level, not the ratio left after scaling by it
        fit = float(stats[0] + stats[3] + stats[6]) / 3
        if best is None or fit > best[0]:
            best = (fit, stats, signature, pose, y, x)
    assert best is not None
    _, stats, signature, pose, y, x = best
    top3 = float(np.mean([similarity for _, similarity in neighbours]))
    features = np.array([search_snr, stats[0], stats[1], math.log(max(stats[2], 1e-3)), *stats[3:7], top3])
    box = _placed_box(maps, signature, pose, y, x, refine=False)
    candidate = Candidate(label, box, 0.0, [(e, round(s, 3)) for e, s in neighbours], features)
    candidate.attributes["angle_deg"] = f"{pose_of(pose)[0]:g}"
    candidate.placement = (signature, pose, y, x)
    return candidate


def refine_box(candidate: Candidate, maps: MaterialMaps) -> None:
    """Place a verified candidate's entry at half resolution: its box to 2 pixels, not 8."""
    if candidate.placement is not None:
        candidate.box = _placed_box(maps, *candidate.placement, refine=True)
        candidate.placement = None


def _level(image: np.ndarray, signature: np.ndarray, y: int, x: int) -> float:
    """How much thicker the image is than the signature where the signature holds most of its mass:
    the median ratio over its cells above half its peak, within LEVEL_RANGE (1 when none lies in the
    image). An object made heavier (a real pistol's metal), or seen at other energies, keeps its shape
    but not its thickness; the match statistics compare the signature scaled by this level."""
    ratio = kernels._level(image, signature, y, x)
    if ratio <= 0.0:
        return 1.0
    return min(max(ratio, LEVEL_RANGE[0]), LEVEL_RANGE[1])


def recentre(
    b_grid: np.ndarray,
    signature: Signature,
    centre_y: float,
    centre_x: float,
    reach: int,
    poses: Sequence[int] | None = None,
) -> tuple[float, float]:
    """The centre (grid cells) within ``reach`` of the given one where one of the signature's poses
    (those listed, else all) correlates best with the metal map."""
    best, best_centre = -math.inf, (centre_y, centre_x)
    seen: list[np.ndarray] = []
    for index in range(len(signature.b_grid)) if poses is None else poses:
        pose = signature.b_grid[index]
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


def _placed_box(maps: MaterialMaps, signature: Signature, pose: int, y: int, x: int, *, refine: bool) -> Box:
    """The object's extent in pixels at the grid placement, or (``refine``) with the entry aligned at
    half resolution around it."""
    b_half, (top, left, bottom, right) = signature.half_pose(pose)
    ratio = GRID_FACTOR // 2
    dy, dx = kernels._align(maps.b_half, b_half, y * ratio, x * ratio, ratio) if refine else (0, 0)
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
    # rods lying at an angle repeat further apart along x or y: by up to sqrt(2) (45 degrees) along
    # the nearer axis; each factor here is searched (the strength falls by a third 6 % off the period)
    period_factors: tuple[float, ...] = (1.0, 1.12, 1.26, 1.414)
    cap_cm: float = 0.5  # a difference larger than this is an edge, not a rod
    # tobacco at its real density (0.2-0.35 g/cm3) gives 0.06-0.2 cm, not the 0.45 of dense rods: the
    # window is long enough to hold clutter's chance texture under that (randomised tuning seed 200)
    window_mm: float = 48.0
    threshold: float = 0.04  # strength (cm) a region must reach somewhere
    low: float = 0.03  # strength (cm) a region extends over
    extent_share: float = 0.25  # ... where it holds at least this share of the region's peak
    merge_gap_mm: float = 60.0  # regions in line closer than this are one stack
    row_gap_mm: float = 400.0  # ... and so are regions of one row (same edges across) up to this far apart
    row_edge_tolerance: float = 0.2  # edges across of one row differ by at most this share of its width
    merge_peak_ratio: float = 0.4  # regions merge only when the weaker peak is this share of the stronger
    touch_gap_mm: float = 20.0  # regions of either axis this close merge (rods at an angle)
    min_area_cm2: float = 60.0


def texture_strength(maps: MaterialMaps, settings: TextureSettings) -> tuple[np.ndarray, np.ndarray]:
    """Periodic-texture strength on a 4 x 4 pixel grid, for a period along x and along y: (2, rows, cols),
    the strongest over the periods searched (``period_factors``: rods at an angle)."""
    pixel_mm = maps.pixel_size_mm
    along = max(2 * round(settings.period_mm / pixel_mm), round(settings.window_mm / pixel_mm))
    across = max(1, along // 4)
    periods = sorted({max(2, round(settings.period_mm * f / pixel_mm)) for f in settings.period_factors})
    along_x = along_y = None
    columns = np.ascontiguousarray(maps.a_cols.T)
    for period in periods:
        window = max(along, 2 * period)
        x = periodicity(
            maps.a_rows, period_px=period, cap=settings.cap_cm, along_px=window, across=across, step=4
        )
        y = periodicity(
            columns, period_px=period, cap=settings.cap_cm, along_px=window, across=across, step=4
        ).T
        along_x = x if along_x is None else np.maximum(along_x, x)
        along_y = y if along_y is None else np.maximum(along_y, y)
    assert along_x is not None and along_y is not None
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
    """Regions by hysteresis, per period axis: connected cells above ``low`` with one above ``threshold``,
    boxed where they hold ``extent_share`` of their peak (the window blurs a strong texture's edges).

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
        for k, (_, peak, row0, col0, row1, col1) in enumerate(stats[1:], start=1):
            if peak < settings.threshold:
                continue
            rows, cols = slice(int(row0), int(row1) + 1), slice(int(col0), int(col1) + 1)
            held = (labels[rows, cols] == k) & (strength[rows, cols] >= settings.extent_share * peak)
            ys, xs = np.nonzero(held)
            box = (
                float(col0 + xs.min()) * 4,
                float(row0 + ys.min()) * 4,
                float(col0 + xs.max() + 1) * 4,
                float(row0 + ys.max() + 1) * 4,
            )
            regions.append(TextureRegion(box, float(peak), float(held.sum() * cell_cm2), axis))
    merged = _merge_in_line(
        regions,
        settings.merge_gap_mm / pixel_size_mm,
        settings.row_gap_mm / pixel_size_mm,
        settings.row_edge_tolerance,
        settings.merge_peak_ratio,
        settings.touch_gap_mm / pixel_size_mm,
    )
    return [r for r in _drop_covered(merged) if r.area_cm2 >= settings.min_area_cm2]


def _merge_in_line(
    regions: list[TextureRegion],
    gap_px: float,
    row_gap_px: float = 0.0,
    edge_tolerance: float = 0.0,
    peak_ratio: float = 0.0,
    touch_px: float = -1.0,
) -> list[TextureRegion]:
    """Merge regions of one axis whose boxes come within ``gap_px`` and overlap half across, or lie in one
    row within ``row_gap_px`` (``_in_row``), and regions of either axis within ``touch_px`` of each other
    (a stack lying at an angle shows pieces along x and along y), until none do; only regions whose
    peaks are within ``peak_ratio`` of each other (the rods of one stack, not a stack and clutter's
    chance texture)."""
    merged = list(regions)
    while True:
        pair = next(
            (
                (i, j)
                for i in range(len(merged))
                for j in range(i + 1, len(merged))
                if min(merged[i].peak, merged[j].peak) >= peak_ratio * max(merged[i].peak, merged[j].peak)
                and (
                    _in_line(merged[i], merged[j], gap_px)
                    or _in_row(merged[i], merged[j], row_gap_px, edge_tolerance)
                    or _touching(merged[i].box, merged[j].box, touch_px)
                )
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


def _touching(one: Box, other: Box, gap_px: float) -> bool:
    """Boxes overlapping or within ``gap_px`` of each other along both axes."""
    gap_x = max(one[0], other[0]) - min(one[2], other[2])
    gap_y = max(one[1], other[1]) - min(one[3], other[3])
    return gap_x <= gap_px and gap_y <= gap_px


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
