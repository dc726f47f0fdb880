"""core.geometry: the share of the smaller of two boxes they hold in common (used to join a plate read at
two scales, and a label's objects seen with several photos)."""

from __future__ import annotations

import pytest

from smartcustoms.core.geometry import overlap_of_smaller


def test_overlap_is_a_share_of_the_smaller_box() -> None:
    assert overlap_of_smaller((0, 0, 100, 100), (10, 10, 20, 20)) == 1.0  # one inside the other
    assert overlap_of_smaller((0, 0, 10, 10), (5, 0, 25, 10)) == pytest.approx(0.5)
    assert overlap_of_smaller((5, 0, 25, 10), (0, 0, 10, 10)) == pytest.approx(0.5)


def test_disjoint_touching_or_empty_boxes_share_nothing() -> None:
    assert overlap_of_smaller((0, 0, 10, 10), (10, 0, 20, 10)) == 0.0
    assert overlap_of_smaller((0, 0, 10, 10), (30, 30, 40, 40)) == 0.0
    assert overlap_of_smaller((0, 0, 10, 10), (5, 5, 5, 8)) == 0.0
