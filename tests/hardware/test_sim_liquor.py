"""Liquor camera simulator and the Hong Kong duty rules: catalogue, labels, frames, encoding."""

from __future__ import annotations

import dataclasses
import itertools
import json

import numpy as np
import pytest

from smartcustoms.hardware.sim import _liquor_label, duty, liquor
from smartcustoms.v1 import frame_pb2


@pytest.fixture(scope="module")
def sim() -> liquor.LiquorSimulator:
    return liquor.LiquorSimulator(seed=2, height=240, width=320)


# --------------------------------------------------------------------------- duty


def test_liquor_duty_follows_the_2024_rules() -> None:
    assert duty.liquor_duty_hkd(40, 700, 150) == pytest.approx(150)  # all within the 100% band
    assert duty.liquor_duty_hkd(40, 700, 480) == pytest.approx(200 + 28)
    assert duty.liquor_duty_hkd(40, 1500, 3400) == pytest.approx((200 + 0.1 * (3400 / 1.5 - 200)) * 1.5)
    assert duty.liquor_duty_hkd(30, 700, 1000) == 0  # at most 30% is duty-free
    assert duty.liquor_duty_hkd(53, 500, None) == pytest.approx(80)  # HK$160 a litre without a value
    with pytest.raises(ValueError):
        duty.liquor_duty_hkd(40, 12_000, None)
    assert duty.cigarette_duty_hkd(200) == pytest.approx(661.2)


# --------------------------------------------------------------------------- catalogue and labels


def test_catalogue_is_well_formed() -> None:
    ids = [item.catalogue_id for item in liquor.CATALOGUE]
    assert len(ids) == len(set(ids)) >= 20
    assert {item.category for item in liquor.CATALOGUE} == set(liquor.CATEGORIES)
    for item in liquor.CATALOGUE:
        assert 0 < item.abv_percent < 100 and item.volume_ml > 0 and item.reference_price_hkd > 0
        dutiable = item.abv_percent > 30
        assert (item.duty_hkd > 0) == dutiable, item
        assert not dutiable or item.category == "spirit"
    assert liquor.product("LQ-0006").duty_hkd == pytest.approx(duty.liquor_duty_hkd(40, 1500, 3400))
    with pytest.raises(ValueError):
        liquor.product("LQ-9999")


def test_labels_are_deterministic_and_distinct() -> None:
    labels = {item.catalogue_id: liquor.label_image(item) for item in liquor.CATALOGUE}
    assert all(
        label.shape == (*liquor.LABEL_SHAPE, 3) and label.dtype == np.uint8 for label in labels.values()
    )
    assert np.array_equal(labels["LQ-0001"], liquor.label_image(liquor.CATALOGUE[0]))
    for first, second in itertools.combinations(liquor.CATALOGUE, 2):
        difference = np.abs(labels[first.catalogue_id].astype(int) - labels[second.catalogue_id].astype(int))
        if (first.brand, first.product) == (second.brand, second.product):  # one line, two sizes
            rows = np.flatnonzero(difference.sum(axis=(1, 2)))
            assert rows.size and rows.min() > 0.75 * liquor.LABEL_SHAPE[0]  # only the printed volume differs
        else:
            assert difference.mean() > 10, (first.catalogue_id, second.catalogue_id)


@pytest.mark.parametrize(
    ("volume_ml", "style", "printed"),
    [
        (700, 0, "700ml"),
        (700, 1, "70cl"),
        (700, 2, "700 mL"),
        (1000, 0, "1L"),
        (1750, 1, "1.75 L"),
        (1000, 2, "1 litre"),
    ],
)
def test_volumes_print_as_labels_do(volume_ml: int, style: int, printed: str) -> None:
    assert _liquor_label.volume_text(volume_ml, style) == printed


def test_abv_prints_in_several_styles() -> None:
    printed = {_liquor_label.abv_text(43, style) for style in range(5)}
    assert printed == {"43% vol", "43%vol", "ALC. 43% VOL.", "43% alc/vol", "ALC 43% VOL"}
    assert _liquor_label.abv_text(12.5, 0) == "12.5% vol"


