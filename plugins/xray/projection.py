"""Threat image projection (TIP): a library threat placed into a live bag's dual-energy image, as the
physics has it, so screeners can be tested on the bags they screen.

Attenuations multiply, so line integrals add: a ray that crosses the bag and the threat keeps
``exp(-(L_bag + L_threat))`` of the open beam. The threat's own line integrals are those of a library
entry (an object scanned alone, ``library.py``) less its background (the entry's border: belt, tray),
resampled to the frame's pixel size (row and column spacing apart, for a scanner of non-square pixels),
turned to any angle, mirrored or not, and placed inside the bag. Counts above the scanner's dark level
are multiplied by ``exp(-L_threat)`` per energy channel; nothing else in the frame changes.

Pure numpy and OpenCV; the screening queue (``smartcustoms.runtime.screening``) calls it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from smartcustoms.plugins.xray.detector import TUNNEL_HEIGHT_MM
from smartcustoms.plugins.xray.library import FULL_SCALE, LibraryEntry, border_background, line_integrals
from smartcustoms.plugins.xray.materials import pixel_spacing

# A pixel belongs to the threat where its high-energy line integral reaches this (about 1 % less beam).
THREAT_LINE_INTEGRAL = 0.01
# A pixel belongs to the bag where the frame's high-energy line integral reaches this (the preview's
# "air and belt" limit): projected threats are placed with their centre on one of these.
BAG_LINE_INTEGRAL = 0.12


class ProjectionError(ValueError):
    """A threat that cannot be projected into this frame: not a dual-energy image, or too small for it."""


@dataclass(frozen=True, eq=False)
class ThreatImage:
    """One library threat ready to project: its own line integrals, background removed."""

    entry_id: str
    label: str
    line_integrals: np.ndarray  # float32 [2, h, w], high energy first, >= 0
    pixel_size_mm: float


@dataclass(frozen=True, eq=False)
class Projection:
    """A frame with a threat projected into it, and where it went."""

    image: np.ndarray  # the frame's array (same dtype and shape) with the threat in it
    box: tuple[int, int, int, int]  # x_min, y_min, x_max, y_max in frame pixels (max exclusive)
    angle_deg: float
    mirrored: bool
    threat: ThreatImage


def threat_image(entry: LibraryEntry) -> ThreatImage:
    """A library entry as a projectable threat: its line integrals less its border's, cut to the object."""
    integrals = line_integrals(entry.image)
    integrals -= border_background(integrals)[:, None, None]
    own = np.clip(integrals, 0.0, None).astype(np.float32)
    rows, columns = np.nonzero(own[0] >= THREAT_LINE_INTEGRAL)
    if rows.size == 0:
        raise ProjectionError(f"entry {entry.entry_id}: nothing in it attenuates the beam")
    cut = own[:, rows.min() : rows.max() + 1, columns.min() : columns.max() + 1]
    return ThreatImage(entry.entry_id, entry.label, np.ascontiguousarray(cut), entry.pixel_size_mm)


def threat_images(entries: Sequence[LibraryEntry], labels: Sequence[str] = ()) -> list[ThreatImage]:
    """The entries of the classes in ``labels`` (all when empty) that hold an object."""
    chosen = [e for e in entries if not labels or e.label in labels]
    images = []
    for entry in chosen:
        try:
            images.append(threat_image(entry))
        except ProjectionError:
            continue
    return images


def frame_spacing(metadata: Mapping[str, str], height: int) -> tuple[float, float]:
    """A frame's pixel spacing (between rows, between columns, mm) as the detector reads it: its
    ``pixel_spacing_mm``, else its square ``pixel_size_mm``, else the tunnel's height over the image's."""
    spacing = pixel_spacing(metadata.get("pixel_spacing_mm", ""))
    if spacing is not None:
        return spacing
    try:
        size = float(metadata.get("pixel_size_mm", ""))
    except ValueError:
        size = 0.0
    if not (math.isfinite(size) and size > 0):
        size = TUNNEL_HEIGHT_MM / height
    return size, size


