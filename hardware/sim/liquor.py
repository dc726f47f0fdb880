"""Liquor bottle camera simulator for smart liquor duty assessment: labels from a catalogue, on bottles.

``CATALOGUE`` lists products (brand, product, category, ABV, volume, reference price in HKD). Every
product has a label drawn procedurally and deterministically from its catalogue id (``label_image``): a
background colour and pattern (bands, stripes, checks, diagonals, dots or a gradient), an emblem, a
border and rows of text-like glyph strokes, so labels are distinct enough to match. The brands are
invented; any likeness to a real label is accidental.

A camera frame (``LiquorSimulator.generate``) shows one bottle of a drawn product on a counter: the
label wraps around the cylindrical body (the bottle turned about its axis by up to +-25 degrees), the
bottle tilted by up to +-8 degrees, scaled 0.8-1.1 and moved a little; light varies in level, colour and
direction; the image is blurred (focus or motion) and carries sensor noise. Truth is the catalogue id.
Images are RGB uint8 (H, W, 3); ``encode`` makes PNG or JPEG bytes with OpenCV.
"""

from __future__ import annotations

import json
import math
import zlib
from dataclasses import dataclass

import cv2
import numpy as np

from smartcustoms.core.types import Modality
from smartcustoms.v1 import frame_pb2

from ._frames import payload_frame
from .duty import liquor_duty_hkd

CATEGORIES = ("spirit", "wine", "beer")
LABEL_SHAPE = (160, 240)  # (height, width) of a label image, pixels
LABEL_ARC_RAD = math.radians(70)  # half the angle of the bottle's circumference the label covers
ENCODINGS = ("jpeg", "png")


@dataclass(frozen=True, slots=True)
class LiquorProduct:
    catalogue_id: str
    brand: str
    product: str
    category: str
    abv_percent: float
    volume_ml: int
    reference_price_hkd: float
    glass: tuple[int, int, int]  # RGB of the bottle

    @property
    def duty_hkd(self) -> float:
        """Duty on one bottle at the reference price (Hong Kong rules, see ``duty``)."""
        return liquor_duty_hkd(self.abv_percent, self.volume_ml, self.reference_price_hkd)