def test_chinese_names_are_printed_when_a_cjk_font_is_installed() -> None:
    """scripts/setup installs fonts-wqy-microhei; without any CJK font the name is left out."""
    item = liquor.product("LQ-0007")
    assert item.name_zh
    without = dataclasses.replace(item, name_zh="")
    differs = not np.array_equal(liquor.label_image(item), liquor.label_image(without))
    assert differs == (_liquor_label.cjk_font_path() is not None)


# --------------------------------------------------------------------------- frames


def test_frame_shape_and_determinism(sim: liquor.LiquorSimulator) -> None:
    shot = sim.generate(4)
    assert shot.image.shape == (240, 320, 3) and shot.image.dtype == np.uint8
    again = liquor.LiquorSimulator(seed=2, height=240, width=320).generate(4)
    assert shot.image.tobytes() == again.image.tobytes() and shot.catalogue_id == again.catalogue_id
    assert not np.array_equal(shot.image, sim.generate(5).image)
    assert not np.array_equal(
        shot.image, liquor.LiquorSimulator(seed=3, height=240, width=320).generate(4).image
    )


def test_pose_light_and_blur_stay_within_their_ranges(sim: liquor.LiquorSimulator) -> None:
    shots = [sim.generate(index) for index in range(60)]
    for shot in shots:
        x0, y0, x1, y1 = shot.label_box
        assert 0 <= x0 < x1 <= 320 and 0 <= y0 < y1 <= 240
        assert abs(shot.tilt_deg) <= 8 and 0.8 <= shot.scale <= 1.1 and abs(shot.turn_deg) <= 25
        assert 0.65 <= shot.light_gain <= 1.3 and 0 <= shot.blur_px <= 9
        assert 60 <= shot.jpeg_quality < 96 and 0 <= shot.clutter <= 4
        assert (shot.occlusion != "" or shot.occluded_fraction == 0) and 0 <= shot.occluded_fraction < 0.6
    assert len({shot.catalogue_id for shot in shots}) > 15
    assert {shot.occlusion for shot in shots} == {"", "hand", "sticker"}
    assert len({shot.jpeg_quality for shot in shots}) > 10
    assert any(shot.blur_px == 0 for shot in shots) and any(shot.blur_px > 1 for shot in shots)


def test_the_label_is_where_the_truth_says(sim: liquor.LiquorSimulator) -> None:
    """Two products shot in the same pose and light differ at the label, and not in the corners."""
    for index in range(5):
        first = sim.generate(index, catalogue_id="LQ-0001")
        second = sim.generate(index, catalogue_id="LQ-0023")
        difference = np.abs(first.image.astype(int) - second.image.astype(int)).sum(axis=2)
        x0, y0, x1, y1 = first.label_box
        assert difference[y0:y1, x0:x1].mean() > 20
        assert difference[:10, :10].max() == 0 and difference[-10:, -10:].max() == 0


def test_catalogue_ids_limit_the_products() -> None:
    simulator = liquor.LiquorSimulator(seed=1, height=120, width=160, catalogue_ids=("LQ-0003", "LQ-0017"))
    assert {simulator.generate(index).catalogue_id for index in range(20)} == {"LQ-0003", "LQ-0017"}
    with pytest.raises(ValueError):
        liquor.LiquorSimulator(seed=1, catalogue_ids=("nope",))


@pytest.mark.parametrize("encoding", liquor.ENCODINGS)
def test_encode_round_trips(sim: liquor.LiquorSimulator, encoding: str) -> None:
    image = sim.generate(0).image
    decoded = liquor.decode(liquor.encode(image, encoding))
    assert decoded.shape == image.shape
    error = np.abs(decoded.astype(int) - image.astype(int)).mean()
    assert error == 0 if encoding == "png" else error < 4
    with pytest.raises(ValueError):
        liquor.encode(image, "gif")


