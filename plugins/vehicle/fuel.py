"""Fuel levels: a difference that is a tank's fuel standing higher or lower than in the reference.

No vehicle crosses with the fuel its reference was scanned with. Seen from the side, a tank lies along
the vehicle and its fuel's surface is level, so fuel above or below the reference's surface shows as a
band of one sign (more material when fuller, less when emptier), as high everywhere along it, reaching
from one end of the tank to the other; and one of its two long edges is the reference's own surface:
a step up in attenuation going down (fuel below, none above), across the tank's whole length and no
further. ``level_bands`` finds the one-signed pieces of an anomaly mask that are such a band:

* its pieces joined across a cross-member or rail in front of the tank (whose edges raise the
  threshold there), at least ``LONG_WINDOWS`` smoothing windows long, outside the cargo space (at most
  ``MAX_CARGO_SHARE`` in it) and within the vehicle's outline (at most ``MAX_OUTSIDE_SHARE`` outside),
  filling most of its box (``MIN_FILL``);
* as high in every column and as strong along every row (at most ``MAX_UNEVEN`` of them off by more
  than ``UNEVEN``): a compartment in a tank fills it top to bottom, so beside a band its columns are
  higher, and its packages are not as even as fuel;
* its rows, where the smoothed difference is at half its strongest, and its strength before the
  smoothing (``STRENGTH_QUANTILE`` of its rows'), measured on the medians of its columns;
* the reference has a surface at the band's top (less fuel) or bottom (more fuel), within half a
  window, that ends where the band ends: the row where the step up going down across the band, less
  what the columns beyond its ends step there, is largest (a floor or rail at that height runs on past
  the tank; the fuel's surface does not), less fuel asking that step to be at least ``MIN_SURFACE`` of
  the band's strength. A compartment in a tank is shorter than the tank, so the reference's
  surface runs on past it, nothing is left, and it stays a ``hidden_compartment``;
* fuel, as much as that: more fuel is as strong as the reference's step at its surface, from
  ``MIN_STRENGTH`` to ``MAX_STRENGTH`` times (a round tank's chord grows above a low surface: a
  compartment in a door, resting on the sill's edge, is three times and more), and rests on fuel: a
  window under that surface the reference holds at least ``MIN_BELOW`` of it beyond what lies past the
  band's ends (a door's goods rest on an edge with nothing under it); less fuel takes away at least
  ``MIN_STRENGTH`` of what the reference's tank held in those rows beyond what lies beside it, where
  a compartment displacing fuel takes away only the difference between fuel and its goods.

A band found is taken out of the mask before its regions are judged (``compare``) and reported as a
box-less ``fuel_level`` note, which does not stop a scan being cleared. What it cannot tell: a
compartment as long as the tank, at the reference's surface and as strong as fuel, is read as a level
(the note says by how much, so an officer reading it sees a tank emptier or fuller than expected).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from smartcustoms.core.lazy import lazy
from smartcustoms.plugins.vehicle.references import BoxPx
from smartcustoms.plugins.vehicle.zones import CARGO, OUTSIDE

if TYPE_CHECKING:
    import cv2
else:
    cv2 = lazy("cv2")

LONG_WINDOWS = 4  # a band at least this many smoothing windows long (a tank: 60 cm and more)
MIN_FILL = 0.6  # of its box
# its columns as high as their median, and its strong rows' pixels as strong as the row's median, within
# UNEVEN of it: at most MAX_UNEVEN of them further off (a compartment's columns, its packages)
UNEVEN = 0.25
MAX_UNEVEN = 0.1
# more fuel: the band's strength (its rows' attenuation before the smoothing) against the step of the
# reference's surface at its bottom, as strong as the fuel there (a box tank) or up to MAX_STRENGTH times
# (a round tank's chord grows above a low surface); less fuel: at least MIN_STRENGTH of what the
# reference's tank held in its rows
MIN_STRENGTH = 0.5
MAX_STRENGTH = 2.0
# more fuel rests on the reference's: what the reference holds in a window under its surface, beyond what
# lies beyond the band's ends, at least MIN_BELOW of the band's strength (less where a round tank narrows)
MIN_BELOW = 0.4
# less fuel: the reference's surface at its top, less what steps beyond its ends, at least MIN_SURFACE of
# the band's strength (a full round tank's top, where the chord is short, steps a tenth of it or less;
# noise in a site's reference, a few thousandths)
MIN_SURFACE = 0.05
STRENGTH_QUANTILE = 0.8  # of the band's rows' differences: its strength, whatever its shape
MAX_CARGO_SHARE = 0.2  # of its pixels in the cargo space: a load's edge, not a tank
MAX_OUTSIDE_SHARE = 0.5  # of its pixels outside the vehicle's outline (a tank's fuel band lies within)


@dataclass(frozen=True)
class LevelBand:
    """A band of fuel more (``sign`` +1) or less (-1) than the reference's: its box, its pixels
    (rows, columns, its gaps bridged), the reference's surface row, its height in rows and its strength
    (signed: the ``STRENGTH_QUANTILE`` of its rows' unsmoothed differences)."""

    box: BoxPx
    pixels: tuple[np.ndarray, np.ndarray]
    sign: int
    surface_row: int
    height_px: float  # of fuel, less the smoothing's spread
    strength: float


def _padded_box(image: np.ndarray, margin_x: int, margin_y: int) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) of the image's nonzero pixels, ``margin_x`` and ``margin_y`` wider each
    way within the image, left and top even (OpenCV labels components by blocks of 2 x 2 pixels: on a
    box so placed, in the same order as on the whole image); right <= left when there are none."""
    columns = np.flatnonzero(image.any(axis=0))
    if not len(columns):
        return 0, 0, 0, 0
    rows = np.flatnonzero(image[:, columns[0] : columns[-1] + 1].any(axis=1))
    height, width = image.shape
    left, top = max(int(columns[0]) - margin_x, 0), max(int(rows[0]) - margin_y, 0)
    return (
        left - left % 2,
        top - top % 2,
        min(int(columns[-1]) + 1 + margin_x, width),
        min(int(rows[-1]) + 1 + margin_y, height),
    )


def level_bands(
    mask: np.ndarray,
    difference: np.ndarray,
    scan: np.ndarray,
    reference: np.ndarray,
    zones: np.ndarray,
    window: int,
    min_area_px: float,
    min_fuel: float = 1.0,
) -> list[LevelBand]:
    """The fuel-level bands (see the module) among the one-signed pieces of ``mask`` (uint8: 1 more
    material, 2 less), given the smoothed ``difference``, the scan's and the aligned reference's
    attenuation, the zones (``zones.zone_map``), the smoothing window, the smallest region judged
    (pixels) and the least attenuation a band of fuel has across a tank (``min_fuel``)."""
    out = []
    bridges = ((1, 4 * window + 1), (2 * window + 1, 1))
    for value, sign in ((1, 1), (2, -1)):
        pieces = (mask == value).view(np.uint8)
        # worked on the box around the pieces, with room for the closing's reach each way (the same
        # pieces as on the whole image, in a fraction of the time)
        left, top, right, bottom = _padded_box(pieces, 2 * bridges[0][1] + 2, 2 * bridges[1][0] + 2)
        if right <= left:
            continue
        pieces = pieces[top:bottom, left:right]
        # joined across a gap of up to four windows along the rows, two up and down: a cross-member,
        # bracket or rail in front of a tank raises the threshold there (its edges) and would cut its band
        for bridge in bridges:
            pieces = np.asarray(cv2.morphologyEx(pieces, cv2.MORPH_CLOSE, np.ones(bridge, np.uint8)))
        count, labels, stats, _ = cv2.connectedComponentsWithStats(pieces, connectivity=8)
        for label in range(1, count):
            x, y, w, h, area = (int(v) for v in stats[label])
            if area < min_area_px or w < LONG_WINDOWS * window or area < MIN_FILL * w * h:
                continue
            ys, xs = np.nonzero(labels[y : y + h, x : x + w] == label)
            x, y = x + left, y + top
            piece = Piece((ys + y, xs + x), (x, y, x + w, y + h), sign)
            band = _as_band(piece, difference, scan, reference, zones, window)
            if band is not None and abs(band.strength) >= min_fuel:
                out.append(band)
    return out


@dataclass(frozen=True)
class Piece:
    """A one-signed piece of the anomaly mask: its pixels (rows, columns), its box and its sign."""

    pixels: tuple[np.ndarray, np.ndarray]
    box: BoxPx
    sign: int


def _as_band(
    piece: Piece,
    difference: np.ndarray,
    scan: np.ndarray,
    reference: np.ndarray,
    zones: np.ndarray,
    window: int,
) -> LevelBand | None:
    ys, xs = piece.pixels
    where = zones[ys, xs]
    if np.mean(where == CARGO) > MAX_CARGO_SHARE or np.mean(where == OUTSIDE) > MAX_OUTSIDE_SHARE:
        return None
    x0, y0, x1, y1 = piece.box
    inner = slice(x0 + window, x1 - window)  # the columns clear of the smoothing's spill at its ends
    crop = np.zeros((y1 - y0, x1 - x0), dtype=bool)
    crop[ys - y0, xs - x0] = True
    heights = crop[:, window:-window].sum(axis=0)
    height = float(np.median(heights))
    if height < 2 or np.mean(np.abs(heights - height) > max(2.0, UNEVEN * height)) > MAX_UNEVEN:
        return None
    rows = difference[y0:y1, inner] * piece.sign
    levels = np.median(rows, axis=1)
    strong = levels >= 0.5 * float(levels.max())
    uneven = np.abs(rows[strong] - levels[strong, None]) > UNEVEN * levels[strong, None]
    if levels.max() <= 0 or np.mean(uneven) > MAX_UNEVEN:
        return None
    fuel = _unsmoothed(scan, reference, difference, piece, window)
    if fuel is None:
        return None
    strength, (top, bottom) = fuel
    # the reference's surface: where its fuel starts, at the band's top (less fuel) or just below it
    surface = _surface(reference, top if piece.sign < 0 else bottom, piece.box, window)
    if surface is None:
        return None
    row, step = surface
    if piece.sign > 0:
        if not MIN_STRENGTH * step <= strength <= MAX_STRENGTH * step:
            return None  # more material than fuel standing higher would add at that surface, or far less
        below = (row + window // 2, row + window // 2 + window)  # the reference's fuel, under its surface
        if _content(reference, below, piece.box, window) < MIN_BELOW * strength:
            return None  # no tank of fuel under it: goods resting on an edge (a door's, a sill's)
    if piece.sign < 0 and step < MIN_SURFACE * strength:
        return None  # no surface of its own: the reference's steps as much beyond the band's ends
    if piece.sign < 0 and strength < MIN_STRENGTH * _content(reference, (top, bottom), piece.box, window):
        return None  # less taken away than the reference's tank held there: fuel displaced, not drained
    return LevelBand(piece.box, piece.pixels, piece.sign, row, bottom - top, piece.sign * strength)


def _unsmoothed(
    scan: np.ndarray, reference: np.ndarray, difference: np.ndarray, piece: Piece, window: int
) -> tuple[float, tuple[int, int]] | None:
    """The band's rows (top, bottom exclusive) and its strength before the smoothing. Per row (clear of
    its ends, over the band's rows and a window each side), the median of the smoothed difference, of
    the band's sign: its rows are those from the first to the last at half its strongest (where a
    smoothed step crosses half its height is where it was); the strength is the ``STRENGTH_QUANTILE``
    of the same medians of the scan less the reference (a band thinner than the smoothing is weaker
    smoothed), over those rows."""
    x0, y0, x1, y1 = piece.box
    top, bottom = max(y0 - window, 0), min(y1 + window, scan.shape[0])
    columns = slice(x0 + window, x1 - window)
    smoothed = np.median(difference[top:bottom, columns], axis=1) * piece.sign
    if smoothed.max() <= 0:
        return None
    rows = np.flatnonzero(smoothed >= 0.5 * smoothed.max())
    first, last = top + int(rows[0]), top + int(rows[-1]) + 1
    raw = np.median(scan[first:last, columns] - reference[first:last, columns], axis=1) * piece.sign
    return float(np.quantile(raw, STRENGTH_QUANTILE)), (first, last)


def _content(reference: np.ndarray, rows: tuple[int, int], box: BoxPx, window: int) -> float:
    """What the reference's tank holds in ``rows``: its attenuation across the band's columns less
    that beyond the end with less material, each a median per row, averaged over the rows."""
    x0, _, x1, _ = box
    band = slice(*rows)
    inside = np.median(reference[band, x0 + window : x1 - window], axis=1)
    beyond = [np.median(reference[band, strip], axis=1) for strip in _beyond(box, window, reference.shape[1])]
    return float(np.mean(inside - np.min(beyond, axis=0))) if beyond else float(np.mean(inside))


def _beyond(box: BoxPx, window: int, width: int) -> list[slice]:
    """The columns just beyond each end of a band (past the smoothing's spill, a tenth of its length or
    a window), those within the image."""
    x0, _, x1, _ = box
    length = max(window, (x1 - x0) // 10)
    strips = [(x0 - window - length, x0 - window), (x1 + window, x1 + window + length)]
    return [slice(max(a, 0), min(b, width)) for a, b in strips if min(b, width) > max(a, 0)]


def _surface(reference: np.ndarray, edge: int, box: BoxPx, window: int) -> tuple[int, float] | None:
    """The reference's surface at the band's edge ``edge`` (a row), and its step: among the rows within
    half a window of it, the one where the reference's step up going down across the band's columns,
    less what the columns beyond the end that steps more step there (the median of each), is largest.
    A floor or rail running past the tank at that height steps beyond it too and is taken away; so is
    the fuel's own surface when the tank goes on past the band (a compartment shorter than the tank),
    leaving nothing. None when no row steps up so."""
    x0, _, x1, _ = box
    reach = max(2, window // 2)
    inner = slice(x0 + window, x1 - window)
    strips = _beyond(box, window, reference.shape[1])
    best: tuple[float, int] | None = None
    for row in range(max(edge - reach, reach + 1), min(edge + reach, reference.shape[0] - reach - 2) + 1):
        step = float(np.median(_steps(reference, row, inner, reach)))
        beyond = max(
            (float(np.median(_steps(reference, row, strip, reach))) for strip in strips), default=0.0
        )
        if best is None or step - max(beyond, 0.0) > best[0]:
            best = (step - max(beyond, 0.0), row)
    if best is None or best[0] <= 0:
        return None
    return best[1], best[0]


def _steps(reference: np.ndarray, row: int, columns: slice, reach: int) -> np.ndarray:
    """Per column of ``columns``: the reference's attenuation ``reach`` rows below ``row`` less ``reach``
    rows above it (three rows each, averaged)."""
    below = reference[row + reach - 1 : row + reach + 2, columns]
    above = reference[row - reach - 1 : row - reach + 2, columns]
    return np.asarray(below.mean(axis=0) - above.mean(axis=0))
