"""Label artwork of the liquor simulator: a printed label with real text on a patterned ground.

A label is drawn deterministically from its product line (brand and product name: the bottles of one
line in several sizes share the artwork and differ only in the printed volume, as real ones do):

* a ground colour and a pattern (bands, stripes, checks, diagonals, dots or a gradient), a border and
  an emblem, as before text was added;
* the brand in large type, the product name below it, the Traditional Chinese name where the product
  has one, and a line of mandatory information: the ABV ("43% vol", "ALC. 40% VOL.", "12.5%vol") and
  the volume ("700ml", "70cl", "1L", "1.75 L"), in one of several layouts;
* every text in an OpenCV Hershey font (simplex, duplex, complex, triplex, their italics, the script
  faces for brands), its size, position and colour chosen per line. Chinese is drawn with Pillow in a
  CJK font from Debian's packages (``fonts-wqy-microhei``, ``fonts-noto-cjk`` or ``fonts-arphic-uming``;
  scripts/setup installs the first); on a machine with none of them the Chinese name is left out.

``draw_label(text, design=k)`` draws the line's label another way for any ``k`` other than 0 (the
catalogue's own artwork): other colours, pattern, layout and type, the brand and product in a TrueType
face where the machine has one (DejaVu faces, Free or Liberation where installed), the label's height,
a photograph-like textured ground, and for some designs (every third, and a quarter of the others'
lines) the mandatory line printed along the top instead of the bottom. A design is what a simulator
of "labels the library never saw" needs: a catalogue whose bottles are added to the database from
photos (``LiquorSimulator(design=k)``), as a site adds its own.
"""

from __future__ import annotations

import functools
import zlib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

LABEL_SHAPE = (200, 300)  # (height, width) of a label image, pixels

TRUETYPE_FONTS = (  # faces a redesigned label may print its brand and product in, where installed
    "/usr/share/fonts/truetype/dejavu/DejaVuSerif-Bold.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSansCondensed-Bold.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSerifCondensed-BoldItalic.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSansMono-Bold.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-ExtraLight.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-BoldOblique.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSerif-Italic.ttf",
    "/usr/share/fonts/truetype/freefont/FreeSerifBold.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf",
)
CJK_FONTS = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/arphic/uming.ttc",
)
_PLAIN_FONTS = (
    cv2.FONT_HERSHEY_SIMPLEX,
    cv2.FONT_HERSHEY_DUPLEX,
    cv2.FONT_HERSHEY_COMPLEX,
    cv2.FONT_HERSHEY_TRIPLEX,
)
_BRAND_FONTS = (*_PLAIN_FONTS, cv2.FONT_HERSHEY_SCRIPT_COMPLEX, cv2.FONT_HERSHEY_SCRIPT_SIMPLEX)
_ABV_FORMATS = ("{abv}% vol", "{abv}%vol", "ALC. {abv}% VOL.", "{abv}% alc/vol", "ALC {abv}% VOL")


@dataclass(frozen=True, slots=True)
class LabelText:
    """What a label prints."""

    brand: str
    product: str
    abv_percent: float
    volume_ml: int
    name_zh: str = ""


def line_seed(text: LabelText) -> int:
    """The seed of a product line's artwork: brand and product name, not the volume."""
    return zlib.crc32(f"{text.brand}|{text.product}".encode())


def abv_text(abv_percent: float, style: int) -> str:
    number = f"{abv_percent:g}"
    return _ABV_FORMATS[style % len(_ABV_FORMATS)].format(abv=number)


def volume_text(volume_ml: int, style: int) -> str:
    """Printed volume: ml for small bottles, else litres or centilitres by the line's style."""
    if volume_ml >= 1000 and volume_ml % 10 == 0:
        litres = f"{volume_ml / 1000:g}"
        return (f"{litres}L", f"{litres} L", f"{litres} litre")[style % 3]
    if volume_ml % 10 == 0 and style % 3 == 1:
        return f"{volume_ml // 10}cl"
    return (f"{volume_ml}ml", f"{volume_ml}ml", f"{volume_ml} mL")[style % 3]