def project(
    frame: np.ndarray,
    threat: ThreatImage,
    spacing_mm: tuple[float, float],
    rng: np.random.Generator,
    *,
    dark: tuple[float, float] = (0.0, 0.0),
    full_scale: float = FULL_SCALE,
) -> Projection:
    """Project ``threat`` into ``frame`` (``[channels >= 2, H, W]`` counts, high energy first) of pixel
    ``spacing_mm`` (between rows, between columns) at a random angle and place inside the bag.
    ``dark``: the scanner's dark level per channel (0 for a scanner that flat-fields its images).
    ProjectionError when the frame is not a dual-energy image or the threat does not fit in it."""
    if frame.ndim != 3 or frame.shape[0] < 2:
        raise ProjectionError(f"threat projection needs a dual-energy image [2, H, W], got {frame.shape}")
    angle, mirrored = float(rng.uniform(0.0, 360.0)), bool(rng.random() < 0.5)
    integrals = _posed(threat, spacing_mm, angle, mirrored)
    height, width = integrals.shape[1:]
    if height > frame.shape[1] or width > frame.shape[2]:
        raise ProjectionError(
            f"threat {threat.entry_id} ({height} x {width} pixels here) does not fit in a "
            f"{frame.shape[1]} x {frame.shape[2]} frame"
        )
    top, left = _place(frame[0], (height, width), rng, full_scale)
    image = frame.copy()
    for channel in range(2):
        region = image[channel, top : top + height, left : left + width].astype(np.float64)
        level = dark[channel]
        dimmed = level + (region - level) * np.exp(-integrals[channel].astype(np.float64))
        upper = np.iinfo(frame.dtype).max if np.issubdtype(frame.dtype, np.integer) else full_scale
        region_out = np.clip(np.where(region > level, dimmed, region), 0, upper)
        if np.issubdtype(frame.dtype, np.integer):
            region_out = np.rint(region_out)
        image[channel, top : top + height, left : left + width] = region_out.astype(frame.dtype)
    rows, columns = np.nonzero(integrals[0] >= THREAT_LINE_INTEGRAL)
    box = (
        left + int(columns.min()),
        top + int(rows.min()),
        left + int(columns.max()) + 1,
        top + int(rows.max()) + 1,
    )
    return Projection(image, box, angle, mirrored, threat)


def _posed(
    threat: ThreatImage, spacing_mm: tuple[float, float], angle_deg: float, mirrored: bool
) -> np.ndarray:
    """The threat's line integrals at the frame's pixel spacing, mirrored, then turned by ``angle_deg``,
    cut to what attenuates."""
    import cv2

    row_mm, column_mm = spacing_mm
    integrals = threat.line_integrals[:, :, ::-1] if mirrored else threat.line_integrals
    height = max(1, round(integrals.shape[1] * threat.pixel_size_mm / row_mm))
    width = max(1, round(integrals.shape[2] * threat.pixel_size_mm / column_mm))
    shrinking = height < integrals.shape[1] or width < integrals.shape[2]
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    sized = [
        cv2.resize(np.ascontiguousarray(c), (width, height), interpolation=interpolation) for c in integrals
    ]
    side = math.ceil(math.hypot(height, width)) + 2  # room for any turn
    centre = (side - 1) / 2.0
    turn = np.asarray(cv2.getRotationMatrix2D((centre, centre), angle_deg, 1.0), dtype=np.float64)
    # centred on the square canvas, then turned about its middle: one resampling
    turn[:, 2] += turn[:, :2] @ np.array([(side - width) / 2.0, (side - height) / 2.0])
    turned = np.stack([cv2.warpAffine(c, turn, (side, side), flags=cv2.INTER_LINEAR) for c in sized])
    turned = np.clip(turned, 0.0, None)
    rows, columns = np.nonzero(turned[0] >= THREAT_LINE_INTEGRAL)
    if rows.size == 0:
        raise ProjectionError(f"threat {threat.entry_id} vanishes at this pixel size")
    return turned[:, rows.min() : rows.max() + 1, columns.min() : columns.max() + 1]


def _place(
    high: np.ndarray, size: tuple[int, int], rng: np.random.Generator, full_scale: float
) -> tuple[int, int]:
    """Top-left corner for a threat of ``size``: where its whole box lies on the bag if there is such a
    place, else with its centre on the bag, else anywhere it fits (a frame without a bag). The bag is
    read on a grid of an eighth of the threat's smaller side."""
    import cv2

    height, width = size
    rows_free, columns_free = high.shape[0] - height, high.shape[1] - width
    step = max(1, min(height, width) // 8)
    coarse = high[::step, ::step].astype(np.float64)
    bag = (-np.log(np.maximum(coarse, 0.5) / full_scale) >= BAG_LINE_INTEGRAL).astype(np.uint8)
    last_row, last_column = rows_free // step, columns_free // step
    # a 1 at (r, c): the threat's box from (r, c) on the grid is all bag (anchored at its top-left)
    kernel = np.ones((-(-height // step), -(-width // step)), np.uint8)
    within = cv2.erode(bag, kernel, anchor=(0, 0), borderType=cv2.BORDER_CONSTANT, borderValue=0)
    for region in (
        within[: last_row + 1, : last_column + 1],
        bag[height // 2 // step :, width // 2 // step :][: last_row + 1, : last_column + 1],
    ):
        rows, columns = np.nonzero(region)
        if rows.size:
            pick = int(rng.integers(rows.size))
            return min(int(rows[pick]) * step, rows_free), min(int(columns[pick]) * step, columns_free)
    return int(rng.integers(rows_free + 1)), int(rng.integers(columns_free + 1))
