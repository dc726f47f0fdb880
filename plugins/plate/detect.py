"""Finding plate text in a frame without a learned detector: character-like regions in a row.

MSER (maximally stable extremal regions) finds blobs of either polarity that stay stable over a range
of thresholds: dark letters on a white or yellow plate, white letters on a black one, whatever the
light. The frame is searched at half its size (``SEARCH_SCALE``, a quarter of the work). Blobs shaped
like characters (``CharacterShape``) are linked to neighbours of a similar height on the same line,
and every group of at least three is a text line. Its quadrilateral follows the characters' tops and
bottoms, so a plate seen at an angle (its characters taller at the near end) is rectified into a
straight strip for the recogniser (``rectify``). Lines are ranked by how plate-like they are: five to
eight characters, of one height, with even spacing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from smartcustoms.core.lazy import lazy

if TYPE_CHECKING:
    import cv2
else:
    cv2 = lazy("cv2")

SCALES = (1.0, 0.5)  # the frame is searched at full and at half size: small and large plates
MIN_STROKE_CONTRAST = 20  # grey levels of horizontal gradient: below, no stroke
_CLOSE = np.ones((3, 15), np.uint8)  # a rectangle 15 wide, 3 high: joins the strokes of a line
_OPEN = np.ones((5, 9), np.uint8)  # 9 wide, 5 high: drops thin lines and specks


@dataclass(frozen=True)
class CharacterShape:
    """Which blobs count as characters, at the frame's full size."""

    min_height_px: float = 12.0
    max_height_px: float = 140.0  # a plate close by, seen at an angle: its near end
    min_aspect: float = 0.12  # width / height: a "1" is narrow
    max_aspect: float = 1.25  # a Chinese character is square, two merged letters are wider
    max_gap: float = 1.3  # between neighbours on a line, in character heights
    max_height_ratio: float = 1.35
    max_offset: float = 0.3  # of the centres, across the line, in character heights


@dataclass(frozen=True)
class TextLine:
    """A row of characters: the quadrilateral around them (top left, top right, bottom right, bottom
    left; (x, y) at the frame's full size), their boxes, and its plate-likeness (higher is better)."""

    quad: np.ndarray
    boxes: np.ndarray  # (n, 4) x, y, w, h of its characters, left to right
    score: float

    @property
    def box(self) -> tuple[float, float, float, float]:
        return (
            float(self.quad[:, 0].min()),
            float(self.quad[:, 1].min()),
            float(self.quad[:, 0].max()),
            float(self.quad[:, 1].max()),
        )

    @property
    def char_height_px(self) -> float:
        return float(np.median(self.boxes[:, 3]))


class LineFinder:
    """Text lines in grey frames: dense vertical strokes, joined along the line."""

    def __init__(self, shape: CharacterShape | None = None) -> None:
        self.shape = shape or CharacterShape()

    def find(self, gray: np.ndarray, limit: int = 6) -> list[TextLine]:
        """The ``limit`` most plate-like text lines of a grey uint8 frame, best first."""
        found: list[TextLine] = []
        for scale in SCALES:
            image = (
                gray
                if scale == 1
                else cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            )
            found += self._blocks(image, scale)
        kept: list[TextLine] = []
        for line in sorted(found, key=lambda line: -line.score):
            if all(_box_iou(line.box, other.box) < 0.4 for other in kept):
                kept.append(line)
        return kept[:limit]

    def _blocks(self, gray: np.ndarray, scale: float) -> list[TextLine]:
        strokes = cv2.convertScaleAbs(cv2.Sobel(gray, cv2.CV_16S, 1, 0, ksize=3))
        level, mask = cv2.threshold(strokes, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
        if level < MIN_STROKE_CONTRAST:
            mask = cv2.threshold(strokes, MIN_STROKE_CONTRAST, 255, cv2.THRESH_BINARY)[1]
        edges = mask > 0
        mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, _CLOSE)
        mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, _OPEN)
        count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        lines = []
        low, high = self.shape.min_height_px * scale, self.shape.max_height_px * scale
        for label in range(1, count):
            x, y, w, h, _ = stats[label]
            if h < low or h > 2.5 * high or w < 1.8 * low:
                continue
            component = labels[y : y + h, x : x + w] == label
            strokes_in = edges[y : y + h, x : x + w] & component
            for top, bottom in _bands(strokes_in):  # plates stacked one above the other, joined
                band = component[top:bottom]
                band_h = bottom - top
                fill = float(band.mean())
                if low <= band_h <= high and 1.8 <= w / band_h <= 10 and fill >= 0.45:
                    lines.append(_block(band, x, y + top, fill, scale))
        return lines