def draw_label(text: LabelText, design: int = 0) -> np.ndarray:
    """The label as printed, RGB uint8: ``LABEL_SHAPE`` for the catalogue's own artwork (``design``
    0), of another height and drawn another way for any other design."""
    if design:
        return _redesigned(text, design)
    rng = np.random.default_rng(line_seed(text))
    height, width = LABEL_SHAPE
    light = rng.random() < 0.55
    background = _hsv_rgb(rng, (0.05, 0.3), (0.85, 1.0)) if light else _hsv_rgb(rng, (0.5, 1.0), (0.25, 0.7))
    accent = _hsv_rgb(rng, (0.6, 1.0), (0.5, 1.0))
    ink = _hsv_rgb(rng, (0.3, 0.9), (0.05, 0.25)) if light else _hsv_rgb(rng, (0.0, 0.3), (0.9, 1.0))
    label = np.empty((height, width, 3), dtype=np.float32)
    label[:] = background
    _pattern(rng, label, accent)
    layout = int(rng.integers(3))
    _emblem(rng, label, accent, ink, layout)
    _texts(rng, label, text, ink, background, accent, layout)
    cv2.rectangle(label, (3, 3), (width - 4, height - 4), _colour(accent), 3)
    return np.clip(label, 0, 255).astype(np.uint8)


