"""Licence plates as printed: the plate formats, the fonts, and a plate's image at a given resolution.

Hong Kong plates are 520 x 110 mm, two letters and up to four digits in two groups, black on white at
the front and black on yellow at the rear. Guangdong cross-boundary plates are 440 x 140 mm, white on
black with a white rim, printed "粤Z·AB12港". Letters and digits are drawn with the first of
``LATIN_FONTS`` found (else Pillow's built-in font), the Chinese characters with the first of
``CJK_FONTS`` that holds them: fonts from Debian's packages, nothing is downloaded. Each glyph is
scaled into its slot, condensed like a plate font, so the plates look alike whichever font was found.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

HK_LETTERS = "ABCDEFGHJKLMNPRSTUVWXYZ"  # no I, O or Q on Hong Kong plates (as records._PLATE_LETTERS)
GD_CHARACTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"  # after 粤Z on a cross-boundary plate
GD_PREFIX, GD_SUFFIX = "\u7ca4", "\u6e2f"  # Yue (Guangdong) and Gang (Hong Kong)
LATIN_FONTS = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSansCondensed-Bold.ttf",  # fonts-dejavu-extra
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",  # fonts-dejavu-core
    "/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf",
)
CJK_FONTS = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",  # fonts-wqy-microhei
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",  # fonts-wqy-zenhei
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",  # fonts-noto-cjk
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/arphic/uming.ttc",  # fonts-arphic-uming
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",  # fonts-droid-fallback
)
GLYPH_PX = 128  # glyphs are rendered this large once, then scaled into their slots


@dataclass(frozen=True, slots=True)
class PlateStyle:
    """How a kind of plate is printed, in millimetres and RGB."""

    name: str
    region: str  # "HK" or "GD"
    size_mm: tuple[float, float]  # width, height
    background: tuple[int, int, int]
    ink: tuple[int, int, int]
    char_h_mm: float
    slot_w_mm: float
    gap_mm: float  # between two characters
    group_gap_mm: float  # between the letters and the digits (HK), at the dot (GD)
    rim_mm: float = 0.0  # a printed rim in ink, inset by its own width


STYLES = {
    "hk_front": PlateStyle("hk_front", "HK", (520, 110), (238, 238, 232), (18, 18, 18), 80, 48, 8, 30),
    "hk_rear": PlateStyle("hk_rear", "HK", (520, 110), (250, 204, 20), (18, 18, 18), 80, 48, 8, 30),
    "gd": PlateStyle("gd", "GD", (440, 140), (18, 18, 22), (240, 240, 240), 90, 45, 10, 16, 3),
}


def hk_plate(rng: np.random.Generator) -> str:
    """A Hong Kong plate as ``records.CrossingSimulator`` draws them: two letters, 1 to 9999."""
    letters = "".join(HK_LETTERS[int(i)] for i in rng.integers(len(HK_LETTERS), size=2))
    return f"{letters}{int(rng.integers(1, 10000))}"


def gd_plate(rng: np.random.Generator) -> str:
    """A Guangdong cross-boundary plate: 粤Z, four letters or digits, 港."""
    body = "".join(GD_CHARACTERS[int(i)] for i in rng.integers(len(GD_CHARACTERS), size=4))
    return f"{GD_PREFIX}Z{body}{GD_SUFFIX}"


def plate_region(text: str) -> str:
    """ "GD" for a 粤Z...港 plate, else "HK"."""
    return "GD" if text.startswith(GD_PREFIX) else "HK"


def _first_font(paths: tuple[str, ...], probe: str) -> tuple[ImageFont.FreeTypeFont, str] | None:
    for path in paths:
        if not Path(path).is_file():
            continue
        font = ImageFont.truetype(path, GLYPH_PX)
        if _ink(font, probe) is not None:
            return font, Path(path).name
    return None


def _ink(font: ImageFont.FreeTypeFont | ImageFont.ImageFont, char: str) -> np.ndarray | None:
    """The glyph of ``char`` as coverage in [0, 1], cropped to its ink; None when it has none."""
    canvas = Image.new("L", (2 * GLYPH_PX, 2 * GLYPH_PX), 0)
    ImageDraw.Draw(canvas).text((GLYPH_PX // 2, GLYPH_PX // 4), char, fill=255, font=font)
    coverage = np.asarray(canvas, dtype=np.float32) / 255
    rows, cols = np.flatnonzero(coverage.max(axis=1) > 0.2), np.flatnonzero(coverage.max(axis=0) > 0.2)
    if rows.size == 0 or cols.size == 0:
        return None
    return coverage[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


class Glyphs:
    """The fonts found on this machine, and each character's glyph (rendered once)."""

    def __init__(self, cjk: bool | None = None) -> None:
        """``cjk``: None finds a CJK font if there is one; False never draws Chinese characters."""
        latin = _first_font(LATIN_FONTS, "A")
        self._latin, self.latin_font = latin or (ImageFont.load_default(size=GLYPH_PX), "pillow-default")
        found = _first_font(CJK_FONTS, GD_PREFIX + GD_SUFFIX) if cjk is not False else None
        if cjk and found is None:
            raise ValueError(f"no CJK font among {', '.join(CJK_FONTS)}: install fonts-wqy-microhei")
        self._cjk: ImageFont.FreeTypeFont | None = found[0] if found else None
        self.cjk_font = found[1] if found else ""
        self._cache: dict[str, np.ndarray] = {}

    @property
    def cjk(self) -> bool:
        return self._cjk is not None

    def glyph(self, char: str) -> np.ndarray | None:
        """Coverage of ``char`` cropped to its ink, or None for a Chinese character without a CJK font."""
        if char not in self._cache:
            font = self._cjk if ord(char) > 0x2E80 else self._latin
            found = _ink(font, char) if font is not None else None
            if found is None:
                return None
            self._cache[char] = found
        return self._cache[char]