def _bands(strokes: np.ndarray) -> list[tuple[int, int]]:
    """Row ranges of a block split at its waists, the runs of rows between two fuller parts where few
    of its columns hold a stroke: two lines joined by a plate's or a holder's vertical edges come
    apart; a single line stays whole, its thinner top and bottom rows included."""
    rows = cv2.blur(strokes.mean(axis=1, dtype=np.float32).reshape(-1, 1), (1, 3)).ravel()
    thin = rows < 0.5 * float(rows.max())
    edges = np.flatnonzero(np.diff(np.concatenate([[1], thin.astype(np.int8), [1]])))
    bands = [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]  # runs not thin
    bands[0] = (0, bands[0][1])  # thin rows above the first line and below the last are theirs
    bands[-1] = (bands[-1][0], len(rows))
    return bands


def _box_iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    x0, y0, x1, y1 = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _block(component: np.ndarray, x: int, y: int, fill: float, scale: float) -> TextLine:
    """The quadrilateral of a joined block of strokes: lines along its columns' tops and bottoms."""
    columns = np.flatnonzero(component.any(axis=0))
    tops = component[:, columns].argmax(axis=0)
    bottoms = component.shape[0] - 1 - component[::-1, columns].argmax(axis=0)
    inner = slice(len(columns) // 8, max(len(columns) - len(columns) // 8, len(columns) // 8 + 2))
    xs = columns[inner] + x
    top = _fit(xs, tops[inner] + y, envelope=10)  # above nine in ten columns' tops
    bottom = _fit(xs, bottoms[inner] + y + 1, envelope=90)
    left, right = float(columns[0] + x), float(columns[-1] + x + 1)
    height = bottom((left + right) / 2) - top((left + right) / 2)
    pad_x, pad_y = 0.15 * height, 0.12 * height
    quad = np.array(
        [
            [left - pad_x, top(left) - pad_y],
            [right + pad_x, top(right) - pad_y],
            [right + pad_x, bottom(right) + pad_y],
            [left - pad_x, bottom(left) + pad_y],
        ],
        dtype=np.float32,
    )
    aspect = (right - left) / max(height, 1.0)
    score = fill - abs(aspect - 4.5) / 6
    boxes = np.array([[left, top(left), right - left, height]]) / scale
    return TextLine(quad / np.float32(scale), boxes, score)


def _fit(x: np.ndarray, y: np.ndarray, envelope: float = 50) -> Callable[[float], float]:
    """A straight line y(x) through the points, moved to the ``envelope`` percentile of its residuals:
    the text's edge, not its columns' average (the gaps between characters are lower)."""
    slope, intercept = np.polyfit(x, y, 1) if len(x) >= 2 and np.ptp(x) > 0 else (0.0, float(np.mean(y)))
    intercept += float(np.percentile(y - (slope * x + intercept), envelope))
    return lambda at: float(slope * at + intercept)


def rectify(image: np.ndarray, quad: np.ndarray, height: int = 48, squeeze: float = 1.0) -> np.ndarray:
    """The quadrilateral warped into a strip ``height`` pixels high, its width in proportion (times
    ``squeeze``)."""
    top_w = float(np.linalg.norm(quad[1] - quad[0]))
    left_h = float(np.linalg.norm(quad[3] - quad[0]))
    right_h = float(np.linalg.norm(quad[2] - quad[1]))
    width = max(16, round(height * squeeze * top_w / max((left_h + right_h) / 2, 1.0)))
    target = np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(quad.astype(np.float32), target)
    return cv2.warpPerspective(
        image, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )


def stroke_transitions(strip: np.ndarray, min_contrast: float = 12.0) -> int:
    """How often the brightness across the middle of a rectified strip swings between dark and light:
    a dozen or more along a plate's characters, even blurred; none or two along a lamp, a grille's bars
    or a bumper's edge. A cheap test that a line is text before the recogniser spends its time on it."""
    gray = strip if strip.ndim == 2 else cv2.cvtColor(strip, cv2.COLOR_BGR2GRAY)
    height = gray.shape[0]
    profile = gray[height // 4 : 3 * height // 4].mean(axis=0, dtype=np.float32)
    profile = np.convolve(profile, np.ones(3, dtype=np.float32) / 3, mode="valid")
    window = max(3, height // 2 * 2 + 1)  # about two characters' widths: the local level
    if profile.size < window:
        return 0
    level = cv2.blur(profile.reshape(1, -1), (window, 1), borderType=cv2.BORDER_REFLECT).ravel()
    centred = profile - level  # a lit or shaded end of the strip does not hide the swings
    low, high = np.percentile(centred, (10, 90))
    span = float(high - low)
    if span < min_contrast:
        return 0
    signs = np.sign(centred[np.abs(centred) > 0.2 * span])  # a dead band: noise does not swing
    return int(np.count_nonzero(np.diff(signs)))
