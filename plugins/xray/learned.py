"""The learned X-ray detector: a small convolutional network, run with onnxruntime, that marks where
each threat class lies on a dual-energy image.

The network was trained offline (``python -m smartcustoms.plugins.xray.tools.train_net``) on bags of
the project's simulator drawn with random physics, any rotation and many designs per class
(``VariedXraySimulator``), never on the independent generator it is checked on. It reads the two
energies' line integrals resampled to ``NET_PIXEL_MM`` and gives, for every ``NET_STRIDE`` x
``NET_STRIDE`` cell of that grid, the probability of background and of each class. A group of connected
cells of a class whose highest probability reaches the class's threshold is one detection: its box is
the group's extent, its score that highest probability (``regions``).

Only numpy, OpenCV and onnxruntime are needed here; the training tool alone needs PyTorch.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from smartcustoms.core.lazy import lazy

if TYPE_CHECKING:
    import cv2
else:
    cv2 = lazy("cv2")

NET_PIXEL_MM = 2.0  # the grid the network reads
NET_STRIDE = 4  # one output cell per NET_STRIDE x NET_STRIDE input pixels (8 mm)
NET_CLASSES = ("background", "firearm", "knife", "cigarettes", "phone")  # output channels, in order
LINE_INTEGRAL_SCALE = 4.0  # line integrals are divided by this before the network
LINE_INTEGRAL_CAP = 10.0  # beyond this nothing gets through: read as this
FULL_SCALE = 65535.0
NET_DIR = Path(__file__).with_name("net")
MODEL_FILE = "xray_net.onnx"
EXTENT_PROBABILITY = 0.25  # a detection's box spans its cells at this probability or more
CARD_FILE = "xray_net.json"  # how the model was trained, its thresholds and its validation figures


def net_input(image: np.ndarray, pixel_size_mm: float) -> np.ndarray:
    """float32 (2, h, w): the high- and low-energy line integrals of a uint16 (2, H, W) image, resampled
    from ``pixel_size_mm`` to ``NET_PIXEL_MM`` (padded to a multiple of 8 pixels with empty belt),
    capped and scaled."""
    if image.ndim != 3 or image.shape[0] != 2:
        raise ValueError(f"the learned X-ray detector needs dual-energy frames [2, H, W]; got {image.shape}")
    if not pixel_size_mm > 0:
        raise ValueError(f"pixel size must be positive, got {pixel_size_mm}")
    transmission = np.maximum(image.astype(np.float32), 1.0) / np.float32(FULL_SCALE)
    lines = -np.log(transmission)
    scale = pixel_size_mm / NET_PIXEL_MM
    height = max(1, round(image.shape[1] * scale))
    width = max(1, round(image.shape[2] * scale))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    resized = np.stack(
        [cv2.resize(channel, (width, height), interpolation=interpolation) for channel in lines]
    )
    padded_h, padded_w = -(-height // 8) * 8, -(-width // 8) * 8
    out = np.zeros((2, padded_h, padded_w), np.float32)
    out[:, :height, :width] = np.minimum(resized, LINE_INTEGRAL_CAP) / LINE_INTEGRAL_SCALE
    return out


@dataclass(frozen=True)
class Found:
    """One detection of the network: its class, score (0..1), box in the frame's pixels
    (x_min, y_min, x_max, y_max, max exclusive) and how many cells it spans."""

    label: str
    score: float
    box: tuple[int, int, int, int]
    cells: int


def regions(
    probabilities: np.ndarray,
    thresholds: dict[str, float],
    cell_px: float,
    frame_shape: tuple[int, int],
    min_cells: int = 3,
) -> list[Found]:
    """Detections from the network's (classes, h, w) probabilities. Per class, the cells at
    ``EXTENT_PROBABILITY`` or more, with gaps of one cell closed, are grouped 8-connected; a group of at
    least ``min_cells`` cells whose highest probability reaches the class's threshold is a detection, its
    box the group's extent (so that an object is one box, not the few cells the network is surest of).
    ``cell_px``: a cell's size in the frame's pixels; ``frame_shape``: (H, W) of the frame, which boxes
    are clipped to."""
    found: list[Found] = []
    height, width = frame_shape
    closing = np.ones((3, 3), np.uint8)
    for index, label in enumerate(NET_CLASSES):
        if label not in thresholds:
            continue
        probability = probabilities[index]
        extent = (probability >= min(EXTENT_PROBABILITY, thresholds[label])).astype(np.uint8)
        extent = cv2.morphologyEx(extent, cv2.MORPH_CLOSE, closing)
        count, labels, stats, _ = cv2.connectedComponentsWithStats(extent, connectivity=8)
        for component in range(1, count):
            x, y, w, h, cells = (int(v) for v in stats[component])
            score = float(probability[labels == component].max())
            if cells < min_cells or score < thresholds[label]:
                continue
            box = (
                max(0, int(x * cell_px)),
                max(0, int(y * cell_px)),
                min(width, int(np.ceil((x + w) * cell_px))),
                min(height, int(np.ceil((y + h) * cell_px))),
            )
            if box[2] > box[0] and box[3] > box[1]:
                found.append(Found(label, score, box, cells))
    return found


@dataclass(frozen=True)
class NetCard:
    """What the model file says about itself (``xray_net.json``)."""

    version: str
    thresholds: dict[str, float]
    min_cells: int
    content_hash: str  # sha256 of the ONNX file
    trained_on: str  # the simulator and seeds, in words

    @classmethod
    def read(cls, folder: Path) -> NetCard:
        card = json.loads((folder / CARD_FILE).read_text())
        digest = hashlib.sha256((folder / MODEL_FILE).read_bytes()).hexdigest()
        if card.get("sha256") != digest:
            raise ValueError(f"{folder / MODEL_FILE}: its sha256 is not the one {CARD_FILE} names")
        if float(card.get("extent_probability", EXTENT_PROBABILITY)) != EXTENT_PROBABILITY:
            raise ValueError(f"{folder / CARD_FILE}: thresholds chosen for another extent_probability")
        if not all(0.0 < float(value) < 1.0 for value in card["thresholds"].values()):
            raise ValueError(f"{folder / CARD_FILE}: every threshold must lie in (0, 1)")
        trained = card.get("trained_on", {})
        seeds = trained.get("seeds", ["?", "?"])
        return cls(
            str(card["version"]),
            {k: float(v) for k, v in card["thresholds"].items()},
            int(card["min_cells"]),
            digest,
            f"{trained.get('simulator', '?')} seeds {seeds[0]}-{seeds[1]}",
        )


class LearnedDetector:
    """The network, loaded once; ``find`` one image at a time (one intra-op thread: the hosting process
    runs several plugins)."""

    def __init__(self, folder: Path = NET_DIR, thresholds: dict[str, float] | None = None) -> None:
        import onnxruntime

        self.card = NetCard.read(folder)
        self.thresholds = self.merged(thresholds)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(
            str(folder / MODEL_FILE), options, providers=["CPUExecutionProvider"]
        )
        self.input_name = self.session.get_inputs()[0].name

    def merged(self, thresholds: dict[str, float] | None) -> dict[str, float]:
        """The card's thresholds overlaid with ``thresholds``; ValueError for an unknown class or a
        threshold outside (0, 1) (leave a class out of the card's to turn it off)."""
        merged = dict(self.card.thresholds)
        for label, value in (thresholds or {}).items():
            if label not in NET_CLASSES[1:]:
                raise ValueError(
                    f"no network class {label!r}: the network's are {', '.join(NET_CLASSES[1:])}"
                )
            if not 0.0 < float(value) < 1.0:
                raise ValueError(f"the network's threshold for {label} must lie in (0, 1), got {value}")
            merged[label] = float(value)
        return merged

    def probabilities(self, image: np.ndarray, pixel_size_mm: float) -> np.ndarray:
        """(classes, h, w) softmax probabilities per cell."""
        x = net_input(image, pixel_size_mm)[None]
        [out] = self.session.run(None, {self.input_name: x})
        return np.asarray(out[0], np.float32)

    def find(
        self, image: np.ndarray, pixel_size_mm: float, thresholds: dict[str, float] | None = None
    ) -> list[Found]:
        """The network's detections on a uint16 (2, H, W) image, with boxes in its pixels."""
        probabilities = self.probabilities(image, pixel_size_mm)
        cell_px = NET_STRIDE * NET_PIXEL_MM / pixel_size_mm
        return regions(
            probabilities,
            self.thresholds if thresholds is None else self.merged(thresholds),
            cell_px,
            (image.shape[1], image.shape[2]),
            self.card.min_cells,
        )
