"""Small previews of alerted frames for officers: a grayscale PNG (or the camera's own image) and the
scale from frame pixels to preview pixels, so detections can be drawn on top. Pure numpy and zlib."""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

import numpy as np

from smartcustoms.core.frames import DTYPES
from smartcustoms.core.types import Modality
from smartcustoms.v1 import frame_pb2, results_pb2

MAX_PREVIEW_PX = 1024
ENCODED_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "jpg": "image/jpeg"}


@dataclass(frozen=True)
class Preview:
    content_type: str
    data: bytes
    scale: float  # preview pixels per frame pixel
    slice_index: int = -1  # CT: which slice is shown


def encode_png(gray: np.ndarray) -> bytes:
    """An 8-bit grayscale PNG of a 2D uint8 array."""
    if gray.ndim != 2 or gray.dtype != np.uint8:
        raise ValueError(f"expected a 2D uint8 array, got {gray.dtype} {gray.shape}")
    height, width = gray.shape
    rows = np.hstack([np.zeros((height, 1), np.uint8), gray])  # filter type 0 on every row

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows.tobytes(), 6))
        + chunk(b"IEND", b"")
    )


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
        image = array[0] if array.ndim == 3 else array  # high-energy channel
    else:
        image = array if array.ndim == 2 else array.mean(axis=2)
    small, scale = _shrink(np.asarray(image))
    return Preview("image/png", encode_png(_to_gray(small)), scale, slice_index)


def _slice_of_interest(depth: int, verdict: results_pb2.Verdict) -> int:
    """The middle slice of the first 3D detection, else the middle of the volume."""
    for result in verdict.results:
        for detection in result.detections:
            if detection.HasField("volume"):
                middle = int((detection.volume.z_min + detection.volume.z_max) / 2)
                return min(max(middle, 0), depth - 1)
    return depth // 2
