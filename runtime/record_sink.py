"""Where the records the gateway's own services make go: the ingest path, like any vendor's frame.

The enquiry desk's questions and the review desk's inspection outcomes are record frames that no
device sends. ``GatewayRecordSink`` puts them through the gateway's ingest path (ledger first, then the
records topic, the reconciler republishing what did not go out), so the plugins see them on the
stream; ``MemoryRecordSink`` is the fake twin for unit tests.
"""

from __future__ import annotations

import abc
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from smartcustoms.core.selections import RECORD_COUNT_KEY
from smartcustoms.core.types import RECORD_KIND_KEY, Modality
from smartcustoms.runtime.assembly import Assembled
from smartcustoms.v1 import frame_pb2

if TYPE_CHECKING:
    from smartcustoms.runtime.gateway import GatewayCore


class RecordSink(abc.ABC):
    """Where record frames made by the gateway's services go."""

    @abc.abstractmethod
    async def publish(self, frame: frame_pb2.Frame) -> None:
        """Make the frame durable and publish it; raise if it could not be made durable."""


class MemoryRecordSink(RecordSink):
    """Keeps the frames: the fake twin for unit tests."""

    def __init__(self) -> None:
        self.frames: list[frame_pb2.Frame] = []

    async def publish(self, frame: frame_pb2.Frame) -> None:
        self.frames.append(frame)


class GatewayRecordSink(RecordSink):
    """The gateway's ingest path: the same ledger, publisher and sensor vendors' frames go through."""

    def __init__(self, core: GatewayCore) -> None:
        self.core = core

    async def publish(self, frame: frame_pb2.Frame) -> None:
        ack = await self.core.make_durable(Assembled(frame, Modality.RECORD, time.monotonic()))
        if ack.code:
            raise RuntimeError(f"record frame {frame.frame_id} not accepted: {ack.message}")


def records_frame(
    frame_id: str, source_id: str, kind: str, records: Sequence[frame_pb2.Record], control_point: str = ""
) -> frame_pb2.Frame:
    """A MODALITY_RECORD frame holding ``records`` of ``kind``, captured now."""
    payload = frame_pb2.RecordBatch(records=records).SerializeToString()
    frame = frame_pb2.Frame(
        frame_id=frame_id,
        source_id=source_id,
        modality=frame_pb2.MODALITY_RECORD,
        encoding="protobuf",
        payload=payload,
        payload_bytes=len(payload),
        control_point=control_point,
        metadata={RECORD_KIND_KEY: kind, RECORD_COUNT_KEY: str(len(records))},
    )
    frame.capture_time.GetCurrentTime()
    return frame
