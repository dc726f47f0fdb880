"""A second, independent liquor-label camera renderer, for evaluation only: never tune a plugin on it.

It shows the products of ``liquor.CATALOGUE`` (same catalogue ids, brands and facts) drawn in another way
than ``liquor.LiquorSimulator``, so a recogniser built on the main simulator is measured on labels and
photographs it has never seen. What differs:

- Labels carry printed text: brand, product name, ABV ("40% vol", "13.5%vol") and volume ("700ml",
  "70cl", "1L"), in OpenCV's Hershey faces (all eight, italic; OpenCV 5 draws them as its built-in
  sans and italic faces) at any scale, bold by stroke thickness, condensed or expanded, upper case or as
  written, sometimes outlined. Everything on a label follows from the product's own facts (hashes of its
  brand and product text), so a brand's products share layout, faces and colours as a shop would see
  them, and a product always looks the same. Layouts: centred in a frame, left-aligned beside a stripe,
  vertical colour bands, stacked bands; rectangular, rounded or oval labels; some with a neck label.
- Bottles are shaded glass silhouettes (whisky shoulder, tall spirit, cognac decanter, Bordeaux,
  Burgundy, long-neck and stubby beer) in their own glass colours, liquid seen through clear glass, a
  cap, specular streaks; a cast shadow; sometimes a hand holding the bottle.
- Shots: counters (wood, marble, brushed steel), a plastic tray or cloth, often under a wall; the bottle
  turned about its axis by up to +-35 degrees and tilted by up to +-12 with a small keystone, mostly close
  up; colour temperature 2800-7500 K, uneven light, glare, focus or motion blur, noise, JPEG 60-95.

``generate(seed, count)`` gives (RGB uint8 image, catalogue id) pairs, every product once in each run of
``len(CATALOGUE)`` images; ``frames`` gives the same images as red-channel camera frames.
"""

from __future__ import annotations

import itertools
import json
import math
import zlib
from dataclasses import dataclass
from typing import TypeVar

import cv2
import numpy as np

from smartcustoms.core.types import Modality
from smartcustoms.v1 import frame_pb2

from ._frames import payload_frame
from .liquor import CATALOGUE, LiquorProduct, decode, encode, product_dict

_T = TypeVar("_T")
RGB = tuple[int, int, int]
IMAGE_SHAPE = (480, 640)  # (height, width) of a camera image, pixels
LABEL_CANVAS_H = 300  # label drawing height, pixels; the width follows the bottle
LABEL_ARC_RAD = 1.25  # half the angle of the body's circumference the label covers
LABEL_BODY_SHARE = 0.55  # share of the straight body's height the label covers
LAYOUTS = ("centred", "left", "vertical_bands", "stacked")
_FONTS = (
    cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_PLAIN, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_COMPLEX,
    cv2.FONT_HERSHEY_TRIPLEX, cv2.FONT_HERSHEY_COMPLEX_SMALL, cv2.FONT_HERSHEY_SCRIPT_SIMPLEX,
    cv2.FONT_HERSHEY_SCRIPT_COMPLEX,
)  # fmt: skip
_SCHEMES = (  # (paper, ink)
    ((242, 234, 214), (25, 22, 20)), ((18, 18, 20), (214, 178, 92)), ((22, 38, 84), (240, 240, 236)),
    ((250, 250, 248), (170, 24, 30)), ((196, 160, 112), (60, 36, 18)), ((30, 72, 52), (238, 228, 200)),
    ((104, 20, 36), (232, 200, 120)), ((204, 206, 210), (12, 12, 14)),
)  # fmt: skip
_ACCENTS = ((190, 150, 60), (150, 30, 40), (30, 90, 150), (20, 110, 70), (120, 120, 125), (210, 110, 30))
# silhouette: (height from the top, radius), both fractions (of the height, of the body radius); width/height
_SILHOUETTES: dict[str, tuple[tuple[tuple[float, float], ...], float]] = {
    "shoulder": (((0, 0.36), (0.11, 0.36), (0.12, 0.3), (0.24, 0.3), (0.31, 0.92), (0.35, 1), (1, 1)), 0.36),
    "tall": (((0, 0.3), (0.13, 0.3), (0.19, 0.55), (0.26, 0.95), (0.3, 1), (1, 1)), 0.28),
    "decanter": (((0, 0.26), (0.14, 0.26), (0.2, 0.6), (0.3, 0.96), (0.5, 1), (0.94, 0.98), (1, 0.9)), 0.52),
    "bordeaux": (((0, 0.3), (0.31, 0.3), (0.37, 0.82), (0.42, 1), (1, 1)), 0.27),
    "burgundy": (((0, 0.33), (0.2, 0.33), (0.44, 0.9), (0.54, 1), (1, 1)), 0.31),
    "longneck": (((0, 0.38), (0.3, 0.38), (0.47, 0.95), (0.52, 1), (1, 1)), 0.27),
    "stubby": (((0, 0.46), (0.15, 0.46), (0.34, 0.95), (0.4, 1), (1, 1)), 0.42),
}
_CAP_SHARE = 0.07  # top share of the bottle's height that is cap
_GLASS = {  # RGB 0-1, opacity
    "flint": ((0.86, 0.9, 0.9), 0.3), "green": ((0.22, 0.46, 0.28), 0.62), "brown": ((0.5, 0.27, 0.08), 0.7),
    "cobalt": ((0.18, 0.3, 0.72), 0.6), "black": ((0.08, 0.08, 0.09), 0.93),
    "porcelain": ((0.93, 0.92, 0.88), 0.97),
}  # fmt: skip
_LIQUIDS = {"Whisky": (0.85, 0.55, 0.2), "Cognac": (0.7, 0.38, 0.12), "Rum": (0.8, 0.5, 0.2),
            "Reposado": (0.95, 0.8, 0.5), "Liqueur": (0.8, 0.5, 0.25), "Rouge": (0.45, 0.06, 0.1),
            "Shiraz": (0.4, 0.05, 0.1), "Vin": (0.42, 0.06, 0.1), "Blanc": (0.95, 0.9, 0.65),
            "Champagne": (0.95, 0.88, 0.6), "Prosecco": (0.95, 0.9, 0.65)}  # fmt: skip
