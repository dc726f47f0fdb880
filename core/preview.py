"""Small previews of alerted frames for officers: a grayscale PNG (or the camera's own image) and the
scale from frame pixels to preview pixels, so detections can be drawn on top; for a dual-energy X-ray
frame also the colour view screeners know. Pure numpy and zlib.

The colour view classes each pixel by the ratio of its low- to high-energy line integral
(``L = -ln(value / full scale)``; photoelectric absorption grows steeply with atomic number): organic
orange, inorganic green, metal blue, nothing through black, air white, darker where less gets through.
Its thresholds are those of the X-ray plugin's default calibration (the built-in simulator's 160/80 kV
scanner, docs/detectors.md); a scanner with other energies shifts the classes, as on any console whose
colour table is set for another machine. It is a view for people; the detectors read the raw channels.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

import numpy as np

from smartcustoms.core.frames import DTYPES
from smartcustoms.core.types import Modality
from smartcustoms.v1 import frame_pb2, results_pb2

MAX_PREVIEW_PX = 1024
# zlib's fastest level: a 512 x 1024 grey preview of a noisy scan takes 5 ms and 205 KB at level 1
# against 51 ms and 181 KB at level 6 (colour: 5 ms / 98 KB against 14 ms / 73 KB); a preview is
# rendered on the sink's path for every alert, and kept only for the review.
PNG_COMPRESSION = 1
ENCODED_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "jpg": "image/jpeg"}


# The colour view's classes (ratio low / high line integral) and thresholds: the X-ray plugin's defaults.
RATIO_INORGANIC = 1.45
RATIO_METAL = 2.3
EMPTY_LINE_INTEGRAL = 0.12
OPAQUE_FRACTION = 20 / 65535  # below this share of full scale in either channel nothing gets through
COLOURS = {  # RGB at full transmission
    "organic": (255, 150, 30),
    "inorganic": (60, 180, 75),
    "metal": (45, 100, 230),
}


@dataclass(frozen=True)
class Preview:
    content_type: str
    data: bytes
    scale: float  # preview pixels per frame pixel
    slice_index: int = -1  # CT: which slice is shown
    colour: bytes = b""  # dual-energy X-ray: the screeners' colour view (PNG, same size), else empty


def encode_png(image: np.ndarray) -> bytes:
    """An 8-bit PNG of a uint8 array: 2D grayscale, or (height, width, 3) RGB."""
    rgb = image.ndim == 3 and image.shape[2] == 3
    if image.dtype != np.uint8 or not (image.ndim == 2 or rgb):
        raise ValueError(f"expected a 2D or (h, w, 3) uint8 array, got {image.dtype} {image.shape}")
    height, width = image.shape[:2]
    flat = image.reshape(height, -1)
    rows = np.hstack([np.zeros((height, 1), np.uint8), flat])  # filter type 0 on every row

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2 if rgb else 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows.tobytes(), PNG_COMPRESSION))
        + chunk(b"IEND", b"")
    )


def screener_colours(high: np.ndarray, low: np.ndarray, full_scale: float) -> np.ndarray:
    """The colour view of a dual-energy image (channels as transmitted counts): (h, w, 3) uint8."""
    floor = max(full_scale * OPAQUE_FRACTION, 1.0)
    t_high = np.clip(high.astype(np.float32) / full_scale, 1e-6, 1.0)
    t_low = np.clip(low.astype(np.float32) / full_scale, 1e-6, 1.0)
    l_high, l_low = -np.log(t_high), -np.log(t_low)
    ratio = l_low / np.maximum(l_high, 1e-6)
    image = np.empty((*high.shape, 3), np.float32)
    for name, chosen in (
        ("organic", ratio < RATIO_INORGANIC),
        ("inorganic", (ratio >= RATIO_INORGANIC) & (ratio < RATIO_METAL)),
        ("metal", ratio >= RATIO_METAL),
    ):
        image[chosen] = COLOURS[name]
    image *= (0.2 + 0.8 * np.sqrt(t_high))[..., None]  # darker where less gets through
    image[l_high < EMPTY_LINE_INTEGRAL] = 255.0  # air and the belt
    image[(high < floor) | (low < floor)] = 0.0  # nothing through: no ratio to read
    return image.astype(np.uint8)


def _to_gray(image: np.ndarray) -> np.ndarray:
    values = image.astype(np.float32)
    low, high = float(values.min()), float(values.max())
    if high <= low:
        return np.zeros(image.shape, np.uint8)
    return ((values - low) * (255.0 / (high - low))).astype(np.uint8)


def _shrink(image: np.ndarray) -> tuple[np.ndarray, float]:
    step = max(1, -(-max(image.shape) // MAX_PREVIEW_PX))
    return image[::step, ::step], 1.0 / step


def render(
    frame: frame_pb2.Frame, payload: memoryview | bytes, verdict: results_pb2.Verdict
) -> Preview | None:
    """The preview of one frame, or None for modalities without an image (RFID, records)."""
    modality = Modality.from_proto(frame.modality)
    encoding = frame.encoding.lower()
    if encoding in ENCODED_TYPES:
        return Preview(ENCODED_TYPES[encoding], bytes(payload), 1.0)
    dtype = DTYPES.get(frame.dtype)
    if dtype is None or modality not in (Modality.XRAY, Modality.CT, Modality.CAMERA):
        return None
    array = np.frombuffer(payload, dtype=dtype).reshape(tuple(frame.shape))
    slice_index = -1
    if modality is Modality.CT:
        slice_index = _slice_of_interest(array.shape[0], verdict)
        image = array[slice_index]
    elif modality is Modality.XRAY:
        if is_dual_energy(array):
            return dual_energy(array)
        image = array[0] if array.ndim == 3 else array  # high-energy channel
    else:
        image = array if array.ndim == 2 else array.mean(axis=2)
    small, scale = _shrink(np.asarray(image))
    return Preview("image/png", encode_png(_to_gray(small)), scale, slice_index)


def is_dual_energy(array: np.ndarray) -> bool:
    """Counts of two energy channels or more, ``[channels, H, W]``, high energy first."""
    return array.ndim == 3 and array.shape[0] >= 2 and np.issubdtype(array.dtype, np.unsignedinteger)


def dual_energy(array: np.ndarray) -> Preview:
    """The preview of a dual-energy X-ray image: its high-energy channel in grey, and the colour view."""
    high, low = (_shrink(np.asarray(channel))[0] for channel in array[:2])
    colour = encode_png(screener_colours(high, low, float(np.iinfo(array.dtype).max)))
    small, scale = _shrink(np.asarray(array[0]))
    return Preview("image/png", encode_png(_to_gray(small)), scale, -1, colour)


def _slice_of_interest(depth: int, verdict: results_pb2.Verdict) -> int:
    """The middle slice of the first 3D detection, else the middle of the volume."""
    for result in verdict.results:
        for detection in result.detections:
            if detection.HasField("volume"):
                middle = int((detection.volume.z_min + detection.volume.z_max) / 2)
                return min(max(middle, 0), depth - 1)
    return depth // 2