def _redesigned(text: LabelText, design: int) -> np.ndarray:
    """The line's label drawn another way (see the module docstring)."""
    rng = np.random.default_rng([line_seed(text), design])
    width = LABEL_SHAPE[1]
    height = int(rng.integers(150, 260))
    light = rng.random() < 0.5
    background = _hsv_rgb(rng, (0.05, 0.4), (0.8, 1.0)) if light else _hsv_rgb(rng, (0.4, 1.0), (0.15, 0.6))
    accent = _hsv_rgb(rng, (0.5, 1.0), (0.4, 1.0))
    ink = _hsv_rgb(rng, (0.2, 0.9), (0.0, 0.3)) if light else _hsv_rgb(rng, (0.0, 0.4), (0.85, 1.0))
    label = np.empty((height, width, 3), dtype=np.float32)
    label[:] = background
    # a photograph-like ground: smooth blotches of the accent at a few scales
    for cells, strength in ((4, 0.35), (12, 0.2), (40, 0.1)):
        noise = rng.random((max(2, cells * height // width), cells)).astype(np.float32)
        field_ = cv2.resize(noise, (width, height), interpolation=cv2.INTER_CUBIC)
        label += (accent - label) * (np.clip(field_, 0, 1) * strength * rng.uniform(0.3, 1.0))[..., None]
    _pattern(rng, label, accent)
    layout = int(rng.integers(3))
    info_on_top = design % 3 == 0 or rng.random() < 0.25  # the mandatory line above the brand
    if not info_on_top:
        _emblem(rng, label, accent, ink, layout)
    rows = np.sort(rng.uniform(0.25, 0.72, 3))
    brand = text.brand.upper() if rng.random() < 0.5 else text.brand
    faces = [Path(p) for p in TRUETYPE_FONTS if Path(p).is_file()]
    if faces:
        face = faces[int(rng.integers(len(faces)))]
        _put_truetype(label, brand, face, rows[0], int(rng.integers(24, 40)), ink)
        _put_truetype(
            label, text.product, face, rows[1] + 0.06, int(rng.integers(13, 19)), ink * 0.7 + accent * 0.3
        )
    else:
        _put(label, brand, _BRAND_FONTS[int(rng.integers(len(_BRAND_FONTS)))], rows[0], 28, ink, "centre", 2)
        _put(label, text.product, _PLAIN_FONTS[int(rng.integers(4))], rows[1] + 0.06, 15, ink, "centre", 1)
    if text.name_zh:
        _put_cjk(label, text.name_zh, min(rows[2] + 0.1, 0.8), int(rng.integers(16, 22)), ink)
    style = int(rng.integers(15))
    abv, volume = abv_text(text.abv_percent, style), volume_text(text.volume_ml, style // 5)
    info_font = _PLAIN_FONTS[int(rng.integers(len(_PLAIN_FONTS)))]
    info_row = rng.uniform(0.86, 0.92) if not info_on_top else rng.uniform(0.13, 0.18)
    size_px = int(rng.integers(15, 21))
    if layout == 0:
        _put(label, f"{abv}  {volume}", info_font, info_row, size_px, ink, "centre", 1)
    else:
        _put(label, abv, info_font, info_row, size_px, ink, "left", 1, x_range=(0.08, 0.52))
        _put(label, volume, info_font, info_row, size_px, ink, "right", 1, x_range=(0.55, 0.92))
    if rng.random() < 0.7:
        cv2.rectangle(label, (3, 3), (width - 4, height - 4), _colour(accent), int(rng.integers(1, 5)))
    return np.clip(label, 0, 255).astype(np.uint8)


def _put_truetype(
    label: np.ndarray, words: str, face: Path, row: float, size_px: int, colour: np.ndarray
) -> None:
    """``words`` centred in a TrueType face with its baseline near ``row``, shrunk to fit the width."""
    from PIL import Image, ImageDraw, ImageFont  # Pillow comes with rapidocr-onnxruntime

    height, width = label.shape[:2]
    font = ImageFont.truetype(str(face), size_px)
    left, top, right, bottom = (round(v) for v in font.getbbox(words))
    if right - left > 0.88 * width:
        font = ImageFont.truetype(str(face), max(8, int(size_px * 0.88 * width / (right - left))))
        left, top, right, bottom = (round(v) for v in font.getbbox(words))
    mask = Image.new("L", (right - left + 2, bottom - top + 2), 0)
    ImageDraw.Draw(mask).text((-left + 1, -top + 1), words, font=font, fill=255)
    glyphs = np.asarray(mask, dtype=np.uint8)
    h, w = glyphs.shape
    x0, y0 = max((width - w) // 2, 5), max(int(row * height) - h, 5)
    h, w = min(h, height - 5 - y0), min(w, width - 5 - x0)
    if h > 0 and w > 0:
        _blend(label[y0 : y0 + h, x0 : x0 + w], glyphs[:h, :w], colour)


def _hsv_rgb(
    rng: np.random.Generator, saturation: tuple[float, float], value: tuple[float, float]
) -> np.ndarray:
    hsv = np.array([[[rng.uniform(0, 180), 255 * rng.uniform(*saturation), 255 * rng.uniform(*value)]]])
    return np.asarray(cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB)[0, 0], dtype=np.float32)


def _colour(rgb: np.ndarray) -> tuple[float, float, float]:
    return (float(rgb[0]), float(rgb[1]), float(rgb[2]))


def _pattern(rng: np.random.Generator, label: np.ndarray, accent: np.ndarray) -> None:
    """A pattern kept to the top band and the edges, so the text stays on a calm ground."""
    height, width = label.shape[:2]
    y, x = np.mgrid[0:height, 0:width]
    kind, period = int(rng.integers(6)), int(rng.integers(10, 30))
    strength = rng.uniform(0.25, 0.5)
    where = (y < height * 0.22) | (x < width * 0.08) | (x > width * 0.92)
    if kind == 0:  # horizontal bands
        mask = (y // period) % 2 == 0
    elif kind == 1:  # vertical stripes
        mask = (x // period) % 2 == 0
    elif kind == 2:  # checks
        mask = ((x // period) + (y // period)) % 2 == 0
    elif kind == 3:  # diagonal stripes
        mask = ((x + y) // period) % 2 == 0
    elif kind == 4:  # dots
        mask = ((x % period - period / 2) ** 2 + (y % period - period / 2) ** 2) < (period / 4) ** 2
    else:  # gradient band
        weight = np.clip(1 - np.abs(y - rng.uniform(0.0, 0.2) * height) / (0.25 * height), 0, 1)
        label += (accent - label) * (strength * weight)[..., None]
        return
    mask &= where
    label[mask] += (accent - label[mask]) * strength


def _emblem(
    rng: np.random.Generator, label: np.ndarray, accent: np.ndarray, ink: np.ndarray, layout: int
) -> None:
    height, width = label.shape[:2]
    cx = int(width / 2) if layout == 0 else int(rng.uniform(0.15, 0.85) * width)
    cy, size = int(0.13 * height), int(rng.integers(12, 20))
    colour = _colour(accent * 0.6 + ink * 0.4)
    shape = int(rng.integers(4))
    if shape == 0:
        cv2.circle(label, (cx, cy), size, colour, -1)
        cv2.circle(label, (cx, cy), size // 2, _colour(ink), 2)
        return
    if shape == 1:
        points = [[cx, cy - size], [cx + size, cy], [cx, cy + size], [cx - size, cy]]
    elif shape == 2:
        points = [[cx, cy - size], [cx + size, cy + size], [cx - size, cy + size]]
    else:  # crest
        points = [
            [cx - size, cy - size],
            [cx + size, cy - size],
            [cx + size, cy],
            [cx, cy + size],
            [cx - size, cy],
        ]
    polygon = np.array(points, np.int32)
    cv2.fillPoly(label, [polygon], colour)
    cv2.polylines(label, [polygon], True, _colour(ink), 2)


def _texts(
    rng: np.random.Generator,
    label: np.ndarray,
    text: LabelText,
    ink: np.ndarray,
    background: np.ndarray,
    accent: np.ndarray,
    layout: int,
) -> None:
    """Brand, product, Chinese name and the ABV and volume, placed by the layout."""
    height = label.shape[0]
    brand_font = _BRAND_FONTS[int(rng.integers(len(_BRAND_FONTS)))]
    body_font = _PLAIN_FONTS[int(rng.integers(len(_PLAIN_FONTS)))] | (
        cv2.FONT_ITALIC * int(rng.random() < 0.25)
    )
    info_font = _PLAIN_FONTS[int(rng.integers(len(_PLAIN_FONTS)))]
    style = int(rng.integers(15))
    align = "centre" if layout != 2 else "left"
    product_ink = ink * 0.6 + accent * 0.4 if rng.random() < 0.5 else ink
    _put(label, text.brand.upper() if rng.random() < 0.5 else text.brand, brand_font, 0.42, 30, ink, align, 2)
    _put(label, text.product, body_font, 0.57, 16, product_ink, align, 1)
    if text.name_zh:
        _put_cjk(label, text.name_zh, 0.70, 20, ink)
    abv, volume = abv_text(text.abv_percent, style), volume_text(text.volume_ml, style // 5)
    band_top = int(0.80 * height)
    if layout == 1:  # a plain band across the bottom carries the information
        label[band_top:-4, 4:-4] = background * 0.15 + np.array([245.0, 242.0, 235.0]) * 0.85
        info_ink = np.array([20.0, 20.0, 20.0])
    else:
        info_ink = ink
    size_px = int(rng.integers(17, 22))
    if layout == 0:
        _put(label, f"{abv}   {volume}", info_font, 0.90, size_px, info_ink, "centre", 1)
    else:
        _put(label, abv, info_font, 0.90, size_px, info_ink, "left", 1, x_range=(0.06, 0.52))
        _put(label, volume, info_font, 0.90, size_px, info_ink, "right", 1, x_range=(0.55, 0.94))


def _put(
    label: np.ndarray,
    words: str,
    font: int,
    row: float,
    size_px: int,
    colour: np.ndarray,
    align: str,
    thickness: int,
    *,
    x_range: tuple[float, float] = (0.06, 0.94),
) -> None:
    """Draw ``words`` with its baseline at ``row`` of the height, about ``size_px`` tall, shrunk to fit."""
    height, width = label.shape[:2]
    left, right = int(x_range[0] * width), int(x_range[1] * width)
    (_, unit_h), _ = cv2.getTextSize(words, font, 1.0, thickness)
    scale = size_px / max(unit_h, 1)
    (text_w, _), _ = cv2.getTextSize(words, font, scale, thickness)
    if text_w > right - left:
        scale *= (right - left) / text_w
        (text_w, _), _ = cv2.getTextSize(words, font, scale, thickness)
    if align == "centre":
        x = left + (right - left - text_w) // 2
    elif align == "right":
        x = right - text_w
    else:
        x = left
    draw_text(label, words, (x, int(row * height)), font, scale, colour, thickness)


def draw_text(
    image: np.ndarray,
    words: str,
    origin: tuple[int, int],
    font: int,
    scale: float,
    colour: np.ndarray,
    thickness: int,
) -> None:
    """``cv2.putText`` onto a float32 RGB image (OpenCV draws text on 8-bit images only: a mask)."""
    mask = np.zeros(image.shape[:2], dtype=np.uint8)
    cv2.putText(mask, words, origin, font, scale, 255, thickness, cv2.LINE_AA)
    _blend(image, mask, colour)


def _blend(label: np.ndarray, mask: np.ndarray, colour: np.ndarray) -> None:
    alpha = mask.astype(np.float32)[..., None] / 255.0
    label += (colour - label) * alpha


@functools.cache
def cjk_font_path() -> Path | None:
    """The first CJK font of ``CJK_FONTS`` on this machine, None when there is none."""
    return next((Path(p) for p in CJK_FONTS if Path(p).is_file()), None)


def _put_cjk(label: np.ndarray, words: str, row: float, size_px: int, colour: np.ndarray) -> None:
    """Traditional Chinese, centred with its baseline at ``row``; nothing without a CJK font."""
    path = cjk_font_path()
    if path is None:
        return
    from PIL import Image, ImageDraw, ImageFont  # Pillow comes with rapidocr-onnxruntime

    height, width = label.shape[:2]
    font = ImageFont.truetype(str(path), size_px)
    left, top, right, bottom = (round(v) for v in font.getbbox(words))
    mask = Image.new("L", (right - left + 2, bottom - top + 2), 0)
    ImageDraw.Draw(mask).text((-left + 1, -top + 1), words, font=font, fill=255)
    glyphs = np.asarray(mask, dtype=np.uint8)
    h, w = glyphs.shape
    x0, y0 = max((width - w) // 2, 5), int(row * height) - h
    h, w = min(h, height - 5 - y0), min(w, width - 5 - x0)
    _blend(label[y0 : y0 + h, x0 : x0 + w], glyphs[:h, :w], colour)
