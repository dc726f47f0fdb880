"""dense_region, the dense-object alarm of X-ray screening, on synthetic images."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from smartcustoms.core.frames import array_frame, inline_view
from smartcustoms.core.manager import discover, new_plugin_manager, register
from smartcustoms.core.types import VEHICLE_SCAN_KEYS, Assessment, Decision, Detection, Modality
from smartcustoms.plugins.xray import DenseRegionPlugin, dense_region

IMPORT_PATH = "smartcustoms.plugins.xray:DenseRegionPlugin"
BRIGHT = 60_000  # transmits most of the beam
DARK = 100  # below 0.2 % of 65535 (the default threshold, 131) and 2 % (the tests', 1310)
# the mechanics are tested with settings of their own, so that the defaults can move
SETTINGS: dict[str, Any] = {
    **dense_region.SPEC.default_settings,
    "max_transmission": 0.02,
    "min_area_px": 400,
}


def xray(height: int, width: int, *dense: tuple[slice, slice]) -> np.ndarray:
    image = np.full((height, width), BRIGHT, dtype=np.uint16)
    for rows, cols in dense:
        image[rows, cols] = DARK
    return image


def assess(image: np.ndarray, **overrides: Any) -> Assessment:
    return dense_region.assess(image, **{**SETTINGS, **overrides})


def test_dense_region_clear_image() -> None:
    assert assess(xray(64, 64)) == Assessment.clear()


def test_dense_region_block_above_min_area() -> None:
    result = assess(xray(96, 96, (slice(32, 64), slice(48, 80))))  # 32 x 32 px on 2 x 2 tiles
    assert result.decision is Decision.ALARM
    assert result.risk_score == 1.0
    [found] = result.detections
    assert found == Detection(
        label="dense_object",
        score=1024 / 1600,  # area / (4 * min_area_px)
        box=(48.0, 32.0, 80.0, 64.0),  # x_min, y_min, x_max, y_max
        explanation="1024 px transmit < 2% of the high-energy beam",
        attributes={"area_px": "1024"},
    )


def test_dense_region_defaults_want_a_large_region_the_beam_hardly_crosses() -> None:
    defaults = dict(dense_region.SPEC.default_settings)
    large = xray(96, 96, (slice(32, 80), slice(32, 80)))  # 48 x 48 = 2304 px at 0.15 % of the beam
    [found] = dense_region.assess(large, **defaults).detections
    assert found.explanation == "2304 px transmit < 0.2% of the high-energy beam"
    assert dense_region.assess(xray(96, 96, (slice(32, 64), slice(32, 64))), **defaults) == Assessment.clear()
    grey = xray(96, 96, (slice(32, 80), slice(32, 80)))
    grey[grey == DARK] = 1000  # 1.5 % of the beam: a screener can still read it
    assert dense_region.assess(grey, **defaults) == Assessment.clear()


def test_dense_region_block_below_min_area() -> None:
    image = xray(64, 64, (slice(16, 32), slice(16, 32)))  # 256 px < 400
    assert assess(image) == Assessment.clear()
    [found] = assess(image, min_area_px=200).detections
    assert found.box == (16.0, 16.0, 32.0, 32.0)
    assert found.score == pytest.approx(256 / 800)
    assert assess(image, min_area_px=50).detections[0].score == 1.0  # 256 / 200, capped


def test_dense_region_box_clipped_to_the_image() -> None:
    # tile 10 on a 45 x 45 image: the last tile row and column are 5 px wide
    result = assess(xray(45, 45, (slice(20, 45), slice(20, 45))), tile_px=10)
    [found] = result.detections
    assert found.box == (20.0, 20.0, 45.0, 45.0)
    # 4 full tiles of 100 px and 4 edge tiles of 50 px; the 25 px corner tile is not dense enough (> 25)
    assert found.attributes == {"area_px": "600"}
    assert found.score == pytest.approx(600 / 1600)


def test_dense_region_separate_regions() -> None:
    image = xray(64, 64, (slice(0, 16), slice(0, 16)), (slice(16, 32), slice(16, 32)))  # diagonal tiles
    result = assess(image, min_area_px=200)
    assert sorted(d.box for d in result.detections if d.box) == [
        (0.0, 0.0, 16.0, 16.0),
        (16.0, 16.0, 32.0, 32.0),
    ]


def test_dense_region_sparse_dark_pixels_are_not_a_region() -> None:
    image = xray(64, 64)
    image[::3, ::3] = DARK  # at most 36 dark pixels per 16 x 16 tile: not more than a quarter
    assert assess(image, min_area_px=1) == Assessment.clear()


def test_dense_region_3d_uses_the_high_energy_channel() -> None:
    dense = xray(64, 64, (slice(0, 32), slice(0, 32)))
    clear = xray(64, 64)
    assert assess(np.stack([clear, dense])).decision is Decision.CLEAR
    result = assess(np.stack([dense, clear]))
    assert result.decision is Decision.ALARM
    assert [d.box for d in result.detections] == [(0.0, 0.0, 32.0, 32.0)]


def test_dense_region_non_contiguous_input() -> None:
    image = xray(64, 64, (slice(0, 32), slice(32, 64)))
    result = assess(image.T)  # a transposed view: the dense block moves to the bottom left
    assert [d.box for d in result.detections] == [(0.0, 32.0, 32.0, 64.0)]


@pytest.mark.parametrize("shape", [(64,), (1, 2, 8, 8)])
def test_dense_region_rejects_other_ranks(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="expected a 2D image"):
        assess(np.full(shape, BRIGHT, dtype=np.uint16))


def test_dense_region_threshold_follows_settings() -> None:
    image = xray(64, 64, (slice(0, 32), slice(0, 32)))
    image[image == DARK] = 3000  # 4.6 % of full scale
    assert assess(image).decision is Decision.CLEAR
    assert assess(image, max_transmission=0.05).decision is Decision.ALARM


def test_dense_region_is_a_plugin_class_with_its_hooks() -> None:
    info = discover(IMPORT_PATH)
    assert info.factory is DenseRegionPlugin
    assert info.hooks == ("smartcustoms_plugin_spec", "smartcustoms_process_batch", "smartcustoms_warm_up")
    assert info.spec is dense_region.SPEC
    assert info.spec.consumes == frozenset({Modality.XRAY})
    assert info.spec.excludes_metadata == VEHICLE_SCAN_KEYS
    assert info.spec.artefacts == ()


def test_dense_region_hooks_follow_the_settings_given_at_construction() -> None:
    dense = xray(64, 64, (slice(0, 16), slice(0, 16)))  # 256 px
    frames = [
        inline_view(array_frame(image, modality=Modality.XRAY, source_id="lane-1", sequence=n))
        for n, image in enumerate([dense, xray(64, 64)])
    ]
    strict = new_plugin_manager()
    register(strict, IMPORT_PATH, settings=SETTINGS)
    assert [a.decision for a in strict.hook.smartcustoms_process_batch(frames=frames)] == [Decision.CLEAR] * 2
    lenient = new_plugin_manager()
    register(lenient, IMPORT_PATH, settings={**SETTINGS, "min_area_px": 100})
    assert [a.decision for a in lenient.hook.smartcustoms_process_batch(frames=frames)] == [
        Decision.ALARM,
        Decision.CLEAR,
    ]


def test_dense_region_warm_up_runs() -> None:
    plugin = DenseRegionPlugin(dict(dense_region.SPEC.default_settings))
    plugin.smartcustoms_warm_up()
    pm = new_plugin_manager()
    register(pm, IMPORT_PATH)
    assert pm.hook.smartcustoms_warm_up() == []


def test_dense_region_refuses_a_tile_of_no_pixels() -> None:
    with pytest.raises(ValueError, match="tile_px"):
        DenseRegionPlugin({**dense_region.SPEC.default_settings, "tile_px": 0})
