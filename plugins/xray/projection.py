"""Threat image projection (TIP): a library threat placed into a live bag's dual-energy image, as the
physics has it, so screeners can be tested on the bags they screen.

Attenuations multiply, so line integrals add: a ray that crosses the bag and the threat keeps
``exp(-(L_bag + L_threat))`` of the open beam. The threat's own line integrals are those of a library
entry (an object scanned alone, ``library.py``) less its background (the entry's border: belt, tray),
resampled to the frame's pixel size (row and column spacing apart, for a scanner of non-square pixels),
turned to any angle, mirrored or not, and placed inside the bag. Counts above the scanner's dark level
are multiplied by ``exp(-L_threat)`` per energy channel; nothing else in the frame changes.

Fewer counts behind the threat carry relatively more photon noise than the bag's counts dimmed by the
same factor: a Poisson count dimmed by ``t`` has variance ``g t c`` where the dimmed counts have only
``g t^2 c``. The frame's own noise (``noise_model``: the gain ``g`` per channel, measured on the frame
from neighbouring pixels) gives the missing variance, added as Gaussian noise, so a projected threat
is as grainy as a real object at its level.

Pure numpy and OpenCV; the screening queue (``smartcustoms.runtime.screening``) calls it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from smartcustoms.plugins.xray.detector import TUNNEL_HEIGHT_MM
from smartcustoms.plugins.xray.library import FULL_SCALE, LibraryEntry, border_background, line_integrals
from smartcustoms.plugins.xray.materials import (
    FLAT_FIELD_FIELDS,
    GainMapMismatch,
    checked_calibration,
    flat_field,
    pixel_spacing,
)

# A pixel belongs to the threat where its high-energy line integral reaches this (about 1 % less beam).
THREAT_LINE_INTEGRAL = 0.01
# A pixel belongs to the bag where the frame's high-energy line integral reaches this (the preview's
# "air and belt" limit): projected threats are placed with their centre on one of these.
BAG_LINE_INTEGRAL = 0.12
MIN_PIECE_PX = 12  # an object's pieces (a phone's screws apart) are kept from this size; noise specks not
NOISE_PIXELS = 65_536  # the noise model reads whole rows, evenly spaced, about this many pixels in all
NOISE_LEVELS = 12  # ... in this many bands of count level, equally wide in line integral
CLIP_ABOVE_SHARE = 0.001  # a run of equal bright pixels is a clip when fewer pixels than this lie above it
CLIPPED_BAND_SHARE = 0.05  # a band of levels with more of its pixels touching the clip is not read
MIN_NOISE_PIXELS = 2_000  # a band of fewer pixels says too little of the noise


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
    box: tuple[int, int, int, int]  # the object: x_min, y_min, x_max, y_max in frame pixels (max exclusive)
    region: tuple[int, int, int, int]  # every pixel changed lies in it (the object and its resampled edges)
    outline: tuple[tuple[int, int], ...]  # the object's convex hull, (x, y) frame pixels
    angle_deg: float
    mirrored: bool
    threat: ThreatImage


def threat_image(entry: LibraryEntry) -> ThreatImage:
    """A library entry as a projectable threat: its line integrals less its border's (the tray), flat-
    fielded first with the entry's own dark level and gain map when it carries them, kept only on the
    object (where the smoothed high-energy line integral reaches ``THREAT_LINE_INTEGRAL``, and two pixels
    round it), so the scan's noise around the object is not projected with it."""
    import cv2

    image = entry.image
    if entry.calibration is not None and any(k in entry.calibration for k in FLAT_FIELD_FIELDS):
        try:
            image = flat_field(image, checked_calibration(dict(entry.calibration)))
        except GainMapMismatch as error:
            raise ProjectionError(f"entry {entry.entry_id}: {error}") from None
    integrals = line_integrals(image)
    integrals -= border_background(integrals)[:, None, None]
    smooth = cv2.GaussianBlur(integrals[0].astype(np.float32), (0, 0), 1.0)
    mask = cv2.dilate(_object_mask(smooth), np.ones((5, 5), np.uint8))
    rows, columns = np.nonzero(mask)
    if rows.size == 0:
        raise ProjectionError(f"entry {entry.entry_id}: nothing in it attenuates the beam")
    own = np.where(mask.astype(bool), np.clip(integrals, 0.0, None), 0.0).astype(np.float32)
    cut = own[:, rows.min() : rows.max() + 1, columns.min() : columns.max() + 1]
    return ThreatImage(entry.entry_id, entry.label, np.ascontiguousarray(cut), entry.pixel_size_mm)