def test_frame_carries_the_encoded_image_and_truth(sim: liquor.LiquorSimulator) -> None:
    shot = sim.generate(7)
    frame = liquor.to_frame(shot, source_id="camera-1", sequence=2, encoding="png")
    assert frame.modality == frame_pb2.MODALITY_CAMERA
    assert frame.encoding == "png" and frame.dtype == frame_pb2.DTYPE_UNSPECIFIED
    assert list(frame.shape) == [240, 320, 3] and frame.payload_bytes == len(frame.payload)
    assert np.array_equal(liquor.decode(frame.payload), shot.image)
    truth = json.loads(frame.metadata["sim_truth"])
    assert truth["catalogue_id"] == shot.catalogue_id
    assert frame.metadata["camera_role"] == "red_channel"
    assert frame.metadata["traveller_id"] == shot.traveller_id == truth["traveller_id"]
    assert truth["duty_hkd"] == pytest.approx(round(shot.product.duty_hkd, 2))
    assert liquor.to_frame(shot, source_id="camera-1", sequence=3).encoding == "jpeg"


def test_travellers_bring_three_bottles_each(sim: liquor.LiquorSimulator) -> None:
    travellers = [sim.generate(index).traveller_id for index in range(7)]
    assert travellers[:3] == [travellers[0]] * 3 and travellers[3] != travellers[0]
    assert travellers[6] not in travellers[:6]
    assert travellers[0] != liquor.LiquorSimulator(seed=3, height=96, width=128).generate(0).traveller_id


def test_a_jpeg_frame_uses_the_cameras_quality(sim: liquor.LiquorSimulator) -> None:
    shot = sim.generate(3)
    own = liquor.to_frame(shot, source_id="camera-1", sequence=1)
    assert own.payload == liquor.encode(shot.image, "jpeg", quality=shot.jpeg_quality)
    assert liquor.to_frame(shot, source_id="camera-1", sequence=1, quality=95).payload != own.payload
    assert (
        liquor.to_frame(shot, source_id="c", sequence=1, traveller_id="T-9").metadata["traveller_id"] == "T-9"
    )


# --------------------------------------------------------------------------- variation and designs


def test_varied_frames_draw_more_and_leave_plain_frames_as_they_were() -> None:
    plain = liquor.LiquorSimulator(seed=5, height=240, width=320)
    varied = liquor.LiquorSimulator(seed=5, height=240, width=320, varied=True)
    again = liquor.LiquorSimulator(seed=5, height=240, width=320, varied=True)
    for index in range(6):
        first, second = plain.generate(index), varied.generate(index)
        assert first.catalogue_id == second.catalogue_id  # the same draws, and more of them
        assert not np.array_equal(first.image, second.image)
        assert np.array_equal(second.image, again.generate(index).image)
        x0, y0, x1, y1 = second.label_box
        assert 0 <= x0 < x1 <= 320 and 0 <= y0 < y1 <= 240


def test_the_label_of_a_varied_frame_is_where_the_truth_says() -> None:
    varied = liquor.LiquorSimulator(seed=6, height=240, width=320, varied=True)
    for index in range(4):
        first = varied.generate(index, catalogue_id="LQ-0001")
        second = varied.generate(index, catalogue_id="LQ-0023")
        difference = np.abs(first.image.astype(int) - second.image.astype(int)).sum(axis=2)
        x0, y0, x1, y1 = first.label_box
        assert difference[y0:y1, x0:x1].mean() > 20


def test_a_design_draws_a_line_another_way_and_its_sizes_alike() -> None:
    small, large = liquor.product("LQ-0009"), liquor.product("LQ-0010")  # one line, 750 ml and 1.75 l
    own, redesigned = liquor.label_image(small), liquor.label_image(small, design=1)
    assert own.shape == (*_liquor_label.LABEL_SHAPE, 3)
    assert redesigned.shape[1] == own.shape[1] and redesigned.ndim == 3
    assert redesigned.shape != own.shape or np.abs(redesigned.astype(int) - own.astype(int)).mean() > 20
    assert not np.array_equal(redesigned, liquor.label_image(small, design=2))
    sibling = liquor.label_image(large, design=1)
    assert sibling.shape == redesigned.shape
    band = int(0.75 * redesigned.shape[0])  # above the ABV and volume line the sizes print alike
    assert np.array_equal(sibling[:band], redesigned[:band])
    assert not np.array_equal(sibling, redesigned)
    frame = liquor.LiquorSimulator(seed=7, height=240, width=320, design=1).generate(0)
    assert frame.image.shape == (240, 320, 3)
