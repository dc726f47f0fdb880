"""Boxes: the one intersection over union of the project, for 2D boxes and 3D volumes alike, and the share
of the smaller of two 2D boxes they hold in common."""

from __future__ import annotations

from collections.abc import Sequence


def iou(one: Sequence[float], other: Sequence[float]) -> float:
    """Intersection over union of two axis-aligned boxes of the same dimension.

    A box is its minimum corner then its maximum corner: ``(x_min, y_min, x_max, y_max)`` in 2D,
    ``(x_min, y_min, z_min, x_max, y_max, z_max)`` in 3D. Empty or disjoint boxes give 0.
    """
    if len(one) != len(other) or len(one) % 2 or not one:
        raise ValueError(f"boxes of {len(one)} and {len(other)} numbers: need two boxes of one dimension")
    half = len(one) // 2
    inter = union_one = union_other = 1.0
    for axis in range(half):
        low, high = max(one[axis], other[axis]), min(one[axis + half], other[axis + half])
        if high <= low:
            return 0.0
        inter *= high - low
        union_one *= max(0.0, one[axis + half] - one[axis])
        union_other *= max(0.0, other[axis + half] - other[axis])
    union = union_one + union_other - inter
    return inter / union if union > 0 else 0.0


def overlap_of_smaller(one: Sequence[float], other: Sequence[float]) -> float:
    """The area two 2D boxes ``(x_min, y_min, x_max, y_max)`` share, as a share of the smaller one's (one
    box inside another gives 1); 0 for disjoint or empty boxes."""
    width = min(one[2], other[2]) - max(one[0], other[0])
    height = min(one[3], other[3]) - max(one[1], other[1])
    smaller = min((one[2] - one[0]) * (one[3] - one[1]), (other[2] - other[0]) * (other[3] - other[1]))
    if width <= 0 or height <= 0 or smaller <= 0:
        return 0.0
    return width * height / smaller
