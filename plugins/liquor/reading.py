"""Read the ABV and the volume printed on the label, as a cross-check of the database entry.

The matched view knows where its label prints the ABV and the volume (boxes found when the library was
built). The homography from the view to the frame maps each box back onto the frame; the box is cut out
straightened, 48 pixels high (what the recogniser takes), and read by the text recogniser of
rapidocr-onnxruntime (PP-OCRv4, ONNX model shipped inside the wheel: nothing is downloaded). Only the
recogniser runs, on a few small crops: the text detector is not needed, since the boxes are known.

``parse_abv`` and ``parse_volume_ml`` turn what was read into numbers: "43% vol", "ALC. 40% VOL.",
"12.5%vol", "40% alc/vol"; "700ml", "70cl", "1L", "1.75 L", "1 litre"; a unit cut at the end of
the text read ("640m", "1.75li"); and a small c or o read as e ("75el", "13.5%Vel").
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from smartcustoms.core.lazy import lazy
from smartcustoms.plugins.liquor.library import TextBox, View
from smartcustoms.plugins.liquor.names import TextRead

if TYPE_CHECKING:
    import cv2
else:
    cv2 = lazy("cv2")

CROP_HEIGHT_PX = 48  # the recogniser's input height
Box = tuple[float, float, float, float]  # x0, y0, x1, y1 on the frame, pixels
DETECT_SHORT_SIDE = 600  # the text detector's input, when a frame is read whole: its short side, pixels
MIN_TEXT_SCORE = 0.6  # readings the recogniser is less sure of are not readings
SURE_TEXT_SCORE = 0.9  # below, one character of a line may be misread (a mean character confidence)
PAD_ACROSS = 1.0  # box heights added left and right: a sibling's volume may print wider, the fit drifts
PAD_DOWN = 0.4  # box heights added above and below
_ABV = re.compile(r"(?<!\d)(?<!\d\.)(\d{1,2}(?:\.\d{1,2})?)(?:%|[A-Z]?VOL)")
_VOLUME = re.compile(
    r"(?<!\d)(?<!\d\.)(\d{1,4}(?:\.\d{1,3})?)(ML|CL|LITRES?|LITERS?|LTR|(?:LITR|LIT|LI)$|L|M)(?![A-Z])"
)
_UNIT_ML = {"ML": 1.0, "M": 1.0, "CL": 10.0, "L": 1000.0, "LTR": 1000.0}  # "M": "mL" with its "L" cut off


def _normalised(text: str) -> str:
    """Upper case, no spaces, decimal commas as points, the recogniser's O/0 mix-ups undone, and its c read
    as e in a small "cl" ("75el") and o as e in "%vol" ("%Vel")."""
    text = re.sub(r"\s+", "", text.upper().replace(",", "."))
    text = text.replace("V0L", "VOL").replace("%VEL", "%VOL")
    text = re.sub(r"(?<=\d)O|O(?=\d)", "0", text)
    return re.sub(r"(?<!\d)(?<!\d\.)(\d{1,2}(?:\.\d)?|1\d\d)EL", r"\1CL", text)  # centilitres: 5-199 cl


def parse_abv(text: str) -> float | None:
    """The alcohol by volume, in percent, printed in ``text``; None when there is none."""
    for match in _ABV.finditer(_normalised(text)):
        value = float(match.group(1))
        if 0.5 <= value <= 96:
            return value
    return None


def parse_volume_ml(text: str) -> int | None:
    """The volume printed in ``text``, in millilitres; None when there is none."""
    for match in _VOLUME.finditer(_normalised(text)):
        unit = match.group(2)
        factor = _UNIT_ML.get(unit, 1000.0)  # LITRE(S), LITER(S), a litre cut short (LI, LIT, LITR)
        value = round(float(match.group(1)) * factor)
        if 20 <= value <= 20_000:
            return value
    return None


@dataclass(frozen=True)
class Reading:
    """What was read on one frame's label: the numbers (None when unread) and the raw texts."""

    abv_percent: float | None = None
    volume_ml: int | None = None
    texts: tuple[str, ...] = ()
    abv_score: float = 1.0  # the recogniser's score of the line each number was read from
    volume_score: float = 1.0

    @property
    def abv_sure(self) -> bool:
        return self.abv_score >= SURE_TEXT_SCORE

    @property
    def volume_sure(self) -> bool:
        return self.volume_score >= SURE_TEXT_SCORE

    @property
    def read_anything(self) -> bool:
        return self.abv_percent is not None or self.volume_ml is not None


