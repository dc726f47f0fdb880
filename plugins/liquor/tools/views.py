"""Reference views of a label, from its artwork or from photos, with their keypoints and text boxes.

From artwork (a flat scan of the printed label, what a producer supplies): the label as a camera sees
it on a bottle, wrapped around a cylinder (it covers ``ARTWORK_ARC_DEG`` either side of its centre) and
turned by each of ``ARTWORK_TURNS_DEG``, at ``ARTWORK_VIEW_WIDTH_PX`` pixels across. The ABV and volume
boxes are found once on the flat artwork by rapidocr's text detector and recogniser, and wrapped with it.
This is a generic prior about bottles, not a copy of any renderer: the turn of a real bottle is unknown,
so views a good way either side let the homography of the nearest one hold.

From photos (``smartcustoms library add liquor``): what the photos have in common is the product. Each
photo's keypoints are matched with every other photo's, and up to two RANSAC homographies are found
for each pair in turn: the keypoints one confirms are an object both photos show (the counter, the
clutter and a hand change from photo to photo; a receipt's print may repeat). A photo's objects that
overlap are one; keypoints far from the rest of their object (backdrop the homography happened to
confirm) are dropped. When a photo shows several objects, the one that reads the product's brand,
product name or Chinese name is the label, else the one with the most keypoints. The view is the photo
cut to the label's keypoints, with a margin, its keypoints the confirmed ones inside the cut, and its
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

from smartcustoms.core.geometry import overlap_of_smaller
from smartcustoms.plugins.liquor.features import FeatureExtractor, Features, reduced
from smartcustoms.plugins.liquor.library import TextBox
from smartcustoms.plugins.liquor.names import MIN_TEXT_SCORE, NAME_SIMILARITY, folded, similarity
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
PHOTO_OBJECTS_PER_PAIR = 2  # homographies looked for between two photos: the label, and one other object
PHOTO_STRAY_NEIGHBOURS = 3  # a confirmed keypoint is a stray when its 3rd nearest confirmed neighbour
PHOTO_STRAY_SPREAD = 4.0  # is this many times farther than the median keypoint's
PHOTO_SAME_OBJECT = 0.5  # objects of one photo whose boxes share this much of the smaller are one


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

    def read(self, rgb: np.ndarray) -> list[tuple[Any, str, float]]:
        """Every text on the image: its corners, what it says, the recogniser's score."""
        results, _ = self._engine(np.ascontiguousarray(rgb[:, :, ::-1]))
        return [(quad, str(text), float(score)) for quad, text, score in results or []]

    def boxes(self, rgb: np.ndarray) -> list[TextBox]:
        """The ABV and volume boxes of the texts on the image."""
        return boxes_in(self.read(rgb))


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
    photos: Sequence[np.ndarray],
    finder: TextFinder | None,
    names: Sequence[str],
    label_names: Sequence[str] = (),
) -> list[ViewImage]:
    """A view of each photo that shows the label: the photo cut to the object it shares with the others
    (or whole, for a single photo). With ``label_names`` (the product's brand, product name, Chinese
    name) and a finder, the object of a photo that reads one of them is its label (another may be a
    receipt whose print another photo's receipt repeats). ValueError when no photo shows what another
    shows."""
    extractor = FeatureExtractor.view()
    wide = FeatureExtractor(2000, 8)
    small = [reduced(photo, PHOTO_MAX_SIDE_PX)[0] for photo in photos]
    features = [wide.extract(photo) for photo in small]
    if len(photos) > 1:
        objects = _shared_objects(features, [photo.shape[:2] for photo in small])
        labels = [
            _label_object(photo, found, shared, finder, label_names)
            for photo, found, shared in zip(small, features, objects, strict=True)
        ]
    elif len(features[0]) >= PHOTO_MIN_INLIERS:
        height, width = small[0].shape[:2]
        labels = [_Object(np.ones(len(features[0]), bool), (0, 0, width, height), None)]
    else:
        labels = [None]
    views = []
    for photo, found, label, name in zip(small, features, labels, names, strict=True):
        if label is None:
            continue
        x0, y0, x1, y1 = label.box
        image = np.ascontiguousarray(photo[y0:y1, x0:x1])
        if finder is None:
            text: tuple[TextBox, ...] = ()
        else:
            text = tuple(boxes_in(label.reads if label.reads is not None else finder.read(image)))
        inside = label.mask & np.all((found.points >= (x0, y0)) & (found.points < (x1, y1)), axis=1)
        if len(photos) > 1 and inside.sum() >= PHOTO_MIN_KEYPOINTS:  # the label's own, not the counter's
            offset = np.array([x0, y0], dtype=np.float32)
            kept = Features(found.points[inside] - offset, found.descriptors[inside])
        else:
            kept = extractor.extract(image)
        views.append(ViewImage(image, kept, text, f"photo {name}"))
    if not views:
        raise ValueError("the photos do not show a common label: take them of the same bottle, label facing")
    return views


@dataclass(frozen=True, eq=False)
class _Object:
    """What a photo shares with another: its keypoints (a mask of the photo's), its box on the photo and
    the texts read in the box (corners, text, score; None when not read)."""

    mask: np.ndarray
    box: tuple[int, int, int, int]
    reads: list[tuple[Any, str, float]] | None


