"""Material bands, 3D connected components and their shape: the public wrappers of the CT kernels.

Volumes are uint16 MHU ``[depth, height, width]`` = (z, y, x). The wrappers check dtypes and shapes and
carry the documentation; ``_kernels`` holds the numba loops. Boxes here are (z0, y0, x0, z1, y1, x1) in
voxels, max exclusive.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from smartcustoms.core.lazy import lazy
from smartcustoms.plugins.ct.settings import CtSettings

if TYPE_CHECKING:
    from smartcustoms.plugins.ct import _kernels as kernels
else:
    kernels = lazy("smartcustoms.plugins.ct._kernels")

Box6 = tuple[int, int, int, int, int, int]

# --------------------------------------------------------------------------- public wrappers of the kernels


def check_volume(volume: np.ndarray) -> np.ndarray:
    if not isinstance(volume, np.ndarray) or volume.ndim != 3:
        raise ValueError("volume must be a 3D numpy array [depth, height, width]")
    if volume.dtype != np.uint16:
        raise TypeError(f"volume must be uint16 MHU, got {volume.dtype}")
    return np.ascontiguousarray(volume)


def band_mask(volume: np.ndarray, low: int, high: int, *, erode: bool = False) -> np.ndarray:
    """uint8 mask of voxels with low <= MHU < high; ``erode``: only voxels whose 6 neighbours are too."""
    volume = check_volume(volume)
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
    volume = check_volume(volume)
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
    box: Box6  # z0, y0, x0, z1, y1, x1, max exclusive


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


# --------------------------------------------------------------------------- boxes and groups


def union(boxes: Sequence[Sequence[float]]) -> Box6:
    """The smallest box holding every one of ``boxes``."""
    array = np.asarray(boxes)
    low, high = array[:, :3].min(axis=0), array[:, 3:].max(axis=0)
    return (int(low[0]), int(low[1]), int(low[2]), int(high[0]), int(high[1]), int(high[2]))


def gap(a: Sequence[float], b: Sequence[float]) -> float:
    """Largest per-axis gap between two boxes, voxels (0 when they touch or overlap)."""
    return float(max(0, *(max(a[k] - b[k + 3], b[k] - a[k + 3]) for k in range(3))))


def clusters(items: Sequence[Component], join_voxels: float) -> list[list[Component]]:
    """Single-linkage groups of components whose boxes lie within ``join_voxels`` of each other."""
    parent = list(range(len(items)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(len(items)):
        for j in range(i + 1, len(items)):
            if gap(items[i].box, items[j].box) <= join_voxels:
                parent[root(i)] = root(j)
    groups: dict[int, list[Component]] = {}
    for i, item in enumerate(items):
        groups.setdefault(root(i), []).append(item)
    return list(groups.values())


def corners_box(centre: np.ndarray, axes: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Axis-aligned (z0, y0, x0, z1, y1, x1) of an oriented box given by its extents along ``axes``."""
    corners = [
        centre + axes @ np.array([(low, high)[i][0], (low, high)[j][1], (low, high)[k][2]])
        for i in (0, 1)
        for j in (0, 1)
        for k in (0, 1)
    ]
    return np.concatenate([np.min(corners, axis=0), np.max(corners, axis=0)])


def moved(piece: Component, corner: tuple[int, int, int]) -> Component:
    """A component found in a crop whose first voxel is ``corner``, in volume coordinates."""
    offset = np.array(corner)
    low, high = np.add(piece.box[:3], offset), np.add(piece.box[3:], offset)
    box = (int(low[0]), int(low[1]), int(low[2]), int(high[0]), int(high[1]), int(high[2]))
    return Component(
        piece.label, piece.voxels, piece.mean_mhu, piece.std_mhu, piece.centre + offset, piece.axes,
        piece.lengths, box,
    )  # fmt: skip


def in_volume(sub_labels: np.ndarray, corner: tuple[int, int, int], shape: tuple[int, ...]) -> np.ndarray:
    """A crop's labels placed in a volume-sized array (zero elsewhere)."""
    full = np.zeros(shape, dtype=np.int32)
    z0, y0, x0 = corner
    depth, height, width = sub_labels.shape
    full[z0 : z0 + depth, y0 : y0 + height, x0 : x0 + width] = sub_labels
    return full