CATALOGUE_BY_ID = {item.catalogue_id: item for item in CATALOGUE}


def _pick(options: tuple[_T, ...], *facts: object) -> _T:
    return options[zlib.crc32("|".join(str(fact) for fact in facts).encode()) % len(options)]


# --------------------------------------------------------------------------- product identity


def abv_text(item: LiquorProduct) -> str:
    """The ABV as this product's label prints it, e.g. "40% vol", "13.5%vol" or "43 % Vol"."""
    abv = f"{item.abv_percent:g}"
    return _pick(
        (f"{abv}% vol", f"{abv}% VOL", f"{abv}%vol", f"{abv} % Vol", f"{abv}% Vol."), item.brand, "abv"
    )


def volume_text(item: LiquorProduct) -> str:
    """The volume as this product's label prints it: "700ml", "70cl", "700 mL", "1L", "1.75L"."""
    ml, style = item.volume_ml, _pick((0, 1, 2), item.brand, "volume")
    if ml >= 1000 and (ml % 250 == 0 or style == 2):
        return f"{ml / 1000:g}L"
    if style == 1 and ml % 10 == 0:
        return f"{ml // 10}cl"
    return f"{ml}ml" if style != 2 else f"{ml} mL"


@dataclass(frozen=True, slots=True)
class Face:
    """A typeface as drawn: Hershey font id (maybe with FONT_ITALIC), weight, width, case, outline."""

    font: int
    bold: int  # 1-3, stroke thickness per unit of scale
    stretch: float  # horizontal scale of the drawn text
    upper: bool
    outline: bool


@dataclass(frozen=True, slots=True)
class Look:
    """How a product is dressed: layout, faces, colours, label outline, bottle and glass."""

    layout: str
    title: Face
    body: Face
    paper: RGB
    ink: RGB
    accent: RGB
    shape: str  # "rect", "rounded" or "oval"
    neck_label: bool
    silhouette: str
    glass: str
    cap: RGB