_CLEAR, _GREEN, _AMBER, _BLUE, _WHITE, _DARK = (
    (200, 210, 205),
    (40, 90, 50),
    (120, 60, 20),
    (40, 70, 140),
    (235, 235, 228),
    (30, 30, 32),
)
CATALOGUE = (
    LiquorProduct("LQ-0001", "Glen Corrach", "12 Year Single Malt Whisky", "spirit", 40, 700, 480, _CLEAR),
    LiquorProduct("LQ-0002", "Glen Corrach", "18 Year Single Malt Whisky", "spirit", 43, 700, 1380, _CLEAR),
    LiquorProduct("LQ-0003", "Kessington", "Blended Scotch Whisky", "spirit", 40, 1000, 260, _AMBER),
    LiquorProduct("LQ-0004", "Maison Delaurier", "VSOP Cognac", "spirit", 40, 700, 520, _AMBER),
    LiquorProduct("LQ-0005", "Maison Delaurier", "XO Cognac", "spirit", 40, 700, 1680, _DARK),
    LiquorProduct("LQ-0006", "Maison Delaurier", "XO Cognac Magnum", "spirit", 40, 1500, 3400, _DARK),
    LiquorProduct("LQ-0007", "Chishui Heritage", "Sauce-aroma Baijiu", "spirit", 53, 500, 2980, _WHITE),
    LiquorProduct("LQ-0008", "Wuliang Spring", "Five-grain Baijiu", "spirit", 52, 500, 1180, _CLEAR),
    LiquorProduct("LQ-0009", "Nordvik", "Vodka", "spirit", 40, 750, 180, _CLEAR),
    LiquorProduct("LQ-0010", "Nordvik", "Vodka", "spirit", 40, 1750, 380, _CLEAR),
    LiquorProduct("LQ-0011", "Hartwell", "London Dry Gin", "spirit", 43, 700, 260, _BLUE),
    LiquorProduct("LQ-0012", "Cayo Negro", "Anejo Rum", "spirit", 40, 700, 230, _AMBER),
    LiquorProduct("LQ-0013", "Agave Real", "Reposado Tequila", "spirit", 38, 750, 340, _CLEAR),
    LiquorProduct("LQ-0014", "Kaito", "Pure Malt Japanese Whisky", "spirit", 43, 700, 780, _AMBER),
    LiquorProduct("LQ-0015", "Villa Mandorla", "Almond Liqueur", "spirit", 28, 700, 190, _AMBER),
    LiquorProduct("LQ-0016", "Sakura Mist", "Junmai Daiginjo Sake", "wine", 15, 720, 420, _WHITE),
    LiquorProduct("LQ-0017", "Chateau Lavergne", "Bordeaux Rouge", "wine", 13.5, 750, 150, _GREEN),
    LiquorProduct("LQ-0018", "Chateau Lavergne", "Grand Vin 2015", "wine", 14, 750, 1200, _DARK),
    LiquorProduct("LQ-0019", "Domaine Aubry", "Champagne Brut", "wine", 12, 750, 420, _GREEN),
    LiquorProduct("LQ-0020", "Marlow Creek", "Sauvignon Blanc", "wine", 12.5, 750, 130, _CLEAR),
    LiquorProduct("LQ-0021", "Barossa Ridge", "Shiraz", "wine", 14.5, 750, 260, _DARK),
    LiquorProduct("LQ-0022", "Colle Verde", "Prosecco", "wine", 11, 750, 120, _GREEN),
    LiquorProduct("LQ-0023", "Harbour", "Lager", "beer", 5, 330, 18, _GREEN),
    LiquorProduct("LQ-0024", "Harbour", "Lager", "beer", 5, 640, 30, _GREEN),
    LiquorProduct("LQ-0025", "Lion Rock", "India Pale Ale", "beer", 6.5, 330, 35, _AMBER),
    LiquorProduct("LQ-0026", "Black Dragon", "Imperial Stout", "beer", 7, 500, 40, _DARK),
    LiquorProduct("LQ-0027", "Qingshan", "Pilsner", "beer", 4.7, 500, 22, _GREEN),
    LiquorProduct("LQ-0028", "Alpenhof", "Weissbier", "beer", 5.4, 500, 32, _AMBER),
)  # fmt: skip
_BY_ID = {p.catalogue_id: p for p in CATALOGUE}


def product(catalogue_id: str) -> LiquorProduct:
    if catalogue_id not in _BY_ID:
        raise ValueError(f"no product {catalogue_id!r} in the catalogue")
    return _BY_ID[catalogue_id]


# --------------------------------------------------------------------------- labels


def _hsv_rgb(
    rng: np.random.Generator, saturation: tuple[float, float], value: tuple[float, float]
) -> np.ndarray:
    hsv = np.array([[[rng.uniform(0, 180), 255 * rng.uniform(*saturation), 255 * rng.uniform(*value)]]])
    return np.asarray(cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB)[0, 0], dtype=np.float32)


def label_image(item: LiquorProduct) -> np.ndarray:
    """The product's label as printed, RGB uint8 ``LABEL_SHAPE``: the reference a matcher compares with."""
    rng = np.random.default_rng(zlib.crc32(item.catalogue_id.encode()))
    height, width = LABEL_SHAPE
    light = item.category == "wine" or rng.random() < 0.3
    background = _hsv_rgb(rng, (0.05, 0.3), (0.85, 1.0)) if light else _hsv_rgb(rng, (0.5, 1.0), (0.25, 0.8))
    accent = _hsv_rgb(rng, (0.6, 1.0), (0.5, 1.0))
    ink = np.array([25.0, 20.0, 20.0]) if light else np.array([240.0, 230.0, 200.0])
    label = np.empty((height, width, 3), dtype=np.float32)
    label[:] = background
    _pattern(rng, label, accent)
    _emblem(rng, label, accent, ink)
    _glyph_rows(rng, label, ink, accent)
    cv2.rectangle(label, (3, 3), (width - 4, height - 4), tuple(float(c) for c in accent), 3)
    return np.clip(label, 0, 255).astype(np.uint8)


