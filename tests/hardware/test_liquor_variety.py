"""The liquor simulator's wider world (``varied=True`` and redesigned labels): labels cut to shapes,
placed higher or lower, printed on textured paper, shadows across the frame; frames without variation
stay as they were."""

from __future__ import annotations

import dataclasses
import hashlib

import numpy as np
import pytest

from smartcustoms.hardware.sim import _liquor_label
from smartcustoms.hardware.sim import liquor as liquor_sim


def test_label_cuts_keep_the_middle_and_drop_corners() -> None:
    v, u = np.mgrid[-1:1:41j, -1:1:61j]
    for kind in (1, 2, 3):
        cut = liquor_sim._label_cut(kind, u, v)
        assert cut[20, 30]  # the middle prints
        assert not cut[-1, 0] and not cut[-1, -1]  # the lower corners do not
        assert 0.5 < cut.mean() < 1.0
    assert liquor_sim._label_cut(3, u, v)[0, 0]  # a shield is flat on top
    assert not liquor_sim._label_cut(2, u, v)[0, 0]


def test_varied_frames_draw_every_cut_and_texture_and_shadows() -> None:
    shots = [liquor_sim._Variation.draw(np.random.default_rng([5, index, 7])) for index in range(60)]
    assert {shot.label_cut for shot in shots} == {0, 1, 2, 3}
    assert any(shot.grain > 0 for shot in shots) and any(shot.grain == 0 for shot in shots)
    assert any(shot.shadow > 0 for shot in shots) and any(shot.shadow == 0 for shot in shots)
    assert all(0.4 <= shot.label_centre <= 0.68 for shot in shots)


def test_a_cut_label_leaves_the_glass_showing_at_its_corners() -> None:
    simulator = liquor_sim.LiquorSimulator(5, 480, 640, varied=True)
    item = liquor_sim.product("LQ-0001")
    base = liquor_sim._Variation.draw(np.random.default_rng([5, 0, 7]))
    filled = {}
    for cut in (0, 2):
        shot = dataclasses.replace(base, label_cut=cut, rng=np.random.default_rng(0))
        _, _, on_label, corners = simulator._bottle(item, 0.0, shot)
        (x0, y0), (x1, y1) = corners[0], corners[2]
        filled[cut] = on_label.sum() / ((x1 - x0) * (y1 - y0))
    assert filled[0] > 0.95  # a rectangle fills its box
    assert filled[2] < 0.9  # an oval leaves the corners to the glass


def test_frames_without_variation_are_unchanged() -> None:
    """The ordinary frames (held-out evaluation seeds among them) do not move when the varied world
    grows: the same bytes as before variation of cuts, paper and shadows existed."""
    frame = liquor_sim.LiquorSimulator(41, 240, 320).generate(3)
    assert hashlib.sha256(frame.image.tobytes()).hexdigest()[:16] == DEFAULT_FRAME_SHA


@pytest.mark.parametrize("design", [3, 6])
def test_every_third_design_prints_the_mandatory_line_on_top(design: int) -> None:
    item = liquor_sim.product("LQ-0001")
    label = liquor_sim.label_image(item, design)
    again = liquor_sim.label_image(item, design)
    assert np.array_equal(label, again)  # deterministic
    assert not np.array_equal(label, liquor_sim.label_image(item, design + 1))
    assert label.shape[1] == _liquor_label.LABEL_SHAPE[1]


DEFAULT_FRAME_SHA = "16db09f1320a23cd"  # seed 41, frame 3, 240 x 320, as drawn before variation grew