def look(item: LiquorProduct) -> Look:
    """The product's look, a pure function of its facts: a brand's products share layout, faces, colours."""
    b, kind, words = item.brand, (item.brand, item.product), set(item.product.split())
    glasses: tuple[str, ...]
    italic = (cv2.FONT_ITALIC, 0, 0, 0)
    title = Face(_pick(_FONTS, b, "title") | _pick(italic, b), _pick((1, 2, 3), b, "bold"),
                 _pick((0.78, 0.9, 1.0, 1.0, 1.15), b, "stretch"), _pick((True, False), b, "upper"),
                 _pick((True, False, False), b, "outline"))  # fmt: skip
    body = Face(_pick(_FONTS[:6], b, "body") | _pick(italic, *kind), _pick((1, 2), b, "weight"),
                _pick((0.85, 1.0, 1.0), b, "width"), False, False)  # fmt: skip
    if item.category == "beer":
        silhouette = _pick(("stubby", "longneck"), *kind) if item.volume_ml <= 355 else "longneck"
        glasses = ("brown", "green")
    elif item.category == "wine":
        fizz = {"Champagne", "Prosecco"} & words
        silhouette = (
            "tall" if "Sake" in words else "burgundy" if fizz else _pick(("bordeaux", "burgundy"), *kind)
        )
        glasses = ("flint", "porcelain") if "Sake" in words else ("green", "black", "flint")
    else:
        silhouette = "decanter" if "Cognac" in words else _pick(("shoulder", "tall"), *kind, item.volume_ml)
        glasses = ("flint", "flint", "brown", "black", "cobalt", "porcelain")
    layout = _pick(LAYOUTS, b, "layout")
    caps = ((20, 20, 22), (150, 120, 50), (130, 20, 28), (190, 190, 196))
    return Look(layout, title, body, *_pick(_SCHEMES, b, "scheme"), _pick(_ACCENTS, *kind, "accent"),
                _pick(("rect", "rect", "rounded", "oval"), b, "shape"),
                layout == "stacked" or _pick((True, False, False), b, "neck"), silhouette,
                _pick(glasses, *kind, "glass"), _pick(caps, b, "cap"))  # fmt: skip


# --------------------------------------------------------------------------- labels


@dataclass(frozen=True, slots=True)
class LabelArt:
    """A product's flat labels, RGBA float32 0-1 (straight alpha), and its smallest fact text height."""

    body: np.ndarray
    neck: np.ndarray | None
    fact_text_px: float  # cap height of the ABV and volume text on the body canvas, pixels


def _contrast(rgb: RGB) -> RGB:
    return (15, 15, 15) if 0.3 * rgb[0] + 0.59 * rgb[1] + 0.11 * rgb[2] > 130 else (250, 250, 244)


