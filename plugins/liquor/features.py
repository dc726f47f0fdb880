"""What the matcher sees of an image: a light-normalised grey image and its ORB keypoints.

Both sides use this module, so a reference view and a camera frame are described alike: the tools when
they build the library's views, the plugin on every frame. Grey levels are equalised locally (CLAHE), so
a dim or unevenly lit label gives the same corners as a bright one; ORB (oriented FAST corners with rotated
BRIEF descriptors, over an image pyramid) is invariant to rotation and, across the pyramid, to scale.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from smartcustoms.core.lazy import lazy

if TYPE_CHECKING:
    import cv2
else:
    cv2 = lazy("cv2")

FRAME_FEATURES = 2500  # corners kept in a camera frame (the label is a small part of it)
VIEW_FEATURES = 500  # corners kept in a reference view
FRAME_FAST_THRESHOLD = 15  # a frame's grey-level step for a corner: sensor noise on the counter is not one
FAINT_FAST_THRESHOLD = 7  # the second look at a frame where nothing matched (blur, dim light, low contrast)
VIEW_FAST_THRESHOLD = 8
MAX_SIDE_PX = 1280  # larger frames are reduced to this (longer side) before matching


@dataclass(frozen=True, eq=False)
class Features:
    """Keypoint positions (x, y), float32 [n, 2], and their descriptors, uint8 [n, 32]."""

    points: np.ndarray
    descriptors: np.ndarray

    def __len__(self) -> int:
        return int(self.points.shape[0])

    @classmethod
    def empty(cls) -> Features:
        return cls(np.zeros((0, 2), np.float32), np.zeros((0, 32), np.uint8))


class FeatureExtractor:
    """ORB with the settings of frames (``frame``) or of reference views (``view``)."""

    def __init__(self, features: int, levels: int, fast_threshold: int = VIEW_FAST_THRESHOLD) -> None:
        self._orb = cv2.ORB.create(
            nfeatures=features,
            scaleFactor=1.2,
            nlevels=levels,
            edgeThreshold=15,
            patchSize=31,
            fastThreshold=fast_threshold,
        )
        self._clahe = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8))

    @classmethod
    def frame(cls) -> FeatureExtractor:
        return cls(FRAME_FEATURES, 8, FRAME_FAST_THRESHOLD)

    @classmethod
    def faint(cls) -> FeatureExtractor:
        """A frame's settings with fainter corners kept, for a second look."""
        return cls(FRAME_FEATURES, 8, FAINT_FAST_THRESHOLD)

    @classmethod
    def view(cls) -> FeatureExtractor:
        return cls(VIEW_FEATURES, 6)

    def grey(self, rgb: np.ndarray) -> np.ndarray:
        """Grey levels of an RGB uint8 image, equalised locally."""
        return np.asarray(self._clahe.apply(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)))

    def extract(self, rgb: np.ndarray, mask: np.ndarray | None = None) -> Features:
        """The keypoints of an RGB uint8 image (within ``mask``, uint8, where given)."""
        keypoints, descriptors = self._orb.detectAndCompute(self.grey(rgb), mask)
        if descriptors is None or not keypoints:
            return Features.empty()
        points = np.array([k.pt for k in keypoints], dtype=np.float32).reshape(-1, 2)
        return Features(points, np.ascontiguousarray(descriptors, dtype=np.uint8))


def reduced(rgb: np.ndarray, max_side_px: int = MAX_SIDE_PX) -> tuple[np.ndarray, float]:
    """The image reduced so its longer side is at most ``max_side_px``, and the factor it was reduced by
    (1.0 when it was small enough)."""
    side = max(rgb.shape[:2])
    if side <= max_side_px:
        return rgb, 1.0
    factor = max_side_px / side
    size = (round(rgb.shape[1] * factor), round(rgb.shape[0] * factor))
    return np.asarray(cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)), factor
