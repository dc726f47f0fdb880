"""Find which line's label a camera frame shows, and where: keypoint votes checked by geometry.

1. ORB keypoints of the frame (``features``), reduced to at most 1280 pixels on its longer side;
2. each keypoint's nearest reference descriptor (``index``), kept when it is close (Hamming distance at
   most ``max_distance``) and clearly closer than the nearest descriptor of any other line (ratio test);
3. the kept matches vote for the view their reference keypoint belongs to; the views with the most votes
   are checked by RANSAC: a homography from the view to the frame must explain the matches (a label
   wrapped around a bottle turned less than about 35 degrees from the view is close enough to a plane
   for a tolerance of a few pixels), and the view's outline it maps must be a plausible quadrilateral;
4. a line scores the inliers of its best view.

Clutter, a hand or a sticker remove keypoints but do not add consistent ones: the inlier count falls with
the share of the label hidden, never rises for the wrong line. What the counts mean as a probability is
the calibration's business (``calibration``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from smartcustoms.core.lazy import lazy
from smartcustoms.plugins.liquor.features import FeatureExtractor, reduced
from smartcustoms.plugins.liquor.library import LabelLibrary

if TYPE_CHECKING:
    import cv2
else:
    cv2 = lazy("cv2")


@dataclass(frozen=True)
class MatcherSettings:
    max_distance: int = 64  # Hamming bits of 256
    ratio: float = 0.85  # nearest / nearest of another line
    min_votes: int = 5  # matches a view needs before it is checked
    views_checked: int = 6  # views checked by RANSAC, most votes first
    min_vote_share: float = 0.2  # ... of those, only views with this share of the top view's votes
    ransac_px: float = 6.0  # reprojection tolerance, in pixels of the frame as matched
    min_label_px: float = 24.0  # the shorter side a label's outline must have on the frame
    second_look_below: int = 6  # a best line with fewer inliers: the frame is looked at again, fainter


@dataclass(frozen=True, eq=False)
class LineMatch:
    """A line's best view on the frame: inliers, and the homography from the view's pixels to the
    frame's (full resolution)."""

    line: int  # index into LabelLibrary.lines
    view: int  # index into LabelLibrary.views
    inliers: int
    homography: np.ndarray  # float64 [3, 3]
    # every verified view of the line, this one first: (view, inliers, homography); the reading picks
    # among them the view that prints a text box least foreshortened
    views: tuple[tuple[int, int, np.ndarray], ...] = ()

    def outline(self, shape: tuple[int, int]) -> np.ndarray:
        """The view's corners on the frame, float [4, 2], for a view of ``shape`` (height, width)."""
        height, width = shape
        corners = np.array([[0, 0], [width, 0], [width, height], [0, height]], np.float64).reshape(-1, 1, 2)
        return np.asarray(cv2.perspectiveTransform(corners, self.homography)).reshape(4, 2)


class LabelMatcher:
    """Matches frames against a loaded label library."""

    def __init__(self, library: LabelLibrary, settings: MatcherSettings | None = None) -> None:
        self.library = library
        self.settings = settings or MatcherSettings()
        self.extractor = FeatureExtractor.frame()
        self.faint = FeatureExtractor.faint()

    def match(self, rgb: np.ndarray) -> list[LineMatch]:
        """Every line with a verified view, most inliers first (ties: line order). When no view is
        verified, the frame is looked at again with fainter corners (``FeatureExtractor.faint``): a
        blurred, dim or low-contrast label gives too few corners above the frame's usual threshold,
        and the second look costs time only on those frames."""
        small, factor = reduced(rgb)
        found = self._match(small, factor, self.extractor)
        if not found or found[0].inliers < self.settings.second_look_below:
            again = self._match(small, factor, self.faint)
            if again and (not found or again[0].inliers > found[0].inliers):
                return again
        return found

    def _match(self, small: np.ndarray, factor: float, extractor: FeatureExtractor) -> list[LineMatch]:
        features = extractor.extract(small)
        if not len(features):
            return []
        found = self.library.index.match(features.descriptors)
        s = self.settings
        kept = (found.index >= 0) & (found.distance <= s.max_distance)
        kept &= found.distance < s.ratio * found.other_distance
        queries = np.flatnonzero(kept)
        train = found.index[queries]
        views = self.library.view_of[train]
        verified_views: dict[int, list[tuple[int, int, np.ndarray]]] = {}
        scale = np.diag([1 / factor, 1 / factor, 1.0])
        for view in _most_voted(views, s.views_checked, s.min_votes, s.min_vote_share):
            chosen = views == view
            verified = self._verify(
                view, features.points[queries[chosen]], self.library.points[train[chosen]]
            )
            if verified is None:
                continue
            inliers, homography = verified
            line = self.library.view_line(view)
            verified_views.setdefault(line, []).append((view, inliers, scale @ homography))
        best = []
        for line, seen in verified_views.items():
            seen.sort(key=lambda entry: -entry[1])  # stable: ties keep the order of votes
            view, inliers, homography = seen[0]
            best.append(LineMatch(line, view, inliers, homography, tuple(seen)))
        return sorted(best, key=lambda m: (-m.inliers, m.line))

    def _verify(
        self, view: int, frame_points: np.ndarray, view_points: np.ndarray
    ) -> tuple[int, np.ndarray] | None:
        """RANSAC homography view -> frame: (inliers, homography), None when there is none worth having."""
        if len(frame_points) < 4:
            return None
        homography, mask = cv2.findHomography(
            view_points, frame_points, cv2.RANSAC, self.settings.ransac_px, maxIters=500, confidence=0.995
        )
        if homography is None or mask is None:
            return None
        if not _plausible(homography, self.library.views[view].shape, self.settings.min_label_px):
            return None
        return int(mask.sum()), np.asarray(homography, dtype=np.float64)


def _most_voted(views: np.ndarray, count: int, min_votes: int, min_share: float) -> Sequence[int]:
    if views.size == 0:
        return []
    numbers, votes = np.unique(views, return_counts=True)
    order = np.argsort(-votes, kind="stable")[:count]
    floor = max(min_votes, min_share * votes[order[0]])
    return [int(numbers[i]) for i in order if votes[i] >= floor]


def _plausible(homography: np.ndarray, shape: tuple[int, int], min_side_px: float) -> bool:
    """The view's outline on the frame is convex, not tiny, and not folded or stretched beyond what a
    bottle turned and tilted can do (sides within a factor 6 of each other's opposite)."""
    height, width = shape
    corners = np.array([[0, 0], [width, 0], [width, height], [0, height]], np.float64).reshape(-1, 1, 2)
    quad = np.asarray(cv2.perspectiveTransform(corners, homography)).reshape(4, 2)
    if not np.all(np.isfinite(quad)) or not cv2.isContourConvex(quad.astype(np.float32)):
        return False
    sides = np.linalg.norm(quad - np.roll(quad, -1, axis=0), axis=1)
    if sides.min() < min_side_px:
        return False
    return bool(max(sides[0] / sides[2], sides[2] / sides[0], sides[1] / sides[3], sides[3] / sides[1]) < 6)