def _pattern(rng: np.random.Generator, label: np.ndarray, accent: np.ndarray) -> None:
    height, width = label.shape[:2]
    y, x = np.mgrid[0:height, 0:width]
    kind, period = int(rng.integers(6)), int(rng.integers(10, 30))
    strength = rng.uniform(0.25, 0.6)
    if kind == 0:  # horizontal bands
        mask = ((y // period) % 2 == 0) & ((y < height * 0.3) | (y > height * 0.8))
    elif kind == 1:  # vertical stripes
        mask = (x // period) % 2 == 0
    elif kind == 2:  # checks
        mask = ((x // period) + (y // period)) % 2 == 0
    elif kind == 3:  # diagonal stripes
        mask = ((x + y) // period) % 2 == 0
    elif kind == 4:  # dots
        mask = ((x % period - period / 2) ** 2 + (y % period - period / 2) ** 2) < (period / 4) ** 2
    else:  # gradient band
        weight = np.clip(1 - np.abs(y - rng.uniform(0.2, 0.8) * height) / (0.3 * height), 0, 1)
        label += (accent - label) * (strength * weight)[..., None]
        return
    label[mask] += (accent - label[mask]) * strength


def _emblem(rng: np.random.Generator, label: np.ndarray, accent: np.ndarray, ink: np.ndarray) -> None:
    height, width = label.shape[:2]
    cx, cy = int(rng.uniform(0.2, 0.8) * width), int(rng.uniform(0.2, 0.45) * height)
    size = int(rng.integers(14, 30))
    colour = tuple(float(c) for c in (accent * 0.6 + ink * 0.4))
    shape = int(rng.integers(4))
    if shape == 0:
        cv2.circle(label, (cx, cy), size, colour, -1)
        cv2.circle(label, (cx, cy), size // 2, tuple(float(c) for c in ink), 2)
    elif shape == 1:
        diamond = np.array([[cx, cy - size], [cx + size, cy], [cx, cy + size], [cx - size, cy]], np.int32)
        cv2.fillPoly(label, [diamond], colour)
    elif shape == 2:
        triangle = np.array([[cx, cy - size], [cx + size, cy + size], [cx - size, cy + size]], np.int32)
        cv2.fillPoly(label, [triangle], colour)
    else:  # crest
        crest = np.array(
            [
                [cx - size, cy - size],
                [cx + size, cy - size],
                [cx + size, cy],
                [cx, cy + size],
                [cx - size, cy],
            ],
            np.int32,
        )
        cv2.fillPoly(label, [crest], colour)
        cv2.polylines(label, [crest], True, tuple(float(c) for c in ink), 2)


def _glyph_rows(rng: np.random.Generator, label: np.ndarray, ink: np.ndarray, accent: np.ndarray) -> None:
    """Rows of text-like strokes: a large brand line, a product line, small print (ABV, volume)."""
    height, width = label.shape[:2]
    rows = [
        (0.55, int(rng.integers(14, 20)), ink),
        (0.72, int(rng.integers(8, 12)), accent * 0.5 + ink * 0.5),
    ]
    rows += [(0.86, 6, ink)]
    for row_y, glyph_h, colour in rows:
        y0 = int(row_y * height)
        x = int(rng.uniform(0.08, 0.2) * width)
        stop = int(rng.uniform(0.8, 0.92) * width)
        while x < stop:
            for _ in range(int(rng.integers(2, 8))):  # a word
                glyph_w = max(2, int(glyph_h * rng.uniform(0.35, 0.75)))
                top = y0 - int(glyph_h * rng.uniform(0.6, 1.0))
                cv2.rectangle(label, (x, top), (x + glyph_w - 1, y0), tuple(float(c) for c in colour), -1)
                x += glyph_w + max(1, glyph_h // 6)
                if x >= stop:
                    break
            x += glyph_h // 2


# --------------------------------------------------------------------------- scenes


@dataclass(frozen=True, slots=True, eq=False)
class LiquorFrame:
    """One camera frame: RGB uint8 (H, W, 3) and what it shows.

    label_box: (x_min, y_min, x_max, y_max) of the label on the image, max exclusive; pose: bottle tilt
    (degrees, clockwise), scale, turn about its axis (degrees); light_gain and blur_px describe the shot.
    """

    image: np.ndarray
    catalogue_id: str
    label_box: tuple[int, int, int, int]
    tilt_deg: float
    scale: float
    turn_deg: float
    light_gain: float
    blur_px: float

    @property
    def product(self) -> LiquorProduct:
        return _BY_ID[self.catalogue_id]


@dataclass(frozen=True, slots=True)
class _Bottle:
    """Bottle outline in canonical pixels: body width and height, shoulder, neck, cap."""

    body_w: float
    body_h: float
    shoulder_h: float
    neck_w: float
    neck_h: float


def _bottle_shape(item: LiquorProduct, height: int) -> _Bottle:
    """Proportions by category and volume; the bottle's full height is ~80% of the image at scale 1."""
    total = 0.8 * height
    if item.category == "beer":
        body_h, neck_h, width = 0.55 * total, 0.3 * total, 0.24 * total
    elif item.category == "wine":
        body_h, neck_h, width = 0.6 * total, 0.28 * total, 0.26 * total
    else:
        body_h, neck_h, width = 0.64 * total, 0.2 * total, 0.32 * total
    width *= (item.volume_ml / 750) ** 0.25
    return _Bottle(width, body_h, total - body_h - neck_h, 0.1 * total, neck_h)


class LiquorSimulator:
    """Deterministic camera frames of catalogue bottles: the same (seed, index) gives the same frame."""

    def __init__(
        self, seed: int, height: int = 480, width: int = 640, *, catalogue_ids: tuple[str, ...] = ()
    ) -> None:
        if seed < 0:
            raise ValueError("seed must be non-negative")
        if height < 64 or width < 64:
            raise ValueError("height and width must be at least 64 pixels")
        for catalogue_id in catalogue_ids:
            product(catalogue_id)
        self.seed, self.height, self.width = seed, height, width
        self.catalogue_ids = catalogue_ids or tuple(p.catalogue_id for p in CATALOGUE)
        self._labels = {cid: label_image(_BY_ID[cid]).astype(np.float32) for cid in self.catalogue_ids}

    def generate(self, index: int, *, catalogue_id: str | None = None) -> LiquorFrame:
        """Frame number ``index``, of a drawn product or of ``catalogue_id``."""
        if index < 0:
            raise ValueError("index must be non-negative")
        rng = np.random.default_rng([self.seed, index])
        drawn = self.catalogue_ids[int(rng.integers(len(self.catalogue_ids)))]
        item = product(catalogue_id or drawn)
        tilt, scale, turn = rng.uniform(-8, 8), rng.uniform(0.8, 1.1), rng.uniform(-25, 25)
        shift = rng.uniform(-0.08, 0.08, 2) * (self.width, self.height)
        canvas, alpha, label_corners = self._bottle(item, math.radians(turn))
        center = (self.width / 2, self.height / 2)
        matrix = cv2.getRotationMatrix2D(center, -tilt, scale)
        matrix[:, 2] = matrix[:, 2] + shift
        size = (self.width, self.height)
        bottle = cv2.warpAffine(canvas, matrix, size, flags=cv2.INTER_LINEAR)
        coverage = cv2.warpAffine(alpha, matrix, size, flags=cv2.INTER_LINEAR)[..., None]
        image = self._background(rng)
        image += (bottle - image) * coverage
        gain = rng.uniform(0.65, 1.3)
        image = self._light(rng, image, gain)
        blur = self._blur(rng, image)
        sigma = np.float32(rng.uniform(1.0, 4.0))
        image = blur[0] + rng.standard_normal(image.shape, dtype=np.float32) * sigma
        corners = np.hstack([label_corners, np.ones((4, 1))]) @ matrix.T
        box = (
            int(max(math.floor(corners[:, 0].min()), 0)),
            int(max(math.floor(corners[:, 1].min()), 0)),
            int(min(math.ceil(corners[:, 0].max()), self.width)),
            int(min(math.ceil(corners[:, 1].max()), self.height)),
        )
        frozen = np.clip(image, 0, 255).astype(np.uint8)
        frozen.flags.writeable = False
        return LiquorFrame(frozen, item.catalogue_id, box, tilt, scale, turn, gain, blur[1])

    def _background(self, rng: np.random.Generator) -> np.ndarray:
        """A counter: a colour with a vertical gradient and a coarse texture."""
        base = _hsv_rgb(rng, (0.0, 0.3), (0.35, 0.8))
        y = np.linspace(-0.15, 0.15, self.height, dtype=np.float32)[:, None, None]
        coarse = rng.normal(0, 6, (self.height // 16 + 1, self.width // 16 + 1)).astype(np.float32)
        texture = cv2.resize(coarse, (self.width, self.height), interpolation=cv2.INTER_CUBIC)
        return np.asarray(base * (1 + y) + texture[..., None], dtype=np.float32)

    def _bottle(self, item: LiquorProduct, turn: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The upright bottle centred on a canvas: RGB, alpha and the label's corners (x, y)."""
        shape = _bottle_shape(item, self.height)
        cx, bottom = self.width / 2, self.height / 2 + 0.4 * self.height
        body_top = bottom - shape.body_h
        neck_top = body_top - shape.shoulder_h - shape.neck_h
        half_w, neck_w = shape.body_w / 2, shape.neck_w / 2
        canvas = np.zeros((self.height, self.width, 3), dtype=np.float32)
        alpha = np.zeros((self.height, self.width), dtype=np.float32)
        y0, y1 = max(int(neck_top) - 1, 0), min(int(bottom) + 2, self.height)
        x0, x1 = max(int(cx - half_w) - 1, 0), min(int(cx + half_w) + 2, self.width)
        y = np.arange(y0, y1, dtype=np.float32)[:, None] + 0.5
        x = np.arange(x0, x1, dtype=np.float32)[None, :] + 0.5
        t = np.clip((body_top - y) / max(shape.shoulder_h, 1.0), 0.0, 1.0)  # 0 at the body, 1 at the neck
        half = np.where(y >= body_top, half_w, half_w + (neck_w - half_w) * np.sin(t * math.pi / 2))
        inside = (np.abs(x - cx) <= half) & (y <= bottom) & (y >= neck_top)
        alpha[y0:y1, x0:x1] = np.clip(half - np.abs(x - cx) + 0.5, 0, 1) * inside
        angle = np.arcsin(np.clip((x - cx) / np.maximum(half, 1.0), -1.0, 1.0))  # around the body
        shade = 0.55 + 0.45 * np.cos(angle) + 0.35 * np.exp(-(((np.sin(angle) + 0.45) / 0.08) ** 2))
        window = canvas[y0:y1, x0:x1]
        window[:] = np.asarray(item.glass, dtype=np.float32) * shade[..., None]
        cap = np.broadcast_to(y < neck_top + 0.25 * shape.neck_h, inside.shape) & inside
        window[cap] = (np.asarray(item.glass, dtype=np.float32) * 0.3 + 80) * shade[cap][:, None]
        label_top, label_bottom = body_top + 0.12 * shape.body_h, bottom - 0.1 * shape.body_h
        phi = angle - turn
        on_label = (y >= label_top) & (y < label_bottom) & (np.abs(phi) < LABEL_ARC_RAD) & inside
        label = self._labels.get(item.catalogue_id)
        if label is None:
            label = label_image(item).astype(np.float32)
        ys = np.broadcast_to(y, inside.shape)[on_label]
        xs = np.broadcast_to(x, inside.shape)[on_label]
        rows = ((ys - label_top) / (label_bottom - label_top) * LABEL_SHAPE[0]).astype(int)
        cols = ((phi[on_label] / LABEL_ARC_RAD + 1) / 2 * LABEL_SHAPE[1]).astype(int)
        rows, cols = np.clip(rows, 0, LABEL_SHAPE[0] - 1), np.clip(cols, 0, LABEL_SHAPE[1] - 1)
        window[on_label] = label[rows, cols] * (0.45 + 0.55 * np.cos(angle[on_label]))[:, None]
        corners = np.array(
            [[xs.min(), label_top], [xs.max(), label_top], [xs.max(), label_bottom], [xs.min(), label_bottom]]
        )
        return canvas, alpha, corners

    def _light(self, rng: np.random.Generator, image: np.ndarray, gain: float) -> np.ndarray:
        """Level, colour cast and a linear falloff from a random direction."""
        cast = rng.uniform(0.92, 1.08, 3).astype(np.float32)
        direction = rng.uniform(0, 2 * math.pi)
        x = (np.linspace(-0.5, 0.5, self.width, dtype=np.float32) * math.cos(direction))[None, :]
        y = (np.linspace(-0.5, 0.5, self.height, dtype=np.float32) * math.sin(direction))[:, None]
        falloff = 1 + np.float32(rng.uniform(0.1, 0.4)) * (x + y)
        image *= falloff[..., None]
        image *= np.float32(gain) * cast
        return image

    def _blur(self, rng: np.random.Generator, image: np.ndarray) -> tuple[np.ndarray, float]:
        """Focus blur (Gaussian, sigma 0-2 px) or, one time in five, horizontal motion blur of 3-9 px."""
        if rng.random() < 0.2:
            length = int(rng.integers(3, 10))
            kernel = np.full((1, length), 1.0 / length, dtype=np.float32)
            return cv2.filter2D(image, -1, kernel), float(length)
        sigma = rng.uniform(0.0, 2.0)
        if sigma < 0.3:
            return image, 0.0
        return cv2.GaussianBlur(image, (0, 0), sigma), float(sigma)


# --------------------------------------------------------------------------- encoding and frames


def encode(image: np.ndarray, encoding: str = "jpeg", *, quality: int = 90) -> bytes:
    """PNG or JPEG bytes of an RGB uint8 image (OpenCV writes BGR, so channels are swapped first)."""
    if encoding not in ENCODINGS:
        raise ValueError(f"encoding must be one of {ENCODINGS}, got {encoding!r}")
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError("image must be uint8 (H, W, 3)")
    bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if encoding == "jpeg" else [cv2.IMWRITE_PNG_COMPRESSION, 3]
    ok, data = cv2.imencode(".jpg" if encoding == "jpeg" else ".png", bgr, params)
    if not ok:
        raise RuntimeError(f"OpenCV could not encode the image as {encoding}")
    return bytes(data.tobytes())


def decode(data: bytes) -> np.ndarray:
    """RGB uint8 (H, W, 3) from PNG or JPEG bytes."""
    bgr = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError("not a decodable image")
    return np.asarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))


def product_dict(item: LiquorProduct) -> dict[str, object]:
    """A catalogue entry as JSON-ready values, with its duty per bottle."""
    return {
        "catalogue_id": item.catalogue_id,
        "brand": item.brand,
        "product": item.product,
        "category": item.category,
        "abv_percent": item.abv_percent,
        "volume_ml": item.volume_ml,
        "reference_price_hkd": item.reference_price_hkd,
        "duty_hkd": round(item.duty_hkd, 2),
    }


def truth_dict(frame: LiquorFrame) -> dict[str, object]:
    """The ground truth of a frame: its product and how it was shot."""
    return {
        **product_dict(frame.product),
        "label_box": list(frame.label_box),
        "tilt_deg": round(frame.tilt_deg, 2),
        "scale": round(frame.scale, 3),
        "turn_deg": round(frame.turn_deg, 2),
        "light_gain": round(frame.light_gain, 3),
        "blur_px": round(frame.blur_px, 2),
    }


def to_frame(
    frame: LiquorFrame,
    *,
    source_id: str,
    sequence: int,
    encoding: str = "jpeg",
    quality: int = 90,
    frame_id: str | None = None,
) -> frame_pb2.Frame:
    """A MODALITY_CAMERA frame: the encoded image, shape [H, W, 3], ground truth in metadata."""
    return payload_frame(
        encode(frame.image, encoding, quality=quality),
        modality=Modality.CAMERA,
        source_id=source_id,
        sequence=sequence,
        encoding=encoding,
        shape=frame.image.shape,
        frame_id=frame_id,
        metadata={"sim_truth": json.dumps(truth_dict(frame))},
    )
