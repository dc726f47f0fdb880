"""Liquor bottle camera simulator for smart liquor duty assessment: labels from a catalogue, on bottles.

``CATALOGUE`` lists products (brand, product, category, ABV, volume, reference price in HKD, and for
some the Traditional Chinese name). Every product has a printed label (``label_image``, drawn by
``_liquor_label``): a ground colour and pattern, an emblem, a border, and real text: the brand, the
product name, the Chinese name where there is one, the ABV ("43% vol", "ALC. 40% VOL.") and the volume
("700ml", "70cl", "1L"), in fonts, sizes, positions and colours chosen per product line. Bottles of one
line in several sizes (a 750 ml and a 1.75 l vodka) share the artwork but for the printed volume. The
brands are invented; any likeness to a real label is accidental.

A camera frame (``LiquorSimulator.generate``) shows one bottle of a drawn product on the red-channel
counter, as a camera framing the bottle's body sees it (default 720 x 960): the label wraps around the
cylindrical body (the bottle turned about its axis by up to +-25 degrees), the bottle tilted by up to
+-8 degrees, scaled 0.8-1.1 and moved a little; up to four objects clutter the counter (boxes, coins, a
phone, printed receipts); one frame in five has a hand holding the bottle across the label, one in
seven a price sticker on it (``_liquor_scene``); light varies in level, colour and direction; the image
is blurred (focus or motion) and carries sensor noise; the camera encodes it as JPEG at a quality of
60-95 (``to_frame`` uses the frame's own unless told). Each frame belongs to a traveller (three bottles
each, ``traveller_id``). Truth is the catalogue id; frames carry metadata ``camera_role`` "red_channel"
and ``traveller_id``. Images are RGB uint8 (H, W, 3); ``encode`` makes PNG or JPEG bytes with OpenCV.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass

import cv2
import numpy as np

from smartcustoms.core.types import Modality
from smartcustoms.v1 import frame_pb2

from ._frames import payload_frame
from ._liquor_label import LABEL_SHAPE as LABEL_SHAPE  # the catalogue's label size, for callers
from ._liquor_label import LabelText, draw_label
from ._liquor_scene import add_clutter, occlude
from .duty import liquor_duty_hkd

CATEGORIES = ("spirit", "wine", "beer")
LABEL_ARC_RAD = math.radians(70)  # half the angle of the bottle's circumference the label covers
ENCODINGS = ("jpeg", "png")
RED_CHANNEL_SHAPE = (720, 960)  # (height, width) of the counter camera's frames
JPEG_QUALITY = (60, 96)  # the range a camera's encoder quality is drawn from, max exclusive
BOTTLES_PER_TRAVELLER = 3
BOTTLE_HEIGHT = 1.35  # a bottle's height at scale 1, in image heights: the camera frames the body
LABEL_CENTRE = 0.55  # where on the body's height the label is centred (0 top, 1 bottom)
BODY_CENTRE = 0.56  # where the middle of the bottle's body is at scale 1, in image heights from the top
CAMERA_ROLE = "red_channel"  # frame metadata camera_role of the red-channel counter camera


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
    name_zh: str = ""  # the Traditional Chinese name printed on the label, if any

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
_PRODUCTS = (
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
NAMES_ZH = {  # Traditional Chinese names the labels of some products print
    "LQ-0001": "格蘭科拉 12年單一麥芽威士忌",
    "LQ-0002": "格蘭科拉 18年單一麥芽威士忌",
    "LQ-0003": "凱辛頓 調和蘇格蘭威士忌",
    "LQ-0004": "德勞里爾 VSOP 干邑",
    "LQ-0005": "德勞里爾 XO 干邑",
    "LQ-0006": "德勞里爾 XO 干邑",
    "LQ-0007": "赤水傳承 醬香型白酒",
    "LQ-0008": "五糧春 五穀白酒",
    "LQ-0014": "海斗 純麥威士忌",
    "LQ-0016": "櫻霧 純米大吟釀清酒",
    "LQ-0023": "海港 拉格啤酒",
    "LQ-0024": "海港 拉格啤酒",
    "LQ-0025": "獅子山 印度淡色艾爾",
    "LQ-0026": "黑龍 帝國世濤",
    "LQ-0027": "青山 皮爾森啤酒",
}
CATALOGUE = tuple(dataclasses.replace(p, name_zh=NAMES_ZH.get(p.catalogue_id, "")) for p in _PRODUCTS)
_BY_ID = {p.catalogue_id: p for p in CATALOGUE}


def product(catalogue_id: str) -> LiquorProduct:
    if catalogue_id not in _BY_ID:
        raise ValueError(f"no product {catalogue_id!r} in the catalogue")
    return _BY_ID[catalogue_id]


# --------------------------------------------------------------------------- labels


def label_text(item: LiquorProduct) -> LabelText:
    return LabelText(item.brand, item.product, item.abv_percent, item.volume_ml, item.name_zh)


def label_image(item: LiquorProduct, design: int = 0) -> np.ndarray:
    """The product's label as printed, RGB uint8 ``LABEL_SHAPE``: brand, product, Chinese name where it
    has one, ABV and volume in real type (``_liquor_label``). Bottles of one line (brand and product) in
    several sizes share the artwork and differ in the printed volume only. Any ``design`` but 0 draws
    the line's label another way (other colours, layout, type and height)."""
    return draw_label(label_text(item), design)


