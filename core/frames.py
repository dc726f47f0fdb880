"""Frames as plugins see them, and the checks every frame passes at the gateway."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from smartcustoms.core.types import Modality
from smartcustoms.v1 import frame_pb2

DTYPES: Mapping[int, np.dtype[np.generic]] = {
    frame_pb2.DTYPE_UINT8: np.dtype("<u1"),
    frame_pb2.DTYPE_UINT16: np.dtype("<u2"),
    frame_pb2.DTYPE_INT16: np.dtype("<i2"),
    frame_pb2.DTYPE_UINT32: np.dtype("<u4"),
    frame_pb2.DTYPE_INT32: np.dtype("<i4"),
    frame_pb2.DTYPE_FLOAT32: np.dtype("<f4"),
    frame_pb2.DTYPE_FLOAT64: np.dtype("<f8"),
}

ARRAY_RANKS: Mapping[Modality, tuple[int, ...]] = {
    Modality.XRAY: (2, 3),  # [height, width] or [channels, height, width]
    Modality.CT: (3,),  # [depth, height, width]
    Modality.CAMERA: (2, 3),  # decoded camera frames: [height, width] or [height, width, channels]
}


class FrameError(ValueError):
    """A frame header that contradicts itself or the contract."""


MAX_ID_CHARS = 128
_ID_CHARS = re.compile(r"[\x21-\x7e]+")  # printable ASCII, no space


def identifier_problem(value: str, what: str) -> str | None:
    """Why ``value`` cannot be a source or frame id (at most 128 printable ASCII characters, no spaces:
    ids become Redis keys, topic keys and metric labels), or None. ``what`` names it in the message."""
    if len(value) > MAX_ID_CHARS:
        return f"{what} has {len(value)} characters, more than the {MAX_ID_CHARS} allowed"
    if value and not _ID_CHARS.fullmatch(value):
        return f"{what} must be printable ASCII without spaces"
    return None


SCOPE_SEPARATOR = "/"


def scoping_problem(frame_id: str, source_id: str) -> str | None:
    """Why a frame id and source id break the per-source scoping of frame ids, or None.

    Frame ids are scoped per source: when another source already used a frame id, the runtime knows
    the frame as ``<source id>/<frame id>`` (``scoped_frame_id``). So a source id has no ``/``, and a
    frame id with a ``/`` must begin with its own source id and ``/``: no source can take the name its
    frames would be given in another's scope.
    """
    if SCOPE_SEPARATOR in source_id:
        return f"source_id may not contain {SCOPE_SEPARATOR!r}"
    if SCOPE_SEPARATOR in frame_id and not frame_id.startswith(source_id + SCOPE_SEPARATOR):
        return (
            f"a frame id with {SCOPE_SEPARATOR!r} must begin with its own source id and "
            f"{SCOPE_SEPARATOR!r} ({source_id}{SCOPE_SEPARATOR}...): ids of that form are each source's own"
        )
    return None


def scoped_frame_id(source_id: str, frame_id: str) -> str:
    """The id a frame is known under when another source already used ``frame_id``."""
    return f"{source_id}{SCOPE_SEPARATOR}{frame_id}"


def check_header(frame: frame_pb2.Frame, payload_bytes: int) -> Modality:
    """Validate a frame header against its payload size; return its modality or raise FrameError."""
    try:
        modality = Modality.from_proto(frame.modality)
    except ValueError as error:
        raise FrameError(str(error)) from None
    if not frame.source_id:
        raise FrameError("source_id is required")
    if frame.dtype == frame_pb2.DTYPE_UNSPECIFIED:
        if modality in (Modality.XRAY, Modality.CT) or (frame.shape and not frame.encoding):
            raise FrameError(f"{modality.value} frames need a dtype and a shape")
        return modality
    _check_array(frame, modality, payload_bytes)
    return modality


def _check_array(frame: frame_pb2.Frame, modality: Modality, payload_bytes: int) -> None:
    dtype = DTYPES.get(frame.dtype)
    if dtype is None:
        raise FrameError(f"unknown dtype {frame.dtype}")
    shape = tuple(frame.shape)
    ranks = ARRAY_RANKS.get(modality)
    if ranks is None:
        raise FrameError(f"{modality.value} frames do not carry raw arrays")
    if len(shape) not in ranks or 0 in shape:
        raise FrameError(f"{modality.value} shape {list(shape)} must have rank {ranks} and no zero size")
    expected = math.prod(shape) * dtype.itemsize  # Python ints: no overflow on absurd shapes
    if expected != payload_bytes:
        raise FrameError(
            f"shape {list(shape)} x {dtype.name} needs {expected} bytes, payload has {payload_bytes}"
        )


@dataclass(frozen=True)
class FrameView:
    """A frame handed to a plugin: its header, and its payload loaded on first use."""

    frame: frame_pb2.Frame
    load_payload: Callable[[], memoryview]

    @property
    def frame_id(self) -> str:
        return self.frame.frame_id

    @property
    def source_id(self) -> str:
        return self.frame.source_id

    @property
    def modality(self) -> Modality:
        return Modality.from_proto(self.frame.modality)

    @property
    def metadata(self) -> Mapping[str, str]:
        return self.frame.metadata

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.frame.shape)

    @cached_property
    def payload(self) -> memoryview:
        return self.load_payload()

    def array(self) -> np.ndarray:
        """The payload as a read-only array of the frame's shape and dtype (no copy)."""
        dtype = DTYPES.get(self.frame.dtype)
        if dtype is None:
            raise FrameError(f"frame {self.frame_id} has no array payload")
        return np.frombuffer(self.payload, dtype=dtype).reshape(self.shape)

    def rfid_reads(self) -> frame_pb2.RfidReadBatch:
        return frame_pb2.RfidReadBatch.FromString(bytes(self.payload))

    def records(self) -> frame_pb2.RecordBatch:
        return frame_pb2.RecordBatch.FromString(bytes(self.payload))


def inline_view(frame: frame_pb2.Frame) -> FrameView:
    """A view over a frame whose payload travels inline (small frames, unit tests)."""
    return FrameView(frame, lambda: memoryview(frame.payload))


def array_frame(
    array: np.ndarray,
    *,
    modality: Modality,
    source_id: str,
    sequence: int,
    frame_id: str = "",
    **fields: object,
) -> frame_pb2.Frame:
    """Build a frame with an inline raw little-endian array payload."""
    dtype_number = next(k for k, v in DTYPES.items() if v == array.dtype.newbyteorder("<"))
    payload = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()
    frame = frame_pb2.Frame(
        frame_id=frame_id,
        source_id=source_id,
        modality=modality.to_proto(),  # type: ignore[arg-type]  # protoc types enum arguments as the enum class; numbers are what it holds
        sequence=sequence,
        shape=list(array.shape),
        dtype=dtype_number,  # type: ignore[arg-type]  # protoc types enum arguments as the enum class; numbers are what it holds
        encoding="raw",
        payload=payload,
        payload_bytes=len(payload),
        **fields,  # type: ignore[arg-type]  # protobuf kwargs are untyped
    )
    frame.capture_time.GetCurrentTime()
    return frame