def _object_mask(smooth: np.ndarray) -> np.ndarray:
    """uint8: where a smoothed high-energy line integral holds the object: above ``THREAT_LINE_INTEGRAL``
    and five times the noise of the border (the tray), in pieces of at least ``MIN_PIECE_PX`` pixels."""
    import cv2

    border = np.concatenate([smooth[0], smooth[-1], smooth[:, 0], smooth[:, -1]])
    noise = 1.4826 * float(np.median(np.abs(border - np.median(border))))
    above = (smooth >= max(THREAT_LINE_INTEGRAL, 5.0 * noise)).astype(np.uint8)
    _, labels, stats, _ = cv2.connectedComponentsWithStats(above, connectivity=8)
    large = np.flatnonzero(stats[:, cv2.CC_STAT_AREA] >= MIN_PIECE_PX)
    large = large[large > 0]  # 0 is the background
    return np.isin(labels, large).astype(np.uint8)


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
    import cv2

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
        counts = image[channel, top : top + height, left : left + width].astype(np.float64)
        level = dark[channel]
        kept = np.exp(-integrals[channel].astype(np.float64))
        gain = noise_model(frame[channel], level)
        missing = gain * np.maximum(counts - level, 0.0) * kept * (1.0 - kept)  # 0 where kept is 1
        grain = np.sqrt(missing) * rng.standard_normal(missing.shape) if gain else 0.0
        dimmed = level + (counts - level) * kept + grain
        upper = np.iinfo(frame.dtype).max if np.issubdtype(frame.dtype, np.integer) else full_scale
        counts_out = np.clip(np.where(counts > level, dimmed, counts), 0, upper)
        if np.issubdtype(frame.dtype, np.integer):
            counts_out = np.rint(counts_out)
        image[channel, top : top + height, left : left + width] = counts_out.astype(frame.dtype)
    rows, columns = np.nonzero(_body(integrals[0]))
    box = (
        left + int(columns.min()),
        top + int(rows.min()),
        left + int(columns.max()) + 1,
        top + int(rows.max()) + 1,
    )
    region = (left, top, left + width, top + height)
    hull = cv2.convexHull(np.column_stack([columns + left, rows + top]).astype(np.int32)).reshape(-1, 2)
    outline = tuple((int(x), int(y)) for x, y in hull)
    return Projection(image, box, region, outline, angle, mirrored, threat)


def noise_model(counts: np.ndarray, dark: float = 0.0) -> float:
    """The frame's photon noise in one channel (``[H, W]`` counts): ``gain`` such that a pixel's
    variance is ``gain * (counts - dark)``, 0 for a noiseless frame. Read along rows: a pixel less the
    mean of its two neighbours cancels smooth ramps and keeps 1.5 times the pixel's noise variance; its
    spread is taken robustly (the median absolute deviation) in bands of the three pixels' mean level,
    and the band whose spread is least for its level gives the gain: texture only adds to a band's spread,
    so the band of least texture (the air round the bag, most often) reads the noise. Runs of three
    equal pixels (a constant fill), clipped pixels and bands of levels at the clip are not read. Noise
    correlated between neighbours (detector blur) reads lower, as it looks finer-grained than it is."""
    height, width = counts.shape
    step = max(1, round(height * width / NOISE_PIXELS))
    sampled = counts[::step].astype(np.float64) - dark
    before, middle, after = sampled[:, :-2], sampled[:, 1:-1], sampled[:, 2:]
    # pixels at the top of the scale may be clipped, where no noise is read: the frame's brightest value,
    # or a clip below it (a run of three equal pixels among the brightest hundredth, with hardly anything
    # brighter: a hot pixel or two, not a scanner's air)
    flat = (before == middle) & (middle == after)
    plateaus = middle[flat & (middle >= np.percentile(sampled, 99.0))]
    top = float(sampled.max())
    if plateaus.size and np.mean(sampled > plateaus.min()) < CLIP_ABOVE_SHARE:
        top = float(plateaus.min())
    positive = np.minimum(np.minimum(before, middle), after) > 0
    touches = (np.maximum(np.maximum(before, middle), after) >= top)[positive]
    # the three pixels' mean as the level: uncorrelated with the residual, so a band of levels
    # does not select the residuals (as banding by the middle pixel would)
    level = ((before + middle + after) / 3.0)[positive]
    residual = (middle - (before + after) / 2.0)[positive]
    unvaried = flat[positive]  # three equal pixels: rare where there is noise, the rule in a fill
    if level.size < MIN_NOISE_PIXELS:
        return 0.0
    bands = np.digitize(
        np.log(level), np.linspace(np.log(level.min()), np.log(level.max()), NOISE_LEVELS + 1)[1:-1]
    )
    gains = []
    for band in range(NOISE_LEVELS):
        inside = bands == band
        if not inside.any() or np.mean(touches[inside]) > CLIPPED_BAND_SHARE:
            continue  # a band at the clip: its noise is cut short
        chosen = inside & ~unvaried & ~touches  # a fill within the band's levels is no reading of its noise
        if np.count_nonzero(chosen) < MIN_NOISE_PIXELS:
            continue  # too few pixels (a noiseless frame leaves few besides its edges)
        spread = 1.4826 * float(np.median(np.abs(residual[chosen] - np.median(residual[chosen]))))
        if spread > 0:
            gains.append(spread * spread / 1.5 / float(np.median(level[chosen])))
    return min(gains, default=0.0)


