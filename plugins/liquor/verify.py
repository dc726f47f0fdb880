"""Whether the label a homography puts on the frame looks like the view it came from: a dense check.

Keypoint inliers count corners that agree; a handful of them can agree by chance, or because two labels
share a typeface or a border, and how many a true match gives depends on the view (a flat artwork has
hundreds of corners, a photo of a small label a few dozen). The dense check looks at every pixel of the
label instead: the frame is warped back into the view's pixels through the homography, both are smoothed
(the wrapped label is only nearly a plane, so the fit is off by a pixel or two) and their shading taken
away (a wide blur subtracted: the bottle's roundness shades any label alike), and cut into a grid of
cells; each cell's normalised cross-correlation with the view (the best over shifts of a few pixels)
ignores the cell's brightness and contrast (lighting, a colour cast, a dim or a glaring side of the
bottle). Only cells of the label count: those
holding one of the view's keypoints and some texture. The score is the median over those cells, so a
hand or a sticker over a third of the label lowers it little, while a wrong label scores near 0.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from smartcustoms.core.lazy import lazy
from smartcustoms.plugins.liquor.library import LabelLibrary

if TYPE_CHECKING:
    import cv2
else:
    cv2 = lazy("cv2")

GRID = (4, 6)  # cells down, across
SMOOTH_SIGMA_PX = 1.5  # of the view's pixels
SHADING_SIGMA_PX = 6.0  # what a blur this wide keeps (shading across the bottle) is taken away
MIN_CELL_STD = 4.0  # grey levels of the detail: a flatter cell of the view has nothing to compare
DIM_CELL_SHARE = 0.5  # of a dim view's detail (its upper-quartile keypoint cell): flatter has nothing
MIN_DIM_CELL_STD = 1.5  # grey levels: flatter than this, a cell of any view is its photo's noise
MIN_CELLS = 4  # fewer usable cells: no score (0)
SHIFT_PX = 3  # a cell is compared at shifts of up to this many view pixels (the best counts)


class DenseCheck:
    """The library's views as smoothed grey templates with the cells of their label."""

    def __init__(self, library: LabelLibrary) -> None:
        self._templates: list[np.ndarray | None] = []
        self._cells: list[list[tuple[slice, slice]]] = []
        for number, view in enumerate(library.views):
            grey = _read_grey(library.info.path / view.image)
            if grey is None:
                self._templates.append(None)
                self._cells.append([])
                continue
            template = _band(grey)
            points = library.points[library.view_of == number]
            self._templates.append(template)
            self._cells.append(_label_cells(template, points))

    def score(self, grey: np.ndarray, view: int, homography: np.ndarray) -> float:
        """Median cell correlation (-1 to 1) of the frame's grey image (full resolution, float32 or
        uint8), warped through ``homography`` (view -> frame), with view ``view``; 0 when it cannot say.
        Each cell's correlation is the best over shifts of up to ``SHIFT_PX`` pixels: the label is
        wrapped on a bottle, not flat, and a view made from a photo shows it turned another way, so
        one homography is a few pixels off here and there."""
        template = self._templates[view]
        cells = self._cells[view]
        if template is None or len(cells) < MIN_CELLS:
            return 0.0
        height, width = template.shape
        pad = SHIFT_PX
        shifted = homography @ np.array([[1.0, 0.0, -pad], [0.0, 1.0, -pad], [0.0, 0.0, 1.0]])
        warped = cv2.warpPerspective(
            grey,
            shifted,
            (width + 2 * pad, height + 2 * pad),
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=-1.0,
        )
        inside = warped >= 0
        warped = _band(np.where(inside, warped, 0).astype(np.float32))
        scores = []
        for rows, cols in cells:
            around = (slice(rows.start, rows.stop + 2 * pad), slice(cols.start, cols.stop + 2 * pad))
            if not inside[around].all():
                scores.append(0.0)  # off the frame: no evidence either way
                continue
            cell = template[rows, cols]
            if float(cell.std()) < 1e-3 or float(warped[around].std()) < 1e-3:
                scores.append(0.0)
                continue
            found = cv2.matchTemplate(warped[around], cell, cv2.TM_CCOEFF_NORMED)
            scores.append(float(np.nan_to_num(found).max()))
        return float(np.median(scores))


def frame_grey(rgb: np.ndarray) -> np.ndarray:
    """The frame's grey levels as float32, what ``DenseCheck.score`` takes."""
    return np.asarray(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), dtype=np.float32)


def _band(grey: np.ndarray) -> np.ndarray:
    """The print's detail: smoothed a little, less the shading (a wide blur)."""
    fine = cv2.GaussianBlur(grey, (0, 0), SMOOTH_SIGMA_PX)
    return np.asarray(fine - cv2.GaussianBlur(grey, (0, 0), SHADING_SIGMA_PX), dtype=np.float32)


def _read_grey(path: Path) -> np.ndarray | None:
    image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    return None if image is None else np.asarray(image, dtype=np.float32)


def _label_cells(template: np.ndarray, points: np.ndarray) -> list[tuple[slice, slice]]:
    """The grid's cells that hold one of the view's keypoints and are not flat: their detail reaches
    ``MIN_CELL_STD``. A view made from a dim or soft photo shows its label's detail at a few grey levels,
    so that floor may leave it fewer than ``MIN_CELLS`` cells and every match on it no score; such a
    view's cells count from ``DIM_CELL_SHARE`` of its own upper-quartile keypoint cell (and at least
    ``MIN_DIM_CELL_STD``, its photo's noise) instead."""
    height, width = template.shape
    rows = np.linspace(0, height, GRID[0] + 1).round().astype(int)
    cols = np.linspace(0, width, GRID[1] + 1).round().astype(int)
    held: list[tuple[slice, slice, float]] = []
    for r in range(GRID[0]):
        for c in range(GRID[1]):
            y0, y1, x0, x1 = rows[r], rows[r + 1], cols[c], cols[c + 1]
            if y1 - y0 < 4 or x1 - x0 < 4:
                continue
            if (
                (points[:, 0] >= x0) & (points[:, 0] < x1) & (points[:, 1] >= y0) & (points[:, 1] < y1)
            ).any():
                held.append((slice(y0, y1), slice(x0, x1), float(template[y0:y1, x0:x1].std())))
    cells = [(rows_, cols_) for rows_, cols_, std in held if std >= MIN_CELL_STD]
    if len(cells) >= MIN_CELLS or not held:
        return cells
    detail = float(np.percentile([std for *_, std in held], 75))
    flat = min(MIN_CELL_STD, max(MIN_DIM_CELL_STD, DIM_CELL_SHARE * detail))
    return [(rows_, cols_) for rows_, cols_, std in held if std >= flat]
