"""Reference views of a label, from its artwork or from photos, with their keypoints and text boxes.

From artwork (a flat scan of the printed label, what a producer supplies): the label as a camera sees
it on a bottle, wrapped around a cylinder (it covers ``ARTWORK_ARC_DEG`` either side of its centre) and
turned by each of ``ARTWORK_TURNS_DEG``, at ``ARTWORK_VIEW_WIDTH_PX`` pixels across. The ABV and volume
boxes are found once on the flat artwork by rapidocr's text detector and recogniser, and wrapped with it.
This is a generic prior about bottles, not a copy of any renderer: the turn of a real bottle is unknown,
so views a good way either side let the homography of the nearest one hold.

From photos (``smartcustoms library add liquor``): what the photos have in common is the product. Each
photo's keypoints are matched with every other photo's; those that a RANSAC homography confirms in at
least one other photo are the label's (the counter, the clutter and a hand change from photo to photo).
The view is the photo cut to those keypoints, with a margin, its keypoints the confirmed ones, and its
text boxes are read the same way.
With a single photo nothing can be cross-checked: the whole photo is the view, so it should show the
label filling most of the frame.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from smartcustoms.plugins.liquor.features import FeatureExtractor, Features, reduced
from smartcustoms.plugins.liquor.library import TextBox
from smartcustoms.plugins.liquor.reading import boxes_in

ARTWORK_ARC_DEG = 70.0
ARTWORK_TURNS_DEG = (-35.0, 0.0, 35.0)
ARTWORK_VIEW_WIDTH_PX = 250
PHOTO_MAX_SIDE_PX = 960
PHOTO_MARGIN = 0.3  # of the confirmed keypoints' extent, added around them (a label's text and edges
# reach beyond its most repeatable corners)
PHOTO_RANSAC_PX = 8.0
PHOTO_MIN_INLIERS = 12
PHOTO_MIN_KEYPOINTS = 40  # confirmed keypoints a view is made of; fewer: all of the cut photo's


@dataclass(frozen=True, eq=False)
class ViewImage:
    """A view before it is written: image (RGB uint8), keypoints, text boxes, where it came from."""

    image: np.ndarray
    features: Features
    text: tuple[TextBox, ...]
    source: str


class TextFinder:
    """rapidocr's detector and recogniser (offline: seconds per image), for the ABV and volume boxes."""

    def __init__(self) -> None:
        from rapidocr_onnxruntime import RapidOCR  # type: ignore[import-untyped]  # ships no type hints

        self._engine = RapidOCR()

    def boxes(self, rgb: np.ndarray) -> list[TextBox]:
        results, _ = self._engine(np.ascontiguousarray(rgb[:, :, ::-1]))
        return boxes_in([(quad, str(text), float(score)) for quad, text, score in results or []])


def artwork_views(artwork: np.ndarray, finder: TextFinder | None, name: str = "artwork") -> list[ViewImage]:
    """The artwork wrapped and turned as on a bottle, one view per turn, with their keypoints and boxes."""
    flat_boxes = finder.boxes(artwork) if finder is not None else []
    extractor = FeatureExtractor.view()
    views = []
    for turn in ARTWORK_TURNS_DEG:
        image, to_view = wrapped(artwork, turn, ARTWORK_VIEW_WIDTH_PX)
        text = tuple(TextBox(b.kind, tuple(to_view(x, y) for x, y in b.quad), b.text) for b in flat_boxes)
        views.append(ViewImage(image, extractor.extract(image), text, f"{name}, turned {turn:+.0f} deg"))
    return views


