"""Simulator output as frames, built in one place: every ``to_frame`` of the simulators comes here.

A frame gets a fresh uuid4 frame id unless the caller gives one, and the current time as capture time.
Arrays go through ``smartcustoms.core.frames.array_frame`` (raw little-endian payload, shape and dtype
from the array); encoded images and protobuf batches are carried as they are, without a dtype.
"""

from __future__ import annotations

import uuid

import numpy as np
from google.protobuf.message import Message

from smartcustoms.core.frames import array_frame
from smartcustoms.core.types import Modality
from smartcustoms.v1 import frame_pb2


def frame_id_or_new(frame_id: str | None) -> str:
    """``frame_id``, or a new uuid4 when it is None ("" stays "": the gateway assigns one)."""
    return frame_id if frame_id is not None else str(uuid.uuid4())


def array_to_frame(
    array: np.ndarray,
    *,
    modality: Modality,
    source_id: str,
    sequence: int,
    metadata: dict[str, str],
    frame_id: str | None = None,
    **fields: str,
) -> frame_pb2.Frame:
    """A frame carrying ``array`` raw; ``fields`` are further Frame fields (conveyance_id, ...)."""
    return array_frame(
        array,
        modality=modality,
        source_id=source_id,
        sequence=sequence,
        frame_id=frame_id_or_new(frame_id),
        metadata=metadata,
        **fields,
    )


def payload_frame(
    payload: bytes,
    *,
    modality: Modality,
    source_id: str,
    sequence: int,
    encoding: str,
    metadata: dict[str, str],
    shape: tuple[int, ...] = (),
    frame_id: str | None = None,
) -> frame_pb2.Frame:
    """A frame carrying an encoded ``payload`` (an image file, a serialized message): no dtype."""
    frame = frame_pb2.Frame(
        frame_id=frame_id_or_new(frame_id),
        source_id=source_id,
        modality=modality.to_proto(),  # type: ignore[arg-type]  # protoc types enum arguments as the enum class; numbers are what it holds
        sequence=sequence,
        shape=list(shape),
        dtype=frame_pb2.DTYPE_UNSPECIFIED,
        encoding=encoding,
        metadata=metadata,
        payload=payload,
        payload_bytes=len(payload),
    )
    frame.capture_time.GetCurrentTime()
    return frame


def message_frame(
    message: Message, *, modality: Modality, source_id: str, sequence: int, metadata: dict[str, str]
) -> frame_pb2.Frame:
    """A frame whose payload is ``message`` serialized (RFID read batches, record batches)."""
    return payload_frame(
        message.SerializeToString(),
        modality=modality,
        source_id=source_id,
        sequence=sequence,
        encoding="protobuf",
        metadata=metadata,
    )
