"""Where a difference lies: the vehicle's outline, its zones, and the regions of an anomaly mask.

Every pixel of a scan falls in one zone of the aligned reference:

* ``outside_vehicle``: outside the reference vehicle's outline (per column, from its highest to its
  lowest pixel with material): nothing of the empty vehicle is there, so a difference there is the scan
  and the reference not lining up (a ring around a container) or something carried outside the body;
* ``cargo_space``: inside the cargo box (less the roof void and the walls' blurred edges);
* ``cargo_walls_or_roof``: within the outline, above the cargo floor, from the cargo box's front on
  (front and rear walls, roof, side-wall edges);
* ``cab_or_chassis``: within the outline, above the cargo floor, ahead of the cargo box;
* ``below_cargo_floor``: within the outline, below the cargo floor (chassis, tanks, spare wheel);
* ``body``: within the outline of a vehicle without a known cargo space (a car).

A region is a connected set of anomalous pixels, joined across gaps under ``join_cm`` (separate objects
further apart stay separate) and never across the cargo space's edge: the part inside it and the part
outside are separate regions, so declared goods can only ever explain pixels that lie in the cargo
space. Any other region is classed by the zone holding most of its pixels, with every zone's share kept.
A region's box is that of its pixels less specks and slivers (pieces of under ``speck_px`` pixels, or
under a third of ``speck_px`` wide or high, which a difference smoothed over ``speck_px`` cannot be: the
edge of a cross-member a pixel out of line below a floor compartment would otherwise stretch its box down
across the trailer's deck); a region of such pieces alone keeps the box of them all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from smartcustoms.core.lazy import lazy
from smartcustoms.plugins.vehicle.references import BoxPx

if TYPE_CHECKING:
    import cv2
else:
    cv2 = lazy("cv2")

OUTSIDE, CARGO, WALLS_OR_ROOF, CAB_OR_CHASSIS, BELOW_FLOOR, BODY = range(6)
ZONE_NAMES = (
    "outside_vehicle",
    "cargo_space",
    "cargo_walls_or_roof",
    "cab_or_chassis",
    "below_cargo_floor",
    "body",
)
BODY_ATTENUATION = 0.02  # the empty vehicle's material: attenuation above this (air is 0)


def outline(reference: np.ndarray, threshold: float = BODY_ATTENUATION) -> np.ndarray:
    """bool [H, W]: per column, the rows from the highest to the lowest pixel of the reference's material
    (attenuation above ``threshold``); columns without material are all outside."""
    body = reference > threshold
    height = body.shape[0]
    present = body.any(axis=0)
    top = np.where(present, np.argmax(body, axis=0), height)
    bottom = np.where(present, height - 1 - np.argmax(body[::-1], axis=0), -1)
    rows = np.arange(height)[:, None]
    inside: np.ndarray = (rows >= top[None, :]) & (rows <= bottom[None, :])
    return inside


def zone_map(inside: np.ndarray, cargo: BoxPx | None) -> np.ndarray:
    """uint8 [H, W]: the zone (index into ``ZONE_NAMES``) of every pixel, given the aligned reference's
    ``outline`` and its cargo space (in the scan's pixels) or None."""
    zones = np.zeros(inside.shape, dtype=np.uint8)
    if cargo is None:
        zones[inside] = BODY
        return zones
    height, width = inside.shape
    x0, y0, x1, y1 = (
        int(np.clip(v, 0, n)) for v, n in zip(cargo, (width, height, width, height), strict=True)
    )
    zones[inside] = BELOW_FLOOR
    above = zones[:y1]  # a view: rows above the cargo floor
    above[inside[:y1]] = WALLS_OR_ROOF
    ahead = above[:, :x0]
    ahead[inside[:y1, :x0]] = CAB_OR_CHASSIS
    zones[y0:y1, x0:x1] = CARGO  # the cargo space is the vehicle's wherever the outline is thin
    return zones


@dataclass(frozen=True)
class Region:
    """A region of anomalous pixels: its box, its pixels (rows, columns), the zone most of them lie in
    and the share of each zone it touches (largest first)."""

    box: BoxPx
    pixels: tuple[np.ndarray, np.ndarray]
    zone: str
    shares: tuple[tuple[str, float], ...]

    @property
    def area_px(self) -> int:
        return len(self.pixels[0])


def regions(
    found: np.ndarray, zones: np.ndarray, join_px: int, min_area_px: float, speck_px: int = 0
) -> list[Region]:
    """The regions of a bool or uint8 mask ``found``: connected across gaps under ``join_px`` pixels,
    split at the cargo space's edge, kept from ``min_area_px`` pixels, each classed by its zones, its box
    drawn without the specks and slivers (see the module) that joining brought in; ``speck_px`` 0: with
    every pixel."""
    found = (found > 0).astype(np.uint8)
    cargo = zones == CARGO
    out: list[Region] = []
    for part in (found & ~cargo, found & cargo):
        out += _components(part.astype(np.uint8), zones, join_px, min_area_px, speck_px)
    return out


def _components(
    found: np.ndarray, zones: np.ndarray, join_px: int, min_area_px: float, speck_px: int
) -> list[Region]:
    if not found.any():
        return []
    joined = cv2.dilate(found, np.ones((join_px, join_px), np.uint8)) if join_px > 1 else found
    count, labels = cv2.connectedComponents(joined, connectivity=8)
    found_at = np.flatnonzero(found)  # measured on the pixels found, not on the dilation
    by_label = np.argsort(labels.ravel()[found_at], kind="stable")
    found_at = found_at[by_label]
    starts = np.searchsorted(labels.ravel()[found_at], np.arange(count + 1))
    width = labels.shape[1]
    out = []
    for index in range(1, count):
        where = found_at[starts[index] : starts[index + 1]]
        if len(where) < min_area_px:
            continue
        ys, xs = np.divmod(where, width)
        counts = np.bincount(zones.ravel()[where], minlength=len(ZONE_NAMES))
        shares = tuple(
            (ZONE_NAMES[z], float(counts[z] / len(where)))
            for z in np.argsort(-counts, kind="stable")
            if counts[z]
        )
        box = _solid_box(ys, xs, speck_px)
        out.append(Region(box, (ys, xs), shares[0][0], shares))
    return out


def _solid_box(ys: np.ndarray, xs: np.ndarray, speck_px: int) -> tuple[int, int, int, int]:
    """The box of a region's pixels less its specks and slivers (see the module), or of them all when
    it is nothing else; found on the region's own box, which is small beside the scan."""
    x0, y0, x1, y1 = int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1
    if speck_px <= 1:
        return x0, y0, x1, y1
    rows, columns = ys - y0, xs - x0
    crop = np.zeros((y1 - y0, x1 - x0), dtype=np.uint8)
    crop[rows, columns] = 1
    _, pieces, stats, _ = cv2.connectedComponentsWithStats(crop, connectivity=8)
    small = stats[:, cv2.CC_STAT_AREA] < speck_px
    small |= np.minimum(stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT]) < max(2, speck_px // 3)
    solid = ~small[pieces[rows, columns]]
    if not solid.any():
        return x0, y0, x1, y1
    ys, xs = ys[solid], xs[solid]
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def describe_shares(shares: tuple[tuple[str, float], ...]) -> str:
    """``"cargo_walls_or_roof:0.70,outside_vehicle:0.30"``: every zone a region touches, largest first."""
    return ",".join(f"{zone}:{share:.2f}" for zone, share in shares)