def wrapped(artwork: np.ndarray, turn_deg: float, width_px: int) -> tuple[np.ndarray, Any]:
    """The artwork on a cylinder seen from the front, turned by ``turn_deg``: the image (cut to the
    label) and a function mapping artwork pixels (x, y) to the image's."""
    arc = math.radians(ARTWORK_ARC_DEG)
    radius = width_px / 2
    scale = 2 * arc * radius / artwork.shape[1]  # the artwork's width is the arc's length
    height = max(8, round(artwork.shape[0] * scale))
    printed = cv2.resize(
        artwork, (max(8, round(artwork.shape[1] * scale)), height), interpolation=cv2.INTER_AREA
    )
    turn = math.radians(turn_deg)
    x = np.arange(width_px, dtype=np.float64) + 0.5 - radius
    angle = np.arcsin(np.clip(x / radius, -1, 1))
    phi = angle - turn
    visible = np.abs(phi) < arc
    columns = np.flatnonzero(visible)
    map_x = np.where(visible, (phi / arc + 1) / 2 * printed.shape[1] - 0.5, -1).astype(np.float32)
    map_x = np.repeat(map_x[None, :], height, axis=0)
    map_y = np.repeat(np.arange(height, dtype=np.float32)[:, None], width_px, axis=1)
    image = cv2.remap(printed, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    shade = (0.55 + 0.45 * np.cos(angle))[None, :, None]
    image = np.clip(image * shade, 0, 255).astype(np.uint8)[:, columns[0] : columns[-1] + 1]
    first = float(columns[0])

    def to_view(ax: float, ay: float) -> tuple[float, float]:
        phi_at = (ax / artwork.shape[1] * 2 - 1) * arc + turn
        phi_at = max(min(phi_at, math.radians(88)), -math.radians(88))
        return (radius + radius * math.sin(phi_at) - first, ay * scale)

    return np.ascontiguousarray(image), to_view


def photo_views(
    photos: Sequence[np.ndarray], finder: TextFinder | None, names: Sequence[str]
) -> list[ViewImage]:
    """A view of each photo that shows the label: the photo cut to the keypoints it shares with the
    others (or whole, for a single photo). ValueError when no photo shows what another shows."""
    extractor = FeatureExtractor.view()
    wide = FeatureExtractor(2000, 8)
    small = [reduced(photo, PHOTO_MAX_SIDE_PX)[0] for photo in photos]
    features = [wide.extract(photo) for photo in small]
    confirmed = _confirmed(features) if len(photos) > 1 else [np.ones(len(f), bool) for f in features]
    views = []
    for photo, found, keep, name in zip(small, features, confirmed, names, strict=True):
        if keep.sum() < PHOTO_MIN_INLIERS:
            continue
        x0, y0, x1, y1 = (
            _crop_box(found.points[keep], photo.shape[:2])
            if len(photos) > 1
            else (0, 0, photo.shape[1], photo.shape[0])
        )
        image = np.ascontiguousarray(photo[y0:y1, x0:x1])
        text = tuple(finder.boxes(image)) if finder is not None else ()
        if len(photos) > 1 and keep.sum() >= PHOTO_MIN_KEYPOINTS:  # the label's own, not the counter's
            offset = np.array([x0, y0], dtype=np.float32)
            kept = Features(found.points[keep] - offset, found.descriptors[keep])
        else:
            kept = extractor.extract(image)
        views.append(ViewImage(image, kept, text, f"photo {name}"))
    if not views:
        raise ValueError("the photos do not show a common label: take them of the same bottle, label facing")
    return views


def _confirmed(features: Sequence[Features]) -> list[np.ndarray]:
    """Per photo, which keypoints a homography to another photo confirms."""
    matcher = cv2.BFMatcher(cv2.NORM_HAMMING, crossCheck=True)
    confirmed = [np.zeros(len(f), bool) for f in features]
    for i, first in enumerate(features):
        for j in range(i + 1, len(features)):
            second = features[j]
            if len(first) < 4 or len(second) < 4:
                continue
            pairs = [m for m in matcher.match(first.descriptors, second.descriptors) if m.distance <= 64]
            if len(pairs) < PHOTO_MIN_INLIERS:
                continue
            a = np.array([m.queryIdx for m in pairs])
            b = np.array([m.trainIdx for m in pairs])
            _, mask = cv2.findHomography(first.points[a], second.points[b], cv2.RANSAC, PHOTO_RANSAC_PX)
            if mask is None or mask.sum() < PHOTO_MIN_INLIERS:
                continue
            inliers = mask.ravel().astype(bool)
            confirmed[i][a[inliers]] = True
            confirmed[j][b[inliers]] = True
    return confirmed


def _crop_box(points: np.ndarray, shape: tuple[int, int]) -> tuple[int, int, int, int]:
    x0, y0 = np.percentile(points, 1, axis=0)
    x1, y1 = np.percentile(points, 99, axis=0)
    mx, my = PHOTO_MARGIN * (x1 - x0) + 4, PHOTO_MARGIN * (y1 - y0) + 4
    height, width = shape
    return (
        int(max(x0 - mx, 0)),
        int(max(y0 - my, 0)),
        int(min(x1 + mx + 1, width)),
        int(min(y1 + my + 1, height)),
    )
