"""Reading the plates in one image: text lines found (``detect``), recognised (``ocr``), decoded
against the plate formats (``formats``), one read per plate.

A line that fits both formats ("ZA123" is a Hong Kong plate and the Latin part of a Guangdong one) is
settled by what the plate looks like: light characters on a dark plate, or a 粤 or 港 read on it, make
a Guangdong plate; dark on light a Hong Kong one. The other reading keeps half its confidence. Lines are
read most plate-like first until ``max_plates`` confident plates are found or ``max_lines`` were read;
a line read less surely than ``SECOND_LOOK_BELOW`` is read a second time, at its full width and dark
on light, and the surer read is kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from smartcustoms.core.geometry import overlap_of_smaller
from smartcustoms.core.lazy import lazy
from smartcustoms.plugins.plate.detect import LineFinder, TextLine, rectify, stroke_transitions
from smartcustoms.plugins.plate.formats import Candidate, PlateDecoder, cjk_seen
from smartcustoms.plugins.plate.ocr import INPUT_HEIGHT, Recognizer
from smartcustoms.plugins.plate.settings import PlateSettings

if TYPE_CHECKING:
    import cv2
else:
    cv2 = lazy("cv2")

MISMATCH_PENALTY = 0.5  # confidence kept by a reading the plate's looks contradict
SECOND_LOOK_BELOW = 0.9  # a line read less surely is read again, at its full width (dark on light)
LINES_EXAMINED = 10  # text lines found per frame, before the cheap test of each
MIN_TRANSITIONS = 5  # dark-light swings a line needs before it is recognised (``stroke_transitions``)


@dataclass(frozen=True)
class PlateRead:
    """One plate read: normalised text, "HK" or "GD", confidence in [0, 1], the recogniser's raw text,
    the box (x_min, y_min, x_max, y_max) and the quadrilateral of its text in the image."""

    plate: str
    region: str
    confidence: float
    raw_text: str
    box: tuple[float, float, float, float]
    quad: tuple[tuple[float, float], ...]
    corrections: int


class PlateReader:
    """The line finder, the recogniser and the decoder: one of each per plugin instance."""

    def __init__(self, settings: PlateSettings) -> None:
        self.settings = settings
        self.finder = LineFinder()
        self.recognizer = Recognizer(settings.ocr_threads)
        self.decoder = PlateDecoder(self.recognizer.characters)

    def read(self, image: np.ndarray) -> list[PlateRead]:
        """The plates in a BGR (or grey) uint8 image, most confident first, one read per plate."""
        colour = image if image.ndim == 3 else cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
        gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        reads: dict[str, PlateRead] = {}
        recognised = 0
        for line in self.finder.find(gray, LINES_EXAMINED):
            if recognised >= self.settings.max_lines or self._enough(reads):
                break
            if any(overlap_of_smaller(line.box, r.box) >= 0.5 for r in reads.values() if r.confidence >= 0.9):
                continue  # the same plate found at the other scale, already read surely
            crop = rectify(colour, line.quad, INPUT_HEIGHT, self.settings.squeeze)
            if stroke_transitions(crop) < MIN_TRANSITIONS:
                continue  # a lamp, a grille, an edge: not worth the recogniser's time
            recognised += 1
            read = self._look(colour, line, crop)
            if read is not None and (
                read.plate not in reads or read.confidence > reads[read.plate].confidence
            ):
                reads[read.plate] = read
        ranked = sorted(reads.values(), key=lambda r: -r.confidence)
        return _without_overlaps(ranked)[: self.settings.max_plates]

    def _enough(self, reads: dict[str, PlateRead]) -> bool:
        sure = sum(r.confidence >= self.settings.min_confidence for r in reads.values())
        return sure >= self.settings.max_plates

    def _look(self, image: np.ndarray, line: TextLine, crop: np.ndarray) -> PlateRead | None:
        """A line's read; a doubtful one is read again at full width, dark on light, the surer kept."""
        read = self._read_line(crop, line)
        if read is not None and read.confidence >= SECOND_LOOK_BELOW:
            return read
        wider = rectify(image, line.quad, INPUT_HEIGHT, 1.0)
        again = self._read_line(wider, line, invert=light_on_dark(wider))
        if again is not None and (read is None or again.confidence > read.confidence):
            return again
        return read

    def _read_line(self, crop: np.ndarray, line: TextLine, invert: bool = False) -> PlateRead | None:
        probabilities = self.recognizer.probabilities([255 - crop if invert else crop])[0]
        candidates = self.decoder.candidates(probabilities)
        if not candidates:
            return None
        looks_gd = light_on_dark(crop) or cjk_seen(probabilities, self.recognizer.characters)
        best = max(candidates, key=lambda c: _weighed(c, looks_gd))
        return PlateRead(
            plate=best.plate,
            region=best.region,
            confidence=_weighed(best, looks_gd),
            raw_text=best.raw_text,
            box=line.box,
            quad=tuple((float(x), float(y)) for x, y in line.quad),
            corrections=best.corrections,
        )


def _weighed(candidate: Candidate, looks_gd: bool) -> float:
    agrees = (candidate.region == "GD") == looks_gd
    return candidate.confidence * (1.0 if agrees else MISMATCH_PENALTY)


def light_on_dark(crop: np.ndarray) -> bool:
    """Whether a text strip has light characters on a dark ground: most of it is below Otsu's level."""
    gray = crop if crop.ndim == 2 else cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
    _, bright = cv2.threshold(gray, 0, 1, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return float(bright.mean()) < 0.5


def _without_overlaps(reads: list[PlateRead]) -> list[PlateRead]:
    """Reads of one text line at two scales: the more confident is kept."""
    kept: list[PlateRead] = []
    for read in reads:
        if all(overlap_of_smaller(read.box, other.box) < 0.5 for other in kept):
            kept.append(read)
    return kept
