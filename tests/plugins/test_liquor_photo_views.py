"""liquor_label's views from photos (``library add liquor``): the view is cut to the label the photos share,
not to stray keypoints of the backdrop the homography happens to confirm, and not to a receipt that two
photos happen to show too."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from smartcustoms.plugins.liquor.tools import views
from smartcustoms.plugins.liquor.tools.views import TextFinder, photo_views

SIZE = (720, 960)  # photo height, width
LABEL_AT = ((300, 380), (250, 500), (320, 300))  # (row, column) of the label in each photo
RECEIPT_AT = ((40, 60), (360, 700), None)  # the same receipt in the first two photos only


def _backdrop(seed: int) -> np.ndarray:
    """Smooth blotches of another seed in every photo: nothing of it repeats from photo to photo."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(40, 200, (SIZE[0] // 40, SIZE[1] // 40, 3)).astype(np.uint8)
    return cv2.resize(coarse, (SIZE[1], SIZE[0]), interpolation=cv2.INTER_CUBIC)


def _label() -> np.ndarray:
    label = np.full((150, 230, 3), (30, 90, 60), np.uint8)
    rng = np.random.default_rng(7)
    for _ in range(25):  # a printed pattern: corners the matcher holds on to
        x, y = int(rng.integers(5, 215)), int(rng.integers(5, 60))
        cv2.rectangle(label, (x, y), (x + 10, y + 8), (200, 220, 160), -1)
    cv2.putText(label, "ALPENHOF", (18, 105), cv2.FONT_HERSHEY_DUPLEX, 1.1, (245, 245, 235), 2, cv2.LINE_AA)
    cv2.putText(label, "5.4% vol 500ml", (40, 138), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (245, 245, 235), 1)
    return label


def _receipt() -> np.ndarray:
    """More print than the label: with nothing but keypoints to go by, it would be the view."""
    receipt = np.full((330, 240, 3), 235, np.uint8)
    rng = np.random.default_rng(11)
    for row in range(12):
        words = f"REF {rng.integers(100, 999)}.{rng.integers(10, 99)} QTY {rng.integers(1, 9)}"
        cv2.putText(receipt, words, (8, 24 + 26 * row), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (20, 20, 20), 1)
    return receipt


def _photos() -> list[np.ndarray]:
    label, receipt = _label(), _receipt()
    photos = []
    for number, ((ly, lx), receipt_at) in enumerate(zip(LABEL_AT, RECEIPT_AT, strict=True)):
        photo = _backdrop(100 + number)
        photo[ly : ly + label.shape[0], lx : lx + label.shape[1]] = label
        if receipt_at is not None:
            ry, rx = receipt_at
            photo[ry : ry + receipt.shape[0], rx : rx + receipt.shape[1]] = receipt
        photos.append(photo)
    return photos


def _on_label(view_shape: tuple[int, ...], view_image: np.ndarray, photo: np.ndarray, number: int) -> bool:
    """Whether the view was cut around the label (it holds the label's centre and is not three times
    the label's size)."""
    found = cv2.matchTemplate(photo, view_image, cv2.TM_SQDIFF)
    _, _, (x, y), _ = cv2.minMaxLoc(found)
    ly, lx = LABEL_AT[number]
    centre_x, centre_y = lx + 115, ly + 75
    holds = x <= centre_x < x + view_shape[1] and y <= centre_y < y + view_shape[0]
    return holds and view_shape[0] * view_shape[1] < 3 * 150 * 230


def test_stray_keypoints_far_from_the_object_are_dropped() -> None:
    rng = np.random.default_rng(3)
    cluster = rng.uniform((360, 260), (480, 340), (60, 2))  # keypoints spread over a label
    strays = np.array([[40.0, 30.0], [900.0, 650.0], [905.0, 655.0]])
    points = np.vstack([cluster, strays]).astype(np.float32)
    core = views._core(points, np.ones(len(points), bool))
    assert core[:60].all() and not core[60:].any()


def test_objects_of_a_photo_are_merged_only_where_they_overlap() -> None:
    points = np.array(
        [[100 + i % 10, 100 + i // 10] for i in range(40)]
        + [[600 + i % 10, 500 + i // 10] for i in range(20)]
    )
    features = views.Features(points.astype(np.float32), np.zeros((len(points), 32), np.uint8))
    first, second, third = (np.zeros(len(points), bool) for _ in range(3))
    first[:30], second[10:40], third[40:] = True, True, True
    merged = views._merged([third, first, second], features, SIZE)
    assert [int(m.sum()) for m in merged] == [40, 20]


@pytest.fixture(scope="module")
def finder() -> TextFinder:
    return TextFinder()


def test_the_view_is_the_label_that_reads_the_product_not_a_receipt(finder: TextFinder) -> None:
    photos = _photos()
    made = photo_views(photos, finder, ["a", "b", "c"], ("Alpenhof", "Weissbier"))
    assert len(made) == 3
    for number, view in enumerate(made):
        assert _on_label(view.image.shape, view.image, photos[number], number), number
    # without the product's names the receipt, with more keypoints, is taken where two photos show it
    blind = photo_views(photos, finder, ["a", "b", "c"])
    assert not _on_label(blind[0].image.shape, blind[0].image, photos[0], 0)
