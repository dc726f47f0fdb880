"""The demo's "case feed" device: a simulated world's case files, news items and social posts, in date
order, sent to the gateway as record frames for the crime_analytics plugin.

Two years of a world (``cases.generate``) pass in a few minutes: each step sends the next
``batch_size`` records (of any of the three kinds; the frame's ``record_kind`` is its first record's),
so the planted new route and spike of the second year reach the plugin, and its trend alerts the
review page, while the demo runs. When the world's records run out the device stops sending.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import grpc

from smartcustoms.v1 import frame_pb2

if TYPE_CHECKING:  # devices imports this module: its names come in when the device runs
    from smartcustoms.hardware.sim.devices import DeviceStats

__all__ = ["case_frames", "run_cases"]


def case_frames(seed: int, batch_size: int) -> list[frame_pb2.RecordBatch]:
    """The world of ``seed`` cut into record batches, in date order."""
    from smartcustoms.hardware.sim.cases import generate

    records = [
        frame_pb2.Record(record_id=r.record_id, kind=r.kind, fields=r.fields) for r in generate(seed).records
    ]
    return [
        frame_pb2.RecordBatch(records=records[i : i + batch_size]) for i in range(0, len(records), batch_size)
    ]


async def run_cases(
    target: str,
    stop_at: float,
    rate_hz: float = 2.0,
    seed: int = 0,
    source_id: str = "case-feed",
    *,
    max_frames: int | None = None,
    credentials: grpc.ChannelCredentials | None = None,
    batch_size: int = 50,
) -> DeviceStats:
    """Stream a simulated world's records into the gateway, ``batch_size`` a frame, until ``stop_at``."""
    from smartcustoms.hardware.sim import records
    from smartcustoms.hardware.sim.devices import stream

    batches = await asyncio.to_thread(case_frames, seed, batch_size)
    limit = len(batches) if max_frames is None else min(max_frames, len(batches))

    def make(index: int, base: int) -> list[frame_pb2.Frame]:
        if index >= len(batches):
            return []
        return [records.to_frame(batches[index], source_id, base + index)]

    return await stream(target, make, source_id, stop_at, rate_hz, limit, credentials)