def _put(canvas: np.ndarray, text: str, face: Face, height_px: float, box: tuple[int, int, int],
         align: str, colour: RGB) -> tuple[float, int]:  # fmt: skip
    """One line at most ``height_px`` tall, top at box[1], fitted between box[0] and box[2].

    Returns the cap height drawn and the y just below the line."""
    x0, top, x1 = box
    text = text.upper() if face.upper else text
    (w1, h1), _ = cv2.getTextSize(text, face.font, 1.0, 1)
    scale = min(height_px / h1, (x1 - x0) / (w1 * face.stretch * 1.08))
    thickness = max(1, round(scale * (0.6 + 0.6 * face.bold)))
    (w, h), base = cv2.getTextSize(text, face.font, scale, thickness)
    m = thickness + 3
    drawn = np.zeros((h + base + 2 * m, w + 2 * m), np.uint8)
    cv2.putText(drawn, text, (m, m + h), face.font, scale, 255, thickness, cv2.LINE_AA)
    size = (max(1, round(drawn.shape[1] * face.stretch)), drawn.shape[0])
    ink = np.asarray(cv2.resize(drawn, size, interpolation=cv2.INTER_AREA))
    x = {"left": x0 - m, "centre": (x0 + x1 - ink.shape[1]) // 2, "right": x1 - ink.shape[1] + m}[align]
    layers = [(cv2.dilate(ink, np.ones((5, 5), np.uint8)), _contrast(colour))] if face.outline else []
    for mask, rgb in [*layers, (ink, colour)]:
        y0, x_0 = max(0, top - m), max(0, x)
        patch = canvas[y0 : y0 + mask.shape[0], x_0 : x_0 + mask.shape[1]]
        a = mask[y0 - (top - m) :, x_0 - x :][: patch.shape[0], : patch.shape[1], None] / 255.0
        patch[:] = (patch * (1 - a) + np.asarray(rgb) * a).astype(np.uint8)
    return float(h), int(top + h + base)


def _product_rows(item: LiquorProduct) -> list[str]:
    words = item.product.split()
    if len(item.product) <= 14 or len(words) < 2:
        return [item.product]
    cut = min(range(1, len(words)), key=lambda i: abs(len(" ".join(words[:i])) - len(item.product) / 2))
    return [" ".join(words[:cut]), " ".join(words[cut:])]


def _lines(canvas: np.ndarray, item: LiquorProduct, lk: Look, box: tuple[int, int, int, int], align: str,
           rule: RGB | None = None) -> float:  # fmt: skip
    """Brand (a rule under it), product and facts stacked in ``box``; the smallest fact text height."""
    x0, y0, x1, y1 = box
    rows = [(item.brand, lk.title, 1.5)] + [(part, lk.body, 1.0) for part in _product_rows(item)]
    unit = min(28.0, (y1 - y0) / (sum(size for *_, size in rows) * 1.6 + 3.2))
    y = float(y0)
    for n, (text, face, size) in enumerate(rows):
        y = _put(canvas, text, face, size * unit, (x0, int(y), x1), align, lk.ink)[1] + 0.45 * unit
        if n == 0 and rule is not None:
            cv2.line(canvas, (x0 + 6, int(y - 0.2 * unit)), (x1 - 6, int(y - 0.2 * unit)), rule, 2)
            y += 0.25 * unit
    fact = Face(lk.body.font, 2, lk.body.stretch, False, False)
    abv_h, below = _put(
        canvas, abv_text(item), fact, unit, (x0, int(max(y, y1 - 2.9 * unit)), x1), align, lk.ink
    )
    return min(abv_h, _put(canvas, volume_text(item), fact, unit, (x0, below + 4, x1), align, lk.ink)[0])


def _stacked(canvas: np.ndarray, item: LiquorProduct, lk: Look, pad: int) -> float:
    """A brand band on top, the product on paper, the facts in a bottom band; the smallest fact height."""
    h, w = canvas.shape[:2]
    canvas[: int(h * 0.3)], canvas[int(h * 0.74) :] = lk.accent, lk.ink
    x0, x1 = pad, w - pad
    _put(canvas, item.brand, lk.title, 36, (x0, int(h * 0.08), x1), "centre", _contrast(lk.accent))
    for i, part in enumerate(_product_rows(item)):
        _put(canvas, part, lk.body, 24, (x0, int(h * (0.36 + 0.14 * i)), x1), "centre", lk.ink)
    fact = Face(lk.body.font, 2, lk.body.stretch, False, False)
    abv_h, below = _put(canvas, abv_text(item), fact, 24, (x0, int(h * 0.77), x1), "centre", lk.paper)
    return min(abv_h, _put(canvas, volume_text(item), fact, 24, (x0, below + 4, x1), "centre", lk.paper)[0])


def _outline(shape: str, h: int, w: int) -> np.ndarray:
    """The label's alpha: a rectangle, a rounded rectangle, or an oval the canvas corners fall outside."""
    alpha = np.full((h, w), 255 if shape == "rect" else 0, np.uint8)
    if shape == "oval":
        cv2.ellipse(
            alpha, (w // 2, h // 2), (w // 2 + w // 7, h // 2 + h // 12), 0, 0, 360, 255, -1, cv2.LINE_AA
        )
    elif shape == "rounded":
        r = w // 8
        cv2.rectangle(alpha, (r, 0), (w - r, h), 255, -1)
        cv2.rectangle(alpha, (0, r), (w, h - r), 255, -1)
        for cx, cy in itertools.product((r, w - r), (r, h - r)):
            cv2.circle(alpha, (cx, cy), r, 255, -1, cv2.LINE_AA)
    return alpha


def label_art(item: LiquorProduct) -> LabelArt:
    """The product's labels, drawn from its facts alone (the same product always gives the same art)."""
    lk = look(item)
    profile, aspect = _SILHOUETTES[lk.silhouette]
    body_top = next(y for y, r in profile if r >= 0.95)  # canvas width keeps the text undistorted
    h = LABEL_CANVAS_H
    w = round(h * LABEL_ARC_RAD * aspect / ((1 - body_top) * LABEL_BODY_SHARE))
    canvas = np.empty((h, w, 3), np.uint8)
    canvas[:] = lk.paper
    pad = int(w * 0.2)  # text keeps to the middle so that a turned bottle still shows it
    if lk.layout == "centred":
        cv2.rectangle(canvas, (pad // 2, 8), (w - pad // 2, h - 9), lk.accent, 3)
        cv2.rectangle(canvas, (pad // 2 + 7, 15), (w - pad // 2 - 7, h - 16), lk.ink, 1)
        fact_px = _lines(canvas, item, lk, (pad, 26, w - pad, h - 24), "centre", rule=lk.accent)
    elif lk.layout == "left":
        canvas[:, : int(pad * 1.1)] = lk.accent
        cv2.line(canvas, (int(pad * 1.1) + 4, 0), (int(pad * 1.1) + 4, h), lk.ink, 2)
        fact_px = _lines(canvas, item, lk, (int(pad * 1.4), 20, w - pad, h - 18), "left")
    elif lk.layout == "vertical_bands":
        canvas[:, : pad - 4], canvas[:, w - pad + 4 :] = lk.accent, lk.accent
        canvas[:, pad - 4 : pad], canvas[:, w - pad : w - pad + 4] = lk.ink, lk.ink
        fact_px = _lines(canvas, item, lk, (pad + 6, 22, w - pad - 6, h - 20), "centre")
    else:
        fact_px = _stacked(canvas, item, lk, pad)
    body = np.dstack([canvas, _outline(lk.shape, h, w)]).astype(np.float32) / 255
    return LabelArt(body, _neck_label(item, lk) if lk.neck_label else None, fact_px)


def _neck_label(item: LiquorProduct, lk: Look) -> np.ndarray:
    """A band round the neck: the brand's initials between two rules."""
    canvas = np.empty((60, 200, 3), np.uint8)
    canvas[:], on_accent = lk.accent, _contrast(lk.accent)
    cv2.line(canvas, (0, 5), (200, 5), on_accent, 2)
    cv2.line(canvas, (0, 54), (200, 54), on_accent, 2)
    initials = "".join(word[0] for word in item.brand.split()).upper()
    _put(canvas, initials, lk.title, 30, (40, 14, 160), "centre", on_accent)
    return np.dstack([canvas, np.full((60, 200), 255, np.uint8)]).astype(np.float32) / 255


# --------------------------------------------------------------------------- bottles


@dataclass(frozen=True, slots=True)
class _Sprite:
    """An upright bottle at image scale: premultiplied colour, light let through, rows of the label."""

    colour: np.ndarray  # float32 (h, w, 3)
    transmission: np.ndarray  # float32 (h, w, 3), 1 where there is no bottle
    label_rows: tuple[int, int]


def _bands(silhouette: str) -> tuple[tuple[float, float], tuple[float, float]]:
    """Body label and neck label spans down the bottle, fractions of its height."""
    profile, _ = _SILHOUETTES[silhouette]
    body_top = next(y for y, r in profile if r >= 0.95)
    top = body_top + (1 - body_top) * (1 - LABEL_BODY_SHARE) * 0.45
    n0, n1 = [(a[0], b[0]) for a, b in itertools.pairwise(profile) if a[1] == b[1] < 0.5][-1]
    n0 = max(n0, _CAP_SHARE + 0.01)
    return (top, top + (1 - body_top) * LABEL_BODY_SHARE), (n0, min(n1, n0 + 0.06))


def _wrap(flat: np.ndarray, xn: np.ndarray, rows: np.ndarray, turn_rad: float, arc_rad: float) -> np.ndarray:
    """A flat label wrapped round a cylinder: xn across it (-1..1), rows down the label (0..1)."""
    theta = np.arcsin(xn) + turn_rad
    mapx = ((theta / arc_rad + 1) / 2 * (flat.shape[1] - 1)).astype(np.float32)
    mapy = np.broadcast_to(rows[:, None] * (flat.shape[0] - 1), xn.shape).astype(np.float32)
    return np.asarray(
        cv2.remap(flat, mapx, mapy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    )


def _bottle(rng: np.random.Generator, item: LiquorProduct, art: LabelArt, height_px: int, turn_rad: float,
            light_x: float) -> _Sprite:  # fmt: skip
    lk = look(item)
    profile, aspect = _SILHOUETTES[lk.silhouette]
    radius, w = aspect / 2 * height_px, int(aspect * height_px * 1.7) + 4  # room for a hand beside it
    y = (np.arange(height_px, dtype=np.float32) + 0.5) / height_px
    r = np.interp(y, [p[0] for p in profile], [p[1] for p in profile]).astype(np.float32) * radius
    x = np.arange(w, dtype=np.float32) - w / 2 + 0.5
    cover = np.clip(r[:, None] - np.abs(x)[None, :] + 0.5, 0, 1)[..., None]
    xn = np.clip(x[None, :] / r[:, None], -0.999, 0.999)
    lit = np.clip(light_x * xn + math.sqrt(1 - light_x**2) * np.sqrt(1 - xn**2), 0, 1)[..., None]
    glass, opacity = np.asarray(_GLASS[lk.glass][0], np.float32), _GLASS[lk.glass][1]
    op = opacity + (1 - opacity) * 0.6 * np.abs(xn[..., None]) ** 4  # glass looks denser at the edges
    liquid = next((rgb for word, rgb in _LIQUIDS.items() if word in item.product), (0.97, 0.97, 0.97))
    filled = (y > rng.uniform(0.2, 0.35))[:, None, None]
    colour = glass * (0.3 + 0.7 * lit) * op
    transmission = (1 - op) * glass * np.where(filled, np.asarray(liquid, np.float32), 1)
    cap = (y < _CAP_SHARE)[:, None, None]
    colour = np.where(cap, np.asarray(lk.cap, np.float32) / 255 * (0.4 + 0.8 * lit), colour)
    transmission = np.where(cap, 0, transmission)
    (b0, b1), (n0, n1) = _bands(lk.silhouette)
    gloss, matte = rng.uniform(0.1, 0.6), np.ones_like(cover)
    for flat, top, bottom, arc in [(art.body, b0, b1, LABEL_ARC_RAD), (art.neck, n0, n1, 2.4)]:
        if flat is not None:
            drawn = _wrap(flat, xn, (y - top) / (bottom - top), turn_rad, arc)
            a = drawn[..., 3:] * cover
            colour = colour * (1 - a) + a * drawn[..., :3] * (0.35 + 0.65 * lit)
            transmission, matte = transmission * (1 - a), matte * (1 - a * (1 - gloss))
    at = -0.55 * light_x + rng.uniform(-0.1, 0.1)  # a window's reflection: a sharp and a soft streak
    streak = 0.8 * np.exp(-(((xn - at) / 0.06) ** 2)) + 0.25 * np.exp(-(((xn - at - 0.3) / 0.1) ** 2))
    along = np.interp(y, np.linspace(0, 1, 6), rng.uniform(0.5, 1.0, 6))[:, None]
    colour = (colour + (streak * along)[..., None] * matte) * cover
    transmission = transmission * cover + (1 - cover)
    _hand(rng, colour, transmission, r, b1, n1)
    return _Sprite(
        colour.astype(np.float32), transmission.astype(np.float32), (int(b0 * height_px), int(b1 * height_px))
    )


def _hand(rng: np.random.Generator, colour: np.ndarray, transmission: np.ndarray, r: np.ndarray,
          label_end: float, neck_end: float) -> None:  # fmt: skip
    """Sometimes a hand holds the bottle by the neck or below the label (drawn into the sprite)."""
    if rng.random() > 0.3:
        return
    h, w = colour.shape[:2]
    y0 = int(h * (neck_end + 0.02 if rng.random() < 0.5 else min(0.9, label_end + 0.03)))
    side, finger = int(rng.choice((-1, 1))), max(3, int(h * 0.026))
    mask = np.zeros((h, w), np.uint8)
    for i in range(4):
        row = min(h - 1, y0 + i * (finger + 2))
        start, tip = int(w / 2 - side * r[row] * 1.1), int(w / 2 + side * r[row] * rng.uniform(0.3, 0.8))
        cv2.line(mask, (start, row), (tip, row), 255, finger, cv2.LINE_AA)
    palm = (int(w / 2 - side * r[y0] * 1.45), y0 + 2 * finger)
    cv2.ellipse(mask, palm, (max(4, int(r[y0] * 0.45)), 3 * finger), 0, 0, 360, 255, -1, cv2.LINE_AA)
    cv2.line(mask, palm, (0 if side > 0 else w - 1, palm[1] + 4 * finger), 255, 5 * finger)
    depth = cv2.distanceTransform((mask > 127).astype(np.uint8), cv2.DIST_L2, 3)
    shade = (0.45 + 0.55 * np.sqrt(np.clip(depth / (finger / 2), 0, 1)))[..., None]
    skin = np.asarray(_pick_rng(rng, ((0.87, 0.67, 0.53), (0.62, 0.43, 0.3), (0.95, 0.78, 0.66))), np.float32)
    m = (mask.astype(np.float32) / 255)[..., None]
    colour[:] = colour * (1 - m) + m * shade * skin
    transmission[:] = transmission * (1 - m)


# --------------------------------------------------------------------------- scenes


def _pick_rng(rng: np.random.Generator, options: tuple[_T, ...]) -> _T:
    return options[int(rng.integers(len(options)))]


def _background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A counter top (wood, marble, brushed steel), a plastic tray or cloth, often under a wall."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    turb = cv2.resize(rng.uniform(-1, 1, (5, 7)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    kind = int(rng.integers(5))
    if kind == 0:  # wood
        grain = 0.5 + 0.5 * np.sin(yy * rng.uniform(0.04, 0.12) + turb * 7 + xx * 0.01)
        base, tex = (
            _pick_rng(rng, ((0.55, 0.36, 0.2), (0.72, 0.55, 0.36), (0.33, 0.21, 0.12))),
            0.75 + 0.3 * grain**3,
        )
    elif kind == 1:  # marble or granite
        veins = np.abs(np.sin((xx + yy) * 0.015 + turb * 6)) ** 0.3
        base, tex = _pick_rng(rng, ((0.9, 0.9, 0.87), (0.3, 0.3, 0.32))), 0.8 + 0.2 * veins
    elif kind == 2:  # brushed steel
        brushed = cv2.blur(rng.normal(0, 1, (h, w)).astype(np.float32), (61, 1))
        base, tex = (0.68, 0.7, 0.72), 0.85 + 0.6 * brushed + 0.08 * turb
    elif kind == 3:  # a tray with a raised rim
        rim = np.zeros((h, w), np.float32)
        inset = int(rng.integers(10, 60))
        cv2.rectangle(rim, (inset, inset), (w - inset, h - inset), 1.0, int(rng.integers(8, 20)))
        base = _pick_rng(rng, ((0.2, 0.35, 0.55), (0.75, 0.75, 0.72), (0.55, 0.15, 0.12)))
        tex = 1 + 0.04 * turb - 0.35 * cv2.GaussianBlur(rim, (0, 0), 3)
    else:  # cloth
        base, tex = (
            (0.18, 0.22, 0.2),
            0.9 + 0.1 * cv2.GaussianBlur(rng.normal(0, 1, (h, w)).astype(np.float32), (0, 0), 0.8),
        )
    image = np.asarray(base, np.float32) * tex[..., None]
    if rng.random() < 0.6:
        horizon = int(h * rng.uniform(0.06, 0.35))
        image[:horizon] = rng.uniform(0.45, 0.9, 3) * (0.92 + 0.08 * turb[:horizon, :, None])
        image[horizon : horizon + 3] *= 0.6
    return np.asarray(image, np.float32)


def _light(rng: np.random.Generator, image: np.ndarray, glare_at: tuple[float, float]) -> np.ndarray:
    """Colour temperature, uneven light and sometimes a specular glare near ``glare_at`` (x, y)."""
    h, w = image.shape[:2]
    kelvin = rng.uniform(2800, 7500)
    warm, cool = np.clip((5500 - kelvin) / 2700, 0, 1), np.clip((kelvin - 5500) / 2000, 0, 1)
    white = 1 + (np.array([1.0, 0.8, 0.58]) - 1) * warm + (np.array([0.86, 0.94, 1.08]) - 1) * cool
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    angle, spread = rng.uniform(0, 2 * math.pi), rng.uniform(0, 0.3)
    ramp = 1 + spread * ((xx - w / 2) * math.cos(angle) + (yy - h / 2) * math.sin(angle)) / max(h, w)
    lit = image * (rng.uniform(0.6, 1.2) * ramp)[..., None] * white.astype(np.float32)
    if rng.random() < 0.5:
        gx, gy = glare_at[0] + rng.normal(0, 20), glare_at[1] + rng.normal(0, 60)
        blob = np.exp(-(((xx - gx) / rng.uniform(6, 25)) ** 2) - ((yy - gy) / rng.uniform(15, 60)) ** 2)
        lit = lit + rng.uniform(0.3, 0.9) * blob[..., None]
    return np.asarray(lit, np.float32)


def _degrade(rng: np.random.Generator, image: np.ndarray) -> np.ndarray:
    """Focus or motion blur, then shot and read noise; RGB uint8."""
    if rng.random() < 0.5:
        image = cv2.GaussianBlur(image, (0, 0), rng.uniform(0.3, 1.5))
    else:
        n = int(rng.integers(3, 8))
        line = np.zeros((n, n), np.float32)
        line[n // 2] = 1
        spin = cv2.getRotationMatrix2D(((n - 1) / 2, (n - 1) / 2), rng.uniform(0, 180), 1)
        kernel = np.asarray(cv2.warpAffine(line, spin, (n, n)), np.float32)
        image = cv2.filter2D(image, -1, (kernel / max(float(kernel.sum()), 1e-6)).astype(np.float32))
    clean = np.clip(image, 0, 1)
    noisy = clean + rng.normal(0, 1, image.shape) * (rng.uniform(0.004, 0.02) + 0.02 * np.sqrt(clean))
    return np.asarray(np.clip(noisy * 255 + 0.5, 0, 255).astype(np.uint8))


# --------------------------------------------------------------------------- shots and frames


@dataclass(frozen=True, slots=True)
class Shot:
    """One camera image before JPEG coding, and how it was taken."""

    image: np.ndarray  # RGB uint8 (H, W, 3)
    catalogue_id: str
    jpeg_quality: int
    turn_deg: float
    tilt_deg: float
    fact_text_px: float  # cap height of the ABV and volume text on the image (bottle's front), pixels


def _product_at(seed: int, index: int) -> LiquorProduct:
    cycle, position = divmod(index, len(CATALOGUE))
    return CATALOGUE[int(np.random.default_rng([seed, cycle, 2]).permutation(len(CATALOGUE))[position])]


def render(seed: int, index: int) -> Shot:
    """Image number ``index`` of run ``seed``: each run of len(CATALOGUE) images shows every product."""
    if seed < 0 or index < 0:
        raise ValueError("seed and index must be non-negative")
    rng, item = np.random.default_rng([seed, index, 1]), _product_at(seed, index)
    h, w = IMAGE_SHAPE
    turn, tilt, keystone = rng.uniform(-35, 35), rng.uniform(-12, 12), rng.uniform(-0.06, 0.06)
    height_px = int(h * (rng.uniform(0.85, 0.98) if rng.random() < 0.25 else rng.uniform(1.05, 1.5)))
    art = label_art(item)
    sprite = _bottle(rng, item, art, height_px, math.radians(turn), rng.uniform(-0.7, 0.7))
    sh, sw = sprite.colour.shape[:2]
    label_mid = sum(sprite.label_rows) / 2
    cx = w / 2 + rng.uniform(-0.3, 0.3) * w  # close-ups keep the label in view, whole bottles stand
    cy = h * rng.uniform(0.42, 0.58) + sh / 2 - label_mid if height_px > h else h * rng.uniform(0.5, 0.53)
    corners = np.array([[-1 + keystone, -1], [1 - keystone, -1], [1 + keystone, 1], [-1 - keystone, 1]])
    c, s = math.cos(math.radians(tilt)), math.sin(math.radians(tilt))
    dst = (corners * [sw / 2, sh / 2]) @ np.array([[c, s], [-s, c]]) + [cx, cy]
    src = np.array([[0, 0], [sw, 0], [sw, sh], [0, sh]], np.float32)
    homography = cv2.getPerspectiveTransform(src, dst.astype(np.float32))
    colour = cv2.warpPerspective(sprite.colour, homography, (w, h), flags=cv2.INTER_LINEAR, borderValue=0)
    passed = cv2.warpPerspective(sprite.transmission, homography, (w, h), borderValue=(1, 1, 1))
    scene = _background(rng, h, w)
    shadow = cv2.GaussianBlur(1 - passed.mean(axis=2), (0, 0), 12)
    shift = np.array([[1, 0, rng.uniform(-40, 40)], [0, 1, rng.uniform(0, 25)]], np.float32)
    scene *= (1 - 0.5 * cv2.warpAffine(shadow, shift, (w, h)))[..., None]
    image = _degrade(rng, _light(rng, scene * passed + colour, (cx, cy - sh / 2 + label_mid)))
    label_px = (sprite.label_rows[1] - sprite.label_rows[0]) * (1 - abs(keystone))
    fact_px = art.fact_text_px * label_px / LABEL_CANVAS_H
    return Shot(image, item.catalogue_id, int(rng.integers(60, 96)), turn, tilt, fact_px)


def generate(seed: int, count: int) -> list[tuple[np.ndarray, str]]:
    """``count`` (RGB uint8 image after JPEG coding, catalogue id) pairs of run ``seed``."""
    shots = [render(seed, index) for index in range(count)]
    return [(decode(encode(s.image, "jpeg", quality=s.jpeg_quality)), s.catalogue_id) for s in shots]


def frames(seed: int, count: int, source_id: str) -> list[frame_pb2.Frame]:
    """``generate``'s images as red-channel JPEG camera frames; each traveller carries 1-3 bottles.

    Metadata: camera_role "red_channel", traveller_id, and sim_truth (the product and the pose) for
    evaluation only. Decoding a payload gives ``generate``'s image."""
    grouping, out, traveller, left = np.random.default_rng([seed, 3]), [], 0, 0
    for index in range(count):
        if left == 0:
            traveller, left = traveller + 1, int(grouping.integers(1, 4))
        left -= 1
        shot = render(seed, index)
        truth = {**product_dict(CATALOGUE_BY_ID[shot.catalogue_id]), "renderer": "liquor_alt",
                 "turn_deg": round(shot.turn_deg, 2), "tilt_deg": round(shot.tilt_deg, 2)}  # fmt: skip
        metadata = {"camera_role": "red_channel", "traveller_id": f"alt-{seed}-{traveller:04d}",
                    "sim_truth": json.dumps(truth)}  # fmt: skip
        payload = encode(shot.image, "jpeg", quality=shot.jpeg_quality)
        out.append(payload_frame(payload, modality=Modality.CAMERA, source_id=source_id, sequence=index,
                                 encoding="jpeg", shape=shot.image.shape, metadata=metadata))  # fmt: skip
    return out