def _hsv_rgb(
    rng: np.random.Generator, saturation: tuple[float, float], value: tuple[float, float]
) -> np.ndarray:
    hsv = np.array([[[rng.uniform(0, 180), 255 * rng.uniform(*saturation), 255 * rng.uniform(*value)]]])
    return np.asarray(cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB)[0, 0], dtype=np.float32)


# --------------------------------------------------------------------------- scenes


@dataclass(frozen=True, slots=True, eq=False)
class LiquorFrame:
    """One camera frame: RGB uint8 (H, W, 3) and what it shows.

    label_box: (x_min, y_min, x_max, y_max) of the label on the image, max exclusive; pose: bottle tilt
    (degrees, clockwise), scale, turn about its axis (degrees); light_gain and blur_px describe the shot;
    occlusion ("", "hand", "sticker") and occluded_fraction what covers the label and how much of it;
    clutter the number of objects on the counter; jpeg_quality the quality the camera encodes it at;
    traveller_id whose bottle it is.
    """

    image: np.ndarray
    catalogue_id: str
    label_box: tuple[int, int, int, int]
    tilt_deg: float
    scale: float
    turn_deg: float
    light_gain: float
    blur_px: float
    occlusion: str = ""
    occluded_fraction: float = 0.0
    clutter: int = 0
    jpeg_quality: int = 90
    traveller_id: str = ""

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
    """Proportions by category and volume; the bottle's full height is ``BOTTLE_HEIGHT`` times the
    image's at scale 1 (the camera frames the body: the neck may leave the image)."""
    total = BOTTLE_HEIGHT * height
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
        self,
        seed: int,
        height: int = RED_CHANNEL_SHAPE[0],
        width: int = RED_CHANNEL_SHAPE[1],
        *,
        catalogue_ids: tuple[str, ...] = (),
        varied: bool = False,
        design: int = 0,
    ) -> None:
        if seed < 0:
            raise ValueError("seed must be non-negative")
        if height < 64 or width < 64:
            raise ValueError("height and width must be at least 64 pixels")
        for catalogue_id in catalogue_ids:
            product(catalogue_id)
        self.seed, self.height, self.width = seed, height, width
        self.varied, self.design = varied, design
        self.catalogue_ids = catalogue_ids or tuple(p.catalogue_id for p in CATALOGUE)
        self._labels = {
            cid: label_image(_BY_ID[cid], design).astype(np.float32) for cid in self.catalogue_ids
        }

    def generate(self, index: int, *, catalogue_id: str | None = None) -> LiquorFrame:
        """Frame number ``index``, of a drawn product or of ``catalogue_id``."""
        if index < 0:
            raise ValueError("index must be non-negative")
        rng = np.random.default_rng([self.seed, index])
        drawn = self.catalogue_ids[int(rng.integers(len(self.catalogue_ids)))]
        item = product(catalogue_id or drawn)
        tilt, scale, turn = rng.uniform(-8, 8), rng.uniform(0.8, 1.1), rng.uniform(-25, 25)
        shift = rng.uniform(-0.08, 0.08, 2) * (self.width, self.height)
        shot = _Variation.draw(np.random.default_rng([self.seed, index, 7])) if self.varied else None
        if shot is not None:
            tilt, scale, turn = tilt * shot.tilt, scale * shot.scale, turn * shot.turn
        canvas, alpha, on_label, label_corners = self._bottle(item, math.radians(turn), shot)
        center = (self.width / 2, self.height / 2)
        matrix = cv2.getRotationMatrix2D(center, -tilt, scale)
        matrix[:, 2] = matrix[:, 2] + shift
        size = (self.width, self.height)
        projective = np.vstack([matrix, [0.0, 0.0, 1.0]])
        if shot is not None:  # the camera looks at the bottle from above or aside: a keystone
            projective = _keystone(shot.keystone, self.width, self.height) @ projective
        bottle, coverage, label_mask = (
            _warped(layer, matrix if shot is None else projective, size)
            for layer in (canvas, alpha, on_label)
        )
        coverage = coverage[..., None]
        label_mask = (label_mask > 0.5).astype(np.uint8)
        image = self._background(rng) if shot is None else _busy_background(shot.rng, self.height, self.width)
        clutter = add_clutter(rng, image)
        image += (bottle - image) * coverage
        occlusion, covered = occlude(rng, image, label_mask)
        gain = rng.uniform(0.65, 1.3)
        if shot is not None:
            gain *= shot.gain
            _glare(shot, image, label_mask, coverage)
            _shadow(shot, image)
        image = self._light(rng, image, gain)
        blur = self._blur(rng, image)
        sigma = np.float32(rng.uniform(1.0, 4.0))
        image = blur[0] + rng.standard_normal(image.shape, dtype=np.float32) * sigma
        quality = int(rng.integers(*JPEG_QUALITY))
        if shot is not None:
            image = _varied_camera(shot, image)
            quality = min(quality, shot.quality)
        if shot is None:
            corners = np.hstack([label_corners, np.ones((4, 1))]) @ matrix.T
        else:
            corners = cv2.perspectiveTransform(label_corners.reshape(-1, 1, 2), projective).reshape(4, 2)
        box = (
            int(max(math.floor(corners[:, 0].min()), 0)),
            int(max(math.floor(corners[:, 1].min()), 0)),
            int(min(math.ceil(corners[:, 0].max()), self.width)),
            int(min(math.ceil(corners[:, 1].max()), self.height)),
        )
        frozen = np.clip(image, 0, 255).astype(np.uint8)
        frozen.flags.writeable = False
        return LiquorFrame(
            frozen,
            item.catalogue_id,
            box,
            tilt,
            scale,
            turn,
            gain,
            blur[1],
            occlusion=occlusion,
            occluded_fraction=covered,
            clutter=clutter,
            jpeg_quality=quality,
            traveller_id=self.traveller_id(index),
        )

    def traveller_id(self, index: int) -> str:
        """Whose bottle frame ``index`` shows: travellers come to the counter with
        ``BOTTLES_PER_TRAVELLER`` bottles each, one frame per bottle."""
        return f"TRV-{self.seed}-{index // BOTTLES_PER_TRAVELLER:06d}"

    def _background(self, rng: np.random.Generator) -> np.ndarray:
        """A counter: a colour with a vertical gradient and a coarse texture."""
        base = _hsv_rgb(rng, (0.0, 0.3), (0.35, 0.8))
        y = np.linspace(-0.15, 0.15, self.height, dtype=np.float32)[:, None, None]
        coarse = rng.normal(0, 6, (self.height // 16 + 1, self.width // 16 + 1)).astype(np.float32)
        texture = cv2.resize(coarse, (self.width, self.height), interpolation=cv2.INTER_CUBIC)
        return np.asarray(base * (1 + y) + texture[..., None], dtype=np.float32)

    def _bottle(
        self, item: LiquorProduct, turn: float, shot: _Variation | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The upright bottle centred on a canvas: RGB, alpha, where the label is (1 on it) and the
        label's corners (x, y). The label is as tall as its printed width wrapped around the body allows
        at the artwork's aspect, centred a little below the middle of the body."""
        shape = _bottle_shape(item, self.height)
        arc = LABEL_ARC_RAD
        if shot is not None:
            shape = dataclasses.replace(shape, body_w=shape.body_w * shot.body_width)
            arc = shot.arc
        artwork = self._labels.get(item.catalogue_id)
        if artwork is None:
            artwork = label_image(item, self.design).astype(np.float32)
        cx, bottom = self.width / 2, self.height * BODY_CENTRE + shape.body_h / 2
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
        arc_px = 2 * arc * half_w  # the label's printed width, wrapped around the body
        label_h = min(arc_px * artwork.shape[0] / artwork.shape[1], 0.8 * shape.body_h)
        centre = LABEL_CENTRE if shot is None else shot.label_centre
        label_top = min(max(body_top + centre * shape.body_h - label_h / 2, body_top), bottom - label_h)
        label_bottom = label_top + label_h
        phi = angle - turn
        on_label = (y >= label_top) & (y < label_bottom) & (np.abs(phi) < arc) & inside
        if shot is not None and shot.label_cut:
            on_label &= _label_cut(shot.label_cut, phi / arc, (y - label_top) / label_h * 2 - 1)
        # the camera integrates the print over each pixel: the artwork at its size on the image, then
        # sampled where each pixel of the body looks
        printed_w, printed_h = max(round(arc_px), 8), max(round(label_h), 8)
        printed = cv2.resize(artwork, (printed_w, printed_h), interpolation=cv2.INTER_AREA)
        map_x = np.where(on_label, (phi / arc + 1) / 2 * printed_w - 0.5, -2).astype(np.float32)
        map_y = np.broadcast_to((y - label_top) / label_h * printed_h - 0.5, inside.shape)
        map_y = np.where(on_label, map_y, -2).astype(np.float32)
        if shot is not None and shot.grain > 0:  # a paper's texture under the print
            printed = printed + _paper(shot.rng, printed.shape[:2], shot.grain)[..., None]
        sampled = cv2.remap(printed, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        window[on_label] = sampled[on_label] * (0.45 + 0.55 * np.cos(angle[on_label]))[:, None]
        label_mask = np.zeros((self.height, self.width), dtype=np.float32)
        label_mask[y0:y1, x0:x1] = on_label
        xs = np.broadcast_to(x, inside.shape)[on_label]
        if xs.size == 0:  # turned wholly away (only a cut label this far round)
            xs = np.array([cx, cx + 1.0])
        corners = np.array(
            [[xs.min(), label_top], [xs.max(), label_top], [xs.max(), label_bottom], [xs.min(), label_bottom]]
        )
        return canvas, alpha, label_mask, corners

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


@dataclass(frozen=True, eq=False)
class _Variation:
    """What ``LiquorSimulator(varied=True)`` draws for a frame beyond the ordinary ranges, from a
    generator of its own (so the ordinary draws, and the frames without variation, stay as they were)."""

    rng: np.random.Generator
    tilt: float  # factors of the ordinary tilt, scale and turn
    scale: float
    turn: float
    arc: float  # half the angle of the circumference the label covers, radians
    body_width: float  # factor of the bottle's width
    keystone: np.ndarray  # the four image corners' displacement, in fractions of the image [4, 2]
    gain: float  # factor of the light level
    glare: float  # strength of a highlight down the bottle, 0 for none
    hue_shift: float  # degrees of hue the camera's white balance turns
    saturation: float  # factor
    extra_blur: float  # sigma (px) of a further focus blur
    quality: int  # the highest JPEG quality the camera uses
    label_cut: int  # the label's outline: 0 a rectangle, 1 rounded corners, 2 an oval, 3 a shield
    label_centre: float  # where on the body's height the label is centred (0 top, 1 bottom)
    grain: float  # strength of a paper texture printed with the label (grey levels), 0 for none
    shadow: float  # depth of a soft shadow across the frame (a hand, a lamp's edge), 0 for none

    @classmethod
    def draw(cls, rng: np.random.Generator) -> _Variation:
        return cls(
            rng=rng,
            tilt=rng.uniform(0.5, 2.0),
            scale=rng.uniform(0.75, 1.15),
            turn=rng.uniform(0.6, 1.4),
            arc=math.radians(rng.uniform(50, 85)),
            body_width=rng.uniform(0.8, 1.2),
            keystone=rng.uniform(-0.06, 0.06, (4, 2)),
            gain=rng.uniform(0.6, 1.25),
            glare=rng.uniform(0.3, 0.9) if rng.random() < 0.4 else 0.0,
            hue_shift=rng.uniform(-12, 12),
            saturation=rng.uniform(0.6, 1.3),
            extra_blur=rng.uniform(0.0, 1.5) if rng.random() < 0.4 else 0.0,
            quality=int(rng.integers(45, 96)),
            label_cut=int(rng.integers(4)),
            label_centre=rng.uniform(0.4, 0.68),
            grain=rng.uniform(4.0, 14.0) if rng.random() < 0.5 else 0.0,
            shadow=rng.uniform(0.25, 0.6) if rng.random() < 0.3 else 0.0,
        )


def _warped(layer: np.ndarray, transform: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    if transform.shape[0] == 2:
        return np.asarray(cv2.warpAffine(layer, transform, size, flags=cv2.INTER_LINEAR))
    return np.asarray(cv2.warpPerspective(layer, transform, size, flags=cv2.INTER_LINEAR))


def _keystone(displacement: np.ndarray, width: int, height: int) -> np.ndarray:
    """The homography moving the image's corners by ``displacement`` (fractions of its size)."""
    corners = np.array([[0, 0], [width, 0], [width, height], [0, height]], np.float32)
    moved = corners + (displacement * (width, height)).astype(np.float32)
    return np.asarray(cv2.getPerspectiveTransform(corners, moved), dtype=np.float64)


def _busy_background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A counter or a backdrop that is not plain: blotches of two colours at several scales, sometimes
    stripes (a mat, a printed backdrop)."""
    first, second = _hsv_rgb(rng, (0.0, 0.8), (0.2, 0.9)), _hsv_rgb(rng, (0.0, 0.8), (0.2, 0.9))
    weight = np.zeros((height, width), np.float32)
    for cells in (3, 9, 27):
        noise = rng.random((cells, max(2, cells * width // height))).astype(np.float32)
        weight += cv2.resize(noise, (width, height), interpolation=cv2.INTER_CUBIC) / 3
    if rng.random() < 0.35:
        period = rng.uniform(12, 60)
        x = np.arange(width, dtype=np.float32)[None, :] + np.arange(height, dtype=np.float32)[:, None]
        weight = 0.6 * weight + 0.4 * (np.sin(x * 2 * math.pi / period) > 0)
    weight = np.clip(weight, 0, 1)[..., None]
    return np.asarray(first * (1 - weight) + second * weight, dtype=np.float32)


def _glare(shot: _Variation, image: np.ndarray, label_mask: np.ndarray, coverage: np.ndarray) -> None:
    """A highlight down the bottle across the label: a bright vertical band on the glass (in place)."""
    if shot.glare <= 0:
        return
    points = cv2.findNonZero(label_mask)
    if points is None:
        return
    x, _, w, _ = cv2.boundingRect(points)
    centre = x + shot.rng.uniform(0.1, 0.9) * w
    spread = shot.rng.uniform(0.02, 0.08) * w + 1
    columns = np.arange(image.shape[1], dtype=np.float32)
    band = np.exp(-(((columns - centre) / spread) ** 2))[None, :, None] * shot.glare
    image += (255.0 - image) * (band * coverage).astype(np.float32)


def _label_cut(kind: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Where a label cut to a shape prints, in its own coordinates (``u`` across and ``v`` down, -1 to
    1): rounded corners (1), an oval (2), a shield, flat on top and pointed below (3)."""
    if kind == 1:
        radius = 0.35
        du, dv = np.maximum(np.abs(u) - (1 - radius), 0), np.maximum(np.abs(v) - (1 - radius), 0)
        return np.asarray(du**2 + dv**2 <= radius**2)
    if kind == 2:
        return np.asarray(u**2 + v**2 <= 1.0)
    return np.asarray((v <= 0.2) | (np.abs(u) <= 1 - (v - 0.2) / 0.8 * 0.7))


def _paper(rng: np.random.Generator, shape: tuple[int, int], strength: float) -> np.ndarray:
    """A paper's texture: fine grain and a coarser mottle, in grey levels about 0."""
    height, width = shape
    fine = rng.standard_normal((height, width)).astype(np.float32)
    coarse = rng.standard_normal((max(2, height // 8), max(2, width // 8))).astype(np.float32)
    mottle = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    return np.asarray(strength * (0.4 * cv2.GaussianBlur(fine, (0, 0), 0.7) + 0.6 * mottle), np.float32)


def _shadow(shot: _Variation, image: np.ndarray) -> None:
    """A soft shadow's edge across the frame at a random angle: one side darker (in place)."""
    if shot.shadow <= 0:
        return
    height, width = image.shape[:2]
    angle = shot.rng.uniform(0, 2 * math.pi)
    offset = shot.rng.uniform(-0.3, 0.3)
    softness = shot.rng.uniform(0.02, 0.12)
    x = np.linspace(-0.5, 0.5, width, dtype=np.float32)[None, :] * math.cos(angle)
    y = np.linspace(-0.5, 0.5, height, dtype=np.float32)[:, None] * math.sin(angle)
    dark = 1 / (1 + np.exp(-(x + y - offset) / softness))
    image *= (1 - shot.shadow * dark)[..., None].astype(np.float32)


def _varied_camera(shot: _Variation, image: np.ndarray) -> np.ndarray:
    """The camera's white balance (hue and saturation) and a further focus blur."""
    frame = np.clip(image, 0, 255).astype(np.uint8)
    hsv = cv2.cvtColor(frame, cv2.COLOR_RGB2HSV).astype(np.float32)
    hsv[..., 0] = (hsv[..., 0] + shot.hue_shift / 2) % 180
    hsv[..., 1] = np.clip(hsv[..., 1] * shot.saturation, 0, 255)
    out = cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB).astype(np.float32)
    if shot.extra_blur > 0.3:
        out = cv2.GaussianBlur(out, (0, 0), shot.extra_blur)
    return np.asarray(out, dtype=np.float32)


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
        "occlusion": frame.occlusion,
        "occluded_fraction": frame.occluded_fraction,
        "clutter": frame.clutter,
        "jpeg_quality": frame.jpeg_quality,
        "traveller_id": frame.traveller_id,
    }


def to_frame(
    frame: LiquorFrame,
    *,
    source_id: str,
    sequence: int,
    encoding: str = "jpeg",
    quality: int | None = None,
    frame_id: str | None = None,
    traveller_id: str | None = None,
) -> frame_pb2.Frame:
    """A MODALITY_CAMERA frame: the encoded image (JPEG at the frame's own ``jpeg_quality`` unless
    ``quality`` is given), shape [H, W, 3]; metadata ``camera_role`` ("red_channel"), ``traveller_id``
    (the frame's, unless given) and the ground truth ``sim_truth``."""
    metadata = {
        "camera_role": CAMERA_ROLE,
        "traveller_id": frame.traveller_id if traveller_id is None else traveller_id,
        "sim_truth": json.dumps(truth_dict(frame)),
    }
    return payload_frame(
        encode(frame.image, encoding, quality=frame.jpeg_quality if quality is None else quality),
        modality=Modality.CAMERA,
        source_id=source_id,
        sequence=sequence,
        encoding=encoding,
        shape=frame.image.shape,
        frame_id=frame_id,
        metadata=metadata,
    )
