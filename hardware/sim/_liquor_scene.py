"""What else a red-channel counter camera sees: clutter on the counter and things in front of the label.

* ``add_clutter``: up to four objects on the counter behind the bottle: a box, a coin, a phone, or a
  receipt with printed lines (prices, words), which a reader of text must not take for the label;
* ``occlude``: one frame in five has a hand holding the bottle, its fingers across the label, one in
  seven a price sticker on the label; either covers part of it. The share of the label covered is
  returned, so an evaluation can break its figures down by occlusion.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from ._liquor_label import draw_text

HAND_RATE = 0.2
STICKER_RATE = 0.15
_SKIN = ((224, 172, 140), (198, 134, 100), (141, 85, 54), (241, 194, 160), (170, 110, 80))
_RECEIPT_WORDS = ("TOTAL", "CASH", "DUTY FREE", "HK$", "QTY", "VISA", "THANK YOU", "ITEM", "TAX", "REF")


def _rgb(colour: tuple[float, ...] | np.ndarray) -> tuple[float, float, float]:
    return (float(colour[0]), float(colour[1]), float(colour[2]))


def add_clutter(rng: np.random.Generator, image: np.ndarray) -> int:
    """Draw 0-4 objects on the counter (float32 RGB, in place); returns how many."""
    height, width = image.shape[:2]
    count = int(rng.integers(5))
    for _ in range(count):
        kind = int(rng.integers(4))
        cx, cy = rng.uniform(0, width), rng.uniform(0.3 * height, height)
        size = rng.uniform(0.08, 0.25) * height
        angle = rng.uniform(0, 180)
        if kind == 0:  # a box
            colour = rng.uniform(40, 230, 3)
            _rotated_rect(image, (cx, cy), (size * 1.4, size), angle, colour)
            _rotated_rect(image, (cx, cy), (size * 1.4, size * 0.2), angle, colour * 0.6)
        elif kind == 1:  # a coin
            radius = max(3, int(size * 0.15))
            colour = np.array((190.0, 160, 80)) if rng.random() < 0.5 else np.array((170.0, 170, 175))
            cv2.circle(image, (int(cx), int(cy)), radius, _rgb(colour), -1, cv2.LINE_AA)
            cv2.circle(image, (int(cx), int(cy)), max(1, radius - 3), _rgb(colour * 0.8), 1, cv2.LINE_AA)
        elif kind == 2:  # a phone
            _rotated_rect(image, (cx, cy), (size * 0.5, size), angle, np.array((25.0, 25, 30)))
            _rotated_rect(image, (cx, cy), (size * 0.42, size * 0.85), angle, rng.uniform(30, 120, 3))
        else:
            _receipt(rng, image, (cx, cy), size)
    return count


def _rotated_rect(
    image: np.ndarray,
    centre: tuple[float, float],
    size: tuple[float, float],
    angle: float,
    colour: np.ndarray,
) -> None:
    corners = cv2.boxPoints((centre, size, angle)).astype(np.int32)
    cv2.fillPoly(image, [corners], _rgb(colour), cv2.LINE_AA)


def _receipt(rng: np.random.Generator, image: np.ndarray, centre: tuple[float, float], size: float) -> None:
    """A white slip with a few printed lines, upright (printed text is what matters here)."""
    height = image.shape[0]
    w, h = int(size * 0.9), int(size * 1.3)
    x0, y0 = int(centre[0] - w / 2), int(centre[1] - h / 2)
    cv2.rectangle(image, (x0, y0), (x0 + w, y0 + h), (238.0, 236.0, 228.0), -1)
    line_h = max(6, int(h / 8))
    for row in range(1, 7):
        words = f"{_RECEIPT_WORDS[int(rng.integers(len(_RECEIPT_WORDS)))]} {rng.uniform(1, 999):.2f}"
        (text_w, _), _ = cv2.getTextSize(words, cv2.FONT_HERSHEY_SIMPLEX, 1.0, 1)
        scale = min(line_h / 30, (w - 6) / max(text_w, 1))
        if 0 <= y0 + row * line_h < height:
            ink = np.array((40.0, 40, 45))
            draw_text(image, words, (x0 + 3, y0 + row * line_h), cv2.FONT_HERSHEY_SIMPLEX, scale, ink, 1)


def occlude(rng: np.random.Generator, image: np.ndarray, label_mask: np.ndarray) -> tuple[str, float]:
    """Maybe a hand or a sticker over the label (``label_mask``: uint8, 1 on the label), in place.

    Returns the kind ("" for none, "hand", "sticker") and the share of the label it covers."""
    points = cv2.findNonZero(label_mask)
    if points is None:
        return "", 0.0
    x, y, w, h = cv2.boundingRect(points)
    draw = rng.random()
    cover = np.zeros(label_mask.shape, dtype=np.uint8)
    if draw < HAND_RATE:
        kind = "hand"
        colour = np.asarray(_SKIN[int(rng.integers(len(_SKIN)))], dtype=np.float32) * rng.uniform(0.85, 1.1)
        _hand(rng, cover, (x, y, w, h))
    elif draw < HAND_RATE + STICKER_RATE:
        kind = "sticker"
        colour = np.asarray(
            ((250, 250, 245), (250, 220, 60), (250, 150, 40))[int(rng.integers(3))], np.float32
        )
        corners = _sticker(rng, cover, (x, y, w, h))
    else:
        return "", 0.0
    alpha = cv2.GaussianBlur(cover.astype(np.float32), (0, 0), 0.8)[..., None]
    shade = 1.0 - 0.25 * cv2.GaussianBlur(cover.astype(np.float32), (0, 0), max(2.0, w / 20))[..., None]
    image += (colour * shade - image) * alpha
    if kind == "sticker":
        _sticker_print(rng, image, corners)
    covered = float((cover & label_mask).sum()) / max(float(label_mask.sum()), 1.0)
    return kind, round(covered, 3)


def _hand(rng: np.random.Generator, cover: np.ndarray, box: tuple[int, int, int, int]) -> None:
    """A palm beside the label and three or four fingers reaching across part of it."""
    x, y, w, h = box
    side = -1 if rng.random() < 0.5 else 1
    palm_x = x + w / 2 + side * (w * rng.uniform(0.75, 0.95))
    palm_y = y + h * rng.uniform(0.2, 0.8)
    axes = (int(w * 0.25), int(h * 0.5))
    cv2.ellipse(cover, (int(palm_x), int(palm_y)), axes, 0, 0, 360, 1, -1)
    reach = w * rng.uniform(0.35, 0.75)
    thickness = max(3, int(h * rng.uniform(0.09, 0.14)))
    fingers = int(rng.integers(3, 5))
    tilt = math.radians(rng.uniform(-15, 15))
    for finger in range(fingers):
        fy = palm_y + (finger - (fingers - 1) / 2) * thickness * 1.15
        length = reach * rng.uniform(0.8, 1.1)
        tip = (palm_x - side * length * math.cos(tilt), fy + length * math.sin(tilt))
        cv2.line(cover, (int(palm_x), int(fy)), (int(tip[0]), int(tip[1])), 1, thickness)


def _sticker(rng: np.random.Generator, cover: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    x, y, w, h = box
    sw, sh = w * rng.uniform(0.25, 0.4), h * rng.uniform(0.2, 0.32)
    cx, cy = x + rng.uniform(sw / 2, w - sw / 2), y + rng.uniform(sh / 2, h - sh / 2)
    corners = cv2.boxPoints(((cx, cy), (sw, sh), rng.uniform(-20, 20))).astype(np.int32)
    cv2.fillPoly(cover, [corners], 1)
    return corners


def _sticker_print(rng: np.random.Generator, image: np.ndarray, corners: np.ndarray) -> None:
    """A price on the sticker."""
    x, y, w, h = cv2.boundingRect(corners)
    words = f"HK${int(rng.integers(50, 2000))}"
    (text_w, text_h), _ = cv2.getTextSize(words, cv2.FONT_HERSHEY_SIMPLEX, 1.0, 1)
    scale = min(0.7 * w / max(text_w, 1), 0.5 * h / max(text_h, 1))
    origin = (x + int(0.15 * w), y + int(0.5 * h + 0.5 * text_h * scale))
    draw_text(image, words, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, np.array((30.0, 30, 30)), 1)