def printed(text: str) -> list[str]:
    """The characters printed on a plate, in order, "" marking the gap between groups.

    "AB1234" -> ["A", "B", "", "1", "2", "3", "4"]; "粤ZAB12港" -> ["粤", "Z", "", "A", "B", "1", "2", "港"].
    """
    if plate_region(text) == "GD":
        return [text[0], text[1], "", *text[2:]]
    split = next(i for i, c in enumerate(text) if c.isdigit())
    return [*text[:split], "", *text[split:]]


def plate_image(glyphs: Glyphs, text: str, style: PlateStyle, px_per_mm: float) -> tuple[np.ndarray, str]:
    """The plate printed at ``px_per_mm``: RGB float32 (h, w, 3), and the text actually printed (the
    Chinese characters left out when there is no CJK font; "·" for the GD separator)."""
    width_mm, height_mm = style.size_mm
    h, w = max(4, round(height_mm * px_per_mm)), max(8, round(width_mm * px_per_mm))
    plate = np.empty((h, w, 3), dtype=np.float32)
    plate[:] = style.background
    ink = np.asarray(style.ink, dtype=np.float32)
    if style.rim_mm:
        inset = max(1, round(2 * style.rim_mm * px_per_mm))
        thickness = max(1, round(style.rim_mm * px_per_mm))
        cv2.rectangle(plate, (inset, inset), (w - 1 - inset, h - 1 - inset), style.ink, thickness)
    slots = printed(text)
    chars = [c for c in slots if c]
    total_mm = len(chars) * style.slot_w_mm + (len(chars) - 2) * style.gap_mm + style.group_gap_mm
    x_mm = (width_mm - total_mm) / 2
    top = round((height_mm - style.char_h_mm) / 2 * px_per_mm)
    char_h = max(3, round(style.char_h_mm * px_per_mm))
    shown = []
    for position, char in enumerate(slots):
        if not char:
            if style.region == "GD":
                _dot(plate, (x_mm - style.gap_mm + style.group_gap_mm / 2) * px_per_mm, h / 2, px_per_mm, ink)
                shown.append("·")
            x_mm += style.group_gap_mm - style.gap_mm
            continue
        coverage = glyphs.glyph(char)
        if coverage is not None:
            slot_w = style.slot_w_mm * px_per_mm
            _stamp(plate, coverage, x_mm * px_per_mm, top, slot_w, char_h, ink, narrow=char in "1I")
            shown.append(char)
        x_mm += style.slot_w_mm + (style.gap_mm if position < len(slots) - 1 else 0)
    return plate, "".join(shown)


def _dot(plate: np.ndarray, x: float, y: float, px_per_mm: float, ink: np.ndarray) -> None:
    radius = max(1, round(4 * px_per_mm))
    cv2.circle(plate, (round(x), round(y)), radius, tuple(float(c) for c in ink), -1, cv2.LINE_AA)


def _stamp(
    plate: np.ndarray,
    coverage: np.ndarray,
    x: float,
    top: int,
    slot_w: float,
    char_h: int,
    ink: np.ndarray,
    narrow: bool = False,
) -> None:
    """Scale a glyph to the character height, condensed to at most the slot, centred in the slot."""
    aspect = coverage.shape[1] / coverage.shape[0]
    glyph_w = max(1, min(round(slot_w), round(char_h * aspect * 0.8)))
    if not narrow:  # plate fonts draw J, L or 7 nearly as wide as the rest
        glyph_w = max(glyph_w, round(0.6 * slot_w))
    scaled = cv2.resize(coverage, (glyph_w, char_h), interpolation=cv2.INTER_AREA)
    left = round(x + (slot_w - glyph_w) / 2)
    h, w = plate.shape[:2]
    y0, y1, x0, x1 = max(top, 0), min(top + char_h, h), max(left, 0), min(left + glyph_w, w)
    if y1 <= y0 or x1 <= x0:
        return
    alpha = scaled[y0 - top : y1 - top, x0 - left : x1 - left, None]
    window = plate[y0:y1, x0:x1]
    window += (ink - window) * alpha