class LabelReader:
    """The text recogniser, built once per hosting process."""

    def __init__(self, threads: int = 1) -> None:
        from rapidocr_onnxruntime import RapidOCR  # type: ignore[import-untyped]  # ships no type hints

        self._engine = RapidOCR(
            intra_op_num_threads=threads,
            inter_op_num_threads=1,
            use_det=False,
            use_cls=False,
            det_limit_side_len=DETECT_SHORT_SIDE,  # its default enlarges a 720-pixel frame to 736
            det_limit_type="min",
        )

    def recognise(self, crops: Sequence[np.ndarray]) -> list[tuple[str, float]]:
        """(text, score) of each BGR uint8 crop of one line of text."""
        if not crops:
            return []
        results, _ = self._engine.text_rec(list(crops))
        return [(str(text), float(score)) for text, score in results]

    def read_frame(self, rgb: np.ndarray, within: Box | None = None) -> list[TextRead]:
        """Every line of text on the frame (RGB uint8), corners in the frame's pixels: the text detector
        finds them on the frame reduced to a ``DETECT_SHORT_SIDE`` short side (it costs by the pixel, and
        finds the same names there), the recogniser reads each one cut from the frame at full size.
        ``within`` (x0, y0, x1, y1): only the lines whose centre lies in that box are read (the
        recogniser costs by the line, and a receipt on the counter holds a dozen)."""
        bgr = np.ascontiguousarray(rgb[:, :, ::-1])
        scale = min(1.0, DETECT_SHORT_SIDE / min(bgr.shape[:2]))
        small = (
            bgr if scale == 1.0 else cv2.resize(bgr, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        )
        boxes, _ = self._engine.text_det(small)
        if boxes is None or not len(boxes):
            return []
        quads = [np.asarray(box, dtype=np.float32) / scale for box in self._engine.sorted_boxes(boxes)]
        if within is not None:
            x0, y0, x1, y1 = within
            centres = [quad.mean(axis=0) for quad in quads]
            quads = [q for q, (x, y) in zip(quads, centres, strict=True) if x0 <= x <= x1 and y0 <= y <= y1]
            if not quads:
                return []
        texts, _ = self._engine.text_rec(self._engine.get_crop_img_list(bgr, quads))
        return [
            TextRead(quad.astype(np.float64), str(text), float(score))
            for quad, (text, score) in zip(quads, texts, strict=True)
        ]

    def read(self, rgb: np.ndarray, view: View, homography: np.ndarray) -> Reading:
        """Read the view's ABV and volume boxes on the frame, through ``homography`` (view -> frame)."""
        return self.read_views(rgb, [(view, homography)])

    def read_views(self, rgb: np.ndarray, views: Sequence[tuple[View, np.ndarray]]) -> Reading:
        """Read the ABV and volume on the frame, each through the view (of those given, with their
        homographies view -> frame) that prints its box widest: the views of one label turned by
        different angles squeeze the text near their edges, where a box may also be cut by the view's
        border, and a squeezed box reads digits short ("8%" for "38%")."""
        crops = [straightened(rgb, quad, homography) for quad, homography in widest_boxes(views)]
        texts = [(text, score) for text, score in self.recognise([c for c in crops if c is not None])]
        return reading_of(texts)


def widest_boxes(
    views: Sequence[tuple[View, np.ndarray]],
) -> list[tuple[tuple[tuple[float, float], ...], np.ndarray]]:
    """For each kind of text box, the box of the view that prints it widest (first view on ties), with
    that view's homography; one entry per printed line (a line printing both ABV and volume once)."""
    chosen: dict[str, tuple[float, int, TextBox]] = {}
    for number, (view, _) in enumerate(views):
        for box in view.text:
            width = box_width(box.quad)
            if box.kind not in chosen or width > chosen[box.kind][0]:
                chosen[box.kind] = (width, number, box)
    crops: dict[tuple[int, tuple[tuple[float, float], ...]], np.ndarray] = {}
    for _, number, box in chosen.values():
        crops.setdefault((number, box.quad), views[number][1])
    return [(quad, homography) for (_, quad), homography in crops.items()]


def box_width(quad: Sequence[Sequence[float]]) -> float:
    """The mean length of a text box's top and bottom sides."""
    corners = np.asarray(quad, dtype=np.float64)
    return float(np.linalg.norm(corners[1] - corners[0]) + np.linalg.norm(corners[2] - corners[3])) / 2


def reading_of(texts: Sequence[tuple[str, float]]) -> Reading:
    """The ABV and volume in recognised lines: the surest line's value when lines disagree."""
    abv: tuple[float, float] | None = None
    volume: tuple[float, int] | None = None
    for text, score in texts:
        if score < MIN_TEXT_SCORE:
            continue
        found_abv, found_volume = parse_abv(text), parse_volume_ml(text)
        if found_abv is not None and (abv is None or score > abv[0]):
            abv = (score, found_abv)
        if found_volume is not None and (volume is None or score > volume[0]):
            volume = (score, found_volume)
    return Reading(
        abv[1] if abv else None,
        volume[1] if volume else None,
        tuple(text for text, _ in texts),
        abv[0] if abv else 1.0,
        volume[0] if volume else 1.0,
    )


def straightened(
    rgb: np.ndarray, quad: tuple[tuple[float, float], ...], homography: np.ndarray
) -> np.ndarray | None:
    """The text box ``quad`` (view pixels, padded a little) cut from the frame through ``homography``,
    straightened to ``CROP_HEIGHT_PX`` high, BGR uint8; None when it falls off the frame."""
    corners = np.asarray(quad, dtype=np.float64)
    width_px = float(np.linalg.norm(corners[1] - corners[0]))
    height_px = float(np.linalg.norm(corners[3] - corners[0]))
    if width_px < 2 or height_px < 2:
        return None
    across, down = (corners[1] - corners[0]) / width_px, (corners[3] - corners[0]) / height_px
    pad_x, pad_y = PAD_ACROSS * height_px, PAD_DOWN * height_px
    padded = np.array(
        [
            corners[0] - pad_x * across - pad_y * down,
            corners[1] + pad_x * across - pad_y * down,
            corners[2] + pad_x * across + pad_y * down,
            corners[3] - pad_x * across + pad_y * down,
        ]
    )
    out_h = CROP_HEIGHT_PX
    out_w = max(16, min(round(out_h * (width_px + 2 * pad_x) / (height_px + 2 * pad_y)), 640))
    target = np.array([[0, 0], [out_w, 0], [out_w, out_h], [0, out_h]], dtype=np.float32)
    to_view = cv2.getPerspectiveTransform(target, padded.astype(np.float32))
    to_frame = homography @ to_view
    on_frame = cv2.perspectiveTransform(target.reshape(-1, 1, 2).astype(np.float64), to_frame).reshape(4, 2)
    height, width = rgb.shape[:2]
    inside = (on_frame[:, 0] >= -4) & (on_frame[:, 0] <= width + 4) & (on_frame[:, 1] >= -4)
    if not np.all(inside & (on_frame[:, 1] <= height + 4)):
        return None
    crop = cv2.warpPerspective(
        rgb,
        to_frame,
        (out_w, out_h),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REPLICATE,
    )
    return np.ascontiguousarray(crop[:, :, ::-1])


def boxes_in(texts: Sequence[tuple[Sequence[Sequence[float]], str, float]]) -> list[TextBox]:
    """The ABV and volume boxes among detected text lines (quad, text, score), for building a view: a
    line that prints both gives two boxes on one quadrilateral."""
    boxes = []
    for quad, text, score in texts:
        if score < MIN_TEXT_SCORE or len(quad) != 4:
            continue
        corners = tuple((float(x), float(y)) for x, y in quad)
        if parse_abv(text) is not None:
            boxes.append(TextBox("abv", corners, text))
        if parse_volume_ml(text) is not None:
            boxes.append(TextBox("volume", corners, text))
    return boxes
