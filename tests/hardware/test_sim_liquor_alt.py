"""The independent liquor-label renderer used to evaluate label recognition: identity, determinism, images."""

from __future__ import annotations

import inspect
import itertools
import json
import re

import numpy as np
import pytest

from smartcustoms.hardware.sim import liquor, liquor_alt
from smartcustoms.v1 import frame_pb2

N_PRODUCTS = len(liquor.CATALOGUE)


@pytest.fixture(scope="module")
def shots() -> list[liquor_alt.Shot]:
    return [liquor_alt.render(11, index) for index in range(N_PRODUCTS)]


@pytest.fixture(scope="module")
def pairs() -> list[tuple[np.ndarray, str]]:
    return liquor_alt.generate(11, 6)


# --------------------------------------------------------------------------- product identity


@pytest.mark.parametrize("item", liquor.CATALOGUE, ids=lambda item: item.catalogue_id)
def test_printed_facts_say_the_catalogue_facts(item: liquor.LiquorProduct) -> None:
    abv = re.fullmatch(r"(\d+(?:\.\d+)?) ?% ?vol\.?", liquor_alt.abv_text(item), re.IGNORECASE)
    assert abv and float(abv.group(1)) == item.abv_percent
    volume = re.fullmatch(r"(\d+(?:\.\d+)?) ?(ml|cl|l)", liquor_alt.volume_text(item), re.IGNORECASE)
    assert volume, liquor_alt.volume_text(item)
    to_ml = {"ml": 1, "cl": 10, "l": 1000}[volume.group(2).lower()]
    assert float(volume.group(1)) * to_ml == pytest.approx(item.volume_ml)


def test_labels_are_deterministic_distinct_and_readable() -> None:
    arts = [liquor_alt.label_art(item) for item in liquor.CATALOGUE]
    again = liquor_alt.label_art(liquor.CATALOGUE[5])
    assert np.array_equal(arts[5].body, again.body)
    for art in arts:
        assert art.body.dtype == np.float32 and art.body.shape[0] == liquor_alt.LABEL_CANVAS_H
        assert art.fact_text_px >= 18  # cap height of ABV and volume on the flat label
    for first, second in itertools.combinations(arts, 2):
        same_size = first.body.shape == second.body.shape
        assert not same_size or not np.array_equal(first.body, second.body)


def test_a_brand_keeps_its_look_across_products() -> None:
    by_brand = {}
    for item in liquor.CATALOGUE:
        look = liquor_alt.look(item)
        by_brand.setdefault(item.brand, set()).add((look.layout, look.title, look.paper, look.ink))
    assert all(len(looks) == 1 for looks in by_brand.values())
    assert len({liquor_alt.look(item).layout for item in liquor.CATALOGUE}) == len(liquor_alt.LAYOUTS)


def test_the_renderer_does_not_draw_with_the_main_simulator() -> None:
    source = inspect.getsource(liquor_alt)
    assert "label_image" not in source and "LiquorSimulator(" not in source


# --------------------------------------------------------------------------- images


def test_every_product_is_drawn_once_per_run(shots: list[liquor_alt.Shot]) -> None:
    assert sorted(shot.catalogue_id for shot in shots) == sorted(
        item.catalogue_id for item in liquor.CATALOGUE
    )
    next_run = {liquor_alt.render(11, N_PRODUCTS + index).catalogue_id for index in range(3)}
    assert next_run <= set(liquor_alt.CATALOGUE_BY_ID)


def test_shots_are_valid_images_within_their_ranges(shots: list[liquor_alt.Shot]) -> None:
    for shot in shots:
        assert shot.image.shape == (*liquor_alt.IMAGE_SHAPE, 3) and shot.image.dtype == np.uint8
        assert shot.image.std() > 10 and 20 < shot.image.mean() < 235
        assert abs(shot.turn_deg) <= 35 and abs(shot.tilt_deg) <= 12 and 60 <= shot.jpeg_quality <= 95
        assert shot.fact_text_px >= 7  # ABV and volume cap height on the camera image
    assert np.median([shot.fact_text_px for shot in shots]) >= 12
    assert max(abs(shot.turn_deg) for shot in shots) > 25 and max(abs(shot.tilt_deg) for shot in shots) > 8


def test_generate_is_deterministic_and_seeded(pairs: list[tuple[np.ndarray, str]]) -> None:
    again = liquor_alt.generate(11, 3)
    assert all(np.array_equal(a[0], b[0]) and a[1] == b[1] for a, b in zip(again, pairs, strict=False))
    other = liquor_alt.generate(12, 3)
    assert not any(np.array_equal(a[0], b[0]) for a, b in zip(other, pairs, strict=False))
    image, catalogue_id = pairs[0]
    assert image.shape == (*liquor_alt.IMAGE_SHAPE, 3) and image.dtype == np.uint8
    assert catalogue_id in liquor_alt.CATALOGUE_BY_ID
    with pytest.raises(ValueError):
        liquor_alt.render(-1, 0)


def test_generate_returns_the_jpeg_coded_image(shots: list[liquor_alt.Shot]) -> None:
    image, _ = liquor_alt.generate(11, 1)[0]
    error = np.abs(image.astype(int) - shots[0].image.astype(int)).mean()
    assert 0 < error < 6


# --------------------------------------------------------------------------- frames


def test_frames_are_red_channel_camera_frames(pairs: list[tuple[np.ndarray, str]]) -> None:
    frames = liquor_alt.frames(11, 6, "counter-3")
    travellers: dict[str, int] = {}
    for index, (frame, (image, catalogue_id)) in enumerate(zip(frames, pairs, strict=True)):
        assert frame.modality == frame_pb2.MODALITY_CAMERA and frame.encoding == "jpeg"
        assert frame.source_id == "counter-3" and frame.sequence == index
        assert list(frame.shape) == [*liquor_alt.IMAGE_SHAPE, 3] and frame.payload_bytes == len(frame.payload)
        assert np.array_equal(liquor.decode(frame.payload), image)
        assert frame.metadata["camera_role"] == "red_channel"
        truth = json.loads(frame.metadata["sim_truth"])
        assert truth["catalogue_id"] == catalogue_id and truth["renderer"] == "liquor_alt"
        traveller = frame.metadata["traveller_id"]
        travellers[traveller] = travellers.get(traveller, 0) + 1
    assert all(1 <= bottles <= 3 for bottles in travellers.values())
    assert list(travellers) == sorted(travellers)  # a traveller's bottles come together
