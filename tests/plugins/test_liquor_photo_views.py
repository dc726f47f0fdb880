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


def _on_label(view: views.ViewImage, photo: np.ndarray, number: int) -> bool:
    """Whether the view was cut around the label (it holds the label's centre and is not three times
    the label's size), its keypoints inside it."""
    found = cv2.matchTemplate(photo, view.image, cv2.TM_SQDIFF)
    _, _, (x, y), _ = cv2.minMaxLoc(found)
    ly, lx = LABEL_AT[number]
    centre_x, centre_y = lx + 115, ly + 75
    height, width = view.image.shape[:2]
    holds = x <= centre_x < x + width and y <= centre_y < y + height
    inside = bool(np.all((view.features.points >= 0) & (view.features.points < (width, height))))
    return holds and inside and height * width < 3 * 150 * 230


def test_stray_keypoints_far_from_the_object_are_dropped() -> None:
    rng = np.random.default_rng(3)
    cluster = rng.uniform((360, 260), (480, 340), (60, 2))  # keypoints spread over a label
    strays = np.array([[40.0, 30.0], [900.0, 650.0], [905.0, 655.0]])
    points = np.vstack([cluster, strays]).astype(np.float32)
    core = views._core(points, np.ones(len(points), bool))
    assert core[:60].all() and not core[60:].any()


def test_objects_of_a_photo_are_merged_only_where_they_overlap() -> None:
    # 40 keypoints each: a block, a wide band reaching into it and into a third block, a block apart
    blocks = [(100, 100, 4), (110, 100, 20), (290, 100, 4), (700, 500, 4)]  # left, top, column spacing
    points = np.array(
        [[x + i % 10 * step, y + i // 10 * 4] for x, y, step in blocks for i in range(40)], np.float32
    )
    features = views.Features(points, np.zeros((len(points), 32), np.uint8))
    masks = []
    for number in range(len(blocks)):
        mask = np.zeros(len(points), bool)
        mask[number * 40 : (number + 1) * 40] = True
        masks.append(mask)
    # the first and third overlap only through the second: all three are one object, the fourth another
    merged = views._merged([masks[0], masks[2], masks[3], masks[1]], features, SIZE)
    assert [int(m.sum()) for m in merged] == [120, 40]
    assert merged[1][120:].all()


@pytest.fixture(scope="module")
def finder() -> TextFinder:
    return TextFinder()


def test_the_view_is_the_label_that_reads_the_product_not_a_receipt(finder: TextFinder) -> None:
    photos = _photos()
    made = photo_views(photos, finder, ["a", "b", "c"], ("Alpenhof", "Weissbier"))
    assert len(made) == 3
    for number, view in enumerate(made):
        assert _on_label(view, photos[number], number), number
    # without the product's names the receipt, with more keypoints, is taken where it wins the count
    blind = photo_views(photos, finder, ["a", "b", "c"])
    assert not _on_label(blind[0], photos[0], 0)


def test_two_photos_sharing_a_receipt_and_the_label_give_the_label(finder: TextFinder) -> None:
    # between two photos the receipt is the first homography found; the label is the second
    photos = _photos()[:2]
    made = photo_views(photos, finder, ["a", "b"], ("Alpenhof",))
    assert [_on_label(view, photos[n], n) for n, view in enumerate(made)] == [True, True]


def test_a_single_photo_without_keypoints_gives_no_view() -> None:
    with pytest.raises(ValueError, match="common label"):
        photo_views([np.full((64, 64, 3), 128, np.uint8)], None, ["a"])
    [view] = photo_views([_photos()[2]], None, ["a"])  # one photo: the whole photo is the view
    assert view.image.shape[:2] == SIZE and len(view.features) > 0