def on_threat(outline: Sequence[Sequence[float]], point: tuple[float, float], margin_px: float) -> bool:
    """Whether ``point`` (x, y frame pixels) lies on a projected threat: inside its ``outline`` or within
    ``margin_px`` of it."""
    import cv2

    contour = np.asarray(outline, dtype=np.float32).reshape(-1, 1, 2)
    return bool(cv2.pointPolygonTest(contour, (float(point[0]), float(point[1])), True) >= -margin_px)


def _posed(
    threat: ThreatImage, spacing_mm: tuple[float, float], angle_deg: float, mirrored: bool
) -> np.ndarray:
    """The threat's line integrals mirrored, turned by ``angle_deg`` on its own square pixels, then
    resampled to the frame's pixel spacing (a turn on non-square pixels would shear the object), cut to
    what attenuates."""
    import cv2

    integrals = threat.line_integrals[:, :, ::-1] if mirrored else threat.line_integrals
    height, width = integrals.shape[1:]
    side = math.ceil(math.hypot(height, width)) + 2  # room for any turn
    centre = (side - 1) / 2.0
    turn = np.asarray(cv2.getRotationMatrix2D((centre, centre), angle_deg, 1.0), dtype=np.float64)
    # centred on the square canvas, then turned about its middle: one resampling
    turn[:, 2] += turn[:, :2] @ np.array([(side - width) / 2.0, (side - height) / 2.0])
    turned = [
        cv2.warpAffine(np.ascontiguousarray(c), turn, (side, side), flags=cv2.INTER_LINEAR) for c in integrals
    ]
    row_mm, column_mm = spacing_mm
    rows_out = max(1, round(side * threat.pixel_size_mm / row_mm))
    columns_out = max(1, round(side * threat.pixel_size_mm / column_mm))
    interpolation = cv2.INTER_AREA if rows_out < side or columns_out < side else cv2.INTER_LINEAR
    sized = np.stack([cv2.resize(c, (columns_out, rows_out), interpolation=interpolation) for c in turned])
    sized = np.clip(sized, 0.0, None)
    rows, columns = np.nonzero(sized[0] >= THREAT_LINE_INTEGRAL)
    if rows.size == 0:
        raise ProjectionError(f"threat {threat.entry_id} vanishes at this pixel size")
    return sized[:, rows.min() : rows.max() + 1, columns.min() : columns.max() + 1]


def _body(high: np.ndarray) -> np.ndarray:
    """Where the posed object is, for its box and outline: its high-energy line integral at a quarter of
    its median over the object or more (the faint ramps that resampling leaves at its edges are not it)."""
    attenuating = high[high >= THREAT_LINE_INTEGRAL]
    body: np.ndarray = high >= max(THREAT_LINE_INTEGRAL, 0.25 * float(np.median(attenuating)))
    return body


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
    kernel = np.ones(((height - 1) // step + 2, (width - 1) // step + 2), np.uint8)  # reaches its far edge
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