def _label_object(
    photo: np.ndarray,
    found: Features,
    shared: Sequence[np.ndarray],
    finder: TextFinder | None,
    label_names: Sequence[str],
) -> _Object | None:
    """Of the objects a photo shares with the others (keypoint masks, most keypoints first), the label:
    with names and a finder, the first that reads one of ``label_names``, else the one with the most
    keypoints. None when no object is large enough to be a view."""
    large = [mask for mask in shared if mask.sum() >= PHOTO_MIN_INLIERS]
    if not large:
        return None
    boxes = [_crop_box(found.points[mask], photo.shape[:2]) for mask in large]
    if finder is None or not any(label_names):
        return _Object(large[0], boxes[0], None)
    fallback: _Object | None = None
    for mask, box in zip(large, boxes, strict=True):
        x0, y0, x1, y1 = box
        reads = finder.read(np.ascontiguousarray(photo[y0:y1, x0:x1]))
        texts = [folded(text) for _, text, score in reads if score >= MIN_TEXT_SCORE]
        if any(name and similarity(name, texts)[0] >= NAME_SIMILARITY for name in label_names):
            return _Object(mask, box, reads)
        fallback = fallback or _Object(mask, box, reads)
    return fallback


def _shared_objects(
    features: Sequence[Features], shapes: Sequence[tuple[int, int]]
) -> list[list[np.ndarray]]:
    """Per photo, the objects it shares with another photo, as keypoint masks, most keypoints first.
    Each pair of photos is matched and up to ``PHOTO_OBJECTS_PER_PAIR`` homographies found in turn (the
    inliers of one are taken out before the next: the label is one rigid object, a receipt or a box that
    happens to be in both photos another); the inliers a homography confirms in a photo are one object,
    and objects of one photo whose boxes mostly overlap are one."""
    matcher = cv2.BFMatcher(cv2.NORM_HAMMING, crossCheck=True)
    shown: list[list[np.ndarray]] = [[] for _ in features]
    for i, first in enumerate(features):
        for j in range(i + 1, len(features)):
            second = features[j]
            if len(first) < 4 or len(second) < 4:
                continue
            pairs = [m for m in matcher.match(first.descriptors, second.descriptors) if m.distance <= 64]
            a = np.array([m.queryIdx for m in pairs], dtype=np.int64)
            b = np.array([m.trainIdx for m in pairs], dtype=np.int64)
            for _ in range(PHOTO_OBJECTS_PER_PAIR):
                if len(a) < PHOTO_MIN_INLIERS:
                    break
                _, mask = cv2.findHomography(first.points[a], second.points[b], cv2.RANSAC, PHOTO_RANSAC_PX)
                if mask is None or mask.sum() < PHOTO_MIN_INLIERS:
                    break
                inliers = mask.ravel().astype(bool)
                for photo, index in ((i, a[inliers]), (j, b[inliers])):
                    confirmed = np.zeros(len(features[photo]), bool)
                    confirmed[index] = True
                    shown[photo].append(confirmed)
                a, b = a[~inliers], b[~inliers]
    return [
        _merged(masks, feature, shape) for masks, feature, shape in zip(shown, features, shapes, strict=True)
    ]


def _merged(masks: Sequence[np.ndarray], features: Features, shape: tuple[int, int]) -> list[np.ndarray]:
    """Masks of one photo joined, again until none is left to join, where their cut boxes (``_crop_box``,
    margin included) overlap by at least ``PHOTO_SAME_OBJECT`` of the smaller box: one object confirmed
    with several photos. Their strays dropped, most keypoints first."""
    merged = [mask for m in masks if (mask := _core(features.points, m)).any()]
    joined = True
    while joined:
        joined = False
        boxes = [_crop_box(features.points[mask], shape) for mask in merged]
        for first in range(len(merged)):
            for second in range(first + 1, len(merged)):
                if overlap_of_smaller(boxes[first], boxes[second]) >= PHOTO_SAME_OBJECT:
                    merged[first] = merged[first] | merged.pop(second)
                    joined = True
                    break
            if joined:
                break
    return sorted((_core(features.points, m) for m in merged), key=lambda m: -int(m.sum()))


def _core(points: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """``keep`` without its strays: keypoints whose ``PHOTO_STRAY_NEIGHBOURS``-th nearest kept neighbour
    is more than ``PHOTO_STRAY_SPREAD`` times as far as it is for the median keypoint (taken as at least
    1 px). A homography between two photos also confirms a few points of the backdrop or the bottle's
    cap that happen to fall within the RANSAC threshold; a box that reached them would cut the view
    several times the label's size."""
    chosen = np.flatnonzero(keep)
    if len(chosen) <= PHOTO_STRAY_NEIGHBOURS:
        return keep
    at = points[chosen].astype(np.float64)
    distances = np.sort(np.linalg.norm(at[:, None, :] - at[None, :, :], axis=2), axis=1)
    reach = distances[:, PHOTO_STRAY_NEIGHBOURS]  # column 0 is the point itself
    core = keep.copy()
    core[chosen[reach > PHOTO_STRAY_SPREAD * max(float(np.median(reach)), 1.0)]] = False
    return core


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
